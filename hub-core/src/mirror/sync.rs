//! Repos kept whole (`hub mirror add`): the history fetched from upstream
//! and every large file of the chosen revisions fetched ahead of any read,
//! then again on a schedule, so they are served even with the upstream
//! gone. A synced repo is pinned by default: eviction never touches it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::objects;
use super::policy::Policy;
use super::upstreams::{self, Kind, Upstream};
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::{self, Repo, RepoType, content};

/// What `hub mirror add` names: `[UPSTREAM:][TYPE/]ns/name`, where
/// UPSTREAM is an upstream's name or kind (`hf:Qwen/Qwen2.5-0.5B`,
/// `modelscope:datasets/ns/name`) and TYPE is `models`, `datasets` or
/// `spaces` (models when absent).
#[derive(Debug, PartialEq)]
pub struct SyncTarget {
    pub upstream: Option<String>,
    pub kind: RepoType,
    pub namespace: String,
    pub name: String,
}

impl SyncTarget {
    pub fn parse(s: &str) -> Result<SyncTarget> {
        let (upstream, rest) = match s.split_once(':') {
            Some((u, rest)) => (Some(u.to_owned()), rest),
            None => (None, s),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (kind, namespace, name) = match parts.as_slice() {
            [ns, name] => (RepoType::Model, *ns, *name),
            [kind, ns, name] => (RepoType::parse(kind)?, *ns, *name),
            _ => {
                return Err(Error::invalid(format!(
                    "'{s}' is not [UPSTREAM:][TYPE/]namespace/name"
                )));
            }
        };
        crate::names::validate_repo_name(name)?;
        if namespace.is_empty() {
            return Err(Error::invalid(format!("'{s}' has no namespace")));
        }
        Ok(SyncTarget {
            upstream,
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// How `hub mirror add` keeps a repo.
pub struct SyncPlan {
    /// Revisions whose large files are fetched; empty: every branch and tag.
    pub revisions: Vec<String>,
    /// How often to sync again (`None`: only when asked).
    pub every: Option<Duration>,
    pub pinned: bool,
}

/// Mirrors `target` (fetching its history now if the hub lacks it) and
/// marks it to be kept in sync; the large files follow in the background
/// loop, or at once with [`sync_now`].
pub async fn add(hub: &Hub, target: &SyncTarget, plan: SyncPlan) -> Result<Repo> {
    let upstream = choose_upstream(hub, target.upstream.as_deref()).await?;
    let repo = match repos::find(&hub.db, target.kind, &target.namespace, &target.name).await? {
        Some(repo) if repo.mirrored_from.is_none() => {
            return Err(Error::conflict(format!(
                "{} is a repo of this hub, not a mirror",
                repo.full_name()
            )));
        }
        Some(repo) => repo,
        None => super::repos::mirror_from(
            hub,
            &[upstream],
            target.kind,
            &target.namespace,
            &target.name,
        )
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "no upstream has {}/{}",
                target.namespace, target.name
            ))
        })?,
    };
    sqlx::query(
        "UPDATE mirror_repos SET synced = true, sync_revisions = $2, sync_every = $3,
             pinned = $4, next_sync_at = now() WHERE repo_id = $1",
    )
    .bind(repo.id)
    .bind(&plan.revisions)
    .bind(
        plan.every
            .map(|d| sqlx::postgres::types::PgInterval::try_from(d).expect("a sane interval")),
    )
    .bind(plan.pinned)
    .execute(&hub.db)
    .await?;
    Ok(repo)
}

/// The upstream `name_or_kind` names (its name, else the first enabled one
/// of that kind), or the first enabled upstream.
async fn choose_upstream(hub: &Hub, name_or_kind: Option<&str>) -> Result<Upstream> {
    let all = upstreams::list(&hub.db).await?;
    let found = match name_or_kind {
        None => all.into_iter().find(|u| u.enabled),
        Some(wanted) => {
            let kind = Kind::parse(wanted).ok();
            match all.iter().find(|u| u.name.eq_ignore_ascii_case(wanted)) {
                Some(u) => Some(u.clone()),
                None => all
                    .into_iter()
                    .find(|u| u.enabled && Some(u.kind()) == kind),
            }
        }
    };
    found.ok_or_else(|| {
        Error::not_found(match name_or_kind {
            Some(w) => format!("no upstream named {w} (see `hub mirror upstream list`)"),
            None => "no upstream is configured (`hub mirror upstream add`)".to_owned(),
        })
    })
}

/// How a sync ended.
#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub files: u64,
    pub fetched_files: u64,
    pub total_bytes: u64,
    pub fetched_bytes: u64,
}

