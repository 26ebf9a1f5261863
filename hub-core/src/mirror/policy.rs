//! What the mirror may fetch, for whom, and how much it keeps: one policy
//! for the hub, set by an admin (`hub mirror policy`).

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::wildmatch::Pattern;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Policy {
    /// Repo id patterns (`Qwen/*`, git's wildmatch, case-insensitive); an
    /// empty list allows every id.
    pub allow: Vec<String>,
    /// Patterns of ids never fetched (deny wins over allow).
    pub deny: Vec<String>,
    /// Serve only what is cached; never contact an upstream.
    pub offline: bool,
    /// Whether anonymous callers may make the hub fetch a repo it lacks.
    pub anonymous_fetch: bool,
    /// Seconds refs fetched from upstream are served before asking again.
    pub freshness_seconds: i32,
    /// Large-file bytes cached per mirrored repo (`None`: no cap).
    pub max_repo_bytes: Option<i64>,
    /// Large-file bytes cached for all mirrored repos together.
    pub max_total_bytes: Option<i64>,
}

impl Policy {
    pub async fn load(db: &PgPool) -> Result<Policy> {
        Ok(sqlx::query_as(
            "SELECT allow, deny, offline, anonymous_fetch, freshness_seconds, max_repo_bytes,
                    max_total_bytes FROM mirror_policy",
        )
        .fetch_one(db)
        .await?)
    }

    pub async fn save(&self, db: &PgPool) -> Result<()> {
        for pattern in self.allow.iter().chain(&self.deny) {
            compile(pattern)?;
        }
        if self.freshness_seconds < 0 {
            return Err(Error::invalid("the freshness time cannot be negative"));
        }
        for cap in [self.max_repo_bytes, self.max_total_bytes]
            .into_iter()
            .flatten()
        {
            if cap <= 0 {
                return Err(Error::invalid("a size cap is a positive number of bytes"));
            }
        }
        sqlx::query(
            "UPDATE mirror_policy SET allow = $1, deny = $2, offline = $3, anonymous_fetch = $4,
                 freshness_seconds = $5, max_repo_bytes = $6, max_total_bytes = $7",
        )
        .bind(&self.allow)
        .bind(&self.deny)
        .bind(self.offline)
        .bind(self.anonymous_fetch)
        .bind(self.freshness_seconds)
        .bind(self.max_repo_bytes)
        .bind(self.max_total_bytes)
        .execute(db)
        .await?;
        Ok(())
    }

    /// Whether repo id `ns/name` may be fetched from an upstream.
    pub fn permits(&self, full_name: &str) -> bool {
        let id = full_name.to_lowercase();
        let hit = |patterns: &[String]| {
            patterns
                .iter()
                .filter_map(|p| compile(p).ok())
                .any(|p| p.matches(id.as_bytes()))
        };
        (self.allow.is_empty() || hit(&self.allow)) && !hit(&self.deny)
    }
}

/// A repo id pattern: git's wildmatch over the lower-cased `ns/name`
/// (`Qwen/*`: every repo of Qwen; `*/*-GGUF`: every GGUF repo).
fn compile(pattern: &str) -> Result<Pattern> {
    let lower = pattern.trim().to_lowercase();
    if !lower.contains('/') {
        return Err(Error::invalid(format!(
            "'{pattern}' is not a repo id pattern (namespace/name, with * and ?)"
        )));
    }
    Pattern::compile(lower.as_bytes())
        .ok_or_else(|| Error::invalid(format!("'{pattern}' matches nothing")))
}

/// A cap as the CLI takes it (`500G`, see [`crate::text::parse_size`]).
pub fn parse_cap(s: &str) -> Result<i64> {
    let bytes = crate::text::parse_size(s)?;
    i64::try_from(bytes).map_err(|_| Error::invalid(format!("'{s}' is too large a cap")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], deny: &[&str]) -> Policy {
        Policy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            offline: false,
            anonymous_fetch: false,
            freshness_seconds: 300,
            max_repo_bytes: None,
            max_total_bytes: None,
        }
    }

    #[test]
    fn allow_and_deny_patterns_match_repo_ids_case_insensitively() {
        let p = policy(&["Qwen/*", "THUDM/*"], &["qwen/*-secret"]);
        assert!(p.permits("Qwen/Qwen2.5-0.5B"));
        assert!(p.permits("qwen/qwen2.5-0.5b"));
        assert!(p.permits("THUDM/glm-4-9b"));
        assert!(!p.permits("meta-llama/Llama-3"));
        assert!(!p.permits("Qwen/model-secret"));
        assert!(
            !p.permits("QwenX/a"),
            "a namespace prefix is not the namespace"
        );
        let open = policy(&[], &["*/*-GGUF"]);
        assert!(open.permits("any/thing"));
        assert!(!open.permits("TheBloke/Llama-2-GGUF"));
    }

    #[test]
    fn patterns_name_repo_ids() {
        assert!(compile("Qwen").is_err());
        assert!(compile("Qwen/*").is_ok());
    }
}
