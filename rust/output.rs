//! Writing the compacted copy and swapping it in.
//!
//! The copy is written to `.<name>.mxcp-compact.tmp` in the log's own directory (a dot file, so
//! MXCP's `logs-P*.jsonl` globs never see it), created exclusively with the original's mode and
//! owner, fsynced, then renamed over the original, and the directory is fsynced so the rename
//! itself survives a power cut. Until `commit` the original is never touched; a `TempFile`
//! dropped before commit deletes itself, and a temp left by a killed run is removed by the next
//! run (under the directory lock, so never one that a live run is writing). Copies of large logs
//! are written with O_DIRECT until the first `sync` (see `direct`), buffered afterwards; the
//! fsync covers both alike.

use std::ffi::{CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::direct::DirectWriter;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::tuning::Tuning;

const TEMP_SUFFIX: &str = ".mxcp-compact.tmp";
/// Write-back of the temp is started every this many bytes (see `write_file`).
const WRITEBACK_BYTES: u64 = 32 << 20;

/// Path of our temp file for `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(TEMP_SUFFIX);
    target.with_file_name(name)
}

/// Removes a temp left for `target` by an interrupted run. Call only while holding the lock.
pub fn remove_stale_temp(target: &Path) -> Result<bool> {
    let temp = temp_path_for(target);
    // Looked up first: on a read-only filesystem unlinking even a missing name fails.
    if fs::symlink_metadata(&temp).is_err() {
        return Ok(false);
    }
    match fs::remove_file(&temp) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&temp, "remove the stale temp file", e)),
    }
}

/// The compacted copy being written.
pub struct TempFile {
    /// The log this is a copy of; named in disk-full errors, which are about the log.
    target: PathBuf,
    path: PathBuf,
    file: File,
    /// Set while the copy is written with O_DIRECT: until the first `sync`.
    direct: Option<DirectWriter>,
    buffer: Vec<u8>,
    buffer_bytes: usize,
    written: u64,
    /// Start of the written bytes whose write-back has not been started yet.
    writeback_from: u64,
    committed: bool,
}

