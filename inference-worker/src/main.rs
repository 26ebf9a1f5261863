//! `inference-worker --hub URL --token T [--device cpu|cuda:N] [--cache-dir DIR]`

use clap::Parser;
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
    /// Jobs run at once
    #[arg(long, default_value_t = 1)]
    max_concurrent_jobs: u32,
    /// Tasks served: text-generation, feature-extraction (default: both)
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let tasks = if args.tasks.is_empty() {
        vec![Task::TextGeneration, Task::FeatureExtraction]
    } else {
        args.tasks
            .iter()
            .map(|t| serde_json::from_value(serde_json::Value::String(t.clone())))
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("--tasks: text-generation and/or feature-extraction"))?
    };
    let cache_dir = match args.cache_dir {
        Some(dir) => dir,
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("kaiyuan-inference-worker"),
    };
    std::fs::create_dir_all(&cache_dir)?;
    let worker = Worker::new(WorkerConfig {
        hub: args.hub,
        token: args.token,
        device: args.device,
        cache_dir,
        memory_budget: args.memory_budget_mb.map(|m| m << 20),
        disk_budget: args.disk_budget_mb << 20,
        max_concurrent_jobs: args.max_concurrent_jobs,
        tasks,
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(worker.run());
    Ok(())
}
