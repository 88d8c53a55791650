//! The epoll model: one reactor per worker. Each worker waits on the server's shared listening
//! socket (`EPOLLEXCLUSIVE`) and owns an epoll instance where every connection is registered once, edge-triggered,
//! for input and output, and (with direct I/O) an io_uring for the O_DIRECT reads, whose
//! completions the kernel signals on an eventfd registered in the same epoll.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use io_uring::{opcode, types};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};

use super::conn::{self, Conn, Direct, DirectMode, Step};
use super::notice::Notices;
use super::{access, Worker};
use crate::os;
use crate::os::fs::Fd;
use crate::os::uring::Ring;
use zcopy::{Error, Result};

const LISTENER: u64 = u64::MAX;
const WAKE: u64 = u64::MAX - 1;
const RING: u64 = u64::MAX - 2;
const INBOX: u64 = u64::MAX - 3;

/// Connections by slot, with a generation so a stale token never reaches a reused slot.
pub(crate) struct Slab<C = Conn> {
    slots: Vec<(u32, Option<C>)>,
    free: Vec<usize>,
    len: usize,
}

impl<C> Slab<C> {
    pub(crate) fn new() -> Slab<C> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// How many connections it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The tokens of the connections for which `f` is true.
    pub(crate) fn tokens_where(&self, f: impl Fn(&C) -> bool) -> Vec<u64> {
        let mut out = Vec::new();
        for (i, (gen, c)) in self.slots.iter().enumerate() {
            if c.as_ref().is_some_and(&f) {
                out.push((i as u64) | (u64::from(*gen) << 32));
            }
        }
        out
    }

    /// Stores `c`; returns its token (slot | generation << 32).
    pub(crate) fn insert(&mut self, c: C) -> u64 {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, None));
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[i];
        slot.0 = slot.0.wrapping_add(1);
        slot.1 = Some(c);
        self.len += 1;
        (i as u64) | (u64::from(slot.0) << 32)
    }

    pub(crate) fn get(&mut self, token: u64) -> Option<&mut C> {
        let (i, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        match self.slots.get_mut(i) {
            Some((g, Some(c))) if *g == gen => Some(c),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, token: u64) -> Option<C> {
        let (i, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        match self.slots.get_mut(i) {
            Some((g, c @ Some(_))) if *g == gen => {
                self.free.push(i);
                self.len -= 1;
                c.take()
            }
            _ => None,
        }
    }

    /// Calls `f` on every connection.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&mut C)) {
        for (_, c) in &mut self.slots {
            if let Some(c) = c {
                f(c);
            }
        }
    }
}

/// The io_uring of a worker's direct reads, and the eventfd its completions signal.
pub(crate) struct DirectRing {
    pub ring: Ring,
    pub efd: Fd,
    /// Bodies of closed connections whose read is still in flight, kept until it completes.
    pub abandoned: HashMap<u64, Box<Direct>>,
    /// Reads submitted and not yet completed.
    pub outstanding: usize,
}

impl DirectRing {
    /// A ring of 256 entries with an eventfd registered; `None` (after a one-time log line)
    /// when io_uring is unavailable.
    pub(crate) fn new(notices: &Notices) -> Option<DirectRing> {
        let made = (|| {
            let mut ring = Ring::new(256)?;
            let efd = os::event::eventfd(true)?;
            ring.register_eventfd(efd.as_fd())?;
            Ok::<_, std::io::Error>(DirectRing {
                ring,
                efd,
                abandoned: HashMap::new(),
                outstanding: 0,
            })
        })();
        match made {
            Ok(r) => Some(r),
            Err(e) => {
                conn::log_direct_fallback(notices, &format!("io_uring: {e}"));
                None
            }
        }
    }

    /// Submits one read for connection `token`. An error is reported as the read's result.
    pub(crate) fn submit(&mut self, token: u64, op: conn::ReadOp) -> std::result::Result<(), i64> {
        let e = opcode::Read::new(types::Fd(op.fd), op.buf, op.len)
            .offset(op.offset)
            .build()
            .user_data(token);
        if self.ring.sq_full() {
            self.ring.submit().map_err(|e| neg(&e))?;
        }
        // SAFETY: the buffer and fd belong to the connection's direct body, which lives until
        // this read completes: a connection closed before is kept in `abandoned`.
        unsafe { self.ring.push(&e) }.map_err(|e| neg(&e))?;
        self.outstanding += 1;
        // Once queued, the read will complete, even if this submit fails (the next one
        // submits it): only the push can fail the read.
        let _ = self.ring.submit();
        Ok(())
    }

    /// Waits for every read in flight to complete, so no buffer is unmapped under the kernel.
    pub(crate) fn drain(&mut self) {
        while self.outstanding > 0 {
            if self.ring.submit_and_wait(1).is_err() {
                return;
            }
            self.outstanding -= self.ring.completions().len().min(self.outstanding);
        }
    }
}

fn neg(e: &std::io::Error) -> i64 {
    -i64::from(e.raw_os_error().unwrap_or(libc::EIO))
}

pub(crate) fn run(w: Worker) -> Result<()> {
    let r = serve(&w);
    if r.is_err() {
        w.stop_all();
    }
    r
}

/// A worker's reactor: its epoll, connections and direct-read ring.
struct Reactor<'w> {
    w: &'w Worker,
    ep: Epoll,
    conns: Slab,
    ring: Option<DirectRing>,
    mode: DirectMode,
    /// Whether the listener is in the epoll set (it is taken out at `max_connections`).
    listening: bool,
    /// When to look for connections past their deadline next.
    next_sweep: Instant,
    /// Connections with a slow head, not watched for input until the next sweep.
    deferred: Vec<u64>,
}

