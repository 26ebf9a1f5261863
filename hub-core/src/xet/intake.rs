//! Taking in an upload body before anything shared is held.
//!
//! Xorb uploads used to take one of the hub's few processing slots and then
//! read their body: four connections that declared a megabyte and sent one
//! byte held every slot, and every other user's upload waited for ever. Now
//! a body is read first, while its uploader holds one of their own places
//! ([`place_for`], [`UPLOADS_PER_USER`] a user): spooled to an unnamed file
//! in the data dir ([`spool`]), at most a given size, and failing when no
//! data comes for the body timeout. Only a complete body queues for a
//! processing slot. A slow client so makes only its own user wait.

use std::collections::HashMap;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// Uploads one user may have in progress at once (hf_xet sends up to 8
/// xorbs at a time); more wait for one of these to finish.
pub const UPLOADS_PER_USER: usize = 8;

/// Each user's places, while any is taken (a user with none has no entry).
static PLACES: LazyLock<Mutex<HashMap<i64, Weak<Semaphore>>>> = LazyLock::new(Default::default);

/// One of a user's upload places, held until dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
}

/// Waits for one of `user_id`'s upload places: only that user's own
/// uploads in progress can make them wait.
pub async fn place_for(user_id: i64) -> Place {
    let places = {
        let mut all = PLACES.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, places| places.strong_count() > 0);
        match all.get(&user_id).and_then(Weak::upgrade) {
            Some(places) => places,
            None => {
                let places = Arc::new(Semaphore::new(UPLOADS_PER_USER));
                all.insert(user_id, Arc::downgrade(&places));
                places
            }
        }
    };
    Place {
        _permit: places.acquire_owned().await.expect("never closed"),
    }
}

/// A body read to its end into an unnamed file (gone when dropped).
pub struct Spooled {
    file: tokio::fs::File,
    len: usize,
}

impl Spooled {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The spooled bytes, in memory.
    pub async fn into_bytes(mut self) -> Result<Bytes> {
        self.file.seek(SeekFrom::Start(0)).await?;
        let mut buf = Vec::with_capacity(self.len);
        self.file.read_to_end(&mut buf).await?;
        Ok(buf.into())
    }
}

/// Reads `body` to its end into an unnamed file under `dir`: at most
/// `limit` bytes (`PayloadTooLarge` as soon as it passes them), each piece
/// within `idle` of the one before (`InvalidInput` otherwise, as for a
/// body cut short). `what` names the body in those errors.
pub async fn spool(
    dir: &Path,
    body: impl Stream<Item = io::Result<Bytes>>,
    limit: usize,
    idle: Duration,
    what: &str,
) -> Result<Spooled> {
    std::fs::create_dir_all(dir)?;
    let mut file = tokio::fs::File::from_std(tempfile::tempfile_in(dir)?);
    let mut body = std::pin::pin!(body);
    let mut len = 0usize;
    loop {
        let chunk = match tokio::time::timeout(idle, body.next()).await {
            Err(_) => {
                return Err(Error::invalid(format!(
                    "the upload of {what} stalled: no data for {} s",
                    idle.as_secs_f32()
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Error::invalid(format!(
                    "the upload of {what} was interrupted: {e}"
                )));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        if len + chunk.len() > limit {
            return Err(Error::too_large(format!(
                "{what} has at most {limit} bytes"
            )));
        }
        len += chunk.len();
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(Spooled { file, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<io::Result<Bytes>>) -> impl Stream<Item = io::Result<Bytes>> {
        futures::stream::iter(chunks)
    }

    const IDLE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn bodies_are_spooled_up_to_their_cap() {
        let dir = tempfile::tempdir().unwrap();
        let parts = || {
            vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"de")),
            ]
        };
        let spooled = spool(dir.path(), body(parts()), 5, IDLE, "a xorb")
            .await
            .unwrap();
        assert_eq!(spooled.len(), 5);
        assert_eq!(spooled.into_bytes().await.unwrap(), &b"abcde"[..]);
        assert!(matches!(
            spool(dir.path(), body(parts()), 4, IDLE, "a xorb").await,
            Err(Error::PayloadTooLarge(_))
        ));
        let broken = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("reset")),
        ];
        let err = spool(dir.path(), body(broken), 10, IDLE, "a xorb")
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("interrupted"), "{err}");
        // The files are unnamed: nothing is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_body_that_stops_sending_fails_after_the_idle_time() {
        let dir = tempfile::tempdir().unwrap();
        let stalled =
            futures::stream::iter([Ok(Bytes::from_static(b"x"))]).chain(futures::stream::pending());
        let started = std::time::Instant::now();
        let err = spool(
            dir.path(),
            stalled,
            10,
            Duration::from_millis(200),
            "a xorb",
        )
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("stalled"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_user_waits_only_for_their_own_places() {
        let mine: Vec<Place> =
            futures::future::join_all((0..UPLOADS_PER_USER).map(|_| place_for(-7))).await;
        // Another user gets a place at once; the first user's next one waits.
        tokio::time::timeout(Duration::from_secs(1), place_for(-8))
            .await
            .expect("another user's place");
        let next = tokio::spawn(place_for(-7));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!next.is_finished());
        drop(mine);
        tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("a freed place")
            .unwrap();
    }
}
