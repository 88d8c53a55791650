//! Spreading connections over the workers. They share one listening socket (see
//! [`super::Server::bind`]), and the kernel hands each connection to the first idle worker it
//! finds, so one worker would take nearly all of them (measured: all 32 keep-alive connections
//! of a wrk run on worker 0, the other idle, 0.76× the requests per second of a socket per
//! worker). A worker that accepts a connection while another holds fewer hands it over: into
//! that worker's inbox, whose eventfd wakes it.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::os;
use crate::os::fs::Fd;

/// The connections each worker holds, and the inboxes of those handed to it.
pub(crate) struct Balance {
    held: Vec<AtomicUsize>,
    inbox: Vec<Mutex<Vec<Fd>>>,
    bell: Vec<Fd>,
}

impl Balance {
    /// A balance for `workers` workers (an eventfd each).
    pub(crate) fn new(workers: usize) -> std::io::Result<Balance> {
        let mut bell = Vec::with_capacity(workers);
        for _ in 0..workers {
            bell.push(os::event::eventfd(true)?);
        }
        Ok(Balance {
            held: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            inbox: (0..workers).map(|_| Mutex::new(Vec::new())).collect(),
            bell,
        })
    }

    /// Where a connection worker `me` accepted is served: `Some` (given back) by `me`, or
    /// `None` once it is handed to the worker holding the fewest, when that one holds fewer
    /// than `me`.
    pub(crate) fn place(&self, me: usize, sock: Fd) -> Option<Fd> {
        let mine = self.held.get(me).map_or(0, |h| h.load(Ordering::Relaxed));
        let least = self
            .held
            .iter()
            .enumerate()
            .map(|(i, h)| (h.load(Ordering::Relaxed), i))
            .min();
        let Some((fewest, to)) = least else {
            return Some(sock);
        };
        if to == me || fewest >= mine {
            return Some(sock);
        }
        let Ok(mut q) = self.inbox[to].lock() else {
            return Some(sock);
        };
        q.push(sock);
        drop(q);
        self.held[to].fetch_add(1, Ordering::Relaxed);
        let _ = os::event::eventfd_signal(self.bell[to].as_fd());
        None
    }

    /// Records that worker `me` holds `n` connections.
    pub(crate) fn held(&self, me: usize, n: usize) {
        if let Some(h) = self.held.get(me) {
            h.store(n, Ordering::Relaxed);
        }
    }

    /// The eventfd that is readable while worker `me` has connections in its inbox.
    pub(crate) fn bell(&self, me: usize) -> BorrowedFd<'_> {
        self.bell[me].as_fd()
    }

    /// Takes the connections handed to worker `me`.
    pub(crate) fn take(&self, me: usize) -> Vec<Fd> {
        let _ = os::event::eventfd_take(self.bell[me].as_fd());
        match self.inbox[me].lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock() -> Fd {
        os::event::eventfd(false).expect("an fd to hand around")
    }

    #[test]
    fn a_connection_goes_to_the_worker_holding_the_fewest() {
        let b = Balance::new(3).expect("balance");
        // All equal: the accepting worker keeps it.
        assert!(b.place(0, sock()).is_some());
        b.held(0, 1);
        // Worker 0 holds more than 1 and 2: handed to the first with the fewest.
        assert!(b.place(0, sock()).is_none());
        assert_eq!(b.take(1).len(), 1);
        assert!(b.take(2).is_empty());
        // Handing over counts at once, so a burst spreads: next goes to worker 2.
        assert!(b.place(0, sock()).is_none());
        assert_eq!(b.take(2).len(), 1);
        // Everyone holds 1: kept.
        assert!(b.place(0, sock()).is_some());
    }
}
