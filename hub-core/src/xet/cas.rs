//! The Xet CAS write path: what the write-token endpoint and the CAS
//! upload routes do (reads: see `read`).
//!
//! A client with write access gets a [`CasToken`] for one repo, uploads
//! xorbs (each verified and kept by hash), then a shard that says how each
//! file is made of xorb chunks. Once the shard is checked against the
//! stored xorbs and bounded ([`limits`]), each file is rebuilt from the
//! stored chunks and hashed, writing nothing; only a file whose sha256,
//! length and Xet file hash are what the shard claims is recorded
//! for the repo ([`files::record`]) and becomes an LFS object linked to
//! it, held as its xorbs (the only stored copy); the commit that follows
//! names it with an `lfsFile` line.

use std::collections::HashSet;
use std::io;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::hash::XetHash;
use super::records::{self, xorb_path};
use super::token::{CasToken, Scope, Via};
use super::{files, intake, limits, reconstruct, shard, xorb};
use crate::accounts::{Actor, Credential, Principal, User, sessions, tokens, users};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::signing::now_unix;
use crate::lfs::{objects, store};
use crate::repos::access::{self, Access, level::Read};
use crate::repos::{self, Repo, RepoType};

/// A token as the token endpoint hands it out.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: String,
    /// Unix seconds.
    pub expires: i64,
}

/// Issues a CAS write token for the repo at `kind`/`namespace`/`name`, if
/// `actor` may write to it; with `for_pull_request`, if `actor` may open a
/// pull request on it (a participant: the token then has the
/// [`Scope::Propose`] scope, and what it uploads is linked to the repo for
/// the pull request's commit to name).
pub async fn issue_write_token(
    hub: &Hub,
    actor: &Actor,
    kind: RepoType,
    namespace: &str,
    name: &str,
    for_pull_request: bool,
) -> Result<IssuedToken> {
    let repo = access::authorize::<Read>(hub, actor, kind, namespace, name).await?;
    let user = repo.participant()?;
    if !for_pull_request {
        repo.check(Access::Write)?;
    }
    let scope = match repo.may(Access::Write) {
        true => Scope::Write,
        false => Scope::Propose,
    };
    let via = Via::of(&user.credential)
        .ok_or_else(|| Error::forbidden("Xet tokens are issued to API tokens and sessions"))?;
    let mut token = CasToken::write(user.user.id, repo.id, via, now_unix());
    token.scope = scope;
    Ok(IssuedToken {
        access_token: token.encode(&hub.secret),
        expires: token.expires,
    })
}

/// Who writes through a CAS request: the token's user, for the token's repo.
#[derive(Debug, Clone)]
pub struct CasWriter {
    pub user: User,
    pub repo: Repo,
}

/// The writer a CAS token in `text` stands for. The token must be valid
/// and the API token or session it was issued against still live
/// (`InvalidCredentials` otherwise), and its user must still have write
/// access to its repo (`Forbidden` otherwise).
pub async fn writer(hub: &Hub, text: &str) -> Result<CasWriter> {
    let token = CasToken::verify(&hub.secret, text, now_unix())?;
    if token.scope == Scope::Read {
        return Err(Error::forbidden("a Xet read token cannot upload"));
    }
    if !credential_is_live(hub, &token).await? {
        return Err(Error::InvalidCredentials);
    }
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
    let proof = access::authorize_repo::<Read>(&hub.db, &actor, repo.clone()).await;
    let allowed = proof.and_then(|p| match token.scope {
        Scope::Write => p.check(Access::Write),
        Scope::Propose => p.participant().map(|_| ()),
        Scope::Read => Err(Error::InvalidCredentials),
    });
    allowed.map_err(|e| match e {
        Error::Internal(_) => e,
        _ => lost(),
    })?;
    Ok(CasWriter { user, repo })
}

/// Whether the API token or session `token` was issued against is still
/// live (not revoked, not ended); never for an anonymous read token.
pub(super) async fn credential_is_live(hub: &Hub, token: &CasToken) -> Result<bool> {
    Ok(match &token.via {
        Via::Token(id) => tokens::is_live(&hub.db, *id, token.user_id).await?,
        Via::Session(key) => sessions::is_live(&hub.db, key, token.user_id).await?,
        Via::Anonymous => false,
    })
}

