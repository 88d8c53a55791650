//! Reflink (`FICLONERANGE`) on a real XFS with `reflink=1`, mounted from a loop image for the
//! test, and its refusal on filesystems that cannot share extents (ext4, tmpfs).
//!
//! Each test makes its own image and mount point under a fresh temporary directory (so parallel
//! tests never collide) and unmounts it in a Drop guard, even when the test panics. Without root,
//! `mkfs.xfs` or a working loop mount, a test says why (common::skip) and checks the Unsupported
//! path on the ordinary filesystem instead.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use zcopy::{ErrorKind, Options, Report, Strategy};

/// XFS block size asked of mkfs (also its default).
const BLOCK: u64 = 4096;
const SIZES: [usize; 6] = [0, 1, 4095, 4096, 4097, (1 << 20) + 1];

/// A loop-mounted XFS image with reflink=1; unmounted (and its directory removed) on drop.
struct Xfs {
    mnt: PathBuf,
    // Dropped after `Drop::drop` unmounted the filesystem.
    _dir: tempfile::TempDir,
}

impl Xfs {
    /// Makes and mounts a fresh 512 MiB (sparse) XFS image, or says why it cannot.
    fn mount() -> Result<Xfs, String> {
        if !common::is_root() {
            return Err("not root: cannot loop-mount a filesystem image".into());
        }
        for cmd in ["mkfs.xfs", "mount", "umount"] {
            if !common::have(cmd) {
                return Err(format!("{cmd} is not installed (apt-get install xfsprogs)"));
            }
        }
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let img = dir.path().join("xfs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| format!("mkdir {}: {e}", mnt.display()))?;
        File::create(&img)
            .and_then(|f| f.set_len(512 << 20))
            .map_err(|e| format!("sparse image {}: {e}", img.display()))?;
        run(Command::new("mkfs.xfs")
            .args(["-q", "-m", "reflink=1", "-b"])
            .arg(format!("size={BLOCK}"))
            .arg(&img))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt))?;
        Ok(Xfs { mnt, _dir: dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a file still open in a panicking test): detach lazily rather than leak it.
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}

/// Runs a command, turning a failure into its stderr.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// A file at `path` holding `bytes`, opened read-write, its position at 0.
fn create_with(path: &Path, bytes: &[u8]) -> File {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all_at(bytes, 0)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    f
}

/// The XFS mount for `test`, or `None` after saying why and checking, instead, that strict
/// reflink is refused on the ordinary filesystem.
fn xfs_or_fallback(test: &str) -> Option<Xfs> {
    match Xfs::mount() {
        Ok(x) => Some(x),
        Err(why) => {
            common::skip(test, &format!("no XFS with reflink: {why}"));
            strict_refused_on(
                test,
                &common::file_with(b"x"),
                &common::file_with(b"keep"),
                "the temp dir",
            );
            None
        }
    }
}

/// Strict reflink of `src` (any non-empty file on a filesystem that cannot share extents) is
/// Unsupported with nothing moved, and probe says reflink is unsupported with a reason.
fn strict_refused_on(test: &str, src: &File, dst: &File, where_: &str) {
    if let Some(fs) = extent_sharing_fs(src) {
        common::skip(
            test,
            &format!("{where_} is on {fs}, which can share extents; nothing to refuse there"),
        );
        return;
    }
    let label = format!("{test}: strict reflink within {where_}");
    assert_eq!(
        common::content(dst),
        b"keep",
        "the caller's dst holds \"keep\""
    );
    let before_src = common::content(src);
    let e = zcopy::transfer(src, dst, &strict(Strategy::Reflink))
        .expect_err(&format!("{label}: expected Unsupported"));
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{label}: {e}");
    assert_eq!(e.bytes_moved(), 0, "{label}");
    assert!(
        e.message().contains("FICLONERANGE") && e.message().contains("cannot share extents"),
        "{label}: message {:?}",
        e.message()
    );
    common::assert_bytes(&common::content(dst), b"keep", &label);
    common::assert_bytes(&common::content(src), &before_src, &label);
    assert_eq!(common::pos(dst), 0, "{label}: dst position");
    assert_eq!(common::pos(src), 0, "{label}: src position");
    let p = zcopy::probe(src, dst).expect("probe");
    let r = p
        .iter()
        .find(|s| s.strategy == Strategy::Reflink)
        .expect("probe lists reflink");
    assert!(!r.supported, "{label}: probe {r:?}");
    assert!(
        r.reason.contains("cannot share extents"),
        "{label}: probe reason {:?}",
        r.reason
    );
}

/// The name of `f`'s filesystem when it can share extents (reflink works there).
fn extent_sharing_fs(f: &File) -> Option<&'static str> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is valid for writes of one statfs during the call.
    let r = unsafe { libc::fstatfs(f.as_raw_fd(), st.as_mut_ptr()) };
    assert_eq!(r, 0, "fstatfs: {}", std::io::Error::last_os_error());
    // SAFETY: fstatfs succeeded, so it filled `st`.
    let kind = unsafe { st.assume_init() }.f_type;
    match kind {
        0x5846_5342 => Some("XFS"),
        0x9123_683e => Some("btrfs"),
        0xca45_1a4e => Some("bcachefs"),
        0x7461_636f => Some("OCFS2"),
        _ => None,
    }
}

