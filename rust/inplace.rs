//! In-place compaction: free space without a temp copy, keeping the file's inode.
//!
//! Used by `--emergency` (a full disk has no room for a copy) and `--in-place` (a writer holds
//! the file open, so a rename would send its later writes to a dead inode). Two steps:
//!
//! 1. A block-aligned expired prefix is dropped with `FALLOC_FL_COLLAPSE_RANGE` (ext4, XFS): one
//!    atomic metadata operation, instant, frees the blocks. The few bytes between the last
//!    block boundary and the first kept line, the tail of an expired record, are overwritten
//!    with spaces (their final `\n` stays), leaving one whitespace-only line, which every JSONL
//!    reader skips.
//! 2. The rest is shifted left: kept runs are copied down over deleted lines with `pwrite`, and
//!    the file is truncated to its new length. A progress record (`.<name>.mxcp-compact.shift`,
//!    two checksummed slots written alternately) makes this restartable: it promises that bytes
//!    `[0, write)` are final and durable and bytes from `read` on are untouched source, and no
//!    write ever lands at or beyond the recorded `read`. When the gap between the two is small
//!    (one short deleted line before gigabytes of kept ones), moving a gap's worth per record
//!    would take a record per gap: then up to 4 MiB of kept bytes are first made durable in the
//!    journal (a `Bounce` record), and may overwrite their own source; a resumed run writes
//!    them from the journal again. A killed run is finished by the next
//!    run from the record (lines appended meanwhile are just more source); a file with a
//!    pending record is never read as a log until then. Lines appended while we run are caught
//!    up before the truncate: during the search they are decided like the rest, and those that
//!    arrive during the syncs before the truncate are moved down unread (kept). The window
//!    between the last size check and the truncate itself remains.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::decide::Run;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::job::{Action, FileReport, Options};
use crate::lock::lock_for_shifting;
use crate::output::sync_parent;
use crate::retention::RetentionRules;
use crate::scrub::overwrite;
use crate::searcher::{current_size, Searcher};
use crate::sink::Sink;
use crate::source::{open_log, LogMap};
use crate::stats::Tally;

const JOURNAL_SUFFIX: &str = ".mxcp-compact.shift";
const MAGIC: &[u8; 8] = b"MXCPJRN2";
/// Room for one record: the fixed fields and the carried tally (see `Carried`).
const SLOT_BYTES: u64 = 64 << 10;
/// The fixed part of a record, before the tally.
const HEADER_BYTES: usize = 90;
/// Largest single copy; bounds the time between progress records when the gap is large.
const CHUNK_BYTES: usize = 64 << 20;
/// Bytes moved per record through the journal (`Progress::Bounce`) when the gap is small.
const BOUNCE_BYTES: usize = 4 << 20;
/// A gap below this moves kept bytes through the journal: moved gap by gap, a deleted line of
/// 85 bytes before 20 MB of kept lines cost 24,000 records and fsyncs (5.3 s for a 28 MB log;
/// a 4 GiB log would take hours).
const BOUNCE_BELOW_GAP: u64 = 1 << 20;

/// Path of the progress record for `target`.
pub fn journal_path_for(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(JOURNAL_SUFFIX);
    target.with_file_name(name)
}

/// Whether an interrupted in-place compaction of `target` must be finished first.
pub fn has_pending(target: &Path) -> bool {
    journal_path_for(target).exists()
}

/// Refuses a pass that only reads (a dry run, a survey, an export) over a log with a progress
/// record beside it: its lines may be half moved, so reading them as they are would count some
/// twice. `ForeignShift` when the record names another inode (the log is a copy of a
/// half-compacted one, or was replaced), which a real run refuses too.
pub fn refuse_pending(path: &Path, target: &Path) -> Result<()> {
    let journal = journal_path_for(target);
    let file = match File::open(&journal) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&journal, "open the progress record", e)),
    };
    let meta = fs::metadata(target).map_err(|e| Error::io(path, "open", e))?;
    let records = read_records(&file);
    if !records.is_empty() && !records.iter().any(|record| record.is_for(&meta)) {
        return Err(Error::ForeignShift { path: path.to_path_buf(), journal });
    }
    Err(Error::ResumePending { path: path.to_path_buf() })
}

/// The valid records in both slots of a journal (none if it is torn or was never completed).
fn read_records(file: &File) -> Vec<Record> {
    let mut records = Vec::new();
    for slot in 0..2 {
        let mut bytes = vec![0u8; SLOT_BYTES as usize];
        let Ok(read) = file.read_at(&mut bytes, slot * SLOT_BYTES) else { continue };
        records.extend(decode(&bytes[..read]));
    }
    records
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Collapse `collapsed` bytes at offset 0, then blank `[0, pad)`. `signature` holds the
    /// bytes found at offset `collapsed` before the collapse, to tell later if it happened.
    Collapse { collapsed: u64, pad: u64, signature: [u8; 16], signature_len: u8 },
    /// `[0, write)` final; `[read, EOF)` untouched source, whose `[read, keep_until)` is kept.
    Shift { write: u64, read: u64, keep_until: u64 },
    /// `[0, write)` final; the journal's bounce area holds the `len` source bytes at `read`
    /// (checksum `sum`), which go to `write` and may have overwritten their own source;
    /// `[read + len, EOF)` untouched source, whose `[read, keep_until)` is kept.
    Bounce { write: u64, read: u64, keep_until: u64, len: u64, sum: u64 },
}

/// What a record carries from run to run, so that the run that finishes an interrupted
/// compaction reports the whole of it: the size before the first run, the bytes collapsed, and
/// the tally of every line before the recorded `read`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Carried {
    original_size: u64,
    collapsed: u64,
    tally: Tally,
}

impl Carried {
    /// `self` with the lines `seen` by the current search added.
    fn with(&self, seen: &Tally) -> Carried {
        let mut tally = self.tally.clone();
        tally.merge(seen);
        Carried { tally, ..self.clone() }
    }
}

struct Journal {
    path: PathBuf,
    file: File,
    sequence: u64,
    dev: u64,
    ino: u64,
}

