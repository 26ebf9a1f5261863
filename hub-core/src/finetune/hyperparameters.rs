//! A job's hyperparameters: what a request may set (OpenAI's three, each
//! a number or `"auto"`, and our LoRA fields) and the numbers a run
//! trains with.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jobs::protocol::TrainHyperparameters;

/// A hyperparameter as OpenAI takes it: `"auto"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(untagged)]
pub enum Auto<T> {
    #[default]
    #[serde(skip)]
    Unset,
    Value(T),
    Word(AutoWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWord {
    Auto,
}

impl<T: Copy> Auto<T> {
    fn or(self, default: T) -> T {
        match self {
            Auto::Value(v) => v,
            _ => default,
        }
    }
}

/// The hyperparameters a request may set (`method.supervised.hyperparameters`,
/// or the deprecated top-level `hyperparameters`), with our LoRA fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    #[serde(default)]
    pub n_epochs: Auto<u32>,
    #[serde(default)]
    pub batch_size: Auto<u32>,
    #[serde(default)]
    pub learning_rate_multiplier: Auto<f64>,
    #[serde(default, alias = "lora_r")]
    pub r: Option<u32>,
    #[serde(default, alias = "lora_alpha")]
    pub alpha: Option<f64>,
    #[serde(default, alias = "lora_dropout")]
    pub dropout: Option<f64>,
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
}

/// LoRA learning rate that a multiplier of 1 stands for.
pub const BASE_LEARNING_RATE: f64 = 2e-4;

/// "auto" made numbers, and the ranges checked: what a job trains with,
/// for `examples` examples (the seed chosen when none is given).
pub fn resolve(h: &Requested, seed: Option<u64>, examples: u64) -> Result<TrainHyperparameters> {
    let n_epochs = h.n_epochs.or(3);
    // OpenAI's auto batch grows with the data; small data, small batches.
    let batch_size = h.batch_size.or((examples / 50).clamp(1, 8) as u32);
    let multiplier = h.learning_rate_multiplier.or(1.0);
    let r = h.r.unwrap_or(8);
    let alpha = h.alpha.unwrap_or(f64::from(r) * 2.0);
    let dropout = h.dropout.unwrap_or(0.05);
    let target_modules = h
        .target_modules
        .clone()
        .unwrap_or_else(|| vec!["q_proj".into(), "v_proj".into()]);
    let bad = |what: &str| Err(Error::invalid(format!("hyperparameters: {what}")));
    if !(1..=50).contains(&n_epochs) {
        return bad("n_epochs is between 1 and 50");
    }
    if !(1..=256).contains(&batch_size) {
        return bad("batch_size is between 1 and 256");
    }
    if !(multiplier.is_finite() && multiplier > 0.0 && multiplier <= 1000.0) {
        return bad("learning_rate_multiplier is above 0 and at most 1000");
    }
    if !(1..=256).contains(&r) {
        return bad("r is between 1 and 256");
    }
    if !(alpha.is_finite() && alpha > 0.0 && alpha <= 4096.0) {
        return bad("alpha is above 0 and at most 4096");
    }
    if !(dropout.is_finite() && (0.0..1.0).contains(&dropout)) {
        return bad("dropout is at least 0 and below 1");
    }
    let plain = |m: &String| {
        !m.is_empty()
            && m.len() <= 64
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if target_modules.is_empty() || target_modules.len() > 32 || !target_modules.iter().all(plain) {
        return bad("target_modules is 1 to 32 module names (q_proj, v_proj, ...; or all-linear)");
    }
    Ok(TrainHyperparameters {
        n_epochs,
        batch_size,
        learning_rate: BASE_LEARNING_RATE * multiplier,
        seed: seed.unwrap_or_else(|| rand::random::<u32>().into()),
        lora_r: r,
        lora_alpha: alpha,
        lora_dropout: dropout,
        target_modules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_hyperparameters_follow_the_data() {
        let h = resolve(&Requested::default(), Some(7), 20).unwrap();
        assert_eq!((h.n_epochs, h.batch_size, h.seed), (3, 1, 7));
        assert_eq!(h.learning_rate, BASE_LEARNING_RATE);
        assert_eq!((h.lora_r, h.lora_alpha), (8, 16.0));
        assert_eq!(h.target_modules, ["q_proj", "v_proj"]);
        let big = resolve(&Requested::default(), Some(7), 10_000).unwrap();
        assert_eq!(big.batch_size, 8);
        let asked: Requested = serde_json::from_value(serde_json::json!({
            "n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5, "r": 16,
        }))
        .unwrap();
        let h = resolve(&asked, Some(7), 100).unwrap();
        assert_eq!(
            (h.n_epochs, h.batch_size, h.lora_r, h.lora_alpha),
            (2, 2, 16, 32.0)
        );
        assert_eq!(h.learning_rate, BASE_LEARNING_RATE * 0.5);
    }

    #[test]
    fn hostile_hyperparameters_are_refused() {
        for bad in [
            serde_json::json!({ "n_epochs": 0 }),
            serde_json::json!({ "batch_size": 100_000 }),
            serde_json::json!({ "learning_rate_multiplier": -1.0 }),
            serde_json::json!({ "dropout": 1.0 }),
            serde_json::json!({ "target_modules": ["q_proj; rm -rf /"] }),
            serde_json::json!({ "target_modules": [] }),
        ] {
            let asked: Requested = serde_json::from_value(bad.clone()).unwrap();
            assert!(resolve(&asked, Some(7), 50).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<Requested>(serde_json::json!({ "n_epochs": "many" })).is_err()
        );
        assert!(serde_json::from_value::<Requested>(serde_json::json!({ "bogus": 1 })).is_err());
    }
}