/// Puts a file's position back to 0.
fn rewind(f: &File) {
    let mut f = f;
    f.seek(SeekFrom::Start(0)).expect("rewind");
}

fn strict(strategy: Strategy) -> Options<'static> {
    Options {
        strategy,
        fallback: false,
        ..Options::default()
    }
}

/// Whether every byte of `f` (non-empty) lives in extents shared with another file, by FIEMAP
/// (synced first): proof that a clone, not a copy, happened.
fn all_shared(f: &File) -> bool {
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Extent {
        logical: u64,
        physical: u64,
        length: u64,
        reserved64: [u64; 2],
        flags: u32,
        reserved: [u32; 3],
    }
    #[repr(C)]
    struct Fiemap {
        start: u64,
        length: u64,
        flags: u32,
        mapped_extents: u32,
        extent_count: u32,
        reserved: u32,
        extents: [Extent; 64],
    }
    // _IOWR('f', 11, struct fiemap)
    const FS_IOC_FIEMAP: libc::c_ulong = 0xc020_660b;
    const FIEMAP_FLAG_SYNC: u32 = 1;
    const FIEMAP_EXTENT_SHARED: u32 = 0x2000;
    let mut map = Fiemap {
        start: 0,
        length: u64::MAX,
        flags: FIEMAP_FLAG_SYNC,
        mapped_extents: 0,
        extent_count: 64,
        reserved: 0,
        extents: [Extent::default(); 64],
    };
    // SAFETY: `map` is a valid struct fiemap with room for `extent_count` extents; the kernel
    // writes only within it during the call.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, &mut map as *mut Fiemap) };
    assert_eq!(r, 0, "FIEMAP: {}", std::io::Error::last_os_error());
    let n = map.mapped_extents as usize;
    assert!(n > 0 && n <= 64, "FIEMAP mapped {n} extents");
    let size = f.metadata().expect("metadata").len();
    let covered: u64 = map.extents[..n].iter().map(|e| e.length).sum();
    covered >= size
        && map.extents[..n]
            .iter()
            .all(|e| e.flags & FIEMAP_EXTENT_SHARED != 0)
}

#[track_caller]
fn assert_reflink_report(report: &Report, n: u64, label: &str) {
    assert_eq!(report.bytes, n, "{label}: report.bytes");
    assert_eq!(
        report.strategy,
        Strategy::Reflink,
        "{label}: report.strategy"
    );
    assert!(
        report.fallbacks.is_empty(),
        "{label}: {:?}",
        report.fallbacks
    );
    assert_eq!(report.cpu_copies_bytes, 0, "{label}: cpu_copies_bytes");
    assert_eq!(report.dma_copies_bytes, 0, "{label}: dma_copies_bytes");
    assert_eq!(report.mode_switches, 2 * report.syscalls, "{label}");
}

