//! The archive of deleted lines (`log-cleanup --archive PATH`).
//!
//! Every line a run deletes is written here, byte for byte and in input order, during the same
//! pass that writes the kept lines. The format follows the name: `.gz` (gzip), `.zst` (zstd),
//! anything else plain. Each compacted file adds one complete gzip member or zstd frame (or
//! plain bytes), which is finished, flushed and fsynced before that file is replaced, so a
//! deleted line never exists only in memory. Concatenated members and frames are standard:
//! `zcat`/`zstdcat` read the whole archive, and a later run appends to it. If writing fails, the
//! file being compacted is left untouched and the error names the archive.
//!
//! `ArchiveSink` is the archive as a sink, teed in front of the copy sink: it sees each deleted
//! run first and finishes its member first, so the lines are durable before the swap. A swap
//! that is then refused (the log was renamed meanwhile) or a run killed just before it leaves
//! those lines in the archive and in the log, and the next run archives them again: an archive
//! may hold a line twice, never lack one.
//!
//! A run killed while a member is being written leaves an unfinished one (a gzip member or zstd
//! frame without its end, or a partial line), after which `zcat` stops: everything a later run
//! appended would be out of reach. So each member starts by recording the archive's length in a
//! marker beside it (`.NAME.mxcp-compact-member`, synced) and removes the marker once the member
//! is finished and synced. A run that finds the marker checks the bytes after that length: if
//! they are not a complete member, it cuts them off. That is safe because their log was never
//! replaced (the member is finished before the swap), so each of their lines is still in a log.
//! A complete member is kept, as above. One run at a time holds the archive (an exclusive
//! `flock` for the whole run): two runs appending at once would interleave their members.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::decide::Run;
use crate::error::{Error, Result};
use crate::lock::lock_exclusively;
use crate::sink::Sink;
use crate::stats::Tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Gzip,
    Zstd,
}

impl Format {
    pub fn for_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Format::Gzip,
            Some("zst") => Format::Zstd,
            _ => Format::Plain,
        }
    }
}

enum Member {
    Plain(File),
    Gzip(GzEncoder<File>),
    Zstd(zstd::Encoder<'static, File>),
}

/// The archive file, open for appending; one member is open while a log is being compacted.
pub struct Archive {
    path: PathBuf,
    format: Format,
    member: Option<Member>,
    /// Uncompressed bytes archived so far, by this process.
    pub bytes: u64,
    pub lines: u64,
    /// Bytes of an unfinished member, left by a run that stopped, cut off when it was opened.
    pub repaired: u64,
    /// Where the open member starts, and the bytes and lines written into it so far.
    member_start: u64,
    member_bytes: u64,
    member_lines: u64,
    /// Whether this run created the file (see `discard_if_empty`).
    created: bool,
    /// Holds the run's exclusive lock on the archive until the archive is dropped.
    held: File,
}

impl Archive {
    /// Opens (or creates, owner-only) the archive at `path`, locks it for this run (waiting up to
    /// `wait` for another run that holds it, as for a directory's lock) and cuts off an
    /// unfinished member a stopped run left (see the module comment). Fails early, before any
    /// log is read, if it cannot be created or another run still holds it.
    pub fn open(path: &Path, wait: Duration, cancelled: Option<&AtomicBool>) -> Result<Archive> {
        let created = !path.exists();
        let held = open_append(path)?;
        lock_exclusively(&held, path, wait, cancelled)?;
        let format = Format::for_path(path);
        let repaired = cut_unfinished_member(&held, path, format)?;
        Ok(Archive {
            path: path.to_path_buf(),
            format,
            member: None,
            bytes: 0,
            lines: 0,
            repaired,
            member_start: 0,
            member_bytes: 0,
            member_lines: 0,
            created,
            held,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends deleted bytes (whole lines) to the current member, starting one if needed.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.member.is_none() {
            let file = open_append(&self.path)?;
            let start = file.metadata().map_err(|e| self.error(e))?.len();
            mark_member_start(&self.path, start).map_err(|e| self.error(e))?;
            (self.member_start, self.member_bytes, self.member_lines) = (start, 0, 0);
            self.member = Some(match self.format {
                Format::Plain => Member::Plain(file),
                Format::Gzip => Member::Gzip(GzEncoder::new(file, Compression::fast())),
                Format::Zstd => Member::Zstd(zstd::Encoder::new(file, 3).map_err(|e| self.error(e))?),
            });
        }
        let written = match self.member.as_mut() {
            Some(Member::Plain(file)) => file.write_all(bytes),
            Some(Member::Gzip(encoder)) => encoder.write_all(bytes),
            Some(Member::Zstd(encoder)) => encoder.write_all(bytes),
            None => Ok(()),
        };
        if let Err(error) = written {
            return Err(self.abandon_member(error));
        }
        let lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.bytes += bytes.len() as u64;
        self.lines += lines;
        self.member_bytes += bytes.len() as u64;
        self.member_lines += lines;
        Ok(())
    }

    /// Removes the archive when this run created it and put nothing in it (a day with nothing
    /// to delete): an empty `.gz` or `.zst` is no stream, and `zcat`/`zstdcat` fail on it (exit
    /// 1), which a daily timer's archive directory then held one of for each quiet day. True
    /// when it was removed.
    pub fn discard_if_empty(&mut self) -> Result<bool> {
        let len = self.held.metadata().map_err(|e| Error::io(&self.path, "read the archive", e))?.len();
        if !self.created || self.member.is_some() || len > 0 {
            return Ok(false);
        }
        fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, "remove the empty archive", e))?;
        self.created = false;
        Ok(true)
    }

