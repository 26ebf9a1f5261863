//! Discussions and pull requests on a repo, as Hugging Face has them: per
//! repo, numbered together from 1, each with a title, an author, a status
//! (`open`, `closed`, `merged`, `draft`) and events (comments, status
//! changes, title changes, commits). A pull request's commits live in git
//! on `refs/pr/{num}`, made from its target branch's head when it is
//! opened; it is merged into that branch by [`merge`].
//!
//! Who may do what is decided by the access module
//! ([`crate::repos::access::Authorized`]): reading takes read access to the
//! repo (a private repo's discussions are as invisible as the repo);
//! opening, commenting and pushing to one's own pull request take a
//! participant ([`Authorized::participant`]: signed in with a credential
//! that may write, and read access); a title or status changes by its
//! author or a repo writer; a comment is edited by its author and hidden by
//! a repo writer; merging takes write access.
//!
//! For pages (the UI), each taking the repo's [`Authorized`] proof:
//! - [`view`]: one discussion, its events, and a pull request's changes;
//! - [`discussions::list`]: a page of discussions with filters
//!   ([`Filter`]: pull requests or discussions, open or closed, author),
//!   [`PAGE_SIZE`] per page, newest first, with the total count;
//! - [`discussions::details`]: one discussion and its events (at most
//!   [`events::MAX_EVENTS_SHOWN`], oldest first; a hidden comment's text is
//!   never served); comments are stored as markdown source: render them
//!   with [`crate::markdown::render`] when showing them;
//! - [`pulls::diff`]: a pull request's changes (merge base → head; once
//!   merged, from the target head it was merged onto), per
//!   file and bounded as [`crate::git::read::diff_commit`] bounds a commit's,
//!   and the files that conflict with its target branch;
//! - [`pulls::commits`]: its commits (newest first, bounded);
//! - [`discussions::open_count`]: the open discussions and pull requests of
//!   a repo (for its page's tab).
//!
//! Writes: [`discussions::create`], [`discussions::rename`],
//! [`discussions::change_status`], [`events::comment`],
//! [`events::edit_comment`], [`events::hide_comment`], [`merge::merge`];
//! commits reach pull requests through the one commit path
//! ([`crate::commits::commit_to`]) and through `git push` (the push rules
//! call [`pulls::check_push`] and, after it, [`pulls::record_push`]).

pub mod discussions;
pub mod events;
pub mod merge;
pub mod pulls;

use serde::Serialize;

use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

pub use discussions::{Discussion, Filter, Page, StatusFilter};
pub use events::Event;

/// One discussion as a page or the API shows it: the record, its events,
/// and for a pull request its changes.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub discussion: Discussion,
    pub events: Vec<Event>,
    pub changes: Option<pulls::PullDiff>,
}

/// Discussion `num` with its events ([`discussions::details`]) and, for a
/// pull request, its diff and conflicts ([`pulls::diff`]).
pub async fn view(hub: &Hub, repo: &Authorized<impl Level>, num: i64) -> Result<View> {
    let (discussion, events) = discussions::details(hub, repo, num).await?;
    let changes = match discussion.is_pull_request {
        true => Some(pulls::diff(hub, repo, num).await?),
        false => None,
    };
    Ok(View {
        discussion,
        events,
        changes,
    })
}

/// Discussions per page of a listing (as on Hugging Face).
pub const PAGE_SIZE: i64 = 50;
/// Longest title, in characters (Hugging Face's bound).
pub const MAX_TITLE_CHARS: usize = 200;
/// Shortest title, in characters (Hugging Face's bound).
pub const MIN_TITLE_CHARS: usize = 3;
/// Longest comment, in bytes of markdown.
pub const MAX_COMMENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
    Merged,
    Draft,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
            Status::Merged => "merged",
            Status::Draft => "draft",
        }
    }

    pub fn parse(s: &str) -> Result<Status> {
        match s {
            "open" => Ok(Status::Open),
            "closed" => Ok(Status::Closed),
            "merged" => Ok(Status::Merged),
            "draft" => Ok(Status::Draft),
            other => Err(Error::invalid(format!(
                "unknown discussion status '{other}' (open, closed)"
            ))),
        }
    }

    /// Open or draft: still taking changes.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Open | Status::Draft)
    }
}

impl TryFrom<String> for Status {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Status::parse(&s)
    }
}

/// The number `refs/pr/{num}` names: `None` for any other revision, an
/// error for a malformed number.
pub fn pull_request_of_ref(revision: &str) -> Option<Result<i64>> {
    let num = revision.strip_prefix("refs/pr/")?;
    Some(
        num.parse::<i64>()
            .ok()
            .filter(|n| *n > 0 && !num.starts_with('0'))
            .ok_or_else(|| Error::RevisionNotFound(revision.to_owned())),
    )
}

/// The refusal of a pull request's action on discussion `num`, which is not one.
pub fn not_a_pull_request(num: i64) -> Error {
    Error::invalid(
        Message::coded(
            "community.not_pull_request",
            "discussion {num} is not a pull request",
        )
        .with("num", num),
    )
}

/// The git ref of pull request `num`.
pub fn pull_request_ref(num: i64) -> String {
    format!("refs/pr/{num}")
}

/// A title as stored: trimmed, between [`MIN_TITLE_CHARS`] and
/// [`MAX_TITLE_CHARS`] characters, one line.
pub fn check_title(title: &str) -> Result<String> {
    let title = title.trim();
    let chars = title.chars().count();
    if !(MIN_TITLE_CHARS..=MAX_TITLE_CHARS).contains(&chars) {
        return Err(Error::invalid(
            Message::coded(
                "community.title_length",
                "a title has {min} to {max} characters",
            )
            .with("min", MIN_TITLE_CHARS)
            .with("max", MAX_TITLE_CHARS),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::invalid(Message::coded(
            "community.title_one_line",
            "a title is one line of text",
        )));
    }
    Ok(title.to_owned())
}

/// A comment as stored: its markdown source, not empty, at most
/// [`MAX_COMMENT_BYTES`], no NUL (PostgreSQL text cannot hold one).
pub fn check_comment(text: &str) -> Result<&str> {
    if text.len() > MAX_COMMENT_BYTES {
        return Err(Error::too_large(
            Message::coded(
                "community.comment_too_long",
                "a comment has at most {kib} KiB",
            )
            .with("kib", MAX_COMMENT_BYTES / 1024),
        ));
    }
    if text.trim().is_empty() {
        return Err(Error::invalid(Message::coded(
            "community.comment_empty",
            "the comment is empty",
        )));
    }
    if text.contains('\0') {
        return Err(Error::invalid(Message::coded(
            "community.comment_nul",
            "the comment contains a NUL character",
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_refs() {
        assert_eq!(pull_request_of_ref("main").map(|r| r.ok()), None);
        assert_eq!(pull_request_of_ref("refs/pr/12").unwrap().unwrap(), 12);
        for bad in [
            "refs/pr/",
            "refs/pr/0",
            "refs/pr/01",
            "refs/pr/x",
            "refs/pr/1/2",
        ] {
            assert!(pull_request_of_ref(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_and_comments_are_bounded() {
        assert_eq!(check_title("  Fix it  ").unwrap(), "Fix it");
        assert!(check_title("ab").is_err());
        assert!(check_title(&"题".repeat(200)).is_ok());
        assert!(check_title(&"题".repeat(201)).is_err());
        assert!(check_title("two\nlines").is_err());
        assert!(check_comment("  ").is_err());
        assert!(check_comment(&"x".repeat(MAX_COMMENT_BYTES + 1)).is_err());
        assert!(check_comment("a\0b").is_err());
    }
}
