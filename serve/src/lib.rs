//! `zcopy-serve`: an nginx-style static file server for GET and HEAD over HTTP/1.1, built on the
//! zcopy engine's public API (`zcopy serve` on the command line, `zc_server_*` in C,
//! `zcopy.Server` in Python).
//!
//! Files below [`ServeOptions::directio`] bytes go out through a [`zcopy::Prepared`] transfer
//! by `sendfile` (the header sent with
//! `MSG_MORE`, so header and body leave in full segments, like nginx's `tcp_nopush`); files at or
//! above it are read with `O_DIRECT` into aligned buffers and sent from there, leaving the page
//! cache untouched (nginx's `directio N; aio on;`). Ranges (`bytes=a-b`, `a-`, `-n`),
//! keep-alive and pipelining are served; paths cannot leave the directory
//! (`openat2(RESOLVE_BENEATH)`).
//!
//! As nginx answers: a directory named without its trailing slash is redirected to the name
//! with it (`301`, `Location: /sub/`, the query kept); with it, its `index.html` is served, or
//! `403` without one (no listing). Every response carries `Date`, every file response
//! `Last-Modified` and an `ETag` in nginx's form (`"<mtime hex>-<size hex>"`); `If-None-Match`
//! and `If-Modified-Since` answer `304 Not Modified`, `If-Match` and `If-Unmodified-Since` `412`,
//! and `If-Range` lets a Range apply only to the file the client has part of (RFC 9110 §13).
//! An access log in nginx's `combined` format ([`ServeOptions::access_log`]) is buffered per
//! worker and written without a lock.
//!
//! The same server runs on four I/O models ([`IoModel`]) so they can be compared under the
//! same load: a thread per connection with blocking calls, non-blocking sockets polled in a
//! spinning loop, one epoll reactor per worker (the default, nginx's model), and an io_uring
//! proactor per worker.
//!
//! The server's own plumbing (sockets, epoll, eventfd, its io_uring rings, signals) is written
//! over `nix` and the `io-uring` crate; it reports what it survives through
//! [`ServeOptions::notify`], never by printing. [`Running`] serves on a background thread;
//! [`Server`] binds, then runs on the caller's thread:
//!
//! ```no_run
//! use zcopy_serve::{ServeOptions, Server};
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
use std::time::Duration;

use zcopy::{Error, Result};

use crate::notice::Notices;
pub use crate::notice::{NoticeKind, Notify};
pub use crate::running::Running;

use crate::os::fs::Fd;

mod access;
mod balance;
mod conn;
mod date;
#[doc(hidden)]
pub mod http;
mod notice;
mod os;
mod path;
mod poll;
mod reactor;
mod running;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
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

impl std::fmt::Display for IoModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for IoModel {
    type Err = Error;

