//! The semantics of `transfer` and `copy_file`: positions, lengths, growing and shrinking
//! sources, O_APPEND, non-blocking fds, cancellation, errors that name what was wrong.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::common::{self, End, Source};
use zcopy::{ErrorKind, Options, Strategy};

/// Techniques that serve file → file.
const FILE_FILE: [Strategy; 6] = [
    Strategy::Auto,
    Strategy::ReadWrite,
    Strategy::MmapWrite,
    Strategy::Sendfile,
    Strategy::Splice,
    Strategy::CopyFileRange,
];

fn strict(s: Strategy) -> Options<'static> {
    Options {
        strategy: s,
        fallback: s == Strategy::Auto,
        ..Options::default()
    }
}

#[test]
fn none_offsets_start_at_the_position_and_advance_it() {
    for s in FILE_FILE {
        let data = common::data(300_000, 1);
        let mut src = common::file_with(&data);
        src.seek(SeekFrom::Start(1000)).expect("seek");
        let mut dst = common::empty_file();
        dst.write_all(b"head").expect("write");
        let r = zcopy::transfer(&src, &dst, &strict(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 299_000, "{s}");
        assert_eq!(common::pos(&src), 300_000, "{s}: src position");
        assert_eq!(common::pos(&dst), 4 + 299_000, "{s}: dst position");
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[1000..]);
        common::assert_bytes(&common::content(&dst), &want, &format!("{s}"));
    }
}

#[test]
fn explicit_offsets_leave_positions_alone() {
    for s in FILE_FILE {
        let data = common::data(200_000, 2);
        let mut src = common::file_with(&data);
        src.seek(SeekFrom::Start(17)).expect("seek");
        let mut dst = common::empty_file();
        dst.write_all(&[1u8; 10]).expect("write");
        let opts = Options {
            src_offset: Some(4096),
            dst_offset: Some(8192),
            len: Some(100_000),
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 100_000, "{s}");
        assert_eq!(common::pos(&src), 17, "{s}: src position");
        assert_eq!(common::pos(&dst), 10, "{s}: dst position");
        let got = common::content(&dst);
        assert_eq!(got.len(), 8192 + 100_000, "{s}");
        assert_eq!(&got[..10], &[1u8; 10], "{s}: bytes before dst_offset kept");
        common::assert_bytes(&got[8192..], &data[4096..104_096], &format!("{s}"));
    }
}

#[test]
fn len_past_eof_gives_the_exact_short_count() {
    for s in FILE_FILE {
        let data = common::data(5000, 3);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let opts = Options {
            len: Some(1 << 30),
            src_offset: Some(1000),
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 4000, "{s}");
        common::assert_bytes(&common::content(&dst), &data[1000..], &format!("{s}"));
    }
}

#[test]
fn len_zero_moves_nothing_and_succeeds() {
    for s in FILE_FILE {
        let src = common::file_with(b"abc");
        let dst = common::empty_file();
        let r = zcopy::transfer(
            &src,
            &dst,
            &Options {
                len: Some(0),
                ..strict(s)
            },
        )
        .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 0);
        assert_eq!(common::content(&dst), b"");
        assert_eq!(common::pos(&src), 0);
    }
}

#[test]
fn to_eof_follows_a_source_that_grows() {
    for s in FILE_FILE {
        let first = common::data(64 * 1024, 4);
        let more = common::data(100_000, 5);
        let src = common::file_with(&first);
        let appender = OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{}", src.as_raw_fd()))
            .expect("reopen for append");
        let dst = common::empty_file();
        let grown = AtomicBool::new(false);
        let progress = |_: u64| {
            if !grown.swap(true, Ordering::SeqCst) {
                (&appender).write_all(&more).expect("grow");
            }
            true
        };
        let opts = Options {
            chunk_size: Some(16 * 1024),
            progress: Some(&progress),
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        let mut want = first.clone();
        want.extend_from_slice(&more);
        assert_eq!(r.bytes, want.len() as u64, "{s}");
        common::assert_bytes(&common::content(&dst), &want, &format!("{s} grown"));
    }
}

#[test]
fn to_eof_stops_at_a_source_that_shrinks() {
    for s in FILE_FILE {
        let data = common::data(256 * 1024, 6);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let cut = AtomicBool::new(false);
        // After the first 16 KiB chunk, cut the source at 32 KiB (page aligned): the copy must
        // stop there, never padding.
        let progress = |_: u64| {
            if !cut.swap(true, Ordering::SeqCst) {
                src.set_len(32 * 1024).expect("truncate");
            }
            true
        };
        let opts = Options {
            chunk_size: Some(16 * 1024),
            progress: Some(&progress),
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 32 * 1024, "{s}");
        common::assert_bytes(
            &common::content(&dst),
            &data[..32 * 1024],
            &format!("{s} shrunk"),
        );
    }
}

#[test]
fn mmap_write_reports_a_source_truncated_below_what_it_sent() {
    let data = common::data(256 * 1024, 7);
    let src = common::file_with(&data);
    let dst = common::empty_file();
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
    let e = zcopy::transfer(&src, &dst, &opts).expect_err("shrunk below what was sent");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.errno(), Some(libc::EFAULT));
    assert!(
        e.message().contains("shrank") || e.message().contains("truncated"),
        "{e}"
    );
    assert_eq!(e.bytes_moved(), 64 * 1024);
    common::assert_bytes(
        &common::content(&dst),
        &data[..64 * 1024],
        "prefix before the cut",
    );
}

