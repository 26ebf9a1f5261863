//! The rate card: a price per second of device time and per thousand tokens,
//! per device class (`cpu`, `gpu-small`, `gpu-large`, or any class the admin
//! names). A new price is a new row from its `effective_from`; charges copy
//! the price in force when their usage began, so repricing never changes a
//! charge already made.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Credits;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rate {
    pub id: i64,
    pub device_class: String,
    pub per_second: Credits,
    pub per_thousand_tokens: Credits,
    pub effective_from: DateTime<Utc>,
}

type RateRow = (i64, String, i64, i64, DateTime<Utc>);

fn rate((id, device_class, per_second, per_thousand_tokens, effective_from): RateRow) -> Rate {
    Rate {
        id,
        device_class,
        per_second: Credits(per_second),
        per_thousand_tokens: Credits(per_thousand_tokens),
        effective_from,
    }
}

/// Whether `class` is a device class name: lowercase letters, digits and
/// dashes, as the worker capabilities spell them.
pub fn valid_class(class: &str) -> bool {
    !class.is_empty()
        && class.len() <= 63
        && class.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && class
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Sets the price of `device_class` from now on.
pub async fn add(
    db: &PgPool,
    device_class: &str,
    per_second: Credits,
    per_thousand_tokens: Credits,
    by: Option<i64>,
) -> Result<Rate> {
    if !valid_class(device_class) {
        return Err(Error::invalid(
            "a device class is lowercase letters, digits and dashes (cpu, gpu-small, ...)",
        ));
    }
    if per_second.0 < 0 || per_thousand_tokens.0 < 0 {
        return Err(Error::invalid("a price is never negative"));
    }
    let row: RateRow = sqlx::query_as(
        "INSERT INTO billing_rates (device_class, per_second, per_thousand_tokens, created_by)
         VALUES ($1, $2, $3, $4)
         RETURNING id, device_class, per_second, per_thousand_tokens, effective_from",
    )
    .bind(device_class)
    .bind(per_second.0)
    .bind(per_thousand_tokens.0)
    .bind(by)
    .fetch_one(db)
    .await?;
    Ok(rate(row))
}

/// The price in force for each class now, by class name.
pub async fn list(db: &PgPool) -> Result<Vec<Rate>> {
    let rows: Vec<RateRow> = sqlx::query_as(
        "SELECT DISTINCT ON (device_class)
                id, device_class, per_second, per_thousand_tokens, effective_from
         FROM billing_rates WHERE effective_from <= now()
         ORDER BY device_class, effective_from DESC, id DESC",
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(rate).collect())
}

/// The price of `device_class` in force at `at`.
pub async fn in_force(
    conn: &mut PgConnection,
    device_class: &str,
    at: DateTime<Utc>,
) -> Result<Option<Rate>> {
    let row: Option<RateRow> = sqlx::query_as(
        "SELECT id, device_class, per_second, per_thousand_tokens, effective_from
         FROM billing_rates WHERE device_class = $1 AND effective_from <= $2
         ORDER BY effective_from DESC, id DESC LIMIT 1",
    )
    .bind(device_class)
    .bind(at)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(rate))
}

/// The dearest price per thousand tokens in force now over all classes:
/// what a hold for paid inference reserves at, before it is known which
/// worker (so which class) will run the request.
pub async fn dearest_per_thousand_tokens(conn: &mut PgConnection) -> Result<Option<Credits>> {
    let dearest: Option<i64> = sqlx::query_scalar(
        "SELECT max(per_thousand_tokens) FROM (
             SELECT DISTINCT ON (device_class) per_thousand_tokens FROM billing_rates
             WHERE effective_from <= now()
             ORDER BY device_class, effective_from DESC, id DESC) current",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(dearest.map(Credits))
}
