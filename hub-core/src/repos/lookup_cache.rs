//! What lookups found, kept between requests, so the hot reads (resolve,
//! repo info) find their repo and revision without a database round trip
//! or a trip to a blocking thread to read git.
//!
//! Two lookups use it: [`access::authorize`](super::access::authorize) for
//! the repo's row (what the actor may do with it is decided afresh each
//! time), and [`content::resolve`](super::content::resolve) for the commit
//! a revision names. What is kept stops being used the moment anything may
//! have changed it:
//!
//! - every statement that writes `repos`, `namespaces`, `repo_redirects`
//!   or `repo_downloads_daily` (a row's download count) sends
//!   `NOTIFY ky_repos_changed` (triggers, migration 0025), on any
//!   node or from the CLI; each node's `LISTEN` connection hears it at
//!   commit and the cache empties ([`follow`]). Every ref change ends in
//!   `refs::after_commit`, which writes the repo's row, so it is heard too;
//! - a request that may have written (any method but GET, HEAD and
//!   OPTIONS) empties its own node's cache before it answers, so its client
//!   reads its own writes without waiting for the notification;
//! - while the `LISTEN` connection is down the cache is not used at all,
//!   and whatever it held is dropped when it comes back;
//! - anything is used for at most [`MAX_AGE`] in any case.
//!
//! Spaces (whose stage lives in another table) always read their row, and
//! mirrors (whose reads fetch from upstream) their row and refs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{Repo, RepoType};
use crate::jobs::wake::{Wake, Wakeups};

/// How long a row may be used without a notification.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// The most rows, and revisions, kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// (type, namespace, name), the names lowercased as lookups compare them.
type Key = (RepoType, String, String);

#[derive(Default)]
pub struct LookupCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every [`LookupCache::clear`]: a row read from the database
    /// before a clear is not kept after it.
    generation: u64,
    rows: Kept<Key, Repo>,
    /// (repo id, revision as asked) → the commit it named.
    revisions: Kept<(i64, String), String>,
}

/// One kind of answer, each with when it was kept.
struct Kept<K, V>(HashMap<K, (V, Instant)>);

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Kept(HashMap::new())
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Kept<K, V> {
    fn fresh(&self, key: &K) -> Option<V> {
        match self.0.get(key) {
            Some((value, at)) if at.elapsed() < MAX_AGE => Some(value.clone()),
            _ => None,
        }
    }

    fn put(&mut self, key: K, value: V) {
        if self.0.len() >= MAX_ENTRIES {
            self.0.clear();
        }
        self.0.insert(key, (value, Instant::now()));
    }
}

/// A lookup's place in the cache's history, taken before the database read.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

fn key(kind: RepoType, namespace: &str, name: &str) -> Key {
    (kind, namespace.to_lowercase(), name.to_lowercase())
}

impl LookupCache {
    /// The row of `namespace/name` if it is kept and fresh, else a ticket
    /// for [`LookupCache::keep`] once the database has been read.
    pub fn get(
        &self,
        wake: &Wakeups,
        kind: RepoType,
        namespace: &str,
        name: &str,
    ) -> Result<Repo, Ticket> {
        self.find(wake, |inner| inner.rows.fresh(&key(kind, namespace, name)))
    }

    /// Keeps `repo`, found under `namespace/name` by a read that started at
    /// `ticket`, unless the cache was emptied since or the repo is one the
    /// cache never holds.
    pub fn keep(&self, ticket: Ticket, namespace: &str, name: &str, repo: &Repo) {
        if repo.kind() == RepoType::Space || repo.mirrored_from.is_some() {
            return;
        }
        self.store(ticket, |inner| {
            inner
                .rows
                .put(key(repo.kind(), namespace, name), repo.clone())
        });
    }

    /// The commit `revision` of `repo` named when last resolved, if kept
    /// and fresh, else a ticket for [`LookupCache::keep_revision`].
    pub fn revision(&self, wake: &Wakeups, repo: &Repo, revision: &str) -> Result<String, Ticket> {
        self.find(wake, |inner| {
            inner.revisions.fresh(&(repo.id, revision.to_owned()))
        })
    }

