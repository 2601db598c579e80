//! Crash points for the crash-safety tests.
//!
//! `MXCP_COMPACT_CRASH_AT=NAME` (or `NAME:N` for the N-th time) makes the process abort at
//! that point, as a SIGKILL or power cut would stop it, leaving temps and progress records
//! behind. Unset, each check is one environment lookup at a handful of points per file.

use std::sync::atomic::{AtomicU64, Ordering};

static HITS: AtomicU64 = AtomicU64::new(0);

pub fn hit(name: &str) {
    let Some(wanted) = std::env::var_os("MXCP_COMPACT_CRASH_AT") else { return };
    let Some(wanted) = wanted.to_str() else { return };
    let (point, nth) = match wanted.split_once(':') {
        Some((point, nth)) => (point, nth.parse::<u64>().unwrap_or(1)),
        None => (wanted, 1),
    };
    if point == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 == nth {
        std::process::abort();
    }
}
