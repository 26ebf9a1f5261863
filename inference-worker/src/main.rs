//! `inference-worker --hub URL --token T [--device cpu|cuda:N] [--cache-dir DIR]`
//! `inference-worker --hub URL --token T --spaces [--spaces-dir DIR] …` (a Spaces runner)
//! `inference-worker --hub URL --token T --trainer [--trainer-envs DIR] …` (fine-tunes)
//! `inference-worker uds-bridge --listen SOCKET --connect HOST:PORT -- APP…`
//! (inside a Space's sandbox; see `spaces::bridge`)
//! `inference-worker trainer-env --envs DIR [--python python3]` (builds the
//! trainer's environment ahead of the first job, prints its python)

use clap::Parser;
use inference_worker::finetune::{FineTuneConfig, env as trainer_env};
use inference_worker::spaces::{SpacesConfig, bridge};
use inference_worker::worker::{Worker, WorkerConfig};
use worker_protocol::Task;

#[derive(Parser, Debug)]
#[command(version, about = "Runs models for Kaiyuan Hub")]
struct Args {
    /// Base URL of the hub, e.g. http://127.0.0.1:8080
    #[arg(long, env = "HUB_URL")]
    hub: String,
    /// Worker token from `hub worker-token create --name N`
    #[arg(long, env = "HUB_WORKER_TOKEN")]
    token: String,
    /// cpu, or cuda:N with the `cuda` feature
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where downloaded models are kept [default: ~/.cache/kaiyuan-inference-worker]
    #[arg(long)]
    cache_dir: Option<std::path::PathBuf>,
    /// Memory for loaded models, in MiB [default: half the machine's memory]
    #[arg(long)]
    memory_budget_mb: Option<u64>,
    /// Disk for downloaded models, in MiB; least recently used ones are removed
    #[arg(long, default_value_t = 50 * 1024)]
    disk_budget_mb: u64,
    /// Jobs run at once [default: 16 when serving text-generation, whose
    /// jobs for one model (llama, mistral, qwen2, qwen3, dense GGUF files) are
    /// decoded together in one batch, so this is also the largest batch;
    /// else 1]
    #[arg(long)]
    max_concurrent_jobs: Option<u32>,
    /// KV cache the sequences of one model may reserve together, in MiB; a
    /// sequence joins the batch when its prompt plus max_new_tokens fits
    #[arg(long, default_value_t = 2048)]
    kv_cache_mb: u64,
    /// Tasks served: text-generation, feature-extraction, space-run, fine-tune
    /// (default: the first two; with --spaces and/or --trainer alone: theirs only)
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Run Spaces, each in a bubblewrap sandbox (the worker says so to the
    /// hub only if a test sandbox works here)
    #[arg(long)]
    spaces: bool,
    /// Where Spaces' code, environments and data are kept; must be
    /// reachable by --spaces-uid [default: spaces/ in the cache dir]
    #[arg(long)]
    spaces_dir: Option<std::path::PathBuf>,
    /// The unprivileged uid (and gid) Spaces run as when the worker is root
    #[arg(long, default_value_t = 65534)]
    spaces_uid: u32,
    /// Spaces run at once
    #[arg(long, default_value_t = 2)]
    spaces_max: u32,
    /// apt packages a Space's packages.txt may ask for (installed ones only)
    #[arg(long, value_delimiter = ',')]
    spaces_allowed_packages: Vec<String>,
    /// Largest Space (all its files) downloaded, in MiB
    #[arg(long, default_value_t = 1024)]
    spaces_max_download_mb: u64,
    /// Fine-tune LoRA adapters (PyTorch and PEFT, in a pinned venv built on
    /// first use)
    #[arg(long)]
    trainer: bool,
    /// Where the trainer's environments are built [default: trainer-envs/
    /// in the cache dir]
    #[arg(long)]
    trainer_envs: Option<std::path::PathBuf>,
    /// The Python the trainer's venv is made from
    #[arg(long, default_value = "python3")]
    trainer_python: String,
}

/// `inference-worker trainer-env`: builds the trainer's environment (so
/// that the first fine-tune does not wait minutes for it) and prints the
/// path of its python.
#[derive(Parser, Debug)]
#[command(name = "inference-worker trainer-env")]
struct TrainerEnvArgs {
    #[arg(long)]
    envs: std::path::PathBuf,
    #[arg(long, default_value = "python3")]
    python: String,
}

fn main() -> anyhow::Result<()> {
    // The socket bridge inside a sandbox: no worker flags, no logging setup.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(bridge::SUBCOMMAND) {
        std::process::exit(bridge::main(&argv[2..]));
    }
    if argv.get(1).map(String::as_str) == Some("trainer-env") {
        let args = TrainerEnvArgs::parse_from(&argv[1..]);
        let env = trainer_env::ensure(&args.envs, &args.python)?;
        println!("{}", env.python().display());
        return Ok(());
    }
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let tasks: Vec<Task> = if args.tasks.is_empty() && (args.spaces || args.trainer) {
        let mut tasks = vec![];
        if args.spaces {
            tasks.push(Task::SpaceRun);
        }
        if args.trainer {
            tasks.push(Task::FineTune);
        }
        tasks
    } else if args.tasks.is_empty() {
        vec![Task::TextGeneration, Task::FeatureExtraction]
    } else {
        args.tasks
            .iter()
            .map(|t| serde_json::from_value(serde_json::Value::String(t.clone())))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "--tasks: text-generation, feature-extraction, space-run and/or fine-tune"
                )
            })?
    };
    let runs_spaces = tasks.contains(&Task::SpaceRun);
    let cache_dir = match args.cache_dir {
        Some(dir) => dir,
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("kaiyuan-inference-worker"),
    };
    std::fs::create_dir_all(&cache_dir)?;
    let spaces = if runs_spaces {
        let mut config = SpacesConfig::new(
            args.spaces_dir
                .clone()
                .unwrap_or_else(|| cache_dir.join("spaces")),
        )?;
        config.uid = args.spaces_uid;
        config.gid = args.spaces_uid;
        config.max = args.spaces_max.max(1);
        config.allowed_packages = args.spaces_allowed_packages.clone();
        config.max_download_bytes = args.spaces_max_download_mb << 20;
        Some(config)
    } else {
        None
    };
    let mut tasks = tasks;
    if args.trainer && !tasks.contains(&Task::FineTune) {
        tasks.push(Task::FineTune);
    }
    let trainer = tasks.contains(&Task::FineTune).then(|| FineTuneConfig {
        envs: args
            .trainer_envs
            .clone()
            .unwrap_or_else(|| cache_dir.join("trainer-envs")),
        python: args.trainer_python.clone(),
        work: cache_dir.join("finetune"),
    });
    // The hub counts every running job against max_concurrent_jobs, and a
    // Space holds its job for as long as it runs.
    let models = tasks.iter().any(|t| *t != Task::SpaceRun);
    let jobs = args
        .max_concurrent_jobs
        .unwrap_or(match tasks.contains(&Task::TextGeneration) {
            true => 16,
            false => 1,
        });
    let max_concurrent_jobs = match (&spaces, models) {
        (Some(s), false) => s.max,
        (Some(s), true) => jobs + s.max,
        (None, _) => jobs,
    };
    let worker = Worker::new(WorkerConfig {
        hub: args.hub,
        token: args.token,
        device: args.device,
        cache_dir,
        memory_budget: args.memory_budget_mb.map(|m| m << 20),
        disk_budget: args.disk_budget_mb << 20,
        max_concurrent_jobs,
        batch: inference_worker::batch::Limits {
            max_batch: jobs.max(1) as usize,
            kv_budget: args.kv_cache_mb << 20,
        },
        tasks,
        spaces,
        trainer,
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(worker.run());
    Ok(())
}
