//! `hub mirror …`: upstreams, the policy, and repos kept in sync. Each
//! subcommand parses its arguments and calls one `hub_core::mirror`
//! function; what it prints on stdout is JSON (one object a line).

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use hub_core::mirror::policy::{Policy, parse_cap};
use hub_core::mirror::sync::{self, SyncPlan, SyncTarget};
use hub_core::mirror::upstreams::{self, Kind, NewUpstream};

use crate::cli::{DataDir, with_hub};

#[derive(Subcommand)]
pub enum MirrorCommand {
    /// The upstream hubs repos are mirrored from.
    Upstream {
        #[command(subcommand)]
        command: UpstreamCommand,
    },
    /// Show the policy, changing what is given first.
    Policy(PolicyArgs),
    /// Keep a repo of an upstream in sync: `[UPSTREAM:][TYPE/]ns/name`,
    /// e.g. `hf:Qwen/Qwen2.5-0.5B` or `hf:datasets/ns/name`.
    Add {
        target: String,
        /// Revisions whose large files are fetched (default: every branch and tag).
        #[arg(long, value_delimiter = ',')]
        revisions: Vec<String>,
        /// Sync again this often: `30m`, `6h`, `1d`.
        #[arg(long)]
        every: Option<String>,
        /// Let eviction remove its files like those of any cached repo.
        #[arg(long)]
        no_pin: bool,
        /// Sync now, before returning, instead of in the hub's background loop.
        #[arg(long)]
        now: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Sync a mirrored repo now (`[TYPE/]ns/name`).
    Sync {
        repo: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Pin a mirrored repo: eviction never removes its files.
    Pin {
        repo: String,
        /// Unpin instead.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Drop a mirrored repo (`[TYPE/]ns/name`) and its cached files.
    Remove {
        repo: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// The mirrored repos, with their sync state and what they cache.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Evict cached files now until the caps hold.
    Evict {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
pub enum UpstreamCommand {
    /// Add an upstream (asked after those already there).
    Add {
        name: String,
        #[arg(long, value_parser = ["hf", "modelscope"])]
        kind: String,
        /// `https://huggingface.co`, a public mirror, another hub.
        #[arg(long)]
        endpoint: String,
        /// A file holding the upstream token (kept sealed, never shown).
        #[arg(long)]
        token_file: Option<std::path::PathBuf>,
        /// Local users who may read what is private upstream (comma-separated).
        #[arg(long, value_delimiter = ',')]
        private_readers: Vec<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// The upstreams, in the order they are asked (never their tokens).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove an upstream and every repo mirrored from it.
    Remove {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Turn an upstream off (its repos are served as cached) or `--on` again.
    Disable {
        name: String,
        #[arg(long)]
        on: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
pub struct PolicyArgs {
    /// Only repo ids matching these patterns are fetched (`Qwen/*`); repeat.
    #[arg(long)]
    allow: Vec<String>,
    /// Repo ids matching these are never fetched; repeat.
    #[arg(long)]
    deny: Vec<String>,
    /// Empty the allow and deny lists before adding those given.
    #[arg(long)]
    reset_patterns: bool,
    /// `on`: serve only what is cached, never contact an upstream.
    #[arg(long, value_parser = ["on", "off"])]
    offline: Option<String>,
    /// `on`: anonymous callers may make the hub fetch repos too.
    #[arg(long, value_parser = ["on", "off"])]
    anonymous_fetch: Option<String>,
    /// Seconds refs are served before asking upstream again.
    #[arg(long)]
    freshness: Option<i32>,
    /// Cap on cached bytes per repo (`10G`, or `none`).
    #[arg(long)]
    max_repo_size: Option<String>,
    /// Cap on cached bytes in all (`500G`, or `none`).
    #[arg(long)]
    max_total_size: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

pub async fn run(command: MirrorCommand) -> anyhow::Result<()> {
    match command {
        MirrorCommand::Upstream { command } => upstream(command).await,
        MirrorCommand::Policy(args) => {
            let data = args.data.clone();
            with_hub(&data, |hub| async move {
                let mut policy = Policy::load(&hub.db).await?;
                apply(&mut policy, args)?;
                policy.save(&hub.db).await?;
                println!("{}", serde_json::to_string(&policy)?);
                Ok(())
            })
            .await
        }
        MirrorCommand::Add {
            target,
            revisions,
            every,
            no_pin,
            now,
            data,
        } => {
            with_hub(&data, |hub| async move {
                let target = SyncTarget::parse(&target)?;
                let every = every.as_deref().map(parse_interval).transpose()?;
                let plan = SyncPlan {
                    revisions,
                    every,
                    pinned: !no_pin,
                };
                let repo = sync::add(&hub, &target, plan).await?;
                eprintln!(
                    "mirroring {} from {}",
                    repo.full_name(),
                    repo.mirrored_from.as_deref().unwrap_or("?")
                );
                if now {
                    let report = sync::sync_now(&hub, &repo).await?;
                    println!("{}", serde_json::to_string(&report)?);
                }
                Ok(())
            })
            .await
        }
        MirrorCommand::Sync { repo, data } => {
            with_hub(&data, |hub| async move {
                let repo = mirrored(&hub, &repo).await?;
                let report = sync::sync_now(&hub, &repo).await?;
                println!("{}", serde_json::to_string(&report)?);
                Ok(())
            })
            .await
        }
        MirrorCommand::Pin { repo, off, data } => {
            with_hub(&data, |hub| async move {
                let repo = mirrored(&hub, &repo).await?;
                sync::set_pinned(&hub.db, &repo, !off).await?;
                Ok(())
            })
            .await
        }
        MirrorCommand::Remove { repo, data } => {
            with_hub(&data, |hub| async move {
                let repo = mirrored(&hub, &repo).await?;
                sync::remove(&hub, &repo).await?;
                Ok(())
            })
            .await
        }
        MirrorCommand::List { data } => {
            with_hub(&data, |hub| async move {
                for repo in sync::list(&hub.db).await? {
                    println!("{}", serde_json::to_string(&repo)?);
                }
                Ok(())
            })
            .await
        }
        MirrorCommand::Evict { data } => {
            with_hub(&data, |hub| async move {
                let evicted = hub_core::mirror::evict::enforce(&hub).await?;
                println!("{}", serde_json::to_string(&evicted)?);
                Ok(())
            })
            .await
        }
    }
}

async fn upstream(command: UpstreamCommand) -> anyhow::Result<()> {
    match command {
        UpstreamCommand::Add {
            name,
            kind,
            endpoint,
            token_file,
            private_readers,
            data,
        } => {
            with_hub(&data, |hub| async move {
                let token = match &token_file {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    ),
                    None => None,
                };
                let added = upstreams::add(
                    &hub,
                    NewUpstream {
                        name: &name,
                        kind: Kind::parse(&kind)?,
                        endpoint: &endpoint,
                        token: token.as_deref(),
                        private_readers: &private_readers,
                    },
                )
                .await?;
                println!("{}", serde_json::to_string(&added)?);
                Ok(())
            })
            .await
        }
        UpstreamCommand::List { data } => {
            with_hub(&data, |hub| async move {
                for upstream in upstreams::list(&hub.db).await? {
                    println!("{}", serde_json::to_string(&upstream)?);
                }
                Ok(())
            })
            .await
        }
        UpstreamCommand::Remove { name, data } => {
            with_hub(&data, |hub| async move {
                upstreams::remove(&hub, &name).await?;
                Ok(())
            })
            .await
        }
        UpstreamCommand::Disable { name, on, data } => {
            with_hub(&data, |hub| async move {
                upstreams::set_enabled(&hub.db, &name, on).await?;
                Ok(())
            })
            .await
        }
    }
}

fn apply(policy: &mut Policy, args: PolicyArgs) -> anyhow::Result<()> {
    let on = |s: &str| s == "on";
    if args.reset_patterns {
        policy.allow.clear();
        policy.deny.clear();
    }
    policy.allow.extend(args.allow);
    policy.deny.extend(args.deny);
    if let Some(v) = args.offline {
        policy.offline = on(&v);
    }
    if let Some(v) = args.anonymous_fetch {
        policy.anonymous_fetch = on(&v);
    }
    if let Some(v) = args.freshness {
        policy.freshness_seconds = v;
    }
    let cap = |s: &str| match s {
        "none" => Ok(None),
        s => parse_cap(s).map(Some),
    };
    if let Some(v) = args.max_repo_size {
        policy.max_repo_bytes = cap(&v)?;
    }
    if let Some(v) = args.max_total_size {
        policy.max_total_bytes = cap(&v)?;
    }
    Ok(())
}

/// `30s`, `30m`, `6h`, `1d`.
fn parse_interval(s: &str) -> anyhow::Result<Duration> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("'{s}' is not an interval (e.g. 6h)"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("'{s}' is not an interval (e.g. 30m, 6h, 1d)"),
    };
    Ok(Duration::from_secs(n * unit))
}

/// The mirrored repo `[TYPE/]ns/name`.
async fn mirrored(hub: &hub_core::Hub, s: &str) -> anyhow::Result<hub_core::repos::Repo> {
    let target = SyncTarget::parse(s)?;
    let repo = hub_core::repos::find(&hub.db, target.kind, &target.namespace, &target.name)
        .await?
        .filter(|r| r.mirrored_from.is_some())
        .with_context(|| format!("no mirrored repo {s}"))?;
    Ok(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_have_a_unit() {
        assert_eq!(parse_interval("6h").unwrap(), Duration::from_secs(6 * 3600));
        assert_eq!(parse_interval("30m").unwrap(), Duration::from_secs(1800));
        for bad in ["6", "h", "0h", "6w", ""] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
