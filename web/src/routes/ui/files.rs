//! Browsing files: the tree at any branch, tag or commit
//! (`/{ns}/{name}/tree/{rev}/{path}`), one file (`/blob/...`: highlighted
//! text, image preview, LFS facts) and its raw bytes (`/raw/...`). Dataset
//! and space repos have the same pages under `/datasets` and `/spaces`.

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use hub_core::dataset_preview;
use hub_core::gguf;
use hub_core::highlight;
use hub_core::markdown;
use hub_core::repos::RepoType;
use hub_core::repos::access::Authorized;
use hub_core::repos::content::{self, CommitInfo, EntryKind, RefKind, TreeEntry};
use hub_core::tensors;
use serde::Deserialize;

use super::paging::PageQuery;
use super::repo_head::{self, RepoHead, Tab, encode_path, encode_segment};
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;
use crate::errors::ApiResult;
use crate::repo_path::ApiRepo;

/// Entries on one page of a folder.
const PAGE_SIZE: usize = 100;
/// Largest text file shown in the page (larger ones: raw and download).
const MAX_SHOWN_TEXT: u64 = 1_000_000;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, kind) in crate::routes::REPO_PREFIXES {
        router = router
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/tree"),
                get(move |s, se, Path(p), q| pick_revision(s, se, kind, p, q)),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/tree/{{revision}}"),
                get(move |s, se, Path((ns, n, rev)), q| {
                    tree(s, se, kind, (ns, n, rev, String::new()), q)
                }),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/tree/{{revision}}/{{*path}}"),
                get(move |s, se, Path(p), q| tree(s, se, kind, p, q)),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/blob/{{revision}}/{{*path}}"),
                get(move |s, se, Path(p), q| blob(s, se, kind, p, q)),
            )
            .route(
                &format!("{prefix}/{{namespace}}/{{name}}/raw/{{revision}}/{{*path}}"),
                get(raw),
            );
    }
    router
}

/// A branch or tag for the revision selector.
pub struct RefLink {
    pub name: String,
    pub is_tag: bool,
}

/// The revision selector's choices: the branches, then the tags.
pub async fn ref_links(
    state: &AppState,
    repo: &Authorized,
) -> Result<Vec<RefLink>, hub_core::Error> {
    let mut refs: Vec<RefLink> = content::refs(state, repo)
        .await?
        .into_iter()
        .map(|(kind, name, _)| RefLink {
            name,
            is_tag: kind == RefKind::Tag,
        })
        .collect();
    refs.sort_by(|a, b| (a.is_tag, &a.name).cmp(&(b.is_tag, &b.name)));
    Ok(refs)
}

/// The branch that upload and edit links change: the revision shown when
/// it is a branch, else the default branch (tags and commits do not move).
fn write_branch(head: &RepoHead, refs: &[RefLink], rev: &str) -> String {
    if refs.iter().any(|r| !r.is_tag && r.name == rev) {
        rev.to_owned()
    } else {
        head.repo.default_branch.clone()
    }
}

/// The branch the file page's edit and delete links change: the revision
/// shown, only when it is a branch. A file seen at a tag or an old commit
/// offers no edit, which would act on other content than the one shown.
fn branch_shown(refs: &[RefLink], rev: &str) -> Option<String> {
    refs.iter()
        .any(|r| !r.is_tag && r.name == rev)
        .then(|| rev.to_owned())
}

/// A step of the breadcrumbs: its name and the tree link.
pub struct Crumb {
    pub name: String,
    pub href: String,
}

fn crumbs(head: &RepoHead, rev: &str, path: &str) -> Vec<Crumb> {
    let mut out = Vec::new();
    let mut so_far = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !so_far.is_empty() {
            so_far.push('/');
        }
        so_far.push_str(part);
        out.push(Crumb {
            name: part.to_owned(),
            href: format!(
                "{}/tree/{}/{}",
                head.base,
                encode_segment(rev),
                encode_path(&so_far)
            ),
        });
    }
    out
}

