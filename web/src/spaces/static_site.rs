//! A static Space: the hub serves the repo's files at the commit the Space
//! runs, `/` being its `app_file`, with content types from file names.
//! Only files of that commit are reachable (hub-core's
//! `spaces::origin::static_file`).

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::spaces::origin::{self, Site};

use super::pages;
use crate::app::AppState;

/// The answer to a GET or HEAD of `parts.uri`'s path on static Space `site`.
pub async fn serve(
    state: &AppState,
    site: &Site,
    commit: &str,
    app_file: &str,
    parts: &Parts,
) -> Response {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(path) = file_path(parts.uri.path(), app_file) else {
        return pages::not_found(&parts.headers);
    };
    let (repo, file) = match origin::static_file(state, site, commit, &path).await {
        Ok(found) => found,
        Err(Error::EntryNotFound(_) | Error::RepoNotFound { .. }) => {
            return pages::not_found(&parts.headers);
        }
        Err(e) => {
            tracing::warn!(error = %e, space = %site.repo_name, path, "serving a static Space failed");
            return pages::failed(&parts.headers);
        }
    };
    let mut out = HeaderMap::new();
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let content_type = match mime.type_() {
        mime_guess::mime::TEXT => format!("{mime}; charset=utf-8"),
        _ if mime.subtype() == mime_guess::mime::JAVASCRIPT => format!("{mime}; charset=utf-8"),
        _ => mime.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        out.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", file.etag())) {
        out.insert(header::ETAG, v);
    }
    // The Space may move to another commit at any time.
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    match crate::download::respond(
        state,
        &repo,
        &file,
        &parts.method,
        &parts.headers,
        out,
        None,
    )
    .await
    {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, space = %site.repo_name, path, "serving a static Space failed");
            pages::failed(&parts.headers)
        }
    }
}

/// The repo path a URL path names: `app_file` for `/`, `index.html` in a
/// directory named with a trailing `/`; `None` for what names no file
/// (`..`, `.`, empty segments, bad escapes).
fn file_path(url_path: &str, app_file: &str) -> Option<String> {
    let decoded = percent_decode(url_path)?;
    let path = decoded.trim_start_matches('/');
    let path = if path.is_empty() {
        app_file.to_owned()
    } else if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let valid = path
        .split('/')
        .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    valid.then_some(path)
}

/// `%xx` escapes decoded; `None` if they do not make UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_name_files_of_the_repo_only() {
        assert_eq!(file_path("/", "index.html").as_deref(), Some("index.html"));
        assert_eq!(
            file_path("/", "dist/index.html").as_deref(),
            Some("dist/index.html")
        );
        assert_eq!(file_path("/a%20b.css", "i").as_deref(), Some("a b.css"));
        assert_eq!(file_path("/docs/", "i").as_deref(), Some("docs/index.html"));
        assert_eq!(file_path("/../x", "i"), None);
        assert_eq!(file_path("/a/%2e%2e/x", "i"), None);
        assert_eq!(file_path("/a//x", "i"), None);
        assert_eq!(file_path("/%zz", "i"), None);
    }
}
