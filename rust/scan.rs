//! Validating single-pass scan of one JSONL line for its top-level retention fields.
//!
//! A line may only be deleted when it is a complete, valid RFC 8259 JSON text whose value is an
//! object with exactly one top-level `schema_name` and one top-level `timestamp`, both strings.
//! So this scanner validates the whole line (grammar, string escapes, UTF-8, no control
//! characters, no NaN/Infinity) while it records where those top-level fields are; nested keys
//! and look-alike text inside strings never count. It never allocates, never recurses (nesting
//! is tracked in a fixed bit stack, so hostile depth costs nothing), and reports the first reason
//! a line cannot be evaluated. Keys and values are compared after unescaping, so
//! `"time\u0073tamp"` is the timestamp key. String bodies are skipped with a SIMD search (see
//! `specials`; the scan is generic over its kernels, which must give the same scan) for the
//! only bytes that need attention: `"`, `\` and control bytes; the same search notes
//! non-ASCII bytes, and only a line whose strings may hold some is validated as UTF-8, once,
//! when it has been read to its end (outside strings, any non-ASCII byte fails the grammar).
//! Validating each such string on its own measured slower: most are a few bytes long. Once a
//! skipped string has shown an escape, the rest of it is read a 64-byte mask of those bytes at a
//! time, each escape clearing the byte it escapes, rather than searching again after each one.
//!
//! The scan reads one line of a buffer that may go on past it: the line ends at its first `\n`,
//! which is never JSON whitespace here (JSONL) and never inside a valid string (a control
//! byte). So the parser itself finds where a fully read line ends, and the caller needs no
//! separate pass to split lines; only a line the scan stops early in (settled, or not
//! evaluable) is searched for its `\n` from where the scan stopped, since no byte before that
//! point can be one.

use std::borrow::Cow;
use std::marker::PhantomData;

pub use crate::specials::Kernel;
use crate::specials::{Bytewise, Native, Specials};

/// Deeper nesting than this is kept unevaluated. It is below CPython's own `json` limit, so we
/// never delete a line that MXCP's Python tooling could not read.
pub const MAX_DEPTH: usize = 512;

/// Why a line was kept without a retention decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unevaluable {
    /// The last line of the file has no `\n`: it may still be being written.
    Incomplete,
    /// Not a valid JSON text (broken syntax, bad escape, invalid UTF-8, control character...).
    NotJson,
    /// Starts like JSON but the value is not an object.
    NotObject,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// No top-level `schema_name` or no top-level `timestamp`.
    MissingKey,
    /// A top-level `schema_name`, `timestamp` or `schema_version` occurs more than once.
    DuplicateKey,
    /// `schema_name` or `timestamp` is not a string, or not representable text.
    NotString,
    /// `schema_version` is present but not an integer.
    BadVersion,
    /// The timestamp string does not parse.
    BadTimestamp,
}

impl Unevaluable {
    pub const ALL: [Unevaluable; 9] = [
        Unevaluable::Incomplete,
        Unevaluable::NotJson,
        Unevaluable::NotObject,
        Unevaluable::TooDeep,
        Unevaluable::MissingKey,
        Unevaluable::DuplicateKey,
        Unevaluable::NotString,
        Unevaluable::BadVersion,
        Unevaluable::BadTimestamp,
    ];

    /// Stable snake_case name used in reports and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Unevaluable::Incomplete => "incomplete_last_line",
            Unevaluable::NotJson => "invalid_json",
            Unevaluable::NotObject => "not_an_object",
            Unevaluable::TooDeep => "nested_too_deep",
            Unevaluable::MissingKey => "missing_key",
            Unevaluable::DuplicateKey => "duplicate_key",
            Unevaluable::NotString => "non_string_field",
            Unevaluable::BadVersion => "bad_schema_version",
            Unevaluable::BadTimestamp => "bad_timestamp",
        }
    }
}

/// A JSON string as it appears between its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    pub raw: &'a [u8],
    pub escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// The decoded text; `None` when an escape encodes a lone surrogate (valid JSON grammar,
    /// but not Unicode text, so no schema name or timestamp can be made of it).
    pub fn text(&self) -> Option<Cow<'a, str>> {
        if !self.escaped {
            // The scanner validated the bytes as UTF-8 already; this re-check is cheap and
            // keeps the function safe to call on any JsonStr.
            return std::str::from_utf8(self.raw).ok().map(Cow::Borrowed);
        }
        unescape(self.raw).map(Cow::Owned)
    }

    /// Whether the decoded text is `literal`.
    pub fn equals(&self, literal: &[u8]) -> bool {
        if !self.escaped {
            return self.raw == literal;
        }
        // An escape is at most 6 bytes for one character of the literal (ASCII keys).
        if self.raw.len() > literal.len() * 6 {
            return false;
        }
        unescape(self.raw).is_some_and(|text| text.as_bytes() == literal)
    }
}