/// Strict reflink of every size: exact bytes, strategy reflink, no CPU copies, shared extents;
/// both by fd (positions advance by exactly n) and by path.
#[test]
fn reflink_strict_copies_exact_bytes() {
    let test = "reflink_strict_copies_exact_bytes";
    let Some(xfs) = xfs_or_fallback(test) else {
        return;
    };
    for (i, n) in SIZES.into_iter().enumerate() {
        let label = format!("reflink {n} bytes");
        let data = common::data(n, 100 + i as u64);
        let src = create_with(&xfs.path(&format!("src{i}")), &data);
        let dst = create_with(&xfs.path(&format!("dst{i}")), b"");
        let report = zcopy::transfer(&src, &dst, &strict(Strategy::Reflink))
            .unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
        common::assert_bytes(&common::content(&dst), &data, &label);
        assert_reflink_report(&report, n as u64, &label);
        assert_eq!(common::pos(&src), n as u64, "{label}: src position");
        assert_eq!(common::pos(&dst), n as u64, "{label}: dst position");
        if n > 0 {
            assert!(all_shared(&dst), "{label}: dst extents are not shared");
        }
        // The source is intact, and writing the clone leaves it so (copy on write).
        common::assert_bytes(&common::content(&src), &data, &label);
        if n > 0 {
            dst.write_all_at(b"!", 0).expect("write clone");
            common::assert_bytes(
                &common::content(&src),
                &data,
                &format!("{label}: src after CoW"),
            );
        }

        let dst_path = xfs.path(&format!("bypath{i}"));
        std::fs::write(&dst_path, b"old content to be truncated").expect("write old dst");
        let report = zcopy::copy_file(
            xfs.path(&format!("src{i}")),
            &dst_path,
            &strict(Strategy::Reflink),
        )
        .unwrap_or_else(|e| panic!("copy_file {label}: {e} ({:?})", e.kind()));
        let got = std::fs::read(&dst_path).expect("read dst");
        common::assert_bytes(&got, &data, &format!("copy_file {label}"));
        assert_reflink_report(&report, n as u64, &format!("copy_file {label}"));
    }
}

/// Block-aligned explicit offsets: an aligned length, and a range running to the source's end
/// (whose length need not be aligned). Positions stay where they were.
#[test]
fn reflink_aligned_offsets() {
    let test = "reflink_aligned_offsets";
    let Some(xfs) = xfs_or_fallback(test) else {
        return;
    };
    let data = common::data(5 * BLOCK as usize + 123, 7);
    let src = create_with(&xfs.path("src"), &data);
    for (src_off, dst_off, len) in [
        (BLOCK, 2 * BLOCK, Some(2 * BLOCK)),
        (2 * BLOCK, BLOCK, None),
        (0, 3 * BLOCK, Some(data.len() as u64)),
        (3 * BLOCK, 0, Some(100 * BLOCK)),
    ] {
        let label = format!("reflink src_offset {src_off} dst_offset {dst_off} len {len:?}");
        let dst = create_with(&xfs.path("dst"), b"");
        let opts = Options {
            src_offset: Some(src_off),
            dst_offset: Some(dst_off),
            len,
            ..strict(Strategy::Reflink)
        };
        let report = zcopy::transfer(&src, &dst, &opts)
            .unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
        let end = len.map_or(data.len() as u64, |l| (src_off + l).min(data.len() as u64));
        let part = &data[src_off as usize..end as usize];
        let mut want = vec![0u8; dst_off as usize];
        want.extend_from_slice(part);
        common::assert_bytes(&common::content(&dst), &want, &label);
        assert_reflink_report(&report, part.len() as u64, &label);
        assert_eq!(common::pos(&src), 0, "{label}: src position");
        assert_eq!(common::pos(&dst), 0, "{label}: dst position");
    }
}

