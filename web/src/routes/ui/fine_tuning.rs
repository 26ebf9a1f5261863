//! The fine-tuning pages: `/fine-tuning` (the caller's jobs, or an
//! organisation's with `?org=`), `/fine-tuning/new` (the form: base model,
//! data, hyperparameters; "check" shows the validation report, the cost
//! estimate and the balance before anything is held), and
//! `/fine-tuning/{id}` (state, the loss curve drawn by the hub and kept
//! live over server-sent events, events, checkpoints, cancel, and a chat
//! box for the adapter once it is published). The rules are hub-core's
//! `finetune`.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::extract::multipart::Multipart;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::billing::{Credits, Payer};
use hub_core::finetune::card::loss_curve_svg;
use hub_core::finetune::files::{self, FileObject};
use hub_core::finetune::hyperparameters::{Auto, Requested};
use hub_core::finetune::jobs::{self, EventRow, JobRow, NewFineTune, Plan};
use hub_core::finetune::publish::loss_points;
use serde::Deserialize;

use super::billing::money::Money;
use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;
use crate::sse::{self, EventSource};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/fine-tuning", get(list_page))
        .route("/fine-tuning/new", get(new_page).post(new_submit))
        .route(
            "/fine-tuning/files",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/fine-tuning/{id}", get(job_page))
        .route("/fine-tuning/{id}/cancel", post(cancel))
        .route("/fine-tuning/{id}/live", get(live))
}

#[derive(Deserialize, Default)]
struct OrgQuery {
    org: Option<String>,
    model: Option<String>,
}

/// The signed-in visitor and the wallet they act for (`?org=`).
async fn payer(state: &AppState, session: &Session, org: Option<&str>) -> Result<Payer, Error> {
    let user = session.actor.require_user()?.user.clone();
    Payer::acting(&state.db, &user, org.filter(|o| !o.is_empty())).await
}

fn org_query(payer: &Payer) -> String {
    if payer.is_org {
        format!("?org={}", payer.name)
    } else {
        String::new()
    }
}

fn money(state: &AppState, session: &Session) -> Money {
    Money {
        lang: session.lang,
        usd_per_cny: state.config.usd_per_cny,
    }
}

#[derive(Template)]
#[template(path = "fine_tuning_list.html")]
struct ListPage {
    frame: Frame,
    payer: Payer,
    query: String,
    jobs: Vec<JobRow>,
    money: Money,
}

impl ListPage {
    fn status(&self, status: &str) -> &'static str {
        status_name(&self.frame, status)
    }

    fn credits(&self, amount: &i64) -> String {
        self.money.show(&Credits(*amount))
    }
}

fn status_name(frame: &Frame, status: &str) -> &'static str {
    match frame.t(&format!("ft.status.{status}")) {
        "??" => "?",
        name => name,
    }
}

/// Handles `GET /fine-tuning[?org=]`.
async fn list_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<OrgQuery>,
) -> Response {
    if session.actor.is_anonymous() {
        return to_login("/fine-tuning");
    }
    let result = async {
        let payer = payer(&state, &session, q.org.as_deref()).await?;
        let (jobs, _) = jobs::list(&state, &payer, None, 100).await?;
        Ok(render(&ListPage {
            frame: Frame::new(&session, "/fine-tuning"),
            query: org_query(&payer),
            payer,
            jobs,
            money: money(&state, &session),
        }))
    }
    .await;
    page(&session, "/fine-tuning", result)
}

/// The new-job form's fields, as sent back.
#[derive(Deserialize, Default, Clone)]
struct JobForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    training_file: String,
    #[serde(default)]
    validation_file: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    n_epochs: String,
    #[serde(default)]
    batch_size: String,
    #[serde(default)]
    learning_rate_multiplier: String,
    #[serde(default)]
    r: String,
    #[serde(default)]
    alpha: String,
    #[serde(default)]
    dropout: String,
    #[serde(default)]
    target_modules: String,
    #[serde(default)]
    seed: String,
    /// For CSV and Parquet files: `field=column` pairs, comma-separated
    /// (`prompt=question, completion=answer`).
    #[serde(default)]
    column_mapping: String,
    /// `check` shows the report and estimate; `start` creates the job.
    #[serde(default)]
    action: String,
}

