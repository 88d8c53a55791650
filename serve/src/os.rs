//! The server's own system calls: its sockets, readiness (epoll, poll, eventfd), signals, pipes,
//! buffers and io_uring ring. This is server plumbing, not engine work: the bytes of a response
//! body leave through the engine's public API ([`zcopy::Prepared`]) where a call moves them from
//! a file to a socket. Written over `nix` where it has the call, over the `io-uring` crate for the
//! ring, and over `libc` only where neither has it (`statx` for direct I/O alignment, through
//! `syscall(2)`; `sigtimedwait`; `localtime_r` in `date.rs`). EINTR is retried inside each wrapper, never surfaced.
//!
//! The submodules mirror the engine's `sys` families, so a reader finds each call where the
//! engine would keep it.

use std::io;

/// Runs `f` again while it fails with `EINTR`; converts nix's error into `io::Error`.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Files: open, stat, read, write.
pub(crate) mod fs {
    use std::ffi::CStr;
    use std::io;
    use std::mem::MaybeUninit;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use nix::fcntl::{FcntlArg, OFlag, OpenHow, ResolveFlag};
    use nix::sys::stat::Mode;

    use super::retry;

    /// An fd the server owns (closed on drop).
    pub(crate) type Fd = OwnedFd;

    /// `RESOLVE_BENEATH` for [`openat2`].
    pub(crate) const RESOLVE_BENEATH: ResolveFlag = ResolveFlag::RESOLVE_BENEATH;
    /// `RESOLVE_NO_MAGICLINKS` for [`openat2`].
    pub(crate) const RESOLVE_NO_MAGICLINKS: ResolveFlag = ResolveFlag::RESOLVE_NO_MAGICLINKS;

    /// `open(path, flags | O_CLOEXEC, mode)` — opens a file.
    ///
    /// # References
    /// [man7 open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
    pub(crate) fn open(path: &CStr, flags: i32, mode: libc::mode_t) -> io::Result<Fd> {
        let flags = OFlag::from_bits_retain(flags | libc::O_CLOEXEC);
        retry(|| nix::fcntl::open(path, flags, Mode::from_bits_retain(mode)))
    }

    /// `openat(dir, path, flags | O_CLOEXEC)` — opens a file relative to a directory fd.
    ///
    /// # References
    /// [man7 openat(2)](https://man7.org/linux/man-pages/man2/openat.2.html)
    pub(crate) fn openat(dir: BorrowedFd<'_>, path: &CStr, flags: i32) -> io::Result<Fd> {
        let flags = OFlag::from_bits_retain(flags | libc::O_CLOEXEC);
        retry(|| nix::fcntl::openat(dir, path, flags, Mode::empty()))
    }

    /// `openat2(dir, path, {flags | O_CLOEXEC, resolve})` — opens a file relative to a
    /// directory fd, with path resolution restricted by `resolve`.
    ///
    /// # References
    /// [man7 openat2(2)](https://man7.org/linux/man-pages/man2/openat2.2.html)
    pub(crate) fn openat2(
        dir: BorrowedFd<'_>,
        path: &CStr,
        flags: i32,
        resolve: ResolveFlag,
    ) -> io::Result<Fd> {
        let flags = OFlag::from_bits_retain(flags | libc::O_CLOEXEC);
        retry(|| nix::fcntl::openat2(dir, path, OpenHow::new().flags(flags).resolve(resolve)))
    }

