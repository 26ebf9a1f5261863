//! `inference-worker uds-bridge --listen SOCKET --connect HOST:PORT -- APP...`:
//! runs inside a Space's sandbox, which has no network the host can reach.
//! It starts the app, forwards each connection accepted on the Unix socket
//! (in a directory bind-mounted from the host) to the app's TCP port, and
//! exits with the app's status, so the supervisor sees the app end.
//!
//! SIGTERM is passed on to the app and the bridge waits for it: the app
//! gets its chance to stop cleanly, and the sandbox ends with it.

use std::path::PathBuf;
use std::process::ExitStatus;

use anyhow::{Context, Result, bail};
use tokio::net::{TcpStream, UnixListener};
use tokio::signal::unix::{SignalKind, signal};

pub const SUBCOMMAND: &str = "uds-bridge";

struct Args {
    listen: PathBuf,
    connect: String,
    app: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut listen = None;
    let mut connect = None;
    let mut it = args.iter();
    let mut app = Vec::new();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--listen" => listen = it.next().map(PathBuf::from),
            "--connect" => connect = it.next().cloned(),
            "--" => {
                app = it.by_ref().cloned().collect();
                break;
            }
            other => bail!("uds-bridge: unknown argument {other:?}"),
        }
    }
    match (listen, connect) {
        (Some(listen), Some(connect)) if !app.is_empty() => Ok(Args {
            listen,
            connect,
            app,
        }),
        _ => bail!("usage: uds-bridge --listen SOCKET --connect HOST:PORT -- APP [ARGS...]"),
    }
}

/// The subcommand's entry point (before the worker's own argument parsing);
/// returns the process's exit code.
pub fn main(args: &[String]) -> i32 {
    let result = parse(args).and_then(|args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(args))
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("uds-bridge: {e:#}");
            125
        }
    }
}

async fn run(args: Args) -> Result<i32> {
    let _ = std::fs::remove_file(&args.listen);
    let listener = UnixListener::bind(&args.listen)
        .with_context(|| format!("listening on {}", args.listen.display()))?;
    let mut terms = signal(SignalKind::terminate())?;
    // The app inherits stdout and stderr: its output is the run log.
    let mut app = tokio::process::Command::new(&args.app[0])
        .args(&args.app[1..])
        .spawn()
        .with_context(|| format!("starting {}", args.app[0]))?;
    let pid = app.id();
    loop {
        tokio::select! {
            status = app.wait() => return Ok(exit_code(status?)),
            _ = terms.recv() => {
                if let Some(pid) = pid {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
            }
            accepted = listener.accept() => {
                let Ok((mut outside, _)) = accepted else { continue };
                let connect = args.connect.clone();
                tokio::spawn(async move {
                    // Not listening yet (still starting): the connection is
                    // closed, which the readiness probe reads as "not yet".
                    if let Ok(mut inside) = TcpStream::connect(&connect).await {
                        let _ = inside.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                    }
                });
            }
        }
    }
}

/// The status as a shell reports it: the code, or 128 + the signal.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