impl JobForm {
    fn mapping(&self) -> Result<BTreeMap<String, String>, Error> {
        self.column_mapping
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((field, column)) if !field.trim().is_empty() && !column.trim().is_empty() => {
                    Ok((field.trim().to_owned(), column.trim().to_owned()))
                }
                _ => Err(Error::invalid(format!(
                    "column mapping: {pair:?} is not field=column"
                ))),
            })
            .collect()
    }

    fn to_new(&self) -> Result<NewFineTune, Error> {
        fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<Option<T>, Error> {
            match value.trim() {
                "" | "auto" => Ok(None),
                v => v
                    .parse()
                    .map(Some)
                    .map_err(|_| Error::invalid(format!("{field}: {v:?} is not a number"))),
            }
        }
        fn auto<T>(v: Option<T>) -> Auto<T> {
            v.map_or(Auto::Unset, Auto::Value)
        }
        let blank = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Ok(NewFineTune {
            model: self.model.trim().to_owned(),
            training_file: self.training_file.trim().to_owned(),
            validation_file: blank(&self.validation_file),
            suffix: blank(&self.suffix),
            seed: number("seed", &self.seed)?,
            hyperparameters: Requested {
                n_epochs: auto(number("n_epochs", &self.n_epochs)?),
                batch_size: auto(number("batch_size", &self.batch_size)?),
                learning_rate_multiplier: auto(number(
                    "learning_rate_multiplier",
                    &self.learning_rate_multiplier,
                )?),
                r: number("r", &self.r)?,
                alpha: number("alpha", &self.alpha)?,
                dropout: number("dropout", &self.dropout)?,
                target_modules: blank(&self.target_modules).map(|t| {
                    t.split([',', ' '])
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
            },
            metadata: None,
            column_mapping: self.mapping()?,
            max_length: None,
            merge: false,
        })
    }
}

#[derive(Template)]
#[template(path = "fine_tuning_new.html")]
struct NewPage {
    frame: Frame,
    payer: Payer,
    form: JobForm,
    files: Vec<FileObject>,
    plan: Option<Plan>,
    error: Option<String>,
    money: Money,
}

/// Handles `GET /fine-tuning/new[?model=ns/name][&org=]`.
async fn new_page(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<OrgQuery>,
) -> Response {
    if session.actor.is_anonymous() {
        return to_login("/fine-tuning/new");
    }
    let form = JobForm {
        model: q.model.clone().unwrap_or_default(),
        org: q.org.clone().unwrap_or_default(),
        ..JobForm::default()
    };
    let result = new_form(&state, &session, form, None, None).await;
    page(&session, "/fine-tuning/new", result)
}

async fn new_form(
    state: &AppState,
    session: &Session,
    form: JobForm,
    plan: Option<Plan>,
    error: Option<String>,
) -> Result<Response, Error> {
    let payer = payer(state, session, Some(&form.org)).await?;
    let files = files::list(state, &payer, Some("fine-tune"), 100).await?;
    Ok(render(&NewPage {
        frame: Frame::new(session, "/fine-tuning/new"),
        payer,
        form,
        files,
        plan,
        error,
        money: money(state, session),
    }))
}

/// Handles `POST /fine-tuning/new`: checks the data and shows the report
/// and estimate, or creates the job and goes to its page. A refused job
/// shows the form again with the reason.
async fn new_submit(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<JobForm>,
) -> Response {
    if session.actor.is_anonymous() {
        return to_login("/fine-tuning/new");
    }
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let payer = payer(&state, &session, Some(&form.org)).await?;
        let new = match form.to_new() {
            Ok(new) => new,
            Err(e) => {
                return new_form(&state, &session, form, None, Some(message(&session, &e))).await;
            }
        };
        if form.action == "start" {
            return match jobs::create(&state, &session.actor, &payer, new).await {
                Ok(job) => {
                    Ok(
                        Redirect::to(&format!("/fine-tuning/{}{}", job.id, org_query(&payer)))
                            .into_response(),
                    )
                }
                Err(e) => new_form(&state, &session, form, None, Some(message(&session, &e))).await,
            };
        }
        match jobs::plan(&state, &session.actor, &payer, &new).await {
            Ok(plan) => new_form(&state, &session, form, Some(plan), None).await,
            Err(e) => new_form(&state, &session, form, None, Some(message(&session, &e))).await,
        }
    }
    .await;
    page(&session, "/fine-tuning/new", result)
}

/// An error in the visitor's language.
fn message(session: &Session, e: &Error) -> String {
    session.lang.error(e)
}

