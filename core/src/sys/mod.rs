//! The raw syscall layer: every syscall the engine makes goes through a wrapper here.
//!
//! Each wrapper bumps a per-thread counter once per attempt (a retry after `EINTR` is a second
//! syscall and is counted as one), so [`count`] deltas are exact and match `strace -c`. `EINTR`
//! is retried inside the wrapper (rustix's `retry_on_intr`), but only after asking the caller's
//! stop hook when one is armed ([`stop`]): a stop asked then ends the wait with a
//! [`stop::Stopped`] error. Waits that could block for ever are cut into ticks while a hook is
//! armed ([`stop::poll_ticks`]), so every blocking wait can be stopped; unless it is armed
//! without ticks, for a caller that stops by a signal whose `EINTR` asks it.
//!
//! The calls go through `nix` where it has them ([`retry`] counts and retries those), through
//! `memmap2` for the mappings ([`mm`]), and through `libc` for the rest: the calls neither
//! crate has (statx, cachestat, readahead, sync_file_range, mincore, FICLONERANGE) or has in a
//! form that does not fit (preadv2/pwritev2 with RWF flags, which must go through syscall(2)
//! for glibc 2.17; a write from a mapping, which nix would take as a `&[u8]`, a reference to
//! pages the engine must never dereference).

use std::cell::Cell;
use std::io;

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

/// Runs `f` (one syscall through `nix`), counting every attempt and retrying on `EINTR` unless
/// the armed stop hook says stop, exactly as [`cvt`] does for a raw call. nix's `Errno` becomes
/// the `io::Error` of the same errno (`from_raw_os_error`, what `last_os_error` gives), so the
/// kind and message a caller sees are those of the raw call.
#[inline]
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        bump();
        match f() {
            Ok(v) => return Ok(v),
            Err(nix::errno::Errno::EINTR) => stop::check()?,
            Err(e) => return Err(io::Error::from_raw_os_error(e as i32)),
        }
    }
}

/// A `poll` timeout in milliseconds as nix takes it: Linux waits without end for any negative
/// value, as for -1 ([`PollTimeout::NONE`](nix::poll::PollTimeout::NONE)).
fn poll_timeout(ms: i32) -> nix::poll::PollTimeout {
    nix::poll::PollTimeout::try_from(ms.max(-1)).unwrap_or(nix::poll::PollTimeout::NONE)
}

/// Like [`cvt`] for calls returning `ssize_t`; gives the count as `usize`.
#[inline]
fn cvt_len(f: impl FnMut() -> libc::ssize_t) -> io::Result<usize> {
    // Non-negative ssize_t always fits usize.
    cvt(f).map(|n| n as usize)
}

/// An optional in/out file offset for the syscalls that take `loff_t *` (`sendfile`, `splice`,
/// `copy_file_range`): `None` passes NULL (the fd's position is used and advanced); `Some`
/// passes a copy, and [`OffArg::finish`] writes the kernel's update back.
pub(crate) struct OffArg<'a> {
    user: Option<&'a mut u64>,
    raw: i64,
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

    /// The argument to pass: `None` (NULL) or the copy, borrowed while the call runs.
    pub(crate) fn arg(&mut self) -> Option<&mut i64> {
        match self.user {
            Some(_) => Some(&mut self.raw),
            None => None,
        }
    }

    /// Writes the offset the kernel left back to the caller's.
    pub(crate) fn finish(self) {
        if let Some(o) = self.user {
            *o = self.raw as u64;
        }
    }
}