/// The top-level fields a retention decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub schema_name: JsonStr<'a>,
    pub timestamp: JsonStr<'a>,
    /// The integer literal as written, when the key is present.
    pub schema_version: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// A valid JSON object line with its retention fields.
    Record(Record<'a>),
    /// The caller's `settled` check said, once the fields were known, that this line is kept
    /// whatever follows; the rest of the line was not read (nor validated).
    Settled(Record<'a>),
    /// Only JSON whitespace (or nothing).
    Blank,
    Unevaluable(Unevaluable),
}

/// Scans one line without its terminating `\n` (a `\n` inside ends the line early, and the
/// bytes after it make it not JSON).
pub fn scan_line(line: &[u8]) -> Scan<'_> {
    scan_line_with(line, &mut |_| false)
}

/// Like `scan_line`, but each time a top-level field is read while `schema_name` and
/// `timestamp` are both known, `settled` may answer that the line is kept whatever the rest
/// holds; the scan then stops. Validation only matters for lines that could be deleted, and
/// MXCP writes the fields first, so a kept record costs a hundred bytes of scanning, not all.
pub fn scan_line_with<'a>(line: &'a [u8], settled: &mut dyn FnMut(&Record<'a>) -> bool) -> Scan<'a> {
    scan_line_capturing(line, settled, &mut NoCapture)
}

/// Top-level members other than the retention fields that a caller wants to read (the fields
/// of an erasure's conditions). Generic, so that the scan without captures pays nothing.
pub trait Capture<'a> {
    /// The caller's slot for a top-level `key` that is none of the retention fields, if wanted.
    fn wants(&mut self, key: JsonStr<'a>) -> Option<usize>;
    /// The raw JSON value of a wanted member; a second value for one slot is a duplicate key.
    fn capture(&mut self, slot: usize, raw: &'a [u8]) -> Step<()>;
}

/// Wants nothing.
pub struct NoCapture;

impl<'a> Capture<'a> for NoCapture {
    #[inline(always)]
    fn wants(&mut self, _key: JsonStr<'a>) -> Option<usize> {
        None
    }

    fn capture(&mut self, _slot: usize, _raw: &'a [u8]) -> Step<()> {
        Ok(())
    }
}

/// `scan_line_with`, also handing the raw values of the members `capture` wants to it.
pub fn scan_line_capturing<'a, C: Capture<'a>>(
    line: &'a [u8],
    settled: &mut dyn FnMut(&Record<'a>) -> bool,
    capture: &mut C,
) -> Scan<'a> {
    match scan_first_line_capturing(line, settled, capture) {
        (_, end) if end < line.len() => Scan::Unevaluable(Unevaluable::NotJson),
        (scan, _) => scan,
    }
}

/// Scans the line at the start of `buf`, which may hold further lines, and returns where that
/// line ends: the index of its `\n`, or `buf.len()` when it has none.
#[inline]
pub fn scan_first_line_capturing<'a, C: Capture<'a>>(
    buf: &'a [u8],
    settled: &mut dyn FnMut(&Record<'a>) -> bool,
    capture: &mut C,
) -> (Scan<'a>, usize) {
    scan_first_line_with(Kernel::Native, buf, settled, capture)
}

/// `scan_first_line_capturing` with the byte searches of `kernel`: every kernel gives the same
/// scan, which is what the tests that force each one check.
#[inline]
pub fn scan_first_line_with<'a, C: Capture<'a>>(
    kernel: Kernel,
    buf: &'a [u8],
    settled: &mut dyn FnMut(&Record<'a>) -> bool,
    capture: &mut C,
) -> (Scan<'a>, usize) {
    match kernel {
        Kernel::Native => first_line::<Native, C>(buf, settled, capture),
        Kernel::Portable => first_line::<Bytewise, C>(buf, settled, capture),
    }
}

#[inline(always)]
fn first_line<'a, S: Specials, C: Capture<'a>>(
    buf: &'a [u8],
    settled: &mut dyn FnMut(&Record<'a>) -> bool,
    capture: &mut C,
) -> (Scan<'a>, usize) {
    let mut parser = Parser::<S> { buf, pos: 0, high_bytes: 0, specials: PhantomData };
    parser.skip_ws();
    let scan = match parser.peek() {
        None | Some(b'\n') => Scan::Blank,
        Some(b'{') => match parser.top_level_object(settled, capture) {
            Ok((record, true)) => Scan::Record(record),
            Ok((record, false)) => Scan::Settled(record),
            Err(reason) => Scan::Unevaluable(reason),
        },
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => Scan::Unevaluable(Unevaluable::NotObject),
        Some(_) => Scan::Unevaluable(Unevaluable::NotJson),
    };
    let stopped = parser.pos.min(buf.len());
    let end = match scan {
        // A complete scan stops at the line's end, by construction.
        Scan::Record(_) | Scan::Blank => stopped,
        _ => memchr::memchr(b'\n', &buf[stopped..]).map_or(buf.len(), |at| stopped + at),
    };
    (scan, end)
}

pub type Step<T> = Result<T, Unevaluable>;

#[derive(Clone, Copy)]
enum TopKey {
    SchemaName,
    Timestamp,
    SchemaVersion,
    Other,
}

struct Parser<'a, S> {
    buf: &'a [u8],
    pos: usize,
    /// Nonzero once a string read so far may hold a non-ASCII byte (see `Specials::string_special`).
    high_bytes: u32,
    specials: PhantomData<S>,
}

impl<'a, S: Specials> Parser<'a, S> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// JSON whitespace but `\n`, which ends the line.
    #[inline(always)]
    fn skip_ws(&mut self) {
        // Most calls find no whitespace at all; one comparison settles those.
        while let Some(&byte) = self.buf.get(self.pos) {
            if byte > b' ' || !matches!(byte, b' ' | b'\t' | b'\r') {
                return;
            }
            self.pos += 1;
        }
    }

    fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    fn expect(&mut self, byte: u8) -> Step<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Unevaluable::NotJson)
        }
    }

    /// The record and whether the whole line was read (false: stopped early, settled).
    fn top_level_object<C: Capture<'a>>(
        &mut self,
        settled: &mut dyn FnMut(&Record<'a>) -> bool,
        capture: &mut C,
    ) -> Step<(Record<'a>, bool)> {
        let mut schema_name = None;
        let mut timestamp = None;
        let mut schema_version = None;
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.expect(b'"')?;
                let key = self.string()?;
                self.name_separator()?;
                let which = classify_key(key);
                match which {
                    TopKey::SchemaName => set_once(&mut schema_name, self.string_value()?)?,
                    TopKey::Timestamp => set_once(&mut timestamp, self.string_value()?)?,
                    TopKey::SchemaVersion => {
                        let version = self.integer_value()?;
                        set_once(&mut schema_version, version)?;
                    }
                    TopKey::Other => match capture.wants(key) {
                        None => self.value(1)?,
                        Some(slot) => {
                            let start = self.pos;
                            self.value(1)?;
                            capture.capture(slot, &self.buf[start..self.pos])?;
                        }
                    },
                }
                if !matches!(which, TopKey::Other) {
                    if let (Some(schema_name), Some(timestamp)) = (schema_name, timestamp) {
                        let record = Record { schema_name, timestamp, schema_version };
                        if settled(&record) {
                            return Ok((record, false));
                        }
                    }
                }
                if self.comma_space() {
                    continue;
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(Unevaluable::NotJson),
                }
            }
        }
        self.skip_ws();
        if !self.at_line_end() {
            return Err(Unevaluable::NotJson);
        }
        if self.high_bytes != 0 && !S::is_utf8(&self.buf[..self.pos]) {
            return Err(Unevaluable::NotJson);
        }
        match (schema_name, timestamp) {
            (Some(schema_name), Some(timestamp)) => Ok((Record { schema_name, timestamp, schema_version }, true)),
            _ => Err(Unevaluable::MissingKey),
        }
    }

    /// A value that must be a string (schema_name, timestamp).
    fn string_value(&mut self) -> Step<JsonStr<'a>> {
        if self.peek() != Some(b'"') {
            return Err(Unevaluable::NotString);
        }
        self.pos += 1;
        self.string()
    }

    /// A value that must be an integer literal (schema_version).
    fn integer_value(&mut self) -> Step<&'a [u8]> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(Unevaluable::BadVersion);
        }
        let literal = self.number()?;
        if literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(Unevaluable::BadVersion);
        }
        Ok(literal)
    }

    /// Any JSON value, validated and skipped. `depth` is the nesting depth of the container
    /// holding it (the top-level object is depth 1).
    fn value(&mut self, depth: usize) -> Step<()> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.skip_string()
            }
            Some(b'{' | b'[') => self.container(depth),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => Err(Unevaluable::NotJson),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Step<()> {
        if self.buf[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Unevaluable::NotJson)
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as written.
    fn number(&mut self) -> Step<&'a [u8]> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Unevaluable::NotJson),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        Ok(&self.buf[start..self.pos])
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Step<()> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(Unevaluable::NotJson)
        } else {
            Ok(())
        }
    }

    /// A string body; `pos` is just past the opening quote and ends just past the closing one.
    #[inline(always)]
    fn string(&mut self) -> Step<JsonStr<'a>> {
        let start = self.pos;
        let mut escaped = false;
        loop {
            let (at, high) = S::string_special(self.buf, self.pos);
            self.high_bytes |= high;
            let Some(&byte) = self.buf.get(at) else {
                return Err(Unevaluable::NotJson);
            };
            match byte {
                b'"' => {
                    let raw = &self.buf[start..at];
                    self.pos = at + 1;
                    return Ok(JsonStr { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    self.pos = at + 1 + escape_length(&self.buf[at + 1..])?;
                }
                _ => return Err(Unevaluable::NotJson),
            }
        }
    }

    /// Like `string`, for the many strings whose text nobody needs (everything nested):
    /// validated and skipped, inlined into the loops that call it.
    #[inline(always)]
    fn skip_string(&mut self) -> Step<()> {
        let (at, high) = S::string_special(self.buf, self.pos);
        self.high_bytes |= high;
        match self.buf.get(at) {
            Some(b'"') => {
                self.pos = at + 1;
                Ok(())
            }
            Some(b'\\') => {
                self.pos = at + 1 + escape_length(&self.buf[at + 1..])?;
                self.skip_escaped_string()
            }
            _ => Err(Unevaluable::NotJson),
        }
    }

    /// The rest of a string that holds escapes: each 64-byte block's specials are found once,
    /// and the escapes in it are stepped over within that mask instead of searching again
    /// after each one.
    #[inline(never)]
    fn skip_escaped_string(&mut self) -> Step<()> {
        let buf = self.buf;
        let mut base = self.pos;
        'blocks: while base + 64 <= buf.len() {
            let (mut mask, high) = S::mask64(buf, base);
            self.high_bytes |= high;
            while mask != 0 {
                let at = base + mask.trailing_zeros() as usize;
                match buf[at] {
                    b'"' => {
                        self.pos = at + 1;
                        return Ok(());
                    }
                    b'\\' => {
                        let next = at + 1 + escape_length(&buf[at + 1..])?;
                        if next - base >= 64 {
                            base = next;
                            continue 'blocks;
                        }
                        mask &= !0u64 << (next - base);
                    }
                    _ => return Err(Unevaluable::NotJson),
                }
            }
            base += 64;
        }
        self.pos = base;
        loop {
            let (at, high) = S::string_special(self.buf, self.pos);
            self.high_bytes |= high;
            match self.buf.get(at) {
                Some(b'"') => {
                    self.pos = at + 1;
                    return Ok(());
                }
                Some(b'\\') => self.pos = at + 1 + escape_length(&self.buf[at + 1..])?,
                _ => return Err(Unevaluable::NotJson),
            }
        }
    }

    /// A container starting at `pos`, validated iteratively with an explicit stack.
    fn container(&mut self, outer_depth: usize) -> Step<()> {
        let mut stack = KindStack::default();
        // At the top of each round, `pos` is where a value starts (first: the container itself).
        loop {
            // Opens containers until one value is complete (a scalar, or an empty container).
            loop {
                match self.peek() {
                    Some(open @ (b'{' | b'[')) => {
                        let is_object = open == b'{';
                        self.pos += 1;
                        if outer_depth + stack.len + 1 > MAX_DEPTH {
                            return Err(Unevaluable::TooDeep);
                        }
                        stack.push(is_object);
                        self.skip_ws();
                        if self.peek() == Some(if is_object { b'}' } else { b']' }) {
                            self.pos += 1;
                            stack.pop();
                            break;
                        }
                        if is_object {
                            self.member_key()?;
                        }
                    }
                    Some(b'"') => {
                        self.pos += 1;
                        self.skip_string()?;
                        break;
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        self.number()?;
                        break;
                    }
                    Some(b't') => {
                        self.literal(b"true")?;
                        break;
                    }
                    Some(b'f') => {
                        self.literal(b"false")?;
                        break;
                    }
                    Some(b'n') => {
                        self.literal(b"null")?;
                        break;
                    }
                    _ => return Err(Unevaluable::NotJson),
                }
            }
            if !self.close_until_next_value(&mut stack)? {
                return Ok(());
            }
        }
    }

    /// After a complete value: closes containers until a separator starts the next value (true)
    /// or the outermost container is closed (false).
    #[inline(always)]
    fn close_until_next_value(&mut self, stack: &mut KindStack) -> Step<bool> {
        loop {
            let Some(in_object) = stack.top() else {
                return Ok(false);
            };
            if self.comma_space() {
                if in_object {
                    self.member_key()?;
                }
                return Ok(true);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if in_object {
                        self.member_key()?;
                    }
                    return Ok(true);
                }
                Some(b'}') if in_object => {
                    self.pos += 1;
                    stack.pop();
                }
                Some(b']') if !in_object => {
                    self.pos += 1;
                    stack.pop();
                }
                _ => return Err(Unevaluable::NotJson),
            }
        }
    }

    /// `"key"` `:` with surrounding whitespace, inside a nested object.
    #[inline(always)]
    fn member_key(&mut self) -> Step<()> {
        self.expect(b'"')?;
        self.skip_string()?;
        self.name_separator()
    }

    /// `:` with any whitespace around it. Python's `json.dumps` (so MXCP) writes `": "`, which
    /// one comparison takes.
    #[inline(always)]
    fn name_separator(&mut self) -> Step<()> {
        if self.buf.get(self.pos..self.pos + 2) == Some(b": ") {
            self.pos += 2;
        } else {
            self.skip_ws();
            self.expect(b':')?;
        }
        self.skip_ws();
        Ok(())
    }

    /// Takes `", "` (the value separator `json.dumps` writes) in one comparison; false when the
    /// text there is anything else, which the caller then reads byte by byte.
    #[inline(always)]
    fn comma_space(&mut self) -> bool {
        if self.buf.get(self.pos..self.pos + 2) == Some(b", ") {
            self.pos += 2;
            self.skip_ws();
            true
        } else {
            false
        }
    }
}

