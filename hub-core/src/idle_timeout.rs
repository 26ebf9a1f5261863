//! A reader that gives up when its source sends nothing for too long.
//!
//! A request body read by a workflow (a browser upload of many files) may
//! take minutes in all, so a total deadline does not fit; what must not
//! happen is a client that stops sending and holds the request, its spool
//! file and its memory forever. [`IdleTimeout`] counts only the time spent
//! waiting for the source: a slow consumer between reads does not use it up.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps `inner`; a read that waits longer than `limit` for data fails with
/// [`io::ErrorKind::TimedOut`].
pub struct IdleTimeout<R> {
    inner: R,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Whether a read is pending, i.e. the deadline is running.
    waiting: bool,
}

impl<R> IdleTimeout<R> {
    pub fn new(inner: R, limit: Duration) -> Self {
        IdleTimeout {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            waiting: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for IdleTimeout<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.waiting {
            this.deadline.as_mut().reset(Instant::now() + this.limit);
            this.waiting = true;
        }
        if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            this.waiting = false;
            return Poll::Ready(result);
        }
        ready!(this.deadline.as_mut().poll(cx));
        this.waiting = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no data for {} s", this.limit.as_secs()),
        )))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_silent_source_times_out() {
        let (_writer, reader) = tokio::io::duplex(64);
        let mut reader = IdleTimeout::new(reader, Duration::from_millis(50));
        let mut buf = [0u8; 8];
        let err = reader.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_slow_consumer_is_not_the_source_stalling() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut reader = IdleTimeout::new(reader, Duration::from_millis(50));
        writer.write_all(b"ab").await.unwrap();
        let mut one = [0u8; 1];
        reader.read_exact(&mut one).await.unwrap();
        // Longer than the limit between reads, with data waiting: still fine.
        tokio::time::sleep(Duration::from_millis(120)).await;
        reader.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b");
        // A source that keeps sending within the limit never times out.
        let feed = tokio::spawn(async move {
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                writer.write_all(b"x").await.unwrap();
            }
        });
        let mut four = [0u8; 4];
        reader.read_exact(&mut four).await.unwrap();
        feed.await.unwrap();
    }
}
