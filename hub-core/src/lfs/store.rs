//! LFS object bytes in object storage, at [`lfs_object_path`].
//!
//! Uploads stream into a multipart upload while the bytes are hashed and
//! counted; the whole object is never in memory (at most a few parts are).
//! A body whose sha256 or length differs from what was announced aborts the
//! multipart upload, so nothing becomes visible in the store, and no record is
//! written. Records (`lfs_objects`, the repo link) are written only after the
//! store has completed the upload. A dropped upload (a client that went
//! away mid-body) is aborted too.

use std::io;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use sha2::{Digest, Sha256};

use super::objects;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::Repo;
use crate::repos::content::ByteStream;
use crate::storage::lfs_object_path;

/// Size of the parts an upload is split into: 10 MiB, larger for objects
/// that would otherwise need more than [`MAX_PARTS`] parts.
pub const PART_SIZE: usize = 10 * 1024 * 1024;

/// S3 accepts at most 10 000 parts per multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// Parts uploaded concurrently per object; bounds the memory of one upload
/// to about `(PARTS_IN_FLIGHT + 1) * part size`.
const PARTS_IN_FLIGHT: usize = 2;

/// How long a presigned download URL stays valid.
const PRESIGNED_LIFETIME: Duration = Duration::from_secs(3600);

/// The part size for an object of `size` bytes: [`PART_SIZE`], or the
/// smallest whole number of MiB that fits the object in [`MAX_PARTS`] parts.
#[must_use]
pub fn part_size(size: u64) -> usize {
    const MIB: u64 = 1024 * 1024;
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    usize::try_from(needed).map_or(usize::MAX, |n| n.max(PART_SIZE))
}

/// Hashes and counts a body against the oid and size it claims to have.
#[derive(Debug)]
pub struct ContentCheck {
    hasher: Sha256,
    seen: u64,
    oid: String,
    size: u64,
}

impl ContentCheck {
    pub fn new(oid: &str, size: u64) -> ContentCheck {
        ContentCheck {
            hasher: Sha256::new(),
            seen: 0,
            oid: oid.to_owned(),
            size,
        }
    }

