//! Open repositories kept for reuse by the reads. Opening a bare repository
//! (its config, its object database and pack indexes) cost more than the
//! small reads the hot routes then make, once per read.
//!
//! A kept handle never answers stale: libgit2 reads a loose ref's file on
//! every look-up and reloads `packed-refs` when its stamp (mtime, size,
//! inode) changes, so a ref moved by this process, another node or `git
//! push` is seen at once; an object missing from the packs it knows makes
//! it rescan the object directory. What a handle caches beyond that are
//! objects by id, which never change.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Mutex, Once};

use git2::Repository;

use crate::error::Result;

/// Idle handles kept, over all repos (each holds a few file descriptors
/// and mapped pack windows).
const MAX_IDLE: usize = 64;
/// Idle handles kept per repo: about the number of reads of one repo that
/// run at once on the blocking pool.
const MAX_IDLE_PER_REPO: usize = 8;
/// libgit2's object cache, shared by every handle (its default is 256 MiB);
/// commits and trees only, which is what listings walk.
const OBJECT_CACHE_BYTES: isize = 32 << 20;

#[derive(Default)]
pub struct Handles {
    idle: Mutex<Idle>,
}

#[derive(Default)]
struct Idle {
    by_repo: HashMap<i64, Vec<Repository>>,
    /// Repo ids in the order their handles were returned (one per handle),
    /// to drop the least recently used first.
    order: VecDeque<i64>,
    count: usize,
}

impl Handles {
    /// Runs `f` with an open handle of repo `repo_id` at `path`: a kept one
    /// or a new one, kept afterwards if there is room. Blocking: call it
    /// off the async executor.
    pub fn with<T>(
        &self,
        repo_id: i64,
        path: &Path,
        f: impl FnOnce(&Repository) -> Result<T>,
    ) -> Result<T> {
        limit_object_cache();
        let kept = {
            let mut guard = self.idle.lock().expect("git handles poisoned");
            let idle = &mut *guard;
            let handle = idle.by_repo.get_mut(&repo_id).and_then(Vec::pop);
            if handle.is_some() {
                idle.count -= 1;
                if let Some(pos) = idle.order.iter().rposition(|id| *id == repo_id) {
                    idle.order.remove(pos);
                }
            }
            handle
        };
        let handle = match kept {
            Some(h) => h,
            None => super::open(path)?,
        };
        let out = f(&handle);
        // A handle whose repo vanished under it (deleted) is not kept.
        if out.is_ok() || path.is_dir() {
            self.give_back(repo_id, handle);
        }
        out
    }

    fn give_back(&self, repo_id: i64, handle: Repository) {
        let mut guard = self.idle.lock().expect("git handles poisoned");
        let idle = &mut *guard;
        let per_repo = idle.by_repo.entry(repo_id).or_default();
        if per_repo.len() >= MAX_IDLE_PER_REPO {
            return;
        }
        per_repo.push(handle);
        idle.order.push_back(repo_id);
        idle.count += 1;
        while idle.count > MAX_IDLE {
            let Some(oldest) = idle.order.pop_front() else {
                break;
            };
            if let Some(handles) = idle.by_repo.get_mut(&oldest) {
                // The bottom of the stack is the one used least recently.
                if !handles.is_empty() {
                    handles.remove(0);
                    idle.count -= 1;
                }
                if handles.is_empty() {
                    idle.by_repo.remove(&oldest);
                }
            }
        }
    }

    /// Drops the kept handles of repo `repo_id` (when it is deleted).
    pub fn forget(&self, repo_id: i64) {
        let mut guard = self.idle.lock().expect("git handles poisoned");
        let idle = &mut *guard;
        if let Some(handles) = idle.by_repo.remove(&repo_id) {
            idle.count -= handles.len();
            idle.order.retain(|id| *id != repo_id);
        }
    }

    /// Handles kept now.
    pub fn idle(&self) -> usize {
        self.idle.lock().expect("git handles poisoned").count
    }
}

/// Long-lived handles keep what libgit2 caches: bounded, once per process.
fn limit_object_cache() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a documented libgit2 option taking one size, set once.
        if let Err(e) = unsafe { git2::opts::set_cache_max_size(OBJECT_CACHE_BYTES) } {
            tracing::warn!(error = %e, "cannot bound libgit2's object cache");
        }
    });
}
