//! Creating, deleting, moving and configuring repos. Each keeps PostgreSQL
//! and the git directory consistent: nothing is left half-done on failure.

use super::access::level::Admin;
use super::access::{Access, Authorized, namespace_for_writing};
use super::{IMPORTING_PREFIX, Repo, RepoType, find_by_id, new_space, refs};
use crate::accounts::Actor;
use crate::error::{Error, Message, Result, is_unique_violation};
use crate::git;
use crate::hub::Hub;
use crate::names::validate_repo_name;

/// Creates a repo with its bare git repository and a first commit holding
/// Hugging Face's default `.gitattributes` (and a Space's README, naming
/// `space_sdk`).
pub async fn create(
    hub: &Hub,
    actor: &Actor,
    repo_type: RepoType,
    namespace: &str,
    name: &str,
    private: bool,
    space_sdk: Option<&str>,
) -> Result<Repo> {
    validate_repo_name(name)?;
    let readme = match repo_type {
        RepoType::Space => Some(new_space::readme(name, space_sdk)?),
        _ => None,
    };
    let principal = actor.require_writer()?.clone();
    let (namespace_id, namespace) = namespace_for_writing(&hub.db, actor, namespace).await?;
    let mut tx = hub.db.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO repos (repo_type, namespace_id, name, private, created_by) VALUES ($1, $2, $3, $4, $5)
         RETURNING id",
    )
    .bind(repo_type.as_str())
    .bind(namespace_id)
    .bind(name)
    .bind(private)
    .bind(principal.user.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => already_exists(repo_type, &namespace, name),
        false => e.into(),
    })?;
    // A new repo takes over an old name that only a redirect still held.
    sqlx::query("DELETE FROM repo_redirects WHERE repo_type = $1 AND lower(full_name) = lower($2)")
        .bind(repo_type.as_str())
        .bind(format!("{namespace}/{name}"))
        .execute(&mut *tx)
        .await?;
    let path = hub.repo_dir(id);
    let (author, email) = (principal.user.name.clone(), principal.user.email.clone());
    let init_path = path.clone();
    let initialised = tokio::task::spawn_blocking(move || {
        let files: Vec<(&str, &[u8])> = readme
            .iter()
            .map(|text| ("README.md", text.as_bytes()))
            .collect();
        git::init_repo(&init_path, &author, &email, &files)
    })
    .await?;
    if let Err(e) = initialised {
        let _ = std::fs::remove_dir_all(&path);
        return Err(e);
    }
    if let Err(e) = tx.commit().await {
        let _ = std::fs::remove_dir_all(&path);
        return Err(e.into());
    }
    let repo = find_by_id(&hub.db, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("repo vanished")))?;
    refs::after_commit(hub, &repo).await?;
    Ok(find_by_id(&hub.db, id).await?.unwrap_or(repo))
}

/// A name taken by another repo of the same type, worded as Hugging Face
/// words it (its clients match "A model repository called ... already exists").
pub fn already_exists(repo_type: RepoType, namespace: &str, name: &str) -> Error {
    Error::conflict(
        Message::coded(
            "repo.exists",
            "A {type} repository called {namespace}/{name} already exists",
        )
        .with("type", repo_type.as_str())
        .with("namespace", namespace)
        .with("name", name),
    )
}

/// Deletes a repo: its row (and with it refs, likes, counts and LFS links)
/// and its git directory. The directory is first moved aside, so a failed
/// database delete can put it back and a crash leaves only trash to sweep.
pub async fn delete(hub: &Hub, repo: Authorized<Admin>) -> Result<()> {
    remove(hub, repo.id).await
}

/// [`delete`] without the proof, for the hub's own housekeeping: a
/// repo it made itself (an import that failed half-way) or a mirrored
/// repo the admin drops, which nobody administers through the API.
pub(crate) async fn remove(hub: &Hub, repo_id: i64) -> Result<()> {
    let path = hub.repo_dir(repo_id);
    let trash_dir = hub.config.repos_dir().join("trash");
    std::fs::create_dir_all(&trash_dir)?;
    let trash = trash_dir.join(format!("{repo_id}-{}.git", uuid::Uuid::new_v4()));
    let moved = path.exists();
    if moved {
        std::fs::rename(&path, &trash)?;
    }
    let deleted = sqlx::query("DELETE FROM repos WHERE id = $1")
        .bind(repo_id)
        .execute(&hub.db)
        .await;
    match deleted {
        Ok(_) => {
            // Kept handles would hold the removed files open.
            hub.git_handles.forget(repo_id);
            if moved {
                tokio::task::spawn_blocking(move || std::fs::remove_dir_all(trash)).await??;
            }
            Ok(())
        }
        Err(e) => {
            if moved {
                std::fs::rename(&trash, &path)?;
            }
            Err(e.into())
        }
    }
}

/// The advisory lock class of imports in progress (the repo id is the
/// other half).
const IMPORT_LOCK: i32 = 0x6b79_696d;

/// A repo that `hub import` is filling, held for its importer: a database
/// session of its own holds an advisory lock on it until this is dropped
/// or the importing process dies, so that [`sweep_abandoned_imports`]
/// tells a live import from an abandoned one.
pub struct Importing {
    pub repo: Repo,
    _session: sqlx::PgConnection,
}

