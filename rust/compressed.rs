//! Compressed logs and archives (`.jsonl.gz`, `.jsonl.zst`: ours from `--archive`, or
//! logrotate's `*.jsonl.2.gz`): every line decided by the same rule, the kept lines written
//! back compressed in the same format.
//!
//! The file is decompressed once (all gzip members, all zstd frames) into an unnamed temp file
//! (`O_TMPFILE`, beside it or in the system temp directory), which the searcher reads like any
//! log. The kept lines, byte for byte and in order, are recompressed into the usual temp copy
//! and swapped in atomically; a file with no line left is removed; one with nothing to delete
//! is not touched. A truncated or corrupt file fails as a whole and is left untouched. Nobody
//! appends to a compressed file, so there is no catch-up or salvage; the identity check before
//! the swap still refuses a file that was replaced meanwhile. A dry run's `bytes_after` is an
//! estimate: the compressed size scaled by the share of plain bytes kept. Compressed files are
//! always rewritten (`--in-place` does not apply: a compressed stream cannot be shifted), and
//! `--scrub` does not reach their old blocks.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::archive::{Archive, ArchiveSink};
use crate::copy::ensure_same_file;
use crate::decide::Run;
use crate::error::{Error, Result};
use crate::job::{Action, FileReport, Options};
use crate::output::{sync_parent, TempFile};
use crate::retention::RetentionRules;
use crate::scrub::{open_replaced, overwrite_all};
use crate::sink::{CountOnly, Sink, Tee};
use crate::source::open_log;
use crate::stats::Tally;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Gzip,
    Zstd,
}

impl Codec {
    /// The codec a file's name says it uses (`*.gz`, `*.zst`).
    pub fn for_path(path: &Path) -> Option<Codec> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Some(Codec::Gzip),
            Some("zst") => Some(Codec::Zstd),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }
}

/// Compacts (or, in a dry run, surveys) the compressed file `target`. The caller holds the
/// directory lock for a real run.
pub fn compact_compressed(
    path: &Path,
    target: PathBuf,
    codec: Codec,
    rules: &RetentionRules,
    options: &Options,
    archive: Option<&mut Archive>,
) -> Result<FileReport> {
    let (file, meta) = open_log(path, &target, false)?;
    let plain = decompress(&file, path, &target, codec)?;
    let searcher = options.searcher(rules);
    let report = |action, tally: Tally, bytes_after| FileReport {
        path: path.to_path_buf(),
        target: target.clone(),
        action,
        tally,
        bytes_before: meta.len(),
        bytes_after,
        appended_bytes: 0,
        stale_temp_removed: false,
        stopped_early: false,
        note: None,
        bytes_scrubbed: 0,
    };
    if options.dry_run {
        let tally = searcher.search(&plain, path, 0, &mut CountOnly)?.tally;
        let kept_share = if tally.bytes == 0 { 1.0 } else { 1.0 - tally.deleted_bytes as f64 / tally.bytes as f64 };
        return Ok(report(Action::DryRun, tally, (meta.len() as f64 * kept_share).round() as u64));
    }
    // Every byte of the old file encodes records, the deleted ones included: with `--scrub` it is
    // overwritten whole once replaced, through a handle opened now.
    let replaced = if options.scrub { Some(open_replaced(path, &target, &meta)?) } else { None };
    let mut sink = RecompressSink {
        path,
        target: &target,
        original: &meta,
        options,
        codec,
        encoder: None,
        deferred_end: 0,
        deleted: false,
        kept: 0,
    };
    let tally = match archive {
        Some(archive) => {
            let mut archive = ArchiveSink { archive };
            searcher.search(&plain, path, 0, &mut Tee(vec![&mut archive, &mut sink]))?.tally
        }
        None => searcher.search(&plain, path, 0, &mut sink)?.tally,
    };
    if !sink.deleted {
        return Ok(report(Action::Unchanged, tally, meta.len()));
    }
    let temp = sink.finish_temp()?;
    ensure_same_file(path, &target, &meta)?;
    let (action, size) = if sink.kept == 0 {
        temp.remove_target(&target)?;
        (Action::Removed, 0)
    } else {
        let size = temp.written();
        temp.commit(&target)?;
        sync_parent(&target)?;
        (Action::Rewritten, size)
    };
    let bytes_scrubbed = scrub_replaced(replaced, &plain, path, meta.len())?;
    Ok(FileReport { bytes_scrubbed, ..report(action, tally, size) })
}

