//! Staging one whole file for a commit: read exactly its declared size from
//! a body, place it by the one LFS rule ([`should_use_lfs`]) with the
//! branch's `.gitattributes`, and store it where it goes — the LFS store
//! (linked to the repo) or the repo's own git object database — before the
//! commit, which then only names it.
//!
//! Every file is spooled through a temporary file inside the data dir, never
//! held in memory: a browser upload may carry a thousand files of 10 MB, and
//! the memory of one upload must not grow with them. The spool is an
//! unnamed file, gone when staging ends (or the process dies).

use std::io::SeekFrom;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::error::{Error, Message, Result};
use crate::git::commit::{FileSource, Operation};
use crate::git::{self, read};
use crate::hub::Hub;
use crate::lfs::rules::{
    BINARY_SNIFF_LEN, LFS_SIZE_THRESHOLD, LfsPatterns, LfsPointer, should_use_lfs,
};
use crate::lfs::store;
use crate::paths::normalize_repo_path;
use crate::repos::Repo;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

/// Read size when spooling.
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

/// Stages the files of one commit on a branch whose tip is known: write
/// access is checked once, the LFS patterns are read once.
pub struct Staging<'a> {
    hub: &'a Hub,
    repo: &'a Repo,
    patterns: LfsPatterns,
}

impl<'a> Staging<'a> {
    /// Staging for a commit on top of `tip`, by a participant: where the
    /// commit may go (a branch takes write access, a pull request less) is
    /// the commit path's to decide; staged objects are the caller's own
    /// bytes, linked to the repo as a pull request's uploads are.
    pub async fn new(hub: &'a Hub, repo: &'a Authorized<impl Level>, tip: &str) -> Result<Self> {
        repo.participant()?;
        let patterns = lfs_patterns(hub, repo, tip).await?;
        Ok(Staging {
            hub,
            repo: repo.repo(),
            patterns,
        })
    }

    /// Reads exactly `size` bytes of the file at `path` from `body` and
    /// returns the operation that commits them: a blob now in the repo's
    /// object database, or an LFS pointer to an object now stored and linked
    /// to the repo. Fails when the body ends early (the commit then names
    /// nothing that was stored).
    pub async fn file(
        &self,
        path: &str,
        size: u64,
        body: &mut (impl AsyncRead + Unpin),
    ) -> Result<Operation> {
        let path = normalize_repo_path(path)?;
        // The rule needs only the start of the file: decide before reading the rest.
        let head_len = size.min(BINARY_SNIFF_LEN as u64) as usize;
        let mut head = vec![0u8; head_len];
        body.read_exact(&mut head)
            .await
            .map_err(|e| short_body(&path, e))?;
        let lfs = should_use_lfs(&self.patterns, &path, size, &head);
        if !lfs && size > LFS_SIZE_THRESHOLD {
            // A git control file must stay a blob, and blobs are bounded.
            return Err(Error::invalid(
                Message::coded(
                    "upload.not_for_lfs",
                    "{path} is larger than {max} bytes and cannot be stored in LFS",
                )
                .with("path", &path)
                .with("max", LFS_SIZE_THRESHOLD),
            ));
        }
        let mut hasher = lfs.then(Sha256::new);
        let mut spool = Spool::create(self.hub)?;
        spool.write(&head, hasher.as_mut()).await?;
        let mut left = size - head_len as u64;
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
            spool.write(&buf[..n], hasher.as_mut()).await?;
            left -= n as u64;
        }
        let source = match hasher {
            Some(hasher) => {
                let oid = hex::encode(hasher.finalize());
                let stream =
                    tokio_util::io::ReaderStream::with_capacity(spool.rewind().await?, CHUNK);
                store::put_object(self.hub, self.repo, &oid, size, stream).await?;
                FileSource::Lfs(LfsPointer { oid, size })
            }
            None => FileSource::Blob(spool.into_git_blob(self.hub, self.repo, size).await?),
        };
        Ok(Operation::Put { path, source })
    }
}

/// A file's bytes on their way to storage.
struct Spool(tokio::fs::File);

impl Spool {
    /// An unnamed temporary file inside the data dir, so that spooling lands
    /// on the disk that holds the objects, not on a small `/tmp`.
    fn create(hub: &Hub) -> Result<Spool> {
        let dir = hub.config.data_dir.join("tmp").join("uploads");
        std::fs::create_dir_all(&dir)?;
        Ok(Spool(tokio::fs::File::from_std(tempfile::tempfile_in(
            dir,
        )?)))
    }

    async fn write(&mut self, bytes: &[u8], hasher: Option<&mut Sha256>) -> Result<()> {
        if let Some(hasher) = hasher {
            hasher.update(bytes);
        }
        Ok(self.0.write_all(bytes).await?)
    }

    /// The spooled bytes, from the start.
    async fn rewind(mut self) -> Result<tokio::fs::File> {
        self.0.flush().await?;
        self.0.seek(SeekFrom::Start(0)).await?;
        Ok(self.0)
    }

    /// Streams the spooled bytes into the repo's object database as one
    /// blob of `size` bytes (libgit2 deflates to disk as it goes).
    async fn into_git_blob(self, hub: &Hub, repo: &Repo, size: u64) -> Result<git2::Oid> {
        let mut file = self.rewind().await?.into_std().await;
        let path = hub.repo_dir(repo.id);
        let size = usize::try_from(size).map_err(|_| Error::invalid("file too large"))?;
        tokio::task::spawn_blocking(move || {
            git::enable_durability();
            let g = git::open(&path)?;
            let odb = g.odb()?;
            let mut writer = odb.writer(size, git2::ObjectType::Blob)?;
            std::io::copy(&mut file, &mut writer)?;
            Ok(writer.finalize()?)
        })
        .await?
    }
}

fn short_body(path: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return Error::invalid(
            Message::coded("upload.stalled", "the upload of {path} stalled: {detail}")
                .with("path", path)
                .with("detail", e),
        );
    }
    Error::invalid(
        Message::coded(
            "upload.ended_early",
            "the upload of {path} ended early: {detail}",
        )
        .with("path", path)
        .with("detail", e),
    )
}