    /// After a failed write (a full disk): cuts the unfinished member off at once, so that the
    /// archive ends with whole members and its counts and hash, reported by this run, are of
    /// those alone (its log is left untouched, so no line is lost). If the cut fails too, the
    /// marker stays and the next run cuts it. The error to report.
    fn abandon_member(&mut self, source: io::Error) -> Error {
        // Dropping a gzip encoder may still try to write its end: the cut below removes it.
        self.member = None;
        self.bytes -= self.member_bytes;
        self.lines -= self.member_lines;
        (self.member_bytes, self.member_lines) = (0, 0);
        let cut = self.held.set_len(self.member_start).and_then(|()| self.held.sync_all());
        if cut.is_ok() {
            // Without the marker the next run has nothing to repair; should removing it fail,
            // it finds whole members after the marked length, and keeps them.
            let _ = fs::remove_file(member_mark(&self.path));
        }
        self.error(source)
    }

    /// Finishes the current member and makes the archive durable. Called before a log whose
    /// deleted lines went into this member is replaced.
    pub fn checkpoint(&mut self) -> Result<()> {
        let file = match self.member.take() {
            None => return Ok(()),
            Some(Member::Plain(file)) => Ok(file),
            Some(Member::Gzip(encoder)) => encoder.finish(),
            Some(Member::Zstd(encoder)) => encoder.finish(),
        };
        if let Err(error) = file.and_then(|file| file.sync_all()) {
            return Err(self.abandon_member(error));
        }
        (self.member_bytes, self.member_lines) = (0, 0);
        match fs::remove_file(member_mark(&self.path)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.error(e)),
            _ => Ok(()),
        }
    }

    fn error(&self, source: io::Error) -> Error {
        // Not `Error::io`: a full disk here is the archive's, and the log is left untouched.
        Error::Io { path: self.path.clone(), action: "write the archive (the log is left untouched)", source }
    }
}

/// The archive as a sink: deleted runs are written to it, and `finish` makes them durable.
pub struct ArchiveSink<'a> {
    pub archive: &'a mut Archive,
}

impl Sink for ArchiveSink<'_> {
    fn matched(&mut self, data: &[u8], run: &Run, _seen: &Tally) -> Result<bool> {
        self.archive.write(&data[run.range.clone()])?;
        Ok(true)
    }

    fn context(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    fn finish(&mut self, _data: &[u8], _tail: &Run, _seen: &Tally) -> Result<()> {
        self.archive.checkpoint()
    }
}