    /// `fstat(fd, &st)` — the file's type, size, times.
    ///
    /// # References
    /// [man7 fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
    pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
        retry(|| nix::sys::stat::fstat(fd))
    }

    /// `write(fd, buf, len)` — writes at the fd's position (or its end under `O_APPEND`).
    ///
    /// # References
    /// [man7 write(2)](https://man7.org/linux/man-pages/man2/write.2.html)
    pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
        retry(|| nix::unistd::write(fd, buf))
    }

    /// `read(fd, buf, len)` — reads at the fd's position.
    ///
    /// # References
    /// [man7 read(2)](https://man7.org/linux/man-pages/man2/read.2.html)
    pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        retry(|| nix::unistd::read(fd, buf))
    }

    /// `pread(fd, buf, len, offset)` — reads at `offset`, the fd's position untouched.
    ///
    /// # References
    /// [man7 pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html)
    pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        retry(|| nix::sys::uio::pread(fd, buf, off))
    }

    /// `fcntl(fd, F_DUPFD_CLOEXEC, 3)` — a new fd (3 or above, close-on-exec) on the same open
    /// file.
    ///
    /// # References
    /// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    pub(crate) fn dup_cloexec(fd: BorrowedFd<'_>) -> io::Result<Fd> {
        let raw = retry(|| nix::fcntl::fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(3)))?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a new fd that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    /// `statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN)` — the memory and offset alignment O_DIRECT
    /// needs on this file, `None` when the kernel or filesystem does not say (libc only: nix
    /// has no `statx`).
    ///
    /// # References
    /// [man7 statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html)
    pub(crate) fn dio_align(fd: BorrowedFd<'_>) -> io::Result<Option<(u32, u32)>> {
        let mut stx = MaybeUninit::<libc::statx>::zeroed();
        loop {
            // Through syscall(2), not glibc's statx wrapper, which glibc before 2.28 lacks (the
            // wheel's check in scripts/wheel.sh).
            // SAFETY: the empty path is a valid C string; `stx` is valid for writes of one statx.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_statx,
                    libc::c_long::from(fd.as_raw_fd()),
                    c"".as_ptr(),
                    libc::c_long::from(libc::AT_EMPTY_PATH),
                    libc::c_long::from(libc::STATX_DIOALIGN),
                    stx.as_mut_ptr(),
                )
            };
            if r == 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
        // SAFETY: statx succeeded; the struct was zeroed, so fields it did not fill are 0.
        let stx = unsafe { stx.assume_init() };
        if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
            return Ok(None);
        }
        Ok(Some((stx.stx_dio_mem_align, stx.stx_dio_offset_align)))
    }
}

/// Sockets: listen, accept, send, receive, shut down.
pub(crate) mod net {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{
        self, sockopt, AddressFamily, Backlog, MsgFlags, Shutdown, SockFlag, SockType,
        SockaddrLike, SockaddrStorage,
    };

    use super::fs::Fd;
    use super::retry;

    /// `poll([{fd, POLLIN}], 1, timeout_ms)` — whether `fd` became readable (or hung up) within
    /// the timeout (-1: none).
    ///
    /// # References
    /// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
    pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
        let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::NONE);
        let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
        Ok(retry(|| nix::poll::poll(&mut p, timeout))? > 0)
    }

    /// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)` — sends small segments at once (no Nagle).
    ///
    /// # References
    /// [man7 tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
    pub(crate) fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
        retry(|| socket::setsockopt(&fd, sockopt::TcpNoDelay, &true))
    }

    /// `socket(AF_INET[6], SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK])`, `SO_REUSEADDR`,
    /// `bind(addr)`, `listen(backlog)` — a TCP listening socket. Without `SO_REUSEPORT`: `bind`
    /// fails with `EADDRINUSE` while another socket listens on `addr`.
    ///
    /// # References
    /// [man7 socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html),
    /// [man7 bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html),
    /// [man7 listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
    pub(crate) fn tcp_listen(addr: &SocketAddr, nonblocking: bool, backlog: i32) -> io::Result<Fd> {
        let family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let mut flags = SockFlag::SOCK_CLOEXEC;
        if nonblocking {
            flags |= SockFlag::SOCK_NONBLOCK;
        }
        let fd = retry(|| socket::socket(family, SockType::Stream, flags, None))?;
        retry(|| socket::setsockopt(&fd, sockopt::ReuseAddr, &true))?;
        let sa = SockaddrStorage::from(*addr);
        retry(|| socket::bind(fd.as_raw_fd(), &sa))?;
        let backlog = Backlog::new(backlog).map_err(io::Error::from)?;
        retry(|| socket::listen(&fd, backlog))?;
        Ok(fd)
    }

    /// Decodes an IPv4 or IPv6 socket address.
    fn decode(sa: SockaddrStorage) -> io::Result<SocketAddr> {
        if let Some(a) = sa.as_sockaddr_in() {
            return Ok(SocketAddr::V4((*a).into()));
        }
        if let Some(a) = sa.as_sockaddr_in6() {
            return Ok(SocketAddr::V6((*a).into()));
        }
        Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
    }

    /// `getsockname(fd)` — the address a socket is bound to.
    ///
    /// # References
    /// [man7 getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html)
    pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        decode(retry(|| socket::getsockname(fd.as_raw_fd()))?)
    }

    /// `getpeername(fd)` — the address of a connected socket's peer.
    ///
    /// # References
    /// [man7 getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html)
    pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
        let sa: SockaddrStorage = retry(|| socket::getpeername(fd.as_raw_fd()))?;
        if sa.family().is_none() {
            return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        }
        decode(sa)
    }

    /// `accept4(fd, NULL, NULL, SOCK_CLOEXEC [| SOCK_NONBLOCK])` — the next connection, or
    /// `None` when a non-blocking listener has none waiting (`EAGAIN`) or it went away before we
    /// took it (`ECONNABORTED`).
    ///
    /// # References
    /// [man7 accept4(2)](https://man7.org/linux/man-pages/man2/accept4.2.html)
    pub(crate) fn accept(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<Option<Fd>> {
        let mut flags = SockFlag::SOCK_CLOEXEC;
        if nonblocking {
            flags |= SockFlag::SOCK_NONBLOCK;
        }
        match retry(|| socket::accept4(fd, flags)) {
            Ok(sock) => Ok(Some(sock)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ECONNABORTED)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `recv(fd, buf, len, 0)` — bytes from a socket; 0 at the peer's end of stream.
    ///
    /// # References
    /// [man7 recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html)
    pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        retry(|| socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty()))
    }

    /// `send(fd, buf, len, flags | MSG_NOSIGNAL)` — bytes to a socket; never raises SIGPIPE.
    ///
    /// # References
    /// [man7 send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
    pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: i32) -> io::Result<usize> {
        let flags = MsgFlags::from_bits_retain(flags) | MsgFlags::MSG_NOSIGNAL;
        retry(|| socket::send(fd.as_raw_fd(), buf, flags))
    }

    /// `shutdown(fd, SHUT_RDWR)` — ends both directions, waking a thread blocked on the socket.
    ///
    /// # References
    /// [man7 shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
    pub(crate) fn shutdown(fd: BorrowedFd<'_>) -> io::Result<()> {
        retry(|| socket::shutdown(fd.as_fd().as_raw_fd(), Shutdown::Both))
    }

    /// `shutdown(fd, SHUT_WR)` — sends the end of stream (FIN) while still reading.
    ///
    /// # References
    /// [man7 shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
    pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
        retry(|| socket::shutdown(fd.as_raw_fd(), Shutdown::Write))
    }
}

