//! The `direct` technique: exact bytes at awkward sizes and offsets on ext4 and tmpfs, no stale
//! reads, no page-cache pollution, and Auto's `direct_threshold`.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::common::{self, End, Sink};
use zcopy::cache;
use zcopy::{ErrorKind, Options, Strategy};

const SIZES: [usize; 7] = [0, 1, 511, 4095, 4097, (1 << 20) + 1, 3 << 20];

fn strict() -> Options<'static> {
    Options {
        strategy: Strategy::Direct,
        fallback: false,
        ..Options::default()
    }
}

/// The direct paths (the direct technique, io_uring in direct mode: a threshold of 0) and
/// io_uring buffered.
fn is_direct(o: &Options<'_>) -> bool {
    o.strategy == Strategy::Direct || o.direct_threshold.is_some()
}

fn both() -> [Options<'static>; 3] {
    let uring = Options {
        strategy: Strategy::IoUring,
        fallback: false,
        direct_threshold: Some(0),
        ..Options::default()
    };
    // And io_uring buffered, on the same filesystems, sizes and offsets (queue depth 3).
    let buffered = Options {
        strategy: Strategy::IoUring,
        fallback: false,
        queue_depth: Some(3),
        ..Options::default()
    };
    [strict(), uring, buffered]
}

/// A file in `dir` holding `bytes` (a path-based file: tmpfs or ext4, as the directory is).
fn file_in(dir: &Path, name: &str, bytes: &[u8]) -> File {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    File::options()
        .read(true)
        .write(true)
        .open(&p)
        .expect("open")
}

/// Directories on the filesystems to try: the temp dir (ext4 here) and /dev/shm (tmpfs).
fn dirs() -> Vec<tempfile::TempDir> {
    let mut v = vec![tempfile::tempdir().expect("tempdir")];
    match tempfile::tempdir_in("/dev/shm") {
        Ok(d) => v.push(d),
        Err(e) => common::skip("direct on tmpfs", &format!("/dev/shm unusable: {e}")),
    }
    v
}

