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
pub mod compressed;
pub mod copy;
pub mod decide;
pub mod direct;
pub mod erase;
pub mod error;
pub mod failpoint;
pub mod inplace;
pub mod job;
pub mod lock;
pub mod output;
pub mod retention;
pub mod scan;
pub mod scrub;
pub mod searcher;
pub mod sink;
pub mod source;
pub mod specials;
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

    use pyo3::exceptions::{
        PyBlockingIOError, PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyValueError,
    };
    use pyo3::prelude::*;
    use pyo3::types::{PyDict, PyTuple};

    use crate::archive::Archive;
    use crate::compact::{compact_file, compact_file_archiving, refuse_pending_shift, survey_file};
    use crate::erase::Erasure;
    use crate::error::{Error, ErrorKind};
    use crate::job::{FileReport, Locking, Options};
    use crate::lock::{DirLock, ReadLock};
    use crate::retention::{Policy, RegistryEntry, RetentionRules};
    use crate::scan::Unevaluable;
    use crate::searcher::Progress;
    use crate::stats::Tally;
    use crate::timestamp::{parse_instant, parse_timestamp};
    use crate::tuning::Tuning;

    fn to_py_err(error: Error) -> PyErr {
        let message = error.to_string();
        let raised = match error.kind() {
            ErrorKind::Interrupted => PyKeyboardInterrupt::new_err(message),
            ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            ErrorKind::InvalidInput => PyValueError::new_err(message),
            // OSError(errno, strerror): `errno` tells the caller the file was left as it was.
            ErrorKind::NoSpace => PyOSError::new_err((libc::ENOSPC, message)),
            ErrorKind::Busy => PyBlockingIOError::new_err(message),
            ErrorKind::Other => PyOSError::new_err(message),
        };
        if error.log_unchanged() {
            // An attribute on the exception: its type and text stay those of the cause.
            Python::attach(|py| raised.value(py).setattr("log_unchanged", true)).ok();
        }
        raised
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

        /// The rules as one canonical text: equal for equal rules, whatever their order.
        fn canonical(&self) -> String {
            self.rules.canonical()
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
        #[pyo3(signature = (path, wait_s=0.0, progress=None))]
        fn new(py: Python<'_>, path: PathBuf, wait_s: f64, progress: Option<Bound<'_, PyProgress>>) -> PyResult<Self> {
            let wait = wait_seconds(wait_s)?;
            let progress = progress.map(|progress| Arc::clone(&progress.get().progress));
            let cancelled = progress.as_deref().map(|progress| &progress.cancelled);
            let archive = py.detach(|| Archive::open(&path, wait, cancelled)).map_err(to_py_err)?;
            Ok(PyArchive { archive: Mutex::new(archive) })
        }

        /// (lines, uncompressed bytes) archived so far.
        fn counts(&self) -> (u64, u64) {
            self.archive.lock().map_or((0, 0), |archive| (archive.lines, archive.bytes))
        }

        /// Bytes of an unfinished member, left by a run that stopped, cut off when it was opened.
        fn repaired(&self) -> u64 {
            self.archive.lock().map_or(0, |archive| archive.repaired)
        }

        /// Removes the archive if this run created it and wrote nothing to it; True if it did.
        fn discard_if_empty(&self) -> PyResult<bool> {
            match self.archive.lock() {
                Ok(mut archive) => archive.discard_if_empty().map_err(to_py_err),
                // A pass that panicked holding it: keep the file, whatever it holds.
                Err(_) => Ok(false),
            }
        }
    }

    fn wait_seconds(seconds: f64) -> PyResult<Duration> {
        // Not finite, negative, or beyond what a Duration holds (about 5.8e11 years).
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| PyValueError::new_err("lock_wait_s must be a non-negative number of seconds"))
    }

    /// A shared lock on a log for a reader outside the core (`lock::ReadLock`).
    #[pyclass(frozen, module = "mxcp_compact._core", name = "ReadLock")]
    struct PyReadLock {
        lock: Mutex<Option<ReadLock>>,
    }

    #[pymethods]
    impl PyReadLock {
        #[new]
        fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
            let lock = py.detach(|| ReadLock::acquire(&path)).map_err(to_py_err)?;
            Ok(PyReadLock { lock: Mutex::new(Some(lock)) })
        }

        fn release(&self) {
            if let Ok(mut lock) = self.lock.lock() {
                lock.take();
            }
        }
    }

    /// The run lock on one audit directory, taken once for all its files (`compact_file(...,
    /// locked=lock)`), released by `release()` or when the object is collected.
    #[pyclass(frozen, module = "mxcp_compact._core", name = "DirLock")]
    struct PyDirLock {
        dir: PathBuf,
        lock: Mutex<Option<DirLock>>,
    }

    #[pymethods]
    impl PyDirLock {
        #[new]
        #[pyo3(signature = (dir, wait_s=0.0, progress=None))]
        fn new(py: Python<'_>, dir: PathBuf, wait_s: f64, progress: Option<Bound<'_, PyProgress>>) -> PyResult<Self> {
            let wait = wait_seconds(wait_s)?;
            let dir = std::fs::canonicalize(&dir).map_err(|e| to_py_err(Error::io(&dir, "open the directory", e)))?;
            let progress = progress.map(|progress| Arc::clone(&progress.get().progress));
            let cancelled = progress.as_deref().map(|progress| &progress.cancelled);
            let lock = py.detach(|| DirLock::acquire(&dir, wait, cancelled)).map_err(to_py_err)?;
            Ok(PyDirLock { dir, lock: Mutex::new(Some(lock)) })
        }

        fn release(&self) {
            if let Ok(mut lock) = self.lock.lock() {
                lock.take();
            }
        }
    }

    impl PyDirLock {
        /// Fails unless this lock is held and is the one on `path`'s directory.
        fn covers(&self, path: &std::path::Path) -> PyResult<()> {
            let held = self.lock.lock().map(|lock| lock.is_some()).unwrap_or(false);
            let target = std::fs::canonicalize(path).map_err(|e| to_py_err(Error::io(path, "open", e)))?;
            if held && target.parent() == Some(self.dir.as_path()) {
                return Ok(());
            }
            Err(PyValueError::new_err(format!(
                "{}: the lock given is not held on its directory ({})",
                path.display(),
                self.dir.display()
            )))
        }
    }

    fn policy_parts(policy: Policy) -> (&'static str, Option<u32>) {
        match policy {
            Policy::Days(days) => ("days", Some(days)),
            Policy::Forever => ("forever", None),
            Policy::Unmanaged => ("none", None),
        }
    }

    /// Records of one `schema_name:schema_version` seen in a file (JSON `deleted_per_schema`
    /// keys are `key`).
    #[pyclass(frozen, get_all, eq, module = "mxcp_compact._core", name = "SchemaCount")]
    #[derive(PartialEq)]
    struct PySchemaCount {
        schema_name: String,
        schema_version: String,
        /// "days", "forever" or "none".
        policy: String,
        retention_days: Option<u32>,
        deleted: u64,
        deleted_bytes: u64,
        kept: u64,
        /// The oldest kept record whose timestamp was read (the incremental index's figure).
        oldest_kept_ns: Option<i128>,
        /// Some kept records were not read (no policy): their age is unknown.
        kept_age_unknown: bool,
    }

    #[pymethods]
    impl PySchemaCount {
        #[new]
        #[pyo3(signature = (*, schema_name, schema_version, policy, retention_days, deleted, deleted_bytes, kept,
            oldest_kept_ns=None, kept_age_unknown=false))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            schema_name: String,
            schema_version: String,
            policy: String,
            retention_days: Option<u32>,
            deleted: u64,
            deleted_bytes: u64,
            kept: u64,
            oldest_kept_ns: Option<i128>,
            kept_age_unknown: bool,
        ) -> Self {
            PySchemaCount {
                schema_name,
                schema_version,
                policy,
                retention_days,
                deleted,
                deleted_bytes,
                kept,
                oldest_kept_ns,
                kept_age_unknown,
            }
        }

        #[getter]
        fn key(&self) -> String {
            format!("{}:{}", self.schema_name, self.schema_version)
        }

        fn __repr__(&self) -> String {
            format!("SchemaCount({}, deleted={}, kept={})", self.key(), self.deleted, self.kept)
        }
    }

    /// What one file pass did (or, in a dry run, would do). Field names are the JSON report's.
    #[pyclass(frozen, get_all, module = "mxcp_compact._core", name = "FileResult")]
    struct PyFileResult {
        /// The path as given.
        path: PathBuf,
        /// The file actually compacted (symlinks resolved).
        target: PathBuf,
        /// "rewritten", "removed", "unchanged" or "dry_run".
        action: String,
        lines: u64,
        deleted: u64,
        bytes_before: u64,
        bytes_after: u64,
        deleted_bytes: u64,
        retained: u64,
        unmanaged: u64,
        blank: u64,
        /// Lines kept unevaluated, by reason.
        unevaluable: Py<PyDict>,
        schemas: Py<PyTuple>,
        appended_bytes: u64,
        stale_temp_removed: bool,
        /// Something worth telling the operator that is not an error.
        note: Option<String>,
        /// Bytes overwritten before their space was released (`--scrub`).
        bytes_scrubbed: u64,
        /// A stop request ended the pass early; what it did (and counts) is final, the rest of
        /// the file was not read.
        stopped_early: bool,
    }

    #[pymethods]
    impl PyFileResult {
        #[new]
        #[pyo3(signature = (*, path, target, action, lines, deleted, bytes_before, bytes_after, deleted_bytes,
            retained, unmanaged, blank, unevaluable, schemas, appended_bytes, stale_temp_removed, note=None,
            bytes_scrubbed=0, stopped_early=false))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            path: PathBuf,
            target: PathBuf,
            action: String,
            lines: u64,
            deleted: u64,
            bytes_before: u64,
            bytes_after: u64,
            deleted_bytes: u64,
            retained: u64,
            unmanaged: u64,
            blank: u64,
            unevaluable: Py<PyDict>,
            schemas: Py<PyTuple>,
            appended_bytes: u64,
            stale_temp_removed: bool,
            note: Option<String>,
            bytes_scrubbed: u64,
            stopped_early: bool,
        ) -> Self {
            PyFileResult {
                path,
                target,
                action,
                lines,
                deleted,
                bytes_before,
                bytes_after,
                deleted_bytes,
                retained,
                unmanaged,
                blank,
                unevaluable,
                schemas,
                appended_bytes,
                stale_temp_removed,
                note,
                bytes_scrubbed,
                stopped_early,
            }
        }

        /// Lines left in the file (or, in a dry run, that would be).
        #[getter]
        fn lines_kept(&self) -> u64 {
            self.lines - self.deleted
        }

        /// Lines kept because they could not be evaluated (broken JSON, missing keys...).
        #[getter]
        fn lines_unevaluated(&self, py: Python<'_>) -> PyResult<u64> {
            self.unevaluable.bind(py).values().iter().map(|count| count.extract::<u64>()).sum()
        }

        /// `schema_name:schema_version` -> records deleted, for the schemas with deletions.
        #[getter]
        fn deleted_per_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
            let counts = PyDict::new(py);
            for schema in self.schemas.bind(py).iter() {
                let schema = schema.cast::<PySchemaCount>()?.get();
                if schema.deleted > 0 {
                    counts.set_item(schema.key(), schema.deleted)?;
                }
            }
            Ok(counts)
        }

        fn __repr__(&self) -> String {
            format!("FileResult({}, {}, deleted={}/{})", self.path.display(), self.action, self.deleted, self.lines)
        }
    }

    /// What `stats` reads of one file: buckets per schema and month, the oldest and newest
    /// record, and the dry-run counts.
    #[pyclass(frozen, get_all, module = "mxcp_compact._core", name = "Survey")]
    struct PySurvey {
        lines: u64,
        /// Lines of JSON whitespace only.
        blank: u64,
        bytes: u64,
        deleted: u64,
        deleted_bytes: u64,
        /// Lines kept unevaluated, by reason.
        unevaluable: Py<PyDict>,
        schemas: Py<PyTuple>,
        /// (schema_name, schema_version, month, records, bytes) per bucket, in order of first line.
        buckets: Py<PyTuple>,
        oldest_ns: Option<i128>,
        newest_ns: Option<i128>,
        /// The oldest record past its retention: timestamp and line number (from 1).
        oldest_expired_ns: Option<i128>,
        oldest_expired_line: Option<u64>,
        /// Records dated more than a day after now, and the line number of the first.
        future_records: u64,
        first_future_line: Option<u64>,
    }

    #[pyfunction]
    #[pyo3(name = "compact_file", signature = (path, rules, now_ns, dry_run, remove_if_empty, threads=0, lock_wait_s=0.0, in_place=false, archive=None, progress=None, locked=None, erase=None, scrub=false))]
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
        locked: Option<&Bound<'py, PyDirLock>>,
        erase: Option<Vec<(String, String)>>,
        scrub: bool,
    ) -> PyResult<PyFileResult> {
        let erasure = erase.map(|conditions| Erasure::new(&conditions)).transpose().map_err(PyValueError::new_err)?;
        let lock = match locked {
            // The caller's lock must be the one on this file's directory.
            Some(held) => {
                held.get().covers(&path)?;
                Locking::HeldByCaller
            }
            None => Locking::Wait(wait_seconds(lock_wait_s)?),
        };
        let options = Options {
            now: now_ns,
            dry_run,
            remove_if_empty,
            threads,
            lock,
            in_place,
            progress: progress.map(|p| Arc::clone(&p.get().progress)),
            tuning: Tuning::PRODUCTION,
            erasure,
            scrub,
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
        file_result(py, report)
    }

    fn file_result(py: Python<'_>, report: FileReport) -> PyResult<PyFileResult> {
        let tally = &report.tally;
        Ok(PyFileResult {
            action: report.action.as_str().to_owned(),
            lines: tally.lines,
            deleted: tally.deleted_lines,
            bytes_before: report.bytes_before,
            bytes_after: report.bytes_after,
            deleted_bytes: tally.deleted_bytes,
            retained: tally.retained,
            unmanaged: tally.unmanaged,
            blank: tally.blank,
            unevaluable: unevaluable_dict(py, tally)?.unbind(),
            schemas: schema_counts(py, tally)?.unbind(),
            appended_bytes: report.appended_bytes,
            stale_temp_removed: report.stale_temp_removed,
            note: report.note,
            bytes_scrubbed: report.bytes_scrubbed,
            stopped_early: report.stopped_early,
            path: report.path,
            target: report.target,
        })
    }

    fn unevaluable_dict<'py>(py: Python<'py>, tally: &Tally) -> PyResult<Bound<'py, PyDict>> {
        let unevaluable = PyDict::new(py);
        for reason in Unevaluable::ALL {
            let count = tally.unevaluable(reason);
            if count > 0 {
                unevaluable.set_item(reason.as_str(), count)?;
            }
        }
        Ok(unevaluable)
    }

    fn schema_counts<'py>(py: Python<'py>, tally: &Tally) -> PyResult<Bound<'py, PyTuple>> {
        let counts = tally.schemas.iter().map(|schema| {
            let (kind, days) = policy_parts(schema.policy);
            PySchemaCount {
                schema_name: schema.schema_name.clone(),
                schema_version: schema.schema_version.clone(),
                policy: kind.to_owned(),
                retention_days: days,
                deleted: schema.deleted,
                deleted_bytes: schema.deleted_bytes,
                kept: schema.kept,
                oldest_kept_ns: schema.kept_age.oldest,
                kept_age_unknown: schema.kept_age.unknown,
            }
        });
        let counts: Vec<Bound<'py, PySchemaCount>> = counts.map(|c| Bound::new(py, c)).collect::<PyResult<_>>()?;
        PyTuple::new(py, counts)
    }

    /// Records and bytes per schema and month, oldest/newest record, and the dry-run tally.
    #[pyfunction]
    #[pyo3(name = "survey_file", signature = (path, rules, now_ns, threads=0))]
    fn survey_file_py<'py>(
        py: Python<'py>,
        path: PathBuf,
        rules: &Bound<'py, PyRules>,
        now_ns: i128,
        threads: usize,
    ) -> PyResult<PySurvey> {
        let rules = &rules.get().rules;
        let survey = py.detach(|| survey_file(&path, rules, now_ns, threads)).map_err(to_py_err)?;
        let buckets = survey
            .buckets
            .iter()
            .map(|bucket| (&bucket.schema_name, &bucket.schema_version, &bucket.month, bucket.records, bucket.bytes));
        let tally = &survey.tally;
        Ok(PySurvey {
            lines: tally.lines,
            blank: tally.blank,
            bytes: tally.bytes,
            deleted: tally.deleted_lines,
            deleted_bytes: tally.deleted_bytes,
            unevaluable: unevaluable_dict(py, tally)?.unbind(),
            schemas: schema_counts(py, tally)?.unbind(),
            buckets: PyTuple::new(py, buckets)?.unbind(),
            oldest_ns: survey.oldest,
            newest_ns: survey.newest,
            oldest_expired_ns: survey.oldest_expired.map(|(instant, _)| instant),
            oldest_expired_line: survey.oldest_expired.map(|(_, line)| line),
            future_records: survey.future,
            first_future_line: survey.first_future,
        })
    }

    /// Bindings for tests that compare the core with the Python reference of the rules; no
    /// command uses them.
    mod testing {
        use pyo3::prelude::*;
        use pyo3::types::PyBytes;

        use super::PyRules;
        use crate::decide::{decide_span, Decider, Verdict};
        use crate::scan::Kernel;

        fn shown(verdict: Verdict) -> Option<&'static str> {
            match verdict {
                Verdict::Delete(_) => None,
                Verdict::Keep(reason) => Some(reason.as_str()),
            }
        }

        /// The decision for each line of `data` (split after each `\n`): `None` when deleted,
        /// else the reason it was kept. Decided four times, each line on its own and all of
        /// `data` as one span (the searcher's path, where the scan finds each line's end
        /// itself), each with the native and the portable byte searches; an AssertionError if
        /// any two differ.
        #[pyfunction]
        pub fn decide_lines(
            py: Python<'_>,
            data: &Bound<'_, PyBytes>,
            rules: &Bound<'_, PyRules>,
            now_ns: i128,
        ) -> PyResult<Vec<Option<&'static str>>> {
            let bytes = data.as_bytes();
            let rules = &rules.get().rules;
            let ways = py.detach(|| {
                [Kernel::Native, Kernel::Portable].map(|kernel| {
                    let decider = || Decider::new(rules, now_ns).with_kernel(kernel);
                    let mut alone_decider = decider();
                    let alone: Vec<_> =
                        bytes.split_inclusive(|&b| b == b'\n').map(|line| shown(alone_decider.decide(line))).collect();
                    let mut runs = Vec::new();
                    decide_span(&mut decider(), bytes, 0..bytes.len(), &mut runs);
                    let in_span: Vec<_> = runs
                        .iter()
                        .flat_map(|run| std::iter::repeat_n(shown(run.verdict), run.lines as usize))
                        .collect();
                    (kernel, alone, in_span)
                })
            });
            let [(_, native, _), ..] = &ways;
            for (kernel, alone, in_span) in &ways {
                for (way, got) in [("alone", alone), ("as one span", in_span)] {
                    if got != native {
                        return Err(pyo3::exceptions::PyAssertionError::new_err(format!(
                            "lines decided {way} with the {kernel:?} kernel {got:?} differ from the lines \
                             decided alone with the native one {native:?}"
                        )));
                    }
                }
            }
            Ok(native.clone())
        }
    }

    /// Raises the dry run's error for a log an interrupted in-place compaction left half moved.
    #[pyfunction]
    #[pyo3(name = "refuse_pending_shift")]
    fn refuse_pending_shift_py(path: PathBuf) -> PyResult<()> {
        refuse_pending_shift(&path).map_err(to_py_err)
    }

    /// Why overwriting in place cannot work on the filesystem holding `path` (btrfs, ZFS,
    /// tmpfs...), or None where it can.
    #[pyfunction]
    fn scrub_limit(path: PathBuf) -> Option<&'static str> {
        crate::scrub::overwrites_in_place(&path)
    }

    /// Starts the kernel reading the first `length` bytes of the log at `path`, a chunk or two
    /// at a time so that the file being compacted meanwhile keeps its reads first, from a thread
    /// of the core's own, and returns at once (see `source::read_head_paced`).
    #[pyfunction]
    fn read_ahead(path: PathBuf, length: u64) {
        let chunk = Tuning::PRODUCTION.next_file_chunk_bytes as u64;
        crate::source::read_head_paced_in_background(path, length, chunk);
    }

    /// Starts reading the head of the log at `path` into the page cache, a chunk or two at a
    /// time, from a thread of the core's own, and returns at once: for the start of a run, while
    /// Python imports (see `source::read_head_paced`). As far as the scan's own read-ahead will
    /// reach when it starts.
    #[pyfunction]
    fn prefetch(path: PathBuf) {
        let tuning = Tuning::PRODUCTION;
        crate::source::read_head_paced_in_background(
            path,
            tuning.readahead_bytes as u64,
            tuning.prefetch_chunk_bytes as u64,
        );
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
        module.add_class::<PyDirLock>()?;
        module.add_class::<PyReadLock>()?;
        module.add_function(wrap_pyfunction!(compact_file_py, module)?)?;
        module.add_class::<PySchemaCount>()?;
        module.add_class::<PyFileResult>()?;
        module.add_class::<PySurvey>()?;
        module.add_function(wrap_pyfunction!(testing::decide_lines, module)?)?;
        module.add_function(wrap_pyfunction!(survey_file_py, module)?)?;
        module.add_function(wrap_pyfunction!(parse_record_timestamp, module)?)?;
        module.add_function(wrap_pyfunction!(parse_now, module)?)?;
        module.add_function(wrap_pyfunction!(scrub_limit, module)?)?;
        module.add_function(wrap_pyfunction!(refuse_pending_shift_py, module)?)?;
        module.add_function(wrap_pyfunction!(read_ahead, module)?)?;
        module.add_function(wrap_pyfunction!(prefetch, module)?)?;
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // Set by benches/pgo_build.sh, so that a benchmark can say which build it timed.
        module.add("BUILD", option_env!("MXCP_COMPACT_BUILD").unwrap_or("plain"))?;
        Ok(())
    }
}
