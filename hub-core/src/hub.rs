//! `Hub`: the handle every core operation takes — configuration, database,
//! object storage, the signing secret, per-branch commit queues, and what
//! the read path keeps between requests (open repositories, content by
//! commit, what repo lookups found, download counts on their way to the
//! database).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use sqlx::PgPool;

use crate::config::Config;
use crate::git::hooks::GitEnvironment;
use crate::secret::Secret;
use crate::storage::Storage;

/// One commit at a time per branch, within this process.
type BranchQueue = tokio::sync::Mutex<()>;

pub struct Hub {
    pub config: Config,
    pub db: PgPool,
    pub storage: Storage,
    pub secret: Secret,
    /// The environment of every git process the hub starts.
    pub git_env: GitEnvironment,
    /// The unix socket on which this process hears its push hooks.
    pub hook_socket: PathBuf,
    /// The inference tier's timing and free-tier policy.
    pub inference: crate::inference::Settings,
    /// Wake-ups from other nodes (`LISTEN/NOTIFY`), fanned out in this process.
    pub wake: crate::jobs::wake::Wakeups,
    /// Open git repositories kept for reuse by the reads.
    pub git_handles: Arc<crate::git::handles::Handles>,
    /// Content by commit and blob id, for the hot read routes.
    pub content_cache: crate::repos::content_cache::ContentCache,
    /// Repo rows and revisions found by lookups, kept until anything may
    /// have changed them.
    pub lookups: crate::repos::lookup_cache::LookupCache,
    /// Counted downloads, written to the database in batches.
    pub downloads: crate::repos::download_counts::DownloadCounts,
    /// The payment providers top-ups go through (none unless configured).
    pub payments: crate::billing::providers::Providers,
    /// Mirror mode's fetches in flight ([`crate::mirror`]).
    pub mirror: crate::mirror::State,
    /// Spaces: their domain, and visits not yet written down.
    pub spaces: crate::spaces::State,
    /// Fine-tuning's limits and defaults.
    pub finetune: crate::finetune::Settings,
    /// This hub, once shared ([`Hub::into_shared`]): for work that must
    /// outlive the request that started it.
    me: Weak<Hub>,
    branch_queues: Mutex<HashMap<(i64, String), Weak<BranchQueue>>>,
}

impl Hub {
    pub fn new(
        config: Config,
        db: PgPool,
        storage: Storage,
        secret: Secret,
        git_env: GitEnvironment,
    ) -> Hub {
        let hook_socket = crate::git::hooks::socket_path(&config.data_dir);
        Hub {
            config,
            db,
            storage,
            secret,
            git_env,
            hook_socket,
            inference: crate::inference::Settings::from_env(),
            wake: Default::default(),
            git_handles: Default::default(),
            content_cache: Default::default(),
            lookups: Default::default(),
            downloads: Default::default(),
            payments: Default::default(),
            mirror: Default::default(),
            spaces: crate::spaces::State::new(crate::spaces::Settings::from_env()),
            finetune: crate::finetune::Settings::from_env(),
            me: Weak::new(),
            branch_queues: Mutex::new(HashMap::new()),
        }
    }

    /// This hub behind an `Arc`, as a server or command shares it; work
    /// a request starts for others (a mirror's transfer that several
    /// readers share) reaches it through [`Hub::shared`].
    pub fn into_shared(mut self) -> Arc<Hub> {
        Arc::new_cyclic(|me| {
            self.me = me.clone();
            self
        })
    }

    /// The shared handle of this hub; `None` for a hub that was never
    /// shared (then such work runs within the request).
    pub fn shared(&self) -> Option<Arc<Hub>> {
        self.me.upgrade()
    }

    /// The bare git repository of a repo.
    pub fn repo_dir(&self, repo_id: i64) -> PathBuf {
        crate::git::repo_path(&self.config.repos_dir(), repo_id)
    }

    /// Queues commits to one branch within this process, so concurrent API
    /// commits wait for each other instead of racing on the ref. Correctness
    /// does not depend on it (the ref update is a compare-and-swap that other
    /// processes and `git push` also respect); it only avoids wasted retries.
    pub async fn queue_for_branch(
        &self,
        repo_id: i64,
        branch: &str,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let queue = {
            let mut queues = self
                .branch_queues
                .lock()
                .expect("branch queue map poisoned");
            queues.retain(|_, q| q.strong_count() > 0);
            let key = (repo_id, branch.to_owned());
            match queues.get(&key).and_then(Weak::upgrade) {
                Some(q) => q,
                None => {
                    let q = Arc::new(BranchQueue::new(()));
                    queues.insert(key, Arc::downgrade(&q));
                    q
                }
            }
        };
        queue.lock_owned().await
    }
}
