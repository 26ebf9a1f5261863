//! The Space part of a repo's settings page, for its admins: restart
//! (or rebuild from nothing), pause, sleep time, hardware, variables and
//! secrets (write-only). Each form posts an `action` to one URL, which
//! calls the one `hub_core::spaces` function for it.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use hub_core::Error;
use hub_core::repos::RepoType;
use hub_core::repos::access::Authorized;
use hub_core::repos::access::level::{Admin, Write};
use hub_core::spaces::{env, runtime};
use serde::Deserialize;

use super::page;
use super::repo_routes::repo_url;
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    Router::new().route("/spaces/{namespace}/{name}/settings/space", post(act))
}

/// What the settings page shows of a Space.
pub struct SpaceSettings {
    pub runtime: runtime::Runtime,
    pub gc_timeout: i64,
    pub variables: Vec<env::Entry>,
    /// Keys and descriptions only.
    pub secrets: Vec<env::Entry>,
}

/// The variables or the secrets, as the page lists them.
pub struct EnvList<'a> {
    pub secret: bool,
    pub entries: &'a [env::Entry],
}

impl EnvList<'_> {
    /// The form's `action` that adds one.
    pub fn kind(&self) -> &'static str {
        if self.secret { "secret" } else { "variable" }
    }
}

impl SpaceSettings {
    pub fn lists(&self) -> [EnvList<'_>; 2] {
        [
            EnvList {
                secret: false,
                entries: &self.variables,
            },
            EnvList {
                secret: true,
                entries: &self.secrets,
            },
        ]
    }
}

pub async fn view(
    state: &AppState,
    space: &Authorized<Admin>,
) -> Result<Option<SpaceSettings>, Error> {
    if space.kind() != RepoType::Space {
        return Ok(None);
    }
    let runtime = runtime::get(state, space).await?;
    Ok(Some(SpaceSettings {
        gc_timeout: runtime.gc_timeout(state),
        runtime,
        variables: env::list(state, space.id, false).await?,
        secrets: env::list(state, space.id, true).await?,
    }))
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    action: String,
    key: Option<String>,
    value: Option<String>,
    description: Option<String>,
    seconds: Option<i64>,
    flavor: Option<String>,
}

/// Handles `POST /spaces/{ns}/{name}/settings/space`.
async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let path = format!("/spaces/{ns}/{name}/settings");
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let admin =
            super::settings::administered(&state, &session.actor, RepoType::Space, &ns, &name)
                .await?;
        let space: Authorized<Write> = admin.to_level()?;
        let missing = |what: &str| Error::invalid(format!("the form has no {what}"));
        match form.action.as_str() {
            "restart" => drop(runtime::restart(&state, &space, false).await?),
            "factory" => drop(runtime::restart(&state, &space, true).await?),
            "pause" => drop(runtime::pause(&state, &space).await?),
            "sleep" => {
                let seconds = form.seconds.ok_or_else(|| missing("sleep time"))?;
                drop(runtime::set_sleep_time(&state, &space, seconds).await?)
            }
            "hardware" => {
                let flavor = form.flavor.as_deref().ok_or_else(|| missing("hardware"))?;
                drop(runtime::set_hardware(&state, &space, flavor.trim()).await?)
            }
            action @ ("variable" | "secret") => {
                let key = form.key.as_deref().ok_or_else(|| missing("key"))?.trim();
                let value = form.value.as_deref().ok_or_else(|| missing("value"))?;
                env::set(
                    &state,
                    space.id,
                    key,
                    value,
                    form.description.as_deref(),
                    action == "secret",
                )
                .await?;
            }
            action @ ("delete-variable" | "delete-secret") => {
                let key = form.key.as_deref().ok_or_else(|| missing("key"))?;
                env::delete(&state, space.id, key, action == "delete-secret").await?;
            }
            other => return Err(Error::invalid(format!("no Space action `{other}`"))),
        }
        Ok(Redirect::to(&format!("{}/settings?saved=1#space", repo_url(&space))).into_response())
    }
    .await;
    page(&session, &path, result)
}
