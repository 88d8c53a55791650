//! The page cache: `zc_residency`, `zc_advise`, `zc_readahead`, `zc_evict`, `zc_warm`.

use std::ffi::c_int;
use std::mem::size_of;

use engine::cache::{self, Advice, Hint, Residency};

use crate::names::Names;
use crate::sized;
use crate::status::{boundary, Failure};
use crate::transfer::borrow_fd;
use crate::zc_status;

/// How a range of a file will be used (`posix_fadvise` advice): one of the `ZC_ADVICE_*`
/// values.
pub type zc_advice = u32;
/// No particular pattern (the default readahead).
pub const ZC_ADVICE_NORMAL: zc_advice = 0;
/// Read front to back: the kernel doubles its readahead window.
pub const ZC_ADVICE_SEQUENTIAL: zc_advice = 1;
/// Read in no order: the kernel turns readahead off.
pub const ZC_ADVICE_RANDOM: zc_advice = 2;
/// Will be read soon: the kernel starts reading it into the cache now.
pub const ZC_ADVICE_WILLNEED: zc_advice = 3;
/// Not needed any more: the kernel drops its clean cached pages (`zc_evict` also writes dirty
/// ones back first).
pub const ZC_ADVICE_DONTNEED: zc_advice = 4;
/// Will be read once: since Linux 6.3 its pages are not promoted as recently used.
pub const ZC_ADVICE_NOREUSE: zc_advice = 5;

const ADVICE: Names = Names {
    c_type: "zc_advice",
    table: &[
        (ZC_ADVICE_NORMAL, c"normal"),
        (ZC_ADVICE_SEQUENTIAL, c"sequential"),
        (ZC_ADVICE_RANDOM, c"random"),
        (ZC_ADVICE_WILLNEED, c"willneed"),
        (ZC_ADVICE_DONTNEED, c"dontneed"),
        (ZC_ADVICE_NOREUSE, c"noreuse"),
    ],
};

/// Which kernel interface answered a residency question: one of the `ZC_METHOD_*` values.
pub type zc_method = u32;
/// The fd has no page cache (a pipe, socket, character device, procfs or sysfs file).
pub const ZC_METHOD_NONE: zc_method = 0;
/// `cachestat(2)` (Linux 6.5+) counted the pages.
pub const ZC_METHOD_CACHESTAT: zc_method = 1;
/// `mincore(2)` over a `PROT_NONE` mapping of the file.
pub const ZC_METHOD_MINCORE: zc_method = 2;
/// Unknown: this process may not see the file's page cache (it neither owns nor may write the
/// file). Only `zc_evict` and `zc_warm` give it, after doing their work; `resident` and `ratio`
/// are then 0, meaning "not known".
pub const ZC_METHOD_UNKNOWN: zc_method = 3;

const METHODS: Names = Names {
    c_type: "zc_method",
    table: &[
        (ZC_METHOD_NONE, c"none"),
        (ZC_METHOD_CACHESTAT, c"cachestat"),
        (ZC_METHOD_MINCORE, c"mincore"),
        (ZC_METHOD_UNKNOWN, c"unknown"),
    ],
};

/// How much of a range of a file is in the page cache.
///
/// Set `struct_size` to `sizeof(zc_residency_info)` before the call; the library writes that
/// many bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_residency_info {
    /// `sizeof(zc_residency_info)` as the program was compiled: set by the caller.
    pub struct_size: usize,
    /// Which interface answered (`ZC_METHOD_NONE` for an fd without a page cache).
    pub method: zc_method,
    /// Pages in the range (the system page size each; the last may be partial).
    pub pages: u64,
    /// Pages of the range in the page cache.
    pub resident: u64,
    /// `resident / pages` (0 for an empty range).
    pub ratio: f64,
}

const RESIDENCY_SIZE_V0: usize = 40;
const _: () = assert!(size_of::<zc_residency_info>() == RESIDENCY_SIZE_V0);

/// A caller's optional `zc_residency_info`, its size checked.
struct InfoOut {
    ptr: *mut zc_residency_info,
    size: usize,
}

