//! `zcopy serve`: an nginx-style static file server for GET and HEAD over HTTP/1.1, built on the
//! engine's syscall wrappers.
//!
//! Files below [`ServeOptions::directio`] bytes go out with `sendfile` (the header sent with
//! `MSG_MORE`, so header and body leave in full segments, like nginx's `tcp_nopush`); files at or
//! above it are read with `O_DIRECT` into aligned buffers and sent from there, leaving the page
//! cache untouched (nginx's `directio N; aio on;`). Ranges (`bytes=a-b`, `a-`, `-n`),
//! keep-alive and pipelining are served; paths cannot leave the directory
//! (`openat2(RESOLVE_BENEATH)`).
//!
//! The same server runs on four I/O models ([`IoModel`]) so they can be compared under the
//! same load: a thread per connection with blocking calls, non-blocking sockets polled in a
//! spinning loop, one epoll reactor per worker (the default, nginx's model), and an io_uring
//! proactor per worker.
//!
//! ```no_run
//! use zcopy::serve::{ServeOptions, Server};
//! let opts = ServeOptions::new("/srv/www");
//! let server = Server::bind(&opts)?;
//! println!("listening on http://{}", server.local_addr());
//! let handle = server.handle();
//! std::thread::spawn(move || { std::thread::sleep(std::time::Duration::from_secs(60)); handle.shutdown(); });
//! server.run()?;
//! # Ok::<(), zcopy::Error>(())
//! ```

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sys;
use crate::sys::fs::Fd;

mod conn;
mod http;
mod path;
mod poll;
mod reactor;
mod threads;
mod uring;

/// How the server waits for its sockets (the notes' I/O models).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IoModel {
    /// Blocking calls and one thread per connection (accepted by one thread).
    Threads,
    /// Non-blocking sockets, each worker trying every connection in turn, spinning (with
    /// `sched_yield`) while every one would block.
    Poll,
    /// One epoll reactor per worker (edge-triggered readiness), the default: nginx's model.
    #[default]
    Epoll,
    /// One io_uring proactor per worker: accept, receive, file reads and sends are submitted,
    /// and their completions drive the connections.
    Uring,
}

impl IoModel {
    /// Every model, in the order of the names.
    pub const ALL: [IoModel; 4] = [
        IoModel::Threads,
        IoModel::Poll,
        IoModel::Epoll,
        IoModel::Uring,
    ];

    /// The name used by the CLI: `threads`, `poll`, `epoll`, `uring`.
    pub fn name(self) -> &'static str {
        match self {
            IoModel::Threads => "threads",
            IoModel::Poll => "poll",
            IoModel::Epoll => "epoll",
            IoModel::Uring => "uring",
        }
    }
}

named!(IoModel, "I/O model");

/// What to serve, where, and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The directory served (its files and those below it, never above).
    pub dir: PathBuf,
    /// The address to listen on (default 127.0.0.1:8080); port 0 takes a free port
    /// ([`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// Worker threads, each with its own listening socket (`SO_REUSEPORT`) and reactor
    /// (default: the number of CPUs). The threads model uses one acceptor and a thread per connection.
    pub workers: usize,
    /// Files of at least this many bytes are read with O_DIRECT, bypassing the page cache
    /// (nginx's `directio`); default `None`: never.
    pub directio: Option<u64>,
    /// The I/O model (default: [`IoModel::Epoll`]).
    pub model: IoModel,
}

impl ServeOptions {
    /// The defaults for serving `dir`.
    pub fn new(dir: impl AsRef<Path>) -> ServeOptions {
        ServeOptions {
            dir: dir.as_ref().to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            directio: None,
            model: IoModel::Epoll,
        }
    }
}

/// Stops a running [`Server`] from another thread (or a signal-watching thread).
#[derive(Clone)]
pub struct ShutdownHandle {
    stop: Arc<AtomicBool>,
    wake: Arc<Fd>,
}

impl ShutdownHandle {
    /// Asks every worker to stop; [`Server::run`] returns once they have. Open connections
    /// are closed.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // The eventfd is never read: it stays readable, waking every reactor.
        let _ = sys::event::eventfd_signal(self.wake.as_fd());
    }
}

/// A bound, not yet running file server.
pub struct Server {
    opts: ServeOptions,
    shared: Arc<conn::Shared>,
    listeners: Vec<Fd>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: Arc<Fd>,
}

