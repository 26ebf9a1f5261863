//! What a model repo is, for serving it: the commit a request resolves to,
//! its architecture (`model_type` of config.json at that commit), its task
//! (the card's pipeline tag, else the architecture), and the memory its
//! weights need. Learnt once per commit and kept in `inference_models`.
//!
//! A repo of `.gguf` files (and no safetensors weights) is a GGUF model:
//! the request's quantisation tag picks the file ([`super::quantization`]),
//! whose header gives the architecture (`general.architecture`, served as
//! `gguf:{architecture}`) and the memory (its tensors' bytes). Described
//! once per commit and tag.

use serde::Deserialize;

use super::quantization;
use crate::accounts::Actor;
use crate::error::{Error, Message, Result};
use crate::gguf;
use crate::hub::Hub;
use crate::jobs::protocol::GGUF_PREFIX;
use crate::jobs::protocol::Task;
use crate::jobs::{parse_task, task_str};
use crate::repos::access::{self, Authorized, level::Read};
use crate::repos::content::TreeEntry;
use crate::repos::{Repo, RepoType, content};

#[derive(Debug, Clone)]
pub struct Model {
    pub repo: Repo,
    /// The commit sha.
    pub revision: String,
    pub architecture: String,
    pub task: Task,
    /// Bytes of the weight files (safetensors), or of a GGUF file's
    /// tensors: the memory a worker needs at least.
    pub memory_bytes: i64,
    /// For a GGUF model, the file chosen.
    pub gguf: Option<GgufFile>,
    /// For a LoRA adapter (PEFT layout), the base model it is merged into:
    /// the architecture, task and memory are the base's.
    pub base: Option<Base>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub repo_id: i64,
    pub repo_name: String,
    pub revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufFile {
    /// The quantisation tag of the chosen file, e.g. `Q4_K_M`.
    pub tag: String,
    /// Its path (all parts, in order, for a split file).
    pub files: Vec<String>,
    /// Every tag the repo offers at this commit.
    pub tags: Vec<String>,
}

impl Model {
    pub fn repo_name(&self) -> String {
        self.repo.full_name()
    }
}

/// The `model` of the OpenAI API: `ns/name`, optionally a quantisation
/// tag for GGUF repos and a revision: `ns/name:Q4_K_M@v1` (or `@v1:Q4_K_M`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelId {
    pub namespace: String,
    pub name: String,
    pub revision: Option<String>,
    pub quantization: Option<String>,
}

pub fn parse_model_id(id: &str) -> Result<ModelId> {
    let (path, revision) = match id.split_once('@') {
        Some((p, r)) if !r.is_empty() => (p, Some(r)),
        Some(_) => return Err(Error::invalid("empty revision after '@'")),
        None => (id, None),
    };
    // Neither repo names nor git refs may hold ':', so it always starts the tag.
    let (path, tag) = match path.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (path, None),
    };
    let (revision, tag) = match (revision.and_then(|r| r.split_once(':')), tag) {
        (Some(_), Some(_)) => return Err(Error::invalid("two quantisation tags in the model id")),
        (Some((r, t)), None) => (Some(r), Some(t)),
        (None, tag) => (revision, tag),
    };
    if tag == Some("") || revision == Some("") {
        return Err(Error::invalid(format!(
            "empty quantisation tag or revision in the model id '{id}'"
        )));
    }
    match path.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(ModelId {
                namespace: ns.to_owned(),
                name: name.to_owned(),
                revision: revision.map(str::to_owned),
                quantization: tag.map(str::to_owned),
            })
        }
        _ => Err(Error::invalid(format!(
            "model must be a repo id 'namespace/name' (optionally ':QUANTISATION' and '@revision'), got '{id}'"
        ))),
    }
}

/// The model `actor` asks for, if they may read it (`RepoNotFound` as
/// anywhere else otherwise), resolved to a commit and described.
pub async fn resolve(
    hub: &Hub,
    actor: &Actor,
    namespace: &str,
    name: &str,
    revision: Option<&str>,
    quantization: Option<&str>,
) -> Result<Model> {
    let repo = access::authorize::<Read>(hub, actor, RepoType::Model, namespace, name).await?;
    let rev = revision.unwrap_or(&repo.default_branch).to_owned();
    let commit = content::resolve(hub, &repo, &rev).await?;
    describe(hub, repo, commit, quantization).await
}

