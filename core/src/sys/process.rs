//! Thread-level process syscalls: CPU clock, resource usage, the signal mask and disposition,
//! and resource limits.

use std::io;
use std::mem::MaybeUninit;

use super::{bump, cvt};

/// `getrusage(RUSAGE_THREAD, &ru)` — this thread's CPU time and context switches.
///
/// # References
/// [man7 getrusage(2)](https://man7.org/linux/man-pages/man2/getrusage.2.html)
pub(crate) fn thread_usage() -> io::Result<libc::rusage> {
    let mut ru = MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `ru` is valid for writes of one rusage.
    cvt(|| unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) })?;
    // SAFETY: getrusage succeeded, so it filled `ru`.
    Ok(unsafe { ru.assume_init() })
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)` — the CPU time this thread has used, user and
/// system together, in nanoseconds. Exact: the kernel adds the running slice not yet accounted
/// (`task_sched_runtime`), where `getrusage` advances only at scheduler ticks and switches. Not
/// served by the vDSO for CPU clocks: a real syscall, counted.
///
/// # References
/// [man7 clock_gettime(2)](https://man7.org/linux/man-pages/man2/clock_gettime.2.html)
pub(crate) fn thread_cpu_ns() -> io::Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes of one timespec.
    cvt(|| unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) })?;
    Ok(ts.tv_sec.max(0) as u64 * 1_000_000_000 + ts.tv_nsec.max(0) as u64)
}

/// `getrlimit(RLIMIT_MEMLOCK, &lim)` — the soft limit on bytes this process may lock in
/// memory; `None` when unlimited (`RLIM_INFINITY`).
///
/// # References
/// [man7 getrlimit(2)](https://man7.org/linux/man-pages/man2/getrlimit.2.html)
pub(crate) fn memlock_limit() -> io::Result<Option<u64>> {
    let mut lim = MaybeUninit::<libc::rlimit>::uninit();
    // SAFETY: `lim` is valid for writes of one rlimit.
    cvt(|| unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, lim.as_mut_ptr()) })?;
    // SAFETY: getrlimit succeeded, so it filled `lim`.
    let cur = unsafe { lim.assume_init() }.rlim_cur;
    Ok((cur != libc::RLIM_INFINITY).then_some(cur))
}

/// A thread's signal mask, as `pthread_sigmask` gave it.
#[derive(Clone, Copy)]
pub(crate) struct SigMask(libc::sigset_t);

impl SigMask {
    /// Whether `sig` is blocked in it (no syscall).
    pub(crate) fn blocks(&self, sig: i32) -> bool {
        // SAFETY: the set was filled by pthread_sigmask; sigismember only reads it.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }
}

/// `pthread_sigmask(SIG_BLOCK, {SIGPIPE}, &old)` — blocks SIGPIPE for this thread only;
/// returns the thread's mask before (whether SIGPIPE was already blocked, and what else is).
///
/// # References
/// [man7 pthread_sigmask(3)](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
pub(crate) fn block_sigpipe() -> io::Result<SigMask> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset/sigaddset initialise `set` in place (no syscall).
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
    }
    // SAFETY: initialised just above.
    let set = unsafe { set.assume_init() };
    sigmask(libc::SIG_BLOCK, Some(&set))
}

/// `pthread_sigmask(SIG_BLOCK, NULL, &old)` — this thread's signal mask, unchanged.
///
/// # References
/// [man7 pthread_sigmask(3)](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
pub(crate) fn thread_mask() -> io::Result<SigMask> {
    sigmask(libc::SIG_BLOCK, None)
}

/// `pthread_sigmask(how, set, &old)`: the mask before.
fn sigmask(how: i32, set: Option<&libc::sigset_t>) -> io::Result<SigMask> {
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    bump();
    let set = set.map_or(std::ptr::null(), |s| s as *const libc::sigset_t);
    // SAFETY: `set` is null (only the old mask is asked for) or an initialised set alive for the
    // call; `old` is valid for writes.
    let r = unsafe { libc::pthread_sigmask(how, set, old.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    // SAFETY: pthread_sigmask succeeded, so it filled `old`.
    Ok(SigMask(unsafe { old.assume_init() }))
}

/// `sigaction(sig, NULL, &old)` — the flags (`sa_flags`: `SA_RESTART`, ...) `sig`'s handler
/// was installed with, or `None` when it has none (`SIG_DFL` or `SIG_IGN`).
///
/// # References
/// [man7 sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub(crate) fn handler_flags(sig: i32) -> io::Result<Option<i32>> {
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only queries; `old` is valid for writes of one sigaction.
    cvt(|| unsafe { libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()) })?;
    // SAFETY: sigaction succeeded, so it filled `old`.
    let old = unsafe { old.assume_init() };
    Ok(
        (old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN)
            .then_some(old.sa_flags),
    )
}

/// `sigaction(SIGPIPE, NULL, &old)` — whether SIGPIPE's disposition is `SIG_IGN` (the kernel
/// then discards a SIGPIPE not blocked, instead of ending the process). Rust's runtime and
/// Python set it so at start-up.
///
/// # References
/// [man7 sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub(crate) fn sigpipe_ignored() -> io::Result<bool> {
    let mut old = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: a null new action only queries; `old` is valid for writes of one sigaction.
    cvt(|| unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), old.as_mut_ptr()) })?;
    // SAFETY: sigaction succeeded, so it filled `old`.
    Ok(unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN)
}

/// `pthread_sigmask(SIG_UNBLOCK, {SIGPIPE})` — undoes [`block_sigpipe`].
pub(crate) fn unblock_sigpipe() {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: initialises `set` in place (no syscall).
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
    }
    bump();
    // SAFETY: `set` is initialised; no old mask is asked for. Unblocking one signal we blocked
    // ourselves cannot fail.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut()) };
}

/// `sigtimedwait({SIGPIPE}, NULL, {0, 0})` — consumes a SIGPIPE pending for this thread, if any,
/// without waiting.
///
/// # References
/// [man7 sigtimedwait(2)](https://man7.org/linux/man-pages/man2/sigtimedwait.2.html)
pub(crate) fn consume_sigpipe() {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: initialises `set` in place (no syscall).
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
    }
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    bump();
    // SAFETY: `set` and `zero` are valid for the call; EAGAIN (nothing pending) is fine.
    unsafe { libc::sigtimedwait(set.as_ptr(), std::ptr::null_mut(), &zero) };
}

/// Asks whether syscall `nr` is blocked for this process (a seccomp filter answering `ENOSYS` or
/// `EPERM`, or a kernel without it) by calling it with `args`, which must make a kernel that has
/// it and lets us call it fail at once (every fd -1, every pointer null: `EBADF`).
///
/// # References
/// [man7 seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)
pub(crate) fn syscall_blocked(nr: libc::c_long, args: [i64; 6]) -> Option<i32> {
    bump();
    // SAFETY: the caller passes fds of -1 and null pointers: the kernel rejects the call on the
    // fds before touching memory, and a filter answers before the kernel looks at anything.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if r >= 0 {
        return None;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(e @ (libc::ENOSYS | libc::EPERM)) => Some(e),
        _ => None,
    }
}
