//! The worker's loops: register, heartbeat (renewing leases, honouring
//! `cancel` and `reregister`), claim by long-poll, run each job on a
//! blocking thread and stream its events to the hub.
//!
//! Nothing here exits on a transient error: a hub that is down or
//! restarting is retried with backoff, and a hub that forgot the session
//! gets a new registration (which releases the old session's jobs on the
//! hub, so the worker stops them too).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc};
use uuid::Uuid;
use worker_protocol::{
    Capabilities, ClaimRequest, Device as DeviceCaps, DeviceKind, EmbedInput, Event, EventBody,
    EventsAck, GenerateInput, Heartbeat, Job, JobInput, NDJSON, RegisterRequest, SPACE_PREFIX,
    SpacesCapability, TRAIN_PREFIX, Task,
};

use crate::batch::Limits;
use crate::client::{HubClient, UnknownSession};
use crate::files::{ModelCache, NotServable};
use crate::finetune::{FineTuneConfig, FineTuner, TRAIN_ARCHITECTURES};
use crate::generation::{BadRequest, GenerateOutput, Step, generate};
use crate::models::{Loaded, ModelRegistry};
use crate::spaces::{Apps, Spaces, SpacesConfig};

/// The hardware classes a Spaces runner offers, as architectures
/// (`space:cpu-basic`; a GPU runner also `space:gpu`).
fn space_classes(kind: DeviceKind) -> Vec<String> {
    let mut classes = vec![format!("{SPACE_PREFIX}cpu-basic")];
    if kind == DeviceKind::Cuda {
        classes.push(format!("{SPACE_PREFIX}gpu"));
    }
    classes
}

pub struct WorkerConfig {
    pub hub: String,
    pub token: String,
    pub device: String,
    pub cache_dir: PathBuf,
    /// Bytes of model weights kept loaded.
    pub memory_budget: Option<u64>,
    /// Bytes of downloaded models kept on disk.
    pub disk_budget: u64,
    pub max_concurrent_jobs: u32,
    /// How the sequences of a model are decoded together (the batch is
    /// also bounded by `max_concurrent_jobs`: a job is one sequence).
    pub batch: Limits,
    pub tasks: Vec<Task>,
    /// Run Spaces (`Task::SpaceRun` among `tasks`): the runner's setup.
    pub spaces: Option<SpacesConfig>,
    /// Fine-tune (`Task::FineTune` among `tasks`): the trainer's setup.
    pub trainer: Option<FineTuneConfig>,
}

#[derive(Clone, Copy)]
struct Session {
    id: Uuid,
    heartbeat_interval: Duration,
    max_claim_wait_ms: u64,
}

