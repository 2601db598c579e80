//! One file's job, from path to report: take the directory lock, pick the mode, compose the
//! sinks, run the searcher, and say what was done.
//!
//! Modes: a dry run counts only; a real run copies (`copy`), with the archive teed in front of
//! it (`archive`); `--in-place`/`--emergency` and a file with a pending in-place shift go to
//! `inplace`; stats is a survey sink. Every mode reads through the same `Searcher`, so every
//! mode decides every line alike, and a dry run reports exactly what a real run does.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::archive::{Archive, ArchiveSink};
use crate::compressed::{compact_compressed, Codec};
use crate::copy::CopySink;
use crate::error::{Error, ErrorKind, Result};
use crate::inplace;
use crate::job::{Action, FileReport, Locking, Options};
use crate::lock::{lock_shared_for_reading, DirLock};
use crate::output::{remove_stale_temp, temp_path_for};
use crate::retention::RetentionRules;
use crate::scrub::ScrubSink;
use crate::sink::{CountOnly, Sink, Tee};
use crate::source::open_log;
use crate::survey::{Survey, SurveySink};
use crate::timestamp::UnixNanos;

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
    let changed = std::cell::Cell::new(false);
    compact_marked(path, rules, options, archive, &changed).map_err(|error| {
        // An in-place run that fails before it changes the log says so: unlike a copy, whose
        // log is never changed before the swap, it cannot be presumed as it was.
        if options.in_place && !options.dry_run && !changed.get() {
            Error::LogUnchanged(Box::new(error))
        } else {
            error
        }
    })
}

/// `compact_file_archiving`; an in-place pass sets `changed` before it first changes the log.
fn compact_marked(
    path: &Path,
    rules: &RetentionRules,
    options: &Options,
    archive: Option<&mut Archive>,
    changed: &std::cell::Cell<bool>,
) -> Result<FileReport> {
    let target = fs::canonicalize(path).map_err(|e| Error::io(path, "open", e))?;
    if options.dry_run {
        return preview(path, target, rules, options);
    }
    let dir = target.parent().unwrap_or(Path::new("/"));
    let lock = match options.lock {
        Locking::Wait(wait) => {
            let cancelled = options.progress.as_deref().map(|progress| &progress.cancelled);
            Some(DirLock::acquire(dir, wait, cancelled)?)
        }
        Locking::HeldByCaller => None,
    };
    let report = match compact_locked(path, target.clone(), rules, options, archive, changed) {
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            // We cannot write here (nothing was changed), but a file with nothing to delete
            // needs no writing.
            let report = dry_run(path, target, rules, options)?;
            if report.tally.deleted_lines > 0 {
                return Err(error);
            }
            Ok(FileReport { action: Action::Unchanged, bytes_after: report.bytes_before, ..report })
        }
        other => other,
    };
    drop(lock);
    report
}

/// The real run of one file, with its directory locked.
fn compact_locked(
    path: &Path,
    target: PathBuf,
    rules: &RetentionRules,
    options: &Options,
    archive: Option<&mut Archive>,
    changed: &std::cell::Cell<bool>,
) -> Result<FileReport> {
    let stale_temp_removed = remove_stale_temp(&target)?;
    if let Some(codec) = Codec::for_path(&target) {
        let report = compact_compressed(path, target, codec, rules, options, archive)?;
        return Ok(FileReport { stale_temp_removed, ..report });
    }
    if options.in_place || inplace::has_pending(&target) {
        if let Some(archive) = &archive {
            return Err(Error::ArchiveInPlace { path: path.to_path_buf(), archive: archive.path().to_path_buf() });
        }
        return inplace::compact_in_place(path, target, rules, options, stale_temp_removed, changed);
    }
    let (file, meta) = open_log(path, &target, false)?;
    if meta.nlink() > 1 {
        return Err(Error::HardLinked { path: path.to_path_buf(), links: meta.nlink() });
    }
    let mut copy = CopySink::new(path, &target, &file, &meta, options.tuning);
    copy.remove_if_empty = options.remove_if_empty;
    let mut archive = archive.map(|archive| ArchiveSink { archive });
    let mut scrub = if options.scrub { Some(ScrubSink::open(path, &target, &meta)?) } else { None };
    let mut sinks: Vec<&mut dyn Sink> = Vec::new();
    if let Some(archive) = archive.as_mut() {
        sinks.push(archive);
    }
    sinks.push(&mut copy);
    if let Some(scrub) = scrub.as_mut() {
        sinks.push(scrub);
    }
    let searched = options.searcher(rules).search(&file, path, 0, &mut Tee(sinks))?;
    let copied = copy.copied().cloned().ok_or_else(|| Error::ChangedUnderUs {
        path: path.to_path_buf(),
        what: "was not finished by its copy".to_owned(),
    })?;
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action: copied.action,
        tally: searched.tally,
        bytes_before: meta.len(),
        bytes_after: copied.bytes_after,
        appended_bytes: (searched.consumed + copied.salvaged).saturating_sub(meta.len()),
        stale_temp_removed,
        stopped_early: false,
        note: copied.note,
        bytes_scrubbed: scrub.map_or(0, |scrub| scrub.scrubbed),
    })
}