impl Journal {
    /// Creates the journal and durably records `progress` in it, with room reserved for every
    /// later record, so that a shift, once started, never needs a new block for its record
    /// (on a full disk). On failure no journal is left behind (it would mark the log as
    /// pending): the log is as it was, and no space is `NoRoomToStart`.
    fn start(target: &Path, meta: &fs::Metadata, progress: Progress, carried: &Carried) -> Result<Journal> {
        let mut journal = Journal::create(target, meta)?;
        let started = journal.reserve(encode_len(carried)).and_then(|()| journal.save(progress, carried));
        match started {
            Ok(()) => Ok(journal),
            Err(error) => {
                let path = journal.path.clone();
                drop(journal);
                remove_journal(&path)?;
                Err(match error {
                    Error::DiskFull { path } => Error::NoRoomToStart { path, log: target.to_path_buf() },
                    other => other,
                })
            }
        }
    }

    /// Allocates the blocks both slots will use, `record_len` and room to grow, where the
    /// filesystem can (others allocate on the first write, as before).
    fn reserve(&self, record_len: usize) -> Result<()> {
        let length = (record_len as u64 * 2).clamp(4096, SLOT_BYTES);
        for slot in 0..2 {
            // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
            let status = unsafe {
                libc::fallocate(self.file.as_raw_fd(), 0, (slot * SLOT_BYTES) as libc::off_t, length as libc::off_t)
            };
            if status != 0 {
                let error = io::Error::last_os_error();
                if !matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) {
                    return Err(Error::io(&self.path, "reserve room for the progress record", error));
                }
            }
        }
        Ok(())
    }

    fn create(target: &Path, meta: &fs::Metadata) -> Result<Journal> {
        let path = journal_path_for(target);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::io(&path, "create the progress record", e))?;
        sync_parent(&path)?;
        Ok(Journal { path, file, sequence: 0, dev: meta.dev(), ino: meta.ino() })
    }

    /// The newest valid record, if a journal for this very file exists.
    fn load(target: &Path, meta: &fs::Metadata) -> Result<Option<(Journal, Progress, Carried)>> {
        let path = journal_path_for(target);
        let file = match OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, "open the progress record", e)),
        };
        let records = read_records(&file);
        let best = records.iter().filter(|record| record.is_for(meta)).max_by_key(|record| record.sequence);
        match best {
            Some(record) => {
                let journal = Journal { path, file, sequence: record.sequence, dev: meta.dev(), ino: meta.ino() };
                Ok(Some((journal, record.progress, record.carried.clone())))
            }
            // A record of another inode: this log may be a copy of that half-compacted one
            // (`cp -a` of the directory), whose lines compacted as they are would be kept twice.
            None if !records.is_empty() => Err(Error::ForeignShift { path: target.to_path_buf(), journal: path }),
            None => {
                // Never completed: nothing was written under it, so it promises nothing.
                drop(file);
                remove_journal(&path)?;
                Ok(None)
            }
        }
    }

    /// Durably records `progress`; the caller has already made the data it claims durable.
    fn save(&mut self, progress: Progress, carried: &Carried) -> Result<()> {
        self.sequence += 1;
        let record =
            Record { sequence: self.sequence, dev: self.dev, ino: self.ino, progress, carried: carried.clone() };
        let bytes = encode(&record);
        let offset = (self.sequence % 2) * SLOT_BYTES;
        self.file.write_all_at(&bytes, offset).map_err(|e| Error::io(&self.path, "write the progress record", e))?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, "fsync the progress record", e))
    }

    /// Durably writes `bytes` to the bounce area the next record uses (the two areas
    /// alternate with the slots, so the newest record's area is never the one written).
    fn write_bounce(&self, bytes: &[u8]) -> Result<()> {
        let offset = bounce_offset(self.sequence + 1);
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| Error::io(&self.path, "write kept lines to the journal", e))?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, "fsync the journal", e))
    }

    /// The bytes the newest record (a `Bounce` of `len` bytes, checksum `sum`) bounced.
    fn bounced(&self, len: u64, sum: u64) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(BOUNCE_BYTES)];
        self.file
            .read_exact_at(&mut bytes, bounce_offset(self.sequence))
            .map_err(|e| Error::io(&self.path, "read the kept lines in the journal", e))?;
        if bytes.len() as u64 != len || checksum(&bytes) != sum {
            let what = "the kept lines it holds for the interrupted shift do not match its record".to_owned();
            return Err(Error::Corrupt { path: self.path.clone(), what });
        }
        Ok(bytes)
    }

    fn finish(self) -> Result<()> {
        drop(self.file);
        remove_journal(&self.path)
    }
}

/// Where the bounce area of the record numbered `sequence` starts: after the two slots.
fn bounce_offset(sequence: u64) -> u64 {
    2 * SLOT_BYTES + (sequence % 2) * BOUNCE_BYTES as u64
}

fn remove_journal(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, "remove the progress record", e)),
    }
}

fn checksum(bytes: &[u8]) -> u64 {
    // FNV-1a: detects a torn or stale slot; not a defence against tampering.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One slot's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    sequence: u64,
    dev: u64,
    ino: u64,
    progress: Progress,
    carried: Carried,
}

impl Record {
    fn is_for(&self, meta: &fs::Metadata) -> bool {
        self.dev == meta.dev() && self.ino == meta.ino()
    }
}

/// The length of a record carrying `carried`.
fn encode_len(carried: &Carried) -> usize {
    let progress = Progress::Shift { write: 0, read: 0, keep_until: 0 };
    encode(&Record { sequence: 0, dev: 0, ino: 0, progress, carried: carried.clone() }).len()
}

