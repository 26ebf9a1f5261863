//! Paid fine-tuning: the rules of training data, its token counts, and what
//! a finished job publishes.

pub mod card;
pub mod dataset;
pub mod tokens;
