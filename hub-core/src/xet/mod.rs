//! Xet, write-only: what `huggingface_hub` 2.x with `hf_xet` needs to upload.
//!
//! The formats are small self-contained modules: [`hash`] (Xet hash strings,
//! chunk and xorb hashes), [`xorb`] (chunk containers, decoding), [`shard`]
//! (file reconstructions), [`reconstruct`] (rebuilding a file from stored
//! chunks), [`token`] (the signed CAS credential). [`records`] keeps the
//! stored xorbs and who may use them; [`limits`] bounds what a shard may
//! make the hub rebuild, [`intake`] how upload bodies are taken in; [`cas`]
//! is what the routes call.
//!
//! Uploaded files end up as ordinary LFS objects (checked by sha256), so
//! commits, downloads and garbage collection of files work as for LFS.
//! Xorbs are kept for dedupe and are not garbage collected yet.

pub mod cas;
pub mod chunking;
pub mod files;
pub mod gc;
pub mod hash;
pub mod ingest;
pub mod intake;
pub mod limits;
pub mod reconstruct;
pub mod records;
pub mod shard;
pub mod token;
pub mod xorb;
