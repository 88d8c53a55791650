//! Every blocking wait can be stopped (`sys::stop`): a cancel flag or a progress callback that
//! says stop ends a transfer blocked in the kernel within a tick, with the exact count moved.
//!
//! Blocking points: an idle pipe or socket source, a full pipe destination (no reader draining it), a stalled
//! socket destination (a peer that does not read), each with the techniques that serve it. (The
//! open of a FIFO, which `copy_file` reaches only for a path made a FIFO after its check, is
//! tested on its wrapper: `sys::stop`'s unit tests.)

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common;
use zcopy::{ErrorKind, Options, Strategy};

/// How a stop is asked.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The cancel flag is set.
    Cancel,
    /// The progress callback returns false.
    Progress,
}

const STOPS: [Stop; 2] = [Stop::Cancel, Stop::Progress];

/// How long a stop may take to end the call: a tick is 100 ms; the rest is slack for a loaded
/// machine.
const BOUND: Duration = Duration::from_millis(1500);

/// Runs `call` with options asking `stop` 400 ms after it started (the call must still be
/// blocked then), and checks it ends within [`BOUND`] with a Cancelled error; `release` frees a
/// call that missed the stop (so a failing test does not hang). Gives the error.
fn stopped_while_blocked<T: std::fmt::Debug + Send>(
    what: &str,
    stop: Stop,
    call: impl FnOnce(&Options<'_>) -> zcopy::Result<T> + Send,
    release: impl FnOnce(),
) -> zcopy::Error {
    let flag = AtomicBool::new(false);
    let go_on = AtomicBool::new(true);
    let progress = |_: u64| go_on.load(Ordering::SeqCst);
    let opts = match stop {
        Stop::Cancel => Options {
            cancel: Some(&flag),
            ..Options::default()
        },
        Stop::Progress => Options {
            progress: Some(&progress),
            ..Options::default()
        },
    };
    let opts = &opts;
    let (r, waited) = std::thread::scope(|sc| {
        let t = sc.spawn(move || call(opts));
        std::thread::sleep(Duration::from_millis(400));
        let blocked = !t.is_finished();
        flag.store(true, Ordering::SeqCst);
        go_on.store(false, Ordering::SeqCst);
        let t1 = Instant::now();
        while !t.is_finished() && t1.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let waited = t1.elapsed();
        if !t.is_finished() {
            release();
        }
        let r = t.join().expect("transfer thread");
        assert!(
            blocked,
            "{what} ({stop:?}): the call was not blocked: {r:?}"
        );
        (r, waited)
    });
    let e = r.expect_err(&format!("{what} ({stop:?}): stopped"));
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{what} ({stop:?}): {e}");
    assert_eq!(e.errno(), Some(libc::ECANCELED), "{what} ({stop:?})");
    let word = match stop {
        Stop::Cancel => "cancel flag",
        Stop::Progress => "progress callback",
    };
    assert!(e.message().contains(word), "{what} ({stop:?}): {e}");
    assert!(
        waited < BOUND,
        "{what} ({stop:?}): the stop was seen after {waited:?}"
    );
    e
}

/// What the transfer is blocked on.
#[derive(Debug, Clone, Copy)]
enum Block {
    IdlePipe,
    IdleUnix,
    IdleTcp,
    FullPipe,
    StalledUnix,
    StalledTcp,
}

/// Two connected stream sockets (`unix`: a socketpair, else loopback TCP).
fn stream_pair(unix: bool) -> (OwnedFd, OwnedFd) {
    if unix {
        let (a, b) = UnixStream::pair().expect("socketpair");
        (a.into(), b.into())
    } else {
        let (a, b) = common::tcp_pair();
        (a.into(), b.into())
    }
}

/// Reads `fd` to end of file.
fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut f = File::from(fd);
    let mut got = Vec::new();
    f.read_to_end(&mut got).expect("read the far end");
    got
}

