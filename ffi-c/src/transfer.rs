//! `zc_transfer`, `zc_transfer_buffered`, `zc_copy_file`, `zc_probe`.

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::options::{zc_options, Parsed};
use crate::report::{support_to_c, zc_report, zc_support, ReportOut};
use crate::status::{boundary, Failure, Outcome};
use crate::zc_status;

/// Borrows a caller's fd. A negative one is answered as the engine answers a closed one.
pub(crate) fn borrow_fd(fd: c_int, role: &str) -> Result<BorrowedFd<'static>, Failure> {
    if fd < 0 {
        return Err(Failure::new(
            zc_status::ZC_IO,
            libc::EBADF,
            format!("{role} fd {fd} is not an open file descriptor"),
        ));
    }
    // SAFETY: fd is not -1. The library never closes it and uses it only during the call; if
    // the caller passed a closed fd, the engine's first syscall on it (fstat) answers EBADF.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Reads the options and the report pointer, runs `f` with the engine's options, and writes
/// the report whatever happens.
///
/// # Safety
/// As `zc_transfer`'s `opts` and `report`.
unsafe fn run(
    opts: *const zc_options,
    report: *mut zc_report,
    f: impl FnOnce(&engine::Options<'_>) -> Result<engine::Result<engine::Report>, Failure>,
) -> Outcome {
    // SAFETY: the caller passes zc_transfer's `report`.
    let out = unsafe { ReportOut::new(report) }?;
    // SAFETY: the caller passes zc_transfer's `opts`.
    let parsed = match unsafe { Parsed::read(opts) } {
        Ok(p) => p,
        Err(e) => {
            out.write_empty();
            return Err(e);
        }
    };
    match parsed.with_engine(f) {
        Ok(result) => {
            out.write(&result);
            result.map(drop).map_err(Failure::from)
        }
        Err(e) => {
            out.write_empty();
            Err(e)
        }
    }
}

/// Moves bytes from fd `src` to fd `dst` as `opts` says (`NULL`: the defaults), and writes
/// what it did and cost into `*report` (`NULL`: not wanted).
///
/// `src` and `dst` may be regular files, pipes and FIFOs, stream sockets (TCP, Unix) and
/// character devices (`/dev/null`; `/dev/zero` only with a `len`). Without offsets the fds'
/// positions advance by exactly the bytes moved; with them the positions are left alone. The
/// fds are borrowed: never closed, their flags left as found. The calling thread gets no
/// `SIGPIPE` from a peer that went away: the call returns `ZC_IO` with errno `EPIPE` instead.
///
/// Returns `ZC_OK`, or: `ZC_IO` for an OS failure (`zc_last_errno()`: `EPIPE`, `ENOSPC`,
/// `EBADF` for a bad fd, `EISDIR` for a directory fd, `EAGAIN` for a non-blocking fd that would
/// block: call again when it is ready, `bytes` further on); `ZC_UNSUPPORTED` when the named technique cannot serve the
/// pair and `fallback` is false; `ZC_CANCELLED` when the progress callback or cancel flag
/// stopped it; `ZC_INVALID` for a request that cannot make sense (a write-only source, an
/// offset on a pipe, an O_PATH fd, overlapping ranges of one file, an unknown
/// strategy value, a bad `struct_size`). `*report` is written in every case but a bad
/// `report->struct_size`; after a failure its `bytes` is what was moved before it.
///
/// # Safety
/// `opts` is `NULL` or a `zc_options` readable for `opts->struct_size` bytes (see its fields
/// for `progress`, `user` and `cancel`); `report` is `NULL` or a `zc_report` writable for
/// `report->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_transfer(
    src: c_int,
    dst: c_int,
    opts: *const zc_options,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_transfer's own contract.
        unsafe {
            run(opts, report, |o| {
                let s = borrow_fd(src, "src")?;
                let d = borrow_fd(dst, "dst")?;
                Ok(engine::transfer(s, d, o))
            })
        }
    })
}

