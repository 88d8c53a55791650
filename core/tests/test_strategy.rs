//! Every technique × every pair of endpoints × sizes × with and without offsets, comparing exact
//! bytes; pairs a technique cannot serve give Unsupported with nothing written.

use std::os::fd::AsFd;

use crate::common::{self, End, Sink, Source, ALL_ENDS};
use zcopy::{ErrorKind, Options, Strategy};

const SIZES: [usize; 6] = [0, 1, 4095, 4096, 4097, (1 << 20) + 1];
const BIG: usize = 64 << 20;

/// Whether `s` (strict) can serve `src → dst` on an ordinary filesystem (ext4 or tmpfs).
fn serves(s: Strategy, src: End, dst: End) -> bool {
    match s {
        Strategy::ReadWrite | Strategy::Splice => true,
        Strategy::MmapWrite => src == End::File,
        Strategy::Sendfile => src == End::File || (dst == End::Pipe && src != End::Pipe),
        Strategy::CopyFileRange => src == End::File && dst == End::File,
        Strategy::Reflink => false,
        Strategy::IoUring => src == End::File,
        _ => unreachable!(),
    }
}

/// One transfer of `n` bytes from `src` to `dst` with strategy `s` (strict), checked.
/// With `offsets`, files are read from byte 7 and written from byte 3.
fn case(s: Strategy, src: End, dst: End, n: usize, offsets: bool) {
    let label = format!("{s} {src:?}→{dst:?} {n} bytes offsets={offsets}");
    let data = common::data(n, n as u64 + 1);
    let src_off = offsets && src == End::File;
    let dst_off = offsets && dst == End::File;
    let mut fed = data.clone();
    if src_off {
        fed.splice(0..0, *b"skipped");
    }
    let source = Source::new(src, &fed);
    let sink = Sink::new(dst);
    let opts = Options {
        strategy: s,
        fallback: false,
        src_offset: src_off.then_some(7),
        dst_offset: dst_off.then_some(3),
        ..Options::default()
    };
    let result = zcopy::transfer(source.fd(), sink.fd(), &opts);
    let src_pos = (src == End::File).then(|| common::pos(&source.fd()));
    let dst_pos = (dst == End::File).then(|| common::pos(&sink.fd()));
    source.finish();
    let got = sink.finish();
    if serves(s, src, dst) {
        let report = result.unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
        assert_eq!(report.bytes, n as u64, "{label}: report.bytes");
        assert_eq!(report.strategy, s, "{label}: report.strategy");
        assert!(
            report.fallbacks.is_empty(),
            "{label}: fallbacks {:?}",
            report.fallbacks
        );
        let mut want = data;
        if dst_off && n > 0 {
            want.splice(0..0, [0u8; 3]);
        }
        common::assert_bytes(&got, &want, &label);
        // Explicit offsets leave positions alone; None offsets advance them by exactly n.
        if let Some(p) = src_pos {
            assert_eq!(
                p,
                if src_off { 0 } else { n as u64 },
                "{label}: src position"
            );
        }
        if let Some(p) = dst_pos {
            assert_eq!(
                p,
                if dst_off { 0 } else { n as u64 },
                "{label}: dst position"
            );
        }
    } else {
        let e = result.expect_err(&format!("{label}: expected Unsupported"));
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{label}: {e}");
        assert_eq!(e.bytes_moved(), 0, "{label}");
        assert!(
            got.is_empty(),
            "{label}: {} bytes written by a refused technique",
            got.len()
        );
    }
}

fn all_cases(s: Strategy) {
    for src in ALL_ENDS {
        for dst in ALL_ENDS {
            for n in SIZES {
                case(s, src, dst, n, false);
                if src == End::File || dst == End::File {
                    case(s, src, dst, n, true);
                }
            }
        }
    }
    for dst in [End::File, End::Pipe, End::Tcp] {
        case(s, End::File, dst, BIG, false);
    }
    case(s, End::Pipe, End::File, BIG, true);
}

#[test]
fn read_write_every_pair() {
    all_cases(Strategy::ReadWrite);
}

#[test]
fn mmap_write_every_pair() {
    all_cases(Strategy::MmapWrite);
}

