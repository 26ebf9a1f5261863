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

/// One generation in progress: sampling, the streamed text, stop sequences
/// and why it ended, whatever runs the model ([`generate`] alone, or
/// [`crate::batch`] with other sequences). It is fed the logits of its last
/// position and answers the token to run next.
pub struct Sequence<'m, F> {
    model: &'m TextModel,
    on_step: F,
    sampler: Sampler,
    stream: TextStream<'m>,
    stops: StopSequences,
    prompt: Vec<u32>,
    context: Vec<u32>,
    tokens: Vec<u32>,
    text: String,
    budget: usize,
    finish_reason: Option<FinishReason>,
    started: Instant,
}

impl<'m, F: FnMut(Step) -> Continue> Sequence<'m, F> {
    /// The prompt's tokens are checked here (errors are [`BadRequest`]s).
    pub fn new(
        model: &'m TextModel,
        prompt: &Prompt,
        params: &GenerationParams,
        on_step: F,
    ) -> Result<Self> {
        let prompt = prompt_tokens(model, prompt)?;
        Ok(Sequence {
            // The context window bounds the output too.
            budget: (params.max_new_tokens as usize).min(model.max_positions - prompt.len()),
            model,
            on_step,
            sampler: Sampler::new(params, model.usable_vocab),
            stream: TextStream::new(&model.tokenizer),
            stops: StopSequences::new(&params.stop),
            context: prompt.clone(),
            prompt,
            tokens: Vec::new(),
            text: String::new(),
            finish_reason: None,
            started: Instant::now(),
        })
    }

    pub fn prompt(&self) -> &[u32] {
        &self.prompt
    }

    /// Positions the prompt and the output may take together.
    pub fn max_positions(&self) -> usize {
        self.prompt.len() + self.budget
    }

    /// The prompt has run and `logits` are its last position's: reports
    /// the start, then takes the first token. None: nothing more to run.
    pub fn start(&mut self, logits: Vec<f32>) -> Result<Option<u32>> {
        let prompt_tokens = self.prompt.len() as u32;
        if !(self.on_step)(Step::Started { prompt_tokens }) {
            return Ok(None);
        }
        if self.budget == 0 {
            self.finish_reason = Some(FinishReason::Length);
            return Ok(None);
        }
        self.next(logits)
    }

    /// Samples the next token from the logits of the last one, reports it,
    /// and answers it when the model should run it (None: finished, or
    /// the callback said stop).
    pub fn next(&mut self, logits: Vec<f32>) -> Result<Option<u32>> {
        let (id, logprob) = self.sampler.next(logits, &self.context)?;
        self.tokens.push(id);
        self.context.push(id);
        let eos = self.model.eos_token_ids.contains(&id);
        let last = eos || self.tokens.len() == self.budget;
        let mut piece = self.stream.push(id)?;
        if last {
            piece.push_str(&self.stream.flush()?);
        }
        let (piece, stopped) = self.stops.push(&piece, last);
        self.text.push_str(&piece);
        let go_on = (self.on_step)(Step::Token(Token {
            id,
            text: piece,
            logprob,
            special: self.model.is_special(id),
        }));
        self.finish_reason = if stopped {
            Some(FinishReason::StopSequence)
        } else if eos {
            Some(FinishReason::EosToken)
        } else if !go_on {
            None
        } else if self.tokens.len() == self.budget {
            Some(FinishReason::Length)
        } else {
            return Ok(Some(id));
        };
        Ok(None)
    }

    /// Where the token [`Sequence::next`] answered goes.
    pub fn position(&self) -> usize {
        self.context.len() - 1
    }

    /// The callback back, for a sequence that did not start.
    pub fn into_on_step(self) -> F {
        self.on_step
    }

    pub fn finish(self) -> GenerateOutput {
        GenerateOutput {
            usage: Usage {
                prompt_tokens: self.prompt.len() as u32,
                generated_tokens: self.tokens.len() as u32,
                device_ms: self.started.elapsed().as_millis() as u64,
            },
            prompt_tokens: self.prompt,
            tokens: self.tokens,
            text: self.text,
            finish_reason: self.finish_reason,
        }
    }
}

/// Runs one generation on `model` alone, calling `on_step` for the start
/// and for every token.
pub fn generate(
    model: &TextModel,
    prompt: &Prompt,
    params: &GenerationParams,
    on_step: impl FnMut(Step) -> Continue,
) -> Result<GenerateOutput> {
    let mut sequence = Sequence::new(model, prompt, params, on_step)?;
    let mut lm = model.session()?;
    let mut next = sequence.start(lm.forward(sequence.prompt(), 0)?)?;
    while let Some(id) = next {
        next = sequence.next(lm.forward(&[id], sequence.position())?)?;
    }
    Ok(sequence.finish())
}

/// Stop sequences over streamed text: text that could be the start of a
/// stop sequence is held back until it is known not to be one, and the
/// stop sequence itself is never sent.
struct StopSequences {
    stops: Vec<String>,
    held: String,
}

impl StopSequences {
    fn new(stops: &[String]) -> StopSequences {
        StopSequences {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
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
