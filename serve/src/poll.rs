//! The non-blocking polling model: each worker tries its listener and every connection in
//! turn, without any readiness notification, and yields the CPU (`sched_yield`) only when a
//! whole pass moved nothing: the notes' "non-blocking I/O", which spins on `EAGAIN`. A
//! connection that would block past its deadline is closed; at `max_connections` the worker
//! stops accepting until one ends.

use std::os::fd::AsFd;
use std::time::Instant;

use super::conn::{Conn, DirectMode, Step};
use super::{access, Worker};
use crate::os;
use zcopy::Result;

pub(crate) fn run(w: Worker) -> Result<()> {
    let mut conns: Vec<Conn> = Vec::new();
    while !w.stopping() {
        let mut progressed = false;
        // EMFILE and friends end the accepts of this pass; tried again on the next one.
        while conns.len() < w.shared.max_connections {
            let Ok(Some(sock)) = os::net::accept(w.listener.as_fd(), true) else {
                break;
            };
            super::nodelay(&sock);
            conns.push(Conn::new(sock));
            progressed = true;
        }
        let now = Instant::now();
        access::tick(now);
        let mut i = 0;
        while i < conns.len() {
            let step = conns[i].advance(&w.shared, DirectMode::Sync);
            progressed |= conns[i].progressed;
            let late = || conns[i].deadline(&w.shared).is_some_and(|d| d <= now);
            if matches!(step, Step::Close) || (matches!(step, Step::Blocked) && late()) {
                conns.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if !progressed {
            os::event::sched_yield();
        }
    }
    Ok(())
}
