//! The exception classes, and the one conversion from the engine's [`zcopy::Error`] to a Python
//! exception ([`EngineError`] → `PyErr`).
//!
//! | engine kind | Python class | errno |
//! |---|---|---|
//! | `Io` | `ZcopyError`, and also the matching built-in (`FileNotFoundError`, `BrokenPipeError`, ...) when there is one | the OS's |
//! | `Unsupported` | `UnsupportedError(ZcopyError)` | the kernel's refusal, else `EOPNOTSUPP` |
//! | `Cancelled` | `CancelledError(ZcopyError)` | `ECANCELED` |
//! | `Invalid` | a class that is both `ZcopyError` and `ValueError` (as `io.UnsupportedOperation` is both `OSError` and `ValueError`) | `EINVAL`, `EBADF`, `ESPIPE`, ... |
//! | a panic (a bug) | `ZcopyError` | none |
//!
//! Every instance carries `.bytes_moved` (an int) and `.report` (the partial [`Report`], or
//! `None`).

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::report::Report;

create_exception!(
    zcopy,
    ZcopyError,
    PyOSError,
    "A zcopy call failed. Subclass of OSError: `.errno` and `.strerror` are set (errno may be\n\
     None for an internal error), and `.bytes_moved` tells how many bytes reached the\n\
     destination before the failure; `.report` is the partial Report when there is one.\n\n\
     OS failures are raised as a class that is also the matching built-in subclass of OSError\n\
     (`FileNotFoundError`, `PermissionError`, `BrokenPipeError`, `BlockingIOError`, ...), so\n\
     `except FileNotFoundError` and `except zcopy.ZcopyError` both catch a missing file. Bad\n\
     arguments are raised as a class that is also a ValueError."
);
create_exception!(
    zcopy,
    UnsupportedError,
    ZcopyError,
    "The technique asked for cannot serve this pair of file descriptors (with fallback=False),\n\
     or no technique can. Nothing was moved by the technique that refused."
);
create_exception!(
    zcopy,
    CancelledError,
    ZcopyError,
    "The transfer was stopped by its progress callback (which returned False) or its cancel\n\
     event; errno is ECANCELED and `.bytes_moved` tells how far it got."
);

/// The built-in subclasses of OSError that CPython picks by errno (PEP 3151), each paired below
/// with a class that is both it and `ZcopyError`.
const BUILTIN_OS_ERRORS: &[&str] = &[
    "BlockingIOError",
    "ChildProcessError",
    "ConnectionError",
    "BrokenPipeError",
    "ConnectionAbortedError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "FileExistsError",
    "FileNotFoundError",
    "InterruptedError",
    "IsADirectoryError",
    "NotADirectoryError",
    "PermissionError",
    "ProcessLookupError",
    "TimeoutError",
];

/// The classes made at import: `(built-in class, class that is both it and ZcopyError)`, and
/// the one for bad arguments (`ZcopyError` and `ValueError`).
struct Combined {
    os: Vec<(Py<PyType>, Py<PyType>)>,
    value: Py<PyType>,
}

static COMBINED: PyOnceLock<Combined> = PyOnceLock::new();

/// `type(name, bases, {"__module__": "zcopy", "__doc__": doc})`.
fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Bound<'py, PyTuple>,
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "zcopy")?;
    ns.set_item("__doc__", doc)?;
    let cls = py
        .get_type::<PyType>()
        .call1((name, bases, ns))?
        .cast_into::<PyType>()?;
    Ok(cls)
}

fn combined(py: Python<'_>) -> PyResult<&Combined> {
    COMBINED.get_or_try_init(py, || {
        let builtins = py.import("builtins")?;
        let base = py.get_type::<ZcopyError>();
        let mut os = Vec::with_capacity(BUILTIN_OS_ERRORS.len());
        for name in BUILTIN_OS_ERRORS {
            let builtin = builtins.getattr(*name)?.cast_into::<PyType>()?;
            let bases = PyTuple::new(py, [base.as_any(), builtin.as_any()])?;
            let doc = format!(
                "A zcopy failure that is also a {name}: raised for the errno values Python maps \
                 to {name}."
            );
            let cls = make_class(py, &format!("Zcopy{name}"), bases, &doc)?;
            os.push((builtin.unbind(), cls.unbind()));
        }
        let bases = PyTuple::new(py, [base.as_any(), py.get_type::<PyValueError>().as_any()])?;
        let value = make_class(
            py,
            "ZcopyValueError",
            bases,
            "A bad argument found by the engine (a write-only source, an offset on a pipe, an \
             unknown strategy name, ...): both a ValueError and a ZcopyError, with the errno the \
             engine gives (EINVAL, EBADF, ESPIPE, EOVERFLOW).",
        )?
        .unbind();
        Ok(Combined { os, value })
    })
}