/// Syncs a mirrored repo now: refs from upstream, then every large file of
/// its sync revisions (all branches and tags when none are named) that the
/// hub does not hold yet; progress and the outcome are recorded for the
/// admin page.
pub async fn sync_now(hub: &Hub, repo: &Repo) -> Result<SyncReport> {
    sqlx::query(
        "UPDATE mirror_repos SET sync_started_at = now(), sync_done_bytes = 0,
             sync_total_bytes = 0 WHERE repo_id = $1",
    )
    .bind(repo.id)
    .execute(&hub.db)
    .await?;
    let outcome = sync_files(hub, repo).await;
    let error = outcome.as_ref().err().map(|e| e.to_string());
    sqlx::query(
        "UPDATE mirror_repos SET synced_at = CASE WHEN $2::TEXT IS NULL THEN now() ELSE synced_at END,
             sync_error = $2 WHERE repo_id = $1",
    )
    .bind(repo.id)
    .bind(&error)
    .execute(&hub.db)
    .await?;
    outcome
}

async fn sync_files(hub: &Hub, repo: &Repo) -> Result<SyncReport> {
    if Policy::load(&hub.db).await?.offline {
        return Err(Error::unavailable(
            "the mirror is offline: nothing is fetched from upstream",
        ));
    }
    if let Err(why) = super::repos::refresh(hub, repo).await? {
        return Err(Error::unavailable(why));
    }
    let repo = repos::find_by_id(&hub.db, repo.id)
        .await?
        .ok_or_else(|| Error::not_found("the mirrored repo was deleted"))?;
    let revisions: Vec<String> =
        sqlx::query_scalar("SELECT unnest(sync_revisions) FROM mirror_repos WHERE repo_id = $1")
            .bind(repo.id)
            .fetch_all(&hub.db)
            .await?;
    // The mirror reads for itself, as any reader of the repo would.
    let reader = Authorized::listed(repo.clone(), &Actor::Anonymous);
    let revisions = if revisions.is_empty() {
        content::refs(hub, &reader)
            .await?
            .into_iter()
            .map(|(_, _, target)| target)
            .collect()
    } else {
        revisions
    };
    let mut wanted = std::collections::BTreeMap::new();
    for revision in &revisions {
        let (_, entries) = content::list(hub, &reader, revision, "", true).await?;
        for entry in entries.iter() {
            if let Some(pointer) = &entry.lfs {
                wanted.insert(pointer.oid.clone(), pointer.size);
            }
        }
    }
    let mut report = SyncReport {
        files: wanted.len() as u64,
        total_bytes: wanted.values().sum(),
        ..Default::default()
    };
    record_progress(hub, repo.id, 0, report.total_bytes).await?;
    let mut done = 0u64;
    for (oid, size) in wanted {
        if !objects::is_cached(hub, &repo, &oid, size).await? {
            objects::fetch_whole(hub, &repo, &oid, size).await?;
            report.fetched_files += 1;
            report.fetched_bytes += size;
        }
        done += size;
        record_progress(hub, repo.id, done, report.total_bytes).await?;
    }
    Ok(report)
}

async fn record_progress(hub: &Hub, repo_id: i64, done: u64, total: u64) -> Result<()> {
    sqlx::query(
        "UPDATE mirror_repos SET sync_done_bytes = $2, sync_total_bytes = $3 WHERE repo_id = $1",
    )
    .bind(repo_id)
    .bind(done as i64)
    .bind(total as i64)
    .execute(&hub.db)
    .await?;
    Ok(())
}

/// The background loop of `hub serve`: syncs each synced repo when due.
pub async fn run(hub: std::sync::Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if hub.db.is_closed() {
            return;
        }
        while let Ok(Some(repo)) = claim_due(&hub).await {
            if let Err(e) = sync_now(&hub, &repo).await {
                tracing::warn!(repo = %repo.full_name(), error = %e, "mirror sync failed");
            }
        }
    }
}

