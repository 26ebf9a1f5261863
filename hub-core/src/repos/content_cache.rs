//! What the hot read routes (small-file resolve, repo info) would otherwise
//! read from git on every request, kept in bounded memory: a file's entry at
//! a commit, a folder's listing at a commit, a small blob's bytes, and what
//! the model page learns from a `.gguf` file's first bytes.
//!
//! Every key holds a commit or blob id, and what a commit or blob id names
//! never changes, so nothing here is ever stale or invalidated. What does
//! change — which commit a branch or tag names — is never cached: each
//! request resolves its revision in git ([`super::content::resolve`]), on
//! whichever node it lands, so a push is seen at once. Keys also hold the
//! repo id: an entry is only ever found again through the repo it was read
//! from, after that request's access check, so no caller reads another
//! repo's content through the cache (and a private repo's content is never
//! reached without the check that refuses outsiders).

use std::sync::Arc;

use bytes::Bytes;
use git2::Oid;

use super::content::TreeEntry;
use crate::bounded::BoundedMap;

/// Blobs up to this size are kept (configs, tokenizer configs, cards).
pub const MAX_CACHED_BLOB: usize = 1 << 20;

/// Memory budgets (bytes, approximate for entries and listings).
const ENTRY_BUDGET: usize = 8 << 20;
const LISTING_BUDGET: usize = 16 << 20;
const BLOB_BUDGET: usize = 32 << 20;
const GGUF_BUDGET: usize = 1 << 20;

/// What one [`TreeEntry`] costs beyond its path, roughly (ids, sizes, the
/// LFS pointer, the map's own overhead).
const ENTRY_OVERHEAD: usize = 200;

/// A listing's key: repo, commit, folder, recursive.
type ListingKey = (i64, Oid, String, bool);

pub struct ContentCache {
    /// The file at a path in a commit; `None`: no file there.
    entries: BoundedMap<(i64, Oid, String), Option<TreeEntry>>,
    listings: BoundedMap<ListingKey, Arc<Vec<TreeEntry>>>,
    blobs: BoundedMap<(i64, String), Bytes>,
    /// A `.gguf` file's quantisation by the blob id of its LFS pointer
    /// (which names the content); `None`: its first bytes do not say.
    gguf_quantizations: BoundedMap<(i64, String), Option<String>>,
}

impl Default for ContentCache {
    fn default() -> ContentCache {
        ContentCache {
            entries: BoundedMap::new(ENTRY_BUDGET),
            listings: BoundedMap::new(LISTING_BUDGET),
            blobs: BoundedMap::new(BLOB_BUDGET),
            gguf_quantizations: BoundedMap::new(GGUF_BUDGET),
        }
    }
}

impl ContentCache {
    pub fn entry(&self, repo_id: i64, commit: Oid, path: &str) -> Option<Option<TreeEntry>> {
        self.entries.get(&(repo_id, commit, path.to_owned()))
    }

    pub fn keep_entry(&self, repo_id: i64, commit: Oid, path: String, entry: Option<TreeEntry>) {
        let weight = 2 * path.len() + ENTRY_OVERHEAD;
        self.entries.insert((repo_id, commit, path), entry, weight);
    }

    pub fn listing(
        &self,
        repo_id: i64,
        commit: Oid,
        folder: &str,
        recursive: bool,
    ) -> Option<Arc<Vec<TreeEntry>>> {
        self.listings
            .get(&(repo_id, commit, folder.to_owned(), recursive))
    }

    pub fn keep_listing(
        &self,
        repo_id: i64,
        commit: Oid,
        folder: String,
        recursive: bool,
        entries: Arc<Vec<TreeEntry>>,
    ) {
        let weight = entries
            .iter()
            .map(|e| e.path.len() + ENTRY_OVERHEAD)
            .sum::<usize>()
            + folder.len();
        self.listings
            .insert((repo_id, commit, folder, recursive), entries, weight);
    }

    /// A plain blob's bytes, by its id in repo `repo_id`.
    pub fn blob(&self, repo_id: i64, oid: &str) -> Option<Bytes> {
        self.blobs.get(&(repo_id, oid.to_owned()))
    }

    pub fn keep_blob(&self, repo_id: i64, oid: String, bytes: Bytes) {
        if bytes.len() <= MAX_CACHED_BLOB {
            let weight = bytes.len() + oid.len() + 64;
            self.blobs.insert((repo_id, oid), bytes, weight);
        }
    }

    pub fn gguf_quantization(&self, repo_id: i64, oid: &str) -> Option<Option<String>> {
        self.gguf_quantizations.get(&(repo_id, oid.to_owned()))
    }

    pub fn keep_gguf_quantization(&self, repo_id: i64, oid: String, quantization: Option<String>) {
        let weight = oid.len() + quantization.as_ref().map_or(0, String::len) + 64;
        self.gguf_quantizations
            .insert((repo_id, oid), quantization, weight);
    }
}
