//! `zc_server`: the nginx-style file server (the `zcopy-serve` crate's [`Running`]) for C,
//! serving on background threads of the calling process, as Python's `zcopy.Server` does.
//! Translation only: options and errors in, the server's life is `Running`'s.

use std::ffi::{c_char, CStr, OsStr};
use std::mem::{offset_of, size_of};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use zcopy_serve::{AccessLog, IoModel, Running, ServeOptions};

use crate::sized::{self, read_field};
use crate::status::{boundary, Failure};
use crate::zc_status;

/// A running file server (HTTP/1.1 GET and HEAD, ranges, keep-alive) serving one directory on
/// background threads of this process. Made by `zc_server_start`, stopped and freed by
/// `zc_server_stop`. The query functions (`zc_server_port`, ...) may run on several threads at
/// once, but not during `zc_server_stop`.
pub struct zc_server {
    inner: Running,
}

/// How the server waits for its sockets (the I/O models): one of the `ZC_SERVE_MODEL_*`
/// values, named `threads`, `poll`, `epoll`, `uring` in the other faces.
pub type zc_serve_model = u32;
/// Blocking calls and one thread per connection (accepted by one thread).
pub const ZC_SERVE_MODEL_THREADS: zc_serve_model = 0;
/// Non-blocking sockets, each worker trying every connection in turn, spinning (with
/// `sched_yield`) while every one would block.
pub const ZC_SERVE_MODEL_POLL: zc_serve_model = 1;
/// One epoll reactor per worker (edge-triggered readiness): nginx's model, and the default.
pub const ZC_SERVE_MODEL_EPOLL: zc_serve_model = 2;
/// One io_uring proactor per worker: accepts, receives, file reads and sends are submitted,
/// and their completions drive the connections.
pub const ZC_SERVE_MODEL_URING: zc_serve_model = 3;

/// The bytes `zc_server_address` needs at most, NUL included (an IPv6 address with a scope id
/// and a port fits).
pub const ZC_SERVER_ADDRESS_SIZE: usize = 64;

/// How to serve. Fill it with `zc_server_options_default(&o, sizeof o)`, then change the fields
/// you need; `NULL` instead of options means the defaults. Grows like `zc_options`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_server_options {
    /// `sizeof(zc_server_options)` as the program was compiled: set by
    /// `zc_server_options_default`.
    pub struct_size: usize,
    /// The address to listen on, `"HOST:PORT"` with a numeric host (`"127.0.0.1:8080"`,
    /// `"[::1]:8080"`); port 0 takes a free port (`zc_server_port` tells which). `NULL` (the
    /// default): `"127.0.0.1:8080"`. Read during `zc_server_start` only.
    pub listen: *const c_char,
    /// Worker threads, sharing one listening socket, each with its own reactor; 0 (the
    /// default): one per CPU. The threads model uses one acceptor and a thread per connection.
    pub workers: u32,
    /// Whether `directio` is used; false (the default): never O_DIRECT.
    pub has_directio: bool,
    /// When `has_directio`: files of at least this many bytes (1 or more) are read with
    /// O_DIRECT, bypassing the page cache (nginx's `directio`).
    pub directio: u64,
    /// The I/O model: `ZC_SERVE_MODEL_EPOLL` (the default), `ZC_SERVE_MODEL_THREADS`,
    /// `ZC_SERVE_MODEL_POLL` or `ZC_SERVE_MODEL_URING`.
    pub model: zc_serve_model,
    /// Seconds a client may take to send a request head (from its connection, or from the
    /// first byte of a request on a kept-alive one); then the connection is closed. More
    /// than 0; default 60 (nginx's `client_header_timeout`). Added after the first layout: a
    /// caller compiled with the 40-byte struct gets the default.
    pub header_timeout: f64,
    /// Seconds an idle kept-alive connection is kept after its last response. More than 0;
    /// default 75 (nginx's `keepalive_timeout`).
    pub keepalive_timeout: f64,
    /// The most connections one worker holds at once (the threads model: the server); more
    /// wait in the listen backlog while those held are served. At least 1; default 512
    /// (nginx's `worker_connections`).
    pub max_connections: u32,
    /// The access log, one line per response in nginx's combined format: a path (the file is
    /// created, mode 0644 less the umask, or appended to), `"-"` for standard output (fd 1),
    /// or `NULL` (the default) or `"off"` for none. Each worker buffers its lines and writes
    /// them without a lock (when 32 KiB have gathered, when the oldest is a second old, and at
    /// `zc_server_stop`, which returns with every line written). Read during
    /// `zc_server_start` only. Added after the 64-byte layout: a caller compiled with it
    /// gets no log.
    pub access_log: *const c_char,
}

