//! `Source`: a source classified once — its kind, size and modification time as the kernel
//! gives them, and prepared runs from it that are byte-exact and make no syscall but the
//! technique's.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use zcopy::{ErrorKind, Options, Prepared, Source as Classified, Strategy};

use crate::common::*;

#[test]
fn a_source_shows_the_kind_size_and_mtime_fstat_gives() {
    let f = file_with(&data(5000, 3));
    let s = Classified::classify(f.as_fd()).expect("classify");
    let meta = f.metadata().expect("metadata");
    assert_eq!((s.size(), s.mtime()), (5000, meta.mtime()));
    assert!(s.is_file() && !s.is_dir());

    let dir = tempfile::tempdir().expect("tempdir");
    let d = std::fs::File::open(dir.path()).expect("open dir");
    let s = Classified::opened(d.as_fd(), libc::O_RDONLY).expect("a directory is classified");
    assert!(s.is_dir() && !s.is_file());
    let sink = empty_file();
    let mut p = Prepared::to_dst(sink.as_fd(), &Options::default()).expect("prepare");
    let e = p
        .run_source(&s, None, Some(0), None)
        .expect_err("a directory is not read");
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Io, Some(libc::EISDIR)));

    let (r, _w) = pipe();
    let s = Classified::classify(r.as_fd()).expect("classify a pipe");
    assert!(!s.is_file() && !s.is_dir());
    assert_eq!(s.size(), 0);
}

#[test]
fn runs_from_a_source_are_byte_exact_and_make_only_the_technique_s_syscalls() {
    let bytes = data(4096, 9);
    let f = file_with(&bytes);
    let (c, mut s) = tcp_pair();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; 4096 + 4096 + 1000 + 4096];
        s.read_exact(&mut got).expect("read every run");
        got
    });
    let opts = Options {
        strategy: Strategy::Sendfile,
        fallback: false,
        ..Options::default()
    };
    let mut p = Prepared::to_dst(c.as_fd(), &opts).expect("prepare");
    p.set_cpu_meter(false);
    // The first run learns once what later runs reuse (the file's filesystem, for a file of
    // one page; the socket's domain, for the Report's copy model).
    let warm = p
        .run_from(f.as_fd(), None, Some(0), None)
        .expect("run_from");
    let src = Classified::opened(f.as_fd(), libc::O_RDWR).expect("classify");
    let a = p.run_source(&src, None, Some(0), None).expect("whole file");
    let b = p
        .run_source(&src, Some(1000), Some(96), None)
        .expect("a range");
    let from = p
        .run_from(f.as_fd(), None, Some(0), None)
        .expect("run_from");
    assert_eq!(
        (warm.bytes, a.bytes, b.bytes, from.bytes),
        (4096, 4096, 1000, 4096)
    );
    // The sendfile alone; run_from classifies the file too (a statx and a fcntl).
    assert_eq!((a.syscalls, b.syscalls, from.syscalls), (1, 1, 3));
    let got = reader.join().expect("reader");
    assert_eq!(&got[..4096], &bytes[..]);
    assert_eq!(&got[4096..8192], &bytes[..]);
    assert_eq!(&got[8192..9192], &bytes[96..1096]);
    assert_eq!(&got[9192..], &bytes[..]);
}

#[test]
fn the_size_is_the_classified_one_and_the_flags_are_checked_or_refused_by_the_kernel() {
    let f = file_with(b"0123456789");
    let src = Classified::classify(f.as_fd()).expect("classify");
    std::os::unix::fs::FileExt::write_all_at(&f, b"abc", 10).expect("grow");
    let dst = empty_file();
    let mut p = Prepared::to_dst(dst.as_fd(), &Options::default()).expect("prepare");
    let r = p
        .run_source(&src, None, Some(0), Some(0))
        .expect("to the end seen");
    assert_eq!(r.bytes, 10);
    assert_eq!(content(&dst), b"0123456789");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("w");
    std::fs::write(&path, b"data").expect("write");
    let w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .expect("open write-only");
    // Classified: the engine's own check names the fault.
    let src = Classified::classify(w.as_fd()).expect("classify");
    let e = p
        .run_source(&src, Some(4), Some(0), None)
        .expect_err("write-only");
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Invalid, Some(libc::EBADF))
    );
    assert!(e.to_string().contains("opened write-only"), "{e}");
    // Flags that are not the fd's: the kernel refuses the read.
    let src = Classified::opened(w.as_fd(), libc::O_RDONLY).expect("opened");
    let e = p
        .run_source(&src, Some(4), Some(0), None)
        .expect_err("write-only");
    assert_eq!(
        (e.kind(), e.errno(), e.bytes_moved()),
        (ErrorKind::Io, Some(libc::EBADF), 0)
    );
}
