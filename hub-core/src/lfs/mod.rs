//! Git LFS: pointer files, `.gitattributes` patterns, and the one rule that
//! decides whether a file is stored as LFS or as a plain git blob.

pub mod rules;
