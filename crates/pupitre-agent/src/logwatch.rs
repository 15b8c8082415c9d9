//! Log-file patterns: follow a file across rotations and count the new lines that match a
//! regular expression, as `pupitre_log_matches_total{path,pattern}`.
//!
//! Each [`LogWatch::poll`] reads what was appended since the last one. A rotation is noticed
//! by the file's identity (device and inode) changing, or by the file growing shorter than
//! what was read (copy-truncate): the new file is then read from its start. The first poll of
//! a watch starts at the file's end, so an agent's start does not count years of old lines.
//! A partial last line waits for its end. At most [`MOST_BYTES_PER_POLL`] are read per poll;
//! the rest waits for the next one.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The most bytes one poll reads.
pub const MOST_BYTES_PER_POLL: u64 = 16 << 20;

/// The longest line kept whole; longer ones are cut (and still matched on their start).
const LONGEST_LINE: usize = 64 << 10;

/// A file followed and the lines of it that matched.
#[derive(Debug)]
pub struct LogWatch {
    path: PathBuf,
    pattern: Regex,
    /// (device, inode) of the file read, and how far.
    identity: Option<(u64, u64)>,
    offset: u64,
    /// The start of a line not ended yet.
    partial: Vec<u8>,
    matches: u64,
    lines: u64,
}

impl LogWatch {
    /// Watches `path` for lines matching `pattern`; the error names the pattern's problem.
    pub fn new(path: &Path, pattern: &str) -> Result<LogWatch, regex::Error> {
        Ok(LogWatch {
            path: path.to_owned(),
            pattern: Regex::new(pattern)?,
            identity: None,
            offset: 0,
            partial: Vec::new(),
            matches: 0,
            lines: 0,
        })
    }

    /// Lines that matched since the watch began.
    pub fn matches(&self) -> u64 {
        self.matches
    }

    /// Lines read since the watch began.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Reads what was appended; returns how many new lines matched. A file that does not
    /// exist (between a rotation and the new file's creation) is not an error: nothing is read.
    pub fn poll(&mut self) -> std::io::Result<u64> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let identity = (meta.dev(), meta.ino());
        match self.identity {
            None => {
                // The first look: from the end.
                self.identity = Some(identity);
                self.offset = meta.len();
                return Ok(0);
            }
            Some(known) if known != identity || meta.len() < self.offset => {
                // Rotated (a new file) or truncated: the new content from its start.
                self.identity = Some(identity);
                self.offset = 0;
                self.partial.clear();
            }
            Some(_) => {}
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut chunk = Vec::new();
        file.take(MOST_BYTES_PER_POLL).read_to_end(&mut chunk)?;
        self.offset += chunk.len() as u64;
        let before = self.matches;
        let mut rest = chunk.as_slice();
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end);
            rest = &after[1..];
            if self.partial.is_empty() {
                self.count(line);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.count(&whole);
            }
        }
        let room = LONGEST_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&rest[..rest.len().min(room)]);
        Ok(self.matches - before)
    }

    fn count(&mut self, line: &[u8]) {
        let line = &line[..line.len().min(LONGEST_LINE)];
        let text = String::from_utf8_lossy(line);
        self.lines += 1;
        if self.pattern.is_match(text.trim_end_matches('\r')) {
            self.matches += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open the log");
        f.write_all(text.as_bytes()).expect("append");
    }

    #[test]
    fn lines_are_counted_across_a_rename_and_a_truncation() {
        let dir = std::env::temp_dir().join(format!("pupitre-logwatch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let log = dir.join("app.log");
        append(&log, "ERROR old line, before the watch\n");
        let mut watch = LogWatch::new(&log, "ERROR|FATAL").expect("a pattern");
        assert_eq!(watch.poll().expect("poll"), 0, "old lines are not counted");

        append(&log, "INFO started\nERROR disk full\nERROR disk ");
        assert_eq!(watch.poll().expect("poll"), 1, "the partial line waits");
        append(&log, "still full\r\nINFO ok\n");
        assert_eq!(watch.poll().expect("poll"), 1);

        // logrotate's rename: the old file moves away, a new one starts.
        std::fs::rename(&log, dir.join("app.log.1")).expect("rotate");
        assert_eq!(watch.poll().expect("poll"), 0, "no file for a moment");
        append(&log, "FATAL after rotation\n");
        assert_eq!(watch.poll().expect("poll"), 1);

        // copytruncate: the same file, emptied, then written again.
        std::fs::write(&log, "").expect("truncate");
        assert_eq!(watch.poll().expect("poll"), 0);
        append(&log, "ERROR after truncation\n");
        assert_eq!(watch.poll().expect("poll"), 1);
        assert_eq!((watch.matches(), watch.lines()), (4, 6));
        assert!(LogWatch::new(&log, "(unclosed").is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
