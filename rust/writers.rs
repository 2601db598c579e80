//! Find processes that hold a log open for writing, as `lsof` would, through /proc.
//!
//! Replacing a file by rename is safe for MXCP's writer, which reopens the file by path for
//! every batch, but not for a writer that keeps one descriptor open for hours (a Python
//! `FileHandler`, a log shipper): its later writes would land in the unlinked old inode and be
//! lost. Such holders are found by reading every `/proc/PID/fd/N` link that points at the file
//! and checking its `fdinfo` flags for write access. An open that is gone on a second look a
//! moment later (even if the process has reopened the file since) is a writer that opens per
//! batch and is ignored. Processes we may not inspect
//! (other users' when not root) cannot be seen; that limit is documented, not hidden.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::thread;
use std::time::Duration;

/// A process holding the file open for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub fd: u32,
    pub command: String,
}

/// Long-lived writers of `target` (a canonical path): open file descriptions for writing that
/// are still open after `settle`. A writer that reopens the file per batch gets a new open file
/// description each time, so it is told apart exactly (kernel `kcmp` on a duplicate taken with
/// `pidfd_getfd`), even when it reuses the same descriptor number; where those calls are not
/// allowed, the same (pid, fd) seen twice counts as long-lived.
pub fn long_lived_writers(target: &Path, settle: Duration) -> Vec<Holder> {
    let first = writers(target);
    if first.is_empty() {
        return first;
    }
    let mut held = Vec::new();
    for holder in first {
        match duplicate(&holder) {
            Ok(dup) => held.push((holder, Some(dup))),
            // Closed since we looked: a writer that opens per batch.
            Err(Some(libc::EBADF | libc::ESRCH)) => {}
            // Not allowed or not supported here: fall back to comparing (pid, fd).
            Err(_) => held.push((holder, None)),
        }
    }
    // Three looks across `settle`: a batch writer stalled by a busy machine may hold one open
    // for a while, but not across all of them.
    for _ in 0..3 {
        thread::sleep(settle / 3);
        let now = writers(target);
        held.retain(|(holder, dup)| match dup {
            Some(dup) => now.iter().any(|seen| seen.pid == holder.pid && same_description(dup, seen)),
            None => now.contains(holder),
        });
        if held.is_empty() {
            break;
        }
    }
    held.into_iter().map(|(holder, _)| holder).collect()
}

/// Our own duplicate of the holder's open file description, or the errno that prevented it.
fn duplicate(holder: &Holder) -> Result<OwnedFd, Option<i32>> {
    // SAFETY: plain system calls with integer arguments; each returned descriptor is checked and
    // immediately owned, so it is closed exactly once.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, holder.pid as libc::c_long, 0 as libc::c_long);
        if pidfd < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as RawFd);
        let dup = libc::syscall(
            libc::SYS_pidfd_getfd,
            pidfd.as_raw_fd() as libc::c_long,
            holder.fd as libc::c_long,
            0 as libc::c_long,
        );
        if dup < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error());
        }
        Ok(OwnedFd::from_raw_fd(dup as RawFd))
    }
}

/// Whether `holder`'s descriptor is the very open file description we duplicated.
fn same_description(dup: &OwnedFd, holder: &Holder) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp only compares kernel objects named by pids and descriptor numbers.
    let order = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            std::process::id() as libc::c_long,
            holder.pid as libc::c_long,
            KCMP_FILE,
            dup.as_raw_fd() as libc::c_long,
            holder.fd as libc::c_long,
        )
    };
    order == 0
}

/// Every descriptor, in every process we can see, that is open for writing on `target`.
pub fn writers(target: &Path) -> Vec<Holder> {
    write_descriptors(|fd| fs::read_link(fd).is_ok_and(|link| link == target))
}

/// Processes holding the inode `(dev, ino)` open for writing, found by following each
/// `/proc/PID/fd/N` link to its inode: this also sees a file that was renamed or unlinked.
pub fn holders_of_inode(dev: u64, ino: u64) -> Vec<Holder> {
    use std::os::unix::fs::MetadataExt;
    write_descriptors(|fd| fs::metadata(fd).is_ok_and(|meta| meta.dev() == dev && meta.ino() == ino))
}

/// Descriptors of other processes that are open for writing and satisfy `points_at`.
fn write_descriptors(points_at: impl Fn(&Path) -> bool) -> Vec<Holder> {
    let own = std::process::id();
    let Ok(processes) = fs::read_dir("/proc") else { return Vec::new() };
    let mut holders = Vec::new();
    for process in processes.flatten() {
        let Some(pid) = process.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(fds) = fs::read_dir(process.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let Some(number) = fd.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
                continue;
            };
            if points_at(&fd.path()) && opened_for_writing(pid, number) {
                let command = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned();
                holders.push(Holder { pid, fd: number, command });
            }
        }
    }
    holders
}

fn opened_for_writing(pid: u32, fd: u32) -> bool {
    let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else { return false };
    info.lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|flags| i32::from_str_radix(flags.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_ACCMODE != libc::O_RDONLY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_holding_the_file_for_append_is_found_and_a_reader_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"").unwrap();
        let target = fs::canonicalize(&path).unwrap();
        let mut writer = Command::new("sh")
            .arg("-c")
            .arg(format!("exec 3>>'{}'; read _", target.display()))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = Command::new("sh")
            .arg("-c")
            .arg(format!("exec 4<'{}'; read _", target.display()))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut found = Vec::new();
        for _ in 0..100 {
            found = long_lived_writers(&target, Duration::from_millis(30));
            if !found.is_empty() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        writer.kill().unwrap();
        reader.kill().unwrap();
        let _ = writer.wait();
        let _ = reader.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].pid, found[0].fd), (writer.id(), 3));
        assert_eq!(found[0].command, "sh");
    }

    #[test]
    fn a_writer_that_reopens_per_batch_is_not_long_lived() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"").unwrap();
        let target = fs::canonicalize(&path).unwrap();
        // Reopens the file by path in a tight loop, always on descriptor 3.
        let mut writer = Command::new("sh")
            .arg("-c")
            .arg(format!("while :; do exec 3>>'{0}'; echo x >&3; exec 3>&-; done", target.display()))
            .spawn()
            .unwrap();
        // The loop holds the file only part of the time: look until it is caught holding it.
        let mut seen_open = false;
        for _ in 0..2000 {
            if !writers(&target).is_empty() {
                seen_open = true;
                break;
            }
        }
        let mut long_lived = Vec::new();
        for _ in 0..8 {
            long_lived.extend(long_lived_writers(&target, Duration::from_millis(150)));
        }
        writer.kill().unwrap();
        let _ = writer.wait();
        assert!(seen_open, "the writer should have been seen holding the file at least once");
        assert!(long_lived.is_empty(), "{long_lived:?}");
    }

    #[test]
    fn nobody_holds_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"x\n").unwrap();
        assert!(writers(&fs::canonicalize(&path).unwrap()).is_empty());
    }
}
