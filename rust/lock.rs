//! The run lock: an exclusive `flock` on the audit directory itself, so that two mxcp-compact
//! runs never work in one directory at once.
//!
//! Locking the directory (opened read-only) leaves nothing behind, works in a directory we may
//! not write, and is released by the kernel when the holder exits, however it exits. The
//! holder's pid, for the "another mxcp-compact is running" message, is read from /proc/locks.
//! Only mxcp-compact takes this lock; MXCP itself never locks, so the lock cannot block it.
//! The same lock on a file (`lock_exclusively`) keeps two runs from appending to one archive,
//! and on a log being shifted in place keeps the passes that only read it (which take it
//! shared, `lock_shared_for_reading`) from reading its lines while they move.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often a waiting run tries again.
const RETRY: Duration = Duration::from_millis(50);

/// The lock on one directory, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
}

impl DirLock {
    /// Locks `dir`, waiting up to `wait` for another run to finish with it, unless `cancelled`
    /// is set meanwhile (Ctrl-C, `systemctl stop`): a stop request must not wait for the other
    /// run, and it ends the wait with `Error::Interrupted`.
    pub fn acquire(dir: &Path, wait: Duration, cancelled: Option<&AtomicBool>) -> Result<DirLock> {
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)
            .map_err(|e| Error::io(dir, "open the directory", e))?;
        lock_exclusively(&handle, dir, wait, cancelled)?;
        Ok(DirLock { _dir: handle })
    }
}

/// A shared lock on a log that something outside the core reads (the export's DuckDB load),
/// held until dropped: see `lock_shared_for_reading`.
#[derive(Debug)]
pub struct ReadLock {
    _log: File,
}

impl ReadLock {
    /// Opens `path` (without blocking on a FIFO put in its place) and waits for an in-place
    /// shift of it to settle.
    pub fn acquire(path: &Path) -> Result<ReadLock> {
        let log = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::io(path, "open", e))?;
        lock_shared_for_reading(&log, path)?;
        Ok(ReadLock { _log: log })
    }
}

/// Takes an exclusive `flock` on `handle` (the file or directory at `path`) for as long as
/// `handle` is open, waiting up to `wait` for the process holding one to let it go, unless
/// `cancelled` is set meanwhile (Ctrl-C, `systemctl stop`: a stop request must not wait for the
/// other run, and ends the wait with `Error::Interrupted`). `Error::Busy`, naming the holder's
/// pid, when the wait ends first.
pub fn lock_exclusively(handle: &File, path: &Path, wait: Duration, cancelled: Option<&AtomicBool>) -> Result<()> {
    lock_waiting(handle, path, libc::LOCK_EX, wait, cancelled)
}

/// Takes a shared `flock` on the log `handle` (at `path`) for as long as it is open, waiting
/// for an in-place shift of it (which holds it exclusively) to end: a pass that only reads
/// (a dry run, a survey, an export) must not read lines that are being moved.
pub fn lock_shared_for_reading(handle: &File, path: &Path) -> Result<()> {
    match lock_unless_held_here(handle, path, libc::LOCK_SH, None) {
        // A filesystem without `flock` cannot hold a run's directory lock either, so no shift
        // runs there: reading without the lock is what a reader did before it existed.
        Err(Error::Io { .. }) => Ok(()),
        locked => locked,
    }
}

/// Takes an exclusive `flock` on the log `handle` (at `path`) for an in-place shift, waiting
/// for the passes reading it to finish unless `cancelled` is set meanwhile.
pub fn lock_for_shifting(handle: &File, path: &Path, cancelled: Option<&AtomicBool>) -> Result<()> {
    lock_unless_held_here(handle, path, libc::LOCK_EX, cancelled)
}

/// Waits without end for the lock, unless this very process holds it (the run's own archive,
/// compacted after the run wrote it): that holder cannot let it go while we wait, and it is
/// not reading or moving the file meanwhile, so we go on without the lock.
fn lock_unless_held_here(
    handle: &File,
    path: &Path,
    operation: libc::c_int,
    cancelled: Option<&AtomicBool>,
) -> Result<()> {
    let mut wait = Duration::ZERO;
    loop {
        match lock_waiting(handle, path, operation, wait, cancelled) {
            Err(Error::Busy { .. }) if held_only_here(handle) => return Ok(()),
            Err(Error::Busy { .. }) => wait = 4 * RETRY,
            locked => return locked,
        }
    }
}

/// Whether this process is the only holder of a `flock` on `handle`'s inode (another reader
/// beside it must still be waited for).
fn held_only_here(handle: &File) -> bool {
    let holders = holder_pids(handle);
    !holders.is_empty() && holders.iter().all(|&pid| pid == std::process::id())
}

fn lock_waiting(
    handle: &File,
    path: &Path,
    operation: libc::c_int,
    wait: Duration,
    cancelled: Option<&AtomicBool>,
) -> Result<()> {
    // A wait too long to add to the clock is a wait without end.
    let deadline = Instant::now().checked_add(wait);
    loop {
        // SAFETY: flock only reads the descriptor, which `handle` keeps open for this call.
        if unsafe { libc::flock(handle.as_raw_fd(), operation | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io(path, "lock", error));
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(Error::Busy { dir: path.to_path_buf(), pid: holder_pid(handle) });
        }
        if cancelled.is_some_and(|cancelled| cancelled.load(Ordering::Relaxed)) {
            return Err(Error::Interrupted);
        }
        thread::sleep(RETRY);
    }
}

