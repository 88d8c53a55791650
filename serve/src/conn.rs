//! One connection's state machine, shared by every I/O model: read a request head, answer it
//! (a header, then the body through the engine's [`zcopy::Prepared`] by `sendfile`, or by
//! direct reads), and go on with the next request
//! on the same connection. [`Conn::advance`] runs it as far as the socket allows and says what
//! it waits for; the model decides how to wait (blocking, spinning, epoll, io_uring).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::{self, Entry};
use super::date;
use super::http::{self, HeadScan, Method, Parsed, Range};
use super::notice::{NoticeKind, Notices};
use super::path::{self, Refused};
use crate::os;
use crate::os::fs::Fd;
use crate::os::mm::AnonBuffer;

/// The buffer of a direct (O_DIRECT) body: 1 MiB, where O_DIRECT's throughput levels off
/// (FACTS.md).
pub(crate) const DIRECT_BUF: usize = 1 << 20;

/// The most a lingering close reads before it closes anyway.
pub(crate) const LINGER_MAX: u64 = 1 << 20;

/// The longest a lingering close waits for the client to close (nginx's `lingering_timeout`).
pub(crate) const LINGER_TIMEOUT: Duration = Duration::from_secs(5);

/// After this many `recv`s into one request head, its client is read at most once per sweep
/// of the connections (a quarter of the shortest timeout, at most 1 s), so a client trickling
/// its head a few bytes per segment costs the server a few wake-ups, not one per segment. A
/// real client sends a head in one or two segments.
pub(crate) const SLOW_HEAD_READS: u32 = 16;

/// What every connection of a server shares: the directory, the direct I/O threshold and the
/// limits.
pub(crate) struct Shared {
    /// The served directory, opened `O_PATH | O_DIRECTORY`.
    pub root: Fd,
    /// Files of at least this many bytes are read with O_DIRECT (`None`: never).
    pub directio: Option<u64>,
    /// See [`super::ServeOptions::header_timeout`].
    pub header_timeout: Duration,
    /// See [`super::ServeOptions::keepalive_timeout`].
    pub keepalive_timeout: Duration,
    /// See [`super::ServeOptions::max_connections`].
    pub max_connections: usize,
    /// Where the access log goes (`None`: off).
    pub log: Option<Arc<access::LogFile>>,
    /// What the server tells its caller.
    pub notices: Arc<Notices>,
}

/// What a connection waits for, for its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A request head (its first byte, for a new connection): the header timeout.
    Head,
    /// The first byte of the next request on a kept-alive connection: the keep-alive timeout.
    Idle,
    /// The client's close after ours (a lingering close).
    Linger,
    /// Nothing with a deadline (a response is being sent).
    Response,
}

impl Wait {
    /// The deadline of a wait of this kind begun at `since`.
    pub(crate) fn deadline(self, since: Instant, sh: &Shared) -> Option<Instant> {
        let t = match self {
            Wait::Head => sh.header_timeout,
            Wait::Idle => sh.keepalive_timeout,
            Wait::Linger => LINGER_TIMEOUT,
            Wait::Response => return None,
        };
        since.checked_add(t)
    }
}

/// How a worker reads a direct body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectMode {
    /// No direct I/O: every body goes by `sendfile`.
    Off,
    /// `pread` on the O_DIRECT fd, in the worker (blocking and polling models).
    Sync,
    /// The worker submits the read to its io_uring ([`Step::Submit`]) and calls
    /// [`Conn::read_done`] with the completion.
    Ring,
}

/// Where [`Conn::advance`] stopped.
#[derive(Debug)]
pub(crate) enum Step {
    /// The socket would block (`EAGAIN`): wait until it is readable or writable.
    Blocked,
    /// Submit this read (to the worker's ring), then wait for its completion.
    Submit(ReadOp),
    /// A read submitted earlier has not completed yet.
    InFlight,
    /// The connection is over (the peer left, `Connection: close`, a refused request, an error).
    Close,
}

/// One direct read to submit: `len` bytes of `fd` at `offset` into `buf`, which stays valid
/// (owned by the connection, or by the worker's list of abandoned reads) until it completes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOp {
    pub fd: RawFd,
    pub buf: *mut u8,
    pub len: u32,
    pub offset: u64,
}

