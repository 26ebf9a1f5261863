//! The write-only Xet CAS: what the token endpoint and the CAS routes do.
//!
//! A client with write access gets a [`CasToken`] for one repo, uploads
//! xorbs (each verified and kept by hash), then a shard that says how each
//! file is made of xorb chunks. Each file is rebuilt from the stored chunks
//! and streamed into the LFS store, where its sha256 and length are checked
//! against what the shard claims before it becomes an LFS object linked to
//! the repo; the commit that follows names it with an `lfsFile` line.
//!
//! Downloads never go through Xet: the hub serves files over plain HTTP and
//! issues no read tokens.

use std::io;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::sync::Semaphore;

use super::hash::XetHash;
use super::records::{self, xorb_path};
use super::token::CasToken;
use super::{reconstruct, shard, xorb};
use crate::accounts::{Actor, Credential, Principal, User, users};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::signing::now_unix;
use crate::lfs::{objects, store};
use crate::repos::access::{self, level::Write};
use crate::repos::{self, Repo, RepoType};

/// A token as the token endpoint hands it out.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// Unix seconds.
    pub expires: i64,
}

/// Issues a CAS write token for the repo at `kind`/`namespace`/`name`, if
/// `actor` may write to it.
pub async fn issue_write_token(
    hub: &Hub,
    actor: &Actor,
    kind: RepoType,
    namespace: &str,
    name: &str,
) -> Result<IssuedToken> {
    let repo = access::authorize::<Write>(&hub.db, actor, kind, namespace, name).await?;
    let user = actor.require_writer()?;
    let token = CasToken::write(user.user.id, repo.id, now_unix());
    Ok(IssuedToken {
        access_token: token.encode(&hub.secret),
        expires: token.expires,
    })
}

/// The refusal for Xet read tokens: the hub serves downloads over HTTP.
pub fn refuse_read_token() -> Error {
    Error::invalid(
        "this hub does not serve downloads through Xet; files download over plain HTTP \
         (…/resolve/{revision}/{path})",
    )
}

/// Who writes through a CAS request: the token's user, for the token's repo.
#[derive(Debug, Clone)]
pub struct CasWriter {
    pub user: User,
    pub repo: Repo,
}

/// The writer a CAS token in `text` stands for. The token must be valid
/// (`InvalidCredentials` otherwise), and its user must still have write
/// access to its repo (`Forbidden` otherwise).
pub async fn writer(hub: &Hub, text: &str) -> Result<CasWriter> {
    let token = CasToken::verify(&hub.secret, text, now_unix())?;
    let user = users::find_by_id(&hub.db, token.user_id)
        .await?
        .ok_or(Error::InvalidCredentials)?;
    let lost = || Error::forbidden("this Xet token's repo is gone or no longer writable by you");
    let repo = repos::find_by_id(&hub.db, token.repo_id)
        .await?
        .ok_or_else(lost)?;
    // The token stands in for the write credential it was issued against,
    // as a push's signed credential does for git hooks.
    let actor = Actor::User(Principal {
        user: user.clone(),
        credential: Credential::Internal,
    });
    access::authorize_repo::<Write>(&hub.db, &actor, repo.clone())
        .await
        .map_err(|e| match e {
            Error::Internal(_) => e,
            _ => lost(),
        })?;
    Ok(CasWriter { user, repo })
}

/// Xorb uploads read and checked at once: each holds up to about 65 MiB
/// in memory while it is checked, so this bounds the memory they take.
pub const XORB_UPLOADS_AT_ONCE: usize = 4;

static XORB_SLOTS: Semaphore = Semaphore::const_new(XORB_UPLOADS_AT_ONCE);

