//! The sizes that shape a pass: scan windows, when to use threads, the temp's write buffer, and
//! when and how the temp is written with O_DIRECT.
//!
//! Every run uses `Tuning::PRODUCTION`; nothing switches sizes behind `cfg(test)`. Tests that
//! want window and chunk boundaries inside small inputs pass `Tuning::SMALL` explicitly, and
//! every production size also has tests on inputs large enough to take it (see the tests of
//! `output`, `compact` and `direct`, and `tests/test_order.py`), so no path that real logs take
//! goes untested.

/// Sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Lines are decided in windows of at most this size; each window's kept runs are written
    /// before later windows' are held, which bounds memory whatever the file size.
    pub window_bytes: usize,
    /// Windows shrink towards the end of a file (see `source::window_grid`), down to this size,
    /// so that every core works until the file is done, a small segment's too.
    pub min_window_bytes: usize,
    /// Below this, threads cost more than they save.
    pub parallel_min_bytes: usize,
    /// Small kept runs are gathered into a buffer of this size before they are written.
    pub buffer_bytes: usize,
    /// Copies of logs at least this big are written with O_DIRECT from a writer thread; smaller
    /// ones are not worth a thread, and their pages are cheap.
    pub direct_min_bytes: u64,
    /// Size of each of the O_DIRECT writer's buffers (a multiple of 4096).
    pub direct_chunk_bytes: usize,
    /// How far ahead of the scan the kernel is asked to read (see `source::Readahead`). Deep
    /// enough that a window's reads have finished when a worker begins it: on a cold 1 GiB log,
    /// paired runs took 1.25 s at 32 MiB, 1.05 s at 128 MiB and 0.98 s at 256 MiB (cold `cat`
    /// about 0.9 s). Page cache only: no memory of ours.
    pub readahead_bytes: usize,
    /// Size of each read-ahead request; spans no longer than one are left to the kernel's own
    /// read-ahead.
    pub readahead_chunk_bytes: usize,
    /// Size of each read of the start-up prefetch (see `source::read_head_paced`), which has two
    /// in flight while Python imports. Cold 1 GiB dry runs, 10 of each shuffled with cold `cat`
    /// (median time to the scan's start, then of the whole run): none 0.119 s, 1.023 s; 128 KiB
    /// 0.125 s, 0.932 s; 256 KiB 0.139 s, 0.903 s; 512 KiB 0.159 s, 0.916 s; 1 MiB 0.36-0.39 s
    /// to the start.
    pub prefetch_chunk_bytes: usize,
    /// Size of each read of the next file's head while this one is compacted, two in flight
    /// (`source::read_head_paced` again). Hinted all at once, the next file's head went to the
    /// disk ahead of the current file's own reads: on the daily run's cold directory, the oldest
    /// segment (5.7 MiB) took 36-53 ms instead of 17-20 ms without any hint.
    pub next_file_chunk_bytes: usize,
}

impl Tuning {
    pub const PRODUCTION: Tuning = Tuning {
        window_bytes: 16 << 20,
        min_window_bytes: 512 << 10,
        parallel_min_bytes: 2 << 20,
        buffer_bytes: 1 << 20,
        direct_min_bytes: 8 << 20,
        direct_chunk_bytes: 4 << 20,
        readahead_bytes: 256 << 20,
        readahead_chunk_bytes: 4 << 20,
        prefetch_chunk_bytes: 256 << 10,
        next_file_chunk_bytes: 1 << 20,
    };

    /// Sizes small enough that windows, threads, buffer flushes and O_DIRECT chunks all occur
    /// within a test's few hundred KiB.
    pub const SMALL: Tuning = Tuning {
        window_bytes: 64 << 10,
        min_window_bytes: 16 << 10,
        parallel_min_bytes: 128 << 10,
        buffer_bytes: 8 << 10,
        direct_min_bytes: 1,
        direct_chunk_bytes: 16 << 10,
        readahead_bytes: 64 << 10,
        readahead_chunk_bytes: 16 << 10,
        prefetch_chunk_bytes: 16 << 10,
        next_file_chunk_bytes: 16 << 10,
    };
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning::PRODUCTION
    }
}