#[test]
fn append_destinations_work_and_refuse_dst_offset() {
    let data = common::data(100_000, 8);
    let src = common::file_with(&data);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    std::fs::write(&path, b"existing\n").expect("write");
    let dst = OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open append");
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("auto to O_APPEND");
    assert_eq!(r.bytes, 100_000);
    assert_eq!(r.strategy, Strategy::ReadWrite);
    assert!(
        r.fallbacks
            .iter()
            .any(|f| f.strategy == Strategy::CopyFileRange && f.reason.contains("O_APPEND")),
        "{:?}",
        r.fallbacks
    );
    let mut want = b"existing\n".to_vec();
    want.extend_from_slice(&data);
    common::assert_bytes(&std::fs::read(&path).expect("read"), &want, "appended");

    let e = zcopy::transfer(
        &src,
        &dst,
        &Options {
            dst_offset: Some(0),
            ..Options::default()
        },
    )
    .expect_err("dst_offset on O_APPEND");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("O_APPEND") && e.message().contains("dst_offset"),
        "{e}"
    );

    let e = zcopy::transfer(&src, &dst, &strict(Strategy::Sendfile)).expect_err("strict sendfile");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("O_APPEND"), "{e}");
}

#[test]
fn overlapping_ranges_of_one_file_are_refused() {
    let data = common::data(10_000, 9);
    let f = common::file_with(&data);
    let g = File::options()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .expect("reopen");
    let e = zcopy::transfer(
        &f,
        &g,
        &Options {
            src_offset: Some(0),
            dst_offset: Some(5000),
            ..Options::default()
        },
    )
    .expect_err("overlap");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("same file") && e.message().contains("overlap"),
        "{e}"
    );
    assert_eq!(common::content(&f), data, "nothing written");
    // Disjoint ranges of one file are fine.
    let r = zcopy::transfer(
        &f,
        &g,
        &Options {
            src_offset: Some(0),
            dst_offset: Some(10_000),
            len: Some(10_000),
            ..Options::default()
        },
    )
    .expect("disjoint");
    assert_eq!(r.bytes, 10_000);
    let mut want = data.clone();
    want.extend_from_slice(&data);
    assert_eq!(common::content(&f), want);
}

#[test]
fn bad_arguments_name_what_was_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("f");
    std::fs::write(&path, b"data").expect("write");
    let ro = File::open(&path).expect("open");
    let wo = OpenOptions::new().write(true).open(&path).expect("open");
    let other = common::empty_file();
    let check = |r: zcopy::Result<zcopy::Report>, kind: ErrorKind, needle: &str| {
        let e = r.expect_err(needle);
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.message().contains(needle), "{e:?} should say {needle:?}");
        assert_eq!(e.bytes_moved(), 0);
    };
    let d = Options::default();
    check(
        zcopy::transfer(&wo, &other, &d),
        ErrorKind::Invalid,
        &format!("src fd {} is opened write-only", wo.as_raw_fd()),
    );
    check(
        zcopy::transfer(&other, &ro, &d),
        ErrorKind::Invalid,
        &format!("dst fd {} is opened read-only", ro.as_raw_fd()),
    );
    let opath = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&path)
        .expect("O_PATH");
    check(
        zcopy::transfer(&opath, &other, &d),
        ErrorKind::Invalid,
        "O_PATH",
    );
    let dirfd = File::open(dir.path()).expect("open dir");
    check(
        zcopy::transfer(&dirfd, &other, &d),
        ErrorKind::Io,
        "is a directory",
    );
    let (r, w) = common::pipe();
    check(
        zcopy::transfer(
            &r,
            &other,
            &Options {
                src_offset: Some(1),
                ..d.clone()
            },
        ),
        ErrorKind::Invalid,
        "src_offset given, but",
    );
    check(
        zcopy::transfer(
            &ro,
            &w,
            &Options {
                dst_offset: Some(1),
                ..d.clone()
            },
        ),
        ErrorKind::Invalid,
        "has no offsets",
    );
    check(
        zcopy::transfer(
            &ro,
            &other,
            &Options {
                src_offset: Some(u64::MAX - 5),
                len: Some(10),
                ..d.clone()
            },
        ),
        ErrorKind::Invalid,
        "largest file offset",
    );
    check(
        zcopy::transfer(
            &ro,
            &other,
            &Options {
                src_offset: Some(1 << 63),
                ..d.clone()
            },
        ),
        ErrorKind::Invalid,
        "largest file offset",
    );
    // A closed fd: borrow a number nothing has open.
    let closed = {
        let f = common::empty_file();
        f.as_raw_fd()
    };
    // SAFETY: the test only passes the number to zcopy, which must answer EBADF.
    let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(closed) };
    let e = zcopy::transfer(bad, &other, &d).expect_err("closed fd");
    assert_eq!(e.errno(), Some(libc::EBADF));
    assert!(
        e.message().contains("is not an open file descriptor"),
        "{e}"
    );
    // The caller's fds are still open and unchanged after every failure.
    for f in [&ro, &wo, &other] {
        common::flags(f);
    }
    assert_eq!(common::pos(&ro), 0);
}

