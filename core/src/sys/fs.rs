//! File syscalls: read/write, positioned I/O, metadata, `sendfile`, `copy_file_range`, `FICLONERANGE`.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use nix::fcntl::{FallocateFlags, FcntlArg, OFlag, PosixFadviseAdvice, AT_FDCWD};
use nix::sys::stat::Mode;
use nix::unistd::Whence;

use super::{bump, cvt, cvt_len, retry, OffArg};

/// An fd the engine opened itself (a destination it created, an internal pipe end).
/// Dropping it calls the counted `close`.
///
/// It holds the raw fd rather than std's `OwnedFd`: in builds with debug assertions (the
/// tests), `OwnedFd`'s drop first checks the fd with an `fcntl(F_GETFD)` of its own, a syscall
/// the Report would not see. The fds `nix` returns as `OwnedFd` are taken over at once
/// ([`Fd::from_owned`]), never dropped as `OwnedFd`.
#[derive(Debug)]
pub(crate) struct Fd(RawFd);

impl Fd {
    /// Takes ownership of `raw`.
    ///
    /// # Safety
    /// `raw` must be an open fd that nothing else owns or will close.
    pub(crate) unsafe fn from_raw(raw: RawFd) -> Self {
        Fd(raw)
    }

    /// Takes ownership of an fd a `nix` call returned (no syscall).
    pub(crate) fn from_owned(fd: OwnedFd) -> Self {
        Fd(fd.into_raw_fd())
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `self.0` is open for as long as `self` lives (closed only in Drop).
        unsafe { BorrowedFd::borrow_raw(self.0) }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        bump();
        // SAFETY: we own the fd (Fd::from_raw's contract) and close it exactly once. The result
        // is ignored, like std's OwnedFd: the fd is released whatever close(2) returns.
        unsafe { libc::close(self.0) };
    }
}

/// `read(fd, buf, len)` — reads at the fd's position and advances it.
///
/// # References
/// [man7 read(2)](https://man7.org/linux/man-pages/man2/read.2.html)
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    retry(|| nix::unistd::read(fd, buf))
}

/// `preadv2(fd, [buf], 1, offset or -1, flags)` — reads at `offset` (`None`: at the fd's
/// position, advancing it) with per-call flags such as `RWF_DONTCACHE` (`EOPNOTSUPP` where the
/// kernel or filesystem lacks one).
///
/// # References
/// [man7 preadv2(2)](https://man7.org/linux/man-pages/man2/preadv2.2.html)
pub(crate) fn preadv2(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: Option<u64>,
    flags: i32,
) -> io::Result<usize> {
    let off = match offset {
        Some(o) => to_off(o)?,
        None => -1,
    };
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid for writes of its length for the whole call.
    cvt_len(|| unsafe { rw2(libc::SYS_preadv2, fd, &iov, off, flags) })
}

/// `pwritev2(fd, [buf], 1, offset or -1, flags)` — writes at `offset` (`None`: at the fd's
/// position, advancing it) with per-call flags such as `RWF_DONTCACHE`.
///
/// # References
/// [man7 pwritev2(2)](https://man7.org/linux/man-pages/man2/pwritev2.2.html)
pub(crate) fn pwritev2(
    fd: BorrowedFd<'_>,
    buf: &[u8],
    offset: Option<u64>,
    flags: i32,
) -> io::Result<usize> {
    let off = match offset {
        Some(o) => to_off(o)?,
        None => -1,
    };
    let iov = libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid for reads of its length; the kernel only reads it.
    cvt_len(|| unsafe { rw2(libc::SYS_pwritev2, fd, &iov, off, flags) })
}

/// `preadv2` or `pwritev2` (`nr`) of one iovec through syscall(2): glibc has them from 2.26 only,
/// and the wheel (scripts/wheel.sh) runs on glibc 2.17. The raw syscall takes the offset as two
/// longs, low then high: on a 64-bit kernel the whole offset, then 0.
///
/// # Safety
/// `iov` must describe memory valid for what `nr` does with it (written by preadv2, read by
/// pwritev2) for the whole call.
unsafe fn rw2(
    nr: libc::c_long,
    fd: BorrowedFd<'_>,
    iov: &libc::iovec,
    off: i64,
    flags: i32,
) -> libc::ssize_t {
    let iov: *const libc::iovec = iov;
    // SAFETY: the caller vouches for `iov`'s memory; every other argument is a plain value.
    let r = unsafe {
        libc::syscall(
            nr,
            libc::c_long::from(fd.as_raw_fd()),
            iov,
            1 as libc::c_long,
            off as libc::c_long,
            0 as libc::c_long,
            libc::c_long::from(flags),
        )
    };
    r as libc::ssize_t
}