/// A dry run that fails where the real run would: it never promises deletions the real run
/// cannot make. Refused like the real run: a hard-linked log on the rename path (whatever it
/// holds), and a log with lines to delete where the real run cannot write (its directory, for
/// the temp copy or the progress record, and for `--in-place` the log itself).
fn preview(path: &Path, target: PathBuf, rules: &RetentionRules, options: &Options) -> Result<FileReport> {
    let plain = Codec::for_path(&target).is_none() && !inplace::has_pending(&target);
    if plain && !options.in_place {
        let links = fs::metadata(&target).map_err(|e| Error::io(path, "stat", e))?.nlink();
        if links > 1 {
            return Err(Error::HardLinked { path: path.to_path_buf(), links });
        }
    }
    let report = dry_run(path, target, rules, options)?;
    if report.tally.deleted_lines > 0 {
        if plain {
            replaceable(&report.target, path)?;
        }
        let dir = report.target.parent().unwrap_or(Path::new("/"));
        writable(dir, path, "create the temp file a real run would write beside it")?;
        if options.in_place && plain {
            writable(&report.target, path, "open it for writing, as a real run would")?;
        }
    }
    Ok(report)
}

/// The inode attributes that refuse a rename over the file and a rewrite of it, even to root
/// (`chattr +i`, `chattr +a`): `FS_IMMUTABLE_FL` and `FS_APPEND_FL` of linux/fs.h.
const IMMUTABLE_OR_APPEND_ONLY: libc::c_int = 0x10 | 0x20;

/// Refuses, as the real run would fail to replace or rewrite it, a log whose inode is
/// immutable or append-only. A filesystem without such attributes has nothing to refuse.
fn replaceable(target: &Path, named: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let file = fs::File::open(target).map_err(|e| Error::io(named, "open", e))?;
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int (the kernel's type for it, whatever the macro says)
    // into `flags`, which lives across the call; the descriptor is open for as long as `file`.
    let status = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &raw mut flags) };
    if status != 0 || flags & IMMUTABLE_OR_APPEND_ONLY == 0 {
        return Ok(());
    }
    let action = "change it, as a real run would: it is immutable or append-only (chattr +i or +a)";
    Err(Error::io(named, action, io::Error::from_raw_os_error(libc::EPERM)))
}

/// Whether this process may write `path` (as `access(2)` says, which knows read-only mounts);
/// the error names the log, `named`.
fn writable(path: &Path, named: &Path, action: &'static str) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::io(named, action, io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: `name` is a NUL-terminated string that lives across the call; access only reads it.
    if unsafe { libc::access(name.as_ptr(), libc::W_OK) } == 0 {
        return Ok(());
    }
    Err(Error::io(named, action, io::Error::last_os_error()))
}

fn dry_run(path: &Path, target: PathBuf, rules: &RetentionRules, options: &Options) -> Result<FileReport> {
    if let Some(codec) = Codec::for_path(&target) {
        return compact_compressed(path, target, codec, rules, &Options { dry_run: true, ..options.clone() }, None);
    }
    let (file, meta) = open_log(path, &target, false)?;
    lock_shared_for_reading(&file, path)?;
    inplace::refuse_pending(path, &target)?;
    let searched = options.searcher(rules).search(&file, path, 0, &mut CountOnly)?;
    // Said, not removed: a dry run changes nothing (a real run removes it, with a note).
    let stale = temp_path_for(&target);
    let note = stale.exists().then(|| {
        let size = fs::metadata(&stale).map_or(0, |meta| meta.len());
        format!("a temp file left by an interrupted run is there ({size} bytes); a real run removes it")
    });
    Ok(FileReport {
        path: path.to_path_buf(),
        target,
        action: Action::DryRun,
        bytes_before: meta.len(),
        bytes_after: meta.len() - searched.tally.deleted_bytes,
        tally: searched.tally,
        appended_bytes: 0,
        stale_temp_removed: false,
        stopped_early: false,
        note,
        bytes_scrubbed: 0,
    })
}

