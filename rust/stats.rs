//! Counters for one pass over some lines: totals, per-schema deletions, and why lines were kept.
//!
//! Each worker thread fills its own `Tally` for its window; windows are merged in file order.
//! Invariants: `lines == deleted_lines + kept_lines()`, `bytes == deleted_bytes + kept bytes`,
//! and the per-schema `deleted` counts add up to `deleted_lines`.

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
        });
        self.schemas.len() - 1
    }

    pub fn merge(&mut self, other: &Tally) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.deleted_lines += other.deleted_lines;
        self.deleted_bytes += other.deleted_bytes;
        self.retained += other.retained;
        self.unmanaged += other.unmanaged;
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
        }
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
}