/// With `--scrub` (`replaced` open): zeros over the replaced compressed file and over the
/// decompressed copy, which both hold the deleted records, before either is let go.
fn scrub_replaced(replaced: Option<File>, plain: &File, path: &Path, replaced_len: u64) -> Result<u64> {
    let Some(replaced) = replaced else {
        return Ok(0);
    };
    let plain_len = plain.metadata().map_err(|e| Error::io(path, "stat the decompressed copy", e))?.len();
    Ok(overwrite_all(&replaced, path, replaced_len)? + overwrite_all(plain, path, plain_len)?)
}

/// All of `file`'s members or frames, decompressed into an unnamed temp file.
pub fn decompress(file: &File, path: &Path, target: &Path, codec: Codec) -> Result<File> {
    let mut plain = unnamed_temp(target).map_err(|e| Error::io(path, "create a temp file to decompress into", e))?;
    let copied = match codec {
        Codec::Gzip => io::copy(&mut MultiGzDecoder::new(file), &mut plain),
        Codec::Zstd => zstd::Decoder::new(file).and_then(|mut decoder| io::copy(&mut decoder, &mut plain)),
    };
    match copied {
        Ok(_) => Ok(plain),
        Err(error) if error.raw_os_error().is_some() => Err(Error::io(path, "decompress", error)),
        Err(error) => {
            Err(Error::Corrupt { path: path.to_path_buf(), what: format!("is not valid {} ({error})", codec.name()) })
        }
    }
}

/// An `O_TMPFILE` file in `target`'s directory, else in the system temp directory (a
/// directory we may not write, or a filesystem without `O_TMPFILE`).
fn unnamed_temp(target: &Path) -> io::Result<File> {
    let open = |dir: &Path| {
        OpenOptions::new().read(true).write(true).mode(0o600).custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC).open(dir)
    };
    let beside = target.parent().map_or_else(|| Err(io::Error::other("no directory")), open);
    beside.or_else(|_| open(&std::env::temp_dir()))
}

/// Writes the compressed bytes into the temp copy, keeping its error (a full disk) as ours.
struct TempWriter {
    temp: TempFile,
    failed: Option<Error>,
}

