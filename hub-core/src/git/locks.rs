//! Ref lock files that a dead process left behind.
//!
//! Git and libgit2 take a ref's lock by creating `<ref>.lock` exclusively
//! and release it by renaming it over the ref. A process killed in between
//! — a hub node SIGKILLed mid-commit, a `git receive-pack` killed because
//! its client went away — leaves the lock file, and neither git nor libgit2
//! ever removes one: every later write of that ref, from any node, fails
//! ("File exists") until someone does. A live writer holds a ref lock for
//! the few milliseconds of writing and syncing 41 bytes, so a lock older
//! than [`STALE_AFTER`] is taken for a dead one's and removed. (Its age is
//! the file's modification time against this node's clock: nodes and the
//! file server must agree on the time within seconds, as NTP keeps them.)
//!
//! Breakers on several nodes take turns under an advisory lock on a file of
//! the repository (`flock`, which NFSv4 and cluster file systems honour
//! across machines), and look again under it, so that two of them can never
//! both remove "the" stale lock when the second would remove a fresh one
//! taken in between.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a lock file must be to count as a dead process's.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The file breakers lock while they look, in the repository's own folder.
const BREAKER_LOCK: &str = "hub-lock-breaker";

/// Removes the lock file of `refname` (e.g. `refs/heads/main`) when it is
/// stale; returns whether it did.
pub fn break_stale_ref_lock(git_dir: &Path, refname: &str) -> std::io::Result<bool> {
    let lock = git_dir.join(format!("{refname}.lock"));
    Ok(!break_stale(git_dir, &[lock])?.is_empty())
}

/// Removes every stale lock of the repository's refs (`refs/**/*.lock`,
/// `packed-refs.lock`, `HEAD.lock`) and returns those it removed. Run
/// before a push, which would otherwise fail on one.
pub fn break_stale_locks(git_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut locks = vec![git_dir.join("packed-refs.lock"), git_dir.join("HEAD.lock")];
    let mut folders = vec![git_dir.join("refs")];
    while let Some(folder) = folders.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                locks.push(path);
            }
        }
    }
    break_stale(git_dir, &locks)
}

/// Removes those of `locks` that are stale, under the breakers' lock.
fn break_stale(git_dir: &Path, locks: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let now = SystemTime::now();
    if !locks.iter().any(|l| is_stale(l, now)) {
        return Ok(Vec::new()); // the usual case: nothing to do, no file locked
    }
    let guard = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(git_dir.join(BREAKER_LOCK))?;
    guard.lock()?;
    let mut removed = Vec::new();
    for lock in locks {
        // Again under the breakers' lock: another breaker may have removed
        // it, and a live writer may hold a fresh one by now.
        if is_stale(lock, SystemTime::now()) {
            match std::fs::remove_file(lock) {
                Ok(()) => {
                    tracing::warn!(lock = %lock.display(), "removed a stale git lock file");
                    removed.push(lock.clone());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

fn is_stale(lock: &Path, now: SystemTime) -> bool {
    std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| {
            now.duration_since(modified)
                .is_ok_and(|age| age > STALE_AFTER)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_file(path: &Path, age: Duration) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(path).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn only_old_locks_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("refs/heads/main.lock");
        let nested = dir.path().join("refs/tags/v1/x.lock");
        let fresh = dir.path().join("refs/heads/dev.lock");
        let packed = dir.path().join("packed-refs.lock");
        lock_file(&old, Duration::from_secs(3600));
        lock_file(&nested, Duration::from_secs(3600));
        lock_file(&packed, Duration::from_secs(3600));
        lock_file(&fresh, Duration::from_secs(1));
        let mut removed = break_stale_locks(dir.path()).unwrap();
        removed.sort();
        assert_eq!(removed, vec![packed, old.clone(), nested]);
        assert!(fresh.exists(), "a live writer's lock stays");
        assert!(!break_stale_ref_lock(dir.path(), "refs/heads/dev").unwrap());
        assert!(!break_stale_ref_lock(dir.path(), "refs/heads/main").unwrap());
        assert!(break_stale_locks(dir.path()).unwrap().is_empty());
    }
}
