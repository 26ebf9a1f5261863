//! Hosted Spaces on the runner.

pub mod tunnel;
