//! A Space's output as `Log` events: one per line, cut at
//! [`MAX_LOG_LINE`], the values of the Space's secrets masked, and the last
//! lines kept for the error stage's message (a traceback, pip's complaint).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use worker_protocol::{EventBody, LogStream, MAX_LOG_LINE};

/// Lines kept for the message of `BUILD_ERROR` / `RUNTIME_ERROR`.
pub const TAIL_LINES: usize = 50;

/// Log text one stream of a run sends at most. The worker keeps a job's
/// events until the hub acknowledges them at the end of the events
/// request, which for a Space is when it stops: without a bound, a chatty
/// app would fill the runner's memory. Past it lines are still kept for the
/// error message, but not sent.
pub const MAX_LOG_BYTES: u64 = 16 << 20;

/// Where one stream's lines go. Clones share the tail.
#[derive(Clone)]
pub struct LogSink {
    events: mpsc::UnboundedSender<EventBody>,
    stream: LogStream,
    /// Longest first, so a secret containing another is masked whole.
    secrets: Arc<Vec<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    cancel: Arc<AtomicBool>,
    /// Bytes this stream may still send.
    budget: Arc<AtomicU64>,
}

impl LogSink {
    pub fn new(
        events: mpsc::UnboundedSender<EventBody>,
        stream: LogStream,
        secrets: &[(String, String)],
        cancel: Arc<AtomicBool>,
    ) -> LogSink {
        let mut values: Vec<String> = secrets
            .iter()
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        LogSink {
            events,
            stream,
            secrets: Arc::new(values),
            tail: Default::default(),
            cancel,
            budget: Arc::new(AtomicU64::new(MAX_LOG_BYTES)),
        }
    }

    /// Sends one line (without its newline) and keeps it in the tail.
    pub fn line(&self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let mut line = text.trim_end_matches(['\r', '\n']).to_string();
        for secret in self.secrets.iter() {
            if line.contains(secret.as_str()) {
                line = line.replace(secret.as_str(), "***");
            }
        }
        cut(&mut line, MAX_LOG_LINE);
        {
            let mut tail = self.tail.lock().expect("tail lock");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        let cost = line.len() as u64 + 64;
        let left = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(cost))
            })
            .unwrap_or(0);
        let line = if left >= cost {
            line
        } else if left > 0 {
            // The one line that emptied the budget says so.
            format!(
                "[the runner sends no more of this log: over {} MiB]",
                MAX_LOG_BYTES >> 20
            )
        } else {
            return;
        };
        // A cancelled job sends nothing more.
        if !self.cancel.load(Ordering::SeqCst) {
            let at_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let _ = self.events.send(EventBody::Log {
                stream: self.stream,
                line,
                at_ms,
            });
        }
    }

    /// The last `n` lines (at most [`TAIL_LINES`]), joined.
    pub fn tail(&self, n: usize) -> String {
        let tail = self.tail.lock().expect("tail lock");
        let skip = tail.len().saturating_sub(n);
        tail.iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Reads `reader` to its end, one sink line per line. Memory is bounded:
/// a line longer than twice [`MAX_LOG_LINE`] is cut there and the rest of
/// it skipped (twice, so that masking a secret straddling the cut cannot
/// leave half of it in the line sent).
pub async fn pump(reader: impl AsyncRead + Unpin, sink: LogSink) {
    let limit = 2 * MAX_LOG_LINE;
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        if !skipping {
            let room = limit - line.len();
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                sink.line(&line);
                line.clear();
                skipping = true;
            }
        }
        let consumed = newline.map_or(buf.len(), |i| i + 1);
        reader.consume(consumed);
        if newline.is_some() {
            if !skipping {
                sink.line(&line);
            }
            line.clear();
            skipping = false;
        }
    }
    if !line.is_empty() && !skipping {
        sink.line(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_masked_cut_and_kept() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let secrets = vec![("TOKEN".to_string(), "s3cr3t".to_string())];
        let sink = LogSink::new(tx, LogStream::Run, &secrets, Arc::default());
        let long = "x".repeat(3 * MAX_LOG_LINE);
        let input = format!("token=s3cr3t ok\n{long}\nlast");
        pump(input.as_bytes(), sink.clone()).await;
        let mut lines = Vec::new();
        while let Ok(EventBody::Log { line, stream, .. }) = rx.try_recv() {
            assert_eq!(stream, LogStream::Run);
            lines.push(line);
        }
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0], "token=*** ok");
        assert_eq!(lines[1].len(), MAX_LOG_LINE);
        assert_eq!(lines[2], "last");
        assert_eq!(sink.tail(1), "last");
    }

    #[test]
    fn a_stream_sends_a_bounded_amount() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sink = LogSink::new(tx, LogStream::Run, &[], Arc::default());
        let line = "y".repeat(MAX_LOG_LINE);
        let lines = (MAX_LOG_BYTES / MAX_LOG_LINE as u64) as usize + 10;
        for _ in 0..lines {
            sink.line(line.as_bytes());
        }
        sink.line(b"the end");
        let mut sent = Vec::new();
        while let Ok(EventBody::Log { line, .. }) = rx.try_recv() {
            sent.push(line);
        }
        assert!(sent.len() < lines, "{}", sent.len());
        assert_eq!(
            sent.last().unwrap(),
            "[the runner sends no more of this log: over 16 MiB]"
        );
        // Still kept for the error stage's message.
        assert_eq!(sink.tail(1), "the end");
    }
}
