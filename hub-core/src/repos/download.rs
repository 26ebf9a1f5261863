//! Serving a file download, the same for every API family (Hugging Face's
//! `resolve`, ModelScope's file endpoint): which file a path names at a
//! commit and what identifies it (size, ETag, sha256), its bytes or a range
//! of them, and whether the request counts as a download of the repo
//! ([`counters`]: per client and window). The routes only parse the request
//! and render their family's headers around what this answers.

use std::ops::Range;

use super::access::Authorized;
use super::access::level::Level;
use super::content::{self, ByteStream, TreeEntry};
use super::counters::{self, Downloader};
use crate::error::Result;
use crate::hub::Hub;

/// A file found at a commit, ready to be served.
#[derive(Debug, Clone)]
pub struct Download {
    /// The commit it was found at (40 hex digits).
    pub commit: String,
    pub entry: TreeEntry,
}

impl Download {
    pub fn path(&self) -> &str {
        &self.entry.path
    }

    /// The size of what is sent: the LFS object's for LFS files.
    pub fn size(&self) -> u64 {
        self.entry.content_size()
    }

    /// The LFS object's sha256, for LFS files.
    pub fn lfs_oid(&self) -> Option<&str> {
        self.entry.lfs.as_ref().map(|p| p.oid.as_str())
    }

    /// The ETag Hugging Face clients expect: the LFS object's sha256, else
    /// the git blob id.
    pub fn etag(&self) -> &str {
        self.lfs_oid().unwrap_or(&self.entry.oid)
    }

    /// The last path segment, safe inside a quoted `Content-Disposition`.
    pub fn file_name(&self) -> String {
        let path = self.path();
        path.rsplit('/')
            .next()
            .unwrap_or(path)
            .replace(['"', '\\'], "_")
    }

    /// The sha256 of the content (ModelScope's ETag): the LFS oid, or the
    /// git blob's, computed once and remembered.
    pub async fn sha256(&self, hub: &Hub, repo: &Authorized<impl Level>) -> Result<String> {
        if let Some(oid) = self.lfs_oid() {
            return Ok(oid.to_owned());
        }
        let oid = self.entry.oid.clone();
        Ok(content::blob_sha256s(hub, repo, vec![oid.clone()])
            .await?
            .remove(&oid)
            .unwrap_or_default())
    }

    /// Whether sending `range` (`None`: all) of this file counts as a
    /// download: a counted file ([`counters::counts_as_download`]) fetched
    /// from its start, so that a client resuming or fetching in parts
    /// counts once.
    pub fn counts(&self, range: Option<&Range<u64>>) -> bool {
        range.is_none_or(|r| r.start == 0) && counters::counts_as_download(self.path())
    }
}

/// The file at `path` in `commit` (already resolved): `EntryNotFound` when
/// there is none.
pub async fn find(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    path: &str,
) -> Result<Download> {
    let entry = content::file_at(hub, repo, commit, path).await?;
    Ok(Download {
        commit: commit.to_owned(),
        entry,
    })
}

/// The bytes of `download` (or of `range`, which must lie inside it), after
/// counting the download for `counted_for` when the request is one (see
/// [`Download::counts`]); `None`: the route says this request never counts.
pub async fn body(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    download: &Download,
    range: Option<Range<u64>>,
    counted_for: Option<&Downloader>,
) -> Result<ByteStream> {
    if let Some(client) = counted_for
        && download.counts(range.as_ref())
    {
        hub.downloads.record(&hub.db, repo.id, client).await?;
    }
    content::read(hub, repo, &download.entry, range).await
}
