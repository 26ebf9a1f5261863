//! The files of a bundle on disk: writing a stream as one file or as
//! fixed-size numbered parts, hashing as it goes; and reading a file back
//! (its parts in order) as one stream that checks each part's size and
//! sha256, and the whole file's, against the manifest as the bytes pass.
//! Nothing is ever held whole in memory.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::manifest::{FileEntry, FileKind, Part, part_path};
use crate::error::{Error, Result};
use crate::repos::content::ByteStream;

/// Size of the reads from a bundle's files.
const READ_SIZE: usize = 1 << 20;

/// Writes `body`, which must be exactly `size` bytes, to `dir/path`, or,
/// when it is larger than `part_size`, to parts of `part_size` bytes (the
/// last one shorter) named by [`part_path`]. Returns the manifest's entry.
pub async fn write(
    dir: &Path,
    path: &str,
    kind: FileKind,
    size: u64,
    part_size: Option<u64>,
    body: impl Stream<Item = io::Result<Bytes>>,
) -> Result<FileEntry> {
    let part_size = part_size.filter(|&p| size > p).unwrap_or(u64::MAX);
    let count = if part_size == u64::MAX {
        1
    } else {
        usize::try_from(size.div_ceil(part_size)).map_err(anyhow::Error::from)?
    };
    let name = |index: usize| {
        if count == 1 {
            path.to_owned()
        } else {
            part_path(path, index, count)
        }
    };
    if let Some(parent) = dir.join(path).parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut whole = Sha256::new();
    let mut written = 0u64;
    let mut parts = Vec::with_capacity(count);
    let mut current: Option<PartWriter> = None;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk?;
        if written + chunk.len() as u64 > size {
            return Err(Error::Internal(anyhow::anyhow!(
                "{path} came out longer than its {size} bytes"
            )));
        }
        whole.update(&chunk);
        written += chunk.len() as u64;
        while !chunk.is_empty() {
            if current.as_ref().is_none_or(|w| w.size == part_size) {
                if let Some(done) = current.take() {
                    parts.push(done.finish().await?);
                }
                let index = parts.len() + 1;
                current = Some(PartWriter::create(dir, name(index)).await?);
            }
            let writer = current.as_mut().expect("opened above");
            let room = usize::try_from(part_size - writer.size).unwrap_or(usize::MAX);
            let piece = chunk.split_to(room.min(chunk.len()));
            writer.write(&piece).await?;
        }
    }
    if written != size {
        return Err(Error::Internal(anyhow::anyhow!(
            "{path} came out {written} bytes long, not {size}"
        )));
    }
    match current.take() {
        Some(done) => parts.push(done.finish().await?),
        None => parts.push(PartWriter::create(dir, name(1)).await?.finish().await?),
    }
    let sha256 = hex::encode(whole.finalize());
    if count == 1 {
        parts.clear();
    }
    Ok(FileEntry {
        path: path.to_owned(),
        kind,
        size,
        sha256,
        parts,
    })
}

/// One part (or a whole file) being written.
struct PartWriter {
    path: String,
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
}