    /// Takes the next bytes; fails as soon as the body is longer than announced.
    pub fn update(&mut self, chunk: &[u8]) -> Result<()> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if self.seen > self.size {
            return Err(self.wrong_size());
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Whether the body had exactly the announced size and sha256.
    pub fn finish(self) -> Result<()> {
        if self.seen != self.size {
            return Err(self.wrong_size());
        }
        let actual = hex::encode(self.hasher.finalize());
        if actual != self.oid {
            return Err(Error::invalid(format!(
                "the uploaded content has sha256 {actual}, not {}",
                self.oid
            )));
        }
        Ok(())
    }

    fn wrong_size(&self) -> Error {
        let got = if self.seen > self.size {
            "more bytes".to_owned()
        } else {
            format!("{} bytes", self.seen)
        };
        Error::invalid(format!(
            "the uploaded content of {} has {got}, not the announced {} bytes",
            self.oid, self.size
        ))
    }
}

/// Stores the body of LFS object `oid` (`size` bytes) and links it to
/// `repo`; the caller has checked that the uploader may write to `repo`.
///
/// Fails with `InvalidInput` (and stores nothing) when the body's sha256 or
/// length is not the announced one. When the hub already holds the object,
/// the body is still read and verified (proof of possession) before the
/// object is linked, but not written again.
pub async fn put_object(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: u64,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<()> {
    if !objects::is_valid_oid(oid) {
        return Err(Error::invalid(format!("{oid:?} is not a sha256 oid")));
    }
    let check = ContentCheck::new(oid, size);
    // A wrong size claim for a stored object goes the writing way and fails
    // its check like any wrong body: the answer must not tell what is stored.
    let recorded = objects::stored_size(&hub.db, oid).await? == Some(size);
    if recorded && object_size_in_store(hub, oid).await? == Some(size) {
        drain_verified(check, body).await?;
        link_stored(hub, repo, oid, size).await
    } else {
        let store = hub.storage.store.as_ref();
        let staged = stage_verified(store, &location(oid)?, check, body).await?;
        complete_and_link(hub, repo, oid, size, staged).await
    }
}

/// Links an object that was stored before; fails if garbage collection
/// removed it while the body was read.
async fn link_stored(hub: &Hub, repo: &Repo, oid: &str, size: u64) -> Result<()> {
    let mut tx = hub.db.begin().await?;
    let held = objects::hold(&mut tx, oid).await?;
    if held != Some(size) || object_size_in_store(hub, oid).await? != Some(size) {
        return Err(Error::conflict(format!(
            "LFS object {oid} was removed while it was being uploaded; upload it again"
        )));
    }
    objects::link(&mut tx, repo.id, oid).await?;
    tx.commit().await?;
    Ok(())
}

/// Records object `oid` (`size` bytes), whose bytes the hub holds as xorbs
/// with its reconstruction recorded (a Xet upload), and links it to `repo`;
/// the caller has checked the bytes and that the uploader may write to
/// `repo`.
pub async fn link_chunked(hub: &Hub, repo: &Repo, oid: &str, size: u64) -> Result<()> {
    let mut tx = hub.db.begin().await?;
    objects::record_and_hold(&mut tx, oid, size).await?;
    objects::link(&mut tx, repo.id, oid).await?;
    tx.commit().await?;
    Ok(())
}

/// Records the object and holds its row, makes the upload visible, links
/// it: garbage collection cannot delete the bytes between the two steps.
async fn complete_and_link(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: u64,
    staged: StagedUpload,
) -> Result<()> {
    let mut tx = hub.db.begin().await?;
    objects::record_and_hold(&mut tx, oid, size).await?;
    staged.complete().await?;
    objects::link(&mut tx, repo.id, oid).await?;
    tx.commit().await?;
    Ok(())
}

/// Reads the whole body through `check` without storing it.
pub async fn drain_verified(
    mut check: ContentCheck,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<()> {
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        check.update(&chunk.map_err(interrupted)?)?;
    }
    check.finish()
}

/// Streams the body into a multipart upload at `location` and checks it;
/// the upload becomes visible only through [`StagedUpload::complete`]. On a
/// failed check, or when the result is dropped, the upload is aborted.
pub async fn stage_verified(
    store: &dyn ObjectStore,
    location: &ObjectPath,
    mut check: ContentCheck,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<StagedUpload> {
    let upload = store.put_multipart(location).await?;
    let mut staged = StagedUpload(Some(WriteMultipart::new_with_chunk_size(
        upload,
        part_size(check.size),
    )));
    match feed(&mut staged, &mut check, body)
        .await
        .and_then(|()| check.finish())
    {
        Ok(()) => Ok(staged),
        Err(e) => {
            staged.abort().await;
            Err(e)
        }
    }
}

async fn feed(
    upload: &mut StagedUpload,
    check: &mut ContentCheck,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<()> {
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(interrupted)?;
        check.update(&chunk)?;
        let writer = upload.writer();
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.put(chunk);
    }
    Ok(())
}

fn interrupted(e: io::Error) -> Error {
    Error::invalid(format!("the upload was interrupted: {e}"))
}

/// A verified multipart upload, not yet visible in the store. It is
/// aborted unless completed, also when dropped (a client that disconnects
/// mid-body drops the request's future, and this with it).
#[derive(Debug)]
pub struct StagedUpload(Option<WriteMultipart>);

impl StagedUpload {
    fn writer(&mut self) -> &mut WriteMultipart {
        self.0
            .as_mut()
            .expect("upload used after completion or abort")
    }

    /// Makes the object visible at its location (atomically: readers see
    /// the whole object or none).
    pub async fn complete(mut self) -> Result<()> {
        let writer = self.0.take().expect("upload completed twice");
        writer.finish().await?;
        Ok(())
    }

    /// Discards the upload and its parts.
    pub async fn abort(mut self) {
        if let Some(writer) = self.0.take()
            && let Err(e) = writer.abort().await
        {
            tracing::warn!(error = %e, "could not abort an LFS upload");
        }
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "could not abort a dropped LFS upload");
                }
            });
        }
    }
}

