//! Large files of mirrored repos, fetched from upstream when first read.
//!
//! A mirrored repo's git history names its large files by sha256 (Git LFS
//! pointers) but the hub holds none of them at first. The first read of
//! one starts a *fill*: one transfer from the upstream's Git LFS into a
//! spool file, hashed as it arrives. Every reader of that file meanwhile,
//! the first included, streams from the spool as the bytes land, so
//! concurrent downloads of an uncached file cost the upstream one transfer.
//! A reader asking for a range far beyond what has arrived (a resumed
//! download, a ranged read of a file's end) gets that range straight from
//! upstream instead of waiting. Once the whole file is there and its
//! sha256 checks, it goes into the hub's storage through the one upload
//! path ([`crate::lfs::store::put_object`]), which links it to the repo;
//! from then on it is served like any stored file.
//!
//! A link is made only for bytes the upstream served and that hash to the
//! pointer's oid, so a pointer in a mirrored history never reaches a file
//! the hub holds for some other repo.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use super::policy::Policy;
use super::remote::Remote;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::{objects, store};
use crate::repos::Repo;
use crate::repos::content::ByteStream;

/// Large files on their way from upstream in this process, by oid.
pub(crate) type Fills = Mutex<HashMap<String, Arc<Fill>>>;

/// One transfer from upstream, shared by its readers.
pub(crate) struct Fill {
    spool: PathBuf,
    size: u64,
    progress: watch::Sender<Progress>,
}

#[derive(Debug, Clone, PartialEq)]
enum Progress {
    /// This many bytes are in the spool.
    Arrived(u64),
    /// Verified and stored; the spool may be gone.
    Stored,
    Failed(String),
}

/// How far ahead of the transfer a ranged reader may start and still wait
/// for it rather than ask upstream for its range.
const WAIT_AHEAD: u64 = 32 << 20;
/// The longest the upstream may go quiet in the middle of a file.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The pieces readers get from the spool.
const READ_PIECE: usize = 1 << 20;

/// The bytes of large file `oid` (`size` bytes, as the repo's pointer
/// says), or of `range` within them, for a reader of mirrored `repo`: from
/// the store when the repo has it, else from upstream as described above.
pub async fn read(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: u64,
    range: Option<Range<u64>>,
) -> Result<ByteStream> {
    if is_cached(hub, repo, oid, size).await? {
        touch(hub, repo.id, oid).await?;
        return store::read_object(hub, oid, range).await;
    }
    let range = range.unwrap_or(0..size);
    let fill = join_or_start(hub, repo, oid, size).await?;
    let arrived = match &*fill.progress.borrow() {
        Progress::Arrived(n) => *n,
        Progress::Stored => size,
        Progress::Failed(why) => return Err(fetch_failed(oid, why)),
    };
    if range.start > arrived.saturating_add(WAIT_AHEAD) {
        let (_, remote) = super::repos::remote_of(hub, repo).await?;
        return upstream_range(hub, &remote, oid, size, range).await;
    }
    follow(hub, &fill, oid, range).await
}

/// Whether `repo` holds large file `oid` already (linked: fetched, or
/// uploaded elsewhere and proven by a fetch).
pub async fn is_cached(hub: &Hub, repo: &Repo, oid: &str, size: u64) -> Result<bool> {
    Ok(objects::linked_size(&hub.db, repo.id, oid).await? == Some(size))
}

/// Fetches large file `oid` of `repo` from upstream whole and waits until
/// it is stored (joining a fill under way).
pub async fn fetch_whole(hub: &Hub, repo: &Repo, oid: &str, size: u64) -> Result<()> {
    let fill = join_or_start(hub, repo, oid, size).await?;
    let mut progress = fill.progress.subscribe();
    loop {
        match &*progress.borrow_and_update() {
            Progress::Stored => return Ok(()),
            Progress::Failed(why) => return Err(fetch_failed(oid, why)),
            Progress::Arrived(_) => {}
        }
        if progress.changed().await.is_err() {
            // The sender is gone: its last word is final.
            return match &*progress.borrow() {
                Progress::Stored => Ok(()),
                Progress::Failed(why) => Err(fetch_failed(oid, why)),
                Progress::Arrived(_) => Err(fetch_failed(oid, "the transfer was dropped")),
            };
        }
    }
}