/// `statx(fd, "", AT_EMPTY_PATH, mask, stx)` through syscall(2): glibc has it from 2.28 only,
/// and the wheel (scripts/wheel.sh) runs on glibc 2.17.
///
/// # Safety
/// `stx` must be valid for writes of one `statx` for the whole call.
unsafe fn statx_empty_path(fd: BorrowedFd<'_>, mask: u32, stx: *mut libc::statx) -> libc::c_long {
    // SAFETY: the empty path is a NUL-terminated literal; the caller vouches for `stx`.
    unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::c_long::from(fd.as_raw_fd()),
            c"".as_ptr(),
            libc::c_long::from(libc::AT_EMPTY_PATH),
            libc::c_long::from(mask),
            stx,
        )
    }
}

/// `pread(fd, buf, len, offset)` — reads at `offset`; the fd's position is untouched.
///
/// # References
/// [man7 pread(2)](https://man7.org/linux/man-pages/man2/pread.2.html)
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let off = to_off(offset)?;
    retry(|| nix::sys::uio::pread(fd, buf, off))
}

/// `memfd_create(name, MFD_CLOEXEC)` — a new anonymous file in memory, empty, close-on-exec.
/// Through `syscall(2)`: glibc has the wrapper from 2.27 only, and the Python wheel runs on 2.17.
///
/// # References
/// [man7 memfd_create(2)](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
pub(crate) fn memfd_create(name: &CStr) -> io::Result<Fd> {
    // SAFETY: `name` is a valid NUL-terminated string for the whole call; nothing else is read.
    let raw = cvt(|| unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            name.as_ptr(),
            libc::c_long::from(libc::MFD_CLOEXEC),
        )
    })?;
    let raw = RawFd::try_from(raw).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(unsafe { Fd::from_raw(raw) })
}

/// `write(fd, buf, len)` — writes at the fd's position (or its end under `O_APPEND`).
///
/// # References
/// [man7 write(2)](https://man7.org/linux/man-pages/man2/write.2.html)
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    retry(|| nix::unistd::write(fd, buf))
}

/// `pwritev2(fd, [buf], 1, -1, RWF_NOWAIT)` — writes at the fd's position what fits without
/// waiting (`EAGAIN` when nothing does), whatever the fd's `O_NONBLOCK`: a full pipe or a
/// stalled socket is then waited for in ticks the stop hook can end (`sys::stop`).
///
/// # References
/// [man7 pwritev2(2)](https://man7.org/linux/man-pages/man2/pwritev2.2.html)
pub(crate) fn write_nowait(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length for the whole call.
    unsafe { write_raw_nowait(fd, buf.as_ptr(), buf.len()) }
}

/// [`write_nowait`] from memory the caller vouches for (a mapping), as [`write_raw`].
///
/// # Safety
/// `ptr..ptr+len` must be a mapped range of this process for the whole call.
///
/// # References
/// [man7 pwritev2(2)](https://man7.org/linux/man-pages/man2/pwritev2.2.html)
pub(crate) unsafe fn write_raw_nowait(
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: ptr.cast_mut().cast(),
        iov_len: len,
    };
    // SAFETY: `iov` describes a range the caller guarantees mapped; the kernel only reads it
    // and handles unreadable pages (a short count or EFAULT).
    cvt_len(|| unsafe { rw2(libc::SYS_pwritev2, fd, &iov, -1, libc::RWF_NOWAIT) })
}

/// `write(fd, ptr, len)` from memory the caller vouches for (a mapping).
///
/// The kernel copies from `ptr`; a page that cannot be read (a mapping past a truncated file's
/// end) makes the call return a short count or `EFAULT`, never a signal.
///
/// # Safety
/// `ptr..ptr+len` must be a mapped range of this process for the whole call.
///
/// # References
/// [man7 write(2)](https://man7.org/linux/man-pages/man2/write.2.html)
pub(crate) unsafe fn write_raw(
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
) -> io::Result<usize> {
    // SAFETY: the caller guarantees the range is mapped; the kernel handles unreadable pages.
    cvt_len(|| unsafe { libc::write(fd.as_raw_fd(), ptr.cast(), len) })
}

