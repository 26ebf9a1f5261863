//! Xet: what `huggingface_hub` 2.x with `hf_xet` needs to upload, and to
//! download files in parallel chunked ranges.
//!
//! The formats are small self-contained modules: [`hash`] (Xet hash strings,
//! chunk and xorb hashes), [`xorb`] (chunk containers, decoding), [`shard`]
//! (file reconstructions), [`reconstruct`] (rebuilding a file from stored
//! chunks), [`token`] (the signed CAS credential). [`records`] keeps the
//! stored xorbs and who may use them; [`limits`] bounds what a shard may
//! make the hub rebuild, [`intake`] how upload bodies are taken in; [`cas`]
//! is what the upload routes call.
//!
//! Uploaded files end up as ordinary LFS objects (checked by sha256), so
//! commits, downloads and garbage collection of files work as for LFS.
//! Xorbs are kept for dedupe and are not garbage collected yet.
//!
//! The read path: [`files`] records how each file of a repo is made of
//! xorb chunks (under its Xet hash, found from its sha256), [`reconstruction`] answers
//! hf_xet's query for a byte range of a file, [`range_link`] signs the
//! links its fetches use, and [`read`] is what the read routes call.

pub mod cas;
pub mod files;
pub mod hash;
pub mod intake;
pub mod limits;
pub mod range_link;
pub mod read;
pub mod reconstruct;
pub mod reconstruction;
pub mod records;
pub mod shard;
pub mod token;
pub mod xorb;