    /// Parses a name; the error lists the valid names.
    fn from_str(s: &str) -> Result<IoModel> {
        IoModel::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = IoModel::ALL.iter().map(|v| v.name()).collect();
                Error::invalid(format!(
                    "unknown I/O model {s:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// Where the access log goes: nowhere (the default), standard output, or a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AccessLog {
    /// No access log (nginx's `access_log off`).
    #[default]
    Off,
    /// Standard output (fd 1), as `access_log /dev/stdout`.
    Stdout,
    /// A file, created (mode 0644 less the umask) or appended to.
    File(PathBuf),
}

impl AccessLog {
    /// Reads the CLI's spelling: `off`, `-` (standard output), or a path (a file named `off`
    /// is `./off`).
    pub fn from_arg(arg: impl AsRef<std::ffi::OsStr>) -> AccessLog {
        let arg = arg.as_ref();
        if arg == "off" {
            AccessLog::Off
        } else if arg == "-" {
            AccessLog::Stdout
        } else {
            AccessLog::File(PathBuf::from(arg))
        }
    }
}

/// What to serve, where, and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The directory served (its files and those below it, never above).
    pub dir: PathBuf,
    /// The address to listen on (default 127.0.0.1:8080); port 0 takes a free port
    /// ([`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// Worker threads, sharing one listening socket, each with its own reactor (default: the
    /// number of CPUs). The threads model uses one acceptor and a thread per connection.
    pub workers: usize,
    /// Files of at least this many bytes are read with O_DIRECT, bypassing the page cache
    /// (nginx's `directio`); default `None`: never.
    pub directio: Option<u64>,
    /// The I/O model (default: [`IoModel::Epoll`]).
    pub model: IoModel,
    /// How long a client may take to send a request head, from its connection (or, on a
    /// kept-alive connection, from the first byte of the request) to the empty line that ends
    /// the head; then the connection is closed without a response. Default 60 s, nginx's
    /// `client_header_timeout`.
    pub header_timeout: Duration,
    /// How long a kept-alive connection may stay idle between a response and the first byte of
    /// the next request; then it is closed. Default 75 s, nginx's `keepalive_timeout`.
    pub keepalive_timeout: Duration,
    /// The most connections one worker (in the threads model: the server) holds at once,
    /// nginx's `worker_connections` (default 512). At the limit the worker stops accepting: new
    /// connections wait in the listen backlog until one closes, and those held are served.
    pub max_connections: usize,
    /// The access log, one line per response in nginx's `combined` format
    /// (`$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer"
    /// "$http_user_agent"`, `$body_bytes_sent` being the body bytes that actually left).
    /// Each worker buffers its lines and writes them without a lock when 32 KiB have
    /// gathered, when the oldest is a second old, and when it stops (nginx's `access_log ...
    /// buffer=32k flush=1s`); [`Server::run`] returns with every line written. Default
    /// [`AccessLog::Off`].
    pub access_log: AccessLog,
    /// Where the server's notices go (a fallback it took, a failure it survives), each kind
    /// once per server; the library never prints. Default [`Notify::off`].
    pub notify: Notify,
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
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: 512,
            access_log: AccessLog::Off,
            notify: Notify::off(),
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
        let _ = os::event::eventfd_signal(self.wake.as_fd());
    }
}

/// Held by a worker thread: when the worker unwinds (a bug), it stops the others, so that
/// [`Server::run`], which joins them in order, is not left waiting on a healthy one.
struct StopOthers(ShutdownHandle);

impl Drop for StopOthers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.shutdown();
        }
    }
}

/// A bound, not yet running file server.
pub struct Server {
    opts: ServeOptions,
    shared: Arc<conn::Shared>,
    listener: Arc<Fd>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: Arc<Fd>,
}