/// Readiness and wake-ups: `epoll`, `eventfd`, `sched_yield`, `poll`.
pub(crate) mod event {
    use std::io;
    use std::os::fd::BorrowedFd;

    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
    use nix::sys::eventfd::EfdFlags;

    use super::fs::Fd;
    use super::retry;

    /// `epoll_create1(EPOLL_CLOEXEC)` — a new epoll instance.
    ///
    /// # References
    /// [man7 epoll_create(2)](https://man7.org/linux/man-pages/man2/epoll_create.2.html)
    pub(crate) fn epoll_create() -> io::Result<Epoll> {
        retry(|| Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC))
    }

    /// `epoll_ctl(ep, EPOLL_CTL_ADD, fd, {events, data})` — watches `fd`.
    ///
    /// # References
    /// [man7 epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    pub(crate) fn epoll_add(
        ep: &Epoll,
        fd: BorrowedFd<'_>,
        events: EpollFlags,
        data: u64,
    ) -> io::Result<()> {
        retry(|| ep.add(fd, EpollEvent::new(events, data)))
    }

    /// `epoll_ctl(ep, EPOLL_CTL_MOD, fd, {events, data})` — changes what `fd` is watched for.
    ///
    /// # References
    /// [man7 epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    pub(crate) fn epoll_modify(
        ep: &Epoll,
        fd: BorrowedFd<'_>,
        events: EpollFlags,
        data: u64,
    ) -> io::Result<()> {
        retry(|| ep.modify(fd, &mut EpollEvent::new(events, data)))
    }

    /// `epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL)` — stops watching `fd`.
    ///
    /// # References
    /// [man7 epoll_ctl(2)](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    pub(crate) fn epoll_delete(ep: &Epoll, fd: BorrowedFd<'_>) -> io::Result<()> {
        retry(|| ep.delete(fd))
    }

    /// `epoll_wait(ep, events, len, timeout_ms)` — sleeps until some fd is ready (or the
    /// timeout, -1 = none); returns how many entries of `events` it filled.
    ///
    /// # References
    /// [man7 epoll_wait(2)](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
    pub(crate) fn epoll_wait(
        ep: &Epoll,
        events: &mut [EpollEvent],
        timeout_ms: u32,
    ) -> io::Result<usize> {
        let timeout = EpollTimeout::try_from(timeout_ms).unwrap_or(EpollTimeout::NONE);
        retry(|| ep.wait(events, timeout))
    }

    /// `eventfd(0, EFD_CLOEXEC | flags)` — a counter other threads (or an io_uring) signal.
    ///
    /// # References
    /// [man7 eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
    pub(crate) fn eventfd(nonblocking: bool) -> io::Result<Fd> {
        let mut flags = EfdFlags::EFD_CLOEXEC;
        if nonblocking {
            flags |= EfdFlags::EFD_NONBLOCK;
        }
        let efd = retry(|| nix::sys::eventfd::EventFd::from_flags(flags))?;
        Ok(efd.into())
    }

    /// `write(efd, &1u64, 8)` — adds one to an eventfd's counter, waking its waiters.
    ///
    /// # References
    /// [man7 eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
    pub(crate) fn eventfd_signal(efd: BorrowedFd<'_>) -> io::Result<()> {
        super::fs::write(efd, &1u64.to_ne_bytes()).map(drop)
    }

    /// `read(efd, &u64, 8)` — takes (and resets) an eventfd's counter; `EAGAIN` when it is 0
    /// and the eventfd is non-blocking.
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
        let _ = nix::sched::sched_yield();
    }

    /// `poll([{a, POLLIN}, {b, POLLIN}], 2, -1)` — sleeps until `a` or `b` is readable;
    /// returns which are (an error or hang-up counts as readable: the next call reports it).
    ///
    /// # References
    /// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
    pub(crate) fn wait_readable2(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<(bool, bool)> {
        let mut p = [
            PollFd::new(a, PollFlags::POLLIN),
            PollFd::new(b, PollFlags::POLLIN),
        ];
        retry(|| nix::poll::poll(&mut p, PollTimeout::NONE))?;
        let ready = |p: &PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
        Ok((ready(&p[0]), ready(&p[1])))
    }
}

