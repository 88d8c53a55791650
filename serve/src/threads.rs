//! The blocking model: one thread accepts (blocking `accept4` after `poll` says a connection or
//! the shutdown is there), and each connection gets a thread of its own running blocking
//! `recv`/`send`/`sendfile` (and blocking O_DIRECT `pread`s). Before each `recv` the thread
//! polls its socket until the connection's deadline (header, keep-alive or lingering timeout).
//! At `max_connections` live connections the acceptor waits for one to end.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::conn::{Conn, DirectMode, Shared, Step};
use super::{access, Worker};
use crate::os;
use crate::os::fs::Fd;
use zcopy::{Error, Result};

pub(crate) fn run(w: Worker) -> Result<()> {
    let live: Live = Arc::new(Mutex::new(HashMap::new()));
    // Signalled by each connection thread as it ends, for an acceptor at the limit.
    let freed = Arc::new(
        os::event::eventfd(true).map_err(|e| Error::os(e, "eventfd for ended connections"))?,
    );
    let mut threads = Vec::new();
    let mut next = 0u64;
    let result = loop {
        let at_limit = live
            .lock()
            .is_ok_and(|m| m.len() >= w.shared.max_connections);
        // At the limit, wait for a connection to end instead of for a new one.
        let first = if at_limit {
            freed.as_fd()
        } else {
            w.listener.as_fd()
        };
        let (ready, wake) = match os::event::wait_readable2(first, w.wake.as_fd()) {
            Ok(r) => r,
            Err(e) => break Err(Error::os(e, "poll on the listener")),
        };
        if wake && w.stopping() {
            break Ok(());
        }
        if at_limit && ready {
            let _ = os::event::eventfd_take(freed.as_fd());
        }
        if at_limit || !ready {
            continue;
        }
        let sock = match os::net::accept(w.listener.as_fd(), false) {
            Ok(Some(s)) => s,
            // EMFILE and friends: the connection waits in the backlog; try again.
            Ok(None) | Err(_) => continue,
        };
        super::nodelay(&sock);
        spawn_conn(sock, next, &w.shared, &live, &freed, &mut threads);
        next += 1;
    };
    wake_all(&live);
    for t in threads {
        let _ = t.join();
    }
    result
}

/// Live connections' fds by id, so shutdown can wake their threads (`shutdown(2)`). A thread
/// takes its entry out, under the lock, before its fd is closed.
type Live = Arc<Mutex<HashMap<u64, RawFd>>>;

/// Serves connection `id` on a thread of its own, which signals `freed` as it ends. Out of
/// threads, the connection is dropped (closed) and the server goes on.
fn spawn_conn(
    sock: Fd,
    id: u64,
    shared: &Arc<Shared>,
    live: &Live,
    freed: &Arc<Fd>,
    threads: &mut Vec<JoinHandle<()>>,
) {
    if let Ok(mut m) = live.lock() {
        m.insert(id, sock.as_fd().as_raw_fd());
    }
    let (shared, live2, freed2) = (shared.clone(), live.clone(), freed.clone());
    let spawned = std::thread::Builder::new()
        .name("zcopy-serve-conn".into())
        .spawn(move || {
            let _ = os::process::block_sigpipe();
            // The connection's thread logs its own lines (written as it ends, or when the
            // oldest is a second old while it waits).
            access::attach(shared.log.as_ref());
            serve_conn(Conn::new_blocking(sock), &shared);
            access::finish();
            if let Ok(mut m) = live2.lock() {
                m.remove(&id);
            }
            let _ = os::event::eventfd_signal(freed2.as_fd());
        });
    match spawned {
        Ok(t) => threads.push(t),
        Err(_) => {
            if let Ok(mut m) = live.lock() {
                m.remove(&id);
            }
        }
    }
    threads.retain(|t| !t.is_finished());
}

/// Wakes every live connection's thread (blocked in `poll` or a call on its socket), so it
/// ends.
fn wake_all(live: &Live) {
    if let Ok(m) = live.lock() {
        for &fd in m.values() {
            // SAFETY: the fd is open: its thread removes it from `live` (under this lock)
            // before closing it.
            let _ = os::net::shutdown(unsafe { BorrowedFd::borrow_raw(fd) });
        }
    }
}

/// Runs one connection on its blocking socket until it ends or misses its deadline.
fn serve_conn(mut c: Conn, sh: &Shared) {
    loop {
        match c.advance(sh, DirectMode::Sync) {
            Step::Submit(_) | Step::InFlight => continue,
            Step::Close => return,
            // Only before a recv (see Conn::new_blocking): wait for bytes within the deadline.
            Step::Blocked => {
                if c.slow_head() {
                    // A head trickling in: read it again after a pause (see SLOW_HEAD_READS),
                    // not once per segment.
                    let pause = super::sweep_interval(sh).min(Duration::from_millis(250));
                    let left = c
                        .deadline(sh)
                        .map_or(pause, |d| d.saturating_duration_since(Instant::now()));
                    std::thread::sleep(pause.min(left));
                    c.paced();
                }
                loop {
                    // Until the deadline, or until the access log's lines are due first.
                    let deadline = c.deadline(sh);
                    let until = match (deadline, access::due()) {
                        (Some(d), Some(l)) => Some(d.min(l)),
                        (d, l) => d.or(l),
                    };
                    let timeout = until.map_or(-1, |d| {
                        let left = d.saturating_duration_since(Instant::now());
                        i32::try_from(left.as_millis().saturating_add(1)).unwrap_or(i32::MAX)
                    });
                    match os::net::wait_readable(c.sock.as_fd(), timeout) {
                        Ok(true) => {
                            c.readable();
                            break;
                        }
                        Ok(false) if deadline.is_none_or(|d| Instant::now() < d) => {
                            access::tick(Instant::now());
                        }
                        // The deadline passed (or poll failed): the connection ends.
                        Ok(false) | Err(_) => return,
                    }
                }
            }
        }
    }
}
