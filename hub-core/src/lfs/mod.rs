//! Git LFS: pointer files, `.gitattributes` patterns, and the one rule that
//! decides whether a file is stored as LFS or as a plain git blob; the
//! object records and which repo may read them; object bytes in the store;
//! the batch API's decisions, signed transfer links, and file locks.

pub mod batch;
pub mod gc;
pub mod locks;
pub mod objects;
pub mod rules;
pub mod signing;
pub mod store;
pub mod transfer;
