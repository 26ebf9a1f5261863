//! Branches and tags in a repo's git storage: the rule for their names, and
//! creating and deleting them under git's own ref locks, synced to disk like
//! commits. Blocking (libgit2); see `crate::repos::branches` for the async
//! entry points with permissions and the after-commit step.

use git2::{ErrorCode, Oid, Repository, Signature};

use super::read::RefKind;
use crate::error::{Error, Result};

/// Longest branch or tag name, in bytes (as revisions are resolved).
pub const MAX_REF_NAME_LEN: usize = 255;

impl RefKind {
    /// The namespace of this kind's refs, e.g. `refs/heads/`.
    pub fn prefix(self) -> &'static str {
        match self {
            RefKind::Branch => "refs/heads/",
            RefKind::Tag => "refs/tags/",
        }
    }
}

/// Whether `name` may name a new branch or tag: git's own rules
/// (`git check-ref-format`: no `..`, no spaces, `~ ^ : ? * [ \`, control
/// characters or `@{`, no component starting with `.` or ending in `.lock`,
/// no empty component), and ours, so that every revision keeps one meaning:
/// a short name only (`refs/pr/5` or `refs/heads/x` are refused), not
/// `HEAD`, not starting with `-`, and not 40 or 64 hex digits (a commit id).
/// The API and the push rules both apply it.
pub fn validate_ref_name(kind: RefKind, name: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(Error::invalid(format!(
            "invalid {} name '{name}': {why}",
            kind.as_str()
        )))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_REF_NAME_LEN {
        return invalid("it is too long");
    }
    if name.starts_with("refs/") {
        return invalid("give the short name, without refs/");
    }
    if name == "HEAD" || name == "@" || name.starts_with('-') {
        return invalid("it is reserved");
    }
    // 40 hex digits for SHA-1 repositories, 64 for SHA-256 ones.
    if matches!(name.len(), 40 | 64) && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid("it looks like a commit id");
    }
    if !git2::Reference::is_valid_name(&format!("{}{name}", kind.prefix())) {
        return invalid("git does not accept it as a ref name");
    }
    Ok(())
}

