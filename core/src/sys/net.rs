//! Sockets: readiness (`poll`), options, the peer, and `MSG_ZEROCOPY` completions.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::socket::{self, sockopt, SockaddrStorage};
use nix::sys::time::TimeVal;

use super::{cvt, retry};

/// `poll([{fd, POLLIN}], 1, timeout_ms)` — whether `fd` has bytes to read (or an end of file or
/// error for the next read to report) within `timeout_ms` milliseconds.
///
/// # References
/// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let timeout = super::poll_timeout(timeout_ms);
    let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
    retry(|| poll(&mut p, timeout)).map(|n| n > 0)
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

/// `getpeername(fd, &addr, &len)` — whether the socket's peer is a loopback address
/// (127.0.0.0/8, `::1`, or `::ffff:127.x.y.z`); `false` for any other peer or family.
///
/// # References
/// [man7 getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html)
pub(crate) fn peer_is_loopback(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let addr: SockaddrStorage = retry(|| socket::getpeername(fd.as_raw_fd()))?;
    if let Some(a) = addr.as_sockaddr_in() {
        return Ok(a.ip().is_loopback());
    }
    Ok(addr.as_sockaddr_in6().is_some_and(|a| {
        let ip = a.ip();
        ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
    }))
}

/// `getsockopt(fd, level, name)` for an int option.
///
/// # References
/// [man7 getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html)
pub(crate) fn get_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes and `len` holds v's size.
    cvt(|| unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// `getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO)` — how long a blocking send waits for room
/// (zero: for ever).
///
/// # References
/// [man7 socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn send_timeout(fd: BorrowedFd<'_>) -> io::Result<libc::timeval> {
    let tv = retry(|| socket::getsockopt(&fd, sockopt::SendTimeout))?;
    Ok(*tv.as_ref())
}

/// `setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv)` — bounds a blocking send's wait for room (a
/// send, `sendfile` or `splice` to the socket then returns what it moved, or `EAGAIN`).
///
/// # References
/// [man7 socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html)
pub(crate) fn set_send_timeout(fd: BorrowedFd<'_>, tv: libc::timeval) -> io::Result<()> {
    let tv = TimeVal::from(tv);
    retry(|| socket::setsockopt(&fd, sockopt::SendTimeout, &tv))
}

/// `setsockopt(fd, level, name, &value)` for an int option.
///
/// # References
/// [man7 setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html)
pub(crate) fn set_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the kernel reads one int from `value` during the call.
    cvt(|| unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `send(fd, buf, len, flags | MSG_NOSIGNAL)` — bytes to a socket; never raises SIGPIPE.
///
/// # References
/// [man7 send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length for the whole call.
    unsafe { send_raw(fd, buf.as_ptr(), buf.len(), flags) }
}

/// `send(fd, ptr, len, flags | MSG_NOSIGNAL)` from memory the caller vouches for. With
/// `MSG_ZEROCOPY` the kernel pins the pages and reads them later: they must not change until the
/// send's completion arrives on the error queue ([`zerocopy_completions`]).
///
/// # Safety
/// `ptr..ptr+len` must be readable memory of this process for the whole call (and, with
/// `MSG_ZEROCOPY`, unchanged until the completion).
///
/// # References
/// [man7 send(2)](https://man7.org/linux/man-pages/man2/send.2.html),
/// [MSG_ZEROCOPY](https://docs.kernel.org/networking/msg_zerocopy.html)
pub(crate) unsafe fn send_raw(
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
    flags: i32,
) -> io::Result<usize> {
    // SAFETY: the caller guarantees the range is readable.
    cvt(|| unsafe { libc::send(fd.as_raw_fd(), ptr.cast(), len, flags | libc::MSG_NOSIGNAL) })
        .map(|n| n as usize)
}

/// A range of MSG_ZEROCOPY sends the kernel is done with: ids `first..=last` (send calls
/// numbered from 0 per socket), and whether the kernel copied the data after all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub first: u32,
    pub last: u32,
    pub copied: bool,
}

/// `recvmsg(fd, MSG_ERRQUEUE | MSG_DONTWAIT)` until the error queue is empty: the MSG_ZEROCOPY
/// completions queued so far. Other error-queue messages are returned as errors (`ee_errno`).
///
/// # References
/// [man7 recvmsg(2)](https://man7.org/linux/man-pages/man2/recvmsg.2.html),
/// [MSG_ZEROCOPY](https://docs.kernel.org/networking/msg_zerocopy.html)
pub(crate) fn zerocopy_completions(
    fd: BorrowedFd<'_>,
    out: &mut Vec<Completion>,
) -> io::Result<()> {
    /// `SO_EE_ORIGIN_ZEROCOPY` and `SO_EE_CODE_ZEROCOPY_COPIED` (linux/errqueue.h; not in libc).
    const ORIGIN_ZEROCOPY: u8 = 5;
    const CODE_COPIED: u8 = 1;
    loop {
        let mut control = [0u64; 16]; // 128 bytes, aligned for cmsghdr
                                      // SAFETY: an all-zero msghdr is valid; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` describes only `control`, valid for writes for the whole call.
        let r = cvt(|| unsafe {
            libc::recvmsg(
                fd.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        });
        match r {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => return Ok(()),
            Err(e) => return Err(e),
        }
        // SAFETY: CMSG_* walk the control buffer the kernel filled, within msg_controllen.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` points to a header inside `control`.
            let hdr = unsafe { &*cmsg };
            let is_err = (hdr.cmsg_level == libc::SOL_IP && hdr.cmsg_type == libc::IP_RECVERR)
                || (hdr.cmsg_level == libc::SOL_IPV6 && hdr.cmsg_type == libc::IPV6_RECVERR);
            if is_err {
                // SAFETY: an IP_RECVERR message carries a sock_extended_err; read unaligned.
                let ee: libc::sock_extended_err =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                if ee.ee_origin == ORIGIN_ZEROCOPY {
                    out.push(Completion {
                        first: ee.ee_info,
                        last: ee.ee_data,
                        copied: ee.ee_code & CODE_COPIED != 0,
                    });
                } else if ee.ee_errno != 0 {
                    return Err(io::Error::from_raw_os_error(ee.ee_errno as i32));
                }
            }
            // SAFETY: as above.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
    }
}

/// `poll([{fd, 0}], 1, timeout_ms)` — sleeps until the socket's error queue (POLLERR) has
/// something, or the timeout; returns whether it has.
pub(crate) fn wait_errqueue(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let timeout = super::poll_timeout(timeout_ms);
    let mut p = [PollFd::new(fd, PollFlags::empty())];
    let n = retry(|| poll(&mut p, timeout))?;
    Ok(n > 0
        && p[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR)))
}
