//! The one place that answers "may this actor do this to this repo".
//!
//! Visibility follows Hugging Face: a repo the actor may not read is
//! indistinguishable from a missing one (`RepoNotFound`, which API families
//! answer with 401 to anonymous callers and 404 to signed-in ones).
//!
//! The answer is an [`Authorized`] proof: hub-core's reads and writes of a
//! repo take one, and only [`authorize`], [`authorize_repo`] and
//! [`authorize_job`] make one, so no route can reach a repo without the check.

use std::marker::PhantomData;

use sqlx::PgPool;

use super::{IMPORTING_PREFIX, Repo, RepoType};
use crate::accounts::orgs::{self, OrgRole};
use crate::accounts::{Actor, Principal};
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::jobs::download::JobGrant;

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
    if repo.is_being_imported() {
        return Ok(Access::None);
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
    let mut granted = by_membership.max(by_visibility);
    if repo.mirrored_from.is_some() {
        // A mirror changes only by fetching from upstream: nobody writes it.
        granted = granted.min(Access::Read);
        if granted == Access::None
            && let Some(p) = actor.principal()
            && crate::mirror::repos::may_read_private(db, repo.id, p.user.id).await?
        {
            granted = Access::Read;
        }
    }
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
        let readable = match self {
            Reader::Anonymous => "NOT r.private".to_owned(),
            Reader::Admin => "true".to_owned(),
            Reader::User(_) => format!(
                "(NOT r.private OR r.namespace_id = {user_id} OR EXISTS (SELECT 1 FROM org_members m \
                 WHERE m.org_id = r.namespace_id AND m.user_id = {user_id}) \
                 OR EXISTS (SELECT 1 FROM mirror_repos mr JOIN mirror_upstreams mu \
                 ON mu.id = mr.upstream_id WHERE mr.repo_id = r.id \
                 AND {user_id} = ANY(mu.private_readers)))"
            ),
        };
        format!("(NOT starts_with(r.name, '{IMPORTING_PREFIX}') AND {readable})")
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

/// Access levels as types, so that a function can ask for a proof of a
/// level in its signature (`&Authorized<level::Write>`, or any level that
/// writes with `impl Writes`).
pub mod level {
    use super::Access;

    mod sealed {
        pub trait Sealed {}
    }

    /// A level a proof can carry; implemented by [`Read`], [`Write`] and [`Admin`] only.
    pub trait Level: sealed::Sealed + Send + Sync + 'static {
        const ACCESS: Access;
    }

    /// The levels that may change a repo: [`Write`] and [`Admin`].
    pub trait Writes: Level {}

    /// May read the repo.
    #[derive(Debug, Clone, Copy)]
    pub enum Read {}
    /// May change the repo's content and refs.
    #[derive(Debug, Clone, Copy)]
    pub enum Write {}
    /// May change settings, rename, move and delete the repo.
    #[derive(Debug, Clone, Copy)]
    pub enum Admin {}

    impl sealed::Sealed for Read {}
    impl sealed::Sealed for Write {}
    impl sealed::Sealed for Admin {}
    impl Level for Read {
        const ACCESS: Access = Access::Read;
    }
    impl Level for Write {
        const ACCESS: Access = Access::Write;
    }
    impl Level for Admin {
        const ACCESS: Access = Access::Admin;
    }
    impl Writes for Write {}
    impl Writes for Admin {}
}

use level::Level;

/// Proof that the access check ran: the repo, who asked, and what they may
/// do to it (at least `L`). Only this module makes one, so a function that
/// takes an `Authorized` cannot be reached without the check; hub-core's
/// reads and writes of a repo take one instead of a bare [`Repo`]. It
/// dereferences to the repo for its fields.
#[derive(Debug, Clone)]
pub struct Authorized<L: Level = level::Read> {
    repo: Repo,
    actor: Actor,
    granted: Access,
    /// A job's download grant reads this one commit only.
    pinned_commit: Option<String>,
    level: PhantomData<fn() -> L>,
}

