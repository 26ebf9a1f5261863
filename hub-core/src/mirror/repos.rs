//! Mirrored repos: made on the first request for a repo the hub lacks and
//! an upstream has, and brought up to date with upstream when a request
//! finds them older than the policy's freshness time. Reached only from
//! the access module's look-up ([`crate::repos::access::authorize`]), so
//! every route family mirrors alike.

use chrono::{DateTime, Utc};

use super::policy::Policy;
use super::remote::{self, Failure, Remote};
use super::upstreams::{self, Upstream};
use crate::accounts::Actor;
use crate::error::{Error, Result, is_unique_violation};
use crate::hub::Hub;
use crate::repos::{self, Repo, RepoType};

/// The repo `ns/name` fetched from the first enabled upstream that has it,
/// when the policy lets `actor` make the hub fetch it; `None` when no
/// upstream has it (or none may be asked). Upstreams that are down make it
/// `Unavailable`, naming them, rather than "not found".
pub async fn fetch_missing(
    hub: &Hub,
    actor: &Actor,
    kind: RepoType,
    namespace: &str,
    name: &str,
) -> Result<Option<Repo>> {
    if crate::names::validate_repo_name(name).is_err() || namespace.is_empty() {
        return Ok(None);
    }
    let candidates: Vec<Upstream> = upstreams::list(&hub.db)
        .await?
        .into_iter()
        .filter(|u| u.enabled)
        .collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let full_name = format!("{namespace}/{name}");
    let policy = Policy::load(&hub.db).await?;
    if !policy.permits(&full_name) || (actor.is_anonymous() && !policy.anonymous_fetch) {
        return Ok(None);
    }
    if policy.offline {
        return Err(Error::unavailable(format!(
            "{full_name} is not cached on this hub, and its mirror is offline \
             (it serves only what it has already fetched from {})",
            names(&candidates)
        )));
    }
    let key = format!("{}/{full_name}", kind.as_str()).to_lowercase();
    let fresh = std::time::Duration::from_secs(policy.freshness_seconds.max(0) as u64);
    if hub.mirror.known_missing(&key, fresh) {
        return Ok(None);
    }
    let found = mirror_from(hub, &candidates, kind, namespace, name).await?;
    if found.is_none() {
        hub.mirror.remember_missing(&key);
    }
    Ok(found)
}

/// The repo `ns/name` mirrored from the first of `upstreams` that has it
/// (no policy asked: the callers decided); `None` when none has it.
pub async fn mirror_from(
    hub: &Hub,
    upstreams: &[Upstream],
    kind: RepoType,
    namespace: &str,
    name: &str,
) -> Result<Option<Repo>> {
    let full_name = format!("{namespace}/{name}");
    let key = format!("{}/{full_name}", kind.as_str()).to_lowercase();
    let lock = hub.mirror.repo_lock(&key);
    let _one_at_a_time = lock.lock().await;
    // Someone else may have made it while this request waited.
    if let Some(repo) = repos::find(&hub.db, kind, namespace, name).await? {
        return Ok(Some(repo));
    }
    let mut down = Vec::new();
    for upstream in upstreams {
        if !namespace_is_free_for(hub, upstream, namespace).await? {
            return Ok(None); // a local user's or organisation's name: ours wins
        }
        match find_upstream(hub, upstream, kind, &full_name).await {
            Ok(Some(found)) => return create(hub, upstream, kind, namespace, name, found).await,
            Ok(None) => {}
            Err(why) => down.push(format!("{} ({why})", upstream.name)),
        }
    }
    if down.is_empty() {
        Ok(None)
    } else {
        Err(Error::unavailable(format!(
            "{full_name} is not cached on this hub, and the mirror's upstream cannot be reached: {}",
            down.join("; ")
        )))
    }
}

fn names(upstreams: &[Upstream]) -> String {
    let names: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
    names.join(", ")
}

/// What an upstream says of a repo it has.
struct Found {
    remote: Remote,
    private: bool,
    default_branch: Option<String>,
}

/// Asks `upstream` for `full_name`: without the token first (public),
/// then with it (private upstream, visible here only to the readers the
/// admin named). `Err`: the upstream is unreachable.
async fn find_upstream(
    hub: &Hub,
    upstream: &Upstream,
    kind: RepoType,
    full_name: &str,
) -> std::result::Result<Option<Found>, String> {
    let mut remote = Remote {
        upstream: upstream.name.clone(),
        url: upstream.git_url(kind, full_name),
        token: None,
    };
    match remote::default_branch(hub, &remote).await {
        Ok(default_branch) => {
            return Ok(Some(Found {
                remote,
                private: false,
                default_branch,
            }));
        }
        Err(Failure::Unreachable(why)) => return Err(why),
        Err(Failure::Missing) => {}
    }
    let token = upstream.token(hub).map_err(|e| e.to_string())?;
    let Some(token) = token else {
        return Ok(None);
    };
    remote.token = Some(token);
    match remote::default_branch(hub, &remote).await {
        Ok(default_branch) => Ok(Some(Found {
            remote,
            private: true,
            default_branch,
        })),
        Err(Failure::Missing) => Ok(None),
        Err(Failure::Unreachable(why)) => Err(why),
    }
}

