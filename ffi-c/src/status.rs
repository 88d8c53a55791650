//! `zc_status`, the per-thread last error, `errno`, and the panic boundary every exported
//! function runs inside.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a call did. `ZC_OK` is 0; every other value is a failure whose message is
/// `zc_last_error()` and whose errno is `zc_last_errno()`, both kept per thread until the next
/// call that returns a `zc_status` on that thread.
///
/// The numbers never change once released; new codes get new numbers.
/// cbindgen:prefix-with-name=false
/// cbindgen:rename-all=None
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum zc_status {
    /// Success.
    ZC_OK = 0,
    /// The operating system refused a call; `zc_last_errno()` says why (`EPIPE`, `ENOSPC`,
    /// `EBADF`, `EAGAIN` for a non-blocking fd that would block, `EISDIR` for a directory,
    /// `ENOENT`, `ENOTDIR`, `EACCES` for a path that cannot be opened, ...).
    ZC_IO = 1,
    /// The technique asked for cannot serve this pair of fds (with `fallback` false), or no
    /// technique can. errno: the kernel's refusal, else `EOPNOTSUPP`.
    ZC_UNSUPPORTED = 2,
    /// The progress callback returned false or the cancel flag was set. errno: `ECANCELED`.
    ZC_CANCELLED = 3,
    /// An argument was wrong: an impossible offset, an unknown enum value, a `struct_size` too
    /// small, conflicting options, a FIFO, socket or device given to `zc_copy_file`. errno:
    /// `EINVAL` (or the more precise `EBADF`, `ESPIPE`, `EOVERFLOW`).
    ZC_INVALID = 4,
    /// A required pointer argument was `NULL`. errno: `EINVAL`.
    ZC_NULL_POINTER = 5,
    /// The library panicked (a bug in zcopy: please report it with `zc_last_error()`). The
    /// panic was caught; nothing unwound into the caller. errno: 0.
    ZC_PANIC = 6,
}

/// A failed call, before it is stored as the thread's last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: zc_status,
    pub errno: c_int,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(status: zc_status, errno: c_int, message: impl Into<String>) -> Failure {
        Failure {
            status,
            errno,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(zc_status::ZC_INVALID, libc::EINVAL, message)
    }

    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(
            zc_status::ZC_NULL_POINTER,
            libc::EINVAL,
            format!("{what} is NULL"),
        )
    }
}

impl From<engine::Error> for Failure {
    fn from(e: engine::Error) -> Failure {
        use engine::ErrorKind;
        let status = match e.kind() {
            ErrorKind::Io => zc_status::ZC_IO,
            ErrorKind::Unsupported => zc_status::ZC_UNSUPPORTED,
            ErrorKind::Cancelled => zc_status::ZC_CANCELLED,
            ErrorKind::Invalid => zc_status::ZC_INVALID,
            // A kind added to the engine later: an OS-level failure is the closest meaning, and
            // the message and errno still say exactly what happened.
            _ => zc_status::ZC_IO,
        };
        Failure::new(status, e.errno().unwrap_or(0), e.message())
    }
}

/// `Result` of an exported function's body.
pub(crate) type Outcome = Result<(), Failure>;

struct LastError {
    message: CString,
    errno: c_int,
}

thread_local! {
    static LAST: RefCell<LastError> = RefCell::new(LastError {
        message: CString::default(),
        errno: 0,
    });
}

fn set_last(message: &str, errno: c_int) {
    // A message never holds a NUL in practice; if one did, it would end the C string early.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // try_with: during thread teardown there is no last error to keep, and no panic either.
    let _ = LAST.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            *l = LastError { message, errno };
        }
    });
}

fn errno_location() -> *mut c_int {
    // SAFETY: __errno_location has no preconditions; it returns this thread's errno slot.
    unsafe { libc::__errno_location() }
}

fn get_errno() -> c_int {
    // SAFETY: the slot is this thread's errno, valid for the thread's life.
    unsafe { *errno_location() }
}

fn set_errno(value: c_int) {
    // SAFETY: as in get_errno.
    unsafe { *errno_location() = value }
}

/// The message of a caught panic, as `zc_last_error()` gives it for `ZC_PANIC`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    format!("zcopy panicked (a bug: please report it): {what}")
}

