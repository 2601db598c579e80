//! One file pass: map the log, decide every line (in parallel windows), write the kept runs to
//! the temp copy, catch up lines appended meanwhile, and swap the copy in.
//!
//! Invariants: the original is only ever replaced by a complete, fsynced copy that holds every
//! kept byte in order plus every complete line appended while we ran; a file with nothing to
//! delete is never rewritten (no temp is even created: the kept prefix is deferred until the
//! first deleted line); a dry run performs exactly the same decisions and writes nothing.
//! Lines appended after the last size check and before the rename (a window of microseconds)
//! are the one remaining race with a writer that reopens the file by path.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::archive::Archive;
use crate::decide::{decide_span, Decider};
use crate::error::{Error, ErrorKind, Result};
use crate::failpoint;
use crate::inplace;
use crate::output::{remove_stale_temp, DirLock, TempFile};
use crate::retention::RetentionRules;
use crate::source::{complete_lines_end, open_log, windows, LogMap};
use crate::stats::Tally;
use crate::timestamp::UnixNanos;
use crate::writers;

/// Lines are decided in windows of at most this size; each window's kept runs are written before
/// the runs of later windows are held, which bounds memory whatever the file size. Smaller
/// files get smaller windows (a few per thread), so that a directory of small segments uses
/// every core too.
#[cfg(not(test))]
const WINDOW_BYTES: usize = 16 << 20;
#[cfg(not(test))]
const MIN_WINDOW_BYTES: usize = 512 << 10;
/// Below this, threads cost more than they save.
#[cfg(not(test))]
const PARALLEL_MIN_BYTES: usize = 2 << 20;
// Small in tests, so that windowing and threading are exercised on small inputs.
#[cfg(test)]
const WINDOW_BYTES: usize = 64 << 10;
#[cfg(test)]
const MIN_WINDOW_BYTES: usize = 16 << 10;
#[cfg(test)]
const PARALLEL_MIN_BYTES: usize = 128 << 10;
/// Catch-up rounds before the swap; a writer faster than us is caught on the next run.
const MAX_CATCH_UP_ROUNDS: usize = 16;
/// How long to wait for writers still holding the replaced file, and how often to look.
const SALVAGE_TIMEOUT: Duration = Duration::from_secs(10);
const SALVAGE_POLL: Duration = Duration::from_millis(5);
/// A file not written to for this long has no writer in the middle of a batch.
const IDLE_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    pub now: UnixNanos,
    pub dry_run: bool,
    /// Delete the file when no line is left (segments); otherwise keep it, empty.
    pub remove_if_empty: bool,
    /// Worker threads for the scan; 0 means one per available core.
    pub threads: usize,
    /// How long to wait for another mxcp-compact working in the same directory.
    pub lock_wait: Duration,
    /// Compact in place, keeping the inode, with no temp copy (see `inplace`).
    pub in_place: bool,
    /// Bytes and lines decided so far, and a cancel switch, shared with whoever shows progress.
    pub progress: Option<Arc<Progress>>,
}

/// Progress of a file pass, updated once per decided window (not per line), and a request to
/// stop: checked between windows, it ends the pass with `Error::Interrupted`, file untouched.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    pub cancelled: AtomicBool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to delete: the file was not touched.
    Unchanged,
    /// Replaced by its compacted copy.
    Rewritten,
    /// A segment left with no lines, deleted.
    Removed,
    /// Dry run: what a real run would do, nothing written.
    DryRun,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Unchanged => "unchanged",
            Action::Rewritten => "rewritten",
            Action::Removed => "removed",
            Action::DryRun => "dry_run",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given.
    pub path: PathBuf,
    /// The file actually compacted (symlinks resolved).
    pub target: PathBuf,
    pub action: Action,
    pub tally: Tally,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes appended by a writer while we ran, caught up into the copy.
    pub appended_bytes: u64,
    pub stale_temp_removed: bool,
    /// Something the operator should know that is not an error.
    pub note: Option<String>,
}

pub fn compact_file(path: &Path, rules: &RetentionRules, options: &Options) -> Result<FileReport> {
    compact_file_archiving(path, rules, options, None)
}