/// A transfer blocked on `block` with `strategy`, stopped: it ends within the bound, with
/// exactly the bytes that reached the destination counted.
fn blocked_transfer(block: Block, strategy: Strategy, stop: Stop) {
    let what = format!("{block:?} with {strategy}");
    let first = common::data(1000, 3);
    let big = common::data(32 << 20, 4);
    // (src, dst, the far end the test holds, what the source holds)
    let (src, dst, far, sent): (OwnedFd, OwnedFd, OwnedFd, &[u8]) = match block {
        Block::IdlePipe | Block::IdleUnix | Block::IdleTcp => {
            let (w, r) = match block {
                Block::IdlePipe => {
                    let (r, w) = common::pipe();
                    (OwnedFd::from(w), OwnedFd::from(r))
                }
                b => stream_pair(matches!(b, Block::IdleUnix)),
            };
            File::from(w.try_clone().expect("dup"))
                .write_all(&first)
                .expect("write the first bytes");
            (r, common::empty_file().into(), w, &first)
        }
        Block::FullPipe => {
            let (r, w) = common::pipe();
            (common::file_with(&big).into(), w.into(), r.into(), &big)
        }
        Block::StalledUnix | Block::StalledTcp => {
            let (a, b) = stream_pair(matches!(block, Block::StalledUnix));
            (common::file_with(&big).into(), a, b, &big)
        }
    };
    let far_fd: BorrowedFd<'_> = far.as_fd();
    let e = stopped_while_blocked(
        &what,
        stop,
        |o| {
            let o = Options {
                strategy,
                fallback: false,
                ..o.clone()
            };
            zcopy::transfer(&src, &dst, &o)
        },
        || {
            // Shut the far end: the blocked call sees end of file or EPIPE.
            // SAFETY: shutdown touches no memory; on a pipe it fails harmlessly (ENOTSOCK).
            unsafe { libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(&far_fd), libc::SHUT_RDWR) };
        },
    );
    let n = e.bytes_moved() as usize;
    let got = match block {
        Block::IdlePipe | Block::IdleUnix | Block::IdleTcp => {
            drop(far);
            assert_eq!(n, first.len(), "{what} ({stop:?}): {e}");
            common::content(&File::from(dst))
        }
        _ => {
            let at = common::pos(&src);
            assert_eq!(at, n as u64, "{what} ({stop:?}): src position");
            drop((src, dst));
            assert!(n > 0, "{what} ({stop:?}): something moved before the stall");
            read_all(far)
        }
    };
    assert_eq!(got.len(), n, "{what} ({stop:?}): bytes at the destination");
    common::assert_bytes(&got, &sent[..n], &format!("{what} ({stop:?})"));
}

fn each(block: Block, strategies: &[Strategy]) {
    for &s in strategies {
        for stop in STOPS {
            blocked_transfer(block, s, stop);
        }
    }
}

#[test]
fn idle_pipe_source_stopped() {
    each(Block::IdlePipe, &[Strategy::ReadWrite, Strategy::Splice]);
}

#[test]
fn idle_socket_source_stopped() {
    each(Block::IdleUnix, &[Strategy::ReadWrite, Strategy::Splice]);
    each(Block::IdleTcp, &[Strategy::ReadWrite, Strategy::Splice]);
}

/// The techniques that write a file to a pipe or socket.
const WRITERS: [Strategy; 6] = [
    Strategy::ReadWrite,
    Strategy::Splice,
    Strategy::Sendfile,
    Strategy::MmapWrite,
    Strategy::Direct,
    Strategy::IoUring,
];

#[test]
fn full_pipe_destination_stopped() {
    each(Block::FullPipe, &WRITERS);
}

#[test]
fn stalled_socket_destination_stopped() {
    each(Block::StalledUnix, &WRITERS);
    each(Block::StalledTcp, &WRITERS);
    each(Block::StalledTcp, &[Strategy::MsgZerocopy]);
}

