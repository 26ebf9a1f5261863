//! Choosing the next token: greedy, or seeded sampling (reproducible for a
//! seed) with temperature, top-k, top-p; repetition penalty; the logprob of
//! the choice.

use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use worker_protocol::GenerationParams;

pub struct Sampler {
    processor: Option<LogitsProcessor>,
    repetition_penalty: Option<f32>,
    /// Ids at or above this are padding rows of the embedding matrix that
    /// the tokenizer cannot decode; they are never chosen.
    usable_vocab: usize,
}

impl Sampler {
    pub fn new(params: &GenerationParams, usable_vocab: usize) -> Sampler {
        let temperature = params.temperature.filter(|t| *t > 0.0);
        let processor = temperature.map(|temperature| {
            let k = params.top_k.filter(|k| *k > 0).map(|k| k as usize);
            let p = params.top_p.filter(|p| *p > 0.0 && *p < 1.0);
            let sampling = match (k, p) {
                (None, None) => Sampling::All { temperature },
                (Some(k), None) => Sampling::TopK { k, temperature },
                (None, Some(p)) => Sampling::TopP { p, temperature },
                (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
            };
            LogitsProcessor::from_sampling(params.seed, sampling)
        });
        Sampler {
            processor,
            repetition_penalty: params.repetition_penalty.filter(|p| *p != 1.0 && *p > 0.0),
            usable_vocab,
        }
    }

    /// Picks the next token from the last position's logits; `context` is
    /// every token so far (for the repetition penalty). Returns the token
    /// and its log-probability under the (penalised) distribution.
    pub fn next(&mut self, mut logits: Vec<f32>, context: &[u32]) -> Result<(u32, f32)> {
        for l in logits.iter_mut().skip(self.usable_vocab) {
            *l = f32::NEG_INFINITY;
        }
        if let Some(penalty) = self.repetition_penalty {
            let mut seen = std::collections::HashSet::new();
            for &id in context {
                if seen.insert(id)
                    && let Some(l) = logits.get_mut(id as usize)
                {
                    if *l >= 0.0 {
                        *l /= penalty
                    } else {
                        *l *= penalty
                    }
                }
            }
        }
        let id = match &mut self.processor {
            None => argmax(&logits),
            Some(processor) => {
                let n = logits.len();
                processor.sample(&Tensor::from_vec(logits.clone(), n, &Device::Cpu)?)?
            }
        };
        Ok((id, log_softmax_at(&logits, id as usize)))
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

fn log_softmax_at(logits: &[f32], i: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    logits[i] - max - sum.ln()
}
