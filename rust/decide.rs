//! The line decision: `decide(line) -> Verdict`, the one place that says whether a line is
//! deleted and, if not, why it is kept.
//!
//! A line is deleted only when it ends with `\n`, scans as a valid record (see `scan`), its
//! schema has a policy of N days, its timestamp parses, and `now - timestamp >= (N + 1) days`
//! exactly (MXCP's `(now - ts).days > N`, floor division, to the nanosecond). Everything else
//! is kept byte for byte. A record shown to be kept by its leading fields is not read further
//! (its validity cannot change the outcome). The decider counts nothing: every tally is built
//! from the verdicts (see `stats`), so no line is decided twice. Schema ids in a verdict index
//! this decider's own table of (name, version as written, policy).

use std::collections::HashMap;
use std::ops::Range;

use crate::erase::Erasure;
use crate::retention::{Policy, RetentionRules};
use crate::scan::{scan_first_line_with, Kernel, NoCapture, Record, Scan, Unevaluable};
use crate::timestamp::{parse_timestamp, UnixNanos, NANOS_PER_DAY};

/// Index of a schema in a decider's table (or, after the searcher maps it, in a `Tally`).
pub type SchemaId = usize;

/// What happens to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A record past its schema's retention.
    Delete(SchemaId),
    Keep(KeepReason),
}

/// Why a line is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepReason {
    /// A record younger than its retention.
    Retained(SchemaId),
    /// A record whose schema has no policy or keeps forever.
    NoPolicy(SchemaId),
    /// A valid record that an erasure's conditions do not select.
    Unmatched(SchemaId),
    /// Only whitespace.
    Blank,
    /// A line whose retention fields could not be read (never deleted).
    Unevaluable(Unevaluable),
}

impl Verdict {
    pub fn is_delete(self) -> bool {
        matches!(self, Verdict::Delete(_))
    }

    /// The same verdict with its schema id passed through `map`.
    pub fn map_schema(self, map: impl Fn(SchemaId) -> SchemaId) -> Verdict {
        match self {
            Verdict::Delete(id) => Verdict::Delete(map(id)),
            Verdict::Keep(KeepReason::Retained(id)) => Verdict::Keep(KeepReason::Retained(map(id))),
            Verdict::Keep(KeepReason::NoPolicy(id)) => Verdict::Keep(KeepReason::NoPolicy(map(id))),
            Verdict::Keep(KeepReason::Unmatched(id)) => Verdict::Keep(KeepReason::Unmatched(map(id))),
            other => other,
        }
    }
}

impl KeepReason {
    /// The name reports and the reference tests use.
    pub fn as_str(self) -> &'static str {
        match self {
            KeepReason::Retained(_) => "retained",
            KeepReason::NoPolicy(_) => "no_policy",
            KeepReason::Unmatched(_) => "not_matched",
            KeepReason::Blank => "blank",
            KeepReason::Unevaluable(reason) => reason.as_str(),
        }
    }
}

/// A schema as records name it: `schema_name`, the `schema_version` literal as written (`1`
/// when absent), and the policy that applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaKey {
    pub schema_name: String,
    pub schema_version: String,
    pub policy: Policy,
}

/// What the kept records of one schema tell of their age: the oldest timestamp among those
/// whose timestamp was read, and whether some were kept unread (no policy), so of unknown age.
/// The incremental index trusts a file whose oldest kept record is not yet expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptAge {
    pub oldest: Option<UnixNanos>,
    pub unknown: bool,
}

impl KeptAge {
    pub fn saw(&mut self, timestamp: UnixNanos) {
        self.oldest = Some(self.oldest.map_or(timestamp, |oldest| oldest.min(timestamp)));
    }

    pub fn merge(&mut self, other: KeptAge) {
        if let Some(oldest) = other.oldest {
            self.saw(oldest);
        }
        self.unknown |= other.unknown;
    }
}