/// `compact_file`, writing every deleted line to `archive` (made durable before the swap).
pub fn compact_file_archiving(
    path: &Path,
    rules: &RetentionRules,
    options: &Options,
    archive: Option<&mut Archive>,
) -> Result<FileReport> {
    let target = fs::canonicalize(path).map_err(|e| Error::io(path, "open", e))?;
    if options.dry_run {
        if inplace::has_pending(&target) {
            return Err(Error::ResumePending { path: path.to_path_buf() });
        }
        return dry_run(path, target, rules, options);
    }
    let dir = target.parent().unwrap_or(Path::new("/"));
    let lock = match DirLock::acquire(dir, options.lock_wait) {
        Ok(lock) => lock,
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            // We cannot write here, but a file with nothing to delete needs no writing.
            let report = dry_run(path, target, rules, options)?;
            if report.tally.deleted_lines > 0 {
                return Err(error);
            }
            return Ok(FileReport { action: Action::Unchanged, bytes_after: report.bytes_before, ..report });
        }
        Err(error) => return Err(error),
    };
    let stale_temp_removed = remove_stale_temp(&target)?;
    let report = if options.in_place || inplace::has_pending(&target) {
        if let Some(archive) = &archive {
            return Err(Error::ArchiveInPlace { path: path.to_path_buf(), archive: archive.path().to_path_buf() });
        }
        inplace::compact_in_place(path, target, rules, options, stale_temp_removed)
    } else {
        rewrite(path, target, rules, options, stale_temp_removed, Deleted { archive, cursor: 0 })
    };
    drop(lock);
    report
}

fn dry_run(path: &Path, target: PathBuf, rules: &RetentionRules, options: &Options) -> Result<FileReport> {
    let (file, meta) = open_log(path, &target, false)?;
    let map = LogMap::map(&file, meta.len(), path)?;
    let tally = scan_mapped(&map, path, 0..map.bytes().len(), rules, options, None)?;
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action: Action::DryRun,
        bytes_before: meta.len(),
        bytes_after: meta.len() - tally.deleted_bytes,
        tally,
        appended_bytes: 0,
        stale_temp_removed: false,
        note: None,
    })
}

fn rewrite(
    path: &Path,
    target: PathBuf,
    rules: &RetentionRules,
    options: &Options,
    stale_temp_removed: bool,
    mut deleted: Deleted<'_>,
) -> Result<FileReport> {
    let (file, meta) = open_log(path, &target, false)?;
    if meta.nlink() > 1 {
        return Err(Error::HardLinked { path: path.to_path_buf(), links: meta.nlink() });
    }
    let bytes_before = meta.len();
    let mut rewriter = Rewriter { path, target: &target, original: &meta, temp: None, deferred_end: 0 };
    let mut consumed;
    let mut tally;
    let mut temp = {
        let map = LogMap::map(&file, bytes_before, path)?;
        let data = map.bytes();
        consumed = complete_lines_end(data, 0);
        tally = scan_mapped(
            &map,
            path,
            0..consumed,
            rules,
            options,
            Some(&mut |runs| {
                deleted.before_runs(data, runs)?;
                rewriter.keep(data, runs)
            }),
        )?;
        deleted.until(data, consumed)?;
        if tally.deleted_lines == 0 {
            // Count a trailing partial line like the dry run does, then leave the file alone.
            let mut decider = Decider::new(rules, options.now);
            decide_span(&mut decider, data, consumed..data.len(), None);
            tally.merge(&decider.into_tally());
            return Ok(FileReport {
                path: path.to_path_buf(),
                target,
                action: Action::Unchanged,
                tally,
                bytes_before,
                bytes_after: bytes_before,
                appended_bytes: 0,
                stale_temp_removed,
                note: None,
            });
        }
        rewriter.into_temp(data)?
    };

    // Catch up complete lines appended while we ran, fsync, and repeat until the size holds.
    let mut size;
    let mut rounds = 0;
    loop {
        size = current_size(&file, path)?;
        if size < consumed as u64 {
            return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was truncated".to_owned() });
        }
        if size > consumed as u64 {
            let map = LogMap::map(&file, size, path)?;
            let data = map.bytes();
            let end = complete_lines_end(data, consumed);
            if end > consumed {
                let more = scan_mapped(
                    &map,
                    path,
                    consumed..end,
                    rules,
                    options,
                    Some(&mut |runs| {
                        deleted.before_runs(data, runs)?;
                        write_runs(&mut temp, data, runs)
                    }),
                )?;
                deleted.until(data, end)?;
                tally.merge(&more);
                consumed = end;
            }
        }
        temp.sync()?;
        rounds += 1;
        if current_size(&file, path)? == size || rounds >= MAX_CATCH_UP_ROUNDS {
            break;
        }
    }
    // A trailing partial line (a writer mid-write, or one that crashed) is not copied: the
    // salvage below carries it over whole, after the swap. Counted here like the dry run does.
    if size > consumed as u64 {
        let map = LogMap::map(&file, size, path)?;
        let mut decider = Decider::new(rules, options.now);
        decide_span(&mut decider, map.bytes(), consumed..map.bytes().len(), None);
        map.check(path)?;
        tally.merge(&decider.into_tally());
    }
    failpoint::hit("before-swap");
    ensure_same_file(path, &target, &meta)?;
    // The deleted lines are durable in the archive before the file loses them.
    if let Some(archive) = deleted.archive {
        archive.checkpoint()?;
    }
    let kept_bytes = temp.written();
    let action = if kept_bytes == 0 && size == consumed as u64 && options.remove_if_empty {
        temp.remove_target(&target)?;
        Action::Removed
    } else {
        temp.commit(&target)?;
        Action::Rewritten
    };
    let salvage = salvage_after_swap(&file, &meta, path, &target, consumed as u64)?;
    // Late lines recreate an emptied segment: then it was rewritten, not removed.
    let action = if salvage.bytes > 0 { Action::Rewritten } else { action };
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action,
        tally,
        bytes_before,
        bytes_after: kept_bytes + salvage.bytes,
        appended_bytes: (consumed as u64 + salvage.bytes).saturating_sub(bytes_before),
        stale_temp_removed,
        note: salvage.note,
    })
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