impl Write for TempWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.temp.write(bytes) {
            Ok(()) => Ok(bytes.len()),
            Err(error) => {
                let message = error.to_string();
                self.failed = Some(error);
                Err(io::Error::other(message))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Encoder {
    Gzip(GzEncoder<TempWriter>),
    Zstd(zstd::Encoder<'static, TempWriter>),
}

fn lost(path: &Path) -> Error {
    Error::ChangedUnderUs { path: path.to_path_buf(), what: "lost its temp copy".to_owned() }
}

/// Kept lines to a compressor into the temp copy, which is created only once a line is to be
/// deleted (until then the kept lines are the plain file's prefix `[0, deferred_end)`).
struct RecompressSink<'a> {
    path: &'a Path,
    target: &'a Path,
    original: &'a Metadata,
    options: &'a Options,
    codec: Codec,
    encoder: Option<Encoder>,
    deferred_end: usize,
    deleted: bool,
    /// Plain bytes kept.
    kept: u64,
}

impl RecompressSink<'_> {
    /// Starts the compressed copy with the deferred prefix of `data`.
    fn start(&mut self, data: &[u8]) -> Result<()> {
        if self.encoder.is_none() {
            let temp = TempFile::create(self.target, self.original, &self.options.tuning)?;
            let writer = TempWriter { temp, failed: None };
            self.encoder = Some(match self.codec {
                Codec::Gzip => Encoder::Gzip(GzEncoder::new(writer, Compression::default())),
                Codec::Zstd => {
                    Encoder::Zstd(zstd::Encoder::new(writer, 3).map_err(|e| Error::io(self.path, "compress", e))?)
                }
            });
            let prefix = self.deferred_end;
            self.compress(&data[..prefix])?;
        }
        Ok(())
    }

    fn compress(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.path;
        let encoder = self.encoder.as_mut().ok_or_else(|| lost(path))?;
        let written = match encoder {
            Encoder::Gzip(encoder) => encoder.write_all(bytes).map_err(|e| (e, encoder.get_mut().failed.take())),
            Encoder::Zstd(encoder) => encoder.write_all(bytes).map_err(|e| (e, encoder.get_mut().failed.take())),
        };
        written.map_err(|(error, ours)| ours.unwrap_or_else(|| Error::io(path, "compress", error)))
    }

    /// Kept bytes of `data[range]`: deferred while nothing was deleted, compressed after.
    fn keep(&mut self, data: &[u8], range: std::ops::Range<usize>) -> Result<()> {
        self.kept += range.len() as u64;
        match self.encoder {
            None if range.start == self.deferred_end => {
                self.deferred_end = range.end;
                Ok(())
            }
            None => {
                self.start(data)?;
                self.compress(&data[range])
            }
            Some(_) => self.compress(&data[range]),
        }
    }

    /// The finished, synced temp copy.
    fn finish_temp(&mut self) -> Result<TempFile> {
        let path = self.path;
        let finished = match self.encoder.take() {
            None => return Err(lost(path)),
            Some(Encoder::Gzip(encoder)) => encoder.finish(),
            Some(Encoder::Zstd(encoder)) => encoder.finish(),
        };
        let mut writer = finished.map_err(|e| Error::io(path, "compress", e))?;
        if let Some(error) = writer.failed.take() {
            return Err(error);
        }
        writer.temp.sync()?;
        Ok(writer.temp)
    }
}

impl Sink for RecompressSink<'_> {
    fn matched(&mut self, data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        self.deleted = true;
        self.start(data)?;
        Ok(true)
    }

    fn context(&mut self, data: &[u8], run: &Run, _seen: &Tally) -> Result<bool> {
        self.keep(data, run.range.clone())?;
        Ok(true)
    }

    fn finish(&mut self, data: &[u8], tail: &Run, _seen: &Tally) -> Result<()> {
        if !tail.range.is_empty() {
            self.keep(data, tail.range.clone())?;
        }
        Ok(())
    }
}

