//! Reading a log: memory-mapping it (guarded against truncation, see `bus_guard`) and cutting it
//! into windows of whole lines.
//!
//! The map is read-only and shared; the bytes are treated as untrusted (any content is valid
//! input). Windows end just after a `\n` (or at the end of the scanned span), so no line is ever
//! split between two workers, and they are produced in file order.

use std::fs::{self, File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use memmap2::{Advice, Mmap, MmapOptions};

use crate::bus_guard::Guard;
use crate::error::{Error, Result};

/// A read-only mapping of `len` bytes of a file (no mapping for an empty file), guarded
/// against SIGBUS should the file be truncated while mapped.
pub struct LogMap {
    // Declared before `map` so it unregisters before the range is unmapped.
    guard: Option<Guard>,
    map: Option<Mmap>,
}

impl LogMap {
    pub fn map(file: &File, len: u64, path: &Path) -> Result<LogMap> {
        if len == 0 {
            return Ok(LogMap { guard: None, map: None });
        }
        let len = usize::try_from(len).map_err(|_| Error::ChangedUnderUs {
            path: path.to_path_buf(),
            what: "is larger than this machine's address space".to_owned(),
        })?;
        // SAFETY: the mapping is read-only. Other processes may append to the file (we only read
        // below `len`, which existed when we looked) or, against the rules, rewrite or truncate
        // it; every byte is treated as untrusted input, so changed contents cannot break memory
        // safety, and a truncation's SIGBUS is absorbed by the guard registered below (callers
        // check `truncated()` before trusting a pass).
        let map = unsafe { MmapOptions::new().len(len).map(file) }.map_err(|e| Error::io(path, "map", e))?;
        // Advice is only a hint to the kernel's read-ahead; failure changes nothing.
        let _ = map.advise(Advice::Sequential);
        let guard = Guard::register(map.as_ptr(), map.len());
        Ok(LogMap { guard: Some(guard), map: Some(map) })
    }

    /// Whether the file shrank below the mapping while we read it (its tail read as zeros).
    pub fn truncated(&self) -> bool {
        self.guard.as_ref().is_some_and(Guard::was_hit)
    }

    /// Fails with "was truncated" when `truncated()`.
    pub fn check(&self, path: &Path) -> Result<()> {
        if self.truncated() {
            return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was truncated".to_owned() });
        }
        Ok(())
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// Opens the log at `target` (read-only, or read-write for in-place work) and checks that it
/// is a regular file; errors name `path`, the name the operator gave.
pub fn open_log(path: &Path, target: &Path, for_writing: bool) -> Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .write(for_writing)
        .custom_flags(libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| Error::io(path, if for_writing { "open for in-place compaction" } else { "open" }, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", e))?;
    if !meta.is_file() {
        return Err(Error::NotRegularFile { path: path.to_path_buf() });
    }
    Ok((file, meta))
}

/// End of the last complete line in `data[from..]`, or `from` when there is none.
pub fn complete_lines_end(data: &[u8], from: usize) -> usize {
    memchr::memrchr(b'\n', &data[from..]).map_or(from, |at| from + at + 1)
}

/// Splits `span` into consecutive windows of about `target` bytes, each ending after a `\n`
/// (the last one at `span.end`).
pub fn windows(data: &[u8], span: Range<usize>, target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = span.start;
    while start < span.end {
        let probe = start.saturating_add(target.max(1)).min(span.end);
        let end = if probe >= span.end {
            span.end
        } else {
            memchr::memchr(b'\n', &data[probe..span.end]).map_or(span.end, |at| probe + at + 1)
        };
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_span_and_end_on_line_boundaries() {
        let data = b"aaaa\nbb\ncccccccccc\nd\n\npartial";
        for target in 1..data.len() + 2 {
            let cut = windows(data, 0..data.len(), target);
            assert_eq!(cut.first().map(|w| w.start), Some(0));
            assert_eq!(cut.last().map(|w| w.end), Some(data.len()));
            for pair in cut.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(data[pair[0].end - 1], b'\n');
            }
        }
        assert!(windows(data, 3..3, 4).is_empty());
    }

    #[test]
    fn complete_lines_end_stops_after_the_last_newline() {
        assert_eq!(complete_lines_end(b"a\nb\npart", 0), 4);
        assert_eq!(complete_lines_end(b"a\nb\n", 0), 4);
        assert_eq!(complete_lines_end(b"nonewline", 0), 0);
        assert_eq!(complete_lines_end(b"a\nbc", 2), 2);
    }

    #[test]
    fn empty_file_maps_to_no_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.jsonl");
        std::fs::write(&path, b"").unwrap();
        let file = File::open(&path).unwrap();
        assert!(LogMap::map(&file, 0, &path).unwrap().bytes().is_empty());
    }
}
