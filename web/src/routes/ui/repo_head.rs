//! What every page of a repo shares: finding the repo the visitor may read
//! (following renames), and the header with its tabs
//! (`templates/repo_head.html`).

use axum::response::{IntoResponse, Redirect, Response};
use hub_core::repos::RepoType;
use hub_core::repos::access::{self, Access, Authorized};

use crate::app::AppState;
use crate::auth::Session;

/// The tabs of a repo's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Card,
    Files,
    Viewer,
    Community,
}

/// The repo a page shows, and what its header needs.
pub struct RepoHead {
    pub repo: Authorized,
    /// `/{ns}/{name}`, `/datasets/{ns}/{name}` or `/spaces/{ns}/{name}`.
    pub base: String,
    pub tab: Tab,
    /// Whether the visitor administers the repo (the Settings tab).
    pub is_admin: bool,
    /// Whether the visitor may change files (upload and edit links).
    pub can_write: bool,
    /// The like button (`templates/like_button.html`).
    pub like: super::likes::LikeButton,
    /// Open discussions and pull requests (the Community tab's count).
    pub open_discussions: i64,
    /// Where a mirrored repo comes from, and when it was last fetched.
    pub mirror: Option<hub_core::mirror::repos::MirrorRecord>,
}

impl RepoHead {
    pub fn kind_key(&self) -> &'static str {
        match self.repo.kind() {
            RepoType::Model => "type.model",
            RepoType::Dataset => "type.dataset",
            RepoType::Space => "type.space",
        }
    }

    pub fn card_tab_key(&self) -> &'static str {
        match self.repo.kind() {
            RepoType::Model => "tab.model_card",
            RepoType::Dataset => "tab.dataset_card",
            RepoType::Space => "tab.space_card",
        }
    }

    pub fn is_dataset(&self) -> bool {
        self.repo.kind() == RepoType::Dataset
    }

    pub fn is_model(&self) -> bool {
        self.repo.kind() == RepoType::Model
    }

    pub fn on(&self, tab: &str) -> bool {
        let current = match self.tab {
            Tab::Card => "card",
            Tab::Files => "files",
            Tab::Viewer => "viewer",
            Tab::Community => "community",
        };
        current == tab
    }

    /// The link to `rev` as a path segment (a branch name may hold `/`).
    pub fn rev_segment(&self, rev: &str) -> String {
        encode_segment(rev)
    }
}

/// One path segment, percent-encoded (`/` included).
pub fn encode_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A repo path for a URL: each segment encoded, the slashes kept.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The repo `ns/name` of `kind` if the visitor may read it; after a rename,
/// a redirect to the same page (`rest` after the repo's base) under the
/// new name. Missing and invisible repos are alike `RepoNotFound`.
pub async fn open(
    state: &AppState,
    session: &Session,
    kind: RepoType,
    (ns, name): (&str, &str),
    tab: Tab,
    rest: &str,
) -> Result<Result<RepoHead, Response>, hub_core::Error> {
    let repo: Authorized = access::authorize(state, &session.actor, kind, ns, name).await?;
    let base = format!("/{}{}", kind.url_prefix(), repo.full_name());
    if repo.full_name() != format!("{ns}/{name}") {
        return Ok(Err(
            Redirect::permanent(&format!("{base}{rest}")).into_response()
        ));
    }
    let like = super::likes::LikeButton::of(state, &session.actor, &repo).await?;
    let open_discussions = hub_core::community::discussions::open_count(state, &repo).await?;
    let mirror = match repo.mirrored_from {
        Some(_) => hub_core::mirror::repos::record(&state.db, repo.id).await?,
        None => None,
    };
    Ok(Ok(RepoHead {
        open_discussions,
        mirror,
        is_admin: repo.may(Access::Admin),
        can_write: repo.may(Access::Write),
        repo,
        base,
        tab,
        like,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_revisions_and_paths() {
        assert_eq!(encode_segment("feature/x y"), "feature%2Fx%20y");
        assert_eq!(encode_path("dir/a b/文.txt"), "dir/a%20b/%E6%96%87.txt");
        assert_eq!(encode_path("x?#.md"), "x%3F%23.md");
    }
}
