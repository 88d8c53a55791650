//! The page-cache functions: `residency`, `advise`, `readahead`, `evict`, `warm` (the engine's
//! `cache` module).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::args::{self, End};
use crate::errors::{self, EngineError};
use crate::report::Residency;

/// Runs one engine cache call on `f` without the GIL.
fn run<T: Send>(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    func: &str,
    call: impl FnOnce(&std::os::fd::OwnedFd) -> zcopy::Result<T> + Send,
) -> PyResult<T> {
    let end = End::resolve_file(f, func)?;
    let renames = [end.rename()];
    let fd = &end.fd;
    match py.detach(|| catch_unwind(AssertUnwindSafe(|| call(fd)))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(error)) => Err(EngineError {
            error,
            renames: renames.to_vec(),
        }
        .into()),
        Err(payload) => Err(errors::panicked(py, &*payload, 0)),
    }
}

/// The `length` argument: None (to end of file) or a byte count.
fn length(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    match v {
        Some(v) => args::count(v, "length"),
        None => Ok(None),
    }
}

/// How much of ``f`` is in the page cache: ``length`` bytes from ``offset`` (None: to end of
/// file).
///
/// ``f`` is an int fd, a file object, or a path (opened read-only for the call). Returns a
/// Residency: ``pages``, ``resident``, ``ratio``, ``bitmap`` (bytes, one per page, 1 = resident)
/// and ``method`` (``"cachestat"``, ``"mincore"``, or ``"none"`` for a pipe, socket or device,
/// which have no page cache).
///
/// The kernel tells the truth only about files this process owns or may write (it reports
/// other files fully resident); for those this raises UnsupportedError rather than a false
/// answer.
#[pyfunction]
#[pyo3(signature = (f, offset = 0, length = None))]
pub(crate) fn residency(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    offset: u64,
    length: Option<&Bound<'_, PyAny>>,
) -> PyResult<Residency> {
    crate::guarded(py, || {
        let len = self::length(length)?;
        run(py, f, "residency", |fd| {
            zcopy::cache::residency(fd, offset, len)
        })
        .map(Residency::from_engine)
    })
}

/// Tell the kernel how ``length`` bytes of ``f`` from ``offset`` will be used
/// (``posix_fadvise``; ``length=0`` means to end of file, as there).
///
/// ``advice`` is one of ``"normal"``, ``"sequential"`` (the kernel doubles its readahead),
/// ``"random"`` (no readahead), ``"willneed"`` (start reading now), ``"dontneed"`` (drop clean
/// cached pages), ``"noreuse"`` (read once). ``f`` as for ``residency``.
///
/// Returns True when the kernel took the hint, False when there was nothing to do (``f`` has
/// no page cache: a pipe, a socket, a device).
#[pyfunction]
#[pyo3(signature = (f, advice, offset = 0, length = 0))]
pub(crate) fn advise(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    advice: &Bound<'_, PyAny>,
    offset: u64,
    length: u64,
) -> PyResult<bool> {
    crate::guarded(py, || {
        let advice: zcopy::cache::Advice = advice
            .extract::<String>()
            .map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "advice must be a str: normal, sequential, random, willneed, dontneed or noreuse",
                )
            })?
            .parse()
            .map_err(|e| PyErr::from(EngineError::from(e)))?;
        let len = (length > 0).then_some(length);
        let hint = run(py, f, "advise", |fd| {
            zcopy::cache::advise(fd, offset, len, advice)
        })?;
        Ok(matches!(hint, zcopy::cache::Hint::Applied))
    })
}

/// Start reading ``f`` (``length`` bytes from ``offset``; None: to end of file) into the page
/// cache, without waiting for it (``readahead(2)``, a window of 2 MiB at a time; C's
/// ``zc_readahead``, Go's ``Readahead``). ``f`` as for ``residency``.
///
/// Returns True when the reads were started (also for an empty range: ``length=0``, or
/// ``offset`` at or past the end), False when there was nothing to do (``f`` has no page cache:
/// a pipe, a socket, a device). The pages become resident as the reads complete; ``warm``
/// waits for them.
#[pyfunction]
#[pyo3(signature = (f, offset = 0, length = None))]
pub(crate) fn readahead(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    offset: u64,
    length: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    crate::guarded(py, || {
        let len = self::length(length)?;
        let hint = run(py, f, "readahead", |fd| {
            zcopy::cache::readahead(fd, offset, len)
        })?;
        Ok(matches!(hint, zcopy::cache::Hint::Applied))
    })
}

/// Drop ``f`` (``length`` bytes from ``offset``; None: to end of file) from the page cache,
/// writing dirty pages back first, and return what is still resident (pages mapped or locked
/// by a process stay). ``f`` as for ``residency``; a file object's buffered writes are flushed
/// first. On a file this process may not see the page cache of (see ``residency``), the pages
/// are dropped all the same and ``method`` is ``"unknown"`` (``resident`` 0: not known).
#[pyfunction]
#[pyo3(signature = (f, offset = 0, length = None))]
pub(crate) fn evict(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    offset: u64,
    length: Option<&Bound<'_, PyAny>>,
) -> PyResult<Residency> {
    crate::guarded(py, || {
        let len = self::length(length)?;
        run(py, f, "evict", |fd| zcopy::cache::evict(fd, offset, len)).map(Residency::from_engine)
    })
}

/// Bring ``f`` (``length`` bytes from ``offset``; None: to end of file) into the page cache
/// without copying it to user space, wait until it is there, and return its residency. ``f``
/// as for ``residency``. Runs without the GIL. On a file this process may not see the page
/// cache of, the pages are read all the same and ``method`` is ``"unknown"``.
#[pyfunction]
#[pyo3(signature = (f, offset = 0, length = None))]
pub(crate) fn warm(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    offset: u64,
    length: Option<&Bound<'_, PyAny>>,
) -> PyResult<Residency> {
    crate::guarded(py, || {
        let len = self::length(length)?;
        run(py, f, "warm", |fd| zcopy::cache::warm(fd, offset, len)).map(Residency::from_engine)
    })
}