/// The description of `repo` at `commit` (with the GGUF file that
/// `quantization` names, for GGUF repos), from the cache or learnt now.
pub async fn describe(
    hub: &Hub,
    repo: Authorized,
    commit: String,
    quantization: Option<&str>,
) -> Result<Model> {
    let variant = quantization.unwrap_or_default().to_ascii_uppercase();
    type Row = (
        String,
        String,
        i64,
        Option<String>,
        Option<Vec<String>>,
        Option<Vec<String>>,
    );
    let cached: Option<Row> = sqlx::query_as(
        "SELECT architecture, task, memory_bytes, gguf_tag, gguf_files, gguf_tags FROM inference_models
         WHERE repo_id = $1 AND revision = $2 AND variant = $3",
    )
    .bind(repo.id)
    .bind(&commit)
    .bind(&variant)
    .fetch_optional(&hub.db)
    .await?;
    if let Some((architecture, task, memory_bytes, tag, files, tags)) = cached
        && let Some(task) = parse_task(&task)
    {
        return Ok(Model {
            repo: repo.into_repo(),
            revision: commit,
            architecture,
            task,
            memory_bytes,
            gguf: files.map(|files| GgufFile {
                tag: tag.unwrap_or_default(),
                files,
                tags: tags.unwrap_or_default(),
            }),
            base: None,
        });
    }
    let (_, entries) = content::list(hub, &repo, &commit, "", true).await?;
    let has_safetensors = entries.iter().any(|e| e.path.ends_with(".safetensors"));
    let has_gguf = entries.iter().any(|e| gguf::is_gguf(&e.path));
    let is_adapter = entries.iter().any(|e| e.path == "adapter_config.json")
        && !entries.iter().any(|e| e.path == "config.json");
    if is_adapter && quantization.is_none() {
        // Not cached: the base is resolved for the caller each time.
        return describe_adapter(hub, repo, commit).await;
    }
    let model = if quantization.is_some() || (!has_safetensors && has_gguf) {
        describe_gguf(hub, repo, commit, &entries, quantization).await?
    } else {
        describe_checkpoint(hub, repo, commit, &entries).await?
    };
    sqlx::query(
        "INSERT INTO inference_models
             (repo_id, revision, variant, architecture, task, memory_bytes,
              gguf_tag, gguf_files, gguf_tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(model.repo.id)
    .bind(&model.revision)
    .bind(&variant)
    .bind(&model.architecture)
    .bind(task_str(model.task))
    .bind(model.memory_bytes)
    .bind(model.gguf.as_ref().map(|g| &g.tag))
    .bind(model.gguf.as_ref().map(|g| &g.files))
    .bind(model.gguf.as_ref().map(|g| &g.tags))
    .execute(&hub.db)
    .await?;
    Ok(model)
}

/// A GGUF model: the chosen file's header says what it is.
async fn describe_gguf(
    hub: &Hub,
    repo: Authorized,
    commit: String,
    entries: &[TreeEntry],
    tag: Option<&str>,
) -> Result<Model> {
    let choices = quantization::choices(entries);
    let choice = quantization::choose(&choices, tag)?;
    let mut architecture = None;
    let mut memory_bytes: u64 = 0;
    for path in &choice.files {
        let entry = entries
            .iter()
            .find(|e| &e.path == path)
            .ok_or_else(|| anyhow::anyhow!("{path} vanished from its listing"))?;
        let bad = |detail: String| {
            Error::invalid(
                Message::coded(
                    "inference.bad_gguf",
                    "{file} is not a readable GGUF file: {detail}",
                )
                .with("file", path)
                .with("detail", detail),
            )
        };
        let header = gguf::read(hub, &repo, entry)
            .await?
            .map_err(|reason| bad(unreadable(&reason)))?;
        if header.data_end > entry.content_size() {
            return Err(bad(format!(
                "truncated: its tensors need {} bytes, the file has {}",
                header.data_end,
                entry.content_size()
            )));
        }
        memory_bytes = memory_bytes.saturating_add(header.tensor_bytes);
        // The first part holds the model's metadata.
        if architecture.is_none() {
            architecture = Some(header.architecture.clone().ok_or_else(|| {
                Error::invalid(
                    Message::coded(
                        "inference.gguf_no_architecture",
                        "{file} has no general.architecture, so it cannot run",
                    )
                    .with("file", path),
                )
            })?);
        }
    }
    let architecture = architecture.expect("a choice has a file");
    Ok(Model {
        repo: repo.into_repo(),
        revision: commit,
        architecture: format!("{GGUF_PREFIX}{}", architecture.to_ascii_lowercase()),
        task: Task::TextGeneration,
        memory_bytes: i64::try_from(memory_bytes).unwrap_or(i64::MAX),
        gguf: Some(GgufFile {
            tag: choice.tag.clone(),
            files: choice.files.clone(),
            tags: quantization::tags(&choices),
        }),
        base: None,
    })
}

fn unreadable(reason: &gguf::Unreadable) -> String {
    match reason {
        gguf::Unreadable::NotGguf => "it does not start with 'GGUF'".into(),
        gguf::Unreadable::Version(v) => format!("GGUF version {v} is not supported"),
        gguf::Unreadable::Truncated => "truncated: the file ends inside its header".into(),
        gguf::Unreadable::HeaderTooLarge => "its header is too large".into(),
        gguf::Unreadable::Malformed => "its header is malformed".into(),
    }
}

/// A Hugging Face checkpoint: config.json says what it is.
async fn describe_checkpoint(
    hub: &Hub,
    repo: Authorized,
    commit: String,
    entries: &[TreeEntry],
) -> Result<Model> {
    let config = content::read_small_file(hub, &repo, &commit, "config.json")
        .await?
        .ok_or_else(|| {
            Error::invalid(Message::coded(
                "inference.no_config",
                "this model has no config.json, so it cannot be served",
            ))
        })?;
    let config: Config = serde_json::from_slice(&config).map_err(|e| {
        Error::invalid(
            Message::coded(
                "inference.bad_config",
                "config.json of this model is not valid: {detail}",
            )
            .with("detail", e),
        )
    })?;
    let architecture = config
        .model_type
        .as_deref()
        .map(normalise_model_type)
        .ok_or_else(|| {
            Error::invalid(Message::coded(
                "inference.no_model_type",
                "config.json has no model_type",
            ))
        })?;
    let task = task_of(
        repo.card_pipeline_tag.as_deref(),
        &architecture,
        &config.architectures,
    )
    .ok_or_else(|| {
        Error::invalid(
            Message::coded(
                "inference.unknown_task",
                "cannot tell what a '{architecture}' model does: set pipeline_tag in its card",
            )
            .with("architecture", &architecture),
        )
    })?;
    let memory_bytes: u64 = entries
        .iter()
        .filter(|e| e.path.ends_with(".safetensors"))
        .map(|e| e.content_size())
        .sum();
    Ok(Model {
        repo: repo.into_repo(),
        revision: commit,
        architecture,
        task,
        memory_bytes: i64::try_from(memory_bytes).unwrap_or(i64::MAX),
        gguf: None,
        base: None,
    })
}

/// A LoRA adapter in PEFT layout: `adapter_config.json` names its base
/// (`base_model_name_or_path`, a repo of this hub, at `revision` when set),
/// which the caller must be able to read; the worker merges the two.
async fn describe_adapter(hub: &Hub, repo: Authorized, commit: String) -> Result<Model> {
    let bad = |detail: String| {
        Error::invalid(
            Message::coded(
                "inference.bad_adapter",
                "this adapter cannot be served: {detail}",
            )
            .with("detail", detail),
        )
    };
    let config = content::read_small_file(hub, &repo, &commit, "adapter_config.json")
        .await?
        .ok_or_else(|| bad("adapter_config.json is missing".into()))?;
    let config: AdapterConfig =
        serde_json::from_slice(&config).map_err(|e| bad(format!("adapter_config.json: {e}")))?;
    if !config.peft_type.eq_ignore_ascii_case("lora") {
        return Err(bad(format!("a {} adapter is not LoRA", config.peft_type)));
    }
    let base_id = config
        .base_model_name_or_path
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("adapter_config.json names no base_model_name_or_path".into()))?;
    let (ns, name) = base_id
        .split_once('/')
        .filter(|(_, n)| !n.contains('/'))
        .ok_or_else(|| bad(format!("its base {base_id:?} is not a repo of this hub")))?;
    let actor = repo.actor().clone();
    // Boxed: describing the base goes through `resolve` again.
    let base = Box::pin(resolve(
        hub,
        &actor,
        ns,
        name,
        config.revision.as_deref(),
        None,
    ))
    .await
    .map_err(|e| match e {
        Error::RepoNotFound { .. } | Error::RevisionNotFound(_) => {
            bad(format!("its base model {base_id} is not found"))
        }
        e => e,
    })?;
    if base.base.is_some() || base.gguf.is_some() || base.task != Task::TextGeneration {
        return Err(bad(format!(
            "its base {base_id} is not a text-generation checkpoint"
        )));
    }
    Ok(Model {
        repo: repo.into_repo(),
        revision: commit,
        base: Some(Base {
            repo_id: base.repo.id,
            repo_name: base.repo_name(),
            revision: base.revision,
        }),
        ..base
    })
}

#[derive(Deserialize)]
struct AdapterConfig {
    peft_type: String,
    base_model_name_or_path: Option<String>,
    revision: Option<String>,
}

#[derive(Deserialize)]
struct Config {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
}

/// `model_type` as workers advertise it: lower case, `_` as `-`
/// (`qwen2_moe` is `qwen2-moe`), `XLMRoberta` folded to `xlm-roberta`.
/// Registration folds the workers' lists the same way.
pub(crate) fn normalise_model_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase().replace('_', "-");
    match t.as_str() {
        "xlmroberta" => "xlm-roberta".to_owned(),
        _ => t,
    }
}

