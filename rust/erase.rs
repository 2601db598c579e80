//! Erasure: the decision "delete exactly the records whose top-level fields equal these
//! values" (`mxcp-compact erase --where FIELD=VALUE ...`), made by the same scan as retention.
//!
//! A condition compares one top-level member: a string after unescaping (both the member and
//! the wanted text), `null`, `true`, `false` and integers as JSON literals. Several conditions
//! must all hold. Only a valid record can match: the line must pass every check a retention
//! deletion needs (complete, valid JSON, `schema_name` and `timestamp` once each as strings, an
//! integer `schema_version` if any), and a wanted member that occurs twice makes the line
//! unevaluable, so kept. A record without the member, or with an object or array there, does
//! not match.

use crate::scan::{scan_line, unescape, Capture, JsonStr, Record, Scan, Step, Unevaluable};

/// At most this many conditions: the captured values of a line live in a fixed array.
pub const MAX_CONDITIONS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    /// `null`, `true`, `false` or an integer, as its JSON literal.
    Literal(Vec<u8>),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    field: String,
    wanted: Wanted,
}

/// The conditions of one erasure, all of which a record must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    conditions: Vec<Condition>,
}

impl Erasure {
    /// Parses `FIELD=VALUE` pairs (already split): VALUE `null`, `true`, `false` or an integer
    /// is that JSON literal; `"..."` is a JSON string (so `"42"` is the text 42); anything else
    /// is the text itself. The error says which condition is wrong.
    pub fn new(conditions: &[(String, String)]) -> Result<Erasure, String> {
        if conditions.is_empty() {
            return Err("at least one --where FIELD=VALUE is needed".to_owned());
        }
        if conditions.len() > MAX_CONDITIONS {
            return Err(format!("at most {MAX_CONDITIONS} --where conditions"));
        }
        let parsed = conditions.iter().enumerate().map(|(at, (field, value))| {
            if field.is_empty() {
                return Err(format!("--where {field}={value}: the field name is empty"));
            }
            // Each member has one value, so two conditions on it either repeat each other or can
            // never both hold: an erasure that silently matches nothing. Say so instead.
            if conditions[..at].iter().any(|(earlier, _)| earlier == field) {
                return Err(format!(
                    "--where {field}=...: the field {field} is given twice (every condition must hold)"
                ));
            }
            let wanted = wanted(value).map_err(|why| format!("--where {field}={value}: {why}"))?;
            Ok(Condition { field: field.clone(), wanted })
        });
        Ok(Erasure { conditions: parsed.collect::<Result<_, _>>()? })
    }

    /// Whether a valid `record`, with the members `captured` for this erasure, meets every
    /// condition.
    pub fn matches(&self, record: &Record<'_>, captured: &Captured<'_, '_>) -> bool {
        self.conditions.iter().enumerate().all(|(slot, condition)| {
            let value = match condition.field.as_str() {
                "schema_name" => Member::Text(record.schema_name),
                "timestamp" => Member::Text(record.timestamp),
                "schema_version" => record.schema_version.map_or(Member::Missing, Member::Raw),
                _ => captured.values[slot].map_or(Member::Missing, Member::Raw),
            };
            value.is(&condition.wanted)
        })
    }

    /// A capture for one line's scan.
    pub fn capture(&self) -> Captured<'_, '_> {
        Captured { erasure: self, values: [None; MAX_CONDITIONS] }
    }
}

const NOT_A_JSON_STRING: &str = "the value is not a valid JSON string";

/// What a condition's value asks for, or why it cannot be one.
fn wanted(value: &str) -> Result<Wanted, String> {
    if matches!(value, "null" | "true" | "false") || is_integer(value) {
        return Ok(Wanted::Literal(value.as_bytes().to_vec()));
    }
    let Some(quoted) = value.strip_prefix('"') else {
        return Ok(Wanted::Text(value.to_owned()));
    };
    let inner = quoted.strip_suffix('"').ok_or(NOT_A_JSON_STRING)?;
    // A valid JSON string by the scan's own rules (escapes, no raw quote or control
    // character): `"a\\"b"` is not one, though it used to be read as the text a\"b.
    let probe = format!("{{\"schema_name\": \"\", \"timestamp\": \"\", \"v\": {value}}}");
    if !matches!(scan_line(probe.as_bytes()), Scan::Record(_)) {
        return Err(NOT_A_JSON_STRING.to_owned());
    }
    // Valid JSON that is no text: values (a record's too) are compared as text, after unescaping.
    unescape(inner.as_bytes()).map(Wanted::Text).ok_or_else(|| match first_lone_surrogate(inner.as_bytes()) {
        Some(unit) => format!(
            "\\u{unit:04x} is a lone surrogate, valid JSON but not text; erase compares values as text, so no \
             record could match it (select such records by another field)"
        ),
        None => NOT_A_JSON_STRING.to_owned(),
    })
}

