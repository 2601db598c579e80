//! Retention rules: how many days a record of (schema_name, schema_version) lives.
//!
//! Precedence, first match wins: a per-schema override (`--retain NAME=DAYS`), the override for
//! every schema (`--retention-days`), the schema registry's `retention_days` for that exact
//! version (a later registry line replaces an earlier one), else the highest active version of
//! that name in the registry, else MXCP's built-in 90 days for `mxcp.endpoints`, else no policy.
//! "Keep forever" (`null` / `none`) and "no policy" both keep the record; they are told apart
//! only for reporting.

use std::collections::HashMap;

/// MXCP's built-in policy for its endpoint schema, used when no registry names it.
pub const BUILTIN_SCHEMA: &str = "mxcp.endpoints";
pub const BUILTIN_DAYS: u32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Deleted once `(now - timestamp).days > N`.
    Days(u32),
    /// Explicitly kept forever.
    Forever,
    /// No rule names this schema: kept.
    Unmanaged,
}

impl Policy {
    fn from_days(days: Option<u32>) -> Policy {
        days.map_or(Policy::Forever, Policy::Days)
    }
}

/// One line of a `<stem>_schemas.jsonl` registry, already validated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub schema_name: String,
    pub version: i64,
    /// `None` keeps the schema's records forever.
    pub retention_days: Option<u32>,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RetentionRules {
    overrides: HashMap<String, Option<u32>>,
    all_schemas: Option<Option<u32>>,
    by_version: HashMap<(String, i64), (Option<u32>, bool)>,
    latest_active: HashMap<String, (i64, Option<u32>)>,
}

impl RetentionRules {
    /// `overrides`: per schema name, `None` = forever. `all_schemas`: `Some(days)` when
    /// `--retention-days` was given (`Some(None)` = forever). `registry`: in file order.
    pub fn new(
        overrides: impl IntoIterator<Item = (String, Option<u32>)>,
        all_schemas: Option<Option<u32>>,
        registry: impl IntoIterator<Item = RegistryEntry>,
    ) -> Self {
        let mut by_version = HashMap::new();
        for entry in registry {
            by_version.insert((entry.schema_name, entry.version), (entry.retention_days, entry.active));
        }
        let mut latest_active: HashMap<String, (i64, Option<u32>)> = HashMap::new();
        for ((name, version), &(days, active)) in &by_version {
            if !active {
                continue;
            }
            let newer = latest_active.get(name).is_none_or(|&(latest, _)| *version > latest);
            if newer {
                latest_active.insert(name.clone(), (*version, days));
            }
        }
        RetentionRules { overrides: overrides.into_iter().collect(), all_schemas, by_version, latest_active }
    }

    /// `version` is `None` for a version no registry line can name (an integer beyond i64).
    pub fn policy(&self, schema_name: &str, version: Option<i64>) -> Policy {
        if let Some(&days) = self.overrides.get(schema_name) {
            return Policy::from_days(days);
        }
        if let Some(days) = self.all_schemas {
            return Policy::from_days(days);
        }
        // Borrowing lookup without allocating would need a custom key type; this runs once per
        // distinct (name, version) per window, not per line.
        if let Some(&(days, _)) = version.and_then(|v| self.by_version.get(&(schema_name.to_owned(), v))) {
            return Policy::from_days(days);
        }
        if let Some(&(_, days)) = self.latest_active.get(schema_name) {
            return Policy::from_days(days);
        }
        if schema_name == BUILTIN_SCHEMA {
            return Policy::Days(BUILTIN_DAYS);
        }
        Policy::Unmanaged
    }

    /// The rules as one text that two equal rule sets (whatever the order they were given in)
    /// share and two different ones never do: what a stored count was computed under. JSON
    /// strings, so no schema name can run into the next field.
    pub fn canonical(&self) -> String {
        let days = |days: Option<u32>| days.map_or("null".to_owned(), |d| d.to_string());
        let mut overrides: Vec<String> =
            self.overrides.iter().map(|(name, d)| format!("[{},{}]", json_string(name), days(*d))).collect();
        overrides.sort_unstable();
        let mut registry: Vec<String> = self
            .by_version
            .iter()
            .map(|((name, version), (d, active))| format!("[{},{version},{},{active}]", json_string(name), days(*d)))
            .collect();
        registry.sort_unstable();
        let all = self.all_schemas.map_or("\"unset\"".to_owned(), days);
        format!("{{\"overrides\":[{}],\"all\":{all},\"registry\":[{}]}}", overrides.join(","), registry.join(","))
    }
}

