//! Following a file that another process appends to, as `tail -F` does: an OpenTelemetry
//! collector's file exporter, an `eventlens record` still running, a service's CloudEvents
//! log. What is appended is read as it comes, a partial last line only once it is complete;
//! a file renamed away (rotated) is read to its end and the new file at the path from its
//! start; a file truncated is read again from its start. Each of these is said in the
//! source's notes.
//!
//! Lines go to the live path as [`LiveBatch`]es, which read CloudEvents and capture lines;
//! other formats are refused with the reason.

use super::{LiveBatch, LiveFeed, channel};
use crate::model::Format;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the file is looked at for more.
pub const POLL: Duration = Duration::from_millis(100);
/// The longest line kept waiting for its end; past it the line is skipped (and said).
const MAX_PARTIAL: usize = 256 << 20;

/// What one look at the file found.
#[derive(Debug, Default)]
pub struct Read1 {
    pub lines: Vec<String>,
    /// Rotation, truncation and skipped-line notices, in order.
    pub notes: Vec<String>,
}

/// One followed file.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// Identity of the open file (device, inode), to notice a rotation.
    id: Option<(u64, u64)>,
    offset: u64,
    lines: Lines,
}

/// Bytes in, complete lines out: a partial line waits for its end, an overlong one is
/// skipped (and said), and the first bytes are checked to be a format that can be read
/// as it grows.
pub struct Lines {
    /// Named in notes and errors.
    name: String,
    partial: Vec<u8>,
    /// Skipping the rest of an overlong line until its end.
    skipping: bool,
    checked: bool,
}

impl Lines {
    pub fn new(name: impl Into<String>) -> Lines {
        Lines {
            name: name.into(),
            partial: Vec::new(),
            skipping: false,
            checked: false,
        }
    }

    /// Forgets a partial line (the file was truncated under it).
    fn reset(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }

    /// Takes the next bytes; the error is a format that cannot be read as a stream.
    pub fn push(&mut self, buf: &[u8], out: &mut Read1) -> Result<(), String> {
        if !self.checked {
            let mut head = self.partial.clone();
            head.extend_from_slice(&buf[..buf.len().min(64 * 1024)]);
            let decided =
                Follower::check_format(&head).map_err(|why| format!("{}: {why}", self.name))?;
            // Past 64 KiB without a verdict, the reader's own errors say what is wrong.
            self.checked = decided || head.len() >= 64 * 1024;
        }
        self.split(buf, out);
        Ok(())
    }

    /// Complete lines out; the rest waits for its end.
    fn split(&mut self, mut buf: &[u8], out: &mut Read1) {
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            if self.skipping {
                self.skipping = false;
            } else {
                self.partial.extend_from_slice(&buf[..nl]);
                self.emit(out);
            }
            buf = &buf[nl + 1..];
        }
        if self.skipping {
            return;
        }
        self.partial.extend_from_slice(buf);
        if self.partial.len() > MAX_PARTIAL {
            out.notes.push(format!(
                "{}: a line longer than {} MiB: skipped",
                self.name,
                MAX_PARTIAL >> 20
            ));
            self.partial.clear();
            self.skipping = true;
        }
    }

    /// The last line of input that will not grow any more (ended, or rotated away), even
    /// without its line break.
    pub fn finish(&mut self, out: &mut Read1) {
        if !self.partial.is_empty() && !self.skipping {
            self.emit(out);
        }
        self.reset();
    }

    fn emit(&mut self, out: &mut Read1) {
        let line = std::mem::take(&mut self.partial);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.lines.push(String::from_utf8_lossy(line).into_owned());
    }
}