/// Whether repos of `upstream` may be created in `namespace`: it does not
/// exist here yet, or the mirror made it for that upstream.
async fn namespace_is_free_for(hub: &Hub, upstream: &Upstream, namespace: &str) -> Result<bool> {
    let row: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT m.upstream_id FROM namespaces n
         LEFT JOIN mirror_namespaces m ON m.namespace_id = n.id
         WHERE lower(n.name) = lower($1)",
    )
    .bind(namespace)
    .fetch_optional(&hub.db)
    .await?;
    Ok(match row {
        None => true,
        Some(owner) => owner == Some(upstream.id),
    })
}

/// Makes the local mirror of `ns/name`: its git history fetched whole
/// first (into the directory of an id no row names yet), then the rows, in
/// one transaction, so that nobody sees a half-made repo.
async fn create(
    hub: &Hub,
    upstream: &Upstream,
    kind: RepoType,
    namespace: &str,
    name: &str,
    found: Found,
) -> Result<Option<Repo>> {
    let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('repos', 'id'))")
        .fetch_one(&hub.db)
        .await?;
    let dir = hub.repo_dir(id);
    let init_dir = dir.clone();
    tokio::task::spawn_blocking(move || crate::git::init_bare(&init_dir, "main").map(drop))
        .await??;
    let made = async {
        remote::fetch(hub, &found.remote, &dir)
            .await
            .map_err(|f| f.into_error(&found.remote))?;
        let mut tx = hub.db.begin().await?;
        let namespace_id = mirror_namespace(&mut tx, upstream, namespace).await?;
        sqlx::query(
            "INSERT INTO repos (id, repo_type, namespace_id, name, private, default_branch)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(namespace_id)
        .bind(name)
        .bind(found.private)
        .bind(found.default_branch.as_deref().unwrap_or("main"))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO mirror_repos (repo_id, upstream_id, refreshed_at, refresh_tried_at)
             VALUES ($1, $2, now(), now())",
        )
        .bind(id)
        .bind(upstream.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    if let Err(e) = made {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        // Another node made the same repo meanwhile: theirs is the one.
        if let Error::Internal(inner) = &e
            && inner
                .downcast_ref::<sqlx::Error>()
                .is_some_and(is_unique_violation)
        {
            return repos::find(&hub.db, kind, namespace, name).await;
        }
        return Err(e);
    }
    let repo = repos::find_by_id(&hub.db, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("mirrored repo vanished")))?;
    repos::refs::after_commit(hub, &repo).await?;
    tracing::info!(repo = %repo.full_name(), upstream = %upstream.name, private = found.private,
        "mirrored a repo from upstream");
    repos::find_by_id(&hub.db, id).await
}

/// The namespace of a mirrored repo: the one the mirror made for this
/// upstream, or a new organisation without members.
async fn mirror_namespace(
    tx: &mut sqlx::PgConnection,
    upstream: &Upstream,
    namespace: &str,
) -> Result<i64> {
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT id FROM namespaces WHERE lower(name) = lower($1)")
            .bind(namespace)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id: i64 =
        sqlx::query_scalar("INSERT INTO namespaces (name, kind) VALUES ($1, 'org') RETURNING id")
            .bind(namespace)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("INSERT INTO organizations (id) VALUES ($1)")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO mirror_namespaces (namespace_id, upstream_id) VALUES ($1, $2)")
        .bind(id)
        .bind(upstream.id)
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

/// Whether user `user_id` is one of the readers the admin named for what
/// is private on the upstream of mirrored repo `repo_id`.
pub async fn may_read_private(db: &sqlx::PgPool, repo_id: i64, user_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mirror_repos m JOIN mirror_upstreams u ON u.id = m.upstream_id
                        WHERE m.repo_id = $1 AND $2 = ANY(u.private_readers))",
    )
    .bind(repo_id)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

/// What is recorded of a mirrored repo's upstream.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MirrorRecord {
    pub repo_id: i64,
    pub upstream_id: i64,
    pub pinned: bool,
    pub synced: bool,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub refresh_tried_at: Option<DateTime<Utc>>,
    pub refresh_error: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
    pub sync_error: Option<String>,
    pub sync_done_bytes: i64,
    pub sync_total_bytes: i64,
}

