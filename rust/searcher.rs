//! The searcher: reads a log and pushes every line's verdict into a `Sink`, for every mode.
//!
//! It owns everything about reading: mapping the file (guarded against truncation), cutting it
//! into windows of whole lines, deciding windows in parallel and handing their runs to the
//! sink strictly in file order, counting them (the `Tally` is built from exactly the runs the
//! sink accepted), catching up lines appended while it ran for as long as the sink asks, the
//! trailing partial line, progress and cancellation (between windows). A file that shrinks
//! under it fails with "was truncated", which wins over any other error of that pass, since a
//! truncated mapping reads as zeros.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use crate::buckets::{Judged, SurveyPart};
use crate::decide::{decide_span, push_line, Decider, KeepReason, KeptAge, Run, SchemaKey, Verdict};
use crate::erase::Erasure;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::retention::RetentionRules;
use crate::sink::Sink;
use crate::source::{complete_lines_end, line_start_at, window_grid, LogMap, Readahead};
use crate::stats::Tally;
use crate::timestamp::UnixNanos;
use crate::tuning::Tuning;

/// Looks for appended lines at most this many times; a writer faster than us is caught on the
/// next run.
const MAX_CATCH_UP_ROUNDS: usize = 16;

/// Progress of a search, updated once per decided window (not per line), and a request to stop:
/// checked between windows, it ends the search with `Error::Interrupted`.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
    pub cancelled: AtomicBool,
}

/// How to search: the rules and instant that decide, and the resources to use.
#[derive(Clone, Copy)]
pub struct Searcher<'a> {
    pub rules: &'a RetentionRules,
    pub now: UnixNanos,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    pub tuning: Tuning,
    pub progress: Option<&'a Progress>,
    /// Decide an erasure instead of retention.
    pub erasure: Option<&'a Erasure>,
}

/// What a search saw.
#[derive(Debug, Clone)]
pub struct Searched {
    /// Every run pushed, the tail included.
    pub tally: Tally,
    /// End of the last complete line pushed.
    pub consumed: u64,
    /// The file's size at the last look (`consumed` plus the tail, unless the sink stopped).
    pub size: u64,
}

/// One decided window: its runs (schema ids into `schemas`), and survey facts when asked.
struct Decided {
    runs: Vec<Run>,
    schemas: Vec<SchemaKey>,
    ages: Vec<KeptAge>,
    bytes: u64,
    lines: u64,
    survey: Option<SurveyPart>,
}

