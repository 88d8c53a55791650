//! The planner: what Auto picks for each pair, when it falls back, and what probe says.

use std::fs::{File, OpenOptions};

use crate::common::{self, End, Sink, Source};
use zcopy::{ErrorKind, Options, Strategy};

#[test]
fn auto_picks_per_pair() {
    let cases = [
        (End::File, End::File, Strategy::CopyFileRange),
        (End::File, End::Pipe, Strategy::Sendfile),
        (End::File, End::Unix, Strategy::Sendfile),
        (End::File, End::Tcp, Strategy::Sendfile),
        (End::Pipe, End::File, Strategy::Splice),
        (End::Pipe, End::Tcp, Strategy::Splice),
        (End::Unix, End::Pipe, Strategy::Splice),
        (End::Tcp, End::Unix, Strategy::Splice),
    ];
    for (src, dst, want) in cases {
        let data = common::data(300_000, 1);
        let source = Source::new(src, &data);
        let sink = Sink::new(dst);
        let r = zcopy::transfer(source.fd(), sink.fd(), &Options::default()).expect("auto");
        source.finish();
        assert_eq!(r.strategy, want, "{src:?}→{dst:?}");
        assert!(r.fallbacks.is_empty(), "{src:?}→{dst:?}: {:?}", r.fallbacks);
        common::assert_bytes(&sink.finish(), &data, &format!("{src:?}→{dst:?}"));
    }
}

#[test]
fn a_named_strategy_falls_back_only_when_allowed() {
    let data = common::data(10_000, 2);
    let (r, mut w) = common::pipe();
    std::io::Write::write_all(&mut w, &data).expect("feed");
    drop(w);
    let dst = common::empty_file();
    // mmap_write cannot map a pipe: strict says so, and writes nothing.
    let e = zcopy::transfer(
        &r,
        &dst,
        &Options {
            strategy: Strategy::MmapWrite,
            fallback: false,
            ..Options::default()
        },
    )
    .expect_err("strict");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.message().contains("mmap_write") && e.message().contains("pipe"),
        "{e}"
    );
    assert_eq!(e.bytes_moved(), 0);
    assert_eq!(common::content(&dst), b"");
    // With fallback, it moves on to Auto's list and records why.
    let rep = zcopy::transfer(
        &r,
        &dst,
        &Options {
            strategy: Strategy::MmapWrite,
            ..Options::default()
        },
    )
    .expect("fallback");
    assert_eq!(rep.fallbacks.len(), 1);
    assert_eq!(rep.fallbacks[0].strategy, Strategy::MmapWrite);
    assert_eq!(rep.strategy, Strategy::Splice);
    common::assert_bytes(&common::content(&dst), &data, "after fallback");
}

/// Whether statx gives a unique mount id here (Linux 6.8+), so the engine can remember a
/// filesystem's type per mount instead of asking each time.
fn unique_mount_ids() -> bool {
    let f = common::empty_file();
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the empty path is a valid C string; `stx` is valid for one statx.
    let r = unsafe {
        libc::statx(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            0x4000,
            stx.as_mut_ptr(),
        )
    };
    // SAFETY: zeroed, then filled by statx when it succeeded.
    r == 0 && unsafe { stx.assume_init() }.stx_mask & 0x4000 != 0
}

