//! The io_uring model (a proactor): each worker submits its accept, every connection's
//! receive, file reads and sends to one io_uring, and the completions drive the connections.
//! One `io_uring_enter` per loop submits everything queued and waits for the next completion.
//!
//! A body of more than 16 KiB goes file → pipe → socket by two `IORING_OP_SPLICE`s per chunk
//! (pages moved by reference through a 1 MiB pipe of the connection's: no user-space copy, like
//! `sendfile`). A smaller one is read into the connection's buffer behind its head and both
//! leave in one send (fewer operations per request). Above the directio threshold the file is
//! read with O_DIRECT (the aligned superset of the range) into the buffer and sent from there,
//! and the page cache is left untouched.

use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::time::Instant;

use io_uring::{opcode, types};

use super::access::{self, Entry};
use super::conn::{self, Shared, Wait};
use super::http::{self, HeadScan, Parsed};
use super::reactor::Slab;
use super::Worker;
use crate::os;
use crate::os::fs::Fd;
use crate::os::mm::AnonBuffer;
use crate::os::uring::Ring;
use zcopy::{Error, Result};

const ACCEPT: u64 = u64::MAX;
const WAKE: u64 = u64::MAX - 1;
const CANCEL: u64 = u64::MAX - 2;
const TIMER: u64 = u64::MAX - 3;
const INBOX: u64 = u64::MAX - 4;

/// The body being sent: `pos..end` still to read.
struct UBody {
    file: Fd,
    pos: u64,
    end: u64,
    /// 1 for buffered reads; the O_DIRECT alignment otherwise.
    align: u64,
    /// Whether the body goes by splice through the connection's pipe.
    splice: bool,
}

/// Bodies above this go by splice; smaller ones are read in behind their head.
const SPLICE_ABOVE: u64 = 16 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Recv,
    SendHead,
    /// A read into the buffer at this index (after a head copied in front), from this offset.
    Read {
        into: usize,
        base: u64,
    },
    SendBuf,
    /// File → pipe, then pipe → socket.
    SpliceIn,
    SpliceOut,
    /// Reading and dropping what the client still sends after our end of stream.
    Linger,
}

/// A connection's pipe for spliced bodies: read end, write end, capacity.
struct Pipe {
    r: Fd,
    w: Fd,
    cap: usize,
}

/// A connection of the proactor. Exactly one operation is in flight for it at any time (the
/// phase says which), so its buffers are never freed under the kernel.
pub(crate) struct UConn {
    sock: Fd,
    rbuf: Vec<u8>,
    rlo: usize,
    rhi: usize,
    /// How far the search for the end of the head at `rlo` has got.
    scan: HeadScan,
    head: Vec<u8>,
    head_pos: usize,
    body: Option<UBody>,
    buf: Option<AnonBuffer>,
    blo: usize,
    bhi: usize,
    keep_alive: bool,
    discard: u64,
    phase: Phase,
    pipe: Option<Pipe>,
    /// Bytes in the pipe, not yet spliced to the socket.
    in_pipe: usize,
    /// Bytes dropped in the lingering close, once it has begun.
    drained: Option<u64>,
    /// When the current wait (a request head, an idle keep-alive, a lingering close) began.
    since: Instant,
    /// A response is being sent (its end starts the keep-alive wait).
    responding: bool,
    /// A response has been sent: an empty buffer then means an idle kept-alive connection.
    served: bool,
    /// `recv`s into the current request head (see `conn::SLOW_HEAD_READS`).
    head_reads: u32,
    /// The access log's record of the response being sent (`None` while the log is off).
    log: Option<Entry>,
}

/// What the next operation of a connection is, or that it is over.
enum Next {
    Op(io_uring::squeue::Entry, Phase),
    Close,
}

impl UConn {
    fn new(sock: Fd) -> UConn {
        UConn {
            sock,
            rbuf: vec![0; http::MAX_HEAD],
            rlo: 0,
            rhi: 0,
            scan: HeadScan::default(),
            head: Vec::with_capacity(256),
            head_pos: 0,
            body: None,
            buf: None,
            blo: 0,
            bhi: 0,
            keep_alive: true,
            discard: 0,
            phase: Phase::Recv,
            pipe: None,
            in_pipe: 0,
            drained: None,
            since: Instant::now(),
            responding: false,
            served: false,
            head_reads: 0,
            log: None,
        }
    }

