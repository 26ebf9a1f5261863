//! The runtime of each Space: its stage and why, the commit it is about,
//! its hardware, sleep time and pause, and the run (a `space-run` job) that
//! serves it. Every change of stage goes through here.
//!
//! Stages (Hugging Face's names): the hub decides `NO_APP_FILE` and
//! `CONFIG_ERROR` (from the configuration), `RUNNING` for a static Space
//! (it serves those itself), `PAUSED` and `SLEEPING`; a runner reports
//! `BUILDING`, `BUILD_ERROR`, `APP_STARTING`, `RUNNING` and `RUNTIME_ERROR`
//! as its job's stage events. Each passing stage has a deadline on the
//! runner (build timeout, startup timeout) and the job's lease on the hub:
//! a run whose runner vanishes is retried elsewhere, then ends in
//! `RUNTIME_ERROR` with the reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;
use worker_protocol::{JobInput, SpaceLimits, SpaceRunInput, SpaceSdk, SpaceStage, Task};

use super::config::{self, RunConfig, Sdk};
use super::origin::{Site, Target};
use crate::error::{Error, Result};
use crate::git::{self, read};
use crate::hub::Hub;
use crate::jobs::queue::{self, NewJob};
use crate::repos::access::{Authorized, level};
use crate::repos::{self, Repo, RepoType};

pub mod stage {
    pub const NO_APP_FILE: &str = "NO_APP_FILE";
    pub const CONFIG_ERROR: &str = "CONFIG_ERROR";
    pub const BUILDING: &str = "BUILDING";
    pub const BUILD_ERROR: &str = "BUILD_ERROR";
    pub const APP_STARTING: &str = "APP_STARTING";
    pub const RUNNING: &str = "RUNNING";
    pub const RUNTIME_ERROR: &str = "RUNTIME_ERROR";
    pub const PAUSED: &str = "PAUSED";
    pub const SLEEPING: &str = "SLEEPING";

    /// Stages that move on by themselves (a page showing one reloads).
    pub fn is_passing(stage: &str) -> bool {
        matches!(stage, BUILDING | APP_STARTING)
    }
}

/// A visit is written down at most this often per Space and process.
const TOUCH_EVERY: Duration = Duration::from_secs(5);
/// Attempts a run gets when its runner vanishes.
const RUN_ATTEMPTS: i32 = 3;
/// Log events kept per run (older ones are dropped).
const KEPT_LOG_EVENTS: i64 = 20_000;

/// What a Space's runtime is now, as the API and pages show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Runtime {
    pub stage: String,
    pub error_message: Option<String>,
    pub sha: Option<String>,
    pub sdk: Option<String>,
    pub hardware: String,
    /// As set for this Space; None: the hub's default.
    pub sleep_time_s: Option<i32>,
    pub paused: bool,
    pub subdomain: String,
    pub job_id: Option<Uuid>,
    pub stage_changed_at: DateTime<Utc>,
}

impl Runtime {
    /// Seconds without a visit before the app sleeps; -1: never.
    pub fn gc_timeout(&self, hub: &Hub) -> i64 {
        self.sleep_time_s
            .map_or(hub.spaces.settings.sleep_after.as_secs() as i64, i64::from)
    }
}

