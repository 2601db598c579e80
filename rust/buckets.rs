//! Records and bytes per schema and per month (UTC), and the oldest and newest record: the
//! facts of the stats survey, gathered per window from the retention fields the decider reads
//! anyway, and merged in file order (so buckets keep the order of their first line).
//!
//! Each line is bucketed by its fields as first read (before the rest of the line is
//! validated); lines without them, and lines the decision found unevaluable (broken after their
//! fields, so no record: never the oldest, never in the future), are counted under no schema and
//! no month. A kept record is not read past its fields, so it counts as one. For `verify`, the
//! part also notes the oldest record that is to be deleted (with its line number) and records
//! dated more than a day after now (clock skew: they would outlive their retention).

use std::collections::HashMap;

use crate::scan::Record;
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

/// The survey of some lines; windows' parts merge in file order.
#[derive(Debug, Clone, Default)]
pub struct SurveyPart {
    pub buckets: Vec<Bucket>,
    index: HashMap<(String, String, String), usize>,
    pub oldest: Option<UnixNanos>,
    pub newest: Option<UnixNanos>,
    /// Lines observed.
    pub lines: u64,
    /// The oldest record past its retention: its timestamp and line index (from 0).
    pub oldest_expired: Option<(UnixNanos, u64)>,
    /// Records dated more than a day after now, and the index of the first.
    pub future: u64,
    pub first_future: Option<u64>,
}

/// What the decision said of an observed line, and the instant it was made at.
#[derive(Debug, Clone, Copy)]
pub struct Judged {
    pub deleted: bool,
    pub now: UnixNanos,
}

impl SurveyPart {
    /// Counts one line whose retention fields, as first read, are `fields`.
    pub fn observe(&mut self, line: &[u8], fields: Option<&Record<'_>>, judged: Judged) {
        let index = self.lines;
        self.lines += 1;
        let (name, version, month) = match fields {
            Some(record) => {
                let name = record.schema_name.text().map(|t| t.into_owned()).unwrap_or_default();
                let version = record.schema_version.map_or("1".to_owned(), |v| String::from_utf8_lossy(v).into_owned());
                let instant = record.timestamp.text().and_then(|t| parse_timestamp(t.as_bytes()));
                if let Some(instant) = instant {
                    self.seen_at(instant, instant);
                    self.judge(instant, index, judged);
                }
                (name, version, instant.map(month_of).unwrap_or_default())
            }
            None => (String::new(), String::new(), String::new()),
        };
        self.add(Bucket { schema_name: name, schema_version: version, month, records: 1, bytes: line.len() as u64 });
    }

    fn judge(&mut self, instant: UnixNanos, index: u64, judged: Judged) {
        if judged.deleted && self.oldest_expired.is_none_or(|(oldest, _)| instant < oldest) {
            self.oldest_expired = Some((instant, index));
        }
        if instant > judged.now + NANOS_PER_DAY {
            self.future += 1;
            self.first_future.get_or_insert(index);
        }
    }

    pub fn merge(&mut self, other: SurveyPart) {
        if let (Some(oldest), Some(newest)) = (other.oldest, other.newest) {
            self.seen_at(oldest, newest);
        }
        let offset = self.lines;
        if let Some((instant, index)) = other.oldest_expired {
            if self.oldest_expired.is_none_or(|(oldest, _)| instant < oldest) {
                self.oldest_expired = Some((instant, offset + index));
            }
        }
        if self.first_future.is_none() {
            self.first_future = other.first_future.map(|index| offset + index);
        }
        self.future += other.future;
        self.lines += other.lines;
        for bucket in other.buckets {
            self.add(bucket);
        }
    }

    fn seen_at(&mut self, oldest: UnixNanos, newest: UnixNanos) {
        self.oldest = Some(self.oldest.map_or(oldest, |o| o.min(oldest)));
        self.newest = Some(self.newest.map_or(newest, |n| n.max(newest)));
    }

    fn add(&mut self, bucket: Bucket) {
        let key = (bucket.schema_name.clone(), bucket.schema_version.clone(), bucket.month.clone());
        match self.index.get(&key) {
            Some(&slot) => {
                self.buckets[slot].records += bucket.records;
                self.buckets[slot].bytes += bucket.bytes;
            }
            None => {
                self.index.insert(key, self.buckets.len());
                self.buckets.push(bucket);
            }
        }
    }
}

/// `YYYY-MM` of an instant, in UTC.
pub fn month_of(instant: UnixNanos) -> String {
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