/// The fill of `oid` under way, or a new one, started for `repo`.
async fn join_or_start(hub: &Hub, repo: &Repo, oid: &str, size: u64) -> Result<Arc<Fill>> {
    if let Some(fill) = hub.mirror.fills.lock().expect("fills poisoned").get(oid) {
        return Ok(fill.clone());
    }
    check_may_fetch(hub, repo, size).await?;
    let spool_dir = hub.config.data_dir.join("mirror-spool");
    tokio::fs::create_dir_all(&spool_dir).await?;
    // The spool exists before the fill can be found: a reader that joins
    // it opens the file at once.
    let spool = spool_dir.join(format!("{oid}.{}", crate::secret::random_token(6)));
    tokio::fs::File::create(&spool).await?;
    let joined = {
        let mut fills = hub.mirror.fills.lock().expect("fills poisoned");
        match fills.get(oid) {
            Some(theirs) => Err(theirs.clone()),
            None => {
                let fill = Arc::new(Fill {
                    spool: spool.clone(),
                    size,
                    progress: watch::channel(Progress::Arrived(0)).0,
                });
                fills.insert(oid.to_owned(), fill.clone());
                Ok(fill)
            }
        }
    };
    let fill = match joined {
        Ok(ours) => ours,
        // Another reader started one meanwhile: join it.
        Err(theirs) => {
            let _ = tokio::fs::remove_file(&spool).await;
            return Ok(theirs);
        }
    };
    let (repo, oid) = (repo.clone(), oid.to_owned());
    let work = {
        let fill = fill.clone();
        move |hub: Arc<Hub>| async move {
            let outcome = run_fill(&hub, &repo, &oid, &fill).await;
            if let Err(e) = &outcome {
                tracing::warn!(repo = %repo.full_name(), %oid, error = %e,
                    "could not fetch a large file from the mirror's upstream");
            }
            hub.mirror
                .fills
                .lock()
                .expect("fills poisoned")
                .retain(|_, f| !Arc::ptr_eq(f, &fill));
            fill.progress.send_replace(match outcome {
                Ok(()) => Progress::Stored,
                Err(e) => Progress::Failed(e.to_string()),
            });
            // Readers still on it keep their open handle.
            let _ = tokio::fs::remove_file(&fill.spool).await;
        }
    };
    match hub.shared() {
        // Outlives this request: other readers may be waiting on it.
        Some(shared) => {
            tokio::spawn(work(shared));
        }
        None => {
            return Err(Error::Internal(anyhow::anyhow!(
                "a mirror fill needs a shared hub"
            )));
        }
    }
    Ok(fill)
}

/// Refuses to fetch while the mirror is offline or the repo's upstream is
/// turned off, and a file the policy's caps can never hold; what is merely
/// over the total cap makes room by eviction once stored.
async fn check_may_fetch(hub: &Hub, repo: &Repo, size: u64) -> Result<()> {
    let policy = Policy::load(&hub.db).await?;
    let upstream = repo.mirrored_from.as_deref().unwrap_or("?");
    if policy.offline {
        return Err(Error::unavailable(format!(
            "this file of {} is not cached, and the mirror is offline (it fetches nothing from {upstream})",
            repo.full_name()
        )));
    }
    let (record, _) = super::repos::remote_of(hub, repo).await?;
    if !record.enabled {
        return Err(Error::unavailable(format!(
            "this file of {} is not cached, and its upstream {upstream} is turned off",
            repo.full_name()
        )));
    }
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    for (cap, what) in [
        (policy.max_repo_bytes, "per repo"),
        (policy.max_total_bytes, "in all"),
    ] {
        if let Some(cap) = cap
            && size > cap
        {
            return Err(Error::too_large(format!(
                "this file of {} has {size} bytes, more than this mirror caches {what} ({cap} bytes)",
                repo.full_name()
            )));
        }
    }
    Ok(())
}

