//! Hostile cases (issue 7, a first slice): a destination that fills up mid-transfer, /dev/full,
//! files larger than 4 GiB copied at offsets across the 2^31 and 2^32 boundaries, offsets that
//! overflow or pass the largest file a filesystem holds, FIFOs with an idle, a closed or no
//! writer, the close-on-exec flag of the engine's own fds, 16 threads at once, and `fork()`
//! while another thread transfers. After every failure, the caller's fds are still open with
//! the flags they had (`F_GETFD` and `F_GETFL` compared with what they were before).

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;
use zcopy::{ErrorKind, Options, Strategy};

fn strict(s: Strategy) -> Options<'static> {
    Options {
        strategy: s,
        fallback: s == Strategy::Auto,
        ..Options::default()
    }
}

/// An fd's descriptor flags (`F_GETFD`) and status flags (`F_GETFL`), taken before a call that
/// fails, to check after it that the fd is still open and unchanged.
struct FdState {
    fd: RawFd,
    what: &'static str,
    fd_flags: i32,
    fl_flags: i32,
}

fn fcntl_get(fd: RawFd, cmd: i32) -> std::io::Result<i32> {
    // SAFETY: F_GETFD and F_GETFL take no argument and touch no memory.
    let r = unsafe { libc::fcntl(fd, cmd) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl FdState {
    fn of(f: &impl AsFd, what: &'static str) -> FdState {
        let fd = f.as_fd().as_raw_fd();
        FdState {
            fd,
            what,
            fd_flags: fcntl_get(fd, libc::F_GETFD).expect("F_GETFD before"),
            fl_flags: fcntl_get(fd, libc::F_GETFL).expect("F_GETFL before"),
        }
    }

    #[track_caller]
    fn unchanged(&self, after: &str) {
        let (fd, what) = (self.fd, self.what);
        let fd_flags = fcntl_get(fd, libc::F_GETFD)
            .unwrap_or_else(|e| panic!("{what} fd {fd} after {after}: F_GETFD failed: {e}"));
        let fl_flags = fcntl_get(fd, libc::F_GETFL)
            .unwrap_or_else(|e| panic!("{what} fd {fd} after {after}: F_GETFL failed: {e}"));
        assert_eq!(
            fd_flags, self.fd_flags,
            "{what} fd {fd} after {after}: F_GETFD changed"
        );
        assert_eq!(
            fl_flags, self.fl_flags,
            "{what} fd {fd} after {after}: F_GETFL changed ({:#o} → {fl_flags:#o})",
            self.fl_flags
        );
    }
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("a path without NUL")
}

/// A tmpfs mounted on a fresh temporary directory, unmounted when dropped (even when the test
/// failed: a panic unwinds through the drop). Unmounting is lazy (`MNT_DETACH`), so a file still
/// open in it cannot keep the mount alive past the test.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `mount -t tmpfs -o size=<bytes> tmpfs DIR`; `Err(why)` where this process may not.
    fn mount(bytes: u64) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let target = c_path(dir.path());
        let data = CString::new(format!("size={bytes}")).expect("no NUL");
        // SAFETY: every pointer is a NUL-terminated string alive for the call.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(format!(
                "mount -t tmpfs -o size={bytes} on {}: {}",
                dir.path().display(),
                std::io::Error::last_os_error()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = c_path(self.dir.path());
        // SAFETY: `target` is a NUL-terminated path alive for the call.
        let r = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        if r != 0 {
            eprintln!(
                "umount {}: {}",
                self.dir.path().display(),
                std::io::Error::last_os_error()
            );
        }
        // The TempDir field then removes the (now empty) mount point.
    }
}

/// The regular file at `path`, created with `bytes`, opened for reading at position 0.
fn file_at(path: &Path, bytes: &[u8]) -> File {
    std::fs::write(path, bytes).expect("write fixture");
    File::open(path).expect("open fixture")
}

// ---------------------------------------------------------------------------------------------
// 1. ENOSPC mid-transfer.

const ENOSPC_STRATEGIES: [Strategy; 5] = [
    Strategy::Auto,
    Strategy::ReadWrite,
    Strategy::Splice,
    Strategy::CopyFileRange,
    Strategy::Sendfile,
];