/// Handles `POST /fine-tuning/files`: a training file uploaded from the
/// form (multipart: `csrf`, `org`, then `file`), then the form again with
/// it chosen.
async fn upload(State(state): State<AppState>, session: Session, form: Multipart) -> Response {
    if session.actor.is_anonymous() {
        return to_login("/fine-tuning/new");
    }
    let result = async {
        let mut form = form;
        let (mut csrf, mut org) = (String::new(), String::new());
        let invalid = |e: axum::extract::multipart::MultipartError| Error::invalid(e.body_text());
        while let Some(field) = form.next_field().await.map_err(invalid)? {
            match field.name().unwrap_or_default() {
                "csrf" => csrf = field.text().await.map_err(invalid)?,
                "org" => org = field.text().await.map_err(invalid)?,
                "file" => {
                    session.verify_csrf(&csrf)?;
                    let payer = payer(&state, &session, Some(&org)).await?;
                    let user = session.actor.require_user()?.user.id;
                    let name = field.file_name().unwrap_or("upload.jsonl").to_owned();
                    let body = field.map_err(std::io::Error::other);
                    let file =
                        files::upload(&state, &payer, user, &name, "fine-tune", body).await?;
                    let form = JobForm {
                        org,
                        training_file: file.id,
                        ..JobForm::default()
                    };
                    return new_form(&state, &session, form, None, None).await;
                }
                _ => {}
            }
        }
        Err(Error::invalid("the form has no file"))
    }
    .await;
    page(&session, "/fine-tuning/new", result)
}

#[derive(Template)]
#[template(path = "fine_tuning_job.html")]
struct JobPage {
    frame: Frame,
    query: String,
    /// The organisation acted for, or empty.
    org: String,
    job: JobRow,
    curve: String,
    events: Vec<EventRow>,
    money: Money,
}

impl JobPage {
    fn status(&self) -> &'static str {
        status_name(&self.frame, &self.job.status)
    }

    fn credits(&self, amount: &Option<i64>) -> String {
        amount.map_or_else(|| "—".to_owned(), |c| self.money.show(&Credits(c)))
    }

    fn hyper(&self) -> Vec<(&'static str, String)> {
        let Some(h) = self.job.train() else {
            return Vec::new();
        };
        vec![
            ("n_epochs", h.n_epochs.to_string()),
            ("batch_size", h.batch_size.to_string()),
            ("learning_rate", format!("{:e}", h.learning_rate)),
            ("r", h.lora_r.to_string()),
            ("alpha", h.lora_alpha.to_string()),
            ("dropout", h.lora_dropout.to_string()),
            ("target_modules", h.target_modules.join(", ")),
            ("seed", h.seed.to_string()),
        ]
    }
}

/// The loss curve as the page and its live updates draw it.
async fn curve(state: &AppState, job: &str) -> Result<String, Error> {
    let (train, valid) = loss_points(state, job).await?;
    Ok(loss_curve_svg(&train, &valid, 720, 320))
}

/// Handles `GET /fine-tuning/{id}[?org=]`.
async fn job_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<OrgQuery>,
) -> Response {
    let path = format!("/fine-tuning/{id}");
    if session.actor.is_anonymous() {
        return to_login(&path);
    }
    let result = async {
        let payer = payer(&state, &session, q.org.as_deref()).await?;
        let job = jobs::get(&state, &payer, &id).await?;
        let (events, _) = jobs::events(&state, &payer, &id, None, 50).await?;
        Ok(render(&JobPage {
            frame: Frame::new(&session, &path),
            query: org_query(&payer),
            org: if payer.is_org {
                payer.name.clone()
            } else {
                String::new()
            },
            curve: curve(&state, &id).await?,
            job,
            events,
            money: money(&state, &session),
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
    #[serde(default)]
    org: String,
}

/// Handles `POST /fine-tuning/{id}/cancel`.
async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let path = format!("/fine-tuning/{id}");
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let payer = payer(&state, &session, Some(&form.org)).await?;
        jobs::cancel(&state, &payer, &id).await?;
        Ok(Redirect::to(&format!("{path}{}", org_query(&payer))).into_response())
    }
    .await;
    page(&session, &path, result)
}

/// The live view of a job page: every second while the job runs, its
/// status, tokens and the redrawn curve (one `update` event when something
/// changed); the stream ends after the job does.
struct Live {
    state: AppState,
    payer: Payer,
    id: String,
    last: String,
    ended: bool,
}

impl EventSource for Live {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.ended {
                return None;
            }
            let job = jobs::get(&self.state, &self.payer, &self.id).await.ok()?;
            self.ended = job.is_finished();
            let svg = curve(&self.state, &self.id).await.ok()?;
            let data = serde_json::json!({
                "status": job.status,
                "trained_tokens": job.trained_tokens,
                "fine_tuned_model": job.fine_tuned_model,
                "svg": svg,
            })
            .to_string();
            if data != self.last {
                self.last = data.clone();
                return Some(Event::default().event("update").data(data));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Handles `GET /fine-tuning/{id}/live[?org=]` (server-sent events).
async fn live(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<OrgQuery>,
) -> Response {
    let path = format!("/fine-tuning/{id}/live");
    let result = async {
        let payer = payer(&state, &session, q.org.as_deref()).await?;
        jobs::get(&state, &payer, &id).await?;
        Ok(sse::response(Live {
            state: state.clone(),
            payer,
            id,
            last: String::new(),
            ended: false,
        }))
    }
    .await;
    page(&session, &path, result)
}