#[test]
fn small_file_copies_pay_no_probes() {
    // 4 KiB file → file by Auto on a filesystem that cannot clone: classification (2 statx +
    // 2 fcntl), the Report's 2 clock_gettime and 2 getrusage, and read_write's read, write and
    // end-of-file read. The first
    // transfer on a thread also asks each mount's filesystem type (2 fstatfs), remembered by
    // the mount's unique id after that.
    if [0x5846_5342, 0x9123_683e].contains(&temp_fs_type()) {
        common::skip(
            "small_file_copies_pay_no_probes",
            "the temp folder is on XFS or btrfs, where copy_file_range (a clone) goes first",
        );
    }
    let data = common::data(4096, 3);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let first = zcopy::transfer(&src, &dst, &Options::default()).expect("copy");
    assert_eq!(first.strategy, Strategy::ReadWrite);
    // 13 unless an earlier test on this thread already asked (libtest may reuse a thread).
    assert!([11, 13].contains(&first.syscalls), "{first:?}");
    let again = Options {
        src_offset: Some(0),
        dst_offset: Some(0),
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &again).expect("copy");
    let remembered = unique_mount_ids();
    assert_eq!(r.syscalls, if remembered { 11 } else { 13 }, "{r:?}");
    if !remembered {
        common::skip(
            "small_file_copies_pay_no_probes",
            "no unique mount ids before Linux 6.8: every small copy asks the filesystem type",
        );
    }
    // With a len, no end-of-file read is needed.
    let r = zcopy::transfer(
        &src,
        &dst,
        &Options {
            len: Some(4096),
            ..again
        },
    )
    .expect("copy");
    assert_eq!(r.syscalls, if remembered { 10 } else { 12 }, "{r:?}");
    common::assert_bytes(&common::content(&dst), &data, "4 KiB");
    // From 16 KiB copy_file_range goes first again.
    let data = common::data(16 << 10, 4);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("copy 16 KiB");
    assert_eq!(r.strategy, Strategy::CopyFileRange);
    common::assert_bytes(&common::content(&dst), &data, "16 KiB");
}

/// The filesystem type of the temp files `common` makes.
fn temp_fs_type() -> i64 {
    let f = common::empty_file();
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is valid for writes of one statfs; the fd is open.
    let r = unsafe { libc::fstatfs(std::os::fd::AsRawFd::as_raw_fd(&f), st.as_mut_ptr()) };
    assert_eq!(r, 0, "fstatfs");
    // SAFETY: fstatfs succeeded and filled it.
    unsafe { st.assume_init() }.f_type
}

