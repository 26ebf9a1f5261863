//! `hub`: the Kaiyuan Hub server and its operator commands.

mod app;
mod auth;
mod cli;
mod cli_mirror;
mod connections;
mod download;
mod errors;
mod hook;
mod i18n;
mod log_uri;
mod params;
mod range;
mod repo_path;
mod request;
mod routes;
mod serve;
mod spaces;
mod sse;
mod tls;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        // stdout belongs to commands like `token create`, which print only the token.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