/// The syscalls of `f(opts)` without a stop hook and with one (a cancel flag never set).
fn syscalls_without_and_with_hook(f: impl Fn(&Options<'_>) -> zcopy::Report) -> (u64, u64) {
    let flag = AtomicBool::new(false);
    let with = Options {
        cancel: Some(&flag),
        ..Options::default()
    };
    (f(&Options::default()).syscalls, f(&with).syscalls)
}

/// What a stop hook costs: nothing without one (the wrappers make the calls they always made:
/// `EINTR` is the only new branch), and with one only where a wait is cut: `copy_file` opens
/// with `O_NONBLOCK` and clears it (`fstat` + `F_SETFL` per path); file → file moves make the
/// same calls. The counts are printed for the README (`cargo test ... -- --nocapture`).
#[test]
fn stop_hook_cost() {
    let data = common::data(8 << 20, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::write(&src, &data).expect("src");
    let (without, with) =
        syscalls_without_and_with_hook(|o| zcopy::copy_file(&src, &dst, o).expect("copy_file"));
    println!("copy_file 8 MiB file → file: {without} syscalls without a hook, {with} with");
    assert_eq!(with, without + 4, "copy_file: fstat + F_SETFL per path");
    let (without, with) = syscalls_without_and_with_hook(|o| {
        let (s, d) = (common::file_with(&data), common::empty_file());
        zcopy::transfer(&s, &d, o).expect("transfer")
    });
    println!("transfer 8 MiB file → file: {without} syscalls without a hook, {with} with");
    assert_eq!(with, without, "file → file: no wait to cut");
    for strategy in [Strategy::ReadWrite, Strategy::Splice, Strategy::Sendfile] {
        let (without, with) = syscalls_without_and_with_hook(|o| {
            let (r, w) = common::pipe();
            let s = common::file_with(&data);
            let o = Options {
                strategy,
                fallback: false,
                ..o.clone()
            };
            std::thread::scope(|sc| {
                let reader = sc.spawn(move || read_all(r.into()).len());
                let rep = zcopy::transfer(&s, &w, &o).expect("transfer");
                drop(w);
                assert_eq!(reader.join().expect("reader"), data.len());
                rep
            })
        });
        println!(
            "transfer 8 MiB file → pipe (drained) with {strategy}: {without} syscalls without a \
             hook, {with} with (a poll per chunk, and a retry when the pipe was full)"
        );
        assert!(with >= without, "{strategy}");
    }
}

/// A non-blocking socket source (as Go and asyncio hand over) whose bytes keep coming, into a
/// blocking socket whose peer does not read: the destination's wait is still cut (its `EAGAIN`
/// is told from the source's), so the cancel flag ends the call within the bound, and the peer
/// then reads at least the bytes the call counted (earlier calls, retried after the source's
/// `EAGAIN`, moved the rest), the source's bytes in order.
#[test]
fn stalled_destination_with_a_non_blocking_source_stopped() {
    for strategy in [Strategy::ReadWrite, Strategy::Splice] {
        let (feeder_end, src) = stream_pair(true);
        common::set_nonblocking(&src);
        let (dst, far) = stream_pair(true);
        let body = common::data(16 << 20, 6);
        let what = format!("non-blocking source with {strategy}");
        let e = std::thread::scope(|sc| {
            let feeder_body = &body;
            let feeder = sc.spawn(move || {
                // Ends with EPIPE once the test drops the transfer's end.
                let _ = File::from(feeder_end).write_all(feeder_body);
            });
            let e = stopped_while_blocked(
                &what,
                Stop::Cancel,
                |o| {
                    let o = Options {
                        strategy,
                        fallback: false,
                        ..o.clone()
                    };
                    // The source may be empty for a moment: EAGAIN is the caller's to retry.
                    loop {
                        match zcopy::transfer(&src, &dst, &o) {
                            Err(e) if e.is_would_block() => {
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            r => break r,
                        }
                    }
                },
                || drop(far.try_clone().map(|f| read_all(f).len())),
            );
            drop(src);
            let _ = feeder.join();
            e
        });
        drop(dst);
        let got = read_all(far);
        let n = e.bytes_moved() as usize;
        // Each retried call counts from 0: the far end holds at least this call's bytes.
        assert!(got.len() >= n, "{what}: far end {} < {n}", got.len());
        common::assert_bytes(&got, &body[..got.len()], &what);
    }
}
