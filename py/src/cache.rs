//! The page-cache functions: `residency`, `advise`, `readahead`, `evict`, `warm` (the engine's
//! `cache` module).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use crate::args::{self, End};
use crate::errors::{self, EngineError};
use crate::report::Residency;

/// Runs one engine cache call on `f` without the GIL, given the fd and the caller's name for it
/// (`fd 5`, or the path zcopy opened), which the engine's messages use.
fn run<T: Send>(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    func: &str,
    call: impl FnOnce(&std::fs::File, &std::path::Path) -> zcopy::Result<T> + Send,
) -> PyResult<T> {
    let end = End::resolve_file(f, func)?;
    let (fd, label) = (&end.fd, end.label());
    match py.detach(|| catch_unwind(AssertUnwindSafe(|| call(fd, label)))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(error)) => Err(EngineError::from(error).into()),
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
        run(py, f, "residency", |fd, name| {
            zcopy::cache::residency_named(fd, name, offset, len)
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
        let hint = run(py, f, "advise", |fd, name| {
            zcopy::cache::advise_named(fd, name, offset, len, advice)
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
        let hint = run(py, f, "readahead", |fd, name| {
            zcopy::cache::readahead_named(fd, name, offset, len)
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
        run(py, f, "evict", |fd, name| {
            zcopy::cache::evict_named(fd, name, offset, len)
        })
        .map(Residency::from_engine)
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
        run(py, f, "warm", |fd, name| {
            zcopy::cache::warm_named(fd, name, offset, len)
        })
        .map(Residency::from_engine)
    })
}

/// Pages of a file locked in memory by ``zcopy.lock()``: they stay in the page cache, whatever
/// the memory pressure, until ``close()`` (or the end of a ``with`` block, or the object's
/// collection). Not tied to the file: it may be closed meanwhile.
#[pyclass(module = "zcopy", name = "Locked")]
pub(crate) struct Locked {
    inner: Option<zcopy::cache::Locked>,
}

#[pymethods]
impl Locked {
    /// Pages locked (the system page size each; the last may be partial); 0 once closed.
    #[getter]
    fn pages(&self) -> u64 {
        self.inner.as_ref().map_or(0, |l| l.pages())
    }

    /// Bytes locked: from the page boundary at or below the offset to the end of the range
    /// (cut at end of file); 0 once closed.
    #[getter]
    fn bytes(&self) -> u64 {
        self.inner.as_ref().map_or(0, |l| l.bytes())
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Unlock and unmap the pages (they may then leave the page cache). Calling it again does
    /// nothing.
    fn close(&mut self) {
        self.inner = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    /// `Locked(pages=256, bytes=1048576)`, or `Locked(closed)`.
    fn __repr__(&self) -> String {
        match &self.inner {
            Some(l) => format!("Locked(pages={}, bytes={})", l.pages(), l.bytes()),
            None => "Locked(closed)".to_string(),
        }
    }
}

/// Lock ``f`` (``length`` bytes from ``offset``; None: to end of file, and a range past the
/// end is cut there) in memory, as ``vmtouch -l`` does: the file is mapped read-only and
/// ``mlock(2)``-ed, so the kernel reads every page in and keeps it resident until the returned
/// Locked is closed (use it as a context manager). The pages are never touched from user
/// space: a truncation meanwhile cannot raise SIGBUS. ``f`` as for ``residency``. Runs without
/// the GIL.
///
/// Locked memory counts against RLIMIT_MEMLOCK (``ulimit -l``; ``lock_limit()`` tells it)
/// unless the process has CAP_IPC_LOCK; past it this raises ZcopyError (an OSError with
/// errno ENOMEM; EPERM when the limit is 0) and nothing stays locked.
/// ValueError for a pipe, socket or device (no page cache).
#[pyfunction]
#[pyo3(signature = (f, offset = 0, length = None))]
pub(crate) fn lock(
    py: Python<'_>,
    f: &Bound<'_, PyAny>,
    offset: u64,
    length: Option<&Bound<'_, PyAny>>,
) -> PyResult<Locked> {
    crate::guarded(py, || {
        let len = self::length(length)?;
        let inner = run(py, f, "lock", |fd, name| {
            zcopy::cache::lock_named(fd, name, offset, len)
        })?;
        Ok(Locked { inner: Some(inner) })
    })
}

/// The most bytes this process may lock with ``lock()``: the soft RLIMIT_MEMLOCK
/// (``ulimit -l``), or None when nothing binds (the limit is unlimited, or the process has
/// CAP_IPC_LOCK, as root usually does). Memory already locked counts against the same limit.
#[pyfunction]
pub(crate) fn lock_limit() -> Option<u64> {
    zcopy::cache::lock_limit()
}

/// The files ``zcopy.files()`` found.
#[pyclass(module = "zcopy", name = "Files", frozen)]
pub(crate) struct Files {
    files: Vec<std::ffi::OsString>,
    /// Directories walked (each given directory and every one below it).
    #[pyo3(get)]
    directories: u64,
    /// Whether a path given was a directory.
    #[pyo3(get)]
    any_directory: bool,
    errors: Vec<(std::ffi::OsString, Py<PyAny>)>,
}

#[pymethods]
impl Files {
    /// The files, in the order met: each path given that is not a directory, and every regular
    /// file under each directory given (str, decoded as ``os.fsdecode`` does).
    #[getter]
    fn files(&self) -> Vec<std::ffi::OsString> {
        self.files.clone()
    }

    /// What could not be read: ``(path, error)`` pairs, the error a ZcopyError (also the
    /// matching OSError subclass, e.g. FileNotFoundError). The rest was walked.
    #[getter]
    fn errors(&self, py: Python<'_>) -> Vec<(std::ffi::OsString, Py<PyAny>)> {
        self.errors
            .iter()
            .map(|(p, e)| (p.clone(), e.clone_ref(py)))
            .collect()
    }

    /// `Files(files=3, directories=2, errors=0)`.
    fn __repr__(&self) -> String {
        format!(
            "Files(files={}, directories={}, errors={})",
            self.files.len(),
            self.directories,
            self.errors.len()
        )
    }
}

/// The files under ``paths`` as vmtouch walks them: each path given that is not a directory
/// (followed if a symlink; a pipe or device named is kept), and every regular file under each
/// directory given, recursively, its entries in name order; inside directories, symlinks,
/// pipes, sockets and devices are skipped and a file met before (a hard link) is taken once.
/// Nothing is opened but directories.
///
/// ``paths`` are str, bytes or os.PathLike. Returns a Files: ``files`` (list of str),
/// ``directories`` (how many were walked), ``any_directory``, and ``errors`` (what could not be
/// read, as ``(path, ZcopyError)`` pairs: a missing path does not stop the walk).
#[pyfunction]
#[pyo3(signature = (*paths))]
pub(crate) fn files(py: Python<'_>, paths: Vec<Bound<'_, PyAny>>) -> PyResult<Files> {
    crate::guarded(py, || {
        let given = paths
            .iter()
            .map(|p| args::path(p, "a path", "files"))
            .collect::<PyResult<Vec<_>>>()?;
        let walk =
            match py.detach(|| catch_unwind(AssertUnwindSafe(|| zcopy::cache::files(&given)))) {
                Ok(w) => w,
                Err(payload) => return Err(errors::panicked(py, &*payload, 0)),
            };
        let errors = walk
            .errors
            .into_iter()
            .map(|(p, e)| {
                let err = PyErr::from(EngineError::from(e));
                (p.into_os_string(), err.into_value(py).into_any())
            })
            .collect();
        Ok(Files {
            files: walk.files.into_iter().map(|p| p.into_os_string()).collect(),
            directories: walk.directories,
            any_directory: walk.any_directory,
            errors,
        })
    })
}
