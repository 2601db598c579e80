//! Survive a log being truncated while it is memory-mapped.
//!
//! Touching a mapped page beyond the end of a file that another process truncated raises
//! SIGBUS, which would kill the whole Python process. While a log is mapped, its address range
//! is registered here; a process-wide SIGBUS handler that finds the faulting address inside a
//! registered range replaces the rest of that range with zero-filled anonymous pages, records
//! the hit, and returns, so the faulting read resumes and sees zeros. The file pass then checks
//! `was_hit` and gives up on that file ("was truncated"), writing nothing from the bad bytes.
//! A fault outside every registered range is passed to the previous handler (or kills the
//! process, as it would have without us). The handler only uses atomics and `mmap`, a raw
//! system call on Linux.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

const SLOTS: usize = 64;

static STARTS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static LENGTHS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static HITS: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
/// The handler that was installed before ours, for faults that are not ours.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A registered mapping; unregisters on drop.
pub struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// Registers `[start, start + len)`. With all slots taken the range is simply unguarded.
    pub fn register(start: *const u8, len: usize) -> Guard {
        install();
        let start = start as usize;
        for slot in 0..SLOTS {
            if STARTS[slot].compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                HITS[slot].store(false, Ordering::Release);
                LENGTHS[slot].store(len, Ordering::Release);
                return Guard { slot: Some(slot) };
            }
        }
        Guard { slot: None }
    }

    /// Whether a read of this range faulted (the file shrank under us).
    pub fn was_hit(&self) -> bool {
        self.slot.is_some_and(|slot| HITS[slot].load(Ordering::Acquire))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            LENGTHS[slot].store(0, Ordering::Release);
            STARTS[slot].store(0, Ordering::Release);
        }
    }
}

fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE_SIZE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: `action` is fully initialised (zeroed, then every field we rely on set) before
        // it is passed to sigaction, and `previous` is a valid out-pointer. Installing a
        // handler is process-wide; `on_sigbus` only runs async-signal-safe operations.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGBUS, &action, &mut previous);
            previous
        }
    });
}

extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler; si_addr is the
    // faulting address for SIGBUS.
    let address = unsafe { (*info).si_addr() } as usize;
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    for slot in 0..SLOTS {
        let start = STARTS[slot].load(Ordering::Acquire);
        let len = LENGTHS[slot].load(Ordering::Acquire);
        if start == 0 || address < start || address >= start + len {
            continue;
        }
        let from = address & !(page - 1);
        let length = (start + len - from).div_ceil(page) * page;
        // SAFETY: [from, from + length) lies within the registered mapping (rounded up to its
        // last page, which the kernel mapped whole), which the owning LogMap keeps mapped while
        // registered; MAP_FIXED replaces exactly those pages with private zero pages, so the
        // interrupted read resumes on valid memory. The LogMap's munmap later removes them.
        let replaced = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                length,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            HITS[slot].store(true, Ordering::Release);
            return;
        }
        break;
    }
    chain(signal, info, context);
}

/// Hands a fault that is not ours to whoever handled SIGBUS before us.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else { return };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the default disposition is async-signal-safe; returning re-runs the
        // faulting instruction, which then terminates the process exactly as without us.
        unsafe {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGBUS, &default, std::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
        let previous_handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        previous_handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes only the signal number.
        let previous_handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        previous_handler(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memmap2::MmapOptions;
    use std::fs::{File, OpenOptions};
    use std::io::Write;

    #[test]
    fn truncation_under_a_mapping_is_survived_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut file = File::create(&path).unwrap();
        file.write_all(&vec![b'x'; 1 << 20]).unwrap();
        let reader = File::open(&path).unwrap();
        // SAFETY: a read-only map; the truncation below is the point of the test, and the guard
        // registered next absorbs its SIGBUS.
        let map = unsafe { MmapOptions::new().map(&reader) }.unwrap();
        let guard = Guard::register(map.as_ptr(), map.len());
        OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
        let sum: u64 = map.iter().map(|&b| u64::from(b)).sum();
        assert!(guard.was_hit());
        assert_eq!(sum, u64::from(b'x') * 4096, "bytes past the new end read as zeros");
    }

    #[test]
    fn an_untouched_mapping_is_not_hit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, b"abc\n").unwrap();
        let reader = File::open(&path).unwrap();
        // SAFETY: a read-only map of a file nothing else changes during the test.
        let map = unsafe { MmapOptions::new().map(&reader) }.unwrap();
        let guard = Guard::register(map.as_ptr(), map.len());
        assert_eq!(map[0], b'a');
        assert!(!guard.was_hit());
    }
}