impl PartWriter {
    async fn create(dir: &Path, path: String) -> Result<PartWriter> {
        let file = tokio::fs::File::create_new(dir.join(&path)).await?;
        Ok(PartWriter {
            path,
            file: tokio::io::BufWriter::with_capacity(READ_SIZE, file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.file.write_all(bytes).await?;
        Ok(())
    }

    /// Flushes and syncs the part: media are often pulled out right after.
    async fn finish(mut self) -> Result<Part> {
        self.file.flush().await?;
        self.file.get_ref().sync_all().await?;
        Ok(Part {
            path: self.path,
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// The bytes of `entry` from `dir`, its parts in order, as one stream.
/// A part that is missing, or whose size or sha256 is not the manifest's,
/// and a whole whose size or sha256 is not, end the stream with an error
/// (`InvalidData`) naming the file and what is wrong, before the bytes
/// after the fault are read.
pub fn read(dir: &Path, entry: &FileEntry) -> ByteStream {
    let pieces = entry
        .pieces()
        .into_iter()
        .map(|(path, size, sha)| Expected {
            path: path.to_owned(),
            size,
            sha256: sha.to_owned(),
        })
        .collect();
    let state = Reader {
        dir: dir.to_owned(),
        pieces,
        current: None,
        whole: Expected {
            path: entry.path.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
        },
        whole_hash: Sha256::new(),
        whole_seen: 0,
        split: !entry.parts.is_empty(),
        done: false,
    };
    futures::stream::unfold(state, Reader::next).boxed()
}

/// Reads `entry` whole, checking it; the error names what is wrong.
pub async fn verify(dir: &Path, entry: &FileEntry) -> Result<()> {
    let mut stream = read(dir, entry);
    while let Some(chunk) = stream.next().await {
        chunk.map_err(refused)?;
    }
    Ok(())
}

/// Writes `entry`, checked, to the file `to` (a split git bundle is put
/// back together for git to read).
pub async fn assemble(dir: &Path, entry: &FileEntry, to: &Path) -> Result<()> {
    let mut out =
        tokio::io::BufWriter::with_capacity(READ_SIZE, tokio::fs::File::create(to).await?);
    let mut stream = read(dir, entry);
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk.map_err(refused)?).await?;
    }
    out.flush().await?;
    Ok(())
}

/// A fault found in a bundle's file: bad input, with the reader's message.
pub fn refused(e: io::Error) -> Error {
    Error::invalid(format!("the bundle is refused: {e}"))
}

struct Expected {
    path: String,
    size: u64,
    sha256: String,
}

struct Reader {
    dir: PathBuf,
    pieces: VecDeque<Expected>,
    current: Option<(Expected, ReaderStream<tokio::fs::File>, Sha256, u64)>,
    whole: Expected,
    whole_hash: Sha256,
    whole_seen: u64,
    split: bool,
    done: bool,
}

impl Reader {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Reader)> {
        if self.done {
            return None;
        }
        match self.step().await {
            Ok(Some(bytes)) => Some((Ok(bytes), self)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some((Err(e), self))
            }
        }
    }

    async fn step(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.current.is_none() {
                let Some(piece) = self.pieces.pop_front() else {
                    self.finish_whole()?;
                    return Ok(None);
                };
                let file = match tokio::fs::File::open(self.dir.join(&piece.path)).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(fault(format!("{} is missing", piece.path)));
                    }
                    Err(e) => return Err(e),
                };
                let stream = ReaderStream::with_capacity(file, READ_SIZE);
                self.current = Some((piece, stream, Sha256::new(), 0));
            }
            let (piece, stream, hash, seen) = self.current.as_mut().expect("opened above");
            match stream.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    *seen += chunk.len() as u64;
                    if *seen > piece.size {
                        return Err(fault(format!(
                            "{} is longer than the {} bytes the manifest gives it",
                            piece.path, piece.size
                        )));
                    }
                    hash.update(&chunk);
                    self.whole_hash.update(&chunk);
                    self.whole_seen += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                None => {
                    let (piece, _, hash, seen) = self.current.take().expect("read above");
                    check(&piece, seen, hash)?;
                }
            }
        }
    }

    fn finish_whole(&mut self) -> io::Result<()> {
        if !self.split {
            return Ok(()); // the one piece was the whole, and was checked
        }
        let hash = std::mem::take(&mut self.whole_hash);
        check(&self.whole, self.whole_seen, hash)
    }
}

fn check(expected: &Expected, seen: u64, hash: Sha256) -> io::Result<()> {
    if seen != expected.size {
        return Err(fault(format!(
            "{} has {seen} bytes, not the {} bytes the manifest gives it",
            expected.path, expected.size
        )));
    }
    let actual = hex::encode(hash.finalize());
    if actual != expected.sha256 {
        return Err(fault(format!(
            "{} has sha256 {actual}, not the manifest's {}",
            expected.path, expected.sha256
        )));
    }
    Ok(())
}

