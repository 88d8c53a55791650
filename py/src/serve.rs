//! `zcopy.Server`: the engine's nginx-style file server (`zcopy::serve`) on background threads
//! of this process, for the notebook's I/O-model experiments and for tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use zcopy::serve::{AccessLog, IoModel, ServeOptions, ShutdownHandle};

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
    addr: SocketAddr,
    model: IoModel,
    handle: ShutdownHandle,
    thread: Mutex<Option<JoinHandle<zcopy::Result<()>>>>,
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
            let listen: SocketAddr = listen.parse().map_err(|e| {
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
            let server = py
                .detach(|| zcopy::serve::Server::bind(&opts))
                .map_err(EngineError::from)?;
            let addr = server.local_addr();
            let handle = server.handle();
            let thread = std::thread::Builder::new()
                .name("zcopy-serve".into())
                .spawn(move || server.run())
                .map_err(|e| {
                    pyo3::exceptions::PyOSError::new_err(format!(
                        "cannot start the server's thread: {e}"
                    ))
                })?;
            Ok(Server {
                addr,
                model,
                handle,
                thread: Mutex::new(Some(thread)),
            })
        })
    }

    /// ``(host, port)`` the server listens on.
    #[getter]
    fn address(&self) -> (String, u16) {
        (self.addr.ip().to_string(), self.addr.port())
    }

    /// The port the server listens on.
    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// ``http://HOST:PORT``, to which a file's path is appended.
    #[getter]
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The I/O model's name.
    #[getter]
    fn model(&self) -> &'static str {
        self.model.name()
    }

    /// Whether the server is still serving (``close()`` not called, no worker failed).
    #[getter]
    fn running(&self) -> bool {
        self.thread
            .lock()
            .map(|t| t.as_ref().is_some_and(|t| !t.is_finished()))
            .unwrap_or(false)
    }

    /// Stops the server, closing its connections, and waits for its threads. Raises the
    /// error a worker stopped with, if any. Calling it again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.handle.shutdown();
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        let Some(thread) = thread else {
            return Ok(());
        };
        match py.detach(|| thread.join()) {
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
            self.model.name(),
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

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.get_mut().ok().and_then(|t| t.take()) {
            let _ = t.join();
        }
    }
}