pub struct Worker {
    client: HubClient,
    cache: ModelCache,
    registry: Arc<ModelRegistry>,
    capabilities: Capabilities,
    session: AsyncMutex<Option<Session>>,
    /// Jobs running now, with the flag that stops them.
    running: std::sync::Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
    slots: Arc<Semaphore>,
    batch: Limits,
    /// The Spaces runner, when this worker runs Spaces and can sandbox.
    spaces: Option<Spaces>,
    /// The trainer, when this worker fine-tunes.
    trainer: Option<FineTuner>,
    /// The Spaces tunnel of the current session (runners only): the hub
    /// reaches this runner's apps through it.
    tunnel: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often an events request with nothing to say sends a blank line
/// (well inside the hub's body timeout, 60 s by default).
const EVENTS_KEEPALIVE: Duration = Duration::from_secs(15);

impl Worker {
    pub fn new(config: WorkerConfig) -> Result<Arc<Worker>> {
        let device = crate::device::open(&config.device)?;
        let memory = config.memory_budget.unwrap_or_else(|| {
            // Half the machine's memory on the CPU; GPUs need --memory-budget-mb.
            crate::device::system_memory().map_or(8 << 30, |m| m / 2)
        });
        let client = HubClient::new(&config.hub, &config.token)?;
        let cache = ModelCache::new(
            config.cache_dir.clone(),
            &config.hub,
            client.http.clone(),
            config.disk_budget,
        );
        let mut tasks = config.tasks.clone();
        let mut architectures = crate::device::architectures(&tasks);
        let (spaces, spaces_capability) = match &config.spaces {
            Some(spaces_config) if tasks.contains(&Task::SpaceRun) => {
                let mut spaces_config = spaces_config.clone();
                spaces_config.gpu = device.kind == DeviceKind::Cuda;
                match Spaces::local(&spaces_config, &config.hub, client.http.clone()) {
                    Ok(spaces) => {
                        let detail = spaces.describe();
                        tracing::info!("spaces: {detail}");
                        architectures.extend(space_classes(device.kind));
                        (
                            Some(spaces),
                            Some(SpacesCapability {
                                available: true,
                                detail,
                            }),
                        )
                    }
                    Err(why) => {
                        // Never run a Space unsandboxed: take no space-run job.
                        tracing::warn!("spaces unavailable: {why}");
                        tasks.retain(|t| *t != Task::SpaceRun);
                        (
                            None,
                            Some(SpacesCapability {
                                available: false,
                                detail: why,
                            }),
                        )
                    }
                }
            }
            _ => {
                tasks.retain(|t| *t != Task::SpaceRun);
                (None, None)
            }
        };
        let trainer = match &config.trainer {
            Some(trainer_config) if tasks.contains(&Task::FineTune) => {
                architectures.extend(
                    TRAIN_ARCHITECTURES
                        .iter()
                        .map(|a| format!("{TRAIN_PREFIX}{a}")),
                );
                Some(FineTuner::new(trainer_config.clone(), client.clone()))
            }
            _ => {
                tasks.retain(|t| *t != Task::FineTune);
                None
            }
        };
        let capabilities = Capabilities {
            device: DeviceCaps {
                kind: device.kind,
                name: device.name.clone(),
                memory_bytes: memory,
            },
            architectures,
            tasks,
            max_concurrent_jobs: config.max_concurrent_jobs.max(1),
            version: env!("CARGO_PKG_VERSION").to_string(),
            spaces: spaces_capability,
        };
        Ok(Arc::new(Worker {
            client,
            cache,
            registry: Arc::new(ModelRegistry::new(device.device, memory)),
            slots: Arc::new(Semaphore::new(capabilities.max_concurrent_jobs as usize)),
            batch: Limits {
                max_batch: config
                    .batch
                    .max_batch
                    .min(capabilities.max_concurrent_jobs as usize),
                ..config.batch
            },
            capabilities,
            session: AsyncMutex::new(None),
            running: Default::default(),
            spaces,
            trainer,
            tunnel: Default::default(),
        }))
    }

    /// The running Space apps' sockets by job id (empty when this worker
    /// runs no Spaces): what the tunnel forwards a request for a job to.
    pub fn space_apps(&self) -> Apps {
        self.spaces.as_ref().map(Spaces::apps).unwrap_or_default()
    }

