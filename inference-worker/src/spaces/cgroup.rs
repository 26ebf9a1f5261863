//! Memory and process limits for one sandbox, from the cgroup hierarchy the
//! machine has: cgroup v2 when the worker may create a child group with the
//! `memory` and `pids` controllers, else v1 (`/sys/fs/cgroup/{memory,pids}`,
//! writable by root: hybrid hosts such as this project's dev machines),
//! else none (rlimits only, said in the capability's detail).
//!
//! The sandbox's first process joins the group before it execs bwrap (see
//! `sandbox::Jail::command`), so nothing it starts can escape it.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

const ROOT: &str = "/sys/fs/cgroup";
const GROUP: &str = "kaiyuan-spaces";

#[derive(Debug, Clone)]
pub enum Hierarchy {
    V2(PathBuf),
    V1 { memory: PathBuf, pids: PathBuf },
    None(String),
}

impl Hierarchy {
    /// Finds (and prepares) the parent group of all sandboxes.
    pub fn detect() -> Hierarchy {
        let root = Path::new(ROOT);
        let mut why = Vec::new();
        match v2(root) {
            Ok(h) => return h,
            Err(e) => why.push(format!("v2: {e:#}")),
        }
        match v1(root) {
            Ok(h) => return h,
            Err(e) => why.push(format!("v1: {e:#}")),
        }
        Hierarchy::None(why.join("; "))
    }

    pub fn describe(&self) -> String {
        match self {
            Hierarchy::V2(_) => "cgroup v2 (memory, pids)".into(),
            Hierarchy::V1 { .. } => "cgroup v1 (memory, pids)".into(),
            Hierarchy::None(why) => format!("no cgroups ({why}): rlimits only"),
        }
    }
}

fn v2(root: &Path) -> Result<Hierarchy> {
    let controllers =
        std::fs::read_to_string(root.join("cgroup.controllers")).context("no unified hierarchy")?;
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    anyhow::ensure!(
        has("memory") && has("pids"),
        "the unified hierarchy has no memory and pids controllers"
    );
    // The parent of the sandboxes holds no process itself (cgroup v2's "no
    // internal processes" rule), so its children may use the controllers.
    let parent = root.join(GROUP);
    std::fs::create_dir_all(&parent).with_context(|| format!("mkdir {}", parent.display()))?;
    for dir in [root, &parent] {
        std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids")
            .with_context(|| format!("enabling controllers in {}", dir.display()))?;
    }
    Ok(Hierarchy::V2(parent))
}

fn v1(root: &Path) -> Result<Hierarchy> {
    let memory = root.join("memory").join(GROUP);
    let pids = root.join("pids").join(GROUP);
    for dir in [&memory, &pids] {
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    }
    Ok(Hierarchy::V1 { memory, pids })
}

/// One sandbox's group(s); removed (its processes killed first) on drop.
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    memory: PathBuf,
    v2: bool,
}

impl Cgroup {
    pub fn create(
        h: &Hierarchy,
        name: &str,
        memory_bytes: u64,
        pids: u32,
    ) -> Result<Option<Cgroup>> {
        let write = |file: PathBuf, value: String| {
            std::fs::write(&file, value).with_context(|| format!("writing {}", file.display()))
        };
        match h {
            Hierarchy::None(_) => Ok(None),
            Hierarchy::V2(parent) => {
                let dir = parent.join(name);
                std::fs::create_dir_all(&dir)?;
                let group = Cgroup {
                    dirs: vec![dir.clone()],
                    memory: dir.clone(),
                    v2: true,
                };
                write(dir.join("memory.max"), memory_bytes.to_string())?;
                // No swapping around the limit (absent without swap accounting).
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                write(dir.join("pids.max"), pids.to_string())?;
                Ok(Some(group))
            }
            Hierarchy::V1 {
                memory,
                pids: pids_root,
            } => {
                let (mem, pid) = (memory.join(name), pids_root.join(name));
                std::fs::create_dir_all(&mem)?;
                std::fs::create_dir_all(&pid)?;
                let group = Cgroup {
                    dirs: vec![mem.clone(), pid.clone()],
                    memory: mem.clone(),
                    v2: false,
                };
                write(mem.join("memory.limit_in_bytes"), memory_bytes.to_string())?;
                let _ = std::fs::write(
                    mem.join("memory.memsw.limit_in_bytes"),
                    memory_bytes.to_string(),
                );
                write(pid.join("pids.max"), pids.to_string())?;
                Ok(Some(group))
            }
        }
    }

    /// The `cgroup.procs` files a process writes its pid to, to join.
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|d| {
                CString::new(d.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()
            })
            .collect()
    }

    /// Whether the kernel killed a process of the group for memory.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(self.memory.join(file))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| {
                        l.strip_prefix("oom_kill ")
                            .map(|n| n.trim().parse::<u64>().ok())
                    })
                    .flatten()
            })
            .is_some_and(|n| n > 0)
    }

    fn kill_all(&self) -> bool {
        let mut any = false;
        for dir in &self.dirs {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                any = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        any
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if !self.kill_all() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for dir in &self.dirs {
            if let Err(e) = std::fs::remove_dir(dir) {
                tracing::warn!("removing cgroup {}: {e}", dir.display());
            }
        }
    }
}
