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
//!    write ever lands at or beyond the recorded `read`. A killed run is finished by the next
//!    run from the record (lines appended meanwhile are just more source); a file with a
//!    pending record is never read as a log until then. Lines appended while we run are caught
//!    up before the truncate; the window between the last size check and the truncate remains.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::compact::{scan, Action, FileReport, Options};
use crate::decide::{decide_span, Decider};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::output::sync_parent;
use crate::retention::RetentionRules;
use crate::source::{complete_lines_end, open_log, LogMap};
use crate::stats::Tally;

const JOURNAL_SUFFIX: &str = ".mxcp-compact.shift";
const MAGIC: &[u8; 8] = b"MXCPJRN1";
const SLOT_BYTES: u64 = 512;
const RECORD_BYTES: usize = 80;
/// Largest single copy; bounds the time between progress records when the gap is large.
const CHUNK_BYTES: usize = 64 << 20;
const CATCH_UP_ROUNDS: usize = 16;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Collapse `collapsed` bytes at offset 0, then blank `[0, pad)`. `signature` holds the
    /// bytes found at offset `collapsed` before the collapse, to tell later if it happened.
    Collapse { collapsed: u64, pad: u64, signature: [u8; 16], signature_len: u8 },
    /// `[0, write)` final; `[read, EOF)` untouched source, whose `[read, keep_until)` is kept.
    Shift { write: u64, read: u64, keep_until: u64 },
}

struct Journal {
    path: PathBuf,
    file: File,
    sequence: u64,
    dev: u64,
    ino: u64,
}

impl Journal {
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
    fn load(target: &Path, meta: &fs::Metadata) -> Result<Option<(Journal, Progress)>> {
        let path = journal_path_for(target);
        let file = match OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, "open the progress record", e)),
        };
        let mut best: Option<(u64, Progress)> = None;
        for slot in 0..2 {
            let mut bytes = [0u8; RECORD_BYTES];
            if file.read_exact_at(&mut bytes, slot * SLOT_BYTES).is_err() {
                continue;
            }
            if let Some((sequence, dev, ino, progress)) = decode(&bytes) {
                if dev == meta.dev() && ino == meta.ino() && best.is_none_or(|(seen, _)| sequence > seen) {
                    best = Some((sequence, progress));
                }
            }
        }
        match best {
            Some((sequence, progress)) => {
                Ok(Some((Journal { path, file, sequence, dev: meta.dev(), ino: meta.ino() }, progress)))
            }
            None => {
                // A record for another inode (the file was replaced) or one never completed:
                // nothing was written under it, so it promises nothing.
                drop(file);
                remove_journal(&path)?;
                Ok(None)
            }
        }
    }

    /// Durably records `progress`; the caller has already made the data it claims durable.
    fn save(&mut self, progress: Progress) -> Result<()> {
        self.sequence += 1;
        let bytes = encode(self.sequence, self.dev, self.ino, progress);
        let offset = (self.sequence % 2) * SLOT_BYTES;
        self.file.write_all_at(&bytes, offset).map_err(|e| Error::io(&self.path, "write the progress record", e))?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, "fsync the progress record", e))
    }

    fn finish(self) -> Result<()> {
        drop(self.file);
        remove_journal(&self.path)
    }
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

fn encode(sequence: u64, dev: u64, ino: u64, progress: Progress) -> [u8; RECORD_BYTES] {
    let mut bytes = [0u8; RECORD_BYTES];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&sequence.to_le_bytes());
    bytes[16..24].copy_from_slice(&dev.to_le_bytes());
    bytes[24..32].copy_from_slice(&ino.to_le_bytes());
    let (kind, a, b, c, signature, signature_len) = match progress {
        Progress::Collapse { collapsed, pad, signature, signature_len } => {
            (1u8, collapsed, pad, 0, signature, signature_len)
        }
        Progress::Shift { write, read, keep_until } => (2u8, write, read, keep_until, [0; 16], 0),
    };
    bytes[32] = kind;
    bytes[33] = signature_len;
    bytes[34..42].copy_from_slice(&a.to_le_bytes());
    bytes[42..50].copy_from_slice(&b.to_le_bytes());
    bytes[50..58].copy_from_slice(&c.to_le_bytes());
    bytes[58..74].copy_from_slice(&signature);
    let sum = checksum(&bytes[..74]);
    bytes[74..80].copy_from_slice(&sum.to_le_bytes()[..6]);
    bytes
}