impl TempFile {
    /// Creates the temp beside `target` with `original`'s permission bits and owner.
    pub fn create(target: &Path, original: &fs::Metadata, tuning: &Tuning) -> Result<TempFile> {
        let path = temp_path_for(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| temp_error(target, &path, "create the temp file", e))?;
        failpoint::hit("temp-created");
        // From here on, Drop removes the file if anything fails.
        let mut temp = TempFile {
            target: target.to_path_buf(),
            path,
            file,
            direct: None,
            buffer: Vec::new(),
            buffer_bytes: tuning.buffer_bytes,
            written: 0,
            writeback_from: 0,
            committed: false,
        };
        let created = temp.file.metadata().map_err(|e| Error::io(&temp.path, "stat the temp file", e))?;
        if created.uid() != original.uid() || created.gid() != original.gid() {
            std::os::unix::fs::fchown(&temp.file, Some(original.uid()), Some(original.gid())).map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    Error::OwnerNotPreserved { path: target.to_path_buf(), uid: original.uid(), gid: original.gid() }
                } else {
                    Error::io(&temp.path, "set the owner of the temp file", e)
                }
            })?;
        }
        // After chown, which may clear set-id bits.
        temp.file
            .set_permissions(fs::Permissions::from_mode(original.mode() & 0o7777))
            .map_err(|e| Error::io(&temp.path, "set the mode of the temp file", e))?;
        copy_extended_attributes(target, &temp.file, &temp.path)?;
        if original.len() >= tuning.direct_min_bytes {
            temp.direct = DirectWriter::start(&temp.file, tuning.direct_chunk_bytes);
        }
        if temp.direct.is_none() {
            temp.buffer.reserve(temp.buffer_bytes);
        }
        Ok(temp)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes handed to `write` so far.
    pub fn written(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(direct) = &mut self.direct {
            direct.write(bytes).map_err(|e| temp_error(&self.target, &self.path, "write the temp file", e))?;
            self.written += bytes.len() as u64;
            return Ok(());
        }
        // A large piece skips the buffer, but only after what the buffer holds: bytes reach the
        // file in the order they were handed over.
        let goes_direct = bytes.len() >= self.buffer_bytes / 2;
        if goes_direct || self.buffer.len() + bytes.len() > self.buffer_bytes {
            self.flush()?;
        }
        if goes_direct {
            self.write_file(bytes)
        } else {
            self.buffer.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            let buffer = std::mem::take(&mut self.buffer);
            let result = self.write_file(&buffer);
            self.buffer = buffer;
            self.buffer.clear();
            result?;
        }
        Ok(())
    }

    fn write_file(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| temp_error(&self.target, &self.path, "write the temp file", e))?;
        self.written += bytes.len() as u64;
        if self.written - self.writeback_from >= WRITEBACK_BYTES {
            // Start writing this stretch to disk now, while the scan goes on, so that the final
            // fsync has little left to wait for. Only a hint: fsync reports any real failure.
            // SAFETY: sync_file_range only reads its integer arguments; the fd is open.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.writeback_from as libc::off64_t,
                    (self.written - self.writeback_from) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.writeback_from = self.written;
        }
        Ok(())
    }

    /// Flushes and fsyncs: after this the temp's contents are durable. Later writes (lines
    /// caught up after the pass) are buffered.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(direct) = self.direct.take() {
            let finished = direct.finish(&self.file).and_then(|()| self.file.seek(io::SeekFrom::Start(self.written)));
            finished.map_err(|e| temp_error(&self.target, &self.path, "write the temp file", e))?;
            self.writeback_from = self.written;
        }
        self.flush()?;
        failpoint::hit("before-temp-fsync");
        self.file.sync_all().map_err(|e| temp_error(&self.target, &self.path, "fsync the temp file", e))
    }

    /// Renames the (synced) temp over `target` and fsyncs the directory.
    pub fn commit(mut self, target: &Path) -> Result<()> {
        failpoint::hit("before-rename");
        fs::rename(&self.path, target).map_err(|e| Error::io(target, "replace the file with its compacted copy", e))?;
        self.committed = true;
        failpoint::hit("after-rename");
        sync_parent(target)
    }

    /// Deletes `target` instead (a segment left with no lines), then removes the temp.
    pub fn remove_target(mut self, target: &Path) -> Result<()> {
        fs::remove_file(target).map_err(|e| Error::io(target, "remove the emptied segment", e))?;
        sync_parent(target)?;
        self.committed = true;
        fs::remove_file(&self.path).map_err(|e| Error::io(&self.path, "remove the temp file", e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the next run removes a temp that survives this (e.g. on EIO).
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Disk full is reported against the log (the operator's file); other failures name the temp.
fn temp_error(target: &Path, temp: &Path, action: &'static str, error: io::Error) -> Error {
    match Error::io(temp, action, error) {
        Error::DiskFull { .. } => Error::DiskFull { path: target.to_path_buf() },
        other => other,
    }
}

/// fsyncs the directory holding `path`, so a rename or unlink in it is durable.
/// Copies every extended attribute of `from` onto the temp `to` (at `temp`): `user.*`, and
/// POSIX ACLs, which are `system.posix_acl_*` attributes, so that a reader granted access by an
/// ACL keeps it. Set after the mode: an ACL's mask then becomes the group bits it was.
fn copy_extended_attributes(from: &Path, to: &File, temp: &Path) -> Result<()> {
    let source = CString::new(from.as_os_str().as_bytes())
        .map_err(|_| Error::io(from, "list the extended attributes", io::Error::from(io::ErrorKind::InvalidInput)))?;
    let names = match read_sized(|buffer, size| {
        // SAFETY: `source` is NUL-terminated and lives across the call; listxattr writes at most
        // `size` bytes into `buffer` (null with size 0: it only returns the size needed).
        unsafe { libc::listxattr(source.as_ptr(), buffer.cast(), size) }
    }) {
        Ok(names) => names,
        // A filesystem without extended attributes has none to copy.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
        Err(e) => return Err(Error::io(from, "list the extended attributes", e)),
    };
    for name in names.split(|&byte| byte == 0).filter(|name| !name.is_empty()) {
        let name = CString::new(name)
            .map_err(|_| Error::io(from, "list the extended attributes", io::ErrorKind::InvalidData.into()))?;
        let value = read_sized(|buffer, size| {
            // SAFETY: both strings are NUL-terminated and outlive the call; getxattr writes at
            // most `size` bytes into `buffer` (null with size 0: it only returns the size).
            unsafe { libc::getxattr(source.as_ptr(), name.as_ptr(), buffer.cast(), size) }
        })
        .map_err(|e| Error::io(from, "read an extended attribute", e))?;
        // SAFETY: the descriptor is open for as long as `to` is borrowed; `name` is NUL-terminated
        // and `value` holds `value.len()` bytes, both alive across the call.
        let set = unsafe { libc::fsetxattr(to.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        // A security label (SELinux) is the kernel's to assign when the policy refuses ours.
        if set != 0 && !name.as_bytes().starts_with(b"security.") {
            return Err(Error::io(
                temp,
                "copy an extended attribute (or ACL) to the temp file",
                io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// The bytes a `listxattr`/`getxattr`-like `call(buffer, size)` returns: asked for the size
/// first, then read, again if the value grew in between.
fn read_sized(call: impl Fn(*mut u8, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    loop {
        let needed = usize::try_from(call(std::ptr::null_mut(), 0)).map_err(|_| io::Error::last_os_error())?;
        let mut buffer = vec![0u8; needed];
        match usize::try_from(call(buffer.as_mut_ptr(), buffer.len())) {
            Ok(got) => {
                buffer.truncate(got);
                return Ok(buffer);
            }
            Err(_) if io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE) => continue,
            Err(_) => return Err(io::Error::last_os_error()),
        }
    }
}

pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    let handle = File::open(dir).map_err(|e| Error::io(dir, "open the directory", e))?;
    handle.sync_all().map_err(|e| Error::io(dir, "fsync the directory", e))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_is_a_dot_file_beside_the_target() {
        assert_eq!(
            temp_path_for(Path::new("/a/logs-default.jsonl")),
            Path::new("/a/.logs-default.jsonl.mxcp-compact.tmp")
        );
    }

    #[test]
    fn temp_copies_mode_and_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        fs::write(&target, b"old\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        let meta = fs::metadata(&target).unwrap();
        {
            let mut temp = TempFile::create(&target, &meta, &Tuning::SMALL).unwrap();
            temp.write(b"partial").unwrap();
            assert_eq!(fs::metadata(temp.path()).unwrap().mode() & 0o7777, 0o640);
        }
        assert!(!temp_path_for(&target).exists(), "dropped temp must be removed");
        let mut temp = TempFile::create(&target, &meta, &Tuning::SMALL).unwrap();
        temp.write(b"new\n").unwrap();
        temp.sync().unwrap();
        temp.commit(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new\n");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o640);
        assert!(!temp_path_for(&target).exists());
    }

    #[test]
    fn large_and_small_writes_keep_order() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        fs::write(&target, b"").unwrap();
        let meta = fs::metadata(&target).unwrap();
        let mut temp = TempFile::create(&target, &meta, &Tuning::SMALL).unwrap();
        let big = vec![b'x'; Tuning::SMALL.buffer_bytes];
        temp.write(b"a").unwrap();
        temp.write(&big).unwrap();
        temp.write(b"b").unwrap();
        assert_eq!(temp.written(), big.len() as u64 + 2);
        temp.sync().unwrap();
        temp.commit(&target).unwrap();
        let out = fs::read(&target).unwrap();
        assert_eq!((out[0], out[out.len() - 1], out.len()), (b'a', b'b', big.len() + 2));
    }

    /// Writes `pieces` through a temp made with `tuning` for an original of `original_len` bytes
    /// and returns what lands in the file.
    fn written_through_temp(tuning: &Tuning, original_len: u64, pieces: &[Vec<u8>]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        fs::write(&target, b"").unwrap();
        fs::File::options().write(true).open(&target).unwrap().set_len(original_len).unwrap();
        let meta = fs::metadata(&target).unwrap();
        let mut temp = TempFile::create(&target, &meta, tuning).unwrap();
        for piece in pieces {
            temp.write(piece).unwrap();
        }
        temp.sync().unwrap();
        temp.commit(&target).unwrap();
        fs::read(&target).unwrap()
    }

    /// Pieces of every size class around the buffer (tiny, just under half, half and more,
    /// exactly the buffer, larger than it), each following pieces still held in the buffer, and
    /// each filled with its own byte.
    fn mixed_pieces(buffer_bytes: usize) -> Vec<Vec<u8>> {
        let half = buffer_bytes / 2;
        let sizes = [100, half, 1, half - 1, 7, half + 1, 2, buffer_bytes, 3, 2 * buffer_bytes + 5, 50];
        sizes.iter().enumerate().map(|(n, &size)| vec![b'a' + n as u8; size]).collect()
    }

    #[test]
    fn buffered_copy_at_production_sizes_keeps_pieces_in_order() {
        // Below the O_DIRECT threshold: the buffered path every small log takes.
        let tuning = Tuning::PRODUCTION;
        let pieces = mixed_pieces(tuning.buffer_bytes);
        let out = written_through_temp(&tuning, tuning.direct_min_bytes - 1, &pieces);
        assert!(out == pieces.concat(), "pieces reordered or lost");
    }

    #[test]
    fn direct_copy_at_production_sizes_keeps_pieces_in_order() {
        let tuning = Tuning::PRODUCTION;
        let pieces = mixed_pieces(tuning.direct_chunk_bytes);
        let out = written_through_temp(&tuning, tuning.direct_min_bytes, &pieces);
        assert!(out == pieces.concat(), "pieces reordered or lost");
    }

    #[test]
    fn buffered_copy_at_small_sizes_keeps_pieces_in_order() {
        let tuning = Tuning { direct_min_bytes: u64::MAX, ..Tuning::SMALL };
        let pieces = mixed_pieces(tuning.buffer_bytes);
        assert!(written_through_temp(&tuning, 10, &pieces) == pieces.concat());
    }

    #[test]
    fn lines_caught_up_after_the_first_sync_follow_the_pass_in_order() {
        // In tests every copy starts on the O_DIRECT writer (where the filesystem has it); the
        // first sync ends it, and later writes must land after its bytes, buffered.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        fs::write(&target, b"original\n").unwrap();
        let meta = fs::metadata(&target).unwrap();
        let mut temp = TempFile::create(&target, &meta, &Tuning::SMALL).unwrap();
        let pass: Vec<u8> = (0..100_000u32).flat_map(|n| format!("{n}\n").into_bytes()).collect();
        temp.write(&pass).unwrap();
        temp.write(b"tail without a full block").unwrap();
        temp.sync().unwrap();
        assert!(temp.direct.is_none());
        temp.write(b"\ncaught up 1\n").unwrap();
        temp.write(b"caught up 2\n").unwrap();
        temp.sync().unwrap();
        temp.commit(&target).unwrap();
        let mut expected = pass;
        expected.extend_from_slice(b"tail without a full block\ncaught up 1\ncaught up 2\n");
        assert!(fs::read(&target).unwrap() == expected);
    }

    #[test]
    fn stale_temp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("log.jsonl");
        fs::write(temp_path_for(&target), b"junk").unwrap();
        assert!(remove_stale_temp(&target).unwrap());
        assert!(!remove_stale_temp(&target).unwrap());
    }
}