/// Creates the record of a repo that `hub import` is filling: named so
/// that nobody sees it ([`Repo::is_being_imported`]), private even so, and
/// created by no user.
/// Its git directory is the importer's to make; [`reveal`] gives it its
/// name when the import is complete, [`discard`] removes it otherwise.
pub async fn create_hidden(
    hub: &Hub,
    repo_type: RepoType,
    namespace_id: i64,
    default_branch: &str,
) -> Result<Importing> {
    use sqlx::Connection;
    let name = format!("{IMPORTING_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let mut session = hub.db.acquire().await?.detach();
    // The lock is taken before the row is committed: no sweep can see the
    // row unheld.
    let mut tx = session.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO repos (repo_type, namespace_id, name, private, default_branch)
         VALUES ($1, $2, $3, true, $4) RETURNING id",
    )
    .bind(repo_type.as_str())
    .bind(namespace_id)
    .bind(&name)
    .bind(default_branch)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_advisory_lock($1, ($2 % 2147483647)::int4)")
        .bind(IMPORT_LOCK)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let repo = find_by_id(&hub.db, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("repo vanished")))?;
    Ok(Importing {
        repo,
        _session: session,
    })
}

/// Gives a repo made by [`create_hidden`] its name and visibility, in one
/// step: until then nobody could address it. A name taken meanwhile is a
/// `Conflict`, and the repo stays hidden.
pub async fn reveal(hub: &Hub, importing: &Importing, name: &str, private: bool) -> Result<Repo> {
    let repo = &importing.repo;
    validate_repo_name(name)?;
    let mut tx = hub.db.begin().await?;
    sqlx::query("UPDATE repos SET name = $2, private = $3, last_modified = now() WHERE id = $1")
        .bind(repo.id)
        .bind(name)
        .bind(private)
        .execute(&mut *tx)
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => already_exists(repo.kind(), &repo.namespace, name),
            false => e.into(),
        })?;
    sqlx::query("DELETE FROM repo_redirects WHERE repo_type = $1 AND lower(full_name) = lower($2)")
        .bind(repo.kind().as_str())
        .bind(format!("{}/{name}", repo.namespace))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    find_by_id(&hub.db, repo.id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("repo vanished")))
}

/// Removes a repo made by [`create_hidden`] that will not be revealed:
/// its record (and with it its refs and LFS links) and its git directory.
pub async fn discard(hub: &Hub, importing: Importing) -> Result<()> {
    remove(hub, importing.repo.id).await
}

/// Removes the repos whose import ended unfinished (the importing process
/// died): hidden, and with no session holding their lock. Every import
/// runs it first. Returns how many it removed.
pub async fn sweep_abandoned_imports(hub: &Hub) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM repos WHERE starts_with(name, $1)")
        .bind(IMPORTING_PREFIX)
        .fetch_all(&hub.db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    // A session of its own, closed at the end: the locks it takes go with it.
    let mut session = hub.db.acquire().await?.detach();
    let mut removed = 0;
    for id in ids {
        let abandoned: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, ($2 % 2147483647)::int4)")
                .bind(IMPORT_LOCK)
                .bind(id)
                .fetch_one(&mut session)
                .await?;
        if abandoned {
            tracing::warn!(repo = id, "removing a repo whose import was abandoned");
            remove(hub, id).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Renames a repo and/or moves it to another namespace. Its id and git
/// directory stay; the old name keeps leading to it.
pub async fn rename(hub: &Hub, repo: &Authorized<Admin>, to: (&str, &str)) -> Result<Repo> {
    validate_repo_name(to.1)?;
    let repo_type = repo.kind();
    let (namespace_id, namespace) = namespace_for_writing(&hub.db, repo.actor(), to.0).await?;
    let old_name = repo.full_name();
    let mut tx = hub.db.begin().await?;
    sqlx::query(
        "UPDATE repos SET namespace_id = $2, name = $3, last_modified = now() WHERE id = $1",
    )
    .bind(repo.id)
    .bind(namespace_id)
    .bind(to.1)
    .execute(&mut *tx)
    .await
    .map_err(|e| match is_unique_violation(&e) {
        true => already_exists(repo_type, &namespace, to.1),
        false => e.into(),
    })?;
    sqlx::query("DELETE FROM repo_redirects WHERE repo_type = $1 AND lower(full_name) = lower($2)")
        .bind(repo_type.as_str())
        .bind(format!("{namespace}/{}", to.1))
        .execute(&mut *tx)
        .await?;
    if !old_name.eq_ignore_ascii_case(&format!("{namespace}/{}", to.1)) {
        sqlx::query(
            "INSERT INTO repo_redirects (repo_type, full_name, repo_id) VALUES ($1, $2, $3)
             ON CONFLICT (repo_type, lower(full_name)) DO UPDATE SET repo_id = excluded.repo_id",
        )
        .bind(repo_type.as_str())
        .bind(&old_name)
        .bind(repo.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    find_by_id(&hub.db, repo.id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("repo vanished")))
}

/// Changes settings; `None` leaves a setting as it is.
pub async fn update_settings(
    hub: &Hub,
    repo: &Authorized<Admin>,
    private: Option<bool>,
) -> Result<Repo> {
    if let Some(private) = private {
        sqlx::query("UPDATE repos SET private = $2 WHERE id = $1")
            .bind(repo.id)
            .bind(private)
            .execute(&hub.db)
            .await?;
    }
    find_by_id(&hub.db, repo.id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("repo vanished")))
}

/// Repos in a namespace that `actor` may see, newest change first.
pub async fn list_in_namespace(hub: &Hub, actor: &Actor, namespace: &str) -> Result<Vec<Repo>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM repos r JOIN namespaces n ON n.id = r.namespace_id
         WHERE lower(n.name) = lower($1) ORDER BY r.last_modified DESC LIMIT 500",
        super::REPO_COLUMNS
    ));
    let all: Vec<Repo> = sqlx::query_as(sql)
        .bind(namespace)
        .fetch_all(&hub.db)
        .await?;
    let mut visible = Vec::with_capacity(all.len());
    for repo in all {
        if super::access::access(&hub.db, actor, &repo).await? >= Access::Read {
            visible.push(repo);
        }
    }
    Ok(visible)
}
