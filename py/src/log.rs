//! `zcopy.Log`: the `zcopy-log` crate, a Kafka-style append-only segment log (the cargo feature
//! `log`, on by default).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use zcopy_log::{FlushPolicy, Log as EngineLog, LogOptions};

use crate::args::{self, End, Opts};
use crate::errors::EngineError;
use crate::report::Report;

/// An append-only log of records in a directory, Kafka-style: records are appended through a
/// memory-mapped, preallocated segment file and sent to consumers (a socket, a pipe) with
/// ``sendfile``.
///
/// ``Log(dir, *, segment_bytes=64 MiB, flush="sync", flush_bytes=None, flush_interval=1.0,
/// index_interval_bytes=4096)`` opens (creating ``dir`` when missing) for appending, and
/// recovers the log after a crash of its last writer: every record acknowledged under
/// ``flush="sync"`` is there, a torn tail is dropped. One writer per directory: a second
/// ``Log`` on it raises BlockingIOError.
///
/// - ``segment_bytes``: the size a segment is preallocated to (4096 to 2**32 - 1); the next
///   segment starts when a record does not fit. A record plus 16 bytes must fit in one.
/// - ``flush``: ``"sync"`` (``append`` returns once the record is durable: msync), ``"async"``
///   (a background thread syncs every ``flush_interval`` seconds and/or once ``flush_bytes``
///   are pending) or ``"manual"`` (only ``flush()``, segment rolls and ``close()``).
/// - ``index_interval_bytes``: bytes of log between offset index entries (0: every record).
///
/// A context manager: ``with zcopy.Log(path) as log: ...`` closes it (syncing everything).
/// Methods release the GIL; one call at a time runs on a log (others wait for it).
#[pyclass(module = "zcopy", name = "Log", frozen)]
pub(crate) struct Log {
    inner: Mutex<Option<EngineLog>>,
    dir: PathBuf,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, Option<EngineLog>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn closed_error(&self) -> PyErr {
        PyValueError::new_err(format!("the log in {} is closed", self.dir.display()))
    }

    /// Runs `f` on the open log without the GIL (the lock is taken there too, so a thread
    /// waiting for it never holds the GIL).
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut EngineLog) -> zcopy::Result<T> + Send,
    ) -> PyResult<T> {
        let outcome = py.detach(|| {
            let mut g = self.lock();
            g.as_mut().map(f)
        });
        match outcome {
            None => Err(self.closed_error()),
            Some(r) => r.map_err(|e| PyErr::from(EngineError::from(e))),
        }
    }
}

fn policy(flush: &str, bytes: Option<u64>, interval: Option<f64>) -> PyResult<FlushPolicy> {
    match flush {
        "sync" => Ok(FlushPolicy::Sync),
        "manual" => Ok(FlushPolicy::Manual),
        "async" => {
            let interval = match interval {
                None => None,
                Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
                Some(s) => {
                    return Err(PyValueError::new_err(format!(
                        "flush_interval must be a positive number of seconds or None, got {s}"
                    )))
                }
            };
            Ok(FlushPolicy::Async { bytes, interval })
        }
        other => Err(PyValueError::new_err(format!(
            "unknown flush policy {other:?}; expected one of sync, async, manual"
        ))),
    }
}