/// The marker of a member being written into the archive at `path`.
fn member_mark(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.mxcp-compact-member"))
}

/// Records, durably, that a member starts at byte `start` of the archive at `path`. On failure
/// (a full disk) no marker is left: no member was started, so there is nothing to repair.
fn mark_member_start(path: &Path, start: u64) -> io::Result<()> {
    let mark = member_mark(path);
    let written = write_marker(&mark, start);
    if written.is_err() {
        let _ = fs::remove_file(&mark);
    }
    written
}

fn write_marker(mark: &Path, start: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(mark)?;
    file.write_all(format!("{start}\n").as_bytes())?;
    file.sync_all()?;
    let dir = mark.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Cuts off the bytes of a member a stopped run left unfinished, if the marker says one was
/// being written and they are not a complete member; removes the marker. The bytes cut.
fn cut_unfinished_member(held: &File, path: &Path, format: Format) -> Result<u64> {
    let mark = member_mark(path);
    let text = match fs::read_to_string(&mark) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&mark, "read the archive's member marker", e)),
    };
    let len = held.metadata().map_err(|e| Error::io(path, "read the archive", e))?.len();
    let mut cut = 0;
    // A marker that holds no length, or one past the end (the archive replaced since), tells
    // nothing about this archive: it is left as it is.
    if let Some(start) = text.trim().parse::<u64>().ok().filter(|&start| start < len) {
        if !is_complete_member(held, format, start, len).map_err(|e| Error::io(path, "read the archive", e))? {
            held.set_len(start).map_err(|e| Error::io(path, "cut the archive's unfinished member", e))?;
            held.sync_all().map_err(|e| Error::io(path, "cut the archive's unfinished member", e))?;
            cut = len - start;
        }
    }
    fs::remove_file(&mark).map_err(|e| Error::io(&mark, "remove the archive's member marker", e))?;
    Ok(cut)
}

