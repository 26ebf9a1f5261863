//! Creating a repo and its page (card and files).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hub_core::cards::SpaceConfig;
use hub_core::inference::quantization;
use hub_core::repos::access;
use hub_core::repos::content::{self, EntryKind, TreeEntry};
use hub_core::repos::{Repo, RepoType, manage};
use hub_core::{Error, markdown};
use serde::Deserialize;

use super::repo_head::{self, RepoHead, Tab};
use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/new", get(new_repo_form).post(create_repo))
        .route("/{namespace}/{name}", get(model_page))
        .route("/datasets/{namespace}/{name}", get(dataset_page))
        .route("/spaces/{namespace}/{name}", get(space_page))
}

#[derive(Template)]
#[template(path = "new_repo.html")]
struct NewRepoPage {
    frame: Frame,
    owners: Vec<String>,
    error: Option<String>,
}

/// Handles `GET /new`.
async fn new_repo_form(State(state): State<AppState>, session: Session) -> Response {
    new_repo_page(&state, &session, None).await
}

async fn new_repo_page(state: &AppState, session: &Session, error: Option<String>) -> Response {
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(to_login("/new"));
        }
        let owners = access::writable_namespaces(&state.db, &session.actor).await?;
        let status = if error.is_some() {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            axum::http::StatusCode::OK
        };
        Ok((
            status,
            render(&NewRepoPage {
                frame: Frame::new(session, "/new"),
                owners,
                error,
            }),
        )
            .into_response())
    }
    .await;
    page(session, "/new", result)
}

#[derive(Deserialize)]
struct NewRepoForm {
    csrf: String,
    owner: String,
    name: String,
    repo_type: String,
    private: Option<String>,
}

/// Handles `POST /new`.
async fn create_repo(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<NewRepoForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let kind = RepoType::parse(&form.repo_type)?;
        manage::create(
            &state,
            &session.actor,
            kind,
            &form.owner,
            form.name.trim(),
            form.private.is_some(),
            None,
        )
        .await
    }
    .await;
    match result {
        Ok(repo) => Redirect::to(&format!(
            "/{}{}",
            repo.kind().url_prefix(),
            repo.full_name()
        ))
        .into_response(),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_))) => {
            new_repo_page(&state, &session, Some(session.lang.error(&e))).await
        }
        Err(e) => page(&session, "/new", Err(e)),
    }
}

#[derive(Template)]
#[template(path = "repo.html")]
struct RepoPage {
    frame: Frame,
    head: RepoHead,
    card_html: Option<String>,
    /// Total size of the files (a lower bound when `size_partial`).
    size: u64,
    /// Large files of every revision: their size, and what the store holds.
    storage: Option<hub_core::repos::storage::StorageUse>,
    size_partial: bool,
    file_count: i64,
    /// The top folder's entries (a few), linking into the file browser.
    top: Vec<(String, String, bool)>,
    snippets: Vec<Snippet>,
    /// Models: the parameter count from the weights' header (or index).
    parameters: Option<i64>,
    /// The repo's `.gguf` files (a few) with their quantisations.
    gguf_files: Vec<hub_core::gguf::ModelFile>,
    /// What is wrong with the card's metadata, in the visitor's language.
    card_error: Option<String>,
    /// Spaces: what their card says about them (title, emoji, colours, SDK).
    space: Option<SpaceConfig>,
    /// Spaces: their run, and the app's origin.
    space_run: Option<SpaceRun>,
    /// Models and datasets: the Spaces whose cards name them.
    used_by_spaces: Vec<(String, Option<String>)>,
    /// Models: the models derived from this one, by relation (the model tree).
    derived: Vec<(String, i64)>,
    /// Models: the visitor is signed in (the "Fine-tune" link).
    signed_in: bool,
    /// Datasets: the card's `task_categories`.
    task_categories: Vec<String>,
}

impl RepoPage {
    /// The listing of this repo's kind filtered by `key=value`.
    fn listing_href(&self, key: &str, value: &str) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(key, value)
            .finish();
        format!("/{}?{query}", self.head.repo.kind().plural())
    }

    /// A `base_model:` or `datasets:` entry: the repo on this hub when it
    /// names one (`owner/name`), else the models that name it (the card's
    /// tag, as Hugging Face writes it: `base_model:x`, `dataset:x`).
    fn repo_href(&self, kind: RepoType, id: &str) -> String {
        if id.split('/').count() == 2 && !id.starts_with('/') && !id.ends_with('/') {
            return format!("/{}{}", kind.url_prefix(), repo_head::encode_path(id));
        }
        let tag = match kind {
            RepoType::Dataset => format!("dataset:{id}"),
            _ => format!("base_model:{id}"),
        };
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("other", &tag)
            .finish();
        format!("/models?{query}")
    }
}

