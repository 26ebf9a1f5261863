//! ModelScope's `master`: its SDK hard-codes the revision `master`, while a
//! hub repo's default branch is usually `main`. So `master` names the
//! default branch unless the repo has a branch (or tag) of that name, for
//! reads and for commits alike; an empty revision is the default branch.

use super::access::Authorized;
use super::access::level::Level;
use super::content;
use crate::error::{Error, Result};
use crate::hub::Hub;

const MASTER: &str = "master";

/// The commit a ModelScope revision names.
pub async fn resolve(hub: &Hub, repo: &Authorized<impl Level>, revision: &str) -> Result<String> {
    let revision = match revision {
        "" => repo.default_branch.as_str(),
        r => r,
    };
    match content::resolve(hub, repo, revision).await {
        Err(Error::RevisionNotFound(_)) if revision == MASTER => {
            content::resolve(hub, repo, &repo.default_branch).await
        }
        other => other,
    }
}

/// The branch a ModelScope commit to `revision` goes to.
pub async fn branch(hub: &Hub, repo: &Authorized<impl Level>, revision: &str) -> Result<String> {
    if revision.is_empty() {
        return Ok(repo.default_branch.clone());
    }
    if revision == MASTER {
        match content::resolve(hub, repo, MASTER).await {
            Err(Error::RevisionNotFound(_)) => return Ok(repo.default_branch.clone()),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(revision.to_owned())
}
