//! `POST /v1/embeddings`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hub_core::Error;
use hub_core::inference::{self, EmbedRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OpenAiError, parse};
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::request::Origin;
use crate::routes::inference::caller;

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: Input,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    /// Token ids: a client that tokenised for an OpenAI model.
    Tokens(serde::de::IgnoredAny),
}

/// Handles `POST /v1/embeddings`. `encoding_format: "base64"` (what the
/// `openai` client asks for by default) packs each vector as little-endian
/// f32 bytes.
pub async fn create(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let caller = caller(auth, &origin, &headers)?;
    let request: EmbeddingsRequest = parse(&body)?;
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "encoding_format must be 'float' or 'base64', got '{other}'"
            ))
            .into());
        }
    };
    if request.dimensions.is_some() {
        return Err(Error::invalid("dimensions is not supported").into());
    }
    let inputs = match request.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
        Input::Tokens(_) => {
            return Err(Error::invalid("input must be a string or a list of strings").into());
        }
    };
    let embed = EmbedRequest {
        inputs,
        normalize: false,
        truncate: true,
    };
    let submission = inference::embed(&state.0, &caller, &request.model, embed).await?;
    let out = submission.watch.collect().await?;
    let data: Vec<Value> = out
        .embeddings
        .iter()
        .enumerate()
        .map(|(index, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {
            "prompt_tokens": out.usage.prompt_tokens,
            "total_tokens": out.usage.prompt_tokens,
        },
    }))
    .into_response())
}