/// `pwrite(fd, buf, len, offset)` — writes at `offset`; the fd's position is untouched.
///
/// # References
/// [man7 pwrite(2)](https://man7.org/linux/man-pages/man2/pwrite.2.html)
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    let off = to_off(offset)?;
    retry(|| nix::sys::uio::pwrite(fd, buf, off))
}

/// `pwrite(fd, ptr, len, offset)` from memory the caller vouches for (a mapping).
///
/// # Safety
/// As [`write_raw`].
pub(crate) unsafe fn pwrite_raw(
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
    offset: u64,
) -> io::Result<usize> {
    let off = to_off(offset)?;
    // SAFETY: the caller guarantees the range is mapped; the kernel handles unreadable pages.
    cvt_len(|| unsafe { libc::pwrite(fd.as_raw_fd(), ptr.cast(), len, off) })
}

/// `fstat(fd, &st)` — the fd's type, size, device and inode.
///
/// # References
/// [man7 fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    retry(|| nix::sys::stat::fstat(fd))
}

/// `stat(path, &st)` (as `fstatat(AT_FDCWD, path, &st, 0)`, following symlinks) — what a path
/// names, without opening it (an open of a FIFO blocks until its other end opens).
///
/// # References
/// [man7 stat(2)](https://man7.org/linux/man-pages/man2/stat.2.html)
pub(crate) fn stat(path: &CStr) -> io::Result<libc::stat> {
    let follow = nix::fcntl::AtFlags::empty();
    retry(|| nix::sys::stat::fstatat(AT_FDCWD, path, follow))
}

/// `STATX_MNT_ID_UNIQUE` (Linux 6.8): a mount id never reused while the system runs. Not in
/// the libc crate yet.
const STATX_MNT_ID_UNIQUE: u32 = 0x4000;

