//! Following one job from its client's side: the events its worker stored
//! (whichever node received them), read from the table whenever a
//! `NOTIFY` for the job arrives. Dropping the watch before the job ended
//! cancels it: the client went away.
//!
//! A retried job starts its events over; generation is seeded, so the new
//! attempt produces the same tokens, and the ones the client already has are
//! skipped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use uuid::Uuid;

use super::{InferenceError, InferenceResult, Model, policy};
use crate::hub::Hub;
use crate::jobs::protocol::{EventBody, FinishReason, Token, Usage};
use crate::jobs::wake::{self, Wake};
use crate::jobs::{events, queue, state, workers};

/// What the client hears, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Waiting; `position` jobs are ahead.
    Queued {
        position: i64,
    },
    /// The worker is fetching or loading the model.
    Loading,
    Started {
        prompt_tokens: u32,
    },
    Token(Token),
    Finished {
        finish_reason: FinishReason,
        usage: Usage,
    },
    Embeddings {
        data: Vec<Vec<f32>>,
        usage: Usage,
    },
}

pub struct Watch {
    hub: Arc<Hub>,
    job: Uuid,
    model: Model,
    wakeups: broadcast::Receiver<Wake>,
    attempt: i32,
    next_seq: i64,
    tokens_this_attempt: usize,
    tokens_sent: usize,
    loading_sent: bool,
    started_sent: bool,
    last_position: Option<i64>,
    queue_deadline: Instant,
    next_worker_check: Instant,
    pending: VecDeque<Update>,
    done: bool,
}

impl Watch {
    pub(crate) fn new(
        hub: Arc<Hub>,
        job: Uuid,
        wakeups: broadcast::Receiver<Wake>,
        model: Model,
    ) -> Watch {
        let now = Instant::now();
        Watch {
            queue_deadline: now + hub.inference.policy.queue_wait,
            next_worker_check: now + Duration::from_secs(1),
            hub,
            job,
            model,
            wakeups,
            attempt: 0,
            next_seq: 0,
            tokens_this_attempt: 0,
            tokens_sent: 0,
            loading_sent: false,
            started_sent: false,
            last_position: None,
            pending: VecDeque::new(),
            done: false,
        }
    }

    pub fn job(&self) -> Uuid {
        self.job
    }

