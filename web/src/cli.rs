//! The command line. Every subcommand takes `--data-dir` and reaches the
//! same database as `hub serve` does for that data dir and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hub_core::accounts::{TokenRole, tokens, users};
use hub_core::config::Config;
use hub_core::db::Database;

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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { listen, tls, data } => {
            crate::serve::serve(Config::from_env(&data.data_dir)?, listen, tls).await
        }
        Command::Hook { name } => crate::hook::run(&name),
        Command::Gc {
            grace_minutes,
            status,
            data,
        } => {
            let config = Config::from_env(&data.data_dir)?;
            let db = Database::open(&config).await?;
            let hub = crate::serve::open_hub(config, &db)?;
            let grace = std::time::Duration::from_secs(grace_minutes * 60);
            let done = if status {
                gc_status(&hub).await
            } else {
                gc(&hub, grace).await
            };
            drop(hub);
            db.close().await?;
            done
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