/// A body read with O_DIRECT into an aligned buffer, then sent from it.
pub(crate) struct Direct {
    file: Fd,
    /// The next file byte to send, and the end of the body (exclusive).
    pos: u64,
    end: u64,
    align: u64,
    buf: AnonBuffer,
    /// The bytes of `buf` read but not sent yet.
    lo: usize,
    hi: usize,
    /// The file offset `buf[0]` was read from.
    base: u64,
    in_flight: bool,
}

enum Body {
    None,
    /// `off..end` of `file` still to send (through the connection's [`Sender`]).
    File {
        file: path::Classified,
        off: u64,
        end: u64,
    },
    Direct(Box<Direct>),
}

/// The connection's [`zcopy::Prepared`] transfer to its socket, each body's file given per run
/// ([`zcopy::Prepared::run_source`]): the socket classified once per connection, each file once
/// per response, by the `statx` that also gives the headers its size and modification time
/// ([`path::Classified`]), and no CPU meter (the server reads only the bytes
/// of its Reports).
struct Sender(zcopy::Prepared<'static, 'static>);

impl Sender {
    /// # Safety
    /// `sock` stays open while the `Sender` lives: it is kept in the [`Conn`] that owns
    /// `sock`, which drops it before its socket (its `Drop`) and never replaces the socket.
    unsafe fn new(sock: BorrowedFd<'_>) -> zcopy::Result<Sender> {
        let opts = zcopy::Options {
            strategy: zcopy::Strategy::Sendfile,
            fallback: false,
            ..zcopy::Options::default()
        };
        // SAFETY: the caller keeps the socket open for the Sender's life (see above); the
        // 'static borrow never outlives it.
        let sock = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
        let mut p = zcopy::Prepared::to_dst(sock, &opts)?;
        p.set_cpu_meter(false);
        Ok(Sender(p))
    }
}

/// A client connection.
pub(crate) struct Conn {
    pub sock: Fd,
    rbuf: Vec<u8>,
    rlo: usize,
    rhi: usize,
    /// How far the search for the end of the head at `rlo` has got.
    scan: HeadScan,
    out: Vec<u8>,
    out_pos: usize,
    body: Body,
    /// Sends bodies from files, made at the first one (see [`Sender`]).
    sender: Option<Box<Sender>>,
    /// Whether the connection goes on after the current response.
    keep_alive: bool,
    /// Request body bytes still to skip.
    discard: u64,
    /// A direct buffer kept for the next direct body.
    spare: Option<AnonBuffer>,
    failed: bool,
    /// Edge-triggered readiness (the reactor): a short `recv` drained the socket, and new bytes
    /// will bring a new event, so the `recv` that would only say `EAGAIN` can be skipped.
    edge: bool,
    /// The last `recv` returned less than it could take (the socket was drained then).
    drained_socket: bool,
    /// The peer shut down or the socket failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR): no further
    /// edge will come, so every read is tried.
    hung_up: bool,
    /// Request bytes read and thrown away after our end of stream (a lingering close).
    drained: Option<u64>,
    /// Whether the last [`Conn::advance`] moved any byte (for the polling model).
    pub progressed: bool,
    /// When the current wait (see [`Conn::waiting`]) began.
    since: Instant,
    /// A response is being sent (its end starts the keep-alive wait).
    responding: bool,
    /// A response has been sent: an empty buffer then means an idle kept-alive connection.
    served: bool,
    /// Blocking sockets (the threads model): every `recv` waits until the model has seen the
    /// socket readable ([`Conn::readable`]) within the deadline, instead of blocking unbounded.
    wait_first: bool,
    ready: bool,
    /// `recv`s into the current request head (see [`SLOW_HEAD_READS`]).
    head_reads: u32,
    /// The epoll model has stopped watching it for input until its next sweep.
    pub deferred: bool,
    /// The access log's record of the response being sent (`None` while the log is off).
    log: Option<Entry>,
}

/// Tells the caller, once per server, why direct I/O is not used.
pub(crate) fn log_direct_fallback(notices: &Notices, why: &str) {
    notices.once(NoticeKind::NoDirectIo, || {
        format!("direct I/O unavailable ({why}); serving large files with sendfile")
    });
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The Sender borrows the socket: it goes before the socket is closed.
        self.sender = None;
    }
}