fn serve(w: &Worker) -> Result<()> {
    let ep = os::event::epoll_create().map_err(|e| Error::os(e, "epoll_create1"))?;
    let mut r = Reactor {
        w,
        ep,
        conns: Slab::new(),
        ring: None,
        mode: DirectMode::Off,
        listening: false,
        next_sweep: Instant::now() + super::sweep_interval(&w.shared),
        deferred: Vec::new(),
    };
    r.listen(true)?;
    r.add(w.wake.as_fd(), EpollFlags::EPOLLIN, WAKE)?;
    r.add(w.balance.bell(w.id), EpollFlags::EPOLLIN, INBOX)?;
    if w.shared.directio.is_some() {
        r.ring = DirectRing::new(&w.shared.notices);
    }
    if let Some(ring) = &r.ring {
        add(&r.ep, ring.efd.as_fd(), EpollFlags::EPOLLIN, RING)?;
        r.mode = DirectMode::Ring;
    }
    let mut events = vec![EpollEvent::empty(); 256];
    loop {
        let wait = r.next_sweep.saturating_duration_since(Instant::now());
        let ms = u32::try_from(wait.as_millis().saturating_add(1)).unwrap_or(u32::MAX);
        let n = os::event::epoll_wait(&r.ep, &mut events, ms)
            .map_err(|e| Error::os(e, "epoll_wait"))?;
        for ev in &events[..n] {
            match ev.data() {
                LISTENER => r.accept()?,
                INBOX => {
                    for sock in w.balance.take(w.id) {
                        r.adopt(sock);
                    }
                }
                WAKE => {
                    if w.stopping() {
                        if let Some(ring) = r.ring.as_mut() {
                            ring.drain();
                        }
                        return Ok(());
                    }
                }
                RING => r.reap(),
                token => {
                    let hup = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR;
                    if ev.events().intersects(hup) {
                        if let Some(c) = r.conns.get(token) {
                            c.hung_up();
                        }
                    }
                    r.drive(token)
                }
            }
        }
        r.sweep();
        w.balance.held(w.id, r.conns.len());
        if !r.listening && r.conns.len() < w.shared.max_connections {
            r.listen(true)?;
        }
    }
}

