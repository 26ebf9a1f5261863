//! The trainer's Python environment: a venv with the pinned
//! `trainer/requirements.txt`, embedded in this binary, at
//! `{envs}/{first 16 hex of its sha256}`, built once (with `uv` when it is
//! on PATH, else `python -m venv` and pip) into a temporary directory and
//! renamed into place, under a file lock so that two workers sharing the
//! directory build it once. `train.py` (embedded too) is written beside it
//! under its own hash: a new trainer script needs no new venv of gigabytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use sha2::Digest as _;

pub const REQUIREMENTS: &str = include_str!("../../trainer/requirements.txt");
pub const TRAIN_PY: &str = include_str!("../../trainer/train.py");

/// A built environment.
#[derive(Debug, Clone)]
pub struct TrainerEnv {
    pub dir: PathBuf,
}

impl TrainerEnv {
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin").join("python")
    }

    /// This binary's `train.py`, in the environment.
    pub fn script(&self) -> PathBuf {
        self.dir.join(format!("train-{}.py", short_hash(TRAIN_PY)))
    }

    /// Present once the packages are installed.
    fn ready(&self) -> PathBuf {
        self.dir.join(".ready")
    }

    /// Writes the script if this environment lacks this version of it
    /// (atomically: another worker may be reading an older one).
    fn write_script(&self) -> Result<()> {
        let script = self.script();
        if !script.exists() {
            let temp = self
                .dir
                .join(format!(".train-{}.tmp", uuid::Uuid::new_v4().simple()));
            std::fs::write(&temp, TRAIN_PY)?;
            std::fs::rename(&temp, &script)?;
        }
        Ok(())
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// The environment's name: what it holds.
pub fn key() -> String {
    short_hash(REQUIREMENTS)
}

/// The environment under `envs`, built first if needed with `python` (the
/// interpreter the venv is made from). Blocking, for minutes on a first
/// build: call it on a blocking thread.
pub fn ensure(envs: &Path, python: &str) -> Result<TrainerEnv> {
    std::fs::create_dir_all(envs).with_context(|| format!("creating {}", envs.display()))?;
    let key = key();
    let env = TrainerEnv {
        dir: envs.join(&key),
    };
    if env.ready().exists() {
        env.write_script()?;
        return Ok(env);
    }
    let lock = std::fs::File::create(envs.join(format!("{key}.lock")))?;
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking the trainer environment: {e}"))?;
    if env.ready().exists() {
        env.write_script()?; // another worker built it while we waited
        return Ok(env);
    }
    // What a build that died left (we hold the lock: nobody else is building).
    for entry in std::fs::read_dir(envs)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with(&format!("{key}.building-")) || name == key {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let building = envs.join(format!("{key}.building-{}", uuid::Uuid::new_v4().simple()));
    tracing::info!(env = %env.dir.display(), "building the trainer environment");
    if let Err(e) = build(&building, python) {
        let _ = std::fs::remove_dir_all(&building);
        return Err(e);
    }
    std::fs::rename(&building, &env.dir)?;
    env.write_script()?;
    Ok(env)
}

fn build(dir: &Path, python: &str) -> Result<()> {
    let uv = crate::spaces::sandbox::which("uv");
    match &uv {
        Some(uv) => run(Command::new(uv)
            .arg("venv")
            .arg("--python")
            .arg(python)
            .arg(dir))?,
        None => run(Command::new(python).args(["-m", "venv"]).arg(dir))?,
    }
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS)?;
    let venv_python = dir.join("bin").join("python");
    match &uv {
        Some(uv) => run(Command::new(uv)
            .args(["pip", "install", "--python"])
            .arg(&venv_python)
            .arg("-r")
            .arg(&requirements))?,
        None => run(Command::new(&venv_python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements))?,
    }
    // Last: its presence is what makes the environment usable.
    std::fs::write(dir.join(".ready"), "")?;
    Ok(())
}

/// Runs a build step; its output is kept for the error.
fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        bail!("{shown} failed ({}):\n{tail}", out.status);
    }
    Ok(())
}