impl<L: Level> std::ops::Deref for Authorized<L> {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        &self.repo
    }
}

impl<L: Level> Authorized<L> {
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub fn into_repo(self) -> Repo {
        self.repo
    }

    /// Who the check was made for.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// All the caller may do (at least `L`).
    pub fn granted(&self) -> Access {
        self.granted
    }

    /// Whether the caller may do what `level` needs.
    pub fn may(&self, level: Access) -> bool {
        self.granted >= level
    }

    /// `Ok` when the caller has `needed`; otherwise the refusal, as
    /// [`authorize`] answers it: `RepoNotFound` when the caller may not even
    /// read, `Unauthenticated` for an anonymous caller, `Forbidden` for a
    /// read-only credential or too low a role.
    pub fn check(&self, needed: Access) -> Result<()> {
        if self.granted >= needed {
            return Ok(());
        }
        if self.granted == Access::None {
            return Err(self.not_found());
        }
        if self.actor.is_anonymous() {
            return Err(Error::Unauthenticated);
        }
        let principal = self.actor.require_user()?;
        if !principal.may_write() {
            return Err(Error::forbidden(
                "this token has the read role; a write token is needed",
            ));
        }
        if let Some(upstream) = &self.repo.mirrored_from {
            return Err(Error::forbidden(
                Message::coded(
                    "mirror.read_only",
                    "this repo is a read-only mirror of {upstream}: take part upstream",
                )
                .with("upstream", upstream),
            ));
        }
        Err(Error::forbidden(match needed {
            Access::Admin => "only an admin of this repo can do this",
            _ => "you do not have write access to this repo",
        }))
    }

    /// A copy of this proof at level `M`, if the caller has it (refusals as
    /// [`Self::check`]).
    pub fn to_level<M: Level>(&self) -> Result<Authorized<M>> {
        self.check(M::ACCESS)?;
        Ok(Authorized {
            repo: self.repo.clone(),
            actor: self.actor.clone(),
            granted: self.granted,
            pinned_commit: self.pinned_commit.clone(),
            level: PhantomData,
        })
    }

    /// This proof at level `M`, if the caller has it (refusals as [`Self::check`]).
    pub fn require<M: Level>(self) -> Result<Authorized<M>> {
        self.check(M::ACCESS)?;
        Ok(self.at_level())
    }

    /// This proof at level `M`; a caller below it is told the repo is not
    /// found, as for a missing one (pages that only writers or admins see).
    pub fn hide_unless<M: Level>(self) -> Result<Authorized<M>> {
        if self.granted < M::ACCESS {
            return Err(self.not_found());
        }
        Ok(self.at_level())
    }

    /// `Ok` unless this is a job's download grant for another commit; the
    /// content reads call it with every commit they are given.
    pub fn check_commit(&self, commit: &str) -> Result<()> {
        match &self.pinned_commit {
            Some(pinned) if !pinned.eq_ignore_ascii_case(commit) => Err(Error::InvalidCredentials),
            _ => Ok(()),
        }
    }

    /// `Ok` unless this is a job's download grant, which reads one commit
    /// and nothing that spans the repo (its refs, for one).
    pub fn check_whole_repo(&self) -> Result<()> {
        match self.pinned_commit {
            Some(_) => Err(Error::InvalidCredentials),
            None => Ok(()),
        }
    }

    /// May take part in the repo's discussions (open a discussion or a pull
    /// request, comment, push to their own pull request): a signed-in user
    /// with a credential that may write, who can read the repo. Anyone who
    /// can read a repo may propose a change to it, as on Hugging Face.
    pub fn participant(&self) -> Result<&Principal> {
        self.check(Access::Read)?;
        if let Some(upstream) = &self.repo.mirrored_from {
            return Err(Error::forbidden(
                Message::coded(
                    "mirror.read_only",
                    "this repo is a read-only mirror of {upstream}: take part upstream",
                )
                .with("upstream", upstream),
            ));
        }
        self.actor.require_writer()
    }