/// The first `\uXXXX` escape of a valid JSON string body that is half of a surrogate pair on
/// its own.
fn first_lone_surrogate(inner: &[u8]) -> Option<u32> {
    let mut at = 0;
    let mut high: Option<u32> = None;
    while at < inner.len() {
        let unit = match (inner[at], inner.get(at + 1)) {
            (b'\\', Some(b'u')) => {
                let digits = std::str::from_utf8(inner.get(at + 2..at + 6)?).ok()?;
                at += 6;
                Some(u32::from_str_radix(digits, 16).ok()?)
            }
            (b'\\', _) => {
                at += 2;
                None
            }
            _ => {
                at += 1;
                None
            }
        };
        match (high.take(), unit) {
            (None, Some(unit @ 0xD800..=0xDBFF)) => high = Some(unit),
            (None, Some(unit @ 0xDC00..=0xDFFF)) => return Some(unit),
            (Some(_), Some(0xDC00..=0xDFFF)) | (None, _) => {}
            (Some(lone), _) => return Some(lone),
        }
    }
    high
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    match digits.as_bytes() {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// A member's value as the scan saw it.
enum Member<'a> {
    Missing,
    Text(JsonStr<'a>),
    Raw(&'a [u8]),
}

impl Member<'_> {
    fn is(&self, wanted: &Wanted) -> bool {
        match (self, wanted) {
            (Member::Missing, _) => false,
            (Member::Text(text), Wanted::Text(want)) => text.equals(want.as_bytes()),
            (Member::Text(_), Wanted::Literal(_)) => false,
            (Member::Raw(raw), Wanted::Literal(want)) => *raw == want.as_slice(),
            (Member::Raw(raw), Wanted::Text(want)) => match raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\""))
            {
                Some(body) => JsonStr { raw: body, escaped: body.contains(&b'\\') }.equals(want.as_bytes()),
                None => false,
            },
        }
    }
}

/// The wanted members of one line, filled in by the scan.
pub struct Captured<'e, 'a> {
    erasure: &'e Erasure,
    values: [Option<&'a [u8]>; MAX_CONDITIONS],
}

impl<'a> Capture<'a> for Captured<'_, 'a> {
    fn wants(&mut self, key: JsonStr<'a>) -> Option<usize> {
        self.erasure.conditions.iter().position(|condition| key.equals(condition.field.as_bytes()))
    }

