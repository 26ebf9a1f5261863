//! The decisions behind the LFS batch API: for each object a client wants to
//! upload or download, whether it gets a signed transfer link, nothing (the
//! repo already has it), or a per-object error.
//!
//! An object counts as present in a repo only through a link to that repo:
//! a download of an object linked elsewhere is "not found", and an upload of
//! an object the hub stores for other repos still needs the bytes (proof of
//! possession) before this repo may read it.

use serde::Deserialize;

use super::objects::{self, Known};
use super::signing::{TransferGrant, TransferOp, now_unix};
use crate::community::{pull_request_of_ref, pulls};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::access::level::Level;
use crate::repos::access::{Access, Authorized};

/// Most objects accepted in one batch request.
pub const MAX_BATCH_OBJECTS: usize = 1000;

/// A batch request as git-lfs and `huggingface_hub` send it. `ref` names
/// where an upload is going: git-lfs sends the pushed ref
/// (`refs/heads/main`, `refs/pr/3`), `huggingface_hub` the commit's
/// revision (`main`, `refs/pr/3`), and no ref at all when the commit opens
/// a new pull request (`create_pr`). It matters only for callers who
/// cannot write to the repo (see [`check_upload`]).
#[derive(Debug, Clone, Deserialize)]
pub struct BatchRequest {
    pub operation: String,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<RefSpec>,
    #[serde(default)]
    pub transfers: Option<Vec<String>>,
    #[serde(default)]
    pub objects: Vec<ObjectSpec>,
    #[serde(default)]
    pub hash_algo: Option<String>,
}

/// The `ref` of a batch request.
#[derive(Debug, Clone, Deserialize)]
pub struct RefSpec {
    pub name: String,
}

/// One object of a batch request.
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectSpec {
    pub oid: String,
    pub size: i64,
}

/// What the answer says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Upload of an object this repo already has: no actions, the client skips it.
    Present,
    /// Transfer it with a link carrying this grant.
    Transfer(TransferGrant),
    /// A per-object error with an HTTP-like code (404, 422).
    Error { code: u16, message: String },
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub oid: String,
    pub size: i64,
    pub decision: Decision,
}

/// Answers a batch request on `repo` for `actor`: uploads need write
/// access or a pull request to go to ([`check_upload`]), downloads read
/// access. Fails as a whole only for a request that
/// is malformed (unknown operation or hash, too many objects) or not allowed.
pub async fn plan(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    request: &BatchRequest,
) -> Result<Vec<Planned>> {
    let op = match request.operation.as_str() {
        "upload" => TransferOp::Upload,
        "download" => TransferOp::Download,
        other => return Err(Error::invalid(format!("unknown operation {other:?}"))),
    };
    match op {
        TransferOp::Upload => check_upload(hub, repo, request.git_ref.as_ref()).await?,
        TransferOp::Download => repo.check(Access::Read)?,
    }
    if let Some(algo) = request.hash_algo.as_deref()
        && algo != "sha256"
    {
        return Err(Error::invalid(format!(
            "hash algorithm {algo:?} is not supported; only sha256 is"
        )));
    }
    if request.objects.len() > MAX_BATCH_OBJECTS {
        return Err(Error::too_large(format!(
            "at most {MAX_BATCH_OBJECTS} objects per batch request"
        )));
    }
    let oids: Vec<String> = request.objects.iter().map(|o| o.oid.clone()).collect();
    let known = objects::states(&hub.db, repo.id, &oids).await?;
    let now = now_unix();
    Ok(request
        .objects
        .iter()
        .map(|o| Planned {
            oid: o.oid.clone(),
            size: o.size,
            decision: decide(
                op,
                repo.id,
                repo.mirrored_from.is_some(),
                o,
                known.get(&o.oid).copied(),
                now,
            ),
        })
        .collect())
}

/// May the caller upload objects for `git_ref`: a writer anywhere; someone
/// who may only read the repo (a participant) only for a pull request, as
/// with Xet's `propose` tokens: `refs/pr/N` they may push to
/// ([`pulls::check_may_push`]), or no ref, which is how `huggingface_hub`
/// uploads for a pull request it is about to open. What they upload is
/// linked to the repo, and reaches a branch only through a commit that a
/// writer makes or merges; a ref naming a branch or a tag needs write
/// access, as before.
async fn check_upload(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    git_ref: Option<&RefSpec>,
) -> Result<()> {
    if repo.may(Access::Write) {
        return Ok(());
    }
    let Some(git_ref) = git_ref else {
        return repo.participant().map(|_| ());
    };
    match pull_request_of_ref(&git_ref.name) {
        Some(num) => pulls::check_may_push(hub, repo, num?).await.map(|_| ()),
        None => repo.check(Access::Write),
    }
}

