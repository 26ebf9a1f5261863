//! The commit API of the `modelscope` SDK: the JSON body it posts (inline
//! files in base64, LFS files uploaded before and named by sha256,
//! deletions), turned into one commit through [`super::commit`] on the
//! branch its revision names ([`crate::repos::master_alias`]).

use base64::Engine;
use serde::Deserialize;

use super::{NewCommit, lfs_links};
use crate::error::{Error, Result};
use crate::git::commit::{CommitOutcome, FileSource, Operation};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Writes;
use crate::repos::master_alias;

/// The summary of a commit the SDK sends without a message.
const DEFAULT_SUMMARY: &str = "Upload with modelscope";

/// The body of `POST /api/v1/repos/{models|datasets}/{ns}/{name}/commit/{revision}`.
#[derive(Debug, Deserialize)]
pub struct CommitBody {
    #[serde(default)]
    pub commit_message: String,
    #[serde(default)]
    pub commit_description: String,
    pub actions: Vec<CommitAction>,
}

#[derive(Debug, Deserialize)]
pub struct CommitAction {
    pub action: String,
    pub path: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub content: String,
}

/// Commits `body` to the branch `revision` names.
pub async fn commit(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    revision: &str,
    body: CommitBody,
) -> Result<CommitOutcome> {
    let mut operations = Vec::with_capacity(body.actions.len());
    for a in body.actions {
        operations.push(match (a.action.as_str(), a.kind.as_str()) {
            ("delete", _) => Operation::Delete { path: a.path },
            ("create" | "update", "lfs") => Operation::Put {
                source: FileSource::Lfs(
                    lfs_links::pointer_for(hub, repo, &a.sha256, a.size).await?,
                ),
                path: a.path,
            },
            ("create" | "update", _) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(a.content.as_bytes())
                    .map_err(|_| Error::invalid(format!("{}: content is not base64", a.path)))?;
                Operation::Put {
                    path: a.path,
                    source: FileSource::Bytes(bytes),
                }
            }
            (other, _) => return Err(Error::invalid(format!("unknown commit action {other:?}"))),
        });
    }
    let summary = match body.commit_message.trim() {
        "" => DEFAULT_SUMMARY.to_owned(),
        m => m.to_owned(),
    };
    let new = NewCommit {
        branch: Some(master_alias::branch(hub, repo, revision).await?),
        summary,
        description: body.commit_description,
        operations,
        expected_parent: None,
    };
    super::commit(hub, repo, new).await
}
