//! Keeping PostgreSQL's view of a repo in step with git: refs (with the
//! creation times git does not record), the head, card metadata and the
//! search fields (card text, tags). This is the after-commit step every write
//! path ends in — API commits and pushes.

use chrono::Utc;
use sqlx::PgPool;

use super::Repo;
use super::tags::FileFacts;
use crate::cards::parse_card;
use crate::error::Result;
use crate::git::{self, read};
use crate::hub::Hub;
use crate::text::truncate;

/// Records a repo's refs, head and card as git has them now. Idempotent:
/// run after every commit and push, and for every repo at start-up.
pub async fn after_commit(hub: &Hub, repo: &Repo) -> Result<()> {
    // One at a time per repo, on every node, and git is read under the
    // lock: when two writers' steps overlap, the one that records last has
    // read git last, so an older head never overwrites a newer one. `NO KEY`:
    // a transaction that holds a row naming the repo (an opening pull
    // request's, which commits after this step) only key-shares it, and
    // must not make this wait for it.
    let mut tx = hub.db.begin().await?;
    let recorded: Option<Option<String>> =
        sqlx::query_scalar("SELECT head_sha FROM repos WHERE id = $1 FOR NO KEY UPDATE")
            .bind(repo.id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(recorded_head) = recorded else {
        return Ok(()); // deleted meanwhile
    };
    let path = hub.repo_dir(repo.id);
    let default_branch = repo.default_branch.clone();
    let (refs, readme) = tokio::task::spawn_blocking(move || -> Result<_> {
        let git = git::open(&path)?;
        let refs = read::list_refs(&git)?;
        let head = refs
            .iter()
            .find(|(k, n, _)| *k == read::RefKind::Branch && *n == default_branch)
            .map(|(_, _, target)| target.clone());
        let (readme, files) = match &head {
            Some(h) => {
                let commit = git2::Oid::from_str(h)?;
                (
                    read::read_file(&git, commit, "README.md")?,
                    read::file_paths(&git, commit, MAX_TAGGED_ENTRIES)?,
                )
            }
            None => (None, Vec::new()),
        };
        Ok((refs, (head, readme, FileFacts::of(&files))))
    })
    .await??;
    let (head, readme, files) = readme;
    let names: Vec<String> = refs
        .iter()
        .map(|(k, n, _)| format!("{}:{n}", k.as_str()))
        .collect();
    sqlx::query("DELETE FROM repo_refs WHERE repo_id = $1 AND NOT (kind || ':' || name = ANY($2))")
        .bind(repo.id)
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    for (kind, name, target) in &refs {
        sqlx::query(
            "INSERT INTO repo_refs (repo_id, kind, name, target) VALUES ($1, $2, $3, $4)
             ON CONFLICT (repo_id, kind, name) DO UPDATE SET target = excluded.target,
                 updated_at = CASE WHEN repo_refs.target = excluded.target THEN repo_refs.updated_at ELSE now() END",
        )
        .bind(repo.id)
        .bind(kind.as_str())
        .bind(name)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    }
    let card = readme
        .as_deref()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    let parsed = card.as_deref().map(parse_card);
    let meta = parsed
        .as_ref()
        .map(|p| p.metadata.clone())
        .unwrap_or_default();
    let card_error = parsed.and_then(|p| p.error).map(|m| m.to_string());
    let tags = super::tags::tags(repo.kind(), &meta, &files);
    let library_name = files.library_name(&meta);
    let card_text = card.as_deref().map_or("", |c| truncate(c, MAX_CARD_TEXT));
    let head_changed = recorded_head.as_deref() != head.as_deref();
    sqlx::query(
        "UPDATE repos SET head_sha = $2, last_modified = CASE WHEN $3 THEN $4 ELSE last_modified END,
             card_license = $5, card_language = $6, card_tags = $7, card_pipeline_tag = $8,
             card_library_name = $9, card_base_model = $10, card_datasets = $11, card_data = $12,
             card_error = $13, tags = $14, card_text = $15
         WHERE id = $1",
    )
    .bind(repo.id)
    .bind(&head)
    .bind(head_changed)
    .bind(Utc::now())
    .bind(&meta.license)
    .bind(&meta.language)
    .bind(&meta.tags)
    .bind(&meta.pipeline_tag)
    .bind(&library_name)
    .bind(&meta.base_model)
    .bind(&meta.datasets)
    .bind(&meta.card_data)
    .bind(&card_error)
    .bind(&tags)
    .bind(card_text)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if repo.kind() == super::RepoType::Space {
        // The commit is in whatever becomes of its Space's run: a failure
        // to start one is the runtime's to show, not the commit's.
        if let Some(space) = super::find_by_id(&hub.db, repo.id).await?
            && let Err(e) = crate::spaces::runtime::on_head(hub, &space).await
        {
            tracing::warn!(space = %space.full_name(), error = %e, "starting the Space's new head failed");
        }
    }
    Ok(())
}

/// Entries walked for the tags file names give (a repo with more still
/// gets those of the first ones).
const MAX_TAGGED_ENTRIES: usize = 100_000;

/// How much of a model card is kept for search.
const MAX_CARD_TEXT: usize = 100 * 1024;

/// At start-up: bring every repo's records in line with git, in case the
/// hub stopped between a ref update and its after-commit step.
pub async fn reconcile_all(hub: &Hub) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM repos ORDER BY id")
        .fetch_all(&hub.db)
        .await?;
    let mut fixed = 0;
    for id in ids {
        let Some(repo) = super::find_by_id(&hub.db, id).await? else {
            continue;
        };
        if let Err(e) = after_commit(hub, &repo).await {
            tracing::warn!(repo = %repo.full_name(), error = %e, "cannot reconcile repo with git");
        } else {
            fixed += 1;
        }
    }
    Ok(fixed)
}

/// Branches and tags as recorded, with creation times.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct RefRecord {
    pub kind: String,
    pub name: String,
    pub target: String,
    pub created_at: chrono::DateTime<Utc>,
}

pub async fn list(db: &PgPool, repo_id: i64) -> Result<Vec<RefRecord>> {
    Ok(sqlx::query_as(
        "SELECT kind, name, target, created_at FROM repo_refs WHERE repo_id = $1 ORDER BY kind, name",
    )
    .bind(repo_id)
    .fetch_all(db)
    .await?)
}