/// Runs an exported function's body: catches a panic (`ZC_PANIC`), stores the outcome as the
/// thread's last error (an empty message and errno 0 on success), and leaves `errno` as it was
/// on success or sets it to the failure's errno (when not 0).
pub(crate) fn boundary(body: impl FnOnce() -> Outcome) -> zc_status {
    let saved = get_errno();
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::new(
            zc_status::ZC_PANIC,
            0,
            panic_message(payload.as_ref()),
        ))
    });
    // Storing the outcome allocates and formats; keep a panic there inside the boundary too.
    let status = catch_unwind(AssertUnwindSafe(|| match outcome {
        Ok(()) => {
            set_last("", 0);
            zc_status::ZC_OK
        }
        Err(f) => {
            set_last(&f.message, f.errno);
            f.status
        }
    }))
    .unwrap_or(zc_status::ZC_PANIC);
    let errno = if status == zc_status::ZC_OK {
        saved
    } else {
        match last_errno() {
            0 => saved,
            e => e,
        }
    };
    set_errno(errno);
    status
}

/// Runs the body of an exported function that returns no status: a panic gives `fallback`;
/// `errno` and the last error are left as they were.
pub(crate) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    let saved = get_errno();
    let value = catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback);
    set_errno(saved);
    value
}

fn last_errno() -> c_int {
    LAST.try_with(|l| l.try_borrow().map(|l| l.errno).unwrap_or(0))
        .unwrap_or(0)
}

/// The message of the last failed call on this thread (a NUL-terminated UTF-8 string naming what
/// was wrong, such as `"dst fd 7 is opened read-only"`), or `""` when the last call that returns
/// a `zc_status` succeeded or none was made yet.
///
/// The string belongs to the library and stays valid until the next zcopy call on this thread
/// that returns a `zc_status`; copy it to keep it. Never returns `NULL`.
#[no_mangle]
pub extern "C" fn zc_last_error() -> *const c_char {
    guard(c"".as_ptr(), || {
        LAST.try_with(|l| {
            l.try_borrow()
                .map(|l| l.message.as_ptr())
                .unwrap_or(c"".as_ptr())
        })
        .unwrap_or(c"".as_ptr())
    })
}

/// The errno of the last failed call on this thread (`EPIPE`, `ENOSPC`, `EINVAL`, `ECANCELED`,
/// ...), or 0 when the last call that returns a `zc_status` succeeded, none was made yet, or
/// the failure has no errno (`ZC_PANIC`).
#[no_mangle]
pub extern "C" fn zc_last_errno() -> c_int {
    guard(0, last_errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_message() -> String {
        // SAFETY: zc_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(zc_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_zc_panic_with_its_message() {
        set_errno(1234);
        let st = boundary(|| panic!("boom {}", 7));
        assert_eq!(st, zc_status::ZC_PANIC);
        assert_eq!(
            last_message(),
            "zcopy panicked (a bug: please report it): boom 7"
        );
        assert_eq!(zc_last_errno(), 0);
        // No errno for a panic: errno stays as the caller had it.
        assert_eq!(get_errno(), 1234);
        let st = boundary(|| std::panic::panic_any(42u8));
        assert_eq!(st, zc_status::ZC_PANIC);
        assert!(last_message().contains("without a message"));
    }

    #[test]
    fn success_restores_errno_and_clears_the_last_error() {
        assert_eq!(
            boundary(|| Err(Failure::invalid("bad"))),
            zc_status::ZC_INVALID
        );
        assert_eq!(get_errno(), libc::EINVAL);
        assert_eq!(last_message(), "bad");
        set_errno(libc::EAGAIN);
        let st = boundary(|| {
            set_errno(libc::ENOENT); // what a failed internal syscall leaves behind
            Ok(())
        });
        assert_eq!(st, zc_status::ZC_OK);
        assert_eq!(get_errno(), libc::EAGAIN);
        assert_eq!(last_message(), "");
        assert_eq!(zc_last_errno(), 0);
    }

    #[test]
    fn a_nul_in_a_message_is_escaped() {
        boundary(|| Err(Failure::invalid("a\0b")));
        assert_eq!(last_message(), "a\\0b");
    }

    #[test]
    fn guard_keeps_errno_and_catches_panics() {
        set_errno(77);
        assert_eq!(guard(5, || panic!("x")), 5);
        assert_eq!(guard(5, || 6), 6);
        assert_eq!(get_errno(), 77);
    }
}
