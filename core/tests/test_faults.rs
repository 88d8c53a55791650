//! Faults in the middle of a transfer, for every technique they concern: a TCP peer that resets
//! the connection or a Unix peer that closes after reading a little; a source extended or
//! truncated while sendfile and mmap_write send it to a pipe or a socket; io_uring and
//! copy_file_range refused by a seccomp filter with ENOSYS and EXDEV.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{self, End, Sink};
use zcopy::{ErrorKind, Options, Strategy};

/// Every technique that sends a file to a stream socket.
const FILE_SOCKET: [Strategy; 6] = [
    Strategy::ReadWrite,
    Strategy::MmapWrite,
    Strategy::Sendfile,
    Strategy::Splice,
    Strategy::MsgZerocopy,
    Strategy::IoUring,
];

fn strict(s: Strategy) -> Options<'static> {
    Options {
        strategy: s,
        fallback: false,
        ..Options::default()
    }
}

/// What the reader got before it went away.
const READ_BEFORE_LEAVING: usize = 64 * 1024;

/// Makes `sock`'s close send a reset (SO_LINGER with a zero timeout), as a crashed peer does.
fn linger_zero(sock: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `l` is a valid linger struct for the length passed; the fd is open.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// A peer that reads [`READ_BEFORE_LEAVING`] bytes, then resets (TCP) or closes (Unix).
fn leaving_peer(end: End) -> (OwnedFd, std::thread::JoinHandle<Vec<u8>>) {
    match end {
        End::Tcp => {
            let (c, mut s) = common::tcp_pair();
            let h = std::thread::spawn(move || {
                let mut got = vec![0u8; READ_BEFORE_LEAVING];
                s.read_exact(&mut got).expect("read before the reset");
                linger_zero(&s);
                drop(s);
                got
            });
            (c.into(), h)
        }
        End::Unix => {
            let (a, mut b) = UnixStream::pair().expect("socketpair");
            let h = std::thread::spawn(move || {
                let mut got = vec![0u8; READ_BEFORE_LEAVING];
                b.read_exact(&mut got).expect("read before the close");
                drop(b);
                got
            });
            (a.into(), h)
        }
        other => unreachable!("no leaving peer for {other:?}"),
    }
}

#[test]
fn a_peer_that_resets_or_closes_mid_transfer_is_an_error_with_the_count() {
    // 64 MiB: far more than the socket buffers hold, so the peer leaves mid-transfer.
    let data = common::data(64 << 20, 31);
    for end in [End::Tcp, End::Unix] {
        for s in FILE_SOCKET {
            if end == End::Unix && s == Strategy::MsgZerocopy {
                continue; // MSG_ZEROCOPY is TCP's (and UDP's) only.
            }
            let src = common::file_with(&data);
            let (sock, peer) = leaving_peer(end);
            let result = zcopy::transfer(&src, &sock, &strict(s));
            let got = peer.join().expect("peer thread");
            common::assert_bytes(
                &got,
                &data[..READ_BEFORE_LEAVING],
                &format!("{s} {end:?}: what the peer read"),
            );
            let e = match result {
                Err(e) => e,
                Ok(r) => panic!("{s} {end:?}: the peer left, yet all {} bytes went", r.bytes),
            };
            assert_eq!(e.kind(), ErrorKind::Io, "{s} {end:?}: {e}");
            assert!(
                matches!(e.errno(), Some(libc::EPIPE | libc::ECONNRESET)),
                "{s} {end:?}: {e:?}"
            );
            assert!(
                e.message().contains("dst"),
                "{s} {end:?}: the message names the destination: {e}"
            );
            let moved = e.bytes_moved();
            assert!(
                moved >= READ_BEFORE_LEAVING as u64 && moved < data.len() as u64,
                "{s} {end:?}: bytes_moved {moved}"
            );
            assert_eq!(
                common::pos(&src),
                moved,
                "{s} {end:?}: the source position advanced by exactly the bytes moved"
            );
            // The caller's socket is still open (and reports the broken connection itself).
            assert!(common::flags(&sock) >= 0, "{s} {end:?}: dst fd still open");
        }
    }
}

/// Sends a file to `end` by `s`, appending `more` to it after the first chunk went out.
fn extended_during(s: Strategy, end: End) {
    let first = common::data(256 * 1024, 32);
    let more = common::data(300_001, 33);
    let src = common::file_with(&first);
    let appender = OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", src.as_raw_fd()))
        .expect("reopen for append");
    let sink = Sink::new(end);
    let grown = AtomicBool::new(false);
    let progress = |_: u64| {
        if !grown.swap(true, Ordering::SeqCst) {
            (&appender).write_all(&more).expect("extend");
        }
        true
    };
    let opts = Options {
        chunk_size: Some(64 * 1024),
        progress: Some(&progress),
        ..strict(s)
    };
    let r = zcopy::transfer(&src, sink.fd(), &opts).unwrap_or_else(|e| panic!("{s} {end:?}: {e}"));
    let mut want = first;
    want.extend_from_slice(&more);
    assert_eq!(r.bytes, want.len() as u64, "{s} {end:?}");
    common::assert_bytes(&sink.finish(), &want, &format!("{s} {end:?} extended"));
}

#[test]
fn a_source_extended_during_sendfile_and_mmap_write_is_sent_to_its_new_end() {
    for s in [Strategy::Sendfile, Strategy::MmapWrite] {
        for end in [End::Pipe, End::Tcp, End::Unix] {
            extended_during(s, end);
        }
    }
}

#[test]
fn a_source_truncated_during_sendfile_stops_at_the_cut() {
    for end in [End::Pipe, End::Tcp, End::Unix] {
        let data = common::data(1 << 20, 34);
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let cut = AtomicBool::new(false);
        // After the first 64 KiB chunk, cut the source at 96 KiB: sendfile sees end of file
        // there and stops; nothing is padded.
        let progress = |_: u64| {
            if !cut.swap(true, Ordering::SeqCst) {
                src.set_len(96 * 1024).expect("truncate");
            }
            true
        };
        let opts = Options {
            chunk_size: Some(64 * 1024),
            progress: Some(&progress),
            ..strict(Strategy::Sendfile)
        };
        let r = zcopy::transfer(&src, sink.fd(), &opts).unwrap_or_else(|e| panic!("{end:?}: {e}"));
        assert_eq!(r.bytes, 96 * 1024, "{end:?}");
        common::assert_bytes(
            &sink.finish(),
            &data[..96 * 1024],
            &format!("sendfile {end:?} truncated"),
        );
    }
}

#[test]
fn a_source_truncated_below_what_mmap_write_sent_to_a_socket_is_efault_with_the_count() {
    for end in [End::Pipe, End::Tcp, End::Unix] {
        let data = common::data(1 << 20, 35);
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let cut = AtomicBool::new(false);
        let progress = |_: u64| {
            if !cut.swap(true, Ordering::SeqCst) {
                src.set_len(1000).expect("truncate");
            }
            true
        };
        let opts = Options {
            chunk_size: Some(64 * 1024),
            progress: Some(&progress),
            ..strict(Strategy::MmapWrite)
        };
        // No SIGBUS reaches this process: the engine re-checks the size before each chunk.
        let e = zcopy::transfer(&src, sink.fd(), &opts).expect_err("shrunk below what was sent");
        assert_eq!(e.kind(), ErrorKind::Io, "{end:?}: {e}");
        assert_eq!(e.errno(), Some(libc::EFAULT), "{end:?}: {e}");
        assert!(
            e.message().contains("shrank") || e.message().contains("truncated"),
            "{end:?}: {e}"
        );
        assert_eq!(e.bytes_moved(), 64 * 1024, "{end:?}");
        common::assert_bytes(
            &sink.finish(),
            &data[..64 * 1024],
            &format!("mmap_write {end:?}: the prefix before the cut"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals through a seccomp filter, in child processes (a filter cannot be removed).

#[test]
fn io_uring_enosys_is_unsupported_and_auto_falls_back() {
    common::run_child("test_faults::child_io_uring_enosys");
}

#[test]
#[ignore = "run by io_uring_enosys_is_unsupported_and_auto_falls_back in a child process"]
fn child_io_uring_enosys() {
    let name = "test_faults::child_io_uring_enosys";
    if !common::in_child(name) {
        return;
    }
    let data = common::data((1 << 20) + 5, 36);
    if let Err(why) = crate::test_seccomp::block(&[libc::SYS_io_uring_setup], libc::ENOSYS) {
        common::skip(name, &format!("cannot install a seccomp filter: {why}"));
        // The fallback check: unfiltered, strict io_uring serves the pair exactly.
        let src = common::file_with(&data);
        let dst = common::empty_file();
        zcopy::transfer(&src, &dst, &strict(Strategy::IoUring)).expect("io_uring");
        common::assert_bytes(&common::content(&dst), &data, "io_uring unfiltered");
        common::child_done(name);
        return;
    }
    for end in [End::File, End::Tcp] {
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let e = zcopy::transfer(&src, sink.fd(), &strict(Strategy::IoUring))
            .expect_err("strict io_uring under ENOSYS");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{end:?}: {e}");
        assert!(e.message().contains("io_uring"), "{end:?}: {e}");
        assert_eq!(e.bytes_moved(), 0, "{end:?}");
        assert_eq!(common::pos(&src), 0, "{end:?}: nothing read");
        assert_eq!(sink.finish(), b"", "{end:?}: nothing written");

        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let opts = Options {
            strategy: Strategy::IoUring,
            ..Options::default()
        };
        let r = zcopy::transfer(&src, sink.fd(), &opts).expect("fallback from io_uring");
        assert_eq!(r.fallbacks[0].strategy, Strategy::IoUring, "{end:?}");
        assert_ne!(r.strategy, Strategy::IoUring, "{end:?}");
        common::assert_bytes(&sink.finish(), &data, &format!("{end:?} after fallback"));
    }
    // Auto's direct_threshold path tries io_uring first: it falls back too.
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let opts = Options {
        direct_threshold: Some(4096),
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("auto with direct_threshold");
    assert_ne!(r.strategy, Strategy::IoUring);
    common::assert_bytes(&common::content(&dst), &data, "direct_threshold fallback");
    common::child_done(name);
}

#[test]
fn copy_file_range_exdev_falls_back_every_time() {
    common::run_child("test_faults::child_copy_file_range_exdev");
}

#[test]
#[ignore = "run by copy_file_range_exdev_falls_back_every_time in a child process"]
fn child_copy_file_range_exdev() {
    let name = "test_faults::child_copy_file_range_exdev";
    if !common::in_child(name) {
        return;
    }
    let data = common::data((3 << 20) + 7, 37);
    if let Err(why) = crate::test_seccomp::block(&[libc::SYS_copy_file_range], libc::EXDEV) {
        common::skip(name, &format!("cannot install a seccomp filter: {why}"));
        let src = common::file_with(&data);
        let dst = common::empty_file();
        zcopy::transfer(&src, &dst, &strict(Strategy::CopyFileRange)).expect("cfr");
        common::assert_bytes(&common::content(&dst), &data, "cfr unfiltered");
        common::child_done(name);
        return;
    }
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let e = zcopy::transfer(&src, &dst, &strict(Strategy::CopyFileRange))
        .expect_err("strict copy_file_range under EXDEV");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(e.errno(), Some(libc::EXDEV), "{e}");
    assert!(
        e.message().contains("copy_file_range") && e.message().contains("EXDEV"),
        "{e}"
    );
    assert_eq!(common::content(&dst), b"");
    // EXDEV speaks of this pair of files (two filesystems), not of the process: Auto falls back
    // each time with the reason, and does not mark copy_file_range unavailable.
    for round in 0..2 {
        for len in [4096usize, 1 << 20, data.len()] {
            let src = common::file_with(&data[..len]);
            let dst = common::empty_file();
            let opts = Options {
                strategy: Strategy::CopyFileRange,
                ..Options::default()
            };
            let r = zcopy::transfer(&src, &dst, &opts)
                .unwrap_or_else(|e| panic!("round {round}, {len} bytes: {e}"));
            assert_eq!(
                r.fallbacks.first().map(|f| f.strategy),
                Some(Strategy::CopyFileRange),
                "round {round}, {len} bytes: {:?}",
                r.fallbacks
            );
            assert!(
                r.fallbacks[0].reason.contains("EXDEV"),
                "round {round}: {:?}",
                r.fallbacks
            );
            common::assert_bytes(
                &common::content(&dst),
                &data[..len],
                &format!("round {round}, {len} bytes"),
            );
        }
    }
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let probe = zcopy::probe(&src, &dst).expect("probe");
    let cfr = probe
        .iter()
        .find(|p| p.strategy == Strategy::CopyFileRange)
        .expect("cfr in probe");
    assert!(
        cfr.supported,
        "EXDEV must not mark copy_file_range unavailable for other pairs: {cfr:?}"
    );
    // copy_file works too (and falls back the same way).
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, &data).expect("write a");
    zcopy::copy_file(&a, &b, &Options::default()).expect("copy_file under EXDEV");
    common::assert_bytes(&std::fs::read(&b).expect("read b"), &data, "copy_file");
    common::child_done(name);
}

// ---------------------------------------------------------------------------------------------
// A panic inside the engine (the test-only hook): it unwinds through every technique's state
// (splice's pipe, io_uring's ring with reads in flight, msg_zerocopy's buffers held for their
// completions) without leaking an fd or touching the caller's.

/// The fds open in this process and what they are (probed with fcntl, which opens nothing).
fn open_fds() -> Vec<(i32, String)> {
    (0..4096)
        .filter(|&fd| {
            // SAFETY: F_GETFD only reads the fd table; a closed fd gives EBADF.
            unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
        })
        .map(|fd| {
            let what = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            (fd, what)
        })
        .collect()
}

#[test]
fn a_panic_inside_the_engine_unwinds_cleanly_through_every_technique() {
    common::run_child("test_faults::child_panic_unwinds");
}

#[test]
#[ignore = "run by a_panic_inside_the_engine_unwinds_cleanly_through_every_technique in a child"]
fn child_panic_unwinds() {
    let name = "test_faults::child_panic_unwinds";
    if !common::in_child(name) {
        return;
    }
    // The injected panics are expected: keep them quiet, and print any other.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.contains(zcopy::testing::MESSAGE));
        if !injected {
            default_hook(info);
        }
    }));
    let data = common::data(8 << 20, 38);
    let cases: Vec<(Strategy, End)> = Strategy::TECHNIQUES
        .iter()
        .flat_map(|&s| [(s, End::File), (s, End::Tcp), (s, End::Pipe)])
        .collect();
    let mut ran = 0;
    for (s, end) in cases {
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        if !zcopy::probe(&src, sink.fd())
            .expect("probe")
            .iter()
            .any(|p| p.strategy == s && p.supported)
        {
            // Join the sink's drain thread now: left to itself it would close its fd later,
            // in the middle of the next case's fd count.
            drop(sink.finish());
            continue;
        }
        let before = open_fds();
        let (src_flags, dst_flags) = (common::flags(&src), common::flags(&sink.fd()));
        let opts = Options {
            chunk_size: Some(256 * 1024),
            ..strict(s)
        };
        zcopy::testing::inject_panic(1 << 20);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            zcopy::transfer(&src, sink.fd(), &opts)
        }));
        zcopy::testing::disarm();
        let payload = match caught {
            Err(p) => p,
            Ok(r) => panic!("{s} {end:?}: no panic ({:?})", r.map(|r| r.bytes)),
        };
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(msg.contains(zcopy::testing::MESSAGE), "{s} {end:?}: {msg}");
        assert_eq!(open_fds(), before, "{s} {end:?}: no fd opened or closed");
        assert_eq!(common::flags(&src), src_flags, "{s} {end:?}");
        assert_eq!(common::flags(&sink.fd()), dst_flags, "{s} {end:?}");
        drop(sink.finish());
        // The engine still works on this thread, with the same technique.
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let r = zcopy::transfer(&src, sink.fd(), &opts)
            .unwrap_or_else(|e| panic!("{s} {end:?} after the panic: {e}"));
        assert_eq!(r.bytes, data.len() as u64);
        common::assert_bytes(
            &sink.finish(),
            &data,
            &format!("{s} {end:?} after the panic"),
        );
        ran += 1;
    }
    assert!(ran >= 12, "only {ran} technique/endpoint pairs ran");
    common::child_done(name);
}

