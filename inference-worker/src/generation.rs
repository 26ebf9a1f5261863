//! The generation loop: prompt → tokens, prefill, then one token at a time
//! with the KV cache, streaming each token's text as it is produced, until
//! EOS, a stop sequence or `max_new_tokens`.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use worker_protocol::{FinishReason, GenerationParams, Prompt, Token, Usage};

use crate::llm::TextModel;
use crate::sampling::Sampler;
use crate::text_stream::TextStream;

/// Errors that are the request's fault (the client gets them; retrying on
/// another worker would not help).
#[derive(Debug)]
pub struct BadRequest(pub String);

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadRequest {}

/// What the loop reports as it goes.
pub enum Step {
    Started { prompt_tokens: u32 },
    Token(Token),
}

/// Whether to go on (false: the job was cancelled).
pub type Continue = bool;

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOutput {
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    /// None when the callback stopped the loop.
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
}

/// The prompt's token ids: chat messages go through the chat template.
pub fn prompt_tokens(model: &TextModel, prompt: &Prompt) -> Result<Vec<u32>> {
    let ids = match prompt {
        Prompt::Text(text) => model.encode(text, true)?,
        Prompt::Chat(messages) => {
            let template = model.chat_template.as_ref().ok_or_else(|| {
                BadRequest("this model has no chat template (tokenizer_config.json)".into())
            })?;
            let text = template
                .render(messages)
                .map_err(|e| BadRequest(e.to_string()))?;
            model.encode(&text, false)?
        }
    };
    if ids.is_empty() {
        return Err(BadRequest("the prompt is empty".into()).into());
    }
    if ids.len() >= model.max_positions {
        return Err(BadRequest(format!(
            "the prompt has {} tokens; this model takes at most {}",
            ids.len(),
            model.max_positions - 1
        ))
        .into());
    }
    Ok(ids)
}

/// Runs one generation on `model`, calling `on_step` for the start and for
/// every token.
pub fn generate(
    model: &TextModel,
    prompt: &Prompt,
    params: &GenerationParams,
    mut on_step: impl FnMut(Step) -> Continue,
) -> Result<GenerateOutput> {
    let prompt_ids = prompt_tokens(model, prompt)?;
    let started = Instant::now();
    let mut lm = model.session()?;
    let mut sampler = Sampler::new(params, model.usable_vocab);
    let mut stream = TextStream::new(&model.tokenizer);
    let mut stops = StopSequences::new(&params.stop);
    let mut context = prompt_ids.clone();
    let mut tokens = Vec::new();
    let mut text = String::new();
    // The context window bounds the output too.
    let budget = (params.max_new_tokens as usize).min(model.max_positions - prompt_ids.len());

    let mut logits = lm.forward(&prompt_ids, 0)?;
    let prompt_tokens = prompt_ids.len() as u32;
    let mut finish_reason = None;
    if on_step(Step::Started { prompt_tokens }) {
        while tokens.len() < budget {
            let (id, logprob) = sampler.next(logits, &context)?;
            tokens.push(id);
            context.push(id);
            let eos = model.eos_token_ids.contains(&id);
            let last = eos || tokens.len() == budget;
            let mut piece = stream.push(id)?;
            if last {
                piece.push_str(&stream.flush()?);
            }
            let (piece, stopped) = stops.push(&piece, last);
            text.push_str(&piece);
            let go_on = on_step(Step::Token(Token {
                id,
                text: piece,
                logprob,
                special: model.is_special(id),
            }));
            if stopped {
                finish_reason = Some(FinishReason::StopSequence);
                break;
            }
            if eos {
                finish_reason = Some(FinishReason::EosToken);
                break;
            }
            if !go_on {
                break;
            }
            if tokens.len() == budget {
                finish_reason = Some(FinishReason::Length);
                break;
            }
            logits = lm.forward(&[id], context.len() - 1)?;
        }
        if budget == 0 {
            finish_reason = Some(FinishReason::Length);
        }
    }
    Ok(GenerateOutput {
        prompt_tokens: prompt_ids,
        usage: Usage {
            prompt_tokens,
            generated_tokens: tokens.len() as u32,
            device_ms: started.elapsed().as_millis() as u64,
        },
        tokens,
        text,
        finish_reason,
    })
}

/// Stop sequences over streamed text: text that could be the start of a
/// stop sequence is held back until it is known not to be one, and the
/// stop sequence itself is never sent.
struct StopSequences<'a> {
    stops: Vec<&'a str>,
    held: String,
}

impl<'a> StopSequences<'a> {
    fn new(stops: &'a [String]) -> StopSequences<'a> {
        StopSequences {
            stops: stops
                .iter()
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect(),
            held: String::new(),
        }
    }

    /// Adds `piece`; returns the text to send now and whether a stop
    /// sequence was reached. `last`: nothing follows, release what is held.
    fn push(&mut self, piece: &str, last: bool) -> (String, bool) {
        if self.stops.is_empty() {
            return (piece.to_string(), false);
        }
        self.held.push_str(piece);
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s)).min() {
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        if last {
            return (std::mem::take(&mut self.held), false);
        }
        // Keep the longest tail that is a prefix of some stop sequence.
        let keep_from = self
            .held
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.starts_with(tail))
            })
            .unwrap_or(self.held.len());
        let out = self.held[..keep_from].to_string();
        self.held.drain(..keep_from);
        (out, false)
    }
}

/// In-process greedy (or seeded) generation on a checkpoint directory, for
/// tests and benchmarks: the same code path the worker runs for a job.
pub fn generate_local(
    model_dir: &Path,
    prompt: &Prompt,
    params: &GenerationParams,
) -> Result<GenerateOutput> {
    let model = TextModel::load(model_dir, &Device::Cpu)?;
    generate(&model, prompt, params, |_| true)
}

/// Greedy parameters with `max_new_tokens`.
pub fn greedy(max_new_tokens: u32) -> GenerationParams {
    GenerationParams {
        max_new_tokens,
        temperature: None,
        top_p: None,
        top_k: None,
        repetition_penalty: None,
        seed: 0,
        stop: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequences_are_held_back_and_not_sent() {
        let stops = vec!["END".to_string()];
        let mut s = StopSequences::new(&stops);
        assert_eq!(s.push("abc E", false), ("abc ".to_string(), false));
        assert_eq!(s.push("N", false), (String::new(), false));
        assert_eq!(s.push("Dxyz", false), (String::new(), true));
        let mut s = StopSequences::new(&stops);
        assert_eq!(s.push("E", false), (String::new(), false));
        assert_eq!(s.push("x", false), ("Ex".to_string(), false));
        assert_eq!(s.push("EN", true), ("EN".to_string(), false));
    }
}
