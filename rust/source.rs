//! Reading a log: memory-mapping it (guarded against truncation, see `bus_guard`) and cutting it
//! into windows of whole lines.
//!
//! The map is read-only and shared; the bytes are treated as untrusted (any content is valid
//! input). Windows end just after a `\n` (or at the end of the scanned span), so no line is ever
//! split between two workers, and they are produced in file order.

use std::fs::{self, File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

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
/// is a regular file; errors name `path`, the name the operator gave. A FIFO is opened without
/// waiting for a writer (O_NONBLOCK, which changes nothing for a regular file), then refused.
pub fn open_log(path: &Path, target: &Path, for_writing: bool) -> Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .write(for_writing)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
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

/// Cuts `span` into consecutive windows on a fixed grid, without reading a byte: each worker
/// aligns its own window with `line_aligned`, so no page is touched before the scan reaches it
/// (on a cold cache, probing every boundary up front costs one synchronous read per window,
/// scattered over the file).
///
/// Each window is a share of what remains, `remaining / (2 * workers)`, kept within
/// `[smallest, largest]`: full-size windows while much remains, then smaller and smaller ones,
/// so that the workers finish a file together instead of one deciding a last large window alone
/// (on 20 segments of 51 MiB, equal windows left one of two workers idle 5-8 ms per file).
/// `smallest == largest` gives equal windows.
pub fn window_grid(span: Range<usize>, largest: usize, smallest: usize, workers: usize) -> Vec<Range<usize>> {
    let (largest, smallest) = (largest.max(1), smallest.clamp(1, largest.max(1)));
    let shares = 2 * workers.max(1);
    let mut windows = Vec::new();
    let mut start = span.start;
    while start < span.end {
        let remaining = span.end - start;
        let size = (remaining / shares).clamp(smallest, largest).min(remaining);
        windows.push(start..start + size);
        start += size;
    }
    windows
}

/// The lines that start inside the grid window `nominal` of `span`: both ends move forward to
/// the next line start, so consecutive grid windows give consecutive line windows, and a line
/// longer than a window belongs to the window it starts in (later ones come out empty).
pub fn line_aligned(data: &[u8], span: &Range<usize>, nominal: Range<usize>) -> Range<usize> {
    let start = line_start_at(data, span, nominal.start);
    start..line_start_at(data, span, nominal.end).max(start)
}

/// The first line start of `span` at or after the grid point `at` (a window boundary).
pub fn line_start_at(data: &[u8], span: &Range<usize>, at: usize) -> usize {
    if at <= span.start || at >= span.end {
        return at.clamp(span.start, span.end);
    }
    memchr::memchr(b'\n', &data[at - 1..span.end]).map_or(span.end, |found| at + found)
}

/// Reads the first `len` bytes of the log at `path` into the page cache with at most two chunks
/// of `chunk` bytes in flight, waiting for each before asking for the one after next.
///
/// For the start of a run, while the interpreter is still importing: each import waits for a
/// few small reads, and the disk serves them behind whatever it was already given. Hinting the
/// whole head at once made each wait behind megabytes of log, and the start took longer than the
/// hint saved; with 1 MiB chunks the start took 250 ms longer. 256 KiB chunks cost the start
/// about 20 ms and save the scan about 140 ms (see `Tuning`). And for the next file's head while
/// one is compacted, for the same reason: the current file's reads must not queue behind it.
///
/// Stops early, having read nothing more, once `CACHED_RUN_TO_STOP` bytes in a row were cached
/// already: the file is warm, or the scan's own read-ahead has passed this one.
pub fn read_head_paced(path: &Path, len: u64, chunk: u64) -> Result<()> {
    let (file, meta) = open_log(path, path, false)?;
    let (len, chunk) = (meta.len().min(len), chunk.max(1));
    // The kernel's own read-ahead would go on far past each waited-for byte: only the hints read.
    advise(&file, 0, 0, libc::POSIX_FADV_RANDOM);
    let mut byte = [0u8; 1];
    let (mut start, mut cached_run) = (0, 0);
    let mut hinted = !cached(&file, chunk.min(len)) && will_need(&file, 0..chunk.min(len));
    while start < len && cached_run < CACHED_RUN_TO_STOP {
        let end = (start + chunk).min(len);
        let next_cached = end < len && cached(&file, (end + chunk).min(len));
        let next_hinted = !next_cached && will_need(&file, end..(end + chunk).min(len));
        if hinted {
            file.read_at(&mut byte, end - 1).map_err(|e| Error::io(path, "read", e))?;
            cached_run = 0;
        } else {
            cached_run += end - start;
        }
        (start, hinted) = (end, next_hinted);
    }
    Ok(())
}

/// After this many bytes in a row found cached, `read_head_paced` stops.
const CACHED_RUN_TO_STOP: u64 = 16 << 20;

/// Whether the byte before `end` is in the page cache (the chunk ending there was read, or is
/// being read by someone else: either way it needs no hint of ours). Asks without reading more.
fn cached(file: &File, end: u64) -> bool {
    let Some(last) = end.checked_sub(1).and_then(|at| libc::off_t::try_from(at).ok()) else {
        return false;
    };
    let mut byte = 0u8;
    let buffer = libc::iovec { iov_base: (&raw mut byte).cast(), iov_len: 1 };
    // SAFETY: the one iovec points at `byte`, which outlives the call; preadv2 writes at most
    // one byte there. RWF_NOWAIT makes it fail with EAGAIN rather than read from the disk.
    let got = unsafe { libc::preadv2(file.as_raw_fd(), &buffer, 1, last, libc::RWF_NOWAIT) };
    got == 1
}

/// `read_head_paced` from a thread of its own, returning at once (a hint: failures are dropped
/// and the thread is not joined).
pub fn read_head_paced_in_background(path: PathBuf, len: u64, chunk: u64) {
    let read = move || drop(read_head_paced(&path, len, chunk));
    drop(std::thread::Builder::new().name("mxcp-compact-prefetch".to_owned()).spawn(read));
}

/// Starts the reads of `range` and returns whether it asked for any (not for an empty range: to
/// the kernel, a length of 0 means the whole rest of the file).
fn will_need(file: &File, range: Range<u64>) -> bool {
    if range.is_empty() {
        return false;
    }
    advise(file, range.start, range.end - range.start, libc::POSIX_FADV_WILLNEED);
    true
}

fn advise(file: &File, offset: u64, len: u64, advice: libc::c_int) {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open for as long
    // as `file` is borrowed. Advice is a hint, so its result is ignored.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, advice) };
}

/// Keeps the kernel reading a bounded distance ahead of the scan, from its own thread.
///
/// A fault on a page of a mapping that is not cached waits for the read of the pages around it,
/// and the kernel's own read-ahead does not run ahead of mapped scans as it does of `read(2)`: on
/// a cold cache each worker would alternate between waiting for the disk and deciding. The
/// hints (`POSIX_FADV_WILLNEED`, which starts the reads and returns) keep the disk busy while the
/// workers decide. They are issued in order, at most `ahead` bytes beyond the furthest window a
/// worker has begun, so a scan that stops early (an in-place prefix probe) reads little extra.
pub struct Readahead<'f> {
    file: &'f File,
    /// The mapped file, to ask which pages are cached already.
    data: &'f [u8],
    page: usize,
    span: Range<u64>,
    ahead: u64,
    chunk: u64,
    frontier: AtomicU64,
    done: AtomicBool,
}