impl InfoOut {
    /// # Safety
    /// `p` is `NULL` or valid for reading and writing `p->struct_size` bytes.
    unsafe fn new(p: *mut zc_residency_info) -> Result<InfoOut, Failure> {
        if p.is_null() {
            return Ok(InfoOut { ptr: p, size: 0 });
        }
        // SAFETY: non-null; the caller guarantees it is readable.
        let size =
            unsafe { sized::struct_size(p.cast_const(), "zc_residency_info", RESIDENCY_SIZE_V0) }?;
        Ok(InfoOut { ptr: p, size })
    }

    fn write(&self, r: &Residency) {
        if self.ptr.is_null() {
            return;
        }
        // SAFETY: every field is an integer or a float, for which all-zero bytes are valid;
        // starting from zeros keeps the padding zero too.
        let mut info: zc_residency_info = unsafe { std::mem::zeroed() };
        info.struct_size = self.size;
        info.method = METHODS.value(r.method.name());
        info.pages = r.pages;
        info.resident = r.resident;
        info.ratio = r.ratio;
        // SAFETY: `new`'s caller guarantees `size` writable bytes.
        unsafe { sized::write(self.ptr, self.size, &info) };
    }
}

/// Reads an optional length: `NULL` is "to end of file".
///
/// # Safety
/// `len` is `NULL` or valid for reading a `uint64_t`.
unsafe fn read_len(len: *const u64) -> Option<u64> {
    // SAFETY: the caller guarantees a non-null `len` is readable.
    (!len.is_null()).then(|| unsafe { len.read_unaligned() })
}

/// How much of `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file) is in the page
/// cache: writes the counts into `*out` (required; set `out->struct_size`) and, when `bitmap`
/// is not `NULL`, one byte per page (1 = resident, as `mincore` fills it) into its first
/// `min(bitmap_len, out->pages)` bytes. Call once with `bitmap` `NULL` to learn `out->pages`,
/// or size it as `(len + page_size - 1) / page_size`.
///
/// An fd without a page cache (a pipe, a socket) gives `ZC_OK` with `method` `ZC_METHOD_NONE`
/// and 0 pages. Where the kernel cannot tell the truth about the file (`mincore` and recent
/// `cachestat` only see files the caller owns or may write), the answer is `ZC_UNSUPPORTED`
/// rather than a false count. `ZC_IO` (`EBADF`) for a bad fd, `ZC_NULL_POINTER` for a `NULL`
/// `out`, `ZC_INVALID` for a bad `out->struct_size` or an offset plus length that overflows.
///
/// # Safety
/// `len` is `NULL` or readable; `bitmap` is `NULL` or writable for `bitmap_len` bytes; `out` is
/// `NULL` or a `zc_residency_info` writable for `out->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_residency(
    fd: c_int,
    offset: u64,
    len: *const u64,
    bitmap: *mut u8,
    bitmap_len: usize,
    out: *mut zc_residency_info,
) -> zc_status {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: the caller's contract for `out`.
        let info = unsafe { InfoOut::new(out) }?;
        // SAFETY: the caller's contract for `len`.
        let len = unsafe { read_len(len) };
        let r = cache::residency(borrow_fd(fd, "fd")?, offset, len)?;
        if !bitmap.is_null() {
            let n = bitmap_len.min(r.bitmap.len());
            // SAFETY: n <= bitmap_len writable bytes; a local Vec and the caller's buffer cannot
            // overlap.
            unsafe { std::ptr::copy_nonoverlapping(r.bitmap.as_ptr(), bitmap, n) };
        }
        info.write(&r);
        Ok(())
    })
}

/// Runs a hint and reports whether it applied.
///
/// # Safety
/// `applied` is `NULL` or writable for one `bool`.
unsafe fn hint(
    applied: *mut bool,
    h: impl FnOnce() -> engine::Result<Hint>,
) -> Result<(), Failure> {
    let applied_now = matches!(h()?, Hint::Applied);
    if !applied.is_null() {
        // SAFETY: the caller guarantees a non-null `applied` is writable.
        unsafe { applied.write(applied_now) };
    }
    Ok(())
}