    /// When the connection is closed if it still waits as it does now (`None`: never).
    fn deadline(&self, sh: &Shared) -> Option<Instant> {
        let wait = match self.phase {
            Phase::Linger => Wait::Linger,
            Phase::Recv if self.served && self.rlo == self.rhi && self.discard == 0 => Wait::Idle,
            Phase::Recv => Wait::Head,
            _ => Wait::Response,
        };
        wait.deadline(self.since, sh)
    }

    /// Takes the completion of the operation in flight: `false` ends the connection.
    fn complete(&mut self, res: i32) -> bool {
        if res < 0 {
            return false;
        }
        let n = res as usize;
        match self.phase {
            Phase::Recv => {
                if n == 0 {
                    return false;
                }
                if self.served && self.rlo == self.rhi && self.discard == 0 {
                    // The first byte of a request after an idle wait: the header timeout
                    // runs from here.
                    self.since = Instant::now();
                }
                if self.discard == 0 {
                    self.head_reads += 1;
                }
                self.rhi += n;
            }
            Phase::SendHead => {
                self.head_pos += n;
                conn::sent(&mut self.log, n);
            }
            Phase::SendBuf => {
                self.blo += n;
                conn::sent(&mut self.log, n);
            }
            Phase::SpliceIn => {
                let Some(b) = self.body.as_mut() else {
                    return false;
                };
                if n == 0 {
                    return false; // the file shrank
                }
                b.pos += n as u64;
                self.in_pipe += n;
            }
            Phase::Linger => {
                let d = self.drained.unwrap_or(0) + n as u64;
                self.drained = Some(d);
                if n == 0 || d > conn::LINGER_MAX {
                    return false;
                }
            }
            Phase::SpliceOut => {
                if n == 0 {
                    return false;
                }
                self.in_pipe -= n.min(self.in_pipe);
                conn::sent(&mut self.log, n);
            }
            Phase::Read { into, base } => {
                let Some(b) = self.body.as_mut() else {
                    return false;
                };
                // What was read covers base..base+n; the body needs pos..end of it.
                let lo = (b.pos - base) as usize;
                let hi = (n as u64).min(b.end - base) as usize;
                if hi <= lo {
                    return false; // the file shrank: the promised length cannot be sent
                }
                self.blo = if into > 0 { 0 } else { lo };
                self.bhi = into + hi;
                b.pos = base + hi as u64;
            }
        }
        true
    }

    /// Decides the next operation (parsing and answering requests as they complete): what is
    /// left of the response first ([`UConn::send_step`]), then, once it has left, a lingering
    /// close or the next request.
    fn next(&mut self, sh: &Shared) -> Next {
        let fd = types::Fd(self.sock.as_fd().as_raw_fd());
        loop {
            if let Some(next) = self.send_step(fd) {
                return next;
            }
            self.end_response();
            if !self.keep_alive {
                return self.linger_op(fd);
            }
            if let Some(next) = self.next_request(sh, fd) {
                return next;
            }
        }
    }

    /// The next operation of the response being sent: its head, the buffered body bytes, the
    /// pipe's bytes, or the next chunk of the body; `None` once all of it has left.
    fn send_step(&mut self, fd: types::Fd) -> Option<Next> {
        if self.head_pos < self.head.len() {
            return Some(self.send_head(fd));
        }
        if self.blo < self.bhi {
            return Some(self.send_buf(fd));
        }
        if self.in_pipe > 0 {
            return Some(self.splice_out(fd));
        }
        let b = self.body.as_ref()?;
        if b.pos < b.end {
            return Some(if b.splice {
                self.splice_in()
            } else {
                self.read_body()
            });
        }
        self.body = None;
        None
    }

    /// Sends the rest of the head (with `MSG_MORE` when a body follows), or reads a buffered
    /// body's first chunk in behind it, so both leave in one send.
    fn send_head(&mut self, fd: types::Fd) -> Next {
        if let Some(next) = self.read_behind_head() {
            return next;
        }
        let more = if self.body.is_some() {
            libc::MSG_MORE
        } else {
            0
        };
        let rest = &self.head[self.head_pos..];
        let e = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .flags(more | libc::MSG_NOSIGNAL)
            .build();
        Next::Op(e, Phase::SendHead)
    }