/// Creates a branch or a tag pointing at `target`. A tag with a message is
/// an annotated tag by `tagger`; otherwise the ref points at the commit.
/// Fails with `Conflict` when the name is taken by a ref of the same kind, or
/// by one whose name is a folder of this one or the reverse. A branch and a
/// tag may share a name, as on Hugging Face: a bare revision then means the
/// branch ([`super::read::resolve_revision`] looks at branches first).
pub fn create_ref(
    repo: &Repository,
    kind: RefKind,
    name: &str,
    target: Oid,
    tag_message: Option<(&str, &Signature<'_>)>,
) -> Result<()> {
    super::enable_durability();
    let refname = format!("{}{name}", kind.prefix());
    if let Some(clash) = clashing_ref(repo, kind, name)? {
        // Hugging Face's wording for a taken name: "Reference refs/heads/x
        // already exists" (its clients match it).
        return Err(Error::conflict(if clash == refname {
            format!("Reference {refname} already exists")
        } else {
            format!("Cannot create {refname}: reference {clash} already exists")
        }));
    }
    let log = format!("{}: created by the API", kind.as_str());
    let created = match (kind, tag_message) {
        (RefKind::Tag, Some((message, tagger))) => {
            let object = repo.find_object(target, None)?;
            repo.tag(name, &object, tagger, message, false).map(|_| ())
        }
        _ => repo.reference(&refname, target, false, &log).map(|_| ()),
    };
    created.map_err(|e| match e.code() {
        ErrorCode::Exists => Error::conflict(format!("Reference {refname} already exists")),
        ErrorCode::Locked | ErrorCode::Directory => {
            Error::conflict(format!("Cannot create {refname}: {}", e.message()))
        }
        _ => e.into(),
    })
}

/// The full name of a ref of `kind` that `name` would clash with: the same
/// name, a ref named like one of its folders (`dev` for `dev/x`), or a ref
/// inside it (`dev/x` for `dev`), which git cannot store side by side.
fn clashing_ref(repo: &Repository, kind: RefKind, name: &str) -> Result<Option<String>> {
    let full = format!("{}{name}", kind.prefix());
    let mut candidates = vec![full.clone()];
    candidates.extend(
        full.match_indices('/')
            .map(|(i, _)| full[..i].to_owned())
            .filter(|p| p.len() > kind.prefix().len()),
    );
    for candidate in candidates {
        if repo.find_reference(&candidate).is_ok() {
            return Ok(Some(candidate));
        }
    }
    if let Some(inner) = repo.references_glob(&format!("{full}/*"))?.names().next() {
        return Ok(Some(inner?.to_owned()));
    }
    Ok(None)
}

/// Deletes a branch or a tag; `RevisionNotFound` when there is none.
pub fn delete_ref(repo: &Repository, kind: RefKind, name: &str) -> Result<()> {
    super::enable_durability();
    let refname = format!("{}{name}", kind.prefix());
    let mut reference = match repo.find_reference(&refname) {
        Ok(r) => r,
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
            return Err(Error::RevisionNotFound(name.to_owned()));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(reference.delete()?)
}

/// The commit id a new ref should point at, from a revision.
pub fn target_of(repo: &Repository, revision: &str) -> Result<Oid> {
    super::read::resolve_revision(repo, revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "main",
            "dev",
            "feature/x-1",
            "v1.0",
            "v1.0.0-rc.1",
            "发布",
            "a_b",
            "2024",
        ] {
            for kind in [RefKind::Branch, RefKind::Tag] {
                assert!(validate_ref_name(kind, name).is_ok(), "{name}");
            }
        }
    }

    #[test]
    fn refuses_what_git_refuses() {
        for name in [
            "",
            "a..b",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a/",
            "/a",
            "a//b",
            ".hidden",
            "a/.b",
            "x.lock",
            "a@{1}",
            "@",
            "tab\there",
            "end.",
        ] {
            assert!(
                validate_ref_name(RefKind::Branch, name).is_err(),
                "{name:?} should be refused"
            );
        }
    }

    #[test]
    fn refuses_names_that_would_be_ambiguous() {
        for name in [
            "refs/pr/5",
            "refs/heads/main",
            "HEAD",
            "-x",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(
                validate_ref_name(RefKind::Tag, name).is_err(),
                "{name:?} should be refused"
            );
        }
        assert!(validate_ref_name(RefKind::Branch, &"a".repeat(256)).is_err());
        // Short hex names are fine (versions, dates): only full commit ids are reserved.
        assert!(validate_ref_name(RefKind::Tag, "20240101").is_ok());
    }

    #[test]
    fn create_and_delete_refs() {
        let dir = tempfile::tempdir().unwrap();
        let head = crate::git::init_repo(dir.path(), "t", "t@example.com", &[]).unwrap();
        let repo = crate::git::open(dir.path()).unwrap();
        let head = Oid::from_str(&head).unwrap();
        create_ref(&repo, RefKind::Branch, "dev", head, None).unwrap();
        assert!(matches!(
            create_ref(&repo, RefKind::Branch, "dev", head, None),
            Err(Error::Conflict(_))
        ));
        let nested = create_ref(&repo, RefKind::Branch, "dev/x", head, None);
        assert!(matches!(nested, Err(Error::Conflict(_))), "{nested:?}");
        // A tag may share a branch's name (and sit beside its folders).
        create_ref(&repo, RefKind::Tag, "dev", head, None).unwrap();
        create_ref(&repo, RefKind::Tag, "dev/x", head, None).unwrap_err();
        delete_ref(&repo, RefKind::Tag, "dev").unwrap();
        create_ref(&repo, RefKind::Tag, "dev/x", head, None).unwrap();
        delete_ref(&repo, RefKind::Tag, "dev/x").unwrap();
        let tagger = Signature::now("t", "t@example.com").unwrap();
        create_ref(&repo, RefKind::Tag, "v1", head, Some(("first", &tagger))).unwrap();
        assert_eq!(target_of(&repo, "v1").unwrap(), head);
        delete_ref(&repo, RefKind::Tag, "v1").unwrap();
        assert!(matches!(
            delete_ref(&repo, RefKind::Tag, "v1"),
            Err(Error::RevisionNotFound(_))
        ));
        delete_ref(&repo, RefKind::Branch, "dev").unwrap();
        assert!(repo.find_reference("refs/heads/dev").is_err());
    }
}
