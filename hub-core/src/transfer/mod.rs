//! Air-gapped transfer: a repo written out as a self-describing bundle
//! directory (`hub export`), carried across on removable media, and loaded
//! into another hub (`hub import`) with the same commit ids and the same
//! bytes.
//!
//! A bundle directory holds:
//!
//! - `repo.bundle`: a git bundle of the exported branches and tags with
//!   their whole history;
//! - `lfs/<oid>`: every large file (LFS object) those refs reach, read
//!   back from the hub's storage whether it holds them as plain objects or
//!   as xorbs;
//! - `manifest.json` ([`manifest`]): format and version, the repo's type,
//!   id, visibility and default branch, every ref and its target, and every
//!   file above with its size and sha256.
//!
//! A file larger than the part size asked for is written as fixed-size
//! numbered parts (`lfs/<oid>.part-0001`, ...), each with its own size and
//! sha256 in the manifest, so that it fits on removable media.
//!
//! Export at a revision (`ns/name@rev`) writes a snapshot: the default
//! branch points at that revision, and the branches and tags whose commits
//! that revision's history holds come along; nothing newer does.
//!
//! Import checks everything before anything becomes visible: every part
//! and every whole file against the manifest, git's own check of the
//! bundle, the refs fetched against the manifest's, and that every LFS
//! object the history names is in the bundle with the size its pointer
//! gives. Only then is the repo created, hidden from everyone (see
//! [`crate::repos::manage::create_hidden`]), its objects stored through
//! the one upload path (`lfs::store::put_object`, which hashes them once
//! more), its refs, head and card recorded by the step every push ends in
//! (`repos::refs::after_commit`), and finally given its name in one step.
//! A failure on the way removes it again; what an import or export killed
//! half-way leaves (a hidden repo, a scratch directory) the next one
//! removes.

pub mod export;
pub mod files;
pub mod import;
pub mod manifest;

pub use export::export;
pub use import::import;
pub use manifest::Manifest;
