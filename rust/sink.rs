//! Where the searcher's verdicts go: the `Sink` trait, and `Tee`, which hands every call to two
//! sinks.
//!
//! Modelled on ripgrep's grep-searcher: the searcher owns reading and line splitting and pushes
//! every line, as runs of lines with one verdict, into a sink; a sink only reacts. A dry run,
//! the temp copy and its swap, the in-place shift, the archive and the stats survey are sinks
//! (see `copy`, `inplace`, `archive`, `survey`), and none of them sees another. Runs arrive in
//! file order, each exactly once, with `data` the whole mapping the run's range points into.
//! Returning `false` from `matched` or `context` stops the search before that run: it is not
//! counted, and the search ends at its start.

use crate::buckets::SurveyPart;
use crate::decide::Run;
use crate::error::Result;
use crate::stats::Tally;

pub trait Sink {
    /// A run of lines to delete. `seen` counts every line pushed before it.
    fn matched(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool>;

    /// A run of kept lines.
    fn context(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool>;

    /// Whether the sink wants survey facts (records per schema and month), which cost a little
    /// per line to gather.
    fn wants_survey(&self) -> bool {
        false
    }

    /// The survey facts of one window, in file order (only when `wants_survey`).
    fn surveyed(&mut self, _part: SurveyPart) -> Result<()> {
        Ok(())
    }

    /// Every complete line there was at the searcher's last look has been pushed. True asks
    /// it to look again for lines appended since (a live writer), false ends the search.
    fn caught_up(&mut self, _seen: &Tally) -> Result<bool> {
        Ok(false)
    }

    /// The search is over. `tail` is the trailing line without its `\n` (a writer may be in the
    /// middle of it), already counted as kept; its range is empty when there is none, and it
    /// starts where the last complete line pushed ends.
    fn finish(&mut self, _data: &[u8], _tail: &Run, _seen: &Tally) -> Result<()> {
        Ok(())
    }
}

/// Two sinks as one: `first` sees every call before `second`, and a stop from either stops both.
pub struct Tee<'a> {
    pub first: &'a mut dyn Sink,
    pub second: &'a mut dyn Sink,
}

impl Sink for Tee<'_> {
    fn matched(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool> {
        Ok(self.first.matched(data, run, seen)? && self.second.matched(data, run, seen)?)
    }

    fn context(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool> {
        Ok(self.first.context(data, run, seen)? && self.second.context(data, run, seen)?)
    }

    fn wants_survey(&self) -> bool {
        self.first.wants_survey() || self.second.wants_survey()
    }

    fn surveyed(&mut self, part: SurveyPart) -> Result<()> {
        match (self.first.wants_survey(), self.second.wants_survey()) {
            (true, true) => {
                self.first.surveyed(part.clone())?;
                self.second.surveyed(part)
            }
            (true, false) => self.first.surveyed(part),
            _ => self.second.surveyed(part),
        }
    }

    fn caught_up(&mut self, seen: &Tally) -> Result<bool> {
        let first = self.first.caught_up(seen)?;
        let second = self.second.caught_up(seen)?;
        Ok(first || second)
    }

    fn finish(&mut self, data: &[u8], tail: &Run, seen: &Tally) -> Result<()> {
        self.first.finish(data, tail, seen)?;
        self.second.finish(data, tail, seen)
    }
}

/// A sink that only lets the searcher count: the dry run.
pub struct CountOnly;

impl Sink for CountOnly {
    fn matched(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    fn context(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }
}
