//! Reserving a large copy's destination blocks first (`fallocate` with `FALLOC_FL_KEEP_SIZE`):
//! the reservation is there while the copy runs, the size is only what was written, and blocks
//! reserved past what a stopped copy wrote are released.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use zcopy::{ErrorKind, Options, Strategy};

use crate::common::*;

const EXT4: i64 = 0xef53;

/// Whether the temporary directory is on ext4 (the only filesystem reserved for).
fn tmp_is_ext4(test: &str) -> bool {
    let f = empty_file();
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is valid for writes of one statfs; the fd is open.
    let ok = unsafe { libc::fstatfs(f.as_raw_fd(), st.as_mut_ptr()) } == 0;
    // SAFETY: fstatfs succeeded, so it filled `st`.
    let on_ext4 = ok && unsafe { st.assume_init() }.f_type == EXT4;
    if !on_ext4 {
        skip(
            test,
            "the temporary directory is not on ext4, where zcopy reserves blocks",
        );
    }
    on_ext4
}

#[test]
fn a_large_copy_runs_into_reserved_blocks_and_ends_at_its_size() {
    if !tmp_is_ext4("a_large_copy_runs_into_reserved_blocks_and_ends_at_its_size") {
        return;
    }
    let bytes = data(24 << 20, 81);
    for strategy in [
        Strategy::Auto,
        Strategy::CopyFileRange,
        Strategy::Splice,
        Strategy::ReadWrite,
    ] {
        let src = file_with(&bytes);
        let dst = empty_file();
        let reserved_seen = std::sync::atomic::AtomicU64::new(0);
        let dst_fd = dst.as_raw_fd();
        let progress = |_moved: u64| {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: `st` is valid for one stat; `dst_fd` is open for the whole transfer.
            if unsafe { libc::fstat(dst_fd, st.as_mut_ptr()) } == 0 {
                // SAFETY: fstat succeeded.
                let blocks = unsafe { st.assume_init() }.st_blocks as u64 * 512;
                reserved_seen.fetch_max(blocks, std::sync::atomic::Ordering::Relaxed);
            }
            true
        };
        let opts = Options {
            strategy,
            fallback: false,
            chunk_size: Some(1 << 20),
            progress: Some(&progress),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).expect("copy");
        assert_eq!(r.bytes, 24 << 20, "{strategy}");
        assert_bytes(&content(&dst), &bytes, &format!("{strategy}"));
        let md = dst.metadata().expect("metadata");
        assert_eq!(
            md.len(),
            24 << 20,
            "{strategy}: the size is what was written"
        );
        assert!(
            reserved_seen.load(std::sync::atomic::Ordering::Relaxed) >= 24 << 20,
            "{strategy}: the blocks were not reserved before the copy ({} seen)",
            reserved_seen.load(std::sync::atomic::Ordering::Relaxed)
        );
        assert!(
            md.blocks() * 512 < (24 << 20) + (1 << 20),
            "{strategy}: {} bytes of blocks for a {} byte file",
            md.blocks() * 512,
            md.len()
        );
    }
}

#[test]
fn a_stopped_copy_releases_what_it_did_not_write() {
    if !tmp_is_ext4("a_stopped_copy_releases_what_it_did_not_write") {
        return;
    }
    let bytes = data(32 << 20, 82);
    let src = file_with(&bytes);
    let dst = empty_file();
    let stop = |moved: u64| moved < 3 << 20;
    let opts = Options {
        strategy: Strategy::ReadWrite,
        fallback: false,
        chunk_size: Some(1 << 20),
        progress: Some(&stop),
        ..Options::default()
    };
    let e = zcopy::transfer(&src, &dst, &opts).expect_err("stopped");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let moved = e.bytes_moved();
    let md = dst.metadata().expect("metadata");
    assert_eq!(md.len(), moved, "the size is what was written");
    assert_bytes(
        &content(&dst),
        &bytes[..moved as usize],
        "the bytes written",
    );
    assert!(
        md.blocks() * 512 <= moved + (1 << 20),
        "{} bytes of blocks kept after a copy stopped at {moved} (of 32 MiB reserved)",
        md.blocks() * 512
    );
}

#[test]
fn small_copies_and_sparse_sources_are_not_reserved() {
    if !tmp_is_ext4("small_copies_and_sparse_sources_are_not_reserved") {
        return;
    }
    // A sparse 64 MiB source with 1 MiB of data: the copy keeps the holes.
    let src = empty_file();
    std::os::unix::fs::FileExt::write_all_at(&src, &data(1 << 20, 83), 30 << 20).expect("write");
    src.set_len(64 << 20).expect("set_len");
    let dst = empty_file();
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("copy");
    assert_eq!(r.bytes, 64 << 20);
    let md = dst.metadata().expect("metadata");
    assert_eq!(md.len(), 64 << 20);
    assert!(
        md.blocks() * 512 <= 2 << 20,
        "holes filled: {} bytes of blocks",
        md.blocks() * 512
    );
    let got = content(&dst);
    assert!(got[..30 << 20].iter().all(|&b| b == 0));
    assert_bytes(&got[30 << 20..31 << 20], &data(1 << 20, 83), "the data");
}