/// Consecutive lines `range` of the input that share one verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub range: Range<usize>,
    pub lines: u64,
    pub verdict: Verdict,
}

/// What a (raw schema name, raw version) pair resolves to; cached per decider.
#[derive(Clone, Copy)]
enum Resolved {
    Schema {
        id: SchemaId,
        policy: Policy,
    },
    /// The name or version cannot be read (lone surrogate, version beyond i64).
    Unreadable(Unevaluable),
}

pub struct Decider<'r> {
    rules: &'r RetentionRules,
    now: UnixNanos,
    /// The first few (raw name, raw version) pairs seen, searched in order: real logs have a
    /// handful, and comparing a few short byte strings beats hashing them on every line.
    recent: Vec<RecentPair>,
    /// Every further pair (hostile or unusual input), keyed by name bytes, 0xFF (never in
    /// UTF-8), version bytes.
    cache: HashMap<Box<[u8]>, Resolved>,
    scratch: Vec<u8>,
    schemas: Vec<SchemaKey>,
    /// Per schema id, what the kept records tell of their age (for the incremental index).
    ages: Vec<KeptAge>,
    /// Deciding an erasure instead of retention.
    erasure: Option<&'r Erasure>,
    /// The scan's byte searches (tests force each one).
    kernel: Kernel,
}

/// Raw schema name bytes, raw version bytes, and what they resolve to.
type RecentPair = (Box<[u8]>, Box<[u8]>, Resolved);

/// How many (name, version) pairs are looked up by comparison before the hash map takes over.
const RECENT_PAIRS: usize = 16;

impl<'r> Decider<'r> {
    pub fn new(rules: &'r RetentionRules, now: UnixNanos) -> Self {
        Decider {
            rules,
            now,
            recent: Vec::new(),
            cache: HashMap::new(),
            scratch: Vec::new(),
            schemas: Vec::new(),
            ages: Vec::new(),
            erasure: None,
            kernel: Kernel::Native,
        }
    }

    /// This decider, scanning with `kernel`'s byte searches: the same verdicts by any kernel.
    pub fn with_kernel(self, kernel: Kernel) -> Self {
        Decider { kernel, ..self }
    }

    /// A decider that deletes exactly the valid records `erasure` selects, whatever their age
    /// (`rules` still name each schema's policy in the counts).
    pub fn erasing(rules: &'r RetentionRules, now: UnixNanos, erasure: &'r Erasure) -> Self {
        Decider { erasure: Some(erasure), ..Decider::new(rules, now) }
    }

    /// The instant retention is evaluated at.
    pub fn now(&self) -> UnixNanos {
        self.now
    }

    /// The schemas the verdicts so far refer to, by id.
    pub fn schemas(&self) -> &[SchemaKey] {
        &self.schemas
    }

    pub fn into_schemas(self) -> Vec<SchemaKey> {
        self.schemas
    }

    /// The schemas by id, and what their kept records tell of their age.
    pub fn into_parts(self) -> (Vec<SchemaKey>, Vec<KeptAge>) {
        (self.schemas, self.ages)
    }

    /// Decides one line (with its `\n`, if it has one).
    pub fn decide(&mut self, line: &[u8]) -> Verdict {
        self.decide_first_line(line, &mut |_| {}).0
    }

    /// Decides the line at the start of `data`, which may hold further lines, and returns how
    /// long it is, its `\n` included (all of `data` when it has none: incomplete). Also hands
    /// `first_fields` the retention fields as soon as they are known (once, or never for a line
    /// that has none): what a survey reads, at no extra scan.
    pub fn decide_first_line<'a>(
        &mut self,
        data: &'a [u8],
        first_fields: &mut dyn FnMut(&Record<'a>),
    ) -> (Verdict, usize) {
        let incomplete = (Verdict::Keep(KeepReason::Unevaluable(Unevaluable::Incomplete)), data.len());
        // Every line of data ending in `\n` is complete (the searcher's windows); otherwise this
        // may be the unfinished last line, which is kept unread, its fields told to no one.
        if data.last() != Some(&b'\n') && memchr::memchr(b'\n', data).is_none() {
            return incomplete;
        }
        let (verdict, end) = match self.erasure {
            Some(erasure) => self.decide_erasure(data, erasure),
            None => self.decide_retention(data, first_fields),
        };
        match data.get(end) {
            Some(b'\n') => (verdict, end + 1),
            _ => incomplete,
        }
    }

