//! What can be served now: the models a caller may read that some live
//! worker can run (`GET /v1/models`), and one model's availability (the
//! model page's widget).

use serde::Serialize;

use super::model::{self, Model};
use crate::accounts::Actor;
use crate::cards::{WidgetExample, widget_examples};
use crate::error::{Message, Result};
use crate::hub::Hub;
use crate::jobs::task_str;
use crate::jobs::workers::LIVE_SESSION;
use crate::repos::access::{Authorized, Reader};
use crate::repos::{REPO_COLUMNS, Repo};

/// How many recently changed models `/v1/models` looks at.
const LISTED: i64 = 200;

/// What live workers can run, read once per listing.
struct Fleet(Vec<(Vec<String>, Vec<String>, i64)>);

impl Fleet {
    async fn load(hub: &Hub) -> Result<Fleet> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT s.architectures, s.tasks, s.memory_bytes FROM worker_sessions s WHERE {LIVE_SESSION}"
        ));
        Ok(Fleet(
            sqlx::query_as(sql)
                .bind(hub.inference.jobs.session_timeout().as_secs_f64())
                .fetch_all(&hub.db)
                .await?,
        ))
    }

    fn can_run(&self, m: &Model) -> bool {
        let task = task_str(m.task).to_owned();
        self.0.iter().any(|(archs, tasks, memory)| {
            archs.contains(&m.architecture) && tasks.contains(&task) && *memory >= m.memory_bytes
        })
    }

    /// Why no live worker can run `m`: none at all, none for its
    /// architecture or task, or none with the memory it needs.
    fn why_not(&self, m: &Model) -> Message {
        let task = task_str(m.task);
        if self.0.is_empty() {
            return Message::coded(
                "inference.no_workers",
                "no inference worker is connected to this hub",
            );
        }
        if !self
            .0
            .iter()
            .any(|(archs, _, _)| archs.contains(&m.architecture))
        {
            return Message::coded(
                "inference.architecture",
                "no inference worker runs '{architecture}' models",
            )
            .with("architecture", &m.architecture);
        }
        if !self
            .0
            .iter()
            .any(|(_, tasks, _)| tasks.iter().any(|t| t == task))
        {
            return Message::coded("inference.task", "no inference worker does {task}")
                .with("task", task);
        }
        if !self
            .0
            .iter()
            .any(|(_, _, memory)| *memory >= m.memory_bytes)
        {
            return Message::coded(
                "inference.too_large",
                "this model needs more memory than any inference worker has",
            );
        }
        Message::coded(
            "inference.no_worker",
            "no inference worker can serve this model right now",
        )
    }
}

/// The models `actor` may read that can be served now, newest first.
pub async fn servable_models(hub: &Hub, actor: &Actor) -> Result<Vec<Model>> {
    let fleet = Fleet::load(hub).await?;
    if fleet.0.is_empty() {
        return Ok(Vec::new());
    }
    let reader = Reader::of(actor);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {REPO_COLUMNS} FROM repos r JOIN namespaces n ON n.id = r.namespace_id
         WHERE r.repo_type = 'model' AND r.head_sha IS NOT NULL AND {}
         ORDER BY r.last_modified DESC LIMIT {LISTED}",
        reader.sql_condition("$1")
    ));
    let mut query = sqlx::query_as(sql);
    if let Some(user) = reader.user_id() {
        query = query.bind(user);
    }
    let repos: Vec<Repo> = query.fetch_all(&hub.db).await?;
    let mut out = Vec::new();
    for repo in repos {
        let Some(head) = repo.head_sha.clone() else {
            continue;
        };
        // Repos that are no models we can describe are simply not listed.
        // Listed by the reader's own visibility rule, so they may read it.
        if let Ok(m) = model::describe(hub, Authorized::listed(repo, actor), head, None).await
            && fleet.can_run(&m)
        {
            out.push(m);
        }
    }
    Ok(out)
}

/// What the widget needs to know about one model.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub repo_id: String,
    /// `text-generation` or `feature-extraction`; absent when the model is not servable at all.
    pub task: Option<&'static str>,
    pub architecture: Option<String>,
    /// Some live worker can run it now.
    pub available: bool,
    /// Why not, when it is not (coded: the widget words it).
    pub reason: Option<Message>,
    /// The card's `widget:` example inputs.
    pub examples: Vec<WidgetExample>,
}

/// Whether (and as what) `ns/name` can be served to `actor`; `RepoNotFound`
/// for a repo they may not read.
pub async fn availability(hub: &Hub, actor: &Actor, ns: &str, name: &str) -> Result<Availability> {
    let unavailable = |reason: Message| Availability {
        repo_id: format!("{ns}/{name}"),
        task: None,
        architecture: None,
        available: false,
        reason: Some(reason),
        examples: Vec::new(),
    };
    let model = match model::resolve(hub, actor, ns, name, None, None).await {
        Ok(m) => m,
        Err(crate::Error::InvalidInput(reason)) => return Ok(unavailable(reason)),
        Err(crate::Error::RevisionNotFound(reason)) => return Ok(unavailable(reason.into())),
        Err(e) => return Err(e),
    };
    let fleet = Fleet::load(hub).await?;
    let available = fleet.can_run(&model);
    Ok(Availability {
        repo_id: model.repo_name(),
        task: Some(task_str(model.task)),
        architecture: Some(model.architecture.clone()),
        available,
        reason: (!available).then(|| fleet.why_not(&model)),
        examples: widget_examples(model.repo.card_data.as_ref()),
    })
}