/// Reads all of a compressed file (for tests and `export`-like readers).
pub fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut out = Vec::new();
    match Codec::for_path(path) {
        Some(Codec::Gzip) => MultiGzDecoder::new(file).read_to_end(&mut out)?,
        Some(Codec::Zstd) => zstd::Decoder::new(file)?.read_to_end(&mut out)?,
        None => (&file).read_to_end(&mut out)?,
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::compact_file;
    use std::os::unix::fs::MetadataExt;

    fn options(dry_run: bool) -> Options {
        Options::for_tests(dry_run)
    }

    fn record(day: &str, n: usize) -> String {
        format!("{{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"{day}T00:00:00Z\", \"n\": {n}}}\n")
    }

    /// (lines, the lines a cleanup keeps), every third expired, written as `parts` members.
    fn lines(parts: usize, per_part: usize) -> (Vec<String>, String) {
        let all: Vec<String> =
            (0..parts * per_part).map(|n| record(if n % 3 == 0 { "2020-01-01" } else { "2026-11-20" }, n)).collect();
        let kept = all.iter().enumerate().filter(|(n, _)| n % 3 != 0).map(|(_, l)| l.as_str()).collect();
        (all, kept)
    }

    fn gzip_members(parts: &[String]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(part.as_bytes()).unwrap();
            out.extend(encoder.finish().unwrap());
        }
        out
    }

    fn zstd_frames(parts: &[String]) -> Vec<u8> {
        parts.iter().flat_map(|part| zstd::encode_all(part.as_bytes(), 1).unwrap()).collect()
    }

    /// Each codec's file of `parts` members or frames, written in `dir`: (path, its bytes).
    fn both_codecs(dir: &Path, parts: &[String], gzip_name: &str) -> [(PathBuf, Vec<u8>); 2] {
        [(gzip_name, gzip_members(parts)), ("a.jsonl.zst", zstd_frames(parts))].map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).unwrap();
            (path, bytes)
        })
    }

    #[test]
    fn scrub_overwrites_the_whole_replaced_compressed_file() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = lines(2, 300);
        let parts: Vec<String> = all.chunks(300).map(|c| c.concat()).collect();
        let rules = RetentionRules::new([], None, []);
        for (path, bytes) in both_codecs(dir.path(), &parts, "x.jsonl.gz") {
            let name = path.display();
            // A reader of the old inode, which outlives the swap as the scrub's handle does.
            let mut old = std::fs::File::open(&path).unwrap();
            let report = compact_file(&path, &rules, &Options { scrub: true, ..options(false) }).unwrap();
            assert!(read_all(&path).unwrap() == kept.as_bytes(), "{name}");
            let mut left = Vec::new();
            old.read_to_end(&mut left).unwrap();
            assert_eq!(left.len(), bytes.len(), "{name}");
            assert!(left.iter().all(|&byte| byte == 0), "{name}: the replaced file still holds its records");
            let plain = all.concat().len() as u64;
            assert_eq!(report.bytes_scrubbed, bytes.len() as u64 + plain, "{name}");
        }
    }

    #[test]
    fn multi_member_gzip_and_multi_frame_zstd_keep_exactly_the_kept_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (all, kept) = lines(4, 2500);
        let parts: Vec<String> = all.chunks(2500).map(|c| c.concat()).collect();
        let rules = RetentionRules::new([], None, []);
        for (path, bytes) in both_codecs(dir.path(), &parts, "x.jsonl.2.gz") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let dry = compact_file(&path, &rules, &options(true)).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name}: a dry run writes nothing");
            let real = compact_file(&path, &rules, &options(false)).unwrap();
            assert_eq!((dry.tally.deleted_lines, real.tally.deleted_lines), (3334, 3334), "{name}");
            assert_eq!(real.action, Action::Rewritten);
            assert!(read_all(&path).unwrap() == kept.as_bytes(), "{name}");
            assert_eq!(
                Codec::for_path(&path).map(|c| c.name()),
                Some(if name.ends_with("gz") { "gzip" } else { "zstd" })
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temp left");
    }

    #[test]
    fn a_wholly_expired_archive_is_removed_and_one_with_nothing_to_delete_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let rules = RetentionRules::new([], None, []);
        let old = dir.path().join("old.jsonl.gz");
        std::fs::write(&old, gzip_members(&[record("2020-01-01", 1).repeat(20)])).unwrap();
        assert_eq!(compact_file(&old, &rules, &options(false)).unwrap().action, Action::Removed);
        assert!(!old.exists());
        let young = dir.path().join("young.jsonl.zst");
        std::fs::write(&young, zstd_frames(&[record("2026-11-20", 1).repeat(20)])).unwrap();
        let inode = std::fs::metadata(&young).unwrap().ino();
        assert_eq!(compact_file(&young, &rules, &options(false)).unwrap().action, Action::Unchanged);
        assert_eq!(std::fs::metadata(&young).unwrap().ino(), inode);
    }

    #[test]
    fn a_truncated_or_corrupt_archive_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let rules = RetentionRules::new([], None, []);
        let whole = gzip_members(&[record("2020-01-01", 1).repeat(200)]);
        for (name, bytes) in
            [("cut.jsonl.gz", whole[..whole.len() / 2].to_vec()), ("junk.jsonl.zst", b"not zstd".to_vec())]
        {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let error = compact_file(&path, &rules, &options(false)).unwrap_err();
            assert!(matches!(error, Error::Corrupt { .. }), "{name}: {error}");
            assert!(error.to_string().contains("left untouched"), "{error}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
    }
}
