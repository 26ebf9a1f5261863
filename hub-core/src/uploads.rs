//! Files whose bytes arrive whole, without a client-side plan (the upload
//! and edit pages of the browser): the server hashes them while it reads,
//! places each by the one LFS rule ([`should_use_lfs`]) with the branch's
//! `.gitattributes`, and hands back the commit operation. The commit itself
//! goes through [`crate::commits::commit`] like every other one.
//!
//! A browser over plain http has no `crypto.subtle`, so it cannot send a
//! sha256 first as the LFS batch API wants; the server computes it instead.
//! Large files are spooled to a temporary file (never held in memory) and
//! then streamed into the LFS store, which verifies the hash again.

use std::io::SeekFrom;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::git::commit::{FileSource, Operation};
use crate::git::{self, read};
use crate::hub::Hub;
use crate::lfs::rules::{LFS_SIZE_THRESHOLD, LfsPatterns, LfsPointer, should_use_lfs};
use crate::lfs::store;
use crate::paths::normalize_repo_path;
use crate::repos::access::Authorized;
use crate::repos::access::level::{Level, Writes};

/// Read size when spooling a large file.
const CHUNK: usize = 1 << 20;

/// The LFS patterns of `.gitattributes` at `commit`.
pub async fn lfs_patterns(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
) -> Result<LfsPatterns> {
    let (path, commit) = (hub.repo_dir(repo.id), commit.to_owned());
    tokio::task::spawn_blocking(move || {
        let g = git::open(&path)?;
        let oid = read::resolve_revision(&g, &commit)?;
        let text = read::read_file(&g, oid, ".gitattributes")?.unwrap_or_default();
        Ok(LfsPatterns::parse(&String::from_utf8_lossy(&text)))
    })
    .await?
}

/// Reads exactly `size` bytes of the file at `path` from `body` and returns
/// the operation that commits them: a plain blob, or an LFS pointer to an
/// object now stored and linked to `repo`. Fails (storing nothing) when the
/// body ends early. Needs write access to `repo`.
pub async fn stage_file(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    patterns: &LfsPatterns,
    path: &str,
    size: u64,
    body: &mut (impl AsyncRead + Unpin),
) -> Result<Operation> {
    let path = normalize_repo_path(path)?;
    if size <= LFS_SIZE_THRESHOLD {
        let mut bytes = vec![0u8; size as usize];
        body.read_exact(&mut bytes)
            .await
            .map_err(|e| short_body(&path, e))?;
        let source = if should_use_lfs(patterns, &path, size, &bytes) {
            let oid = hex::encode(Sha256::digest(&bytes));
            let once = futures::stream::once(async move { Ok(Bytes::from(bytes)) });
            store::put_object(hub, repo, &oid, size, once).await?;
            FileSource::Lfs(LfsPointer { oid, size })
        } else {
            FileSource::Bytes(bytes)
        };
        return Ok(Operation::Put { path, source });
    }
    // Larger than the threshold: always LFS, unless it is a git control
    // file, which must stay a blob and cannot be that large.
    if !should_use_lfs(patterns, &path, size, &[]) {
        return Err(Error::invalid(format!(
            "{path} is larger than {LFS_SIZE_THRESHOLD} bytes and cannot be stored in LFS"
        )));
    }
    let spool = tempfile::tempfile_in(spool_dir(hub)?)?;
    let mut spool = tokio::fs::File::from_std(spool);
    let mut hasher = Sha256::new();
    let mut left = size;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = body
            .read(&mut buf[..want])
            .await
            .map_err(|e| short_body(&path, e))?;
        if n == 0 {
            return Err(short_body(&path, std::io::ErrorKind::UnexpectedEof.into()));
        }
        hasher.update(&buf[..n]);
        spool.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    spool.flush().await?;
    spool.seek(SeekFrom::Start(0)).await?;
    let oid = hex::encode(hasher.finalize());
    let stream = tokio_util::io::ReaderStream::with_capacity(spool, CHUNK);
    store::put_object(hub, repo, &oid, size, stream).await?;
    Ok(Operation::Put {
        path,
        source: FileSource::Lfs(LfsPointer { oid, size }),
    })
}

/// Where large uploads are spooled: inside the data dir, so they land on
/// the disk that holds the objects, not on a small `/tmp`.
fn spool_dir(hub: &Hub) -> Result<std::path::PathBuf> {
    let dir = hub.config.data_dir.join("tmp").join("uploads");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn short_body(path: &str, e: std::io::Error) -> Error {
    Error::invalid(format!("the upload of {path} ended early: {e}"))
}
