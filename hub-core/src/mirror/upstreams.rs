//! The upstream hubs an admin configures: where they are, what protocol
//! family they speak, and the token the mirror uses with them (sealed under
//! the hub secret; nothing ever shows it).

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::RepoType;

/// The protocol family of an upstream: both serve git and Git LFS at the
/// same addresses (`{endpoint}/{prefix}{ns}/{name}.git`); they differ in
/// their JSON APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// huggingface.co, a public mirror of it, another Kaiyuan hub.
    Hf,
    /// modelscope.cn or a hub speaking its API.
    Modelscope,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "hf" => Ok(Kind::Hf),
            "modelscope" | "ms" => Ok(Kind::Modelscope),
            other => Err(Error::invalid(format!(
                "unknown upstream kind '{other}' (hf or modelscope)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hf => "hf",
            Kind::Modelscope => "modelscope",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Upstream {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: KindColumn,
    pub endpoint: String,
    pub enabled: bool,
    pub position: i32,
    /// Whether a token is kept (never the token).
    pub has_token: bool,
    /// The local users who may read what is private upstream.
    pub private_readers: Vec<String>,
    #[serde(skip)]
    #[sqlx(default)]
    token_sealed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KindColumn(pub Kind);

impl TryFrom<String> for KindColumn {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Kind::parse(&s).map(KindColumn)
    }
}

/// What the seal of an upstream token is for (a key of its own).
const TOKEN_PURPOSE: &str = "mirror upstream token";

impl Upstream {
    pub fn kind(&self) -> Kind {
        self.kind.0
    }

    /// The smart-HTTP git address of `ns/name` upstream; Git LFS lives
    /// under it (`/info/lfs`).
    pub fn git_url(&self, kind: RepoType, full_name: &str) -> String {
        format!("{}/{}{full_name}.git", self.endpoint, kind.url_prefix())
    }

    /// The token to send upstream, unsealed; `None` without one. A token
    /// that no longer opens (the hub secret changed) is an error naming the
    /// upstream, so an admin knows to set it again.
    pub fn token(&self, hub: &Hub) -> Result<Option<String>> {
        let Some(sealed) = &self.token_sealed else {
            return Ok(None);
        };
        let opened = hub.secret.open(TOKEN_PURPOSE, sealed).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "the token of upstream {} does not open under this hub's secret; set it again",
                self.name
            ))
        })?;
        String::from_utf8(opened)
            .map(Some)
            .map_err(|_| Error::Internal(anyhow::anyhow!("upstream token is not UTF-8")))
    }
}

const COLUMNS: &str = "u.id, u.name, u.kind, u.endpoint, u.enabled, u.position,
    u.token_sealed IS NOT NULL AS has_token, u.token_sealed,
    coalesce((SELECT array_agg(n.name ORDER BY n.name) FROM namespaces n
              WHERE n.id = ANY(u.private_readers)), '{}') AS private_readers";

/// A new upstream; what `hub mirror upstream add` takes.
pub struct NewUpstream<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub endpoint: &'a str,
    pub token: Option<&'a str>,
    pub private_readers: &'a [String],
}

/// Adds an upstream (asked after those already there).
pub async fn add(hub: &Hub, new: NewUpstream<'_>) -> Result<Upstream> {
    let endpoint = normalise_endpoint(new.endpoint)?;
    let sealed = match new.token.map(str::trim) {
        Some("") => return Err(Error::invalid("the upstream token is empty")),
        Some(token) => Some(hub.secret.seal(TOKEN_PURPOSE, token.as_bytes())),
        None => None,
    };
    let readers = user_ids(&hub.db, new.private_readers).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO mirror_upstreams (name, kind, endpoint, token_sealed, private_readers, position)
         VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(position), 0) + 1 FROM mirror_upstreams))
         RETURNING id",
    )
    .bind(new.name)
    .bind(new.kind.as_str())
    .bind(&endpoint)
    .bind(&sealed)
    .bind(&readers)
    .fetch_one(&hub.db)
    .await
    .map_err(|e| match &e {
        e if crate::error::is_unique_violation(e) => {
            Error::conflict(format!("an upstream named {} already exists", new.name))
        }
        sqlx::Error::Database(d) if d.is_check_violation() => Error::invalid(format!(
            "'{}' is not a valid upstream name (letters, digits, '-', '_', '.')",
            new.name
        )),
        _ => e.into(),
    })?;
    by_id(&hub.db, id)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("upstream vanished")))
}

