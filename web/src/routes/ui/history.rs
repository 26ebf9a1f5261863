//! History: the paged commit list of a revision
//! (`/{ns}/{name}/commits/{rev}`), the same restricted to the commits that
//! changed one file or folder (`/{ns}/{name}/commits/{rev}/{path}`), and one commit with its diff
//! (`/{ns}/{name}/commit/{sha}`), for every repo type.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::repos::RepoType;
use hub_core::repos::content::{self, CommitInfo, FileDiff};

use super::paging::PageQuery;
use super::repo_head::{self, RepoHead, Tab, encode_path, encode_segment};
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

/// Commits on one page of the history.
const PAGE_SIZE: usize = 30;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, kind) in crate::routes::REPO_PREFIXES {
        router = router
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/commits/{{revision}}"),
                get(move |s, se, Path((ns, n, rev)), q| {
                    commits(s, se, kind, (ns, n, rev, String::new()), q)
                }),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/commits/{{revision}}/{{*path}}"),
                get(move |s, se, Path(p), q| commits(s, se, kind, p, q)),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/commit/{{sha}}"),
                get(move |s, se, Path(p)| commit(s, se, kind, p)),
            );
    }
    router
}

#[derive(Template)]
#[template(path = "commits.html")]
struct CommitsPage {
    frame: Frame,
    head: RepoHead,
    rev: String,
    /// The file or folder whose history this is; empty for the whole repo.
    path: String,
    commits: Vec<CommitInfo>,
    total: i64,
    /// The walk of a path's history stopped before the first commit.
    cut: bool,
    page_no: usize,
    pages: usize,
}

impl CommitsPage {
    fn short(&self, sha: &str) -> String {
        sha.chars().take(7).collect()
    }
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/commits/{revision}[/{*path}]`.
async fn commits(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    (ns, name, rev, file): (String, String, String, String),
    Query(q): Query<PageQuery>,
) -> Response {
    let file = file.trim_matches('/').to_owned();
    let mut rest = format!("/commits/{}", encode_segment(&rev));
    if !file.is_empty() {
        rest = format!("{rest}/{}", encode_path(&file));
    }
    let path = format!("/{}{ns}/{name}{rest}", kind.url_prefix());
    let result = async {
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Files, &rest).await? {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let page_no = q.page(0);
        let skip = page_no.saturating_mul(PAGE_SIZE);
        let (commits, total, cut) = if file.is_empty() {
            let (commits, total) =
                content::history(&state, &head.repo, &rev, skip, PAGE_SIZE).await?;
            (commits, total, false)
        } else {
            let log =
                content::history_of_path(&state, &head.repo, &rev, &file, skip, PAGE_SIZE).await?;
            (log.commits, log.total, log.cut)
        };
        Ok(render(&CommitsPage {
            frame: Frame::new(&session, &path),
            head,
            rev,
            path: file,
            commits,
            total: total as i64,
            cut,
            page_no,
            pages: total.div_ceil(PAGE_SIZE).max(1),
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Template)]
#[template(path = "commit.html")]
struct CommitPage {
    frame: Frame,
    head: RepoHead,
    commit: CommitInfo,
    files: Vec<DiffView>,
}

/// One file of a diff, ready to show (`templates/diff_files.html`).
pub struct DiffView {
    pub diff: FileDiff,
    pub path: String,
    pub href: Option<String>,
    /// The patch's lines with their class (`add`, `del`, `hunk`, `ctx`).
    pub lines: Vec<(&'static str, String)>,
    pub cut: bool,
}

impl DiffView {
    pub fn status_key(&self) -> &'static str {
        match self.diff.status.as_str() {
            "added" => "commit.added",
            "deleted" => "commit.deleted",
            "renamed" => "commit.renamed",
            _ => "commit.modified",
        }
    }
}

/// The files of a diff whose new side is commit `rev` of the repo at `base`
/// (their links go to the files at `rev`).
pub fn diff_views(base: &str, rev: &str, diffs: Vec<FileDiff>) -> Vec<DiffView> {
    diffs
        .into_iter()
        .map(|diff| {
            let path = diff
                .new_path
                .clone()
                .or_else(|| diff.old_path.clone())
                .unwrap_or_default();
            let href = diff
                .new_path
                .as_ref()
                .map(|p| format!("{base}/blob/{rev}/{}", encode_path(p)));
            // hub-core bounds the diff; this only classifies its lines.
            let lines = diff.patch.as_deref().map(patch_lines).unwrap_or_default();
            let cut = diff.truncated;
            DiffView {
                diff,
                path,
                href,
                lines,
                cut,
            }
        })
        .collect()
}

impl CommitPage {
    fn file_count(&self) -> i64 {
        self.files.len() as i64
    }
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/commit/{sha}`.
async fn commit(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    (ns, name, sha): (String, String, String),
) -> Response {
    let rest = format!("/commit/{}", encode_segment(&sha));
    let path = format!("/{}{ns}/{name}{rest}", kind.url_prefix());
    let result = async {
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Files, &rest).await? {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let (commit, diffs) = content::commit_with_diff(&state, &head.repo, &sha).await?;
        let files = diff_views(&head.base, &commit.id, diffs);
        Ok(render(&CommitPage {
            frame: Frame::new(&session, &path),
            head,
            commit,
            files,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// A unified diff's lines after the file header, each with its class.
fn patch_lines(patch: &str) -> Vec<(&'static str, String)> {
    patch
        .lines()
        .skip_while(|l| !l.starts_with("@@"))
        .map(|line| {
            let class = match line.as_bytes().first() {
                Some(b'+') => "add",
                Some(b'-') => "del",
                Some(b'@') => "hunk",
                _ => "ctx",
            };
            (class, line.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::patch_lines;

    #[test]
    fn classes_of_diff_lines() {
        let patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n";
        let classes: Vec<_> = patch_lines(patch).iter().map(|(c, _)| *c).collect();
        assert_eq!(classes, ["hunk", "del", "add", "ctx"]);
    }
}
