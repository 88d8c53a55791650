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
