//! The paid tier's money: prepaid credits per user and organisation, kept on
//! a double-entry ledger ([`ledger`]), in integer micro-yuan ([`money`]).

pub mod desk;
pub mod grants;
pub mod ledger;
pub mod metering;
pub mod money;
pub mod orders;
pub mod providers;
pub mod rates;
pub mod statements;

use sqlx::PgPool;

use crate::accounts::{orgs, users};
use crate::error::{Error, Message, Result};

pub use money::Credits;

/// Whose wallet: a user's or an organisation's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    pub namespace_id: i64,
    pub name: String,
    pub is_org: bool,
}

/// Which kind of namespace a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayerKind {
    User,
    Org,
}

impl Payer {
    /// The wallet a signed-in user acts on: their own, or, naming an
    /// organisation, the organisation's, which only its admins may use. An
    /// organisation the user is not a member of is not found (as if it did
    /// not exist); a member who is not an admin is refused.
    pub async fn acting(
        db: &PgPool,
        user: &crate::accounts::User,
        org: Option<&str>,
    ) -> Result<Payer> {
        let Some(org) = org else {
            return Ok(Payer {
                namespace_id: user.id,
                name: user.name.clone(),
                is_org: false,
            });
        };
        let not_found = || orgs::org_not_found(org);
        let org = orgs::find(db, org).await?.ok_or_else(not_found)?;
        match orgs::role_of(db, org.id, user.id).await? {
            None => Err(not_found()),
            Some(orgs::OrgRole::Admin) => Ok(Payer {
                namespace_id: org.id,
                name: org.name,
                is_org: true,
            }),
            Some(_) => Err(Error::forbidden(Message::coded(
                "billing.org_admins_only",
                "only the organization's admins may use its credits",
            ))),
        }
    }

    /// The user or organisation called `name`.
    pub async fn find(db: &PgPool, kind: PayerKind, name: &str) -> Result<Payer> {
        match kind {
            PayerKind::User => users::find_by_name(db, name).await?.map(|u| Payer {
                namespace_id: u.id,
                name: u.name,
                is_org: false,
            }),
            PayerKind::Org => orgs::find(db, name).await?.map(|o| Payer {
                namespace_id: o.id,
                name: o.name,
                is_org: true,
            }),
        }
        .ok_or_else(|| {
            let what = match kind {
                PayerKind::User => "user",
                PayerKind::Org => "organization",
            };
            Error::not_found(format!("no {what} {name:?}"))
        })
    }
}
