//! Readiness: `poll`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::cvt;

/// `poll([{fd, POLLOUT}], 1, -1)` — sleeps until `fd` can take more bytes (or has failed, in
/// which case the next write reports why).
///
/// # References
/// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn wait_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the whole call.
    cvt(|| unsafe { libc::poll(&mut p, 1, -1) }).map(drop)
}
