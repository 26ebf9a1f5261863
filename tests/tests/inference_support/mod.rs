//! Shared by the inference tests: a hub with inference settings, a worker
//! that speaks the protocol from the test (a real client of the real hub),
//! and a reader of SSE answers.

#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use futures::StreamExt;
use hub_core::jobs::protocol::{
    Capabilities, ClaimRequest, Device, DeviceKind, Event, EventBody, EventsAck, Heartbeat,
    HeartbeatResponse, Job, RegisterRequest, RegisterResponse, Task,
};
use serde_json::{Value, json};
use tests::{TestDatabase, TestHub, file_op};

/// A hub on a fresh database with extra environment (inference settings).
pub struct Hub {
    pub hub: TestHub,
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
}

impl Deref for Hub {
    type Target = TestHub;
    fn deref(&self) -> &TestHub {
        &self.hub
    }
}

impl DerefMut for Hub {
    fn deref_mut(&mut self) -> &mut TestHub {
        &mut self.hub
    }
}

pub async fn hub_with(env: &[(&str, &str)]) -> Hub {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let hub = TestHub::spawn_with(dir.path(), Some(db.url.clone()), env).await;
    Hub { hub, db, dir }
}

impl Hub {
    /// A second `hub serve` on the same database and data dir: another node.
    pub async fn second_node(&self) -> TestHub {
        TestHub::spawn_with(
            self.dir.path(),
            Some(self.db.url.clone()),
            self.hub.env.clone(),
        )
        .await
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db.url).await.unwrap()
    }

    pub fn worker_token(&self, name: &str) -> String {
        let out = self.cli(&["worker-token", "create", "--name", name]);
        assert!(
            out.status.success(),
            "worker-token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(
            token.starts_with("kyw_"),
            "only the token on stdout: {token}"
        );
        token
    }
}

/// Uploads a config.json-only model of `model_type` (enough for the hub to
/// describe it; a protocol-driven worker does not load weights).
pub async fn config_only_model(
    hub: &TestHub,
    token: &str,
    repo: &str,
    model_type: &str,
    private: bool,
) {
    let api = hub.api(Some(token));
    let (ns, name) = repo.split_once('/').unwrap();
    let created = api.create_repo("model", ns, name, private).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let class = match model_type {
        "bert" => "BertModel",
        "llama" => "LlamaForCausalLM",
        _ => "Qwen2ForCausalLM",
    };
    let config = json!({ "model_type": model_type, "architectures": [class] });
    let commit = api
        .commit(
            repo,
            "config",
            &[file_op("config.json", config.to_string().as_bytes())],
            None,
        )
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
}

/// A worker driven by the test over the real protocol.
#[derive(Clone)]
pub struct ProtocolWorker {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub session: uuid::Uuid,
}

pub fn capabilities(archs: &[&str], tasks: &[Task]) -> Capabilities {
    Capabilities {
        spaces: None,
        device: Device {
            kind: DeviceKind::Cpu,
            name: "test cpu".into(),
            memory_bytes: 1 << 30,
        },
        architectures: archs.iter().map(|s| s.to_string()).collect(),
        tasks: tasks.to_vec(),
        max_concurrent_jobs: 1,
        version: "protocol-test".into(),
    }
}

impl ProtocolWorker {
    pub async fn register(base: &str, token: &str, caps: Capabilities) -> ProtocolWorker {
        let client = reqwest::Client::new();
        let response: RegisterResponse = client
            .post(format!("{base}/api/workers/register"))
            .bearer_auth(token)
            .json(&RegisterRequest {
                capabilities: caps,
                loaded_models: vec![],
            })
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        ProtocolWorker {
            base: base.to_owned(),
            token: token.to_owned(),
            client,
            session: response.session,
        }
    }

    /// Long-polls for a job.
    pub async fn claim(&self, wait: Duration) -> Option<Job> {
        let response = self
            .client
            .post(format!("{}/api/workers/claim", self.base))
            .bearer_auth(&self.token)
            .json(&ClaimRequest {
                session: self.session,
                wait_ms: wait.as_millis() as u64,
            })
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => Some(response.json().await.unwrap()),
            204 => None,
            s => panic!("claim: {s} {}", response.text().await.unwrap()),
        }
    }

    pub async fn heartbeat(&self, running: &[uuid::Uuid]) -> HeartbeatResponse {
        self.client
            .post(format!("{}/api/workers/heartbeat", self.base))
            .bearer_auth(&self.token)
            .json(&Heartbeat {
                session: self.session,
                running: running.to_vec(),
                loaded_models: vec![],
                memory_used_bytes: 0,
            })
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Posts events as one NDJSON body; returns the status and the answer.
    pub async fn events(&self, job: uuid::Uuid, events: &[Event]) -> (u16, Value) {
        self.events_of(job, None, events).await
    }

    /// [`Self::events`] naming the attempt they belong to.
    pub async fn events_of(
        &self,
        job: uuid::Uuid,
        attempt: Option<u32>,
        events: &[Event],
    ) -> (u16, Value) {
        let query = attempt.map(|a| format!("?attempt={a}")).unwrap_or_default();
        let body: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        let response = self
            .client
            .post(format!(
                "{}/api/workers/jobs/{job}/events{query}",
                self.base
            ))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn ack(&self, job: uuid::Uuid, events: &[Event]) -> EventsAck {
        let (status, body) = self.events(job, events).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }
}

pub fn event(seq: u64, body: EventBody) -> Event {
    Event { seq, body }
}

/// The end of a generation: `prompt` and `generated` tokens used.
pub fn finished(seq: u64, prompt: u32, generated: u32) -> Event {
    event(
        seq,
        EventBody::Finished {
            finish_reason: hub_core::jobs::protocol::FinishReason::EosToken,
            usage: hub_core::jobs::protocol::Usage {
                prompt_tokens: prompt,
                generated_tokens: generated,
                device_ms: 7,
            },
        },
    )
}

pub fn tok(seq: u64, id: u32, text: &str) -> Event {
    event(
        seq,
        EventBody::Token(hub_core::jobs::protocol::Token {
            id,
            text: text.into(),
            logprob: -0.5,
            special: false,
        }),
    )
}

/// The `data:` payloads of an SSE answer (and event names), as they arrive.
pub struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl Sse {
    pub fn new(response: reqwest::Response) -> Sse {
        Sse {
            body: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event as `(name, data)`; `None` at the end of the body.
    pub async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(cut) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..cut + 2).collect();
                let mut name = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, data.join("\n")));
            }
            match self.body.next().await {
                Some(chunk) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(&chunk.expect("SSE body"))),
                None => return None,
            }
        }
    }

    /// Every remaining `data:` payload of unnamed events.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((name, data)) = self.next().await {
            if name == "message" {
                out.push(data);
            }
        }
        out
    }
}

/// The text of streamed chat chunks, and whether `[DONE]` ended them.
pub fn chat_text(events: &[String]) -> (String, bool) {
    let mut text = String::new();
    let mut done = false;
    for e in events {
        if e == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(e).unwrap();
        assert!(v.get("error").is_none(), "error in stream: {v}");
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    (text, done)
}

// Not every test binary starts a worker process.
#[allow(unused_imports)]
pub use tests::worker::*;
