//! Where the searcher's verdicts go: the `Sink` trait, and `Tee`, which hands every call to two
//! sinks.
//!
//! Modelled on ripgrep's grep-searcher: the searcher owns reading and line splitting and pushes
//! every line, as runs of lines with one verdict, into a sink; a sink only reacts. The scrub is
//! a sink too (`scrub`). A dry run,
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

/// Several sinks as one: each call goes to every sink in order, and a stop from any stops all.
/// Order matters where sinks finish: the archive finishes (durable) before the copy swaps, and
/// the scrub after it.
pub struct Tee<'a>(pub Vec<&'a mut dyn Sink>);

impl Sink for Tee<'_> {
    fn matched(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool> {
        for sink in self.0.iter_mut() {
            if !sink.matched(data, run, seen)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn context(&mut self, data: &[u8], run: &Run, seen: &Tally) -> Result<bool> {
        for sink in self.0.iter_mut() {
            if !sink.context(data, run, seen)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn wants_survey(&self) -> bool {
        self.0.iter().any(|sink| sink.wants_survey())
    }

    fn surveyed(&mut self, part: SurveyPart) -> Result<()> {
        for sink in self.0.iter_mut().filter(|sink| sink.wants_survey()) {
            sink.surveyed(part.clone())?;
        }
        Ok(())
    }

    fn caught_up(&mut self, seen: &Tally) -> Result<bool> {
        let mut again = false;
        for sink in self.0.iter_mut() {
            again |= sink.caught_up(seen)?;
        }
        Ok(again)
    }

    fn finish(&mut self, data: &[u8], tail: &Run, seen: &Tally) -> Result<()> {
        self.0.iter_mut().try_for_each(|sink| sink.finish(data, tail, seen))
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
