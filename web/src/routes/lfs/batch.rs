//! The batch API: which objects to transfer, with signed absolute hrefs
//! built on the host the client used (the HF client refuses other hosts).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use hub_core::lfs::batch::{self, BatchRequest, Decision, Planned};
use hub_core::lfs::signing::{LINK_LIFETIME_SECS, TransferGrant, TransferOp};
use hub_core::repos::Repo;
use serde_json::{Value, json};

use super::{LfsJson, LfsRepo, LfsResult, lfs_json};
use crate::app::AppState;
use crate::request::Origin;

/// Handles `POST /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/objects/batch`.
pub async fn batch(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo,
    origin: Origin,
    headers: HeaderMap,
    LfsJson(request): LfsJson<BatchRequest>,
) -> LfsResult<Response> {
    let planned = batch::plan(&state, &repo, &request).await?;
    let links = Links {
        base: lfs_url(&origin, &repo),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        state: &state,
    };
    let objects: Vec<Value> = planned.iter().map(|p| links.describe(p)).collect();
    Ok(lfs_json(
        StatusCode::OK,
        json!({ "transfer": "basic", "objects": objects, "hash_algo": "sha256" }),
    ))
}

/// `{base_url}/{prefix}{namespace}/{name}.git/info/lfs`, as git-lfs derives it.
pub(crate) fn lfs_url(origin: &Origin, repo: &Repo) -> String {
    format!(
        "{}/{}{}.git/info/lfs",
        origin.base_url,
        repo.kind().url_prefix(),
        repo.full_name()
    )
}

/// The signed link to transfer object `oid` under `base` (an [`lfs_url`]).
pub(crate) fn object_href(
    base: &str,
    oid: &str,
    grant: &TransferGrant,
    state: &AppState,
) -> String {
    format!("{base}/objects/{oid}?{}", grant.query(&state.secret))
}

struct Links<'a> {
    base: String,
    /// Echoed into the `verify` action, which is not signed (as Gitea does).
    authorization: Option<&'a str>,
    state: &'a AppState,
}

impl Links<'_> {
    /// One object of the answer.
    fn describe(&self, planned: &Planned) -> Value {
        let (oid, size) = (&planned.oid, planned.size);
        match &planned.decision {
            Decision::Present => json!({ "oid": oid, "size": size }),
            Decision::Error { code, message } => json!({
                "oid": oid, "size": size, "error": { "code": code, "message": message },
            }),
            Decision::Transfer(grant) => {
                let href = object_href(&self.base, oid, grant, self.state);
                let transfer = json!({ "href": href, "expires_in": LINK_LIFETIME_SECS });
                let actions = match grant.op {
                    TransferOp::Download => json!({ "download": transfer }),
                    TransferOp::Upload => json!({ "upload": transfer, "verify": self.verify() }),
                };
                json!({ "oid": oid, "size": size, "authenticated": true, "actions": actions })
            }
        }
    }

    fn verify(&self) -> Value {
        let mut header = json!({ "Accept": super::LFS_MEDIA_TYPE });
        if let Some(authorization) = self.authorization {
            header["Authorization"] = json!(authorization);
        }
        json!({ "href": format!("{}/verify", self.base), "header": header })
    }
}