fn encode(record: &Record) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(MAGIC);
    for word in [record.sequence, record.dev, record.ino] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let (kind, a, b, c, signature, signature_len) = match record.progress {
        Progress::Collapse { collapsed, pad, signature, signature_len } => {
            (1u8, collapsed, pad, 0, signature, signature_len)
        }
        Progress::Shift { write, read, keep_until } => (2u8, write, read, keep_until, [0; 16], 0),
        Progress::Bounce { write, read, keep_until, len, sum } => {
            let mut words = [0u8; 16];
            words[..8].copy_from_slice(&len.to_le_bytes());
            words[8..].copy_from_slice(&sum.to_le_bytes());
            (3u8, write, read, keep_until, words, 0)
        }
    };
    bytes.push(kind);
    bytes.push(signature_len);
    for word in [a, b, c] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.extend_from_slice(&signature);
    bytes.extend_from_slice(&record.carried.original_size.to_le_bytes());
    bytes.extend_from_slice(&record.carried.collapsed.to_le_bytes());
    let mut tally = Vec::new();
    record.carried.tally.encode(&mut tally);
    // A tally too large for the slot (thousands of schemas) is left out: the resumed run then
    // reports only what it deleted itself.
    if HEADER_BYTES + 4 + tally.len() + 8 > SLOT_BYTES as usize {
        tally.clear();
    }
    bytes.extend_from_slice(&(tally.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&tally);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<Record> {
    let word = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    let tally_len = u32::from_le_bytes(bytes.get(HEADER_BYTES..HEADER_BYTES + 4)?.try_into().ok()?) as usize;
    let end = HEADER_BYTES + 4 + tally_len;
    if word(end)? != checksum(bytes.get(..end)?) {
        return None;
    }
    let progress = match bytes[32] {
        1 => {
            let mut signature = [0u8; 16];
            signature.copy_from_slice(&bytes[58..74]);
            Progress::Collapse { collapsed: word(34)?, pad: word(42)?, signature, signature_len: bytes[33].min(16) }
        }
        2 => Progress::Shift { write: word(34)?, read: word(42)?, keep_until: word(50)? },
        3 => Progress::Bounce {
            write: word(34)?,
            read: word(42)?,
            keep_until: word(50)?,
            len: word(58)?,
            sum: word(66)?,
        },
        _ => return None,
    };
    let tally = if tally_len == 0 { Tally::default() } else { Tally::decode(&bytes[HEADER_BYTES + 4..end])? };
    let carried = Carried { original_size: word(74)?, collapsed: word(82)?, tally };
    Some(Record { sequence: word(8)?, dev: word(16)?, ino: word(24)?, progress, carried })
}

/// Compacts `target` in place. Called with the directory lock held.
pub fn compact_in_place(
    path: &Path,
    target: PathBuf,
    rules: &RetentionRules,
    options: &Options,
    stale_temp_removed: bool,
    changed: &Cell<bool>,
) -> Result<FileReport> {
    shift(path, target, rules, options, stale_temp_removed, changed).map_err(|error| match error {
        // A write that finds no space once the log has changed stops a shift the progress
        // record lets the next run finish: not `DiskFull`, which promises the file as it was.
        Error::DiskFull { path } if changed.get() => no_space_midway(path),
        other => other,
    })
}

/// No space once the file has changed: not `DiskFull`, which promises the file is as it was.
fn no_space_midway(path: PathBuf) -> Error {
    Error::Io {
        path,
        action: "go on (the next run finishes the in-place compaction)",
        source: io::Error::from_raw_os_error(libc::ENOSPC),
    }
}

fn shift(
    path: &Path,
    target: PathBuf,
    rules: &RetentionRules,
    options: &Options,
    stale_temp_removed: bool,
    changed: &Cell<bool>,
) -> Result<FileReport> {
    let (file, meta) = open_log(path, &target, true)?;
    // Held until the shift has settled and its progress record is gone (`file` is closed when
    // this returns): passes that only read the log take it shared, and wait.
    let cancelled = options.progress.as_deref().map(|progress| &progress.cancelled);
    lock_for_shifting(&file, path, cancelled)?;
    let searcher = options.searcher(rules);
    let start = start_point(&file, path, &target, &meta, &searcher, options.scrub, changed)?;
    // Lines appended before this run (after an interrupted one, say) are not caught up by it.
    let size_at_search = current_size(&file, path)?;
    let mut sink = ShiftSink {
        changed,
        file: &file,
        path,
        target: &target,
        meta: &meta,
        write: start.write,
        journal: None,
        limit: 0,
        carried: start.carried,
        scrub: options.scrub,
        scrubbed: start.scrubbed,
    };
    let mut from = start.write;
    if let Some((journal, read, keep_until)) = start.resume {
        sink.limit = read;
        sink.journal = Some(journal);
        from = read;
        if keep_until > read {
            // The kept run that was being copied when the previous run stopped.
            let map = LogMap::map(&file, keep_until, path)?;
            let copied = sink.copy(map.bytes(), read as usize..keep_until as usize, &Tally::default());
            map.check(path)?;
            copied?;
            from = keep_until;
        }
    }
    let searched = match searcher.search(&file, path, from, &mut sink) {
        // Stopped after the collapse, before anything was shifted: the log is whole as it is
        // (the expired prefix gone, every other line in place) and no progress record carries
        // the prefix's count to the next run, so this run reports it or no run ever would.
        Err(Error::Interrupted) if sink.journal.is_none() && sink.carried.collapsed > 0 => {
            let scrubbed = sink.scrubbed;
            return stopped_after_collapse(&file, path, target.clone(), &sink.carried, stale_temp_removed, scrubbed);
        }
        searched => searched?,
    };
    let (action, final_size) = sink.settle(searched.size, &searched.tally, options.remove_if_empty)?;
    let new_len = sink.write;
    let carried = sink.carried.with(&searched.tally);
    let bytes_scrubbed = sink.scrubbed;
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action,
        bytes_before: carried.original_size,
        bytes_after: if action == Action::Removed { 0 } else { new_len },
        appended_bytes: final_size.saturating_sub(size_at_search),
        tally: carried.tally,
        stale_temp_removed,
        note: None,
        bytes_scrubbed,
        stopped_early: false,
    })
}

/// The report of a run stopped right after its collapse (see `shift`): the collapsed prefix's
/// lines are deleted; whatever the search had seen beyond them is still in the file.
fn stopped_after_collapse(
    file: &File,
    path: &Path,
    target: PathBuf,
    carried: &Carried,
    stale_temp_removed: bool,
    bytes_scrubbed: u64,
) -> Result<FileReport> {
    let size = current_size(file, path)?;
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action: Action::Rewritten,
        bytes_before: carried.original_size,
        bytes_after: size,
        appended_bytes: 0,
        tally: carried.tally.clone(),
        stale_temp_removed,
        note: Some("stopped on request after its expired prefix was removed; the next run reads the rest".into()),
        bytes_scrubbed,
        stopped_early: true,
    })
}

/// Where this run's shift starts, and what it carries from an interrupted one.
struct Start {
    write: u64,
    /// The journal of an interrupted shift, its recorded `read` and `keep_until`.
    resume: Option<(Journal, u64, u64)>,
    carried: Carried,
    /// Bytes the collapse overwrote first (`--scrub`).
    scrubbed: u64,
}