#[test]
fn cancel_flag_and_progress_stop_between_chunks_with_the_count() {
    let data = common::data(1 << 20, 10);
    for s in FILE_FILE {
        // A flag already set: nothing moves.
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let flag = AtomicBool::new(true);
        let e = zcopy::transfer(
            &src,
            &dst,
            &Options {
                cancel: Some(&flag),
                ..strict(s)
            },
        )
        .expect_err("cancelled");
        assert_eq!(e.kind(), ErrorKind::Cancelled, "{s}");
        assert_eq!(e.errno(), Some(libc::ECANCELED));
        assert_eq!(e.bytes_moved(), 0);
        assert_eq!(common::content(&dst), b"");
        // The progress callback says stop after 3 chunks.
        let calls = AtomicU64::new(0);
        let progress = |n: u64| {
            assert_eq!(n % 65536, 0, "called between chunks");
            calls.fetch_add(1, Ordering::SeqCst) < 2
        };
        let opts = Options {
            chunk_size: Some(65536),
            progress: Some(&progress),
            ..strict(s)
        };
        let e = zcopy::transfer(&src, &dst, &opts).expect_err("stopped");
        assert_eq!(e.kind(), ErrorKind::Cancelled, "{s}: {e}");
        assert!(e.message().contains("progress callback"), "{e}");
        assert_eq!(e.bytes_moved(), 3 * 65536, "{s}");
        assert_eq!(
            common::pos(&src),
            3 * 65536,
            "{s}: src position at the stop"
        );
        common::assert_bytes(
            &common::content(&dst),
            &data[..3 * 65536],
            &format!("{s} prefix"),
        );
        let report = e.report().expect("a failed transfer carries its report");
        assert_eq!(report.bytes, 3 * 65536);
    }
}

#[test]
fn nonblocking_source_returns_progress_with_would_block() {
    for s in [Strategy::Auto, Strategy::ReadWrite, Strategy::Splice] {
        let (r, mut w) = common::pipe();
        common::set_nonblocking(&r);
        let before = common::flags(&r);
        w.write_all(&[7u8; 1000]).expect("feed");
        let dst = common::empty_file();
        let t = std::time::Instant::now();
        let e = zcopy::transfer(&r, &dst, &strict(s)).expect_err("would block");
        assert!(e.is_would_block(), "{s}: {e}");
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.bytes_moved(), 1000, "{s}");
        assert_eq!(common::content(&dst), vec![7u8; 1000]);
        assert!(t.elapsed().as_secs() < 5, "returned, did not wait");
        assert_eq!(
            common::flags(&r),
            before,
            "{s}: the caller's flags are untouched"
        );
    }
}

#[test]
fn nonblocking_destination_returns_exact_progress() {
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
    ] {
        let data = common::data(8 << 20, 11);
        let src = common::file_with(&data);
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        let cpu0 = cpu_time();
        let e = zcopy::transfer(&src, &a, &strict(s)).expect_err("peer does not read");
        assert!(
            cpu_time() - cpu0 < 2.0,
            "{s}: burned CPU instead of returning"
        );
        assert!(e.is_would_block(), "{s}: {e}");
        let k = e.bytes_moved();
        assert!(k > 0 && k < data.len() as u64, "{s}: {k}");
        assert_eq!(
            common::pos(&src),
            k,
            "{s}: src position matches what was sent"
        );
        drop(a);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut &b, &mut got).expect("drain");
        common::assert_bytes(&got, &data[..k as usize], &format!("{s} prefix"));
    }
}