/// Set once `statx` turned out unusable here (an old kernel, a seccomp filter): then `fstat`.
static NO_STATX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What `fstat` gives, and the fd's mount's unique id (0 when the kernel does not tell, before
/// Linux 6.8): `statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_MNT_ID_UNIQUE)`, one
/// syscall like `fstat` and as fast (measured here: 409 against 414 ns). Falls back to `fstat`
/// (and stays there) when statx is refused with ENOSYS or EPERM.
///
/// # References
/// [man7 statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html)
pub(crate) fn fstat_mount(fd: BorrowedFd<'_>) -> io::Result<(libc::stat, u64)> {
    use std::sync::atomic::Ordering;
    if !NO_STATX.load(Ordering::Relaxed) {
        let mut stx = MaybeUninit::<libc::statx>::zeroed();
        // SAFETY: the empty path is a valid C string; `stx` is valid for writes of one statx.
        let r = cvt(|| unsafe {
            statx_empty_path(
                fd,
                libc::STATX_BASIC_STATS | STATX_MNT_ID_UNIQUE,
                stx.as_mut_ptr(),
            )
        });
        match r {
            Ok(_) => {
                // SAFETY: statx succeeded; the struct was zeroed, so fields it did not fill
                // are 0.
                let x = unsafe { stx.assume_init() };
                let mnt = if x.stx_mask & STATX_MNT_ID_UNIQUE != 0 {
                    x.stx_mnt_id
                } else {
                    0
                };
                // A filesystem that leaves out a field the engine uses: ask fstat for them.
                let needed =
                    libc::STATX_TYPE | libc::STATX_SIZE | libc::STATX_BLOCKS | libc::STATX_MTIME;
                if x.stx_mask & needed != needed {
                    return fstat(fd).map(|st| (st, mnt));
                }
                // SAFETY: `stat` is plain integers, for which all-zero bytes are valid.
                let mut st: libc::stat = unsafe { MaybeUninit::zeroed().assume_init() };
                st.st_mode = u32::from(x.stx_mode);
                st.st_size = x.stx_size as i64;
                st.st_dev = libc::makedev(x.stx_dev_major, x.stx_dev_minor);
                st.st_rdev = libc::makedev(x.stx_rdev_major, x.stx_rdev_minor);
                st.st_ino = x.stx_ino;
                st.st_nlink = u64::from(x.stx_nlink);
                st.st_uid = x.stx_uid;
                st.st_gid = x.stx_gid;
                st.st_blksize = i64::from(x.stx_blksize);
                st.st_blocks = x.stx_blocks as i64;
                st.st_mtime = x.stx_mtime.tv_sec;
                st.st_mtime_nsec = i64::from(x.stx_mtime.tv_nsec);
                return Ok((st, mnt));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_STATX.store(true, Ordering::Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    fstat(fd).map(|st| (st, 0))
}

/// `fcntl(fd, F_GETFL)` — the fd's access mode and status flags.
///
/// # References
/// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn getfl(fd: BorrowedFd<'_>) -> io::Result<i32> {
    retry(|| nix::fcntl::fcntl(fd, FcntlArg::F_GETFL))
}

/// `fcntl(fd, F_SETFL, flags)` — sets the fd's status flags (`O_NONBLOCK`, `O_APPEND`, ...).
///
/// # References
/// [man7 fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
pub(crate) fn setfl(fd: BorrowedFd<'_>, flags: i32) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(flags);
    retry(|| nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(flags))).map(drop)
}

/// `lseek(fd, offset, whence)` — moves (or with `SEEK_CUR` and 0, reads) the fd's position.
///
/// # References
/// [man7 lseek(2)](https://man7.org/linux/man-pages/man2/lseek.2.html)
pub(crate) fn lseek(fd: BorrowedFd<'_>, offset: i64, whence: i32) -> io::Result<u64> {
    let whence = match whence {
        libc::SEEK_SET => Whence::SeekSet,
        libc::SEEK_CUR => Whence::SeekCur,
        libc::SEEK_END => Whence::SeekEnd,
        libc::SEEK_DATA => Whence::SeekData,
        libc::SEEK_HOLE => Whence::SeekHole,
        // What the kernel answers for any other value, without asking it.
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    retry(|| nix::unistd::lseek64(fd, offset, whence)).map(|p| p as u64)
}

/// `sendfile(out_fd, in_fd, offset, count)` — the kernel moves up to `count` bytes from `in_fd`
/// to `out_fd`. With `offset = Some`, reads there and updates it, leaving `in_fd`'s position
/// alone; with `None`, reads at and advances `in_fd`'s position. `out_fd` is always written at
/// its position.
///
/// # References
/// [man7 sendfile(2)](https://man7.org/linux/man-pages/man2/sendfile.2.html)
pub(crate) fn sendfile(
    out_fd: BorrowedFd<'_>,
    in_fd: BorrowedFd<'_>,
    offset: Option<&mut u64>,
    count: usize,
) -> io::Result<usize> {
    let mut off = OffArg::new(offset)?;
    let n = retry(|| nix::sys::sendfile::sendfile64(out_fd, in_fd, off.arg(), count))?;
    off.finish();
    Ok(n)
}

/// `copy_file_range(fd_in, off_in, fd_out, off_out, len, 0)` — an in-kernel copy between two
/// regular files, which filesystems that can share extents (XFS, btrfs) turn into a clone.
/// An offset of `None` uses and advances that fd's position.
///
/// # References
/// [man7 copy_file_range(2)](https://man7.org/linux/man-pages/man2/copy_file_range.2.html)
pub(crate) fn copy_file_range(
    fd_in: BorrowedFd<'_>,
    off_in: Option<&mut u64>,
    fd_out: BorrowedFd<'_>,
    off_out: Option<&mut u64>,
    len: usize,
) -> io::Result<usize> {
    let (mut oi, mut oo) = (OffArg::new(off_in)?, OffArg::new(off_out)?);
    // nix makes it through syscall(2) on Linux, as this crate must: glibc has copy_file_range
    // from 2.27 only (and emulated it in user space in 2.27-2.29), and the wheel
    // (scripts/wheel.sh) runs on glibc 2.17.
    let n = retry(|| nix::fcntl::copy_file_range(fd_in, oi.arg(), fd_out, oo.arg(), len))?;
    oi.finish();
    oo.finish();
    Ok(n)
}

/// `ioctl(dst, FICLONERANGE, {src, src_offset, len, dst_offset})` — makes `dst`'s range share
/// `src`'s extents (a reflink). `len = 0` means "to the end of `src`".
///
/// # References
/// [man7 ioctl_ficlonerange(2)](https://man7.org/linux/man-pages/man2/ioctl_ficlonerange.2.html)
pub(crate) fn ficlonerange(
    src: BorrowedFd<'_>,
    src_offset: u64,
    len: u64,
    dst: BorrowedFd<'_>,
    dst_offset: u64,
) -> io::Result<()> {
    #[repr(C)]
    struct FileCloneRange {
        src_fd: i64,
        src_offset: u64,
        src_length: u64,
        dest_offset: u64,
    }
    // _IOW(0x94, 13, struct file_clone_range)
    const FICLONERANGE: libc::c_ulong = 0x4020_940d;
    let arg = FileCloneRange {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset,
        src_length: len,
        dest_offset: dst_offset,
    };
    // SAFETY: `arg` is a valid file_clone_range the kernel only reads during the call.
    cvt(|| unsafe { libc::ioctl(dst.as_raw_fd(), FICLONERANGE, &arg as *const FileCloneRange) })
        .map(drop)
}

/// `openat(AT_FDCWD, path, flags, mode)` with `O_CLOEXEC` always added.
///
/// # References
/// [man7 open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
pub(crate) fn open(path: &CStr, flags: i32, mode: libc::mode_t) -> io::Result<Fd> {
    let flags = OFlag::from_bits_retain(flags | libc::O_CLOEXEC);
    let mode = Mode::from_bits_retain(mode);
    retry(|| nix::fcntl::openat(AT_FDCWD, path, flags, mode)).map(Fd::from_owned)
}

/// [`open`], where opening a FIFO (which waits for the other end: a writer for a reader, a
/// reader for a writer) can be stopped. Without a stop hook armed, or with one armed without
/// ticks (its caller stops by a signal, whose `EINTR` asks it), exactly [`open`]. With one
/// (see [`super::stop`]): `openat` with `O_NONBLOCK` added; a FIFO opened for writing without a
/// reader fails with `ENXIO` and is retried every tick; a FIFO opened for reading waits in
/// `poll` ticks until a writer has come (Linux reports neither `POLLIN` nor `POLLHUP` before
/// the first writer); then `O_NONBLOCK` is cleared again (`F_SETFL`) on the new fd. Costs
/// `fstat` and `F_SETFL` more than [`open`].
///
/// # References
/// [man7 open(2)](https://man7.org/linux/man-pages/man2/open.2.html),
/// [man7 fifo(7)](https://man7.org/linux/man-pages/man7/fifo.7.html)
pub(crate) fn open_stoppable(path: &CStr, flags: i32, mode: libc::mode_t) -> io::Result<Fd> {
    if !super::stop::cuts_waits() || flags & libc::O_NONBLOCK != 0 {
        return open(path, flags, mode);
    }
    let fd = loop {
        match open(path, flags | libc::O_NONBLOCK, mode) {
            Ok(fd) => break fd,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && is_fifo(path) => {
                super::stop::sleep_tick()?;
            }
            Err(e) => return Err(e),
        }
    };
    let st = fstat(fd.as_fd())?;
    if st.st_mode & libc::S_IFMT == libc::S_IFIFO && flags & libc::O_ACCMODE == libc::O_RDONLY {
        super::stop::poll_ticks(fd.as_fd(), libc::POLLIN)?;
    }
    // F_SETFL changes only the status flags (O_NONBLOCK among them); the rest are ignored.
    setfl(fd.as_fd(), flags)?;
    Ok(fd)
}

/// Whether `path` names a FIFO now (ENXIO from a non-blocking open means "no reader" only then).
fn is_fifo(path: &CStr) -> bool {
    stat(path).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO)
}

/// `ftruncate(fd, len)` — sets the file's size.
///
/// # References
/// [man7 ftruncate(2)](https://man7.org/linux/man-pages/man2/ftruncate.2.html)
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = to_off(len)?;
    retry(|| nix::unistd::ftruncate(fd, len))
}

/// An offset as the kernel's signed `off_t`; offsets past `i64::MAX` are `EOVERFLOW`-like errors.
fn to_off(offset: u64) -> io::Result<i64> {
    i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))
}