/// The combined classes, by name, for the module to export.
pub(crate) fn exported(py: Python<'_>) -> PyResult<Vec<(String, Py<PyType>)>> {
    let c = combined(py)?;
    let classes = c.os.iter().map(|(_, cls)| cls).chain([&c.value]);
    classes
        .map(|cls| Ok((cls.bind(py).name()?.extract::<String>()?, cls.clone_ref(py))))
        .collect()
}

/// The class an OS failure with `errno` is raised as: the combined class of the built-in
/// subclass Python itself would pick (`type(OSError(errno, ""))`), else plain `ZcopyError`.
fn os_class(py: Python<'_>, errno: i32) -> PyResult<Bound<'_, PyType>> {
    let picked = py.get_type::<PyOSError>().call1((errno, ""))?.get_type();
    for (builtin, cls) in &combined(py)?.os {
        if picked.is(builtin.bind(py)) {
            return Ok(cls.bind(py).clone());
        }
    }
    Ok(py.get_type::<ZcopyError>())
}

/// Builds an exception instance of `cls` as `cls(errno, message)` (or `cls(message)` without an
/// errno) and sets `.bytes_moved` and `.report` on it.
fn instance(
    py: Python<'_>,
    cls: &Bound<'_, PyType>,
    errno: Option<i32>,
    message: &str,
    bytes_moved: u64,
    report: Option<Report>,
) -> PyErr {
    let built = match errno {
        Some(errno) => cls.call1((errno, message)),
        None => cls.call1((message,)),
    };
    let value = match built {
        Ok(v) => v,
        Err(e) => return e,
    };
    if let Err(e) = value.setattr("bytes_moved", bytes_moved) {
        return e;
    }
    let report = match report {
        Some(r) => match Bound::new(py, r) {
            Ok(r) => r.into_any(),
            Err(e) => return e,
        },
        None => py.None().into_bound(py),
    };
    if let Err(e) = value.setattr("report", report) {
        return e;
    }
    PyErr::from_value(value)
}

/// An engine error, to be raised in Python (`?` converts it). Its message names the ends as the
/// caller knows them: every engine call takes the caller's labels (see [`crate::args::End`]).
pub(crate) struct EngineError {
    pub error: zcopy::Error,
}

impl From<zcopy::Error> for EngineError {
    fn from(error: zcopy::Error) -> EngineError {
        EngineError { error }
    }
}

impl From<EngineError> for PyErr {
    fn from(e: EngineError) -> PyErr {
        Python::attach(|py| {
            let err = &e.error;
            let report = err.report().map(Report::from_engine);
            let cls = match err.kind() {
                zcopy::ErrorKind::Unsupported => Ok(py.get_type::<UnsupportedError>()),
                zcopy::ErrorKind::Cancelled => Ok(py.get_type::<CancelledError>()),
                zcopy::ErrorKind::Invalid => combined(py).map(|c| c.value.bind(py).clone()),
                // Io, and kinds a later engine adds: an OS failure with its errno.
                _ => match err.errno() {
                    Some(errno) => os_class(py, errno),
                    None => Ok(py.get_type::<ZcopyError>()),
                },
            };
            match cls {
                Ok(cls) => instance(
                    py,
                    &cls,
                    err.errno(),
                    err.message(),
                    err.bytes_moved(),
                    report,
                ),
                Err(e) => e,
            }
        })
    }
}

/// An OS failure found by the Python face itself (duplicating a bad fd, say), raised like the
/// engine's.
pub(crate) fn os_error(py: Python<'_>, errno: i32, message: &str) -> PyErr {
    match os_class(py, errno) {
        Ok(cls) => instance(py, &cls, Some(errno), message, 0, None),
        Err(e) => e,
    }
}

/// A failure without an errno found by the Python face itself: a plain `ZcopyError`.
pub(crate) fn internal(py: Python<'_>, message: &str, bytes_moved: u64) -> PyErr {
    instance(
        py,
        &py.get_type::<ZcopyError>(),
        None,
        message,
        bytes_moved,
        None,
    )
}

/// A panic caught at the boundary: a `ZcopyError` (never pyo3's `PanicException`).
pub(crate) fn panicked(
    py: Python<'_>,
    payload: &(dyn std::any::Any + Send),
    bytes_moved: u64,
) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    let message = format!("internal error in zcopy (a bug, please report it): {what}");
    internal(py, &message, bytes_moved)
}

/// Sets `.bytes_moved` on an exception raised by Python code zcopy called (a progress callback,
/// or the KeyboardInterrupt of Ctrl-C), so every exception out of a transfer tells how far it
/// got. An exception that refuses attributes is left as it is.
pub(crate) fn with_bytes_moved(py: Python<'_>, err: PyErr, bytes_moved: u64) -> PyErr {
    let _ = err.value(py).setattr("bytes_moved", bytes_moved);
    err
}