impl Server {
    /// Opens the directory and binds the listening socket, which the workers share (without
    /// `SO_REUSEPORT`, so no other server can bind the same address while this one lives).
    ///
    /// # Errors
    /// [`zcopy::ErrorKind::Invalid`] for zero workers, zero timeouts or zero
    /// `max_connections`; [`zcopy::ErrorKind::Io`] when the directory or the access log cannot
    /// be opened (`ENOENT`, `ENOTDIR`, `EACCES`, as `open(2)` says) or the address cannot be bound:
    /// `EADDRINUSE` when another socket (another server, in this process or another) is bound
    /// to it, `EADDRNOTAVAIL` when it is not local.
    pub fn bind(opts: &ServeOptions) -> Result<Server> {
        if opts.workers == 0 {
            return Err(Error::invalid("workers must be at least 1"));
        }
        if opts.directio == Some(0) {
            return Err(Error::invalid("directio must be at least 1 byte (or off)"));
        }
        if opts.header_timeout.is_zero() || opts.keepalive_timeout.is_zero() {
            return Err(Error::invalid(
                "header_timeout and keepalive_timeout must be more than 0 seconds",
            ));
        }
        if opts.max_connections == 0 {
            return Err(Error::invalid("max_connections must be at least 1"));
        }
        let dir = CString::new(opts.dir.as_os_str().as_bytes())
            .map_err(|_| Error::invalid("the directory's path contains a NUL byte"))?;
        let root = os::fs::open(&dir, libc::O_PATH | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::os(e, format_args!("cannot serve {}", opts.dir.display())))?;
        // One listening socket, without SO_REUSEPORT, shared by the workers: a second server on
        // the same address (another process, or another Server here) gets EADDRINUSE instead of
        // silently taking half the connections.
        let nonblocking = matches!(opts.model, IoModel::Poll | IoModel::Epoll);
        let listen = opts.listen;
        let listener = os::net::tcp_listen(&listen, nonblocking, 1024)
            .map_err(|e| Error::os(e, format_args!("listening on {listen}")))?;
        let addr = os::net::local_addr(listener.as_fd())
            .map_err(|e| Error::os(e, "getsockname of the listening socket"))?;
        let wake = os::event::eventfd(true).map_err(|e| Error::os(e, "eventfd for shutdown"))?;
        let notices = Arc::new(Notices::new(opts.notify.clone()));
        let log = access::LogFile::open(&opts.access_log, &notices)?;
        Ok(Server {
            opts: opts.clone(),
            shared: Arc::new(conn::Shared {
                root,
                directio: opts.directio,
                header_timeout: opts.header_timeout,
                keepalive_timeout: opts.keepalive_timeout,
                max_connections: opts.max_connections,
                log,
                notices,
            }),
            listener: Arc::new(listener),
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
    ///
    /// # Panics
    /// When a worker panics (a bug in zcopy): once the other workers have stopped, the panic
    /// goes on unwinding from here, for the caller's panic boundary to report.
    pub fn run(self) -> Result<()> {
        let handle = self.handle();
        let mut threads = Vec::new();
        // The threads model has one acceptor, which starts a thread per connection.
        let count = match self.opts.model {
            IoModel::Threads => 1,
            _ => self.opts.workers,
        };
        let balance = Arc::new(
            balance::Balance::new(count).map_err(|e| Error::os(e, "eventfd for a worker"))?,
        );
        for i in 0..count {
            let w = Worker {
                id: i,
                shared: self.shared.clone(),
                listener: self.listener.clone(),
                balance: balance.clone(),
                stop: self.stop.clone(),
                wake: self.wake.clone(),
            };
            let model = self.opts.model;
            let log = self.shared.log.clone();
            let others = StopOthers(handle.clone());
            let t = std::thread::Builder::new()
                .name(format!("zcopy-serve-{i}"))
                .spawn(move || {
                    let others = others;
                    let _ = os::process::block_sigpipe();
                    #[cfg(feature = "testing")]
                    crate::testing::maybe_panic_worker();
                    access::attach(log.as_ref());
                    let r = match model {
                        IoModel::Threads => threads::run(w),
                        IoModel::Poll => poll::run(w),
                        IoModel::Epoll => reactor::run(w),
                        IoModel::Uring => uring::run(w),
                    };
                    // Every connection is gone (their open responses logged): write the rest.
                    access::finish();
                    if r.is_err() {
                        others.0.shutdown();
                    }
                    r
                })
                .map_err(|e| Error::os(e, "spawning a worker thread"))?;
            threads.push(t);
        }
        let mut result = Ok(());
        let mut panicked = None;
        for t in threads {
            let r = match t.join() {
                Ok(r) => r,
                Err(payload) => {
                    // A bug: stop the others, and once they are gone, go on unwinding on this
                    // thread, so the caller's panic boundary reports it as a panic (`ZC_PANIC`
                    // in C), as a panic inside a transfer is.
                    handle.shutdown();
                    panicked.get_or_insert(payload);
                    continue;
                }
            };
            if r.is_err() && result.is_ok() {
                // One worker failing stops the others.
                handle.shutdown();
                result = r;
            }
        }
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
        result
    }
}

/// What one worker thread gets.
pub(crate) struct Worker {
    /// Its index among the server's workers.
    id: usize,
    shared: Arc<conn::Shared>,
    /// The server's one listening socket, shared by its workers.
    listener: Arc<Fd>,
    /// How the workers spread the connections (epoll and uring).
    balance: Arc<balance::Balance>,
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
        let _ = os::event::eventfd_signal(self.wake.as_fd());
    }
}

/// How often a worker looks for connections past their deadline: a quarter of the shortest
/// timeout, between 5 ms and 1 s (so a connection is closed at most that late).
fn sweep_interval(sh: &conn::Shared) -> Duration {
    let shortest = sh
        .header_timeout
        .min(sh.keepalive_timeout)
        .min(conn::LINGER_TIMEOUT);
    (shortest / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// Disables Nagle on an accepted socket: a response's last segment leaves at once (its head
/// went with `MSG_MORE`, so full segments are still formed), as nginx's `tcp_nodelay on`.
fn nodelay(sock: &Fd) {
    let _ = os::net::set_nodelay(sock.as_fd());
}
