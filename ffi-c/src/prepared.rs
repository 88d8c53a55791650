//! `zc_prepared_new`, `zc_prepared_to_dst`, `zc_prepared_run`, `zc_prepared_run_from`,
//! `zc_prepared_set_cpu_meter`, `zc_prepared_free`: a transfer prepared once and run many times.

use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::options::{zc_options, Parsed};
use crate::report::{zc_report, ReportOut};
use crate::status::{boundary, Failure};
use crate::transfer::borrow_fd;
use crate::zc_status;

/// A transfer between two fds, classified and checked once by `zc_prepared_new`, run many
/// times by `zc_prepared_run`, freed by `zc_prepared_free`. It holds duplicates of the fds it
/// was prepared with, until freed. Use it from one thread at a time.
pub struct zc_prepared {
    /// Dropped by hand before `progress` and `kept`, which it borrows.
    inner: ManuallyDrop<engine::Prepared<'static, 'static>>,
    /// The progress closure `inner`'s options borrow (from `Parsed::progress_box`).
    progress: Option<*mut (dyn Fn(u64) -> bool + Sync)>,
    /// The duplicates of the caller's fds that `inner` borrows, with their labels (closed when
    /// this is dropped, after `inner`: fields drop after `Drop::drop`).
    _kept: Vec<Kept>,
}

/// A duplicate of a caller's fd, kept for a prepared transfer's life so that its runs reach the
/// file the caller prepared even if the caller closes its own fd (and the number is reused),
/// and the label its messages name it by: the caller's number (`src fd 7`).
struct Kept {
    fd: OwnedFd,
    /// On the heap: a `Kept` moved (into `zc_prepared`) leaves the text where `inner` borrows it.
    label: PathBuf,
}

impl Kept {
    /// Duplicates fd `fd` (`F_DUPFD_CLOEXEC`): errors as the engine gives them for a bad fd.
    fn dup(fd: c_int, role: &str) -> Result<Kept, Failure> {
        let b = borrow_fd(fd, role)?;
        let dup = b.try_clone_to_owned().map_err(|e| match e.raw_os_error() {
            Some(libc::EBADF) => Failure::new(
                zc_status::ZC_IO,
                libc::EBADF,
                format!("{role} fd {fd} is not an open file descriptor"),
            ),
            errno => Failure::new(
                zc_status::ZC_IO,
                errno.unwrap_or(libc::EIO),
                format!("duplicating {role} fd {fd}: {e}"),
            ),
        })?;
        Ok(Kept {
            fd: dup,
            label: PathBuf::from(format!("fd {fd}")),
        })
    }

    /// The duplicate and its label, borrowed for the life of the `zc_prepared` that will own
    /// this.
    ///
    /// # Safety
    /// The `Kept` is moved into the `zc_prepared` whose `inner` takes these borrows, and is
    /// not dropped before that `inner` (see `zc_prepared`'s fields).
    unsafe fn borrow(&self) -> (BorrowedFd<'static>, &'static Path) {
        // SAFETY: the fd stays open and the label's heap text in place until the Kept is
        // dropped, after every borrower (the caller's contract).
        unsafe {
            (
                BorrowedFd::borrow_raw(self.fd.as_fd().as_raw_fd()),
                &*(self.label.as_path() as *const Path),
            )
        }
    }
}

impl zc_prepared {
    /// The prepared transfer, for `zc_log_send_prepared`'s runs from a segment.
    #[cfg(feature = "log")]
    pub(crate) fn engine_mut(&mut self) -> &mut engine::Prepared<'static, 'static> {
        &mut self.inner
    }
}

