//! Counters for one pass over some lines: totals, per-schema deletions, and why lines were kept.
//!
//! Built from verdicts only (`count`), never by looking at lines again: the searcher counts each
//! run it hands to a sink, so a tally says exactly what the sinks saw. Invariants: `lines == deleted_lines + kept_lines()`, `bytes == deleted_bytes + kept bytes`,
//! and the per-schema `deleted` counts add up to `deleted_lines`.

use crate::decide::{KeepReason, KeptAge, SchemaId, SchemaKey, Verdict};
use crate::retention::Policy;
use crate::scan::Unevaluable;

/// Records of one (schema_name, schema_version-as-written) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTally {
    pub schema_name: String,
    /// The version literal as written in the records, `1` when absent.
    pub schema_version: String,
    pub policy: Policy,
    pub deleted: u64,
    pub deleted_bytes: u64,
    pub kept: u64,
    /// The age of the kept records (see `KeptAge`).
    pub kept_age: KeptAge,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub lines: u64,
    pub bytes: u64,
    pub deleted_lines: u64,
    pub deleted_bytes: u64,
    /// Evaluated records younger than their retention.
    pub retained: u64,
    /// Evaluated records whose schema has no policy or keeps forever.
    pub unmanaged: u64,
    /// Valid records an erasure did not select.
    pub unmatched: u64,
    pub blank: u64,
    unevaluable: [u64; Unevaluable::ALL.len()],
    pub schemas: Vec<SchemaTally>,
}

impl Tally {
    pub fn count_unevaluable(&mut self, reason: Unevaluable) {
        self.unevaluable[reason as usize] += 1;
    }

    pub fn unevaluable(&self, reason: Unevaluable) -> u64 {
        self.unevaluable[reason as usize]
    }

    pub fn unevaluable_total(&self) -> u64 {
        self.unevaluable.iter().sum()
    }

    pub fn kept_lines(&self) -> u64 {
        self.lines - self.deleted_lines
    }

    /// Index of the schema entry, creating it on first sight.
    pub fn schema_index(&mut self, schema_name: &str, schema_version: &str, policy: Policy) -> usize {
        if let Some(index) =
            self.schemas.iter().position(|s| s.schema_name == schema_name && s.schema_version == schema_version)
        {
            return index;
        }
        self.schemas.push(SchemaTally {
            schema_name: schema_name.to_owned(),
            schema_version: schema_version.to_owned(),
            policy,
            deleted: 0,
            deleted_bytes: 0,
            kept: 0,
            kept_age: KeptAge::default(),
        });
        self.schemas.len() - 1
    }

    /// The id of `key` in this tally's schema list, creating the entry on first sight.
    pub fn schema_id(&mut self, key: &SchemaKey) -> SchemaId {
        self.schema_index(&key.schema_name, &key.schema_version, key.policy)
    }

    /// Counts `lines` lines, `bytes` bytes in all, that share `verdict` (whose schema id is
    /// one of this tally's).
    pub fn count(&mut self, verdict: Verdict, lines: u64, bytes: u64) {
        self.lines += lines;
        self.bytes += bytes;
        match verdict {
            Verdict::Delete(id) => {
                self.deleted_lines += lines;
                self.deleted_bytes += bytes;
                self.schemas[id].deleted += lines;
                self.schemas[id].deleted_bytes += bytes;
            }
            Verdict::Keep(KeepReason::Retained(id)) => {
                self.retained += lines;
                self.schemas[id].kept += lines;
            }
            Verdict::Keep(KeepReason::NoPolicy(id)) => {
                self.unmanaged += lines;
                self.schemas[id].kept += lines;
            }
            Verdict::Keep(KeepReason::Unmatched(id)) => {
                self.unmatched += lines;
                self.schemas[id].kept += lines;
            }
            Verdict::Keep(KeepReason::Blank) => self.blank += lines,
            Verdict::Keep(KeepReason::Unevaluable(reason)) => self.unevaluable[reason as usize] += lines,
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.deleted_lines += other.deleted_lines;
        self.deleted_bytes += other.deleted_bytes;
        self.retained += other.retained;
        self.unmanaged += other.unmanaged;
        self.unmatched += other.unmatched;
        self.blank += other.blank;
        for (mine, theirs) in self.unevaluable.iter_mut().zip(other.unevaluable) {
            *mine += theirs;
        }
        for schema in &other.schemas {
            let index = self.schema_index(&schema.schema_name, &schema.schema_version, schema.policy);
            let mine = &mut self.schemas[index];
            mine.deleted += schema.deleted;
            mine.deleted_bytes += schema.deleted_bytes;
            mine.kept += schema.kept;
            mine.kept_age.merge(schema.kept_age);
        }
    }
}

/// A tally as bytes, for the in-place progress record (so that a resumed run reports what the
/// interrupted one deleted). Little-endian words; strings length-prefixed.
impl Tally {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let words = [self.lines, self.bytes, self.deleted_lines, self.deleted_bytes, self.retained, self.unmanaged];
        for word in words.iter().chain([self.unmatched, self.blank].iter()).chain(self.unevaluable.iter()) {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&(self.schemas.len() as u32).to_le_bytes());
        for schema in &self.schemas {
            for text in [&schema.schema_name, &schema.schema_version] {
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            let (kind, days) = match schema.policy {
                Policy::Days(days) => (0u8, days),
                Policy::Forever => (1, 0),
                Policy::Unmanaged => (2, 0),
            };
            out.push(kind);
            out.extend_from_slice(&days.to_le_bytes());
            for word in [schema.deleted, schema.deleted_bytes, schema.kept] {
                out.extend_from_slice(&word.to_le_bytes());
            }
            let oldest = schema.kept_age.oldest.unwrap_or(i128::MIN);
            out.extend_from_slice(&oldest.to_le_bytes());
            out.push(u8::from(schema.kept_age.unknown));
        }
    }

