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

/// A socket address as the kernel takes it: storage and length.
fn sockaddr(addr: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is a valid value of this plain C struct.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// `socket(AF_INET[6], SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK])`, `SO_REUSEADDR`,
/// `bind(addr)`, `listen(backlog)` — a TCP listening socket. Without `SO_REUSEPORT`: `bind`
/// fails with `EADDRINUSE` while another socket listens on `addr`.
///
/// # References
/// [man7 socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html),
/// [man7 bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html),
/// [man7 listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
pub(crate) fn tcp_listen(
    addr: &std::net::SocketAddr,
    nonblocking: bool,
    backlog: i32,
) -> io::Result<super::fs::Fd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket touches no memory.
    let raw = cvt(|| unsafe { libc::socket(family, ty, 0) })?;
    // SAFETY: a new fd that nothing else owns.
    let fd = unsafe { super::fs::Fd::from_raw(raw) };
    use std::os::fd::AsFd;
    set_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    let (ss, len) = sockaddr(addr);
    // SAFETY: `ss` holds a valid address of `len` bytes for the whole call.
    cvt(|| unsafe { libc::bind(raw, (&ss as *const libc::sockaddr_storage).cast(), len) })?;
    // SAFETY: listen touches no memory.
    cvt(|| unsafe { libc::listen(raw, backlog) })?;
    Ok(fd)
}

/// `getsockname(fd)` — the address a socket is bound to.
///
/// # References
/// [man7 getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html)
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<std::net::SocketAddr> {
    // SAFETY: getsockname writes at most `len` bytes of an address into `ss`.
    sockname(|ss, len| unsafe { libc::getsockname(fd.as_raw_fd(), ss, len) })
}

/// `getpeername(fd)` — the address of a connected socket's peer.
///
/// # References
/// [man7 getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html)
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<std::net::SocketAddr> {
    // SAFETY: getpeername writes at most `len` bytes of an address into `ss`.
    sockname(|ss, len| unsafe { libc::getpeername(fd.as_raw_fd(), ss, len) })
}

/// Runs `call` (getsockname or getpeername) into a sockaddr_storage and decodes the address.
fn sockname(
    mut call: impl FnMut(*mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int,
) -> io::Result<std::net::SocketAddr> {
    // SAFETY: an all-zero sockaddr_storage is a valid value of this plain C struct.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    cvt(|| call((&mut ss as *mut libc::sockaddr_storage).cast(), &mut len))?;
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Ok(std::net::SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a =
                unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Ok(std::net::SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
}

/// `accept4(fd, NULL, NULL, SOCK_CLOEXEC [| SOCK_NONBLOCK])` — the next connection, or `None`
/// when a non-blocking listener has none waiting (`EAGAIN`) or it went away before we took it
/// (`ECONNABORTED`).
///
/// # References
/// [man7 accept4(2)](https://man7.org/linux/man-pages/man2/accept4.2.html)
pub(crate) fn accept(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<Option<super::fs::Fd>> {
    let mut flags = libc::SOCK_CLOEXEC;
    if nonblocking {
        flags |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: NULL address arguments are allowed; nothing else is touched.
    let r = cvt(|| unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            flags,
        )
    });
    match r {
        // SAFETY: accept4 returned a new fd that nothing else owns.
        Ok(raw) => Ok(Some(unsafe { super::fs::Fd::from_raw(raw) })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ECONNABORTED)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `recv(fd, buf, len, 0)` — bytes from a socket; 0 at the peer's end of stream.
///
/// # References
/// [man7 recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html)
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    cvt(|| unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
        .map(|n| n as usize)
}

/// `send(fd, buf, len, flags | MSG_NOSIGNAL)` — bytes to a socket; never raises SIGPIPE.
///
/// # References
/// [man7 send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length for the whole call.
    unsafe { send_raw(fd, buf.as_ptr(), buf.len(), flags) }
}

/// `shutdown(fd, SHUT_RDWR)` — ends both directions, waking a thread blocked on the socket.
///
/// # References
/// [man7 shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
pub(crate) fn shutdown(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: shutdown touches no memory.
    cvt(|| unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) }).map(drop)
}

/// `shutdown(fd, SHUT_WR)` — sends the end of stream (FIN) while still reading.
///
/// # References
/// [man7 shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: shutdown touches no memory.
    cvt(|| unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) }).map(drop)
}