impl Drop for zc_prepared {
    fn drop(&mut self) {
        // SAFETY: `inner` is dropped once, here, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if let Some(p) = self.progress.take() {
            // SAFETY: from Box::into_raw in progress_box; `inner`, its only borrower, is gone.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// Prepares a transfer from fd `src` to fd `dst` with `opts` (`NULL`: the defaults; its
/// `len`, `src_offset` and `dst_offset` are ignored: each `zc_prepared_run` gives its own),
/// and writes it to `*out`.
///
/// Both fds are duplicated (`F_DUPFD_CLOEXEC`; the duplicates are closed by
/// `zc_prepared_free`) and classified (`statx`, `fcntl(F_GETFL)`), and the options checked
/// once. A run then costs the technique's syscalls, plus one `fstat` of a file source when it
/// needs the size the file has now: not for a length and a source offset within the size last
/// seen, where the technique stops at the file's end by itself (see `zcopy::Prepared`). The
/// caller's fds stay the caller's: it may close them at any time, and the runs still reach the
/// files prepared (a number reused by another file is not touched). Messages name the ends by
/// the caller's numbers. The duplicates share the caller's open files: their positions (a
/// `NULL` offset) and status flags. Runs that use mmap_write keep their last window of the
/// source mapped until `zc_prepared_free` (see `zcopy::Prepared`): its pages then resist
/// `zc_evict`.
///
/// Returns `ZC_OK`, or as `zc_transfer` for bad fds or options (`*out` is then `NULL`), and
/// `ZC_NULL_POINTER` for a `NULL` `out`.
///
/// # Safety
/// `opts` as for `zc_transfer`, except that its `progress`, `user` and `cancel` must stay
/// valid until `zc_prepared_free` (they are called and read by every run); `out` is `NULL` or
/// writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_new(
    src: c_int,
    dst: c_int,
    opts: *const zc_options,
    out: *mut *mut zc_prepared,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_prepared_new's contract is make's; the duplicates `borrow` lends are
        // kept by the zc_prepared that `make` builds, past its prepared transfer.
        unsafe {
            make(opts, out, &[(src, "src"), (dst, "dst")], |kept, o| {
                // (Unsafe `borrow`, within the block above:) `make` moves `kept` into the
                // zc_prepared it builds, which drops it after the prepared transfer, or drops it
                // at once when the preparation fails.
                let ((s, sl), (d, dl)) = (kept[0].borrow(), kept[1].borrow());
                Ok(engine::Prepared::from_fds_named(s, sl, d, dl, o))
            })
        }
    })
}

/// Prepares a transfer to fd `dst` alone, each run naming its source with
/// `zc_prepared_run_from`, and writes it to `*out`: the destination is duplicated (as by
/// `zc_prepared_new`) and classified once, each run classifies only its source (`statx`,
/// `fcntl(F_GETFL)`). For a server that sends many files, one after another, to one
/// connection. `opts`, `out` and the returns as for
/// `zc_prepared_new`; `zc_prepared_run` of it is `ZC_INVALID` (it has no source).
///
/// # Safety
/// As `zc_prepared_new`.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_to_dst(
    dst: c_int,
    opts: *const zc_options,
    out: *mut *mut zc_prepared,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_prepared_to_dst's contract is make's; the duplicate as in zc_prepared_new.
        unsafe {
            make(opts, out, &[(dst, "dst")], |kept, o| {
                // (Unsafe `borrow`:) as in zc_prepared_new.
                let (d, dl) = kept[0].borrow();
                Ok(engine::Prepared::to_dst_named(d, dl, o))
            })
        }
    })
}

/// Duplicates the caller's fds `ends` (fd and role), reads `opts`, builds the prepared
/// transfer with `f` from the duplicates, and writes it, owning them, to `*out` (`NULL` on
/// failure, the duplicates closed).
///
/// # Safety
/// As `zc_prepared_new`'s `opts` and `out`.
unsafe fn make(
    opts: *const zc_options,
    out: *mut *mut zc_prepared,
    ends: &[(c_int, &str)],
    f: impl for<'p> FnOnce(
        &[Kept],
        &engine::Options<'p>,
    ) -> Result<engine::Result<engine::Prepared<'static, 'p>>, Failure>,
) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::null("out"));
    }
    // SAFETY: non-null and writable (the caller's contract): cleared first, so a failure
    // leaves NULL.
    unsafe { out.write(std::ptr::null_mut()) };
    // SAFETY: the caller passes zc_transfer's `opts`, valid until zc_prepared_free.
    let parsed = unsafe { Parsed::read(opts) }?;
    let kept = ends
        .iter()
        .map(|&(fd, role)| Kept::dup(fd, role))
        .collect::<Result<Vec<Kept>, Failure>>()?;
    let progress = parsed.progress_box();
    // SAFETY: from Box::into_raw just above; freed only by zc_prepared's Drop, after the
    // prepared transfer that borrows it.
    let borrowed = progress.map(|p| unsafe { &*p });
    let made = f(&kept, &parsed.engine(borrowed));
    match made {
        Ok(Ok(inner)) => {
            let p = Box::new(zc_prepared {
                inner: ManuallyDrop::new(inner),
                progress,
                _kept: kept,
            });
            // SAFETY: checked non-null above.
            unsafe { out.write(Box::into_raw(p)) };
            Ok(())
        }
        Ok(Err(e)) => {
            free_progress(progress);
            Err(Failure::from(e))
        }
        Err(e) => {
            free_progress(progress);
            Err(e)
        }
    }
}