    /// For a buffered body (not spliced, not direct) whose head fits in the buffer: copies the
    /// head into the buffer and reads the body's first chunk in behind it; `None` otherwise.
    fn read_behind_head(&mut self) -> Option<Next> {
        let b = self.body.as_ref().filter(|b| b.align == 1 && !b.splice)?;
        let (pos, end, file) = (b.pos, b.end, b.file.as_fd().as_raw_fd());
        let h = self.head.len() - self.head_pos;
        let Some(buf) = buffer(&mut self.buf) else {
            return Some(Next::Close);
        };
        if h >= buf.len() {
            return None;
        }
        buf.as_mut_slice()[..h].copy_from_slice(&self.head[self.head_pos..]);
        let want = (buf.len() - h).min((end - pos) as usize);
        let ptr = buf.as_mut_slice()[h..].as_mut_ptr();
        let e = opcode::Read::new(types::Fd(file), ptr, want as u32)
            .offset(pos)
            .build();
        self.head_pos = self.head.len();
        Some(Next::Op(e, Phase::Read { into: h, base: pos }))
    }

    /// Sends the body bytes read into the buffer.
    fn send_buf(&mut self, fd: types::Fd) -> Next {
        let more = match &self.body {
            Some(b) if b.pos < b.end => libc::MSG_MORE,
            _ => 0,
        };
        let Some(buf) = self.buf.as_mut() else {
            return Next::Close;
        };
        let data = &buf.as_mut_slice()[self.blo..self.bhi];
        let e = opcode::Send::new(fd, data.as_ptr(), data.len() as u32)
            .flags(more | libc::MSG_NOSIGNAL)
            .build();
        Next::Op(e, Phase::SendBuf)
    }

    /// Splices the pipe's bytes to the socket.
    fn splice_out(&mut self, fd: types::Fd) -> Next {
        let (Some(p), Some(b)) = (&self.pipe, &self.body) else {
            return Next::Close;
        };
        // SPLICE_F_MORE only while more follows: on the last chunk it would cork it.
        let more = if b.pos < b.end {
            libc::SPLICE_F_MORE
        } else {
            0
        };
        let pipe = types::Fd(p.r.as_fd().as_raw_fd());
        let e = opcode::Splice::new(pipe, -1, fd, -1, self.in_pipe as u32)
            .flags(more)
            .build();
        Next::Op(e, Phase::SpliceOut)
    }

    /// Splices the body's next chunk from the file into the pipe.
    fn splice_in(&mut self) -> Next {
        let (Some(p), Some(b)) = (&self.pipe, &self.body) else {
            return Next::Close;
        };
        let want = (b.end - b.pos).min(p.cap as u64) as u32;
        let e = opcode::Splice::new(
            types::Fd(b.file.as_fd().as_raw_fd()),
            b.pos as i64,
            types::Fd(p.w.as_fd().as_raw_fd()),
            -1,
            want,
        )
        .build();
        Next::Op(e, Phase::SpliceIn)
    }

    /// Reads the body's next chunk into the buffer: the aligned superset of what is left (for
    /// O_DIRECT), as much as the buffer holds.
    fn read_body(&mut self) -> Next {
        let Some(b) = self.body.as_ref() else {
            return Next::Close;
        };
        let (pos, end, align, file) = (b.pos, b.end, b.align, b.file.as_fd().as_raw_fd());
        let Some(buf) = buffer(&mut self.buf) else {
            return Next::Close;
        };
        let base = pos / align * align;
        let want = ((end - base).div_ceil(align) * align).min(buf.len() as u64);
        let ptr = buf.as_mut_slice().as_mut_ptr();
        let e = opcode::Read::new(types::Fd(file), ptr, want as u32)
            .offset(base)
            .build();
        Next::Op(e, Phase::Read { into: 0, base })
    }

    /// The response has left: the keep-alive (or header) wait begins, and its log line ends.
    fn end_response(&mut self) {
        if !self.responding {
            return;
        }
        self.responding = false;
        self.served = true;
        self.since = Instant::now();
        if let Some(e) = &mut self.log {
            e.end();
        }
    }

    /// A lingering close (see `conn::Conn::linger`): our end of stream, then what the client
    /// still sends is dropped until it closes.
    fn linger_op(&mut self, fd: types::Fd) -> Next {
        if self.drained.is_none() {
            if os::net::shutdown_write(self.sock.as_fd()).is_err() {
                return Next::Close;
            }
            self.drained = Some(0);
            self.since = Instant::now();
        }
        let e = opcode::Recv::new(fd, self.rbuf.as_mut_ptr(), self.rbuf.len() as u32).build();
        Next::Op(e, Phase::Linger)
    }