pub async fn record(db: &sqlx::PgPool, repo_id: i64) -> Result<Option<MirrorRecord>> {
    Ok(sqlx::query_as(
        "SELECT repo_id, upstream_id, pinned, synced, refreshed_at, refresh_tried_at, refresh_error,
                synced_at, sync_error, sync_done_bytes, sync_total_bytes
         FROM mirror_repos WHERE repo_id = $1",
    )
    .bind(repo_id)
    .fetch_optional(db)
    .await?)
}

/// The git address and credentials of a mirrored repo's upstream.
pub async fn remote_of(hub: &Hub, repo: &Repo) -> Result<(Upstream, Remote)> {
    let record = record(&hub.db, repo.id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("{} is no mirror", repo.full_name())))?;
    let upstream = upstreams::by_id(&hub.db, record.upstream_id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("upstream vanished")))?;
    let token = if repo.private {
        upstream.token(hub)?
    } else {
        None
    };
    let remote = Remote {
        upstream: upstream.name.clone(),
        url: upstream.git_url(repo.kind(), &repo.full_name()),
        token,
    };
    Ok((upstream, remote))
}

/// Brings a mirrored repo's refs up to date with upstream when they are
/// older than the policy's freshness time; returns the repo as recorded
/// after. An upstream that fails leaves the repo served as cached (the
/// failure is recorded, and not retried before the freshness time again).
pub async fn freshen(hub: &Hub, repo: Repo) -> Result<Repo> {
    let policy = Policy::load(&hub.db).await?;
    let Some(record) = record(&hub.db, repo.id).await? else {
        return Ok(repo);
    };
    let due = |at: Option<DateTime<Utc>>| {
        at.is_none_or(|at| (Utc::now() - at).num_seconds() >= i64::from(policy.freshness_seconds))
    };
    if policy.offline || !due(record.refresh_tried_at) {
        return Ok(repo);
    }
    let key = format!("{}/{}", repo.kind().as_str(), repo.full_name()).to_lowercase();
    let lock = hub.mirror.repo_lock(&key);
    let _one_at_a_time = lock.lock().await;
    // Refreshed by another request while this one waited.
    match self::record(&hub.db, repo.id).await? {
        Some(r) if due(r.refresh_tried_at) => {}
        _ => return Ok(repos::find_by_id(&hub.db, repo.id).await?.unwrap_or(repo)),
    }
    // Claimed now: while this fetch runs, nobody starts another.
    sqlx::query("UPDATE mirror_repos SET refresh_tried_at = now() WHERE repo_id = $1")
        .bind(repo.id)
        .execute(&hub.db)
        .await?;
    // A slow upstream does not hold the request: after REFRESH_WAIT the
    // cached refs are served and the fetch finishes on its own. An upstream
    // that fails leaves the cached copy served (and the failure recorded).
    match hub.shared() {
        Some(shared) => {
            let fetching = repo.clone();
            let fetch = tokio::spawn(async move { refresh(&shared, &fetching).await });
            if let Ok(joined) = tokio::time::timeout(REFRESH_WAIT, fetch).await {
                let _served_as_cached = joined??;
            }
        }
        None => {
            let _served_as_cached = refresh(hub, &repo).await?;
        }
    }
    Ok(repos::find_by_id(&hub.db, repo.id).await?.unwrap_or(repo))
}

/// How long a request waits for its mirrored repo's refs to be fetched
/// again before it is answered from the cached ones.
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Fetches the refs of a mirrored repo from upstream now, recording how it
/// went; `Err` only for the hub's own failures, not the upstream's.
pub async fn refresh(hub: &Hub, repo: &Repo) -> Result<std::result::Result<(), String>> {
    let (upstream, remote) = remote_of(hub, repo).await?;
    let outcome = if !upstream.enabled {
        Err(format!("upstream {} is turned off", upstream.name))
    } else {
        remote::fetch(hub, &remote, &hub.repo_dir(repo.id))
            .await
            .map_err(|f| f.into_error(&remote).to_string())
    };
    match &outcome {
        Ok(()) => {
            sqlx::query(
                "UPDATE mirror_repos SET refreshed_at = now(), refresh_tried_at = now(),
                     refresh_error = NULL WHERE repo_id = $1",
            )
            .bind(repo.id)
            .execute(&hub.db)
            .await?;
            repos::refs::after_commit(hub, repo).await?;
        }
        Err(why) => {
            tracing::warn!(repo = %repo.full_name(), error = %why,
                "could not refresh a mirrored repo; serving it as cached");
            sqlx::query(
                "UPDATE mirror_repos SET refresh_tried_at = now(), refresh_error = $2
                 WHERE repo_id = $1",
            )
            .bind(repo.id)
            .bind(why)
            .execute(&hub.db)
            .await?;
        }
    }
    Ok(outcome)
}
