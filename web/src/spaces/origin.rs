//! One request to a Space's origin: find the Space, let the visitor in (or
//! say there is no such Space), then serve it by its target.

use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hub_core::spaces::origin::{self, Target};

use super::proxy::{self, Visitor};
use super::{SpaceOrigins, pages, pass, static_site};
use crate::request::Origin;

/// The answer of Space `subdomain`'s origin to `request`.
pub async fn serve(origins: &SpaceOrigins, subdomain: &str, request: Request) -> Response {
    let state = &origins.state;
    let site = match origins.sites.resolve(state, subdomain).await {
        Ok(Some(site)) => site,
        Ok(None) => return pages::not_found(request.headers()),
        Err(e) => {
            tracing::warn!(error = %e, subdomain, "resolving a Space's origin failed");
            return pages::failed(request.headers());
        }
    };
    let (mut parts, body) = request.into_parts();
    let Ok(seen) = Origin::from_request_parts(&mut parts, state).await;
    let scheme = if seen.base_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    let query = parts.uri.query();
    let Some(set_cookie) = pass::admit(state, &site, &parts.headers, query, scheme == "https")
    else {
        return pages::not_found(&parts.headers);
    };
    let mut response = match &site.target {
        Target::Static { commit, app_file } => {
            origin::touch(state, site.repo_id).await;
            static_site::serve(state, &site, commit, app_file, &parts).await
        }
        Target::App { job, session } => {
            origin::touch(state, site.repo_id).await;
            match origins.tunnels.get(*session) {
                None => pages::unreachable(&parts.headers, axum::http::StatusCode::BAD_GATEWAY),
                Some(tunnel) => {
                    let path_and_query = match query.map(pass::query_without_pass) {
                        Some(q) if !q.is_empty() => format!("{}?{q}", parts.uri.path()),
                        _ => parts.uri.path().to_owned(),
                    };
                    let visitor = Visitor {
                        client_ip: seen.client_ip,
                        host: host_of(&parts).unwrap_or_else(|| subdomain.to_owned()),
                        scheme,
                    };
                    let request = Request::from_parts(parts, body);
                    proxy::forward(tunnel, *job, &visitor, &path_and_query, request).await
                }
            }
        }
        Target::Waiting { stage, message } => {
            pages::waiting(stage, message.as_deref(), &parts.headers)
        }
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The host the visitor addressed (the Space's, with its port).
fn host_of(parts: &axum::http::request::Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_owned)
}