/// `fstatfs(fd, &buf)` — the filesystem's type (`f_type`, a magic number).
///
/// # References
/// [man7 fstatfs(2)](https://man7.org/linux/man-pages/man2/fstatfs.2.html)
pub(crate) fn fs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let fs = retry(|| nix::sys::statfs::fstatfs(fd))?;
    Ok(fs.filesystem_type().0)
}

/// The filesystem type (`ext4`, `xfs`, `overlay`, ...) of the mount whose device is `dev`
/// (`st_dev`), as `/proc/self/mountinfo` names it (its third field is the device, the first
/// after ` - ` the type). `None` when procfs is not mounted or no mount has that device (a
/// btrfs subvolume that is not mounted by itself). For messages only: it reads a procfs file
/// through `std` (uncounted syscalls), and is never called during a transfer.
pub(crate) fn mount_fstype(dev: u64) -> Option<String> {
    let want = format!("{}:{}", libc::major(dev), libc::minor(dev));
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let mut fields = line.split(' ');
        if fields.nth(2)? != want {
            return None;
        }
        let mut rest = fields.skip_while(|&f| f != "-");
        rest.next()?;
        rest.next().map(str::to_string)
    })
}

/// `posix_fadvise(fd, offset, len, advice)` — tells the kernel how the range will be used
/// (`len = 0`: to end of file).
///
/// # References
/// [man7 posix_fadvise(2)](https://man7.org/linux/man-pages/man2/posix_fadvise.2.html)
pub(crate) fn fadvise(fd: BorrowedFd<'_>, offset: u64, len: u64, advice: i32) -> io::Result<()> {
    let (off, len) = (to_off(offset)?, to_off(len)?);
    let advice = match advice {
        libc::POSIX_FADV_NORMAL => PosixFadviseAdvice::POSIX_FADV_NORMAL,
        libc::POSIX_FADV_SEQUENTIAL => PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
        libc::POSIX_FADV_RANDOM => PosixFadviseAdvice::POSIX_FADV_RANDOM,
        libc::POSIX_FADV_NOREUSE => PosixFadviseAdvice::POSIX_FADV_NOREUSE,
        libc::POSIX_FADV_WILLNEED => PosixFadviseAdvice::POSIX_FADV_WILLNEED,
        libc::POSIX_FADV_DONTNEED => PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        // What the kernel answers for any other advice, without asking it.
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    // posix_fadvise returns its error instead of setting errno; nix reads it from there.
    retry(|| nix::fcntl::posix_fadvise(fd, off, len, advice))
}

/// `readahead(fd, offset, count)` — starts reading the range into the page cache.
///
/// # References
/// [man7 readahead(2)](https://man7.org/linux/man-pages/man2/readahead.2.html)
pub(crate) fn readahead(fd: BorrowedFd<'_>, offset: u64, count: usize) -> io::Result<()> {
    let off = to_off(offset)?;
    // SAFETY: readahead touches no memory of ours.
    cvt(|| unsafe { libc::readahead(fd.as_raw_fd(), off, count) }).map(drop)
}

/// `sync_file_range(fd, offset, nbytes, WAIT_BEFORE | WRITE | WAIT_AFTER)` — writes the range's
/// dirty pages back and waits for them (`nbytes = 0`: to end of file). Metadata is not synced.
///
/// # References
/// [man7 sync_file_range(2)](https://man7.org/linux/man-pages/man2/sync_file_range.2.html)
pub(crate) fn sync_range(fd: BorrowedFd<'_>, offset: u64, nbytes: u64) -> io::Result<()> {
    let (off, n) = (to_off(offset)?, to_off(nbytes)?);
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: sync_file_range touches no memory of ours.
    cvt(|| unsafe { libc::sync_file_range(fd.as_raw_fd(), off, n, flags) }).map(drop)
}

/// `fdatasync(fd)` — makes the file's data (and the metadata needed to read it) durable.
///
/// # References
/// [man7 fdatasync(2)](https://man7.org/linux/man-pages/man2/fdatasync.2.html)
pub(crate) fn fdatasync(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| nix::unistd::fdatasync(fd))
}