/// Xorb uploads checked at once: each holds up to about 65 MiB in memory
/// while it is checked, so this bounds the memory they take (two keep the
/// hub under 300 MB through a 1 GiB hf_xet upload; checking is CPU work, so
/// more would not go faster on a small machine). A slot is taken only once
/// the body has arrived (see [`intake`]).
pub const XORB_UPLOADS_AT_ONCE: usize = 2;

static XORB_SLOTS: Semaphore = Semaphore::const_new(XORB_UPLOADS_AT_ONCE);

/// Stores the xorb `body` uploaded under the name `hash` (a Xet hash
/// string) and links it for `writer`; returns whether it is new for them.
///
/// `declared` is the body's announced length, if any: past
/// [`xorb::MAX_XORB_BODY`] it is refused (`PayloadTooLarge`) unread. The
/// body is spooled while the writer holds one of their own upload places
/// ([`intake`]), and checked in memory once one of [`XORB_UPLOADS_AT_ONCE`]
/// slots is free. It must be a valid xorb whose chunks hash to `hash`;
/// otherwise nothing is stored (`InvalidInput`). A xorb the hub already
/// holds is not written again.
pub async fn upload_xorb(
    hub: &Hub,
    writer: &CasWriter,
    hash: &str,
    declared: Option<u64>,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<bool> {
    let claimed = XetHash::from_hex(hash)
        .ok_or_else(|| Error::invalid(format!("{hash:?} is not a Xet hash")))?;
    // `_place` is kept to the end: the upload holds its place throughout.
    let TakenIn { spooled, _place } =
        take_in(hub, writer, declared, body, xorb::MAX_XORB_BODY, "a xorb").await?;
    let _slot = XORB_SLOTS
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let body = spooled.into_bytes().await?;
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

/// An upload body taken in, and the uploader's place it holds.
struct TakenIn {
    spooled: intake::Spooled,
    _place: intake::Place,
}

/// Takes in an upload body of at most `limit` bytes for `writer` (see
/// [`intake`]): refused unread if `declared` longer, else spooled while
/// the writer holds one of their own places, which it keeps.
async fn take_in(
    hub: &Hub,
    writer: &CasWriter,
    declared: Option<u64>,
    body: impl Stream<Item = io::Result<Bytes>>,
    limit: usize,
    what: &str,
) -> Result<TakenIn> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::too_large(format!(
            "{what} has at most {limit} bytes"
        )));
    }
    let place = intake::place_for(writer.user.id).await;
    let spooled = intake::spool(
        &hub.config.data_dir.join("tmp").join("xet"),
        body,
        limit,
        hub.config.body_idle_timeout,
        what,
    )
    .await?;
    Ok(TakenIn {
        spooled,
        _place: place,
    })
}

/// What a shard upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardOutcome {
    /// Files rebuilt and stored (or linked) as LFS objects.
    pub files_stored: usize,
    /// Files the repo already had as LFS objects.
    pub files_present: usize,
}

/// Shard uploads parsed and rebuilt at once: a shard of up to 64 MiB and
/// what it parses into stay in memory while its files are rebuilt, so this
/// bounds that memory. As for xorbs, the slot is taken only once the body
/// has arrived.
pub const SHARD_UPLOADS_AT_ONCE: usize = 4;

static SHARD_SLOTS: Semaphore = Semaphore::const_new(SHARD_UPLOADS_AT_ONCE);

