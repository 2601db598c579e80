//! mxcp-compact's core: retention compaction of MXCP JSONL audit logs.
//!
//! The algorithm lives in pure modules with no Python types, so `cargo test` needs no
//! interpreter. One `searcher::Searcher` reads each log and pushes every line's verdict
//! (`decide`) into a `sink::Sink`; the dry run, the temp copy (`copy`), the in-place shift
//! (`inplace`), the archive and the stats survey are sinks, composed per file by `compact`
//! (README, "Architecture"). The `python` feature, enabled by maturin, adds the binding below:
//! it converts types, releases the GIL for the whole file pass, and maps errors in one place.

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod archive;
pub mod buckets;
pub mod bus_guard;
pub mod compact;
pub mod copy;
pub mod decide;
pub mod direct;
pub mod error;
pub mod failpoint;
pub mod inplace;
pub mod job;
pub mod lock;
pub mod output;
pub mod retention;
pub mod scan;
pub mod searcher;
pub mod sink;
pub mod source;
pub mod stats;
pub mod survey;
pub mod timestamp;
pub mod tuning;
pub mod writers;

#[cfg(feature = "python")]
mod python {
    use std::path::PathBuf;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use pyo3::exceptions::{PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyValueError};
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict, PyList};

    use crate::archive::Archive;
    use crate::compact::{compact_file, compact_file_archiving, survey_file};
    use crate::decide::{Decider, Verdict};
    use crate::error::{Error, ErrorKind};
    use crate::job::{FileReport, Options};
    use crate::retention::{Policy, RegistryEntry, RetentionRules};
    use crate::scan::Unevaluable;
    use crate::searcher::Progress;
    use crate::stats::Tally;
    use crate::timestamp::{parse_instant, parse_timestamp};
    use crate::tuning::Tuning;

    fn to_py_err(error: Error) -> PyErr {
        let message = error.to_string();
        match error.kind() {
            ErrorKind::Interrupted => PyKeyboardInterrupt::new_err(message),
            ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            ErrorKind::InvalidInput => PyValueError::new_err(message),
            ErrorKind::Other => PyOSError::new_err(message),
        }
    }

    /// Retention rules, built once per registry and shared by every file pass.
    #[pyclass(frozen, module = "mxcp_compact._core", name = "Rules")]
    struct PyRules {
        rules: RetentionRules,
    }

    #[pymethods]
    impl PyRules {
        #[new]
        #[pyo3(signature = (overrides, all_schemas_set, all_schemas_days, registry))]
        fn new(
            overrides: Vec<(String, Option<u32>)>,
            all_schemas_set: bool,
            all_schemas_days: Option<u32>,
            registry: Vec<(String, i64, Option<u32>, bool)>,
        ) -> Self {
            let registry = registry.into_iter().map(|(schema_name, version, retention_days, active)| RegistryEntry {
                schema_name,
                version,
                retention_days,
                active,
            });
            let all_schemas = all_schemas_set.then_some(all_schemas_days);
            PyRules { rules: RetentionRules::new(overrides, all_schemas, registry) }
        }

        /// (kind, days) for a schema: kind is "days", "forever" or "none".
        fn policy(&self, schema_name: &str, version: i64) -> (&'static str, Option<u32>) {
            policy_parts(self.rules.policy(schema_name, Some(version)))
        }
    }

    /// Progress of the running file pass (read from another thread) and a way to stop it.
    #[pyclass(frozen, module = "mxcp_compact._core", name = "Progress")]
    struct PyProgress {
        progress: Arc<Progress>,
    }

    #[pymethods]
    impl PyProgress {
        #[new]
        fn new() -> Self {
            PyProgress { progress: Arc::new(Progress::default()) }
        }

        /// (bytes, lines) decided so far, over all passes that used this object.
        fn counts(&self) -> (u64, u64) {
            (self.progress.bytes.load(Ordering::Relaxed), self.progress.lines.load(Ordering::Relaxed))
        }

        /// Asks the running pass to stop at the next window; the file is left untouched.
        fn cancel(&self) {
            self.progress.cancelled.store(true, Ordering::Relaxed);
        }
    }

    /// The archive of deleted lines for one run (`--archive`), shared by its file passes.
    #[pyclass(frozen, module = "mxcp_compact._core", name = "Archive")]
    struct PyArchive {
        archive: Mutex<Archive>,
    }

    #[pymethods]
    impl PyArchive {
        #[new]
        fn new(path: PathBuf) -> PyResult<Self> {
            Ok(PyArchive { archive: Mutex::new(Archive::open(&path).map_err(to_py_err)?) })
        }

        /// (lines, uncompressed bytes) archived so far.
        fn counts(&self) -> (u64, u64) {
            self.archive.lock().map_or((0, 0), |archive| (archive.lines, archive.bytes))
        }
    }

    fn policy_parts(policy: Policy) -> (&'static str, Option<u32>) {
        match policy {
            Policy::Days(days) => ("days", Some(days)),
            Policy::Forever => ("forever", None),
            Policy::Unmanaged => ("none", None),
        }
    }

    #[pyfunction]
    #[pyo3(name = "compact_file", signature = (path, rules, now_ns, dry_run, remove_if_empty, threads=0, lock_wait_s=0.0, in_place=false, archive=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn compact_file_py<'py>(
        py: Python<'py>,
        path: PathBuf,
        rules: &Bound<'py, PyRules>,
        now_ns: i128,
        dry_run: bool,
        remove_if_empty: bool,
        threads: usize,
        lock_wait_s: f64,
        in_place: bool,
        archive: Option<&Bound<'py, PyArchive>>,
        progress: Option<&Bound<'py, PyProgress>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if !lock_wait_s.is_finite() || lock_wait_s < 0.0 {
            return Err(PyValueError::new_err("lock_wait_s must be a non-negative number of seconds"));
        }
        let options = Options {
            now: now_ns,
            dry_run,
            remove_if_empty,
            threads,
            lock_wait: Duration::from_secs_f64(lock_wait_s),
            in_place,
            progress: progress.map(|p| Arc::clone(&p.get().progress)),
            tuning: Tuning::PRODUCTION,
        };
        let rules = &rules.get().rules;
        let archive = archive.map(|archive| &archive.get().archive);
        let report = py
            .detach(|| match archive {
                // A poisoned lock means an earlier pass panicked mid-write: the archive is suspect.
                Some(archive) => match archive.lock() {
                    Ok(mut archive) => compact_file_archiving(&path, rules, &options, Some(&mut archive)),
                    Err(_) => Err(Error::ChangedUnderUs {
                        path: path.clone(),
                        what: "cannot be archived after an earlier failure".to_owned(),
                    }),
                },
                None => compact_file(&path, rules, &options),
            })
            .map_err(to_py_err)?;
        report_dict(py, &report)
    }

    fn report_dict<'py>(py: Python<'py>, report: &FileReport) -> PyResult<Bound<'py, PyDict>> {
        let dict = tally_dict(py, &report.tally)?;
        dict.set_item("path", &report.path)?;
        dict.set_item("target", &report.target)?;
        dict.set_item("action", report.action.as_str())?;
        dict.set_item("bytes_before", report.bytes_before)?;
        dict.set_item("bytes_after", report.bytes_after)?;
        dict.set_item("appended_bytes", report.appended_bytes)?;
        dict.set_item("stale_temp_removed", report.stale_temp_removed)?;
        dict.set_item("note", report.note.as_deref())?;
        Ok(dict)
    }

    fn tally_dict<'py>(py: Python<'py>, tally: &Tally) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("lines", tally.lines)?;
        dict.set_item("bytes", tally.bytes)?;
        dict.set_item("deleted_lines", tally.deleted_lines)?;
        dict.set_item("deleted_bytes", tally.deleted_bytes)?;
        dict.set_item("retained", tally.retained)?;
        dict.set_item("unmanaged", tally.unmanaged)?;
        dict.set_item("blank", tally.blank)?;
        let unevaluable = PyDict::new(py);
        for reason in Unevaluable::ALL {
            let count = tally.unevaluable(reason);
            if count > 0 {
                unevaluable.set_item(reason.as_str(), count)?;
            }
        }
        dict.set_item("unevaluable", unevaluable)?;
        let schemas = PyList::empty(py);
        for schema in &tally.schemas {
            let (kind, days) = policy_parts(schema.policy);
            let entry = PyDict::new(py);
            entry.set_item("schema_name", &schema.schema_name)?;
            entry.set_item("schema_version", &schema.schema_version)?;
            entry.set_item("policy", kind)?;
            entry.set_item("retention_days", days)?;
            entry.set_item("deleted", schema.deleted)?;
            entry.set_item("deleted_bytes", schema.deleted_bytes)?;
            entry.set_item("kept", schema.kept)?;
            schemas.append(entry)?;
        }
        dict.set_item("schemas", schemas)?;
        Ok(dict)
    }

    /// The decision for each line of `data` (split after each `\n`): `None` when deleted, else
    /// the reason it was kept. For tests that compare the core with a reference.
    #[pyfunction]
    fn decide_lines(
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        rules: &Bound<'_, PyRules>,
        now_ns: i128,
    ) -> PyResult<Vec<Option<&'static str>>> {
        let bytes = data.as_bytes();
        let rules = &rules.get().rules;
        Ok(py.detach(|| {
            let mut decider = Decider::new(rules, now_ns);
            bytes
                .split_inclusive(|&b| b == b'\n')
                .map(|line| match decider.decide(line) {
                    Verdict::Delete(_) => None,
                    Verdict::Keep(reason) => Some(reason.as_str()),
                })
                .collect()
        }))
    }

    /// Records and bytes per schema and month, oldest/newest record, and the dry-run tally.
    #[pyfunction]
    #[pyo3(name = "survey_file")]
    fn survey_file_py<'py>(
        py: Python<'py>,
        path: PathBuf,
        rules: &Bound<'py, PyRules>,
        now_ns: i128,
    ) -> PyResult<Bound<'py, PyDict>> {
        let rules = &rules.get().rules;
        let survey = py.detach(|| survey_file(&path, rules, now_ns, 0)).map_err(to_py_err)?;
        let dict = tally_dict(py, &survey.tally)?;
        let buckets = PyList::empty(py);
        for bucket in &survey.buckets {
            let entry = PyDict::new(py);
            entry.set_item("schema_name", &bucket.schema_name)?;
            entry.set_item("schema_version", &bucket.schema_version)?;
            entry.set_item("month", &bucket.month)?;
            entry.set_item("records", bucket.records)?;
            entry.set_item("bytes", bucket.bytes)?;
            buckets.append(entry)?;
        }
        dict.set_item("buckets", buckets)?;
        dict.set_item("oldest_ns", survey.oldest)?;
        dict.set_item("newest_ns", survey.newest)?;
        Ok(dict)
    }

    /// Nanoseconds since the epoch for a record timestamp, or None when it does not parse.
    #[pyfunction]
    fn parse_record_timestamp(text: &str) -> Option<i128> {
        parse_timestamp(text.as_bytes())
    }

    /// Like `parse_record_timestamp`, but a bare date is also accepted (midnight UTC).
    #[pyfunction]
    fn parse_now(text: &str) -> Option<i128> {
        parse_instant(text.as_bytes())
    }

    #[pymodule]
    fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add_class::<PyRules>()?;
        module.add_class::<PyArchive>()?;
        module.add_class::<PyProgress>()?;
        module.add_function(wrap_pyfunction!(compact_file_py, module)?)?;
        module.add_function(wrap_pyfunction!(decide_lines, module)?)?;
        module.add_function(wrap_pyfunction!(survey_file_py, module)?)?;
        module.add_function(wrap_pyfunction!(parse_record_timestamp, module)?)?;
        module.add_function(wrap_pyfunction!(parse_now, module)?)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