/// A record argument: bytes (borrowed), or any other buffer (copied).
fn record_bytes(obj: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    if let Ok(b) = obj.extract::<PyBackedBytes>() {
        return Ok(b);
    }
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(
            "a record must be bytes-like (bytes, bytearray, memoryview), not str: encode it first",
        ));
    }
    let py = obj.py();
    // Through memoryview: only objects with the buffer protocol (bytes(42) would be 42 zeros).
    let copied = py
        .import("builtins")?
        .getattr("memoryview")?
        .call1((obj,))
        .and_then(|view| view.call_method0("tobytes"))
        .map_err(|e| {
            let err = PyTypeError::new_err(format!(
                "a record must be bytes-like (bytes, bytearray, memoryview), not {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ));
            err.set_cause(py, Some(e));
            err
        })?;
    Ok(copied.extract::<PyBackedBytes>()?)
}

fn records_to_list<'py>(py: Python<'py>, records: &[(u64, &[u8])]) -> PyResult<Bound<'py, PyList>> {
    let items = records
        .iter()
        .map(|(o, p)| {
            PyTuple::new(
                py,
                [
                    o.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, p).into_any(),
                ],
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

#[pymethods]
impl Log {
    #[new]
    #[pyo3(
        signature = (dir, *, segment_bytes = 67108864, flush = "sync", flush_bytes = None, flush_interval = Some(1.0), index_interval_bytes = 4096),
        text_signature = "(dir, *, segment_bytes=67108864, flush='sync', flush_bytes=None, flush_interval=1.0, index_interval_bytes=4096)"
    )]
    fn new(
        py: Python<'_>,
        dir: &Bound<'_, PyAny>,
        segment_bytes: u64,
        flush: &str,
        flush_bytes: Option<u64>,
        flush_interval: Option<f64>,
        index_interval_bytes: u64,
    ) -> PyResult<Log> {
        crate::guarded(py, || {
            let dir = args::path(dir, "dir", "Log")?;
            let opts = LogOptions {
                segment_bytes,
                flush: policy(flush, flush_bytes, flush_interval)?,
                index_interval_bytes,
            };
            let d = dir.clone();
            let log = py
                .detach(|| EngineLog::open(&d, &opts))
                .map_err(|e| PyErr::from(EngineError::from(e)))?;
            Ok(Log {
                inner: Mutex::new(Some(log)),
                dir,
            })
        })
    }

    /// Appends ``record`` (bytes-like) and returns its offset. Under ``flush="sync"`` it is
    /// durable when this returns. A record larger than a segment (its length + 16 bytes) is a
    /// ValueError; a full disk when the next segment is preallocated is an OSError with errno
    /// ENOSPC (nothing is appended).
    fn append(&self, py: Python<'_>, record: &Bound<'_, PyAny>) -> PyResult<u64> {
        crate::guarded(py, || {
            let bytes = record_bytes(record)?;
            let b: &[u8] = &bytes;
            self.with(py, |log| log.append(b))
        })
    }

    /// Makes every record appended so far durable (msync), whatever the flush policy.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        crate::guarded(py, || self.with(py, |log| log.flush()))
    }

    /// The offset the next append will get (the number of records in the log).
    #[getter]
    fn next_offset(&self, py: Python<'_>) -> PyResult<u64> {
        crate::guarded(py, || self.with(py, |log| Ok(log.next_offset())))
    }

    /// The base offsets of the segment files, oldest first.
    #[getter]
    fn segments(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        crate::guarded(py, || self.with(py, |log| Ok(log.segments())))
    }

    /// The options the log was opened with, as a dict of ``Log``'s keyword arguments
    /// (``segment_bytes``, ``flush``, ``flush_bytes``, ``flush_interval``,
    /// ``index_interval_bytes``), so ``zcopy.Log(dir, **log.options)`` opens a log alike. Under
    /// ``"sync"`` and ``"manual"`` ``flush_bytes`` is None and ``flush_interval`` the default 1.0.
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::guarded(py, || {
            let o = self.with(py, |log| Ok(log.options().clone()))?;
            let (bytes, interval) = match o.flush {
                FlushPolicy::Async { bytes, interval } => {
                    (bytes, interval.map(|i| i.as_secs_f64()))
                }
                _ => (None, Some(FlushPolicy::DEFAULT_INTERVAL.as_secs_f64())),
            };
            let d = PyDict::new(py);
            d.set_item("segment_bytes", o.segment_bytes)?;
            d.set_item("flush", o.flush.name())?;
            d.set_item("flush_bytes", bytes)?;
            d.set_item("flush_interval", interval)?;
            d.set_item("index_interval_bytes", o.index_interval_bytes)?;
            Ok(d)
        })
    }

    /// How many times the background thread of ``flush="async"`` has synced something since
    /// the log was opened (0 under the other policies).
    #[getter]
    fn background_flushes(&self, py: Python<'_>) -> PyResult<u64> {
        crate::guarded(py, || self.with(py, |log| Ok(log.background_flushes())))
    }

    /// The directory of the log.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        // The lock is taken without the GIL: a send holding it may need the GIL to finish.
        py.detach(|| self.lock().is_none())
    }

    /// Sends whole records from ``offset`` on to ``dst`` (an fd, a socket, a pipe or file
    /// object) with sendfile, as frames ``Log.decode`` parses: as many as fit in
    /// ``max_bytes`` (None: the rest of the segment), but at least one, within one segment.
    /// Returns ``(report, next_offset)``: the transfer's Report and the offset to send from
    /// next. ``offset == next_offset`` sends nothing.
    ///
    /// ``options`` are ``transfer``'s that make sense here: ``strategy`` (default
    /// ``"sendfile"``), ``fallback``, ``progress``, ``cancel``, ``cache``, ``sync``,
    /// ``chunk_size``, ``dst_offset``. Runs without the GIL; Ctrl-C stops it with
    /// KeyboardInterrupt.
    ///
    /// On a non-blocking ``dst`` that fills up, BlockingIOError carries ``.bytes_moved`` (the
    /// last frame may be cut): once ``dst`` is writable, call ``send`` again with the same
    /// ``offset`` and ``max_bytes`` and ``skip`` = the bytes moved so far (summed), and it
    /// sends the rest of the same frames.
    ///
    /// Error messages and the Report's fallback reasons name ``dst`` as you passed it
    /// (``dst fd 5``: your fd number, or the file object's) and the source by its segment's path.
    #[pyo3(signature = (dst, offset = 0, max_bytes = None, *, skip = 0, **options))]
    fn send(
        &self,
        py: Python<'_>,
        dst: &Bound<'_, PyAny>,
        offset: u64,
        max_bytes: Option<u64>,
        skip: u64,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<(Report, u64)> {
        crate::guarded(py, || {
            if let Some(kw) = options {
                for key in ["src_offset", "length", "len", "parallelism"] {
                    if kw.contains(key)? {
                        return Err(PyTypeError::new_err(format!(
                            "Log.send() got an unexpected keyword argument '{key}': the records \
                             say where to read and how much"
                        )));
                    }
                }
            }
            let mut opts = Opts::parse("Log.send", options)?;
            if !options.is_some_and(|kw| kw.contains("strategy").unwrap_or(false)) {
                // Not named by the caller: the log's own choice.
                opts.strategy = zcopy_log::send_options().strategy;
            }
            let dst = End::resolve(dst, "dst", "Log.send")?;
            // Messages name the caller's fd ("dst fd 5"), not the duplicate the call works on.
            let (dst_fd, dst_label) = (&dst.fd, dst.label());
            let max = max_bytes.unwrap_or(u64::MAX);
            let mut next = None;
            let mut closed = false;
            let (_, result) = crate::run_engine_within(py, &opts, (None, max_bytes), |o| {
                let g = self.lock();
                let Some(log) = g.as_ref() else {
                    closed = true;
                    return Ok(zcopy::Report::default());
                };
                let (r, n) = log.send_rest_named(dst_fd, dst_label, offset, skip, max, o)?;
                next = Some(n);
                Ok(r)
            })?;
            if closed {
                return Err(self.closed_error());
            }
            let settled = dst.settle_dst();
            let report = result?;
            settled?;
            Ok((report, next.unwrap_or(offset)))
        })
    }

    /// ``send`` through ``prepared``, a transfer prepared once to the consumer's destination
    /// (``zcopy.prepare_to(sock)``; one made by ``zcopy.prepare`` works too, its destination
    /// used): for a consumer that sends many times to one socket, each send then classifies only
    /// the segment, not the destination. The frames, ``offset``, ``max_bytes``, ``skip`` and the
    /// result are ``send``'s; the options are the ones ``prepared`` was made with (its
    /// ``strategy``: Auto unless named; ``zcopy.prepare_to(sock, strategy="sendfile")`` is
    /// what ``send`` runs), and ``prepared.set_cpu_meter(False)`` takes the meter's 4 syscalls
    /// off each send. Runs without the GIL; Ctrl-C stops it with KeyboardInterrupt. Raises as
    /// ``send``, and ValueError for a closed log or Prepared.
    #[pyo3(signature = (prepared, offset = 0, max_bytes = None, *, skip = 0))]
    fn send_prepared(
        &self,
        py: Python<'_>,
        prepared: &Bound<'_, crate::prepared::Prepared>,
        offset: u64,
        max_bytes: Option<u64>,
        skip: u64,
    ) -> PyResult<(Report, u64)> {
        crate::guarded(py, || {
            let mut p = prepared.try_borrow_mut().map_err(|_| {
                PyValueError::new_err(
                    "Log.send_prepared(): the zcopy.Prepared is in use by another call",
                )
            })?;
            let max = max_bytes.unwrap_or(u64::MAX);
            let mut next = None;
            let mut closed = false;
            let what = ("Log.send_prepared()", max_bytes);
            let report = p.send_to_dst(py, what, |engine, o| {
                let g = self.lock();
                let Some(log) = g.as_ref() else {
                    closed = true;
                    return Ok(zcopy::Report::default());
                };
                let (r, n) = log.send_prepared_with(engine, offset, skip, max, o)?;
                next = Some(n);
                Ok(r)
            });
            if closed {
                return Err(self.closed_error());
            }
            Ok((report?, next.unwrap_or(offset)))
        })
    }

    /// Up to ``max_records`` records (None: all) from ``offset`` on, as bytes, each checked
    /// against its CRC-32C. (For moving many, ``send`` is the zero-copy way.)
    #[pyo3(signature = (offset = 0, max_records = None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        max_records: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        crate::guarded(py, || {
            let max = max_records.unwrap_or(usize::MAX);
            let records = self.with(py, |log| log.read(offset, max))?;
            Ok(records.iter().map(|r| PyBytes::new(py, r)).collect())
        })
    }

    /// Syncs everything, stops the background flush thread, truncates the active segment to
    /// its used length and releases the directory. Calling it again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        crate::guarded(py, || {
            let log = py.detach(|| self.lock().take());
            match log {
                None => Ok(()),
                Some(log) => py
                    .detach(|| log.close())
                    .map_err(|e| PyErr::from(EngineError::from(e))),
            }
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = py.detach(|| {
            self.lock()
                .as_ref()
                .map(|log| (log.next_offset(), log.segments().len()))
        });
        let dir = self.dir.display().to_string();
        match state {
            Some((next, segments)) => {
                format!("zcopy.Log({dir:?}, next_offset={next}, segments={segments})")
            }
            None => format!("zcopy.Log({dir:?}, closed)"),
        }
    }

    /// Parses frames as ``send`` writes them: a list of ``(offset, payload)``. A frame cut
    /// short at the end, an impossible length or a CRC mismatch is a ValueError naming the
    /// byte position (use ``decode_prefix`` for a stream read in pieces).
    #[staticmethod]
    fn decode<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        crate::guarded(py, || {
            let bytes = record_bytes(data)?;
            let records =
                zcopy_log::decode(&bytes).map_err(|e| PyErr::from(EngineError::from(e)))?;
            records_to_list(py, &records)
        })
    }

    /// As ``decode``, but a frame cut short at the end is left for later: returns
    /// ``(records, used)``, where ``used`` is the bytes the whole frames span.
    #[staticmethod]
    fn decode_prefix<'py>(
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, usize)> {
        crate::guarded(py, || {
            let bytes = record_bytes(data)?;
            let (records, used) =
                zcopy_log::decode_prefix(&bytes).map_err(|e| PyErr::from(EngineError::from(e)))?;
            Ok((records_to_list(py, &records)?, used))
        })
    }
}
