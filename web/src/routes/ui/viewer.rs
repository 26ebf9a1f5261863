//! The dataset viewer: the first rows of a dataset's CSV, TSV, JSON Lines
//! and Parquet files (`/datasets/{ns}/{name}/viewer/{rev}/{path}`), read by
//! hub-core's `dataset_preview`; `/datasets/{ns}/{name}/viewer` opens the
//! first such file of the default branch (a `train` file if there is one).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::dataset_preview::{self, Format, Preview, Unpreviewable};
use hub_core::repos::RepoType;
use hub_core::repos::content::{self, EntryKind};

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
            get(|s, se, Path((ns, n))| viewer(s, se, (ns, n, None))),
        )
        .route(
            "/datasets/{namespace}/{name}/viewer/{revision}/{*path}",
            get(|s, se, Path((ns, n, rev, path))| viewer(s, se, (ns, n, Some((rev, path))))),
        )
}

/// A previewable file in the list.
struct FileLink {
    path: String,
    href: String,
    current: bool,
    /// The message key of its split (from its name), if it names one.
    split: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "viewer.html")]
struct ViewerPage {
    frame: Frame,
    head: RepoHead,
    rev: String,
    files: Vec<FileLink>,
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

    fn shown(&self) -> i64 {
        self.preview.as_ref().map_or(0, |p| p.rows.len() as i64)
    }

    fn total(&self) -> Option<i64> {
        self.preview
            .as_ref()
            .and_then(|p| p.total_rows)
            .map(|n| n as i64)
    }
}

/// Handles `GET /datasets/{namespace}/{name}/viewer[/{revision}/{*path}]`.
async fn viewer(
    State(state): State<AppState>,
    session: Session,
    (ns, name, at): (String, String, Option<(String, String)>),
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
        let file = match &at {
            Some((_, f)) => Some(f.trim_matches('/').to_owned()),
            // The training split first, as people expect to see it.
            None => candidates
                .iter()
                .find(|p| p.rsplit('/').next().is_some_and(|n| n.contains("train")))
                .or(candidates.first())
                .cloned(),
        };
        let (mut preview, mut problem, mut detail) = (None, None, None);
        if let Some(f) = &file {
            let entry = content::file_at(&state, repo, &commit, f).await?;
            match dataset_preview::preview(&state, repo, &entry).await? {
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
        let files = candidates
            .into_iter()
            .map(|p| FileLink {
                href: format!("{}/viewer/{rev_seg}/{}", head.base, encode_path(&p)),
                current: file.as_deref() == Some(p.as_str()),
                split: dataset_preview::split_of(&p).map(|s| match s {
                    "train" => "viewer.split_train",
                    "validation" => "viewer.split_validation",
                    _ => "viewer.split_test",
                }),
                path: p,
            })
            .collect();
        Ok(render(&ViewerPage {
            frame: Frame::new(&session, &path),
            head,
            rev,
            files,
            file,
            preview,
            problem,
            detail,
        }))
    }
    .await;
    page(&session, &path, result)
}