/// Finishes an interrupted collapse or picks up an interrupted shift from its record; else
/// collapses the expired prefix.
fn start_point(
    file: &File,
    path: &Path,
    target: &Path,
    meta: &fs::Metadata,
    searcher: &Searcher,
    scrub: bool,
    changed: &Cell<bool>,
) -> Result<Start> {
    let pending = Journal::load(target, meta)?;
    // An interrupted run's progress record: that run changed the log already.
    changed.set(pending.is_some());
    match pending {
        Some((journal, Progress::Collapse { collapsed, pad, signature, signature_len }, carried)) => {
            let signature = &signature[..usize::from(signature_len)];
            // Once any extent has moved, the signature is at 0 already: look for the hole first.
            finish_partial_collapse(file, path, collapsed)?;
            let happened = starts_with(file, signature);
            if happened {
                blank_prefix(file, path, pad)?;
            }
            journal.finish()?;
            // After the collapse the blanked line [0, pad) stays as it is; without it, start over.
            if happened {
                Ok(Start { write: pad.min(current_size(file, path)?), resume: None, carried, scrubbed: 0 })
            } else {
                let carried = Carried { original_size: carried.original_size, ..Carried::default() };
                Ok(Start { write: 0, resume: None, carried, scrubbed: 0 })
            }
        }
        Some((journal, Progress::Shift { write, read, keep_until }, carried)) => {
            // Shorter than what the record had still to read, and exactly as long as what it
            // had written: only the final truncate makes that (the file is never shorter than
            // the read point before it). A run killed after it, before the record was removed,
            // left nothing to do but that; resumed, it was refused as "truncated" for ever.
            if write < read && current_size(file, path)? == write {
                return Ok(Start { write, resume: Some((journal, write, write)), carried, scrubbed: 0 });
            }
            Ok(Start { write, resume: Some((journal, read, keep_until)), carried, scrubbed: 0 })
        }
        Some((journal, Progress::Bounce { write, read, keep_until, len, sum }, carried)) => {
            // The bounced bytes may have overwritten their own source: put them in place again.
            let bytes = journal.bounced(len, sum)?;
            file.write_all_at(&bytes, write).map_err(|e| Error::io(path, "shift kept lines down", e))?;
            file.sync_data().map_err(|e| Error::io(path, "fsync", e))?;
            let resume = Some((journal, read + len, keep_until));
            Ok(Start { write: write + len, resume, carried, scrubbed: 0 })
        }
        None => {
            let (collapsed, pad, tally) = collapse_expired_prefix(file, path, target, meta, searcher, scrub, changed)?;
            let carried = Carried { original_size: meta.len(), collapsed, tally };
            Ok(Start { write: pad, resume: None, carried, scrubbed: if scrub { collapsed } else { 0 } })
        }
    }
}

fn starts_with(file: &File, signature: &[u8]) -> bool {
    let mut found = vec![0u8; signature.len()];
    file.read_exact_at(&mut found, 0).is_ok() && found == signature
}

/// Finishes a collapse of `collapsed` bytes that a crash interrupted. `COLLAPSE_RANGE` is not
/// atomic on ext4 or XFS: it punches the range out, then shifts the extents after it left in
/// several transactions, and sets the size last. A crash leaves the kept data split around a
/// hole of exactly `collapsed` bytes (at 0 when no extent had moved yet), with the old size;
/// collapsing that hole is the rest of the operation. A file with no such hole is left alone.
fn finish_partial_collapse(file: &File, path: &Path, collapsed: u64) -> Result<()> {
    let size = current_size(file, path)?;
    let Some(hole) = seek(file, 0, libc::SEEK_HOLE).filter(|&hole| hole < size) else {
        return Ok(());
    };
    let data = seek(file, hole as i64, libc::SEEK_DATA).unwrap_or(size);
    if data - hole != collapsed || hole + collapsed >= size {
        return Ok(());
    }
    // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
    let status = unsafe {
        libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, hole as libc::off_t, collapsed as libc::off_t)
    };
    if status != 0 {
        return Err(Error::io(path, "finish the interrupted collapse", io::Error::last_os_error()));
    }
    file.sync_all().map_err(|e| Error::io(path, "fsync", e))
}

/// `lseek` with SEEK_HOLE or SEEK_DATA; None when there is no such offset (ENXIO) or the call
/// is not supported.
fn seek(file: &File, from: i64, whence: libc::c_int) -> Option<u64> {
    // SAFETY: lseek only reads its integer arguments and moves this descriptor's offset, which
    // nothing here relies on (every read and write gives its offset).
    let offset = unsafe { libc::lseek(file.as_raw_fd(), from as libc::off_t, whence) };
    u64::try_from(offset).ok()
}

/// Overwrites `[0, pad - 1)` with spaces: the tail of an expired record becomes a blank line.
fn blank_prefix(file: &File, path: &Path, pad: u64) -> Result<()> {
    if pad > 1 {
        let spaces = vec![b' '; (pad - 1) as usize];
        file.write_all_at(&spaces, 0).map_err(|e| Error::io(path, "blank the collapsed prefix", e))?;
    }
    file.sync_data().map_err(|e| Error::io(path, "fsync", e))
}

/// Stops the search at the first kept line: what comes before it is the expired prefix.
#[derive(Default)]
struct PrefixSink {
    /// The tally of the prefix, once the search has ended.
    prefix: Tally,
}

