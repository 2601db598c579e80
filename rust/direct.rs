//! Writing a large temp copy with `O_DIRECT`, from a writer thread.
//!
//! A buffered `write` copies every kept byte into freshly allocated page-cache pages, and the
//! kernel then writes those back: on the 2-core machine this project is measured on, that copy
//! and its page-cache upkeep cost more CPU than the scan itself (1.2 s of system time for 0.5 GB
//! kept of a 1 GiB log). With `O_DIRECT` the bytes go from a few reused, aligned buffers straight
//! to the disk: the caller copies each kept run once into the current buffer, and a writer thread
//! writes full buffers while the scan goes on.
//!
//! Invariants: buffers are written at increasing, buffer-aligned offsets, so the file holds
//! exactly the bytes handed to `write`, in order, once `finish` has returned; the last partial
//! block, which `O_DIRECT` cannot write, is written after `O_DIRECT` is switched off again. A
//! write error stops the thread and is returned by the next `write` or by `finish`. Nothing here
//! syncs: the caller's fsync makes the file durable, as for a buffered copy.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

/// Offsets, lengths and buffer addresses of direct writes are multiples of this (the largest
/// logical block size of common disks).
const ALIGN: usize = 4096;
/// Buffers in all: one being filled while the others wait for, or are in, the disk.
const CHUNKS: usize = 4;

/// An aligned buffer of `capacity` bytes, carved out of a slightly larger allocation.
struct Chunk {
    storage: Vec<u8>,
    start: usize,
    len: usize,
    capacity: usize,
}