/// The next synced repo whose time has come, its next time set at once
/// (so that another node does not take it too).
async fn claim_due(hub: &Hub) -> Result<Option<Repo>> {
    let claimed: Option<i64> = sqlx::query_scalar(
        "UPDATE mirror_repos SET next_sync_at = CASE WHEN sync_every IS NULL THEN NULL
                                                ELSE now() + sync_every END
         WHERE repo_id = (SELECT repo_id FROM mirror_repos
                          WHERE synced AND next_sync_at <= now()
                          ORDER BY next_sync_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING repo_id",
    )
    .fetch_optional(&hub.db)
    .await?;
    match claimed {
        Some(id) => repos::find_by_id(&hub.db, id).await,
        None => Ok(None),
    }
}

/// A mirrored repo as the admin page shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct MirroredRepo {
    pub repo_id: i64,
    pub repo_type: String,
    pub full_name: String,
    pub upstream: String,
    pub private: bool,
    pub pinned: bool,
    pub synced: bool,
    pub sync_revisions: Vec<String>,
    pub sync_every_seconds: Option<i64>,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub synced_at: Option<DateTime<Utc>>,
    pub sync_done_bytes: i64,
    pub sync_total_bytes: i64,
    pub sync_error: Option<String>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub refresh_error: Option<String>,
    pub cached_files: i64,
    pub cached_bytes: i64,
    pub last_read_at: DateTime<Utc>,
}

pub async fn list(db: &sqlx::PgPool) -> Result<Vec<MirroredRepo>> {
    Ok(sqlx::query_as(
        "SELECT m.repo_id, r.repo_type, n.name || '/' || r.name AS full_name, u.name AS upstream,
                r.private, m.pinned, m.synced, m.sync_revisions,
                extract(epoch FROM m.sync_every)::BIGINT AS sync_every_seconds, m.next_sync_at,
                m.synced_at, m.sync_done_bytes, m.sync_total_bytes, m.sync_error, m.refreshed_at,
                m.refresh_error,
                (SELECT count(*) FROM mirror_objects o WHERE o.repo_id = m.repo_id) AS cached_files,
                (SELECT coalesce(sum(size), 0)::BIGINT FROM mirror_objects o
                  WHERE o.repo_id = m.repo_id) AS cached_bytes,
                m.last_read_at
         FROM mirror_repos m JOIN repos r ON r.id = m.repo_id
         JOIN namespaces n ON n.id = r.namespace_id
         JOIN mirror_upstreams u ON u.id = m.upstream_id
         ORDER BY n.name, r.name",
    )
    .fetch_all(db)
    .await?)
}

/// Drops a mirrored repo: its history and its cached files (freed by the
/// next garbage collection). A later request fetches it again, policy
/// permitting.
pub async fn remove(hub: &Hub, repo: &Repo) -> Result<()> {
    if repo.mirrored_from.is_none() {
        return Err(Error::conflict(format!(
            "{} is a repo of this hub, not a mirror",
            repo.full_name()
        )));
    }
    crate::repos::manage::remove(hub, repo.id).await
}

/// Pins or unpins a mirrored repo (a pinned repo's files are never evicted).
pub async fn set_pinned(db: &sqlx::PgPool, repo: &Repo, pinned: bool) -> Result<()> {
    sqlx::query("UPDATE mirror_repos SET pinned = $2 WHERE repo_id = $1")
        .bind(repo.id)
        .bind(pinned)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_an_upstream_a_type_and_a_repo() {
        let t = SyncTarget::parse("hf:Qwen/Qwen2.5-0.5B").unwrap();
        assert_eq!(t.upstream.as_deref(), Some("hf"));
        assert_eq!(t.kind, RepoType::Model);
        assert_eq!(
            (t.namespace.as_str(), t.name.as_str()),
            ("Qwen", "Qwen2.5-0.5B")
        );
        let t = SyncTarget::parse("datasets/ns/data").unwrap();
        assert_eq!(t.upstream, None);
        assert_eq!(t.kind, RepoType::Dataset);
        for bad in ["hf:noslash", "a/b/c/d", "hf:/name", "x:things/ns/n"] {
            assert!(SyncTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
