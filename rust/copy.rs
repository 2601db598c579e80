//! The copy sink: kept runs go to a temp copy that is swapped in over the log, and lines a
//! writer still adds to the replaced file are salvaged after the swap.
//!
//! Invariants: the original is only ever replaced by a complete, fsynced copy that holds every
//! kept byte in order plus every complete line appended while the search ran (it asks the
//! searcher to catch up, syncing between looks); a file with nothing to delete is never
//! rewritten (no temp is even created: the kept prefix is deferred until the first deleted
//! line, and only then is the file checked for long-lived writers). The trailing partial line
//! is not copied: the salvage carries it over whole, after the swap. Lines appended after the
//! last size check and before the rename (a window of microseconds) are the one remaining race
//! with a writer that reopens the file by path, and they are what the salvage catches.

use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::decide::Run;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::job::Action;
use crate::output::TempFile;
use crate::searcher::current_size;
use crate::sink::Sink;
use crate::stats::Tally;
use crate::tuning::Tuning;
use crate::writers;

/// How long to wait for writers still holding the replaced file, and how often to look.
const SALVAGE_TIMEOUT: Duration = Duration::from_secs(10);
const SALVAGE_POLL: Duration = Duration::from_millis(5);
/// A file not written to for this long has no writer in the middle of a batch.
const IDLE_AFTER: Duration = Duration::from_secs(10);

/// What the copy sink did, once finished.
#[derive(Debug, Clone)]
pub struct Copied {
    pub action: Action,
    pub bytes_after: u64,
    /// Bytes moved from the replaced file after the swap.
    pub salvaged: u64,
    pub note: Option<String>,
}

pub struct CopySink<'a> {
    /// The name the operator gave, for errors.
    pub path: &'a Path,
    /// The file to replace (symlinks resolved).
    pub target: &'a Path,
    /// The log as opened: read through it until the swap, salvaged from after it.
    pub file: &'a File,
    pub original: &'a Metadata,
    pub tuning: Tuning,
    pub remove_if_empty: bool,
    temp: Option<TempFile>,
    /// Until the first deleted line, the kept bytes are exactly the file's `[0, deferred_end)`.
    deferred_end: usize,
    copied: Option<Copied>,
}

impl<'a> CopySink<'a> {
    pub fn new(path: &'a Path, target: &'a Path, file: &'a File, original: &'a Metadata, tuning: Tuning) -> Self {
        CopySink {
            path,
            target,
            file,
            original,
            tuning,
            remove_if_empty: false,
            temp: None,
            deferred_end: 0,
            copied: None,
        }
    }

    /// What was done; None until `finish` succeeded.
    pub fn copied(&self) -> Option<&Copied> {
        self.copied.as_ref()
    }

    fn materialize(&mut self, data: &[u8]) -> Result<&mut TempFile> {
        if self.temp.is_none() {
            // Checked only once a line is to be deleted: files we leave alone need no look.
            if let Some(holder) = writers::long_lived_writers(self.target, writers::WRITER_WATCH).into_iter().next() {
                return Err(Error::HeldOpen {
                    path: self.path.to_path_buf(),
                    pid: holder.pid,
                    command: holder.command,
                });
            }
            let mut temp = TempFile::create(self.target, self.original, &self.tuning)?;
            temp.write(&data[..self.deferred_end])?;
            self.temp = Some(temp);
        }
        match self.temp.as_mut() {
            Some(temp) => Ok(temp),
            None => Err(Error::ChangedUnderUs { path: self.path.to_path_buf(), what: "lost its temp copy".to_owned() }),
        }
    }

    fn swap(&mut self, temp: TempFile, tail: &Run) -> Result<Copied> {
        failpoint::hit("before-swap");
        ensure_same_file(self.path, self.target, self.original)?;
        let kept_bytes = temp.written();
        let action = if kept_bytes == 0 && tail.range.is_empty() && self.remove_if_empty {
            temp.remove_target(self.target)?;
            Action::Removed
        } else {
            temp.commit(self.target)?;
            Action::Rewritten
        };
        let salvage = salvage_after_swap(self.file, self.original, self.path, self.target, tail.range.start as u64)?;
        // Late lines recreate an emptied segment: then it was rewritten, not removed.
        let action = if salvage.bytes > 0 { Action::Rewritten } else { action };
        Ok(Copied { action, bytes_after: kept_bytes + salvage.bytes, salvaged: salvage.bytes, note: salvage.note })
    }
}