    /// May change what `author` opened or pushed (a discussion's title and
    /// status, a pull request's commits): its author, or a writer of the repo.
    pub fn check_author_or_writer(&self, author: Option<i64>) -> Result<()> {
        let principal = self.participant()?;
        if author == Some(principal.user.id) || self.granted >= Access::Write {
            return Ok(());
        }
        Err(Error::forbidden(Message::coded(
            "community.author_or_writer",
            "only its author or someone with write access to this repo can do this",
        )))
    }

    /// May change what `author` wrote (a comment): its author only.
    pub fn check_author(&self, author: Option<i64>) -> Result<()> {
        let principal = self.participant()?;
        if author == Some(principal.user.id) {
            return Ok(());
        }
        Err(Error::forbidden(Message::coded(
            "community.author_only",
            "only its author can edit this comment",
        )))
    }

    /// May start a `git push`: what each pushed ref needs (write access for
    /// branches and tags, authorship for a pull request's ref) is decided
    /// per ref by the push rules, once git names the refs
    /// (`crate::commits::push`); here, only that the pusher is a
    /// participant.
    pub fn check_may_push(&self) -> Result<()> {
        self.participant().map(|_| ())
    }

    fn not_found(&self) -> Error {
        Error::RepoNotFound {
            anonymous: self.actor.is_anonymous(),
        }
    }

    fn at_level<M: Level>(self) -> Authorized<M> {
        Authorized {
            repo: self.repo,
            actor: self.actor,
            granted: self.granted,
            pinned_commit: self.pinned_commit,
            level: PhantomData,
        }
    }
}

impl Authorized<level::Read> {
    /// Read access to a repo of a listing that [`Reader::sql_condition`]
    /// already filtered for `actor` (the SQL form of the same rule).
    pub(crate) fn listed(repo: Repo, actor: &Actor) -> Authorized<level::Read> {
        Authorized {
            repo,
            actor: actor.clone(),
            granted: Access::Read,
            pinned_commit: None,
            level: PhantomData,
        }
    }
}

/// The repo `namespace/name` of `repo_type`, if `actor` has at least `L` on it.
///
/// Fails with `RepoNotFound` when the repo is missing or invisible to the
/// actor; with `Unauthenticated` when an anonymous caller needs more than
/// reading; with `Forbidden` when a visible repo needs more than the actor has.
///
/// With mirror mode on, a repo this hub lacks is looked for upstream (and
/// mirrored) first, and a mirrored one is brought up to date with upstream
/// when older than the mirror's freshness time ([`crate::mirror::repos`]).
///
/// The repo's row may come from the rows this node keeps
/// ([`super::lookup_cache`]); what the actor may do is decided every time.
pub async fn authorize<L: Level>(
    hub: &Hub,
    actor: &Actor,
    repo_type: RepoType,
    namespace: &str,
    name: &str,
) -> Result<Authorized<L>> {
    let found = match hub.lookups.get(&hub.wake, repo_type, namespace, name) {
        Ok(kept) => Some(kept),
        Err(ticket) => match super::find(&hub.db, repo_type, namespace, name).await? {
            Some(repo) => {
                hub.lookups.keep(ticket, namespace, name, &repo);
                Some(repo)
            }
            None => {
                crate::mirror::repos::fetch_missing(hub, actor, repo_type, namespace, name).await?
            }
        },
    };
    let repo = found.ok_or_else(|| no_such_repo(actor))?;
    let proof: Authorized<L> = authorize_repo(&hub.db, actor, repo).await?;
    if proof.mirrored_from.is_none() {
        return Ok(proof);
    }
    let repo = crate::mirror::repos::freshen(hub, proof.repo.clone()).await?;
    Ok(Authorized { repo, ..proof })
}

/// The refusal for a repo that does not exist, as [`authorize`] gives it to
/// `actor` (for addresses that cannot name a repo at all, such as a repo id
/// without a namespace).
pub fn no_such_repo(actor: &Actor) -> Error {
    Error::RepoNotFound {
        anonymous: actor.is_anonymous(),
    }
}

