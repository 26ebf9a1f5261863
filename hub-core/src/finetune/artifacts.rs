//! The files of one training run in object storage, under
//! `finetune/runs/{queue job}/`: the converted examples the worker reads
//! (`data/`), the checkpoints it uploads (`checkpoints/{step}/`) and the
//! adapter it ends with (`output/`). A worker reaches only the run leased
//! to it, with its worker token; the names are flat.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::jobs::workers::WorkerId;
use crate::repos::content::ByteStream;

/// What was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub size: u64,
    pub sha256: String,
}

/// Part size of multipart uploads; at most two parts are in flight.
const PART: usize = 8 << 20;

/// Streams `body` to `location`, refusing it (and keeping nothing) past
/// `max` bytes or when it breaks off. The object appears whole or not at
/// all.
pub async fn put_limited(
    hub: &Hub,
    location: &ObjectPath,
    max: u64,
    body: impl Stream<Item = std::io::Result<Bytes>>,
) -> Result<Stored> {
    let upload = hub.storage.store.put_multipart(location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = std::pin::pin!(body);
    let fed: Result<()> = async {
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| Error::invalid(format!("the upload was interrupted: {e}")))?;
            size += chunk.len() as u64;
            if size > max {
                return Err(Error::too_large(
                    Message::coded(
                        "finetune.file_too_large",
                        "the file is larger than {mib} MiB",
                    )
                    .with("mib", max >> 20),
                ));
            }
            hasher.update(&chunk);
            writer.wait_for_capacity(2).await?;
            writer.put(chunk);
        }
        Ok(())
    }
    .await;
    match fed {
        Ok(()) => {
            writer.finish().await?;
            Ok(Stored {
                size,
                sha256: hex::encode(hasher.finalize()),
            })
        }
        Err(e) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "could not abort a fine-tuning upload");
            }
            Err(e)
        }
    }
}

/// Where run `run` keeps `kind` files (`data`, `checkpoints/{step}`,
/// `output`).
pub fn location(run: Uuid, kind: &str, name: &str) -> ObjectPath {
    ObjectPath::from(format!("finetune/runs/{}/{kind}/{name}", run.simple()))
}

/// A file name a worker may use: flat, short, plain.
pub fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        Ok(())
    } else {
        Err(Error::invalid(format!("{name:?} is not a plain file name")))
    }
}

/// What a worker reaches in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `data/train.jsonl`, `data/validation.jsonl`: read only.
    Data,
    /// `checkpoints/{step}/…`: written, and read back by a later attempt.
    Checkpoint(u64),
    /// `output/…`: written.
    Output,
}

impl Area {
    fn kind(self) -> String {
        match self {
            Area::Data => "data".into(),
            Area::Checkpoint(step) => format!("checkpoints/{step}"),
            Area::Output => "output".into(),
        }
    }
}

/// Checks that fine-tune job `run` is leased to `worker` now.
async fn check_leased(hub: &Hub, worker: WorkerId, run: Uuid) -> Result<()> {
    let leased: Option<bool> = sqlx::query_scalar(
        "SELECT true FROM inference_jobs j JOIN worker_sessions s ON s.id = j.leased_to
         WHERE j.id = $1 AND j.task = 'fine-tune' AND j.state = 'running'
           AND s.worker_id = $2 AND s.state = 'active'",
    )
    .bind(run)
    .bind(worker.0)
    .fetch_optional(&hub.db)
    .await?;
    leased
        .map(|_| ())
        .ok_or_else(|| Error::not_found("no such fine-tune job leased to this worker"))
}

/// A worker reads a file of the run leased to it.
pub async fn read(
    hub: &Hub,
    worker: WorkerId,
    run: Uuid,
    area: Area,
    name: &str,
) -> Result<ByteStream> {
    check_name(name)?;
    check_leased(hub, worker, run).await?;
    let path = location(run, &area.kind(), name);
    match hub.storage.store.head(&path).await {
        Ok(_) => crate::lfs::store::read_stored(hub, &path, None).await,
        Err(object_store::Error::NotFound { .. }) => {
            Err(Error::not_found(format!("this run has no {name}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// A worker uploads a checkpoint's or the output's file of the run leased
/// to it (streamed; an upload of the same name replaces the last).
pub async fn write(
    hub: &Hub,
    worker: WorkerId,
    run: Uuid,
    area: Area,
    name: &str,
    body: impl Stream<Item = std::io::Result<Bytes>>,
) -> Result<Stored> {
    check_name(name)?;
    if area == Area::Data {
        return Err(Error::forbidden("a run's data is written by the hub only"));
    }
    check_leased(hub, worker, run).await?;
    put_limited(
        hub,
        &location(run, &area.kind(), name),
        hub.finetune.max_artifact_bytes,
        body,
    )
    .await
}

/// The size of a run's file, if stored.
pub async fn size(hub: &Hub, run: Uuid, area: Area, name: &str) -> Result<Option<u64>> {
    match hub
        .storage
        .store
        .head(&location(run, &area.kind(), name))
        .await
    {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Streams a run's file (for publishing it).
pub async fn open(hub: &Hub, run: Uuid, area: Area, name: &str) -> Result<ByteStream> {
    crate::lfs::store::read_stored(hub, &location(run, &area.kind(), name), None).await
}
