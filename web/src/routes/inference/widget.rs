//! The model page's inference widget: the script, and what it asks first
//! (can this model be served now, as what, and its labels in the visitor's
//! language).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hub_core::inference::catalog;
use serde_json::{Map, Value};

use super::TgiError;
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::i18n::Lang;

const LABELS: &[&str] = &[
    "widget.title",
    "widget.unavailable",
    "widget.send",
    "widget.stop",
    "widget.placeholder",
    "widget.queued",
    "widget.loading",
    "widget.error",
    "widget.source",
    "widget.compare",
    "widget.compute",
    "widget.similarity",
    "widget.examples",
];

/// Handles `GET /api/inference/{ns}/{name}`: availability, task, labels.
pub async fn availability(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    auth: Result<Auth, ApiError>,
    headers: HeaderMap,
) -> Result<Response, TgiError> {
    let Auth(actor) = auth.map_err(|e| TgiError(e.0.into()))?;
    let info = catalog::availability(&state, &actor, &ns, &name).await?;
    let lang = Lang::from_request(&headers);
    let labels: Map<String, Value> = LABELS
        .iter()
        .map(|k| (k.trim_start_matches("widget.").to_owned(), lang.t(k).into()))
        .collect();
    let reason = info.reason.as_ref().map(|m| lang.message(m));
    let mut body = serde_json::to_value(info).map_err(|e| TgiError(anyhow_error(e)))?;
    body["labels"] = Value::Object(labels);
    // Why the model cannot run, in the visitor's language.
    if let Some(reason) = reason {
        body["reason"] = reason.into();
    }
    Ok(Json(body).into_response())
}

fn anyhow_error(e: serde_json::Error) -> hub_core::inference::InferenceError {
    hub_core::Error::Internal(e.into()).into()
}

/// Handles `GET /static/widget.js`.
pub async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../static/widget.js"),
    )
        .into_response()
}
