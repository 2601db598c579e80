//! Crash and pause points for the safety tests.
//!
//! `MXCP_COMPACT_CRASH_AT=NAME` (or `NAME:N`, the N-th time) aborts the process at that point,
//! as a SIGKILL or power cut would stop it, leaving temps and progress records behind.
//! `MXCP_COMPACT_PAUSE_AT=NAME:N=MILLIS` sleeps there instead, so a test can truncate, rename or
//! lock the file at a known moment; with `MXCP_COMPACT_PAUSE_SIGNAL=FILE` it first creates FILE,
//! so the test knows the moment has come. Unset, each point costs two environment lookups; points sit
//! at a handful of places per file and once per 16 MiB window, never per line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static CRASH_HITS: AtomicU64 = AtomicU64::new(0);
static PAUSE_HITS: AtomicU64 = AtomicU64::new(0);

pub fn hit(name: &str) {
    if let Some(spec) = std::env::var_os("MXCP_COMPACT_CRASH_AT") {
        if matches(spec.to_str(), name, &CRASH_HITS) {
            std::process::abort();
        }
    }
    if let Some(spec) = std::env::var_os("MXCP_COMPACT_PAUSE_AT") {
        if let Some((point, millis)) = spec.to_str().and_then(|s| s.rsplit_once('=')) {
            if matches(Some(point), name, &PAUSE_HITS) {
                // Tells a waiting test that the pause has begun.
                if let Some(signal) = std::env::var_os("MXCP_COMPACT_PAUSE_SIGNAL") {
                    let _ = std::fs::write(signal, b"paused\n");
                }
                std::thread::sleep(Duration::from_millis(millis.parse().unwrap_or(0)));
            }
        }
    }
}

fn matches(spec: Option<&str>, name: &str, hits: &AtomicU64) -> bool {
    let Some(spec) = spec else { return false };
    let (point, nth) = match spec.split_once(':') {
        Some((point, nth)) => (point, nth.parse::<u64>().unwrap_or(1)),
        None => (spec, 1),
    };
    point == name && hits.fetch_add(1, Ordering::Relaxed) + 1 == nth
}