fn cpu_time() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: ru is valid for one rusage.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    assert_eq!(r, 0);
    // SAFETY: getrusage filled it.
    let ru = unsafe { ru.assume_init() };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[test]
fn character_devices() {
    let zero = File::open("/dev/zero").expect("/dev/zero");
    let dst = common::empty_file();
    let r = zcopy::transfer(
        &zero,
        &dst,
        &Options {
            len: Some(100_000),
            ..Options::default()
        },
    )
    .expect("zeros");
    assert_eq!(r.bytes, 100_000);
    assert_eq!(common::content(&dst), vec![0u8; 100_000]);
    let e = zcopy::transfer(&zero, &dst, &Options::default()).expect_err("endless");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("/dev/zero") && e.message().contains("len"),
        "{e}"
    );

    let null = OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let data = common::data(3 << 20, 12);
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::MmapWrite,
    ] {
        let src = common::file_with(&data);
        let r = zcopy::transfer(&src, &null, &strict(s))
            .unwrap_or_else(|e| panic!("{s} to /dev/null: {e}"));
        assert_eq!(r.bytes, data.len() as u64, "{s}");
    }
}

#[test]
fn fifos_work_as_pipes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fifo");
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: c is a valid path string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let data = common::data(3 << 20, 13);
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || std::fs::read(path).expect("read fifo"))
    };
    let w = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open fifo");
    let src = common::file_with(&data);
    let r = zcopy::transfer(&src, &w, &Options::default()).expect("to fifo");
    drop(w);
    assert_eq!(r.bytes, data.len() as u64);
    common::assert_bytes(&reader.join().expect("reader"), &data, "fifo");
}

#[test]
fn broken_pipe_is_an_error_with_the_count() {
    for s in [
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::MmapWrite,
    ] {
        for end in [End::Pipe, End::Unix, End::Tcp] {
            let data = common::data(4 << 20, 14);
            let src = common::file_with(&data);
            // Close the reading side: every write fails with EPIPE (or ECONNRESET).
            let sink_fd: std::os::fd::OwnedFd = match end {
                End::Pipe => common::pipe().1.into(),
                End::Unix => std::os::unix::net::UnixStream::pair()
                    .expect("pair")
                    .0
                    .into(),
                _ => common::tcp_pair().0.into(),
            };
            let e = zcopy::transfer(&src, &sink_fd, &strict(s)).expect_err("peer gone");
            assert_eq!(e.kind(), ErrorKind::Io, "{s} {end:?}: {e}");
            assert!(
                matches!(e.errno(), Some(libc::EPIPE | libc::ECONNRESET)),
                "{s} {end:?}: {e:?}"
            );
            assert_eq!(common::pos(&src), e.bytes_moved(), "{s} {end:?}");
        }
    }
}

#[test]
fn source_kinds_through_auto() {
    // Every stream source to a file, with Auto's choice recorded.
    for (end, want) in [
        (End::Pipe, Strategy::Splice),
        (End::Unix, Strategy::Splice),
        (End::Tcp, Strategy::Splice),
    ] {
        let data = common::data(2 << 20, 15);
        let source = Source::new(end, &data);
        let dst = common::empty_file();
        let r = zcopy::transfer(source.fd(), &dst, &Options::default()).expect("auto");
        source.finish();
        assert_eq!(r.strategy, want, "{end:?}");
        common::assert_bytes(&common::content(&dst), &data, &format!("{end:?}"));
    }
}

#[test]
fn copy_file_creates_truncates_and_follows_cp_on_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let data = common::data(777_777, 16);
    std::fs::write(&src, &data).expect("write");
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::fs::write(&dst, vec![9u8; 2_000_000]).expect("longer dst");
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for s in FILE_FILE {
        let r = zcopy::copy_file(&src, &dst, &strict(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, data.len() as u64);
        common::assert_bytes(
            &std::fs::read(&dst).expect("read"),
            &data,
            &format!("copy_file {s}"),
        );
        // An existing destination keeps its own mode (cp's rule).
        assert_eq!(mode_of(&dst), 0o600, "{s}");
    }
    let fresh = dir.path().join("fresh");
    zcopy::copy_file(&src, &fresh, &Options::default()).expect("new file");
    assert_eq!(mode_of(&fresh), 0o640 & !common::umask());
    // The same file: refused before anything is truncated.
    let e = zcopy::copy_file(&src, &src, &Options::default()).expect_err("same file");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("same file"), "{e}");
    assert_eq!(std::fs::read(&src).expect("read"), data);
    // A missing source names the path and keeps the errno.
    let missing = dir.path().join("nope");
    let e = zcopy::copy_file(&missing, &dst, &Options::default()).expect_err("missing");
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.message().contains("nope"), "{e}");
    let e = zcopy::copy_file(dir.path(), &dst, &Options::default()).expect_err("a directory");
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Io, Some(libc::EISDIR)),
        "{e}"
    );
}