/// A misaligned offset (or a misaligned length short of the source's end): strict reflink is
/// Unsupported naming the block-size rule, with nothing written; with fallback, or Auto, the
/// bytes are still copied exactly.
#[test]
fn reflink_misaligned_refused_strict_copied_with_fallback() {
    let test = "reflink_misaligned_refused_strict_copied_with_fallback";
    let Some(xfs) = xfs_or_fallback(test) else {
        return;
    };
    let data = common::data(3 * BLOCK as usize + 77, 8);
    let src = create_with(&xfs.path("src"), &data);
    let keep = b"destination content that must survive a refusal";
    for (src_off, dst_off, len) in [
        (Some(100), None, None),
        (None, Some(100), None),
        (Some(0), Some(0), Some(BLOCK + 1)),
    ] {
        let label = format!("src_offset {src_off:?} dst_offset {dst_off:?} len {len:?}");
        let dst = create_with(&xfs.path("dst"), keep);
        rewind(&src);
        let opts = Options {
            src_offset: src_off,
            dst_offset: dst_off,
            len,
            ..strict(Strategy::Reflink)
        };
        let e = zcopy::transfer(&src, &dst, &opts)
            .expect_err(&format!("{label}: strict reflink must refuse"));
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{label}: {e}");
        assert_eq!(e.bytes_moved(), 0, "{label}");
        assert!(
            e.message().contains("EINVAL")
                && e.message().contains("aligned to its 4096-byte block"),
            "{label}: the message should name the alignment rule: {:?}",
            e.message()
        );
        common::assert_bytes(&common::content(&dst), keep, &label);
        assert_eq!(common::pos(&src), 0, "{label}: src position");
        assert_eq!(common::pos(&dst), 0, "{label}: dst position");

        // Reflink with fallback, then Auto: copy_file_range copies the same range exactly.
        for (strategy, fallbacks) in [(Strategy::Reflink, 1), (Strategy::Auto, 0)] {
            let label = format!("{strategy} with fallback, {label}");
            let dst = create_with(&xfs.path("dst"), b"");
            rewind(&src);
            let opts = Options {
                strategy,
                fallback: true,
                ..opts.clone()
            };
            let report = zcopy::transfer(&src, &dst, &opts)
                .unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
            let s = src_off.unwrap_or(0) as usize;
            let end = len.map_or(data.len(), |l| (s + l as usize).min(data.len()));
            let mut want = vec![0u8; dst_off.unwrap_or(0) as usize];
            want.extend_from_slice(&data[s..end]);
            common::assert_bytes(&common::content(&dst), &want, &label);
            assert_eq!(report.bytes, (end - s) as u64, "{label}");
            assert_eq!(report.strategy, Strategy::CopyFileRange, "{label}");
            assert_eq!(
                report.fallbacks.len(),
                fallbacks,
                "{label}: {:?}",
                report.fallbacks
            );
            if let Some(f) = report.fallbacks.first() {
                assert_eq!(f.strategy, Strategy::Reflink, "{label}");
                assert!(
                    f.reason.contains("aligned to its 4096-byte block"),
                    "{label}: {f:?}"
                );
            }
        }
    }
}