/// Tells the kernel how `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file) will
/// be used (`posix_fadvise`). `*applied` (when not `NULL`) is set to true when the kernel took
/// the hint, false when the fd has no page cache (a pipe, a socket: not an error).
///
/// `ZC_INVALID` for an unknown `advice`; `ZC_IO` for a bad fd or the kernel refusing.
///
/// # Safety
/// `len` is `NULL` or readable; `applied` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_advise(
    fd: c_int,
    offset: u64,
    len: *const u64,
    advice: zc_advice,
    applied: *mut bool,
) -> zc_status {
    boundary(|| {
        let advice: Advice = ADVICE.to_engine(advice, "advice")?;
        // SAFETY: the caller's contract for `len`.
        let len = unsafe { read_len(len) };
        let fd = borrow_fd(fd, "fd")?;
        // SAFETY: the caller's contract for `applied`.
        unsafe { hint(applied, || cache::advise(fd, offset, len, advice)) }
    })
}

/// Starts reading `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file) into the
/// page cache (`readahead(2)`), without waiting. `*applied` as for `zc_advise`.
///
/// # Safety
/// `len` is `NULL` or readable; `applied` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_readahead(
    fd: c_int,
    offset: u64,
    len: *const u64,
    applied: *mut bool,
) -> zc_status {
    boundary(|| {
        // SAFETY: the caller's contract for `len`.
        let len = unsafe { read_len(len) };
        let fd = borrow_fd(fd, "fd")?;
        // SAFETY: the caller's contract for `applied`.
        unsafe { hint(applied, || cache::readahead(fd, offset, len)) }
    })
}

/// Runs `evict` or `warm` and writes the residency after it.
///
/// # Safety
/// As `zc_evict`.
unsafe fn move_range(
    fd: c_int,
    offset: u64,
    len: *const u64,
    out: *mut zc_residency_info,
    f: fn(std::os::fd::BorrowedFd<'_>, u64, Option<u64>) -> engine::Result<Residency>,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract for `out`.
    let info = unsafe { InfoOut::new(out) }?;
    // SAFETY: the caller's contract for `len`.
    let len = unsafe { read_len(len) };
    let r = f(borrow_fd(fd, "fd")?, offset, len)?;
    info.write(&r);
    Ok(())
}

/// Drops `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file) from the page cache,
/// writing dirty pages back first, and writes what is still resident into `*out` (when not
/// `NULL`; pages mapped or locked by a process stay). An fd without a page cache gives `ZC_OK`
/// with `ZC_METHOD_NONE`.
///
/// # Safety
/// `len` is `NULL` or readable; `out` is `NULL` or a `zc_residency_info` writable for
/// `out->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_evict(
    fd: c_int,
    offset: u64,
    len: *const u64,
    out: *mut zc_residency_info,
) -> zc_status {
    // SAFETY: zc_evict's own contract.
    boundary(|| unsafe { move_range(fd, offset, len, out, |fd, o, l| cache::evict(fd, o, l)) })
}

/// Brings `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file) into the page
/// cache without copying them to user space, waits until they are there, and writes the
/// residency afterwards into `*out` (when not `NULL`).
///
/// # Safety
/// As `zc_evict`.
#[no_mangle]
pub unsafe extern "C" fn zc_warm(
    fd: c_int,
    offset: u64,
    len: *const u64,
    out: *mut zc_residency_info,
) -> zc_status {
    // SAFETY: zc_warm's own contract.
    boundary(|| unsafe { move_range(fd, offset, len, out, |fd, o, l| cache::warm(fd, o, l)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_engine() {
        let names: Vec<&str> = Advice::ALL.iter().map(|a| a.name()).collect();
        ADVICE.check(&names);
        // A method the engine gains makes this match fail to compile: add it to METHODS.
        let every = |m: cache::Method| match m {
            cache::Method::None
            | cache::Method::Cachestat
            | cache::Method::Mincore
            | cache::Method::Unknown => m,
        };
        let methods = [
            every(cache::Method::None),
            every(cache::Method::Cachestat),
            every(cache::Method::Mincore),
            every(cache::Method::Unknown),
        ];
        let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
        METHODS.check(&names);
    }
}
