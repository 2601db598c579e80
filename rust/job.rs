//! One file's job: what to do with it (`Options`) and what was done (`FileReport`, `Action`).
//!
//! Plain data shared by the per-file orchestration (`compact`), the in-place mode (`inplace`)
//! and the binding; it decides nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::erase::Erasure;
use crate::retention::RetentionRules;
use crate::searcher::{Progress, Searcher};
use crate::stats::Tally;
use crate::timestamp::UnixNanos;
use crate::tuning::Tuning;

#[derive(Debug, Clone)]
pub struct Options {
    pub now: UnixNanos,
    pub dry_run: bool,
    /// Delete the file when no line is left (segments); otherwise keep it, empty.
    pub remove_if_empty: bool,
    /// Worker threads for the scan; 0 means one per available core.
    pub threads: usize,
    /// Who holds the directory lock for a real run.
    pub lock: Locking,
    /// Compact in place, keeping the inode, with no temp copy (see `inplace`).
    pub in_place: bool,
    /// Bytes and lines decided so far, and a cancel switch, shared with whoever shows progress.
    pub progress: Option<Arc<Progress>>,
    /// Window, buffer and O_DIRECT sizes: `Tuning::PRODUCTION` outside tests.
    pub tuning: Tuning,
    /// Delete what this erasure selects instead of what retention does.
    pub erasure: Option<Erasure>,
    /// Overwrite every deleted byte before its space is released (see `scrub`).
    pub scrub: bool,
}

impl Options {
    /// A real run at `now` with everything else at its default: one thread per core, no wait
    /// for the lock, production sizes, retention (no erasure), no scrub.
    pub fn at(now: UnixNanos) -> Options {
        Options {
            now,
            dry_run: false,
            remove_if_empty: false,
            threads: 0,
            lock: Locking::Wait(Duration::ZERO),
            in_place: false,
            progress: None,
            tuning: Tuning::PRODUCTION,
            erasure: None,
            scrub: false,
        }
    }

    /// The tests' job: a real or dry run on 2026-11-27 with two threads and small sizes, so
    /// that windows, threads and O_DIRECT chunks all occur in small inputs.
    #[cfg(test)]
    pub fn for_tests(dry_run: bool) -> Options {
        let now = crate::timestamp::parse_timestamp(b"2026-11-27T00:00:00Z").unwrap_or_default();
        Options { dry_run, threads: 2, tuning: Tuning::SMALL, ..Options::at(now) }
    }

    pub fn searcher<'a>(&'a self, rules: &'a RetentionRules) -> Searcher<'a> {
        Searcher {
            rules,
            now: self.now,
            threads: self.threads,
            tuning: self.tuning,
            progress: self.progress.as_deref(),
            erasure: self.erasure.as_ref(),
        }
    }
}

/// The directory lock (see `lock`) of a real run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// The job takes it, waiting this long for another run to finish with the directory.
    Wait(Duration),
    /// The caller already holds it, for every file of the directory (a whole cleanup run).
    HeldByCaller,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to delete: the file was not touched.
    Unchanged,
    /// Replaced by its compacted copy.
    Rewritten,
    /// A segment left with no lines, deleted.
    Removed,
    /// Dry run: what a real run would do, nothing written.
    DryRun,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Unchanged => "unchanged",
            Action::Rewritten => "rewritten",
            Action::Removed => "removed",
            Action::DryRun => "dry_run",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given.
    pub path: PathBuf,
    /// The file actually compacted (symlinks resolved).
    pub target: PathBuf,
    pub action: Action,
    pub tally: Tally,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes appended by a writer while we ran, caught up into the copy.
    pub appended_bytes: u64,
    pub stale_temp_removed: bool,
    /// Something the operator should know that is not an error.
    pub note: Option<String>,
    /// Bytes overwritten by `--scrub`.
    pub bytes_scrubbed: u64,
    /// A stop request ended the pass before the file's end, but what it did is final and is
    /// counted here (an in-place run stopped after its collapse): the rest was not read.
    pub stopped_early: bool,
}
