//! Files uploaded for fine-tuning (`POST /v1/files` with purpose
//! `fine-tune`), owned by a user or an organisation and kept in object
//! storage under `finetune/files/{id}`. Validated when a job uses them, not
//! at upload: the checks need the base model's tokenizer.

use chrono::{DateTime, Utc};
use futures::Stream;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde::Serialize;

use super::artifacts::{self, Stored};
use crate::billing::Payer;
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::repos::content::ByteStream;

/// The purposes a file may have here: training data, and the files a job
/// writes back (OpenAI's `fine-tune-results`).
pub const PURPOSES: &[&str] = &["fine-tune"];

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FileObject {
    pub id: String,
    pub filename: String,
    pub purpose: String,
    pub bytes: i64,
    #[serde(skip)]
    pub namespace_id: i64,
    #[serde(serialize_with = "unix_seconds")]
    pub created_at: DateTime<Utc>,
}

pub(crate) fn unix_seconds<S: serde::Serializer>(
    t: &DateTime<Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.timestamp())
}

fn location(id: &str) -> ObjectPath {
    ObjectPath::from(format!("finetune/files/{id}"))
}

/// Checks a file name given by a client: a plain name, shown back as is.
fn check_filename(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(Error::invalid(Message::coded(
            "finetune.bad_filename",
            "a file name is 1 to 255 characters, without '/' or control characters",
        )));
    }
    Ok(())
}

/// Stores an upload for `owner` (streamed, refused past the size limit
/// with nothing kept).
pub async fn upload(
    hub: &Hub,
    owner: &Payer,
    created_by: i64,
    filename: &str,
    purpose: &str,
    body: impl Stream<Item = std::io::Result<bytes::Bytes>>,
) -> Result<FileObject> {
    check_filename(filename)?;
    if !PURPOSES.contains(&purpose) {
        return Err(Error::invalid(
            Message::coded(
                "finetune.bad_purpose",
                "purpose {purpose} is not accepted here; use \"fine-tune\"",
            )
            .with("purpose", purpose),
        ));
    }
    let id = super::new_id("file");
    let Stored { size, sha256 } =
        artifacts::put_limited(hub, &location(&id), hub.finetune.max_file_bytes, body).await?;
    let file: FileObject = sqlx::query_as(
        "INSERT INTO finetune_files (id, namespace_id, created_by, filename, purpose, bytes, sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, filename, purpose, bytes, namespace_id, created_at",
    )
    .bind(&id)
    .bind(owner.namespace_id)
    .bind(created_by)
    .bind(filename)
    .bind(purpose)
    .bind(size as i64)
    .bind(&sha256)
    .fetch_one(&hub.db)
    .await?;
    Ok(file)
}

fn not_found(id: &str) -> Error {
    Error::not_found(Message::coded("finetune.no_such_file", "no file {id}").with("id", id))
}

/// File `id` of `owner` (the user, or the organisation they act for);
/// anyone else's is not found, never forbidden.
pub async fn get(hub: &Hub, owner: &Payer, id: &str) -> Result<FileObject> {
    sqlx::query_as(
        "SELECT id, filename, purpose, bytes, namespace_id, created_at FROM finetune_files
         WHERE id = $1 AND namespace_id = $2",
    )
    .bind(id)
    .bind(owner.namespace_id)
    .fetch_optional(&hub.db)
    .await?
    .ok_or_else(|| not_found(id))
}

/// The files of `owner`, newest first.
pub async fn list(
    hub: &Hub,
    owner: &Payer,
    purpose: Option<&str>,
    limit: i64,
) -> Result<Vec<FileObject>> {
    Ok(sqlx::query_as(
        "SELECT id, filename, purpose, bytes, namespace_id, created_at FROM finetune_files
         WHERE namespace_id = $1 AND ($2::TEXT IS NULL OR purpose = $2)
         ORDER BY created_at DESC, id LIMIT $3",
    )
    .bind(owner.namespace_id)
    .bind(purpose)
    .bind(limit.clamp(1, 10_000))
    .fetch_all(&hub.db)
    .await?)
}

/// The bytes of a file the caller may read (see [`get`]).
pub async fn content(hub: &Hub, file: &FileObject) -> Result<ByteStream> {
    crate::lfs::store::read_stored(hub, &location(&file.id), None).await
}

/// Deletes a file (jobs that used it keep their converted copy).
pub async fn delete(hub: &Hub, owner: &Payer, id: &str) -> Result<()> {
    let file = get(hub, owner, id).await?;
    sqlx::query("DELETE FROM finetune_files WHERE id = $1")
        .bind(&file.id)
        .execute(&hub.db)
        .await?;
    match hub.storage.store.delete(&location(&file.id)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