fn current_size(file: &File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| Error::io(path, "stat", e))?.len())
}

/// Refuses the swap when the path no longer names the inode we read (logrotate moved it).
fn ensure_same_file(path: &Path, target: &Path, read: &Metadata) -> Result<()> {
    let now = fs::symlink_metadata(target).map_err(|e| Error::io(path, "stat", e))?;
    if now.dev() != read.dev() || now.ino() != read.ino() {
        return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was renamed or replaced".to_owned() });
    }
    Ok(())
}

fn write_runs(temp: &mut TempFile, data: &[u8], runs: &[Range<usize>]) -> Result<()> {
    runs.iter().try_for_each(|run| temp.write(&data[run.clone()]))
}

/// The deleted lines of a pass (the gaps between kept runs), for the archive when there is one.
/// `cursor` is the file offset up to which lines have been seen.
struct Deleted<'a> {
    archive: Option<&'a mut Archive>,
    cursor: usize,
}

impl Deleted<'_> {
    fn before_runs(&mut self, data: &[u8], runs: &[Range<usize>]) -> Result<()> {
        for run in runs {
            self.until(data, run.start)?;
            self.cursor = run.end;
        }
        Ok(())
    }

    /// Archives the deleted bytes from the cursor up to `end`.
    fn until(&mut self, data: &[u8], end: usize) -> Result<()> {
        if let Some(archive) = self.archive.as_deref_mut() {
            if end > self.cursor {
                archive.write(&data[self.cursor..end])?;
            }
        }
        self.cursor = self.cursor.max(end);
        Ok(())
    }
}

/// Writes kept runs, but defers the temp until a line is actually deleted: until then the kept
/// bytes are exactly the file's prefix `[0, deferred_end)`.
struct Rewriter<'a> {
    path: &'a Path,
    target: &'a Path,
    original: &'a Metadata,
    temp: Option<TempFile>,
    deferred_end: usize,
}

