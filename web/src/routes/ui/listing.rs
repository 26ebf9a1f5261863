//! Discovery pages: `/models`, `/datasets` and `/spaces`, with a search box,
//! facet filters (task, library, language, license, from card metadata),
//! sorts and pages. The query is hub-core's `search::list`, the same one
//! `/api/models` uses, so a page and the API always agree.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::repos::RepoType;
use hub_core::search::{self, Facet, FacetValue, ListQuery, Listed, Sort};
use serde::Deserialize;

use super::paging;
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;
use crate::i18n::Lang;

/// Repos on one page.
const PAGE_SIZE: usize = 30;
/// Values offered per facet.
const FACET_VALUES: i64 = 12;
/// The page number past which nobody browses (offset stays bounded).
const MAX_PAGE_NO: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/models",
            get(|s, se, q| listing(s, se, RepoType::Model, q)),
        )
        .route(
            "/datasets",
            get(|s, se, q| listing(s, se, RepoType::Dataset, q)),
        )
        .route(
            "/spaces",
            get(|s, se, q| listing(s, se, RepoType::Space, q)),
        )
}

/// The sorts offered, by their URL value and label key.
const SORTS: [(&str, &str, Sort); 4] = [
    ("trending", "sort.trending", Sort::Trending),
    ("likes", "sort.likes", Sort::Likes),
    ("downloads", "sort.downloads", Sort::Downloads),
    ("modified", "sort.modified", Sort::LastModified),
];

#[derive(Deserialize, Default, Clone)]
struct Params {
    search: Option<String>,
    task: Option<String>,
    library: Option<String>,
    language: Option<String>,
    license: Option<String>,
    quantization: Option<String>,
    /// A repo tag, as Hugging Face's `other=` (`chat`, `dataset:x/y`,
    /// `base_model:x/y`): where the repo page's tag chips lead.
    other: Option<String>,
    sort: Option<String>,
    p: Option<String>,
}

impl Params {
    fn facet(&self, facet: Facet) -> Option<&str> {
        match facet {
            Facet::Task => self.task.as_deref(),
            Facet::Library => self.library.as_deref(),
            Facet::Language => self.language.as_deref(),
            Facet::License => self.license.as_deref(),
            Facet::Quantization => self.quantization.as_deref(),
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }

    fn other(&self) -> Option<&str> {
        self.other
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn sort(&self) -> (&'static str, Sort) {
        let wanted = self.sort.as_deref().unwrap_or("trending");
        SORTS
            .iter()
            .find(|(name, _, _)| *name == wanted)
            .map_or(("trending", Sort::Trending), |(name, _, sort)| {
                (name, *sort)
            })
    }

    /// The query string of these parameters with `key` set to `value`
    /// (`None`: removed); changing anything but the page starts at page 1.
    fn with(&self, key: &str, value: Option<&str>) -> String {
        let mut current: Vec<(&str, Option<String>)> = vec![("search", self.search.clone())];
        for facet in Facet::ALL {
            current.push((facet.as_str(), self.facet(facet).map(str::to_owned)));
        }
        current.push(("other", self.other().map(str::to_owned)));
        current.push(("sort", self.sort.clone()));
        current.push(("p", None));
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in current {
            let v = if k == key {
                value.map(str::to_owned)
            } else {
                v
            };
            if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                out.append_pair(k, &v);
            }
        }
        format!("?{}", out.finish())
    }
}

/// A facet's box on the page.
struct FacetBox {
    facet: Facet,
    selected: Option<String>,
    values: Vec<FacetValue>,
}

impl FacetBox {
    fn key(&self) -> &'static str {
        match self.facet {
            Facet::Task => "facet.task",
            Facet::Library => "facet.library",
            Facet::Language => "facet.language",
            Facet::License => "facet.license",
            Facet::Quantization => "facet.quantization",
        }
    }

    /// A value as the visitor reads it: tasks and languages by name.
    fn label<'a>(&self, lang: &Lang, value: &'a str) -> std::borrow::Cow<'a, str> {
        match self.facet {
            Facet::Task => lang.task(value),
            Facet::Language => lang.language(value),
            Facet::Library | Facet::License | Facet::Quantization => value.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "listing.html")]
struct ListingPage {
    frame: Frame,
    kind: RepoType,
    title_key: &'static str,
    params: Params,
    search: String,
    sort: &'static str,
    facets: Vec<FacetBox>,
    repos: Vec<Listed>,
    page_no: usize,
    more: bool,
}

