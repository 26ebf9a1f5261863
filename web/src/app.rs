//! The router: every route family, and the layers around them (tracing with
//! request ids, body limits, panics as 500s, security headers, forgetting
//! what lookups found after writes).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Extension, Router};
use hub_core::Hub;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::spaces::{SpaceOrigins, Tunnels};

/// Shared state of every handler: the core hub.
#[derive(Clone)]
pub struct AppState(pub Arc<Hub>);

impl Deref for AppState {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.0
    }
}

/// The internal API, for the hub's own unix socket only.
pub fn internal_router(hub: Arc<Hub>) -> Router {
    let state = AppState(hub);
    crate::routes::internal::router()
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            state,
            forget_lookups_after_writes,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let uri = crate::log_uri::loggable(req.uri());
                tracing::debug_span!("internal", method = %req.method(), uri = %uri)
            }),
        )
}

/// A request that may have written (any method but GET, HEAD and OPTIONS)
/// makes this node forget what its lookups found before it answers, so the
/// client reads its own writes; other nodes hear of them by `NOTIFY` (see
/// `hub_core::repos::lookup_cache`).
async fn forget_lookups_after_writes(
    State(state): State<AppState>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let reads_only = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if !reads_only {
        state.lookups.clear();
    }
    response
}

/// Default limit on request bodies; routes that take uploads set their own.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The pages' policy: scripts and styles from the hub only; frames only
/// from the Spaces' own origins (a Space page embeds its app).
fn content_security_policy(spaces_domain: &str) -> HeaderValue {
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; \
         img-src 'self' data: https:; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-src http://*.{spaces_domain}:* https://*.{spaces_domain}:*; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("a domain is header-safe")
}

/// The hub's routes, and (outermost, so that none of the hub's layers,
/// headers or routes apply there) the Spaces' origins.
pub fn router(hub: Arc<Hub>) -> Router {
    let state = AppState(hub);
    let tunnels = Tunnels::default();
    let origins = SpaceOrigins::new(state.clone(), tunnels.clone());
    hub_router(state, tunnels).layer(axum::middleware::from_fn_with_state(
        origins,
        crate::spaces::dispatch,
    ))
}

fn hub_router(state: AppState, tunnels: Tunnels) -> Router {
    let csp = content_security_policy(&state.spaces.settings.domain);
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(crate::routes::router())
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, forget_lookups_after_writes))
        .layer(Extension(tunnels))
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                            // Never the raw URI: signed links carry their secret in it.
                            let uri = crate::log_uri::loggable(req.uri());
                            tracing::info_span!("request", method = %req.method(), uri = %uri, id = %id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(tower_http::LatencyUnit::Millis)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::new())
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    csp,
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("strict-origin-when-cross-origin"),
                )),
        )
}