    /// Keeps the commit `revision` of `repo` resolved to, read from git
    /// after `ticket` was taken, unless the cache was emptied since.
    pub fn keep_revision(&self, ticket: Ticket, repo: &Repo, revision: &str, commit: &str) {
        if repo.mirrored_from.is_some() {
            return;
        }
        self.store(ticket, |inner| {
            inner
                .revisions
                .put((repo.id, revision.to_owned()), commit.to_owned())
        });
    }

    /// What `look` finds, if the cache may be used now; else a ticket.
    fn find<V>(&self, wake: &Wakeups, look: impl FnOnce(&Inner) -> Option<V>) -> Result<V, Ticket> {
        let inner = self.inner.lock().expect("lookup cache lock");
        let ticket = Ticket(inner.generation);
        if !wake.is_listening() {
            return Err(ticket);
        }
        look(&inner).ok_or(ticket)
    }

    /// Runs `put` unless the cache was emptied since `ticket` was taken.
    fn store(&self, ticket: Ticket, put: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.lock().expect("lookup cache lock");
        if inner.generation == ticket.0 {
            put(&mut inner);
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().expect("lookup cache lock");
        inner.generation += 1;
        inner.rows = Kept::default();
        inner.revisions = Kept::default();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().rows.0.len()
    }
}

/// Empties `cache` whenever repos change on any node, or notifications may
/// have been lost; runs until the process stops. Subscribe (`wake.subscribe()`)
/// before the listener starts.
pub async fn follow(cache: &LookupCache, mut wakes: broadcast::Receiver<Wake>) {
    loop {
        match wakes.recv().await {
            Ok(Wake::ReposChanged | Wake::All) | Err(broadcast::error::RecvError::Lagged(_)) => {
                cache.clear()
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(kind: RepoType, name: &str) -> Repo {
        let now = chrono::Utc::now();
        Repo {
            id: 7,
            repo_type: super::super::RepoTypeColumn(kind),
            namespace_id: 1,
            namespace: "Alice".into(),
            namespace_kind: "user".into(),
            name: name.into(),
            private: false,
            default_branch: "main".into(),
            created_at: now,
            last_modified: now,
            head_sha: None,
            card_license: None,
            card_language: vec![],
            card_tags: vec![],
            card_pipeline_tag: None,
            card_library_name: None,
            card_base_model: vec![],
            card_datasets: vec![],
            card_data: None,
            card_error: None,
            tags: vec![],
            likes: 0,
            downloads_total: 0,
            downloads: 0,
            mirrored_from: None,
            space_stage: None,
        }
    }

    #[test]
    fn rows_are_used_only_while_listening_and_until_a_clear() {
        let wake = Wakeups::default();
        let cache = LookupCache::default();
        let m = repo(RepoType::Model, "M");
        let t = cache.get(&wake, RepoType::Model, "alice", "m").unwrap_err();
        cache.keep(t, "alice", "m", &m);
        // Not listening: never used.
        assert!(cache.get(&wake, RepoType::Model, "alice", "m").is_err());
        wake.set_listening_for_tests(true);
        let found = cache.get(&wake, RepoType::Model, "ALICE", "m").unwrap();
        assert_eq!(found.id, m.id);
        assert!(cache.get(&wake, RepoType::Dataset, "alice", "m").is_err());
        // A read that began before a clear keeps nothing after it.
        let stale = cache
            .get(&wake, RepoType::Model, "alice", "other")
            .unwrap_err();
        cache.clear();
        assert!(cache.get(&wake, RepoType::Model, "alice", "m").is_err());
        cache.keep(stale, "alice", "other", &m);
        assert_eq!(cache.len(), 0);
        // Spaces are never kept.
        let t = cache.get(&wake, RepoType::Space, "alice", "s").unwrap_err();
        cache.keep(t, "alice", "s", &repo(RepoType::Space, "s"));
        assert_eq!(cache.len(), 0);
        // Revisions, likewise.
        let t = cache.revision(&wake, &m, "main").unwrap_err();
        cache.keep_revision(t, &m, "main", "abc");
        assert_eq!(cache.revision(&wake, &m, "main").unwrap(), "abc");
        assert!(cache.revision(&wake, &m, "Main").is_err(), "as asked");
        cache.clear();
        assert!(cache.revision(&wake, &m, "main").is_err());
    }
}