/// The pid holding a `flock` on `handle`'s inode, from /proc/locks.
fn holder_pid(handle: &File) -> Option<u32> {
    holder_pids(handle).into_iter().next()
}

/// Every pid holding a `flock` on `handle`'s inode (several share a `LOCK_SH`), from /proc/locks;
/// none when it cannot be read.
fn holder_pids(handle: &File) -> Vec<u32> {
    let Ok(meta) = handle.metadata() else { return Vec::new() };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else { return Vec::new() };
    let wanted = format!("{:02x}:{:02x}:{}", libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino());
    locks.lines().filter_map(|line| holder_in(line, &wanted)).collect()
}

/// The pid of a granted FLOCK entry (not a waiter, shown with `->`) on `inode`
/// (`MAJOR:MINOR:INODE` as /proc/locks prints it).
fn holder_in(line: &str, inode: &str) -> Option<u32> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [_, "FLOCK", _, _, pid, seen, ..] if *seen == inode => pid.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_a_directory_reports_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _held = DirLock::acquire(dir.path(), Duration::ZERO, None).unwrap();
        match DirLock::acquire(dir.path(), Duration::from_millis(120), None) {
            Err(error @ Error::Busy { pid, .. }) => {
                assert_eq!(pid, Some(std::process::id()));
                // The holder is this very process: its pid would point the user at themselves.
                assert!(
                    error.to_string().ends_with(": another compaction in this process is running on it"),
                    "{error}"
                );
            }
            other => panic!("expected Busy, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_stop_request_ends_a_wait_for_the_lock_at_once_even_a_wait_too_long_for_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let _held = DirLock::acquire(dir.path(), Duration::ZERO, None).unwrap();
        let cancelled = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| DirLock::acquire(dir.path(), Duration::MAX, Some(&cancelled)));
            std::thread::sleep(Duration::from_millis(150));
            assert!(!waiter.is_finished(), "Duration::MAX is a wait without end, not an overflow");
            let stopped_at = Instant::now();
            cancelled.store(true, Ordering::Relaxed);
            assert!(matches!(waiter.join().unwrap(), Err(Error::Interrupted)));
            assert!(stopped_at.elapsed() < Duration::from_secs(2));
        });
    }

    #[test]
    fn the_lock_leaves_nothing_in_the_directory_and_is_free_again_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), Duration::ZERO, None).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(held);
        DirLock::acquire(dir.path(), Duration::ZERO, None).unwrap();
    }

    /// util-linux's `flock MODE PATH` holding the lock for `seconds`, once it has it.
    fn held_by_another_process(path: &Path, mode: &str, seconds: &str) -> std::process::Child {
        let started = path.with_extension("started");
        let script = format!("touch '{}'; sleep {seconds}", started.display());
        let holder =
            std::process::Command::new("flock").arg(mode).arg(path).args(["sh", "-c", &script]).spawn().unwrap();
        while !started.exists() {
            thread::sleep(Duration::from_millis(5));
        }
        holder
    }

    #[test]
    fn a_reader_waits_for_another_process_shifting_the_log_and_readers_share() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, b"{}\n").unwrap();
        // Another process holds the log exclusively, as a shift does.
        let mut shifting = held_by_another_process(&path, "-x", "0.4");
        let waited = Instant::now();
        let reader = File::open(&path).unwrap();
        lock_shared_for_reading(&reader, &path).unwrap();
        assert!(waited.elapsed() >= Duration::from_millis(200), "it waited for the shift");
        assert!(shifting.wait().unwrap().success());
        let other_reader = File::open(&path).unwrap();
        lock_shared_for_reading(&other_reader, &path).unwrap();
        let mut shift = std::process::Command::new("flock").args(["-x", "-n"]).arg(&path).arg("true").spawn().unwrap();
        assert!(!shift.wait().unwrap().success(), "a shift waits for the readers");
    }

    #[test]
    fn a_lock_this_process_holds_on_a_log_does_not_make_it_wait_for_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.jsonl");
        std::fs::write(&path, b"{}\n").unwrap();
        let archive = File::open(&path).unwrap();
        lock_exclusively(&archive, &path, Duration::ZERO, None).unwrap();
        lock_for_shifting(&File::open(&path).unwrap(), &path, None).unwrap();
        lock_shared_for_reading(&File::open(&path).unwrap(), &path).unwrap();
    }

    #[test]
    fn a_shift_still_waits_for_another_process_reading_beside_this_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, b"{}\n").unwrap();
        let own_reader = File::open(&path).unwrap();
        lock_shared_for_reading(&own_reader, &path).unwrap();
        let mut other = held_by_another_process(&path, "-s", "5");
        let stop = AtomicBool::new(true);
        let error = lock_for_shifting(&File::open(&path).unwrap(), &path, Some(&stop)).unwrap_err();
        assert!(matches!(error, Error::Interrupted), "it waited (until stopped), not went on: {error}");
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[test]
    fn waiters_in_proc_locks_are_not_holders() {
        let inode = "fd:01:42";
        assert_eq!(holder_in("1: FLOCK  ADVISORY  WRITE 1234 fd:01:42 0 EOF", inode), Some(1234));
        assert_eq!(holder_in("1: -> FLOCK  ADVISORY  WRITE 99 fd:01:42 0 EOF", inode), None);
        assert_eq!(holder_in("2: POSIX  ADVISORY  WRITE 77 fd:01:42 0 EOF", inode), None);
        assert_eq!(holder_in("3: FLOCK  ADVISORY  WRITE 5 fd:01:43 0 EOF", inode), None);
    }
}
