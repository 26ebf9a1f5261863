//! Download tokens: what a claimed job carries so its worker can fetch the
//! model through the resolve API. Least privilege: a token reads one repo,
//! as the job's caller, and only while the job runs.
//!
//! Form: `kyj_<job>.<repo id>.<account id or 0>.<hmac>`, signed with the
//! hub's secret, so checking one costs one indexed look-up of the job.

use uuid::Uuid;

use crate::accounts::{Actor, Credential, Principal, users};
use crate::error::{Error, Result};
use crate::hub::Hub;

pub const DOWNLOAD_TOKEN_PREFIX: &str = "kyj_";

pub(crate) fn issue(hub: &Hub, job: Uuid, repo_id: i64, account_id: Option<i64>) -> String {
    let body = format!("{}.{repo_id}.{}", job.simple(), account_id.unwrap_or(0));
    let sig = hub.secret.sign(format!("job-download:{body}").as_bytes());
    format!("{DOWNLOAD_TOKEN_PREFIX}{body}.{sig}")
}

/// Whether a bearer secret is a download token (and not an API token).
pub fn is_download_token(secret: &str) -> bool {
    secret.starts_with(DOWNLOAD_TOKEN_PREFIX)
}

/// The actor a download token stands for: the job's caller, limited to
/// reading the job's repo; `InvalidCredentials` once the job stopped running.
pub async fn authenticate(hub: &Hub, secret: &str) -> Result<Actor> {
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
    let (Some(job), Some(repo_id), Some(account_id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::InvalidCredentials);
    };
    let job = Uuid::parse_str(job).map_err(|_| Error::InvalidCredentials)?;
    let repo_id: i64 = repo_id.parse().map_err(|_| Error::InvalidCredentials)?;
    let account_id: i64 = account_id.parse().map_err(|_| Error::InvalidCredentials)?;
    let running: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM inference_jobs WHERE id = $1 AND repo_id = $2 AND state = 'running')",
    )
    .bind(job)
    .bind(repo_id)
    .fetch_one(&hub.db)
    .await?;
    if !running {
        return Err(Error::InvalidCredentials);
    }
    if account_id == 0 {
        // An anonymous caller could only ask for a public repo.
        return Ok(Actor::Anonymous);
    }
    let user = users::find_by_id(&hub.db, account_id)
        .await?
        .ok_or(Error::InvalidCredentials)?;
    Ok(Actor::User(Principal {
        user,
        credential: Credential::RepoRead { repo_id },
    }))
}