#[test]
fn statx_refused_falls_back_to_fstat() {
    common::run_child("test_faults::child_statx_refused");
}

#[test]
#[ignore = "run by statx_refused_falls_back_to_fstat in a child process"]
fn child_statx_refused() {
    let name = "test_faults::child_statx_refused";
    if !common::in_child(name) {
        return;
    }
    if let Err(why) = crate::test_seccomp::block(&[libc::SYS_statx], libc::ENOSYS) {
        common::skip(name, &format!("cannot install a seccomp filter: {why}"));
    }
    // Classification falls back to fstat (an old kernel, a container's filter): every size and
    // pair still moves exactly, and errors still name the fd.
    for n in [0usize, 4096, 100_000, 3 << 20] {
        let data = common::data(n, 39);
        for end in [End::File, End::Pipe, End::Tcp] {
            let src = common::file_with(&data);
            let sink = Sink::new(end);
            let r = zcopy::transfer(&src, sink.fd(), &Options::default())
                .unwrap_or_else(|e| panic!("{n} bytes to {end:?}: {e}"));
            assert_eq!(r.bytes, n as u64);
            common::assert_bytes(&sink.finish(), &data, &format!("{n} bytes to {end:?}"));
        }
    }
    // SAFETY: fd 999 is not open in this child; the engine only passes it to statx/fstat,
    // which refuse it with EBADF (what this checks). It is never read, written or closed.
    let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(999) };
    let e =
        zcopy::transfer(bad, common::empty_file(), &Options::default()).expect_err("a closed fd");
    assert_eq!(e.errno(), Some(libc::EBADF), "{e}");
    assert!(e.message().contains("src fd 999"), "{e}");
    common::child_done(name);
}