/// [`authorize`] for a repo already loaded (found by id, or named by a token).
pub async fn authorize_repo<L: Level>(
    db: &PgPool,
    actor: &Actor,
    repo: Repo,
) -> Result<Authorized<L>> {
    let granted = access(db, actor, &repo).await?;
    let proof: Authorized<level::Read> = Authorized {
        repo,
        actor: actor.clone(),
        granted,
        pinned_commit: None,
        level: PhantomData,
    };
    proof.require()
}

/// What a running job's download token may read: its one repo, at its one
/// commit (through [`Authorized::check_commit`]). Anything else, a missing
/// repo included, is `InvalidCredentials`: the token is no credential there.
pub async fn authorize_job(
    db: &PgPool,
    grant: &JobGrant,
    repo_type: RepoType,
    namespace: &str,
    name: &str,
) -> Result<Authorized<level::Read>> {
    let repo = super::find(db, repo_type, namespace, name)
        .await?
        .filter(|r| r.id == grant.repo_id)
        .ok_or(Error::InvalidCredentials)?;
    Ok(Authorized {
        repo,
        actor: Actor::Anonymous,
        granted: Access::Read,
        pinned_commit: Some(grant.commit.clone()),
        level: PhantomData,
    })
}

/// What a static Space's own origin may read of its repo: the one commit
/// it serves, for a visitor the origin already let in (the Space is public,
/// or the visitor holds a pass: `spaces::origin`). A missing repo is
/// `RepoNotFound`, as for an anonymous caller.
pub(crate) async fn authorize_space_origin(
    db: &PgPool,
    repo_id: i64,
    commit: &str,
) -> Result<Authorized<level::Read>> {
    let repo = super::find_by_id(db, repo_id)
        .await?
        .filter(|r| r.kind() == RepoType::Space)
        .ok_or(Error::RepoNotFound { anonymous: true })?;
    Ok(Authorized {
        repo,
        actor: Actor::Anonymous,
        granted: Access::Read,
        pinned_commit: Some(commit.to_owned()),
        level: PhantomData,
    })
}

/// The namespaces `actor` may create repos in (or move repos to): their own,
/// then the organisations where their role is at least `write`.
pub async fn writable_namespaces(db: &PgPool, actor: &Actor) -> Result<Vec<String>> {
    let principal = actor.require_user()?;
    let mut names = vec![principal.user.name.clone()];
    for member in orgs::of_user(db, principal.user.id).await? {
        if OrgRole::parse(&member.role)? >= OrgRole::Write {
            names.push(member.name);
        }
    }
    Ok(names)
}

/// The id, name (as spelled when created) and kind (`user`, `org`) of a
/// namespace; `NotFound` when there is none. No permission check.
pub async fn find_namespace(db: &PgPool, namespace: &str) -> Result<(i64, String, String)> {
    let row: Option<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, kind FROM namespaces WHERE lower(name) = lower($1)")
            .bind(namespace)
            .fetch_optional(db)
            .await?;
    row.ok_or_else(|| {
        Error::not_found(
            Message::coded("namespace.not_found", "namespace '{namespace}' not found")
                .with("namespace", namespace),
        )
    })
}

/// Whether `actor` may create repos in (or move repos into) `namespace`;
/// returns the namespace's id and its exact spelling.
pub async fn namespace_for_writing(
    db: &PgPool,
    actor: &Actor,
    namespace: &str,
) -> Result<(i64, String)> {
    let principal = actor.require_writer()?;
    let (id, name, kind) = find_namespace(db, namespace).await?;
    if membership_access(db, principal, id, &kind).await? >= Access::Write {
        Ok((id, name))
    } else {
        Err(Error::forbidden(
            Message::coded(
                "namespace.not_writable",
                "you cannot create repos in '{namespace}'",
            )
            .with("namespace", name),
        ))
    }
}
