//! Files whose bytes arrive whole, without a client-side plan: the upload
//! and edit pages of the browser. The server hashes them while it reads,
//! places each by the one LFS rule with the branch's `.gitattributes`
//! ([`staging`]), and commits them through the one commit path.
//!
//! A browser over plain http has no `crypto.subtle`, so it cannot send a
//! sha256 first as the LFS batch API wants; the server computes it instead.
//!
//! - [`staging`]: one file from a body to the LFS store or the git object
//!   database, spooled to disk, never whole in memory.
//! - [`browser`]: the upload page's streamed body (a manifest line, then the
//!   files), bounded and committed at once.
//! - [`editor`]: new, edit and delete of one file, each a commit that lands
//!   only on the branch tip the editor saw.

pub mod browser;
pub mod editor;
pub mod staging;

pub use staging::{Staging, lfs_patterns};

// The workflows' one way into the commit path.
use crate::commits::{NewCommit, Target, commit, commit_to};
