//! Listing repos (`GET /api/models|datasets|spaces`): search, author, tag
//! filters, sorting and pages, in one SQL query that applies the visibility
//! rule too ([`Reader::sql_condition`]), so a page costs one round trip
//! however many private repos are skipped.
//!
//! * `search`: each term is a case-insensitive substring of `namespace/name`,
//!   of the model card's text, or of one of the repo's tags. Substrings, not
//!   full-text tokens: Chinese has no spaces between words, so `中文` must
//!   match inside `这是一个中文对话模型` (PostgreSQL's text search and trigram
//!   indexes split or drop such text).
//! * `filter`: every value must be one of the repo's tags (`repos::tags`:
//!   card tags, languages, `license:...`, pipeline tag, library, ...).
//! * Sorts, all descending unless asked otherwise, ties broken by newest id:
//!   likes; downloads over 30 days; trending ([`TRENDING_SCORE`]); last
//!   modified; created.

use sqlx::PgPool;

use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::repos::access::{Authorized, Reader};
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

/// A listed repo (read access proven by the listing's own filter) and its
/// trending score.
#[derive(Debug, Clone)]
pub struct Listed {
    pub repo: Authorized,
    pub trending_score: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    repo: Repo,
    trending_score: i64,
}

/// One page of repos `actor` may see; the flag says whether more follow.
pub async fn list(db: &PgPool, actor: &Actor, query: &ListQuery) -> Result<(Vec<Listed>, bool)> {
    let sql = build(query, Reader::of(actor))?;
    let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.text));
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
    let listed = rows
        .into_iter()
        .map(|row| Listed {
            repo: Authorized::listed(row.repo, actor),
            trending_score: row.trending_score,
        })
        .collect();
    Ok((listed, more))
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
             OR strpos(lower(r.card_text), lower({p})) > 0 \
             OR strpos(lower(array_to_string(r.tags, ' ')), lower({p})) > 0)"
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

/// What the listing pages filter by. Each value of a facet stands for one
/// repo tag ([`Facet::tag`], following `repos::tags`), so a facet filter is
/// an ordinary `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facet {
    Task,
    Library,
    Language,
    License,
    /// The quantisations of a model's GGUF files.
    Quantization,
}

impl Facet {
    pub const ALL: [Facet; 5] = [
        Facet::Task,
        Facet::Library,
        Facet::Language,
        Facet::License,
        Facet::Quantization,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Facet::Task => "task",
            Facet::Library => "library",
            Facet::Language => "language",
            Facet::License => "license",
            Facet::Quantization => "quantization",
        }
    }

    /// Whether repos of `kind` are filtered by this facet (only models name
    /// a library or have quantisations).
    pub fn applies_to(self, kind: RepoType) -> bool {
        !matches!(self, Facet::Library | Facet::Quantization) || kind == RepoType::Model
    }

    /// The tag a repo of `kind` carries when its card gives `value`.
    pub fn tag(self, kind: RepoType, value: &str) -> String {
        match (self, kind) {
            (Facet::License, _) => format!("license:{value}"),
            (Facet::Quantization, _) => format!("quantization:{value}"),
            (Facet::Task, RepoType::Dataset) => format!("task_categories:{value}"),
            (Facet::Language, RepoType::Dataset) => format!("language:{value}"),
            _ => value.to_owned(),
        }
    }

    /// The values of this facet for repo `r`, as an SQL set `s(v)`.
    fn sql_source(self, kind: RepoType) -> &'static str {
        match (self, kind) {
            (Facet::Task, RepoType::Dataset) => {
                "LATERAL (SELECT substr(t, 17) FROM unnest(r.tags) t WHERE t LIKE 'task\\_categories:%') s(v)"
            }
            (Facet::Task, _) => "LATERAL (SELECT r.card_pipeline_tag) s(v)",
            (Facet::Library, _) => "LATERAL (SELECT r.card_library_name) s(v)",
            (Facet::Language, _) => "unnest(r.card_language) s(v)",
            (Facet::License, _) => "LATERAL (SELECT r.card_license) s(v)",
            (Facet::Quantization, _) => {
                "LATERAL (SELECT substr(t, 14) FROM unnest(r.tags) t WHERE t LIKE 'quantization:%') s(v)"
            }
        }
    }
}

/// A facet value and how many visible repos have it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FacetValue {
    pub value: String,
    pub count: i64,
}

/// The most common values of each facet that applies to `kind`, among the
/// repos `actor` may see (at most `per_facet` each, most common first).
pub async fn facets(
    db: &PgPool,
    actor: &Actor,
    kind: RepoType,
    per_facet: i64,
) -> Result<Vec<(Facet, Vec<FacetValue>)>> {
    let reader = Reader::of(actor);
    let visible = reader.sql_condition("$3");
    let mut out = Vec::new();
    for facet in Facet::ALL.into_iter().filter(|f| f.applies_to(kind)) {
        let sql = format!(
            "SELECT s.v AS value, count(*) AS count FROM repos r, {} \
             WHERE r.repo_type = $1 AND {visible} AND s.v IS NOT NULL AND s.v <> '' \
             GROUP BY s.v ORDER BY count(*) DESC, s.v LIMIT $2",
            facet.sql_source(kind)
        );
        let mut query = sqlx::query_as::<_, FacetValue>(sqlx::AssertSqlSafe(sql))
            .bind(kind.as_str())
            .bind(per_facet);
        if let Some(id) = reader.user_id() {
            query = query.bind(id);
        }
        let values = query.fetch_all(db).await?;
        out.push((facet, values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_listing_of_public_repos() {
        let sql = build(&ListQuery::new(RepoType::Model), Reader::Anonymous).unwrap();
        assert!(
            sql.text
                .contains("WHERE r.repo_type = $1 AND (NOT starts_with(r.name, '.importing-') AND NOT r.private))"),
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
            // Everything but a repo `hub import` is still filling.
            sql.text.contains(
                "r.repo_type = $1 AND (NOT starts_with(r.name, '.importing-') AND true) AND false"
            ),
            "{}",
            sql.text
        );
    }

    #[test]
    fn facets_map_to_tags() {
        assert_eq!(Facet::License.tag(RepoType::Model, "mit"), "license:mit");
        assert_eq!(
            Facet::Task.tag(RepoType::Dataset, "text-classification"),
            "task_categories:text-classification"
        );
        assert_eq!(Facet::Language.tag(RepoType::Dataset, "zh"), "language:zh");
        assert_eq!(Facet::Language.tag(RepoType::Model, "zh"), "zh");
        assert_eq!(
            Facet::Task.tag(RepoType::Model, "text-generation"),
            "text-generation"
        );
        assert!(!Facet::Library.applies_to(RepoType::Dataset));
        // The dataset task source strips exactly the tag's prefix.
        assert_eq!("task_categories:".len() + 1, 17);
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
