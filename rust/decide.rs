//! The line decision: delete or keep, and the loop that applies it to a span of lines.
//!
//! A line is deleted only when it ends with `\n`, scans as a valid record (see `scan`), its
//! schema has a policy of N days, its timestamp parses, and `now - timestamp >= (N + 1) days`
//! exactly (MXCP's `(now - ts).days > N`, floor division, to the nanosecond). Everything else
//! is kept byte for byte. A record shown to be kept by its leading fields is not read further
//! (its validity cannot change the outcome). Kept lines are reported as ranges of the input, coalesced so that a
//! run of kept lines is one range: the writer copies them without looking at them again.

use std::collections::HashMap;
use std::ops::Range;

use crate::retention::{Policy, RetentionRules};
use crate::scan::{scan_line_with, Record, Scan, Unevaluable};
use crate::stats::Tally;
use crate::timestamp::{parse_timestamp, UnixNanos, NANOS_PER_DAY};

/// The outcome for one record line; indexes point into the tally's schema list.
#[derive(Clone, Copy)]
enum Verdict {
    Delete(usize),
    Retained(usize),
    Unmanaged(usize),
    Unevaluable(Unevaluable),
}

/// What a (raw schema name, raw version) pair resolves to; cached per window.
#[derive(Clone, Copy)]
enum Resolved {
    Schema {
        index: usize,
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
    /// Owned here because cached schema indexes point into it.
    tally: Tally,
}

/// Raw schema name bytes, raw version bytes, and what they resolve to.
type RecentPair = (Box<[u8]>, Box<[u8]>, Resolved);

/// How many (name, version) pairs are looked up by comparison before the hash map takes over.
const RECENT_PAIRS: usize = 16;

impl<'r> Decider<'r> {
    pub fn new(rules: &'r RetentionRules, now: UnixNanos) -> Self {
        Decider { rules, now, recent: Vec::new(), cache: HashMap::new(), scratch: Vec::new(), tally: Tally::default() }
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    pub fn into_tally(self) -> Tally {
        self.tally
    }

    /// Decides one line (with its `\n`, if it has one) and counts it. True means delete.
    pub fn decide(&mut self, line: &[u8]) -> bool {
        self.tally.lines += 1;
        self.tally.bytes += line.len() as u64;
        let Some(body) = line.strip_suffix(b"\n") else {
            self.tally.count_unevaluable(Unevaluable::Incomplete);
            return false;
        };
        // Once the fields show the record is kept (young, or no policy), the rest of the line
        // cannot change that: stop scanning. Only with the version known, as the policy and the
        // per-version counts depend on it; MXCP writes schema_version before timestamp.
        let mut settled = None;
        // The verdict last computed by the check, with the fields it was computed from: a
        // deleted line is judged there already, and must not be judged twice.
        let mut last: Option<(Record<'_>, Verdict)> = None;
        let scan = scan_line_with(body, &mut |record| {
            if record.schema_version.is_none() {
                return false;
            }
            let verdict = self.verdict(record);
            last = Some((*record, verdict));
            let kept = matches!(verdict, Verdict::Retained(_) | Verdict::Unmanaged(_));
            if kept {
                settled = Some(verdict);
            }
            kept
        });
        let verdict = match scan {
            Scan::Record(record) => match last {
                Some((judged, verdict)) if judged == record => verdict,
                _ => self.verdict(&record),
            },
            Scan::Settled(_) => match settled {
                Some(verdict) => verdict,
                None => Verdict::Unevaluable(Unevaluable::NotJson),
            },
            Scan::Blank => {
                self.tally.blank += 1;
                return false;
            }
            Scan::Unevaluable(reason) => Verdict::Unevaluable(reason),
        };
        self.count(verdict, line.len() as u64)
    }

    fn verdict(&mut self, record: &Record<'_>) -> Verdict {
        let (index, policy) = match self.resolve(record) {
            Resolved::Schema { index, policy } => (index, policy),
            Resolved::Unreadable(reason) => return Verdict::Unevaluable(reason),
        };
        let Policy::Days(days) = policy else {
            return Verdict::Unmanaged(index);
        };
        // The parser takes ASCII only, so an unescaped timestamp needs no UTF-8 check first.
        let parsed = if record.timestamp.escaped {
            record.timestamp.text().and_then(|text| parse_timestamp(text.as_bytes()))
        } else {
            parse_timestamp(record.timestamp.raw)
        };
        match parsed {
            None => Verdict::Unevaluable(Unevaluable::BadTimestamp),
            Some(timestamp) if is_expired(self.now, timestamp, days) => Verdict::Delete(index),
            Some(_) => Verdict::Retained(index),
        }
    }

    fn count(&mut self, verdict: Verdict, bytes: u64) -> bool {
        let tally = &mut self.tally;
        match verdict {
            Verdict::Delete(index) => {
                tally.deleted_lines += 1;
                tally.deleted_bytes += bytes;
                tally.schemas[index].deleted += 1;
                tally.schemas[index].deleted_bytes += bytes;
                return true;
            }
            Verdict::Retained(index) => {
                tally.retained += 1;
                tally.schemas[index].kept += 1;
            }
            Verdict::Unmanaged(index) => {
                tally.unmanaged += 1;
                tally.schemas[index].kept += 1;
            }
            Verdict::Unevaluable(reason) => tally.count_unevaluable(reason),
        }
        false
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
        Resolved::Schema { index: self.tally.schema_index(&name, version_text, policy), policy }
    }
}

/// MXCP's `(now - timestamp).days > days`, where `.days` floors: true once the record is at
/// least `days + 1` whole days old.
pub fn is_expired(now: UnixNanos, timestamp: UnixNanos, days: u32) -> bool {
    now - timestamp >= (i128::from(days) + 1) * NANOS_PER_DAY
}

/// Decides every line in `data[span]` (`span` starts at a line start). Kept lines are appended
/// to `kept` as coalesced ranges of `data` when it is given (the dry run passes `None`).
pub fn decide_span(
    decider: &mut Decider<'_>,
    data: &[u8],
    span: Range<usize>,
    mut kept: Option<&mut Vec<Range<usize>>>,
) {
    let mut start = span.start;
    while start < span.end {
        let end = memchr::memchr(b'\n', &data[start..span.end]).map_or(span.end, |at| start + at + 1);
        let delete = decider.decide(&data[start..end]);
        if !delete {
            if let Some(runs) = kept.as_deref_mut() {
                match runs.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => runs.push(start..end),
                }
            }
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_timestamp;

    fn now() -> UnixNanos {
        parse_timestamp(b"2026-11-27T00:00:00Z").unwrap()
    }

    fn line(timestamp: &str) -> String {
        format!("{{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 2, \"timestamp\": \"{timestamp}\"}}\n")
    }

    #[test]
    fn whole_day_boundary_is_exact_to_the_nanosecond() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Decider::new(&rules, now());
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
        let mut decider = Decider::new(&rules, now());
        let full = line("2000-01-01T00:00:00Z");
        assert!(!decider.decide(full.trim_end().as_bytes()));
        assert_eq!(decider.tally().unevaluable(Unevaluable::Incomplete), 1);
    }

    #[test]
    fn unknown_schema_and_bad_timestamp_are_kept() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Decider::new(&rules, now());
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
        let mut decider = Decider::new(&rules, now());
        assert!(decider.decide(b"{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 99999999999999999999, \"timestamp\": \"2000-01-01T00:00:00Z\"}\n"));
        assert_eq!(decider.tally().schemas[0].schema_version, "99999999999999999999");
    }

    #[test]
    fn escaped_timestamp_value_is_unescaped_before_parsing() {
        let rules = RetentionRules::new([], None, []);
        let mut decider = Decider::new(&rules, now());
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
        let mut decider = Decider::new(&rules, now());
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
        let mut decider = Decider::new(&rules, now());
        let old = line("2000-01-01T00:00:00Z");
        let new = line("2026-11-26T00:00:00Z");
        let data = format!("{new}{new}{old}\n{new}{old}{old}partial");
        let mut runs = Vec::new();
        decide_span(&mut decider, data.as_bytes(), 0..data.len(), Some(&mut runs));
        let kept: String = runs.iter().map(|r| &data[r.clone()]).collect();
        assert_eq!(kept, format!("{new}{new}\n{new}partial"));
        assert_eq!(runs.len(), 3);
        let tally = decider.tally();
        assert_eq!((tally.lines, tally.deleted_lines, tally.blank), (8, 3, 1));
    }
}