/// Object/array kinds of the open containers, one bit each.
#[derive(Default)]
struct KindStack {
    bits: [u64; MAX_DEPTH / 64],
    len: usize,
}

impl KindStack {
    fn push(&mut self, is_object: bool) {
        let (word, bit) = (self.len / 64, self.len % 64);
        if is_object {
            self.bits[word] |= 1 << bit;
        } else {
            self.bits[word] &= !(1 << bit);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len -= 1;
    }

    fn top(&self) -> Option<bool> {
        let index = self.len.checked_sub(1)?;
        Some(self.bits[index / 64] & (1 << (index % 64)) != 0)
    }
}

fn classify_key(key: JsonStr<'_>) -> TopKey {
    // Fast reject on the first raw byte before any comparison: most keys are none of these.
    match key.raw.first() {
        Some(b's' | b't' | b'\\') => {}
        _ => return TopKey::Other,
    }
    if key.equals(b"schema_name") {
        TopKey::SchemaName
    } else if key.equals(b"timestamp") {
        TopKey::Timestamp
    } else if key.equals(b"schema_version") {
        TopKey::SchemaVersion
    } else {
        TopKey::Other
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Step<()> {
    if slot.is_some() {
        return Err(Unevaluable::DuplicateKey);
    }
    *slot = Some(value);
    Ok(())
}

/// Length of the escape after a backslash (`rest` starts just after it).
#[inline(always)]
fn escape_length(rest: &[u8]) -> Step<usize> {
    match rest.first() {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(1),
        Some(b'u') if rest.len() >= 5 && rest[1..5].iter().all(u8::is_ascii_hexdigit) => Ok(5),
        _ => Err(Unevaluable::NotJson),
    }
}

/// Decodes a validated string body. `None` for a lone surrogate.
pub fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.push_str(std::str::from_utf8(&rest[..at]).ok()?);
        let escape = rest.get(at + 1)?;
        rest = &rest[at + 2..];
        let decoded = match escape {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = hex4(rest)?;
                rest = &rest[4..];
                match high {
                    0xD800..=0xDBFF => {
                        if rest.len() < 6 || rest[0] != b'\\' || rest[1] != b'u' {
                            return None;
                        }
                        let low = hex4(&rest[2..])?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        rest = &rest[6..];
                        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => char::from_u32(high)?,
                }
            }
            _ => return None,
        };
        out.push(decoded);
    }
    out.push_str(std::str::from_utf8(rest).ok()?);
    Some(out)
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    let digits = std::str::from_utf8(bytes.get(..4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test here scans under both kernels, which must agree.
    fn scan_line(line: &[u8]) -> Scan<'_> {
        let native = super::scan_line(line);
        let portable = match scan_first_line_with(Kernel::Portable, line, &mut |_| false, &mut NoCapture) {
            (_, end) if end < line.len() => Scan::Unevaluable(Unevaluable::NotJson),
            (scan, _) => scan,
        };
        assert_eq!(native, portable, "{line:?}");
        native
    }

    /// The first line of `buf`, under both kernels, which must agree.
    fn scan_first_line<'a>(buf: &'a [u8], settled: &mut dyn FnMut(&Record<'a>) -> bool) -> (Scan<'a>, usize) {
        let native = scan_first_line_with(Kernel::Native, buf, settled, &mut NoCapture);
        assert_eq!(native, scan_first_line_with(Kernel::Portable, buf, settled, &mut NoCapture), "{buf:?}");
        native
    }

    fn reason(line: &str) -> Option<Unevaluable> {
        match scan_line(line.as_bytes()) {
            Scan::Unevaluable(reason) => Some(reason),
            _ => None,
        }
    }

    fn record(line: &[u8]) -> Record<'_> {
        match scan_line(line) {
            Scan::Record(record) => record,
            other => panic!("expected a record, got {other:?}"),
        }
    }

    #[test]
    fn mxcp_line_yields_its_top_level_fields() {
        let line = br#"{"schema_name": "mxcp.endpoints", "schema_version": 2, "record_id": "b5", "timestamp": "2026-11-27T23:45:26.889423Z", "input_data": {"timestamp": "1999-01-01T00:00:00Z", "schema_name": "x"}, "output_data": {"name": "Zo\u00eb M\u00fcller", "q": "\"timestamp\": \"x\""}}"#;
        let found = record(line);
        assert_eq!(found.schema_name.raw, b"mxcp.endpoints");
        assert_eq!(found.timestamp.raw, b"2026-11-27T23:45:26.889423Z");
        assert_eq!(found.schema_version, Some(&b"2"[..]));
    }

    #[test]
    fn nested_and_quoted_timestamps_do_not_count() {
        assert_eq!(
            reason(r#"{"schema_name": "s", "input_data": {"timestamp": "2000-01-01T00:00:00Z"}}"#),
            Some(Unevaluable::MissingKey)
        );
        assert_eq!(
            reason(r#"{"schema_name": "s", "note": "\"timestamp\": \"2000-01-01T00:00:00Z\""}"#),
            Some(Unevaluable::MissingKey)
        );
        assert_eq!(reason(r#"{"schema_name": "s", "a": [{"timestamp": "x"}]}"#), Some(Unevaluable::MissingKey));
    }

    #[test]
    fn escaped_keys_compare_after_unescaping() {
        let found = record(br#"{"schema_\u006eame": "s", "time\u0073tamp": "2000-01-01T00:00:00Z"}"#);
        assert_eq!(found.timestamp.raw, b"2000-01-01T00:00:00Z");
        assert_eq!(
            reason(r#"{"schema_name": "s", "timestamp": "a", "time\u0073tamp": "b"}"#),
            Some(Unevaluable::DuplicateKey)
        );
    }

    #[test]
    fn duplicate_and_non_string_fields_are_unevaluable() {
        assert_eq!(
            reason(r#"{"schema_name": "s", "schema_name": "s", "timestamp": "t"}"#),
            Some(Unevaluable::DuplicateKey)
        );
        assert_eq!(reason(r#"{"schema_name": "s", "timestamp": 5}"#), Some(Unevaluable::NotString));
        assert_eq!(reason(r#"{"schema_name": null, "timestamp": "t"}"#), Some(Unevaluable::NotString));
        assert_eq!(
            reason(r#"{"schema_name": "s", "timestamp": "t", "schema_version": "2"}"#),
            Some(Unevaluable::BadVersion)
        );
        assert_eq!(
            reason(r#"{"schema_name": "s", "timestamp": "t", "schema_version": 2.0}"#),
            Some(Unevaluable::BadVersion)
        );
        assert_eq!(
            reason(r#"{"schema_name": "s", "timestamp": "t", "schema_version": 1, "schema_version": 1}"#),
            Some(Unevaluable::DuplicateKey)
        );
    }

    #[test]
    fn whitespace_around_the_value_is_allowed_but_nothing_else() {
        assert!(matches!(scan_line(b" \t{\"schema_name\":\"s\",\"timestamp\":\"t\"} \r"), Scan::Record(_)));
        assert_eq!(reason("{\"schema_name\":\"s\",\"timestamp\":\"t\"} x"), Some(Unevaluable::NotJson));
        assert_eq!(reason("\u{feff}{\"schema_name\":\"s\",\"timestamp\":\"t\"}"), Some(Unevaluable::NotJson));
        assert_eq!(reason("{\"schema_name\":\"s\",\"timestamp\":\"t\"}{}"), Some(Unevaluable::NotJson));
        assert_eq!(scan_line(b" \r\t "), Scan::Blank);
        assert_eq!(scan_line(b""), Scan::Blank);
    }

    #[test]
    fn invalid_json_anywhere_in_the_line_is_detected() {
        let base = r#"{"schema_name": "s", "timestamp": "t", "x": VALUE}"#;
        for bad in [
            "NaN",
            "Infinity",
            "-Infinity",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"a\tb\"",
            "[1 2]",
            "{\"a\" 1}",
            "'s'",
            "[",
            "{",
            "]",
            "\"unterminated",
        ] {
            assert_eq!(reason(&base.replace("VALUE", bad)), Some(Unevaluable::NotJson), "{bad}");
        }
        for good in [
            "-0",
            "0.5e-10",
            "1E+2",
            "[]",
            "{}",
            "[[],{}]",
            "\"\\ud800\"",
            "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
            "true",
            "null",
        ] {
            assert!(matches!(scan_line(base.replace("VALUE", good).as_bytes()), Scan::Record(_)), "{good}");
        }
    }

    #[test]
    fn the_first_line_of_a_buffer_ends_at_its_first_newline_whatever_the_scan_found() {
        let record = "{\"schema_name\": \"s\", \"timestamp\": \"t\"}";
        let next = "\n{\"schema_name\": \"n\", \"timestamp\": \"u\"}\n";
        for (first, expect_record) in [
            (record.to_owned(), true),
            (format!("  {record} \r"), true),
            ("{\"schema_name\": \"s\",".to_owned(), false),
            ("{\"schema_name\": \"s\", \"x\": \"unterminated".to_owned(), false),
            ("[1, 2]".to_owned(), false),
            ("garbage \\ \"".to_owned(), false),
            (" \t".to_owned(), false),
            (String::new(), false),
        ] {
            let buf = format!("{first}{next}");
            let (scan, end) = scan_first_line(buf.as_bytes(), &mut |_| false);
            assert_eq!(end, first.len(), "{first:?}");
            assert_eq!(matches!(scan, Scan::Record(_)), expect_record, "{first:?}");
            // Stopping early changes nothing about where the line ends.
            let (_, settled_end) = scan_first_line(buf.as_bytes(), &mut |_| true);
            assert_eq!(settled_end, first.len(), "{first:?}");
            // Nor does the scan of the line alone differ from its scan within the buffer.
            assert_eq!(scan_line(first.as_bytes()), scan, "{first:?}");
        }
        // Without a newline the line runs to the end of the buffer.
        assert_eq!(scan_first_line(record.as_bytes(), &mut |_| false).1, record.len());
    }

    #[test]
    fn a_newline_is_never_whitespace_so_a_record_cannot_span_two_lines() {
        let buf = b"{\"schema_name\": \"s\",\n\"timestamp\": \"t\"}\n";
        let (scan, end) = scan_first_line(buf, &mut |_| false);
        assert_eq!(scan, Scan::Unevaluable(Unevaluable::NotJson));
        assert_eq!(end, 20);
        assert_eq!(reason("{\"schema_name\": \"s\", \"timestamp\": \"t\"}\n"), Some(Unevaluable::NotJson));
    }

    #[test]
    fn invalid_utf8_in_a_later_line_does_not_reach_the_first() {
        let mut buf = b"{\"schema_name\": \"s\", \"timestamp\": \"t\", \"x\": \"Zo\xc3\xab\"}\n".to_vec();
        let first_len = buf.len() - 1;
        buf.extend_from_slice(b"{\"schema_name\": \"s\", \"timestamp\": \"t\", \"x\": \"\xff\"}\n");
        let (scan, end) = scan_first_line(&buf, &mut |_| false);
        assert!(matches!(scan, Scan::Record(_)));
        assert_eq!(end, first_len);
        let (scan, _) = scan_first_line(&buf[first_len + 1..], &mut |_| false);
        assert_eq!(scan, Scan::Unevaluable(Unevaluable::NotJson));
    }

    #[test]
    fn invalid_utf8_is_not_json() {
        for bad in [&b"\xff"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"] {
            let mut line = br#"{"schema_name": "s", "timestamp": "t", "x": ""#.to_vec();
            line.extend_from_slice(bad);
            line.extend_from_slice(b"\"}");
            assert_eq!(scan_line(&line), Scan::Unevaluable(Unevaluable::NotJson), "{bad:?}");
        }
        let good = "{\"schema_name\": \"s\", \"timestamp\": \"t\", \"x\": \"Zoë 日本 𝄞\"}";
        assert!(matches!(scan_line(good.as_bytes()), Scan::Record(_)));
    }

    #[test]
    fn non_objects_and_missing_keys() {
        assert_eq!(reason("[1, 2]"), Some(Unevaluable::NotObject));
        assert_eq!(reason("\"s\""), Some(Unevaluable::NotObject));
        assert_eq!(reason("garbage"), Some(Unevaluable::NotJson));
        assert_eq!(reason("{}"), Some(Unevaluable::MissingKey));
        assert_eq!(reason(r#"{"timestamp": "t"}"#), Some(Unevaluable::MissingKey));
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = |depth: usize| {
            format!(
                "{{\"schema_name\": \"s\", \"timestamp\": \"t\", \"x\": {}{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(matches!(scan_line(deep(MAX_DEPTH - 1).as_bytes()), Scan::Record(_)));
        assert_eq!(reason(&deep(MAX_DEPTH)), Some(Unevaluable::TooDeep));
        assert_eq!(reason(&deep(100_000)), Some(Unevaluable::TooDeep));
    }

    #[test]
    fn unescape_handles_pairs_and_rejects_lone_surrogates() {
        assert_eq!(unescape(br"a\u00e9\n\ud834\udd1e").as_deref(), Some("aé\n𝄞"));
        assert_eq!(unescape(br"\ud800"), None);
        assert_eq!(unescape(br"\udc00x"), None);
        assert_eq!(unescape(br"\ud800\u0041"), None);
    }

    #[test]
    fn escapes_are_stepped_over_at_every_offset_of_a_long_string() {
        let line = |body: &[u8]| {
            let mut line = br#"{"schema_name": "a", "timestamp": "2020-01-01T00:00:00Z", "x": {"k": ""#.to_vec();
            line.extend_from_slice(body);
            line.extend_from_slice(b"\"}}");
            line
        };
        let valid: [&[u8]; 7] = [b"\\\"", b"\\\\", b"\\n", b"\\/", b"\\u00e9", b"\\uD83D\\uDE00", b"\\\\\\\""];
        let invalid: [&[u8]; 6] = [b"\\x", b"\\u12G4", b"\x01", b"\n", b"\\a", b"\\u12-"];
        for before in 0..150 {
            for after in (0..=70).chain([127, 128, 200]) {
                let (head, tail) = (vec![b'a'; before], vec![b'b'; after]);
                for escape in valid {
                    // Two escapes, the second right after the first and again later: a block holds
                    // several, and one may end exactly at a block boundary.
                    let body = [&head[..], escape, escape, &tail[..], escape].concat();
                    assert!(matches!(scan_line(&line(&body)), Scan::Record(_)), "{before} {after} {escape:?}");
                }
                for escape in invalid {
                    let body = [&head[..], b"\\n", escape, &tail[..]].concat();
                    assert_eq!(reason_of(&line(&body)), Some(Unevaluable::NotJson), "{before} {after} {escape:?}");
                }
            }
        }
        // No closing quote on the line at all.
        let open = br#"{"schema_name": "a", "timestamp": "2020-01-01T00:00:00Z", "x": "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"#;
        assert_eq!(reason_of(open), Some(Unevaluable::NotJson));
    }

    fn reason_of(line: &[u8]) -> Option<Unevaluable> {
        reason(std::str::from_utf8(line).unwrap())
    }
}
