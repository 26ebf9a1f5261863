//! Creating, editing and deleting one file from the browser's editor. The
//! text goes through the same staging as uploads (a file the LFS rule sends
//! to LFS goes there) and each change is one commit that lands only if the
//! branch has not moved since the editor read it (compare-and-swap on the
//! branch tip), so a concurrent change is never overwritten unseen.

use super::staging::Staging;
use super::{NewCommit, Target, commit, commit_to};
use crate::error::{Error, Message, Result};
use crate::git::commit::Operation;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::{Level, Writes};
use crate::repos::content::{self, TreeEntry};

/// Largest file the editor opens or saves (a textarea is no place for more).
pub const MAX_EDIT_BYTES: u64 = 1024 * 1024;

/// A file as the editor's form sends it.
#[derive(Debug, Clone)]
pub struct FileEdit {
    pub branch: String,
    /// The file being edited; `None` for a new file.
    pub existing: Option<String>,
    /// Where the text goes: the edited file, or the path typed for a new one.
    pub path: String,
    /// The text with the line breaks the editor showed (LF).
    pub content: String,
    /// As typed; empty means "Create …" or "Update …".
    pub summary: String,
    pub description: String,
}

impl FileEdit {
    /// The edit of `existing` (or a new file at `typed_path`) to `content`.
    /// Browsers send a textarea's line breaks as CRLF; the file keeps the LF
    /// the editor showed.
    pub fn new(
        branch: String,
        existing: Option<String>,
        typed_path: &str,
        content: &str,
        summary: String,
        description: String,
    ) -> FileEdit {
        FileEdit {
            path: existing
                .clone()
                .unwrap_or_else(|| typed_path.trim().to_owned()),
            branch,
            existing,
            content: content.replace("\r\n", "\n"),
            summary,
            description,
        }
    }

    fn summary(&self) -> String {
        match self.summary.trim() {
            "" if self.existing.is_some() => format!("Update {}", self.path),
            "" => format!("Create {}", self.path),
            s => s.to_owned(),
        }
    }
}

/// The text of a file the editor may open: in git (not LFS), UTF-8, small.
pub async fn editable_text(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    branch: &str,
    path: &str,
) -> Result<String> {
    let (tip, entry) = file_on_branch(hub, repo, branch, path).await?;
    if entry.lfs.is_some() || entry.size > MAX_EDIT_BYTES {
        return Err(Error::invalid(Message::coded(
            "edit.not_editable",
            "this file is stored in LFS or too large to edit in the browser",
        )));
    }
    let bytes = content::read_small_file(hub, repo, &tip, &entry.path)
        .await?
        .ok_or_else(|| Error::EntryNotFound(path.to_owned()))?;
    String::from_utf8(bytes).map_err(|_| {
        Error::invalid(Message::coded(
            "edit.not_text",
            "this file is not UTF-8 text",
        ))
    })
}

/// What [`save`] did: the path written, and the pull request the change
/// opened (when it went to one).
#[derive(Debug, Clone)]
pub struct Saved {
    pub path: String,
    pub pull_request: Option<i64>,
}

/// Saves an edit as one commit: on its branch (writers), or, with
/// `as_pull_request`, as a new pull request against the branch (any
/// participant: how someone who cannot write proposes a change). A new
/// file may not replace an existing one.
pub async fn save(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    edit: &FileEdit,
    as_pull_request: bool,
) -> Result<Saved> {
    let target = match as_pull_request {
        true => Target::NewPullRequest(Some(edit.branch.clone())),
        false => Target::Branch(Some(edit.branch.clone())),
    };
    target.check(hub, repo).await?;
    let size = edit.content.len() as u64;
    if size > MAX_EDIT_BYTES {
        return Err(Error::too_large(Message::coded(
            "edit.too_large",
            "the file is too large for the browser editor; upload it instead",
        )));
    }
    check_card(repo, edit)?;
    let tip = content::branch_tip(hub, repo, &edit.branch).await?;
    if edit.existing.is_none() && content::file_at(hub, repo, &tip, &edit.path).await.is_ok() {
        return Err(Error::conflict(
            Message::coded("edit.exists", "{path} already exists").with("path", &edit.path),
        ));
    }
    let staging = Staging::new(hub, repo, &tip).await?;
    let op = staging
        .file(&edit.path, size, &mut edit.content.as_bytes())
        .await?;
    let written = op.path().to_owned();
    let done = commit_to(
        hub,
        repo,
        target,
        NewCommit {
            branch: Some(edit.branch.clone()),
            summary: edit.summary(),
            description: edit.description.clone(),
            operations: vec![op],
            expected_parent: Some(tip),
        },
    )
    .await?;
    Ok(Saved {
        path: written,
        pull_request: done.pull_request,
    })
}

/// A repo's card (the top README.md) is checked as the API's
/// `validate-yaml` checks it, before it is committed: a card whose front
/// matter does not parse, or has fields of the wrong shape, would silently
/// lose its license, task and languages. The first error is the answer,
/// and nothing is committed.
fn check_card(repo: &Authorized<impl Level>, edit: &FileEdit) -> Result<()> {
    if edit.path.trim_matches('/') != "README.md" {
        return Ok(());
    }
    let check = crate::cards::check_card(&edit.content, repo.kind());
    match check.errors.into_iter().next() {
        Some(error) => Err(Error::invalid(error)),
        None => Ok(()),
    }
}

/// The path of a file on `branch` that may be deleted (for the
/// confirmation page); `EntryNotFound` when there is none.
pub async fn deletable_file(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    branch: &str,
    path: &str,
) -> Result<String> {
    Ok(file_on_branch(hub, repo, branch, path).await?.1.path)
}

/// Deletes the file at `path` on `branch` in one commit (summary
/// "Delete …" unless one is given).
pub async fn delete(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    branch: &str,
    path: &str,
    summary: &str,
) -> Result<()> {
    let (tip, entry) = file_on_branch(hub, repo, branch, path).await?;
    let path = entry.path;
    let summary = match summary.trim() {
        "" => format!("Delete {path}"),
        s => s.to_owned(),
    };
    commit(
        hub,
        repo,
        NewCommit {
            branch: Some(branch.to_owned()),
            summary,
            description: String::new(),
            operations: vec![Operation::Delete { path }],
            expected_parent: Some(tip),
        },
    )
    .await?;
    Ok(())
}

/// The tip of `branch` and the file at `path` there.
async fn file_on_branch(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    branch: &str,
    path: &str,
) -> Result<(String, TreeEntry)> {
    let tip = content::branch_tip(hub, repo, branch).await?;
    let entry = content::file_at(hub, repo, &tip, path).await?;
    Ok((tip, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_keeps_lf_and_names_its_commit() {
        let new = FileEdit::new(
            "main".into(),
            None,
            "  notes/a.md ",
            "one\r\ntwo\r\n",
            String::new(),
            String::new(),
        );
        assert_eq!(
            (new.path.as_str(), new.content.as_str()),
            ("notes/a.md", "one\ntwo\n")
        );
        assert_eq!(new.summary(), "Create notes/a.md");
        let edit = FileEdit::new(
            "main".into(),
            Some("b.md".into()),
            "ignored",
            "x",
            " ".into(),
            String::new(),
        );
        assert_eq!(
            (edit.path.as_str(), edit.summary().as_str()),
            ("b.md", "Update b.md")
        );
        let named = FileEdit {
            summary: "Fix".into(),
            ..edit
        };
        assert_eq!(named.summary(), "Fix");
    }
}