/// Stores the xorb `body` uploaded under the name `hash` (a Xet hash
/// string) and links it for `writer`; returns whether it is new for them.
///
/// The body is read (at most [`xorb::MAX_XORB_BODY`] bytes) only
/// once one of [`XORB_UPLOADS_AT_ONCE`] slots is free. It must be a valid
/// xorb whose chunks hash to `hash`; otherwise nothing is stored
/// (`InvalidInput`). A xorb the hub already holds is not written again.
pub async fn upload_xorb(
    hub: &Hub,
    writer: &CasWriter,
    hash: &str,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<bool> {
    let claimed = XetHash::from_hex(hash)
        .ok_or_else(|| Error::invalid(format!("{hash:?} is not a Xet hash")))?;
    let _slot = XORB_SLOTS
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let body = read_capped(body, xorb::MAX_XORB_BODY).await?;
    let checked = body.clone();
    let layout = tokio::task::spawn_blocking(move || xorb::validate(&checked)).await??;
    if layout.hash != claimed {
        return Err(Error::invalid(format!(
            "invalid xorb: its chunks hash to {}, not {claimed}",
            layout.hash
        )));
    }
    if !records::is_recorded(&hub.db, &claimed).await? {
        let stored = body.slice(..layout.stored_len());
        object_store::ObjectStoreExt::put(
            hub.storage.store.as_ref(),
            &xorb_path(&claimed),
            stored.into(),
        )
        .await?;
    }
    records::record_and_link(&hub.db, &layout, writer.repo.id, writer.user.id).await
}

/// The whole body, or `PayloadTooLarge` as soon as it passes `limit` bytes.
async fn read_capped(body: impl Stream<Item = io::Result<Bytes>>, limit: usize) -> Result<Bytes> {
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| Error::invalid(format!("the upload was interrupted: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(Error::PayloadTooLarge(format!(
                "a xorb has at most {limit} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// What a shard upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardOutcome {
    /// Files rebuilt and stored (or linked) as LFS objects.
    pub files_stored: usize,
    /// Files the repo already had as LFS objects.
    pub files_present: usize,
}

/// Rebuilds every file of the shard `body` from its xorbs and stores it as
/// an LFS object linked to `writer`'s repo.
///
/// The whole shard is checked before anything is stored: it must parse, and
/// every xorb it uses must be usable by the writer (see [`records`]) with
/// the chunk ranges and lengths it claims. Then each file streams into the
/// LFS store, where a sha256 or length other than the shard's stores
/// nothing and fails the upload (`InvalidInput`); files of the shard
/// already verified by then stay stored, as verified uploads do.
pub async fn upload_shard(hub: &Hub, writer: &CasWriter, body: &[u8]) -> Result<ShardOutcome> {
    let shard = shard::parse(body)?;
    let mut used: Vec<XetHash> = shard
        .files
        .iter()
        .flat_map(|f| f.terms.iter().map(|t| t.xorb))
        .collect();
    used.sort_unstable();
    used.dedup();
    let xorbs = records::usable(&hub.db, writer.repo.id, writer.user.id, &used).await?;
    let mut plans = Vec::new();
    for file in &shard.files {
        let plan = reconstruct::plan(file, &xorbs)?;
        if !plans
            .iter()
            .any(|p: &reconstruct::Plan| p.sha256 == plan.sha256)
        {
            plans.push(plan);
        }
    }
    let mut outcome = ShardOutcome::default();
    for plan in plans {
        let linked = objects::linked_size(&hub.db, writer.repo.id, &plan.sha256).await?;
        if linked == Some(plan.size) {
            outcome.files_present += 1;
            continue;
        }
        let (oid, size) = (plan.sha256.clone(), plan.size);
        let bytes = reconstruct::stream(hub.storage.store.as_ref(), xorb_path, plan);
        store::put_object(hub, &writer.repo, &oid, size, bytes)
            .await
            .map_err(|e| match e {
                Error::InvalidInput(m) => {
                    Error::InvalidInput(format!("file {oid} of the shard: {m}"))
                }
                other => other,
            })?;
        outcome.files_stored += 1;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<io::Result<Bytes>>) -> impl Stream<Item = io::Result<Bytes>> {
        futures::stream::iter(chunks)
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_their_cap() {
        let parts = || {
            vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"de")),
            ]
        };
        assert_eq!(read_capped(body(parts()), 5).await.unwrap(), &b"abcde"[..]);
        assert!(matches!(
            read_capped(body(parts()), 4).await,
            Err(Error::PayloadTooLarge(_))
        ));
        let broken = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("reset")),
        ];
        let err = read_capped(body(broken), 10).await.unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
    }
}