    /// The verdict on the first line of `data`, and the index of its `\n` (or `data.len()`).
    fn decide_retention<'a>(&mut self, data: &'a [u8], first_fields: &mut dyn FnMut(&Record<'a>)) -> (Verdict, usize) {
        // Once the fields show the record is kept (young, or no policy), the rest of the line
        // cannot change that: stop scanning. Only with the version known, as the policy and the
        // per-version counts depend on it; MXCP writes schema_version before timestamp.
        let mut settled = None;
        // The verdict last computed by the check, with the fields it was computed from: a
        // deleted line is judged there already, and must not be judged twice.
        let mut last: Option<(Record<'_>, Verdict)> = None;
        let mut seen = false;
        let (scan, end) = scan_first_line_with(
            self.kernel,
            data,
            &mut |record| {
                if !seen {
                    seen = true;
                    first_fields(record);
                }
                if record.schema_version.is_none() {
                    return false;
                }
                let verdict = self.verdict(record);
                last = Some((*record, verdict));
                let kept = matches!(verdict, Verdict::Keep(KeepReason::Retained(_) | KeepReason::NoPolicy(_)));
                if kept {
                    settled = Some(verdict);
                }
                kept
            },
            &mut NoCapture,
        );
        let verdict = match scan {
            Scan::Record(record) => match last {
                Some((judged, verdict)) if judged == record => verdict,
                _ => self.verdict(&record),
            },
            Scan::Settled(_) => settled.unwrap_or(Verdict::Keep(KeepReason::Unevaluable(Unevaluable::NotJson))),
            Scan::Blank => Verdict::Keep(KeepReason::Blank),
            Scan::Unevaluable(reason) => Verdict::Keep(KeepReason::Unevaluable(reason)),
        };
        (verdict, end)
    }

    /// An erasure reads the whole line: only a valid record may be deleted. (No survey reads
    /// an erasure's fields.)
    fn decide_erasure(&mut self, data: &[u8], erasure: &Erasure) -> (Verdict, usize) {
        let mut captured = erasure.capture();
        let (scan, end) = scan_first_line_with(self.kernel, data, &mut |_| false, &mut captured);
        let verdict = match scan {
            Scan::Record(record) => match self.resolve(&record) {
                Resolved::Schema { id, .. } if erasure.matches(&record, &captured) => Verdict::Delete(id),
                Resolved::Schema { id, .. } => {
                    self.ages[id].unknown = true;
                    Verdict::Keep(KeepReason::Unmatched(id))
                }
                Resolved::Unreadable(reason) => Verdict::Keep(KeepReason::Unevaluable(reason)),
            },
            Scan::Settled(_) => Verdict::Keep(KeepReason::Unevaluable(Unevaluable::NotJson)),
            Scan::Blank => Verdict::Keep(KeepReason::Blank),
            Scan::Unevaluable(reason) => Verdict::Keep(KeepReason::Unevaluable(reason)),
        };
        (verdict, end)
    }

    fn verdict(&mut self, record: &Record<'_>) -> Verdict {
        let (id, policy) = match self.resolve(record) {
            Resolved::Schema { id, policy } => (id, policy),
            Resolved::Unreadable(reason) => return Verdict::Keep(KeepReason::Unevaluable(reason)),
        };
        let Policy::Days(days) = policy else {
            // Not read: a later rule giving this schema a policy cannot trust an age.
            self.ages[id].unknown = true;
            return Verdict::Keep(KeepReason::NoPolicy(id));
        };
        // The parser takes ASCII only, so an unescaped timestamp needs no UTF-8 check first.
        let parsed = if record.timestamp.escaped {
            record.timestamp.text().and_then(|text| parse_timestamp(text.as_bytes()))
        } else {
            parse_timestamp(record.timestamp.raw)
        };
        match parsed {
            None => Verdict::Keep(KeepReason::Unevaluable(Unevaluable::BadTimestamp)),
            Some(timestamp) if is_expired(self.now, timestamp, days) => Verdict::Delete(id),
            Some(timestamp) => {
                self.ages[id].saw(timestamp);
                Verdict::Keep(KeepReason::Retained(id))
            }
        }
    }

    fn resolve(&mut self, record: &Record<'_>) -> Resolved {
        let name = record.schema_name.raw;
        let version = record.schema_version.unwrap_or(b"");
        if let Some((_, _, resolved)) = self.recent.iter().find(|(n, v, _)| **n == *name && **v == *version) {
            return *resolved;
        }
        if self.recent.len() < RECENT_PAIRS {
            let resolved = self.resolve_uncached(record);
            self.recent.push((name.into(), version.into(), resolved));
            return resolved;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(name);
        self.scratch.push(0xFF);
        self.scratch.extend_from_slice(version);
        if let Some(resolved) = self.cache.get(self.scratch.as_slice()) {
            return *resolved;
        }
        let resolved = self.resolve_uncached(record);
        self.cache.insert(self.scratch.clone().into_boxed_slice(), resolved);
        resolved
    }

    fn resolve_uncached(&mut self, record: &Record<'_>) -> Resolved {
        let Some(name) = record.schema_name.text() else {
            return Resolved::Unreadable(Unevaluable::NotString);
        };
        let (version, version_text) = match record.schema_version {
            None => (Some(1), "1"),
            Some(literal) => {
                // The scanner only hands over validated integer literals, so this is ASCII; one
                // beyond i64 is still an integer: no registry line names it, the rest applies.
                let text = std::str::from_utf8(literal).unwrap_or("");
                (text.parse::<i64>().ok(), text)
            }
        };
        let policy = self.rules.policy(&name, version);
        let key = SchemaKey { schema_name: name.into_owned(), schema_version: version_text.to_owned(), policy };
        let id = match self.schemas.iter().position(|known| *known == key) {
            Some(id) => id,
            None => {
                self.schemas.push(key);
                self.ages.push(KeptAge::default());
                self.schemas.len() - 1
            }
        };
        Resolved::Schema { id, policy }
    }
}

/// MXCP's `(now - timestamp).days > days`, where `.days` floors: true once the record is at
/// least `days + 1` whole days old.
pub fn is_expired(now: UnixNanos, timestamp: UnixNanos, days: u32) -> bool {
    now - timestamp >= (i128::from(days) + 1) * NANOS_PER_DAY
}

/// Decides every line in `data[span]` (`span` starts at a line start) and appends them to
/// `runs`, consecutive lines with the same verdict as one run.
pub fn decide_span(decider: &mut Decider<'_>, data: &[u8], span: Range<usize>, runs: &mut Vec<Run>) {
    let mut start = span.start;
    while start < span.end {
        let (verdict, len) = decider.decide_first_line(&data[start..span.end], &mut |_| {});
        push_line(runs, start..start + len, verdict);
        start += len;
    }
}

/// Appends one decided line to `runs`, extending the last run when the verdict is the same.
pub fn push_line(runs: &mut Vec<Run>, line: Range<usize>, verdict: Verdict) {
    match runs.last_mut() {
        Some(last) if last.verdict == verdict && last.range.end == line.start => {
            last.range.end = line.end;
            last.lines += 1;
        }
        _ => runs.push(Run { range: line, lines: 1, verdict }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Tally;
    use crate::timestamp::parse_timestamp;

    /// A decider whose verdicts are counted as the searcher counts them.
    struct Counting<'r> {
        decider: Decider<'r>,
        tally: Tally,
    }

    impl<'r> Counting<'r> {
        fn new(rules: &'r RetentionRules, now: UnixNanos) -> Self {
            Counting { decider: Decider::new(rules, now), tally: Tally::default() }
        }

        /// True means delete.
        fn decide(&mut self, line: &[u8]) -> bool {
            let verdict = self.decider.decide(line);
            self.count(verdict, 1, line.len());
            verdict.is_delete()
        }

        fn count(&mut self, verdict: Verdict, lines: u64, bytes: usize) {
            let ids: Vec<SchemaId> = self.decider.schemas().iter().map(|key| self.tally.schema_id(key)).collect();
            self.tally.count(verdict.map_schema(|id| ids[id]), lines, bytes as u64);
        }

        fn tally(&self) -> &Tally {
            &self.tally
        }
    }

    fn now() -> UnixNanos {
        parse_timestamp(b"2026-11-27T00:00:00Z").unwrap()
    }

    fn line(timestamp: &str) -> String {
        format!("{{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 2, \"timestamp\": \"{timestamp}\"}}\n")
    }

    #[test]
    fn whole_day_boundary_is_exact_to_the_nanosecond() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        // 91 days before now exactly: (now - ts).days == 91 > 90, deleted.
        assert!(decider.decide(line("2026-08-28T00:00:00Z").as_bytes()));
        // One nanosecond younger: .days == 90, kept.
        assert!(!decider.decide(line("2026-08-28T00:00:00.000000001Z").as_bytes()));
        assert!(!decider.decide(line("2026-08-29T00:00:00Z").as_bytes()));
        // Offsets are honoured: 01:00+01:00 is midnight UTC.
        assert!(decider.decide(line("2026-08-28T01:00:00+01:00").as_bytes()));
        assert!(!decider.decide(line("2026-08-28T00:00:00-00:01").as_bytes()));
        // Future timestamps are kept.
        assert!(!decider.decide(line("2030-01-01T00:00:00Z").as_bytes()));
        assert_eq!(decider.tally().deleted_lines, 2);
        assert_eq!(decider.tally().schemas.len(), 1);
        let tally = decider.tally();
        assert_eq!(
            (tally.schemas[0].schema_version.as_str(), tally.schemas[0].deleted, tally.schemas[0].kept),
            ("2", 2, 4)
        );
    }

    #[test]
    fn incomplete_last_line_is_kept_even_when_expired() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        let full = line("2000-01-01T00:00:00Z");
        assert!(!decider.decide(full.trim_end().as_bytes()));
        assert_eq!(decider.tally().unevaluable(Unevaluable::Incomplete), 1);
    }

    #[test]
    fn unknown_schema_and_bad_timestamp_are_kept() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        assert!(!decider.decide(b"{\"schema_name\": \"other\", \"timestamp\": \"2000-01-01T00:00:00Z\"}\n"));
        assert!(!decider.decide(line("2000-02-30T00:00:00Z").as_bytes()));
        assert!(!decider.decide(b"{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": \"2\", \"timestamp\": \"2000-01-01T00:00:00Z\"}\n"));
        assert_eq!(decider.tally().unmanaged, 1);
        assert_eq!(decider.tally().unevaluable(Unevaluable::BadTimestamp), 1);
        assert_eq!(decider.tally().unevaluable(Unevaluable::BadVersion), 1);
        assert_eq!(decider.tally().deleted_lines, 0);
    }

