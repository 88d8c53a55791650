//! `zcopy.Server`: the nginx-style file server (the `zcopy-serve` crate's `Running`) on
//! background threads of this process, for the notebook's I/O-model experiments and for tests.
//! Translation only: keyword arguments and errors in, the server's life is `Running`'s.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use zcopy_serve::{AccessLog, IoModel, Running, ServeOptions};

use crate::errors::EngineError;

/// An HTTP/1.1 static file server (GET and HEAD, ranges, keep-alive) serving ``root`` on
/// background threads of this process until ``close()`` (or the end of a ``with`` block).
///
/// ``listen`` is ``"HOST:PORT"`` (port 0: a free one, see ``port``); ``workers`` the worker
/// threads (default: one per CPU); ``directio`` the size from which files are read with
/// O_DIRECT, bypassing the page cache (nginx's ``directio``; ``None``: never); ``model`` the
/// I/O model: ``"threads"``, ``"poll"``, ``"epoll"`` (default) or ``"uring"``.
///
/// Limits, nginx's defaults: ``header_timeout`` seconds for a client to send a request head
/// (60, ``client_header_timeout``), ``keepalive_timeout`` seconds an idle kept-alive connection
/// is kept (75, ``keepalive_timeout``), ``max_connections`` held at once per worker (512,
/// ``worker_connections``; more wait in the listen backlog). A second server on an address
/// already served raises ``OSError`` with errno ``EADDRINUSE``.
///
/// It answers as nginx: ``/dir`` is redirected (301) to ``/dir/``, which serves its
/// ``index.html`` or 403; file responses carry ``Date``, ``Last-Modified`` and ``ETag``
/// (``"<mtime hex>-<size hex>"``); ``If-None-Match`` and ``If-Modified-Since`` get 304 and
/// ``If-Range`` is honoured. ``access_log`` is a path (appended to), ``"-"`` for standard
/// output (fd 1) or ``None``/``"off"`` (the default): one line per response in nginx's
/// combined format, buffered per worker and all written by the time ``close()`` returns.
#[pyclass(module = "zcopy", name = "Server")]
pub(crate) struct Server {
    inner: Running,
}

#[pymethods]
impl Server {
    #[new]
    #[pyo3(signature = (root, *, listen = "127.0.0.1:0", workers = None, directio = None, model = "epoll",
                        header_timeout = 60.0, keepalive_timeout = 75.0, max_connections = 512,
                        access_log = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        listen: &str,
        workers: Option<usize>,
        directio: Option<u64>,
        model: &str,
        header_timeout: f64,
        keepalive_timeout: f64,
        max_connections: usize,
        access_log: Option<PathBuf>,
    ) -> PyResult<Server> {
        crate::guarded(py, || {
            let model: IoModel = model
                .parse()
                .map_err(|e: zcopy::Error| PyValueError::new_err(e.message().to_string()))?;
            let listen: std::net::SocketAddr = listen.parse().map_err(|e| {
                PyValueError::new_err(format!("listen {listen:?} is not HOST:PORT: {e}"))
            })?;
            let mut opts = ServeOptions::new(&root);
            opts.listen = listen;
            if let Some(w) = workers {
                opts.workers = w;
            }
            opts.directio = directio;
            opts.model = model;
            opts.header_timeout = seconds("header_timeout", header_timeout)?;
            opts.keepalive_timeout = seconds("keepalive_timeout", keepalive_timeout)?;
            opts.max_connections = max_connections;
            if let Some(log) = access_log {
                if log.as_os_str().is_empty() {
                    return Err(PyValueError::new_err(
                        "access_log must be a path, \"-\", \"off\" or None, not \"\"",
                    ));
                }
                opts.access_log = AccessLog::from_arg(log);
            }
            let inner = py
                .detach(|| Running::start(&opts))
                .map_err(EngineError::from)?;
            Ok(Server { inner })
        })
    }

    /// ``(host, port)`` the server listens on.
    #[getter]
    fn address(&self) -> (String, u16) {
        let addr = self.inner.addr();
        (addr.ip().to_string(), addr.port())
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.addr().port()
    }

    /// ``http://HOST:PORT``, to which a file's path is appended.
    #[getter]
    fn url(&self) -> String {
        format!("http://{}", self.inner.addr())
    }

    /// The I/O model's name.
    #[getter]
    fn model(&self) -> &'static str {
        self.inner.model().name()
    }

    /// Whether the server is still serving (``close()`` not called, no worker failed).
    #[getter]
    fn running(&self) -> bool {
        self.inner.running()
    }

    /// Stops the server, closing its connections, and waits for its threads. Raises the
    /// error a worker stopped with, if any. Calling it again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.stop();
        // A worker's panic goes on unwinding from join (after the other workers stopped).
        let joined = py.detach(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.join()))
        });
        match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::from(e).into()),
            Err(payload) => Err(crate::errors::panicked(py, &*payload, 0)),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "<zcopy.Server {} model={} {}>",
            self.url(),
            self.inner.model().name(),
            if self.running() { "running" } else { "closed" }
        )
    }
}

/// A timeout in seconds as a Duration; ValueError for a negative, NaN or too large one (0 is
/// refused by the engine, with the same class).
fn seconds(name: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!("{name} must be a number of seconds >= 0, not {s}"))
    })
}
