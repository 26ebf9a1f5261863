//! `inference-worker --hub URL --token T [--device cpu|cuda:N] [--cache-dir DIR]`
//!
//! Skeleton: the protocol lives in `worker-protocol`; the worker loop comes next.

use clap::Parser;

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
    /// Where downloaded models are kept
    #[arg(long)]
    cache_dir: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "inference-worker is not implemented yet (hub {}, device {})",
        args.hub,
        args.device
    )
}