    #[test]
    fn a_version_beyond_i64_is_judged_like_any_other_integer() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        assert!(decider.decide(b"{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 99999999999999999999, \"timestamp\": \"2000-01-01T00:00:00Z\"}\n"));
        assert_eq!(decider.tally().schemas[0].schema_version, "99999999999999999999");
    }

    #[test]
    fn escaped_timestamp_value_is_unescaped_before_parsing() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        assert!(
            decider.decide(b"{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2000\\u002d01-01T00:00:00Z\"}\n")
        );
        assert_eq!(decider.tally().schemas[0].schema_version, "1");
    }

    #[test]
    fn many_schemas_are_resolved_alike_before_and_after_the_lookup_table_fills() {
        // Even-numbered schemas live 10 days, odd ones forever; 3 rounds over 3 * RECENT_PAIRS
        // names, so lookups go through the short list and then the hash map, hits and misses.
        let names = 3 * RECENT_PAIRS;
        let overrides = (0..names).map(|n| (format!("s{n}"), (n % 2 == 0).then_some(10)));
        let rules = RetentionRules::new(overrides, None, []);
        let mut decider = Counting::new(&rules, now());
        for round in 0..3 {
            for n in 0..names {
                let version = n % 3;
                let line =
                    format!("{{\"schema_name\": \"s{n}\", \"schema_version\": {version}, \"timestamp\": \"2000-01-01T00:00:00Z\"}}\n");
                assert_eq!(decider.decide(line.as_bytes()), n % 2 == 0, "round {round}, schema s{n}");
            }
        }
        let tally = decider.tally();
        assert_eq!(tally.schemas.len(), names);
        assert!(tally.schemas.iter().all(|s| s.deleted + s.kept == 3));
        assert_eq!(tally.deleted_lines, 3 * names as u64 / 2);
    }

    #[test]
    fn kept_runs_are_coalesced_ranges_of_the_input() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Counting::new(&rules, now());
        let old = line("2000-01-01T00:00:00Z");
        let new = line("2026-11-26T00:00:00Z");
        let data = format!("{new}{new}{old}\n{new}{old}{old}partial");
        let mut decided = Vec::new();
        decide_span(&mut decider.decider, data.as_bytes(), 0..data.len(), &mut decided);
        for run in &decided {
            decider.count(run.verdict, run.lines, run.range.len());
        }
        // Kept runs with different reasons that touch are one range for the writer.
        let mut runs: Vec<Range<usize>> = Vec::new();
        for run in decided.iter().filter(|run| !run.verdict.is_delete()) {
            match runs.last_mut() {
                Some(last) if last.end == run.range.start => last.end = run.range.end,
                _ => runs.push(run.range.clone()),
            }
        }
        let kept: String = runs.iter().map(|r| &data[r.clone()]).collect();
        assert_eq!(kept, format!("{new}{new}\n{new}partial"));
        assert_eq!(runs.len(), 3);
        let tally = decider.tally();
        assert_eq!((tally.lines, tally.deleted_lines, tally.blank), (8, 3, 1));
    }
}

