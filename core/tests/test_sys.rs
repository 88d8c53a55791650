//! The syscall layer's promises: EINTR is retried, never surfaced; SIGPIPE never reaches the
//! host; the calling thread's signal mask is left as found.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::{self, End};
use zcopy::{Options, Strategy};

#[test]
fn sigpipe_never_reaches_the_host() {
    common::run_child("test_sys::child_sigpipe");
}

/// With SIGPIPE at its default disposition (terminate), writing to a pipe or socket whose reader
/// is gone must come back as EPIPE, and the process must live.
#[test]
#[ignore = "run by sigpipe_never_reaches_the_host in a child process"]
fn child_sigpipe() {
    if !common::in_child("test_sys::child_sigpipe") {
        return;
    }
    // SAFETY: restoring the default disposition in this child process, which owns it.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let data = common::data(1 << 20, 1);
    for s in [
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
    ] {
        for end in [End::Pipe, End::Unix] {
            let src = common::file_with(&data);
            let dst: std::os::fd::OwnedFd = match end {
                End::Pipe => common::pipe().1.into(),
                _ => std::os::unix::net::UnixStream::pair()
                    .expect("pair")
                    .0
                    .into(),
            };
            let e = zcopy::transfer(
                &src,
                &dst,
                &Options {
                    strategy: s,
                    fallback: false,
                    ..Options::default()
                },
            )
            .expect_err("reader gone");
            assert_eq!(e.errno(), Some(libc::EPIPE), "{s} {end:?}: {e}");
            // Nothing pending, mask restored.
            assert!(
                !sigpipe_pending(),
                "{s} {end:?}: a SIGPIPE was left pending"
            );
            assert!(!sigpipe_blocked(), "{s} {end:?}: SIGPIPE left blocked");
        }
    }
    common::child_done("test_sys::child_sigpipe");
}

#[test]
fn callers_blocked_sigpipe_stays_blocked_and_pending() {
    common::run_child("test_sys::child_blocked_sigpipe");
}

/// A caller that blocks SIGPIPE itself keeps its mask, and its own pending signal is not eaten.
#[test]
#[ignore = "run by callers_blocked_sigpipe_stays_blocked_and_pending in a child process"]
fn child_blocked_sigpipe() {
    if !common::in_child("test_sys::child_blocked_sigpipe") {
        return;
    }
    block_sigpipe();
    let src = common::file_with(&common::data(10_000, 2));
    let dst = common::pipe().1;
    let e = zcopy::transfer(&src, &dst, &Options::default()).expect_err("reader gone");
    assert_eq!(e.errno(), Some(libc::EPIPE));
    assert!(sigpipe_blocked(), "the caller's mask changed");
    assert!(
        sigpipe_pending(),
        "the caller's pending SIGPIPE was consumed"
    );
    common::child_done("test_sys::child_blocked_sigpipe");
}

#[test]
fn eintr_is_retried() {
    common::run_child("test_sys::child_eintr");
}

/// A handler installed without SA_RESTART makes blocking syscalls fail with EINTR; the engine
/// must retry them and deliver every byte.
#[test]
#[ignore = "run by eintr_is_retried in a child process"]
fn child_eintr() {
    if !common::in_child("test_sys::child_eintr") {
        return;
    }
    static HITS: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn on_usr1(_: libc::c_int) {
        HITS.fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: a zeroed sigaction with a handler and no SA_RESTART, installed in this child only.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    for s in [Strategy::ReadWrite, Strategy::Splice] {
        let data = common::data(4 << 20, 3);
        let (r, mut w) = common::pipe();
        let dst = common::empty_file();
        // SAFETY: pthread_self has no failure mode.
        let me = unsafe { libc::pthread_self() };
        let done = Arc::new(AtomicBool::new(false));
        let feeder = {
            let data = data.clone();
            std::thread::spawn(move || {
                // Slow feed: the transfer blocks in read/splice, where signals interrupt it.
                for chunk in data.chunks(256 * 1024) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    w.write_all(chunk).expect("feed");
                }
            })
        };
        let pinger = {
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    // SAFETY: `me` is the test thread, alive until `done` is set.
                    unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
            })
        };
        let before = HITS.load(Ordering::SeqCst);
        let result = zcopy::transfer(
            &r,
            &dst,
            &Options {
                strategy: s,
                fallback: false,
                ..Options::default()
            },
        );
        done.store(true, Ordering::SeqCst);
        pinger.join().expect("pinger");
        feeder.join().expect("feeder");
        let report = result.unwrap_or_else(|e| panic!("{s}: EINTR surfaced? {e}"));
        assert!(
            HITS.load(Ordering::SeqCst) > before,
            "{s}: no signal arrived; the test proved nothing"
        );
        assert_eq!(report.bytes, data.len() as u64);
        common::assert_bytes(&common::content(&dst), &data, &format!("{s} under signals"));
    }
    common::child_done("test_sys::child_eintr");
}

fn sigset_has(f: impl FnOnce(*mut libc::sigset_t) -> libc::c_int) -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; `f` fills it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        assert_eq!(f(set.as_mut_ptr()), 0);
        libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1
    }
}

fn sigpipe_pending() -> bool {
    // SAFETY: sigpending writes one sigset.
    sigset_has(|s| unsafe { libc::sigpending(s) })
}

fn sigpipe_blocked() -> bool {
    // SAFETY: with a null new set, pthread_sigmask only reads the mask into `s`.
    sigset_has(|s| unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), s) })
}

fn block_sigpipe() {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: the set is initialised before use.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut()),
            0
        );
    }
}