    /// The tally `encode` wrote, or None for bytes it did not write.
    pub fn decode(bytes: &[u8]) -> Option<Tally> {
        let mut reader = Reader { bytes };
        let mut tally = Tally::default();
        for word in [
            &mut tally.lines,
            &mut tally.bytes,
            &mut tally.deleted_lines,
            &mut tally.deleted_bytes,
            &mut tally.retained,
            &mut tally.unmanaged,
            &mut tally.unmatched,
            &mut tally.blank,
        ] {
            *word = reader.u64()?;
        }
        for count in tally.unevaluable.iter_mut() {
            *count = reader.u64()?;
        }
        for _ in 0..reader.u32()? {
            let schema_name = reader.text()?;
            let schema_version = reader.text()?;
            let policy = match (reader.take(1)?[0], reader.u32()?) {
                (0, days) => Policy::Days(days),
                (1, _) => Policy::Forever,
                (2, _) => Policy::Unmanaged,
                _ => return None,
            };
            let (deleted, deleted_bytes, kept) = (reader.u64()?, reader.u64()?, reader.u64()?);
            let oldest = i128::from_le_bytes(reader.take(16)?.try_into().ok()?);
            let unknown = reader.take(1)?[0] != 0;
            let kept_age = KeptAge { oldest: (oldest != i128::MIN).then_some(oldest), unknown };
            tally.schemas.push(SchemaTally {
                schema_name,
                schema_version,
                policy,
                deleted,
                deleted_bytes,
                kept,
                kept_age,
            });
        }
        reader.bytes.is_empty().then_some(tally)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(taken)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_joins_schemas_by_name_and_version() {
        let mut left = Tally::default();
        let a = left.schema_index("s", "1", Policy::Days(1));
        left.schemas[a].deleted = 2;
        left.lines = 5;
        left.deleted_lines = 2;
        left.count_unevaluable(Unevaluable::NotJson);
        let mut right = Tally::default();
        let b = right.schema_index("s", "2", Policy::Days(1));
        right.schemas[b].deleted = 1;
        let c = right.schema_index("s", "1", Policy::Days(1));
        right.schemas[c].deleted = 3;
        right.lines = 4;
        right.deleted_lines = 4;
        right.count_unevaluable(Unevaluable::NotJson);
        left.merge(&right);
        assert_eq!(left.lines, 9);
        assert_eq!(left.kept_lines(), 3);
        assert_eq!(left.unevaluable(Unevaluable::NotJson), 2);
        assert_eq!(left.unevaluable_total(), 2);
        let counts: Vec<_> = left.schemas.iter().map(|s| (s.schema_version.as_str(), s.deleted)).collect();
        assert_eq!(counts, [("1", 5), ("2", 1)]);
    }

    #[test]
    fn a_tally_survives_encoding_and_torn_bytes_are_refused() {
        let mut tally = Tally { lines: 9, bytes: 900, deleted_lines: 4, deleted_bytes: 400, ..Tally::default() };
        tally.count_unevaluable(Unevaluable::NotJson);
        let index = tally.schema_index("mxcp.endpoints", "2", Policy::Days(90));
        tally.schemas[index].deleted = 4;
        tally.schema_index("app", "1", Policy::Forever);
        let mut bytes = Vec::new();
        tally.encode(&mut bytes);
        assert_eq!(Tally::decode(&bytes), Some(tally));
        assert_eq!(Tally::decode(&bytes[..bytes.len() - 1]), None);
    }
}
