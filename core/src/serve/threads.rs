//! The blocking model: one thread accepts (blocking `accept4` after `poll` says a connection or
//! the shutdown is there), and each connection gets a thread of its own running blocking
//! `recv`/`send`/`sendfile` (and blocking O_DIRECT `pread`s).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};

use super::conn::{Conn, DirectMode, Step};
use super::Worker;
use crate::error::{Error, Result};
use crate::sys;

pub(crate) fn run(w: Worker) -> Result<()> {
    // Live connections' fds, so shutdown can wake their threads (shutdown(2)). A thread takes
    // its entry out, under the lock, before its fd is closed.
    let live: Arc<Mutex<HashMap<u64, RawFd>>> = Arc::new(Mutex::new(HashMap::new()));
    let mut threads = Vec::new();
    let mut next = 0u64;
    let result = loop {
        let (conn_ready, wake) =
            match sys::event::wait_readable2(w.listener.as_fd(), w.wake.as_fd()) {
                Ok(r) => r,
                Err(e) => break Err(Error::os(e, "poll on the listener")),
            };
        if wake && w.stopping() {
            break Ok(());
        }
        if !conn_ready {
            continue;
        }
        let sock = match sys::net::accept(w.listener.as_fd(), false) {
            Ok(Some(s)) => s,
            // EMFILE and friends: the connection waits in the backlog; try again.
            Ok(None) | Err(_) => continue,
        };
        super::nodelay(&sock);
        let id = next;
        next += 1;
        if let Ok(mut m) = live.lock() {
            m.insert(id, sock.as_fd().as_raw_fd());
        }
        let (shared, live2) = (w.shared.clone(), live.clone());
        let spawned = std::thread::Builder::new()
            .name("zcopy-serve-conn".into())
            .spawn(move || {
                let _ = sys::process::block_sigpipe();
                let mut c = Conn::new(sock);
                // Blocking sockets never say EAGAIN: anything but progress ends the connection.
                while let Step::Submit(_) | Step::InFlight = c.advance(&shared, DirectMode::Sync) {}
                if let Ok(mut m) = live2.lock() {
                    m.remove(&id);
                }
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(_) => {
                // Out of threads: the connection is dropped (closed) and the server goes on.
                if let Ok(mut m) = live.lock() {
                    m.remove(&id);
                }
            }
        }
        threads.retain(|t| !t.is_finished());
    };
    if let Ok(m) = live.lock() {
        for &fd in m.values() {
            // SAFETY: the fd is open: its thread removes it from `live` (under this lock)
            // before closing it.
            let _ = sys::net::shutdown(unsafe { BorrowedFd::borrow_raw(fd) });
        }
    }
    for t in threads {
        let _ = t.join();
    }
    result
}