/// The transfer itself: upstream → spool (hashed as it lands) → store.
async fn run_fill(hub: &Hub, repo: &Repo, oid: &str, fill: &Fill) -> Result<()> {
    let (_, remote) = super::repos::remote_of(hub, repo).await?;
    tracing::info!(repo = %repo.full_name(), %oid, size = fill.size, upstream = %remote.upstream,
        "fetching a large file from upstream");
    let response = upstream_get(hub, &remote, oid, fill.size, None).await?;
    let mut body = response.bytes_stream();
    let mut spool = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&fill.spool)
        .await?;
    let mut check = store::ContentCheck::new(oid, fill.size);
    let mut arrived = 0u64;
    // Readers are told of bytes only once they are in the file (tokio's
    // writes finish in the background until flushed), in pieces of about
    // READ_PIECE so that a flush is not paid per network packet.
    let mut pending = Vec::with_capacity(READ_PIECE);
    loop {
        let next = tokio::time::timeout(IDLE_LIMIT, body.next())
            .await
            .map_err(|_| {
                Error::unavailable(format!(
                    "{} went quiet for {} s while sending {oid}",
                    remote.upstream,
                    IDLE_LIMIT.as_secs()
                ))
            })?;
        let done = next.is_none();
        if let Some(chunk) = next {
            let chunk = chunk.map_err(|e| {
                Error::unavailable(format!("{} broke off sending {oid}: {e}", remote.upstream))
            })?;
            check.update(&chunk)?;
            pending.extend_from_slice(&chunk);
        }
        if pending.len() >= READ_PIECE || (done && !pending.is_empty()) {
            spool.write_all(&pending).await?;
            spool.flush().await?;
            arrived += pending.len() as u64;
            pending.clear();
            fill.progress.send_replace(Progress::Arrived(arrived));
        }
        if done {
            break;
        }
    }
    check.finish()?;
    spool.flush().await?;
    drop(spool);
    let stored = tokio::fs::File::open(&fill.spool).await?;
    let body = tokio_util::io::ReaderStream::with_capacity(stored, READ_PIECE);
    store::put_object(hub, repo, oid, fill.size, body).await?;
    sqlx::query(
        "INSERT INTO mirror_objects (repo_id, oid, size) VALUES ($1, $2, $3)
         ON CONFLICT (repo_id, oid) DO UPDATE SET fetched_at = now(), last_read_at = now()",
    )
    .bind(repo.id)
    .bind(oid)
    .bind(fill.size as i64)
    .execute(&hub.db)
    .await?;
    super::evict::enforce(hub).await?;
    Ok(())
}

/// `range` of the file, streamed from the spool as the fill writes it.
async fn follow(hub: &Hub, fill: &Fill, oid: &str, range: Range<u64>) -> Result<ByteStream> {
    let progress = fill.progress.subscribe();
    let file = match tokio::fs::File::open(&fill.spool).await {
        Ok(file) => file,
        // Stored (and the spool removed) since this reader joined.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let failed = match &*progress.borrow() {
                Progress::Failed(why) => Some(fetch_failed(oid, why)),
                _ => None,
            };
            return match failed {
                Some(e) => Err(e),
                None => store::read_object(hub, oid, Some(range)).await,
            };
        }
        Err(e) => return Err(e.into()),
    };
    let size = fill.size;
    let oid = oid.to_owned();
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(range.start)).await?;
    let stream = futures::stream::try_unfold(
        (file, range.start, progress),
        move |(mut file, at, mut progress)| {
            let (end, oid) = (range.end, oid.clone());
            async move {
                if at >= end {
                    return Ok(None);
                }
                loop {
                    let arrived = match &*progress.borrow_and_update() {
                        Progress::Arrived(n) => *n,
                        Progress::Stored => size,
                        Progress::Failed(why) => {
                            return Err(std::io::Error::other(fetch_failed(&oid, why)));
                        }
                    };
                    if arrived > at {
                        let want = (arrived.min(end) - at).min(READ_PIECE as u64) as usize;
                        let mut piece = vec![0; want];
                        file.read_exact(&mut piece).await?;
                        let next = at + want as u64;
                        return Ok(Some((Bytes::from(piece), (file, next, progress))));
                    }
                    if progress.changed().await.is_err() {
                        return Err(std::io::Error::other("the upstream transfer ended"));
                    }
                }
            }
        },
    );
    Ok(stream.boxed())
}

