//! The planner's fallback when a seccomp filter blocks a syscall, and the engine's per-process
//! memory of it.
//!
//! A seccomp filter cannot be removed once installed, so every scenario runs in a child process:
//! the parent test re-executes this test binary with `--exact test_seccomp::child_<name>
//! --ignored` and `ZCOPY_SECCOMP_CHILD=child_<name>`; the child test (ignored, and a no-op
//! without that variable) installs a classic BPF filter answering one syscall with `ENOSYS` or
//! `EPERM`, runs its checks, and reports through its exit status. The parent asserts the child
//! passed (and really ran: its "done" line) and prints the child's output when it did not.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::mem::offset_of;
use std::os::fd::{AsFd, AsRawFd};

use crate::common::{self, End, Sink, Source};
use zcopy::{ErrorKind, Options, Report, Strategy, Support};

/// The seccomp architecture token for this build (`AUDIT_ARCH_*` from linux/audit.h).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

// ---------------------------------------------------------------------------------------------
// The parent side: re-executing this binary for one child test.

/// Runs the ignored test `test_seccomp::<name>` in a child process and asserts it passed.
fn run_child(name: &str) {
    common::run_child(&format!("test_seccomp::{name}"));
}

/// Whether this process is the child asked to run `name`.
fn is_child(name: &str) -> bool {
    common::in_child(&format!("test_seccomp::{name}"))
}

/// Marks the end of a child's checks.
fn done(name: &str) {
    common::child_done(&format!("test_seccomp::{name}"));
}

// ---------------------------------------------------------------------------------------------
// The filter.

/// Installs a seccomp filter on the calling thread (inherited by threads it creates later) that
/// answers each syscall of `nrs` with `errno` and allows everything else.
///
/// Returns `Err(why)` when the kernel has no seccomp filters; panics when the filter was
/// installed but does not act (a broken machine).
pub(crate) fn block(nrs: &[libc::c_long], errno: i32) -> Result<(), String> {
    install_filter(nrs, errno)?;
    for &nr in nrs {
        // SAFETY: fd arguments are -1 and pointers null: the filter (or the kernel) rejects the
        // call before any memory is touched.
        let r = unsafe { libc::syscall(nr, -1i64, 0i64, -1i64, 0i64, 0i64, 0i64) };
        let got = std::io::Error::last_os_error().raw_os_error();
        assert!(
            r == -1 && got == Some(errno),
            "the filter is installed but syscall {nr} returned {r} ({got:?}), not errno {errno}"
        );
    }
    Ok(())
}