impl Chunk {
    fn new(capacity: usize) -> Option<Chunk> {
        let storage = vec![0u8; capacity + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        (start < ALIGN).then_some(Chunk { storage, start, len: 0, capacity })
    }

    fn filled(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    fn room(&self) -> usize {
        self.capacity - self.len
    }

    fn append(&mut self, bytes: &[u8]) {
        let at = self.start + self.len;
        self.storage[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

pub struct DirectWriter {
    to_writer: Option<SyncSender<(Chunk, u64)>>,
    from_writer: Receiver<io::Result<Chunk>>,
    worker: Option<JoinHandle<()>>,
    current: Chunk,
    /// File offset of `current`'s first byte.
    offset: u64,
    free: Vec<Chunk>,
}

impl DirectWriter {
    /// Switches `file` (empty, opened for writing) to `O_DIRECT` and starts the writer thread;
    /// `None` when the filesystem or the system refuses (then `file` is left as it was).
    /// Buffers are `chunk_bytes` long, rounded up to whole blocks.
    pub fn start(file: &File, chunk_bytes: usize) -> Option<DirectWriter> {
        let chunk_bytes = chunk_bytes.max(1).div_ceil(ALIGN) * ALIGN;
        let mut current = Chunk::new(chunk_bytes)?;
        set_direct(file, true).ok()?;
        // Some filesystems accept the flag but not the writes: try one block before relying on it.
        current.len = ALIGN;
        let probe = file.write_all_at(current.filled(), 0).and_then(|()| file.set_len(0));
        current.len = 0;
        let writer_file = file.try_clone();
        let (Ok(()), Ok(writer_file)) = (probe, writer_file) else {
            let _ = set_direct(file, false);
            let _ = file.set_len(0);
            return None;
        };
        let (to_writer, jobs) = mpsc::sync_channel::<(Chunk, u64)>(CHUNKS);
        let (done, from_writer) = mpsc::channel();
        let worker = thread::Builder::new()
            .name("mxcp-compact-writer".to_owned())
            .spawn(move || {
                for (chunk, offset) in jobs {
                    let result = writer_file.write_all_at(chunk.filled(), offset).map(|()| chunk);
                    let failed = result.is_err();
                    if done.send(result).is_err() || failed {
                        return;
                    }
                }
            })
            .ok();
        let Some(worker) = worker else {
            let _ = set_direct(file, false);
            return None;
        };
        let free = (1..CHUNKS).map_while(|_| Chunk::new(chunk_bytes)).collect();
        Some(DirectWriter { to_writer: Some(to_writer), from_writer, worker: Some(worker), current, offset: 0, free })
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(self.current.room());
            self.current.append(&bytes[..take]);
            bytes = &bytes[take..];
            if self.current.room() == 0 {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    /// Sends the full current buffer to the writer and takes a free one (waiting for one if all
    /// are in flight).
    fn hand_over(&mut self) -> io::Result<()> {
        let next = match self.free.pop() {
            Some(chunk) => chunk,
            None => self.returned()?,
        };
        let full = std::mem::replace(&mut self.current, next);
        let length = full.len as u64;
        let sent = self.to_writer.as_ref().map(|sender| sender.send((full, self.offset)));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.failure());
        }
        self.offset += length;
        Ok(())
    }

    /// The next buffer the writer is done with, or its error.
    fn returned(&mut self) -> io::Result<Chunk> {
        match self.from_writer.recv() {
            Ok(Ok(mut chunk)) => {
                chunk.len = 0;
                Ok(chunk)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(self.failure()),
        }
    }

    /// The writer's error, once it has stopped.
    fn failure(&mut self) -> io::Error {
        self.stop();
        while let Ok(result) = self.from_writer.try_recv() {
            if let Err(error) = result {
                return error;
            }
        }
        io::Error::other("the temp file's writer thread stopped")
    }

    fn stop(&mut self) {
        self.to_writer = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }

    /// Writes what is left and waits for every write; afterwards `file` is back in buffered
    /// mode and holds every byte given to `write`.
    pub fn finish(mut self, file: &File) -> io::Result<()> {
        let whole_blocks = self.current.len / ALIGN * ALIGN;
        let tail = self.current.filled()[whole_blocks..].to_vec();
        if whole_blocks > 0 {
            self.current.len = whole_blocks;
            let mut last = Chunk { storage: Vec::new(), start: 0, len: 0, capacity: 0 };
            std::mem::swap(&mut last, &mut self.current);
            let sent = self.to_writer.as_ref().map(|sender| sender.send((last, self.offset)));
            if !matches!(sent, Some(Ok(()))) {
                return Err(self.failure());
            }
        }
        self.stop();
        while let Ok(result) = self.from_writer.try_recv() {
            result?;
        }
        set_direct(file, false)?;
        file.write_all_at(&tail, self.offset + whole_blocks as u64)
    }
}

impl Drop for DirectWriter {
    fn drop(&mut self) {
        // Unfinished (an error elsewhere): the temp is being thrown away; just let the thread end.
        self.stop();
    }
}

fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL only reads the descriptor's status flags; `file` keeps the fd open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
    // SAFETY: F_SETFL with an int argument only changes the descriptor's status flags.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};

    use crate::tuning::Tuning;

    const CHUNK_BYTES: usize = Tuning::SMALL.direct_chunk_bytes;

    /// The writer for a new file in `dir`, or None (with the reason on stderr) where the
    /// filesystem has no O_DIRECT, which leaves these tests nothing to check.
    fn start_in(dir: &std::path::Path, name: &str) -> Option<(File, DirectWriter, std::path::PathBuf)> {
        start_with(dir, name, CHUNK_BYTES)
    }

    fn start_with(
        dir: &std::path::Path,
        name: &str,
        chunk_bytes: usize,
    ) -> Option<(File, DirectWriter, std::path::PathBuf)> {
        let path = dir.join(name);
        let file = OpenOptions::new().write(true).create_new(true).open(&path).unwrap();
        match DirectWriter::start(&file, chunk_bytes) {
            Some(writer) => Some((file, writer, path)),
            None => {
                eprintln!("O_DIRECT is not available in {}: nothing to check", dir.display());
                None
            }
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn every_byte_lands_in_order_whatever_the_write_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let Some((file, mut writer, path)) = start_in(dir.path(), "out") else { return };
        let data = pattern(5 * CHUNK_BYTES + 12_345);
        let mut at = 0;
        for size in [1, 4095, 4096, 4097, CHUNK_BYTES, 3 * CHUNK_BYTES + 17].iter().cycle() {
            let end = (at + size).min(data.len());
            writer.write(&data[at..end]).unwrap();
            at = end;
            if at == data.len() {
                break;
            }
        }
        writer.finish(&file).unwrap();
        assert!(fs::read(&path).unwrap() == data);
    }

    #[test]
    fn short_output_and_nothing_at_all_are_written_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1] {
            let Some((file, mut writer, path)) = start_in(dir.path(), &format!("out-{len}")) else { return };
            writer.write(&pattern(len)).unwrap();
            writer.finish(&file).unwrap();
            assert_eq!(fs::read(&path).unwrap(), pattern(len), "len {len}");
        }
    }

    #[test]
    fn the_file_is_buffered_again_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let Some((file, mut writer, path)) = start_in(dir.path(), "out") else { return };
        writer.write(b"abc").unwrap();
        writer.finish(&file).unwrap();
        // An unaligned write would fail with EINVAL under O_DIRECT.
        file.write_all_at(b"de", 3).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abcde");
    }

    #[test]
    fn production_sized_chunks_keep_every_byte_in_order() {
        let chunk = Tuning::PRODUCTION.direct_chunk_bytes;
        let dir = tempfile::tempdir().unwrap();
        let Some((file, mut writer, path)) = start_with(dir.path(), "out", chunk) else { return };
        let data = pattern(2 * chunk + chunk / 3 + 777);
        let mut at = 0;
        for size in [100, chunk - 1, 1, chunk + 4097, 600 << 10].iter().cycle() {
            let end = (at + size).min(data.len());
            writer.write(&data[at..end]).unwrap();
            at = end;
            if at == data.len() {
                break;
            }
        }
        writer.finish(&file).unwrap();
        assert!(fs::read(&path).unwrap() == data);
    }
}