/// The size of `oid` as the store holds it (as a plain object, or as xorbs
/// once the hub has chunked it: see `xet::ingest`), or `None` when the
/// store lacks it.
pub async fn object_size_in_store(hub: &Hub, oid: &str) -> Result<Option<u64>> {
    if let Some((_, file)) = crate::xet::files::any_by_sha256(&hub.db, oid).await? {
        return Ok(Some(file.size));
    }
    plain_size(hub, oid).await
}

/// The size of the plain copy of `oid`, if the store has one.
pub async fn plain_size(hub: &Hub, oid: &str) -> Result<Option<u64>> {
    match hub.storage.store.head(&location(oid)?).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The bytes of object `oid`, or of `range` within them (which must lie
/// inside the object), streamed from the store. The caller has checked that
/// the reader may read the object (a link to the repo it reads through).
pub async fn read_object(hub: &Hub, oid: &str, range: Option<Range<u64>>) -> Result<ByteStream> {
    if let Some(stream) = crate::xet::files::read(hub, oid, range.clone()).await? {
        return Ok(stream);
    }
    if let Some(stream) = read_if_stored(hub, &location(oid)?, range.clone()).await? {
        return Ok(stream);
    }
    // Chunked, and its plain copy dropped, since the first look.
    crate::xet::files::read(hub, oid, range)
        .await?
        .ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "LFS object {oid} is recorded but not stored"
            ))
        })
}

/// The plain copy of `oid` (what an upload stores until the hub has chunked
/// it into xorbs), if the store has it.
pub async fn read_plain(
    hub: &Hub,
    oid: &str,
    range: Option<Range<u64>>,
) -> Result<Option<ByteStream>> {
    read_if_stored(hub, &location(oid)?, range).await
}

/// The bytes stored at `path`, or of `range` within them, streamed from
/// the store (in 1 MiB pieces from the local store). The caller has checked
/// that the reader may read them.
pub async fn read_stored(
    hub: &Hub,
    path: &ObjectPath,
    range: Option<Range<u64>>,
) -> Result<ByteStream> {
    read_if_stored(hub, path, range)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("{path} is missing from the store")))
}

/// [`read_stored`], or `None` when nothing is stored at `path`.
async fn read_if_stored(
    hub: &Hub,
    path: &ObjectPath,
    range: Option<Range<u64>>,
) -> Result<Option<ByteStream>> {
    let options = GetOptions {
        range: range.map(GetRange::Bounded),
        ..Default::default()
    };
    let found = match hub.storage.store.get_opts(path, options).await {
        Ok(found) => found,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match found.payload {
        GetResultPayload::File(file, _) => read_local_file(file, found.range).await.map(Some),
        GetResultPayload::Stream(stream) => {
            Ok(Some(stream.map(|c| c.map_err(io::Error::other)).boxed()))
        }
    }
}

/// Reads from the local store. object_store would hand a local file over in
/// 8 KiB pieces, each a trip to a blocking thread; 1 MiB reads keep
/// downloads at disk speed (see bench/run, figure 2).
async fn read_local_file(file: std::fs::File, range: Range<u64>) -> Result<ByteStream> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::from_std(file);
    file.seek(io::SeekFrom::Start(range.start)).await?;
    let part = file.take(range.end - range.start);
    Ok(tokio_util::io::ReaderStream::with_capacity(part, 1 << 20).boxed())
}

/// A presigned URL for reading object `oid` directly from the store, when
/// the hub is configured for it (`HUB_LFS_PRESIGNED_DOWNLOADS`) and the store
/// can presign (S3); `None` otherwise. Same caller duty as [`read_object`].
pub async fn presigned_download_url(hub: &Hub, oid: &str) -> Result<Option<String>> {
    let Some(signer) = hub.storage.signer.as_ref() else {
        return Ok(None);
    };
    if !hub.config.lfs_presigned_downloads {
        return Ok(None);
    }
    // Held as xorbs, the bytes exist only as the hub rebuilds them.
    if crate::xet::files::any_by_sha256(&hub.db, oid)
        .await?
        .is_some()
    {
        return Ok(None);
    }
    let url = signer
        .signed_url(
            object_store::signer::Method::GET,
            &location(oid)?,
            PRESIGNED_LIFETIME,
        )
        .await?;
    Ok(Some(url.to_string()))
}