fn free_progress(progress: Option<*mut (dyn Fn(u64) -> bool + Sync)>) {
    if let Some(p) = progress {
        // SAFETY: from Box::into_raw in progress_box; nothing borrows it any more.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// Runs a prepared transfer: `*len` bytes (`NULL`: to the source's end of file) from
/// `*src_offset` of the source to `*dst_offset` of the destination (`NULL`: at and advancing
/// the fd's position), as `zc_transfer` would with those options; writes the report of this
/// run into `*report` (`NULL`: not wanted).
///
/// With `len` `NULL` and a `src_offset`, a regular file is moved up to the size it had when the
/// run began.
///
/// Returns as `zc_transfer`, and `ZC_NULL_POINTER` for a `NULL` `p`.
///
/// # Safety
/// `p` is a pointer from `zc_prepared_new` not freed yet; `len`, `src_offset` and
/// `dst_offset` are each `NULL` or readable for one `uint64_t`; `report` as for `zc_transfer`.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_run(
    p: *mut zc_prepared,
    len: *const u64,
    src_offset: *const u64,
    dst_offset: *const u64,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: the caller passes zc_transfer's `report`.
        let out = unsafe { ReportOut::new(report) }?;
        if p.is_null() {
            out.write_empty();
            return Err(Failure::null("p"));
        }
        // SAFETY: from zc_prepared_new, not freed, used by one thread (the caller's contract).
        let prepared = unsafe { &mut *p };
        let result = prepared
            .inner
            // SAFETY: each is NULL or readable for one u64 (the caller's contract).
            .run(unsafe { opt(len) }, unsafe { opt(src_offset) }, unsafe {
                opt(dst_offset)
            });
        out.write(&result);
        result.map(drop).map_err(Failure::from)
    })
}

/// Runs a prepared transfer from fd `src` in place of its prepared source (a transfer from
/// `zc_prepared_to_dst`, or any other): `src` is classified for this run (`statx`,
/// `fcntl(F_GETFL)`) and checked against the destination as `zc_transfer` checks a pair;
/// `len`, `src_offset`, `dst_offset` and `report` as for `zc_prepared_run`.
///
/// Returns as `zc_transfer` from `src` to the prepared destination, and `ZC_NULL_POINTER` for
/// a `NULL` `p`.
///
/// # Safety
/// As `zc_prepared_run`; `src` is borrowed for the call only.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_run_from(
    p: *mut zc_prepared,
    src: c_int,
    len: *const u64,
    src_offset: *const u64,
    dst_offset: *const u64,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: the caller passes zc_transfer's `report`.
        let out = unsafe { ReportOut::new(report) }?;
        if p.is_null() {
            out.write_empty();
            return Err(Failure::null("p"));
        }
        let s = match borrow_fd(src, "src") {
            Ok(s) => s,
            Err(e) => {
                out.write_empty();
                return Err(e);
            }
        };
        // SAFETY: from zc_prepared_new or zc_prepared_to_dst, not freed, used by one thread
        // (the caller's contract).
        let prepared = unsafe { &mut *p };
        // SAFETY: each is NULL or readable for one u64 (the caller's contract).
        let (len, so, d) = unsafe { (opt(len), opt(src_offset), opt(dst_offset)) };
        let result = prepared.inner.run_from(s, len, so, d);
        out.write(&result);
        result.map(drop).map_err(Failure::from)
    })
}

/// Turns a prepared transfer's CPU meter on or off (on when made). Off, a run makes 4 syscalls
/// fewer (`getrusage` and `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` at each end) and its
/// report's `user_cpu_ns`, `sys_cpu_ns`, `voluntary_ctx_switches` and
/// `involuntary_ctx_switches` are 0: not measured; the rest stays exact. Returns `ZC_OK`, or
/// `ZC_NULL_POINTER` for a `NULL` `p`.
///
/// # Safety
/// `p` is `NULL` or a pointer from `zc_prepared_new` or `zc_prepared_to_dst` not freed yet.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_set_cpu_meter(p: *mut zc_prepared, on: bool) -> zc_status {
    boundary(|| {
        if p.is_null() {
            return Err(Failure::null("p"));
        }
        // SAFETY: from zc_prepared_new or zc_prepared_to_dst, not freed, used by one thread.
        let prepared = unsafe { &mut *p };
        prepared.inner.set_cpu_meter(on);
        Ok(())
    })
}

/// Frees a prepared transfer, unmaps the window mmap_write kept, and closes its duplicates of
/// the fds (the caller's own fds are left as they are). `zc_prepared_free(NULL)` does nothing.
///
/// # Safety
/// `p` is `NULL` or a pointer from `zc_prepared_new` not freed yet; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn zc_prepared_free(p: *mut zc_prepared) {
    let _ = boundary(|| {
        if !p.is_null() {
            // SAFETY: from Box::into_raw in zc_prepared_new, not freed yet (the contract).
            drop(unsafe { Box::from_raw(p) });
        }
        Ok(())
    });
}

/// `*v`, or `None` for `NULL`.
///
/// # Safety
/// `v` is `NULL` or readable for one `u64` (any alignment).
unsafe fn opt(v: *const u64) -> Option<u64> {
    // SAFETY: non-null and readable (the caller's contract).
    (!v.is_null()).then(|| unsafe { v.read_unaligned() })
}