/// The size of the first `zc_server_options` layout: the smallest `struct_size` accepted.
const SERVER_OPTIONS_SIZE_V0: usize = 40;
/// The size of the layout that added the limits (`header_timeout` to `max_connections`).
const SERVER_OPTIONS_SIZE_V1: usize = 64;
const _: () = assert!(offset_of!(zc_server_options, model) + 8 == SERVER_OPTIONS_SIZE_V0);
const _: () = assert!(offset_of!(zc_server_options, header_timeout) == SERVER_OPTIONS_SIZE_V0);
const _: () = assert!(offset_of!(zc_server_options, access_log) == SERVER_OPTIONS_SIZE_V1);
const _: () = assert!(size_of::<zc_server_options>() == 72);

impl zc_server_options {
    fn defaults(struct_size: usize) -> zc_server_options {
        zc_server_options {
            struct_size,
            listen: std::ptr::null(),
            workers: 0,
            has_directio: false,
            directio: 0,
            model: ZC_SERVE_MODEL_EPOLL,
            header_timeout: 60.0,
            keepalive_timeout: 75.0,
            max_connections: 512,
            access_log: std::ptr::null(),
        }
    }

    /// Reads and checks a caller's options for serving `dir`; `NULL` means the defaults.
    ///
    /// # Safety
    /// `p` is `NULL` or valid for reading `p->struct_size` bytes, and its `listen` and
    /// `access_log` are `NULL` or NUL-terminated strings.
    unsafe fn read(p: *const zc_server_options, dir: &OsStr) -> Result<ServeOptions, Failure> {
        let own;
        let p = if p.is_null() {
            own = zc_server_options::defaults(size_of::<zc_server_options>());
            &own as *const zc_server_options
        } else {
            p
        };
        // SAFETY: non-null; the caller guarantees the struct is readable.
        let size = unsafe { sized::struct_size(p, "zc_server_options", SERVER_OPTIONS_SIZE_V0) }?;
        // SAFETY: `size` bytes are readable.
        unsafe {
            sized::check_unknown_tail(p, "zc_server_options", size_of::<zc_server_options>(), size)
        }?;
        let d = zc_server_options::defaults(size);
        let mut opts = ServeOptions::new(dir);
        let listen =
            read_field!(p, size, zc_server_options, listen: *const c_char).unwrap_or(d.listen);
        if !listen.is_null() {
            // SAFETY: non-null; the caller guarantees a NUL-terminated string.
            let text = unsafe { CStr::from_ptr(listen) }.to_string_lossy();
            opts.listen = text.parse().map_err(|e| {
                Failure::invalid(format!(
                    "zc_server_options.listen {text:?} is not HOST:PORT with a numeric host: {e}"
                ))
            })?;
        }
        let workers = read_field!(p, size, zc_server_options, workers: u32).unwrap_or(d.workers);
        if workers > 0 {
            opts.workers = workers as usize;
        }
        let has_directio =
            read_field!(p, size, zc_server_options, has_directio: u8).is_some_and(|b| b != 0);
        if has_directio {
            opts.directio =
                Some(read_field!(p, size, zc_server_options, directio: u64).unwrap_or(0));
        }
        opts.model = match read_field!(p, size, zc_server_options, model: u32).unwrap_or(d.model) {
            ZC_SERVE_MODEL_THREADS => IoModel::Threads,
            ZC_SERVE_MODEL_POLL => IoModel::Poll,
            ZC_SERVE_MODEL_EPOLL => IoModel::Epoll,
            ZC_SERVE_MODEL_URING => IoModel::Uring,
            other => {
                return Err(Failure::invalid(format!(
                    "zc_server_options.model is {other}, which is no zc_serve_model; valid: \
                     threads (0), poll (1), epoll (2), uring (3)"
                )))
            }
        };
        let secs = |name: &str, v: f64| {
            Duration::try_from_secs_f64(v).map_err(|_| {
                Failure::invalid(format!(
                    "zc_server_options.{name} is {v}, which is no number of seconds > 0"
                ))
            })
        };
        let header = read_field!(p, size, zc_server_options, header_timeout: f64);
        opts.header_timeout = secs("header_timeout", header.unwrap_or(d.header_timeout))?;
        let keepalive = read_field!(p, size, zc_server_options, keepalive_timeout: f64);
        opts.keepalive_timeout = secs(
            "keepalive_timeout",
            keepalive.unwrap_or(d.keepalive_timeout),
        )?;
        opts.max_connections = read_field!(p, size, zc_server_options, max_connections: u32)
            .unwrap_or(d.max_connections) as usize;
        let log = read_field!(p, size, zc_server_options, access_log: *const c_char)
            .unwrap_or(d.access_log);
        if !log.is_null() {
            // SAFETY: non-null; the caller guarantees a NUL-terminated string.
            let text = unsafe { CStr::from_ptr(log) }.to_bytes();
            if text.is_empty() {
                return Err(Failure::invalid(
                    "zc_server_options.access_log is \"\"; give a path, \"-\" or \"off\" (or NULL)",
                ));
            }
            opts.access_log = AccessLog::from_arg(OsStr::from_bytes(text));
        }
        Ok(opts)
    }
}

