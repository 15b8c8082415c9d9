//! The agent's local buffer: every round of collection is written to disk before it is sent,
//! and removed once the server has stored it. While the server cannot be reached the rounds
//! pile up, within a bound in bytes; beyond it the oldest are dropped and counted, and the
//! count is sent with the next round that gets through.
//!
//! One file per round, `<seq>-<samples>.json.gz` (the numbering survives restarts: the next
//! `seq` is one more than the highest known, kept in the file `seq` too), written to a
//! temporary name and renamed, so a file is whole or absent. A file that does not read back
//! (a crash mid-write on a file system without ordered renames) is dropped and counted.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::wire::Batch;

#[derive(Debug)]
struct Entry {
    seq: i64,
    samples: u64,
    bytes: u64,
}

/// Rounds waiting on disk, oldest first.
#[derive(Debug)]
pub struct DiskBuffer {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    last_seq: i64,
    dropped: u64,
}

impl DiskBuffer {
    /// Opens (creating it) the buffer in `dir`, with the rounds a previous run left.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<DiskBuffer> {
        std::fs::create_dir_all(dir)?;
        let mut entries = Vec::new();
        let mut last_seq = read_number(&dir.join("seq")).unwrap_or(0);
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                std::fs::remove_file(item.path())?;
                continue;
            }
            let Some((seq, samples)) = parse_name(name) else {
                continue;
            };
            last_seq = last_seq.max(seq);
            entries.push(Entry {
                seq,
                samples,
                bytes: item.metadata()?.len(),
            });
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        Ok(DiskBuffer {
            dir: dir.to_owned(),
            max_bytes,
            entries: entries.into(),
            bytes,
            last_seq,
            dropped: read_number(&dir.join("dropped")).unwrap_or(0) as u64,
        })
    }

    /// The number the next round gets.
    pub fn next_seq(&self) -> i64 {
        self.last_seq + 1
    }

    /// Rounds waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples dropped since the agent was installed, to keep within the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn set_max_bytes(&mut self, max_bytes: u64) -> io::Result<()> {
        self.max_bytes = max_bytes;
        self.enforce_bound()
    }

    /// Writes a round; its `seq` must be [`DiskBuffer::next_seq`].
    pub fn push(&mut self, batch: &Batch) -> io::Result<()> {
        let body = gzip_json(batch)?;
        let name = format!("{:020}-{}.json.gz", batch.seq, batch.samples.len());
        write_atomically(&self.dir.join(&name), &body)?;
        self.last_seq = self.last_seq.max(batch.seq);
        write_atomically(&self.dir.join("seq"), self.last_seq.to_string().as_bytes())?;
        self.entries.push_back(Entry {
            seq: batch.seq,
            samples: batch.samples.len() as u64,
            bytes: body.len() as u64,
        });
        self.bytes += body.len() as u64;
        self.enforce_bound()
    }

    /// The oldest round, as the gzip-compressed JSON the server takes, with its `seq`. A file
    /// that cannot be read is dropped (and counted) and the next one is tried.
    pub fn oldest(&mut self) -> io::Result<Option<(i64, Vec<u8>)>> {
        while let Some(entry) = self.entries.front() {
            let path = self.path(entry);
            let seq = entry.seq;
            match std::fs::read(&path) {
                Ok(body) if decodes(&body) => return Ok(Some((seq, body))),
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "unreadable round in the buffer, dropped");
                    self.drop_front()?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.drop_front()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Removes round `seq` once the server stored it (or refused it for good).
    pub fn remove(&mut self, seq: i64) -> io::Result<()> {
        if let Some(i) = self.entries.iter().position(|e| e.seq == seq)
            && let Some(entry) = self.entries.remove(i)
        {
            self.bytes -= entry.bytes;
            remove_if_present(&self.path(&entry))?;
        }
        Ok(())
    }

    fn path(&self, entry: &Entry) -> PathBuf {
        self.dir
            .join(format!("{:020}-{}.json.gz", entry.seq, entry.samples))
    }

    fn drop_front(&mut self) -> io::Result<()> {
        if let Some(entry) = self.entries.pop_front() {
            self.bytes -= entry.bytes;
            self.dropped += entry.samples;
            remove_if_present(&self.path(&entry))?;
            write_atomically(
                &self.dir.join("dropped"),
                self.dropped.to_string().as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Drops the oldest rounds until the buffer is within its bound; the newest round is
    /// always kept.
    fn enforce_bound(&mut self) -> io::Result<()> {
        while self.bytes > self.max_bytes && self.entries.len() > 1 {
            self.drop_front()?;
        }
        Ok(())
    }
}

/// `value` as gzip-compressed JSON, as the server takes request bodies.
pub fn gzip_json<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    serde_json::to_writer(&mut gz, value)?;
    gz.finish()
}

fn parse_name(name: &str) -> Option<(i64, u64)> {
    let stem = name.strip_suffix(".json.gz")?;
    let (seq, samples) = stem.split_once('-')?;
    Some((seq.parse().ok()?, samples.parse().ok()?))
}

fn decodes(body: &[u8]) -> bool {
    let mut text = Vec::new();
    GzDecoder::new(body).read_to_end(&mut text).is_ok()
        && serde_json::from_slice::<Batch>(&text).is_ok()
}

fn read_number(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `body` to `path` whole or not at all: a temporary file renamed over it.
pub fn write_atomically(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(body)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Sample;

    fn round(seq: i64, samples: usize) -> Batch {
        Batch {
            seq,
            at: seq * 10_000,
            samples: (0..samples)
                .map(|i| Sample {
                    name: format!("m{i}"),
                    labels: Default::default(),
                    value: i as f64 * 1.37,
                    counter: false,
                })
                .collect(),
        }
    }

    #[test]
    fn rounds_survive_a_restart_in_order_and_keep_their_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 30).expect("opens");
        assert_eq!(buffer.next_seq(), 1);
        for seq in 1..=3 {
            buffer.push(&round(seq, 10)).expect("writes");
        }
        buffer.remove(1).expect("removes");
        drop(buffer);
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 30).expect("reopens");
        assert_eq!(buffer.len(), 2);
        assert_eq!(buffer.next_seq(), 4);
        let (seq, _) = buffer.oldest().expect("reads").expect("has one");
        assert_eq!(seq, 2);
        buffer.remove(2).expect("removes");
        buffer.remove(3).expect("removes");
        drop(buffer);
        // Empty, the numbering still goes on.
        let buffer = DiskBuffer::open(dir.path(), 1 << 30).expect("reopens");
        assert_eq!(buffer.next_seq(), 4);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_their_samples() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = DiskBuffer::open(dir.path(), u64::MAX).expect("opens");
        buffer.push(&round(1, 200)).expect("writes");
        let one = buffer.bytes();
        buffer.set_max_bytes(one * 3).expect("bounds");
        for seq in 2..=10 {
            buffer.push(&round(seq, 200)).expect("writes");
        }
        assert!(
            buffer.bytes() <= one * 3 + one / 2,
            "{} > {}",
            buffer.bytes(),
            one * 3
        );
        assert!(buffer.len() >= 2 && buffer.len() <= 4, "{}", buffer.len());
        let kept = buffer.len() as u64;
        assert_eq!(buffer.dropped(), (10 - kept) * 200);
        let (oldest, _) = buffer.oldest().expect("reads").expect("has one");
        assert_eq!(oldest, 10 - kept as i64 + 1);
        drop(buffer);
        let buffer = DiskBuffer::open(dir.path(), one * 3).expect("reopens");
        assert_eq!(
            buffer.dropped(),
            (10 - kept) * 200,
            "the count survives a restart"
        );
    }

    #[test]
    fn a_torn_file_is_dropped_not_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 30).expect("opens");
        buffer.push(&round(1, 5)).expect("writes");
        buffer.push(&round(2, 5)).expect("writes");
        let first = dir.path().join(format!("{:020}-5.json.gz", 1));
        std::fs::write(&first, b"\x1f\x8b torn").expect("tears");
        std::fs::write(dir.path().join("x.tmp"), b"half").expect("writes");
        let mut buffer = DiskBuffer::open(dir.path(), 1 << 30).expect("reopens");
        assert!(!dir.path().join("x.tmp").exists());
        let (seq, _) = buffer.oldest().expect("reads").expect("has one");
        assert_eq!(seq, 2);
        assert_eq!(buffer.dropped(), 5);
    }
}
