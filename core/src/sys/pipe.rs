//! Pipe syscalls: `pipe2`, `F_SETPIPE_SZ`, `splice` (through `nix`).

use std::io;
use std::os::fd::BorrowedFd;

use nix::fcntl::{fcntl, FcntlArg, OFlag, SpliceFFlags};

use super::fs::Fd;
use super::{retry, OffArg};

/// `pipe2(fds, O_CLOEXEC)` — a new pipe, as (read end, write end).
///
/// # References
/// [man7 pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html)
pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    let (r, w) = retry(|| nix::unistd::pipe2(OFlag::O_CLOEXEC))?;
    Ok((Fd::from_owned(r), Fd::from_owned(w)))
}

/// `fcntl(fd, F_SETPIPE_SZ, size)` — resizes a pipe; returns the capacity the kernel gave.
///
/// # References
/// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    retry(|| fcntl(fd, FcntlArg::F_SETPIPE_SZ(size))).map(|n| n as usize)
}

/// `splice(fd_in, off_in, fd_out, off_out, len, flags)` — moves up to `len` bytes between two
/// fds, one of which must be a pipe, by page reference where the kernel can. An offset of `None`
/// uses and advances that fd's position (and must be `None` for a pipe).
///
/// # References
/// [man7 splice(2)](https://man7.org/linux/man-pages/man2/splice.2.html)
pub(crate) fn splice(
    fd_in: BorrowedFd<'_>,
    off_in: Option<&mut u64>,
    fd_out: BorrowedFd<'_>,
    off_out: Option<&mut u64>,
    len: usize,
    flags: u32,
) -> io::Result<usize> {
    let (mut oi, mut oo) = (OffArg::new(off_in)?, OffArg::new(off_out)?);
    let flags = SpliceFFlags::from_bits_retain(flags);
    let n = retry(|| nix::fcntl::splice(fd_in, oi.arg(), fd_out, oo.arg(), len, flags))?;
    oi.finish();
    oo.finish();
    Ok(n)
}
