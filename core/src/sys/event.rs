//! Readiness and wake-ups for the file server's reactors: `epoll`, `eventfd`, `sched_yield`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::cvt;
use super::fs::Fd;

/// `epoll_create1(EPOLL_CLOEXEC)` — a new epoll instance.
///
/// # References
/// [man7 epoll_create(2)](https://man7.org/linux/man-pages/man2/epoll_create.2.html)
pub(crate) fn epoll_create() -> io::Result<Fd> {
    // SAFETY: epoll_create1 touches no memory.
    let fd = cvt(|| unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { Fd::from_raw(fd) })
}

/// `epoll_ctl(ep, op, fd, {events, data})` — adds (`EPOLL_CTL_ADD`), changes (`EPOLL_CTL_MOD`)
/// or removes (`EPOLL_CTL_DEL`) `fd`'s interest.
///
/// # References
/// [man7 epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
pub(crate) fn epoll_ctl(
    ep: BorrowedFd<'_>,
    op: i32,
    fd: BorrowedFd<'_>,
    events: u32,
    data: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is valid for the whole call; the kernel only reads it.
    cvt(|| unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd.as_raw_fd(), &mut ev) }).map(drop)
}

/// `epoll_wait(ep, events, len, timeout_ms)` — sleeps until some fd is ready (or the timeout,
/// -1 = none); returns how many entries of `events` it filled.
///
/// # References
/// [man7 epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
pub(crate) fn epoll_wait(
    ep: BorrowedFd<'_>,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    let len = i32::try_from(events.len()).unwrap_or(i32::MAX);
    // SAFETY: `events` is valid for writes of `len` entries for the whole call.
    cvt(|| unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), len, timeout_ms) })
        .map(|n| n as usize)
}

/// `eventfd(0, EFD_CLOEXEC | flags)` — a counter other threads (or an io_uring) signal.
///
/// # References
/// [man7 eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub(crate) fn eventfd(flags: i32) -> io::Result<Fd> {
    // SAFETY: eventfd touches no memory.
    let fd = cvt(|| unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | flags) })?;
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { Fd::from_raw(fd) })
}

/// `write(efd, &1u64, 8)` — adds one to an eventfd's counter, waking its waiters.
///
/// # References
/// [man7 eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub(crate) fn eventfd_signal(efd: BorrowedFd<'_>) -> io::Result<()> {
    super::fs::write(efd, &1u64.to_ne_bytes()).map(drop)
}

/// `read(efd, &u64, 8)` — takes (and resets) an eventfd's counter; `EAGAIN` when it is 0 and
/// the eventfd is non-blocking.
///
/// # References
/// [man7 eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
pub(crate) fn eventfd_take(efd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut b = [0u8; 8];
    super::fs::read(efd, &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// `sched_yield()` — gives the CPU to another runnable thread, if any.
///
/// # References
/// [man7 sched_yield(2)](https://man7.org/linux/man-pages/man2/sched_yield.2.html)
pub(crate) fn sched_yield() {
    super::bump();
    // SAFETY: sched_yield touches no memory and cannot fail on Linux.
    unsafe { libc::sched_yield() };
}

/// `poll([{a, POLLIN}, {b, POLLIN}], 2, -1)` — sleeps until `a` or `b` is readable; returns
/// which are (an error or hang-up counts as readable: the next call reports it).
///
/// # References
/// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn wait_readable2(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<(bool, bool)> {
    let mut p = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `p` is two valid pollfds for the whole call.
    cvt(|| unsafe { libc::poll(p.as_mut_ptr(), 2, -1) })?;
    Ok((p[0].revents != 0, p[1].revents != 0))
}
