//! The worker's side of the hub ⇄ worker protocol (`worker-protocol`):
//! register, heartbeat, claim. Events are streamed by [`crate::worker`].

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker_protocol::{
    ClaimRequest, Heartbeat, HeartbeatResponse, Job, PREFIX, RegisterRequest, RegisterResponse,
};

#[derive(Clone)]
pub struct HubClient {
    pub http: reqwest::Client,
    pub hub: String,
    token: String,
}

/// A call failed because the hub no longer knows this session.
#[derive(Debug)]
pub struct UnknownSession;

impl std::fmt::Display for UnknownSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the hub does not know this worker session")
    }
}

impl std::error::Error for UnknownSession {}

impl HubClient {
    pub fn new(hub: &str, token: &str) -> Result<HubClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()?;
        Ok(HubClient {
            http,
            hub: hub.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{PREFIX}{path}", self.hub)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<Option<R>> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .with_context(|| format!("POST {PREFIX}{path}"))?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::GONE
        ) && path != "/register"
        {
            return Err(UnknownSession.into());
        }
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {PREFIX}{path}: {status}: {}", text.trim());
        }
        Ok(Some(response.json().await.with_context(|| {
            format!("POST {PREFIX}{path}: unexpected answer")
        })?))
    }

    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse> {
        self.post("/register", request, Duration::from_secs(30))
            .await?
            .context("register: empty answer")
    }

    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<HeartbeatResponse> {
        Ok(self
            .post("/heartbeat", beat, Duration::from_secs(30))
            .await?
            .unwrap_or_default())
    }

    /// A job, or None when nothing came within `wait_ms`.
    pub async fn claim(&self, request: &ClaimRequest) -> Result<Option<Job>> {
        let timeout = Duration::from_millis(request.wait_ms) + Duration::from_secs(30);
        self.post("/claim", request, timeout).await
    }
}
