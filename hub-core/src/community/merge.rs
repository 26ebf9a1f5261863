//! Merging a pull request into its target branch: a fast-forward when the
//! branch has not moved since the pull request left it, else a merge
//! commit; refused, changing nothing, when files conflict. The branch moves
//! under its commit queue and git's compare-and-swap, like every commit,
//! and the after-commit step follows.

use serde_json::json;

use super::discussions::{self, Discussion};
use super::events::{self, EventKind};
use super::{Status, check_comment, pull_request_ref};
use crate::commits::check_message;
use crate::error::{Error, Message, Result};
use crate::git::read;
use crate::hub::Hub;
use crate::repos::access::level::Level;
use crate::repos::access::{Access, Authorized};
use crate::repos::refs;

/// Merges pull request `num` (repo writers; the pull request must be open
/// or a draft),
/// with an optional comment; returns it, merged.
pub async fn merge(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    comment: Option<&str>,
) -> Result<Discussion> {
    let principal = repo.participant()?;
    repo.check(Access::Write)?;
    let comment = comment
        .filter(|c| !c.trim().is_empty())
        .map(check_comment)
        .transpose()?;
    let discussion = discussions::get(hub, repo, num).await?;
    let Some(target) = discussion.target_branch.clone() else {
        return Err(super::not_a_pull_request(num));
    };
    match discussion.status {
        // huggingface_hub opens every pull request of `upload_folder` as a
        // draft: the writer who merges it decides it is ready.
        Status::Open | Status::Draft => {}
        Status::Closed => {
            return Err(Error::conflict(Message::coded(
                "community.closed_merge",
                "this pull request is closed: reopen it before merging",
            )));
        }
        Status::Merged => {
            return Err(Error::conflict(Message::coded(
                "community.already_merged",
                "this pull request is already merged",
            )));
        }
    }
    let message = format!(
        "Merge pull request #{num} from {}\n\n{}",
        pull_request_ref(num),
        discussion.title
    );
    check_message(message.as_bytes())?;
    let refname = format!("refs/heads/{target}");
    let merged = {
        let _queue = hub.queue_for_branch(repo.id, &refname).await;
        let path = hub.repo_dir(repo.id);
        let author = (principal.user.name.clone(), principal.user.email.clone());
        tokio::task::spawn_blocking(move || {
            let git = crate::git::open(&path)?;
            let source = read::resolve_revision(&git, &pull_request_ref(num))?;
            crate::git::commit::merge(&git, &refname, source, &message, (&author.0, &author.1))
        })
        .await??
    };
    refs::after_commit(hub, repo).await?;
    let mut tx = hub.db.begin().await?;
    let locked = discussions::lock(&mut tx, repo.id, num).await?;
    if locked.status == Status::Merged {
        return Ok(locked); // a concurrent merge recorded it
    }
    sqlx::query(
        "UPDATE discussions SET status = 'merged', merge_commit = $2, merged_onto = $3 WHERE id = $1",
    )
    .bind(locked.id)
    .bind(&merged.commit)
    .bind(&merged.previous)
        .execute(&mut *tx)
        .await?;
    if let Some(comment) = comment {
        events::insert(
            &mut tx,
            locked.id,
            EventKind::Comment,
            Some(principal.user.id),
            Some(comment),
            json!({}),
        )
        .await?;
    }
    events::insert(
        &mut tx,
        locked.id,
        EventKind::StatusChange,
        Some(principal.user.id),
        None,
        events::status_data(Status::Merged),
    )
    .await?;
    tx.commit().await?;
    discussions::get(hub, repo, num).await
}