#[test]
fn procfs_sources_fall_back_from_copy_file_range() {
    let want = std::fs::read("/proc/version").expect("/proc/version");
    let src = File::open("/proc/version").expect("open");
    let dst = common::empty_file();
    // fstat says 0 bytes: Auto reads it with read_write first (no copy_file_range to refuse).
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("auto from procfs");
    assert_eq!(r.strategy, Strategy::ReadWrite, "{r:?}");
    assert!(r.fallbacks.is_empty(), "{r:?}");
    common::assert_bytes(&common::content(&dst), &want, "/proc/version");
    // copy_file_range named with fallback: the kernel refuses across filesystems (EXDEV) or
    // copies nothing (0): either way zcopy moves on and says why.
    let src = File::open("/proc/version").expect("open");
    let dst = common::empty_file();
    let opts = Options {
        strategy: Strategy::CopyFileRange,
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("cfr with fallback from procfs");
    assert_eq!(
        r.fallbacks.first().map(|f| f.strategy),
        Some(Strategy::CopyFileRange),
        "{r:?}"
    );
    assert!(
        r.fallbacks[0].reason.contains("EXDEV") || r.fallbacks[0].reason.contains("procfs"),
        "{r:?}"
    );
    common::assert_bytes(&common::content(&dst), &want, "/proc/version");
    // Strict copy_file_range says Unsupported and writes nothing.
    let src = File::open("/proc/version").expect("open");
    let dst = common::empty_file();
    let e = zcopy::transfer(&src, &dst, &strict(Strategy::CopyFileRange)).expect_err("strict");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(common::content(&dst), b"");
}

#[test]
fn offsets_past_the_end_move_nothing() {
    for s in FILE_FILE {
        let src = common::file_with(b"short");
        let dst = common::empty_file();
        for len in [None, Some(10)] {
            let r = zcopy::transfer(
                &src,
                &dst,
                &Options {
                    src_offset: Some(100),
                    len,
                    ..strict(s)
                },
            )
            .unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(r.bytes, 0, "{s}");
        }
        assert_eq!(common::content(&dst), b"");
    }
}

#[test]
fn a_cancel_flag_set_by_the_progress_callback_stops_that_chunk() {
    let data = common::data(1 << 20, 17);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let flag = AtomicBool::new(false);
    let progress = |_: u64| {
        flag.store(true, Ordering::SeqCst);
        true
    };
    let opts = Options {
        chunk_size: Some(65536),
        progress: Some(&progress),
        cancel: Some(&flag),
        ..strict(Strategy::ReadWrite)
    };
    let e = zcopy::transfer(&src, &dst, &opts).expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.bytes_moved(), 65536);
}

#[test]
fn a_len_of_u64_max_from_the_position_runs_to_end_of_file() {
    // Found by the fuzzer: io_uring added len to the start offset and overflowed (a panic in
    // debug builds, a wrapped limit and a silent short copy in release).
    let data = common::data(300_000, 77);
    for s in Strategy::TECHNIQUES.iter().copied().chain([Strategy::Auto]) {
        let src = common::file_with(&data);
        (&src).seek(std::io::SeekFrom::Start(15_934)).expect("seek");
        let dst = common::empty_file();
        let opts = Options {
            strategy: s,
            fallback: s == Strategy::Auto,
            len: Some(u64::MAX),
            ..Options::default()
        };
        match zcopy::transfer(&src, &dst, &opts) {
            Ok(r) => {
                assert_eq!(r.bytes, 300_000 - 15_934, "{s}: {r:?}");
                common::assert_bytes(&common::content(&dst), &data[15_934..], &format!("{s}"));
                assert_eq!(
                    common::pos(&src),
                    300_000,
                    "{s}: the position advanced to the end"
                );
            }
            Err(e) => assert_eq!(e.kind(), zcopy::ErrorKind::Unsupported, "{s}: {e}"),
        }
    }
}