fn decode(bytes: &[u8; RECORD_BYTES]) -> Option<(u64, u64, u64, Progress)> {
    if &bytes[..8] != MAGIC || bytes[74..80] != checksum(&bytes[..74]).to_le_bytes()[..6] {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let progress = match bytes[32] {
        1 => {
            let mut signature = [0u8; 16];
            signature.copy_from_slice(&bytes[58..74]);
            Progress::Collapse { collapsed: word(34), pad: word(42), signature, signature_len: bytes[33].min(16) }
        }
        2 => Progress::Shift { write: word(34), read: word(42), keep_until: word(50) },
        _ => return None,
    };
    Some((word(8), word(16), word(24), progress))
}

/// Compacts `target` in place. Called with the directory lock held.
pub fn compact_in_place(
    path: &Path,
    target: PathBuf,
    rules: &RetentionRules,
    options: &Options,
    stale_temp_removed: bool,
) -> Result<FileReport> {
    let (file, meta) = open_log(path, &target, true)?;
    let bytes_before = meta.len();
    let mut tally = Tally::default();
    let mut collapsed = 0;

    let mut start = match Journal::load(&target, &meta)? {
        Some((journal, Progress::Collapse { collapsed: amount, pad, signature, signature_len })) => {
            let bytes = &signature[..usize::from(signature_len)];
            let mut found = vec![0u8; bytes.len()];
            let happened = file.read_exact_at(&mut found, 0).is_ok() && found == bytes;
            if happened {
                blank_prefix(&file, path, pad)?;
                collapsed = amount;
            }
            journal.finish()?;
            // After the collapse the blanked line [0, pad) stays as it is; without it, start over.
            let write = if happened { pad.min(current_size(&file, path)?) } else { 0 };
            Start { write, journal: None, keep_until: None }
        }
        Some((journal, Progress::Shift { write, read, keep_until })) => {
            Start { write, journal: Some((journal, read)), keep_until: Some(keep_until) }
        }
        None => {
            let (amount, pad, prefix) = collapse_expired_prefix(&file, path, &target, &meta, rules, options)?;
            tally.merge(&prefix);
            collapsed = amount;
            Start { write: pad, journal: None, keep_until: None }
        }
    };

    let mut sink =
        ShiftSink { file: &file, path, target: &target, meta: &meta, write: start.write, journal: None, limit: 0 };
    let mut consumed = start.write;
    if let Some((journal, read)) = start.journal.take() {
        sink.limit = read;
        sink.journal = Some(journal);
        consumed = read;
        if let Some(keep_until) = start.keep_until.filter(|&until| until > read) {
            // The kept run that was being copied when the previous run stopped.
            let map = LogMap::map(&file, keep_until, path)?;
            sink.copy(map.bytes(), read as usize..keep_until as usize)?;
            map.check(path)?;
            consumed = keep_until;
        }
    }

    let mut rounds = 0;
    let size = loop {
        let size = current_size(&file, path)?;
        if size < consumed {
            return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was truncated".to_owned() });
        }
        let map = LogMap::map(&file, size, path)?;
        let data = map.bytes();
        let end = complete_lines_end(data, consumed as usize);
        if end > consumed as usize {
            let result = scan(
                data,
                consumed as usize..end,
                rules,
                options,
                Some(&mut |runs: &[Range<usize>]| sink.keep(data, runs)),
            );
            map.check(path)?;
            tally.merge(&result?);
            consumed = end as u64;
        }
        rounds += 1;
        if current_size(&file, path)? == size || rounds >= CATCH_UP_ROUNDS {
            // A trailing partial line is kept as it is.
            if size > consumed {
                let mut decider = Decider::new(rules, options.now);
                decide_span(&mut decider, data, consumed as usize..data.len(), None);
                tally.merge(&decider.into_tally());
                sink.copy(data, consumed as usize..data.len())?;
                map.check(path)?;
            }
            break size;
        }
    };

    let new_len = sink.write;
    let action = if new_len == size {
        Action::Unchanged
    } else if new_len == 0 && options.remove_if_empty {
        if let Some(journal) = sink.journal.take() {
            journal.finish()?;
        }
        fs::remove_file(&target).map_err(|e| Error::io(path, "remove the emptied segment", e))?;
        sync_parent(&target)?;
        Action::Removed
    } else {
        if sink.journal.is_some() {
            // From here a resumed run only needs to truncate (and move lines appended later).
            sink.commit(Progress::Shift { write: new_len, read: size, keep_until: size })?;
        }
        failpoint::hit("before-truncate");
        file.set_len(new_len).map_err(|e| Error::io(path, "truncate", e))?;
        file.sync_all().map_err(|e| Error::io(path, "fsync", e))?;
        if let Some(journal) = sink.journal.take() {
            journal.finish()?;
        }
        Action::Rewritten
    };
    let action = if action == Action::Unchanged && collapsed > 0 { Action::Rewritten } else { action };
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action,
        bytes_before,
        bytes_after: if action == Action::Removed { 0 } else { new_len },
        appended_bytes: (size + collapsed).saturating_sub(bytes_before),
        tally,
        stale_temp_removed,
        note: None,
    })
}

