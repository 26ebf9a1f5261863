//! Kaiyuan Hub's domain: every rule and all storage, no HTTP types.
//! The `web` crate parses requests, calls one function here, and renders.

pub mod accounts;
pub mod billing;
pub mod bounded;
pub mod cards;
pub mod commits;
pub mod community;
pub mod config;
pub mod dataset_preview;
pub mod db;
pub mod error;
pub mod finetune;
pub mod gguf;
pub mod git;
pub mod gitignore;
pub mod highlight;
pub mod hub;
pub mod idle_timeout;
pub mod inference;
pub mod jobs;
pub mod lfs;
pub mod markdown;
pub mod mirror;
pub mod names;
pub mod paths;
pub mod repos;
pub mod search;
pub mod secret;
pub mod spaces;
pub mod storage;
pub mod tensors;
pub mod text;
pub mod transfer;
pub mod uploads;
pub mod wildmatch;
pub mod xet;

pub use error::{Error, Result};
pub use hub::Hub;