/// Sends `read_ahead_len` bytes at `read_ahead` (what a buffered reader of `src` already read
/// from it, a `FILE *`'s buffer for example) to `dst` first, then the rest of `src` from its
/// position, as one transfer: `opts` and `report` as for `zc_transfer`, with `len`, `dst_offset`
/// and the progress callback counting from the first of the bytes read ahead.
///
/// Afterwards the caller drops `min(read_ahead_len, report->bytes)` bytes from its buffer. The
/// bytes read ahead go out by the technique that suits `dst` (through a memfd), so a file or a
/// socket destination still gets copy_file_range or sendfile; `sync` applies once, at the end.
///
/// Returns as `zc_transfer`, plus `ZC_INVALID` for a `src_offset` with bytes read ahead (they
/// come before the fd's position, so they follow no other offset) and `ZC_NULL_POINTER` for a
/// `NULL` `read_ahead` with `read_ahead_len` > 0. After a failure `report->bytes` counts the
/// bytes read ahead that went out too.
///
/// # Safety
/// `read_ahead` is `NULL` (with `read_ahead_len` 0) or readable for `read_ahead_len` bytes and
/// not written during the call; `opts` and `report` as for `zc_transfer`.
#[no_mangle]
pub unsafe extern "C" fn zc_transfer_buffered(
    src: c_int,
    read_ahead: *const u8,
    read_ahead_len: usize,
    dst: c_int,
    opts: *const zc_options,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_transfer_buffered's own contract.
        unsafe {
            run(opts, report, |o| {
                let held: &[u8] = if read_ahead_len == 0 {
                    &[]
                } else if read_ahead.is_null() {
                    return Err(Failure::null("read_ahead (with read_ahead_len > 0)"));
                } else {
                    // SAFETY: non-null; the caller guarantees `read_ahead_len` readable bytes
                    // that nobody writes during the call.
                    std::slice::from_raw_parts(read_ahead, read_ahead_len)
                };
                let s = borrow_fd(src, "src")?;
                let d = borrow_fd(dst, "dst")?;
                Ok(engine::transfer_buffered(s, held, d, o))
            })
        }
    })
}

/// A caller's path argument (`NULL` is `ZC_NULL_POINTER`, naming `what`).
pub(crate) fn path<'a>(p: *const c_char, what: &str) -> Result<&'a Path, Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-null; the caller guarantees a NUL-terminated string that outlives the call.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// Copies the file at `src_path` to `dst_path`, creating or truncating the destination;
/// `opts` and `report` as for `zc_transfer` (offsets count from the start of each file).
/// Permissions follow `cp`: a new file gets the source's permission bits minus the umask,
/// without setuid, setgid and sticky; an existing destination keeps its mode.
///
/// Paths are NUL-terminated bytes, as the kernel takes them (no encoding is assumed).
/// Returns as `zc_transfer`, plus `ZC_IO` for a path that cannot be opened (the message names
/// it; errno `ENOENT`, `ENOTDIR`, `EACCES`, `EISDIR` for a directory as either path),
/// `ZC_INVALID` when both paths name the same file (nothing is truncated then) or when
/// `src_path` is a FIFO, socket or device or `dst_path` a FIFO or socket (refused before
/// opening, as Python's `shutil.copyfile` refuses named pipes: open them and call
/// `zc_transfer`), and `ZC_NULL_POINTER` for a `NULL` path.
///
/// # Safety
/// `src_path` and `dst_path` are `NULL` or NUL-terminated strings; `opts` and `report` as for
/// `zc_transfer`.
#[no_mangle]
pub unsafe extern "C" fn zc_copy_file(
    src_path: *const c_char,
    dst_path: *const c_char,
    opts: *const zc_options,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_copy_file's own contract.
        unsafe {
            run(opts, report, |o| {
                let s = path(src_path, "src_path")?;
                let d = path(dst_path, "dst_path")?;
                Ok(engine::copy_file(s, d, o))
            })
        }
    })
}

/// Which techniques can serve the pair `src` → `dst`, and for the others why not, without
/// moving a byte: one `zc_support` per technique (Auto excluded), each naming its strategy.
///
/// Sets `*out_len` to the number of techniques and writes the first `min(cap, *out_len)` of
/// them into `out` (`out` may be `NULL` when `cap` is 0, to ask for the count). A technique
/// marked supported can still refuse at run time (`zc_transfer`'s Auto falls back then).
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` (`out_len` is `NULL`, or `out` with `cap` > 0), or
/// the errors of `zc_transfer`'s argument checks (a bad fd, a write-only source, a read-only
/// destination, an O_PATH fd; `ZC_IO` with `EISDIR` for a directory fd).
///
/// # Safety
/// `out` is `NULL` or valid for writing `cap` `zc_support`s; `out_len` is `NULL` or valid for
/// writing one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn zc_probe(
    src: c_int,
    dst: c_int,
    out: *mut zc_support,
    cap: usize,
    out_len: *mut usize,
) -> zc_status {
    boundary(|| {
        if out_len.is_null() {
            return Err(Failure::null("out_len"));
        }
        if out.is_null() && cap > 0 {
            return Err(Failure::null("out (with cap > 0)"));
        }
        let supports = engine::probe(borrow_fd(src, "src")?, borrow_fd(dst, "dst")?)?;
        for (i, s) in supports.iter().take(cap).enumerate() {
            // SAFETY: i < cap, and the caller guarantees `cap` writable entries.
            unsafe { out.add(i).write_unaligned(support_to_c(s)) };
        }
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { out_len.write_unaligned(supports.len()) };
        Ok(())
    })
}