struct Start {
    write: u64,
    journal: Option<(Journal, u64)>,
    keep_until: Option<u64>,
}

fn current_size(file: &File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| Error::io(path, "stat", e))?.len())
}

/// Overwrites `[0, pad - 1)` with spaces: the tail of an expired record becomes a blank line.
fn blank_prefix(file: &File, path: &Path, pad: u64) -> Result<()> {
    if pad > 1 {
        let spaces = vec![b' '; (pad - 1) as usize];
        file.write_all_at(&spaces, 0).map_err(|e| Error::io(path, "blank the collapsed prefix", e))?;
    }
    file.sync_data().map_err(|e| Error::io(path, "fsync", e))
}

/// Drops the block-aligned part of the leading run of deleted lines. Returns the bytes
/// collapsed, the length of the blanked remainder (where the shift starts), and the tally of
/// the deleted prefix lines.
fn collapse_expired_prefix(
    file: &File,
    path: &Path,
    target: &Path,
    meta: &fs::Metadata,
    rules: &RetentionRules,
    options: &Options,
) -> Result<(u64, u64, Tally)> {
    let map = LogMap::map(file, meta.len(), path)?;
    let data = map.bytes();
    let mut probe = Decider::new(rules, options.now);
    let mut prefix_end = 0;
    while let Some(at) = memchr::memchr(b'\n', &data[prefix_end..]) {
        let end = prefix_end + at + 1;
        if !probe.decide(&data[prefix_end..end]) {
            break;
        }
        prefix_end = end;
    }
    // Count only the deleted prefix (the probe also counted the first kept line).
    let mut decider = Decider::new(rules, options.now);
    decide_span(&mut decider, data, 0..prefix_end, None);
    map.check(path)?;
    let block = meta.blksize().max(512);
    let aligned = prefix_end as u64 / block * block;
    // COLLAPSE_RANGE may not reach the end of the file; a wholly expired file needs no collapse.
    if aligned == 0 || prefix_end as u64 >= meta.len() {
        return Ok((0, 0, Tally::default()));
    }
    let pad = prefix_end as u64 - aligned;
    let signature_len = (meta.len() - aligned).min(16) as usize;
    let mut signature = [0u8; 16];
    signature[..signature_len].copy_from_slice(&data[aligned as usize..aligned as usize + signature_len]);
    drop(map);
    // Without room for the record (a completely full disk) the collapse still runs: a crash in
    // the instant before the blanking would then leave a fragment of an expired record.
    let journal = Journal::create(target, meta).and_then(|mut journal| {
        journal.save(Progress::Collapse { collapsed: aligned, pad, signature, signature_len: signature_len as u8 })?;
        Ok(journal)
    });
    // SAFETY: fallocate only reads its integer arguments; the descriptor is open for writing.
    let status =
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_COLLAPSE_RANGE, 0, aligned as libc::off_t) };
    if status == 0 {
        failpoint::hit("collapsed");
    }
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
    blank_prefix(file, path, pad)?;
    if let Ok(journal) = journal {
        journal.finish()?;
    }
    Ok((aligned, pad, decider.into_tally()))
}

