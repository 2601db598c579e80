//! Find processes that hold a log open for writing, as `lsof` would, through /proc, and tell a
//! writer that keeps one descriptor for hours from one that reopens the file per batch.
//!
//! Replacing a file by rename is safe for MXCP's writer, which opens the file by path for every
//! batch, but not for a writer that keeps one open file description (a Python `FileHandler`, a
//! log shipper): its later writes would land in the unlinked old inode and be lost. Holders are
//! found by reading every `/proc/PID/fd/N` link that points at the file and checking its `fdinfo`
//! flags for write access. Processes we may not inspect (other users' when not root) cannot be
//! seen; that limit is documented, not hidden.
//!
//! Invariant: a holder is reported as long-lived only if the open file description it held when
//! first seen was still held at every look for the whole watch ([`WRITER_WATCH`]). A writer that
//! closes it within the watch is a reopening writer, however long it held it and whatever
//! descriptor number it gets next time, and the watch ends as soon as every such writer has
//! closed, so a cleanup caught in the middle of MXCP's batch waits only for the rest of it.
//!
//! A description is recognised exactly by duplicating it (`pidfd_getfd`) and comparing the
//! holder's descriptor with our duplicate (`kcmp`): a reopen is a new description even on the
//! same number. Where those calls are refused (Yama's ptrace_scope, a container's seccomp
//! profile, an old kernel), the (pid, fd) pair is looked at every [`WATCH_POLL`] instead, and a
//! pair missing at any look is a writer that closed, even if it is back at the next one. MXCP
//! reuses the same number for each batch, so only the gaps between batches tell the two apart;
//! `fdinfo`'s `pos:` would not help: an appender's position is the end of the file after each
//! write, whether it reopened (Python's append mode even seeks there at once) or not.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// How long one open file description must stay held before its holder counts as long-lived.
///
/// MXCP's writer flushes a batch at least every second (or every 10 records) and holds the file
/// only while it writes that batch: milliseconds, and well under a second even when a busy
/// 2-core machine or a pause of the server's interpreter stretches it. Five seconds is five of
/// its batch intervals: a description held across what would have been several of its own
/// flushes does not belong to a batch. A reopening writer costs only the rest of its current
/// batch; a truly long-lived holder costs the full watch once per file with something to delete
/// (files we leave alone are never watched), then the file is reported.
pub const WRITER_WATCH: Duration = Duration::from_secs(5);

/// Time between looks at a watched descriptor. An exact look is one `kcmp` per holder and a
/// fallback look a `readlink` and an `fdinfo` read, a few microseconds either way, so looking
/// every millisecond costs little CPU, ends the wait within a millisecond of the close, and
/// gives the fallback thousands of chances over a watch to see a gap between two batches.
const WATCH_POLL: Duration = Duration::from_millis(1);

/// A process holding the file open for writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub fd: u32,
    pub command: String,
}

/// Long-lived writers of `target` (a canonical path): holders whose open file description for
/// writing stays held for the whole `watch` (see the module doc; production uses
/// [`WRITER_WATCH`]). Returns as soon as every holder seen has closed.
pub fn long_lived_writers(target: &Path, watch: Duration) -> Vec<Holder> {
    watch_writers(target, watch, duplicate)
}

/// [`long_lived_writers`] with the way of duplicating a holder's descriptor passed in, so that
/// tests can refuse it as a kernel would and exercise the (pid, fd) fallback.
fn watch_writers(
    target: &Path,
    watch: Duration,
    duplicate: impl Fn(&Holder) -> Result<OwnedFd, Option<i32>>,
) -> Vec<Holder> {
    let first = writers(target);
    if first.is_empty() {
        return first;
    }
    // Counted from the end of the first look, so a holder returned was seen over the whole watch.
    let deadline = Instant::now() + watch;
    let watched: Vec<Watched> =
        first.into_iter().filter_map(|holder| Watched::new(holder, target, &duplicate)).collect();
    let held = outlasting(watched, deadline, WATCH_POLL, |watched| watched.still_held(target));
    held.into_iter().map(|watched| watched.holder).collect()
}

/// How a holder's open file description is recognised at each look.
enum Identity {
    /// Exactly: our duplicate of it, compared with `kcmp`.
    Description(OwnedFd),
    /// Only by (pid, fd), when duplicating or comparing is not allowed here.
    Number,
}