/// Where object `oid` lives in the store; an oid that is no sha256 names
/// no object (and must never become a path).
fn location(oid: &str) -> Result<ObjectPath> {
    if !objects::is_valid_oid(oid) {
        return Err(Error::not_found("no such LFS object"));
    }
    Ok(lfs_object_path(oid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    fn oid_of(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn body(chunks: Vec<io::Result<Bytes>>) -> impl Stream<Item = io::Result<Bytes>> {
        futures::stream::iter(chunks)
    }

    fn chunks_of(data: &[u8], n: usize) -> Vec<io::Result<Bytes>> {
        data.chunks(n)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    }

    /// Every file under `dir`, staging files included.
    fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out
    }

    fn local_store() -> (tempfile::TempDir, LocalFileSystem) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn only_sha256_oids_become_store_paths() {
        let oid = oid_of(b"x");
        assert_eq!(location(&oid).unwrap(), lfs_object_path(&oid));
        for hostile in [
            "",
            "ab",
            "../../etc/passwd",
            "é",
            &oid.to_uppercase(),
            &oid[1..],
        ] {
            assert!(
                matches!(location(hostile), Err(Error::NotFound(_))),
                "{hostile}"
            );
        }
    }

    #[test]
    fn part_sizes_fit_s3_limits() {
        assert_eq!(part_size(0), PART_SIZE);
        assert_eq!(part_size(5 << 30), PART_SIZE);
        assert_eq!(part_size(MAX_PARTS * PART_SIZE as u64), PART_SIZE);
        let big = MAX_PARTS * PART_SIZE as u64 + 1;
        assert_eq!(part_size(big), PART_SIZE + (1 << 20));
        for size in [1u64 << 40, 5 << 40, (1 << 40) + 12345] {
            let part = part_size(size) as u64;
            assert!(size.div_ceil(part) <= MAX_PARTS, "{size}");
            assert_eq!(part % (1 << 20), 0);
        }
        assert!(part_size(u64::MAX) > PART_SIZE);
    }

    #[test]
    fn content_check_accepts_only_the_announced_content() {
        let data = b"hello lfs";
        let oid = oid_of(data);
        let mut ok = ContentCheck::new(&oid, data.len() as u64);
        ok.update(&data[..4]).unwrap();
        ok.update(&data[4..]).unwrap();
        ok.finish().unwrap();

        let mut short = ContentCheck::new(&oid, data.len() as u64);
        short.update(&data[..4]).unwrap();
        assert!(short.finish().unwrap_err().to_string().contains("4 bytes"));

        let mut long = ContentCheck::new(&oid, 3);
        assert!(
            long.update(data).is_err(),
            "fails before hashing the excess"
        );

        let mut wrong = ContentCheck::new(&oid, data.len() as u64);
        wrong.update(b"hello LFS").unwrap();
        assert!(wrong.finish().unwrap_err().to_string().contains("sha256"));

        assert!(ContentCheck::new(&oid_of(b""), 0).finish().is_ok());
    }

    #[tokio::test]
    async fn a_verified_body_is_stored_in_parts() {
        let (dir, store) = local_store();
        let data: Vec<u8> = (0..(PART_SIZE + 1234)).map(|i| (i % 251) as u8).collect();
        let oid = oid_of(&data);
        let location = lfs_object_path(&oid);
        let check = ContentCheck::new(&oid, data.len() as u64);
        let staged = stage_verified(&store, &location, check, body(chunks_of(&data, 64 * 1024)))
            .await
            .unwrap();
        assert!(
            store.head(&location).await.is_err(),
            "invisible until complete"
        );
        staged.complete().await.unwrap();
        let stored = store.get(&location).await.unwrap().bytes().await.unwrap();
        assert_eq!(&stored[..], &data[..]);
        assert_eq!(files(dir.path()).len(), 1, "no staging file left");
    }

    #[tokio::test]
    async fn a_wrong_body_stores_nothing() {
        let (dir, store) = local_store();
        let data = vec![7u8; 300_000];
        let oid = oid_of(&data);
        let location = lfs_object_path(&oid);
        let mut tampered = data.clone();
        tampered[123] = 8;
        let cases = [
            (tampered.clone(), data.len() as u64, "sha256"),
            (data[..1000].to_vec(), data.len() as u64, "1000 bytes"),
            (data.clone(), 1000, "more bytes"),
        ];
        for (sent, size, message) in cases {
            let check = ContentCheck::new(&oid, size);
            let err = stage_verified(&store, &location, check, body(chunks_of(&sent, 4096)))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err}");
            assert!(err.to_string().contains(message), "{err}");
            assert!(store.head(&location).await.is_err());
            assert_eq!(files(dir.path()), Vec::<std::path::PathBuf>::new());
        }
    }

    #[tokio::test]
    async fn an_interrupted_body_stores_nothing() {
        let (dir, store) = local_store();
        let data = vec![1u8; 100_000];
        let oid = oid_of(&data);
        let location = lfs_object_path(&oid);
        let mut chunks = chunks_of(&data[..50_000], 4096);
        chunks.push(Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone")));
        let check = ContentCheck::new(&oid, data.len() as u64);
        let err = stage_verified(&store, &location, check, body(chunks))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
        assert_eq!(files(dir.path()), Vec::<std::path::PathBuf>::new());
    }

    #[tokio::test]
    async fn a_dropped_upload_is_aborted() {
        let (dir, store) = local_store();
        let data = vec![2u8; 10_000];
        let oid = oid_of(&data);
        let location = lfs_object_path(&oid);
        // The body yields some bytes, then never ends: the client went silent.
        let stalled = body(chunks_of(&data[..5000], 1000)).chain(futures::stream::pending());
        let check = ContentCheck::new(&oid, data.len() as u64);
        let upload = stage_verified(&store, &location, check, stalled);
        let timed_out = tokio::time::timeout(Duration::from_millis(200), upload).await;
        assert!(timed_out.is_err());
        // The abort runs on the runtime after the drop; give it a moment.
        for _ in 0..100 {
            if files(dir.path()).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(files(dir.path()), Vec::<std::path::PathBuf>::new());
    }

    #[tokio::test]
    async fn a_staged_upload_dropped_before_completion_is_aborted() {
        let (dir, store) = local_store();
        let data = vec![3u8; 1000];
        let oid = oid_of(&data);
        let location = lfs_object_path(&oid);
        let check = ContentCheck::new(&oid, data.len() as u64);
        let staged = stage_verified(&store, &location, check, body(chunks_of(&data, 100)))
            .await
            .unwrap();
        assert_eq!(files(dir.path()).len(), 1, "the staging file");
        drop(staged);
        for _ in 0..100 {
            if files(dir.path()).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(files(dir.path()), Vec::<std::path::PathBuf>::new());
        assert!(store.head(&location).await.is_err());
    }

    #[tokio::test]
    async fn presigning_needs_no_network() {
        let s3 = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name("models")
            .with_region("us-east-1")
            .with_endpoint("http://127.0.0.1:9")
            .with_access_key_id("key")
            .with_secret_access_key("secret")
            .with_allow_http(true)
            .build()
            .unwrap();
        let signer: &dyn object_store::signer::Signer = &s3;
        let oid = oid_of(b"x");
        let url = signer
            .signed_url(
                object_store::signer::Method::GET,
                &lfs_object_path(&oid),
                PRESIGNED_LIFETIME,
            )
            .await
            .unwrap()
            .to_string();
        assert!(
            url.contains(&oid) && url.contains("X-Amz-Signature="),
            "{url}"
        );
    }
}