/// The decision for one object, given what the hub knows of it. A
/// mirrored repo offers downloads of what it has not fetched yet: the
/// transfer asks its upstream, which decides (and the bytes are checked
/// against the oid before anything is linked).
fn decide(
    op: TransferOp,
    repo_id: i64,
    mirrored: bool,
    o: &ObjectSpec,
    known: Option<Known>,
    now: i64,
) -> Decision {
    if !objects::is_valid_oid(&o.oid) {
        return error(422, "the oid must be a sha256: 64 lowercase hex digits");
    }
    let Ok(size) = u64::try_from(o.size) else {
        return error(422, "the size must be at least zero");
    };
    let grant = || Decision::Transfer(TransferGrant::new(op, repo_id, &o.oid, size, now));
    // Only what this repo links is described: whether (and how big) an
    // object is stored for other repos must not show through.
    match (op, known.filter(|k| k.linked)) {
        (_, Some(k)) if k.size != size => {
            error(422, &format!("the object has {} bytes, not {size}", k.size))
        }
        (TransferOp::Upload, Some(_)) => Decision::Present,
        (TransferOp::Upload, None) => grant(),
        (TransferOp::Download, Some(_)) => grant(),
        (TransferOp::Download, None) if mirrored => grant(),
        (TransferOp::Download, None) => error(404, "object does not exist"),
    }
}

fn error(code: u16, message: &str) -> Decision {
    Decision::Error {
        code,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    fn spec(oid: &str, size: i64) -> ObjectSpec {
        ObjectSpec {
            oid: oid.to_owned(),
            size,
        }
    }

    fn code(d: &Decision) -> Option<u16> {
        match d {
            Decision::Error { code, .. } => Some(*code),
            _ => None,
        }
    }

    const LINKED: Option<Known> = Some(Known {
        size: 5,
        linked: true,
    });
    const ELSEWHERE: Option<Known> = Some(Known {
        size: 5,
        linked: false,
    });

    #[test]
    fn uploads() {
        let up = |o, k| decide(TransferOp::Upload, 1, false, &o, k, 100);
        assert_eq!(up(spec(OID, 5), LINKED), Decision::Present);
        let Decision::Transfer(g) = up(spec(OID, 5), ELSEWHERE) else {
            panic!("stored for another repo: the bytes are needed");
        };
        assert_eq!((g.op, g.repo_id, g.size), (TransferOp::Upload, 1, 5));
        assert!(matches!(up(spec(OID, 5), None), Decision::Transfer(_)));
        // Another repo's copy is not described, whatever its size.
        assert!(matches!(up(spec(OID, 6), ELSEWHERE), Decision::Transfer(_)));
        assert_eq!(code(&up(spec(OID, 6), LINKED)), Some(422));
        assert_eq!(code(&up(spec(OID, -1), None)), Some(422));
        assert_eq!(code(&up(spec(&OID.to_uppercase(), 5), None)), Some(422));
        assert_eq!(code(&up(spec("../../etc/passwd", 5), None)), Some(422));
    }

    #[test]
    fn downloads_need_a_link_to_this_repo() {
        let down = |o, k| decide(TransferOp::Download, 1, false, &o, k, 100);
        assert!(
            matches!(down(spec(OID, 5), LINKED), Decision::Transfer(g) if g.op == TransferOp::Download)
        );
        assert_eq!(code(&down(spec(OID, 5), ELSEWHERE)), Some(404));
        assert_eq!(code(&down(spec(OID, 5), None)), Some(404));
        assert_eq!(code(&down(spec(OID, 4), LINKED)), Some(422));
        assert_eq!(code(&down(spec(OID, 4), ELSEWHERE)), Some(404));
    }

    #[test]
    fn a_mirror_offers_what_its_upstream_may_hold() {
        let down = |o, k| decide(TransferOp::Download, 1, true, &o, k, 100);
        assert!(matches!(down(spec(OID, 5), None), Decision::Transfer(_)));
        assert!(matches!(
            down(spec(OID, 5), ELSEWHERE),
            Decision::Transfer(_)
        ));
        assert_eq!(code(&down(spec(OID, 4), LINKED)), Some(422));
        let up = |o, k| decide(TransferOp::Upload, 1, true, &o, k, 100);
        assert!(matches!(up(spec(OID, 5), None), Decision::Transfer(_)));
    }
}
