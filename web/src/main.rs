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
    limit_malloc_arenas();
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

/// Caps glibc's malloc at two arenas. By default it opens up to eight per
/// core, and tokio's many threads (workers, and the blocking pool that
/// decodes and hashes) spread the hub's transfer buffers (8 MiB xorb
/// reads, 2 MiB file reads) over all of them. Each arena keeps the pages
/// freed in it for the next allocation there, so the hub's resident size
/// became the sum of every arena's own peak: 337 MB at peak in
/// `bench/xet.py` and 264 MB idle after it. With two arenas: 220 MB at
/// peak, 137 MB idle, and the same CPU per byte. (Mapping each large buffer
/// on its own, or jemalloc, gave 181 and 208 MB but twice the hub's CPU
/// per byte served, in page faults; mimalloc kept 508 MB.) Per-thread
/// caches still serve small allocations without taking an arena's lock.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of glibc's allocator,
    // and runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
