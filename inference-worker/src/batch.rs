//! Batched decoding: the sequences of one loaded model decoded together.
//!
//! A model on our [`Decoder`](crate::decoder::Decoder) gets a thread that
//! runs all its sequences. New ones join at a step boundary (their prompt
//! runs in the same forward pass as the others' next token), finished and
//! cancelled ones leave, and each keeps its own KV cache, sampler, seed, stop
//! sequences and stream ([`Sequence`]). A step reads the weights once for
//! the whole batch, so throughput grows with the number of visitors instead
//! of each waiting for the one before. The batch is bounded by the worker's
//! setting and by a KV cache budget: a sequence joins only when the
//! positions it may take fit, so it never runs out of room half-way.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::{Result, anyhow};
use tokio::sync::oneshot;
use worker_protocol::{GenerationParams, Prompt};

use crate::decoder::KvCache;
use crate::generation::{Continue, GenerateOutput, Sequence, Step};
use crate::llm::TextModel;

/// How big a batch may grow.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sequences decoded together.
    pub max_batch: usize,
    /// Bytes of KV cache the sequences of one model may reserve together.
    pub kv_budget: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_batch: 16,
            kv_budget: 2 << 30,
        }
    }
}

/// Called for the start and every token; false stops the sequence (its own
/// only).
pub type OnStep = Box<dyn FnMut(Step) -> Continue + Send>;

struct Request {
    model: Arc<TextModel>,
    prompt: Prompt,
    params: GenerationParams,
    on_step: OnStep,
    reply: oneshot::Sender<Result<GenerateOutput>>,
}

/// The door to a model's decoding thread. Dropping it (with the model)
/// ends the thread once its sequences are done.
pub struct Batcher {
    requests: Sender<Request>,
    /// The largest batch run so far.
    peak: Arc<AtomicUsize>,
}

impl Batcher {
    pub fn start(limits: Limits) -> Batcher {
        let (requests, rx) = channel::<Request>();
        let peak = Arc::new(AtomicUsize::new(0));
        let largest = peak.clone();
        std::thread::Builder::new()
            .name("batch".into())
            .spawn(move || {
                // The model is held only while it has sequences.
                while let Ok(first) = rx.recv() {
                    let model = first.model.clone();
                    // A panic fails the sequences of the batch (their
                    // answers are dropped, the worker reports the jobs
                    // failed and the hub retries them), not the thread:
                    // the next request gets a fresh batch.
                    let served = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        serve(&model, first, &rx, limits, &largest)
                    }));
                    if served.is_err() {
                        tracing::error!("a batch panicked; its sequences failed");
                    }
                }
            })
            .expect("spawning the batch thread");
        Batcher { requests, peak }
    }

    /// The largest number of sequences decoded together so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Queues a generation on `model` (the model this batcher belongs to);
    /// the answer comes when it ends.
    pub fn submit(
        &self,
        model: Arc<TextModel>,
        prompt: Prompt,
        params: GenerationParams,
        on_step: OnStep,
    ) -> oneshot::Receiver<Result<GenerateOutput>> {
        let (reply, answer) = oneshot::channel();
        // A send fails only when the thread is gone; the receiver then
        // reports it.
        let _ = self.requests.send(Request {
            model,
            prompt,
            params,
            on_step,
            reply,
        });
        answer
    }

    pub async fn generate(
        &self,
        model: Arc<TextModel>,
        prompt: Prompt,
        params: GenerationParams,
        on_step: OnStep,
    ) -> Result<GenerateOutput> {
        self.submit(model, prompt, params, on_step)
            .await
            .map_err(|_| anyhow!("the model's decoding thread stopped"))?
    }
}

struct Running<'m> {
    sequence: Sequence<'m, OnStep>,
    cache: KvCache,
    /// What the next forward pass runs: the prompt, then one token.
    feed: Vec<u32>,
    started: bool,
    reserved: u64,
    reply: oneshot::Sender<Result<GenerateOutput>>,
}

/// Runs `model`'s sequences until none is left.
fn serve(
    model: &TextModel,
    first: Request,
    requests: &Receiver<Request>,
    limits: Limits,
    peak: &AtomicUsize,
) {
    let Some(decoder) = model.decoder() else {
        let _ = first
            .reply
            .send(Err(anyhow!("this model is not decoded in batches")));
        return;
    };
    let per_position = decoder.kv_bytes_per_position();
    let mut waiting = VecDeque::from([first]);
    let mut running: Vec<Running> = Vec::new();
    let mut reserved = 0u64;
    loop {
        waiting.extend(requests.try_iter());
        // Join, in order of arrival, while there is room.
        while running.len() < limits.max_batch.max(1) {
            let Some(request) = waiting.pop_front() else {
                break;
            };
            let sequence =
                match Sequence::new(model, &request.prompt, &request.params, request.on_step) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = request.reply.send(Err(e));
                        continue;
                    }
                };
            let need = sequence.max_positions() as u64 * per_position;
            if !running.is_empty() && reserved + need > limits.kv_budget {
                // Not now: it keeps its place at the head of the queue.
                let on_step = sequence.into_on_step();
                waiting.push_front(Request {
                    model: request.model,
                    prompt: request.prompt,
                    params: request.params,
                    on_step,
                    reply: request.reply,
                });
                break;
            }
            reserved += need;
            running.push(Running {
                feed: sequence.prompt().to_vec(),
                sequence,
                cache: KvCache::default(),
                started: false,
                reserved: need,
                reply: request.reply,
            });
        }
        if running.is_empty() {
            return;
        }
        peak.fetch_max(running.len(), Ordering::Relaxed);
        let mut batch: Vec<(&mut KvCache, &[u32])> = running
            .iter_mut()
            .map(|r| (&mut r.cache, r.feed.as_slice()))
            .collect();
        let logits = match decoder.forward(&mut batch) {
            Ok(logits) => logits,
            Err(e) => {
                let message = format!("{e:#}");
                for r in running.drain(..) {
                    let _ = r.reply.send(Err(anyhow!("{message}")));
                }
                reserved = 0;
                continue;
            }
        };
        let mut still = Vec::with_capacity(running.len());
        for (mut r, logits) in running.drain(..).zip(logits) {
            let next = if r.started {
                r.sequence.next(logits)
            } else {
                r.started = true;
                r.sequence.start(logits)
            };
            match next {
                Ok(Some(id)) => {
                    r.feed = vec![id];
                    still.push(r);
                }
                Ok(None) => {
                    reserved -= r.reserved;
                    let _ = r.reply.send(Ok(r.sequence.finish()));
                }
                Err(e) => {
                    reserved -= r.reserved;
                    let _ = r.reply.send(Err(e));
                }
            }
        }
        running = still;
    }
}