impl ListingPage {
    fn sorts(&self) -> Vec<(&'static str, &'static str, String)> {
        SORTS
            .iter()
            .map(|(name, key, _)| (*name, *key, self.params.with("sort", Some(*name))))
            .collect()
    }

    /// The link that selects `value` of a facet, or clears it when selected.
    fn facet_href(&self, b: &FacetBox, value: &str) -> String {
        let selected = b.selected.as_deref() == Some(value);
        self.params
            .with(b.facet.as_str(), (!selected).then_some(value))
    }

    fn facet_clear(&self, b: &FacetBox) -> String {
        self.params.with(b.facet.as_str(), None)
    }

    fn sort_is(&self, name: &str) -> bool {
        self.sort == name
    }

    fn page_href(&self, n: usize) -> String {
        self.params.with("p", Some(&n.to_string()))
    }

    fn hidden_filters(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Facet::ALL
            .into_iter()
            .filter_map(|f| self.params.facet(f).map(|v| (f.as_str(), v.to_owned())))
            .collect();
        if let Some(o) = self.params.other() {
            out.push(("other", o.to_owned()));
        }
        if let Some(s) = &self.params.sort {
            out.push(("sort", s.clone()));
        }
        out
    }

    /// The tag filter, if any, and the link that clears it.
    fn other_filter(&self) -> Option<(&str, String)> {
        let tag = self.params.other()?;
        Some((tag, self.params.with("other", None)))
    }
}

/// Handles `GET /models`, `GET /datasets` and `GET /spaces`.
async fn listing(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    Query(params): Query<Params>,
) -> Response {
    let path = format!("/{}", kind.plural());
    let result = async {
        let (sort_name, sort) = params.sort();
        let page_no = paging::parse(params.p.as_deref())
            .unwrap_or(1)
            .clamp(1, MAX_PAGE_NO);
        let search_text = params.search.clone().unwrap_or_default();
        let filters = Facet::ALL
            .into_iter()
            .filter(|f| f.applies_to(kind))
            .filter_map(|f| params.facet(f).map(|v| f.tag(kind, v)))
            .chain(params.other().map(str::to_owned))
            .collect();
        let query = ListQuery {
            search: search_text.split_whitespace().map(str::to_owned).collect(),
            filters,
            sort,
            limit: PAGE_SIZE,
            offset: (page_no - 1) * PAGE_SIZE,
            ..ListQuery::new(kind)
        };
        let (repos, more) = search::list(&state.db, &session.actor, &query).await?;
        let facets = search::facets(&state.db, &session.actor, kind, FACET_VALUES)
            .await?
            .into_iter()
            .map(|(facet, values)| FacetBox {
                facet,
                selected: params.facet(facet).map(str::to_owned),
                values,
            })
            .collect();
        // The language switch comes back to this very page (query included).
        let here = format!("{path}{}", params.with("p", Some(&page_no.to_string())));
        Ok(render(&ListingPage {
            frame: Frame::new(&session, &here),
            kind,
            title_key: match kind {
                RepoType::Model => "nav.models",
                RepoType::Dataset => "nav.datasets",
                RepoType::Space => "nav.spaces",
            },
            search: search_text,
            sort: sort_name,
            facets,
            repos,
            page_no,
            more,
            params,
        }))
    }
    .await;
    page(&session, &path, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_other_parameters_and_restart_at_page_one() {
        let params = Params {
            search: Some("中文 chat".into()),
            task: Some("text-generation".into()),
            license: Some(" ".into()),
            sort: Some("likes".into()),
            p: Some("3".into()),
            ..Params::default()
        };
        assert_eq!(
            params.with("language", Some("zh")),
            "?search=%E4%B8%AD%E6%96%87+chat&task=text-generation&language=zh&sort=likes"
        );
        assert_eq!(
            params.with("task", None),
            "?search=%E4%B8%AD%E6%96%87+chat&sort=likes"
        );
        assert_eq!(
            params.with("p", Some("4")),
            "?search=%E4%B8%AD%E6%96%87+chat&task=text-generation&sort=likes&p=4"
        );
        assert_eq!(params.sort(), ("likes", Sort::Likes));
        let bogus = Params {
            sort: Some("name; drop".into()),
            ..Params::default()
        };
        assert_eq!(bogus.sort(), ("trending", Sort::Trending));
    }
}
