//! The page cache: `zc_residency`, `zc_advise`, `zc_readahead`, `zc_evict`, `zc_warm`,
//! `zc_lock` (with `zc_locked_pages`, `zc_unlock`, `zc_lock_limit`) and `zc_files`.

use std::ffi::{c_char, c_int, c_void, CStr, CString, OsStr};
use std::mem::size_of;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use engine::cache::{self, Advice, Hint, Residency};

use crate::names::Names;
use crate::sized;
use crate::status::{boundary, guard, Failure};
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

/// Pages of a file range locked in memory by `zc_lock` (the engine's `Locked`): they stay in
/// the page cache, whatever the memory pressure, until `zc_unlock`. Not tied to the fd: it may
/// be closed meanwhile. Any thread may read or free it, one at a time.
pub struct zc_locked {
    inner: cache::Locked,
}

/// Maps `*len` bytes of `fd` from `offset` (`len` `NULL`: to end of file; a range past the end
/// is cut there) read-only and locks them in memory with `mlock(2)`, as `vmtouch -l` does: the
/// kernel reads every page in and keeps it resident until `zc_unlock`. The pages are never
/// touched from user space, so a truncation meanwhile cannot raise `SIGBUS`. Writes the handle
/// to `*out` (`NULL` on failure; an empty range gives a handle with 0 pages).
///
/// Locked memory counts against `RLIMIT_MEMLOCK` (`ulimit -l`; `zc_lock_limit` tells it)
/// unless the process has `CAP_IPC_LOCK`; past it the kernel refuses and nothing of the range
/// stays locked.
///
/// Returns `ZC_OK`; `ZC_IO` for a bad fd (`EBADF`), a directory (`EISDIR`), an fd not open for
/// reading (`EACCES`), or `mlock`'s refusal (`ENOMEM` past the limit, `EPERM` when it is 0);
/// `ZC_INVALID` for an fd without a page cache (a pipe, a socket) or an offset plus length
/// that overflows; `ZC_NULL_POINTER` for a `NULL` `out`.
///
/// # Safety
/// `len` is `NULL` or readable for one `uint64_t`; `out` is `NULL` or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn zc_lock(
    fd: c_int,
    offset: u64,
    len: *const u64,
    out: *mut *mut zc_locked,
) -> zc_status {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null and writable (the caller's contract): cleared first, so a failure
        // leaves NULL.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's contract for `len`.
        let len = unsafe { read_len(len) };
        let inner = cache::lock(borrow_fd(fd, "fd")?, offset, len)?;
        // SAFETY: checked non-null above; written last, once the lock is held.
        unsafe { out.write(Box::into_raw(Box::new(zc_locked { inner }))) };
        Ok(())
    })
}

/// The pages `l` holds locked (the system page size each; the last may be partial): every
/// page of the range, from the page boundary at or below its offset. 0 for `NULL`.
///
/// # Safety
/// `l` is `NULL` or a pointer from `zc_lock` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn zc_locked_pages(l: *const zc_locked) -> u64 {
    // SAFETY: from zc_lock and not freed (the caller's contract), or NULL.
    guard(0, || unsafe { l.as_ref() }.map_or(0, |l| l.inner.pages()))
}

/// The bytes `l` holds locked: from the page boundary at or below the offset to the end of the
/// range (cut at end of file). 0 for `NULL`.
///
/// # Safety
/// `l` is `NULL` or a pointer from `zc_lock` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn zc_locked_bytes(l: *const zc_locked) -> u64 {
    // SAFETY: from zc_lock and not freed (the caller's contract), or NULL.
    guard(0, || unsafe { l.as_ref() }.map_or(0, |l| l.inner.bytes()))
}

/// Unlocks and unmaps the pages `l` holds (they may then leave the page cache) and frees it.
/// `zc_unlock(NULL)` does nothing.
///
/// # Safety
/// `l` is `NULL` or a pointer from `zc_lock` not freed yet; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn zc_unlock(l: *mut zc_locked) {
    guard((), || {
        if !l.is_null() {
            // SAFETY: from Box::into_raw in zc_lock, not freed yet (the caller's contract).
            drop(unsafe { Box::from_raw(l) });
        }
    })
}

/// The most bytes this process may lock with `zc_lock`: returns true and writes the soft
/// `RLIMIT_MEMLOCK` (`ulimit -l`) into `*limit` (when not `NULL`) when it binds; false when
/// nothing binds (the limit is unlimited, or the process has `CAP_IPC_LOCK`, as root usually
/// does). Memory the process has locked already counts against the same limit. Does not touch
/// `errno` or the last error.
///
/// # Safety
/// `limit` is `NULL` or writable for one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn zc_lock_limit(limit: *mut u64) -> bool {
    guard(false, || match cache::lock_limit() {
        Some(n) => {
            if !limit.is_null() {
                // SAFETY: non-null and writable (the caller's contract).
                unsafe { limit.write_unaligned(n) };
            }
            true
        }
        None => false,
    })
}

