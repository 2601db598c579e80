//! Find processes that hold a log open for writing, as `lsof` would, through /proc.
//!
//! Replacing a file by rename is safe for MXCP's writer, which reopens the file by path for
//! every batch, but not for a writer that keeps one descriptor open for hours (a Python
//! `FileHandler`, a log shipper): its later writes would land in the unlinked old inode and be
//! lost. Such holders are found by reading every `/proc/PID/fd/N` link that points at the file
//! and checking its `fdinfo` flags for write access. An open that vanishes on a second look a
//! moment later is a writer that opens per batch and is ignored. Processes we may not inspect
//! (other users' when not root) cannot be seen; that limit is documented, not hidden.

use std::fs;
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

/// Long-lived writers of `target` (a canonical path): descriptors open for writing that are
/// still open after `settle`.
pub fn long_lived_writers(target: &Path, settle: Duration) -> Vec<Holder> {
    let first = writers(target);
    if first.is_empty() {
        return first;
    }
    thread::sleep(settle);
    let second = writers(target);
    first.into_iter().filter(|holder| second.contains(holder)).collect()
}

/// Every descriptor, in every process we can see, that is open for writing on `target`.
pub fn writers(target: &Path) -> Vec<Holder> {
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
            if fs::read_link(fd.path()).is_ok_and(|link| link == target) && opened_for_writing(pid, number) {
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
            found = long_lived_writers(&target, Duration::from_millis(10));
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
    fn nobody_holds_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"x\n").unwrap();
        assert!(writers(&fs::canonicalize(&path).unwrap()).is_empty());
    }
}