/// Signals: SIGPIPE kept off the worker threads.
pub(crate) mod process {
    use std::io;

    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

    /// `pthread_sigmask(SIG_BLOCK, {SIGPIPE}, NULL)` — blocks SIGPIPE for this thread only.
    ///
    /// # References
    /// [man7 pthread_sigmask(3)](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
    pub(crate) fn block_sigpipe() -> io::Result<()> {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(io::Error::from)
    }

    /// `sigtimedwait({SIGPIPE}, NULL, {0, 0})` — consumes a SIGPIPE pending for this thread, if
    /// any, without waiting (libc only: nix has no `sigtimedwait`).
    ///
    /// # References
    /// [man7 sigtimedwait(2)](https://man7.org/linux/man-pages/man2/sigtimedwait.2.html)
    pub(crate) fn consume_sigpipe() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `set` and `zero` are valid for the call; EAGAIN (nothing pending) is fine.
        unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
    }
}

/// Pipes for the uring model's spliced bodies.
pub(crate) mod pipe {
    use std::io;
    use std::os::fd::BorrowedFd;

    use nix::fcntl::{FcntlArg, OFlag};

    use super::fs::Fd;
    use super::retry;

    /// `pipe2(fds, O_CLOEXEC)` — a new pipe, as (read end, write end).
    ///
    /// # References
    /// [man7 pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html)
    pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
        retry(|| nix::unistd::pipe2(OFlag::O_CLOEXEC))
    }

    /// `fcntl(fd, F_SETPIPE_SZ, size)` — resizes a pipe; returns the capacity the kernel gave.
    ///
    /// # References
    /// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
    pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
        let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        retry(|| nix::fcntl::fcntl(fd, FcntlArg::F_SETPIPE_SZ(size))).map(|n| n as usize)
    }
}

/// Buffers for direct (O_DIRECT) bodies.
pub(crate) mod mm {
    use std::ffi::c_void;
    use std::io;
    use std::num::NonZeroUsize;
    use std::ptr::NonNull;

    use nix::sys::mman::{MapFlags, ProtFlags};