#[test]
fn sendfile_every_pair() {
    all_cases(Strategy::Sendfile);
}

#[test]
fn splice_every_pair() {
    all_cases(Strategy::Splice);
}

#[test]
fn io_uring_every_pair() {
    all_cases(Strategy::IoUring);
}

#[test]
fn copy_file_range_every_pair() {
    all_cases(Strategy::CopyFileRange);
}

#[test]
fn reflink_refused_off_cow_filesystems() {
    // /tmp here is ext4 (or tmpfs): neither shares extents. test_reflink covers XFS.
    for src in ALL_ENDS {
        for dst in ALL_ENDS {
            case(Strategy::Reflink, src, dst, 4096, false);
        }
    }
}

#[test]
fn auto_every_pair() {
    for src in ALL_ENDS {
        for dst in ALL_ENDS {
            for n in SIZES.into_iter().chain([BIG]) {
                let data = common::data(n, 99);
                let source = Source::new(src, &data);
                let sink = Sink::new(dst);
                let r = zcopy::transfer(source.fd(), sink.fd(), &Options::default())
                    .unwrap_or_else(|e| panic!("auto {src:?}→{dst:?} {n}: {e}"));
                source.finish();
                assert_eq!(r.bytes, n as u64);
                common::assert_bytes(&sink.finish(), &data, &format!("auto {src:?}→{dst:?} {n}"));
            }
        }
    }
}

#[test]
fn chunk_sizes_are_honoured() {
    // Tiny chunks: many syscalls, same bytes.
    for s in [
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        let data = common::data(100_003, 5);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let opts = Options {
            strategy: s,
            fallback: false,
            chunk_size: Some(4096),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 100_003);
        common::assert_bytes(
            &common::content(&dst),
            &data,
            &format!("{s} with 4 KiB chunks"),
        );
        // 25 chunks at least, each at least one syscall.
        assert!(
            r.syscalls >= 25,
            "{s}: {} syscalls for 25 chunks",
            r.syscalls
        );
    }
    let _ = std::io::stdout().as_fd();
}