/// Entries of the top folder listed in the side panel.
const TOP_ENTRIES: usize = 20;

/// A "use this repo" snippet: a label key and the code.
struct Snippet {
    key: &'static str,
    code: String,
}

/// Files counted for the size in the side panel; larger repos show "≥".
const SIZE_WALK_LIMIT: usize = 5000;

/// Handles `GET /{namespace}/{name}`.
async fn model_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Model, p).await
}

/// Handles `GET /datasets/{namespace}/{name}`.
async fn dataset_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Dataset, p).await
}

/// Handles `GET /spaces/{namespace}/{name}`.
async fn space_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Space, p).await
}

async fn repo_page(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    kind: RepoType,
    (ns, name): (String, String),
) -> Response {
    let path = format!("/{}{ns}/{name}", kind.url_prefix());
    let result = async {
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Card, "").await? {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let repo = &head.repo;
        let sha = content::resolve(&state, repo, &repo.default_branch).await?;
        let listing = content::list_page(&state, repo, &sha, "", true, 0, SIZE_WALK_LIMIT).await?;
        let files: Vec<&TreeEntry> = listing
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .collect();
        let size = files.iter().map(|e| e.content_size()).sum();
        let rev = repo_head::encode_segment(&repo.default_branch);
        let top = listing
            .entries
            .iter()
            .filter(|e| !e.path.contains('/'))
            .take(TOP_ENTRIES)
            .map(|e| {
                let is_dir = e.kind == EntryKind::Directory;
                let verb = if is_dir { "tree" } else { "blob" };
                let href = format!(
                    "{}/{verb}/{rev}/{}",
                    head.base,
                    repo_head::encode_path(&e.path)
                );
                (e.path.clone(), href, is_dir)
            })
            .collect();
        let readme = content::read_small_file(&state, repo, &sha, "README.md").await?;
        let links = markdown::RepoLinks {
            blob: format!("{}/blob/{rev}", head.base),
            raw: format!("{}/raw/{rev}", head.base),
        };
        // Rendering (highlighting, sanitizing) is CPU work: off the executor.
        let (card_html, pipeline_tag, card_error) = match readme {
            Some(bytes) => {
                let (html, pipeline_tag, error) = tokio::task::spawn_blocking(move || {
                    let text = String::from_utf8_lossy(&bytes);
                    let card = hub_core::cards::parse_card(&text);
                    let html = markdown::render_in_repo(card.body, &links);
                    (html, card.metadata.pipeline_tag, card.error)
                })
                .await
                .map_err(Error::from)?;
                (Some(html), pipeline_tag, error)
            }
            None => (None, None, None),
        };
        let card_error = card_error.map(|m| session.lang.message(&m));
        let parameters = if kind == RepoType::Model {
            hub_core::tensors::model_parameters(&state, repo, &sha, &listing.entries)
                .await?
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
        } else {
            None
        };
        let gguf_files = if kind == RepoType::Model {
            hub_core::gguf::model_files(&state, repo, &listing.entries).await?
        } else {
            Vec::new()
        };
        // The file a request without a tag is served from (and what local
        // runtimes are shown): one rule, the inference tier's.
        let gguf_choices = quantization::choices(&listing.entries);
        let gguf_choice = quantization::choose(&gguf_choices, None).ok();
        let snippets = snippets(&origin.base_url, repo, pipeline_tag.as_deref(), gguf_choice);
        let space =
            (kind == RepoType::Space).then(|| SpaceConfig::from_card_data(repo.card_data.as_ref()));
        let space_run = match kind {
            RepoType::Space => Some(space_run(&state, &origin, repo).await?),
            _ => None,
        };
        let used_by_spaces = hub_core::spaces::using(&state, repo.actor(), repo, 20).await?;
        let derived = match repo.kind() {
            RepoType::Model => {
                hub_core::repos::lineage::derived(&state, repo.actor(), repo).await?
            }
            _ => Vec::new(),
        };
        let task_categories = match kind {
            RepoType::Dataset => {
                hub_core::cards::texts_in(repo.card_data.as_ref(), "task_categories")
            }
            _ => Vec::new(),
        };
        Ok(render(&RepoPage {
            space,
            space_run,
            used_by_spaces,
            derived,
            signed_in: !session.actor.is_anonymous(),
            task_categories,
            frame: Frame::new(&session, &path),
            card_html,
            size,
            storage: Some(hub_core::repos::storage::of_repo(&state.db, repo.id).await?)
                .filter(|s| s.files > 0),
            size_partial: listing.next.is_some(),
            file_count: files.len() as i64,
            top,
            snippets,
            parameters,
            gguf_files,
            card_error,
            head,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// What a Space page shows of the Space's run.
struct SpaceRun {
    stage: String,
    message: Option<String>,
    /// The app's own origin, for the page's frame; a private Space's
    /// carries a short-lived pass (the origin trades it for its own cookie).
    app_src: String,
    /// `/api/spaces/{id}`: the runtime and logs the page's script follows.
    api: String,
}

impl SpaceRun {
    /// The stage's name in the visitor's language.
    fn stage_key(&self) -> String {
        format!("space.stage.{}", self.stage.to_ascii_lowercase())
    }

    /// Whether the frame shows the app (or its origin's "building" page):
    /// not when nothing will run until someone acts.
    fn shows_app(&self) -> bool {
        !matches!(
            self.stage.as_str(),
            "NO_APP_FILE" | "CONFIG_ERROR" | "BUILD_ERROR" | "RUNTIME_ERROR" | "PAUSED"
        )
    }

    /// Stages the page waits out (its script reloads it when they end).
    fn is_passing(&self) -> bool {
        matches!(
            self.stage.as_str(),
            "BUILDING" | "APP_STARTING" | "SLEEPING"
        )
    }
}

/// How long the pass in a private Space's frame address is good for: it
/// only has to reach the Space's origin once.
const SPACE_PASS_TTL: std::time::Duration = std::time::Duration::from_secs(600);

async fn space_run(
    state: &AppState,
    origin: &Origin,
    space: &access::Authorized,
) -> Result<SpaceRun, Error> {
    let runtime = hub_core::spaces::runtime::get(state, space).await?;
    let (scheme, host) = origin
        .base_url
        .split_once("://")
        .unwrap_or(("http", origin.base_url.as_str()));
    let mut app_src =
        hub_core::spaces::origin::url(&state.spaces.settings, scheme, host, &runtime.subdomain);
    app_src.push('/');
    if space.private {
        let pass = hub_core::spaces::origin::issue_pass(state, space.id, SPACE_PASS_TTL);
        app_src = format!("{app_src}?__sign={pass}");
    }
    Ok(SpaceRun {
        stage: runtime.stage,
        message: runtime.error_message,
        app_src,
        api: format!("/api/spaces/{}", repo_head::encode_path(&space.full_name())),
    })
}

/// The local runtimes of GGUF files. llama.cpp downloads through this hub
/// itself (it reads `HF_ENDPOINT`; `--hf-file` fetches `resolve/main/{file}`
/// and the other parts of a split file; `-hf id:TAG` asks the manifest
/// route first, `routes::llamacpp`); Ollama and LM Studio import a file
/// downloaded with the `hf` CLI.
fn gguf_snippets(
    base_url: &str,
    id: &str,
    repo: &Repo,
    choice: &quantization::Choice,
) -> [Snippet; 3] {
    let (file, tag) = (&choice.files[0], &choice.tag);
    let download = format!(
        "# pip install huggingface_hub\nexport HF_ENDPOINT={base_url}\n\
         hf download {id} {file} --local-dir ."
    );
    let ollama_name = repo.name.to_ascii_lowercase();
    [
        Snippet {
            key: "use.llamacpp",
            code: format!(
                "# llama.cpp: https://github.com/ggml-org/llama.cpp\n\
                 export HF_ENDPOINT={base_url}\n\
                 llama-server --hf-repo {id} --hf-file {file}\n\
                 # or, by quantisation: llama-server -hf {id}:{tag}"
            ),
        },
        Snippet {
            key: "use.ollama",
            code: format!(
                "{download}\necho 'FROM ./{file}' > Modelfile\n\
                 ollama create {ollama_name} -f Modelfile\nollama run {ollama_name}"
            ),
        },
        Snippet {
            key: "use.lmstudio",
            code: format!("{download}\nlms import ./{file}"),
        },
    ]
}

/// The transformers classes that load a model for its pipeline tag, as
/// Hugging Face's snippets pick them: the model class and what prepares
/// its input.
fn transformers_classes(pipeline_tag: Option<&str>) -> (&'static str, &'static str) {
    match pipeline_tag.unwrap_or("") {
        "text-generation" => ("AutoModelForCausalLM", "AutoTokenizer"),
        "text2text-generation" | "translation" | "summarization" => {
            ("AutoModelForSeq2SeqLM", "AutoTokenizer")
        }
        "fill-mask" => ("AutoModelForMaskedLM", "AutoTokenizer"),
        "text-classification" | "zero-shot-classification" => {
            ("AutoModelForSequenceClassification", "AutoTokenizer")
        }
        "token-classification" => ("AutoModelForTokenClassification", "AutoTokenizer"),
        "question-answering" => ("AutoModelForQuestionAnswering", "AutoTokenizer"),
        "image-classification" => ("AutoModelForImageClassification", "AutoImageProcessor"),
        "object-detection" => ("AutoModelForObjectDetection", "AutoImageProcessor"),
        "automatic-speech-recognition" => ("AutoModelForSpeechSeq2Seq", "AutoProcessor"),
        "image-text-to-text" => ("AutoModelForImageTextToText", "AutoProcessor"),
        _ => ("AutoModel", "AutoTokenizer"),
    }
}

/// How to use the repo from the tools people have, pointed at this hub.
/// `gguf`: the GGUF model to offer local runtimes (llama.cpp, Ollama,
/// LM Studio), and what transformers loads, when the repo has GGUF files.
fn snippets(
    base_url: &str,
    repo: &Repo,
    pipeline_tag: Option<&str>,
    gguf: Option<&quantization::Choice>,
) -> Vec<Snippet> {
    let gguf_file = gguf.map(|c| c.files[0].as_str());
    let id = repo.full_name();
    let kind = repo.kind();
    let repo_type = match kind {
        RepoType::Model => String::new(),
        other => format!(", repo_type=\"{}\"", other.as_str()),
    };
    let mut out = vec![Snippet {
        key: "use.huggingface_hub",
        code: format!(
            "# pip install huggingface_hub\n# export HF_ENDPOINT={base_url}\n\
             from huggingface_hub import snapshot_download\n\n\
             path = snapshot_download(\"{id}\"{repo_type})"
        ),
    }];
    match kind {
        RepoType::Model => {
            // transformers reads a GGUF file when told which (dequantising it).
            let (model, prepare) = match gguf_file {
                Some(_) => ("AutoModelForCausalLM", "AutoTokenizer"),
                None => transformers_classes(pipeline_tag),
            };
            let var = match prepare {
                "AutoTokenizer" => "tokenizer",
                _ => "processor",
            };
            let args = match gguf_file {
                Some(file) => format!("\"{id}\", gguf_file=\"{file}\""),
                None => format!("\"{id}\""),
            };
            out.push(Snippet {
                key: "use.transformers",
                code: format!(
                    "# pip install transformers\n# export HF_ENDPOINT={base_url}\n\
                     from transformers import {model}, {prepare}\n\n\
                     {var} = {prepare}.from_pretrained({args})\n\
                     model = {model}.from_pretrained({args})"
                ),
            });
            if let Some(choice) = gguf {
                out.extend(gguf_snippets(base_url, &id, repo, choice));
            }
        }
        RepoType::Dataset => out.push(Snippet {
            key: "use.datasets",
            code: format!(
                "# pip install datasets\n# export HF_ENDPOINT={base_url}\n\
                 from datasets import load_dataset\n\n\
                 ds = load_dataset(\"{id}\")"
            ),
        }),
        RepoType::Space => {}
    }
    let modelscope = match kind {
        RepoType::Model => Some("snapshot_download"),
        RepoType::Dataset => Some("dataset_snapshot_download"),
        RepoType::Space => None,
    };
    if let Some(function) = modelscope {
        out.push(Snippet {
            key: "use.modelscope",
            code: format!(
                "# pip install modelscope\n# export MODELSCOPE_ENDPOINT={base_url}\n\
                 from modelscope import {function}\n\n\
                 path = {function}(\"{id}\")"
            ),
        });
    }
    out.push(Snippet {
        key: "use.git",
        code: format!(
            "git lfs install\ngit clone {base_url}/{}{id}",
            kind.url_prefix()
        ),
    });
    out
}