    /// Skips what is left of a request body, then parses the next head and answers it
    /// (`None`: go on with its response), or receives more of it.
    fn next_request(&mut self, sh: &Shared, fd: types::Fd) -> Option<Next> {
        let skip = ((self.rhi - self.rlo) as u64).min(self.discard);
        self.rlo += skip as usize;
        self.discard -= skip;
        // The request borrows the buffer while the connection answers it.
        let rbuf = std::mem::take(&mut self.rbuf);
        let parsed = if self.discard > 0 {
            Parsed::Incomplete
        } else {
            let head = &rbuf[self.rlo..self.rhi];
            http::parse(head, head.len() == rbuf.len(), &mut self.scan)
        };
        let incomplete = match parsed {
            Parsed::Incomplete => true,
            Parsed::Refuse(status) => {
                self.refuse(status, http::first_line(&rbuf[self.rlo..self.rhi]), sh);
                false
            }
            Parsed::Request(req, used) => {
                self.answer(&req, used, sh);
                false
            }
        };
        self.rbuf = rbuf;
        incomplete.then(|| self.recv_op(fd))
    }

    /// Receives more of a request head (after moving what is buffered to the front).
    fn recv_op(&mut self, fd: types::Fd) -> Next {
        if self.rlo > 0 {
            self.rbuf.copy_within(self.rlo..self.rhi, 0);
            self.rhi -= self.rlo;
            self.rlo = 0;
        }
        let rest = &mut self.rbuf[self.rhi..];
        let e = opcode::Recv::new(fd, rest.as_mut_ptr(), rest.len() as u32).build();
        Next::Op(e, Phase::Recv)
    }

    /// Answers a request the parser refused (`status`) and closes after it.
    fn refuse(&mut self, status: u16, line: &[u8], sh: &Shared) {
        self.responding = true;
        self.keep_alive = false;
        self.head.clear();
        self.head_pos = 0;
        let head_len = http::error_response(&mut self.head, status, None, false, false, false);
        if sh.log.is_some() {
            let e = self.log.get_or_insert_with(Entry::default);
            e.begin(self.sock.as_fd(), line, None, None, status, head_len);
        }
        self.rlo = self.rhi;
    }

    /// Prepares the response to `req` (whose head took `used` bytes): its head, and its body.
    fn answer(&mut self, req: &http::Request<'_>, used: usize, sh: &Shared) {
        self.responding = true;
        self.keep_alive = req.keep_alive;
        self.discard = req.content_length;
        self.head_pos = 0;
        let prepared = conn::prepare(req, sh, &mut self.head);
        if sh.log.is_some() {
            let e = self.log.get_or_insert_with(Entry::default);
            let (status, head_len) = (prepared.status, prepared.head_len);
            let sock = self.sock.as_fd();
            e.begin(
                sock,
                req.line,
                req.referer,
                req.user_agent,
                status,
                head_len,
            );
        }
        self.rlo += used;
        self.scan = HeadScan::default();
        self.head_reads = 0;
        self.body = prepared.plan.map(|p| body(p, sh, &mut self.pipe));
    }
}

/// How a planned body is sent: read with O_DIRECT above the threshold (where the filesystem
/// allows it); else spliced through the connection's pipe when larger than [`SPLICE_ABOVE`],
/// or read into the buffer.
fn body(p: conn::Plan, sh: &Shared, pipe_slot: &mut Option<Pipe>) -> UBody {
    let direct = if p.direct {
        conn::open_direct(sh, &p.rel)
    } else {
        None
    };
    match direct {
        Some((file, align)) => UBody {
            file,
            pos: p.start,
            end: p.end,
            align,
            splice: false,
        },
        None => UBody {
            file: p.file.into_file(),
            pos: p.start,
            end: p.end,
            align: 1,
            splice: p.end - p.start > SPLICE_ABOVE && pipe(pipe_slot),
        },
    }
}

/// Makes the connection's pipe on first use (1 MiB where the kernel allows); whether it has one.
fn pipe(slot: &mut Option<Pipe>) -> bool {
    if slot.is_none() {
        if let Ok((r, w)) = os::pipe::pipe() {
            let cap = os::pipe::set_pipe_size(w.as_fd(), 1 << 20).unwrap_or(64 << 10);
            *slot = Some(Pipe { r, w, cap });
        }
    }
    slot.is_some()
}

/// A connection's body buffer, made on first use.
fn buffer(slot: &mut Option<AnonBuffer>) -> Option<&mut AnonBuffer> {
    if slot.is_none() {
        *slot = AnonBuffer::new(conn::DIRECT_BUF).ok();
    }
    slot.as_mut()
}

