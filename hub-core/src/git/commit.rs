//! The low half of the one commit path: turn a set of file operations into
//! one git commit on a branch and move the branch with a compare-and-swap
//! under git's own ref lock. Blocking (libgit2); see `crate::commits` for
//! the async entry point with permissions and the after-commit step.

use std::time::Duration;

use git2::build::TreeUpdateBuilder;
use git2::{ErrorCode, FileMode, ObjectType, Oid, Repository, Signature};

use crate::error::{Error, Message, Result};
use crate::lfs::rules::{LFS_SIZE_THRESHOLD, LfsPatterns, LfsPointer, pattern_line_for};

/// What a file's new content is.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// Plain git blob content (bounded by [`LFS_SIZE_THRESHOLD`]).
    Bytes(Vec<u8>),
    /// A blob already written to this repo's object database (bounded by
    /// [`LFS_SIZE_THRESHOLD`]): files staged from a stream go there as they
    /// arrive instead of into memory.
    Blob(Oid),
    /// An LFS object already stored and linked to the repo: the commit
    /// writes its pointer.
    Lfs(LfsPointer),
}

#[derive(Debug, Clone)]
pub enum Operation {
    Put { path: String, source: FileSource },
    Delete { path: String },
    DeleteFolder { path: String },
}

impl Operation {
    pub fn path(&self) -> &str {
        match self {
            Operation::Put { path, .. }
            | Operation::Delete { path }
            | Operation::DeleteFolder { path } => path,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// The full name of the ref the commit goes on (`refs/heads/main`,
    /// `refs/pr/3`).
    pub refname: String,
    /// When set, the ref must not exist yet: it is created, with the head
    /// of this ref (full name) as the commit's parent (a new pull request).
    pub create_from: Option<String>,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub operations: Vec<Operation>,
    /// When set, the commit is refused unless the branch head is still this commit.
    pub expected_parent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CommitOutcome {
    pub commit: String,
    pub parent: Option<String>,
}

/// How often a commit is rebuilt on a moved head before giving up. Each
/// retry means another writer landed, so this bounds only pathological
/// contention.
const MAX_ATTEMPTS: usize = 200;

/// Applies the operations (paths already normalised by the caller) as one
/// commit on top of the branch head, retrying on a concurrent ref update
/// unless an expected parent was given.
pub fn apply(repo: &Repository, req: &CommitRequest) -> Result<CommitOutcome> {
    super::enable_durability();
    let refname = req.refname.as_str();
    let short = short_name(refname);
    let expected = req
        .expected_parent
        .as_deref()
        .map(parse_commit_prefix)
        .transpose()?;
    // Blobs do not depend on the head: write them once, outside the retry loop.
    let blobs = write_blobs(repo, &req.operations)?;
    let sig = Signature::now(&req.author_name, &req.author_email)?;
    for attempt in 0..MAX_ATTEMPTS {
        let existing = branch_head(repo, refname)?;
        let head = match (&req.create_from, existing) {
            (None, Some(head)) => head,
            (None, None) => return Err(Error::RevisionNotFound(short.to_owned())),
            (Some(_), Some(_)) => {
                return Err(Error::conflict(format!("{refname} already exists")));
            }
            (Some(base), None) => branch_head(repo, base)?
                .ok_or_else(|| Error::RevisionNotFound(short_name(base).to_owned()))?,
        };
        if let Some(expected) = expected
            .as_ref()
            .filter(|e| !head.to_string().starts_with(e.as_str()))
        {
            return Err(parent_moved(expected.clone(), head));
        }
        let parent = repo.find_commit(head)?;
        let tree = build_tree(repo, &parent.tree()?, &req.operations, &blobs)?;
        let commit = repo.commit(
            None,
            &sig,
            &sig,
            &req.message,
            &repo.find_tree(tree)?,
            &[&parent],
        )?;
        let log = format!("commit: {}", req.message.lines().next().unwrap_or(""));
        let moved = match existing {
            Some(_) => repo.reference_matching(refname, commit, true, head, &log),
            // Created, never overwritten: a concurrent creator wins.
            None => repo.reference(refname, commit, false, &log),
        };
        match moved {
            Ok(_) => {
                return Ok(CommitOutcome {
                    commit: commit.to_string(),
                    parent: Some(head.to_string()),
                });
            }
            Err(e) if is_concurrent_update(&e) => {
                if existing.is_none() {
                    return Err(Error::conflict(format!("{refname} already exists")));
                }
                if let Some(expected) = expected.clone() {
                    let now = branch_head(repo, refname)?.unwrap_or(head);
                    return Err(parent_moved(expected, now));
                }
                // The lock of a writer that died holding it would refuse
                // every commit to this branch, on every node, for ever.
                if e.code() == ErrorCode::Locked {
                    super::locks::break_stale_ref_lock(repo.path(), refname)?;
                }
                // Another writer (API or push) moved the branch: rebuild on its head.
                std::thread::sleep(Duration::from_millis((attempt as u64 % 10) + 1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::conflict(
        "the branch is changing too fast; try again",
    ))
}

/// Replaces the history of `refname` (a branch, or a pull request's ref)
/// by one commit holding its head's tree (Hugging Face's super-squash: what
/// the old commits alone reached becomes garbage). Refused if the ref moves
/// meanwhile; returns the new commit.
pub fn squash(
    repo: &Repository,
    refname: &str,
    message: &str,
    author_name: &str,
    author_email: &str,
) -> Result<String> {
    super::enable_durability();
    let head = branch_head(repo, refname)?
        .ok_or_else(|| Error::RevisionNotFound(short_name(refname).to_owned()))?;
    let tree = repo.find_commit(head)?.tree()?;
    let sig = Signature::now(author_name, author_email)?;
    let commit = repo.commit(None, &sig, &sig, message, &tree, &[])?;
    match repo.reference_matching(refname, commit, true, head, "super-squash") {
        Ok(_) => Ok(commit.to_string()),
        Err(e) if is_concurrent_update(&e) => Err(Error::conflict(format!(
            "{} moved while its history was being squashed; try again",
            short_name(refname)
        ))),
        Err(e) => Err(e.into()),
    }
}

/// What merging a commit into a branch head does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePlan {
    /// The branch already holds every commit of the source.
    UpToDate,
    /// The branch has not moved since the source left it: move it forward.
    FastForward,
    /// A merge commit with this tree.
    Merge(Oid),
    /// Files both sides changed differently (sorted, each once).
    Conflicts(Vec<String>),
}

/// Plans merging `source` into `head` (three-way, from their merge base).
pub fn plan_merge(repo: &Repository, head: Oid, source: Oid) -> Result<MergePlan> {
    let base = repo.merge_base(head, source).ok();
    if base == Some(source) {
        return Ok(MergePlan::UpToDate);
    }
    if base == Some(head) {
        return Ok(MergePlan::FastForward);
    }
    let ours = repo.find_commit(head)?;
    let theirs = repo.find_commit(source)?;
    let mut index = repo.merge_commits(&ours, &theirs, None)?;
    if index.has_conflicts() {
        let mut files: Vec<String> = index
            .conflicts()?
            .filter_map(|c| c.ok())
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        files.sort_unstable();
        files.dedup();
        return Ok(MergePlan::Conflicts(files));
    }
    Ok(MergePlan::Merge(index.write_tree_to(repo)?))
}

#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The branch's new head: the merge commit, or the source itself.
    pub commit: String,
    pub fast_forward: bool,
    /// The branch's head before the merge (what a merged pull request's
    /// changes are shown against once they are on the branch).
    pub previous: String,
}

/// Merges `source` into the branch `refname`: a fast-forward when the
/// branch has not moved since the source left it, else a merge commit (by
/// `author`, with `message`), refused with `Conflict` naming the files both
/// sides changed. The ref moves by the same compare-and-swap as [`apply`]
/// (a concurrent writer makes it plan again on the new head).
pub fn merge(
    repo: &Repository,
    refname: &str,
    source: Oid,
    message: &str,
    author: (&str, &str),
) -> Result<MergeOutcome> {
    super::enable_durability();
    let sig = Signature::now(author.0, author.1)?;
    for attempt in 0..MAX_ATTEMPTS {
        let head = branch_head(repo, refname)?
            .ok_or_else(|| Error::RevisionNotFound(short_name(refname).to_owned()))?;
        let (new, fast_forward) = match plan_merge(repo, head, source)? {
            MergePlan::UpToDate => {
                return Ok(MergeOutcome {
                    commit: head.to_string(),
                    fast_forward: true,
                    previous: head.to_string(),
                });
            }
            MergePlan::FastForward => (source, true),
            MergePlan::Merge(tree) => {
                let (ours, theirs) = (repo.find_commit(head)?, repo.find_commit(source)?);
                let tree = repo.find_tree(tree)?;
                let commit = repo.commit(None, &sig, &sig, message, &tree, &[&ours, &theirs])?;
                (commit, false)
            }
            MergePlan::Conflicts(files) => {
                return Err(Error::conflict(
                    Message::coded(
                        "community.conflicts",
                        "This pull request has conflicts with {branch}: {files}. Update the pull request (merge or rebase it on {branch}) and try again.",
                    )
                    .with("branch", short_name(refname))
                    .with("files", files.join(", ")),
                ));
            }
        };
        match repo.reference_matching(refname, new, true, head, &format!("merge: {message}")) {
            Ok(_) => {
                return Ok(MergeOutcome {
                    commit: new.to_string(),
                    fast_forward,
                    previous: head.to_string(),
                });
            }
            Err(e) if is_concurrent_update(&e) => {
                if e.code() == ErrorCode::Locked {
                    super::locks::break_stale_ref_lock(repo.path(), refname)?;
                }
                std::thread::sleep(Duration::from_millis((attempt as u64 % 10) + 1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::conflict(
        "the branch is changing too fast; try again",
    ))
}

/// `main` for `refs/heads/main`, `refs/pr/3` as it is (as clients name it).
fn short_name(refname: &str) -> &str {
    refname.strip_prefix("refs/heads/").unwrap_or(refname)
}

/// An expected parent is a commit sha or a prefix of one (5 to 40 hex digits).
fn parse_commit_prefix(p: &str) -> Result<String> {
    let p = p.trim().to_ascii_lowercase();
    if !(5..=40).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(format!("bad parent commit '{p}'")));
    }
    Ok(p)
}

/// Hugging Face's wording first (its clients match it), then the detail.
fn parent_moved(expected: String, head: Oid) -> Error {
    Error::precondition(format!(
        "The branch was updated since you opened this page. Please refresh and try again. \
         (The branch head is {head}, not the expected parent commit {expected}.)"
    ))
}

fn is_concurrent_update(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Modified | ErrorCode::Locked | ErrorCode::Exists
    )
}

fn branch_head(repo: &Repository, refname: &str) -> Result<Option<Oid>> {
    match repo.find_reference(refname) {
        Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn write_blobs(repo: &Repository, ops: &[Operation]) -> Result<Vec<Option<Oid>>> {
    ops.iter()
        .map(|op| match op {
            Operation::Put {
                source: FileSource::Bytes(bytes),
                path,
            } => {
                if bytes.len() as u64 > LFS_SIZE_THRESHOLD {
                    return Err(too_large_for_git(path));
                }
                Ok(Some(repo.blob(bytes)?))
            }
            Operation::Put {
                source: FileSource::Blob(oid),
                path,
            } => {
                let (size, kind) = repo.odb()?.read_header(*oid)?;
                if kind != ObjectType::Blob {
                    return Err(Error::invalid(format!("{path}: {oid} is not a blob")));
                }
                if size as u64 > LFS_SIZE_THRESHOLD {
                    return Err(too_large_for_git(path));
                }
                Ok(Some(*oid))
            }
            Operation::Put {
                source: FileSource::Lfs(pointer),
                ..
            } => Ok(Some(repo.blob(pointer.to_text().as_bytes())?)),
            _ => Ok(None),
        })
        .collect()
}

fn too_large_for_git(path: &str) -> Error {
    Error::too_large(format!(
        "{path}: files over {} MB must be stored with Git LFS",
        LFS_SIZE_THRESHOLD / (1024 * 1024)
    ))
}

fn build_tree(
    repo: &Repository,
    base: &git2::Tree<'_>,
    ops: &[Operation],
    blobs: &[Option<Oid>],
) -> Result<Oid> {
    let mut update = TreeUpdateBuilder::new();
    let mut uncovered_lfs = Vec::new();
    let mut new_gitattributes = None;
    for (op, blob) in ops.iter().zip(blobs) {
        match op {
            Operation::Put { path, source } => {
                check_no_file_on_the_way(base, path)?;
                update.upsert(
                    path.as_str(),
                    blob.expect("puts have blobs"),
                    FileMode::Blob,
                );
                if path == ".gitattributes" {
                    new_gitattributes = match source {
                        FileSource::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        FileSource::Blob(oid) => Some(
                            String::from_utf8_lossy(repo.find_blob(*oid)?.content()).into_owned(),
                        ),
                        FileSource::Lfs(_) => None,
                    };
                }
                if matches!(source, FileSource::Lfs(_)) {
                    uncovered_lfs.push(path.as_str());
                }
            }
            // A file delete naming a folder deletes the folder, as on Hugging
            // Face (huggingface_hub sends `deletedFile` for
            // `CommitOperationDelete("dir")` without a trailing slash).
            Operation::Delete { path } => {
                match base.get_path(std::path::Path::new(path)) {
                    Ok(e) if matches!(e.kind(), Some(ObjectType::Blob | ObjectType::Tree)) => {}
                    _ => return Err(Error::EntryNotFound(path.clone())),
                }
                update.remove(path.as_str());
            }
            Operation::DeleteFolder { path } => {
                match base.get_path(std::path::Path::new(path)) {
                    Ok(e) if e.kind() == Some(ObjectType::Tree) => {}
                    _ => return Err(Error::EntryNotFound(path.clone())),
                }
                update.remove(path.as_str());
            }
        }
    }
    // A client that stored a file as LFS decided so; make sure clones agree by
    // covering the path in .gitattributes within the same commit.
    if !uncovered_lfs.is_empty() {
        let current = match new_gitattributes {
            Some(text) => text,
            None => match base.get_path(std::path::Path::new(".gitattributes")) {
                Ok(e) => String::from_utf8_lossy(repo.find_blob(e.id())?.content()).into_owned(),
                Err(_) => String::new(),
            },
        };
        let patterns = LfsPatterns::parse(&current);
        let missing: Vec<String> = uncovered_lfs
            .into_iter()
            .filter(|p| !patterns.matches(p))
            .map(pattern_line_for)
            .collect();
        if !missing.is_empty() {
            let mut text = current;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for line in missing {
                text.push_str(&line);
                text.push('\n');
            }
            update.upsert(
                ".gitattributes",
                repo.blob(text.as_bytes())?,
                FileMode::Blob,
            );
        }
    }
    Ok(update.create_updated(repo, base)?)
}

/// `a/b` cannot be written where `a` is a file (and `a` cannot replace a
/// folder): refuse with a clear message instead of a libgit2 error.
fn check_no_file_on_the_way(base: &git2::Tree<'_>, path: &str) -> Result<()> {
    let mut prefix = String::new();
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let last = i == parts.len() - 1;
        if let Ok(entry) = base.get_path(std::path::Path::new(&prefix)) {
            match (entry.kind(), last) {
                (Some(ObjectType::Blob), false) => {
                    return Err(Error::invalid(format!(
                        "cannot write {path}: {prefix} is a file"
                    )));
                }
                (Some(ObjectType::Tree), true) => {
                    return Err(Error::invalid(format!(
                        "cannot write {path}: it is a folder"
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        crate::git::init_repo(dir.path(), "t", "t@example.com", &[]).unwrap();
        let repo = Repository::open_bare(dir.path()).unwrap();
        (dir, repo)
    }

    fn add(path: &str) -> CommitRequest {
        CommitRequest {
            refname: "refs/heads/main".into(),
            create_from: None,
            message: format!("add {path}"),
            author_name: "t".into(),
            author_email: "t@example.com".into(),
            operations: vec![Operation::Put {
                path: path.into(),
                source: FileSource::Bytes(b"x".to_vec()),
            }],
            expected_parent: None,
        }
    }

    /// A ref lock as a writer killed between taking and releasing it leaves.
    fn leave_lock(repo: &Repository, age: Duration) -> std::path::PathBuf {
        let lock = repo.path().join("refs/heads/main.lock");
        let file = std::fs::File::create(&lock).unwrap();
        file.set_modified(SystemTime::now() - age).unwrap();
        lock
    }

    #[test]
    fn a_lock_left_by_a_dead_writer_does_not_block_the_branch() {
        let (_dir, repo) = repo();
        let lock = leave_lock(&repo, Duration::from_secs(600));
        let outcome = apply(&repo, &add("a.txt")).expect("the commit lands");
        assert!(!lock.exists());
        let head = repo.refname_to_id("refs/heads/main").unwrap();
        assert_eq!(head.to_string(), outcome.commit);
    }

    #[test]
    fn a_file_delete_naming_a_folder_deletes_the_folder() {
        let (_dir, repo) = repo();
        apply(&repo, &add("dir/a.txt")).unwrap();
        apply(&repo, &add("dir/sub/b.txt")).unwrap();
        apply(&repo, &add("dirx.txt")).unwrap();
        let mut delete = add("unused");
        delete.operations = vec![Operation::Delete { path: "dir".into() }];
        let outcome = apply(&repo, &delete).unwrap();
        let tree = repo
            .find_commit(Oid::from_str(&outcome.commit).unwrap())
            .unwrap()
            .tree()
            .unwrap();
        let names: Vec<_> = tree.iter().map(|e| e.name().unwrap().to_owned()).collect();
        assert!(!names.contains(&"dir".to_owned()), "{names:?}");
        assert!(names.contains(&"dirx.txt".to_owned()), "{names:?}");
        // A path that names nothing is still EntryNotFound.
        delete.operations = vec![Operation::Delete { path: "dir".into() }];
        assert!(matches!(
            apply(&repo, &delete),
            Err(Error::EntryNotFound(_))
        ));
    }

    fn write(path: &str, content: &[u8], refname: &str) -> CommitRequest {
        let mut req = add(path);
        req.refname = refname.into();
        req.operations = vec![Operation::Put {
            path: path.into(),
            source: FileSource::Bytes(content.to_vec()),
        }];
        req
    }

    #[test]
    fn a_new_ref_starts_from_its_base_and_is_never_overwritten() {
        let (_dir, repo) = repo();
        let base = apply(&repo, &add("a.txt")).unwrap().commit;
        let mut req = write("b.txt", b"b", "refs/pr/1");
        req.create_from = Some("refs/heads/main".into());
        let pr = apply(&repo, &req).unwrap();
        assert_eq!(pr.parent.as_deref(), Some(base.as_str()));
        assert!(matches!(apply(&repo, &req), Err(Error::Conflict(_))));
        // Without create_from, a missing ref is a missing revision.
        let missing = apply(&repo, &write("c.txt", b"c", "refs/pr/2"));
        assert!(
            matches!(missing, Err(Error::RevisionNotFound(_))),
            "{missing:?}"
        );
    }

    #[test]
    fn merges_fast_forward_merge_and_refuse_conflicts() {
        let (_dir, repo) = repo();
        apply(&repo, &write("a.txt", b"1\n2\n3\n", "refs/heads/main")).unwrap();
        let mut req = write("b.txt", b"b", "refs/pr/1");
        req.create_from = Some("refs/heads/main".into());
        let pr1 = Oid::from_str(&apply(&repo, &req).unwrap().commit).unwrap();
        let mut req = write("a.txt", b"one\n2\n3\n", "refs/pr/2");
        req.create_from = Some("refs/heads/main".into());
        let pr2 = Oid::from_str(&apply(&repo, &req).unwrap().commit).unwrap();
        let author = ("t", "t@example.com");

        // main has not moved: pull request 1 fast-forwards it.
        let head = repo.refname_to_id("refs/heads/main").unwrap();
        assert_eq!(
            plan_merge(&repo, head, pr1).unwrap(),
            MergePlan::FastForward
        );
        let merged = merge(&repo, "refs/heads/main", pr1, "merge 1", author).unwrap();
        assert!(merged.fast_forward);
        assert_eq!(merged.commit, pr1.to_string());
        assert_eq!(plan_merge(&repo, pr1, pr1).unwrap(), MergePlan::UpToDate);

        // Now main has moved: pull request 2 gets a merge commit with both parents.
        let merged = merge(&repo, "refs/heads/main", pr2, "merge 2", author).unwrap();
        assert!(!merged.fast_forward);
        let commit = repo
            .find_commit(Oid::from_str(&merged.commit).unwrap())
            .unwrap();
        assert_eq!(commit.parent_ids().collect::<Vec<_>>(), [pr1, pr2]);
        let tree = commit.tree().unwrap();
        assert!(tree.get_path(std::path::Path::new("b.txt")).is_ok());

        // Two changes to one line conflict: refused, naming the file, nothing moves.
        let mut req = write("a.txt", b"uno\n2\n3\n", "refs/pr/3");
        req.create_from = Some("refs/heads/main".into());
        let pr3 = Oid::from_str(&apply(&repo, &req).unwrap().commit).unwrap();
        apply(&repo, &write("a.txt", b"eins\n2\n3\n", "refs/heads/main")).unwrap();
        let before = repo.refname_to_id("refs/heads/main").unwrap();
        assert_eq!(
            plan_merge(&repo, before, pr3).unwrap(),
            MergePlan::Conflicts(vec!["a.txt".into()])
        );
        let refused = merge(&repo, "refs/heads/main", pr3, "merge 3", author).unwrap_err();
        assert!(
            matches!(&refused, Error::Conflict(m) if m.contains("a.txt")),
            "{refused:?}"
        );
        assert_eq!(repo.refname_to_id("refs/heads/main").unwrap(), before);
    }

    #[test]
    fn a_live_writers_lock_is_a_conflict_not_an_error() {
        let (_dir, repo) = repo();
        let lock = leave_lock(&repo, Duration::ZERO);
        let err = apply(&repo, &add("a.txt")).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        assert!(lock.exists(), "a fresh lock is left to its owner");
    }
}
