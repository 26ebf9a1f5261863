//! Who may transfer which object: the rules behind the basic-transfer
//! endpoints (PUT and GET of one object) and `verify`.
//!
//! An upload is authorised by a signed link alone (the batch API checked
//! that the caller may upload when it made the link). A download is
//! authorised by a signed link or by the caller's own read access; either
//! way the object must be linked to the repo it is read through, so knowing
//! an oid grants nothing.
//!
//! A link that does not hold gets one answer whether its repo exists, is
//! private or is public: an answer that told them apart would let anyone
//! probe for private repos with a made-up signature.

use std::io;

use bytes::Bytes;
use futures::Stream;

use super::signing::{SignedParams, TransferGrant, TransferOp, invalid_link, now_unix};
use super::{objects, store};
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::access::level::{Level, Read};
use crate::repos::access::{Authorized, authorize};
use crate::repos::{self, Repo, RepoType};

/// Where a transfer request points: a repo by type and `namespace/name`.
#[derive(Debug, Clone, Copy)]
pub struct RepoAddress<'a> {
    pub kind: RepoType,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// Stores the body of object `oid` for the repo at `address`, as a signed
/// upload link in `params` allows. See [`store::put_object`] for what is
/// verified; a missing, tampered or expired link is `Forbidden`.
pub async fn upload(
    hub: &Hub,
    address: RepoAddress<'_>,
    oid: &str,
    params: &SignedParams,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<()> {
    let (repo, grant) = repo_for_link(hub, address, params, TransferOp::Upload, oid).await?;
    store::put_object(hub, &repo, oid, grant.size, body).await
}

/// The repo and size of object `oid` for a download through the repo at
/// `address`, allowed by a signed download link in `params` or, without
/// one, by `actor`'s read access. `NotFound` unless the object is linked to
/// that repo.
pub async fn download(
    hub: &Hub,
    actor: &Actor,
    address: RepoAddress<'_>,
    oid: &str,
    params: &SignedParams,
) -> Result<(Repo, u64)> {
    let (repo, granted) = if params.is_signed() {
        let (repo, grant) = repo_for_link(hub, address, params, TransferOp::Download, oid).await?;
        (repo, Some(grant.size))
    } else {
        let RepoAddress {
            kind,
            namespace,
            name,
        } = address;
        let repo = authorize::<Read>(hub, actor, kind, namespace, name)
            .await?
            .into_repo();
        (repo, None)
    };
    // A mirror's batch answer promised what its upstream holds: the read
    // fetches it from there ([`read`]), and links it only then.
    if repo.mirrored_from.is_some()
        && let Some(size) = granted
        && objects::linked_size(&hub.db, repo.id, oid).await?.is_none()
    {
        return Ok((repo, size));
    }
    let size = linked_size(hub, &repo, oid).await?;
    Ok((repo, size))
}

/// Where to send a download of object `oid` through `repo` instead of
/// streaming it: a presigned store URL when the hub is set up for them
/// ([`store::presigned_download_url`]); never for a mirrored repo, whose
/// bytes may still be upstream ([`read`] fetches them).
pub async fn redirect_url(hub: &Hub, repo: &Repo, oid: &str) -> Result<Option<String>> {
    match repo.mirrored_from {
        Some(_) => Ok(None),
        None => store::presigned_download_url(hub, oid).await,
    }
}

/// The bytes of object `oid` (`size` bytes, as [`download`] found), or of
/// `range` within them, for a download through `repo`: from the store, or
/// for a mirrored repo from its upstream on first read.
pub async fn read(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: u64,
    range: Option<std::ops::Range<u64>>,
) -> Result<crate::repos::content::ByteStream> {
    match repo.mirrored_from {
        Some(_) => crate::mirror::objects::read(hub, repo, oid, size, range).await,
        None => store::read_object(hub, oid, range).await,
    }
}

/// The `verify` step after an upload: the caller may upload to `repo` (a
/// participant, who may upload for a pull request: see
/// [`super::batch::plan`]), and the object is linked to it and stored with
/// exactly `size` bytes.
pub async fn verify(hub: &Hub, repo: &Authorized<impl Level>, oid: &str, size: u64) -> Result<()> {
    repo.participant()?;
    let linked = linked_size(hub, repo, oid).await?;
    if linked != size {
        return Err(Error::invalid(format!(
            "LFS object {oid} has {linked} bytes, not {size}"
        )));
    }
    match store::object_size_in_store(hub, oid).await? {
        Some(stored) if stored == size => Ok(()),
        _ => Err(object_not_found(oid)),
    }
}

async fn linked_size(hub: &Hub, repo: &Repo, oid: &str) -> Result<u64> {
    if !objects::is_valid_oid(oid) {
        return Err(object_not_found(oid));
    }
    objects::linked_size(&hub.db, repo.id, oid)
        .await?
        .ok_or_else(|| object_not_found(oid))
}

/// The repo a signed link points at and the grant it carries, found
/// without any credentials (the link is the credential). A missing repo is
/// answered as a bad link: the same refusal as for an existing repo.
async fn repo_for_link(
    hub: &Hub,
    address: RepoAddress<'_>,
    params: &SignedParams,
    op: TransferOp,
    oid: &str,
) -> Result<(Repo, TransferGrant)> {
    let repo = repos::find(&hub.db, address.kind, address.namespace, address.name)
        .await?
        .ok_or_else(invalid_link)?;
    let grant = TransferGrant::verify(&hub.secret, params, op, repo.id, oid, now_unix())?;
    Ok((repo, grant))
}

fn object_not_found(oid: &str) -> Error {
    let shown: String = oid.chars().take(64).collect();
    Error::not_found(format!("LFS object {shown:?} not found"))
}
