//! `hub hook <name>`: what git runs as the pre-receive and post-receive
//! hooks of every repo. It reports the ref updates (and git's quarantine)
//! to the hub over the hub's local unix socket and relays the verdict: a
//! refusal becomes the `remote:` message the pusher sees and a non-zero exit.

use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;

use anyhow::{Context, bail};
use hub_core::git::hooks::{ENV_SOCKET, ENV_TOKEN};
use hub_core::git::receive::{Quarantine, RefUpdate};
use serde_json::{Value, json};

pub fn run(name: &str) -> anyhow::Result<()> {
    let (Ok(socket), Ok(token)) = (std::env::var(ENV_SOCKET), std::env::var(ENV_TOKEN)) else {
        bail!("pushes to this repository must go through the hub");
    };
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if !line.trim().is_empty() {
            updates.push(RefUpdate::parse_line(&line)?);
        }
    }
    let quarantine = Quarantine {
        object_directory: std::env::var("GIT_OBJECT_DIRECTORY").ok(),
        alternate_object_directories: std::env::var("GIT_ALTERNATE_OBJECT_DIRECTORIES").ok(),
        quarantine_path: std::env::var("GIT_QUARANTINE_PATH").ok(),
    };
    let body = json!({ "token": token, "updates": updates, "quarantine": quarantine }).to_string();
    let (status, answer) = post(&socket, &format!("/internal/hooks/{name}"), &body)
        .with_context(|| format!("cannot reach the hub at {socket}"))?;
    if status == 200 {
        return Ok(());
    }
    let message = serde_json::from_str::<Value>(&answer)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or(answer);
    bail!("{message}")
}

/// A minimal HTTP/1.1 POST over a unix socket (the hub answers with a
/// Content-Length and closes), so the hook needs no HTTP client stack.
fn post(socket: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = UnixStream::connect(socket)?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