#[test]
fn a_chunk_size_past_1_gib_is_refused_before_a_byte_moves() {
    // Found by the fuzzer: io_uring multiplied chunk_size by the queue depth and overflowed (a
    // panic in debug builds; in release a buffer smaller than the reads it was given).
    let data = common::data(10_000, 78);
    for s in Strategy::TECHNIQUES.iter().copied().chain([Strategy::Auto]) {
        for c in [(1u64 << 30) + 1, u64::MAX] {
            let src = common::file_with(&data);
            let dst = common::empty_file();
            let opts = Options {
                strategy: s,
                chunk_size: Some(c),
                ..Options::default()
            };
            let e = zcopy::transfer(&src, &dst, &opts).expect_err("refused");
            assert_eq!(e.kind(), ErrorKind::Invalid, "{s} {c}: {e}");
            assert!(
                e.message()
                    .contains(&format!("chunk_size {c} is out of range")),
                "{e}"
            );
            assert_eq!(e.bytes_moved(), 0);
            assert!(common::content(&dst).is_empty());
        }
    }
    // 1 GiB itself is allowed (the buffer is mapped lazily).
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let opts = Options {
        strategy: Strategy::ReadWrite,
        fallback: false,
        chunk_size: Some(1 << 30),
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("1 GiB chunks");
    assert_eq!(r.bytes, 10_000);
    common::assert_bytes(&common::content(&dst), &data, "1 GiB chunks");
}

/// The permission bits (with setuid, setgid, sticky) of the file at `p`.
fn mode_of(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

#[test]
fn copy_file_never_loosens_permissions() {
    common::run_child("test_transfer::child_umask_077");
}

/// Under `umask 077`, as `cp` does: a new file gets the source's mode minus the umask and
/// without setuid/setgid/sticky; an existing destination keeps its mode.
#[test]
#[ignore = "run by copy_file_never_loosens_permissions in a child process"]
fn child_umask_077() {
    let name = "test_transfer::child_umask_077";
    if !common::in_child(name) {
        return;
    }
    // SAFETY: umask cannot fail; this child process runs this one test alone.
    unsafe { libc::umask(0o077) };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::data(100_000, 21);
    for (src_mode, want) in [
        (0o666, 0o600),
        (0o4755, 0o700),
        (0o2775, 0o700),
        (0o1777, 0o700),
    ] {
        let src = dir.path().join(format!("src{src_mode:o}"));
        std::fs::write(&src, &data).expect("write");
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(src_mode)).expect("chmod");
        assert_eq!(mode_of(&src), src_mode);
        let dst = dir.path().join(format!("dst{src_mode:o}"));
        zcopy::copy_file(&src, &dst, &Options::default()).expect("copy");
        assert_eq!(mode_of(&dst), want, "new file from a {src_mode:o} source");
        assert_eq!(std::fs::read(&dst).expect("read"), data);
    }
    // An existing 0600 destination stays 0600 when the source is 0666; a 0644 one stays 0644.
    let src = dir.path().join("src666");
    for keep in [0o600, 0o644] {
        let dst = dir.path().join(format!("existing{keep:o}"));
        std::fs::write(&dst, b"old, longer than nothing").expect("write");
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(keep)).expect("chmod");
        zcopy::copy_file(&src, &dst, &Options::default()).expect("copy");
        assert_eq!(mode_of(&dst), keep, "existing {keep:o}");
        assert_eq!(std::fs::read(&dst).expect("read"), data);
    }
    common::child_done(name);
}

