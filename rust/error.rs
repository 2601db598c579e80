//! The one error type of the core. Every variant names the file it concerns, so a message
//! printed on its own line tells an operator what failed and where; the binding maps the
//! `kind()` of each to a standard Python exception in one place.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// An operating-system call failed on `path`; `action` says what we were doing.
    Io { path: PathBuf, action: &'static str, source: io::Error },
    /// No space (or quota) left while writing the compacted copy; nothing was changed.
    DiskFull { path: PathBuf },
    /// No space (or quota) left for the progress record an in-place compaction needs before it
    /// changes anything; nothing was changed.
    NoRoomToStart { path: PathBuf, log: PathBuf },
    /// Not a regular file (a directory, socket, device...).
    NotRegularFile { path: PathBuf },
    /// Replacing the file would split its hard links.
    HardLinked { path: PathBuf, links: u64 },
    /// The file shrank or was replaced while we read it; it was left as it is.
    ChangedUnderUs { path: PathBuf, what: String },
    /// Another mxcp-compact holds the lock on this directory.
    Busy { dir: PathBuf, pid: Option<u32> },
    /// The rewritten file cannot get the original's owner (we are not allowed to chown).
    OwnerNotPreserved { path: PathBuf, uid: u32, gid: u32 },
    /// A process keeps the file open for writing; a rename would send its writes to a dead inode.
    HeldOpen { path: PathBuf, pid: u32, command: String },
    /// An interrupted in-place compaction must be finished by a real run before a dry run.
    ResumePending { path: PathBuf },
    /// The progress record beside the log names another inode: the log may be a copy of a
    /// half-compacted one, whose lines must not be compacted as they are.
    ForeignShift { path: PathBuf, journal: PathBuf },
    /// Stopped on request (Ctrl-C) between windows; the file was left untouched.
    Interrupted,
    /// In-place compaction overwrites lines as it goes, so it cannot also archive them.
    ArchiveInPlace { path: PathBuf, archive: PathBuf },
    /// A compressed file that does not decompress (truncated, corrupt); left untouched.
    Corrupt { path: PathBuf, what: String },
    /// An in-place compaction failed before it changed the log: the log is as it was. (A
    /// copy-and-rename pass never changes its log before the swap, so its errors need no such
    /// word.)
    LogUnchanged(Box<Error>),
}

