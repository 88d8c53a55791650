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

/// `getsockopt(fd, SOL_SOCKET, SO_DOMAIN)` — the socket's address family (`AF_UNIX`, `AF_INET`...).
///
/// # References
/// [man7 socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn socket_domain(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid for writes and `len` holds domain's size.
    cvt(|| unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(domain)
}