    /// What the worker tells the hub it can do.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Runs until the process is stopped.
    pub async fn run(self: Arc<Self>) {
        tokio::spawn(self.clone().heartbeat_loop());
        let mut backoff = Backoff::new();
        loop {
            let session = self.session().await;
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let claim = ClaimRequest {
                session: session.id,
                wait_ms: session.max_claim_wait_ms,
            };
            match self.client.claim(&claim).await {
                Ok(Some(job)) => {
                    backoff.reset();
                    tracing::info!(job = %job.id, attempt = job.attempt, model = job.model.repo_id, "claimed");
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.run_job(job).await;
                        drop(permit);
                    });
                }
                Ok(None) => backoff.reset(),
                Err(e) if e.is::<UnknownSession>() => self.forget_session(session.id).await,
                Err(e) => {
                    tracing::warn!("claim: {e:#}");
                    backoff.wait().await;
                }
            }
        }
    }

    /// The current session, registering (with backoff, for ever) if none.
    async fn session(&self) -> Session {
        let mut guard = self.session.lock().await;
        if let Some(s) = *guard {
            return s;
        }
        let mut backoff = Backoff::new();
        loop {
            let request = RegisterRequest {
                capabilities: self.capabilities.clone(),
                loaded_models: self.registry.loaded(),
            };
            match self.client.register(&request).await {
                Ok(r) => {
                    // The hub released every lease of our earlier session:
                    // those jobs are retried, ours must stop.
                    self.cancel_all();
                    let s = Session {
                        id: r.session,
                        heartbeat_interval: Duration::from_millis(r.heartbeat_interval_ms.max(100)),
                        max_claim_wait_ms: r.max_claim_wait_ms,
                    };
                    tracing::info!(worker = %r.worker_id, session = %s.id, "registered");
                    self.open_tunnel(s.id);
                    *guard = Some(s);
                    return s;
                }
                Err(e) => {
                    tracing::warn!("register: {e:#}");
                    backoff.wait().await;
                }
            }
        }
    }

    /// A runner opens its tunnel for each new session (the hub knows
    /// tunnels by session); the one of an earlier session is closed.
    fn open_tunnel(&self, session: Uuid) {
        let Some(spaces) = &self.spaces else {
            return;
        };
        let (hub, token) = (self.client.hub.clone(), self.client.token().to_owned());
        let resolve = spaces.apps().resolver();
        let task = tokio::spawn(async move {
            if let Err(e) = crate::spaces::tunnel::run(hub, token, session, resolve).await {
                tracing::info!(%session, "the Spaces tunnel ended: {e:#}");
            }
        });
        if let Some(old) = self.tunnel.lock().expect("tunnel lock").replace(task) {
            old.abort();
        }
    }

    async fn forget_session(&self, id: Uuid) {
        let mut guard = self.session.lock().await;
        if guard.is_some_and(|s| s.id == id) {
            tracing::info!("the hub forgot our session; registering again");
            *guard = None;
        }
    }

    fn cancel_all(&self) {
        for flag in self.running.lock().expect("running lock").values() {
            flag.store(true, Ordering::SeqCst);
        }
    }

    fn cancel(&self, id: Uuid) {
        if let Some(flag) = self.running.lock().expect("running lock").get(&id) {
            tracing::info!(job = %id, "cancelled by the hub");
            flag.store(true, Ordering::SeqCst);
        }
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        loop {
            let session = self.session().await;
            tokio::time::sleep(session.heartbeat_interval).await;
            let beat = Heartbeat {
                session: session.id,
                running: self
                    .running
                    .lock()
                    .expect("running lock")
                    .keys()
                    .copied()
                    .collect(),
                loaded_models: self.registry.loaded(),
                memory_used_bytes: self.registry.memory_used(),
            };
            match self.client.heartbeat(&beat).await {
                Ok(answer) => {
                    for id in answer.cancel {
                        self.cancel(id);
                    }
                    if answer.reregister {
                        self.forget_session(session.id).await;
                    }
                }
                Err(e) if e.is::<UnknownSession>() => self.forget_session(session.id).await,
                Err(e) => tracing::warn!("heartbeat: {e:#}"),
            }
        }
    }

    async fn run_job(self: Arc<Self>, job: Job) {
        let cancel = Arc::new(AtomicBool::new(false));
        self.running
            .lock()
            .expect("running lock")
            .insert(job.id, cancel.clone());
        let (events, rx) = mpsc::unbounded_channel();
        let uploader = tokio::spawn(upload_events(
            self.client.clone(),
            job.id,
            job.attempt,
            job.lease_ms,
            rx,
            cancel.clone(),
        ));
        if let Err(e) = self.execute(&job, &events, &cancel).await {
            let retryable = !(e.is::<BadRequest>() || e.is::<NotServable>());
            tracing::warn!(job = %job.id, retryable, "job failed: {e:#}");
            let _ = events.send(EventBody::Failed {
                message: format!("{e:#}"),
                retryable,
            });
        }
        drop(events);
        let _ = uploader.await;
        self.running.lock().expect("running lock").remove(&job.id);
    }

    async fn execute(
        &self,
        job: &Job,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<()> {
        if let JobInput::SpaceRun(input) = &job.input {
            let Some(spaces) = &self.spaces else {
                return Err(BadRequest("this worker runs no Spaces".into()).into());
            };
            return spaces.run(job, input, events, cancel).await;
        }
        if let JobInput::FineTune(input) = &job.input {
            let Some(trainer) = &self.trainer else {
                return Err(BadRequest("this worker does not fine-tune".into()).into());
            };
            return trainer.run(job, input, &self.cache, events, cancel).await;
        }
        let model = &job.model;
        let loaded = match self.registry.get(model) {
            Some(m) => m,
            None => {
                let _ = events.send(EventBody::Loading);
                // An adapter: its base (read with the base's own token),
                // then the adapter's files.
                let (dir, adapter) = match &model.base {
                    Some(base) if !base.gguf_files.is_empty() => {
                        return Err(NotServable(
                            "LoRA adapters are not served on GGUF bases".into(),
                        )
                        .into());
                    }
                    Some(base) => (
                        self.cache.fetch(base, job.task).await?,
                        Some(self.cache.fetch(model, job.task).await?),
                    ),
                    None => (self.cache.fetch(model, job.task).await?, None),
                };
                let registry = self.registry.clone();
                let (model_ref, task) = (model.clone(), job.task);
                tokio::task::spawn_blocking(move || {
                    registry
                        .load(&model_ref, &dir, adapter.as_deref(), task)
                        .map_err(|e| {
                            if e.to_string().contains("memory budget") {
                                e
                            } else {
                                NotServable(format!("cannot load the model: {e:#}")).into()
                            }
                        })
                })
                .await??
            }
        };
        if cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Models on our decoder: the sequence joins the model's batch.
        if let (Loaded::Text(model), JobInput::Generate(GenerateInput { prompt, params })) =
            (&loaded, &job.input)
            && let Some(batcher) = model.batcher(self.batch)
        {
            let (to_hub, stop) = (events.clone(), cancel.clone());
            let out = batcher
                .generate(
                    model.clone(),
                    prompt.clone(),
                    params.clone(),
                    Box::new(move |step| report(&to_hub, &stop, step)),
                )
                .await?;
            finished(out, events, cancel);
            return Ok(());
        }
        let events = events.clone();
        let cancel = cancel.clone();
        let input = job.input.clone();
        let (repo_id, task) = (model.repo_id.clone(), job.task);
        tokio::task::spawn_blocking(move || -> Result<()> {
            match (loaded, input) {
                (Loaded::Text(model), JobInput::Generate(GenerateInput { prompt, params })) => {
                    let out = generate(&model, &prompt, &params, |step| {
                        report(&events, &cancel, step)
                    })?;
                    finished(out, &events, &cancel);
                }
                (
                    Loaded::Embedding(model),
                    JobInput::Embed(EmbedInput {
                        inputs,
                        normalize,
                        truncate,
                    }),
                ) => {
                    let started = Instant::now();
                    let out = model.embed(&inputs, normalize, truncate)?;
                    let _ = events.send(EventBody::Embeddings {
                        data: out.vectors,
                        usage: worker_protocol::Usage {
                            prompt_tokens: out.tokens,
                            generated_tokens: 0,
                            device_ms: started.elapsed().as_millis() as u64,
                        },
                    });
                }
                _ => {
                    return Err(BadRequest(format!(
                        "{repo_id} is not served for {task:?} by this worker"
                    ))
                    .into());
                }
            }
            Ok(())
        })
        .await?
    }
}

