//! `Options::wait_ticks` (`WaitTicks`): with ticks off, a stalled transfer is stopped by a
//! signal that interrupts its wait (and by nothing else: no tick asks the hook), and a socket
//! transfer makes no `SO_SNDTIMEO` calls; `UnlessInterruptedBy` turns ticks off exactly when the
//! signal's handler lacks `SA_RESTART` and the thread does not block it.
//!
//! Each test installs handlers for a signal of its own (SIGUSR1, SIGUSR2), which no other test
//! of this binary touches.

use std::fs::File;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common;
use zcopy::{ErrorKind, Options, Prepared, Strategy, WaitTicks};

extern "C" fn noop(_: libc::c_int) {}

/// Installs a handler for `sig` that does nothing, with `SA_RESTART` when `restart`.
fn handle(sig: i32, restart: bool) {
    // SAFETY: an all-zero sigaction is a valid start (empty mask, no flags).
    let mut act: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    act.sa_sigaction = noop as extern "C" fn(libc::c_int) as usize;
    act.sa_flags = if restart { libc::SA_RESTART } else { 0 };
    // SAFETY: `act` is initialised; the old action is not asked for.
    let r = unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
    assert_eq!(r, 0, "sigaction");
}

/// Sets `sig`'s disposition back to `SIG_DFL`.
fn default(sig: i32) {
    // SAFETY: as in `handle`.
    let mut act: libc::sigaction = unsafe { MaybeUninit::zeroed().assume_init() };
    act.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `act` is initialised; the old action is not asked for.
    let r = unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
    assert_eq!(r, 0, "sigaction");
}

/// Blocks (`true`) or unblocks `sig` in the calling thread.
fn block(sig: i32, on: bool) {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: initialises `set` in place, then passes it; no old mask asked for.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), sig);
        let how = if on {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        assert_eq!(
            libc::pthread_sigmask(how, set.as_ptr(), std::ptr::null_mut()),
            0
        );
    }
}

/// The stop is asked (the callback starts saying stop) 300 ms into a transfer stalled on a
/// socket whose peer does not read, with ticks off: the call must stay blocked 600 ms more (no
/// tick asks the callback), then end with a Cancelled error within 1.5 s of SIGUSR1 sent to its
/// thread (a handler without `SA_RESTART`), with exactly the bytes the peer then reads.
#[test]
fn a_signal_stops_a_stalled_transfer_without_ticks() {
    handle(libc::SIGUSR1, false);
    for strategy in [
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::IoUring,
    ] {
        let what = format!("stalled socket with {strategy}, ticks off");
        let body = common::data(32 << 20, 7);
        let src = common::file_with(&body);
        let (dst, far) = UnixStream::pair().expect("socketpair");
        let go_on = AtomicBool::new(true);
        let progress = |_: u64| go_on.load(Ordering::SeqCst);
        let opts = Options {
            strategy,
            fallback: false,
            progress: Some(&progress),
            wait_ticks: WaitTicks::Off,
            ..Options::default()
        };
        let id = AtomicU64::new(0);
        let r = std::thread::scope(|sc| {
            let t = sc.spawn(|| {
                // SAFETY: pthread_self has no preconditions.
                id.store(unsafe { libc::pthread_self() } as u64, Ordering::SeqCst);
                zcopy::transfer(&src, &dst, &opts)
            });
            std::thread::sleep(Duration::from_millis(300));
            go_on.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(600));
            let blocked = !t.is_finished();
            // SAFETY: the thread is alive until joined (scoped), so its pthread_t (stored before
            // its transfer began) is valid.
            unsafe {
                libc::pthread_kill(id.load(Ordering::SeqCst) as libc::pthread_t, libc::SIGUSR1)
            };
            let sent = Instant::now();
            while !t.is_finished() && sent.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !t.is_finished() {
                // Free a call that missed the signal: the peer goes away.
                let _ = far.shutdown(std::net::Shutdown::Both);
            }
            let waited = sent.elapsed();
            let r = t.join().expect("transfer thread");
            assert!(blocked, "{what}: a tick asked the callback: {r:?}");
            assert!(waited < Duration::from_millis(1500), "{what}: {waited:?}");
            r
        });
        let e = r.expect_err(&what);
        assert_eq!(e.kind(), ErrorKind::Cancelled, "{what}: {e}");
        let n = e.bytes_moved() as usize;
        assert_eq!(common::pos(&src), n as u64, "{what}: src position");
        drop(dst);
        let mut got = Vec::new();
        File::from(OwnedFd::from(far))
            .read_to_end(&mut got)
            .expect("read the far end");
        assert!(n > 0, "{what}: bytes moved before the stall");
        assert_eq!(got.len(), n, "{what}");
        common::assert_bytes(&got, &body[..n], &what);
    }
    default(libc::SIGUSR1);
}