impl Conn {
    /// A new connection on `sock`.
    pub(crate) fn new(sock: Fd) -> Conn {
        Conn {
            sock,
            rbuf: vec![0; http::MAX_HEAD],
            rlo: 0,
            rhi: 0,
            scan: HeadScan::default(),
            out: Vec::with_capacity(256),
            out_pos: 0,
            body: Body::None,
            sender: None,
            keep_alive: true,
            discard: 0,
            spare: None,
            failed: false,
            drained: None,
            edge: false,
            drained_socket: false,
            hung_up: false,
            progressed: false,
            since: Instant::now(),
            responding: false,
            served: false,
            wait_first: false,
            ready: false,
            head_reads: 0,
            deferred: false,
            log: None,
        }
    }

    /// A connection on a blocking socket (the threads model): see the `wait_first` field.
    pub(crate) fn new_blocking(sock: Fd) -> Conn {
        let mut c = Conn::new(sock);
        c.wait_first = true;
        c
    }

    /// Records that the model saw the socket readable: the next `recv` will not block.
    pub(crate) fn readable(&mut self) {
        self.ready = true;
    }

    /// What the connection waits for now, and since when.
    pub(crate) fn waiting(&self) -> (Wait, Instant) {
        let wait = if self.drained.is_some() {
            Wait::Linger
        } else if self.responding || self.out_pos < self.out.len() {
            Wait::Response
        } else if self.served && self.rlo == self.rhi && self.discard == 0 {
            Wait::Idle
        } else {
            Wait::Head
        };
        (wait, self.since)
    }

    /// When the connection is closed if it is still waiting as it is now (`None`: never).
    pub(crate) fn deadline(&self, sh: &Shared) -> Option<Instant> {
        let (wait, since) = self.waiting();
        wait.deadline(since, sh)
    }

    /// Whether the head being read has taken [`SLOW_HEAD_READS`] `recv`s: the model should
    /// read it again only at its next sweep (then [`Conn::paced`]).
    pub(crate) fn slow_head(&self) -> bool {
        self.head_reads >= SLOW_HEAD_READS
    }

    /// Allows the reads of a slow head again (the sweep came).
    pub(crate) fn paced(&mut self) {
        self.head_reads = 0;
    }

    /// Whether the model must wait (readiness) before the next `recv`.
    fn gate(&mut self) -> bool {
        if self.wait_first && !self.ready {
            return true;
        }
        self.ready = false;
        false
    }

    /// A connection driven by edge-triggered readiness (see the `edge` field).
    pub(crate) fn new_edge(sock: Fd) -> Conn {
        let mut c = Conn::new(sock);
        c.edge = true;
        c
    }

    /// Records that the reactor saw the peer shut down (or the socket fail).
    pub(crate) fn hung_up(&mut self) {
        self.hung_up = true;
    }