impl Rewriter<'_> {
    fn keep(&mut self, data: &[u8], runs: &[Range<usize>]) -> Result<()> {
        for run in runs {
            match &mut self.temp {
                Some(temp) => temp.write(&data[run.clone()])?,
                None if run.start == self.deferred_end => self.deferred_end = run.end,
                None => {
                    self.materialize(data)?;
                    if let Some(temp) = &mut self.temp {
                        temp.write(&data[run.clone()])?;
                    }
                }
            }
        }
        Ok(())
    }

    fn into_temp(mut self, data: &[u8]) -> Result<TempFile> {
        self.materialize(data)?;
        match self.temp {
            Some(temp) => Ok(temp),
            None => TempFile::create(self.target, self.original),
        }
    }

    fn materialize(&mut self, data: &[u8]) -> Result<()> {
        if self.temp.is_none() {
            // Checked only once a line is to be deleted: files we leave alone need no look.
            if let Some(holder) = writers::long_lived_writers(self.target, writers::WRITER_WATCH).into_iter().next() {
                return Err(Error::HeldOpen {
                    path: self.path.to_path_buf(),
                    pid: holder.pid,
                    command: holder.command,
                });
            }
            let mut temp = TempFile::create(self.target, self.original)?;
            temp.write(&data[..self.deferred_end])?;
            self.temp = Some(temp);
        }
        Ok(())
    }
}

pub(crate) type RunSink<'s> = &'s mut dyn FnMut(&[Range<usize>]) -> Result<()>;

/// `scan` over a mapping, reporting a truncation under us (whose zero-filled bytes the scan may
/// have seen, or whose pages made a write fail with EFAULT) in preference to anything else.
fn scan_mapped(
    map: &LogMap,
    path: &Path,
    span: Range<usize>,
    rules: &RetentionRules,
    options: &Options,
    sink: Option<RunSink<'_>>,
) -> Result<Tally> {
    let result = scan(map.bytes(), span, rules, options, sink);
    map.check(path)?;
    result
}

/// Decides `data[span]` and passes kept runs to `sink` in file order (none in a dry run).
pub fn scan(
    data: &[u8],
    span: Range<usize>,
    rules: &RetentionRules,
    options: &Options,
    mut sink: Option<RunSink<'_>>,
) -> Result<Tally> {
    let collect = sink.is_some();
    let threads = match options.threads {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let window_bytes = (span.len() / (4 * threads.max(1))).clamp(MIN_WINDOW_BYTES, WINDOW_BYTES);
    let windows = windows(data, span.clone(), window_bytes);
    let mut tally = Tally::default();
    let mut emit = |(window_tally, runs): (Tally, Vec<Range<usize>>)| -> Result<()> {
        if let Some(progress) = &options.progress {
            if progress.cancelled.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            progress.bytes.fetch_add(window_tally.bytes, Ordering::Relaxed);
            progress.lines.fetch_add(window_tally.lines, Ordering::Relaxed);
        }
        tally.merge(&window_tally);
        match sink.as_mut() {
            Some(sink) => sink(&runs),
            None => Ok(()),
        }
    };
    if threads <= 1 || span.len() < PARALLEL_MIN_BYTES {
        for window in windows {
            failpoint::hit("window");
            emit(decide_window(data, window, rules, options.now, collect))?;
        }
    } else {
        failpoint::hit("window");
        decide_in_parallel(&windows, threads, |window| decide_window(data, window, rules, options.now, collect), emit)?;
    }
    Ok(tally)
}

/// Decides `windows` on `threads` workers that each take the next undecided window, and hands
/// the results to `emit` in window order on the calling thread (which writes while the workers
/// go on). Workers stay at most a few windows ahead of `emit`, which bounds the memory held in
/// decided-but-unwritten windows. After an error from `emit` the workers stop.
fn decide_in_parallel<T: Send>(
    windows: &[Range<usize>],
    threads: usize,
    decide: impl Fn(Range<usize>) -> T + Sync,
    mut emit: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let emitted = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ahead = 2 * threads;
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<(usize, T)>(ahead);
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, emitted, stop, decide) = (&next, &emitted, &stop, &decide);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= windows.len() {
                    return;
                }
                while index >= emitted.load(Ordering::Acquire) + ahead && !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_micros(200));
                }
                if stop.load(Ordering::Relaxed) || sender.send((index, decide(windows[index].clone()))).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut result = Ok(());
        'receive: while let Ok((index, decided)) = receiver.recv() {
            waiting.insert(index, decided);
            while let Some(decided) = waiting.remove(&emitted.load(Ordering::Relaxed)) {
                if let Err(error) = emit(decided) {
                    result = Err(error);
                    break 'receive;
                }
                emitted.fetch_add(1, Ordering::Release);
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Unblocks any worker waiting to send, so the scope can join them.
        drop(receiver);
        result
    })
}