/// `text` as a JSON string literal (every character but `"`, `\\` and controls as is).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: i64, days: Option<u32>, active: bool) -> RegistryEntry {
        RegistryEntry { schema_name: name.into(), version, retention_days: days, active }
    }

    #[test]
    fn builtin_applies_only_to_mxcp_endpoints() {
        let rules = RetentionRules::new([], None, []);
        assert_eq!(rules.policy("mxcp.endpoints", Some(1)), Policy::Days(90));
        assert_eq!(rules.policy("mxcp.endpoints", Some(7)), Policy::Days(90));
        assert_eq!(rules.policy("app.events", Some(1)), Policy::Unmanaged);
        assert_eq!(rules.policy("mxcp.endpoints", None), Policy::Days(90), "a version beyond i64 is judged too");
    }

    #[test]
    fn registry_exact_version_then_latest_active() {
        let rules = RetentionRules::new(
            [],
            None,
            [
                entry("app", 1, Some(10), true),
                entry("app", 2, Some(20), true),
                entry("app", 3, Some(30), false),
                entry("app", 1, Some(11), true),
                entry("mxcp.endpoints", 2, None, true),
            ],
        );
        assert_eq!(rules.policy("app", Some(1)), Policy::Days(11), "later registry line replaces earlier");
        assert_eq!(rules.policy("app", Some(3)), Policy::Days(30), "exact version wins even if inactive");
        assert_eq!(rules.policy("app", Some(9)), Policy::Days(20), "absent version: latest active");
        assert_eq!(rules.policy("mxcp.endpoints", Some(2)), Policy::Forever);
        assert_eq!(rules.policy("mxcp.endpoints", Some(1)), Policy::Forever, "registry names it, so no builtin");
    }

    #[test]
    fn equal_rules_share_a_canonical_text_whatever_their_order_and_others_differ() {
        let registry = [entry("app", 1, Some(10), true), entry("b\"x", 2, None, false)];
        let rules = RetentionRules::new([("a".into(), Some(3)), ("b".into(), None)], None, registry.clone());
        let reordered = RetentionRules::new(
            [("b".into(), None), ("a".into(), Some(3))],
            None,
            registry.iter().rev().cloned().collect::<Vec<_>>(),
        );
        assert_eq!(rules.canonical(), reordered.canonical());
        let others = [
            RetentionRules::new([("a".into(), Some(4)), ("b".into(), None)], None, registry.clone()),
            RetentionRules::new([("a".into(), Some(3)), ("b".into(), None)], Some(None), registry.clone()),
            RetentionRules::new([("a".into(), Some(3)), ("b".into(), None)], Some(Some(3)), registry.clone()),
            RetentionRules::new([("a".into(), Some(3)), ("b".into(), None)], None, [entry("app", 1, Some(10), true)]),
            RetentionRules::new([("a".into(), Some(3))], None, registry.clone()),
        ];
        for other in &others {
            assert_ne!(rules.canonical(), other.canonical());
        }
        assert!(rules.canonical().contains(r#""b\"x""#), "{}", rules.canonical());
    }

    #[test]
    fn inactive_only_names_fall_through_to_builtin() {
        let rules = RetentionRules::new([], None, [entry("mxcp.endpoints", 5, Some(1), false)]);
        assert_eq!(rules.policy("mxcp.endpoints", Some(1)), Policy::Days(90));
        assert_eq!(rules.policy("mxcp.endpoints", Some(5)), Policy::Days(1));
    }

    #[test]
    fn overrides_win_in_order() {
        let registry = [entry("app", 1, Some(10), true)];
        let rules = RetentionRules::new([("app".to_owned(), None)], Some(Some(5)), registry.clone());
        assert_eq!(rules.policy("app", Some(1)), Policy::Forever);
        assert_eq!(rules.policy("other", Some(1)), Policy::Days(5));
        assert_eq!(rules.policy("mxcp.endpoints", Some(1)), Policy::Days(5));
        let forever_all = RetentionRules::new([], Some(None), registry);
        assert_eq!(forever_all.policy("app", Some(1)), Policy::Forever);
    }
}