impl Server {
    /// Opens the directory and binds the listening sockets (one per worker with
    /// `SO_REUSEPORT`, all on the port the first one got).
    ///
    /// # Errors
    /// [`crate::ErrorKind::Invalid`] for zero workers; [`crate::ErrorKind::Io`] when the
    /// directory cannot be opened (`ENOENT`, `ENOTDIR`, `EACCES`, as `open(2)` says) or the
    /// address cannot be bound (in use, not local).
    pub fn bind(opts: &ServeOptions) -> Result<Server> {
        if opts.workers == 0 {
            return Err(Error::invalid("workers must be at least 1"));
        }
        if opts.directio == Some(0) {
            return Err(Error::invalid("directio must be at least 1 byte (or off)"));
        }
        let dir = CString::new(opts.dir.as_os_str().as_bytes())
            .map_err(|_| Error::invalid("the directory's path contains a NUL byte"))?;
        let root = sys::fs::open(&dir, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::os(e, format_args!("cannot serve {}", opts.dir.display())))?;
        let (count, reuseport, nonblocking) = match opts.model {
            IoModel::Threads => (1, false, false),
            // io_uring answers EAGAIN for a non-blocking listener instead of waiting.
            IoModel::Uring => (opts.workers, true, false),
            IoModel::Poll | IoModel::Epoll => (opts.workers, true, true),
        };
        let mut listeners = Vec::with_capacity(count);
        let mut addr = opts.listen;
        for _ in 0..count {
            let l = sys::net::tcp_listen(&addr, reuseport, nonblocking, 1024)
                .map_err(|e| Error::os(e, format_args!("listening on {addr}")))?;
            addr = sys::net::local_addr(l.as_fd())
                .map_err(|e| Error::os(e, "getsockname of the listening socket"))?;
            listeners.push(l);
        }
        let wake = sys::event::eventfd(libc::EFD_NONBLOCK)
            .map_err(|e| Error::os(e, "eventfd for shutdown"))?;
        Ok(Server {
            opts: opts.clone(),
            shared: Arc::new(conn::Shared {
                root,
                directio: opts.directio,
            }),
            listeners,
            addr,
            stop: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(wake),
        })
    }

    /// The address the server listens on (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
            wake: self.wake.clone(),
        }
    }

    /// Serves until [`ShutdownHandle::shutdown`]. Runs the workers on threads of their own
    /// (the caller's thread only waits), each with SIGPIPE blocked.
    ///
    /// # Errors
    /// The first worker's failure to set itself up (epoll, io_uring) or to accept.
    pub fn run(self) -> Result<()> {
        let handle = self.handle();
        let mut threads = Vec::new();
        for (i, listener) in self.listeners.into_iter().enumerate() {
            let w = Worker {
                shared: self.shared.clone(),
                listener,
                stop: self.stop.clone(),
                wake: self.wake.clone(),
            };
            let model = self.opts.model;
            let t = std::thread::Builder::new()
                .name(format!("zcopy-serve-{i}"))
                .spawn(move || {
                    let _ = sys::process::block_sigpipe();
                    match model {
                        IoModel::Threads => threads::run(w),
                        IoModel::Poll => poll::run(w),
                        IoModel::Epoll => reactor::run(w),
                        IoModel::Uring => uring::run(w),
                    }
                })
                .map_err(|e| Error::os(e, "spawning a worker thread"))?;
            threads.push(t);
        }
        let mut result = Ok(());
        for t in threads {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(Error::invalid("a worker thread panicked")));
            if r.is_err() && result.is_ok() {
                // One worker failing stops the others.
                handle.shutdown();
                result = r;
            }
        }
        result
    }
}

/// What one worker thread gets.
pub(crate) struct Worker {
    shared: Arc<conn::Shared>,
    listener: Fd,
    stop: Arc<AtomicBool>,
    wake: Arc<Fd>,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Asks the other workers to stop too (this one failed).
    fn stop_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = sys::event::eventfd_signal(self.wake.as_fd());
    }
}

/// Disables Nagle on an accepted socket: a response's last segment leaves at once (its head
/// went with `MSG_MORE`, so full segments are still formed), as nginx's `tcp_nodelay on`.
fn nodelay(sock: &Fd) {
    let _ = sys::net::set_int(sock.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
}