    /// Runs the connection until the socket would block, a direct read must be waited for, or
    /// the connection is over: the response's head first, then its body (from a file through
    /// the engine, or by direct reads), then the next request.
    pub(crate) fn advance(&mut self, sh: &Shared, mode: DirectMode) -> Step {
        self.progressed = false;
        loop {
            if self.failed {
                return Step::Close;
            }
            let step = if self.out_pos < self.out.len() {
                self.send_head()
            } else {
                match &self.body {
                    Body::File { .. } => self.file_step(),
                    Body::Direct(_) => self.direct_step(mode),
                    Body::None => self.between_requests(sh, mode),
                }
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// Sends more of the response's head (with `MSG_MORE` when a body follows); `Some` to
    /// wait or end.
    fn send_head(&mut self) -> Option<Step> {
        let more = match &self.body {
            Body::None => 0,
            _ => libc::MSG_MORE,
        };
        match os::net::send(self.sock.as_fd(), &self.out[self.out_pos..], more) {
            Ok(n) => {
                self.out_pos += n;
                self.progressed = true;
                sent(&mut self.log, n);
                None
            }
            Err(e) => Some(blocked_or_close(&e)),
        }
    }

    /// Sends more of a body from a file, through the engine ([`send_file`]); `Some` to wait or
    /// end.
    fn file_step(&mut self) -> Option<Step> {
        let Body::File { file, off, end } = &mut self.body else {
            return None;
        };
        if *off >= *end {
            self.body = Body::None;
            return None;
        }
        if self.sender.is_none() {
            // SAFETY: kept in this Conn, which owns the socket: Sender::new's contract.
            match unsafe { Sender::new(self.sock.as_fd()) } {
                Ok(s) => self.sender = Some(Box::new(s)),
                Err(_) => return Some(Step::Close),
            }
        }
        let Some(sender) = self.sender.as_mut() else {
            return Some(Step::Close);
        };
        match send_file(sender, file.source(), *off, *end - *off) {
            Ok(0) => Some(Step::Close), // the file shrank under us
            Ok(n) => {
                *off += n;
                self.progressed = true;
                sent(&mut self.log, n as usize);
                None
            }
            Err(step) => Some(step),
        }
    }

    /// Goes on with a direct body: sends what its buffer holds, or reads its next chunk (with
    /// `pread` here, or by asking the model to submit it to its ring); `Some` to wait or end.
    fn direct_step(&mut self, mode: DirectMode) -> Option<Step> {
        let Body::Direct(d) = &mut self.body else {
            return None;
        };
        if d.in_flight {
            return Some(Step::InFlight);
        }
        if d.lo < d.hi {
            return self.send_direct();
        }
        if d.pos >= d.end {
            if let Body::Direct(d) = std::mem::replace(&mut self.body, Body::None) {
                self.spare = Some(d.buf);
            }
            return None;
        }
        // The aligned superset of what is left, as much as the buffer holds.
        let base = d.pos / d.align * d.align;
        let want = (d.end - base).div_ceil(d.align) * d.align;
        let want = want.min(d.buf.len() as u64) as usize;
        d.base = base;
        d.in_flight = true;
        if mode == DirectMode::Ring {
            return Some(Step::Submit(ReadOp {
                fd: d.file.as_fd().as_raw_fd(),
                buf: d.buf.as_mut_slice().as_mut_ptr(),
                len: want as u32,
                offset: base,
            }));
        }
        let r = os::fs::pread(d.file.as_fd(), &mut d.buf.as_mut_slice()[..want], base);
        let res = match r {
            Ok(n) => n as i64,
            Err(e) => -i64::from(e.raw_os_error().unwrap_or(libc::EIO)),
        };
        self.read_done(res);
        None
    }

    /// Sends the bytes of a direct body's buffer not sent yet (with `MSG_MORE` unless they
    /// end the body); `Some` to wait or end.
    fn send_direct(&mut self) -> Option<Step> {
        let Body::Direct(d) = &mut self.body else {
            return None;
        };
        let last = d.base + d.hi as u64 >= d.end;
        let flags = if last { 0 } else { libc::MSG_MORE };
        let data = &d.buf.as_mut_slice()[d.lo..d.hi];
        match os::net::send(self.sock.as_fd(), data, flags) {
            Ok(n) => {
                d.lo += n;
                d.pos += n as u64;
                self.progressed = true;
                sent(&mut self.log, n);
                None
            }
            Err(e) => Some(blocked_or_close(&e)),
        }
    }

    /// The response has left: ends its log line, starts the keep-alive (or header) wait, and
    /// closes (lingering) or reads the next request; `Some` to wait or end.
    fn between_requests(&mut self, sh: &Shared, mode: DirectMode) -> Option<Step> {
        if self.responding {
            self.responding = false;
            self.served = true;
            self.since = Instant::now();
            if let Some(e) = &mut self.log {
                e.end();
            }
        }
        if !self.keep_alive {
            return Some(self.linger());
        }
        self.next_request(sh, mode)
    }

    /// Closes the way nginx's lingering close does: our end of stream first, then what the
    /// client still sends is read and dropped until it closes (at most [`LINGER_MAX`] bytes).
    /// Closing with unread bytes would send a reset, which can destroy the response in flight
    /// (a 414 sent while the rest of the request line is still arriving).
    fn linger(&mut self) -> Step {
        let drained = match self.drained {
            Some(d) => d,
            None => {
                if os::net::shutdown_write(self.sock.as_fd()).is_err() {
                    return Step::Close;
                }
                self.since = Instant::now();
                0
            }
        };
        self.drained = Some(drained);
        loop {
            if self.gate() {
                return Step::Blocked;
            }
            match os::net::recv(self.sock.as_fd(), &mut self.rbuf) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    let d = self.drained.unwrap_or(0) + n as u64;
                    self.drained = Some(d);
                    self.progressed = true;
                    if d > LINGER_MAX {
                        return Step::Close;
                    }
                }
                Err(e) => return blocked_or_close(&e),
            }
        }
    }

    /// Records the completion of the direct read [`Step::Submit`] asked for: `res` bytes, or
    /// `-errno`.
    pub(crate) fn read_done(&mut self, res: i64) {
        let Body::Direct(d) = &mut self.body else {
            return;
        };
        d.in_flight = false;
        let lo = (d.pos - d.base) as usize;
        let hi = (res.max(0) as u64).min(d.end - d.base) as usize;
        if res < 0 || hi <= lo {
            // A read error, or the file shrank: the promised length cannot be sent.
            self.failed = true;
            return;
        }
        d.lo = lo;
        d.hi = hi;
    }

    /// Whether a direct read is in flight (its buffer must outlive it).
    pub(crate) fn in_flight(&self) -> bool {
        matches!(&self.body, Body::Direct(d) if d.in_flight)
    }

    /// Takes the direct body whose read is in flight, for the worker to keep until the read
    /// completes (the connection is being closed).
    pub(crate) fn take_in_flight(&mut self) -> Option<Box<Direct>> {
        if !self.in_flight() {
            return None;
        }
        match std::mem::replace(&mut self.body, Body::None) {
            Body::Direct(d) => Some(d),
            _ => None,
        }
    }

    /// Reads and answers the next request; `Some` when the connection must wait or end first.
    fn next_request(&mut self, sh: &Shared, mode: DirectMode) -> Option<Step> {
        if self.discard > 0 {
            let skip = ((self.rhi - self.rlo) as u64).min(self.discard);
            self.rlo += skip as usize;
            self.discard -= skip;
            if self.discard > 0 {
                self.rlo = 0;
                self.rhi = 0;
                return self.fill();
            }
        }
        let rbuf = std::mem::take(&mut self.rbuf);
        let head = &rbuf[self.rlo..self.rhi];
        let full = head.len() == rbuf.len();
        let step = match http::parse(head, full, &mut self.scan) {
            Parsed::Incomplete => None,
            Parsed::Refuse(status) => {
                self.keep_alive = false;
                self.start();
                let head_len =
                    http::error_response(&mut self.out, status, None, false, false, false);
                if sh.log.is_some() {
                    let line = http::first_line(head);
                    let sock = self.sock.as_fd();
                    let e = self.log.get_or_insert_with(Entry::default);
                    e.begin(sock, line, None, None, status, head_len);
                }
                self.rlo = self.rhi;
                Some(None)
            }
            Parsed::Request(req, used) => {
                self.rlo += used;
                self.scan = HeadScan::default();
                self.head_reads = 0;
                self.respond(&req, sh, mode);
                Some(None)
            }
        };
        self.rbuf = rbuf;
        match step {
            Some(s) => s,
            None => {
                if self.rlo > 0 {
                    self.rbuf.copy_within(self.rlo..self.rhi, 0);
                    self.rhi -= self.rlo;
                    self.rlo = 0;
                }
                self.fill()
            }
        }
    }

    /// Receives more request bytes; `Some` to wait or end, `None` to go on.
    fn fill(&mut self) -> Option<Step> {
        if self.edge && self.drained_socket && !self.hung_up && self.rlo == self.rhi {
            // Nothing buffered and the socket was empty after the last read: wait for the
            // next edge instead of a recv that would say EAGAIN (nginx does the same).
            self.drained_socket = false;
            return Some(Step::Blocked);
        }
        if self.gate() {
            return Some(Step::Blocked);
        }
        let room = self.rbuf.len() - self.rhi;
        match os::net::recv(self.sock.as_fd(), &mut self.rbuf[self.rhi..]) {
            Ok(0) => Some(Step::Close),
            Ok(n) => {
                if self.rlo == self.rhi && self.discard == 0 && self.served {
                    // The first byte of a request after an idle wait: the header timeout
                    // runs from here.
                    self.since = Instant::now();
                }
                if self.discard == 0 {
                    self.head_reads += 1;
                }
                self.drained_socket = n < room;
                self.rhi += n;
                self.progressed = true;
                None
            }
            Err(e) => Some(blocked_or_close(&e)),
        }
    }

    fn start(&mut self) {
        self.out.clear();
        self.out_pos = 0;
        self.responding = true;
    }

    /// Prepares the response to `req`: its head in `out`, its body in `body`.
    fn respond(&mut self, req: &http::Request<'_>, sh: &Shared, mode: DirectMode) {
        self.start();
        self.keep_alive = req.keep_alive;
        self.discard = req.content_length;
        let prepared = prepare(req, sh, &mut self.out);
        if sh.log.is_some() {
            let sock = self.sock.as_fd();
            let e = self.log.get_or_insert_with(Entry::default);
            let (status, head_len) = (prepared.status, prepared.head_len);
            e.begin(
                sock,
                req.line,
                req.referer,
                req.user_agent,
                status,
                head_len,
            );
        }
        let Some(plan) = prepared.plan else {
            return;
        };
        if plan.direct && mode != DirectMode::Off {
            if let Some((file, align)) = open_direct(sh, &plan.rel) {
                let buf = match self.spare.take() {
                    Some(b) => Some(b),
                    None => AnonBuffer::new(DIRECT_BUF).ok(),
                };
                if let Some(buf) = buf.filter(|b| b.len() as u64 >= align) {
                    self.body = Body::Direct(Box::new(Direct {
                        file,
                        pos: plan.start,
                        end: plan.end,
                        align,
                        buf,
                        lo: 0,
                        hi: 0,
                        base: plan.start,
                        in_flight: false,
                    }));
                    return;
                }
            }
        }
        self.body = Body::File {
            file: plan.file,
            off: plan.start,
            end: plan.end,
        };
    }
}

/// The body a response needs: `start..end` of `file` (opened without O_DIRECT, classified by
/// the engine), and whether it is at or above the directio threshold.
pub(crate) struct Plan {
    pub file: path::Classified,
    pub rel: Vec<u8>,
    pub start: u64,
    pub end: u64,
    pub direct: bool,
}

/// What [`prepare`] made of a request: the response's status, the length of its head (the
/// bytes of `out` before any body it holds), and the body to send from a file, if any.
pub(crate) struct Prepared {
    pub status: u16,
    pub head_len: usize,
    pub plan: Option<Plan>,
}

/// Writes the head of the response to `req` into `out` (after clearing it), with the whole
/// response when it has no body from a file (errors, redirects, 304s, HEAD, empty files and
/// ranges); the body to send otherwise.
pub(crate) fn prepare(req: &http::Request<'_>, sh: &Shared, out: &mut Vec<u8>) -> Prepared {
    out.clear();
    let head_only = req.method == Method::Head;
    let (ka, h10) = (req.keep_alive, req.http10);
    let done = |status, head_len| Prepared {
        status,
        head_len,
        plan: None,
    };
    let found = match path::resolve(sh.root.as_fd(), req.target, &sh.notices) {
        Ok(f) => f,
        Err(Refused::Directory) => {
            let location = |o: &mut Vec<u8>| path::write_location(o, req.target);
            return done(301, http::redirect(out, location, head_only, ka, h10));
        }
        Err(r) => {
            let status = match r {
                Refused::BadRequest => 400,
                Refused::NotFound => 404,
                Refused::Forbidden | Refused::Directory => 403,
            };
            return done(
                status,
                http::error_response(out, status, None, head_only, ka, h10),
            );
        }
    };
    let (size, mtime) = (found.file.source().size(), found.file.source().mtime());
    let etag = http::ETag::new(mtime, size);
    let v = http::Validators { mtime, etag: &etag };
    match precondition(req, v) {
        Some(304) => return done(304, http::not_modified(out, v, ka, h10)),
        Some(status) => {
            return done(
                status,
                http::error_response(out, status, None, head_only, ka, h10),
            )
        }
        None => {}
    }
    // If-Range: the Range applies only to the representation the client has part of.
    let range = match req.if_range {
        Some(ir) if !http::if_range_matches(ir, etag.as_bytes(), mtime) => None,
        _ => req.range,
    };
    let (status, start, end, part) = match http::range(range, size) {
        Range::Unsatisfiable => {
            let head = http::error_response(out, 416, Some(size), head_only, ka, h10);
            return done(416, head);
        }
        Range::Full => (200, 0, size, None),
        Range::Part(s, e) => (206, s, e, Some((s, e, size))),
    };
    let ctype = http::content_type(&found.rel);
    let head_len = http::file_head(out, status, end - start, part, ctype, v, ka, h10);
    if head_only || start == end {
        return done(status, head_len);
    }
    Prepared {
        status,
        head_len,
        plan: Some(Plan {
            file: found.file,
            rel: found.rel,
            start,
            end,
            direct: sh.directio.is_some_and(|t| size >= t),
        }),
    }
}

/// The preconditions of RFC 9110 §13.2.2, in its order, for a file with validators `v`:
/// `Some(412)` when `If-Match` (strong comparison) or, without it, `If-Unmodified-Since`
/// fails; `Some(304)` when `If-None-Match` (weak comparison) matches or, without it,
/// `If-Modified-Since` is not before the file's modification time (nginx's
/// `if_modified_since before`); `None` to answer normally. A date that does not parse is
/// ignored, as the RFC says.
fn precondition(req: &http::Request<'_>, v: http::Validators<'_>) -> Option<u16> {
    let etag = v.etag.as_bytes();
    if let Some(list) = req.if_match {
        if !http::etag_matches(list, etag, false) {
            return Some(412);
        }
    } else if let Some(t) = req.if_unmodified_since.and_then(date::parse_http_date) {
        if v.mtime > t {
            return Some(412);
        }
    }
    if let Some(list) = req.if_none_match {
        if http::etag_matches(list, etag, true) {
            return Some(304);
        }
    } else if let Some(t) = req.if_modified_since.and_then(date::parse_http_date) {
        if v.mtime <= t {
            return Some(304);
        }
    }
    None
}

/// Counts `n` bytes of a response sent, for the access log.
pub(crate) fn sent(log: &mut Option<Entry>, n: usize) {
    if let Some(e) = log {
        e.sent(n);
    }
}

/// Opens `rel` again with O_DIRECT and finds the alignment its reads need; `None` (after a
/// one-time log line) when the filesystem refuses direct I/O.
pub(crate) fn open_direct(sh: &Shared, rel: &[u8]) -> Option<(Fd, u64)> {
    let file = match path::open_beneath(sh.root.as_fd(), rel, libc::O_DIRECT, &sh.notices) {
        Ok(f) => f,
        Err(_) => {
            log_direct_fallback(&sh.notices, "the filesystem refuses O_DIRECT");
            return None;
        }
    };
    let align = match os::fs::dio_align(file.as_fd()) {
        Ok(Some((_, 0))) => {
            log_direct_fallback(&sh.notices, "statx reports no O_DIRECT alignment");
            return None;
        }
        Ok(Some((mem, off))) => u64::from(mem.max(off)).max(512),
        Ok(None) | Err(_) => 4096,
    };
    Some((file, align))
}

/// Sends `len` bytes of the body's file from `off` to the socket through the engine: a
/// [`zcopy::Prepared`] transfer by `sendfile` exactly (no fallback: a technique that copies
/// through user space would be no better than the server's own reads), as far as the socket
/// takes them. Returns the bytes that left (the engine's [`zcopy::Report`], or the count its
/// error carries when the socket filled up after some bytes), or the step the failure means.
fn send_file(
    sender: &mut Sender,
    file: &zcopy::Source<'_>,
    off: u64,
    len: u64,
) -> Result<u64, Step> {
    match sender.0.run_source(file, Some(len), Some(off), None) {
        Ok(report) => Ok(report.bytes),
        Err(e) if e.bytes_moved() > 0 => Ok(e.bytes_moved()),
        Err(e) => Err(errno_step(e.errno())),
    }
}

/// `EAGAIN` waits; anything else (the peer reset or left: `EPIPE`, `ECONNRESET`) ends the
/// connection. A `sendfile` into a socket whose peer left raises SIGPIPE, which the worker
/// threads keep blocked: consume the one left pending.
fn blocked_or_close(e: &std::io::Error) -> Step {
    errno_step(e.raw_os_error())
}

/// [`blocked_or_close`] for an errno.
fn errno_step(errno: Option<i32>) -> Step {
    match errno {
        Some(libc::EAGAIN) => Step::Blocked,
        Some(libc::EPIPE) => {
            os::process::consume_sigpipe();
            Step::Close
        }
        _ => Step::Close,
    }
}