impl Sink for PrefixSink {
    fn matched(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    fn context(&mut self, _data: &[u8], _run: &Run, seen: &Tally) -> Result<bool> {
        self.prefix = seen.clone();
        Ok(false)
    }

    fn finish(&mut self, _data: &[u8], _tail: &Run, seen: &Tally) -> Result<()> {
        self.prefix = seen.clone();
        Ok(())
    }
}

/// Drops the block-aligned part of the leading run of deleted lines. Returns the bytes
/// collapsed, the length of the blanked remainder (where the shift starts), and the tally of
/// the deleted prefix lines.
fn collapse_expired_prefix(
    file: &File,
    path: &Path,
    target: &Path,
    meta: &fs::Metadata,
    searcher: &Searcher,
    scrub: bool,
    changed: &Cell<bool>,
) -> Result<(u64, u64, Tally)> {
    let mut probe = PrefixSink::default();
    let prefix_end = searcher.search(file, path, 0, &mut probe)?.consumed;
    let block = meta.blksize().max(512);
    let aligned = prefix_end / block * block;
    // COLLAPSE_RANGE may not reach the end of the file; a wholly expired file needs no collapse.
    if aligned == 0 || prefix_end >= meta.len() {
        return Ok((0, 0, Tally::default()));
    }
    let pad = prefix_end - aligned;
    let signature_len = (meta.len() - aligned).min(16) as usize;
    let mut signature = [0u8; 16];
    file.read_exact_at(&mut signature[..signature_len], aligned)
        .map_err(|e| Error::io(path, "read the start of the kept lines", e))?;
    // The tail of the record that straddles the block boundary stays as one blank line: it is
    // a line of the result, as a full read of it counts it.
    let mut prefix = probe.prefix;
    if pad > 0 {
        prefix.lines += 1;
        prefix.blank += 1;
    }
    let carried = Carried { original_size: meta.len(), collapsed: aligned, tally: prefix.clone() };
    // Without room for the record (a completely full disk) the collapse still runs: a crash in
    // the instant before the blanking would then leave a fragment of an expired record.
    let progress = Progress::Collapse { collapsed: aligned, pad, signature, signature_len: signature_len as u8 };
    let journal = Journal::start(target, meta, progress, &carried);
    if scrub {
        // The collapsed blocks are freed as they are: overwrite them first.
        changed.set(true);
        overwrite(file, path, 0..aligned)?;
        file.sync_data().map_err(|e| Error::io(path, "fsync the scrubbed prefix", e))?;
    }
    failpoint::hit("before-collapse");
    // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
    let status =
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, 0, aligned as libc::off_t) };
    if status != 0 {
        let error = io::Error::last_os_error();
        if let Ok(journal) = journal {
            journal.finish()?;
        }
        return match error.raw_os_error() {
            // Not supported by this filesystem or for this range: the shift does all the work.
            Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS | libc::ENOTTY) => Ok((0, 0, Tally::default())),
            _ => Err(Error::io(path, "collapse the expired prefix", error)),
        };
    }
    changed.set(true);
    failpoint::hit("collapsed");
    blank_prefix(file, path, pad)?;
    if let Ok(journal) = journal {
        journal.finish()?;
    }
    Ok((aligned, pad, prefix))
}

/// Copies kept runs down over deleted lines, recording progress so that no write ever lands
/// on source bytes that the last durable record still promises are untouched.
struct ShiftSink<'a> {
    /// Set before the first write to the log (see `compact_in_place`).
    changed: &'a Cell<bool>,
    file: &'a File,
    path: &'a Path,
    target: &'a Path,
    meta: &'a fs::Metadata,
    /// Next output offset; `[0, write)` is output.
    write: u64,
    journal: Option<Journal>,
    /// Writes must end at or before this offset (the recorded `read`).
    limit: u64,
    /// What this run started from: saved with every record, plus what the search has seen.
    carried: Carried,
    /// Overwrite what the truncate or the removal frees (`--scrub`), and how much was.
    scrub: bool,
    scrubbed: u64,
}

