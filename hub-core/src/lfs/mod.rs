//! Git LFS: pointer files, `.gitattributes` patterns, and the one rule that
//! decides whether a file is stored as LFS or as a plain git blob; the
//! object records and which repo may read them.

pub mod objects;
pub mod rules;