#[test]
fn auto_splices_files_from_1_to_64_mib_where_copy_file_range_cannot_clone() {
    let fs = temp_fs_type();
    let copies = [0xef53, 0x0102_1994].contains(&fs);
    // Past 64 MiB splice stays first where the destination's blocks are reserved (ext4).
    let expect = |n: usize| {
        if copies && ((1 << 20..=64 << 20).contains(&n) || (fs == 0xef53 && n > 64 << 20)) {
            Strategy::Splice
        } else {
            Strategy::CopyFileRange
        }
    };
    if !copies {
        common::skip(
            "auto_splices_files_from_1_to_64_mib (the splice half)",
            "the temp dir is neither ext4 nor tmpfs: copy_file_range goes first at every size",
        );
    }
    for n in [(1 << 20) - 1, 1 << 20, 3 << 20, 64 << 20, (64 << 20) + 1] {
        let data = common::data(n, n as u64);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let r = zcopy::transfer(&src, &dst, &Options::default()).expect("copy");
        assert_eq!(r.strategy, expect(n), "{n} bytes: {r:?}");
        assert!(r.fallbacks.is_empty(), "{r:?}");
        assert_eq!(r.bytes, n as u64);
        common::assert_bytes(&common::content(&dst), &data, &format!("{n} bytes"));
        assert_eq!(
            common::pos(&src),
            n as u64,
            "the source position advanced by the bytes"
        );
    }
    // A length in the range from an offset decides, not the file's size.
    let data = common::data(8 << 20, 9);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let opts = Options {
        src_offset: Some((8 << 20) - 4096),
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("copy the tail");
    // (at most 8 KiB: read_write first, where no clone is possible)
    assert_eq!(r.strategy, Strategy::ReadWrite, "4 KiB left: {r:?}");
    common::assert_bytes(
        &common::content(&dst),
        &data[(8 << 20) - 4096..],
        "the tail",
    );
    // Naming a technique is obeyed as before.
    let r = zcopy::transfer(
        &src,
        &dst,
        &Options {
            strategy: Strategy::CopyFileRange,
            src_offset: Some(0),
            dst_offset: Some(0),
            ..Options::default()
        },
    )
    .expect("named");
    assert_eq!(r.strategy, Strategy::CopyFileRange);
    common::assert_bytes(&common::content(&dst), &data, "named copy_file_range");
}

#[test]
fn probe_tells_what_serves_the_pair_and_why_not() {
    let src = common::file_with(b"x");
    let dst = common::empty_file();
    let v = zcopy::probe(&src, &dst).expect("probe");
    assert_eq!(v.len(), Strategy::TECHNIQUES.len());
    for s in &v {
        assert_eq!(s.supported, s.reason.is_empty(), "{s:?}");
    }
    let get = |v: &[zcopy::Support], s: Strategy| {
        v.iter().find(|x| x.strategy == s).cloned().expect("entry")
    };
    assert!(get(&v, Strategy::CopyFileRange).supported);
    assert!(get(&v, Strategy::ReadWrite).supported);

    let (r, _w) = common::pipe();
    let v = zcopy::probe(&r, &dst).expect("probe pipe");
    let m = get(&v, Strategy::MmapWrite);
    assert!(!m.supported && m.reason.contains("pipe"), "{m:?}");
    let c = get(&v, Strategy::CopyFileRange);
    assert!(!c.supported && c.reason.contains("regular files"), "{c:?}");
    assert!(get(&v, Strategy::Splice).supported);

    let append = OpenOptions::new()
        .append(true)
        .open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&dst)
        ))
        .expect("append");
    let v = zcopy::probe(&src, &append).expect("probe append");
    for s in [
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        let e = get(&v, s);
        assert!(!e.supported && e.reason.contains("O_APPEND"), "{e:?}");
    }
    // Probing checks arguments like transfer does.
    let e = zcopy::probe(&dst, File::open("/dev/null").expect("null")).expect_err("read-only dst");
    assert_eq!(e.kind(), ErrorKind::Invalid);
}

#[test]
fn strategy_names_round_trip() {
    for &s in Strategy::ALL {
        assert_eq!(s.name().parse::<Strategy>().expect("parse"), s);
        assert_eq!(s.to_string(), s.name());
    }
    let e = "zerocopy".parse::<Strategy>().expect_err("unknown");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("\"zerocopy\"") && e.message().contains("copy_file_range"),
        "{e}"
    );
}

#[test]
fn auto_sends_a_hot_file_to_a_loopback_peer_by_mmap_write_and_a_cold_one_by_sendfile() {
    use std::io::Read;
    let send =
        |data: &[u8], cold: bool, dst: std::net::TcpStream, mut peer: std::net::TcpStream| {
            let src = common::file_with(data);
            if cold {
                zcopy::cache::evict(&src, 0, None).expect("evict");
            } else {
                zcopy::cache::warm(&src, 0, None).expect("warm");
            }
            let n = data.len();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::with_capacity(n);
                peer.read_to_end(&mut got).map(|_| got)
            });
            let r = zcopy::transfer(&src, &dst, &Options::default()).expect("send");
            drop(dst);
            let got = reader.join().expect("reader").expect("read");
            common::assert_bytes(&got, data, "what the peer got");
            r
        };
    let resident_after_evict = {
        let f = common::file_with(&common::data(1 << 20, 1));
        zcopy::cache::evict(&f, 0, None).expect("evict").resident
    };
    let big = common::data(3 << 20, 5);
    let (c, s) = common::tcp_pair();
    let r = send(&big, false, c, s);
    assert_eq!(
        r.strategy,
        Strategy::MmapWrite,
        "hot, 3 MiB, loopback: {r:?}"
    );
    assert!(r.fallbacks.is_empty(), "{r:?}");
    let (c, s) = common::tcp_pair();
    let r = send(&common::data(64 << 10, 6), false, c, s);
    assert_eq!(r.strategy, Strategy::Sendfile, "hot but 64 KiB: {r:?}");
    if resident_after_evict == 0 {
        let (c, s) = common::tcp_pair();
        let r = send(&big, true, c, s);
        assert_eq!(r.strategy, Strategy::Sendfile, "cold: {r:?}");
    } else {
        common::skip(
            "auto_sends_..._a_cold_one_by_sendfile (the cold half)",
            "this filesystem keeps evicted pages (tmpfs): a source cannot be made cold",
        );
    }
    // A Unix socket has no loopback peer address: sendfile.
    let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let src = common::file_with(&big);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).map(|_| got)
    });
    let r = zcopy::transfer(&src, &a, &Options::default()).expect("send");
    drop(a);
    common::assert_bytes(
        &reader.join().expect("reader").expect("read"),
        &big,
        "unix peer",
    );
    assert_eq!(r.strategy, Strategy::Sendfile, "unix socket: {r:?}");
}