    /// The next update; `None` after the last one (or after an error).
    pub async fn next(&mut self) -> Option<InferenceResult<Update>> {
        loop {
            if let Some(update) = self.pending.pop_front() {
                return Some(Ok(update));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.poll().await {
                self.done = true;
                return Some(Err(e));
            }
            if self.pending.is_empty() && !self.done {
                let job = self.job;
                // The timeout is a safety net for lost notifications, and
                // the pace of the queue-wait and worker checks.
                wake::wait_for(&mut self.wakeups, Duration::from_secs(1), |w| {
                    w == Wake::Job(job)
                })
                .await;
            }
        }
    }

    /// Reads what is new for the job into `pending`.
    async fn poll(&mut self) -> InferenceResult<()> {
        let db = &self.hub.db;
        let view = events::view(db, self.job).await?;
        if view.attempt != self.attempt {
            self.attempt = view.attempt;
            self.next_seq = 0;
            self.tokens_this_attempt = 0;
            self.queue_deadline = Instant::now() + self.hub.inference.policy.queue_wait;
        }
        if self.attempt > 0 {
            for event in events::read(db, self.job, self.attempt, self.next_seq).await? {
                if event.seq as i64 != self.next_seq {
                    break; // a gap: the worker resends it
                }
                self.next_seq += 1;
                self.take(event.body)?;
                if self.done {
                    return Ok(());
                }
            }
        }
        match view.state.as_str() {
            state::QUEUED => self.while_queued(view.position.unwrap_or(0)).await,
            state::RUNNING | state::SUCCEEDED => Ok(()),
            state::FAILED => Err(InferenceError::Generation(
                view.last_error
                    .unwrap_or_else(|| "the model failed on this request".into()),
            )),
            state::DEAD => Err(InferenceError::Generation(format!(
                "the request failed after {} attempts: {}",
                view.attempt,
                view.last_error.unwrap_or_default()
            ))),
            _ => Err(InferenceError::Generation(
                "the request was cancelled".into(),
            )),
        }
    }

    fn take(&mut self, body: EventBody) -> InferenceResult<()> {
        match body {
            EventBody::Loading if !self.loading_sent => {
                self.loading_sent = true;
                self.pending.push_back(Update::Loading);
            }
            EventBody::Started { prompt_tokens } if !self.started_sent => {
                self.started_sent = true;
                self.pending.push_back(Update::Started { prompt_tokens });
            }
            EventBody::Token(token) => {
                self.tokens_this_attempt += 1;
                if self.tokens_this_attempt > self.tokens_sent {
                    self.tokens_sent += 1;
                    self.pending.push_back(Update::Token(token));
                }
            }
            EventBody::Finished {
                finish_reason,
                usage,
            } => {
                self.done = true;
                self.pending.push_back(Update::Finished {
                    finish_reason,
                    usage,
                });
            }
            EventBody::Embeddings { data, usage } => {
                self.done = true;
                self.pending.push_back(Update::Embeddings { data, usage });
            }
            EventBody::Failed {
                message,
                retryable: false,
            } => {
                self.done = true;
                return Err(InferenceError::Generation(message));
            }
            // A retryable failure: the job is queued again (or dead), as the state says.
            _ => {}
        }
        Ok(())
    }

    async fn while_queued(&mut self, position: i64) -> InferenceResult<()> {
        if self.last_position != Some(position) {
            self.last_position = Some(position);
            self.pending.push_back(Update::Queued { position });
        }
        if self.hub.wake.is_shutting_down()
            && queue::cancel_if_queued(&self.hub.db, self.job).await?
        {
            self.done = true;
            return Err(InferenceError::Unavailable(
                "the hub is restarting; try again".into(),
            ));
        }
        let now = Instant::now();
        if now >= self.queue_deadline && queue::cancel_if_queued(&self.hub.db, self.job).await? {
            self.done = true;
            return Err(policy::overloaded(
                "the request waited too long in the queue; try again shortly",
                Duration::from_secs(5),
            )
            .into());
        }
        if now >= self.next_worker_check {
            self.next_worker_check = now + Duration::from_secs(1);
            let m = &self.model;
            let alive = workers::can_serve(
                &self.hub.db,
                &self.hub.inference.jobs,
                &m.architecture,
                m.task,
                m.memory_bytes,
            )
            .await?;
            if !alive && queue::cancel_if_queued(&self.hub.db, self.job).await? {
                self.done = true;
                return Err(InferenceError::Unavailable(format!(
                    "no inference worker can serve {} any more",
                    m.repo_name()
                )));
            }
        }
        Ok(())
    }

    /// Follows the job to its end, for answers that are not streamed.
    pub async fn collect(mut self) -> InferenceResult<Collected> {
        let mut out = Collected::default();
        while let Some(update) = self.next().await {
            match update? {
                Update::Started { prompt_tokens } => out.prompt_tokens = prompt_tokens,
                Update::Token(token) => {
                    out.text.push_str(&token.text);
                    out.tokens.push(token);
                }
                Update::Finished {
                    finish_reason,
                    usage,
                } => {
                    out.finish_reason = Some(finish_reason);
                    out.usage = usage;
                }
                Update::Embeddings { data, usage } => {
                    out.embeddings = data;
                    out.usage = usage;
                }
                Update::Queued { .. } | Update::Loading => {}
            }
        }
        Ok(out)
    }
}

/// A whole answer.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub text: String,
    pub tokens: Vec<Token>,
    pub prompt_tokens: u32,
    pub finish_reason: Option<FinishReason>,
    pub usage: Usage,
    pub embeddings: Vec<Vec<f32>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The client went away before the end: free the worker.
        let (db, job) = (self.hub.db.clone(), self.job);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                match queue::cancel(&db, job).await {
                    Ok(true) => tracing::info!(%job, "client went away; job cancelled"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(%job, error = %e, "cannot cancel job"),
                }
            });
        }
    }
}