/// `range` straight from upstream, not cached (the fill caches the file).
async fn upstream_range(
    hub: &Hub,
    remote: &Remote,
    oid: &str,
    size: u64,
    range: Range<u64>,
) -> Result<ByteStream> {
    let response = upstream_get(hub, remote, oid, size, Some(range.clone())).await?;
    if response.status() != reqwest::StatusCode::PARTIAL_CONTENT {
        return Err(Error::unavailable(format!(
            "{} did not answer a ranged read of {oid}",
            remote.upstream
        )));
    }
    let upstream = remote.upstream.clone();
    Ok(response
        .bytes_stream()
        .map_err(move |e| std::io::Error::other(format!("{upstream} broke off: {e}")))
        .boxed())
}

#[derive(Deserialize)]
struct BatchAnswer {
    objects: Vec<BatchObject>,
}

#[derive(Deserialize)]
struct BatchObject {
    #[serde(default)]
    actions: Option<BatchActions>,
    #[serde(default)]
    error: Option<BatchError>,
}

#[derive(Deserialize)]
struct BatchActions {
    download: Option<BatchAction>,
}

#[derive(Deserialize)]
struct BatchAction {
    href: String,
    #[serde(default)]
    header: HashMap<String, String>,
}

#[derive(Deserialize)]
struct BatchError {
    code: u16,
    message: String,
}

/// A GET of the file (or `range` of it) where the upstream's Git LFS batch
/// API says it lies: the upstream itself, or a CDN it signs a link to.
async fn upstream_get(
    hub: &Hub,
    remote: &Remote,
    oid: &str,
    size: u64,
    range: Option<Range<u64>>,
) -> Result<reqwest::Response> {
    let unreachable = |e: reqwest::Error| {
        Error::unavailable(format!(
            "the mirror's upstream {} cannot be reached: {e}",
            remote.upstream
        ))
    };
    let mut ask = hub
        .mirror
        .http
        .post(format!("{}/info/lfs/objects/batch", remote.url))
        .header("Accept", "application/vnd.git-lfs+json")
        .header("Content-Type", "application/vnd.git-lfs+json")
        .body(
            serde_json::json!({
                "operation": "download",
                "transfers": ["basic"],
                "objects": [{"oid": oid, "size": size}],
            })
            .to_string(),
        );
    if let Some(token) = &remote.token {
        ask = ask.bearer_auth(token);
    }
    let answer = ask.send().await.map_err(unreachable)?;
    if !answer.status().is_success() {
        return Err(Error::unavailable(format!(
            "{} answered {} to a download of {oid}",
            remote.upstream,
            answer.status()
        )));
    }
    let answer: BatchAnswer = answer.json().await.map_err(unreachable)?;
    let object = answer.objects.into_iter().next();
    let action = match object {
        Some(BatchObject {
            actions: Some(BatchActions {
                download: Some(action),
            }),
            ..
        }) => action,
        Some(BatchObject {
            error: Some(error), ..
        }) => {
            return Err(Error::unavailable(format!(
                "{} cannot send {oid}: {} {}",
                remote.upstream, error.code, error.message
            )));
        }
        _ => {
            return Err(Error::unavailable(format!(
                "{} gave no download for {oid}",
                remote.upstream
            )));
        }
    };
    let mut get = hub.mirror.http.get(&action.href);
    for (name, value) in &action.header {
        get = get.header(name, value);
    }
    if let Some(range) = range {
        get = get.header("Range", format!("bytes={}-{}", range.start, range.end - 1));
    }
    let response = get.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(Error::unavailable(format!(
            "{} answered {} when sending {oid}",
            remote.upstream,
            response.status()
        )));
    }
    Ok(response)
}

fn fetch_failed(oid: &str, why: &str) -> Error {
    Error::unavailable(format!(
        "fetching {oid} from the mirror's upstream failed: {why}"
    ))
}

/// Records a read of a cached file, for least-recently-read eviction (at
/// most once a minute per file: reads stay reads).
async fn touch(hub: &Hub, repo_id: i64, oid: &str) -> Result<()> {
    sqlx::query(
        "UPDATE mirror_objects SET last_read_at = now()
         WHERE repo_id = $1 AND oid = $2 AND last_read_at < now() - interval '1 minute'",
    )
    .bind(repo_id)
    .bind(oid)
    .execute(&hub.db)
    .await?;
    Ok(())
}
