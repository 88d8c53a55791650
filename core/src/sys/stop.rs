//! The caller's stop hook, as the syscall layer sees it: every blocking wait can be stopped.
//!
//! While a transfer with a way to stop it runs (a cancel flag or a progress callback; Python
//! always has one: its signal check), the engine arms a [`Scope`] on the calling thread. Then:
//!
//! - a wrapper whose call returns `EINTR` asks the hook before it retries ([`super::cvt`]); a
//!   hook that says stop turns the `EINTR` into a [`Stopped`] error, which
//!   [`Error::os`](crate::Error) makes a Cancelled error. This is how Ctrl-C reaches Python
//!   while the engine sleeps in the kernel;
//! - a wait that could block without bound is cut into ticks of [`TICK_MS`] ([`poll_ticks`],
//!   [`sleep_tick`]), asking the hook between them, so a cancel flag (which sends no signal) is
//!   seen within a tick. Not when the scope is armed without ticks ([`WaitTicks::Off`]): its
//!   caller stops by a signal that interrupts the waits ([`interrupts_waits`]), so the first
//!   point suffices.
//!
//! [`WaitTicks::Off`]: crate::WaitTicks::Off
//!
//! Without a scope (no hook) nothing changes: `EINTR` is retried at once and no wait is cut,
//! so the hot path makes exactly the syscalls it made before.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use nix::poll::{poll, PollFd, PollFlags};

/// How long one slice of a cut wait lasts before the hook is asked again.
pub(crate) const TICK_MS: i32 = 100;

/// The hook: given the bytes moved so far, `Ok(())` to go on waiting, `Err(reason)` to stop.
pub(crate) type Hook<'h> = dyn Fn(u64) -> Result<(), String> + 'h;

thread_local! {
    /// The armed hook, its lifetime erased; only [`Scope`] sets it, and clears it before the
    /// hook's borrow ends.
    static HOOK: Cell<Option<*const Hook<'static>>> = const { Cell::new(None) };
    /// The bytes the transfer on this thread has moved, as last noted ([`note_moved`]).
    static MOVED: Cell<u64> = const { Cell::new(0) };
    /// Whether the armed hook's waits are cut into ticks ([`cuts_waits`]).
    static TICKS: Cell<bool> = const { Cell::new(true) };
}

/// The hook armed on this thread while the scope lives (the one before it comes back after).
pub(crate) struct Scope<'h> {
    prev: Option<*const Hook<'static>>,
    prev_moved: u64,
    prev_ticks: bool,
    _hook: PhantomData<&'h Hook<'h>>,
}

impl<'h> Scope<'h> {
    /// Arms `hook` on this thread until the scope is dropped; `ticks`: whether waits that
    /// could last for ever are cut into ticks that ask it ([`cuts_waits`]).
    pub(crate) fn arm(hook: &'h Hook<'h>, ticks: bool) -> Scope<'h> {
        let ptr: *const Hook<'h> = hook;
        // SAFETY: only the lifetime changes (same fat pointer layout). The pointer is called
        // only while it is armed, and the scope, which borrows `hook` for 'h, disarms it in Drop
        // (restoring the previous one), so it is never called after the borrow ends. A scope
        // leaked with mem::forget would break this; none is (the engine drops each in place).
        let ptr: *const Hook<'static> = unsafe { std::mem::transmute(ptr) };
        Scope {
            prev: HOOK.replace(Some(ptr)),
            prev_moved: MOVED.replace(0),
            prev_ticks: TICKS.replace(ticks),
            _hook: PhantomData,
        }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        HOOK.set(self.prev);
        MOVED.set(self.prev_moved);
        TICKS.set(self.prev_ticks);
    }
}

/// Whether waits that could block for ever are cut into ticks on this thread: a hook is armed,
/// with ticks.
pub(crate) fn cuts_waits() -> bool {
    HOOK.get().is_some() && TICKS.get()
}

/// Whether signal `sig` ends this thread's blocking waits by itself, so a hook asked on `EINTR`
/// (and between chunks) needs no ticks (see [`WaitTicks::UnlessInterruptedBy`]): its handler
/// was installed without `SA_RESTART` and the thread does not block it (a wait it interrupts
/// then returns `EINTR`, or the bytes a send or write moved before it), or it has no handler.
/// One `sigaction`, and `pthread_sigmask` when the thread's `mask` is not known already.
/// `false` when either call fails.
///
/// [`WaitTicks::UnlessInterruptedBy`]: crate::WaitTicks::UnlessInterruptedBy
pub(crate) fn interrupts_waits(sig: i32, mask: Option<&super::process::SigMask>) -> bool {
    match super::process::handler_flags(sig) {
        Ok(None) => true,
        Ok(Some(flags)) if flags & libc::SA_RESTART == 0 => match mask {
            Some(m) => !m.blocks(sig),
            None => super::process::thread_mask().is_ok_and(|m| !m.blocks(sig)),
        },
        _ => false,
    }
}

/// Records the bytes moved so far, the count the hook is given.
pub(crate) fn note_moved(n: u64) {
    MOVED.set(n);
}

/// Asks the armed hook, if any: `Some(reason)` to stop.
pub(crate) fn ask() -> Option<String> {
    let hook = HOOK.get()?;
    // The hook may run a nested transfer (a progress callback); it sees no hook of ours.
    HOOK.set(None);
    // SAFETY: an armed pointer is valid until its Scope drops (see Scope::arm), which cannot
    // happen during this call.
    let answer = unsafe { (*hook)(MOVED.get()) };
    HOOK.set(Some(hook));
    answer.err()
}

