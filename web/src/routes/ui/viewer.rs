//! The dataset viewer: a dataset's CSV, TSV, JSON Lines and Parquet files a
//! page of rows at a time (`/datasets/{ns}/{name}/viewer/{rev}/{path}?p=N`,
//! from 0), read by hub-core's `dataset_preview`;
//! `/datasets/{ns}/{name}/viewer` opens the first such file of the default
//! branch (a `train` file if there is one).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::dataset_preview::{
    self, Format, Preview, RowCount, TEXT_SCAN, Unpreviewable, splits,
};
use hub_core::repos::RepoType;
use hub_core::repos::content::{self, EntryKind};

use super::paging::PageQuery;
use super::repo_head::{self, RepoHead, Tab, encode_path, encode_segment};
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

/// Files looked at for the viewer's file list.
const FILE_WALK_LIMIT: usize = 5000;
/// Files offered in the viewer's file list.
const MAX_LISTED: usize = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/datasets/{namespace}/{name}/viewer",
            get(|s, se, Path((ns, n)), q| viewer(s, se, (ns, n, None), q)),
        )
        .route(
            "/datasets/{namespace}/{name}/viewer/{revision}/{*path}",
            get(|s, se, Path((ns, n, rev, path)), q| viewer(s, se, (ns, n, Some((rev, path))), q)),
        )
}

/// A previewable file in the list.
struct FileLink {
    path: String,
    href: String,
    current: bool,
    /// Its split's name, in the visitor's language where it is a known one.
    split: Option<String>,
}

/// A split in the split picker: a link to its first file.
struct SplitLink {
    label: String,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "viewer.html")]
struct ViewerPage {
    frame: Frame,
    head: RepoHead,
    rev: String,
    files: Vec<FileLink>,
    splits: Vec<SplitLink>,
    file: Option<String>,
    preview: Option<Preview>,
    /// The message key saying why the file is not shown.
    problem: Option<&'static str>,
    detail: Option<String>,
}

impl ViewerPage {
    fn format_name(&self) -> &'static str {
        self.preview.as_ref().map_or("", |p| p.format.as_str())
    }

    /// "rows 101–200 of 1,000" in the visitor's language; empty when the
    /// page shows no rows.
    fn rows_shown(&self) -> String {
        let Some(p) = self.preview.as_ref().filter(|p| !p.rows.is_empty()) else {
            return String::new();
        };
        let lang = self.frame.lang;
        let number = |n: u64| lang.number(&i64::try_from(n).unwrap_or(i64::MAX));
        let first = p.first_row();
        let last = first + p.rows.len() as u64;
        let range = lang.tf("viewer.rows_range", &[&number(first + 1), &number(last)]);
        let total = match p.total {
            RowCount::Exact(n) => lang.tf("viewer.of_total", &[&number(n)]),
            RowCount::AtLeast(n) => lang.tf(
                "viewer.of_at_least",
                &[&number(n), &(TEXT_SCAN >> 20).to_string()],
            ),
        };
        format!("{range}{total}")
    }

    /// The beyond-the-scan notice, with the bound filled in.
    fn beyond_scan(&self) -> String {
        self.frame
            .lang
            .tf("viewer.beyond_scan", &[&(TEXT_SCAN >> 20).to_string()])
    }

    fn page_no(&self) -> u64 {
        self.preview.as_ref().map_or(0, |p| p.page)
    }

    fn has_prev(&self) -> bool {
        self.page_no() > 0
    }

    fn has_next(&self) -> bool {
        self.preview.as_ref().is_some_and(|p| p.more)
    }
}

/// Handles `GET /datasets/{namespace}/{name}/viewer[/{revision}/{*path}]`.
async fn viewer(
    State(state): State<AppState>,
    session: Session,
    (ns, name, at): (String, String, Option<(String, String)>),
    Query(q): Query<PageQuery>,
) -> Response {
    let rest = match &at {
        Some((rev, file)) => format!("/viewer/{}/{}", encode_segment(rev), encode_path(file)),
        None => "/viewer".to_owned(),
    };
    let path = format!("/datasets/{ns}/{name}{rest}");
    let result = async {
        let head = match repo_head::open(
            &state,
            &session,
            RepoType::Dataset,
            (&ns, &name),
            Tab::Viewer,
            &rest,
        )
        .await?
        {
            Ok(head) => head,
            Err(redirect) => return Ok(redirect),
        };
        let repo = &head.repo;
        let rev = at
            .as_ref()
            .map_or_else(|| repo.default_branch.clone(), |(r, _)| r.clone());
        let commit = content::resolve(&state, repo, &rev).await?;
        let listing =
            content::list_page(&state, repo, &commit, "", true, 0, FILE_WALK_LIMIT).await?;
        let candidates: Vec<String> = listing
            .entries
            .into_iter()
            .filter(|e| e.kind == EntryKind::File && Format::of(&e.path).is_some())
            .map(|e| e.path)
            .take(MAX_LISTED)
            .collect();
        // Splits from the card's `configs:` (of the default branch), else
        // from the file names.
        let (splits, split_of) = splits::group(repo.card_data.as_ref(), &candidates);
        let file = match &at {
            Some((_, f)) => Some(f.trim_matches('/').to_owned()),
            // The first split (the training split when files are named for
            // theirs), as people expect to see it.
            None => splits
                .first()
                .map(|s| &candidates[s.files[0]])
                .or_else(|| {
                    candidates
                        .iter()
                        .find(|p| p.rsplit('/').next().is_some_and(|n| n.contains("train")))
                })
                .or(candidates.first())
                .cloned(),
        };
        let (mut preview, mut problem, mut detail) = (None, None, None);
        if let Some(f) = &file {
            let entry = content::file_at(&state, repo, &commit, f).await?;
            let page_no = q.page(0) as u64;
            match dataset_preview::preview(&state, repo, &entry, page_no).await? {
                Ok(p) => preview = Some(p),
                Err(Unpreviewable::UnknownFormat) => problem = Some("viewer.unknown_format"),
                Err(Unpreviewable::TooLarge) => problem = Some("viewer.too_large"),
                Err(Unpreviewable::Malformed(m)) => {
                    problem = Some("viewer.malformed");
                    detail = Some(m);
                }
            }
        }
        let rev_seg = encode_segment(&rev);
        let href = |p: &str| format!("{}/viewer/{rev_seg}/{}", head.base, encode_path(p));
        let current = candidates
            .iter()
            .position(|p| file.as_deref() == Some(p.as_str()));
        let label = |s: &splits::Split| {
            let name = match s.name.as_str() {
                "train" => session.lang.t("viewer.split_train"),
                "validation" => session.lang.t("viewer.split_validation"),
                "test" => session.lang.t("viewer.split_test"),
                other => other,
            };
            match &s.config {
                Some(config) => format!("{config} / {name}"),
                None => name.to_owned(),
            }
        };
        let split_links = splits
            .iter()
            .map(|s| SplitLink {
                label: label(s),
                href: href(&candidates[s.files[0]]),
                current: current.is_some_and(|c| s.files.contains(&c)),
            })
            .collect();
        let files = candidates
            .iter()
            .enumerate()
            .map(|(i, p)| FileLink {
                href: href(p),
                current: current == Some(i),
                split: split_of[i].map(|s| label(&splits[s])),
                path: p.clone(),
            })
            .collect();
        Ok(render(&ViewerPage {
            frame: Frame::new(&session, &path),
            head,
            rev,
            files,
            splits: split_links,
            file,
            preview,
            problem,
            detail,
        }))
    }
    .await;
    page(&session, &path, result)
}