impl Sink for CopySink<'_> {
    fn matched(&mut self, data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        self.materialize(data)?;
        Ok(true)
    }

    fn context(&mut self, data: &[u8], run: &Run, _seen: &Tally) -> Result<bool> {
        match &mut self.temp {
            Some(temp) => temp.write(&data[run.range.clone()])?,
            None if run.range.start == self.deferred_end => self.deferred_end = run.range.end,
            None => self.materialize(data)?.write(&data[run.range.clone()])?,
        }
        Ok(true)
    }

    /// Nothing deleted: no catch-up, the file stays as it is. Otherwise the copy so far is
    /// made durable and the searcher looks for appended lines.
    fn caught_up(&mut self, _seen: &Tally) -> Result<bool> {
        match &mut self.temp {
            None => Ok(false),
            Some(temp) => {
                temp.sync()?;
                Ok(true)
            }
        }
    }

    fn finish(&mut self, _data: &[u8], tail: &Run, _seen: &Tally) -> Result<()> {
        let copied = match self.temp.take() {
            None => Copied { action: Action::Unchanged, bytes_after: self.original.len(), salvaged: 0, note: None },
            Some(temp) => self.swap(temp, tail)?,
        };
        self.copied = Some(copied);
        Ok(())
    }
}

struct Salvage {
    bytes: u64,
    note: Option<String>,
}

/// After the swap, a writer that opened the file by path just before the rename may still
/// write into the old (now unlinked) inode. Whatever lands there past `from` is appended to
/// the new file, complete lines first, until no process holds the old inode open for writing
/// (seen twice, a moment apart; once is enough for a file nobody wrote to for a while, such as
/// an old segment: the second look only guards a writer caught in the middle of opening it) or
/// the timeout passes (then reported in a note).
fn salvage_after_swap(old: &File, meta: &Metadata, path: &Path, target: &Path, from: u64) -> Result<Salvage> {
    let deadline = Instant::now() + SALVAGE_TIMEOUT;
    let idle = old
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age >= IDLE_AFTER);
    let quiet_looks_needed = if idle { 1 } else { 2 };
    let mut seen = from;
    let mut quiet_looks = 0;
    let mut note = None;
    loop {
        let holders = writers::holders_of_inode(meta.dev(), meta.ino());
        quiet_looks = if holders.is_empty() { quiet_looks + 1 } else { 0 };
        let size = current_size(old, path)?;
        if size > seen {
            let mut tail = vec![0u8; (size - seen) as usize];
            old.read_exact_at(&mut tail, seen)
                .map_err(|e| Error::io(path, "read lines appended during the swap", e))?;
            // While someone may still be writing, only whole lines move, so that no line is split.
            let whole = if quiet_looks > 0 { tail.len() } else { memchr::memrchr(b'\n', &tail).map_or(0, |at| at + 1) };
            if whole > 0 {
                append_to(target, meta, &tail[..whole])?;
                seen += whole as u64;
            }
        }
        if quiet_looks >= quiet_looks_needed {
            break;
        }
        if Instant::now() >= deadline {
            if let Some(holder) = holders.first() {
                note = Some(format!(
                    "pid {} ({}) still holds the replaced file open; lines it writes there from now on are not recovered",
                    holder.pid, holder.command
                ));
            }
            break;
        }
        thread::sleep(SALVAGE_POLL);
    }
    Ok(Salvage { bytes: seen - from, note })
}

fn append_to(target: &Path, meta: &Metadata, bytes: &[u8]) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(meta.mode() & 0o7777)
        .custom_flags(libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| Error::io(target, "append lines written during the swap", e))?;
    file.write_all(bytes).map_err(|e| Error::io(target, "append lines written during the swap", e))?;
    file.sync_data().map_err(|e| Error::io(target, "fsync", e))
}

/// Refuses the swap when the path no longer names the inode we read (logrotate moved it).
pub fn ensure_same_file(path: &Path, target: &Path, read: &Metadata) -> Result<()> {
    let now = fs::symlink_metadata(target).map_err(|e| Error::io(path, "stat", e))?;
    if now.dev() != read.dev() || now.ino() != read.ino() {
        return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was renamed or replaced".to_owned() });
    }
    Ok(())
}