/// The syscalls of 4 KiB sent from a file to a socket that has room, with a progress callback and
/// `ticks`; the peer gets the bytes.
fn syscalls(ticks: WaitTicks) -> u64 {
    let body = common::data(4096, 8);
    let src = common::file_with(&body);
    let (dst, mut far) = UnixStream::pair().expect("socketpair");
    let progress = |_: u64| true;
    let opts = Options {
        strategy: Strategy::Sendfile,
        src_offset: Some(0),
        progress: Some(&progress),
        wait_ticks: ticks,
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("transfer");
    let mut got = vec![0; 4096];
    far.read_exact(&mut got).expect("the peer reads");
    assert_eq!(got, body);
    r.syscalls
}

/// Ticks cost a socket transfer a `getsockopt` and two `setsockopt(SO_SNDTIMEO)`; `Off` makes
/// none. `UnlessInterruptedBy(SIGUSR2)` reads SIGUSR2's disposition (one `sigaction`; the
/// thread's mask comes with the `pthread_sigmask` that blocks SIGPIPE) and turns ticks off for
/// a handler without `SA_RESTART` or no handler, on for one with `SA_RESTART` or while the thread
/// blocks SIGUSR2. A prepared transfer reads it once, when prepared.
#[test]
fn unless_interrupted_by_decides_from_the_handler_and_the_mask() {
    let sig = libc::SIGUSR2;
    // The first transfer of a thread asks the source's filesystem type once (cached after).
    syscalls(WaitTicks::On);
    let (on, off) = (syscalls(WaitTicks::On), syscalls(WaitTicks::Off));
    assert_eq!(on, off + 3, "the tick: getsockopt + 2 setsockopt");
    let unless = || syscalls(WaitTicks::UnlessInterruptedBy(sig));
    handle(sig, false);
    assert_eq!(unless(), off + 1, "a handler without SA_RESTART: no ticks");
    block(sig, true);
    let blocked = unless();
    block(sig, false);
    assert_eq!(blocked, on + 1, "blocked in this thread: ticks");
    handle(sig, true);
    assert_eq!(unless(), on + 1, "SA_RESTART: ticks");
    default(sig);
    assert_eq!(unless(), off + 1, "no handler: no ticks");

    // Prepared: read at preparation (here: a handler without SA_RESTART), not per run.
    handle(sig, false);
    let unless = prepared_syscalls(WaitTicks::UnlessInterruptedBy(sig), || handle(sig, true));
    let (on, off) = (
        prepared_syscalls(WaitTicks::On, || {}),
        prepared_syscalls(WaitTicks::Off, || {}),
    );
    assert_eq!(unless, off, "prepared: decided once, no syscall per run");
    assert_eq!(on, off.map(|n| n + 3), "prepared: the tick per run");
    default(sig);
}

/// The syscalls of two runs of a transfer prepared with `ticks` (4 KiB from a file to a socket
/// that has room, with a progress callback and the CPU meter off), `between` called after
/// preparing.
fn prepared_syscalls(ticks: WaitTicks, between: impl FnOnce()) -> [u64; 2] {
    let body = common::data(4096, 9);
    let src = common::file_with(&body);
    let (dst, mut far) = UnixStream::pair().expect("socketpair");
    let progress = |_: u64| true;
    let opts = Options {
        progress: Some(&progress),
        wait_ticks: ticks,
        ..Options::default()
    };
    let mut p = Prepared::new(&src, &dst, &opts).expect("prepare");
    p.set_cpu_meter(false);
    between();
    [0, 1].map(|_| {
        let r = p.run(Some(4096), Some(0), None).expect("run");
        let mut got = vec![0; 4096];
        far.read_exact(&mut got).expect("the peer reads");
        assert_eq!(got, body);
        r.syscalls
    })
}