#[cfg(unix)]
fn file_id(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl Follower {
    pub fn new(path: impl Into<PathBuf>) -> Follower {
        let path = path.into();
        Follower {
            lines: Lines::new(path.display().to_string()),
            path,
            file: None,
            id: None,
            offset: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a file's first bytes are a format that can be followed (`Ok(false)`: too
    /// little to tell yet); the reason if not.
    pub fn check_format(head: &[u8]) -> Result<bool, String> {
        if crate::ingest::Compression::sniff(head) != crate::ingest::Compression::None {
            return Err(
                "a compressed file cannot be followed (its end is not a record boundary)".into(),
            );
        }
        let Some((format, _)) = crate::ingest::sniff(head) else {
            return Ok(false);
        };
        match format {
            Format::Cloudevents | Format::Capture | Format::Live => Ok(true),
            other => Err(format!(
                "{} cannot be followed yet: --follow reads CloudEvents and capture JSON Lines",
                other.as_str()
            )),
        }
    }

    /// Reads what was appended since the last call. An error is one the follower cannot go
    /// on from (the format cannot be followed); a file that does not exist yet is waited for.
    pub fn poll(&mut self) -> Result<Read1, String> {
        let mut out = Read1::default();
        let at_path = std::fs::metadata(&self.path).ok();
        if self.file.is_none() {
            let Ok(f) = File::open(&self.path) else {
                return Ok(out);
            };
            self.id = f.metadata().ok().as_ref().and_then(file_id);
            self.file = Some(f);
            self.offset = 0;
        }
        // Rotated: another file is at the path now. Read the old one to its end first.
        let rotated = match (&at_path, self.id) {
            (Some(m), Some(id)) => file_id(m).is_some_and(|now| now != id),
            _ => false,
        };
        self.read_more(&mut out)?;
        if rotated {
            self.lines.finish(&mut out);
            out.notes.push(format!(
                "{} was rotated: the new file is read from its start",
                self.path.display()
            ));
            self.file = None;
            self.id = None;
            self.offset = 0;
            if let Ok(f) = File::open(&self.path) {
                self.id = f.metadata().ok().as_ref().and_then(file_id);
                self.file = Some(f);
                self.read_more(&mut out)?;
            }
        }
        Ok(out)
    }

    fn read_more(&mut self, out: &mut Read1) -> Result<(), String> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(self.offset);
        if len < self.offset {
            out.notes.push(format!(
                "{} was truncated: it is read again from its start",
                self.path.display()
            ));
            self.offset = 0;
            self.lines.reset();
        }
        if len == self.offset {
            return Ok(());
        }
        let mut buf = Vec::new();
        let read = f
            .seek(SeekFrom::Start(self.offset))
            .and_then(|_| f.take(len - self.offset).read_to_end(&mut buf));
        if let Err(e) = read {
            out.notes.push(format!("{}: {e}", self.path.display()));
            return Ok(());
        }
        self.offset += buf.len() as u64;
        self.lines.push(&buf, out)
    }
}

/// Follows `paths` on a thread until the feed is dropped. Notes (rotation, truncation, a
/// format that cannot be followed) travel with the lines, as the live input's notes.
pub fn spawn_follow(paths: Vec<PathBuf>) -> LiveFeed {
    let name = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (tx, feed) = channel(format!("following {name}"), super::DEFAULT_CAPACITY);
    let spawned = std::thread::Builder::new()
        .name("eventlens-follow".into())
        .spawn(move || {
            let mut followers: Vec<Option<Follower>> =
                paths.into_iter().map(|p| Some(Follower::new(p))).collect();
            while !tx.is_stopped() && followers.iter().any(Option::is_some) {
                let mut batch = LiveBatch::default();
                for slot in followers.iter_mut() {
                    let Some(f) = slot else { continue };
                    match f.poll() {
                        Ok(r) => {
                            batch.lines.extend(r.lines);
                            batch.notes.extend(r.notes);
                        }
                        Err(why) => {
                            batch.notes.push(why);
                            *slot = None;
                        }
                    }
                }
                let empty = batch.lines.is_empty() && batch.notes.is_empty();
                if !empty && !tx.send_wait(batch) {
                    break;
                }
                std::thread::sleep(POLL);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start following: {e}");
    }
    feed
}

/// Reads a stream (standard input, a pipe) as a live source: lines are sent as they
/// complete, and the feed ends with the stream, saying how many records came.
pub fn spawn_reader(name: &str, mut reader: impl Read + Send + 'static) -> LiveFeed {
    let (tx, feed) = channel(name.to_string(), super::DEFAULT_CAPACITY);
    let mut lines = Lines::new(name);
    let name = name.to_string();
    let spawned = std::thread::Builder::new()
        .name("eventlens-stream".into())
        .spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            let mut records = 0u64;
            loop {
                let mut out = Read1::default();
                let n = match reader.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        out.notes.push(format!("{name}: {e}"));
                        0
                    }
                };
                let ended = n == 0;
                if ended {
                    lines.finish(&mut out);
                } else if let Err(why) = lines.push(&buf[..n], &mut out) {
                    out.notes.push(why);
                    let _ = tx.send_wait(LiveBatch {
                        lines: Vec::new(),
                        notes: out.notes,
                    });
                    break;
                }
                records += out.lines.len() as u64;
                if ended {
                    out.notes
                        .push(format!("the stream ended after {records} records"));
                }
                // A pipe waits for the window rather than lose lines: the writer is held
                // back by the pipe, as with any slow reader.
                if (!out.lines.is_empty() || !out.notes.is_empty())
                    && !tx.send_wait(LiveBatch {
                        lines: out.lines,
                        notes: out.notes,
                    })
                {
                    break;
                }
                if ended || tx.is_stopped() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start reading {e}");
    }
    feed
}

/// Follows `paths` for `duration`, in the calling thread: every complete line appended in
/// that time (and what the files held already), with the notes.
pub fn follow_for(paths: &[PathBuf], duration: Duration) -> (Vec<String>, Vec<String>) {
    let mut followers: Vec<Option<Follower>> =
        paths.iter().map(|p| Some(Follower::new(p))).collect();
    let end = std::time::Instant::now() + duration;
    let (mut lines, mut notes) = (Vec::new(), Vec::new());
    loop {
        for slot in followers.iter_mut() {
            let Some(f) = slot else { continue };
            match f.poll() {
                Ok(r) => {
                    lines.extend(r.lines);
                    notes.extend(r.notes);
                }
                Err(why) => {
                    notes.push(why);
                    *slot = None;
                }
            }
        }
        let now = std::time::Instant::now();
        if now >= end || followers.iter().all(Option::is_none) {
            break;
        }
        std::thread::sleep(POLL.min(end - now));
    }
    (lines, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_partial_line_is_read_once_complete_and_truncation_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.jsonl");
        let mut f = Follower::new(&path);
        assert!(f.poll().expect("no file yet").lines.is_empty());
        let mut w = File::create(&path).expect("create");
        w.write_all(b"{\"a\":1}\n{\"b\":").expect("write");
        w.flush().expect("flush");
        assert_eq!(f.poll().expect("poll").lines, vec!["{\"a\":1}"]);
        w.write_all(b"2}\n").expect("write");
        assert_eq!(f.poll().expect("poll").lines, vec!["{\"b\":2}"]);
        assert!(f.poll().expect("poll").lines.is_empty());
        w.set_len(0).expect("truncate");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("reopen");
        w.write_all(b"{\"c\":3}\n").expect("write");
        let r = f.poll().expect("poll");
        assert_eq!(r.lines, vec!["{\"c\":3}"]);
        assert!(
            r.notes.iter().any(|n| n.contains("truncated")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn span_files_are_refused_with_the_reason() {
        let why =
            Follower::check_format(br#"{"resourceSpans":[{"scopeSpans":[]}]}"#).expect_err("otlp");
        assert!(why.contains("cannot be followed"), "{why}");
        assert!(Follower::check_format(&[0x1f, 0x8b, 8, 0]).is_err());
    }
}
