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
//! Xorbs are the one stored copy of every large file. A file uploaded
//! through Xet is recorded as its reconstruction once its sha256 and Xet
//! hash are checked; one uploaded as a plain LFS object is cut with hf_xet's
//! chunker ([`chunking`]) into new xorbs of the chunks the hub lacks
//! ([`ingest`], in the background), and its plain copy dropped. Either way
//! it is still an LFS object by sha256 for commits, links and LFS garbage
//! collection; [`gc`] then frees reconstructions and xorbs nothing uses.
//!
//! The read path: [`files`] records how each file of a repo is made of
//! xorb chunks (under its Xet hash, found from its sha256), [`reconstruction`] answers
//! hf_xet's query for a byte range of a file, [`range_link`] signs the
//! links its fetches use, and [`read`] is what the read routes call.
//!
//! Clients dedupe against what the hub holds by asking [`dedupe`] about a
//! chunk; it answers within the same scope [`records`] lets a shard use.

pub mod cas;
pub mod chunking;
pub mod dedupe;
pub mod files;
pub mod gc;
pub mod hash;
pub mod ingest;
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
