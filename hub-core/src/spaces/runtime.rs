//! The runtime of each Space: its stage and why, the commit it is about,
//! its hardware, sleep time and pause, and the run (a `space-run` job) that
//! serves it. Every change of stage goes through here.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::origin::{Site, Target};
use crate::error::Result;
use crate::hub::Hub;

/// A visit is written down at most this often per Space and process.
const TOUCH_EVERY: Duration = Duration::from_secs(5);

pub(crate) async fn resolve(hub: &Hub, subdomain: &str) -> Result<Option<Site>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        repo_id: i64,
        repo_name: String,
        private: bool,
        stage: String,
        error_message: Option<String>,
        sdk: Option<String>,
        sha: Option<String>,
        app_file: Option<String>,
        job_id: Option<Uuid>,
        job_state: Option<String>,
        leased_to: Option<Uuid>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT r.id AS repo_id, n.name || '/' || r.name AS repo_name, r.private, s.stage,
                s.error_message, s.sdk, s.sha, r.card_data ->> 'app_file' AS app_file,
                s.job_id, j.state AS job_state, j.leased_to
         FROM space_runtimes s
         JOIN repos r ON r.id = s.repo_id
         JOIN namespaces n ON n.id = r.namespace_id
         LEFT JOIN inference_jobs j ON j.id = s.job_id
         WHERE s.subdomain = $1 AND r.repo_type = 'space'",
    )
    .bind(subdomain)
    .fetch_optional(&hub.db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let target = match (row.stage.as_str(), row.sdk.as_deref(), row.job_id) {
        ("RUNNING", Some("static"), None) => Target::Static {
            commit: row.sha.clone().unwrap_or_default(),
            app_file: row.app_file.unwrap_or_else(|| "index.html".into()),
        },
        ("RUNNING", _, Some(job)) if row.job_state.as_deref() == Some("running") => {
            match row.leased_to {
                Some(session) => Target::App { job, session },
                None => waiting(&row.stage, None),
            }
        }
        _ => waiting(&row.stage, row.error_message.clone()),
    };
    Ok(Some(Site {
        repo_id: row.repo_id,
        repo_name: row.repo_name,
        private: row.private,
        target,
    }))
}

fn waiting(stage: &str, message: Option<String>) -> Target {
    Target::Waiting {
        stage: stage.to_string(),
        message,
    }
}

pub(crate) async fn touch(hub: &Hub, repo_id: i64) {
    {
        let mut touched = hub.spaces.touched.lock().expect("touch lock");
        let now = Instant::now();
        if touched
            .get(&repo_id)
            .is_some_and(|at| now.duration_since(*at) < TOUCH_EVERY)
        {
            return;
        }
        touched.insert(repo_id, now);
    }
    let written = sqlx::query("UPDATE space_runtimes SET last_activity_at = now() WHERE repo_id = $1")
        .bind(repo_id)
        .execute(&hub.db)
        .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, repo_id, "recording a Space visit failed");
    }
}