impl<'f> Readahead<'f> {
    pub fn new(file: &'f File, data: &'f [u8], span: Range<usize>, ahead: usize, chunk: usize) -> Readahead<'f> {
        let span = span.start as u64..span.end.min(data.len()) as u64;
        let frontier = AtomicU64::new(span.start);
        // SAFETY: sysconf only reads its argument.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        Readahead {
            file,
            data,
            page,
            span,
            ahead: ahead as u64,
            chunk: chunk.max(4096) as u64,
            frontier,
            done: AtomicBool::new(false),
        }
    }

    /// A worker began deciding the bytes at `offset`.
    pub fn reached(&self, offset: usize) {
        self.frontier.fetch_max(offset as u64, Ordering::Relaxed);
    }

    /// The scan is over (or stopped): the thread in `run` returns.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// Issues the hints until the span is covered or `finish` is called.
    pub fn run(&self) {
        let mut requested = self.span.start;
        while requested < self.span.end && !self.done.load(Ordering::Relaxed) {
            let wanted = self.frontier.load(Ordering::Relaxed).saturating_add(self.ahead).min(self.span.end);
            if requested >= wanted {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            let len = self.chunk.min(self.span.end - requested);
            // On a warm cache the hints would only cost the workers CPU.
            if !self.cached(requested as usize, len as usize) {
                will_need(self.file, requested..requested + len);
            }
            requested += len;
        }
    }

    /// Whether the pages holding the first and the last byte of the chunk are cached (then the
    /// kernel's own read-ahead has, or had, the rest in hand).
    fn cached(&self, offset: usize, len: usize) -> bool {
        [offset, offset + len.max(1) - 1].into_iter().all(|at| self.page_cached(at))
    }

    fn page_cached(&self, at: usize) -> bool {
        if at >= self.data.len() {
            return false;
        }
        let address = (self.data.as_ptr() as usize + at) & !(self.page - 1);
        let mut resident = 0u8;
        // SAFETY: the address is the start of the page holding `data[at]`, inside the mapping
        // (which starts on a page boundary and lives as long as `data`); mincore only reads the
        // page tables and page cache for that one page and writes one byte into `resident`.
        let status = unsafe { libc::mincore(address as *mut libc::c_void, 1, &mut resident) };
        status == 0 && resident & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line windows of a grid, as the searcher builds them.
    fn line_windows(data: &[u8], span: Range<usize>, target: usize) -> Vec<Range<usize>> {
        window_grid(span.clone(), target, target, 1).into_iter().map(|w| line_aligned(data, &span, w)).collect()
    }

    #[test]
    fn grid_windows_cover_the_span_in_order_and_never_split_a_line() {
        let data = b"aaaa\nbb\ncccccccccc\nd\n\npartial";
        for from in [0, 5, 8] {
            for target in 1..data.len() + 2 {
                let cut = line_windows(data, from..data.len(), target);
                assert_eq!(cut.first().map(|w| w.start), Some(from));
                assert_eq!(cut.last().map(|w| w.end), Some(data.len()));
                for pair in cut.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    let boundary = pair[0].end;
                    assert!(boundary == from || boundary == data.len() || data[boundary - 1] == b'\n');
                }
            }
        }
        assert!(window_grid(3..3, 4, 4, 1).is_empty());
    }

    #[test]
    fn windows_shrink_towards_the_end_of_the_span_so_workers_finish_together() {
        let (largest, smallest) = (16 << 20, 512 << 10);
        for (len, workers) in [(1usize << 30, 2), (51 << 20, 2), (3 << 20, 4), (100, 2)] {
            let grid = window_grid(7..7 + len, largest, smallest, workers);
            assert_eq!(grid.first().map(|w| w.start), Some(7));
            assert_eq!(grid.last().map(|w| w.end), Some(7 + len));
            assert!(grid.windows(2).all(|pair| pair[0].end == pair[1].start));
            assert!(grid.iter().all(|w| !w.is_empty() && w.len() <= largest));
            // Never growing, and never below the floor except the very last piece.
            assert!(grid.windows(2).all(|pair| pair[0].len() >= pair[1].len()));
            assert!(grid[..grid.len() - 1].iter().all(|w| w.len() >= smallest.min(len)));
            // Whatever is left when a worker takes its last window is shared among all of them.
            let tail: usize = grid.iter().rev().take(2 * workers).map(|w| w.len()).sum();
            assert!(tail <= (4 * workers * smallest).max(len / 2), "{len} {workers}: {tail}");
        }
        assert_eq!(window_grid(0..1 << 30, 16 << 20, 512 << 10, 2)[0].len(), 16 << 20);
    }

    #[test]
    fn a_line_longer_than_a_window_belongs_to_the_window_it_starts_in() {
        let data = b"a\nbbbbbbbbbbbbbbbbbbbb\nc\n";
        // The long line starts at 2, inside the first window [0, 4); "c" starts inside [20, 24).
        let cut = line_windows(data, 0..data.len(), 4);
        assert_eq!(cut[0], 0..23);
        assert!(cut[1..5].iter().all(|w| w.is_empty()));
        assert_eq!(cut[5], 23..25);
        assert_eq!(cut.len(), 7);
        assert!(cut[6].is_empty());
    }

    #[test]
    fn readahead_covers_the_span_and_stops_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, vec![b'x'; 64 << 10]).unwrap();
        let file = File::open(&path).unwrap();
        let map = LogMap::map(&file, 64 << 10, &path).unwrap();
        let data = map.bytes();
        let ahead = Readahead::new(&file, data, 0..64 << 10, 16 << 10, 4096);
        ahead.reached(64 << 10);
        ahead.run();
        // Just written, so cached: the whole first and last page.
        assert!(ahead.cached(0, 64 << 10));
        assert!(!ahead.cached(0, (64 << 10) + 1), "past the end is never cached");
        let stalled = Readahead::new(&file, data, 0..64 << 10, 4096, 4096);
        stalled.finish();
        stalled.run();
    }

    /// `read` refuses a directory, a missing file and a FIFO without a writer (opened without
    /// blocking, then refused); returns the FIFO, made in `dir`.
    fn refuses_what_is_not_a_regular_file(dir: &Path, read: impl Fn(&Path) -> Result<()>) -> PathBuf {
        assert!(matches!(read(dir), Err(Error::NotRegularFile { .. })));
        assert!(read(&dir.join("missing.jsonl")).is_err());
        let fifo = dir.join("fifo.jsonl");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path only.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(matches!(read(&fifo), Err(Error::NotRegularFile { .. })));
        fifo
    }

    #[test]
    fn the_paced_prefetch_needs_a_regular_file_and_takes_any_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, vec![b'x'; 64 << 10]).unwrap();
        for (len, chunk) in [(32 << 10, 4096), (1 << 30, 4096), (1 << 30, 5000), (0, 4096), (100, 0)] {
            read_head_paced(&path, len, chunk).unwrap();
        }
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, b"").unwrap();
        read_head_paced(&empty, 1 << 20, 4096).unwrap();
        let fifo = refuses_what_is_not_a_regular_file(dir.path(), |path| read_head_paced(path, 1 << 20, 4096));
        read_head_paced_in_background(fifo, 1 << 20, 4096);
    }

    #[test]
    fn the_paced_prefetch_brings_an_evicted_head_back_into_the_cache() {
        // On disk, not /tmp: a tmpfs keeps every page whatever it is advised.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        // On Linux 6.18 the page past the head was found cached after the prefetch in about one
        // run in six, whatever the prefetch asked for (cause not found; see issue 11's notes),
        // so the scene is played on up to five fresh files: a prefetch that read past the head
        // would fail on every one.
        let nothing_past = (0..5).any(|attempt| {
            let path = dir.path().join(format!("log-{attempt}.jsonl"));
            std::fs::write(&path, vec![b'x'; 256 << 10]).unwrap();
            let file = File::open(&path).unwrap();
            file.sync_all().unwrap();
            assert!(cached(&file, 256 << 10), "a file just written is cached");
            assert!(!cached(&file, 0), "no byte ends at 0");
            assert!(evict_head(&file), "clean pages are dropped when advised (50 tries in 1 s)");
            read_head_paced(&path, 128 << 10, 16 << 10).unwrap();
            assert!(cached(&file, 16 << 10) && cached(&file, 128 << 10), "the head was read");
            !cached(&file, 192 << 10)
        });
        assert!(nothing_past, "and nothing past it, on one of five files");
    }

    /// Drops `file`'s pages from the cache. DONTNEED is advice: a page still under writeback or
    /// in use elsewhere may stay for a moment (a fresh CI clone saw that once), so it asks again.
    fn evict_head(file: &File) -> bool {
        (0..50).any(|_| {
            advise(file, 0, 0, libc::POSIX_FADV_DONTNEED);
            // A probe that misses starts the read of its own page (only that one, when random).
            advise(file, 0, 0, libc::POSIX_FADV_RANDOM);
            let gone = !cached(file, 64 << 10);
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            gone
        })
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