pub(crate) fn run(w: Worker) -> Result<()> {
    let r = serve(&w);
    if r.is_err() {
        w.stop_all();
    }
    r
}

/// Queues `e` (submitting first when the queue is full).
fn push(ring: &mut Ring, e: &io_uring::squeue::Entry) -> Result<()> {
    if ring.sq_full() {
        ring.submit().map_err(|e| Error::os(e, "io_uring_enter"))?;
    }
    // SAFETY: every buffer an entry names belongs to a connection kept in the slab until its
    // one operation in flight has completed (see UConn), or to the worker (accept, wake).
    unsafe { ring.push(e) }.map_err(|e| Error::os(e, "io_uring submission"))
}

/// A worker's proactor: its ring, connections, and what it keeps in flight.
struct Proactor<'w> {
    w: &'w Worker,
    ring: Ring,
    conns: Slab<UConn>,
    /// Operations submitted and not completed (the loop ends at 0 once stopping).
    in_flight: usize,
    stopping: bool,
    /// Whether an accept is queued (none at `max_connections`: new connections wait in the
    /// backlog).
    accepting: bool,
    accept: io_uring::squeue::Entry,
    /// The sweep timer's interval; it must outlive the timeout operation that points at it.
    tick: Box<types::Timespec>,
    /// Connections with a slow head and no operation in flight, whose next receive waits for
    /// the next sweep (see `conn::SLOW_HEAD_READS`).
    deferred: Vec<u64>,
}

fn serve(w: &Worker) -> Result<()> {
    let ring = Ring::new(1024).map_err(|e| {
        Error::os(
            e,
            "io_uring_setup for the uring model (kernel.io_uring_disabled?)",
        )
    })?;
    let lfd = types::Fd(w.listener.as_fd().as_raw_fd());
    let every = super::sweep_interval(&w.shared);
    let mut p = Proactor {
        w,
        ring,
        conns: Slab::new(),
        in_flight: 0,
        stopping: false,
        accepting: false,
        accept: opcode::Accept::new(lfd, std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT),
        tick: Box::new(
            types::Timespec::new()
                .sec(every.as_secs())
                .nsec(every.subsec_nanos()),
        ),
        deferred: Vec::new(),
    };
    p.arm_accept()?;
    p.arm_wake()?;
    p.arm_timer()?;
    p.arm_inbox()?;
    loop {
        if p.stopping && p.in_flight == 0 {
            return Ok(());
        }
        p.ring
            .submit_and_wait(1)
            .map_err(|e| Error::os(e, "io_uring_enter"))?;
        for cqe in p.ring.completions() {
            p.in_flight -= 1;
            p.complete(cqe.user_data(), cqe.result())?;
        }
        w.balance.held(w.id, p.conns.len());
        if !p.stopping && !p.accepting && p.conns.len() < w.shared.max_connections {
            p.arm_accept()?;
        }
    }
}

