//! Answering a file download, for the routes that serve one (Hugging
//! Face's `resolve`, ModelScope's file endpoint): the range, HEAD, the body.
//! Each family sets its own headers first; what is served and whether it
//! counts is hub-core's [`hub_core::repos::download`].

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::repos::access::Authorized;
use hub_core::repos::access::level::Level;
use hub_core::repos::counters::Downloader;
use hub_core::repos::download::{self, Download};

use crate::app::AppState;
use crate::range;

/// The answer to `method` with the request's `headers` for `file`, with the
/// family's headers `out`: 416 for a range past the end, the headers alone
/// for HEAD, else the bytes (one range with 206), counted for `counted_for`
/// where the request is a download.
pub async fn respond(
    state: &AppState,
    repo: &Authorized<impl Level>,
    file: &Download,
    method: &Method,
    headers: &HeaderMap,
    mut out: HeaderMap,
    counted_for: Option<&Downloader>,
) -> Result<Response, Error> {
    let (status, part) = match range::answer(headers, file.size(), &mut out) {
        range::Answer::Send(status, part) => (status, part),
        range::Answer::Unsatisfiable => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
        }
    };
    if *method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    let stream = download::body(state, repo, file, part, counted_for).await?;
    Ok((status, out, Body::from_stream(stream)).into_response())
}