    /// An anonymous private mapping used as an I/O buffer (page-aligned, as O_DIRECT needs):
    /// `mmap(MAP_PRIVATE | MAP_ANONYMOUS)`, and `munmap` on drop. Zero-filled by the kernel;
    /// never backed by a file, so reading it is always safe.
    #[derive(Debug)]
    pub(crate) struct AnonBuffer {
        ptr: NonNull<c_void>,
        len: NonZeroUsize,
    }

    // SAFETY: the mapping is private to this value, like a `Box<[u8]>`: moving it to another
    // thread moves its only owner.
    unsafe impl Send for AnonBuffer {}

    impl AnonBuffer {
        /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`.
        ///
        /// # References
        /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
        pub(crate) fn new(len: usize) -> io::Result<AnonBuffer> {
            let len = NonZeroUsize::new(len).unwrap_or(NonZeroUsize::MIN);
            let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
            // SAFETY: a new anonymous mapping at an address the kernel picks overlaps nothing
            // of ours.
            let ptr =
                unsafe { nix::sys::mman::mmap_anonymous(None, len, prot, MapFlags::MAP_PRIVATE) }
                    .map_err(io::Error::from)?;
            Ok(AnonBuffer { ptr, len })
        }

        /// The buffer's length in bytes.
        pub(crate) fn len(&self) -> usize {
            self.len.get()
        }

        /// The buffer as a byte slice.
        pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
            // SAFETY: `ptr..ptr+len` is our private read/write mapping, initialised (zero-filled
            // by the kernel), alive until drop, and borrowed mutably through `&mut self` only.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast(), self.len.get()) }
        }
    }

    impl Drop for AnonBuffer {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, unmapped once here; no slice of it outlives
            // `self`.
            let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len.get()) };
        }
    }
}

/// The io_uring of the uring model and of the reactor's direct reads, over the `io-uring` crate.
pub(crate) mod uring {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    use io_uring::{cqueue, squeue, IoUring};

    /// An io_uring instance.
    pub(crate) struct Ring {
        ring: IoUring,
    }

    impl Ring {
        /// `io_uring_setup(entries, &params)` and the `mmap`s of its rings.
        ///
        /// # References
        /// [man7 io_uring_setup(2)](https://man7.org/linux/man-pages/man2/io_uring_setup.2.html)
        pub(crate) fn new(entries: u32) -> io::Result<Ring> {
            Ok(Ring {
                ring: IoUring::new(entries)?,
            })
        }

        /// Queues one submission.
        ///
        /// # Safety
        /// Every buffer and fd the entry names must stay valid until its completion is reaped.
        pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
            // SAFETY: the caller keeps the entry's buffers alive until its completion.
            unsafe { self.ring.submission().push(entry) }
                .map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))
        }

        /// `io_uring_enter(fd, to_submit, want, GETEVENTS)` — submits what is queued and waits
        /// for `want` completions (retried on EINTR).
        ///
        /// # References
        /// [man7 io_uring_enter(2)](https://man7.org/linux/man-pages/man2/io_uring_enter.2.html)
        pub(crate) fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
            loop {
                match self.ring.submit_and_wait(want) {
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    r => return r,
                }
            }
        }

        /// `io_uring_enter(fd, to_submit, 0, 0)` — submits what is queued without waiting.
        ///
        /// # References
        /// [man7 io_uring_enter(2)](https://man7.org/linux/man-pages/man2/io_uring_enter.2.html)
        pub(crate) fn submit(&mut self) -> io::Result<usize> {
            loop {
                match self.ring.submit() {
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    r => return r,
                }
            }
        }

        /// `io_uring_register(fd, IORING_REGISTER_EVENTFD, &efd, 1)` — the kernel signals `efd`
        /// whenever a completion is posted, so an epoll loop can wait for the ring.
        ///
        /// # References
        /// [man7 io_uring_register(2)](https://man7.org/linux/man-pages/man2/io_uring_register.2.html)
        pub(crate) fn register_eventfd(&mut self, efd: BorrowedFd<'_>) -> io::Result<()> {
            self.ring.submitter().register_eventfd(efd.as_raw_fd())
        }

        /// Whether the submission queue has no free entry.
        pub(crate) fn sq_full(&mut self) -> bool {
            self.ring.submission().is_full()
        }

        /// The completions available now (no syscall).
        pub(crate) fn completions(&mut self) -> Vec<cqueue::Entry> {
            self.ring.completion().collect()
        }
    }
}
