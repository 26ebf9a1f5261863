//! The repo a request's path names, and the caller's access to it, found
//! once per request (as crates.io's `CratePath` + `AuthCheck`).
//!
//! Each route family takes one extractor that reads the caller the way the
//! family does, parses the repo type, namespace and name from the path, runs
//! hub-core's access check at the level the route declares, and answers a
//! refusal in the family's shape. The handler gets an [`Authorized`] proof,
//! which hub-core's reads and writes of a repo require, so no handler can
//! reach a repo without the check:
//!
//! | extractor            | family, credentials                         | refusals              |
//! |----------------------|---------------------------------------------|-----------------------|
//! | [`ApiRepo<L>`]       | HF-shaped API: token or session ([`Auth`])  | [`ApiError`]          |
//! | [`DownloadRepo`]     | resolve, tree, paths-info: also a job's download token | [`ApiError`] |
//! | `ms::MsRepo<L>`      | ModelScope: token, session or `m_session_id` | its envelope         |
//! | `git_http::GitRepo`  | git smart HTTP                              | git's text, challenge |
//! | `lfs::LfsRepo<L>`    | git LFS                                     | LFS's JSON            |
//!
//! `L` is the level the route needs ([`level::Read`] unless named):
//! `ApiRepo<level::Write>` refuses a reader before the handler runs.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use hub_core::Error;
use hub_core::repos::RepoType;
use hub_core::repos::access::{self, Authorized, level, level::Level};

use crate::app::AppState;
use crate::auth::{Auth, Credentials, credentials};
use crate::errors::ApiError;

/// The repo a route's path names: its type from the `{repo_type}` segment
/// (parsed by the family) or else from the route's prefix (`/datasets/…`,
/// `/spaces/…`, `/api/spaces/…`, `/api/v1/datasets/…`; models have none), then the
/// `{namespace}` and `{name}` segments.
pub struct RepoPath {
    pub kind: RepoType,
    pub namespace: String,
    pub name: String,
}

impl RepoPath {
    /// Reads the address from the request's path; `git_suffix`: the name may
    /// end in `.git` (git and LFS URLs), which is dropped.
    pub async fn of(
        parts: &mut Parts,
        state: &AppState,
        plural: fn(&str) -> Result<RepoType, Error>,
        git_suffix: bool,
    ) -> Result<RepoPath, Error> {
        let uri_path = parts.uri.path().to_owned();
        let no_route = || Error::not_found(format!("no route for {uri_path}"));
        let route = MatchedPath::from_request_parts(parts, state)
            .await
            .map_err(|_| no_route())?
            .as_str()
            .to_owned();
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| no_route())?;
        let kind = match params.get("repo_type") {
            Some(segment) => plural(segment)?,
            None if route.starts_with("/datasets/") || route.starts_with("/api/v1/datasets/") => {
                RepoType::Dataset
            }
            None if route.starts_with("/spaces/") || route.starts_with("/api/spaces/") => {
                RepoType::Space
            }
            None => RepoType::Model,
        };
        let (Some(namespace), Some(mut name)) = (params.remove("namespace"), params.remove("name"))
        else {
            return Err(no_route());
        };
        if git_suffix && let Some(stripped) = name.strip_suffix(".git") {
            name = stripped.to_owned();
        }
        Ok(RepoPath {
            kind,
            namespace,
            name,
        })
    }

    /// The repo at this address, if `actor` has at least `L` on it.
    pub async fn authorize<L: Level>(
        &self,
        state: &AppState,
        actor: &hub_core::accounts::Actor,
    ) -> Result<Authorized<L>, Error> {
        access::authorize(state, actor, self.kind, &self.namespace, &self.name).await
    }
}

/// What follows `/api/{repo_type}/{repo_id}/` in the per-repo routes
/// huggingface_hub calls (hf_api.py), ours or not.
const HF_REPO_API_SUFFIXES: &[&str] = &[
    "auth-check",
    "branch",
    "commit",
    "commits",
    "compare",
    "dev-mode",
    "discussions",
    "duplicate",
    "hardware",
    "leaderboard",
    "lfs-files",
    "like",
    "likers",
    "logs",
    "paths-info",
    "pause",
    "preupload",
    "refs",
    "restart",
    "revision",
    "runtime",
    "safetensors-metadata",
    "secrets",
    "settings",
    "sleeptime",
    "super-squash",
    "tag",
    "tree",
    "user-access-request",
    "variables",
    "volumes",
    "xet-read-token",
    "xet-write-token",
];

/// Whether `path` is one of huggingface_hub's repo routes with a repo id
/// without a namespace (`/api/models/gpt2`, `/api/models/gpt2/revision/main`,
/// `/api/models/gpt2/like`, `/gpt2/resolve/main/config.json`, ...). Every
/// repo here has a namespace, so such a repo does not exist, and the route
/// must say so as for any missing repo (`RepoNotFound`, which the client
/// turns into `RepositoryNotFoundError`), not "no such route". Only paths
/// no route matched (or matched with another method) are asked about.
pub fn names_repo_without_namespace(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "models" | "datasets" | "spaces", id] => !id.is_empty(),
        ["api", "models" | "datasets" | "spaces", id, suffix, ..] => {
            !id.is_empty() && HF_REPO_API_SUFFIXES.contains(suffix)
        }
        ["datasets" | "spaces", id, "resolve", _, ..] | [id, "resolve", _, ..] => !id.is_empty(),
        _ => false,
    }
}

/// `{models|datasets|spaces}` of the Hugging Face-shaped routes.
fn hf_plural(segment: &str) -> Result<RepoType, Error> {
    crate::routes::hf::repo_type(segment).map_err(|e| e.0)
}

/// The repo of an API route answered in the Hugging Face shape (`/api/…`,
/// and the JSON routes under a repo's page URL), with the caller's access at
/// level `L`; the caller as [`Auth`] reads them.
pub struct ApiRepo<L: Level = level::Read>(pub Authorized<L>);

impl<L: Level> FromRequestParts<AppState> for ApiRepo<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(actor) = Auth::from_request_parts(parts, state).await?;
        let path = RepoPath::of(parts, state, hf_plural, false).await?;
        Ok(ApiRepo(path.authorize(state, &actor).await?))
    }
}

/// The repo of a download route (`resolve`, `tree`, `paths-info`): read
/// access by the caller's usual credentials, or by a running inference
/// job's download token, which reads its one repo at its one commit and
/// nothing else (any other repo: 401, as every other route answers it).
pub struct DownloadRepo(pub Authorized<level::Read>);

impl FromRequestParts<AppState> for DownloadRepo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = credentials(parts, state).await?;
        let at = RepoPath::of(parts, state, hf_plural, false).await?;
        let repo = match caller {
            Credentials::Actor(actor) => at.authorize(state, &actor).await?,
            Credentials::Job(grant) => {
                access::authorize_job(&state.db, &grant, at.kind, &at.namespace, &at.name).await?
            }
        };
        Ok(DownloadRepo(repo))
    }
}