/// The runtime of `space` (made on first use).
pub async fn get(hub: &Hub, space: &Repo) -> Result<Runtime> {
    if space.kind() != RepoType::Space {
        return Err(Error::not_found("only Spaces have a runtime"));
    }
    let mut conn = hub.db.acquire().await?;
    // Read first: the row exists for every Space but a brand-new one, and
    // this runs on every page view and runtime poll.
    if let Some(runtime) = read(&mut conn, space.id).await? {
        return Ok(runtime);
    }
    ensure(&mut conn, space).await?;
    read(&mut conn, space.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the runtime of {} vanished", space.full_name()).into())
}

async fn read(conn: &mut PgConnection, repo_id: i64) -> Result<Option<Runtime>> {
    Ok(sqlx::query_as(
        "SELECT stage, error_message, sha, sdk, hardware, sleep_time_s, paused, subdomain, job_id,
                stage_changed_at
         FROM space_runtimes WHERE repo_id = $1",
    )
    .bind(repo_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Makes the runtime row of `space` if it has none, with a subdomain no
/// other Space has.
async fn ensure(conn: &mut PgConnection, space: &Repo) -> Result<()> {
    let base = super::origin::subdomain_for(&space.namespace, &space.name);
    for candidate in [base.clone(), format!("{base}-{}", space.id)] {
        let done = sqlx::query(
            "INSERT INTO space_runtimes (repo_id, subdomain) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(space.id)
        .bind(&candidate)
        .execute(&mut *conn)
        .await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM space_runtimes WHERE repo_id = $1)")
                .bind(space.id)
                .fetch_one(&mut *conn)
                .await?;
        if done.rows_affected() > 0 || exists {
            return Ok(());
        }
    }
    Err(anyhow::anyhow!("no free subdomain for Space {}", space.full_name()).into())
}

/// After every commit and push (`repos::refs::after_commit`): a Space
/// whose default branch moved is configured and started again at the new
/// head. Idempotent: nothing happens while the runtime is about that head.
pub async fn on_head(hub: &Hub, space: &Repo) -> Result<()> {
    if space.kind() != RepoType::Space {
        return Ok(());
    }
    let runtime = get(hub, space).await?;
    let Some(head) = space.head_sha.as_deref() else {
        return Ok(());
    };
    if runtime.sha.as_deref() == Some(head) {
        return Ok(());
    }
    deploy(hub, space, false).await
}

/// Reads the Space's configuration at its head and starts what it asks for:
/// nothing (a configuration problem, or paused), the hub's static serving,
/// or a run on a runner. A run in progress is stopped first.
async fn deploy(hub: &Hub, space: &Repo, factory: bool) -> Result<()> {
    let runtime = get(hub, space).await?;
    let head = space.head_sha.clone();
    let config = match &head {
        None => Err(config::Problem::NoAppFile(
            "the Space has no commit yet".into(),
        )),
        Some(head) => read_config(hub, space, head).await?,
    };
    let mut tx = hub.db.begin().await?;
    sqlx::query("SELECT 1 FROM space_runtimes WHERE repo_id = $1 FOR UPDATE")
        .bind(space.id)
        .execute(&mut *tx)
        .await?;
    stop_run(&mut tx, space.id).await?;
    let (stage, message, sdk, job) = match config {
        Err(problem) => (
            problem.stage(),
            Some(problem.message().to_string()),
            None,
            None,
        ),
        Ok(config) if config.sdk == Sdk::Static => (stage::RUNNING, None, Some("static"), None),
        Ok(config) if runtime.paused => (stage::PAUSED, None, Some(config.sdk_name()), None),
        Ok(config) => {
            let head = head.as_deref().expect("a config was read at the head");
            let job = enqueue_run(
                &mut tx,
                hub,
                space,
                head,
                &runtime.hardware,
                &config,
                factory,
            )
            .await?;
            (stage::BUILDING, None, Some(config.sdk_name()), Some(job))
        }
    };
    sqlx::query(
        "UPDATE space_runtimes SET stage = $2, error_message = $3, sdk = $4, sha = $5,
             job_id = coalesce($6, job_id), stage_changed_at = now(), last_activity_at = now()
         WHERE repo_id = $1",
    )
    .bind(space.id)
    .bind(stage)
    .bind(&message)
    .bind(sdk)
    .bind(&head)
    .bind(job)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(space = %space.full_name(), stage, ?job, "Space deployed");
    Ok(())
}

async fn read_config(
    hub: &Hub,
    space: &Repo,
    head: &str,
) -> Result<std::result::Result<RunConfig, config::Problem>> {
    let path = hub.repo_dir(space.id);
    let commit = head.to_string();
    let (files, ms_deploy) = tokio::task::spawn_blocking(move || -> Result<_> {
        let git = git::open(&path)?;
        let commit = git2::Oid::from_str(&commit)?;
        Ok((
            read::file_paths(&git, commit, MAX_FILES)?,
            read::read_file(&git, commit, "ms_deploy.json")?,
        ))
    })
    .await??;
    Ok(config::read(
        space.card_data.as_ref(),
        &files,
        ms_deploy.as_deref(),
    ))
}

/// Files looked at for the app file (a Space with more is still read).
const MAX_FILES: usize = 100_000;

async fn enqueue_run(
    tx: &mut Transaction<'_, Postgres>,
    hub: &Hub,
    space: &Repo,
    head: &str,
    hardware: &str,
    config: &RunConfig,
    factory: bool,
) -> Result<Uuid> {
    let settings = &hub.spaces.settings;
    let sdk = match config.sdk {
        Sdk::App(sdk) => sdk,
        Sdk::Static => SpaceSdk::Static,
    };
    let input = JobInput::SpaceRun(SpaceRunInput {
        sdk,
        sdk_version: config.sdk_version.clone(),
        python_version: config.python_version.clone(),
        app_file: config.app_file.clone(),
        app_port: config.app_port,
        app_build_command: config.app_build_command.clone(),
        factory,
        // Filled in when a runner claims the run (`fill_claim`): the
        // queue's rows never hold a secret.
        variables: config.variables.clone(),
        secrets: Vec::new(),
        limits: SpaceLimits {
            memory_bytes: settings.memory_bytes,
            pids: settings.pids,
            disk_bytes: settings.disk_bytes,
            startup_timeout_s: config.startup_timeout.as_secs(),
            build_timeout_s: settings.build_timeout.as_secs(),
        },
    });
    let architecture = format!("{}{hardware}", worker_protocol::SPACE_PREFIX);
    queue::enqueue(
        tx,
        NewJob {
            task: Task::SpaceRun,
            repo_id: space.id,
            repo_name: &space.full_name(),
            revision: head,
            architecture: &architecture,
            memory_bytes: settings.memory_bytes as i64,
            gguf_files: &[],
            base: None,
            input: &input,
            account_id: None,
            client_ip: "",
            max_attempts: RUN_ATTEMPTS,
        },
    )
    .await
}

/// Cancels the Space's run if one is queued or running (its runner stops
/// the app on its next heartbeat). The job stays the runtime's, for its logs.
async fn stop_run(tx: &mut Transaction<'_, Postgres>, repo_id: i64) -> Result<()> {
    let stopped: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE inference_jobs j SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL
         FROM space_runtimes s
         WHERE s.repo_id = $1 AND j.id = s.job_id AND j.state IN ('queued', 'running')
         RETURNING j.id",
    )
    .bind(repo_id)
    .fetch_all(&mut **tx)
    .await?;
    for job in stopped {
        queue::notify_job(tx, job).await?;
    }
    Ok(())
}

/// `POST /api/spaces/{id}/restart[?factory=true]`: builds and starts the
/// head again (from nothing with `factory`); the only way out of `PAUSED`.
pub async fn restart(
    hub: &Hub,
    space: &Authorized<level::Write>,
    factory: bool,
) -> Result<Runtime> {
    refuse_static(hub, space).await?;
    sqlx::query("UPDATE space_runtimes SET paused = false WHERE repo_id = $1")
        .bind(space.id)
        .execute(&hub.db)
        .await?;
    deploy(hub, space, factory).await?;
    get(hub, space).await
}

/// `POST /api/spaces/{id}/pause`: stops the app until a restart.
pub async fn pause(hub: &Hub, space: &Authorized<level::Write>) -> Result<Runtime> {
    refuse_static(hub, space).await?;
    let mut tx = hub.db.begin().await?;
    sqlx::query("SELECT 1 FROM space_runtimes WHERE repo_id = $1 FOR UPDATE")
        .bind(space.id)
        .execute(&mut *tx)
        .await?;
    stop_run(&mut tx, space.id).await?;
    sqlx::query(
        "UPDATE space_runtimes SET paused = true, stage = 'PAUSED', error_message = NULL,
             stage_changed_at = now()
         WHERE repo_id = $1",
    )
    .bind(space.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(hub, space).await
}

async fn refuse_static(hub: &Hub, space: &Repo) -> Result<()> {
    let card = |key: &str| {
        space
            .card_data
            .as_ref()
            .and_then(|c| c.get(key))
            .and_then(|v| v.as_str())
    };
    let served_by_hub = get(hub, space).await?.sdk.as_deref() == Some("static")
        || (card("sdk") == Some("static") && card("app_build_command").is_none());
    if served_by_hub {
        return Err(Error::invalid(
            "a static Space is served by the hub itself: it cannot be restarted or paused",
        ));
    }
    Ok(())
}

/// `POST /api/spaces/{id}/sleeptime {"seconds": N}`: -1 never sleeps.
pub async fn set_sleep_time(
    hub: &Hub,
    space: &Authorized<level::Write>,
    seconds: i64,
) -> Result<Runtime> {
    check_sleep_time(seconds)?;
    get(hub, space).await?;
    sqlx::query("UPDATE space_runtimes SET sleep_time_s = $2 WHERE repo_id = $1")
        .bind(space.id)
        .bind(seconds as i32)
        .execute(&hub.db)
        .await?;
    get(hub, space).await
}

/// `POST /api/spaces/{id}/hardware {"flavor": F}`: the class the next run
/// asks for; a run on another class is restarted on it.
pub async fn set_hardware(
    hub: &Hub,
    space: &Authorized<level::Write>,
    flavor: &str,
) -> Result<Runtime> {
    check_hardware(flavor)?;
    let before = get(hub, space).await?;
    sqlx::query("UPDATE space_runtimes SET hardware = $2 WHERE repo_id = $1")
        .bind(space.id)
        .bind(flavor)
        .execute(&hub.db)
        .await?;
    if before.hardware != flavor && before.job_id.is_some() && !before.paused {
        deploy(hub, space, false).await?;
    }
    get(hub, space).await
}

/// A sleep time is -1 (never) or from a minute to 30 days.
pub(crate) fn check_sleep_time(seconds: i64) -> Result<()> {
    if seconds != -1 && !(60..=30 * 86_400).contains(&seconds) {
        return Err(Error::invalid(
            "the sleep time is -1 (never) or from 60 seconds to 30 days",
        ));
    }
    Ok(())
}

/// A hardware class is a name such as `cpu-basic` or `t4-small`: which
/// ones exist is up to the runners that offer them.
pub(crate) fn check_hardware(flavor: &str) -> Result<()> {
    let valid = !flavor.is_empty()
        && flavor.len() <= 40
        && flavor
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(Error::invalid(format!("unknown hardware `{flavor}`")));
    }
    Ok(())
}

/// Sets a new Space's hardware and sleep time (checked by the caller).
pub(crate) async fn configure(
    hub: &Hub,
    space: &Repo,
    hardware: Option<&str>,
    sleep_time_s: Option<i64>,
) -> Result<()> {
    get(hub, space).await?;
    sqlx::query(
        "UPDATE space_runtimes SET hardware = coalesce($2, hardware),
             sleep_time_s = coalesce($3, sleep_time_s)
         WHERE repo_id = $1",
    )
    .bind(space.id)
    .bind(hardware)
    .bind(sleep_time_s.map(|s| s as i32))
    .execute(&hub.db)
    .await?;
    Ok(())
}

/// A runner's stage event for `job`: the runtime follows it while that job
/// is the Space's run (a stopped run's late events change nothing).
pub(crate) async fn on_stage(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    stage: SpaceStage,
    message: Option<&str>,
) -> Result<()> {
    let name = match stage {
        SpaceStage::Building => stage::BUILDING,
        SpaceStage::BuildError => stage::BUILD_ERROR,
        SpaceStage::AppStarting => stage::APP_STARTING,
        SpaceStage::Running => stage::RUNNING,
        SpaceStage::RuntimeError => stage::RUNTIME_ERROR,
    };
    sqlx::query(
        "UPDATE space_runtimes SET stage = $2, error_message = $3, stage_changed_at = now(),
             last_activity_at = CASE WHEN $2 = 'RUNNING' THEN now() ELSE last_activity_at END
         WHERE job_id = $1 AND stage NOT IN ('PAUSED', 'SLEEPING')",
    )
    .bind(job)
    .bind(name)
    .bind(message.map(|m| crate::text::truncate(m, 16 * 1024)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Runs put back in the queue (their runner vanished) wait for another
/// runner; runs out of attempts end in `RUNTIME_ERROR` with the reason.
/// `jobs` are any requeued jobs with their new state; only Spaces' runs
/// change anything.
pub(crate) async fn on_requeue(
    tx: &mut Transaction<'_, Postgres>,
    jobs: &[(Uuid, String)],
    reason: &str,
) -> Result<()> {
    let (ids, states): (Vec<Uuid>, Vec<String>) = jobs.iter().cloned().unzip();
    sqlx::query(
        "UPDATE space_runtimes s SET stage = CASE WHEN t.state = 'dead' THEN 'RUNTIME_ERROR' ELSE 'BUILDING' END,
             error_message = CASE WHEN t.state = 'dead' THEN 'the Space''s runner failed: ' || $3
                                  ELSE 'waiting for another runner (' || $3 || ')' END,
             stage_changed_at = now()
         FROM UNNEST($1::UUID[], $2::TEXT[]) AS t(id, state)
         WHERE s.job_id = t.id AND s.stage NOT IN ('PAUSED', 'SLEEPING')",
    )
    .bind(&ids)
    .bind(&states)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A claimed run gets the Space's variables and opened secrets now, so
/// the queue never holds them; the Space's own variables win over
/// `ms_deploy.json`'s.
pub(crate) async fn fill_claim(hub: &Hub, repo_id: i64, input: &mut JobInput) -> Result<()> {
    let JobInput::SpaceRun(run) = input else {
        return Ok(());
    };
    let (variables, secrets) = super::env::for_run(hub, repo_id).await?;
    run.variables
        .retain(|(k, _)| !variables.iter().any(|(own, _)| own == k));
    run.variables.extend(variables);
    run.secrets = secrets;
    Ok(())
}

pub(crate) async fn resolve(hub: &Hub, subdomain: &str) -> Result<Option<Site>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        repo_id: i64,
        repo_name: String,
        private: bool,
        stage: String,
        error_message: Option<String>,
        sdk: Option<String>,
        sha: Option<String>,
        app_file: Option<String>,
        job_id: Option<Uuid>,
        job_state: Option<String>,
        leased_to: Option<Uuid>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT r.id AS repo_id, n.name || '/' || r.name AS repo_name, r.private, s.stage,
                s.error_message, s.sdk, s.sha, r.card_data ->> 'app_file' AS app_file,
                s.job_id, j.state AS job_state, j.leased_to
         FROM space_runtimes s
         JOIN repos r ON r.id = s.repo_id
         JOIN namespaces n ON n.id = r.namespace_id
         LEFT JOIN inference_jobs j ON j.id = s.job_id
         WHERE s.subdomain = $1 AND r.repo_type = 'space'",
    )
    .bind(subdomain)
    .fetch_optional(&hub.db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let running = row.job_state.as_deref() == Some(crate::jobs::state::RUNNING);
    let target = match (row.stage.as_str(), row.sdk.as_deref()) {
        (stage::RUNNING, Some("static")) => Target::Static {
            commit: row.sha.clone().unwrap_or_default(),
            app_file: row.app_file.unwrap_or_else(|| "index.html".into()),
        },
        (stage::RUNNING, _) if running && row.leased_to.is_some() => Target::App {
            job: row.job_id.expect("a running job"),
            session: row.leased_to.expect("checked"),
        },
        (stage::SLEEPING, _) => {
            wake(hub, row.repo_id).await?;
            waiting(stage::BUILDING, None)
        }
        _ => waiting(&row.stage, row.error_message.clone()),
    };
    Ok(Some(Site {
        repo_id: row.repo_id,
        repo_name: row.repo_name,
        private: row.private,
        target,
    }))
}

fn waiting(stage: &str, message: Option<String>) -> Target {
    Target::Waiting {
        stage: stage.to_string(),
        message,
    }
}

/// Wakes a sleeping Space: one visitor's request starts it again, the
/// others find it building.
async fn wake(hub: &Hub, repo_id: i64) -> Result<()> {
    let claimed = sqlx::query(
        "UPDATE space_runtimes SET stage = 'BUILDING', error_message = NULL, stage_changed_at = now()
         WHERE repo_id = $1 AND stage = 'SLEEPING' AND NOT paused",
    )
    .bind(repo_id)
    .execute(&hub.db)
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(());
    }
    let Some(space) = repos::find_by_id(&hub.db, repo_id).await? else {
        return Ok(());
    };
    tracing::info!(space = %space.full_name(), "waking a sleeping Space");
    deploy(hub, &space, false).await
}

pub(crate) async fn touch(hub: &Hub, repo_id: i64) {
    {
        let mut touched = hub.spaces.touched.lock().expect("touch lock");
        let now = Instant::now();
        if touched
            .get(&repo_id)
            .is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY)
        {
            return;
        }
        touched.insert(repo_id, now);
    }
    let written =
        sqlx::query("UPDATE space_runtimes SET last_activity_at = now() WHERE repo_id = $1")
            .bind(repo_id)
            .execute(&hub.db)
            .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, repo_id, "recording a Space visit failed");
    }
}

/// Puts to sleep the Spaces nobody visited for their sleep time, and keeps
/// each run's log bounded. Any node may run it; the updates are idempotent.
pub async fn sweep(hub: &Hub) -> Result<()> {
    let default = hub.spaces.settings.sleep_after.as_secs_f64();
    let mut tx = hub.db.begin().await?;
    let sleepy: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE space_runtimes s SET stage = 'SLEEPING', error_message = NULL, stage_changed_at = now()
         FROM inference_jobs j
         WHERE j.id = s.job_id AND j.state IN ('queued', 'running') AND NOT s.paused
           AND coalesce(s.sleep_time_s, $1) >= 0
           AND s.last_activity_at < now() - make_interval(secs => coalesce(s.sleep_time_s, $1))
         RETURNING s.job_id",
    )
    .bind(default)
    .fetch_all(&mut *tx)
    .await?;
    for job in &sleepy {
        sqlx::query(
            "UPDATE inference_jobs SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(job)
        .execute(&mut *tx)
        .await?;
        queue::notify_job(&mut tx, *job).await?;
    }
    tx.commit().await?;
    if !sleepy.is_empty() {
        tracing::info!(count = sleepy.len(), "Spaces put to sleep");
    }
    sqlx::query(
        "DELETE FROM inference_job_events e USING space_runtimes s
         WHERE e.job_id = s.job_id
           AND e.seq < (SELECT max(seq) FROM inference_job_events m
                        WHERE m.job_id = e.job_id AND m.attempt = e.attempt) - $1",
    )
    .bind(KEPT_LOG_EVENTS)
    .execute(&hub.db)
    .await?;
    Ok(())
}

/// What every hub process runs for Spaces beside its routes.
pub async fn run_background(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(hub.spaces.settings.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if hub.db.is_closed() || hub.wake.is_shutting_down() {
            return;
        }
        if let Err(e) = sweep(&hub).await {
            tracing::warn!(error = %e, "the Spaces sweep failed");
        }
    }
}