/// A stop that arrives after the last byte moved (the progress callback says stop, or sets the
/// cancel flag, when told the total) does not fail a whole copy: the Report comes back.
#[test]
fn a_stop_after_the_last_byte_does_not_fail_the_transfer() {
    let data = common::data(1 << 20, 18);
    let total = data.len() as u64;
    for s in FILE_FILE {
        for len in [None, Some(total)] {
            for chunk_size in [None, Some(65536)] {
                let what = format!("{s} len {len:?} chunk {chunk_size:?}");
                // The callback says stop at the total.
                let src = common::file_with(&data);
                let dst = common::empty_file();
                let calls = AtomicU64::new(0);
                let progress = |n: u64| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    n < total
                };
                let opts = Options {
                    len,
                    chunk_size,
                    progress: Some(&progress),
                    ..strict(s)
                };
                let r = zcopy::transfer(&src, &dst, &opts)
                    .unwrap_or_else(|e| panic!("{what}, progress: {e}"));
                assert_eq!(r.bytes, total, "{what}");
                assert_eq!(r.strategy, if s == Strategy::Auto { r.strategy } else { s });
                common::assert_bytes(&common::content(&dst), &data, &what);
                assert_eq!(common::pos(&src), total, "{what}: src position");
                assert_eq!(common::pos(&dst), total, "{what}: dst position");
                assert!(calls.load(Ordering::SeqCst) >= 1, "{what}");
                // The cancel flag, set by the callback when it is told the total.
                let src = common::file_with(&data);
                let dst = common::empty_file();
                let flag = AtomicBool::new(false);
                let progress = |n: u64| {
                    if n == total {
                        flag.store(true, Ordering::SeqCst);
                    }
                    true
                };
                let opts = Options {
                    len,
                    chunk_size,
                    progress: Some(&progress),
                    cancel: Some(&flag),
                    ..strict(s)
                };
                let r = zcopy::transfer(&src, &dst, &opts)
                    .unwrap_or_else(|e| panic!("{what}, cancel flag: {e}"));
                assert_eq!(r.bytes, total, "{what}");
                common::assert_bytes(&common::content(&dst), &data, &what);
                assert!(flag.load(Ordering::SeqCst), "{what}: the flag was set");
            }
        }
    }
    // copy_file too, and a stop one chunk before the end still fails with the exact count.
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::write(&src, &data).expect("write");
    let progress = |n: u64| n < total;
    let opts = Options {
        progress: Some(&progress),
        ..Options::default()
    };
    let r = zcopy::copy_file(&src, &dst, &opts).expect("copy_file stopped at the total");
    assert_eq!(r.bytes, total);
    assert_eq!(std::fs::read(&dst).expect("read"), data);
    let progress = |n: u64| n < total - 65536;
    let opts = Options {
        chunk_size: Some(65536),
        progress: Some(&progress),
        ..Options::default()
    };
    let e = zcopy::copy_file(&src, &dst, &opts).expect_err("stopped a chunk before the end");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.errno(), Some(libc::ECANCELED));
    assert_eq!(e.bytes_moved(), total - 65536);
    assert_eq!(std::fs::metadata(&dst).expect("stat").len(), total - 65536);
}

/// With a progress callback (or a cancel flag), the chunk of techniques that move a GiB or more
/// a call (copy_file_range, sendfile) is bounded, so the callback is called at least every
/// 32 MiB (every 100 ms at the fastest rate measured); without one, nothing changes.
#[test]
fn progress_is_called_at_least_every_32_mib() {
    const BOUND: u64 = 32 << 20;
    let total: u64 = 256 << 20;
    let head = common::data(1 << 20, 19);
    for s in [Strategy::Auto, Strategy::CopyFileRange, Strategy::Sendfile] {
        // A sparse source (cheap to make) copied with sparse off: every byte is moved.
        let src = tempfile::tempfile().expect("tempfile");
        src.set_len(total).expect("set_len");
        (&src).write_all(&head).expect("write");
        (&src).seek(SeekFrom::Start(0)).expect("rewind");
        let dst = common::empty_file();
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |n: u64| {
            seen.lock().expect("lock").push(n);
            true
        };
        let opts = Options {
            progress: Some(&progress),
            sparse: false,
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, total, "{s}");
        let seen = seen.into_inner().expect("lock");
        let mut last = 0;
        for &n in &seen {
            assert!(
                n - last <= BOUND,
                "{s}: a gap of {} bytes in {seen:?}",
                n - last
            );
            last = n;
        }
        assert_eq!(last, total, "{s}: the last call gets the total: {seen:?}");
        assert!(seen.len() >= (total / BOUND) as usize, "{s}: {seen:?}");
        let got = common::content(&dst);
        assert_eq!(got.len() as u64, total, "{s}");
        common::assert_bytes(&got[..head.len()], &head, &format!("{s} head"));
        let zeros = [0u8; 1 << 16];
        assert!(
            got[head.len()..]
                .chunks(zeros.len())
                .all(|c| c == &zeros[..c.len()]),
            "{s}: the rest is zeros"
        );
        // A cancel flag alone bounds the chunk too: one syscall per 32 MiB at most, where
        // copy_file_range without it moves all 256 MiB in one.
        if s == Strategy::CopyFileRange {
            let dst = common::empty_file();
            let flag = AtomicBool::new(false);
            let with_flag = Options {
                src_offset: Some(0),
                cancel: Some(&flag),
                sparse: false,
                ..strict(s)
            };
            let r = zcopy::transfer(&src, &dst, &with_flag).expect("with a flag");
            assert_eq!(r.bytes, total);
            let dst2 = common::empty_file();
            let plain = Options {
                src_offset: Some(0),
                sparse: false,
                ..strict(s)
            };
            let r2 = zcopy::transfer(&src, &dst2, &plain).expect("without");
            assert_eq!(r2.bytes, total);
            assert!(
                r.syscalls >= r2.syscalls + total / BOUND - 1,
                "with a flag {} syscalls, without {}",
                r.syscalls,
                r2.syscalls
            );
        }
    }
}

