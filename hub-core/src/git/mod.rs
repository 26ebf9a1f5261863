//! Git storage: where each repo's bare repository lives, how it is created,
//! and durability settings. Reads are in [`read`], writes in [`commit`].

pub mod bundle;
pub mod commit;
pub mod handles;
pub mod hooks;
pub mod locks;
pub mod pushed;
pub mod read;
pub mod receive;
pub mod refs;
pub mod scan;
pub mod service;

use std::path::{Path, PathBuf};
use std::sync::Once;

use git2::{Repository, RepositoryInitOptions, Signature};

use crate::error::Result;
use crate::lfs::rules::DEFAULT_GITATTRIBUTES;

/// Where the bare repository of repo `id` lives. Laid out by the immutable
/// id (a rename moves nothing) and sharded two levels deep so no directory
/// ever holds more than a thousand entries.
pub fn repo_path(repos_dir: &Path, id: i64) -> PathBuf {
    repos_dir
        .join(format!("{:03}", (id / 1_000_000) % 1000))
        .join(format!("{:03}", (id / 1000) % 1000))
        .join(format!("{id}.git"))
}

/// libgit2 does not fsync by default; an acknowledged commit must survive a
/// crash, so objects and refs are synced to disk before anything is answered.
pub fn enable_durability() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(true);
        // SAFETY: a documented libgit2 option taking one int, set once before use.
        let rc = unsafe {
            libgit2_sys::git_libgit2_opts(
                libgit2_sys::GIT_OPT_ENABLE_FSYNC_GITDIR as std::ffi::c_int,
                1 as std::ffi::c_int,
            )
        };
        assert!(rc >= 0, "libgit2 refused to enable fsync");
    });
}

pub fn open(path: &Path) -> Result<Repository> {
    Ok(Repository::open_bare(path)?)
}

/// Creates an empty bare repository whose HEAD names `default_branch`,
/// configured as every repo of the hub is (see [`init_repo`]).
pub fn init_bare(path: &Path, default_branch: &str) -> Result<Repository> {
    enable_durability();
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).initial_head(default_branch).mkpath(true);
    let repo = Repository::init_opts(path, &opts)?;
    {
        let mut config = repo.config()?;
        // Served over HTTP by `git http-backend`-style processes we start ourselves.
        config.set_bool("http.receivepack", true)?;
        config.set_bool("receive.fsckObjects", true)?;
        // For pushes through the real git: sync objects and refs like we do.
        config.set_str("core.fsync", "all")?;
    }
    Ok(repo)
}

/// Creates the bare repository with a first commit on `main` holding the
/// `.gitattributes` Hugging Face puts in new repos, and `files` (a new
/// Space's README).
pub fn init_repo(
    path: &Path,
    author_name: &str,
    author_email: &str,
    files: &[(&str, &[u8])],
) -> Result<String> {
    let repo = init_bare(path, "main")?;
    let blob = repo.blob(DEFAULT_GITATTRIBUTES.as_bytes())?;
    let mut tree = repo.treebuilder(None)?;
    tree.insert(".gitattributes", blob, 0o100644)?;
    for (name, content) in files {
        tree.insert(name, repo.blob(content)?, 0o100644)?;
    }
    let tree = repo.find_tree(tree.write()?)?;
    let sig = Signature::now(author_name, author_email)?;
    let commit = repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "initial commit",
        &tree,
        &[],
    )?;
    Ok(commit.to_string())
}