/// Coarse classes the Python binding maps to built-in exception types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Interrupted,
    NotFound,
    PermissionDenied,
    InvalidInput,
    /// No space left, and the file was left as it was (`DiskFull`, `NoRoomToStart`).
    NoSpace,
    /// Another process holds the lock (of a directory or an archive) past the wait.
    Busy,
    Other,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: &Path, action: &'static str, source: io::Error) -> Error {
        if matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) {
            return Error::DiskFull { path: path.to_path_buf() };
        }
        Error::Io { path: path.to_path_buf(), action, source }
    }

    /// Whether the error says the log was left exactly as it was by an in-place compaction.
    pub fn log_unchanged(&self) -> bool {
        matches!(self, Error::LogUnchanged(_))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::LogUnchanged(error) => error.kind(),
            Error::Io { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
                _ => ErrorKind::Other,
            },
            Error::OwnerNotPreserved { .. } => ErrorKind::PermissionDenied,
            Error::Interrupted => ErrorKind::Interrupted,
            Error::NotRegularFile { .. } | Error::HardLinked { .. } | Error::ArchiveInPlace { .. } => {
                ErrorKind::InvalidInput
            }
            Error::DiskFull { .. } | Error::NoRoomToStart { .. } => ErrorKind::NoSpace,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::ChangedUnderUs { .. }
            | Error::HeldOpen { .. }
            | Error::ResumePending { .. }
            | Error::ForeignShift { .. }
            | Error::Corrupt { .. } => ErrorKind::Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LogUnchanged(error) => error.fmt(f),
            Error::Io { path, action, source } => write!(f, "{}: cannot {action}: {}", shown(path), describe_io(source)),
            Error::DiskFull { path } => write!(
                f,
                "{}: no space left on the device while writing the compacted copy; the original is intact \
                 (free some space, or run `mxcp-compact log-cleanup --emergency`)",
                shown(path)
            ),
            Error::NoRoomToStart { path, log } => write!(
                f,
                "{}: no space left on the device for the progress record of the in-place compaction ({}), which \
                 must be written before anything is moved; the log is intact (free a few KiB on that filesystem, \
                 then run again)",
                shown(log),
                shown(path)
            ),
            Error::NotRegularFile { path } => write!(f, "{}: not a regular file", shown(path)),
            Error::HardLinked { path, links } => write!(
                f,
                "{}: has {links} hard links; replacing it would split them, so it was left untouched",
                shown(path)
            ),
            Error::ChangedUnderUs { path, what } => write!(f, "{}: {what} while being compacted; left untouched", shown(path)),
            Error::Busy { dir, pid } => match pid {
                // Two calls of one program (threads of an API user) hold locks of their own.
                Some(pid) if *pid == std::process::id() => {
                    write!(f, "{}: another compaction in this process is running on it", shown(dir))
                }
                Some(pid) => write!(f, "{}: another mxcp-compact is running (pid {pid})", shown(dir)),
                None => write!(f, "{}: another mxcp-compact is running", shown(dir)),
            },
            Error::HeldOpen { path, pid, command } => write!(
                f,
                "{}: held open for writing by pid {pid} ({command}); replacing it would lose that process's later \
                 writes, so it was left untouched (compact it with --in-place, or stop or reopen that writer)",
                shown(path)
            ),
            Error::Interrupted => write!(f, "interrupted; the file was left untouched"),
            Error::ArchiveInPlace { path, archive } => write!(
                f,
                "{}: in-place compaction cannot also archive to {}; left untouched",
                shown(path),
                shown(archive)
            ),
            Error::Corrupt { path, what } => write!(f, "{}: {what}; left untouched", shown(path)),
            Error::ResumePending { path } => write!(
                f,
                "{}: an interrupted in-place compaction is pending; run log-cleanup without --dry-run to finish it",
                shown(path)
            ),
            Error::ForeignShift { path, journal } => write!(
                f,
                "{}: {} is the progress record of an interrupted in-place compaction of another inode: \
                 this file may be a copy of that half-compacted log (its lines must not be compacted as \
                 they are; restore one saved before that run), or the log was replaced since (then \
                 delete the record); left untouched",
                shown(path),
                shown(journal)
            ),
            Error::OwnerNotPreserved { path, uid, gid } => write!(
                f,
                "{}: cannot give the compacted copy the original owner {uid}:{gid} (run as that user or as root); left untouched",
                shown(path)
            ),
        }
    }
}

/// A path as a message shows it: its UTF-8 text, with each byte that is not UTF-8 and each
/// control character (a newline, a terminal escape) as `\xNN`, as the Python side shows names,
/// so that a message stays on one line and says exactly which file it means.
pub fn shown(path: &Path) -> Shown<'_> {
    Shown(path)
}

pub struct Shown<'a>(&'a Path);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt;
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            for character in chunk.valid().chars() {
                if character.is_control() && (character as u32) < 0x80 {
                    write!(f, "\\x{:02x}", character as u32)?;
                } else {
                    write!(f, "{character}")?;
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// The OS message without Rust's " (os error N)" suffix, which means nothing to an operator.
fn describe_io(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::LogUnchanged(error) => error.source(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_shown_with_its_odd_bytes_and_controls_escaped() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/logs/Z\xc3\xbcrich-\xff\n\x1b.jsonl"));
        assert_eq!(shown(path).to_string(), "/logs/Z\u{fc}rich-\\xff\\x0a\\x1b.jsonl");
        let error = Error::NotRegularFile { path: path.to_path_buf() };
        assert_eq!(error.to_string(), "/logs/Z\u{fc}rich-\\xff\\x0a\\x1b.jsonl: not a regular file");
    }

    #[test]
    fn enospc_becomes_disk_full_with_the_path_and_the_way_out() {
        let error = Error::io(Path::new("/logs/a.jsonl"), "write", io::Error::from_raw_os_error(libc::ENOSPC));
        let message = error.to_string();
        assert!(message.starts_with("/logs/a.jsonl: no space left"), "{message}");
        assert!(message.contains("--emergency"), "{message}");
    }

    #[test]
    fn io_messages_name_the_file_and_action_without_os_error_codes() {
        let error = Error::io(Path::new("/x.jsonl"), "open", io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(error.to_string(), "/x.jsonl: cannot open: Permission denied");
        assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    }
}
