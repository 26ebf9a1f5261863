//! The base model of a fine-tune: readable by the caller, an architecture
//! the trainer handles, as safetensors; and its tokenizer and chat
//! template, to count tokens as the trainer will.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;

use super::tokens::TokenCounter;
use crate::accounts::Actor;
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::inference::model::{self, Model};
use crate::repos::access::{self, level::Read};
use crate::repos::{RepoType, content};

/// The architectures the trainer (transformers + PEFT) fine-tunes.
pub const TRAINABLE: &[&str] = &["qwen2", "qwen3", "llama", "mistral"];

/// The base model, readable by `actor`, of an architecture the trainer
/// handles, as safetensors (not GGUF).
pub(super) async fn base_model(hub: &Hub, actor: &Actor, id: &str) -> Result<Model> {
    let parsed = model::parse_model_id(id)?;
    if parsed.quantization.is_some() {
        return Err(unsupported_base(
            id,
            "a quantised GGUF file cannot be fine-tuned",
        ));
    }
    let base = model::resolve(
        hub,
        actor,
        &parsed.namespace,
        &parsed.name,
        parsed.revision.as_deref(),
        None,
    )
    .await
    .map_err(|e| match e {
        Error::InvalidInput(m) => unsupported_base(id, &m.to_string()),
        e => e,
    })?;
    if base.gguf.is_some() {
        return Err(unsupported_base(
            id,
            "it holds GGUF files only; fine-tune its safetensors original",
        ));
    }
    if !TRAINABLE.contains(&base.architecture.as_str()) {
        return Err(unsupported_base(
            id,
            &format!(
                "the trainer handles {} models, not {}",
                TRAINABLE.join(", "),
                base.architecture
            ),
        ));
    }
    Ok(base)
}

fn unsupported_base(id: &str, why: &str) -> Error {
    Error::invalid(
        Message::coded(
            "finetune.unsupported_base",
            "{model} cannot be fine-tuned: {why}",
        )
        .with("model", id)
        .with("why", why),
    )
}

/// Largest tokenizer file read to count tokens.
const MAX_TOKENIZER_BYTES: u64 = 64 << 20;

/// The base model's tokenizer and chat template, to count tokens as the
/// trainer will.
pub(super) async fn token_counter(
    hub: &Hub,
    actor: &Actor,
    base: &Model,
) -> Result<Arc<TokenCounter>> {
    let repo = access::authorize::<Read>(
        hub,
        actor,
        RepoType::Model,
        &base.repo.namespace,
        &base.repo.name,
    )
    .await?;
    let tokenizer = read_whole(
        hub,
        &repo,
        &base.revision,
        "tokenizer.json",
        MAX_TOKENIZER_BYTES,
    )
    .await?
    .ok_or_else(|| unsupported_base(&base.repo_name(), "it has no tokenizer.json"))?;
    let config = read_whole(
        hub,
        &repo,
        &base.revision,
        "tokenizer_config.json",
        MAX_TOKENIZER_BYTES,
    )
    .await?;
    // Newer checkpoints keep the template beside the config, in its own file.
    let jinja = read_whole(hub, &repo, &base.revision, "chat_template.jinja", 1 << 20).await?;
    let config = match jinja {
        Some(jinja) => {
            let mut config: serde_json::Map<String, Value> = config
                .as_deref()
                .and_then(|c| serde_json::from_slice(c).ok())
                .unwrap_or_default();
            config.insert(
                "chat_template".into(),
                Value::String(String::from_utf8_lossy(&jinja).into_owned()),
            );
            Some(serde_json::to_vec(&config).map_err(anyhow::Error::from)?)
        }
        None => config,
    };
    let name = base.repo_name();
    // Chat fine-tuning needs the model's chat template (the trainer renders
    // every example with it).
    tokio::task::spawn_blocking(move || TokenCounter::new(&tokenizer, config.as_deref(), false))
        .await?
        .map(Arc::new)
        .map_err(|e| unsupported_base(&name, &e.to_string()))
}

/// A file of `repo` at `commit`, whole, when it exists and is at most `max` bytes.
async fn read_whole(
    hub: &Hub,
    repo: &access::Authorized<Read>,
    commit: &str,
    path: &str,
    max: u64,
) -> Result<Option<Vec<u8>>> {
    let entry = match content::file_at(hub, repo, commit, path).await {
        Ok(entry) => entry,
        Err(Error::EntryNotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if entry.content_size() > max {
        return Err(Error::too_large(format!(
            "{path} is larger than {max} bytes"
        )));
    }
    let mut stream = content::read(hub, repo, &entry, None).await?;
    let mut bytes = Vec::with_capacity(entry.content_size() as usize);
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(Some(bytes))
}
