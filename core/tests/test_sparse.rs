//! Sparse sources: holes kept (same bytes, same size, no more blocks), or written as zeros with
//! `sparse: false`.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use crate::common;
use zcopy::{Options, Strategy};

const MIB: u64 = 1 << 20;

/// A file of `size` bytes with 64 KiB of data at each of `at`, holes elsewhere.
fn sparse_file(dir: &std::path::Path, name: &str, size: u64, at: &[u64]) -> (File, Vec<u8>) {
    let p = dir.join(name);
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .expect("create");
    f.set_len(size).expect("set_len");
    let mut want = vec![0u8; size as usize];
    for (i, &o) in at.iter().enumerate() {
        let d = common::data(64 * 1024, i as u64 + 1);
        f.write_all_at(&d, o).expect("write data");
        want[o as usize..o as usize + d.len()].copy_from_slice(&d);
    }
    f.sync_all().expect("sync");
    (f, want)
}

#[test]
fn holes_are_kept_by_every_file_technique() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Data at the start, in the middle, and a hole at the end.
    let size = 8 * MIB;
    let (src, want) = sparse_file(dir.path(), "src", size, &[0, 3 * MIB, 5 * MIB + 4096]);
    let src_blocks = src.metadata().expect("stat").blocks();
    assert!(
        src_blocks * 512 < size,
        "the fixture is not sparse on this filesystem"
    );
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
        Strategy::Direct,
    ] {
        let dst = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("dst"))
            .expect("dst");
        let opts = Options {
            strategy: s,
            fallback: false,
            src_offset: Some(0),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, size, "{s}");
        let meta = dst.metadata().expect("stat");
        assert_eq!(meta.len(), size, "{s}: size (the source ends in a hole)");
        assert!(
            meta.blocks() <= src_blocks,
            "{s}: {} blocks, source {src_blocks}",
            meta.blocks()
        );
        // Only the data moved: the modelled copies count 192 KiB, not 8 MiB.
        if s == Strategy::ReadWrite {
            assert_eq!(r.cpu_copies_bytes, 2 * 3 * 64 * 1024, "{s}");
        }
        common::assert_bytes(&common::content(&dst), &want, &format!("{s} sparse"));
    }
}

#[test]
fn copy_file_keeps_holes_and_sparse_false_fills_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 4 * MIB;
    let (src, want) = sparse_file(dir.path(), "src", size, &[MIB]);
    let src_blocks = src.metadata().expect("stat").blocks();
    let dst = dir.path().join("dst");
    zcopy::copy_file(dir.path().join("src"), &dst, &Options::default()).expect("copy_file");
    let meta = std::fs::metadata(&dst).expect("stat");
    assert_eq!(meta.len(), size);
    assert!(
        meta.blocks() <= src_blocks,
        "{} > {src_blocks}",
        meta.blocks()
    );
    assert_eq!(std::fs::read(&dst).expect("read"), want);

    zcopy::copy_file(
        dir.path().join("src"),
        &dst,
        &Options {
            sparse: false,
            ..Options::default()
        },
    )
    .expect("dense");
    let meta = std::fs::metadata(&dst).expect("stat");
    assert_eq!(std::fs::read(&dst).expect("read"), want);
    assert!(
        meta.blocks() * 512 >= size,
        "sparse: false left holes ({} blocks)",
        meta.blocks()
    );
}

#[test]
fn holes_over_old_bytes_are_written_as_zeros() {
    // A destination that already holds bytes where the source has a hole: skipping would leave
    // the old bytes, so the zeros are written.
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, want) = sparse_file(dir.path(), "src", 2 * MIB, &[0]);
    let dst = common::file_with(&vec![0xAAu8; 2 * MIB as usize]);
    zcopy::transfer(
        &src,
        &dst,
        &Options {
            src_offset: Some(0),
            dst_offset: Some(0),
            ..Options::default()
        },
    )
    .expect("copy");
    common::assert_bytes(&common::content(&dst), &want, "over old bytes");
}

#[test]
fn sparse_with_len_and_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, want) = sparse_file(dir.path(), "src", 6 * MIB, &[2 * MIB, 4 * MIB]);
    for (off, len) in [
        (MIB, 2 * MIB),
        (MIB, MIB + 100),
        (2 * MIB + 10, 3 * MIB),
        (0, 6 * MIB),
        (5 * MIB, 3 * MIB),
    ] {
        let dst = common::empty_file();
        let opts = Options {
            src_offset: Some(off),
            len: Some(len),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).expect("copy");
        let end = (off + len).min(6 * MIB);
        assert_eq!(r.bytes, end - off, "off {off} len {len}");
        common::assert_bytes(
            &common::content(&dst),
            &want[off as usize..end as usize],
            &format!("off {off} len {len}"),
        );
    }
}

#[test]
fn holes_that_never_reached_the_destination_are_not_counted() {
    // Found by the fuzzer: a hole is counted as moved when skipped, but reaches the destination
    // only through a later write or the final ftruncate; when that failed (EFBIG past the
    // largest file), bytes_moved still counted the hole while the destination held nothing.
    let far = 1u64 << 62; // past the largest file of ext4, tmpfs, XFS, btrfs
    for data_after in [false, true] {
        for s in [
            Strategy::Auto,
            Strategy::ReadWrite,
            Strategy::CopyFileRange,
            Strategy::Splice,
            Strategy::Sendfile,
        ] {
            let src = common::empty_file();
            src.set_len(8192).expect("a hole");
            if data_after {
                src.write_all_at(&common::data(4096, 9), 8192)
                    .expect("data after the hole");
            }
            let dst = common::empty_file();
            let opts = Options {
                strategy: s,
                fallback: s == Strategy::Auto,
                src_offset: Some(0),
                dst_offset: Some(far),
                ..Options::default()
            };
            let what = format!("{s}, data after the hole: {data_after}");
            let e = zcopy::transfer(&src, &dst, &opts).expect_err(&what);
            assert_eq!(e.kind(), zcopy::ErrorKind::Io, "{what}: {e}");
            assert_eq!(e.errno(), Some(libc::EFBIG), "{what}: {e}");
            assert_eq!(e.bytes_moved(), 0, "{what}: the hole never landed: {e}");
            assert_eq!(dst.metadata().expect("metadata").len(), 0, "{what}");
        }
    }
}
