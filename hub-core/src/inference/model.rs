//! What a model repo is, for serving it: the commit a request resolves to,
//! its architecture (`model_type` of config.json at that commit), its task
//! (the card's pipeline tag, else the architecture), and the memory its
//! weights need. Learnt once per commit and kept in `inference_models`.

use serde::Deserialize;

use crate::accounts::Actor;
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::jobs::protocol::Task;
use crate::jobs::{parse_task, task_str};
use crate::repos::access::{self, Authorized, level::Read};
use crate::repos::{Repo, RepoType, content};

#[derive(Debug, Clone)]
pub struct Model {
    pub repo: Repo,
    /// The commit sha.
    pub revision: String,
    pub architecture: String,
    pub task: Task,
    /// Bytes of the weight files (safetensors), the memory a worker needs at least.
    pub memory_bytes: i64,
}

impl Model {
    pub fn repo_name(&self) -> String {
        self.repo.full_name()
    }
}

/// Splits `ns/name[@revision]`, the `model` of the OpenAI API.
pub fn parse_model_id(id: &str) -> Result<(String, String, Option<String>)> {
    let (path, revision) = match id.split_once('@') {
        Some((p, r)) if !r.is_empty() => (p, Some(r.to_owned())),
        Some(_) => return Err(Error::invalid("empty revision after '@'")),
        None => (id, None),
    };
    match path.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned(), revision))
        }
        _ => Err(Error::invalid(format!(
            "model must be a repo id 'namespace/name' (optionally '@revision'), got '{id}'"
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
) -> Result<Model> {
    let repo = access::authorize::<Read>(&hub.db, actor, RepoType::Model, namespace, name).await?;
    let rev = revision.unwrap_or(&repo.default_branch).to_owned();
    let commit = content::resolve(hub, &repo, &rev).await?;
    describe(hub, repo, commit).await
}

/// The description of `repo` at `commit`, from the cache or learnt now.
pub async fn describe(hub: &Hub, repo: Authorized, commit: String) -> Result<Model> {
    let cached: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT architecture, task, memory_bytes FROM inference_models WHERE repo_id = $1 AND revision = $2",
    )
    .bind(repo.id)
    .bind(&commit)
    .fetch_optional(&hub.db)
    .await?;
    if let Some((architecture, task, memory_bytes)) = cached
        && let Some(task) = parse_task(&task)
    {
        return Ok(Model {
            repo: repo.into_repo(),
            revision: commit,
            architecture,
            task,
            memory_bytes,
        });
    }
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
    let (_, entries) = content::list(hub, &repo, &commit, "", true).await?;
    let memory_bytes: u64 = entries
        .iter()
        .filter(|e| e.path.ends_with(".safetensors"))
        .map(|e| e.content_size())
        .sum();
    let memory_bytes = i64::try_from(memory_bytes).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO inference_models (repo_id, revision, architecture, task, memory_bytes)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(repo.id)
    .bind(&commit)
    .bind(&architecture)
    .bind(task_str(task))
    .bind(memory_bytes)
    .execute(&hub.db)
    .await?;
    Ok(Model {
        repo: repo.into_repo(),
        revision: commit,
        architecture,
        task,
        memory_bytes,
    })
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
        assert_eq!(
            parse_model_id("org/m@v1").unwrap(),
            ("org".into(), "m".into(), Some("v1".into()))
        );
        assert_eq!(
            parse_model_id("org/m").unwrap(),
            ("org".into(), "m".into(), None)
        );
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