/// Checks every file of the shard `body` against its xorbs and records it
/// as an LFS object linked to `writer`'s repo, held as those xorbs.
///
/// The body is taken in as a xorb's is (see [`upload_xorb`]; at most
/// [`shard::MAX_SHARD_SIZE`] bytes), then parsed once one of
/// [`SHARD_UPLOADS_AT_ONCE`] slots is free.
///
/// Nothing is read before the whole shard is checked: it must parse, every
/// xorb it uses must be usable by the writer (see [`records`]) with the
/// chunk ranges and lengths it claims, and it must stay within [`limits`]
/// (`PayloadTooLarge`) and the writer's daily quota (`TooManyRequests`).
/// Then every file the repo lacks is rebuilt once only to hash it: a
/// sha256, length or Xet file hash other than the shard's fails the upload
/// (`InvalidInput`) with nothing written. Only then are their
/// reconstructions recorded: the xorbs are the only stored copy.
pub async fn upload_shard(
    hub: &Hub,
    writer: &CasWriter,
    declared: Option<u64>,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<ShardOutcome> {
    // `_place` is kept to the end: the upload holds its place throughout.
    let TakenIn { spooled, _place } = take_in(
        hub,
        writer,
        declared,
        body,
        shard::MAX_SHARD_SIZE,
        "a shard",
    )
    .await?;
    let _slot = SHARD_SLOTS
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let body = spooled.into_bytes().await?;
    rebuild_shard(hub, writer, &body).await
}

async fn rebuild_shard(hub: &Hub, writer: &CasWriter, body: &[u8]) -> Result<ShardOutcome> {
    let shard = shard::parse(body)?;
    let mut used: Vec<XetHash> = shard
        .files
        .iter()
        .flat_map(|f| f.terms.iter().map(|t| t.xorb))
        .collect();
    used.sort_unstable();
    used.dedup();
    let usable = records::usable(&hub.db, writer.repo.id, writer.user.id, &used).await?;
    // A file named twice is rebuilt once (the first description counts).
    let mut seen = HashSet::new();
    let files: Vec<&shard::ShardFile> = shard
        .files
        .iter()
        .filter(|f| seen.insert(f.sha256.as_str()))
        .collect();
    usable.check(&files)?;
    let xorbs = usable.layouts;
    let checked = limits::check(&files, &xorbs)?;
    let mut outcome = ShardOutcome::default();
    let mut missing = Vec::new();
    for (file, size) in files.into_iter().zip(checked.sizes) {
        if objects::linked_size(&hub.db, writer.repo.id, &file.sha256).await? == Some(size) {
            outcome.files_present += 1;
        } else {
            missing.push((file, reconstruct::plan(file, &xorbs)?));
        }
    }
    let rebuilt: u64 = missing.iter().map(|(_, p)| p.size).sum();
    limits::charge(&hub.db, writer.user.id, rebuilt, hub.config.xet_daily_bytes).await?;
    for (file, plan) in &missing {
        // hf_xet asks for files by this hash: a shard could name another
        // file's, so the hub serves a file under a hash only once it has
        // seen that the file's chunks give it.
        let hash = check_rebuilt(hub, plan).await?;
        if hash != file.file_hash {
            return Err(Error::invalid(format!(
                "file {} of the shard: its chunks give the Xet file hash {hash}, not {}",
                plan.sha256, file.file_hash
            )));
        }
    }
    // One stored copy: the xorbs are the file. Its reconstruction is
    // recorded first, so that the object is readable once it is linked.
    for (file, plan) in missing {
        files::record(
            &hub.db,
            writer.repo.id,
            &file.file_hash,
            &plan.sha256,
            plan.size,
            &file.terms,
        )
        .await?;
        store::link_chunked(hub, &writer.repo, &plan.sha256, plan.size).await?;
        outcome.files_stored += 1;
    }
    Ok(outcome)
}

/// Rebuilds `plan`'s file without writing it, checks its sha256 and length
/// against the shard's (a wrong shard must cost no writes), and returns
/// the Xet file hash of its chunks. Hashing runs on the blocking pool, a
/// read (a few MiB) at a time.
async fn check_rebuilt(hub: &Hub, plan: &reconstruct::Plan) -> Result<XetHash> {
    let mut bytes = std::pin::pin!(reconstruct::stream(
        hub.storage.store.clone(),
        xorb_path,
        plan.clone()
    ));
    let mut state = (Sha256::new(), Vec::<(XetHash, u64)>::new(), 0u64);
    let mut reads = plan.reads.iter();
    while let Some(piece) = bytes.next().await {
        let piece = piece.map_err(|e| Error::Internal(e.into()))?;
        let sizes = reads
            .next()
            .map(|r| r.chunk_sizes.clone())
            .unwrap_or_default();
        state = tokio::task::spawn_blocking(move || {
            let (mut sha, mut chunks, mut len) = state;
            sha.update(&piece);
            len += piece.len() as u64;
            let mut at = 0usize;
            for size in sizes {
                let end = (at + size as usize).min(piece.len());
                chunks.push((XetHash::of_chunk(&piece[at..end]), u64::from(size)));
                at = end;
            }
            (sha, chunks, len)
        })
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    }
    let (sha, chunks, len) = state;
    let sha256 = hex::encode(sha.finalize());
    if sha256 != plan.sha256 || len != plan.size {
        return Err(Error::invalid(format!(
            "file {} of the shard: its chunks rebuild to {len} bytes with sha256 {sha256}, \
             not the {} bytes with the sha256 the shard gives",
            plan.sha256, plan.size
        )));
    }
    Ok(XetHash::of_file(&chunks))
}
