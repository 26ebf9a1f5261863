//! Pull requests as git refs: `refs/pr/{num}` is made from the target
//! branch's head when the pull request opens; commits reach it through the
//! one commit path ([`crate::commits::commit_to`]) or `git push` (whose
//! rules call [`check_push`], and [`record_push`] after it). Its author and
//! the repo's writers may add commits while it is open (or a draft).

use git2::{ErrorCode, Oid};
use serde::Serialize;
use serde_json::json;

use super::discussions::{self, Discussion, NewDiscussion};
use super::events::{self, EventKind};
use super::{MAX_TITLE_CHARS, Status, check_comment, check_title, pull_request_of_ref};
use super::{MIN_TITLE_CHARS, pull_request_ref};
use crate::commits::{self, Destination, NewCommit};
use crate::error::{Error, Message, Result};
use crate::git::commit::{CommitOutcome, MergePlan, plan_merge};
use crate::git::read::{self, CommitInfo, FileDiff};
use crate::git::receive::RefUpdate;
use crate::hub::Hub;
use crate::repos::Repo;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::text::truncate;

/// Most commits one push to a pull request records as events, and one
/// listing of its commits shows.
pub const MAX_COMMITS_LISTED: usize = 250;

/// Makes `refs/pr/{num}` at the head of `branch` (a new pull request).
pub(super) async fn create_ref(hub: &Hub, repo_id: i64, num: i64, branch: &str) -> Result<()> {
    let path = hub.repo_dir(repo_id);
    let branch = branch.to_owned();
    tokio::task::spawn_blocking(move || {
        crate::git::enable_durability();
        let git = crate::git::open(&path)?;
        let head = git
            .find_reference(&format!("refs/heads/{branch}"))
            .and_then(|r| r.peel_to_commit())
            .map_err(|_| Error::RevisionNotFound(branch.clone()))?;
        let refname = pull_request_ref(num);
        match git.reference(&refname, head.id(), false, "pull request opened") {
            Ok(_) => Ok(()),
            Err(e) if e.code() == ErrorCode::Exists => {
                Err(Error::conflict(format!("{refname} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await?
}

/// Removes `refs/pr/{num}` of a pull request whose record was not kept.
pub(super) async fn delete_ref(hub: &Hub, repo_id: i64, num: i64) -> Result<()> {
    let path = hub.repo_dir(repo_id);
    tokio::task::spawn_blocking(move || {
        crate::git::enable_durability();
        let git = crate::git::open(&path)?;
        match git.find_reference(&pull_request_ref(num)) {
            Ok(mut r) => Ok(r.delete()?),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    })
    .await?
}

/// Pull request `num`, if the caller may add commits to it: a participant
/// who is its author or a repo writer, while it is open or a draft.
pub async fn check_may_push(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
) -> Result<Discussion> {
    repo.participant()?;
    let discussion = discussions::get(hub, repo, num).await?;
    if !discussion.is_pull_request {
        return Err(super::not_a_pull_request(num));
    }
    repo.check_author_or_writer(discussion.author_id)?;
    if !discussion.status.is_open() {
        return Err(Error::forbidden(
            Message::coded(
                "community.not_open",
                "pull request {num} is {status}: reopen it to add commits",
            )
            .with("num", num)
            .with("status", discussion.status.as_str()),
        ));
    }
    Ok(discussion)
}

/// Writes `new` on pull request `num` (see [`check_may_push`]) through the
/// one commit path, and records it as a commit event.
pub async fn commit(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    new: NewCommit,
) -> Result<CommitOutcome> {
    let discussion = check_may_push(hub, repo, num).await?;
    let principal = repo.participant()?;
    let summary = new.summary.trim().to_owned();
    let destination = Destination {
        refname: pull_request_ref(num),
        create_from: None,
    };
    let outcome = commits::write(hub, repo, principal, destination, new).await?;
    let mut conn = hub.db.acquire().await?;
    record_commit(
        &mut conn,
        discussion.id,
        principal.user.id,
        &outcome.commit,
        &summary,
    )
    .await?;
    Ok(outcome)
}

async fn record_commit(
    conn: &mut sqlx::PgConnection,
    discussion_id: i64,
    author_id: i64,
    oid: &str,
    subject: &str,
) -> Result<()> {
    events::insert(
        conn,
        discussion_id,
        EventKind::Commit,
        Some(author_id),
        None,
        json!({ "oid": oid, "subject": truncate(subject, read::MAX_LISTED_TITLE) }),
    )
    .await?;
    Ok(())
}

/// A commit summary as a pull request's title: its first line, cut to
/// [`MAX_TITLE_CHARS`].
fn title_of(summary: &str) -> String {
    let line = summary.lines().next().unwrap_or("").trim();
    let title: String = line.chars().take(MAX_TITLE_CHARS).collect();
    if title.chars().count() < MIN_TITLE_CHARS {
        return format!("Pull request: {title}");
    }
    title
}

/// Opens a pull request against `base` (the default branch if `None`) with
/// `new` as its first commit, for any participant: its title is the
/// commit's summary, its first comment the commit's description. Nothing is
/// recorded when the commit is refused.
pub async fn open_with_commit(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    base: Option<String>,
    new: NewCommit,
) -> Result<(i64, CommitOutcome)> {
    let principal = repo.participant()?;
    let base = base.unwrap_or_else(|| repo.default_branch.clone());
    let title = check_title(&title_of(&new.summary))?;
    let summary = new.summary.trim().to_owned();
    let description = new.description.trim().to_owned();
    let description = match description.as_str() {
        "" => None,
        d => Some(check_comment(d)?),
    };
    let mut tx = hub.db.begin().await?;
    let (id, num) = discussions::insert(
        &mut tx,
        repo.id,
        NewDiscussion {
            title: &title,
            author_id: principal.user.id,
            status: Status::Open,
            target_branch: Some(&base),
        },
    )
    .await?;
    if let Some(description) = description {
        events::insert(
            &mut tx,
            id,
            EventKind::Comment,
            Some(principal.user.id),
            Some(description),
            json!({}),
        )
        .await?;
    }
    let destination = Destination {
        refname: pull_request_ref(num),
        create_from: Some(format!("refs/heads/{base}")),
    };
    let outcome = commits::write(hub, repo, principal, destination, new).await?;
    record_commit(&mut tx, id, principal.user.id, &outcome.commit, &summary).await?;
    tx.commit().await?;
    Ok((num, outcome))
}

/// The push rule for `refs/pr/{num}`: the pusher may add commits to that
/// pull request ([`check_may_push`]); its ref is never deleted.
pub async fn check_push(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    update: &RefUpdate,
) -> Result<()> {
    let Some(num) = pull_request_of_ref(&update.name) else {
        return Err(Error::forbidden(format!(
            "{}: only branches, tags and pull requests (refs/pr/N) can be pushed",
            update.name
        )));
    };
    let num =
        num.map_err(|_| Error::forbidden(format!("{}: no such pull request", update.name)))?;
    if update.is_delete() {
        return Err(Error::forbidden(format!(
            "{}: a pull request's ref cannot be deleted (close the pull request instead)",
            update.name
        )));
    }
    if update.is_create() {
        return Err(Error::forbidden(format!(
            "{}: open the pull request first (it makes its ref)",
            update.name
        )));
    }
    check_may_push(hub, repo, num).await.map(|_| ())
}

/// After a push: each commit it added to a pull request (at most
/// [`MAX_COMMITS_LISTED`] per ref) becomes a commit event by the pusher.
pub async fn record_push(
    hub: &Hub,
    repo: &Repo,
    pusher_id: i64,
    updates: &[RefUpdate],
) -> Result<()> {
    for update in updates.iter().filter(|u| !u.is_delete()) {
        let Some(Ok(num)) = pull_request_of_ref(&update.name) else {
            continue;
        };
        let discussion_id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM discussions WHERE repo_id = $1 AND num = $2 AND is_pull_request",
        )
        .bind(repo.id)
        .bind(num)
        .fetch_optional(&hub.db)
        .await?;
        let Some(discussion_id) = discussion_id else {
            continue;
        };
        let (path, new, old) = (
            hub.repo_dir(repo.id),
            update.new.clone(),
            update.old.clone(),
        );
        let added = tokio::task::spawn_blocking(move || {
            let git = crate::git::open(&path)?;
            let mut walk = git.revwalk()?;
            walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
            walk.push(Oid::from_str(&new).map_err(|_| Error::invalid("bad object id"))?)?;
            if let Ok(old) = Oid::from_str(&old)
                && !old.is_zero()
            {
                walk.hide(old)?;
            }
            let mut added = Vec::new();
            for oid in walk.take(MAX_COMMITS_LISTED) {
                let info = read::commit(&git, oid?)?;
                added.push((info.id, info.title));
            }
            Ok::<_, Error>(added)
        })
        .await??;
        let mut conn = hub.db.acquire().await?;
        for (oid, subject) in added {
            record_commit(&mut conn, discussion_id, pusher_id, &oid, &subject).await?;
        }
    }
    Ok(())
}

/// A pull request's changes, for its page and the API's `?diff=1`.
#[derive(Debug, Clone, Serialize)]
pub struct PullDiff {
    /// The pull request's head commit.
    pub head: String,
    /// Per file, from the merge base with the target branch to the head,
    /// bounded as a commit's diff is ([`read::diff_commit`]).
    pub files: Vec<FileDiff>,
    /// Files that conflict with the target branch as it is now.
    pub conflicts: Vec<String>,
}

impl PullDiff {
    /// The patches as one unified diff text (files without a patch are
    /// left out), as Hugging Face's `diff` field carries them.
    pub fn unified(&self) -> String {
        self.files
            .iter()
            .filter_map(|f| f.patch.as_deref())
            .collect()
    }
}

/// The changes of pull request `num` (see [`PullDiff`]). A merged pull
/// request shows what it brought: from the target branch's head it was
/// merged onto to its own head; nothing conflicts any more.
pub async fn diff(hub: &Hub, repo: &Authorized<impl Level>, num: i64) -> Result<PullDiff> {
    let discussion = discussions::get(hub, repo, num).await?;
    let base = base_of(&discussion)?;
    let merged = discussion.status == Status::Merged;
    let path = hub.repo_dir(repo.id);
    tokio::task::spawn_blocking(move || {
        let git = crate::git::open(&path)?;
        let head = read::resolve_revision(&git, &pull_request_ref(num))?;
        let base = read::resolve_revision(&git, &base).ok();
        let (files, conflicts) = match base {
            Some(base) => {
                let conflicts = match plan_merge(&git, base, head)? {
                    MergePlan::Conflicts(files) if !merged => files,
                    _ => Vec::new(),
                };
                (read::diff_since_merge_base(&git, base, head)?, conflicts)
            }
            None => (Vec::new(), Vec::new()),
        };
        Ok(PullDiff {
            head: head.to_string(),
            files,
            conflicts,
        })
    })
    .await?
}

/// What pull request `discussion`'s changes are counted from: its target
/// branch, or once merged the commit that branch was at before the merge
/// (the branch has the changes now). A pull request merged before that
/// commit was recorded falls back to the branch, showing no changes.
fn base_of(discussion: &Discussion) -> Result<String> {
    let Some(target) = &discussion.target_branch else {
        return Err(super::not_a_pull_request(discussion.num));
    };
    Ok(match (&discussion.status, &discussion.merged_onto) {
        (Status::Merged, Some(onto)) => onto.clone(),
        _ => format!("refs/heads/{target}"),
    })
}

/// The commits of pull request `num` that its target branch does not have
/// (did not have, once merged: see [`diff`]), newest first (at most [`MAX_COMMITS_LISTED`]).
pub async fn commits(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
) -> Result<Vec<CommitInfo>> {
    let discussion = discussions::get(hub, repo, num).await?;
    if !discussion.is_pull_request {
        return Ok(Vec::new());
    }
    let base = base_of(&discussion)?;
    let path = hub.repo_dir(repo.id);
    tokio::task::spawn_blocking(move || {
        let git = crate::git::open(&path)?;
        let head = read::resolve_revision(&git, &pull_request_ref(num))?;
        let mut walk = git.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
        walk.push(head)?;
        if let Ok(base) = read::resolve_revision(&git, &base) {
            walk.hide(base)?;
        }
        walk.take(MAX_COMMITS_LISTED)
            .map(|oid| read::commit(&git, oid?))
            .collect()
    })
    .await?
}

/// Every pull request's ref and the commit it points at, by number (for
/// `list_repo_refs(include_pull_requests=True)`).
pub async fn refs(hub: &Hub, repo: &Authorized<impl Level>) -> Result<Vec<(i64, String)>> {
    repo.check_whole_repo()?;
    let nums: Vec<i64> = sqlx::query_scalar(
        "SELECT num FROM discussions WHERE repo_id = $1 AND is_pull_request ORDER BY num",
    )
    .bind(repo.id)
    .fetch_all(&hub.db)
    .await?;
    let path = hub.repo_dir(repo.id);
    tokio::task::spawn_blocking(move || {
        let git = crate::git::open(&path)?;
        Ok(nums
            .into_iter()
            .filter_map(|num| {
                let target = read::resolve_revision(&git, &pull_request_ref(num)).ok()?;
                Some((num, target.to_string()))
            })
            .collect())
    })
    .await?
}