/// The task: the card's pipeline tag when it is one we serve, else what
/// the architecture's class names say.
fn task_of(pipeline_tag: Option<&str>, model_type: &str, classes: &[String]) -> Option<Task> {
    match pipeline_tag {
        Some("text-generation" | "conversational" | "text2text-generation") => {
            return Some(Task::TextGeneration);
        }
        Some("feature-extraction" | "sentence-similarity") => return Some(Task::FeatureExtraction),
        _ => {}
    }
    if classes
        .iter()
        .any(|c| c.ends_with("ForCausalLM") || c.ends_with("LMHeadModel"))
    {
        return Some(Task::TextGeneration);
    }
    match model_type {
        "bert" | "xlm-roberta" | "roberta" | "distilbert" | "mpnet" => {
            Some(Task::FeatureExtraction)
        }
        "qwen2" | "qwen3" | "llama" | "mistral" | "glm4" | "yi" | "gemma" | "phi3"
        | "qwen2-moe" | "qwen3-moe" | "gemma2" | "gemma3" | "gemma3-text" | "deepseek-v2" => {
            Some(Task::TextGeneration)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        let id = |ns: &str, rev: Option<&str>, tag: Option<&str>| ModelId {
            namespace: ns.into(),
            name: "m".into(),
            revision: rev.map(Into::into),
            quantization: tag.map(Into::into),
        };
        assert_eq!(
            parse_model_id("org/m@v1").unwrap(),
            id("org", Some("v1"), None)
        );
        assert_eq!(parse_model_id("org/m").unwrap(), id("org", None, None));
        assert_eq!(
            parse_model_id("org/m:q4_k_m").unwrap(),
            id("org", None, Some("q4_k_m"))
        );
        assert_eq!(
            parse_model_id("org/m:Q8_0@main").unwrap(),
            id("org", Some("main"), Some("Q8_0"))
        );
        assert_eq!(
            parse_model_id("org/m@main:Q8_0").unwrap(),
            id("org", Some("main"), Some("Q8_0"))
        );
        assert!(parse_model_id("org/m:").is_err());
        assert!(parse_model_id("org/m:a@b:c").is_err());
        assert!(parse_model_id("m").is_err());
        assert!(parse_model_id("org/m@").is_err());
        assert!(parse_model_id("a/b/c").is_err());
    }

    #[test]
    fn tasks() {
        assert_eq!(
            task_of(None, "qwen2", &["Qwen2ForCausalLM".into()]),
            Some(Task::TextGeneration)
        );
        assert_eq!(
            task_of(Some("sentence-similarity"), "bert", &[]),
            Some(Task::FeatureExtraction)
        );
        assert_eq!(
            task_of(Some("fill-mask"), "bert", &["BertForMaskedLM".into()]),
            Some(Task::FeatureExtraction)
        );
        assert_eq!(task_of(None, "whisper", &[]), None);
        assert_eq!(normalise_model_type("XLM_Roberta"), "xlm-roberta");
        // Spelt as workers advertise them (inference-worker's
        // TEXT_GENERATION_ARCHITECTURES), known without a card or classes.
        for (model_type, advertised) in [
            ("qwen2_moe", "qwen2-moe"),
            ("qwen3_moe", "qwen3-moe"),
            ("gemma3_text", "gemma3-text"),
            ("deepseek_v2", "deepseek-v2"),
            ("glm4", "glm4"),
            ("gemma2", "gemma2"),
        ] {
            let architecture = normalise_model_type(model_type);
            assert_eq!(architecture, advertised);
            assert_eq!(
                task_of(None, &architecture, &[]),
                Some(Task::TextGeneration)
            );
        }
    }
}