/// Fills `*opts` with the defaults (listen on `"127.0.0.1:8080"`, one worker per CPU, no
/// O_DIRECT, `ZC_SERVE_MODEL_EPOLL`, timeouts of 60 s for a head and 75 s for an idle
/// keep-alive, 512 connections per worker, no access log) and sets `opts->struct_size` to `struct_size` (pass
/// `sizeof *opts`).
///
/// `ZC_NULL_POINTER` when `opts` is `NULL`; `ZC_INVALID` when `struct_size` is smaller than the
/// first `zc_server_options` layout (40 bytes) or implausibly large.
///
/// # Safety
/// `opts` is `NULL` or valid for writing `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn zc_server_options_default(
    opts: *mut zc_server_options,
    struct_size: usize,
) -> zc_status {
    boundary(|| {
        if opts.is_null() {
            return Err(Failure::null("opts"));
        }
        let size_ptr: *const usize = &struct_size;
        // SAFETY: reads the local `struct_size` through a pointer, only to share the check.
        let size =
            unsafe { sized::struct_size(size_ptr, "zc_server_options", SERVER_OPTIONS_SIZE_V0) }?;
        // SAFETY: the caller guarantees `size` writable bytes at `opts`.
        unsafe { sized::write(opts, size, &zc_server_options::defaults(size)) };
        Ok(())
    })
}

/// Serves the files in directory `dir` (and below it, never above) as `opts` says (`NULL`: the
/// defaults): binds the listening sockets, then serves on background threads until
/// `zc_server_stop`. Each worker thread blocks SIGPIPE for itself; no process-wide state
/// changes. Answers as nginx: a directory named without its trailing slash is redirected
/// (301) to the name with it, one with it serves its `index.html` or 403; file responses carry
/// `Date`, `Last-Modified` and `ETag` (`"<mtime hex>-<size hex>"`), and `If-None-Match` /
/// `If-Modified-Since` are answered with 304, `If-Range` honoured.
///
/// Writes the server into `*out` (`NULL` first, so a failure leaves `NULL` there);
/// `zc_server_stop` stops and frees it.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `dir` or `out`; `ZC_IO` with `EADDRINUSE`
/// when the address is taken (the message names it), `ENOENT` (or `ENOTDIR`, `EACCES`) for a
/// directory or an access log that cannot be opened (the message names it); `ZC_INVALID` for a
/// bad `struct_size`, an unknown `model`, a `listen` that is not `HOST:PORT`, `has_directio`
/// with `directio` 0, a timeout of 0 or less, `max_connections` 0 or an empty `access_log` (the
/// message names the field); `ZC_PANIC` for a bug in zcopy. `EADDRINUSE` (`ZC_IO`) also when
/// another server, in this process or another, serves the address: the workers of one server
/// share their listening socket, no one else does.
///
/// # Safety
/// `dir` is `NULL` or a NUL-terminated path; `opts` is `NULL` or a `zc_server_options`
/// readable for `opts->struct_size` bytes, whose `listen` and `access_log` are `NULL` or
/// NUL-terminated; `out` is `NULL` or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn zc_server_start(
    dir: *const c_char,
    opts: *const zc_server_options,
    out: *mut *mut zc_server,
) -> zc_status {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null and writable (the caller's contract): cleared first, so a failure
        // leaves NULL.
        unsafe { out.write(std::ptr::null_mut()) };
        if dir.is_null() {
            return Err(Failure::null("dir"));
        }
        // SAFETY: non-null; the caller guarantees a NUL-terminated string.
        let dir = OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes());
        // SAFETY: zc_server_start's contract for `opts`.
        let opts = unsafe { zc_server_options::read(opts, dir) }?;
        let server = Box::new(zc_server {
            inner: Running::start(&opts)?,
        });
        // SAFETY: checked non-null above; the handle is written last, once nothing can fail.
        unsafe { out.write(Box::into_raw(server)) };
        Ok(())
    })
}

