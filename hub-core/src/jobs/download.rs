//! Download tokens: what a claimed job carries so its worker can fetch the
//! model through the resolve API. Least privilege: a token reads one repo at
//! the job's one commit, only while the job runs, and only through the
//! routes that accept it (resolve, tree, paths-info); it is no user
//! credential anywhere else (not even `whoami`).
//!
//! Form: `kyj_<job>.<repo id>.<hmac>`, signed with the hub's secret, so
//! checking one costs one indexed look-up of the job (which names the commit).

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::hub::Hub;

pub const DOWNLOAD_TOKEN_PREFIX: &str = "kyj_";

pub(crate) fn issue(hub: &Hub, job: Uuid, repo_id: i64) -> String {
    let body = format!("{}.{repo_id}", job.simple());
    let sig = hub.secret.sign(format!("job-download:{body}").as_bytes());
    format!("{DOWNLOAD_TOKEN_PREFIX}{body}.{sig}")
}

/// Whether a bearer secret is a download token (and not an API token).
pub fn is_download_token(secret: &str) -> bool {
    secret.starts_with(DOWNLOAD_TOKEN_PREFIX)
}

/// What a valid download token grants: reading repo `repo_id` at `commit`
/// (see [`crate::repos::access::authorize_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGrant {
    pub job: Uuid,
    pub repo_id: i64,
    /// The commit the job runs (40 hex digits).
    pub commit: String,
}

/// The grant of a download token; `InvalidCredentials` for a forged one or
/// once the job stopped running.
pub async fn authenticate(hub: &Hub, secret: &str) -> Result<JobGrant> {
    let body = secret
        .trim()
        .strip_prefix(DOWNLOAD_TOKEN_PREFIX)
        .ok_or(Error::InvalidCredentials)?;
    let (body, sig) = body.rsplit_once('.').ok_or(Error::InvalidCredentials)?;
    if !hub
        .secret
        .verify(format!("job-download:{body}").as_bytes(), sig)
    {
        return Err(Error::InvalidCredentials);
    }
    let mut parts = body.split('.');
    let (Some(job), Some(repo_id), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::InvalidCredentials);
    };
    let job = Uuid::parse_str(job).map_err(|_| Error::InvalidCredentials)?;
    let repo_id: i64 = repo_id.parse().map_err(|_| Error::InvalidCredentials)?;
    // The job's repo, or the base model an adapter job merges into.
    let commit: Option<String> = sqlx::query_scalar(
        "SELECT CASE WHEN repo_id = $2 THEN revision ELSE base_revision END FROM inference_jobs
         WHERE id = $1 AND (repo_id = $2 OR base_repo_id = $2) AND state = 'running'",
    )
    .bind(job)
    .bind(repo_id)
    .fetch_optional(&hub.db)
    .await?;
    let commit = commit.ok_or(Error::InvalidCredentials)?;
    Ok(JobGrant {
        job,
        repo_id,
        commit,
    })
}
