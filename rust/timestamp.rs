//! Timestamp parsing for retention decisions.
//!
//! Accepts exactly the ISO 8601 subset MXCP writes and Python's `datetime.fromisoformat` reads
//! back: `YYYY-MM-DD`, a `T`, `t` or space, `HH:MM:SS`, an optional `.` with 1 to 9 fraction
//! digits, then an optional `Z`/`z`, `±HH:MM` or `±HHMM`. No zone means UTC. Anything else,
//! including impossible calendar values (February 30, hour 24, second 60), is `None`: a record
//! whose timestamp we cannot read is never deleted. Results are nanoseconds since the Unix
//! epoch as `i128`, so the whole-day rule can be computed exactly with no rounding.

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type UnixNanos = i128;

pub const NANOS_PER_SECOND: i128 = 1_000_000_000;
pub const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;

/// Parses a full timestamp (date and time required).
pub fn parse_timestamp(text: &[u8]) -> Option<UnixNanos> {
    let mut cursor = Cursor { text, pos: 0 };
    let days = cursor.date()?;
    if !matches!(cursor.next()?, b'T' | b't' | b' ') {
        return None;
    }
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut fraction_nanos: i128 = 0;
    if cursor.peek() == Some(b'.') {
        cursor.pos += 1;
        let start = cursor.pos;
        while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
            cursor.pos += 1;
        }
        let count = cursor.pos - start;
        if count == 0 || count > 9 {
            return None;
        }
        // At most 9 digits: u64 arithmetic, one scaling at the end.
        let value = text[start..cursor.pos].iter().fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0'));
        fraction_nanos = i128::from(value * 10u64.pow(9 - count as u32));
    }
    let offset_seconds = cursor.zone()?;
    if cursor.pos != text.len() {
        return None;
    }
    let seconds = days * 86_400 + i128::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    Some(seconds * NANOS_PER_SECOND + fraction_nanos)
}

/// Parses either a full timestamp or a bare date (`YYYY-MM-DD`, read as midnight UTC).
/// Used for `--now`, where a date alone is a natural thing to type.
pub fn parse_instant(text: &[u8]) -> Option<UnixNanos> {
    if text.len() == 10 {
        let mut cursor = Cursor { text, pos: 0 };
        let days = cursor.date()?;
        return (cursor.pos == text.len()).then_some(days * NANOS_PER_DAY);
    }
    parse_timestamp(text)
}

struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn digits(&mut self, count: usize) -> Option<u32> {
        let field = self.text.get(self.pos..self.pos + count)?;
        let mut value = 0u32;
        for &byte in field {
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(byte - b'0');
        }
        self.pos += count;
        Some(value)
    }

    /// `YYYY-MM-DD` as days since the epoch.
    fn date(&mut self) -> Option<i128> {
        let year = self.digits(4)?;
        self.expect(b'-')?;
        let month = self.digits(2)?;
        self.expect(b'-')?;
        let day = self.digits(2)?;
        if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(days_from_civil(i64::from(year), month, day))
    }

    /// The zone suffix as seconds east of UTC; no suffix is UTC.
    fn zone(&mut self) -> Option<i128> {
        let sign = match self.peek() {
            None => return Some(0),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Some(0);
            }
            Some(b'+') => 1,
            Some(b'-') => -1,
            Some(_) => return None,
        };
        self.pos += 1;
        let hours = self.digits(2)?;
        if self.peek() == Some(b':') {
            self.pos += 1;
        }
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * i128::from(hours * 3600 + minutes * 60))
    }
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    i128::from(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Option<UnixNanos> {
        parse_timestamp(text.as_bytes())
    }

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(ts("2000-03-01T00:00:00Z"), Some(951_868_800 * NANOS_PER_SECOND));
        assert_eq!(ts("2026-11-27T23:45:26Z"), Some(1_795_823_126 * NANOS_PER_SECOND));
        assert_eq!(ts("1969-12-31T23:59:59Z"), Some(-NANOS_PER_SECOND));
    }

    #[test]
    fn mxcp_forms_agree() {
        let z = ts("2026-11-27T23:45:26.889423Z");
        assert!(z.is_some());
        assert_eq!(z, ts("2026-11-27T23:45:26.889423+00:00"));
        assert_eq!(z, ts("2026-11-27 23:45:26.889423"));
        assert_eq!(z, ts("2026-11-27t23:45:26.889423z"));
        assert_eq!(z, ts("2026-11-28T05:15:26.889423+0530"));
        assert_eq!(z, ts("2026-11-27T18:45:26.889423-05:00"));
    }

    #[test]
    fn fraction_is_exact_to_the_nanosecond() {
        let base = ts("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(ts("2026-01-01T00:00:00.000000001Z"), Some(base + 1));
        assert_eq!(ts("2026-01-01T00:00:00.5Z"), Some(base + 500_000_000));
        assert_eq!(ts("2026-01-01T00:00:00.123456789Z"), Some(base + 123_456_789));
    }

    #[test]
    fn impossible_or_malformed_values_are_rejected() {
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00+24:00",
            "2026-01-01T00:00:00+05:60",
            "2026-01-01T00:00:00+5:00",
            "2026-01-01T00:00:00 ",
            "2026-01-01T00:00Z",
            "2026-01-01",
            "2026-1-01T00:00:00Z",
            "2026-01-01X00:00:00Z",
            "2026-01-01T00:00:00ZZ",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(ts(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn leap_days_parse() {
        assert!(ts("2024-02-29T12:00:00Z").is_some());
        assert!(ts("2000-02-29T12:00:00Z").is_some());
        assert!(ts("1900-02-29T12:00:00Z").is_none());
    }

    #[test]
    fn instant_accepts_a_bare_date_as_midnight_utc() {
        assert_eq!(parse_instant(b"2026-11-27"), ts("2026-11-27T00:00:00Z"));
        assert_eq!(parse_instant(b"2026-11-27T01:00:00+01:00"), ts("2026-11-27T00:00:00Z"));
        assert_eq!(parse_instant(b"2026-11-31"), None);
    }
}
