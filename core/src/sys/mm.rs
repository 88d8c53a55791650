//! Memory-mapping syscalls: `mmap`, `munmap`, `mincore`, `mlock`, `msync`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use super::{bump, cvt};

/// `mmap(NULL, len, prot, flags, fd, offset)` (fd -1 and offset 0 without `fd`), counted and
/// retried on `EINTR`: a new mapping at an address of the kernel's choice. Every mapping type
/// below is made by it and undone by [`unmap`].
///
/// # References
/// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
fn map_new(
    len: usize,
    prot: libc::c_int,
    flags: libc::c_int,
    fd: Option<BorrowedFd<'_>>,
    offset: u64,
) -> io::Result<NonNull<u8>> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    let raw_fd = fd.map_or(-1, |fd| fd.as_raw_fd());
    loop {
        bump();
        // SAFETY: a new mapping at an address of the kernel's choice aliases nothing of ours.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, raw_fd, off) };
        if p != libc::MAP_FAILED {
            return NonNull::new(p.cast::<u8>())
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// `munmap(ptr, len)`, counted; it can only fail for arguments the types below never pass.
///
/// # Safety
/// `ptr..ptr+len` is a mapping made by [`map_new`], unmapped exactly once (here).
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller's contract.
    let _ = cvt(|| unsafe { libc::munmap(ptr.as_ptr().cast(), len) });
}

/// A read-only shared mapping of a window of a file, unmapped (counted) on drop.
///
/// # Safety (type level)
/// The pages of a file mapping can vanish under us: if another process truncates the file, any
/// user-space load from a page past the new end raises `SIGBUS`. So the engine never dereferences
/// a `Mapping`: it only hands its address to syscalls (`write`), where the kernel turns such a
/// fault into `EFAULT` or a short count. Code that holds a `Mapping` must keep it that way.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, offset)`; `offset` must be page aligned and
    /// `len` non-zero.
    ///
    /// # References
    /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Mapping> {
        let ptr = map_new(len, libc::PROT_READ, libc::MAP_SHARED, Some(fd), offset)?;
        Ok(Mapping { ptr, len })
    }

    /// The mapping's address, to be passed to syscalls only (see the type's Safety).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `mlock(addr, len)` over the whole mapping: faults its pages in (reading them into the
    /// page cache) and keeps them in memory until unlocked or unmapped (the drop unmaps, which
    /// unlocks). Nothing in user space touches the pages, so a file truncated meanwhile cannot
    /// raise `SIGBUS`: the kernel only drops the pages past its new end.
    ///
    /// # References
    /// [man7 mlock(2)](https://man7.org/linux/man-pages/man2/mlock.2.html)
    pub(crate) fn lock(&self) -> io::Result<()> {
        // SAFETY: the range is our mapping; mlock reads no memory of ours.
        cvt(|| unsafe { libc::mlock(self.ptr.as_ptr().cast(), self.len) }).map(drop)
    }
}

// SAFETY: a Mapping is an address and a length owned by one value: nothing in it is tied to a
// thread, its pages are never dereferenced (the type's Safety), and munmap may run on any thread.
unsafe impl Send for Mapping {}
// SAFETY: as for Send; `&Mapping` only gives the address and length to read.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `map_new` when `self` was made, unmapped once here.
        unsafe { unmap(self.ptr, self.len) }
    }
}

/// The system page size.
pub(crate) fn page_size() -> u64 {
    // sysconf(_SC_PAGESIZE) is answered by libc from the auxiliary vector: no syscall.
    // SAFETY: sysconf touches no memory.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// An anonymous private mapping used as an I/O buffer: `mmap(MAP_PRIVATE | MAP_ANONYMOUS)` and a
/// counted `munmap` on drop, so a buffer costs syscalls the Report sees (an allocation through
/// malloc would make uncounted ones). Zero-filled by the kernel; never backed by a file, so
/// reading it is always safe.
#[derive(Debug)]
pub(crate) struct AnonBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl AnonBuffer {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`; `len > 0`.
    ///
    /// # References
    /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn new(len: usize) -> io::Result<AnonBuffer> {
        let len = len.max(1);
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let ptr = map_new(len, libc::PROT_READ | libc::PROT_WRITE, flags, None, 0)?;
        Ok(AnonBuffer { ptr, len })
    }

    /// The buffer's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The buffer as a byte slice.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr..ptr+len` is our private read/write mapping, initialised (zero-filled by
        // the kernel), alive until drop, and borrowed mutably through `&mut self` only.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AnonBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `map_new` when `self` was made, unmapped once here.
        unsafe { unmap(self.ptr, self.len) }
    }
}

/// A `PROT_NONE` shared mapping of a file window, only to ask [`Probe::mincore`] about it:
/// nothing can read its pages, so it can never fault.
#[derive(Debug)]
pub(crate) struct Probe {
    ptr: NonNull<u8>,
    len: usize,
}

impl Probe {
    /// `mmap(NULL, len, PROT_NONE, MAP_SHARED, fd, offset)`; `offset` page aligned, `len > 0`.
    ///
    /// # References
    /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Probe> {
        let ptr = map_new(len, libc::PROT_NONE, libc::MAP_SHARED, Some(fd), offset)?;
        Ok(Probe { ptr, len })
    }

    /// `mincore(addr, len, vec)` — one byte per page of the window into `vec` (bit 0 set:
    /// resident). `vec` must hold at least `len / page` bytes, rounded up.
    ///
    /// # References
    /// [man7 mincore(2)](https://man7.org/linux/man-pages/man2/mincore.2.html)
    pub(crate) fn mincore(&self, vec: &mut [u8]) -> io::Result<()> {
        let pages = self.len.div_ceil(page_size() as usize);
        if vec.len() < pages {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: the window is our mapping; `vec` holds one byte per page of it.
        cvt(|| unsafe { libc::mincore(self.ptr.as_ptr().cast(), self.len, vec.as_mut_ptr()) })
            .map(drop)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `map_new` when `self` was made, unmapped once here.
        unsafe { unmap(self.ptr, self.len) }
    }
}