#[derive(Deserialize)]
struct RevQuery {
    rev: Option<String>,
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/tree?rev=...`:
/// the revision selector's form (a commit sha typed in) goes to its tree.
async fn pick_revision(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    (ns, name): (String, String),
    Query(q): Query<RevQuery>,
) -> Response {
    let path = format!("/{}{ns}/{name}/tree", kind.url_prefix());
    let result = async {
        let head = match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Files, "/tree")
            .await?
        {
            Ok(head) => head,
            Err(redirect) => return Ok(redirect),
        };
        let rev = q
            .rev
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| head.repo.default_branch.clone());
        Ok(Redirect::to(&format!("{}/tree/{}", head.base, encode_segment(&rev))).into_response())
    }
    .await;
    page(&session, &path, result)
}

#[derive(Template)]
#[template(path = "tree.html")]
struct TreePage {
    frame: Frame,
    head: RepoHead,
    rev: String,
    commit: String,
    path: String,
    crumbs: Vec<Crumb>,
    refs: Vec<RefLink>,
    entries: Vec<Row>,
    commit_count: i64,
    last_commit: Option<CommitInfo>,
    /// For writers: the branch the upload and new-file links change.
    write_branch: String,
    prev_page: Option<usize>,
    next_page: Option<usize>,
}

/// One line of the tree: the entry and the last commit that touched it.
struct Row {
    entry: TreeEntry,
    name: String,
    href: String,
    last: Option<CommitInfo>,
}

impl Row {
    fn is_dir(&self) -> bool {
        self.entry.kind == EntryKind::Directory
    }
}

impl TreePage {
    fn short(&self, sha: &str) -> String {
        sha.chars().take(7).collect()
    }
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/tree/{revision}[/{*path}]`.
async fn tree(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    (ns, name, rev, folder): (String, String, String, String),
    Query(q): Query<PageQuery>,
) -> Response {
    let rest = format!("/tree/{}/{}", encode_segment(&rev), encode_path(&folder));
    let path = format!("/{}{ns}/{name}{rest}", kind.url_prefix());
    let result = async {
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Files, &rest).await? {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let repo = &head.repo;
        let folder = folder.trim_matches('/').to_owned();
        let commit = content::resolve(&state, repo, &rev).await?;
        let page_no = q.page(0);
        let offset = page_no.saturating_mul(PAGE_SIZE);
        let listing =
            content::list_page(&state, repo, &commit, &folder, false, offset, PAGE_SIZE).await?;
        let mut wanted: Vec<String> = listing.entries.iter().map(|e| e.path.clone()).collect();
        wanted.push(folder.clone());
        let mut last = content::last_commits(&state, repo, &commit, wanted).await?;
        let (latest, commit_count) = content::history(&state, repo, &commit, 0, 1).await?;
        let last_commit = if folder.is_empty() {
            latest.into_iter().next()
        } else {
            last.remove(&folder)
        };
        let rev_seg = encode_segment(&rev);
        let entries = listing
            .entries
            .into_iter()
            .map(|entry| {
                let verb = if entry.kind == EntryKind::Directory {
                    "tree"
                } else {
                    "blob"
                };
                Row {
                    name: entry.path.rsplit('/').next().unwrap_or("").to_owned(),
                    href: format!(
                        "{}/{verb}/{rev_seg}/{}",
                        head.base,
                        encode_path(&entry.path)
                    ),
                    last: last.remove(&entry.path),
                    entry,
                }
            })
            .collect();
        let refs = ref_links(&state, repo).await?;
        Ok(render(&TreePage {
            frame: Frame::new(&session, &path),
            write_branch: write_branch(&head, &refs, &rev),
            refs,
            crumbs: crumbs(&head, &rev, &folder),
            rev,
            commit,
            path: folder,
            entries,
            commit_count: commit_count as i64,
            last_commit,
            prev_page: page_no.checked_sub(1),
            next_page: listing.next.map(|_| page_no + 1),
            head,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// How a file is shown.
enum View {
    /// Highlighted HTML (or escaped plain text), with its line count.
    Text {
        html: String,
        lines: usize,
    },
    /// A markdown file rendered (sanitized like a model card).
    Markdown {
        html: String,
    },
    Image,
    /// Stored with LFS: facts and a download button.
    Lfs {
        sha256: String,
    },
    /// Not text, or too large to show.
    Binary,
}

#[derive(Template)]
#[template(path = "blob.html")]
struct BlobPage {
    frame: Frame,
    head: RepoHead,
    rev: String,
    path: String,
    crumbs: Vec<Crumb>,
    refs: Vec<RefLink>,
    size: u64,
    /// Highlighted (or escaped) text, for text files.
    text_html: Option<String>,
    lines: usize,
    /// A markdown file rendered, unless its source was asked for.
    markdown_html: Option<String>,
    /// For markdown files: the link to the other view (source or rendered).
    toggle_href: Option<String>,
    is_image: bool,
    /// The LFS object's sha256, for LFS files that are not images.
    lfs_sha256: Option<String>,
    raw_href: String,
    download_href: String,
    viewer_href: Option<String>,
    last_commit: Option<CommitInfo>,
    /// For writers: the branch the edit and delete links change; none when
    /// the revision shown is a tag or a commit.
    edit_branch: Option<String>,
    /// A `.safetensors` file's header, or why it cannot be read.
    tensors: Option<Result<tensors::Header, tensors::Unreadable>>,
    /// A `.gguf` file's header, or why it cannot be read.
    gguf: Option<Result<gguf::Header, gguf::Unreadable>>,
}

impl BlobPage {
    /// A file in git too large to show as text (smaller ones that are not
    /// shown are binary: saying "too large" of them would mislead).
    fn too_large_to_show(&self) -> bool {
        self.size > MAX_SHOWN_TEXT
    }

    /// A count for `frame.lang.number` (parameter counts fit: a checked
    /// header holds at most two elements a byte).
    fn count(&self, n: &u64) -> i64 {
        i64::try_from(*n).unwrap_or(i64::MAX)
    }

    fn many(&self, n: &usize) -> i64 {
        i64::try_from(*n).unwrap_or(i64::MAX)
    }

    fn shape(&self, shape: &[u64]) -> String {
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        format!("[{}]", dims.join(", "))
    }

    fn line_numbers(&self) -> String {
        (1..=self.lines)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn path_segments(&self) -> String {
        encode_path(&self.path)
    }

    fn size_i64(&self) -> i64 {
        self.size as i64
    }

    fn short(&self, sha: &str) -> String {
        sha.chars().take(7).collect()
    }
}

/// Image types shown inline, by extension, with their media type.
fn image_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "ico" => "image/x-icon",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// The file page's query: `?code=true` shows a markdown file's source.
#[derive(Deserialize)]
struct BlobQuery {
    code: Option<String>,
}

impl BlobQuery {
    fn wants_source(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|v| !matches!(v, "" | "0" | "false"))
    }
}

fn is_markdown(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("md"))
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/blob/{revision}/{*path}`.
async fn blob(
    State(state): State<AppState>,
    session: Session,
    kind: RepoType,
    (ns, name, rev, file): (String, String, String, String),
    Query(q): Query<BlobQuery>,
) -> Response {
    let rest = format!("/blob/{}/{}", encode_segment(&rev), encode_path(&file));
    let path = format!("/{}{ns}/{name}{rest}", kind.url_prefix());
    let result = async {
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Files, &rest).await? {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let repo = &head.repo;
        let commit = content::resolve(&state, repo, &rev).await?;
        let entry = content::file_at(&state, repo, &commit, &file).await?;
        let size = entry.content_size();
        let (rev_seg, file_seg) = (encode_segment(&rev), encode_path(&entry.path));
        let render_markdown = is_markdown(&entry.path) && !q.wants_source();
        let tensors = if tensors::is_safetensors(&entry.path) {
            Some(tensors::read(&state, repo, &entry).await?)
        } else {
            None
        };
        let gguf = if gguf::is_gguf(&entry.path) {
            Some(gguf::read(&state, repo, &entry).await?)
        } else {
            None
        };
        let view = if image_type(&entry.path).is_some() {
            View::Image
        } else if let Some(pointer) = &entry.lfs {
            View::Lfs {
                sha256: pointer.oid.clone(),
            }
        } else if size <= MAX_SHOWN_TEXT {
            match content::read_small_file(&state, repo, &commit, &entry.path).await? {
                Some(bytes) if !bytes.contains(&0) => match String::from_utf8(bytes) {
                    Ok(text) if render_markdown => {
                        // Relative links point next to the file, as on a card.
                        let folder = entry.path.rsplit_once('/').map_or("", |(f, _)| f);
                        let at = |verb: &str| {
                            let base = format!("{}/{verb}/{rev_seg}", head.base);
                            match folder {
                                "" => base,
                                f => format!("{base}/{}", encode_path(f)),
                            }
                        };
                        let links = markdown::RepoLinks {
                            blob: at("blob"),
                            raw: at("raw"),
                        };
                        markdown_view(text, links).await?
                    }
                    Ok(text) => text_view(text, &entry.path).await?,
                    Err(_) => View::Binary,
                },
                _ => View::Binary,
            }
        } else {
            View::Binary
        };
        let blob_href = format!("{}/blob/{rev_seg}/{file_seg}", head.base);
        let toggle_href = match &view {
            View::Markdown { .. } => Some(format!("{blob_href}?code=true")),
            View::Text { .. } if is_markdown(&entry.path) => Some(blob_href),
            _ => None,
        };
        let viewer_href = (kind == RepoType::Dataset
            && dataset_preview::Format::of(&entry.path).is_some())
        .then(|| format!("{}/viewer/{rev_seg}/{file_seg}", head.base));
        let last_commit = content::last_commits(&state, repo, &commit, vec![entry.path.clone()])
            .await?
            .remove(&entry.path);
        let refs = ref_links(&state, repo).await?;
        Ok(render(&BlobPage {
            frame: Frame::new(&session, &path),
            edit_branch: branch_shown(&refs, &rev),
            refs,
            crumbs: crumbs(&head, &rev, &entry.path),
            raw_href: format!("{}/raw/{rev_seg}/{file_seg}", head.base),
            download_href: format!("{}/resolve/{rev_seg}/{file_seg}?download=true", head.base),
            viewer_href,
            last_commit,
            tensors,
            gguf,
            rev,
            path: entry.path,
            size,
            text_html: match &view {
                View::Text { html, .. } => Some(html.clone()),
                _ => None,
            },
            lines: match &view {
                View::Text { lines, .. } => *lines,
                _ => 0,
            },
            markdown_html: match &view {
                View::Markdown { html } => Some(html.clone()),
                _ => None,
            },
            toggle_href,
            is_image: matches!(view, View::Image),
            lfs_sha256: match view {
                View::Lfs { sha256 } => Some(sha256),
                _ => None,
            },
            head,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// Highlighting runs off the executor (regex work on up to 256 KB).
async fn text_view(text: String, path: &str) -> Result<View, hub_core::Error> {
    let path = path.to_owned();
    Ok(tokio::task::spawn_blocking(move || {
        let lines = text.lines().count().max(1);
        let html = highlight::to_html(&text, &path);
        View::Text { html, lines }
    })
    .await?)
}

/// Rendering and sanitizing run off the executor, as for the repo's card.
async fn markdown_view(text: String, links: markdown::RepoLinks) -> Result<View, hub_core::Error> {
    Ok(tokio::task::spawn_blocking(move || View::Markdown {
        html: markdown::render_in_repo(&text, &links),
    })
    .await?)
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}/raw/{revision}/{*path}`:
/// the file's bytes for the browser, as text or an image, never as a page
/// that could run script (a sandboxing CSP on every answer).
async fn raw(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, rev, file)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let commit = content::resolve(&state, &repo, &rev).await?;
    let entry = content::file_at(&state, &repo, &commit, &file).await?;
    let media_type = match image_type(&entry.path) {
        Some(t) => t,
        None if entry.lfs.is_none() && entry.size <= MAX_SHOWN_TEXT => "text/plain; charset=utf-8",
        None => "application/octet-stream",
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(entry.content_size()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", entry.oid)) {
        headers.insert(header::ETAG, v);
    }
    let stream = content::read(&state, &repo, &entry, None).await?;
    Ok((StatusCode::OK, headers, Body::from_stream(stream)).into_response())
}
