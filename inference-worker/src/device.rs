//! `--device cpu|cuda:N` and what the worker tells the hub about it.

use anyhow::{Context, Result, bail};
use candle_core::Device;
use worker_protocol::{DeviceKind, Task};

/// The device, how the hub should see it, and the default memory budget.
pub struct DeviceInfo {
    pub device: Device,
    pub kind: DeviceKind,
    pub name: String,
}

pub fn open(spec: &str) -> Result<DeviceInfo> {
    if spec == "cpu" {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Ok(DeviceInfo {
            device: Device::Cpu,
            kind: DeviceKind::Cpu,
            name: format!("cpu ({threads} threads)"),
        });
    }
    if let Some(n) = spec
        .strip_prefix("cuda:")
        .or((spec == "cuda").then_some("0"))
    {
        let ordinal: usize = n.parse().context("--device cuda:N needs a number")?;
        let device = Device::new_cuda(ordinal).with_context(|| {
            format!("cannot open cuda:{ordinal} (is the worker built with --features cuda?)")
        })?;
        return Ok(DeviceInfo {
            device,
            kind: DeviceKind::Cuda,
            name: format!("cuda:{ordinal}"),
        });
    }
    bail!("--device must be cpu or cuda:N, not {spec:?}")
}

/// Total memory of the machine (Linux), for the CPU's default budget.
pub fn system_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Architectures per task this build serves.
pub fn architectures(tasks: &[Task]) -> Vec<String> {
    let mut out = Vec::new();
    for task in tasks {
        let list = match task {
            Task::TextGeneration => crate::TEXT_GENERATION_ARCHITECTURES,
            Task::FeatureExtraction => crate::EMBEDDING_ARCHITECTURES,
            // Hardware classes, which the Spaces runner adds itself.
            Task::SpaceRun => &[],
            // Training abilities, which the trainer adds itself.
            Task::FineTune => &[],
        };
        out.extend(list.iter().map(|s| s.to_string()));
        if *task == Task::TextGeneration {
            out.extend(
                crate::GGUF_ARCHITECTURES
                    .iter()
                    .map(|a| format!("{}{a}", worker_protocol::GGUF_PREFIX)),
            );
        }
    }
    out
}