/// The server behind a caller's pointer.
///
/// # Safety
/// `server` is `NULL` or a pointer from `zc_server_start` not yet stopped.
unsafe fn server_ref<'a>(server: *const zc_server) -> Result<&'a zc_server, Failure> {
    // SAFETY: the caller's contract.
    unsafe { server.as_ref() }.ok_or_else(|| Failure::null("server"))
}

/// Writes the port the server listens on (the one the kernel chose for port 0) into `*port`.
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` for a `NULL` `server` or `port`.
///
/// # Safety
/// `server` is `NULL` or a pointer from `zc_server_start` not yet stopped; `port` is `NULL` or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn zc_server_port(server: *const zc_server, port: *mut u16) -> zc_status {
    boundary(|| {
        // SAFETY: zc_server_port's contract.
        let server = unsafe { server_ref(server) }?;
        if port.is_null() {
            return Err(Failure::null("port"));
        }
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { port.write_unaligned(server.inner.addr().port()) };
        Ok(())
    })
}

/// Writes the address the server listens on, `"HOST:PORT"` (`"127.0.0.1:8080"`,
/// `"[::1]:8080"`), NUL-terminated, into the `len` bytes at `buf` (`ZC_SERVER_ADDRESS_SIZE` is
/// always enough). `"http://"` followed by it is the server's URL.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `server` or `buf`; `ZC_INVALID` with errno
/// `ERANGE` when `len` bytes cannot hold it (nothing is written then).
///
/// # Safety
/// `server` as for `zc_server_port`; `buf` is `NULL` or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn zc_server_address(
    server: *const zc_server,
    buf: *mut c_char,
    len: usize,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_server_address's contract.
        let server = unsafe { server_ref(server) }?;
        if buf.is_null() {
            return Err(Failure::null("buf"));
        }
        let text = server.inner.addr().to_string();
        if text.len() + 1 > len {
            return Err(Failure::new(
                zc_status::ZC_INVALID,
                libc::ERANGE,
                format!(
                    "the address {text} needs {} bytes with its NUL; the buffer has {len}",
                    text.len() + 1
                ),
            ));
        }
        // SAFETY: the caller guarantees `len` >= text.len() + 1 writable bytes at `buf`; a
        // fresh String cannot overlap them.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            buf.add(text.len()).write(0);
        }
        Ok(())
    })
}

/// Writes whether the server is still serving into `*running`: true until `zc_server_stop`,
/// false once a worker has failed (`zc_server_stop` then returns its error).
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` for a `NULL` `server` or `running`.
///
/// # Safety
/// `server` as for `zc_server_port`; `running` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_server_running(
    server: *const zc_server,
    running: *mut bool,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_server_running's contract.
        let server = unsafe { server_ref(server) }?;
        if running.is_null() {
            return Err(Failure::null("running"));
        }
        let alive = server.inner.running();
        // SAFETY: non-null; the caller guarantees it is writable (a C `bool` is one byte).
        unsafe { running.write_unaligned(alive) };
        Ok(())
    })
}

/// Stops the server: closes its listening sockets and open connections, waits for its threads,
/// and frees `server`, even when it returns an error. `zc_server_stop(NULL)` does nothing and
/// returns `ZC_OK`.
///
/// Returns `ZC_OK`, or the error a worker stopped with (`ZC_IO` for a failed `accept`, epoll or
/// io_uring set-up, with its errno; `ZC_PANIC` for a bug in zcopy); the server is freed anyway.
///
/// # Safety
/// `server` is `NULL` or a pointer from `zc_server_start` not stopped yet, used by no other
/// call now; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn zc_server_stop(server: *mut zc_server) -> zc_status {
    boundary(|| {
        if server.is_null() {
            return Ok(());
        }
        // SAFETY: from Box::into_raw in zc_server_start, and not stopped yet (the caller's
        // contract).
        let server = unsafe { Box::from_raw(server) };
        server.inner.stop();
        // A worker's panic goes on unwinding from join (after the other workers stopped):
        // this boundary reports it as ZC_PANIC with its message.
        server.inner.join().map_err(Failure::from)
    })
}
