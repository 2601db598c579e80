//! Scrubbing: every byte a run deletes is overwritten with zeros before its space is released,
//! so that deleted records cannot be read back from the device (`--scrub`).
//!
//! Rename path: the sink notes the deleted ranges as the searcher pushes them and, once the
//! copy has been swapped in and the late lines salvaged, overwrites those ranges of the
//! replaced inode through a descriptor opened before the swap, fdatasyncs, and only then lets
//! the inode go. Only the deleted ranges need it: the kept bytes live on in the new file (ranges
//! closer than `MERGE_GAP` are overwritten as one, kept bytes between them included, which
//! bounds the list whatever the file). The in-place mode scrubs what it frees itself (see
//! `inplace`); a compressed log is overwritten whole once replaced, with its decompressed copy
//! (see `compressed`). Best effort, not sanitization: filesystems that do not overwrite in place
//! (copy-on-write, log-structured), `data=journal`, snapshots and SSD wear levelling keep
//! copies; `overwrites_in_place` names the filesystems where it cannot work.

use std::fs::{File, Metadata, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::decide::Run;
use crate::error::{Error, Result};
use crate::sink::Sink;
use crate::stats::Tally;

/// Deleted ranges this close are overwritten as one.
const MERGE_GAP: u64 = 64 << 10;
/// Zeros are written this many at a time.
const ZEROS: usize = 1 << 20;

pub struct ScrubSink<'a> {
    path: &'a Path,
    /// Open for writing on the log's inode, which outlives the swap through it.
    old: File,
    ranges: Vec<Range<u64>>,
    /// Bytes overwritten, once finished.
    pub scrubbed: u64,
}

impl<'a> ScrubSink<'a> {
    /// Opens `target` for writing and checks it is the inode `read` describes.
    pub fn open(path: &'a Path, target: &Path, read: &Metadata) -> Result<ScrubSink<'a>> {
        Ok(ScrubSink { path, old: open_replaced(path, target, read)?, ranges: Vec::new(), scrubbed: 0 })
    }
}

/// `target` opened for writing and checked to be the inode `read` describes: the handle that
/// outlives the swap, through which the replaced inode is overwritten before it is let go.
pub fn open_replaced(path: &Path, target: &Path, read: &Metadata) -> Result<File> {
    let old = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| Error::io(path, "open for scrubbing", e))?;
    let meta = old.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if meta.dev() != read.dev() || meta.ino() != read.ino() {
        return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was renamed or replaced".to_owned() });
    }
    Ok(old)
}

/// Writes zeros over all `length` bytes of `file` and makes them durable: for a compressed log,
/// each of whose bytes encodes records, and for its decompressed copy. Returns `length`.
pub fn overwrite_all(file: &File, path: &Path, length: u64) -> Result<u64> {
    let written = overwrite(file, path, 0..length)?;
    file.sync_data().map_err(|e| Error::io(path, "fsync the scrubbed file", e))?;
    Ok(written)
}

impl Sink for ScrubSink<'_> {
    fn matched(&mut self, _data: &[u8], run: &Run, _seen: &Tally) -> Result<bool> {
        let range = run.range.start as u64..run.range.end as u64;
        match self.ranges.last_mut() {
            Some(last) if range.start <= last.end + MERGE_GAP => last.end = range.end,
            _ => self.ranges.push(range),
        }
        Ok(true)
    }

    fn context(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    /// Runs after the copy's swap (the sink is teed after it).
    fn finish(&mut self, _data: &[u8], _tail: &Run, _seen: &Tally) -> Result<()> {
        for range in std::mem::take(&mut self.ranges) {
            self.scrubbed += overwrite(&self.old, self.path, range)?;
        }
        self.old.sync_data().map_err(|e| Error::io(self.path, "fsync the scrubbed file", e))
    }
}

/// Writes zeros over `range` of `file`; returns the bytes written.
pub fn overwrite(file: &File, path: &Path, range: Range<u64>) -> Result<u64> {
    let zeros = vec![0u8; ZEROS.min((range.end.saturating_sub(range.start)) as usize)];
    let mut at = range.start;
    while at < range.end {
        let length = (range.end - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..length], at).map_err(|e| Error::io(path, "overwrite deleted lines", e))?;
        at += length as u64;
    }
    Ok(range.end.saturating_sub(range.start))
}

/// The filesystem's name when overwriting a file's blocks in place cannot work there (the old
/// bytes stay on the device, or in memory that may be swapped), from `statfs`.
pub fn overwrites_in_place(path: &Path) -> Option<&'static str> {
    let file = File::open(path).ok()?;
    // SAFETY: statfs is plain data, fully written by fstatfs before it is read.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into `stats`, which lives for the call; the descriptor is open.
    if unsafe { libc::fstatfs(std::os::fd::AsRawFd::as_raw_fd(&file), &mut stats) } != 0 {
        return None;
    }
    match stats.f_type as i64 {
        0x9123_683e => Some("btrfs (copy-on-write)"),
        0x2fc1_2fc1 => Some("ZFS (copy-on-write)"),
        0x0102_1994 => Some("tmpfs (pages may be in swap)"),
        0x794c_7630 => Some("overlayfs (the lower layer keeps its copy)"),
        0xf2f5_2010 => Some("F2FS (log-structured)"),
        0x6969 => Some("NFS (the server decides)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::{KeepReason, Verdict};

    #[test]
    fn deleted_ranges_are_zeroed_after_finish_and_kept_bytes_far_from_them_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut data = vec![b'k'; 300_000];
        data[..100].fill(b'd');
        data[200_000..200_050].fill(b'd');
        std::fs::write(&path, &data).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let mut sink = ScrubSink::open(&path, &path, &meta).unwrap();
        let seen = Tally::default();
        for range in [0..100, 200_000..200_050] {
            sink.matched(&data, &Run { range, lines: 1, verdict: Verdict::Delete(0) }, &seen).unwrap();
        }
        let tail = Run { range: 300_000..300_000, lines: 0, verdict: Verdict::Keep(KeepReason::Blank) };
        sink.finish(&data, &tail, &seen).unwrap();
        let out = std::fs::read(&path).unwrap();
        assert_eq!(sink.scrubbed, 150);
        assert!(!out.contains(&b'd'));
        assert_eq!(out.iter().filter(|&&b| b == b'k').count(), 300_000 - 150);
    }
}