struct Watched {
    holder: Holder,
    identity: Identity,
}

impl Watched {
    /// `None` when the holder closed the descriptor before we could duplicate it: a batch writer.
    fn new(holder: Holder, target: &Path, duplicate: impl Fn(&Holder) -> Result<OwnedFd, Option<i32>>) -> Option<Self> {
        let identity = match duplicate(&holder) {
            Err(Some(libc::EBADF | libc::ESRCH)) => return None,
            // Not allowed or not supported here.
            Err(_) => Identity::Number,
            // The number was reused since we listed it (a shell's builtin redirection restores its
            // stdout): the description we saw is closed, and the new one must not be watched.
            Ok(dup) if !writes_to(&dup, target) => return None,
            // A duplicate is only useful if kcmp can compare it (it may be missing from the kernel).
            Ok(dup) => match same_description(&dup, holder.pid, holder.fd) {
                None => Identity::Number,
                Some(_) => Identity::Description(dup),
            },
        };
        Some(Watched { holder, identity })
    }

    fn still_held(&self, target: &Path) -> bool {
        let Holder { pid, fd, .. } = self.holder;
        match &self.identity {
            Identity::Description(dup) => holds_description(dup, pid, fd),
            Identity::Number => {
                fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|link| link == target)
                    && opened_for_writing(pid, fd)
            }
        }
    }
}

/// The items of `pending` that pass `held` at every look, one look every `poll`, until a look
/// that starts at or after `deadline`; an item that fails one look is dropped for good, even if
/// it would pass the next (a reopen). Returns early once nothing is left.
fn outlasting<T>(mut pending: Vec<T>, deadline: Instant, poll: Duration, mut held: impl FnMut(&T) -> bool) -> Vec<T> {
    while !pending.is_empty() {
        thread::sleep(poll);
        let looked_at = Instant::now();
        pending.retain(&mut held);
        if looked_at >= deadline {
            break;
        }
    }
    pending
}

/// Whether process `pid` still holds the open file description `dup` duplicates: at `fd`, the
/// quick check, else at any descriptor it may have been moved to (`dup2` and close). When `kcmp`
/// cannot answer, it counts as held: reporting a writer is safer than losing its lines.
fn holds_description(dup: &OwnedFd, pid: u32, fd: u32) -> bool {
    match same_description(dup, pid, fd) {
        Some(true) | None => true,
        Some(false) => fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten()
                .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()))
                .any(|other| other != fd && same_description(dup, pid, other) == Some(true))
        }),
    }
}

/// Whether our duplicate `dup` is open for writing on `target`, judged as [`writers`] judges.
fn writes_to(dup: &OwnedFd, target: &Path) -> bool {
    let fd = dup.as_raw_fd();
    fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|link| link == target)
        && u32::try_from(fd).is_ok_and(|fd| opened_for_writing(std::process::id(), fd))
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

