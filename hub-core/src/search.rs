//! Listing repos (`GET /api/models|datasets|spaces`): search, author, tag
//! filters, sorting and pages, in one SQL query that applies the visibility
//! rule too ([`Reader::sql_condition`]), so a page costs one round trip
//! however many private repos are skipped.
//!
//! * `search`: each term is a case-insensitive substring of `namespace/name`
//!   or of the model card's text (Chinese included: the text is matched as is).
//! * `filter`: every value must be one of the repo's tags (`repos::tags`:
//!   card tags, languages, `license:...`, pipeline tag, library, ...).
//! * Sorts, all descending unless asked otherwise, ties broken by newest id:
//!   likes; downloads over 30 days; trending ([`TRENDING_SCORE`]); last
//!   modified; created.

use sqlx::PgPool;

use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::repos::access::Reader;
use crate::repos::{REPO_COLUMNS, Repo, RepoType};

/// Largest page.
pub const MAX_PAGE: usize = 1000;

/// Trending: what a repo gained in the last 7 days, a like counting as ten
/// downloads (a like is a deliberate act, downloads include every CI run).
pub const TRENDING_SCORE: &str = "(10 * (SELECT count(*) FROM repo_likes l \
     WHERE l.repo_id = r.id AND l.created_at > now() - interval '7 days') \
     + coalesce((SELECT sum(d.count) FROM repo_downloads_daily d \
     WHERE d.repo_id = r.id AND d.day > current_date - 7), 0))::BIGINT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Trending,
    Likes,
    Downloads,
    LastModified,
    CreatedAt,
}

impl Sort {
    /// The HF client's names (and their snake_case spellings).
    pub fn parse(s: &str) -> Result<Sort> {
        Ok(match s {
            "trendingScore" | "trending_score" | "trending" => Sort::Trending,
            "likes" => Sort::Likes,
            "downloads" => Sort::Downloads,
            "lastModified" | "last_modified" => Sort::LastModified,
            "createdAt" | "created_at" => Sort::CreatedAt,
            other => {
                return Err(Error::invalid(format!(
                    "cannot sort by '{other}': use trendingScore, likes, downloads, \
                     lastModified or createdAt"
                )));
            }
        })
    }

    /// The ORDER BY key (output columns of [`build`]'s query).
    fn key(self) -> &'static str {
        match self {
            Sort::Trending => "trending_score",
            Sort::Likes => "likes",
            Sort::Downloads => "downloads",
            Sort::LastModified => "last_modified",
            Sort::CreatedAt => "created_at",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub repo_type: RepoType,
    pub search: Vec<String>,
    pub author: Option<String>,
    pub filters: Vec<String>,
    /// `Some(true)`: only gated repos (this hub has none).
    pub gated: Option<bool>,
    pub sort: Sort,
    pub ascending: bool,
    pub limit: usize,
    pub offset: usize,
}

impl ListQuery {
    /// Everything of a type, trending first, one full page.
    pub fn new(repo_type: RepoType) -> ListQuery {
        ListQuery {
            repo_type,
            search: Vec::new(),
            author: None,
            filters: Vec::new(),
            gated: None,
            sort: Sort::Trending,
            ascending: false,
            limit: MAX_PAGE,
            offset: 0,
        }
    }
}

/// A listed repo and its trending score.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    #[sqlx(flatten)]
    pub repo: Repo,
    pub trending_score: i64,
}

/// One page of repos `actor` may see; the flag says whether more follow.
pub async fn list(db: &PgPool, actor: &Actor, query: &ListQuery) -> Result<(Vec<Listed>, bool)> {
    let sql = build(query, Reader::of(actor))?;
    let mut q = sqlx::query_as::<_, Listed>(sqlx::AssertSqlSafe(sql.text));
    for bind in sql.binds {
        q = match bind {
            Bind::Text(v) => q.bind(v),
            Bind::Texts(v) => q.bind(v),
            Bind::Int(v) => q.bind(v),
        };
    }
    let mut rows = q.fetch_all(db).await?;
    let more = rows.len() > query.limit;
    rows.truncate(query.limit);
    Ok((rows, more))
}

#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Text(String),
    Texts(Vec<String>),
    Int(i64),
}

