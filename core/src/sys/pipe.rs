//! Pipe syscalls: `pipe2`, `F_SETPIPE_SZ`, `splice`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::fs::Fd;
use super::{cvt, cvt_len, OffArg};

/// `pipe2(fds, O_CLOEXEC)` — a new pipe, as (read end, write end).
///
/// # References
/// [man7 pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html)
pub(crate) fn pipe() -> io::Result<(Fd, Fd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for writes of two ints.
    cvt(|| unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe { (Fd::from_raw(fds[0]), Fd::from_raw(fds[1])) })
}

/// `fcntl(fd, F_SETPIPE_SZ, size)` — resizes a pipe; returns the capacity the kernel gave.
///
/// # References
/// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<usize> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ takes an int and touches no memory.
    cvt(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) }).map(|n| n as usize)
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
    let (pi, po) = (oi.ptr(), oo.ptr());
    // SAFETY: each pointer is null or points into an OffArg that outlives the call.
    let n = cvt_len(|| unsafe {
        libc::splice(fd_in.as_raw_fd(), pi, fd_out.as_raw_fd(), po, len, flags)
    })?;
    oi.finish();
    oo.finish();
    Ok(n)
}