impl Reactor<'_> {
    fn add(&self, fd: BorrowedFd<'_>, events: EpollFlags, data: u64) -> Result<()> {
        add(&self.ep, fd, events, data)
    }

    /// Puts the listener in the epoll set, or takes it out (at `max_connections`: new
    /// connections then wait in the backlog).
    fn listen(&mut self, on: bool) -> Result<()> {
        let l = self.w.listener.as_fd();
        if on {
            // The workers share the listener: EPOLLEXCLUSIVE wakes one of them per
            // connection, not all.
            self.add(
                l,
                EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE,
                LISTENER,
            )?;
        } else {
            os::event::epoll_delete(&self.ep, l).map_err(|e| Error::os(e, "epoll_ctl(DEL)"))?;
        }
        self.listening = on;
        Ok(())
    }

    /// Accepts what waits, up to `max_connections`. An accept error (EMFILE, ENOBUFS, a
    /// connection reset before it was taken) must not stop the server: the listener stays
    /// readable and the accept is tried again on the next wake-up.
    fn accept(&mut self) -> Result<()> {
        while self.conns.len() < self.w.shared.max_connections {
            let Ok(Some(sock)) = os::net::accept(self.w.listener.as_fd(), true) else {
                return Ok(());
            };
            if let Some(sock) = self.w.balance.place(self.w.id, sock) {
                self.adopt(sock);
                self.w.balance.held(self.w.id, self.conns.len());
            }
        }
        self.listen(false)
    }

    /// Registers a new connection and runs it as far as it goes.
    fn adopt(&mut self, sock: Fd) {
        super::nodelay(&sock);
        let token = self.conns.insert(Conn::new_edge(sock));
        let Some(c) = self.conns.get(token) else {
            return;
        };
        if add(&self.ep, c.sock.as_fd(), CONN_EVENTS, token).is_err() {
            self.conns.remove(token);
            return;
        }
        self.drive(token);
    }

    /// Takes the direct reads' completions and drives their connections.
    fn reap(&mut self) {
        let Some(r) = self.ring.as_mut() else { return };
        let _ = os::event::eventfd_take(r.efd.as_fd());
        let done = r.ring.completions();
        r.outstanding -= done.len().min(r.outstanding);
        for cqe in done {
            let token = cqe.user_data();
            if let Some(r) = self.ring.as_mut() {
                if r.abandoned.remove(&token).is_some() {
                    continue;
                }
            }
            if let Some(c) = self.conns.get(token) {
                c.read_done(i64::from(cqe.result()));
                self.drive(token);
            }
        }
    }

    /// Closes the connections past their deadline (header, keep-alive, lingering close).
    fn sweep(&mut self) {
        let now = Instant::now();
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + super::sweep_interval(&self.w.shared);
        access::tick(now);
        let sh = &self.w.shared;
        let late = self
            .conns
            .tokens_where(|c| c.deadline(sh).is_some_and(|d| d <= now));
        for token in late {
            close(&mut self.conns, &mut self.ring, token);
        }
        // Slow heads are watched for input again: what arrived meanwhile is read at once.
        for token in std::mem::take(&mut self.deferred) {
            let Some(c) = self.conns.get(token) else {
                continue;
            };
            c.deferred = false;
            c.paced();
            let _ = watch(&self.ep, c, CONN_EVENTS, token);
        }
    }

    /// Runs connection `token` as far as it goes; a slow head stops being watched for input
    /// until the next sweep (see `conn::SLOW_HEAD_READS`).
    fn drive(&mut self, token: u64) {
        drive(
            &mut self.conns,
            &mut self.ring,
            token,
            &self.w.shared,
            self.mode,
        );
        let Some(c) = self.conns.get(token) else {
            return;
        };
        if c.slow_head() && !c.deferred {
            let quiet = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET;
            if watch(&self.ep, c, quiet, token).is_ok() {
                c.deferred = true;
                self.deferred.push(token);
            }
        }
    }
}

/// The events a connection is watched for: input and output, edge-triggered.
const CONN_EVENTS: EpollFlags = EpollFlags::EPOLLIN
    .union(EpollFlags::EPOLLOUT)
    .union(EpollFlags::EPOLLRDHUP)
    .union(EpollFlags::EPOLLET);

/// Changes the events connection `c` (token `token`) is watched for.
fn watch(ep: &Epoll, c: &Conn, events: EpollFlags, token: u64) -> Result<()> {
    os::event::epoll_modify(ep, c.sock.as_fd(), events, token)
        .map_err(|e| Error::os(e, "epoll_ctl(MOD)"))
}

fn add(ep: &Epoll, fd: BorrowedFd<'_>, events: EpollFlags, data: u64) -> Result<()> {
    os::event::epoll_add(ep, fd, events, data).map_err(|e| Error::os(e, "epoll_ctl(ADD)"))
}

/// Closes connection `token`, keeping its direct body while a read into it is in flight.
fn close(conns: &mut Slab, ring: &mut Option<DirectRing>, token: u64) {
    if let Some(mut c) = conns.remove(token) {
        if let (Some(d), Some(r)) = (c.take_in_flight(), ring.as_mut()) {
            r.abandoned.insert(token, d);
        }
    }
}

/// Runs connection `token` as far as it goes, submitting its direct reads and closing it when
/// it is over.
fn drive(
    conns: &mut Slab,
    ring: &mut Option<DirectRing>,
    token: u64,
    sh: &conn::Shared,
    mode: DirectMode,
) {
    loop {
        let Some(c) = conns.get(token) else { return };
        match c.advance(sh, mode) {
            Step::Blocked | Step::InFlight => return,
            Step::Submit(op) => {
                let Some(r) = ring.as_mut() else {
                    c.read_done(-i64::from(libc::EIO));
                    continue;
                };
                match r.submit(token, op) {
                    Ok(()) => return,
                    Err(res) => c.read_done(res),
                }
            }
            Step::Close => return close(conns, ring, token),
        }
    }
}