fn decide_window(
    data: &[u8],
    window: Range<usize>,
    rules: &RetentionRules,
    now: UnixNanos,
    collect: bool,
) -> (Tally, Vec<Range<usize>>) {
    let mut decider = Decider::new(rules, now);
    let mut runs = Vec::new();
    decide_span(&mut decider, data, window, collect.then_some(&mut runs));
    (decider.into_tally(), runs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_timestamp;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn options(dry_run: bool) -> Options {
        Options {
            now: parse_timestamp(b"2026-11-27T00:00:00Z").unwrap(),
            dry_run,
            remove_if_empty: false,
            threads: 2,
            lock_wait: Duration::ZERO,
            in_place: false,
            progress: None,
        }
    }

    fn record(day: &str, n: usize) -> String {
        format!("{{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 2, \"timestamp\": \"{day}T00:00:00Z\", \"n\": {n}}}\n")
    }

    /// Old and new records interleaved, with noise; returns (contents, expected kept bytes).
    fn mixed_log(lines: usize) -> (String, String) {
        let mut all = String::new();
        let mut kept = String::new();
        for n in 0..lines {
            let line = match n % 5 {
                0 | 3 => record("2020-01-01", n),
                1 => record("2026-11-20", n),
                2 => format!("{{\"broken\": {n}\n"),
                _ => "\n".to_owned(),
            };
            if n % 5 != 0 && n % 5 != 3 {
                kept.push_str(&line);
            }
            all.push_str(&line);
        }
        (all, kept)
    }

    #[test]
    fn real_run_keeps_exactly_the_kept_lines_and_matches_the_dry_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs-default.jsonl");
        let (all, kept) = mixed_log(1000);
        fs::write(&path, &all).unwrap();
        let rules = RetentionRules::new([], None, []);
        let dry = compact_file(&path, &rules, &options(true)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), all, "dry run writes nothing");
        let real = compact_file(&path, &rules, &options(false)).unwrap();
        assert_eq!(real.action, Action::Rewritten);
        assert_eq!(fs::read_to_string(&path).unwrap(), kept);
        assert_eq!(dry.tally.deleted_lines, 400);
        assert_eq!(dry.tally, real.tally);
        assert_eq!(real.bytes_after, kept.len() as u64);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "only the log and the lock file remain");
    }

    #[test]
    fn parallel_windows_give_the_same_bytes_as_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = mixed_log(20_000);
        assert!(all.len() > 2 * WINDOW_BYTES, "test needs several windows");
        let rules = RetentionRules::new([], None, []);
        for threads in [1, 2, 3] {
            let path = dir.path().join(format!("log-{threads}.jsonl"));
            fs::write(&path, &all).unwrap();
            let report = compact_file(&path, &rules, &Options { threads, ..options(false) }).unwrap();
            assert!(fs::read_to_string(&path).unwrap() == kept, "threads={threads}");
            assert_eq!(report.tally.deleted_lines, 8_000);
        }
    }

    #[test]
    fn parallel_decisions_arrive_in_order_and_an_emit_error_stops_the_workers() {
        let windows: Vec<Range<usize>> = (0..200).map(|i| i..i + 1).collect();
        let mut seen = Vec::new();
        decide_in_parallel(
            &windows,
            3,
            |w| w.start,
            |i| {
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        let mut count = 0;
        let error = decide_in_parallel(
            &windows,
            3,
            |w| w.start,
            |_| {
                count += 1;
                if count == 5 {
                    Err(Error::DiskFull { path: PathBuf::from("/x") })
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(error, Err(Error::DiskFull { .. })));
        assert_eq!(count, 5);
    }

    #[test]
    fn archive_receives_exactly_the_deleted_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = mixed_log(20_000);
        let deleted: String = all.split_inclusive('\n').filter(|l| l.contains("2020-01-01")).collect();
        let rules = RetentionRules::new([], None, []);
        let archive_path = dir.path().join("deleted.jsonl");
        let mut archive = Archive::open(&archive_path).unwrap();
        for (n, threads) in [1, 2].into_iter().enumerate() {
            let path = dir.path().join(format!("log-{n}.jsonl"));
            fs::write(&path, &all).unwrap();
            let report =
                compact_file_archiving(&path, &rules, &Options { threads, ..options(false) }, Some(&mut archive))
                    .unwrap();
            assert_eq!(report.tally.deleted_lines, 8_000);
            assert!(fs::read_to_string(&path).unwrap() == kept);
        }
        assert_eq!(archive.lines, 16_000);
        assert!(fs::read_to_string(&archive_path).unwrap() == deleted.repeat(2));
    }

    #[test]
    fn in_place_compaction_refuses_to_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, record("2020-01-01", 1)).unwrap();
        let mut archive = Archive::open(&dir.path().join("a.jsonl")).unwrap();
        let options = Options { in_place: true, ..options(false) };
        let error = compact_file_archiving(&path, &RetentionRules::new([], None, []), &options, Some(&mut archive));
        assert!(matches!(error, Err(Error::ArchiveInPlace { .. })));
        assert_eq!(fs::read_to_string(&path).unwrap(), record("2020-01-01", 1));
    }

    #[test]
    fn nothing_to_delete_leaves_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let contents = format!("{}{}partial", record("2026-11-20", 1), record("2026-11-21", 2));
        fs::write(&path, &contents).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        let report = compact_file(&path, &RetentionRules::new([], None, []), &options(false)).unwrap();
        assert_eq!(report.action, Action::Unchanged);
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(report.tally.lines, 3);
        assert_eq!(report.tally.unevaluable(crate::scan::Unevaluable::Incomplete), 1);
    }

    #[test]
    fn trailing_expired_lines_and_partial_tail_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let keep = record("2026-11-20", 1);
        let contents = format!("{keep}{}{}", record("2020-01-01", 2), "{\"partial");
        fs::write(&path, &contents).unwrap();
        compact_file(&path, &RetentionRules::new([], None, []), &options(false)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{keep}{{\"partial"));
    }

    #[test]
    fn emptied_segment_is_removed_but_base_file_is_kept_empty() {
        let dir = tempfile::tempdir().unwrap();
        let segment = dir.path().join("logs-default-20200101T000000.jsonl");
        let base = dir.path().join("logs-default.jsonl");
        fs::write(&segment, record("2020-01-01", 1)).unwrap();
        fs::write(&base, record("2020-01-01", 1)).unwrap();
        let rules = RetentionRules::new([], None, []);
        let removed = compact_file(&segment, &rules, &Options { remove_if_empty: true, ..options(false) }).unwrap();
        assert_eq!(removed.action, Action::Removed);
        assert!(!segment.exists());
        compact_file(&base, &rules, &options(false)).unwrap();
        assert_eq!(fs::read(&base).unwrap(), b"");
    }

    #[test]
    fn symlinked_log_is_compacted_at_its_target_and_the_link_stays() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        let link = dir.path().join("link.jsonl");
        fs::write(&real, format!("{}{}", record("2020-01-01", 1), record("2026-11-20", 2))).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let report = compact_file(&link, &RetentionRules::new([], None, []), &options(false)).unwrap();
        assert_eq!(report.target, fs::canonicalize(&real).unwrap());
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), record("2026-11-20", 2));
    }

    #[test]
    fn mode_is_preserved_and_hard_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, record("2020-01-01", 1)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        compact_file(&path, &RetentionRules::new([], None, []), &options(false)).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o604);

        let linked = dir.path().join("linked.jsonl");
        fs::write(&linked, record("2020-01-01", 1)).unwrap();
        fs::hard_link(&linked, dir.path().join("other-name")).unwrap();
        let error = compact_file(&linked, &RetentionRules::new([], None, []), &options(false)).unwrap_err();
        assert!(matches!(error, Error::HardLinked { links: 2, .. }), "{error}");
        assert_eq!(fs::read_to_string(&linked).unwrap(), record("2020-01-01", 1));
    }

    #[test]
    fn stale_temp_from_a_killed_run_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, record("2026-11-20", 1)).unwrap();
        let stale = crate::output::temp_path_for(&path);
        fs::File::create(&stale).unwrap().write_all(b"half").unwrap();
        let report = compact_file(&path, &RetentionRules::new([], None, []), &options(false)).unwrap();
        assert!(report.stale_temp_removed);
        assert!(!stale.exists());
    }

    #[test]
    fn missing_file_is_a_not_found_error_naming_it() {
        let error =
            compact_file(Path::new("/nonexistent/x.jsonl"), &RetentionRules::new([], None, []), &options(false))
                .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(error.to_string().starts_with("/nonexistent/x.jsonl: cannot open"), "{error}");
    }
}