// Errors as open(2) gives them (issue 14, cases 5 and 14): a path that cannot be opened or
// a directory is an OS error with its errno (Python: FileNotFoundError, NotADirectoryError,
// PermissionError, IsADirectoryError), in copy_file, transfer and the server alike.

fn os_error(r: zcopy::Result<zcopy::Report>, errno: i32, needle: &str) {
    let e = r.expect_err(needle);
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert_eq!(e.errno(), Some(errno), "{e}");
    assert!(e.message().contains(needle), "{e:?} should say {needle:?}");
    assert_eq!(e.bytes_moved(), 0);
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), std::io::Error::from_raw_os_error(errno).kind());
}

#[test]
fn path_errors_are_os_errors_with_their_errno() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"data").expect("write");
    let out = dir.path().join("out");
    let o = Options::default();
    let d = dir.path().display().to_string();
    os_error(zcopy::copy_file(dir.path(), &out, &o), libc::EISDIR, &d);
    assert!(!out.exists(), "a dst was created for a directory src");
    os_error(zcopy::copy_file(&file, dir.path(), &o), libc::EISDIR, &d);
    os_error(
        zcopy::copy_file(dir.path().join("missing"), &out, &o),
        libc::ENOENT,
        "missing",
    );
    os_error(
        zcopy::copy_file(file.join("sub"), &out, &o),
        libc::ENOTDIR,
        "sub",
    );
    // sysfs refuses to open a read-only attribute for writing, even to root.
    let ro = "/sys/devices/system/cpu/online";
    if std::path::Path::new(ro).exists() {
        os_error(zcopy::copy_file(&file, ro, &o), libc::EACCES, ro);
    } else {
        common::skip(
            "path_errors_are_os_errors_with_their_errno",
            &format!("no {ro}: no EACCES case"),
        );
    }
    // A directory's fd, to transfer and probe: what read(2) says.
    let dirfd = File::open(dir.path()).expect("open dir");
    os_error(
        zcopy::transfer(&dirfd, common::empty_file(), &o),
        libc::EISDIR,
        "is a directory",
    );
    let e = zcopy::probe(&dirfd, common::empty_file()).expect_err("probe of a directory");
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Io, Some(libc::EISDIR)),
        "{e}"
    );
}

/// `copy_file` of what is not a file refuses before opening it, as `shutil.copyfile` refuses
/// named pipes: a FIFO (whose open would block until a writer came), a socket or a device as
/// `src`, a FIFO or socket as `dst`. Invalid (EINVAL), the message naming the path and what it
/// is; the destination is neither created nor truncated.
#[test]
fn copy_file_refuses_special_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let sock = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let file = dir.path().join("f");
    std::fs::write(&file, b"data").expect("write");
    let kept = dir.path().join("kept");
    let cases = [
        (fifo.clone(), kept.clone(), "src", "is a named pipe"),
        (sock.clone(), kept.clone(), "src", "is a socket"),
        (
            "/dev/null".into(),
            kept.clone(),
            "src",
            "is a character device",
        ),
        (file.clone(), fifo.clone(), "dst", "is a named pipe"),
        (file.clone(), sock.clone(), "dst", "is a socket"),
    ];
    for (src, dst, role, what) in cases {
        std::fs::write(&kept, b"old").expect("write");
        let label = format!("copy_file({}, {})", src.display(), dst.display());
        // Run where a blocking open cannot hang the test: a FIFO's open waits for its other end.
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, d) = (src.clone(), dst.clone());
        std::thread::spawn(move || {
            let _ = tx.send(zcopy::copy_file(&s, &d, &Options::default()));
        });
        let r = match rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(r) => r,
            Err(_) => {
                // Release the blocked open, then fail.
                let _ = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&fifo)
                    .map(drop);
                panic!("{label}: blocked opening the FIFO instead of refusing it");
            }
        };
        let e = r.expect_err(&label);
        assert_eq!(e.kind(), ErrorKind::Invalid, "{label}: {e}");
        assert_eq!(e.errno(), Some(libc::EINVAL), "{label}: {e}");
        let path = if role == "src" { &src } else { &dst };
        let want = format!("{role} {} {what}", path.display());
        assert!(
            e.message().contains(&want),
            "{label}: {e} should say {want:?}"
        );
        assert!(
            e.message().contains("pass the fd to transfer"),
            "{label}: {e}"
        );
        assert_eq!(std::fs::read(&kept).expect("kept"), b"old", "{label}");
    }
    // A device as dst is a sink, as for shutil: /dev/null takes the copy.
    let r = zcopy::copy_file(&file, "/dev/null", &Options::default()).expect("to /dev/null");
    assert_eq!(r.bytes, 4);
}