/// Sends a generation's step to the hub; false once the job is cancelled.
fn report(events: &mpsc::UnboundedSender<EventBody>, cancel: &AtomicBool, step: Step) -> bool {
    let body = match step {
        Step::Started { prompt_tokens } => EventBody::Started { prompt_tokens },
        Step::Token(token) => EventBody::Token(token),
    };
    let _ = events.send(body);
    !cancel.load(Ordering::SeqCst)
}

/// Ends a generation's events (a cancelled one ends with the cancel).
fn finished(out: GenerateOutput, events: &mpsc::UnboundedSender<EventBody>, cancel: &AtomicBool) {
    if let Some(finish_reason) = out.finish_reason
        && !cancel.load(Ordering::SeqCst)
    {
        let _ = events.send(EventBody::Finished {
            finish_reason,
            usage: out.usage,
        });
    }
}

/// Streams a job's events as one chunked NDJSON request, numbering them;
/// when the request breaks, opens a new one and resends everything the hub
/// has not acknowledged (it ignores duplicates).
async fn upload_events(
    client: HubClient,
    job: Uuid,
    attempt: u32,
    lease_ms: u64,
    mut rx: mpsc::UnboundedReceiver<EventBody>,
    cancel: Arc<AtomicBool>,
) {
    // `?attempt=N` lets the hub refuse a stale attempt's events even when
    // the same worker holds the job's next attempt.
    let url = client.url(&format!("/jobs/{job}/events?attempt={attempt}"));
    let mut history: Vec<String> = Vec::new();
    let mut acked = 0usize;
    let mut finished = false;
    let mut backoff = Backoff::new();
    // A hub unreachable for longer than this has given the job to someone else.
    let give_up = Duration::from_millis(lease_ms.saturating_mul(3)).max(Duration::from_secs(60));
    let mut failing_since: Option<Instant> = None;
    // A quiet job (a Space's app that logs nothing) still sends a blank
    // line now and then: the hub drops a request body that stays silent
    // past its body timeout.
    let mut keepalive = tokio::time::interval(EVENTS_KEEPALIVE);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'request: loop {
        if cancel.load(Ordering::SeqCst) {
            return;
        }
        if failing_since.is_some_and(|t| t.elapsed() > give_up) {
            tracing::warn!(%job, "the hub took no events for too long; dropping the job");
            cancel.store(true, Ordering::SeqCst);
            return;
        }
        let (body_tx, body_rx) =
            futures::channel::mpsc::unbounded::<Result<String, std::io::Error>>();
        for line in &history[acked.min(history.len())..] {
            let _ = body_tx.unbounded_send(Ok(line.clone()));
        }
        let mut body_tx = (!finished).then_some(body_tx);
        let request = client
            .http
            .post(&url)
            .bearer_auth(client.token())
            .header(reqwest::header::CONTENT_TYPE, NDJSON)
            .body(reqwest::Body::wrap_stream(body_rx))
            .send();
        tokio::pin!(request);
        loop {
            tokio::select! {
                response = &mut request => {
                    match response {
                        // 409: the attempt is no longer current; 404: no such
                        // job; other 4xx: resending the same lines cannot help.
                        Ok(r) if r.status().is_client_error()
                            && !matches!(r.status().as_u16(), 401 | 408 | 429) =>
                        {
                            tracing::info!(%job, status = %r.status(), "the hub refused the events; stopping the job");
                            cancel.store(true, Ordering::SeqCst);
                            return;
                        }
                        Ok(r) if r.status().is_success() => {
                            failing_since = None;
                            let ack: EventsAck = r.json().await.unwrap_or_default();
                            if let Some(n) = ack.stored_through {
                                acked = acked.max(n as usize + 1);
                            }
                            if ack.cancelled {
                                cancel.store(true, Ordering::SeqCst);
                                return;
                            }
                            if finished && acked >= history.len() {
                                return;
                            }
                            // The hub ended the request early: go on in a new one.
                            continue 'request;
                        }
                        Ok(r) => tracing::warn!(%job, status = %r.status(), "events refused"),
                        Err(e) => tracing::warn!(%job, "events: {e}"),
                    }
                    failing_since.get_or_insert_with(Instant::now);
                    backoff.wait().await;
                    continue 'request;
                }
                _ = keepalive.tick(), if !finished => {
                    if let Some(tx) = &body_tx {
                        let _ = tx.unbounded_send(Ok("\n".to_owned()));
                    }
                }
                body = rx.recv(), if !finished => {
                    let Some(body) = body else {
                        // Stopped without a terminal event (cancelled): send nothing more.
                        return;
                    };
                    let terminal = body.is_terminal();
                    let event = Event { seq: history.len() as u64, body };
                    let mut line = serde_json::to_string(&event).expect("events serialise");
                    line.push('\n');
                    history.push(line.clone());
                    if let Some(tx) = &body_tx {
                        let _ = tx.unbounded_send(Ok(line));
                    }
                    if terminal {
                        finished = true;
                        body_tx = None; // ends the body: the hub answers
                    }
                }
            }
        }
    }
}

struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }
    fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
    }
}