impl Searcher<'_> {
    fn decider(&self) -> Decider<'_> {
        match self.erasure {
            Some(erasure) => Decider::erasing(self.rules, self.now, erasure),
            None => Decider::new(self.rules, self.now),
        }
    }

    /// Searches `file` (named `path` in errors) from offset `from`, a line start.
    pub fn search(&self, file: &File, path: &Path, from: u64, sink: &mut dyn Sink) -> Result<Searched> {
        let mut tally = Tally::default();
        let mut consumed = from;
        let mut rounds = 0;
        loop {
            let size = current_size(file, path)?;
            if size < consumed {
                return Err(Error::ChangedUnderUs { path: path.to_path_buf(), what: "was truncated".to_owned() });
            }
            let map = LogMap::map(file, size, path)?;
            let data = map.bytes();
            let end = complete_lines_end(data, consumed as usize);
            let pushed = self.push(file, data, consumed as usize..end, &mut tally, sink);
            map.check(path)?;
            if let Some(stopped_at) = pushed? {
                return Ok(Searched { tally, consumed: stopped_at as u64, size });
            }
            consumed = end as u64;
            rounds += 1;
            let again = sink.caught_up(&tally)?;
            if !again || rounds >= MAX_CATCH_UP_ROUNDS || current_size(file, path)? == size {
                let tail = self.tail(data, consumed as usize, &mut tally);
                let finished = sink.finish(data, &tail, &tally);
                map.check(path)?;
                finished?;
                return Ok(Searched { tally, consumed, size });
            }
        }
    }

    /// The trailing partial line as a counted run (empty when there is none).
    fn tail(&self, data: &[u8], from: usize, tally: &mut Tally) -> Run {
        let mut decider = self.decider();
        let mut runs = Vec::new();
        decide_span(&mut decider, data, from..data.len(), &mut runs);
        let (schemas, ages) = decider.into_parts();
        let decided = Decided { bytes: 0, lines: 0, runs, schemas, ages, survey: None };
        let ids = global_ids(&decided, tally);
        match decided.runs.first() {
            Some(run) => {
                let run = Run { verdict: run.verdict.map_schema(|id| ids[id]), ..run.clone() };
                tally.count(run.verdict, run.lines, run.range.len() as u64);
                run
            }
            None => Run { range: from..from, lines: 0, verdict: Verdict::Keep(crate::decide::KeepReason::Blank) },
        }
    }

    /// Decides `data[span]` and pushes its runs in order, with the kernel reading ahead of the
    /// workers on spans longer than one read-ahead request. `Some(offset)`: the sink stopped before
    /// the run starting there.
    fn push(
        &self,
        file: &File,
        data: &[u8],
        span: Range<usize>,
        tally: &mut Tally,
        sink: &mut dyn Sink,
    ) -> Result<Option<usize>> {
        let tuning = &self.tuning;
        if span.len() <= tuning.readahead_chunk_bytes {
            return self.push_windows(data, span, None, tally, sink);
        }
        let readahead = Readahead::new(file, data, span.clone(), tuning.readahead_bytes, tuning.readahead_chunk_bytes);
        thread::scope(|scope| {
            scope.spawn(|| readahead.run());
            // Ends the hints however the scan ends, a panic included, so the scope can join.
            let _finish = FinishOnDrop(&readahead);
            self.push_windows(data, span, Some(&readahead), tally, sink)
        })
    }

    fn push_windows(
        &self,
        data: &[u8],
        span: Range<usize>,
        readahead: Option<&Readahead<'_>>,
        tally: &mut Tally,
        sink: &mut dyn Sink,
    ) -> Result<Option<usize>> {
        let threads = match self.threads {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let tuning = &self.tuning;
        let grid = window_grid(span.clone(), tuning.window_bytes, tuning.min_window_bytes, threads);
        // Each boundary between two windows is aligned to a line start once, by whichever of
        // the two is decided first, so always before the sink has seen the earlier one: a sink
        // that writes into the file (the in-place shift) rewrites the bytes around it, and
        // aligned again then, the later window could begin inside lines already handed over
        // (kept twice, or a shift that no longer advances). Lazily, so that a cold file's pages
        // are touched only as the scan reaches them.
        let boundaries: Vec<OnceLock<usize>> = (0..=grid.len()).map(|_| OnceLock::new()).collect();
        let boundary = |index: usize, at: usize| *boundaries[index].get_or_init(|| line_start_at(data, &span, at));
        let survey = sink.wants_survey();
        let decide = |nominal: Range<usize>| {
            let index = grid.partition_point(|window| window.start < nominal.start);
            let start = boundary(index, nominal.start);
            let window = start..boundary(index + 1, nominal.end).max(start);
            if let Some(readahead) = readahead {
                readahead.reached(window.start);
            }
            decide_window(data, window, self.decider(), survey)
        };
        let mut stopped = None;
        let mut emit = |decided: Decided| -> Result<bool> {
            if let Some(progress) = self.progress {
                if progress.cancelled.load(Ordering::Relaxed) {
                    return Err(Error::Interrupted);
                }
                progress.bytes.fetch_add(decided.bytes, Ordering::Relaxed);
                progress.lines.fetch_add(decided.lines, Ordering::Relaxed);
            }
            stopped = hand_over(data, decided, tally, sink)?;
            Ok(stopped.is_none())
        };
        failpoint::hit("window");
        if threads <= 1 || span.len() < tuning.parallel_min_bytes {
            for (n, window) in grid.iter().cloned().enumerate() {
                if n > 0 {
                    failpoint::hit("window");
                }
                if !emit(decide(window))? {
                    break;
                }
            }
        } else {
            decide_in_parallel(&grid, threads, decide, emit)?;
        }
        Ok(stopped)
    }
}

struct FinishOnDrop<'r, 'f>(&'r Readahead<'f>);

impl Drop for FinishOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Pushes one window's runs into `sink`, counting each one it accepts.
fn hand_over(data: &[u8], decided: Decided, tally: &mut Tally, sink: &mut dyn Sink) -> Result<Option<usize>> {
    let ids = global_ids(&decided, tally);
    for run in decided.runs {
        let run = Run { verdict: run.verdict.map_schema(|id| ids[id]), ..run };
        let go_on = match run.verdict {
            Verdict::Delete(_) => sink.matched(data, &run, tally)?,
            Verdict::Keep(_) => sink.context(data, &run, tally)?,
        };
        if !go_on {
            return Ok(Some(run.range.start));
        }
        tally.count(run.verdict, run.lines, run.range.len() as u64);
    }
    if let Some(part) = decided.survey {
        sink.surveyed(part)?;
    }
    Ok(None)
}

