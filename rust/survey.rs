//! The stats survey as a sink: it collects the searcher's per-window buckets (see `buckets`)
//! into one file's survey.
//!
//! The decision for each line is the searcher's, exactly as a cleanup's, so the "would delete"
//! figures equal a dry run's.

pub use crate::buckets::{Bucket, Judged, SurveyPart};
use crate::decide::Run;
use crate::error::Result;
use crate::scan::{scan_line_with, Scan};
use crate::sink::Sink;
use crate::stats::Tally;
use crate::timestamp::UnixNanos;

/// A finished survey of one file.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub buckets: Vec<Bucket>,
    pub oldest: Option<UnixNanos>,
    pub newest: Option<UnixNanos>,
    /// The oldest record past its retention: timestamp and line number (from 1).
    pub oldest_expired: Option<(UnixNanos, u64)>,
    /// Records dated more than a day after now, and the line number of the first.
    pub future: u64,
    pub first_future: Option<u64>,
    /// The cleanup decision for every line, as a dry run would count it.
    pub tally: Tally,
}

/// The sink that gathers a survey.
pub struct SurveySink {
    pub part: SurveyPart,
    /// The instant of the decisions, for the trailing line the sink observes itself.
    now: UnixNanos,
}

impl SurveySink {
    pub fn new(now: UnixNanos) -> Self {
        SurveySink { part: SurveyPart::default(), now }
    }

    pub fn into_survey(self, tally: Tally) -> Survey {
        let part = self.part;
        Survey {
            buckets: part.buckets,
            oldest: part.oldest,
            newest: part.newest,
            oldest_expired: part.oldest_expired.map(|(instant, index)| (instant, index + 1)),
            future: part.future,
            first_future: part.first_future.map(|index| index + 1),
            tally,
        }
    }
}

impl Sink for SurveySink {
    fn matched(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    fn context(&mut self, _data: &[u8], _run: &Run, _seen: &Tally) -> Result<bool> {
        Ok(true)
    }

    fn wants_survey(&self) -> bool {
        true
    }

    fn surveyed(&mut self, part: SurveyPart) -> Result<()> {
        self.part.merge(part);
        Ok(())
    }

    fn finish(&mut self, data: &[u8], tail: &Run, _seen: &Tally) -> Result<()> {
        // The decider does not read a line without its `\n`; its fields still count here.
        if !tail.range.is_empty() {
            let line = &data[tail.range.clone()];
            let fields = match scan_line_with(line, &mut |_| true) {
                Scan::Record(record) | Scan::Settled(record) => Some(record),
                _ => None,
            };
            // A line without its newline is never deleted.
            self.part.observe(line, fields.as_ref(), Judged { deleted: false, now: self.now });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::month_of;
    use crate::retention::RetentionRules;
    use crate::searcher::Searcher;
    use crate::timestamp::parse_timestamp;
    use crate::tuning::Tuning;

    fn survey_bytes(data: &[u8], rules: &RetentionRules, now: UnixNanos) -> Survey {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let mut sink = SurveySink::new(now);
        let searcher = Searcher { rules, now, threads: 2, tuning: Tuning::SMALL, progress: None, erasure: None };
        let searched = searcher.search(&file, &path, 0, &mut sink).unwrap();
        sink.into_survey(searched.tally)
    }

    fn ts(text: &str) -> UnixNanos {
        parse_timestamp(text.as_bytes()).unwrap()
    }

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(ts("2026-11-27T23:45:26Z")), "2026-11");
        assert_eq!(month_of(ts("2026-01-01T00:30:00+01:00")), "2025-12");
        assert_eq!(month_of(ts("2024-02-29T12:00:00Z")), "2024-02");
        assert_eq!(month_of(ts("1969-12-31T23:59:59Z")), "1969-12");
        assert_eq!(month_of(0), "1970-01");
    }

    #[test]
    fn survey_buckets_by_schema_and_month_and_counts_what_a_cleanup_deletes() {
        let line = |name: &str, day: &str| {
            format!("{{\"schema_name\": \"{name}\", \"schema_version\": 2, \"timestamp\": \"{day}T00:00:00Z\"}}\n")
        };
        let data = [
            line("mxcp.endpoints", "2026-01-05"),
            line("mxcp.endpoints", "2026-01-20"),
            line("mxcp.endpoints", "2026-11-20"),
            line("app", "2026-11-21"),
            "not json\n".to_owned(),
        ]
        .concat();
        let survey = survey_bytes(data.as_bytes(), &RetentionRules::new([], None, []), ts("2026-11-27T00:00:00Z"));
        let rows: Vec<_> =
            survey.buckets.iter().map(|b| (b.schema_name.as_str(), b.month.as_str(), b.records)).collect();
        assert_eq!(
            rows,
            [("mxcp.endpoints", "2026-01", 2), ("mxcp.endpoints", "2026-11", 1), ("app", "2026-11", 1), ("", "", 1)]
        );
        assert_eq!(survey.oldest, Some(ts("2026-01-05T00:00:00Z")));
        assert_eq!(survey.newest, Some(ts("2026-11-21T00:00:00Z")));
        assert_eq!(survey.tally.deleted_lines, 2);
        assert_eq!(survey.buckets.iter().map(|b| b.bytes).sum::<u64>(), data.len() as u64);
    }

    #[test]
    fn a_line_broken_after_its_fields_is_no_record_of_any_month_or_age() {
        let rules = RetentionRules::new([], None, []);
        let now = ts("2026-11-27T00:00:00Z");
        let young = "{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2026-11-20T00:00:00Z\"}\n";
        for broken in [
            "{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2020-01-01T00:00:00Z\",}\n",
            "{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2036-11-20T00:00:00Z\" garbage\n",
            "{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2020-01-01T00:00:00Z\", \"timestamp\": \"x\"}\n",
        ] {
            let survey = survey_bytes(format!("{young}{broken}").as_bytes(), &rules, now);
            assert_eq!((survey.oldest, survey.newest), (Some(ts("2026-11-20T00:00:00Z")), survey.oldest), "{broken}");
            assert_eq!((survey.future, survey.oldest_expired, survey.tally.deleted_lines), (0, None, 0), "{broken}");
            let rows: Vec<_> = survey.buckets.iter().map(|b| (b.month.as_str(), b.records)).collect();
            assert_eq!(rows, [("2026-11", 1), ("", 1)], "{broken}");
        }
    }

    #[test]
    fn the_oldest_expired_record_and_future_records_are_found_with_their_line_numbers() {
        let line = |day: &str| {
            format!("{{\"schema_name\": \"mxcp.endpoints\", \"schema_version\": 2, \"timestamp\": \"{day}\"}}\n")
        };
        let mut data = String::new();
        for n in 0..5000 {
            data.push_str(&line(match n {
                10 => "2020-03-01T00:00:00Z",
                4000 => "2019-12-31T23:59:59Z",
                4500 => "2026-11-29T00:00:01Z",
                4600 => "2030-01-01T00:00:00Z",
                _ => "2026-11-20T00:00:00Z",
            }));
        }
        data.push_str("{\"schema_name\": \"mxcp.endpoints\", \"timestamp\": \"2031-01-01T00:00:00Z\"}");
        let survey = survey_bytes(data.as_bytes(), &RetentionRules::new([], None, []), ts("2026-11-27T00:00:00Z"));
        assert_eq!(survey.oldest_expired, Some((ts("2019-12-31T23:59:59Z"), 4001)));
        assert_eq!((survey.future, survey.first_future), (3, Some(4501)));
        assert_eq!(survey.tally.deleted_lines, 2);
    }
}