/// copy_file_range between two files of one XFS clones: exact bytes, and the destination's
/// extents are shared with the source.
#[test]
fn copy_file_range_on_xfs_clones() {
    let test = "copy_file_range_on_xfs_clones";
    let Some(xfs) = xfs_or_fallback(test) else {
        return;
    };
    for (i, n) in [1usize, 4096, 1 << 20, (4 << 20) + 1]
        .into_iter()
        .enumerate()
    {
        let label = format!("copy_file_range {n} bytes on XFS");
        let data = common::data(n, 300 + i as u64);
        let src = create_with(&xfs.path(&format!("src{i}")), &data);
        let dst = create_with(&xfs.path(&format!("dst{i}")), b"");
        let report = zcopy::transfer(&src, &dst, &strict(Strategy::CopyFileRange))
            .unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
        common::assert_bytes(&common::content(&dst), &data, &label);
        assert_eq!(report.bytes, n as u64, "{label}");
        assert_eq!(report.strategy, Strategy::CopyFileRange, "{label}");
        assert_eq!(common::pos(&dst), n as u64, "{label}: dst position");
        assert!(
            all_shared(&dst),
            "{label}: copy_file_range did not clone on XFS"
        );
        // Auto picks copy_file_range for the pair too.
        let dst2 = create_with(&xfs.path(&format!("auto{i}")), b"");
        rewind(&src);
        let report = zcopy::transfer(&src, &dst2, &Options::default()).expect("Auto on XFS");
        common::assert_bytes(&common::content(&dst2), &data, &format!("Auto: {label}"));
        assert_eq!(report.strategy, Strategy::CopyFileRange);
    }
}

/// probe on XFS says reflink is supported; between XFS and another filesystem it is not
/// (different filesystems), and a strict transfer across them is Unsupported with nothing moved.
#[test]
fn reflink_probe_on_xfs_and_across_filesystems() {
    let test = "reflink_probe_on_xfs_and_across_filesystems";
    let Some(xfs) = xfs_or_fallback(test) else {
        return;
    };
    let src = create_with(&xfs.path("src"), &common::data(10_000, 9));
    let dst = create_with(&xfs.path("dst"), b"");
    let p = zcopy::probe(&src, &dst).expect("probe");
    let r = p
        .iter()
        .find(|s| s.strategy == Strategy::Reflink)
        .expect("reflink entry");
    assert!(r.supported && r.reason.is_empty(), "{r:?}");

    let other = common::file_with(b"keep");
    let p = zcopy::probe(&src, &other).expect("probe");
    let r = p
        .iter()
        .find(|s| s.strategy == Strategy::Reflink)
        .expect("reflink entry");
    assert!(!r.supported, "{r:?}");
    assert!(r.reason.contains("different filesystems"), "{r:?}");
    let e = zcopy::transfer(&src, &other, &strict(Strategy::Reflink))
        .expect_err("a clone across filesystems must be refused");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(e.bytes_moved(), 0);
    assert!(e.message().contains("EXDEV"), "{e}");
    common::assert_bytes(&common::content(&other), b"keep", "dst across filesystems");
    assert_eq!(common::pos(&src), 0, "src position");
}

/// On ext4 (a temporary file) and tmpfs (/dev/shm), strict reflink is Unsupported with 0 bytes
/// and probe says why; Auto still copies exactly (it never tries reflink).
#[test]
fn reflink_unsupported_on_ordinary_filesystems() {
    let test = "reflink_unsupported_on_ordinary_filesystems";
    let data = common::data(3 * BLOCK as usize, 10);
    let tmp = common::file_with(&data);
    strict_refused_on(test, &tmp, &common::file_with(b"keep"), "the temp dir");
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let f = tempfile::tempfile_in(shm).expect("tempfile in /dev/shm");
        f.write_all_at(&data, 0).expect("write /dev/shm file");
        let dst = tempfile::tempfile_in(shm).expect("tempfile in /dev/shm");
        dst.write_all_at(b"keep", 0).expect("write /dev/shm file");
        strict_refused_on(test, &f, &dst, "/dev/shm");
    } else {
        common::skip(
            test,
            "no /dev/shm here; checked the temp dir's filesystem only",
        );
    }
    let dst = common::empty_file();
    let report = zcopy::transfer(&tmp, &dst, &Options::default()).expect("Auto");
    common::assert_bytes(&common::content(&dst), &data, "Auto on the temp dir");
    assert_ne!(report.strategy, Strategy::Reflink);
}