impl Sink for ShiftSink<'_> {
    fn matched(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        // Deleted lines are simply written over.
        Ok(true)
    }

    fn context(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool> {
        self.copy(data, run.range.clone(), seen)?;
        Ok(true)
    }

    /// Appended lines are more source: look again until the size holds.
    fn caught_up(&mut self, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    /// A trailing partial line is kept as it is.
    fn finish(&mut self, data: &[u8], tail: &Run, seen: &Tally) -> Result<()> {
        self.copy(data, tail.range.clone(), seen)
    }
}

impl ShiftSink<'_> {
    /// `seen`: every line before `run`, for the progress record.
    fn copy(&mut self, data: &[u8], run: Range<usize>, seen: &Tally) -> Result<()> {
        if self.journal.is_none() && self.write == run.start as u64 {
            // Still in place: nothing before this run was deleted.
            self.write = run.end as u64;
            return Ok(());
        }
        let mut source = run.start;
        while source < run.end {
            if self.journal.is_none() || self.write >= self.limit {
                let gap = source as u64 - self.write;
                if self.journal.is_some() && gap < BOUNCE_BELOW_GAP && (run.end - source) as u64 > gap {
                    if let Some(moved) = self.bounce(data, source..run.end, seen)? {
                        source += moved;
                        continue;
                    }
                }
                let progress = Progress::Shift { write: self.write, read: source as u64, keep_until: run.end as u64 };
                self.commit(progress, seen)?;
            }
            let room = (self.limit - self.write) as usize;
            let length = (run.end - source).min(room).min(CHUNK_BYTES);
            self.changed.set(true);
            self.file
                .write_all_at(&data[source..source + length], self.write)
                .map_err(|e| Error::io(self.path, "shift kept lines down", e))?;
            failpoint::hit("shift-write");
            self.write += length as u64;
            source += length;
        }
        Ok(())
    }

    /// Makes everything written so far durable, then records `progress`.
    fn commit(&mut self, progress: Progress, seen: &Tally) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(self.path, "fsync", e))?;
        let carried = self.carried.with(seen);
        match &mut self.journal {
            Some(journal) => journal.save(progress, &carried)?,
            None => {
                let started = Journal::start(self.target, self.meta, progress, &carried);
                self.journal = Some(started.map_err(|error| match error {
                    // The collapse has changed the file already: it is not as it was.
                    Error::NoRoomToStart { path, .. } if self.carried.collapsed > 0 => no_space_midway(path),
                    other => other,
                })?);
            }
        }
        failpoint::hit("shift-commit");
        if let Progress::Shift { read, .. } = progress {
            self.limit = read;
        }
        Ok(())
    }

    /// Moves up to `BOUNCE_BYTES` of `run` down over a gap too small to move much per record:
    /// the bytes are made durable in the journal first, so they may overwrite their own
    /// source. Returns how many it moved, or None when the journal has no room for them (a
    /// full disk: the gap-sized steps go on).
    fn bounce(&mut self, data: &[u8], run: Range<usize>, seen: &Tally) -> Result<Option<usize>> {
        let bytes = &data[run.start..run.end.min(run.start + BOUNCE_BYTES)];
        let Some(journal) = self.journal.as_mut() else { return Ok(None) };
        // What the record will call final.
        self.file.sync_data().map_err(|e| Error::io(self.path, "fsync", e))?;
        match journal.write_bounce(bytes) {
            Err(Error::DiskFull { .. }) => return Ok(None),
            written => written?,
        }
        let len = bytes.len() as u64;
        let (read, keep_until) = (run.start as u64, run.end as u64);
        let progress = Progress::Bounce { write: self.write, read, keep_until, len, sum: checksum(bytes) };
        journal.save(progress, &self.carried.with(seen))?;
        failpoint::hit("bounce-saved");
        self.changed.set(true);
        self.file.write_all_at(bytes, self.write).map_err(|e| Error::io(self.path, "shift kept lines down", e))?;
        failpoint::hit("shift-write");
        self.write += len;
        // As the record says: source from `read + len` on is untouched.
        self.limit = read + len;
        Ok(Some(bytes.len()))
    }

    fn scrub_from(&mut self, from: u64, size: u64) -> Result<()> {
        if self.scrub && size > from {
            self.scrubbed += overwrite(self.file, self.path, from..size)?;
            self.file.sync_data().map_err(|e| Error::io(self.path, "fsync the scrubbed range", e))?;
        }
        Ok(())
    }

    /// After the search: truncates to the shifted length (or removes an emptied segment).
    /// Returns the action and the file's size at the end, lines appended meanwhile included.
    fn settle(&mut self, size: u64, seen: &Tally, remove_if_empty: bool) -> Result<(Action, u64)> {
        let new_len = self.write;
        if new_len != size {
            // Scrubbing, removing or truncating the log.
            self.changed.set(true);
        }
        let action = if new_len == size {
            Action::Unchanged
        } else if new_len == 0 && remove_if_empty && current_size(self.file, self.path)? == size {
            if let Some(journal) = self.journal.take() {
                journal.finish()?;
            }
            self.scrub_from(0, size)?;
            fs::remove_file(self.target).map_err(|e| Error::io(self.path, "remove the emptied segment", e))?;
            sync_parent(self.target)?;
            Action::Removed
        } else {
            if self.journal.is_some() {
                // From here a resumed run only needs to truncate (and move lines appended later).
                self.commit(Progress::Shift { write: new_len, read: size, keep_until: size }, seen)?;
            }
            // Past the new end lie deleted lines and stale copies of moved ones.
            self.scrub_from(new_len, size)?;
            failpoint::hit("before-late-lines");
            let late = self.keep_late_lines(size, seen)?;
            if late != size && self.journal.is_some() {
                // The record must say where the truncate cuts (see `start_point`).
                self.commit(Progress::Shift { write: self.write, read: late, keep_until: late }, seen)?;
            }
            let size = late;
            failpoint::hit("before-truncate");
            self.file.set_len(self.write).map_err(|e| Error::io(self.path, "truncate", e))?;
            self.file.sync_all().map_err(|e| Error::io(self.path, "fsync", e))?;
            failpoint::hit("truncated");
            if let Some(journal) = self.journal.take() {
                journal.finish()?;
            }
            return Ok((Action::Rewritten, size));
        };
        // A resumed shift with nothing left to move (its truncate was done): the earlier run
        // changed the log, and its record goes now.
        let resumed = self.journal.take().map(Journal::finish).transpose()?.is_some();
        let rewritten = action == Action::Unchanged && (self.carried.collapsed > 0 || resumed);
        Ok((if rewritten { Action::Rewritten } else { action }, size))
    }

    /// Moves down, as they are, the bytes appended since the search ended at `size`: the
    /// syncs before the truncate take milliseconds, and a writer that opens, appends and
    /// closes (as MXCP's does) may add lines meanwhile, which the truncate would cut off. They
    /// are kept unread: new records are young, and keeping is always safe. Returns the size
    /// the truncate may trust; what is appended after that last look is the window the module
    /// comment names.
    fn keep_late_lines(&mut self, mut size: u64, seen: &Tally) -> Result<u64> {
        loop {
            let now = current_size(self.file, self.path)?;
            if now <= size {
                return Ok(size);
            }
            let map = LogMap::map(self.file, now, self.path)?;
            let copied = self.copy(map.bytes(), size as usize..now as usize, seen);
            map.check(self.path)?;
            copied?;
            failpoint::hit("late-lines-copied");
            size = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-place run of `path` under the default rules (what most tests need).
    fn shift_with_no_rules(path: &Path) -> FileReport {
        let target = fs::canonicalize(path).unwrap();
        compact_in_place(path, target, &RetentionRules::new([], None, []), &options(), false, &Cell::new(false))
            .unwrap()
    }

    fn options() -> Options {
        Options { in_place: true, ..Options::for_tests(false) }
    }

    fn record(day: &str, n: usize, pad: usize) -> String {
        format!(
            "{{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"{day}T00:00:00Z\", \"n\": {n}, \"p\": \"{}\"}}\n",
            "x".repeat(pad)
        )
    }

    #[test]
    fn journal_records_round_trip_and_detect_corruption() {
        let progress = Progress::Shift { write: 5, read: 900, keep_until: 1000 };
        let mut carried = Carried { original_size: 5000, collapsed: 4096, tally: Tally::default() };
        carried.tally.deleted_lines = 12;
        let record = |sequence, progress| Record { sequence, dev: 1, ino: 2, progress, carried: carried.clone() };
        let bytes = encode(&record(7, progress));
        assert_eq!(decode(&bytes).map(|r| (r.sequence, r.dev, r.ino, r.progress)), Some((7, 1, 2, progress)));
        assert_eq!(decode(&bytes).map(|r| r.carried), Some(carried.clone()));
        let mut torn = bytes;
        torn[40] ^= 1;
        assert_eq!(decode(&torn), None);
        let collapse = Progress::Collapse { collapsed: 4096, pad: 10, signature: [b'a'; 16], signature_len: 16 };
        assert_eq!(decode(&encode(&record(1, collapse))).map(|r| r.progress), Some(collapse));
    }

    #[test]
    fn a_record_of_another_inode_refuses_the_log_and_a_torn_one_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let contents = record("2020-01-01", 0, 10) + &record("2026-11-20", 1, 10);
        let (target, meta, _) = written(&path, &contents);
        let carried = Carried { original_size: meta.len(), ..Carried::default() };
        let mut journal = Journal::create(&target, &meta).unwrap();
        journal.save(Progress::Shift { write: 0, read: 0, keep_until: 0 }, &carried).unwrap();
        // The log replaced by a copy of itself: same name and bytes, another inode (made while
        // the original still holds its own, which a filesystem may hand out again once freed).
        let copy = dir.path().join("copy.jsonl");
        fs::write(&copy, &contents).unwrap();
        fs::rename(&copy, &path).unwrap();
        let error = compact_in_place(
            &path,
            target.clone(),
            &RetentionRules::new([], None, []),
            &options(),
            false,
            &Cell::new(false),
        );
        assert!(matches!(error, Err(Error::ForeignShift { .. })), "{error:?}");
        assert!(matches!(refuse_pending(&path, &target), Err(Error::ForeignShift { .. })));
        assert_eq!(fs::read_to_string(&path).unwrap(), contents);
        assert!(journal_path_for(&target).exists());
        // A record that never completed promises nothing: it is removed and the log compacted.
        fs::write(journal_path_for(&target), b"torn").unwrap();
        assert!(matches!(refuse_pending(&path, &target), Err(Error::ResumePending { .. })));
        assert_eq!(shift_with_no_rules(&path).tally.deleted_lines, 1);
        assert!(!journal_path_for(&target).exists());
    }

    #[test]
    fn shift_keeps_the_inode_and_exactly_the_kept_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut all = String::new();
        let mut kept = String::new();
        for n in 0..3000 {
            let line = if n % 3 == 0 { record("2026-11-20", n, n % 50) } else { record("2020-01-01", n, n % 70) };
            if n % 3 == 0 {
                kept.push_str(&line);
            }
            all.push_str(&line);
        }
        all.push_str("{\"partial");
        kept.push_str("{\"partial");
        fs::write(&path, &all).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        let target = fs::canonicalize(&path).unwrap();
        let report = shift_with_no_rules(&path);
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(report.tally.deleted_lines, 2000);
        assert!(!journal_path_for(&target).exists());
    }

    #[test]
    fn a_small_deletion_before_a_long_kept_tail_shifts_each_kept_line_once() {
        // The shift's write cursor trails the search by only the deleted line, so it rewrites
        // the bytes around each next window's start before that window is searched: windows
        // aligned then began inside lines already moved (duplicated lines, or a shift that
        // committed for ever without advancing).
        let dir = tempfile::tempdir().unwrap();
        for threads in [1, 2] {
            let path = dir.path().join(format!("log-{threads}.jsonl"));
            let kept: String = (0..3000).map(|n| record("2026-11-20", n, n % 90)).collect();
            let (head, tail) = kept.split_at(kept[..20_000].rfind('\n').unwrap() + 1);
            fs::write(&path, format!("{head}{}{tail}", record("2020-01-01", 0, 0))).unwrap();
            let target = fs::canonicalize(&path).unwrap();
            let options = Options { threads, ..options() };
            let rules = RetentionRules::new([], None, []);
            let report = compact_in_place(&path, target, &rules, &options, false, &Cell::new(false)).unwrap();
            assert_eq!(report.tally.deleted_lines, 1, "threads={threads}");
            assert!(fs::read_to_string(&path).unwrap() == kept, "threads={threads}");
        }
    }

    /// Writes `contents` to `path`; its resolved path, metadata and a read-write handle.
    fn written(path: &Path, contents: &str) -> (PathBuf, fs::Metadata, File) {
        fs::write(path, contents).unwrap();
        let target = fs::canonicalize(path).unwrap();
        let meta = fs::metadata(&target).unwrap();
        let file = OpenOptions::new().read(true).write(true).open(&target).unwrap();
        (target, meta, file)
    }

    /// A shift sink at the start of `file`, as `shift` builds one for a run with no collapse.
    fn fresh_sink<'a>(
        changed: &'a Cell<bool>,
        file: &'a File,
        path: &'a Path,
        target: &'a Path,
        meta: &'a fs::Metadata,
    ) -> ShiftSink<'a> {
        let carried = Carried { original_size: meta.len(), ..Carried::default() };
        ShiftSink {
            changed,
            file,
            path,
            target,
            meta,
            write: 0,
            journal: None,
            limit: 0,
            carried,
            scrub: false,
            scrubbed: 0,
        }
    }

    /// A log whose one expired line sits before `tail` kept lines, and what it keeps.
    fn small_gap_log(tail: usize) -> (String, String) {
        let kept: Vec<String> = (0..tail + 10).map(|n| record("2026-11-20", n, 400 + n % 90)).collect();
        let all = format!("{}{}{}", kept[..10].concat(), record("2020-01-01", 0, 0), kept[10..].concat());
        (all, kept.concat())
    }

    /// The kept runs of `data` under the default rules, as the search hands them to the sink.
    fn sink_runs(data: &[u8]) -> Vec<Range<usize>> {
        let rules = RetentionRules::new([], None, []);
        let mut decider = crate::decide::Decider::new(&rules, options().now);
        let mut decided = Vec::new();
        crate::decide::decide_span(&mut decider, data, 0..data.len(), &mut decided);
        decided.iter().filter(|run| !run.verdict.is_delete()).map(|run| run.range.clone()).collect()
    }

    #[test]
    fn a_small_gap_moves_kept_lines_through_the_journal_in_few_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let (all, kept) = small_gap_log(40_000);
        let (target, meta, file) = written(&path, &all);
        let changed = Cell::new(false);
        let mut sink = fresh_sink(&changed, &file, &path, &target, &meta);
        for run in sink_runs(all.as_bytes()) {
            sink.copy(all.as_bytes(), run, &Tally::default()).unwrap();
        }
        // 20 MB moved down by one 80-byte line: gap by gap, that was 250,000 records.
        let records = sink.journal.as_ref().unwrap().sequence;
        assert!(records < 20, "{records} progress records");
        file.set_len(sink.write).unwrap();
        assert!(fs::read_to_string(&path).unwrap() == kept);
    }

    #[test]
    fn a_run_killed_after_recording_a_bounce_is_finished_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = small_gap_log(12_000);
        for stop_after_bounces in [1u64, 2] {
            let path = dir.path().join(format!("log-{stop_after_bounces}.jsonl"));
            let (target, meta, file) = written(&path, &all);
            {
                let changed = Cell::new(false);
                let mut sink = fresh_sink(&changed, &file, &path, &target, &meta);
                let runs = sink_runs(all.as_bytes());
                sink.copy(all.as_bytes(), runs[0].clone(), &Tally::default()).unwrap();
                // The long kept run after the deleted line, moved bounce by bounce, then a bounce
                // recorded and its bytes never written: garbage over all they could cover.
                let tail = runs[1].clone();
                let first = Progress::Shift { write: sink.write, read: tail.start as u64, keep_until: tail.end as u64 };
                sink.commit(first, &Tally::default()).unwrap();
                let mut source = tail.start;
                for _ in 1..stop_after_bounces {
                    source += sink.bounce(all.as_bytes(), source..tail.end, &Tally::default()).unwrap().unwrap();
                }
                let (write, read) = (sink.write, source as u64);
                let bytes = &all.as_bytes()[source..tail.end.min(source + BOUNCE_BYTES)];
                let journal = sink.journal.as_mut().unwrap();
                journal.write_bounce(bytes).unwrap();
                let sum = checksum(bytes);
                let progress =
                    Progress::Bounce { write, read, keep_until: tail.end as u64, len: bytes.len() as u64, sum };
                journal.save(progress, &sink.carried).unwrap();
                file.write_all_at(&vec![b'#'; bytes.len()], write).unwrap();
            }
            shift_with_no_rules(&path);
            assert!(fs::read_to_string(&path).unwrap() == kept, "stop_after_bounces={stop_after_bounces}");
            assert!(!journal_path_for(&target).exists());
        }
    }

    #[test]
    fn resuming_from_any_recorded_progress_gives_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut all = String::new();
        let mut kept = String::new();
        for n in 0..200 {
            let line = if n % 4 == 1 { record("2026-11-20", n, 3) } else { record("2020-01-01", n, 5) };
            if n % 4 == 1 {
                kept.push_str(&line);
            }
            all.push_str(&line);
        }
        // Simulate a run killed after its first commit and some garbage written into the gap:
        // replay the real sink up to a point, then scribble over [write, limit).
        for stop_after in [1usize, 2, 5, 17, 40] {
            let path = dir.path().join(format!("log-{stop_after}.jsonl"));
            fs::write(&path, &all).unwrap();
            let target = fs::canonicalize(&path).unwrap();
            let meta = fs::metadata(&target).unwrap();
            {
                let file = OpenOptions::new().read(true).write(true).open(&target).unwrap();
                let data = all.as_bytes();
                let rules = RetentionRules::new([], None, []);
                let mut decider = crate::decide::Decider::new(&rules, options().now);
                let mut decided = Vec::new();
                crate::decide::decide_span(&mut decider, data, 0..data.len(), &mut decided);
                let runs: Vec<Range<usize>> =
                    decided.iter().filter(|run| !run.verdict.is_delete()).map(|run| run.range.clone()).collect();
                let changed = Cell::new(false);
                let mut sink = fresh_sink(&changed, &file, &path, &target, &meta);
                for run in runs.iter().take(stop_after) {
                    sink.copy(data, run.clone(), &Tally::default()).unwrap();
                }
                let garbage = vec![b'#'; (sink.limit - sink.write) as usize];
                file.write_all_at(&garbage, sink.write).unwrap();
                // Dropped without finishing: the record stays, as after SIGKILL.
            }
            assert!(journal_path_for(&target).exists());
            shift_with_no_rules(&path);
            assert!(fs::read_to_string(&path).unwrap() == kept, "stop_after={stop_after}");
            assert!(!journal_path_for(&target).exists());
        }
    }

    #[test]
    fn wholly_expired_segment_is_removed_and_base_file_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.jsonl");
        fs::write(&path, record("2020-01-01", 1, 1).repeat(10)).unwrap();
        let target = fs::canonicalize(&path).unwrap();
        let report = compact_in_place(
            &path,
            target.clone(),
            &RetentionRules::new([], None, []),
            &Options { remove_if_empty: true, ..options() },
            false,
            &Cell::new(false),
        )
        .unwrap();
        assert_eq!(report.action, Action::Removed);
        assert!(!path.exists());
        fs::write(&path, record("2020-01-01", 1, 1).repeat(10)).unwrap();
        shift_with_no_rules(&path);
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn nothing_to_delete_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let contents = record("2026-11-20", 1, 1).repeat(5);
        fs::write(&path, &contents).unwrap();
        let target = fs::canonicalize(&path).unwrap();
        let report = shift_with_no_rules(&path);
        assert_eq!(report.action, Action::Unchanged);
        assert_eq!(fs::read_to_string(&path).unwrap(), contents);
        assert!(!journal_path_for(&target).exists());
    }

    /// Leaves `path` as a collapse of `[0, aligned)` interrupted after `moved` bytes of extents
    /// were shifted: `[0, moved)` shifted data, a hole of `aligned` bytes, the rest unshifted.
    fn interrupted_collapse(path: &Path, data: &[u8], aligned: usize, moved: usize) -> bool {
        let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
        file.write_all_at(&data[aligned..aligned + moved], 0).unwrap();
        // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
        let status = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                moved as libc::off_t,
                aligned as libc::off_t,
            )
        };
        file.sync_all().unwrap();
        status == 0
    }

    #[test]
    fn a_collapse_interrupted_at_any_extent_is_finished_and_no_kept_line_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut prefix = String::new();
        for n in 0..80 {
            prefix.push_str(&record("2020-01-01", n, 200));
        }
        let mut rest = String::new();
        let mut kept = Vec::new();
        for n in 80..400 {
            let line = if n % 2 == 0 { record("2026-11-20", n, 150) } else { record("2020-01-01", n, 150) };
            if n % 2 == 0 {
                kept.push(line.clone());
            }
            rest.push_str(&line);
        }
        let data = format!("{prefix}{rest}").into_bytes();
        for moved_blocks in [0usize, 1, 3] {
            let path = dir.path().join(format!("log-{moved_blocks}.jsonl"));
            fs::write(&path, &data).unwrap();
            let target = fs::canonicalize(&path).unwrap();
            let meta = fs::metadata(&target).unwrap();
            let block = meta.blksize() as usize;
            let aligned = prefix.len() / block * block;
            let pad = (prefix.len() - aligned) as u64;
            let mut signature = [0u8; 16];
            signature.copy_from_slice(&data[aligned..aligned + 16]);
            let carried = Carried { original_size: data.len() as u64, collapsed: aligned as u64, ..Carried::default() };
            let mut journal = Journal::create(&target, &meta).unwrap();
            let progress = Progress::Collapse { collapsed: aligned as u64, pad, signature, signature_len: 16 };
            journal.save(progress, &carried).unwrap();
            drop(journal);
            if !interrupted_collapse(&path, &data, aligned, moved_blocks * block) {
                eprintln!("no hole punching here: nothing to check");
                return;
            }
            let rules = RetentionRules::new([], None, []);
            compact_in_place(&path, target.clone(), &rules, &options(), false, &Cell::new(false)).unwrap();
            let out = fs::read(&path).unwrap();
            assert!(!out.contains(&0), "moved {moved_blocks} blocks: NUL bytes remain");
            let lines: Vec<String> = String::from_utf8(out)
                .unwrap()
                .split_inclusive('\n')
                .filter(|line| !line.trim().is_empty())
                .map(str::to_owned)
                .collect();
            assert!(lines == kept, "moved {moved_blocks} blocks");
            assert!(!journal_path_for(&target).exists());
        }
    }
}