/// Installs the filter of [`block`] without checking it; `errno` 0 makes each call in `nrs`
/// return 0 without running (what copy_file_range does on filesystems that copy nothing).
pub(crate) fn install_filter(nrs: &[libc::c_long], errno: i32) -> Result<(), String> {
    let Some(arch) = AUDIT_ARCH else {
        return Err("no AUDIT_ARCH value known for this architecture".into());
    };
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld_abs = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut prog = vec![
        stmt(ld_abs, offset_of!(libc::seccomp_data, arch) as u32),
        jeq(arch, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ld_abs, offset_of!(libc::seccomp_data, nr) as u32),
    ];
    for &nr in nrs {
        prog.push(jeq(nr as u32, 0, 1));
        prog.push(stmt(
            ret,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ));
    }
    prog.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).expect("a short filter"),
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments only; touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        return Err(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fprog` points to `prog`, both alive for the call; the kernel copies the filter.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        return Err(format!(
            "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): {} (a kernel without CONFIG_SECCOMP_FILTER?)",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The checks a child runs once its filter is in place.

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::ENOSYS => "ENOSYS",
        libc::EPERM => "EPERM",
        _ => unreachable!("the tests block with ENOSYS or EPERM only"),
    }
}

fn syscall_nr(s: Strategy) -> libc::c_long {
    match s {
        Strategy::CopyFileRange => libc::SYS_copy_file_range,
        Strategy::Sendfile => libc::SYS_sendfile,
        Strategy::Splice => libc::SYS_splice,
        _ => unreachable!("only copy_file_range, sendfile and splice are blocked"),
    }
}

/// What a fallback or error reason says about a blocked syscall: the first time it is met, or
/// remembered from an earlier transfer in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    First,
    Remembered,
}

/// Asserts `reason` says why `s` (blocked with `errno`) could not run.
#[track_caller]
fn assert_blocked_reason(reason: &str, s: Strategy, errno: i32, seen: Seen) {
    // The three blocked strategies are named after their syscalls.
    let syscall = s.name();
    let e = errno_name(errno);
    let want = match seen {
        Seen::First => format!("{syscall} is blocked in this process ({e})"),
        Seen::Remembered => format!("{syscall} is not available in this process ({e} seen earlier"),
    };
    assert!(
        reason.contains(&want),
        "reason {reason:?} should contain {want:?}"
    );
}

fn support_of(probe: &[Support], s: Strategy) -> &Support {
    probe
        .iter()
        .find(|p| p.strategy == s)
        .unwrap_or_else(|| panic!("probe has no entry for {s}: {probe:?}"))
}

/// probe(src, dst) for endpoints of these kinds (empty streams).
fn probe_ends(src: End, dst: End) -> Vec<Support> {
    let source = Source::new(src, b"");
    let sink = Sink::new(dst);
    let p = zcopy::probe(source.fd(), sink.fd()).expect("probe");
    source.finish();
    sink.finish();
    p
}

/// An Auto transfer of fresh data `src → dst` while `blocked` (in Auto's order) are blocked:
/// exact bytes, the next technique moved them, one fallback per blocked technique with its reason.
fn auto_falls_back(
    blocked: &[Strategy],
    errno: i32,
    src: End,
    dst: End,
    next: Strategy,
    seen: Seen,
    seed: u64,
) -> Report {
    let label = format!("Auto {src:?}→{dst:?} with {blocked:?} blocked ({seen:?})");
    let data = common::data(300_007, seed);
    let source = Source::new(src, &data);
    let sink = Sink::new(dst);
    let result = zcopy::transfer(source.fd(), sink.fd(), &Options::default());
    let src_pos = (src == End::File).then(|| common::pos(&source.fd()));
    source.finish();
    let got = sink.finish();
    let report = result.unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
    common::assert_bytes(&got, &data, &label);
    assert_eq!(report.bytes, data.len() as u64, "{label}: report.bytes");
    assert_eq!(report.strategy, next, "{label}: report.strategy");
    if let Some(p) = src_pos {
        assert_eq!(p, data.len() as u64, "{label}: src position");
    }
    let tried: Vec<Strategy> = report.fallbacks.iter().map(|f| f.strategy).collect();
    assert_eq!(tried, blocked, "{label}: fallbacks {:?}", report.fallbacks);
    for f in &report.fallbacks {
        assert_blocked_reason(&f.reason, f.strategy, errno, seen);
    }
    report
}

/// The blocked technique asked for strictly: Unsupported, nothing moved, the destination and the
/// positions untouched.
fn strict_refused(blocked: Strategy, errno: i32, src: End, dst: End, seen: Seen) {
    let label = format!("strict {blocked} {src:?}→{dst:?} ({seen:?})");
    let data = common::data(100_003, 99);
    let source = Source::new(src, &data);
    let opts = Options {
        strategy: blocked,
        fallback: false,
        ..Options::default()
    };
    let check = |result: zcopy::Result<Report>| {
        let e = result.expect_err(&format!("{label}: expected Unsupported"));
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{label}: {e}");
        assert_eq!(e.bytes_moved(), 0, "{label}: bytes_moved");
        assert_blocked_reason(e.message(), blocked, errno, seen);
        let report = e.report().expect("an Unsupported error carries its report");
        assert_eq!(report.bytes, 0, "{label}: report.bytes");
        assert!(
            report.fallbacks.is_empty(),
            "{label}: {:?}",
            report.fallbacks
        );
    };
    if dst == End::File {
        // A destination with content: it must stay as it was.
        let dest = common::file_with(b"keep me as I am");
        check(zcopy::transfer(source.fd(), &dest, &opts));
        common::assert_bytes(&common::content(&dest), b"keep me as I am", &label);
        assert_eq!(common::pos(&dest), 0, "{label}: dst position");
    } else {
        let sink = Sink::new(dst);
        check(zcopy::transfer(source.fd(), sink.fd(), &opts));
        if src == End::File {
            assert_eq!(common::pos(&source.fd()), 0, "{label}: src position");
        }
        source.finish();
        let got = sink.finish();
        assert!(got.is_empty(), "{label}: {} bytes arrived", got.len());
        return;
    }
    if src == End::File {
        assert_eq!(common::pos(&source.fd()), 0, "{label}: src position");
    }
    source.finish();
}

/// The probe after a technique was found blocked: it is unsupported, with the remembered reason.
fn probe_says_blocked(blocked: Strategy, errno: i32, src: End, dst: End) {
    let p = probe_ends(src, dst);
    let s = support_of(&p, blocked);
    assert!(!s.supported, "probe {src:?}→{dst:?}: {s:?}");
    assert_blocked_reason(&s.reason, blocked, errno, Seen::Remembered);
    let rw = support_of(&p, Strategy::ReadWrite);
    assert!(rw.supported, "read_write must stay supported: {rw:?}");
}

/// One whole scenario in a child: `blocked` (in Auto's order for `src → dst`) answer `errno`;
/// Auto falls back to `next`, a second transfer shows the block remembered, probe reports it,
/// and the first blocked technique asked for strictly is refused without moving a byte.
fn scenario(name: &str, blocked: &[Strategy], errno: i32, src: End, dst: End, next: Strategy) {
    let before = probe_ends(src, dst);
    for &b in blocked {
        let s = support_of(&before, b);
        assert!(
            s.supported,
            "before the filter, {b} must serve {src:?}→{dst:?}: {s:?}"
        );
    }
    let nrs: Vec<libc::c_long> = blocked.iter().map(|&s| syscall_nr(s)).collect();
    if let Err(why) = block(&nrs, errno) {
        common::skip(name, &format!("cannot install a seccomp filter: {why}"));
        // The fallback check: nothing is blocked, so Auto uses its first choice, exactly.
        let report = auto_falls_back(&[], errno, src, dst, blocked[0], Seen::First, 1);
        assert!(report.fallbacks.is_empty());
        return;
    }
    auto_falls_back(blocked, errno, src, dst, next, Seen::First, 1);
    auto_falls_back(blocked, errno, src, dst, next, Seen::Remembered, 2);
    for &b in blocked {
        probe_says_blocked(b, errno, src, dst);
    }
    strict_refused(blocked[0], errno, src, dst, Seen::Remembered);
}

// ---------------------------------------------------------------------------------------------
// The tests: each parent runs its child.

#[test]
fn copy_file_range_enosys_falls_back_to_sendfile() {
    run_child("child_copy_file_range_enosys");
}

#[test]
#[ignore = "run by copy_file_range_enosys_falls_back_to_sendfile in a child process"]
fn child_copy_file_range_enosys() {
    let name = "child_copy_file_range_enosys";
    if !is_child(name) {
        return;
    }
    let cfr = [Strategy::CopyFileRange];
    scenario(
        name,
        &cfr,
        libc::ENOSYS,
        End::File,
        End::File,
        Strategy::Sendfile,
    );
    copy_file_falls_back(libc::ENOSYS);
    done(name);
}

#[test]
fn copy_file_range_eperm_falls_back_to_sendfile() {
    run_child("child_copy_file_range_eperm");
}

#[test]
#[ignore = "run by copy_file_range_eperm_falls_back_to_sendfile in a child process"]
fn child_copy_file_range_eperm() {
    let name = "child_copy_file_range_eperm";
    if !is_child(name) {
        return;
    }
    let cfr = [Strategy::CopyFileRange];
    scenario(
        name,
        &cfr,
        libc::EPERM,
        End::File,
        End::File,
        Strategy::Sendfile,
    );
    copy_file_falls_back(libc::EPERM);
    done(name);
}

/// `copy_file` by path, copy_file_range blocked (already seen): sendfile copies, exact bytes.
fn copy_file_falls_back(errno: i32) {
    if zcopy::probe(common::empty_file(), common::empty_file())
        .map(|p| support_of(&p, Strategy::CopyFileRange).supported)
        .unwrap_or(true)
    {
        // The filter could not be installed (skipped above): nothing to fall back from.
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    let data = common::data(200_001, 5);
    std::fs::write(&src, &data).expect("write src");
    std::fs::write(&dst, b"old content, longer than nothing").expect("write dst");
    let report = zcopy::copy_file(&src, &dst, &Options::default()).expect("copy_file");
    let got = std::fs::read(&dst).expect("read dst");
    common::assert_bytes(&got, &data, "copy_file with copy_file_range blocked");
    assert_eq!(report.bytes, data.len() as u64);
    assert_eq!(report.strategy, Strategy::Sendfile);
    assert_eq!(report.fallbacks.len(), 1, "{:?}", report.fallbacks);
    assert_eq!(report.fallbacks[0].strategy, Strategy::CopyFileRange);
    assert_blocked_reason(
        &report.fallbacks[0].reason,
        Strategy::CopyFileRange,
        errno,
        Seen::Remembered,
    );
}

#[test]
fn sendfile_enosys_to_pipe_falls_back_to_splice() {
    run_child("child_sendfile_enosys_pipe");
}

#[test]
#[ignore = "run by sendfile_enosys_to_pipe_falls_back_to_splice in a child process"]
fn child_sendfile_enosys_pipe() {
    let name = "child_sendfile_enosys_pipe";
    if !is_child(name) {
        return;
    }
    let sf = [Strategy::Sendfile];
    scenario(
        name,
        &sf,
        libc::ENOSYS,
        End::File,
        End::Pipe,
        Strategy::Splice,
    );
    done(name);
}

#[test]
fn sendfile_eperm_to_tcp_falls_back_to_splice() {
    run_child("child_sendfile_eperm_tcp");
}

#[test]
#[ignore = "run by sendfile_eperm_to_tcp_falls_back_to_splice in a child process"]
fn child_sendfile_eperm_tcp() {
    let name = "child_sendfile_eperm_tcp";
    if !is_child(name) {
        return;
    }
    let sf = [Strategy::Sendfile];
    scenario(
        name,
        &sf,
        libc::EPERM,
        End::File,
        End::Tcp,
        Strategy::Splice,
    );
    done(name);
}

#[test]
fn splice_eperm_from_pipe_falls_back_to_read_write() {
    run_child("child_splice_eperm_pipe_src");
}

#[test]
#[ignore = "run by splice_eperm_from_pipe_falls_back_to_read_write in a child process"]
fn child_splice_eperm_pipe_src() {
    let name = "child_splice_eperm_pipe_src";
    if !is_child(name) {
        return;
    }
    let sp = [Strategy::Splice];
    scenario(
        name,
        &sp,
        libc::EPERM,
        End::Pipe,
        End::File,
        Strategy::ReadWrite,
    );
    done(name);
}

#[test]
fn sendfile_and_splice_enosys_fall_back_to_read_write() {
    run_child("child_sendfile_splice_enosys_unix");
}

#[test]
#[ignore = "run by sendfile_and_splice_enosys_fall_back_to_read_write in a child process"]
fn child_sendfile_splice_enosys_unix() {
    let name = "child_sendfile_splice_enosys_unix";
    if !is_child(name) {
        return;
    }
    let both = [Strategy::Sendfile, Strategy::Splice];
    scenario(
        name,
        &both,
        libc::ENOSYS,
        End::File,
        End::Unix,
        Strategy::ReadWrite,
    );
    done(name);
}

/// Strict as the very first call (nothing remembered yet): Unsupported from the syscall's own
/// answer, nothing moved; then Auto skips the technique as remembered.
#[test]
fn strict_first_call_eperm_is_unsupported_and_remembered() {
    run_child("child_strict_first_eperm");
}

#[test]
#[ignore = "run by strict_first_call_eperm_is_unsupported_and_remembered in a child process"]
fn child_strict_first_eperm() {
    let name = "child_strict_first_eperm";
    if !is_child(name) {
        return;
    }
    if let Err(why) = block(&[libc::SYS_copy_file_range], libc::EPERM) {
        common::skip(name, &format!("cannot install a seccomp filter: {why}"));
        let report = auto_falls_back(
            &[],
            0,
            End::File,
            End::File,
            Strategy::CopyFileRange,
            Seen::First,
            3,
        );
        assert!(report.fallbacks.is_empty());
        done(name);
        return;
    }
    let cfr = Strategy::CopyFileRange;
    strict_refused(cfr, libc::EPERM, End::File, End::File, Seen::First);
    strict_refused(cfr, libc::EPERM, End::File, End::File, Seen::Remembered);
    auto_falls_back(
        &[cfr],
        libc::EPERM,
        End::File,
        End::File,
        Strategy::Sendfile,
        Seen::Remembered,
        4,
    );
    probe_says_blocked(cfr, libc::EPERM, End::File, End::File);
    done(name);
}

/// A genuine EPERM (an immutable destination), with no filter: an I/O error naming EPERM, not a
/// block; the technique stays available for the rest of the process.
#[test]
fn real_eperm_is_not_a_block() {
    run_child("child_real_eperm");
}

/// Sets or clears `FS_IMMUTABLE_FL` on an open file.
fn set_immutable(f: &File, on: bool) -> std::io::Result<()> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int into `flags`, which outlives the call.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    const FS_IMMUTABLE_FL: libc::c_int = 0x10;
    if on {
        flags |= FS_IMMUTABLE_FL;
    } else {
        flags &= !FS_IMMUTABLE_FL;
    }
    // SAFETY: FS_IOC_SETFLAGS reads one int from `flags`, which outlives the call.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Clears the immutable flag again, even on panic (an immutable file cannot be removed).
struct Immutable<'a>(&'a File);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = set_immutable(self.0, false);
    }
}

#[test]
#[ignore = "run by real_eperm_is_not_a_block in a child process"]
fn child_real_eperm() {
    let name = "child_real_eperm";
    if !is_child(name) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dest = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.path().join("immutable"))
        .expect("create dst");
    dest.write_all(b"frozen").expect("write dst");
    dest.seek(SeekFrom::Start(0)).expect("rewind dst");
    let data = common::data(50_000, 11);
    let src = common::file_with(&data);
    match set_immutable(&dest, true) {
        Err(e) => common::skip(
            name,
            &format!(
                "cannot make a file immutable here ({e}; needs root and ext4/xfs/btrfs/tmpfs)"
            ),
        ),
        Ok(()) => {
            let guard = Immutable(&dest);
            for strategy in [Strategy::CopyFileRange, Strategy::Auto] {
                let opts = Options {
                    strategy,
                    ..Options::default()
                };
                let e = zcopy::transfer(&src, guard.0, &opts)
                    .expect_err("writing an immutable file must fail");
                assert_eq!(e.kind(), ErrorKind::Io, "{strategy}: {e}");
                assert_eq!(e.errno(), Some(libc::EPERM), "{strategy}: {e}");
                assert!(
                    e.message().contains("copy_file_range"),
                    "{strategy}: the message names the call: {e}"
                );
                assert!(!e.message().contains("blocked"), "{strategy}: {e}");
                assert_eq!(e.bytes_moved(), 0, "{strategy}");
                let report = e.report().expect("the error carries its report");
                assert!(report.fallbacks.is_empty(), "{:?}", report.fallbacks);
                assert_eq!(common::pos(&src), 0, "{strategy}: src position");
            }
            drop(guard);
            common::assert_bytes(&common::content(&dest), b"frozen", "immutable dst");
        }
    }
    // copy_file_range is still available: probe and a real transfer say so.
    let p = zcopy::probe(&src, &dest).expect("probe");
    let s = support_of(&p, Strategy::CopyFileRange);
    assert!(s.supported && s.reason.is_empty(), "{s:?}");
    let out = common::empty_file();
    let report = zcopy::transfer(&src, &out, &Options::default()).expect("transfer");
    common::assert_bytes(&common::content(&out), &data, "after a real EPERM");
    assert_eq!(report.strategy, Strategy::CopyFileRange);
    assert!(report.fallbacks.is_empty(), "{:?}", report.fallbacks);
    done(name);
}

/// In this (filter-free) process: ordinary transfers by copy_file_range, sendfile and splice
/// succeed without fallbacks and leave every technique available.
#[test]
fn ordinary_run_marks_nothing_unavailable() {
    let cases = [
        (
            Strategy::Auto,
            End::File,
            End::File,
            Strategy::CopyFileRange,
        ),
        (Strategy::Auto, End::File, End::Pipe, Strategy::Sendfile),
        (Strategy::Splice, End::File, End::Tcp, Strategy::Splice),
        (Strategy::Splice, End::Pipe, End::File, Strategy::Splice),
    ];
    for (i, (strategy, src, dst, used)) in cases.into_iter().enumerate() {
        let label = format!("{strategy} {src:?}→{dst:?}");
        let data = common::data(123_457, i as u64 + 20);
        let source = Source::new(src, &data);
        let sink = Sink::new(dst);
        let opts = Options {
            strategy,
            fallback: strategy == Strategy::Auto,
            ..Options::default()
        };
        let result = zcopy::transfer(source.fd(), sink.fd(), &opts);
        source.finish();
        let got = sink.finish();
        let report = result.unwrap_or_else(|e| panic!("{label}: {e}"));
        common::assert_bytes(&got, &data, &label);
        assert_eq!(report.strategy, used, "{label}");
        assert!(
            report.fallbacks.is_empty(),
            "{label}: {:?}",
            report.fallbacks
        );
    }
    for (src, dst, want) in [
        (
            End::File,
            End::File,
            &[
                Strategy::CopyFileRange,
                Strategy::Sendfile,
                Strategy::Splice,
            ][..],
        ),
        (
            End::File,
            End::Pipe,
            &[Strategy::Sendfile, Strategy::Splice][..],
        ),
        (End::Pipe, End::File, &[Strategy::Splice][..]),
    ] {
        let p = probe_ends(src, dst);
        for &s in want {
            let sup = support_of(&p, s);
            assert!(
                sup.supported && sup.reason.is_empty(),
                "{src:?}→{dst:?}: {sup:?}"
            );
        }
    }
    // The file pair probed with real files too (probe_ends uses the same kinds, but be explicit).
    let (a, b) = (common::file_with(b"x"), common::empty_file());
    let p = zcopy::probe(a.as_fd(), b.as_fd()).expect("probe");
    assert!(support_of(&p, Strategy::CopyFileRange).supported, "{p:?}");
}

/// copy_file_range returning 0 at the start of a non-empty source (procfs, sysfs and some
/// network filesystems on some kernels) means "cannot", not end of file.
#[test]
fn copy_file_range_zero_is_not_eof() {
    run_child("child_copy_file_range_zero");
}

#[test]
#[ignore = "run by copy_file_range_zero_is_not_eof in a child process"]
fn child_copy_file_range_zero() {
    let name = "child_copy_file_range_zero";
    if !is_child(name) {
        return;
    }
    if let Err(why) = install_filter(&[libc::SYS_copy_file_range], 0) {
        common::skip(name, &why);
        done(name);
        return;
    }
    let data = common::data(100_000, 21);
    // Auto: the 0 sends it on to sendfile, which copies every byte.
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("auto");
    assert_eq!(r.strategy, Strategy::Sendfile, "{r:?}");
    assert_eq!(r.fallbacks.len(), 1, "{r:?}");
    assert!(r.fallbacks[0].reason.contains("copied nothing"), "{r:?}");
    common::assert_bytes(
        &common::content(&dst),
        &data,
        "after a 0 from copy_file_range",
    );
    // Strict: Unsupported, nothing written.
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let e = zcopy::transfer(
        &src,
        &dst,
        &Options {
            strategy: Strategy::CopyFileRange,
            fallback: false,
            ..Options::default()
        },
    )
    .expect_err("strict");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(common::content(&dst), b"");
    assert_eq!(common::pos(&src), 0);
    // A truly empty file on an ordinary filesystem: 0 is end of file, strict succeeds.
    let empty = common::empty_file();
    let r = zcopy::transfer(
        &empty,
        &dst,
        &Options {
            strategy: Strategy::CopyFileRange,
            fallback: false,
            ..Options::default()
        },
    )
    .expect("empty source");
    assert_eq!(r.bytes, 0);
    done(name);
}