/// To a non-blocking socket (an event loop's) Auto sends even a hot file to a loopback peer by
/// sendfile: there the sender's CPU counts, and mmap_write copies in the sender.
#[test]
fn auto_sends_a_hot_file_to_a_non_blocking_loopback_socket_by_sendfile() {
    use std::io::Read;
    let big = common::data(3 << 20, 7);
    let src = common::file_with(&big);
    zcopy::cache::warm(&src, 0, None).expect("warm");
    let (c, mut peer) = common::tcp_pair();
    let a = zcopy::auto_choice(&src, &c, &Options::default()).expect("choice");
    assert_eq!(a.first, Some(Strategy::MmapWrite), "blocking: {a:?}");
    c.set_nonblocking(true).expect("O_NONBLOCK");
    let a = zcopy::auto_choice(&src, &c, &Options::default()).expect("choice");
    assert_eq!(a.first, Some(Strategy::Sendfile), "non-blocking: {a:?}");
    assert!(!a.why.contains("mapping"), "{}", a.why);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).map(|_| got)
    });
    let mut off = 0u64;
    while off < big.len() as u64 {
        let opts = Options {
            src_offset: Some(off),
            ..Options::default()
        };
        match zcopy::transfer(&src, &c, &opts) {
            Ok(r) => {
                assert_eq!(r.strategy, Strategy::Sendfile, "{r:?}");
                assert!(r.fallbacks.is_empty(), "{r:?}");
                off += r.bytes;
            }
            Err(e) if e.errno() == Some(libc::EAGAIN) => {
                off += e.bytes_moved();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => panic!("transfer: {e}"),
        }
    }
    drop(c);
    common::assert_bytes(
        &reader.join().expect("reader").expect("read"),
        &big,
        "what the peer got",
    );
}