/// Whether bytes `start..len` of the archive are whole members: for plain text, whole lines;
/// compressed, streams that decode to their end.
fn is_complete_member(held: &File, format: Format, start: u64, len: u64) -> io::Result<bool> {
    if format == Format::Plain {
        let mut last = [0u8; 1];
        held.read_exact_at(&mut last, len - 1)?;
        return Ok(last[0] == b'\n');
    }
    let mut reader = held.try_clone()?;
    reader.seek(SeekFrom::Start(start))?;
    let tail = BufReader::new(reader.take(len - start));
    let decoded = match format {
        Format::Gzip => io::copy(&mut MultiGzDecoder::new(tail), &mut io::sink()),
        _ => zstd::stream::read::Decoder::with_buffer(tail).and_then(|mut d| io::copy(&mut d, &mut io::sink())),
    };
    Ok(decoded.is_ok())
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(path, "open the archive", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_all(path: &Path) -> Vec<u8> {
        let raw = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        match Format::for_path(path) {
            Format::Plain => out = raw,
            Format::Gzip => {
                flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
            }
            Format::Zstd => {
                zstd::stream::read::Decoder::new(&raw[..]).unwrap().read_to_end(&mut out).unwrap();
            }
        }
        out
    }

    #[test]
    fn members_appended_across_checkpoints_and_runs_read_back_as_one_stream() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["deleted.jsonl", "deleted.jsonl.gz", "deleted.jsonl.zst"] {
            let path = dir.path().join(name);
            for run in 0..2 {
                let mut archive = Archive::open(&path, Duration::ZERO, None).unwrap();
                archive.write(format!("a{run}\n").as_bytes()).unwrap();
                archive.checkpoint().unwrap();
                archive.write(format!("b{run}\nc{run}\n").as_bytes()).unwrap();
                archive.checkpoint().unwrap();
                archive.checkpoint().unwrap();
                assert_eq!((archive.lines, archive.bytes), (3, 9));
            }
            assert_eq!(read_all(&path), b"a0\nb0\nc0\na1\nb1\nc1\n", "{name}");
        }
    }

    #[test]
    fn an_archive_this_run_created_and_left_empty_is_removed_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl.gz");
        assert!(Archive::open(&path, Duration::ZERO, None).unwrap().discard_if_empty().unwrap());
        assert!(!path.exists());
        let mut written = Archive::open(&path, Duration::ZERO, None).unwrap();
        written.write(b"a\n").unwrap();
        written.checkpoint().unwrap();
        assert!(!written.discard_if_empty().unwrap());
        drop(written);
        let before = std::fs::read(&path).unwrap();
        assert!(!Archive::open(&path, Duration::ZERO, None).unwrap().discard_if_empty().unwrap(), "not this run's");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::write(&path, b"").unwrap();
        assert!(
            !Archive::open(&path, Duration::ZERO, None).unwrap().discard_if_empty().unwrap(),
            "an empty file it found is left"
        );
        assert!(path.exists());
    }

    #[test]
    fn a_member_whose_write_failed_is_cut_off_at_once_and_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["deleted.jsonl", "deleted.jsonl.gz", "deleted.jsonl.zst"] {
            let path = dir.path().join(name);
            let mut archive = Archive::open(&path, Duration::ZERO, None).unwrap();
            archive.write(b"kept-1\n").unwrap();
            archive.checkpoint().unwrap();
            let whole = std::fs::metadata(&path).unwrap().len();
            archive.write(&b"lost\n".repeat(100_000)).unwrap();
            // What a full disk does to the next write (`write` cannot be made to fail here).
            let error = archive.abandon_member(io::Error::from_raw_os_error(libc::ENOSPC));
            assert!(error.to_string().contains("the log is left untouched"), "{error}");
            assert_eq!((archive.lines, archive.bytes), (1, 7), "{name}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), whole, "{name}");
            assert!(!member_mark(&path).exists(), "{name}");
            archive.write(b"later\n").unwrap();
            archive.checkpoint().unwrap();
            drop(archive);
            assert_eq!(read_all(&path), b"kept-1\nlater\n", "{name}");
        }
    }

    /// The archive at `path` as a stopped run leaves it: `committed` (whole members), then the
    /// first `keep` bytes of one more member, with the marker of that member beside it.
    fn stopped_mid_member(path: &Path, committed: &[u8], member: &[u8], keep: usize) {
        let mut bytes = committed.to_vec();
        bytes.extend_from_slice(&member[..keep]);
        std::fs::write(path, bytes).unwrap();
        std::fs::write(member_mark(path), format!("{}\n", committed.len())).unwrap();
    }

    /// One finished member holding `text`, as `Archive` writes it in `format`.
    fn one_member(dir: &Path, name: &str, text: &[u8]) -> Vec<u8> {
        let path = dir.join(format!("one-{name}"));
        let _ = std::fs::remove_file(&path);
        let mut archive = Archive::open(&path, Duration::ZERO, None).unwrap();
        archive.write(text).unwrap();
        archive.checkpoint().unwrap();
        drop(archive);
        std::fs::read(path).unwrap()
    }

    #[test]
    fn an_unfinished_member_left_by_a_stopped_run_is_cut_off_and_later_members_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<u8> = (0..5000).flat_map(|n| format!("{{\"n\": {n}}}\n").into_bytes()).collect();
        for name in ["deleted.jsonl", "deleted.jsonl.gz", "deleted.jsonl.zst"] {
            let committed = one_member(dir.path(), name, b"kept-1\nkept-2\n");
            let member = one_member(dir.path(), name, &lines);
            for keep in [1, member.len() / 2, member.len() - 1] {
                let path = dir.path().join(name);
                stopped_mid_member(&path, &committed, &member, keep);
                let mut archive = Archive::open(&path, Duration::ZERO, None).unwrap();
                assert_eq!(archive.repaired, keep as u64, "{name} keep={keep}");
                assert!(!member_mark(&path).exists(), "{name}: the marker is removed");
                archive.write(b"next\n").unwrap();
                archive.checkpoint().unwrap();
                drop(archive);
                assert_eq!(read_all(&path), b"kept-1\nkept-2\nnext\n", "{name} keep={keep}");
            }
        }
    }

    #[test]
    fn a_finished_member_is_kept_even_with_its_marker_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["deleted.jsonl", "deleted.jsonl.gz", "deleted.jsonl.zst"] {
            let committed = one_member(dir.path(), name, b"a\n");
            let member = one_member(dir.path(), name, b"b\nc\n");
            let path = dir.path().join(name);
            // Stopped after the member was finished and synced, before its marker went.
            stopped_mid_member(&path, &committed, &member, member.len());
            let archive = Archive::open(&path, Duration::ZERO, None).unwrap();
            assert_eq!(archive.repaired, 0, "{name}");
            assert!(!member_mark(&path).exists());
            drop(archive);
            assert_eq!(read_all(&path), b"a\nb\nc\n", "{name}");
        }
    }

    #[test]
    fn a_marker_that_tells_nothing_about_the_archive_leaves_it_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl");
        for marker in ["", "junk\n", "999999\n"] {
            std::fs::write(&path, b"a\npartial").unwrap();
            std::fs::write(member_mark(&path), marker).unwrap();
            let archive = Archive::open(&path, Duration::ZERO, None).unwrap();
            assert_eq!(archive.repaired, 0, "{marker:?}");
            assert!(!member_mark(&path).exists());
            drop(archive);
            assert_eq!(std::fs::read(&path).unwrap(), b"a\npartial");
        }
    }

    #[test]
    fn a_member_in_progress_is_marked_and_its_marker_goes_when_it_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl.gz");
        let mut archive = Archive::open(&path, Duration::ZERO, None).unwrap();
        archive.write(b"a\n").unwrap();
        assert_eq!(std::fs::read_to_string(member_mark(&path)).unwrap(), "0\n");
        archive.checkpoint().unwrap();
        assert!(!member_mark(&path).exists());
        let length = std::fs::metadata(&path).unwrap().len();
        archive.write(b"b\n").unwrap();
        assert_eq!(std::fs::read_to_string(member_mark(&path)).unwrap(), format!("{length}\n"));
    }

    #[test]
    fn a_second_run_cannot_open_an_archive_another_run_holds_and_a_new_one_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl.zst");
        let held = Archive::open(&path, Duration::ZERO, None).unwrap();
        let error = Archive::open(&path, Duration::ZERO, None).err().unwrap();
        // Held by this very process here, which the message says instead of its own pid.
        assert!(error.to_string().contains("another compaction in this process is running on it"), "{error}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        drop(held);
        assert!(Archive::open(&path, Duration::ZERO, None).is_ok(), "released with the archive");
    }

    #[test]
    fn a_second_run_waits_for_the_archive_until_the_first_lets_it_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl");
        let held = Archive::open(&path, Duration::ZERO, None).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        let waited = std::time::Instant::now();
        assert!(Archive::open(&path, Duration::from_secs(30), None).is_ok());
        assert!(waited.elapsed() >= Duration::from_millis(150), "it waited for the holder");
        releaser.join().unwrap();
    }

    #[test]
    fn a_wait_for_a_held_archive_ends_busy_when_it_runs_out_or_interrupted_on_a_stop_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.jsonl");
        let _held = Archive::open(&path, Duration::ZERO, None).unwrap();
        let error = Archive::open(&path, Duration::from_millis(120), None).err().unwrap();
        assert!(matches!(error, Error::Busy { .. }), "{error}");
        let stop = AtomicBool::new(true);
        let error = Archive::open(&path, Duration::from_secs(3600), Some(&stop)).err().unwrap();
        assert!(matches!(error, Error::Interrupted), "{error}");
    }

    #[test]
    fn an_archive_that_cannot_be_created_is_an_error_naming_it() {
        let error = Archive::open(Path::new("/nonexistent/dir/deleted.jsonl.gz"), Duration::ZERO, None).err().unwrap();
        assert!(error.to_string().starts_with("/nonexistent/dir/deleted.jsonl.gz: cannot open the archive"), "{error}");
    }
}
