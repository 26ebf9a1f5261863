//! Repo records: types, names, look-ups, and what is recorded about each
//! repo (refs, card metadata, likes, downloads).

pub mod access;
pub mod branches;
pub mod content;
pub mod content_cache;
pub mod counters;
pub mod download;
pub mod download_counts;
pub mod lineage;
pub mod lookup_cache;
pub mod manage;
pub mod master_alias;
pub mod new_space;
pub mod refs;
pub mod storage;
pub mod tags;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
    Space,
}

impl RepoType {
    pub const ALL: [RepoType; 3] = [RepoType::Model, RepoType::Dataset, RepoType::Space];

    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }

    /// `model` or `models` (and so on), as clients spell them.
    pub fn parse(s: &str) -> Result<RepoType> {
        match s {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            other => Err(Error::invalid(format!("unknown repo type '{other}'"))),
        }
    }

    /// The segment in `/api/{plural}/...`.
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }

    /// The prefix of web and git URLs: none for models.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Repo {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub repo_type: RepoTypeColumn,
    pub namespace_id: i64,
    pub namespace: String,
    pub namespace_kind: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    pub head_sha: Option<String>,
    pub card_license: Option<String>,
    pub card_language: Vec<String>,
    pub card_tags: Vec<String>,
    pub card_pipeline_tag: Option<String>,
    /// The card's `library_name`, else `gguf` for a repo of GGUF files
    /// ([`tags::FileFacts::library_name`]).
    pub card_library_name: Option<String>,
    pub card_base_model: Vec<String>,
    pub card_datasets: Vec<String>,
    pub card_data: Option<serde_json::Value>,
    pub card_error: Option<String>,
    /// What the repo is listed and filtered under (see [`tags`]).
    pub tags: Vec<String>,
    pub likes: i64,
    pub downloads_total: i64,
    /// Downloads over the last 30 days, as Hugging Face shows them.
    pub downloads: i64,
    /// The upstream this repo is a read-only mirror of ([`crate::mirror`]).
    pub mirrored_from: Option<String>,
    /// A Space's stage (`spaces::runtime`), for listings' badges.
    pub space_stage: Option<String>,
}

/// `RepoType` as read from its text column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RepoTypeColumn(pub RepoType);

impl TryFrom<String> for RepoTypeColumn {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        RepoType::parse(&s).map(RepoTypeColumn)
    }
}

impl Repo {
    pub fn kind(&self) -> RepoType {
        self.repo_type.0
    }

    /// Whether `hub import` is still filling the repo: then nobody may
    /// see it, whoever they are ([`access`] and its SQL form say so).
    pub fn is_being_imported(&self) -> bool {
        self.name.starts_with(IMPORTING_PREFIX)
    }

    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The name of a repo while `hub import` fills it (followed by a random
/// id): one the name rule refuses, so no client can address or create it.
pub(crate) const IMPORTING_PREFIX: &str = ".importing-";

/// Columns for [`Repo`]; the query must join `namespaces n` to `repos r`.
pub(crate) const REPO_COLUMNS: &str = "r.id, r.repo_type, r.namespace_id, n.name AS namespace,
    n.kind AS namespace_kind, r.name, r.private, r.default_branch, r.created_at, r.last_modified,
    r.head_sha, r.card_license, r.card_language, r.card_tags, r.card_pipeline_tag,
    r.card_library_name, r.card_base_model, r.card_datasets, r.card_data, r.card_error, r.tags, r.likes,
    r.downloads_total,
    coalesce((SELECT sum(d.count) FROM repo_downloads_daily d
              WHERE d.repo_id = r.id AND d.day > current_date - 30), 0)::BIGINT AS downloads,
    (SELECT u.name FROM mirror_repos m JOIN mirror_upstreams u ON u.id = m.upstream_id
      WHERE m.repo_id = r.id) AS mirrored_from,
    (SELECT s.stage FROM space_runtimes s WHERE s.repo_id = r.id) AS space_stage";

/// Looks a repo up by type and `namespace/name`, following the redirect a
/// rename leaves behind. No permission check: see [`access`] for that.
pub async fn find(
    db: &PgPool,
    repo_type: RepoType,
    namespace: &str,
    name: &str,
) -> Result<Option<Repo>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {REPO_COLUMNS} FROM repos r JOIN namespaces n ON n.id = r.namespace_id
         WHERE r.repo_type = $1 AND lower(n.name) = lower($2) AND lower(r.name) = lower($3)"
    ));
    let found: Option<Repo> = sqlx::query_as(sql)
        .bind(repo_type.as_str())
        .bind(namespace)
        .bind(name)
        .fetch_optional(db)
        .await?;
    if found.is_some() {
        return Ok(found);
    }
    let redirected: Option<i64> = sqlx::query_scalar(
        "SELECT repo_id FROM repo_redirects WHERE repo_type = $1 AND lower(full_name) = lower($2)",
    )
    .bind(repo_type.as_str())
    .bind(format!("{namespace}/{name}"))
    .fetch_optional(db)
    .await?;
    match redirected {
        Some(id) => find_by_id(db, id).await,
        None => Ok(None),
    }
}

pub async fn find_by_id(db: &PgPool, id: i64) -> Result<Option<Repo>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {REPO_COLUMNS} FROM repos r JOIN namespaces n ON n.id = r.namespace_id WHERE r.id = $1"
    ));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(db).await?)
}