fn fault(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Every file under `dir`, as paths relative to it with `/` between folders.
pub fn list(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                out.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(data: &[u8], chunk: usize) -> impl Stream<Item = io::Result<Bytes>> + use<> {
        let chunks: Vec<io::Result<Bytes>> = data
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(chunks)
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    async fn read_all(dir: &Path, entry: &FileEntry) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut stream = read(dir, entry);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_file_is_split_into_fixed_size_parts_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(10_000);
        let entry = write(
            dir.path(),
            "lfs/x",
            FileKind::Lfs,
            10_000,
            Some(3000),
            body(&bytes, 777),
        )
        .await
        .unwrap();
        assert_eq!(entry.sha256, hex::encode(Sha256::digest(&bytes)));
        let sizes: Vec<u64> = entry.parts.iter().map(|p| p.size).collect();
        assert_eq!(sizes, [3000, 3000, 3000, 1000]);
        assert_eq!(
            list(dir.path()).unwrap(),
            [
                "lfs/x.part-0001",
                "lfs/x.part-0002",
                "lfs/x.part-0003",
                "lfs/x.part-0004"
            ]
        );
        assert_eq!(read_all(dir.path(), &entry).await.unwrap(), bytes);

        // Small enough: one file, no parts.
        let entry = write(
            dir.path(),
            "whole",
            FileKind::Lfs,
            3000,
            Some(3000),
            body(&bytes[..3000], 100),
        )
        .await
        .unwrap();
        assert!(entry.parts.is_empty());
        assert_eq!(
            std::fs::read(dir.path().join("whole")).unwrap(),
            &bytes[..3000]
        );
        verify(dir.path(), &entry).await.unwrap();
    }

    #[tokio::test]
    async fn a_stream_of_the_wrong_length_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(100);
        assert!(
            write(dir.path(), "a", FileKind::Lfs, 99, None, body(&bytes, 10))
                .await
                .is_err()
        );
        assert!(
            write(dir.path(), "b", FileKind::Lfs, 101, None, body(&bytes, 10))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn every_fault_is_named() {
        let bytes = data(10_000);
        type Fault = fn(&Path, &mut FileEntry);
        let faults: [(Fault, &str); 5] = [
            (
                |dir, _| {
                    let p = dir.join("f.part-0002");
                    let mut b = std::fs::read(&p).unwrap();
                    b[5] ^= 1;
                    std::fs::write(p, b).unwrap();
                },
                "f.part-0002 has sha256",
            ),
            (
                |dir, _| std::fs::remove_file(dir.join("f.part-0003")).unwrap(),
                "f.part-0003 is missing",
            ),
            (
                |dir, _| {
                    let p = dir.join("f.part-0001");
                    let mut b = std::fs::read(&p).unwrap();
                    b.push(0);
                    std::fs::write(p, b).unwrap();
                },
                "f.part-0001 is longer",
            ),
            (
                |dir, _| {
                    let p = dir.join("f.part-0004");
                    let b = std::fs::read(&p).unwrap();
                    std::fs::write(p, &b[..10]).unwrap();
                },
                "f.part-0004 has 10 bytes",
            ),
            (|_, entry| entry.sha256 = "0".repeat(64), "f has sha256"),
        ];
        for (spoil, message) in faults {
            let dir = tempfile::tempdir().unwrap();
            let mut entry = write(
                dir.path(),
                "f",
                FileKind::Lfs,
                10_000,
                Some(3000),
                body(&bytes, 4096),
            )
            .await
            .unwrap();
            spoil(dir.path(), &mut entry);
            let err = verify(dir.path(), &entry).await.unwrap_err().to_string();
            assert!(err.contains(message), "{message}: {err}");
        }
    }
}
