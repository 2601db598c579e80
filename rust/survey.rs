//! A read-only survey of a log for `mxcp-compact stats`: records and bytes per schema and per
//! month (UTC), the oldest and newest record, and what a cleanup would delete now.
//!
//! One pass over the mapped file. Each line is decided exactly as a cleanup would (so the
//! "would delete" figures equal a dry run's), and its fields are read by a scan that stops once
//! they are known. Lines without readable fields are counted under no schema and no month.

use std::collections::HashMap;
use std::path::Path;

use crate::decide::Decider;
use crate::error::Result;
use crate::retention::RetentionRules;
use crate::scan::{scan_line_with, Scan};
use crate::source::{open_log, LogMap};
use crate::stats::Tally;
use crate::timestamp::{parse_timestamp, UnixNanos, NANOS_PER_DAY};

/// Records of one schema key in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub schema_name: String,
    pub schema_version: String,
    /// `YYYY-MM` (UTC), or empty when the line has no readable timestamp.
    pub month: String,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Survey {
    pub buckets: Vec<Bucket>,
    pub oldest: Option<UnixNanos>,
    pub newest: Option<UnixNanos>,
    /// The cleanup decision for every line, as a dry run would count it.
    pub tally: Tally,
}

pub fn survey_file(path: &Path, rules: &RetentionRules, now: UnixNanos) -> Result<Survey> {
    let (file, meta) = open_log(path, path, false)?;
    let map = LogMap::map(&file, meta.len(), path)?;
    let survey = survey_bytes(map.bytes(), rules, now);
    map.check(path)?;
    Ok(survey)
}

pub fn survey_bytes(data: &[u8], rules: &RetentionRules, now: UnixNanos) -> Survey {
    let mut decider = Decider::new(rules, now);
    let mut index: HashMap<(String, String, String), usize> = HashMap::new();
    let mut survey = Survey::default();
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |at| start + at + 1);
        let line = &data[start..end];
        decider.decide(line);
        let (name, version, month) = match scan_line_with(line.strip_suffix(b"\n").unwrap_or(line), &mut |_| true) {
            Scan::Record(record) | Scan::Settled(record) => {
                let name = record.schema_name.text().map(|t| t.into_owned()).unwrap_or_default();
                let version = record.schema_version.map_or("1".to_owned(), |v| String::from_utf8_lossy(v).into_owned());
                let instant = record.timestamp.text().and_then(|t| parse_timestamp(t.as_bytes()));
                if let Some(instant) = instant {
                    survey.oldest = Some(survey.oldest.map_or(instant, |o| o.min(instant)));
                    survey.newest = Some(survey.newest.map_or(instant, |n| n.max(instant)));
                }
                (name, version, instant.map(month_of).unwrap_or_default())
            }
            _ => (String::new(), String::new(), String::new()),
        };
        let key = (name, version, month);
        let slot = match index.get(&key) {
            Some(&slot) => slot,
            None => {
                let (schema_name, schema_version, month) = key.clone();
                survey.buckets.push(Bucket { schema_name, schema_version, month, records: 0, bytes: 0 });
                index.insert(key, survey.buckets.len() - 1);
                survey.buckets.len() - 1
            }
        };
        survey.buckets[slot].records += 1;
        survey.buckets[slot].bytes += line.len() as u64;
        start = end;
    }
    survey.tally = decider.into_tally();
    survey
}

/// `YYYY-MM` of an instant, in UTC.
fn month_of(instant: UnixNanos) -> String {
    let days = instant.div_euclid(NANOS_PER_DAY) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
