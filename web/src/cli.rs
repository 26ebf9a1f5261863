//! The command line. Every subcommand takes `--data-dir` and reaches the
//! same database as `hub serve` does for that data dir and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hub_core::accounts::{TokenRole, tokens, users};
use hub_core::billing;
use hub_core::config::Config;
use hub_core::db::Database;
use hub_core::transfer;

#[derive(Parser)]
#[command(name = "hub", version, about = "Kaiyuan Hub (开源): an open model hub")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct DataDir {
    /// Where repos, objects, the secret and (without DATABASE_URL) the database live.
    #[arg(long, default_value = "./data", global = true)]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        tls: crate::tls::TlsArgs,
        #[command(flatten)]
        data: DataDir,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        data: DataDir,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage inference worker tokens.
    WorkerToken {
        #[command(subcommand)]
        command: WorkerTokenCommand,
    },
    /// Delete stored files (LFS objects, xorbs) that no repo reaches any more.
    Gc {
        /// Leave alone whatever changed more recently than this.
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
        /// Collect nothing: say how far the conversion of plain LFS objects
        /// into xorbs has come, and what the store holds.
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write a repo (or a snapshot at a revision) as a self-describing bundle
    /// directory: a git bundle, its LFS objects and a manifest of hashes,
    /// for carrying to a hub on another network (`hub import`).
    Export {
        /// `namespace/name`, or `namespace/name@REVISION` (a branch, tag or
        /// commit: the default branch is exported at it, with the branches
        /// and tags its history holds).
        repo: String,
        /// `model`, `dataset` or `space`.
        #[arg(long = "type", default_value = "model")]
        repo_type: String,
        /// The directory to write (new, or empty).
        #[arg(long)]
        to: PathBuf,
        /// Split every file larger than this into numbered parts of this
        /// size, for removable media: bytes, or with K, M, G (`4G`).
        #[arg(long)]
        part_size: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Load a bundle written by `hub export` as a new repo, after checking
    /// every hash in it; nothing is visible until all of it is in.
    Import {
        /// The bundle directory (holding manifest.json).
        from: PathBuf,
        /// Import as `namespace/name` instead of the name it was exported
        /// under; the namespace must exist here.
        #[arg(long = "as")]
        as_id: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// The paid tier's credits: grants, refunds and the ledger's consistency check.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// Mirror mode: upstream hubs, what may be fetched, repos kept in sync.
    Mirror {
        #[command(subcommand)]
        command: crate::cli_mirror::MirrorCommand,
    },
    /// Run a git hook (git calls this; not for people).
    #[command(hide = true)]
    Hook { name: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// The name shown next to the username (`fullname` in whoami).
        #[arg(long, default_value = "")]
        fullname: String,
        /// Make the user a site administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (only the token) on stdout.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// A token that may write (default: read only).
        #[arg(long)]
        write: bool,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum WorkerTokenCommand {
    /// Create a worker and print its token (only the token) on stdout.
    /// The token lets an inference-worker speak the worker protocol, nothing else.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Give credits to a user or organisation (from the promotional account).
    Grant {
        #[command(flatten)]
        payer: PayerArgs,
        /// In yuan: `50`, `0.5`, `¥12.80`.
        #[arg(long)]
        amount: String,
        /// Kept with the transfer and shown to the payer.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Give back part or all of a charge (a new, reversing transfer).
    Refund {
        #[command(flatten)]
        payer: PayerArgs,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        reason: String,
        /// The charge or order refunded (a transfer id or order id).
        #[arg(long)]
        reference: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Set the price of a device class from now on (charges keep the price
    /// they were made at); without prices, list those in force.
    Rate {
        /// `cpu`, `gpu-small`, `gpu-large`, or a class of your own.
        #[arg(long, requires_all = ["per_second", "per_1k_tokens"])]
        class: Option<String>,
        /// Yuan per second of device time.
        #[arg(long)]
        per_second: Option<String>,
        /// Yuan per thousand tokens (paid inference).
        #[arg(long = "per-1k-tokens")]
        per_1k_tokens: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Recompute every balance from the transfers and report each difference;
    /// exits with 1 when there is one.
    Check {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct PayerArgs {
    /// The user whose wallet it is.
    #[arg(long)]
    user: Option<String>,
    /// The organisation whose wallet it is.
    #[arg(long)]
    org: Option<String>,
}

impl PayerArgs {
    async fn find(&self, db: &sqlx::PgPool) -> anyhow::Result<billing::Payer> {
        let (kind, name) = match (&self.user, &self.org) {
            (Some(user), _) => (billing::PayerKind::User, user),
            (None, Some(org)) => (billing::PayerKind::Org, org),
            (None, None) => anyhow::bail!("say --user NAME or --org NAME"),
        };
        Ok(billing::Payer::find(db, kind, name).await?)
    }
}

async fn billing_command(command: BillingCommand) -> anyhow::Result<()> {
    match command {
        BillingCommand::Grant {
            payer,
            amount,
            reason,
            data,
        } => {
            with_database(&data, |db| async move {
                let payer = payer.find(&db.pool).await?;
                let amount = billing::Credits::parse_yuan(&amount)?;
                let id = billing::grants::grant(&db.pool, &payer, amount, &reason, None).await?;
                eprintln!("granted {amount} to {}", payer.name);
                println!("{id}");
                Ok(())
            })
            .await
        }
        BillingCommand::Refund {
            payer,
            amount,
            reason,
            reference,
            data,
        } => {
            with_database(&data, |db| async move {
                let payer = payer.find(&db.pool).await?;
                let amount = billing::Credits::parse_yuan(&amount)?;
                let id =
                    billing::grants::refund(&db.pool, &payer, amount, &reason, None, &reference)
                        .await?;
                eprintln!("refunded {amount} to {}", payer.name);
                println!("{id}");
                Ok(())
            })
            .await
        }
        BillingCommand::Rate {
            class,
            per_second,
            per_1k_tokens,
            data,
        } => {
            with_database(&data, |db| async move {
                if let (Some(class), Some(per_second), Some(per_1k)) =
                    (class, per_second, per_1k_tokens)
                {
                    billing::rates::add(
                        &db.pool,
                        &class,
                        billing::Credits::parse_yuan(&per_second)?,
                        billing::Credits::parse_yuan(&per_1k)?,
                        None,
                    )
                    .await?;
                }
                for rate in billing::rates::list(&db.pool).await? {
                    println!("{}", serde_json::to_string(&rate)?);
                }
                Ok(())
            })
            .await
        }
        BillingCommand::Check { data } => {
            with_database(&data, |db| async move {
                let report = billing::ledger::check(&db.pool).await?;
                println!("{}", serde_json::to_string(&report)?);
                if report.is_sound() {
                    eprintln!(
                        "billing check: {} accounts, {} transfers: no difference",
                        report.accounts, report.transfers
                    );
                    Ok(())
                } else {
                    anyhow::bail!(
                        "billing check: {} counters differ from the transfers, {} wallets \
                         overdrawn, posted debits {} vs credits {}",
                        report.differences.len(),
                        report.overdrawn.len(),
                        report.debits_posted,
                        report.credits_posted
                    )
                }
            })
            .await
        }
    }
}

async fn gc(hub: &hub_core::Hub, grace: std::time::Duration) -> anyhow::Result<()> {
    let lfs = hub_core::lfs::gc::collect(hub, grace).await?;
    let xet = hub_core::xet::gc::collect(hub, grace).await?;
    eprintln!(
        "gc: scanned {} repos, dropped {} LFS links ({} newly marked), removed {} LFS objects, \
         {} file reconstructions, {} xorbs ({} newly marked unused) and {} orphan files, \
         freed {} bytes",
        lfs.repos_scanned,
        lfs.links_dropped,
        lfs.links_marked,
        lfs.objects_removed,
        xet.files_removed,
        xet.xorbs_removed,
        xet.xorbs_marked,
        lfs.orphan_files_removed + xet.orphan_xorbs_removed,
        lfs.bytes_freed + xet.xorb_bytes_freed
    );
    let mut report = serde_json::to_value(&lfs)?;
    report["xet"] = serde_json::to_value(&xet)?;
    report["bytes_freed"] = (lfs.bytes_freed + xet.xorb_bytes_freed).into();
    println!("{report}");
    Ok(())
}

async fn gc_status(hub: &hub_core::Hub) -> anyhow::Result<()> {
    let status = hub_core::xet::gc::ingest_status(hub).await?;
    eprintln!(
        "xet: {} LFS objects ({} bytes) waiting to be chunked into xorbs ({} failing, retried); \
         {} files ({} bytes) held in {} xorbs ({} bytes stored)",
        status.queued,
        status.queued_bytes,
        status.failing,
        status.files,
        status.file_bytes,
        status.xorbs,
        status.xorb_bytes
    );
    println!("{}", serde_json::to_string(&status)?);
    Ok(())
}

async fn export(
    hub: &hub_core::Hub,
    repo: &str,
    repo_type: &str,
    to: &std::path::Path,
    part_size: Option<&str>,
) -> anyhow::Result<()> {
    let repo_type = hub_core::repos::RepoType::parse(repo_type)?;
    let (id, revision) = match repo.split_once('@') {
        Some((id, rev)) => (id, Some(rev)),
        None => (repo, None),
    };
    let part_size = part_size.map(hub_core::text::parse_size).transpose()?;
    let started = std::time::Instant::now();
    let manifest = transfer::export(hub, repo_type, id, revision, to, part_size).await?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let pieces: usize = manifest.files.iter().map(|f| f.pieces().len()).sum();
    eprintln!(
        "exported {} {id}{}: {} refs, {} LFS objects, {bytes} bytes in {pieces} files, to {} in {:.1} s",
        repo_type.as_str(),
        revision.map(|r| format!("@{r}")).unwrap_or_default(),
        manifest.refs.len(),
        manifest.lfs_objects().count(),
        to.display(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string(&manifest)?);
    Ok(())
}

async fn import(
    hub: &hub_core::Hub,
    from: &std::path::Path,
    as_id: Option<&str>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let imported = transfer::import(hub, from, as_id).await?;
    eprintln!(
        "imported {} {}: {} refs, {} LFS objects ({} bytes) in {:.1} s",
        imported.repo.kind().as_str(),
        imported.repo.full_name(),
        imported.refs,
        imported.lfs_objects,
        imported.lfs_bytes,
        started.elapsed().as_secs_f64()
    );
    println!(
        "{}",
        serde_json::json!({
            "id": imported.repo.full_name(),
            "type": imported.repo.kind().as_str(),
            "head_sha": imported.repo.head_sha,
            "refs": imported.refs,
            "lfs_objects": imported.lfs_objects,
            "lfs_bytes": imported.lfs_bytes,
        })
    );
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen, tls, data } => {
            crate::serve::serve(Config::from_env(&data.data_dir)?, listen, tls).await
        }
        Command::Hook { name } => crate::hook::run(&name),
        Command::Billing { command } => billing_command(command).await,
        Command::Mirror { command } => crate::cli_mirror::run(command).await,
        Command::Export {
            repo,
            repo_type,
            to,
            part_size,
            data,
        } => {
            with_hub(&data, |hub| async move {
                export(&hub, &repo, &repo_type, &to, part_size.as_deref()).await
            })
            .await
        }
        Command::Import { from, as_id, data } => {
            with_hub(&data, |hub| async move {
                import(&hub, &from, as_id.as_deref()).await
            })
            .await
        }
        Command::Gc {
            grace_minutes,
            status,
            data,
        } => {
            with_hub(&data, |hub| async move {
                if status {
                    gc_status(&hub).await
                } else {
                    gc(&hub, std::time::Duration::from_secs(grace_minutes * 60)).await
                }
            })
            .await
        }
        Command::WorkerToken {
            command: WorkerTokenCommand::Create { name, data },
        } => {
            with_database(&data, |db| async move {
                let secret = hub_core::jobs::workers::create_token(&db.pool, &name).await?;
                println!("{secret}");
                Ok(())
            })
            .await
        }
        Command::Migrate { data } => with_database(&data, |_| async { Ok(()) }).await,
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    email,
                    password,
                    fullname,
                    admin,
                    data,
                },
        } => {
            with_database(&data, |db| async move {
                let new = users::NewUser {
                    username: &username,
                    email: &email,
                    password: &password,
                    full_name: &fullname,
                    is_admin: admin,
                };
                let user = users::create_user(&db.pool, new).await?;
                eprintln!("created user {}", user.name);
                Ok(())
            })
            .await
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    username,
                    name,
                    write,
                    data,
                },
        } => {
            with_database(&data, |db| async move {
                let user = users::find_by_name(&db.pool, &username)
                    .await?
                    .with_context(|| format!("no user named '{username}'"))?;
                let role = if write {
                    TokenRole::Write
                } else {
                    TokenRole::Read
                };
                let (secret, _) = tokens::create(&db.pool, user.id, &name, role).await?;
                println!("{secret}");
                Ok(())
            })
            .await
        }
    }
}

/// Opens the hub of a data dir (its database migrated), runs `f`, closes it.
pub(crate) async fn with_hub<F, Fut>(data: &DataDir, f: F) -> anyhow::Result<()>
where
    F: FnOnce(std::sync::Arc<hub_core::Hub>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::from_env(&data.data_dir)?;
    let db = Database::open(&config).await?;
    let hub = crate::serve::open_hub(config, &db)?.into_shared();
    let result = f(hub.clone()).await;
    drop(hub);
    db.close().await?;
    result
}

/// Opens the database of a data dir (migrating it), runs `f`, closes it.
async fn with_database<F, Fut>(data: &DataDir, f: F) -> anyhow::Result<()>
where
    F: FnOnce(std::sync::Arc<Database>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let config = Config::from_env(&data.data_dir)?;
    let db = std::sync::Arc::new(Database::open(&config).await?);
    let result = f(db.clone()).await;
    let db = std::sync::Arc::into_inner(db).context("database still in use")?;
    db.close().await?;
    result
}