/// One transfer into a filesystem that fills up: `src` (from position 0) to a new file `dst`
/// in `fs`, with `len`. Checks the error and what the destination holds; removes `dst`.
fn enospc_case(fs: &Tmpfs, src: &File, data: &[u8], s: Strategy, len: Option<u64>, case: &str) {
    let dst_path = fs.path("dst");
    let dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&dst_path)
        .expect("create dst");
    let (src_state, dst_state) = (FdState::of(src, "src"), FdState::of(&dst, "dst"));
    let pos0 = common::pos(src);
    let opts = Options { len, ..strict(s) };
    let r = zcopy::transfer(src, &dst, &opts);
    src_state.unchanged(&format!("{case} {s}"));
    dst_state.unchanged(&format!("{case} {s}"));
    let on_disk = std::fs::metadata(&dst_path).expect("stat dst").len();
    let got = std::fs::read(&dst_path).expect("read dst");
    match r {
        Ok(rep) => panic!(
            "{case} {s}: a full filesystem took all {} bytes: {rep:?}",
            rep.bytes
        ),
        Err(e) if s == Strategy::CopyFileRange && e.kind() == ErrorKind::Unsupported => {
            // copy_file_range between two filesystems: since Linux 5.19 the kernel refuses
            // (EXDEV) before writing anything. Its ENOSPC is checked within one tmpfs below.
            assert_eq!(e.errno(), Some(libc::EXDEV), "{case} {s}: {e}");
            assert!(
                e.message().contains("copy_file_range") && e.message().contains("EXDEV"),
                "{case} {s}: {e}"
            );
            assert_eq!(e.bytes_moved(), 0, "{case} {s}");
            assert_eq!(on_disk, 0, "{case} {s}: a refusal writes nothing");
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Io, "{case} {s}: {e}");
            assert_eq!(e.errno(), Some(libc::ENOSPC), "{case} {s}: {e}");
            let dst_name = format!("dst fd {}", dst.as_raw_fd());
            assert!(
                e.message().contains(&dst_name) && e.message().contains("No space left"),
                "{case} {s}: {e:?} should name {dst_name} and say no space"
            );
            let k = e.bytes_moved();
            let want = len.unwrap_or(data.len() as u64);
            assert!(k > 0 && k < want, "{case} {s}: {k} of {want} bytes moved");
            assert_eq!(on_disk, k, "{case} {s}: dst size against bytes_moved");
            common::assert_bytes(&got, &data[..k as usize], &format!("{case} {s} prefix"));
            assert_eq!(common::pos(src), pos0 + k, "{case} {s}: src position");
            assert_eq!(common::pos(&dst), k, "{case} {s}: dst position");
            let rep = e.report().expect("a failed transfer carries its report");
            assert_eq!(rep.bytes, k, "{case} {s}: report bytes");
            if s == Strategy::Auto {
                // What Auto tried before the technique that hit ENOSPC: only refusals made
                // before any byte moved. An I/O error never falls back (that could write twice).
                assert_ne!(rep.strategy, Strategy::ReadWrite, "{case}: {rep:?}");
                for f in &rep.fallbacks {
                    assert!(
                        f.reason.contains("refused") || f.reason.contains("EXDEV"),
                        "{case}: Auto fell back from {} for {:?}",
                        f.strategy,
                        f.reason
                    );
                }
            } else {
                assert_eq!(rep.strategy, s, "{case}");
                assert!(rep.fallbacks.is_empty(), "{case} {s}: {rep:?}");
            }
        }
    }
    drop(dst);
    std::fs::remove_file(&dst_path).expect("remove dst");
}

#[test]
fn enospc_mid_transfer_keeps_the_exact_prefix() {
    let test = "enospc_mid_transfer_keeps_the_exact_prefix";
    if !common::is_root() {
        common::skip(test, "not root: cannot mount a small tmpfs (see dev_full_as_destination for ENOSPC from the first write)");
        return;
    }
    let data = common::data(3 << 20, 101);
    // A 1 MiB tmpfs holding only the destination; the source on the temp directory's filesystem.
    let small = match Tmpfs::mount(1 << 20) {
        Ok(m) => m,
        Err(why) => {
            common::skip(test, &why);
            return;
        }
    };
    for s in ENOSPC_STRATEGIES {
        let src = common::file_with(&data);
        enospc_case(&small, &src, &data, s, None, "3 MiB into a 1 MiB tmpfs");
    }
    // Source and destination on one 4 MiB tmpfs (copy_file_range copies within a filesystem):
    // the 3 MiB source leaves about 1 MiB for the destination.
    let shared = Tmpfs::mount(4 << 20).expect("second tmpfs");
    let src = file_at(&shared.path("src"), &data);
    for s in ENOSPC_STRATEGIES {
        seek(&src, 0);
        enospc_case(&shared, &src, &data, s, None, "3 MiB within a 4 MiB tmpfs");
    }
    // Below 1 MiB Auto tries copy_file_range first (no splice-first): with 512 KiB left, a
    // 900 KiB transfer hits ENOSPC in copy_file_range (one filesystem) or, across filesystems,
    // after copy_file_range's EXDEV refusal, in sendfile.
    let with_filler = |fs: &Tmpfs, src: &File, case: &str| {
        let filler = fs.path("filler");
        std::fs::write(&filler, vec![0u8; 512 << 10]).expect("filler");
        enospc_case(fs, src, &data, Strategy::Auto, Some(900 << 10), case);
        std::fs::remove_file(&filler).expect("remove filler");
    };
    with_filler(
        &small,
        &common::file_with(&data),
        "Auto 900 KiB into 512 KiB left, across filesystems",
    );
    seek(&src, 0);
    with_filler(
        &shared,
        &src,
        "Auto 900 KiB into 512 KiB left, within one tmpfs",
    );
}

/// Sets a file's position (a file shared between cases).
fn seek(f: &File, off: u64) {
    use std::io::Seek;
    let mut f = f;
    f.seek(std::io::SeekFrom::Start(off)).expect("seek");
}

// ---------------------------------------------------------------------------------------------
// 2. /dev/full.

