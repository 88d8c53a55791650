//! Memory-mapping syscalls: `mmap`, `munmap`, `mincore`, `mlock`, `msync`.

use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use memmap2::{MmapMut, MmapOptions, MmapRaw};
use nix::sys::mman::{MapFlags, ProtFlags};

use super::{bump, cvt, retry};

/// `mmap(NULL, len, prot, flags, fd, offset)` through `nix`, counted and retried on `EINTR`: a
/// new shared mapping at an address of the kernel's choice, for the one kind memmap2 cannot
/// make (`PROT_NONE`, [`Probe`]). Undone by [`unmap`].
///
/// # References
/// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
fn map_new(
    len: usize,
    prot: ProtFlags,
    fd: BorrowedFd<'_>,
    offset: u64,
) -> io::Result<NonNull<u8>> {
    let off = i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    let len = NonZeroUsize::new(len).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a new mapping at an address of the kernel's choice aliases nothing of ours.
    let p =
        retry(|| unsafe { nix::sys::mman::mmap(None, len, prot, MapFlags::MAP_SHARED, fd, off) })?;
    Ok(p.cast::<u8>())
}

/// `munmap(ptr, len)` through `nix`, counted; it can only fail for arguments the types below
/// never pass.
///
/// # Safety
/// `ptr..ptr+len` is a mapping made by [`map_new`], unmapped exactly once (here).
unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller's contract.
    let _ = retry(|| unsafe { nix::sys::mman::munmap(ptr.cast(), len) });
}

/// A read-only shared mapping of a window of a file, unmapped (counted) on drop: memmap2's
/// [`MmapRaw`], the one mapping type of that crate that never hands out a reference to its
/// pages (only raw pointers), so the rule below holds by construction.
///
/// # Safety (type level)
/// The pages of a file mapping can vanish under us: if another process truncates the file, any
/// user-space load from a page past the new end raises `SIGBUS`. So the engine never dereferences
/// a `Mapping`: it only hands its address to syscalls (`write`), where the kernel turns such a
/// fault into `EFAULT` or a short count. Code that holds a `Mapping` must keep it that way.
#[derive(Debug)]
pub(crate) struct Mapping {
    map: MmapRaw,
}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, offset)` (memmap2's
    /// `MmapOptions::map_raw_read_only`), counted; `offset` must be page aligned and `len`
    /// non-zero.
    ///
    /// # References
    /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Mapping> {
        bump();
        let map = MmapOptions::new()
            .offset(offset)
            .len(len)
            .map_raw_read_only(fd.as_raw_fd())?;
        Ok(Mapping { map })
    }

    /// The mapping's address, to be passed to syscalls only (see the type's Safety).
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// `mlock(addr, len)` over the whole mapping (memmap2's `lock`): faults its pages in
    /// (reading them into the page cache) and keeps them in memory until unlocked or unmapped
    /// (the drop unmaps, which unlocks). Nothing in user space touches the pages, so a file
    /// truncated meanwhile cannot raise `SIGBUS`: the kernel only drops the pages past its new
    /// end.
    ///
    /// # References
    /// [man7 mlock(2)](https://man7.org/linux/man-pages/man2/mlock.2.html)
    pub(crate) fn lock(&self) -> io::Result<()> {
        bump();
        self.map.lock()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // The munmap itself is made by the MmapRaw field, dropped right after this.
        bump();
    }
}

/// The system page size, asked of libc once per process (every transfer from a file asks it).
pub(crate) fn page_size() -> u64 {
    static PAGE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let known = PAGE.load(std::sync::atomic::Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    // sysconf(_SC_PAGESIZE) is answered by libc from the auxiliary vector: no syscall.
    // SAFETY: sysconf touches no memory.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let n = if n > 0 { n as u64 } else { 4096 };
    PAGE.store(n, std::sync::atomic::Ordering::Relaxed);
    n
}

/// An anonymous private mapping used as an I/O buffer: `mmap(MAP_PRIVATE | MAP_ANONYMOUS)` and a
/// counted `munmap` on drop (memmap2's [`MmapMut::map_anon`]), so a buffer costs syscalls the
/// Report sees (an allocation through malloc would make uncounted ones). Zero-filled by the
/// kernel; never backed by a file, so reading it is always safe.
#[derive(Debug)]
pub(crate) struct AnonBuffer {
    map: MmapMut,
}

impl AnonBuffer {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)`; `len > 0`.
    ///
    /// # References
    /// [man7 mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)
    pub(crate) fn new(len: usize) -> io::Result<AnonBuffer> {
        bump();
        let map = MmapMut::map_anon(len.max(1))?;
        Ok(AnonBuffer { map })
    }

    /// The buffer's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The buffer as a byte slice.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map[..]
    }
}

impl Drop for AnonBuffer {
    fn drop(&mut self) {
        // The munmap itself is made by the MmapMut field, dropped right after this.
        bump();
    }
}

/// A `PROT_NONE` shared mapping of a file window, only to ask [`Probe::mincore`] about it:
/// nothing can read its pages, so it can never fault. (memmap2 makes no `PROT_NONE` mapping,
/// hence nix's `mmap`.)
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
        let ptr = map_new(len, ProtFlags::PROT_NONE, fd, offset)?;
        Ok(Probe { ptr, len })
    }

    /// `mincore(addr, len, vec)` — one byte per page of the window into `vec` (bit 0 set:
    /// resident). `vec` must hold at least `len / page` bytes, rounded up. (Not in nix.)
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