impl Proactor<'_> {
    fn queue(&mut self, e: &io_uring::squeue::Entry) -> Result<()> {
        push(&mut self.ring, e)?;
        self.in_flight += 1;
        Ok(())
    }

    fn arm_accept(&mut self) -> Result<()> {
        let e = self.accept.clone();
        self.queue(&e)?;
        self.accepting = true;
        Ok(())
    }

    fn arm_wake(&mut self) -> Result<()> {
        let efd = types::Fd(self.w.wake.as_fd().as_raw_fd());
        let e = opcode::PollAdd::new(efd, libc::POLLIN as u32)
            .build()
            .user_data(WAKE);
        self.queue(&e)
    }

    /// Waits for connections handed over by another worker (see `balance`).
    fn arm_inbox(&mut self) -> Result<()> {
        let bell = types::Fd(self.w.balance.bell(self.w.id).as_raw_fd());
        let e = opcode::PollAdd::new(bell, libc::POLLIN as u32)
            .build()
            .user_data(INBOX);
        self.queue(&e)
    }

    /// Starts serving a new connection.
    fn adopt(&mut self, sock: Fd) -> Result<()> {
        super::nodelay(&sock);
        let token = self.conns.insert(UConn::new(sock));
        self.go_on(token)
    }

    /// Queues connection `token`'s next operation (see [`start`]).
    fn go_on(&mut self, token: u64) -> Result<()> {
        match start(&mut self.ring, &mut self.conns, token, &self.w.shared)? {
            Started::Queued => self.in_flight += 1,
            Started::Deferred => self.deferred.push(token),
            Started::Closed => {}
        }
        Ok(())
    }

    fn arm_timer(&mut self) -> Result<()> {
        let ts: *const types::Timespec = &*self.tick;
        let e = opcode::Timeout::new(ts).build().user_data(TIMER);
        self.queue(&e)
    }

    /// Takes one completion.
    fn complete(&mut self, user_data: u64, res: i32) -> Result<()> {
        match user_data {
            ACCEPT => {
                self.accepting = false;
                if res < 0 || self.stopping {
                    if res >= 0 {
                        // SAFETY: the completion of an accept gives a new fd that nothing owns.
                        drop(unsafe { Fd::from_raw_fd(res) });
                    }
                    return Ok(());
                }
                // SAFETY: the completion of an accept gives a new fd that nothing owns.
                let sock = unsafe { Fd::from_raw_fd(res) };
                if let Some(sock) = self.w.balance.place(self.w.id, sock) {
                    self.adopt(sock)?;
                    self.w.balance.held(self.w.id, self.conns.len());
                }
                // Accepted again after the batch, below the limit.
            }
            INBOX => {
                for sock in self.w.balance.take(self.w.id) {
                    if self.stopping {
                        continue; // dropped: closed
                    }
                    self.adopt(sock)?;
                }
                if !self.stopping {
                    self.arm_inbox()?;
                }
            }
            CANCEL => {}
            TIMER => {
                if !self.stopping {
                    self.sweep()?;
                    self.arm_timer()?;
                }
            }
            WAKE if self.w.stopping() => self.stop()?,
            WAKE => self.arm_wake()?,
            token => {
                let Some(c) = self.conns.get(token) else {
                    return Ok(());
                };
                if self.stopping || !c.complete(res) {
                    self.conns.remove(token);
                    return Ok(());
                }
                self.go_on(token)?;
            }
        }
        Ok(())
    }

    /// Ends the connections past their deadline: shutting the socket down completes the
    /// receive in flight with an end of file, which closes the connection.
    fn sweep(&mut self) -> Result<()> {
        let now = Instant::now();
        access::tick(now);
        let sh = self.w.shared.clone();
        // Deferred slow heads have nothing in flight: closed here when late, else their
        // receive is queued (what arrived meanwhile is read at once).
        for token in std::mem::take(&mut self.deferred) {
            let Some(c) = self.conns.get(token) else {
                continue;
            };
            if c.deadline(&sh).is_some_and(|d| d <= now) {
                self.conns.remove(token);
                continue;
            }
            c.head_reads = 0;
            self.go_on(token)?;
        }
        self.conns.for_each(|c| {
            if c.deadline(&sh).is_some_and(|d| d <= now) {
                let _ = os::net::shutdown(c.sock.as_fd());
            }
        });
        Ok(())
    }

    /// Wakes every operation in flight (the sockets' ends, the accept, the timer) so the loop
    /// ends once they have completed.
    fn stop(&mut self) -> Result<()> {
        self.stopping = true;
        let _ = os::net::shutdown(self.w.listener.as_fd());
        for target in [ACCEPT, TIMER, INBOX] {
            let cancel = opcode::AsyncCancel::new(target).build().user_data(CANCEL);
            self.queue(&cancel)?;
        }
        self.conns.for_each(|c| {
            let _ = os::net::shutdown(c.sock.as_fd());
        });
        Ok(())
    }
}

/// What [`start`] did with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Started {
    /// Its next operation is queued.
    Queued,
    /// Its next operation is a receive into a slow head: left for the next sweep.
    Deferred,
    /// It is over (and removed), or gone.
    Closed,
}

/// Queues connection `token`'s next operation, defers a slow head's receive, or closes it.
fn start(ring: &mut Ring, conns: &mut Slab<UConn>, token: u64, sh: &Shared) -> Result<Started> {
    let Some(c) = conns.get(token) else {
        return Ok(Started::Closed);
    };
    match c.next(sh) {
        Next::Op(_, Phase::Recv) if c.head_reads >= conn::SLOW_HEAD_READS => {
            c.phase = Phase::Recv;
            Ok(Started::Deferred)
        }
        Next::Op(e, phase) => {
            c.phase = phase;
            push(ring, &e.user_data(token))?;
            Ok(Started::Queued)
        }
        Next::Close => {
            conns.remove(token);
            Ok(Started::Closed)
        }
    }
}