/// /dev/full refuses every write with ENOSPC: nothing is moved, the source's position stays,
/// and the message names the destination. sendfile and splice cannot write to it at all (it
/// has no `splice_write`: EINVAL), so strict they are Unsupported and Auto falls back past them
/// to read_write, which gets the ENOSPC.
#[test]
fn dev_full_as_destination() {
    let data = common::data(1 << 20, 102);
    let full = OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let dst_name = format!("dst fd {}", full.as_raw_fd());
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
    ] {
        for (src_offset, len) in [(None, None), (Some(4096), Some(1000))] {
            let src = common::file_with(&data);
            let states = [FdState::of(&src, "src"), FdState::of(&full, "dst")];
            let opts = Options {
                src_offset,
                len,
                ..strict(s)
            };
            let e = zcopy::transfer(&src, &full, &opts).expect_err("/dev/full takes nothing");
            let what = format!("{s} src_offset {src_offset:?}");
            for st in &states {
                st.unchanged(&what);
            }
            assert_eq!(e.bytes_moved(), 0, "{what}: {e}");
            assert_eq!(common::pos(&src), 0, "{what}: src position");
            assert!(
                e.message().contains(&dst_name),
                "{what}: {e:?} should name {dst_name}"
            );
            let rep = e.report().expect("a failed transfer carries its report");
            assert_eq!(rep.bytes, 0, "{what}");
            match e.kind() {
                ErrorKind::Io => {
                    assert_eq!(e.errno(), Some(libc::ENOSPC), "{what}: {e}");
                    assert!(e.message().contains("No space left"), "{what}: {e}");
                }
                // A kernel without splice_write for /dev/full (6.18 here).
                ErrorKind::Unsupported if matches!(s, Strategy::Sendfile | Strategy::Splice) => {
                    assert_eq!(e.errno(), Some(libc::EINVAL), "{what}: {e}");
                    assert!(e.message().contains("refused"), "{what}: {e}");
                }
                k => panic!("{what}: {k:?}: {e}"),
            }
            if s == Strategy::Auto {
                assert_eq!(e.kind(), ErrorKind::Io, "{what}: Auto reaches read_write");
                for f in &rep.fallbacks {
                    assert!(f.reason.contains("refused"), "{what}: {f:?}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Files larger than 4 GiB.

const GIB: u64 = 1 << 30;
/// The sparse source's size: past 4 GiB, and odd.
const BIG: u64 = 5 * GIB + 17;
/// Marker bytes at the 2^31 and 2^32 boundaries and at the last byte.
const MARKERS: [(u64, u8); 6] = [
    ((1 << 31) - 3, 0xa1),
    (1 << 31, 0xa2),
    ((1 << 32) - 1, 0xa3),
    (1 << 32, 0xa4),
    ((1 << 32) + 4096, 0xa5),
    (BIG - 1, 0xa6),
];

fn byte_at(f: &File, off: u64) -> u8 {
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off)
        .unwrap_or_else(|e| panic!("pread at {off}: {e}"));
    b[0]
}

/// The source offsets a range check compares: each marker, the bytes around it (zeros), and
/// the first and last byte of the range.
fn probes(src_offset: u64, moved: u64) -> Vec<u64> {
    let mut v = vec![src_offset, src_offset + moved - 1];
    for (m, _) in MARKERS {
        for d in [-4097i64, -4096, -2, -1, 0, 1, 2, 3, 4095, 4096] {
            v.push(m.wrapping_add_signed(d));
        }
    }
    v.retain(|&p| (src_offset..src_offset + moved).contains(&p));
    v
}

#[test]
fn files_past_4_gib_copy_exactly_at_offsets_across_the_boundaries() {
    let test = "files_past_4_gib_copy_exactly_at_offsets_across_the_boundaries";
    let src = common::empty_file();
    if let Err(e) = src.set_len(BIG) {
        common::skip(
            test,
            &format!("the temp filesystem refuses a {BIG}-byte sparse file: {e}"),
        );
        return;
    }
    for (m, b) in MARKERS {
        src.write_all_at(&[b], m).expect("marker");
    }
    for (m, b) in MARKERS {
        assert_eq!(byte_at(&src, m), b, "marker at {m} reads back");
    }
    // (src_offset, len, dst_offset, moved): each range crosses boundaries, and lands where the
    // destination offset crosses others.
    let ranges: [(u64, u64, u64, u64); 4] = [
        // Across 2^31 - 3 and 2^31, written above 4 GiB.
        ((1 << 31) - 8192, 16384, (1 << 32) + 100, 16384),
        // Across 2^32 - 1, 2^32 and 2^32 + 4096, written across 2^31.
        ((1 << 32) - 8192, 20000, (1 << 31) - 7, 20000),
        // The last byte; a len past the end moves what there is.
        (BIG - 5000, 10_000, BIG - 5000, 5000),
        // Every marker but the last in one range of 2 GiB + 4100 bytes: with holes kept, only
        // the data blocks are copied.
        ((1 << 31) - 3, (1 << 31) + 4100, 3, (1 << 31) + 4100),
    ];
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        for (i, &(so, len, dof, moved)) in ranges.iter().enumerate() {
            // A dense copy of the 2 GiB range would write 2 GiB of zeros: holes kept only.
            let sparse_modes: &[bool] = if i == 3 { &[true] } else { &[false, true] };
            for &sparse in sparse_modes {
                let what = format!("{s} range {i} sparse {sparse}");
                let dst = common::empty_file();
                let opts = Options {
                    src_offset: Some(so),
                    dst_offset: Some(dof),
                    len: Some(len),
                    sparse,
                    ..strict(s)
                };
                let r =
                    zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(r.bytes, moved, "{what}");
                assert_eq!(common::pos(&src), 0, "{what}: src position");
                assert_eq!(common::pos(&dst), 0, "{what}: dst position");
                let size = dst.metadata().expect("stat dst").len();
                assert_eq!(size, dof + moved, "{what}: dst size");
                for p in probes(so, moved) {
                    let (want, got) = (byte_at(&src, p), byte_at(&dst, p - so + dof));
                    assert_eq!(got, want, "{what}: src byte {p} at dst {}", p - so + dof);
                }
                let in_range = MARKERS.iter().filter(|(m, _)| (so..so + moved).contains(m));
                assert!(in_range.count() >= 1, "{what}: the range holds a marker");
            }
        }
    }
}

#[test]
fn offsets_that_overflow_are_invalid_and_name_the_offset() {
    let src = common::file_with(&common::data(10_000, 103));
    let dst = common::empty_file();
    let states = [FdState::of(&src, "src"), FdState::of(&dst, "dst")];
    let near = u64::MAX - 1;
    for (what, src_offset, dst_offset) in [
        ("src_offset", Some(near), None),
        ("dst_offset", None, Some(near)),
        ("src_offset", Some(i64::MAX as u64 - 1), Some(0)),
        ("dst_offset", Some(0), Some(i64::MAX as u64 - 1)),
    ] {
        for s in [Strategy::Auto, Strategy::ReadWrite, Strategy::CopyFileRange] {
            let off = src_offset.max(dst_offset).expect("an offset");
            let opts = Options {
                src_offset,
                dst_offset,
                len: Some(2),
                ..strict(s)
            };
            let e = zcopy::transfer(&src, &dst, &opts).expect_err("overflow");
            assert_eq!(e.kind(), ErrorKind::Invalid, "{s} {what}: {e}");
            assert_eq!(e.errno(), Some(libc::EOVERFLOW), "{s} {what}: {e}");
            assert!(
                e.message().contains(&format!("{what} {off}"))
                    && e.message().contains("largest file offset"),
                "{s}: {e:?} should name {what} {off}"
            );
            assert_eq!(e.bytes_moved(), 0);
            for st in &states {
                st.unchanged(&format!("{s} {what} {off}"));
            }
        }
    }
    assert_eq!(common::content(&dst), b"", "nothing written");
    assert_eq!(common::pos(&src), 0);
}

/// Regression (found by files_past_4_gib_copy_exactly_at_offsets_across_the_boundaries): a
/// sparse copy with an explicit `src_offset` left the source's position wherever its last
/// `SEEK_DATA`/`SEEK_HOLE` put it.
#[test]
fn sparse_copies_at_explicit_offsets_leave_the_source_position() {
    let src = common::empty_file();
    src.set_len(1 << 20).expect("set_len");
    let data = common::data(5000, 104);
    src.write_all_at(&data, 300_000).expect("data");
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        seek(&src, 17);
        let dst = common::empty_file();
        let opts = Options {
            src_offset: Some(4096),
            len: Some(400_000),
            ..strict(s)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, 400_000, "{s}");
        assert_eq!(common::pos(&src), 17, "{s}: src position left alone");
        assert_eq!(common::pos(&dst), 400_000, "{s}: dst position advanced");
        let got = common::content(&dst);
        assert_eq!(got.len(), 400_000, "{s}");
        let at = 300_000 - 4096;
        common::assert_bytes(&got[at..at + 5000], &data, &format!("{s} data"));
        assert!(
            got[..at].iter().chain(&got[at + 5000..]).all(|&b| b == 0),
            "{s}: zeros"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. FIFOs.

/// A new FIFO in `dir`.
fn mkfifo(dir: &Path) -> PathBuf {
    let path = dir.join("fifo");
    let c = c_path(&path);
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(r, 0, "mkfifo: {}", std::io::Error::last_os_error());
    path
}

/// A FIFO's read end, opened without waiting for a writer (`O_NONBLOCK`), then made blocking.
fn fifo_reader(path: &Path) -> File {
    let r = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open fifo for reading");
    let fl = common::flags(&r);
    // SAFETY: F_SETFL takes an int and touches no memory.
    let rc = unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) };
    assert_eq!(rc, 0, "F_SETFL: {}", std::io::Error::last_os_error());
    r
}

/// A FIFO whose writer wrote 1000 bytes and stays open, idle: the cancel flag set 200 ms later
/// stops the transfer within one poll slice (`IDLE_TICK_MS`), with exactly the 1000 bytes moved.
/// (Before the engine polled idle stream sources, it sat in a `splice` or `read` that only more
/// bytes or end of file could end.)
#[test]
fn fifo_with_an_idle_writer_and_the_cancel_flag() {
    // The writer wrote 1000 bytes and went quiet without closing: the transfer waits in poll
    // slices (not in a read it cannot leave), so the cancel flag stops it within one slice.
    for s in [Strategy::Auto, Strategy::ReadWrite, Strategy::Splice] {
        idle_fifo_case(s);
    }
}

fn idle_fifo_case(strategy: Strategy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mkfifo(dir.path());
    let src = fifo_reader(&path);
    let mut w = OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open fifo for writing");
    let first = common::data(1000, 105);
    w.write_all(&first).expect("write 1000 bytes");
    let dst = common::empty_file();
    let states = [FdState::of(&src, "fifo"), FdState::of(&dst, "dst")];
    let cancel = AtomicBool::new(false);
    let moved = AtomicU64::new(0);
    let progress = |n: u64| {
        moved.store(n, Ordering::SeqCst);
        true
    };
    let opts = Options {
        strategy,
        fallback: false,
        cancel: Some(&cancel),
        progress: Some(&progress),
        ..Options::default()
    };
    let (r, waited) = std::thread::scope(|sc| {
        let t = sc.spawn(|| zcopy::transfer(&src, &dst, &opts));
        let t0 = Instant::now();
        while moved.load(Ordering::SeqCst) < 1000 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The 1000 bytes are through; 200 ms of an idle source, then the flag.
        std::thread::sleep(Duration::from_millis(200));
        assert!(!t.is_finished(), "{strategy}: the transfer waits for more");
        cancel.store(true, Ordering::SeqCst);
        let t1 = Instant::now();
        while !t.is_finished() && t1.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let waited = t1.elapsed();
        // Never leave a transfer blocked if the flag was not seen: end of file releases it.
        drop(w);
        (t.join().expect("transfer thread"), waited)
    });
    let e = r.expect_err("cancelled while the source was idle");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{strategy}: {e}");
    assert_eq!(e.errno(), Some(libc::ECANCELED), "{strategy}");
    assert!(e.message().contains("cancel flag"), "{strategy}: {e}");
    assert_eq!(e.bytes_moved(), 1000, "{strategy}: {e}");
    assert!(
        waited < Duration::from_secs(2),
        "{strategy}: the flag was seen after {waited:?}, not within a poll slice"
    );
    common::assert_bytes(&common::content(&dst), &first, &format!("{strategy}: dst"));
    assert_eq!(common::pos(&dst), 1000, "{strategy}: dst position");
    for st in &states {
        st.unchanged(&format!("the cancelled FIFO transfer ({strategy})"));
    }
}

/// A writer that wrote and closed: every byte, then end of file, Ok.
#[test]
fn fifo_whose_writer_closed_gives_every_byte() {
    let data = common::data(3 << 20, 107);
    for s in [Strategy::Auto, Strategy::ReadWrite, Strategy::Splice] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = mkfifo(dir.path());
        let src = fifo_reader(&path);
        let mut w = OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open fifo for writing");
        let dst = common::empty_file();
        let r = std::thread::scope(|sc| {
            // 3 MiB is more than the FIFO holds: the writer runs beside the transfer.
            sc.spawn(|| {
                w.write_all(&data).expect("feed the fifo");
                drop(w);
            });
            zcopy::transfer(&src, &dst, &strict(s))
        })
        .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, data.len() as u64, "{s}");
        assert_eq!(
            r.strategy,
            if s == Strategy::Auto {
                Strategy::Splice
            } else {
                s
            }
        );
        common::assert_bytes(&common::content(&dst), &data, &format!("{s} fifo"));
    }
}

/// A FIFO no writer ever opened: end of file at once (a read end that is not waiting for a
/// partner reads 0), Ok with 0 bytes, no wait.
#[test]
fn fifo_without_a_writer_is_an_empty_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = mkfifo(dir.path());
    for s in [Strategy::Auto, Strategy::ReadWrite, Strategy::Splice] {
        let src = fifo_reader(&path);
        let dst = common::empty_file();
        let t0 = Instant::now();
        let r = zcopy::transfer(&src, &dst, &strict(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(t0.elapsed() < Duration::from_secs(2), "{s}: waited");
        assert_eq!(r.bytes, 0, "{s}");
        assert_eq!(common::content(&dst), b"", "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The engine's own fds are close-on-exec.

/// The fds open in this process now (not counting the directory fd that lists them, closed
/// again before the others are asked).
fn open_fds() -> Vec<RawFd> {
    let mut v: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.retain(|&fd| fcntl_get(fd, libc::F_GETFD).is_ok());
    v.sort_unstable();
    v
}

/// An fd the engine opened during a transfer: its number, what it is, whether it is
/// close-on-exec.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Internal {
    fd: RawFd,
    target: String,
    cloexec: bool,
}

/// The fds open now that were not in `before`.
fn new_fds(before: &[RawFd]) -> Vec<Internal> {
    open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .filter_map(|fd| {
            let flags = fcntl_get(fd, libc::F_GETFD).ok()?;
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some(Internal {
                fd,
                target: target.to_string_lossy().into_owned(),
                cloexec: flags & libc::FD_CLOEXEC != 0,
            })
        })
        .collect()
}

/// What a freshly exec'd program has open: the targets of its fds.
fn exec_child_fds() -> Vec<String> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        // The glob's own directory fd is gone by the time it is read: `|| true`.
        .arg(r#"for f in /proc/$$/fd/*; do readlink "$f" || true; done"#)
        .output()
        .expect("spawn sh");
    assert!(out.status.success(), "sh: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn internal_fds_are_close_on_exec() {
    common::run_child("test_hostile::child_internal_fds_are_close_on_exec");
}

#[test]
#[ignore = "run by internal_fds_are_close_on_exec in a child process"]
fn child_internal_fds_are_close_on_exec() {
    let name = "test_hostile::child_internal_fds_are_close_on_exec";
    if !common::in_child(name) {
        return;
    }
    let data = common::data(4 << 20, 108);
    let src = common::file_with(&data);
    let src_target = std::fs::read_link(format!("/proc/self/fd/{}", src.as_raw_fd()))
        .expect("readlink src")
        .to_string_lossy()
        .into_owned();
    // (technique, what its internal fds are, how many at least)
    let cases: [(Strategy, &str, usize); 3] = [
        (Strategy::Splice, "pipe:[", 2),
        (Strategy::IoUring, "anon_inode:[io_uring]", 1),
        // direct reopens the source with O_DIRECT through /proc/self/fd.
        (Strategy::Direct, src_target.as_str(), 1),
    ];
    for (s, kind, at_least) in cases {
        let dst = common::empty_file();
        let before = open_fds();
        let seen: Mutex<Vec<Internal>> = Mutex::new(Vec::new());
        let in_exec: Mutex<Option<Vec<String>>> = Mutex::new(None);
        let progress = |_: u64| {
            let now = new_fds(&before);
            if !now.is_empty() {
                let mut ex = in_exec.lock().expect("lock");
                if ex.is_none() {
                    *ex = Some(exec_child_fds());
                }
            }
            let mut seen = seen.lock().expect("lock");
            for fd in now {
                if !seen.contains(&fd) {
                    seen.push(fd);
                }
            }
            true
        };
        let opts = Options {
            src_offset: Some(0),
            chunk_size: Some(1 << 20),
            progress: Some(&progress),
            ..strict(s)
        };
        match zcopy::transfer(&src, &dst, &opts) {
            Ok(r) => assert_eq!(r.bytes, data.len() as u64, "{s}"),
            Err(e) if e.kind() == ErrorKind::Unsupported && s != Strategy::Splice => {
                common::skip(name, &format!("{s} cannot run here: {e}"));
                continue;
            }
            Err(e) => panic!("{s}: {e}"),
        }
        common::assert_bytes(&common::content(&dst), &data, &format!("{s}"));
        let seen = seen.into_inner().expect("lock");
        let internal: Vec<&Internal> = seen.iter().filter(|i| i.target.contains(kind)).collect();
        assert!(
            internal.len() >= at_least,
            "{s}: expected {at_least} fd(s) like {kind:?} during the transfer, saw {seen:?}"
        );
        for i in &seen {
            assert!(
                i.cloexec,
                "{s}: fd {} ({}) is not close-on-exec",
                i.fd, i.target
            );
        }
        let in_exec = in_exec
            .into_inner()
            .expect("lock")
            .expect("an exec'd child was listed");
        for i in &internal {
            assert!(
                !in_exec.contains(&i.target),
                "{s}: {} reached an exec'd program: {in_exec:?}",
                i.target
            );
        }
        assert_eq!(
            new_fds(&before),
            vec![],
            "{s}: every internal fd is closed after"
        );
    }
    common::child_done(name);
}

// ---------------------------------------------------------------------------------------------
// 6. 16 threads at once.

/// 16 threads each move their own 4 MiB file → file and file → pipe with Auto at once: every
/// byte exact, and each Report counts its own thread's syscalls only (the counters are per
/// thread): the same count as the same transfer made alone.
#[test]
fn sixteen_threads_transfer_at_once() {
    const THREADS: u64 = 16;
    const SIZE: usize = 4 << 20;
    let alone = {
        let data = common::data(SIZE, 199);
        let (src, dst) = (common::file_with(&data), common::empty_file());
        zcopy::transfer(&src, &dst, &Options::default()).expect("a transfer alone")
    };
    let barrier = std::sync::Barrier::new(THREADS as usize);
    std::thread::scope(|sc| {
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, alone) = (&barrier, &alone);
                sc.spawn(move || {
                    let data = common::data(SIZE, 200 + i);
                    let src = common::file_with(&data);
                    let dst = common::empty_file();
                    let sink = common::Sink::new(common::End::Pipe);
                    barrier.wait();
                    let r = zcopy::transfer(&src, &dst, &Options::default())
                        .unwrap_or_else(|e| panic!("thread {i} file → file: {e}"));
                    assert_eq!(r.bytes, SIZE as u64, "thread {i} file → file");
                    assert_eq!(r.strategy, alone.strategy, "thread {i}");
                    assert_eq!(r.syscalls, alone.syscalls, "thread {i}: syscalls {r:?}");
                    assert_eq!(common::pos(&src), SIZE as u64, "thread {i}: src position");
                    let opts = Options {
                        src_offset: Some(0),
                        ..Options::default()
                    };
                    let p = zcopy::transfer(&src, sink.fd(), &opts)
                        .unwrap_or_else(|e| panic!("thread {i} file → pipe: {e}"));
                    assert_eq!(p.bytes, SIZE as u64, "thread {i} file → pipe");
                    common::assert_bytes(
                        &common::content(&dst),
                        &data,
                        &format!("thread {i} file → file"),
                    );
                    common::assert_bytes(&sink.finish(), &data, &format!("thread {i} file → pipe"));
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a transfer thread panicked");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 7. fork() while another thread transfers.

/// What the forked child checks, without allocating or panicking: a transfer of `want` from
/// `src` to `dst` (both fresh, opened before the fork) with `s`, read back into `buf`.
/// Returns the exit status: 0 when exact.
fn forked_check(src: &File, dst: &File, s: Strategy, want: &[u8], buf: &mut [u8]) -> i32 {
    let opts = Options {
        src_offset: Some(0),
        dst_offset: Some(0),
        ..strict(s)
    };
    match zcopy::transfer(src, dst, &opts) {
        Ok(r) if r.bytes == want.len() as u64 => {}
        Ok(_) => return 2,
        Err(_) => return 1,
    }
    if dst.read_exact_at(buf, 0).is_err() {
        return 3;
    }
    if buf != want {
        return 4;
    }
    0
}

#[test]
fn fork_while_another_thread_transfers() {
    common::run_child("test_hostile::child_fork_while_another_thread_transfers");
}

#[test]
#[ignore = "run by fork_while_another_thread_transfers in a child process"]
fn child_fork_while_another_thread_transfers() {
    let name = "test_hostile::child_fork_while_another_thread_transfers";
    if !common::in_child(name) {
        return;
    }
    let busy = common::data(4 << 20, 300);
    let stop = AtomicBool::new(false);
    let rounds = AtomicU64::new(0);
    std::thread::scope(|sc| {
        // Thread A: transfers in a loop (Auto file → file, read_write, file → pipe) until told.
        let a = sc.spawn(|| {
            let src = common::file_with(&busy);
            let dst = common::empty_file();
            while !stop.load(Ordering::SeqCst) {
                for s in [Strategy::Auto, Strategy::ReadWrite] {
                    let opts = Options {
                        src_offset: Some(0),
                        dst_offset: Some(0),
                        ..strict(s)
                    };
                    let r = zcopy::transfer(&src, &dst, &opts).expect("thread A transfer");
                    assert_eq!(r.bytes, busy.len() as u64);
                }
                let sink = common::Sink::new(common::End::Pipe);
                let opts = Options {
                    src_offset: Some(0),
                    ..Options::default()
                };
                zcopy::transfer(&src, sink.fd(), &opts).expect("thread A to a pipe");
                assert_eq!(sink.finish().len(), busy.len());
                rounds.fetch_add(1, Ordering::SeqCst);
            }
            common::assert_bytes(&common::content(&dst), &busy, "thread A");
        });
        let t0 = Instant::now();
        while rounds.load(Ordering::SeqCst) == 0 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        for (i, s) in [Strategy::Auto, Strategy::ReadWrite, Strategy::Splice]
            .into_iter()
            .cycle()
            .take(6)
            .enumerate()
        {
            // Everything the forked child needs is made here, before the fork.
            let want = common::data(1 << 20, 301 + i as u64);
            let src = common::file_with(&want);
            let dst = common::empty_file();
            let mut buf = vec![0u8; want.len()];
            // SAFETY: fork in a multi-threaded process: the child has only this thread and
            // runs only `forked_check` (zcopy's syscalls, and allocation, which glibc's fork
            // keeps usable) and `_exit`, never returning into the test harness; a panic is
            // caught and turned into an exit status.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    forked_check(&src, &dst, s, &want, &mut buf)
                }))
                .unwrap_or(101);
                // SAFETY: _exit ends the forked child at once, running no atexit handlers or
                // destructors that belong to the parent's state.
                unsafe { libc::_exit(code) };
            }
            let status = wait_bounded(pid, Duration::from_secs(20));
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "fork {i} ({s}): child status {status:#x} (exit {}: 1 error, 2 wrong count, 3 read back, 4 wrong bytes, 101 panic)",
                libc::WEXITSTATUS(status)
            );
            // The child wrote through the same open file: the parent sees its bytes.
            common::assert_bytes(&common::content(&dst), &want, &format!("fork {i} ({s})"));
            std::thread::sleep(Duration::from_millis(3));
        }
        stop.store(true, Ordering::SeqCst);
        a.join().expect("thread A");
    });
    assert!(rounds.load(Ordering::SeqCst) > 0, "thread A transferred");
    common::child_done(name);
}

/// Waits for `pid` at most `limit`; a child still running then (a lock held across the fork,
/// say) is killed and the test fails.
fn wait_bounded(pid: libc::pid_t, limit: Duration) -> i32 {
    let t0 = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: `status` is valid for one int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            return status;
        }
        if t0.elapsed() > limit {
            // SAFETY: kill and waitpid on our own child; `status` is valid for one int.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("forked child {pid} still running after {limit:?}: hung after fork");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The largest size a file in the temp directory may have (binary search with `ftruncate`).
fn max_file_size() -> u64 {
    let f = common::empty_file();
    let (mut ok, mut bad) = (0u64, i64::MAX as u64 + 1);
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if f.set_len(mid).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

/// A `dst_offset` at or past the largest file the destination's filesystem holds (ext4 with
/// 4 KiB blocks: 16 TiB - 4 KiB) is an I/O error, EFBIG, in every technique; one 50,000 bytes
/// below it moves exactly those 50,000 bytes, then EFBIG with that count. Found here: sendfile
/// said "lseek on dst fd N: Invalid argument" (its lseek to the offset is refused) where the
/// others said EFBIG; it now says EFBIG and names the offset.
#[test]
fn a_dst_offset_past_the_largest_file_is_efbig_with_the_count() {
    let test = "a_dst_offset_past_the_largest_file_is_efbig_with_the_count";
    let max = max_file_size();
    if max >= 1 << 62 {
        common::skip(
            test,
            &format!(
                "the temp filesystem holds files up to {max} bytes: no EFBIG to provoke below 2^63"
            ),
        );
        return;
    }
    let data = common::data(100_000, 400);
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        for (off, fits) in [(max, 0u64), (max + (1 << 20), 0), (max - 50_000, 50_000)] {
            let what = format!("{s} dst_offset {off}");
            let src = common::file_with(&data);
            let dst = common::empty_file();
            let states = [FdState::of(&src, "src"), FdState::of(&dst, "dst")];
            let opts = Options {
                dst_offset: Some(off),
                ..strict(s)
            };
            let e = zcopy::transfer(&src, &dst, &opts).expect_err("past the largest file");
            for st in &states {
                st.unchanged(&what);
            }
            assert_eq!(e.kind(), ErrorKind::Io, "{what}: {e}");
            assert_eq!(e.errno(), Some(libc::EFBIG), "{what}: {e}");
            let dst_name = format!("dst fd {}", dst.as_raw_fd());
            assert!(
                e.message().contains(&dst_name) && e.message().contains("File too large"),
                "{what}: {e:?} should name {dst_name}"
            );
            assert_eq!(e.bytes_moved(), fits, "{what}: {e}");
            assert_eq!(common::pos(&src), fits, "{what}: src position");
            assert_eq!(common::pos(&dst), 0, "{what}: dst position");
            let size = dst.metadata().expect("stat dst").len();
            if fits == 0 {
                assert_eq!(size, 0, "{what}: nothing written");
            } else {
                assert_eq!(size, off + fits, "{what}: dst size");
                let mut got = vec![0u8; fits as usize];
                dst.read_exact_at(&mut got, off).expect("read back");
                common::assert_bytes(&got, &data[..fits as usize], &what);
            }
        }
    }
}

#[test]
fn no_fd_leak_across_10000_transfers_that_succeed_and_fail() {
    common::run_child("test_hostile::child_no_fd_leak_across_10000_transfers");
}

#[test]
#[ignore = "run by no_fd_leak_across_10000_transfers_that_succeed_and_fail in a child process"]
fn child_no_fd_leak_across_10000_transfers() {
    let name = "test_hostile::child_no_fd_leak_across_10000_transfers";
    if !common::in_child(name) {
        return;
    }
    let data = common::data(64 << 10, 120);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let read_only = File::open("/proc/self/exe").expect("a read-only fd");
    let (pipe_r, pipe_w) = common::pipe();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let out = dir.path().join("out");
    let before = open_fds();
    let mut failures = 0;
    for i in 0..10_000u64 {
        let opts = Options {
            src_offset: Some(i % 4096),
            dst_offset: Some(0),
            len: Some(4096),
            ..Options::default()
        };
        let result = match i % 10 {
            // Successes through the techniques that open fds of their own (pipes, rings, reopens).
            0 => zcopy::transfer(&src, &dst, &opts),
            1 => zcopy::transfer(&src, &dst, &opts.clone().with_strategy(Strategy::Splice)),
            2 => zcopy::transfer(&src, &dst, &opts.clone().with_strategy(Strategy::Direct)),
            3 => zcopy::transfer(&src, &dst, &opts.clone().with_strategy(Strategy::IoUring)),
            4 => zcopy::copy_file(src_path(&src), &out, &Options::default()),
            // Failures: a read-only destination, a missing file, a strict refusal, a bad fd,
            // an offset on a pipe.
            5 => zcopy::transfer(&src, &read_only, &opts),
            6 => zcopy::copy_file(&missing, &out, &Options::default()),
            7 => zcopy::transfer(
                &src,
                &pipe_w,
                &Options {
                    strategy: Strategy::CopyFileRange,
                    fallback: false,
                    len: Some(1),
                    ..Options::default()
                },
            ),
            8 => {
                // SAFETY: fd 1_000_000 is past any open fd here; it is only borrowed for the call,
                // which must refuse it as not open.
                let bad = unsafe { std::os::fd::BorrowedFd::borrow_raw(1_000_000) };
                zcopy::transfer(bad, &dst, &opts)
            }
            _ => zcopy::transfer(&pipe_r, &dst, &opts),
        };
        if let Err(e) = &result {
            failures += 1;
            assert!(!e.message().is_empty(), "op {i}: {e:?}");
        }
    }
    let after = open_fds();
    assert_eq!(
        after, before,
        "fds open before and after 10,000 transfers ({failures} failed)"
    );
    assert!(after.iter().all(|&fd| fd < 1_000_000));
    assert!(failures >= 5000, "the failing kinds failed: {failures}");
    drop((pipe_r, pipe_w, read_only));
    common::child_done(name);
}

/// The path of an open temp file (through /proc, which names it while it is open).
fn src_path(f: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}
