//! The non-blocking polling model: each worker tries its listener and every connection in
//! turn, without any readiness notification, and yields the CPU (`sched_yield`) only when a
//! whole pass moved nothing: the notes' "non-blocking I/O", which spins on `EAGAIN`.

use std::os::fd::AsFd;

use super::conn::{Conn, DirectMode, Step};
use super::Worker;
use crate::error::Result;
use crate::sys;

pub(crate) fn run(w: Worker) -> Result<()> {
    let mut conns: Vec<Conn> = Vec::new();
    while !w.stopping() {
        let mut progressed = false;
        // EMFILE and friends end the accepts of this pass; tried again on the next one.
        while let Ok(Some(sock)) = sys::net::accept(w.listener.as_fd(), true) {
            super::nodelay(&sock);
            conns.push(Conn::new(sock));
            progressed = true;
        }
        let mut i = 0;
        while i < conns.len() {
            let step = conns[i].advance(&w.shared, DirectMode::Sync);
            progressed |= conns[i].progressed;
            if let Step::Close = step {
                conns.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if !progressed {
            sys::event::sched_yield();
        }
    }
    Ok(())
}