/// Copies kept runs down over deleted lines, recording progress so that no write ever lands
/// on source bytes that the last durable record still promises are untouched.
struct ShiftSink<'a> {
    file: &'a File,
    path: &'a Path,
    target: &'a Path,
    meta: &'a fs::Metadata,
    /// Next output offset; `[0, write)` is output.
    write: u64,
    journal: Option<Journal>,
    /// Writes must end at or before this offset (the recorded `read`).
    limit: u64,
}

impl ShiftSink<'_> {
    fn keep(&mut self, data: &[u8], runs: &[Range<usize>]) -> Result<()> {
        runs.iter().try_for_each(|run| self.copy(data, run.clone()))
    }

    fn copy(&mut self, data: &[u8], run: Range<usize>) -> Result<()> {
        if self.journal.is_none() && self.write == run.start as u64 {
            // Still in place: nothing before this run was deleted.
            self.write = run.end as u64;
            return Ok(());
        }
        let mut source = run.start;
        while source < run.end {
            if self.journal.is_none() || self.write >= self.limit {
                self.commit(Progress::Shift { write: self.write, read: source as u64, keep_until: run.end as u64 })?;
            }
            let room = (self.limit - self.write) as usize;
            let length = (run.end - source).min(room).min(CHUNK_BYTES);
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
    fn commit(&mut self, progress: Progress) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(self.path, "fsync", e))?;
        if self.journal.is_none() {
            self.journal = Some(Journal::create(self.target, self.meta)?);
        }
        if let Some(journal) = &mut self.journal {
            journal.save(progress)?;
        }
        failpoint::hit("shift-commit");
        if let Progress::Shift { read, .. } = progress {
            self.limit = read;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_timestamp;
    use std::time::Duration;

    fn options() -> Options {
        Options {
            now: parse_timestamp(b"2026-11-27T00:00:00Z").unwrap(),
            dry_run: false,
            remove_if_empty: false,
            threads: 2,
            lock_wait: Duration::ZERO,
            in_place: true,
            progress: None,
            tuning: crate::tuning::Tuning::SMALL,
        }
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
        let bytes = encode(7, 1, 2, progress);
        assert_eq!(decode(&bytes), Some((7, 1, 2, progress)));
        let mut torn = bytes;
        torn[40] ^= 1;
        assert_eq!(decode(&torn), None);
        let collapse = Progress::Collapse { collapsed: 4096, pad: 10, signature: [b'a'; 16], signature_len: 16 };
        assert_eq!(decode(&encode(1, 1, 2, collapse)).map(|r| r.3), Some(collapse));
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
        let report =
            compact_in_place(&path, target.clone(), &RetentionRules::new([], None, []), &options(), false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(report.tally.deleted_lines, 2000);
        assert!(!journal_path_for(&target).exists());
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
                let mut decider = Decider::new(&rules, options().now);
                let mut runs = Vec::new();
                decide_span(&mut decider, data, 0..data.len(), Some(&mut runs));
                let mut sink = ShiftSink {
                    file: &file,
                    path: &path,
                    target: &target,
                    meta: &meta,
                    write: 0,
                    journal: None,
                    limit: 0,
                };
                for run in runs.iter().take(stop_after) {
                    sink.copy(data, run.clone()).unwrap();
                }
                let garbage = vec![b'#'; (sink.limit - sink.write) as usize];
                file.write_all_at(&garbage, sink.write).unwrap();
                // Dropped without finishing: the record stays, as after SIGKILL.
            }
            assert!(journal_path_for(&target).exists());
            compact_in_place(&path, target.clone(), &RetentionRules::new([], None, []), &options(), false).unwrap();
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
        )
        .unwrap();
        assert_eq!(report.action, Action::Removed);
        assert!(!path.exists());
        fs::write(&path, record("2020-01-01", 1, 1).repeat(10)).unwrap();
        compact_in_place(&path, target, &RetentionRules::new([], None, []), &options(), false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn nothing_to_delete_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let contents = record("2026-11-20", 1, 1).repeat(5);
        fs::write(&path, &contents).unwrap();
        let target = fs::canonicalize(&path).unwrap();
        let report =
            compact_in_place(&path, target.clone(), &RetentionRules::new([], None, []), &options(), false).unwrap();
        assert_eq!(report.action, Action::Unchanged);
        assert_eq!(fs::read_to_string(&path).unwrap(), contents);
        assert!(!journal_path_for(&target).exists());
    }
}