/// `fsync(fd)` — makes the file's data and metadata durable.
///
/// # References
/// [man7 fsync(2)](https://man7.org/linux/man-pages/man2/fsync.2.html)
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    retry(|| nix::unistd::fsync(fd))
}

/// What `cachestat(2)` reports for a range, in pages.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CacheStat {
    pub nr_cache: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_evicted: u64,
    pub nr_recently_evicted: u64,
}

/// `cachestat(fd, {offset, len}, &cs, 0)` — page-cache state of a range (`len = 0`: to end of
/// file). Linux 6.5 and later; older kernels answer `ENOSYS`.
///
/// # References
/// [man7 cachestat(2)](https://man7.org/linux/man-pages/man2/cachestat.2.html)
pub(crate) fn cachestat(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<CacheStat> {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    /// The same number on every architecture (the generic syscall table).
    const SYS_CACHESTAT: libc::c_long = 451;
    let range = Range { off: offset, len };
    let mut cs = CacheStat::default();
    // SAFETY: `range` is read and `cs` written by the kernel during the call only.
    cvt(|| unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &range as *const Range,
            &mut cs as *mut CacheStat,
            0u32,
        )
    })?;
    Ok(cs)
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN)` — the alignment O_DIRECT needs on this file:
/// `Some((memory, offset))` in bytes, `Some((0, 0))` when the file does not support direct I/O,
/// `None` when the kernel or filesystem does not report it (Linux < 6.1, some filesystems).
///
/// # References
/// [man7 statx(2)](https://man7.org/linux/man-pages/man2/statx.2.html)
pub(crate) fn dio_align(fd: BorrowedFd<'_>) -> io::Result<Option<(u32, u32)>> {
    let mut stx = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the empty path is a valid C string; `stx` is valid for writes of one statx.
    cvt(|| unsafe { statx_empty_path(fd, libc::STATX_DIOALIGN, stx.as_mut_ptr()) })?;
    // SAFETY: statx succeeded; the struct was zeroed, so fields it did not fill are 0.
    let stx = unsafe { stx.assume_init() };
    if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    Ok(Some((stx.stx_dio_mem_align, stx.stx_dio_offset_align)))
}

/// Reads a small file whole (a sysfs attribute) through the counted wrappers.
pub(crate) fn read_small(path: &CStr) -> io::Result<Vec<u8>> {
    let fd = open(path, libc::O_RDONLY, 0)?;
    let mut buf = vec![0u8; 64];
    let n = read(fd.as_fd(), &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// `fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, len)` — allocates the blocks of the range without
/// changing the file's size (blocks past the end stay allocated, unread, until written, punched
/// or truncated away). `EOPNOTSUPP` where the filesystem cannot preallocate.
///
/// # References
/// [man7 fallocate(2)](https://man7.org/linux/man-pages/man2/fallocate.2.html)
pub(crate) fn reserve(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    fallocate_mode(fd, libc::FALLOC_FL_KEEP_SIZE, offset, len)
}

fn fallocate_mode(fd: BorrowedFd<'_>, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    let (off, len) = (to_off(offset)?, to_off(len)?);
    let mode = FallocateFlags::from_bits_retain(mode);
    retry(|| nix::fcntl::fallocate(fd, mode, off, len))
}

/// `renameat(AT_FDCWD, from, AT_FDCWD, to)` — moves a directory entry, replacing `to`.
///
/// # References
/// [man7 rename(2)](https://man7.org/linux/man-pages/man2/rename.2.html)
pub(crate) fn rename(from: &CStr, to: &CStr) -> io::Result<()> {
    retry(|| nix::fcntl::renameat(AT_FDCWD, from, AT_FDCWD, to))
}

/// `unlinkat(AT_FDCWD, path, 0)` — removes a file's directory entry.
///
/// # References
/// [man7 unlink(2)](https://man7.org/linux/man-pages/man2/unlink.2.html)
pub(crate) fn unlink(path: &CStr) -> io::Result<()> {
    let file = nix::unistd::UnlinkatFlags::NoRemoveDir;
    retry(|| nix::unistd::unlinkat(AT_FDCWD, path, file))
}

/// The most one `read`, `write`, `sendfile` or `splice` moves (Linux's `MAX_RW_COUNT`: 2 GiB
/// less a page).
pub(crate) const MAX_RW_COUNT: u64 = 0x7fff_f000;