#[derive(Debug)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    /// Binds a value and returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// The page's query (one row more than the page, to tell whether more follow).
fn build(query: &ListQuery, reader: Reader) -> Result<Sql> {
    if query.limit == 0 || query.limit > MAX_PAGE {
        return Err(Error::invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let mut conditions = vec![format!(
        "r.repo_type = {}",
        sql.bind(Bind::Text(query.repo_type.as_str().to_owned()))
    )];
    let user = match reader.user_id() {
        Some(id) => sql.bind(Bind::Int(id)),
        None => String::new(),
    };
    conditions.push(reader.sql_condition(&user));
    if let Some(author) = &query.author {
        let p = sql.bind(Bind::Text(author.clone()));
        conditions.push(format!("lower(n.name) = lower({p})"));
    }
    for term in query.search.iter().filter(|t| !t.trim().is_empty()) {
        let p = sql.bind(Bind::Text(term.trim().to_owned()));
        conditions.push(format!(
            "(strpos(lower(n.name || '/' || r.name), lower({p})) > 0 \
             OR strpos(lower(r.card_text), lower({p})) > 0)"
        ));
    }
    if !query.filters.is_empty() {
        let p = sql.bind(Bind::Texts(query.filters.clone()));
        conditions.push(format!("r.tags @> {p}::TEXT[]"));
    }
    if query.gated == Some(true) {
        conditions.push("false".to_owned());
    }
    let direction = if query.ascending { "ASC" } else { "DESC" };
    let limit = sql.bind(Bind::Int(query.limit as i64 + 1));
    let offset = sql.bind(Bind::Int(query.offset as i64));
    sql.text = format!(
        "SELECT * FROM (SELECT {REPO_COLUMNS}, {TRENDING_SCORE} AS trending_score \
         FROM repos r JOIN namespaces n ON n.id = r.namespace_id \
         WHERE {}) listed ORDER BY {} {direction}, id {direction} LIMIT {limit} OFFSET {offset}",
        conditions.join(" AND "),
        query.sort.key(),
    );
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_listing_of_public_repos() {
        let sql = build(&ListQuery::new(RepoType::Model), Reader::Anonymous).unwrap();
        assert!(
            sql.text
                .contains("WHERE r.repo_type = $1 AND NOT r.private)"),
            "{}",
            sql.text
        );
        assert!(
            sql.text
                .contains("ORDER BY trending_score DESC, id DESC LIMIT $2 OFFSET $3")
        );
        assert_eq!(
            sql.binds,
            [Bind::Text("model".into()), Bind::Int(1001), Bind::Int(0)]
        );
    }

    #[test]
    fn every_part_binds_its_values() {
        let query = ListQuery {
            search: vec!["Qwen".into(), "  ".into(), "中文".into()],
            author: Some("Alice".into()),
            filters: vec!["license:mit".into(), "zh".into()],
            sort: Sort::parse("lastModified").unwrap(),
            ascending: true,
            limit: 5,
            offset: 10,
            ..ListQuery::new(RepoType::Dataset)
        };
        let sql = build(&query, Reader::User(7)).unwrap();
        assert_eq!(
            sql.binds,
            [
                Bind::Text("dataset".into()),
                Bind::Int(7),
                Bind::Text("Alice".into()),
                Bind::Text("Qwen".into()),
                Bind::Text("中文".into()),
                Bind::Texts(vec!["license:mit".into(), "zh".into()]),
                Bind::Int(6),
                Bind::Int(10),
            ]
        );
        let text = &sql.text;
        assert!(text.contains("r.namespace_id = $2 OR EXISTS"), "{text}");
        assert!(text.contains("m.user_id = $2"), "{text}");
        assert!(text.contains("lower(n.name) = lower($3)"), "{text}");
        assert!(
            text.contains("strpos(lower(r.card_text), lower($4)) > 0"),
            "{text}"
        );
        assert!(
            text.contains("strpos(lower(n.name || '/' || r.name), lower($5)) > 0"),
            "{text}"
        );
        assert!(text.contains("r.tags @> $6::TEXT[]"), "{text}");
        assert!(
            text.ends_with("ORDER BY last_modified ASC, id ASC LIMIT $7 OFFSET $8"),
            "{text}"
        );
        // No user value is ever spliced into the text.
        assert!(!text.contains("Qwen") && !text.contains("Alice") && !text.contains("mit"));
    }

    #[test]
    fn admins_see_everything_and_gated_lists_nothing() {
        let query = ListQuery {
            gated: Some(true),
            ..ListQuery::new(RepoType::Space)
        };
        let sql = build(&query, Reader::Admin).unwrap();
        assert!(
            sql.text.contains("r.repo_type = $1 AND true AND false"),
            "{}",
            sql.text
        );
    }

    #[test]
    fn sorts_and_limits() {
        for (name, sort) in [
            ("likes", Sort::Likes),
            ("downloads", Sort::Downloads),
            ("trendingScore", Sort::Trending),
            ("created_at", Sort::CreatedAt),
            ("last_modified", Sort::LastModified),
        ] {
            assert_eq!(Sort::parse(name).unwrap(), sort);
        }
        assert!(Sort::parse("name; DROP TABLE repos").is_err());
        for limit in [0, MAX_PAGE + 1] {
            let query = ListQuery {
                limit,
                ..ListQuery::new(RepoType::Model)
            };
            assert!(build(&query, Reader::Anonymous).is_err());
        }
    }
}