/// Why the hook stopped a wait: the payload of the `io::Error` a stopped wrapper returns.
#[derive(Debug)]
pub(crate) struct Stopped(pub String);

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stopped {}

/// The error a wait the hook stopped returns.
pub(crate) fn stopped(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, Stopped(reason))
}

/// The hook's reason, when `err` is a stop.
pub(crate) fn reason(err: &io::Error) -> Option<&str> {
    err.get_ref()?
        .downcast_ref::<Stopped>()
        .map(|s| s.0.as_str())
}

/// Asks the hook and turns a stop into the error to return.
pub(crate) fn check() -> io::Result<()> {
    match ask() {
        Some(why) => Err(stopped(why)),
        None => Ok(()),
    }
}

/// `poll([{fd, events}], 1, TICK_MS)` until `fd` reports one of `events` (or an error or
/// hang-up, which the next call on it reports), asking the hook between ticks. Without a hook,
/// or with one armed without ticks, one `poll` without timeout (whose `EINTR` asks the hook).
///
/// # References
/// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn poll_ticks(fd: BorrowedFd<'_>, events: i16) -> io::Result<()> {
    let timeout = super::poll_timeout(if cuts_waits() { TICK_MS } else { -1 });
    let events = PollFlags::from_bits_retain(events);
    loop {
        let mut p = [PollFd::new(fd, events)];
        let n = super::retry(|| poll(&mut p, timeout))?;
        if n > 0 {
            return Ok(());
        }
        check()?;
    }
}

/// `poll(NULL, 0, TICK_MS)` — sleeps one tick, then asks the hook.
///
/// # References
/// [man7 poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub(crate) fn sleep_tick() -> io::Result<()> {
    super::retry(|| poll(&mut [], super::poll_timeout(TICK_MS)))?;
    check()
}

/// The FIFO open is a blocking point `copy_file` reaches only when a path becomes a FIFO after
/// its check (it refuses FIFOs before opening them), so it is tested here, on the wrapper.
#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::sys::fs::{getfl, open_stoppable};

    fn fifo(dir: &std::path::Path) -> CString {
        let c = CString::new(dir.join("fifo").as_os_str().as_bytes()).expect("no NUL");
        // SAFETY: `c` is a NUL-terminated path alive for the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        c
    }

    /// Opens `path` with `flags` under a hook that says stop once a flag set 300 ms in is seen:
    /// the open must end with that stop within 1.5 s of the flag.
    fn stopped_open(path: &CString, flags: i32) {
        let stop = AtomicBool::new(false);
        let hook = |_: u64| {
            if stop.load(Ordering::SeqCst) {
                Err("stopped by the test".to_string())
            } else {
                Ok(())
            }
        };
        let (r, waited) = std::thread::scope(|sc| {
            sc.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                stop.store(true, Ordering::SeqCst);
            });
            let _scope = Scope::arm(&hook, true);
            let r = open_stoppable(path, flags, 0o600);
            (r, Instant::now())
        });
        let e = r.expect_err("the open was stopped");
        assert_eq!(reason(&e), Some("stopped by the test"), "{e}");
        // The flag was set 300 ms before the thread scope ended at the latest.
        let _ = waited;
    }

    #[test]
    fn fifo_open_without_the_other_end_is_stopped_by_the_hook() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fifo(dir.path());
        let t0 = Instant::now();
        stopped_open(&path, libc::O_RDONLY);
        stopped_open(&path, libc::O_WRONLY);
        assert!(
            t0.elapsed() < Duration::from_millis(2 * 300 + 1500),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn fifo_open_with_a_hook_waits_for_the_other_end_and_ends_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = fifo(dir.path());
        let hook = |_: u64| Ok(());
        for (mine, theirs) in [(libc::O_RDONLY, true), (libc::O_WRONLY, false)] {
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    std::thread::sleep(Duration::from_millis(300));
                    let p = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
                    // The other end: a writer that writes a byte, or a reader.
                    if theirs {
                        std::fs::write(p, b"x").expect("writer");
                    } else {
                        let mut b = Vec::new();
                        let _ = std::io::Read::read_to_end(
                            &mut std::fs::File::open(p).expect("reader"),
                            &mut b,
                        );
                    }
                });
                let _scope = Scope::arm(&hook, true);
                let fd =
                    open_stoppable(&path, mine, 0o600).expect("opened once the other end came");
                let fl = getfl(fd.as_fd()).expect("F_GETFL");
                assert_eq!(fl & libc::O_NONBLOCK, 0, "O_NONBLOCK cleared");
                if !theirs {
                    crate::sys::fs::write(fd.as_fd(), b"y").expect("write");
                }
                // Closed before the scope joins the reader, which waits for end of file.
                drop(fd);
            });
        }
    }

    #[test]
    fn open_without_a_hook_is_one_syscall() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = CString::new(dir.path().join("f").as_os_str().as_bytes()).expect("no NUL");
        let before = crate::sys::count();
        drop(open_stoppable(&c, libc::O_WRONLY | libc::O_CREAT, 0o600).expect("open"));
        // openat + close.
        assert_eq!(crate::sys::count() - before, 2);
        let hook = |_: u64| Ok(());
        let _scope = Scope::arm(&hook, true);
        let before = crate::sys::count();
        drop(open_stoppable(&c, libc::O_WRONLY, 0).expect("open"));
        // openat, fstat, F_SETFL + close.
        assert_eq!(crate::sys::count() - before, 4);
    }
}
