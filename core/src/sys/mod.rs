//! The raw syscall layer: every syscall the engine makes goes through a wrapper here.
//!
//! Each wrapper bumps a per-thread counter once per attempt (a retry after `EINTR` is a second
//! syscall and is counted as one), so [`count`] deltas are exact and match `strace -c`. `EINTR`
//! is retried inside the wrapper (rustix's `retry_on_intr`), but only after asking the caller's
//! stop hook when one is armed ([`stop`]): a stop asked then ends the wait with a
//! [`stop::Stopped`] error. Waits that could block for ever are cut into ticks while a hook is
//! armed ([`stop::poll_ticks`]), so every blocking wait can be stopped.

use std::cell::Cell;
use std::io;

pub(crate) mod event;
pub(crate) mod fs;
pub(crate) mod mm;
pub(crate) mod net;
pub(crate) mod pipe;
pub(crate) mod process;
pub(crate) mod stop;
pub(crate) mod tree;
pub(crate) mod uring;

thread_local! {
    static SYSCALLS: Cell<u64> = const { Cell::new(0) };
}

/// Syscalls made by the engine on this thread so far.
pub(crate) fn count() -> u64 {
    SYSCALLS.with(Cell::get)
}

#[inline]
fn bump() {
    SYSCALLS.with(|c| c.set(c.get() + 1));
}

/// Runs `f` (one syscall returning -1 on error), counting every attempt and retrying on `EINTR`
/// unless the armed stop hook says stop ([`stop::ask`]).
#[inline]
fn cvt<T: Copy + PartialOrd + Default>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        bump();
        let r = f();
        if r >= T::default() {
            return Ok(r);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
        stop::check()?;
    }
}

/// Like [`cvt`] for calls returning `ssize_t`; gives the count as `usize`.
#[inline]
fn cvt_len(f: impl FnMut() -> libc::ssize_t) -> io::Result<usize> {
    // Non-negative ssize_t always fits usize.
    cvt(f).map(|n| n as usize)
}

/// An optional in/out file offset for the syscalls that take `loff_t *` (`sendfile`, `splice`,
/// `copy_file_range`): `None` passes NULL (the fd's position is used and advanced); `Some`
/// passes a pointer to a copy, and [`OffArg::finish`] writes the kernel's update back.
pub(crate) struct OffArg<'a> {
    user: Option<&'a mut u64>,
    raw: libc::loff_t,
}

impl<'a> OffArg<'a> {
    /// Checks the offset fits the kernel's signed type (`EOVERFLOW` otherwise).
    pub(crate) fn new(user: Option<&'a mut u64>) -> std::io::Result<OffArg<'a>> {
        let raw = match &user {
            Some(o) => i64::try_from(**o)
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EOVERFLOW))?,
            None => 0,
        };
        Ok(OffArg { user, raw })
    }

    /// The pointer to pass: NULL or the copy, valid while `self` is borrowed.
    pub(crate) fn ptr(&mut self) -> *mut libc::loff_t {
        if self.user.is_some() {
            &mut self.raw
        } else {
            std::ptr::null_mut()
        }
    }

    /// Writes the offset the kernel left back to the caller's.
    pub(crate) fn finish(self) {
        if let Some(o) = self.user {
            *o = self.raw as u64;
        }
    }
}