#[cfg(test)]
mod verdict_tests {
    use super::*;

    #[test]
    fn each_line_gets_the_reason_it_is_kept() {
        let rules = RetentionRules::new([("forever".to_owned(), None)], None, []);
        let now = crate::timestamp::parse_timestamp(b"2026-11-27T00:00:00Z").unwrap();
        let mut decider = Decider::new(&rules, now);
        let reason = |verdict: Verdict| match verdict {
            Verdict::Delete(_) => "delete",
            Verdict::Keep(reason) => reason.as_str(),
        };
        let cases: [(&[u8], &str); 6] = [
            (b"{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2000-01-01T00:00:00Z\"}\n", "delete"),
            (b"{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2026-11-26T00:00:00Z\"}\n", "retained"),
            (b"{\"schema_name\": \"forever\", \"timestamp\": \"2000-01-01T00:00:00Z\"}\n", "no_policy"),
            (b"  \n", "blank"),
            (b"{\"schema_name\": \"mxcp.endpoints\"\n", "invalid_json"),
            (b"{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2000-01-01T00:00:00Z\"}", "incomplete_last_line"),
        ];
        for (line, expected) in cases {
            assert_eq!(reason(decider.decide(line)), expected, "{}", String::from_utf8_lossy(line));
        }
    }
}
