//! Each Space on its own origin, `{subdomain}.{HUB_SPACES_DOMAIN}`: a
//! request whose `Host` names one is answered here and never reaches the
//! hub's own routes, cookies or CSRF checks ([`dispatch`], the outermost
//! layer). A Space's origin serves a static Space's files from its repo,
//! proxies to a running app through its runner's tunnel ([`tunnels`]), or
//! says why there is nothing to show yet ([`pages`]).

mod origin;
mod pages;
mod pass;
mod proxy;
mod sites;
mod static_site;
pub mod tunnels;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

pub use tunnels::Tunnels;

use crate::app::AppState;

/// What the Spaces origins need of the hub process.
#[derive(Clone)]
pub struct SpaceOrigins {
    pub state: AppState,
    pub tunnels: Tunnels,
    sites: sites::Sites,
}

impl SpaceOrigins {
    pub fn new(state: AppState, tunnels: Tunnels) -> SpaceOrigins {
        SpaceOrigins {
            state,
            tunnels,
            sites: sites::Sites::default(),
        }
    }
}

/// Sends a request for a Space's origin to that origin, any other to the
/// hub's routes (`next`).
pub async fn dispatch(
    State(origins): State<SpaceOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let subdomain = host
        .and_then(|h| hub_core::spaces::origin::subdomain_of(&origins.state.spaces.settings, h))
        .map(str::to_owned);
    match subdomain {
        Some(subdomain) => origin::serve(&origins, &subdomain, request).await,
        None => next.run(request).await,
    }
}
