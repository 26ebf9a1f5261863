//! The one place that answers "may this actor do this to this repo".
//!
//! Visibility follows Hugging Face: a repo the actor may not read is
//! indistinguishable from a missing one (`RepoNotFound`, which API families
//! answer with 401 to anonymous callers and 404 to signed-in ones).

use sqlx::PgPool;

use super::{Repo, RepoType};
use crate::accounts::orgs::{self, OrgRole};
use crate::accounts::{Actor, Credential, Principal};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
    Admin,
}

/// What `actor` may do to `repo`, with the credential's own limit applied
/// (a read token never gets more than `Read`).
pub async fn access(db: &PgPool, actor: &Actor, repo: &Repo) -> Result<Access> {
    // A job's download token reads its one repo and sees only public others.
    if let Some(Principal {
        credential: Credential::RepoRead { repo_id },
        ..
    }) = actor.principal()
    {
        let own = *repo_id == repo.id;
        return Ok(if own || !repo.private {
            Access::Read
        } else {
            Access::None
        });
    }
    let by_membership = match actor.principal() {
        None => Access::None,
        Some(p) => membership_access(db, p, repo.namespace_id, &repo.namespace_kind).await?,
    };
    let by_visibility = if repo.private {
        Access::None
    } else {
        Access::Read
    };
    let granted = by_membership.max(by_visibility);
    Ok(match actor.principal() {
        Some(p) if !p.may_write() => granted.min(Access::Read),
        _ => granted,
    })
}

/// Who reads a listing, for the SQL form of the visibility rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Anonymous,
    User(i64),
    Admin,
}

impl Reader {
    pub fn of(actor: &Actor) -> Reader {
        if let Some(Principal {
            credential: Credential::RepoRead { .. },
            ..
        }) = actor.principal()
        {
            return Reader::Anonymous;
        }
        match actor.user() {
            None => Reader::Anonymous,
            Some(user) if user.is_admin => Reader::Admin,
            Some(user) => Reader::User(user.id),
        }
    }

    /// The SQL condition "this reader may read repo `r`": exactly the repos
    /// [`access`] grants at least `Read` on (public ones, the reader's own,
    /// those of their organisations, all for an admin), for listings that
    /// filter in the database. `user_id` is the placeholder bound to
    /// [`Reader::user_id`].
    pub fn sql_condition(self, user_id: &str) -> String {
        match self {
            Reader::Anonymous => "NOT r.private".to_owned(),
            Reader::Admin => "true".to_owned(),
            Reader::User(_) => format!(
                "(NOT r.private OR r.namespace_id = {user_id} OR EXISTS (SELECT 1 FROM org_members m \
                 WHERE m.org_id = r.namespace_id AND m.user_id = {user_id}))"
            ),
        }
    }

    /// The id [`Reader::sql_condition`] needs bound, if any.
    pub fn user_id(self) -> Option<i64> {
        match self {
            Reader::User(id) => Some(id),
            _ => None,
        }
    }
}

/// What a principal may do in a namespace (their own, or an org's).
async fn membership_access(
    db: &PgPool,
    p: &Principal,
    namespace_id: i64,
    namespace_kind: &str,
) -> Result<Access> {
    if p.user.is_admin || p.user.id == namespace_id {
        return Ok(Access::Admin);
    }
    if namespace_kind != "org" {
        return Ok(Access::None);
    }
    Ok(match orgs::role_of(db, namespace_id, p.user.id).await? {
        Some(OrgRole::Admin) => Access::Admin,
        Some(OrgRole::Write) => Access::Write,
        Some(OrgRole::Read) => Access::Read,
        None => Access::None,
    })
}

/// The repo, if `actor` has at least `needed` on it.
///
/// Fails with `RepoNotFound` when the repo is missing or invisible to the
/// actor; with `Unauthenticated` when an anonymous caller needs more than
/// reading; with `Forbidden` when a visible repo needs more than the actor has.
pub async fn authorize(
    db: &PgPool,
    actor: &Actor,
    repo_type: RepoType,
    namespace: &str,
    name: &str,
    needed: Access,
) -> Result<Repo> {
    let not_found = || Error::RepoNotFound {
        anonymous: actor.is_anonymous(),
    };
    let repo = super::find(db, repo_type, namespace, name)
        .await?
        .ok_or_else(not_found)?;
    check(db, actor, &repo, needed).await?;
    Ok(repo)
}

/// [`authorize`] for a repo already loaded.
pub async fn check(db: &PgPool, actor: &Actor, repo: &Repo, needed: Access) -> Result<Access> {
    let granted = access(db, actor, repo).await?;
    if granted >= needed {
        return Ok(granted);
    }
    if granted == Access::None {
        return Err(Error::RepoNotFound {
            anonymous: actor.is_anonymous(),
        });
    }
    if actor.is_anonymous() {
        return Err(Error::Unauthenticated);
    }
    let principal = actor.require_user()?;
    if !principal.may_write() {
        return Err(Error::forbidden(
            "this token has the read role; a write token is needed",
        ));
    }
    Err(Error::forbidden(match needed {
        Access::Admin => "only an admin of this repo can do this",
        _ => "you do not have write access to this repo",
    }))
}

/// Whether `actor` may create repos in (or move repos into) `namespace`;
/// returns the namespace's id and its exact spelling.
pub async fn namespace_for_writing(
    db: &PgPool,
    actor: &Actor,
    namespace: &str,
) -> Result<(i64, String)> {
    let principal = actor.require_writer()?;
    let row: Option<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, kind FROM namespaces WHERE lower(name) = lower($1)")
            .bind(namespace)
            .fetch_optional(db)
            .await?;
    let Some((id, name, kind)) = row else {
        return Err(Error::not_found(format!(
            "namespace '{namespace}' not found"
        )));
    };
    if membership_access(db, principal, id, &kind).await? >= Access::Write {
        Ok((id, name))
    } else {
        Err(Error::forbidden(format!(
            "you cannot create repos in '{name}'"
        )))
    }
}
