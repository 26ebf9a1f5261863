//! Organisations and their members. Roles: `read` < `write` < `admin`.

use serde::Serialize;
use sqlx::PgPool;

use super::{Principal, users};
use crate::error::{Error, Message, Result, is_unique_violation};
use crate::names::validate_namespace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Read,
    Write,
    Admin,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Read => "read",
            OrgRole::Write => "write",
            OrgRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<OrgRole> {
        match s {
            "read" => Ok(OrgRole::Read),
            "write" => Ok(OrgRole::Write),
            "admin" => Ok(OrgRole::Admin),
            other => Err(Error::invalid(
                Message::coded(
                    "org.unknown_role",
                    "unknown role '{role}' (read, write or admin)",
                )
                .with("role", other),
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub full_name: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Member {
    pub name: String,
    pub role: String,
}

/// Creates an organisation; its creator becomes its first admin.
pub async fn create(db: &PgPool, creator: &Principal, name: &str, full_name: &str) -> Result<Org> {
    validate_namespace(name)?;
    let mut tx = db.begin().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO namespaces (name, kind) VALUES ($1, 'org') RETURNING id")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match is_unique_violation(&e) {
                true => Error::conflict(users::name_taken(name)),
                false => e.into(),
            })?;
    sqlx::query("INSERT INTO organizations (id, full_name) VALUES ($1, $2)")
        .bind(id)
        .bind(full_name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(id)
        .bind(creator.user.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Org {
        id,
        name: name.to_owned(),
        full_name: full_name.to_owned(),
    })
}

pub async fn find(db: &PgPool, name: &str) -> Result<Option<Org>> {
    Ok(sqlx::query_as(
        "SELECT o.id, n.name, o.full_name FROM organizations o JOIN namespaces n ON n.id = o.id
         WHERE lower(n.name) = lower($1)",
    )
    .bind(name)
    .fetch_optional(db)
    .await?)
}

pub async fn role_of(db: &PgPool, org_id: i64, user_id: i64) -> Result<Option<OrgRole>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    role.as_deref().map(OrgRole::parse).transpose()
}

pub async fn members(db: &PgPool, org_id: i64) -> Result<Vec<Member>> {
    Ok(sqlx::query_as(
        "SELECT n.name, m.role FROM org_members m JOIN namespaces n ON n.id = m.user_id
         WHERE m.org_id = $1 ORDER BY lower(n.name)",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?)
}

/// Organisations a user belongs to, with the user's role in each.
pub async fn of_user(db: &PgPool, user_id: i64) -> Result<Vec<Member>> {
    Ok(sqlx::query_as(
        "SELECT n.name, m.role FROM org_members m JOIN namespaces n ON n.id = m.org_id
         WHERE m.user_id = $1 ORDER BY lower(n.name)",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

/// The org, if `actor` may manage its members (org admin, or site admin).
/// Outsiders get "not found" so membership lists do not leak.
async fn managed_org(db: &PgPool, actor: &Principal, org_name: &str) -> Result<Org> {
    let org = find(db, org_name)
        .await?
        .ok_or_else(|| org_not_found(org_name))?;
    let role = role_of(db, org.id, actor.user.id).await?;
    if actor.user.is_admin || role == Some(OrgRole::Admin) {
        Ok(org)
    } else if role.is_some() {
        Err(Error::forbidden(Message::coded(
            "org.admins_only",
            "only an organization admin can manage its members",
        )))
    } else {
        Err(org_not_found(org_name))
    }
}

/// What a look-up of a missing (or hidden) organisation says.
pub fn org_not_found(org_name: &str) -> Error {
    Error::not_found(
        Message::coded("org.not_found", "organization '{org}' not found").with("org", org_name),
    )
}

/// Adds a member, or changes the role of an existing one.
pub async fn set_member(
    db: &PgPool,
    actor: &Principal,
    org_name: &str,
    username: &str,
    role: OrgRole,
) -> Result<()> {
    let org = managed_org(db, actor, org_name).await?;
    let user = users::find_by_name(db, username).await?.ok_or_else(|| {
        Error::not_found(
            Message::coded("user.not_found", "user '{user}' not found").with("user", username),
        )
    })?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org.id)
    .bind(user.id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    ensure_an_admin_remains(&mut tx, org.id).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove_member(
    db: &PgPool,
    actor: &Principal,
    org_name: &str,
    username: &str,
) -> Result<()> {
    let org = managed_org(db, actor, org_name).await?;
    let mut tx = db.begin().await?;
    let removed = sqlx::query(
        "DELETE FROM org_members m USING namespaces n
         WHERE m.org_id = $1 AND n.id = m.user_id AND lower(n.name) = lower($2)",
    )
    .bind(org.id)
    .bind(username)
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(Error::not_found(
            Message::coded("org.not_a_member", "'{user}' is not a member of '{org}'")
                .with("user", username)
                .with("org", org_name),
        ));
    }
    ensure_an_admin_remains(&mut tx, org.id).await?;
    tx.commit().await?;
    Ok(())
}

/// An organisation without an admin could never be managed again.
async fn ensure_an_admin_remains(tx: &mut sqlx::PgConnection, org_id: i64) -> Result<()> {
    // Lock the org's rows so two concurrent demotions cannot both pass.
    let admins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM org_members WHERE org_id = $1 AND role = 'admin' FOR UPDATE) a",
    )
    .bind(org_id)
    .fetch_one(&mut *tx)
    .await?;
    if admins == 0 {
        return Err(Error::conflict(Message::coded(
            "org.last_admin",
            "an organization must keep at least one admin",
        )));
    }
    Ok(())
}