/// `auto_choice` tells the order `transfer` follows, the first technique the pair supports,
/// and the rule that chose it, in words.
#[test]
fn auto_choice_tells_what_auto_runs_first_and_why() {
    let data = common::data(300_000, 9);
    let src = common::file_with(&data);
    let null = OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("null");
    let a = zcopy::auto_choice(&src, &null, &Options::default()).expect("choice");
    assert_eq!(
        a.order,
        [Strategy::Sendfile, Strategy::Splice, Strategy::ReadWrite]
    );
    assert_eq!(a.first, Some(Strategy::Sendfile));
    assert!(
        a.why
            .starts_with("a regular file → a character device: sendfile moves the pages"),
        "{}",
        a.why
    );
    // What transfer then runs is the first pick.
    let dst = common::empty_file();
    let a = zcopy::auto_choice(&src, &dst, &Options::default()).expect("choice");
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("copy");
    assert_eq!(Some(r.strategy), a.first, "{}", a.why);
    assert!(
        a.why.starts_with("file → file of 300000 bytes on "),
        "{}",
        a.why
    );
    // The size counts: 4 KiB where no clone is possible goes by read_write first.
    let small = Options {
        src_offset: Some(0),
        len: Some(4096),
        ..Options::default()
    };
    let a = zcopy::auto_choice(&src, &dst, &small).expect("choice");
    if a.first == Some(Strategy::ReadWrite) {
        assert!(
            a.why
                .starts_with("file → file of 4096 bytes (at most 8 KiB) on "),
            "{}",
            a.why
        );
        assert!(!a.why.contains("statfs type"), "{}", a.why);
    } else {
        assert_eq!(
            a.first,
            Some(Strategy::CopyFileRange),
            "a cloning fs: {}",
            a.why
        );
    }
    // The direct threshold leads with io_uring and says so.
    // (From byte 0: the copy above left the position at the end.)
    let direct = Options {
        src_offset: Some(0),
        direct_threshold: Some(1024),
        ..Options::default()
    };
    let a = zcopy::auto_choice(&src, &dst, &direct).expect("choice");
    assert_eq!(&a.order[..2], [Strategy::IoUring, Strategy::Direct]);
    assert!(
        a.why
            .starts_with("300000 bytes to move reach direct_threshold (1024)"),
        "{}",
        a.why
    );
    // A pipe source: splice.
    let (r, _w) = common::pipe();
    let a = zcopy::auto_choice(&r, &dst, &Options::default()).expect("choice");
    assert_eq!(a.first, Some(Strategy::Splice));
    assert!(a.why.starts_with("from a pipe: splice"), "{}", a.why);
    // An O_APPEND destination: the head of the order refuses it, and the sentence says so,
    // naming the ends as given.
    let append = OpenOptions::new()
        .append(true)
        .open(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&dst)
        ))
        .expect("append");
    let a = zcopy::auto_choice_named(
        &src,
        std::path::Path::new("in"),
        &append,
        std::path::Path::new("log"),
        &Options {
            src_offset: Some(0),
            ..Options::default()
        },
    )
    .expect("choice");
    assert_eq!(a.order[0], Strategy::CopyFileRange);
    assert_eq!(a.first, Some(Strategy::ReadWrite));
    assert!(
        a.why.contains(
            "; the first ones cannot serve this pair (copy_file_range: dst log is O_APPEND"
        ) && a.why.ends_with(", so Auto starts with read_write"),
        "{}",
        a.why
    );
}

/// `transfer_named` and `probe_named` name the ends by the paths given, never by fd number;
/// the probe names a filesystem by name, never by magic number.
#[test]
fn named_ends_are_named_by_path_and_filesystems_by_name() {
    use std::path::Path;
    let src = common::file_with(b"abc");
    let ro = File::open("/dev/null").expect("null");
    let e = zcopy::transfer_named(
        &src,
        Path::new("in.bin"),
        &ro,
        Path::new("out.bin"),
        &Options::default(),
    )
    .expect_err("a read-only dst");
    assert_eq!(e.message(), "dst out.bin is opened read-only");
    let e = zcopy::probe_named(&src, Path::new("in.bin"), &ro, Path::new("out.bin"))
        .expect_err("a read-only dst");
    assert_eq!(e.message(), "dst out.bin is opened read-only");
    let dst = common::empty_file();
    let r = zcopy::transfer_named(
        &src,
        Path::new("in.bin"),
        &dst,
        Path::new("out.bin"),
        &Options::default(),
    )
    .expect("copy");
    assert_eq!(r.bytes, 3);
    assert_eq!(common::content(&dst), b"abc");
    let v =
        zcopy::probe_named(&src, Path::new("in.bin"), &dst, Path::new("out.bin")).expect("probe");
    let reflink = v
        .iter()
        .find(|s| s.strategy == Strategy::Reflink)
        .expect("reflink");
    assert!(!reflink.reason.contains("statfs type"), "{reflink:?}");
    if temp_fs_type() == 0xef53 {
        assert!(
            reflink.reason.starts_with("the filesystem (ext"),
            "{reflink:?}"
        );
    }
}