#[test]
fn exact_bytes_at_awkward_sizes_and_offsets() {
    for base in both() {
        for dir in dirs() {
            for n in SIZES {
                let data = common::data(n + 7000, n as u64);
                for (src_off, dst_off) in
                    [(0u64, 0u64), (100, 0), (4096, 4096), (513, 7), (0, 4095)]
                {
                    let label = format!(
                        "{} {} n={n} src_off={src_off} dst_off={dst_off}",
                        base.strategy,
                        dir.path().display()
                    );
                    let src = file_in(dir.path(), "src", &data);
                    let dst = file_in(dir.path(), "dst", b"");
                    let opts = Options {
                        src_offset: Some(src_off),
                        dst_offset: Some(dst_off),
                        len: Some(n as u64),
                        ..base.clone()
                    };
                    let r = match zcopy::transfer(&src, &dst, &opts) {
                        Ok(r) => r,
                        Err(e) if e.kind() == ErrorKind::Unsupported => {
                            common::skip(&label, &format!("{e}"));
                            continue;
                        }
                        Err(e) => panic!("{label}: {e}"),
                    };
                    assert_eq!(r.strategy, base.strategy, "{label}");
                    assert_eq!(r.bytes, n as u64, "{label}");
                    let got = common::content(&dst);
                    let want_len = if n == 0 { 0 } else { dst_off as usize + n };
                    assert_eq!(got.len(), want_len, "{label}");
                    if n > 0 {
                        common::assert_bytes(
                            &got[dst_off as usize..],
                            &data[src_off as usize..src_off as usize + n],
                            &label,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn to_eof_positions_and_stream_destinations() {
    for base in both() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in [4097usize, (1 << 20) + 3] {
            let data = common::data(n, 9);
            let src = file_in(dir.path(), "src", &data);
            let dst = file_in(dir.path(), "dst", b"");
            // None offsets: from the positions, advancing them.
            let r = zcopy::transfer(&src, &dst, &base.clone()).expect("direct to eof");
            assert_eq!(r.bytes, n as u64);
            assert_eq!(common::pos(&src), n as u64);
            assert_eq!(common::pos(&dst), n as u64);
            common::assert_bytes(&common::content(&dst), &data, "to eof");
            // To a pipe and a socket: direct reads, ordinary writes.
            for end in [End::Pipe, End::Tcp] {
                let src = file_in(dir.path(), "src", &data);
                let sink = Sink::new(end);
                let r = zcopy::transfer(&src, sink.fd(), &base.clone()).expect("direct to stream");
                assert_eq!(r.bytes, n as u64);
                let copies = if is_direct(&base) { 1 } else { 2 };
                assert_eq!(r.cpu_copies_bytes, copies * n as u64, "{}", base.strategy);
                common::assert_bytes(&sink.finish(), &data, &format!("direct to {end:?}"));
            }
        }
    }
}

#[test]
fn never_reads_stale_bytes() {
    for base in both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = vec![1u8; 1 << 20];
        let new = common::data(1 << 20, 10);
        let src = file_in(dir.path(), "src", &old);
        src.sync_all().expect("sync");
        // A buffered write leaves dirty pages; the direct copy must see them.
        src.write_all_at(&new, 0).expect("buffered overwrite");
        let dst = file_in(dir.path(), "dst", b"");
        zcopy::transfer(
            &src,
            &dst,
            &Options {
                src_offset: Some(0),
                ..base.clone()
            },
        )
        .expect("direct");
        common::assert_bytes(&common::content(&dst), &new, "bytes after a buffered write");
    }
}

#[test]
fn direct_leaves_the_page_cache_alone() {
    for base in both().into_iter().filter(is_direct) {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 16usize << 20;
        let src = file_in(dir.path(), "src", &common::data(n, 11));
        cache::evict(&src, 0, None).expect("evict");
        let dst = file_in(dir.path(), "dst", b"");
        let r = zcopy::transfer(&src, &dst, &base.clone()).expect("direct");
        assert_eq!(r.bytes, n as u64);
        assert_eq!(r.cpu_copies_bytes, 0, "direct both ways: no CPU copy");
        assert_eq!(
            cache::residency(&src, 0, None).expect("src").resident,
            0,
            "source pages cached"
        );
        assert_eq!(
            cache::residency(&dst, 0, None).expect("dst").resident,
            0,
            "destination pages cached"
        );
        common::assert_bytes(
            &common::content(&dst),
            &common::data(n, 11),
            "16 MiB direct",
        );
    }
}

#[test]
fn auto_uses_direct_from_the_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = file_in(dir.path(), "src", &common::data(2 << 20, 12));
    let dst = file_in(dir.path(), "dst", b"");
    let opts = Options {
        direct_threshold: Some(1 << 20),
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("auto");
    // io_uring in direct mode (nginx's aio + directio), or the direct technique without it.
    assert!(
        matches!(r.strategy, Strategy::IoUring | Strategy::Direct),
        "{r:?}"
    );
    assert_eq!(r.cpu_copies_bytes, 0, "direct both ways");
    let small = Options {
        len: Some(1000),
        src_offset: Some(0),
        dst_offset: Some(0),
        ..opts
    };
    let r = zcopy::transfer(&src, &dst, &small).expect("auto small");
    assert!(
        !matches!(r.strategy, Strategy::IoUring | Strategy::Direct),
        "below the threshold: through the page cache: {r:?}"
    );
    assert!(r.fallbacks.is_empty(), "{r:?}");
}

#[test]
fn sources_without_a_file_are_refused() {
    let (r, mut w) = common::pipe();
    w.write_all(b"abc").expect("write");
    let dst = common::empty_file();
    let e = zcopy::transfer(&r, &dst, &strict()).expect_err("pipe source");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("pipe"), "{e}");
    assert_eq!(common::content(&dst), b"");
}
