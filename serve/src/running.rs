//! [`Running`]: a file server serving on a background thread of this process, with its whole
//! life (start, address, "still running", stop, join) in one type, so the faces (C, Python,
//! the CLI) only translate it.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread::JoinHandle;

use zcopy::{Error, Result};

use crate::{IoModel, ServeOptions, Server, ShutdownHandle};

/// A file server serving on a background thread of this process until [`Running::stop`].
///
/// Every method takes `&self`, so one `Running` may be shared between threads (queried from
/// several at once, stopped from any). Dropping it stops the server and waits for it, dropping
/// its outcome.
///
/// ```no_run
/// use zcopy_serve::{Running, ServeOptions};
/// let mut opts = ServeOptions::new("/srv/www");
/// opts.listen = "127.0.0.1:0".parse().unwrap();
/// let server = Running::start(&opts)?;
/// println!("serving on http://{}", server.addr());
/// server.stop();
/// server.join()?;
/// # Ok::<(), zcopy::Error>(())
/// ```
pub struct Running {
    addr: SocketAddr,
    model: IoModel,
    handle: ShutdownHandle,
    thread: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl Server {
    /// Serves on a background thread (named `zcopy-serve`) until [`Running::stop`].
    ///
    /// # Errors
    /// [`zcopy::ErrorKind::Io`] when the thread cannot be started.
    pub fn spawn(self) -> Result<Running> {
        let addr = self.local_addr();
        let model = self.opts.model;
        let handle = self.handle();
        let thread = std::thread::Builder::new()
            .name("zcopy-serve".into())
            .spawn(move || self.run())
            .map_err(|e| Error::os(e, "cannot start the server's thread"))?;
        Ok(Running {
            addr,
            model,
            handle,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl Running {
    /// Binds as [`Server::bind`] does, then serves on a background thread ([`Server::spawn`]).
    ///
    /// # Errors
    /// As [`Server::bind`] and [`Server::spawn`].
    pub fn start(opts: &ServeOptions) -> Result<Running> {
        Server::bind(opts)?.spawn()
    }

    /// The address the server listens on (with the port the kernel chose for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The I/O model it serves with.
    pub fn model(&self) -> IoModel {
        self.model
    }

    /// Whether it still serves: true until [`Running::stop`] has taken effect or a worker
    /// failed ([`Running::join`] then returns the failure), or once joined.
    pub fn running(&self) -> bool {
        self.thread
            .lock()
            .map(|t| t.as_ref().is_some_and(|t| !t.is_finished()))
            .unwrap_or(false)
    }

    /// A handle that stops the server from another thread (a signal-watching thread).
    pub fn handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Asks the server to stop (its listening socket and connections are closed); returns at
    /// once. [`Running::join`] waits for it.
    pub fn stop(&self) {
        self.handle.shutdown();
    }

    /// Waits until the server has stopped (after [`Running::stop`], or a worker's failure)
    /// and returns how it ended; every access log line is written by then. Joining again
    /// returns `Ok(())`.
    ///
    /// # Errors
    /// The first worker's failure (to set itself up, or to accept).
    ///
    /// # Panics
    /// When a worker panicked (a bug in zcopy): the panic goes on unwinding from here, for the
    /// caller's panic boundary to report (`ZC_PANIC` in C).
    pub fn join(&self) -> Result<()> {
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        let Some(thread) = thread else {
            return Ok(());
        };
        match thread.join() {
            Ok(result) => result,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.get_mut().ok().and_then(|t| t.take()) {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("model", &self.model)
            .field("running", &self.running())
            .finish()
    }
}