/// The tally's schema id for each of the window's; the window's kept ages join the tally's.
fn global_ids(decided: &Decided, tally: &mut Tally) -> Vec<usize> {
    let ids: Vec<usize> = decided.schemas.iter().map(|key| tally.schema_id(key)).collect();
    for (&id, age) in ids.iter().zip(&decided.ages) {
        tally.schemas[id].kept_age.merge(*age);
    }
    ids
}

fn decide_window(data: &[u8], window: Range<usize>, mut decider: Decider<'_>, survey: bool) -> Decided {
    let mut runs = Vec::new();
    let (bytes, mut lines) = (window.len() as u64, 0);
    let survey = if survey {
        let mut part = SurveyPart::default();
        let mut start = window.start;
        while start < window.end {
            let mut fields = None;
            let (verdict, len) =
                decider.decide_first_line(&data[start..window.end], &mut |record| fields = Some(*record));
            let end = start + len;
            let line = &data[start..end];
            // A line the decision could not evaluate (broken after its fields) is no record.
            let fields = fields.filter(|_| !matches!(verdict, Verdict::Keep(KeepReason::Unevaluable(_))));
            part.observe(line, fields.as_ref(), Judged { deleted: verdict.is_delete(), now: decider.now() });
            push_line(&mut runs, start..end, verdict);
            lines += 1;
            start = end;
        }
        Some(part)
    } else {
        decide_span(&mut decider, data, window, &mut runs);
        lines = runs.iter().map(|run| run.lines).sum();
        None
    };
    let (schemas, ages) = decider.into_parts();
    Decided { runs, schemas, ages, bytes, lines, survey }
}

/// Decides `windows` on `threads` workers that each take the next undecided window, and hands
/// the results to `emit` in window order on the calling thread (which writes while the workers
/// go on). Workers stay at most a few windows ahead of `emit`, which bounds the memory held in
/// decided-but-unwritten windows. After an error or a `false` from `emit` the workers stop.
fn decide_in_parallel<T: Send>(
    windows: &[Range<usize>],
    threads: usize,
    decide: impl Fn(Range<usize>) -> T + Sync,
    mut emit: impl FnMut(T) -> Result<bool>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let emitted = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ahead = 2 * threads;
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<(usize, T)>(ahead);
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, emitted, stop, decide) = (&next, &emitted, &stop, &decide);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= windows.len() {
                    return;
                }
                while index >= emitted.load(Ordering::Acquire) + ahead && !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_micros(200));
                }
                if stop.load(Ordering::Relaxed) || sender.send((index, decide(windows[index].clone()))).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut result = Ok(());
        'receive: while let Ok((index, decided)) = receiver.recv() {
            waiting.insert(index, decided);
            while let Some(decided) = waiting.remove(&emitted.load(Ordering::Relaxed)) {
                match emit(decided) {
                    Ok(true) => {}
                    Ok(false) => break 'receive,
                    Err(error) => {
                        result = Err(error);
                        break 'receive;
                    }
                }
                emitted.fetch_add(1, Ordering::Release);
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Unblocks any worker waiting to send, so the scope can join them.
        drop(receiver);
        result
    })
}

/// The file's size now, through its descriptor (so a rename under us does not change it).
pub fn current_size(file: &File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| Error::io(path, "stat", e))?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn parallel_decisions_arrive_in_order_and_an_emit_error_stops_the_workers() {
        let windows: Vec<Range<usize>> = (0..200).map(|i| i..i + 1).collect();
        let mut seen = Vec::new();
        decide_in_parallel(
            &windows,
            3,
            |w| w.start,
            |i| {
                seen.push(i);
                Ok(true)
            },
        )
        .unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        let mut count = 0;
        let error = decide_in_parallel(
            &windows,
            3,
            |w| w.start,
            |_| {
                count += 1;
                if count == 5 {
                    Err(Error::DiskFull { path: PathBuf::from("/x") })
                } else {
                    Ok(true)
                }
            },
        );
        assert!(matches!(error, Err(Error::DiskFull { .. })));
        assert_eq!(count, 5);
    }

    #[test]
    fn a_false_from_emit_stops_the_workers_without_an_error() {
        let windows: Vec<Range<usize>> = (0..200).map(|i| i..i + 1).collect();
        let mut count = 0;
        decide_in_parallel(
            &windows,
            2,
            |w| w.start,
            |_| {
                count += 1;
                Ok(count < 7)
            },
        )
        .unwrap();
        assert_eq!(count, 7);
    }
}
