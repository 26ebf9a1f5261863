//! Routing helpers for pages under a repo's URL, which exist once per repo
//! type: `/{ns}/{name}/…` for models, `/datasets/{ns}/{name}/…` and
//! `/spaces/{ns}/{name}/…` (the Hugging Face layout).

use axum::Router;
use axum::extract::Path;
use axum::response::Redirect;
use axum::routing::MethodRouter;
use hub_core::repos::{Repo, RepoType};

use crate::app::AppState;

pub const KINDS: [RepoType; 3] = [RepoType::Model, RepoType::Dataset, RepoType::Space];

/// The same page for each repo type at `{prefix}{ns}/{name}{suffix}`; the
/// handler gets its repo type from `route`.
pub fn each_kind(
    suffix: &str,
    route: impl Fn(RepoType) -> MethodRouter<AppState>,
) -> Router<AppState> {
    KINDS.iter().fold(Router::new(), |router, &kind| {
        router.route(
            &format!("/{}{{namespace}}/{{name}}{suffix}", kind.url_prefix()),
            route(kind),
        )
    })
}

/// Answers a GET of a URL that only takes form posts (a bookmarked or
/// retyped action) by sending the browser to the repo page `suffix` whose
/// form posts there, instead of a bare 405.
pub async fn to_repo_page(
    kind: RepoType,
    Path((ns, name)): Path<(String, String)>,
    suffix: &'static str,
) -> Redirect {
    Redirect::to(&format!("/{}{ns}/{name}{suffix}", kind.url_prefix()))
}

/// The page of a repo: `/{prefix}{ns}/{name}`.
pub fn repo_url(repo: &Repo) -> String {
    format!("/{}{}", repo.kind().url_prefix(), repo.full_name())
}