/// One file `zc_files` found (`error` `NULL`, `error_errno` 0), or one path it could not read
/// (`error` the message, `error_errno` its errno), given to the caller's function with the
/// caller's `user`. `path` and `error` are NUL-terminated and valid only during the call.
/// Return true to go on, false to stop (`zc_files` then returns `ZC_CANCELLED`).
pub type zc_files_fn = Option<
    unsafe extern "C" fn(
        path: *const c_char,
        error_errno: c_int,
        error: *const c_char,
        user: *mut c_void,
    ) -> bool,
>;

/// What `zc_files` found, in numbers.
///
/// Set `struct_size` to `sizeof(zc_files_summary)` before the call; the library writes that
/// many bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_files_summary {
    /// `sizeof(zc_files_summary)` as the program was compiled: set by the caller.
    pub struct_size: usize,
    /// Files found (each given to the function).
    pub files: u64,
    /// Directories walked (each given directory and every one below it).
    pub directories: u64,
    /// Paths that could not be read (each given to the function with its error).
    pub errors: u64,
    /// Whether a path given was a directory.
    pub any_directory: bool,
}

const FILES_SUMMARY_SIZE_V0: usize = size_of::<zc_files_summary>();

/// The files under `paths` (`n` NUL-terminated paths) as `vmtouch` walks them: each path given
/// that is not a directory (followed if a symlink; a pipe or device named is kept), and every
/// regular file under each directory given, recursively, its entries in name order; inside
/// directories, symlinks, pipes, sockets and devices are skipped and a file met before (a hard
/// link) is taken once. Nothing is opened but directories.
///
/// Calls `each` (when not `NULL`) once per file found, in that order, with `error` `NULL`; then
/// once per path that could not be read (a path given that does not exist, a directory that
/// cannot be listed, an entry that cannot be stat'ed: the rest is walked all the same), with
/// its errno and message. Writes the counts into `*out` (when not `NULL`).
///
/// Returns `ZC_OK` (also when some paths could not be read: they went to `each`),
/// `ZC_CANCELLED` when `each` returned false (`*out` still counts the whole walk),
/// `ZC_NULL_POINTER` for a `NULL` `paths` with `n` > 0 or a `NULL` path, `ZC_INVALID` for a bad
/// `out->struct_size`.
///
/// # Safety
/// `paths` is `NULL` (with `n` 0) or readable for `n` pointers, each `NULL` or a NUL-terminated
/// string; `each` is safe to call with `user` during the call; `out` is `NULL` or a
/// `zc_files_summary` writable for `out->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_files(
    paths: *const *const c_char,
    n: usize,
    each: zc_files_fn,
    user: *mut c_void,
    out: *mut zc_files_summary,
) -> zc_status {
    boundary(|| {
        let size = if out.is_null() {
            0
        } else {
            // SAFETY: non-null; the caller guarantees it is readable.
            unsafe {
                sized::struct_size(out.cast_const(), "zc_files_summary", FILES_SUMMARY_SIZE_V0)
            }?
        };
        if paths.is_null() && n > 0 {
            return Err(Failure::null("paths (with n > 0)"));
        }
        let mut given = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: i < n, and the caller guarantees `n` readable pointers.
            let p = unsafe { paths.add(i).read() };
            if p.is_null() {
                return Err(Failure::null(&format!("paths[{i}]")));
            }
            // SAFETY: non-null; the caller guarantees a NUL-terminated string.
            let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
            given.push(Path::new(OsStr::from_bytes(bytes)));
        }
        let walk = cache::files(&given);
        if !out.is_null() {
            // SAFETY: every field is an integer or a bool, for which all-zero bytes are
            // valid; starting from zeros keeps the padding zero too.
            let mut s: zc_files_summary = unsafe { std::mem::zeroed() };
            s.struct_size = size;
            s.files = walk.files.len() as u64;
            s.directories = walk.directories;
            s.errors = walk.errors.len() as u64;
            s.any_directory = walk.any_directory;
            // SAFETY: the caller guarantees `size` writable bytes.
            unsafe { sized::write(out, size, &s) };
        }
        let Some(each) = each else {
            return Ok(());
        };
        // A path holds no NUL byte (the kernel's rule); a message with one is cut there.
        let c = |b: &[u8]| CString::new(b.split(|&x| x == 0).next().unwrap_or_default());
        let stopped = || {
            Failure::new(
                zc_status::ZC_CANCELLED,
                libc::ECANCELED,
                "zc_files: the function given stopped the walk",
            )
        };
        for f in &walk.files {
            let p = c(f.as_os_str().as_bytes()).map_err(|e| Failure::invalid(e.to_string()))?;
            // SAFETY: the caller guarantees `each` may be called with `user`; the strings
            // live until it returns.
            if !unsafe { each(p.as_ptr(), 0, std::ptr::null(), user) } {
                return Err(stopped());
            }
        }
        for (path, error) in &walk.errors {
            let p = c(path.as_os_str().as_bytes()).map_err(|e| Failure::invalid(e.to_string()))?;
            let m = c(error.message().as_bytes()).map_err(|e| Failure::invalid(e.to_string()))?;
            let errno = error.errno().unwrap_or(0);
            // SAFETY: as above.
            if !unsafe { each(p.as_ptr(), errno, m.as_ptr(), user) } {
                return Err(stopped());
            }
        }
        Ok(())
    })
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
