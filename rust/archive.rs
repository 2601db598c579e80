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

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::decide::Run;
use crate::error::{Error, Result};
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
}

impl Archive {
    pub fn open(path: &Path) -> Result<Archive> {
        // Fail early, before any log is read, if the archive cannot be created.
        open_append(path)?;
        Ok(Archive { path: path.to_path_buf(), format: Format::for_path(path), member: None, bytes: 0, lines: 0 })
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
        written.map_err(|e| self.error(e))?;
        self.bytes += bytes.len() as u64;
        self.lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
        Ok(())
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
        let file = file.map_err(|e| self.error(e))?;
        file.sync_all().map_err(|e| self.error(e))
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

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
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
                let mut archive = Archive::open(&path).unwrap();
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
    fn an_archive_that_cannot_be_created_is_an_error_naming_it() {
        let error = Archive::open(Path::new("/nonexistent/dir/deleted.jsonl.gz")).err().unwrap();
        assert!(error.to_string().starts_with("/nonexistent/dir/deleted.jsonl.gz: cannot open the archive"), "{error}");
    }
}