/// Removes an upstream and every repo mirrored from it.
pub async fn remove(hub: &Hub, name: &str) -> Result<()> {
    let upstream = by_name(&hub.db, name).await?;
    let mirrored: Vec<i64> =
        sqlx::query_scalar("SELECT repo_id FROM mirror_repos WHERE upstream_id = $1")
            .bind(upstream.id)
            .fetch_all(&hub.db)
            .await?;
    for repo_id in mirrored {
        crate::repos::manage::remove(hub, repo_id).await?;
    }
    let gone = sqlx::query("DELETE FROM mirror_upstreams WHERE lower(name) = lower($1)")
        .bind(name)
        .execute(&hub.db)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(Error::not_found(format!("no upstream named {name}")));
    }
    Ok(())
}

/// Turns an upstream on or off (off: its repos are served as cached, as offline).
pub async fn set_enabled(db: &PgPool, name: &str, enabled: bool) -> Result<()> {
    let changed =
        sqlx::query("UPDATE mirror_upstreams SET enabled = $2 WHERE lower(name) = lower($1)")
            .bind(name)
            .bind(enabled)
            .execute(db)
            .await?;
    if changed.rows_affected() == 0 {
        return Err(Error::not_found(format!("no upstream named {name}")));
    }
    Ok(())
}

pub async fn list(db: &PgPool) -> Result<Vec<Upstream>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mirror_upstreams u ORDER BY u.position, u.id"
    ));
    Ok(sqlx::query_as(sql).fetch_all(db).await?)
}

pub async fn by_id(db: &PgPool, id: i64) -> Result<Option<Upstream>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mirror_upstreams u WHERE u.id = $1"
    ));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(db).await?)
}

pub async fn by_name(db: &PgPool, name: &str) -> Result<Upstream> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mirror_upstreams u WHERE lower(u.name) = lower($1)"
    ));
    sqlx::query_as(sql)
        .bind(name)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| Error::not_found(format!("no upstream named {name}")))
}

/// `https://host[:port][/path]` without a trailing slash; anything else
/// (another scheme, a query, credentials in the URL) is refused: tokens go
/// in `--token-file`, never in an address that logs would show.
fn normalise_endpoint(raw: &str) -> Result<String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| Error::invalid(format!("'{raw}' is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid(format!(
            "'{raw}': an upstream is an http(s) address"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            "put the upstream's credentials in --token-file, not in its address",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(format!(
            "'{raw}': an upstream address has no query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

async fn user_ids(db: &PgPool, names: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for name in names {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT n.id FROM namespaces n JOIN users u ON u.id = n.id WHERE lower(n.name) = lower($1)",
        )
        .bind(name)
        .fetch_optional(db)
        .await?;
        ids.push(id.ok_or_else(|| Error::not_found(format!("no user named {name}")))?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_plain_http_addresses() {
        assert_eq!(
            normalise_endpoint("https://huggingface.co/").unwrap(),
            "https://huggingface.co"
        );
        assert_eq!(
            normalise_endpoint("http://127.0.0.1:8080/hub").unwrap(),
            "http://127.0.0.1:8080/hub"
        );
        for bad in [
            "ftp://x",
            "huggingface.co",
            "https://user:pw@host",
            "https://h/?a=1",
            "",
        ] {
            assert!(normalise_endpoint(bad).is_err(), "{bad}");
        }
    }
}