    fn capture(&mut self, slot: usize, raw: &'a [u8]) -> Step<()> {
        if self.values[slot].replace(raw).is_some() {
            return Err(Unevaluable::DuplicateKey);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{scan_line_capturing, Scan};

    fn erasure(pairs: &[(&str, &str)]) -> Erasure {
        Erasure::new(&pairs.iter().map(|(f, v)| (f.to_string(), v.to_string())).collect::<Vec<_>>()).unwrap()
    }

    /// Whether `line` is a valid record meeting `erasure`.
    fn erased(erasure: &Erasure, line: &str) -> bool {
        let mut captured = erasure.capture();
        match scan_line_capturing(line.as_bytes(), &mut |_| false, &mut captured) {
            Scan::Record(record) => erasure.matches(&record, &captured),
            _ => false,
        }
    }

    const BASE: &str = r#""schema_name": "mxcp.endpoints", "schema_version": 2, "timestamp": "2026-11-27T00:00:00Z""#;

    #[test]
    fn strings_match_after_unescaping_and_literals_as_written() {
        let by_user = erasure(&[("user_id", "zoë")]);
        assert!(erased(&by_user, &format!(r#"{{{BASE}, "user_id": "zoë"}}"#)));
        assert!(erased(&by_user, &format!(r#"{{{BASE}, "user_\u0069d": "zo\u00eb"}}"#)));
        assert!(!erased(&by_user, &format!(r#"{{{BASE}, "user_id": "zoe"}}"#)));
        assert!(!erased(&by_user, &format!(r#"{{{BASE}, "other": {{"user_id": "zoë"}}}}"#)));
        let null_user = erasure(&[("user_id", "null")]);
        assert!(erased(&null_user, &format!(r#"{{{BASE}, "user_id": null}}"#)));
        assert!(!erased(&null_user, &format!(r#"{{{BASE}, "user_id": "null"}}"#)));
        let number = erasure(&[("duration_ms", "42")]);
        assert!(erased(&number, &format!(r#"{{{BASE}, "duration_ms": 42}}"#)));
        assert!(!erased(&number, &format!(r#"{{{BASE}, "duration_ms": "42"}}"#)));
        assert!(erased(&erasure(&[("duration_ms", "\"42\"")]), &format!(r#"{{{BASE}, "duration_ms": "42"}}"#)));
    }

    #[test]
    fn every_condition_must_hold_and_retention_fields_can_be_conditions() {
        let both = erasure(&[("user_id", "u1"), ("session_id", "s9")]);
        assert!(erased(&both, &format!(r#"{{{BASE}, "user_id": "u1", "session_id": "s9"}}"#)));
        assert!(!erased(&both, &format!(r#"{{{BASE}, "user_id": "u1", "session_id": "s8"}}"#)));
        assert!(!erased(&both, &format!(r#"{{{BASE}, "user_id": "u1"}}"#)));
        assert!(erased(&erasure(&[("schema_version", "2")]), &format!("{{{BASE}}}")));
        assert!(erased(&erasure(&[("schema_name", "mxcp.endpoints")]), &format!("{{{BASE}}}")));
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let pair = |field: &str, value: &str| (field.to_owned(), value.to_owned());
        let twice = Erasure::new(&[pair("user_id", "zoe"), pair("a", "1"), pair("user_id", "\"zoe\"")]);
        assert_eq!(
            twice.unwrap_err(),
            "--where user_id=...: the field user_id is given twice (every condition must hold)"
        );
        assert!(Erasure::new(&[pair("user_id", "zoe"), pair("user", "zoe")]).is_ok());
    }

    #[test]
    fn only_valid_records_match_and_a_duplicate_member_is_unevaluable() {
        let by_user = erasure(&[("user_id", "u1")]);
        assert!(!erased(&by_user, &format!(r#"{{{BASE}, "user_id": "u1""#)));
        assert!(!erased(&by_user, r#"{"user_id": "u1"}"#));
        let mut captured = by_user.capture();
        let line = format!(r#"{{{BASE}, "user_id": "u1", "user_id": "u1"}}"#);
        let scan = scan_line_capturing(line.as_bytes(), &mut |_| false, &mut captured);
        assert_eq!(scan, Scan::Unevaluable(Unevaluable::DuplicateKey));
    }

    #[test]
    fn bad_conditions_are_refused_with_a_reason() {
        assert!(Erasure::new(&[]).unwrap_err().contains("at least one"));
        assert!(Erasure::new(&[(String::new(), "x".into())]).unwrap_err().contains("field name is empty"));
        assert!(Erasure::new(&[("f".into(), "\"a\"b\"".into())]).unwrap_err().contains("not a valid JSON string"));
        for (value, lone) in
            [("\"\\ud800\"", "\\ud800"), ("\"a\\uDC00b\"", "\\udc00"), ("\"\\ud800\\ud800\\udc00\"", "\\ud800")]
        {
            let error = Erasure::new(&[("f".into(), value.into())]).unwrap_err();
            assert!(error.starts_with(&format!("--where f={value}: {lone} is a lone surrogate")), "{error}");
        }
        assert!(
            Erasure::new(&[("f".into(), "\"\\ud83d\\ude00 \\\\ud800\"".into())]).is_ok(),
            "a pair, and an escaped backslash"
        );
        assert!(Erasure::new(&[("f".into(), "\"\\q\"".into())]).is_err());
    }
}