/// Whether descriptor `fd` of process `pid` is the very open file description `dup` duplicates:
/// `Some(false)` also when that descriptor or process is gone, `None` when `kcmp` cannot answer
/// (not built into the kernel, not permitted).
fn same_description(dup: &OwnedFd, pid: u32, fd: u32) -> Option<bool> {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp only compares kernel objects named by pids and descriptor numbers; it reads
    // and writes no memory of ours.
    let order = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            std::process::id() as libc::c_long,
            pid as libc::c_long,
            KCMP_FILE,
            dup.as_raw_fd() as libc::c_long,
            fd as libc::c_long,
        )
    };
    if order >= 0 {
        return Some(order == 0);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EBADF | libc::ESRCH) => Some(false),
        _ => None,
    }
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

    /// A kernel that refuses `pidfd_getfd`, as Yama or a container's seccomp profile would.
    fn refused(_: &Holder) -> Result<OwnedFd, Option<i32>> {
        Err(Some(libc::EPERM))
    }

    fn spawn_shell(script: &str) -> std::process::Child {
        Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().unwrap()
    }

    /// Waits until some process is seen holding `target`, so that the next watch has a holder.
    fn wait_until_held(target: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !writers(target).is_empty() {
                return true;
            }
            thread::sleep(Duration::from_micros(200));
        }
        false
    }

    #[test]
    fn a_writer_that_reopens_per_batch_and_holds_each_batch_for_a_while_is_not_long_lived() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"").unwrap();
        let target = fs::canonicalize(&path).unwrap();
        // MXCP-like batches on descriptor 3 each time, held 20-150 ms (more than the 100 ms between
        // the old code's looks), with a few milliseconds between batches.
        let mut writer = spawn_shell(&format!(
            "while :; do for hold in 0.02 0.15 0.08 0.12; do exec 3>>'{0}'; echo a >&3; sleep $hold 3>&-; \
             echo b >&3; exec 3>&-; sleep 0.003; done; done",
            target.display()
        ));
        let mut watched = 0;
        let mut longest = Duration::ZERO;
        let mut long_lived = Vec::new();
        for round in 0..16 {
            if !wait_until_held(&target) {
                break;
            }
            watched += 1;
            let started = Instant::now();
            // Even rounds exactly (pidfd_getfd + kcmp), odd ones by (pid, fd).
            long_lived.extend(if round % 2 == 0 {
                long_lived_writers(&target, Duration::from_secs(2))
            } else {
                watch_writers(&target, Duration::from_secs(2), refused)
            });
            longest = longest.max(started.elapsed());
        }
        writer.kill().unwrap();
        let _ = writer.wait();
        assert_eq!(watched, 16, "the writer should have been caught holding the file every round");
        assert!(long_lived.is_empty(), "{long_lived:?}");
        // Each watch ends when the batch closes, not when the watch runs out.
        assert!(longest < Duration::from_secs(1), "{longest:?}");
    }

    #[test]
    fn the_fallback_still_finds_a_long_lived_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"").unwrap();
        let target = fs::canonicalize(&path).unwrap();
        let mut writer = spawn_shell(&format!("exec 3>>'{}'; read _", target.display()));
        let held = wait_until_held(&target);
        let found = watch_writers(&target, Duration::from_millis(50), refused);
        writer.kill().unwrap();
        let _ = writer.wait();
        assert!(held);
        assert_eq!(found.iter().map(|holder| (holder.pid, holder.fd)).collect::<Vec<_>>(), [(writer.id(), 3)]);
    }

    #[test]
    fn a_long_lived_description_moved_to_another_descriptor_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"").unwrap();
        let target = fs::canonicalize(&path).unwrap();
        // dup2 to 5 and close 3 during the watch: the same description, still held.
        let mut writer = spawn_shell(&format!("exec 3>>'{}'; sleep 0.2; exec 5>&3 3>&-; read _", target.display()));
        let held = wait_until_held(&target);
        let found = long_lived_writers(&target, Duration::from_millis(600));
        let after = writers(&target);
        writer.kill().unwrap();
        let _ = writer.wait();
        assert!(held);
        assert_eq!(found.iter().map(|holder| holder.pid).collect::<Vec<_>>(), [writer.id()], "{found:?}");
        assert_eq!(after.iter().map(|holder| holder.fd).collect::<Vec<_>>(), [5], "the shell should have moved it");
    }

    #[test]
    fn a_descriptor_missing_at_one_look_is_dropped_even_if_back_at_the_next() {
        // Scripted looks: always held; missing once then back (a reopen on the same number, as the
        // fallback sees it); missing at the first look.
        let scripts: [&dyn Fn(usize) -> bool; 3] = [&|_| true, &|look| look != 3, &|look| look != 0];
        let looks = std::cell::RefCell::new(vec![Vec::new(); 3]);
        let deadline = Instant::now() + Duration::from_millis(200);
        let held = outlasting(vec![0, 1, 2], deadline, Duration::from_millis(1), |&item: &usize| {
            let mut looks = looks.borrow_mut();
            looks[item].push(Instant::now());
            scripts[item](looks[item].len() - 1)
        });
        let looks = looks.into_inner();
        assert_eq!(held, [0]);
        assert_eq!((looks[1].len(), looks[2].len()), (4, 1), "a dropped item is not looked at again");
        assert!(looks[0].last().is_some_and(|&last| last >= deadline), "the last look is at or after the deadline");
    }

    #[test]
    fn the_watch_ends_as_soon_as_everything_has_closed() {
        let started = Instant::now();
        let held = outlasting(vec![(); 3], started + Duration::from_secs(60), Duration::from_millis(1), |_| false);
        assert!(held.is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn nobody_holds_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        fs::write(&path, b"x\n").unwrap();
        assert!(writers(&fs::canonicalize(&path).unwrap()).is_empty());
    }
}