#[test]
fn splice_into_a_big_file_goes_through_a_half_mib_pipe() {
    // More than 64 MiB into a regular file: a 512 KiB pipe (its page-cache folios stay off the
    // memory a VM's host took back); up to 64 MiB, 1 MiB. Told apart by the splices the Report
    // counts: two per pipeful, plus a few calls around them.
    for (n, pipe) in [
        (16usize << 20, 1u64 << 20),
        ((64 << 20) + 3 * 4096, 512 << 10),
    ] {
        let data = common::data(n, 9);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let opts = Options {
            strategy: Strategy::Splice,
            fallback: false,
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(r.bytes, n as u64);
        common::assert_bytes(&common::content(&dst), &data, &format!("splice of {n}"));
        let splices = 2 * (n as u64).div_ceil(pipe);
        assert!(
            (splices..splices + 30).contains(&r.syscalls),
            "{n} bytes: {} syscalls, expected {splices} splices through a {pipe}-byte pipe and a few more",
            r.syscalls
        );
    }
}

#[test]
fn mmap_write_into_a_big_file_writes_half_mib_pieces() {
    // More than 64 MiB into a regular file: each 4 MiB window goes out in writes of 512 KiB (as
    // splice's pipe, and for the same reason); up to 64 MiB, one write per window.
    for (n, writes_at_least, below) in [
        (16usize << 20, 4u64, 40u64),
        ((64 << 20) + 3 * 4096, 129, u64::MAX),
    ] {
        let data = common::data(n, 11);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let opts = Options {
            strategy: Strategy::MmapWrite,
            fallback: false,
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(r.bytes, n as u64);
        common::assert_bytes(&common::content(&dst), &data, &format!("mmap_write of {n}"));
        assert!(
            r.syscalls >= writes_at_least && r.syscalls < below,
            "{n} bytes: {} syscalls, expected at least {writes_at_least} writes and fewer than {below} calls",
            r.syscalls
        );
    }
}

// Sources whose files do not report their true size (issue 14, case 4): procfs reports 0,
// sysfs one page, whatever the file holds. A strict technique that trusts the size refuses
// them before moving a byte; with fallback, a plain read copies exactly what a read gives.

/// The techniques that trust the source's size.
const TRUST_SIZE: [Strategy; 6] = [
    Strategy::MmapWrite,
    Strategy::Reflink,
    Strategy::CopyFileRange,
    Strategy::Sendfile,
    Strategy::Direct,
    Strategy::IoUring,
];

/// Stable files of procfs and sysfs (same bytes at every read), with their filesystem's name,
/// those this machine has.
fn sizeless_files() -> Vec<(&'static str, &'static str)> {
    let files: Vec<_> = [
        ("/proc/cpuinfo", "procfs"),
        ("/proc/version", "procfs"),
        ("/proc/filesystems", "procfs"),
        ("/sys/devices/system/cpu/online", "sysfs"),
        ("/sys/devices/system/cpu/possible", "sysfs"),
    ]
    .into_iter()
    .filter(|(p, _)| {
        let stable = std::fs::read(p).is_ok_and(|a| std::fs::read(p).is_ok_and(|b| a == b));
        if !stable {
            common::skip("sizeless sources", &format!("{p} is missing or changes"));
        }
        stable
    })
    .collect();
    assert!(
        files.iter().any(|f| f.1 == "procfs") && files.iter().any(|f| f.1 == "sysfs"),
        "no stable procfs or sysfs file: {files:?}"
    );
    files
}

/// What a destination file held before a refused transfer, which it must still hold.
const UNTOUCHED: &[u8] = b"untouched";

#[test]
fn strict_techniques_refuse_sizeless_sources() {
    for (path, fs) in sizeless_files() {
        for s in TRUST_SIZE {
            for dst_end in [End::File, End::Pipe] {
                let label = format!("{s} {path} → {dst_end:?}");
                let src = std::fs::File::open(path).expect("open");
                let (dst, drain) = match dst_end {
                    End::File => {
                        let f = common::file_with(UNTOUCHED);
                        (f.try_clone().expect("dup"), Some(f))
                    }
                    _ => (common::empty_file(), None),
                };
                let sink = (dst_end == End::Pipe).then(|| Sink::new(End::Pipe));
                let dst_fd = match &sink {
                    Some(s) => s.fd(),
                    None => dst.as_fd(),
                };
                let opts = Options {
                    strategy: s,
                    fallback: false,
                    ..Options::default()
                };
                let e = zcopy::transfer(&src, dst_fd, &opts)
                    .expect_err(&format!("{label}: expected Unsupported"));
                assert_eq!(e.kind(), ErrorKind::Unsupported, "{label}: {e}");
                assert_eq!(e.bytes_moved(), 0, "{label}");
                // Refused for the size only where the technique can serve the pair at all.
                if s == Strategy::MmapWrite
                    || (dst_end == End::File && s != Strategy::Reflink)
                    || (s == Strategy::Reflink && dst_end == End::File)
                {
                    let want = format!("is on {fs}, whose files report no true size");
                    assert!(e.message().contains(&want), "{label}: {e}");
                    assert!(e.message().contains(path) || e.message().contains("src fd"));
                }
                assert_eq!(common::pos(&src), 0, "{label}: src position");
                match (drain, sink) {
                    (Some(f), _) => {
                        common::assert_bytes(&common::content(&f), UNTOUCHED, &label);
                        assert_eq!(common::pos(&f), 0, "{label}: dst position");
                    }
                    (_, Some(sink)) => {
                        let got = sink.finish();
                        assert!(got.is_empty(), "{label}: {} bytes written", got.len());
                    }
                    _ => unreachable!(),
                }
            }
        }
    }
}

#[test]
fn fallback_copies_sizeless_sources_exactly() {
    for (path, fs) in sizeless_files() {
        let want = std::fs::read(path).expect("plain read");
        assert!(!want.is_empty(), "{path} reads empty");
        for s in [Strategy::Auto].into_iter().chain(TRUST_SIZE) {
            for dst_end in [End::File, End::Pipe, End::Tcp] {
                let label = format!("{s} with fallback {path} → {dst_end:?}");
                let src = std::fs::File::open(path).expect("open");
                let sink = Sink::new(dst_end);
                let opts = Options {
                    strategy: s,
                    ..Options::default()
                };
                let r = zcopy::transfer(&src, sink.fd(), &opts)
                    .unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
                let got = sink.finish();
                common::assert_bytes(&got, &want, &label);
                assert_eq!(r.bytes, want.len() as u64, "{label}: {r:?}");
                assert!(
                    matches!(r.strategy, Strategy::ReadWrite | Strategy::Splice),
                    "{label}: moved by {}",
                    r.strategy
                );
                assert_eq!(
                    common::pos(&src),
                    want.len() as u64,
                    "{label}: src position"
                );
                if s != Strategy::Auto {
                    let first = r.fallbacks.first().expect("the named technique refused");
                    assert_eq!(first.strategy, s, "{label}: {r:?}");
                }
                // No technique that trusts the size moved a byte, and none was even started
                // on these files: every refusal among the fallbacks names the filesystem or
                // the pair.
                for f in &r.fallbacks {
                    assert!(TRUST_SIZE.contains(&f.strategy), "{label}: {r:?}");
                    if f.strategy != Strategy::Reflink || dst_end == End::File {
                        assert!(
                            f.reason.contains(fs) || f.reason.contains("regular file"),
                            "{label}: {f:?}"
                        );
                    }
                }
            }
        }
    }
}

/// `mmap` refusals are Unsupported: a sysfs binary attribute with a true size that the kernel
/// will not map (`EACCES` for /sys/kernel/btf/vmlinux) moves nothing strictly, and everything
/// with fallback.
#[test]
fn mmap_refusal_is_unsupported() {
    let path = "/sys/kernel/btf/vmlinux";
    let Ok(want) = std::fs::read(path) else {
        common::skip(
            "mmap_refusal_is_unsupported",
            &format!("no readable {path}"),
        );
        return;
    };
    let src = std::fs::File::open(path).expect("open");
    let dst = common::file_with(UNTOUCHED);
    let strict = Options {
        strategy: Strategy::MmapWrite,
        fallback: false,
        ..Options::default()
    };
    match zcopy::transfer(&src, &dst, &strict) {
        Ok(r) => {
            // A kernel that maps it must then copy it exactly.
            let mut got = common::content(&dst);
            got.truncate(want.len());
            common::assert_bytes(&got, &want, "mmap_write of a mappable btf file");
            common::skip(
                "mmap_refusal_is_unsupported",
                &format!("this kernel maps {path} ({} bytes moved)", r.bytes),
            );
            return;
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(
                [libc::EACCES, libc::ENODEV].contains(&e.errno().unwrap_or(0)),
                "{e}: errno {:?}",
                e.errno()
            );
            assert!(e.message().contains("cannot map"), "{e}");
            assert_eq!(e.bytes_moved(), 0);
            common::assert_bytes(&common::content(&dst), UNTOUCHED, "refused mmap_write");
        }
    }
    let dst = common::empty_file();
    let r = zcopy::transfer(
        &src,
        &dst,
        &Options {
            strategy: Strategy::MmapWrite,
            ..Options::default()
        },
    )
    .expect("mmap_write with fallback");
    common::assert_bytes(&common::content(&dst), &want, "mmap_write with fallback");
    assert_eq!(r.fallbacks[0].strategy, Strategy::MmapWrite, "{r:?}");
}

/// `probe` says the same before a transfer: every technique that trusts the size is
/// unsupported for a procfs or sysfs source, naming the filesystem; read_write and splice serve it.
#[test]
fn probe_names_sizeless_sources() {
    for (path, fs) in sizeless_files() {
        let src = std::fs::File::open(path).expect("open");
        let dst = common::empty_file();
        for s in zcopy::probe(&src, &dst).expect("probe") {
            let label = format!("probe {path}: {s:?}");
            if TRUST_SIZE.contains(&s.strategy) {
                assert!(!s.supported, "{label}");
                assert!(s.reason.contains(&format!("is on {fs}")), "{label}");
            } else if matches!(s.strategy, Strategy::ReadWrite | Strategy::Splice) {
                assert!(s.supported, "{label}");
            }
        }
    }
}