/// Refuses what only reads `path` as it is (an export) while an interrupted in-place
/// compaction has left it half moved, as a dry run does.
pub fn refuse_pending_shift(path: &Path) -> Result<()> {
    let target = fs::canonicalize(path).map_err(|e| Error::io(path, "open", e))?;
    inplace::refuse_pending(path, &target)
}

/// Records and bytes per schema and month, oldest/newest record, and what a dry run would
/// delete (of a compressed file: of its decompressed lines). Refused, like a dry run, while an
/// in-place shift of the file is pending.
pub fn survey_file(path: &Path, rules: &RetentionRules, now: UnixNanos, threads: usize) -> Result<Survey> {
    let target = fs::canonicalize(path).map_err(|e| Error::io(path, "open", e))?;
    let (file, _) = open_log(path, &target, false)?;
    lock_shared_for_reading(&file, path)?;
    inplace::refuse_pending(path, &target)?;
    // A compressed archive is surveyed through its decompressed lines.
    let file = match Codec::for_path(&target) {
        Some(codec) => crate::compressed::decompress(&file, path, &target, codec)?,
        None => file,
    };
    let options = Options { dry_run: true, lock: Locking::HeldByCaller, threads, ..Options::at(now) };
    let mut sink = SurveySink::new(now);
    let searched = options.searcher(rules).search(&file, path, 0, &mut sink)?;
    Ok(sink.into_survey(searched.tally))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_timestamp;
    use crate::tuning::Tuning;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn options(dry_run: bool) -> Options {
        Options::for_tests(dry_run)
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
    fn only_an_in_place_run_that_failed_before_changing_its_log_says_it_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone.jsonl");
        let rules = RetentionRules::new([], None, []);
        let in_place = Options { in_place: true, ..options(false) };
        let error = compact_file(&missing, &rules, &in_place).unwrap_err();
        assert!(error.log_unchanged() && error.kind() == ErrorKind::NotFound, "{error}");
        assert!(error.to_string().starts_with(&format!("{}: cannot open", missing.display())), "{error}");
        // A copy, or a dry run, never changes its log before the swap: nothing to say.
        for options in [options(false), Options { in_place: true, ..options(true) }] {
            assert!(!compact_file(&missing, &rules, &options).unwrap_err().log_unchanged());
        }
        // The same error once the shift has moved lines down says nothing of the kind.
        let log = dir.path().join("log.jsonl");
        let lines: String = (0..50).map(|n| record(if n % 2 == 0 { "2020-01-01" } else { "2099-01-01" }, n)).collect();
        fs::write(&log, &lines).unwrap();
        let changed = std::cell::Cell::new(false);
        let report = compact_marked(&log, &rules, &in_place, None, &changed).unwrap();
        assert!(changed.get() && report.tally.deleted_lines == 25);
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
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "only the log remains");
    }

    #[test]
    fn parallel_windows_give_the_same_bytes_as_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = mixed_log(20_000);
        assert!(all.len() > 2 * Tuning::SMALL.window_bytes, "test needs several windows");
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
    fn small_log_at_production_sizes_keeps_its_lines_in_order() {
        // Issue 9's reproduction: 5002 lines of ~800 bytes (3.9 MB, below the O_DIRECT
        // threshold), the first two expired, so one kept run of more than half the write buffer
        // follows a small one.
        let dir = tempfile::tempdir().unwrap();
        let mut all = String::new();
        let mut kept = String::new();
        for n in 0..5002 {
            let day = if n < 2 { "2026-01-01" } else { "2026-11-26" };
            let line = format!(
                "{{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 2, \"timestamp\": \"{day}T00:00:00Z\", \"seq\": {n}, \"pad\": \"{}\"}}\n",
                "x".repeat(700)
            );
            if n >= 2 {
                kept.push_str(&line);
            }
            all.push_str(&line);
        }
        assert!((all.len() as u64) < Tuning::PRODUCTION.direct_min_bytes);
        let rules = RetentionRules::new([], None, []);
        for threads in [1, 2] {
            let path = dir.path().join(format!("logs-{threads}.jsonl"));
            fs::write(&path, &all).unwrap();
            let options = Options { threads, tuning: Tuning::PRODUCTION, ..options(false) };
            let report = compact_file(&path, &rules, &options).unwrap();
            assert_eq!(report.tally.deleted_lines, 2);
            assert!(fs::read_to_string(&path).unwrap() == kept, "threads={threads}: kept lines out of order");
        }
    }

    #[test]
    fn an_erasure_deletes_exactly_the_selected_records_whatever_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs-default.jsonl");
        let mut all = String::new();
        let mut kept = String::new();
        for n in 0..3000 {
            let user = if n % 7 == 0 {
                "\"gone\""
            } else if n % 7 == 1 {
                "null"
            } else {
                "\"stays\""
            };
            let day = if n % 2 == 0 { "2020-01-01" } else { "2026-11-26" };
            let line = format!(
                "{{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"{day}T00:00:00Z\", \"user_id\": {user}, \"n\": {n}}}\n"
            );
            if n % 7 != 0 {
                kept.push_str(&line);
            }
            all.push_str(&line);
        }
        all.push_str("{\"user_id\": \"gone\"}\n");
        kept.push_str("{\"user_id\": \"gone\"}\n");
        fs::write(&path, &all).unwrap();
        let rules = RetentionRules::new([], None, []);
        let erasure = crate::erase::Erasure::new(&[("user_id".to_owned(), "gone".to_owned())]).unwrap();
        let erase = |dry_run| Options { erasure: Some(erasure.clone()), ..options(dry_run) };
        let dry = compact_file(&path, &rules, &erase(true)).unwrap();
        let real = compact_file(&path, &rules, &erase(false)).unwrap();
        assert!(fs::read_to_string(&path).unwrap() == kept);
        assert_eq!((dry.tally.deleted_lines, real.tally.deleted_lines), (429, 429));
        assert_eq!(real.tally.unevaluable(crate::scan::Unevaluable::MissingKey), 1);
    }

    #[test]
    fn the_oldest_kept_record_of_each_schema_is_known_after_a_run_and_unread_ones_are_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs-default.jsonl");
        let (mut all, _) = mixed_log(20_000);
        all.push_str("{\"schema_name\": \"forever\", \"timestamp\": \"2001-01-01T00:00:00Z\"}\n");
        fs::write(&path, &all).unwrap();
        let rules = RetentionRules::new([("forever".to_owned(), None)], None, []);
        let report = compact_file(&path, &rules, &options(false)).unwrap();
        let age = |name: &str| report.tally.schemas.iter().find(|s| s.schema_name == name).unwrap().kept_age;
        // 2020-01-01 records are deleted: the oldest kept is the 2026-11-20 one.
        assert_eq!(age("mxcp.endpoints").oldest, parse_timestamp(b"2026-11-20T00:00:00Z"));
        assert!(!age("mxcp.endpoints").unknown);
        assert!(age("forever").unknown, "a record kept without reading its timestamp has no known age");
    }

    #[test]
    fn archive_receives_exactly_the_deleted_lines_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = mixed_log(20_000);
        let deleted: String = all.split_inclusive('\n').filter(|l| l.contains("2020-01-01")).collect();
        let rules = RetentionRules::new([], None, []);
        let archive_path = dir.path().join("deleted.jsonl");
        let mut archive = Archive::open(&archive_path, Duration::ZERO, None).unwrap();
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
        let mut archive = Archive::open(&dir.path().join("a.jsonl"), Duration::ZERO, None).unwrap();
        let options = Options { in_place: true, ..options(false) };
        let error = compact_file_archiving(&path, &RetentionRules::new([], None, []), &options, Some(&mut archive));
        // Refused before anything was changed, and the error says so.
        let Err(Error::LogUnchanged(error)) = error else { panic!("{error:?}") };
        assert!(matches!(*error, Error::ArchiveInPlace { .. }));
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
