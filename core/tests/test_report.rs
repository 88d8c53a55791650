//! The Report's counters against independent evidence: `Report.syscalls` against strace's own
//! count of the calling thread's syscalls, and the modelled copies, CPU time and wall time
//! against what each technique is documented to cost.
//!
//! The strace check re-executes this test binary under `strace -f` with `--exact
//! test_report::<child> --ignored` and `ZCOPY_STRACE_CHILD=<child>`. The child opens everything
//! first, then brackets each transfer with two `getppid()` calls (markers strace records) and
//! prints the report's syscall count; the parent counts the syscalls strace saw between each pair
//! of markers on the thread that made them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::process::Command;

use crate::common::{self, End, Sink, Source};
use zcopy::{Options, Report, Strategy};

/// Prefix of the child's result lines: `ZCOPY_STRACE_REPORT <index> <label>\t<syscalls>`.
const LINE: &str = "ZCOPY_STRACE_REPORT";

// ---------------------------------------------------------------------------------------------
// The strace check.

/// Every report's `syscalls` equals strace's count of the thread's syscalls over the call, for
/// every technique, pair and path (steady state: the thread's read_write buffer already exists).
#[test]
fn syscalls_match_strace() {
    strace_check("syscalls_match_strace", "child_strace");
}

/// The first read_write on a thread allocates its buffer (8 MiB here: glibc serves that with
/// mmap); the report must count whatever syscalls the call made, that one included.
#[test]
fn syscalls_match_strace_first_buffer() {
    strace_check(
        "syscalls_match_strace_first_buffer",
        "child_strace_first_buffer",
    );
}

/// Whether strace can trace a child here.
fn strace_usable() -> Result<(), String> {
    if !common::have("strace") {
        return Err("strace is not installed (apt-get install strace)".into());
    }
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .output()
        .map_err(|e| format!("cannot run strace: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "strace cannot trace here ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Runs `test_report::<child>` under strace and compares each report's count with strace's.
fn strace_check(test: &str, child: &str) {
    if let Err(why) = strace_usable() {
        common::skip(
            test,
            &format!("{why}; checking the counts are self-consistent instead"),
        );
        let data = common::data(40_000, 1);
        let src = common::file_with(&data);
        let dst = common::empty_file();
        let opts = Options {
            strategy: Strategy::ReadWrite,
            chunk_size: Some(4096),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).expect("read_write");
        common::assert_bytes(&common::content(&dst), &data, test);
        // 10 chunks of read + write, one read seeing EOF, and some bookkeeping.
        assert!(r.syscalls >= 21, "{r:?}");
        assert_eq!(r.mode_switches, 2 * r.syscalls);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("strace.out");
    let wrapper = ["strace", "-f", "-qq", "-o"].map(std::ffi::OsStr::new);
    let mut wrapper = wrapper.to_vec();
    wrapper.push(trace.as_os_str());
    let stdout = common::run_child_with(&wrapper, &format!("test_report::{child}"));
    let trace_text = std::fs::read_to_string(&trace).expect("read strace's output");
    let reports: Vec<(String, u64)> = stdout
        .lines()
        .filter_map(|l| l.find(LINE).map(|at| &l[at + LINE.len()..]))
        .map(|rest| {
            let (label, n) = rest
                .trim()
                .rsplit_once('\t')
                .expect("a tab before the count");
            (label.to_string(), n.parse().expect("a syscall count"))
        })
        .collect();
    assert!(!reports.is_empty(), "no reports from the child\n{stdout}");
    let counted = count_between_markers(&trace_text);
    assert_eq!(
        counted.len(),
        reports.len(),
        "{} marker pairs in the trace, {} reports from the child\n{stdout}",
        counted.len(),
        reports.len()
    );
    let mut wrong = Vec::new();
    for ((label, engine), seen) in reports.iter().zip(&counted) {
        let by_name: BTreeMap<&str, u64> = seen.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.as_str()).or_default() += 1;
            m
        });
        println!(
            "{label}: report.syscalls = {engine}, strace = {} {by_name:?}",
            seen.len()
        );
        if *engine != seen.len() as u64 {
            wrong.push(format!(
                "{label}: report.syscalls = {engine} but strace saw {}: {by_name:?}",
                seen.len()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "syscall counts differ:\n{}",
        wrong.join("\n")
    );
}

/// The syscall names strace saw on the marker thread strictly between each pair of `getppid()`
/// lines, one list per pair, in order. A call split over `<unfinished ...>` and `<... resumed>`
/// lines counts once (at its start); signal (`---`) and exit (`+++`) lines are not calls.
fn count_between_markers(trace: &str) -> Vec<Vec<String>> {
    // Every line is "<tid> <rest>" (strace -f).
    let lines: Vec<(&str, &str)> = trace
        .lines()
        .filter_map(|l| l.trim_start().split_once(char::is_whitespace))
        .map(|(tid, rest)| (tid, rest.trim_start()))
        .collect();
    let call = |rest: &str| -> Option<String> {
        if rest.starts_with("<...") || rest.starts_with("---") || rest.starts_with("+++") {
            return None;
        }
        let name = &rest[..rest.find('(')?];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| name.to_string())
    };
    let Some(tid) = lines
        .iter()
        .find(|(_, rest)| call(rest).as_deref() == Some("getppid"))
        .map(|(tid, _)| *tid)
    else {
        return Vec::new();
    };
    let mut segments = Vec::new();
    let mut open: Option<Vec<String>> = None;
    for (_, rest) in lines.iter().filter(|(t, _)| *t == tid) {
        let Some(name) = call(rest) else { continue };
        if name == "getppid" {
            match open.take() {
                None => open = Some(Vec::new()),
                Some(seg) => segments.push(seg),
            }
        } else if let Some(seg) = &mut open {
            seg.push(name);
        }
    }
    segments
}

/// The marker strace sees: a syscall nothing else in the child makes.
fn marker() {
    // SAFETY: getppid has no failure mode and touches no memory.
    unsafe { libc::getppid() };
}

/// A file at `path` (created) holding `bytes`, opened read-write, position 0.
fn file_at(path: &std::path::Path, bytes: &[u8]) -> File {
    let mut f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create file");
    std::io::Write::write_all(&mut f, bytes).expect("write file");
    f.seek(SeekFrom::Start(0)).expect("rewind");
    f
}

/// One transfer between fresh endpoints, bracketed by the markers; checks the bytes and prints
/// the report's syscall count for the parent.
fn traced(index: &mut usize, label: &str, src: End, dst: End, n: usize, opts: &Options<'_>) {
    let data = common::data(n, *index as u64 + 1);
    let source = Source::new(src, &data);
    let sink = Sink::new(dst);
    marker();
    let result = zcopy::transfer(source.fd(), sink.fd(), opts);
    marker();
    source.finish();
    let got = sink.finish();
    let report = result.unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
    common::assert_bytes(&got, &data, label);
    assert_eq!(report.bytes, n as u64, "{label}");
    print_report(index, label, &report);
}

fn print_report(index: &mut usize, label: &str, report: &Report) {
    assert_eq!(report.mode_switches, 2 * report.syscalls, "{label}");
    println!("{LINE} {index} {label}\t{}", report.syscalls);
    *index += 1;
}

/// Whether this process is the child `name` run under strace.
fn is_child(name: &str) -> bool {
    common::in_child(&format!("test_report::{name}"))
}

#[test]
#[ignore = "run under strace by syscalls_match_strace_first_buffer"]
fn child_strace_first_buffer() {
    if !is_child("child_strace_first_buffer") {
        return;
    }
    let i = &mut 0;
    // The first read_write on this thread, with a buffer glibc maps (8 MiB > its mmap threshold).
    let rw = Options {
        strategy: Strategy::ReadWrite,
        fallback: false,
        chunk_size: Some(8 << 20),
        ..Options::default()
    };
    let n = (9 << 20) + 1;
    traced(
        i,
        "first read_write on the thread, 8 MiB chunk",
        End::File,
        End::File,
        n,
        &rw,
    );
    // The buffer is kept: the second call allocates nothing.
    traced(
        i,
        "second read_write, 8 MiB chunk",
        End::File,
        End::File,
        n,
        &rw,
    );
    common::child_done("test_report::child_strace_first_buffer");
}

#[test]
#[ignore = "run under strace by syscalls_match_strace"]
fn child_strace() {
    if !is_child("child_strace") {
        return;
    }
    // Steady state: this thread's read_write buffer at its default size (128 KiB) exists before
    // the first marker, so no transfer below allocates it (syscalls_match_strace_first_buffer
    // checks that case).
    let src = Source::new(End::Pipe, &common::data(300_000, 1));
    let sink = Sink::new(End::File);
    zcopy::transfer(src.fd(), sink.fd(), &Options::default()).expect("warm-up transfer");
    src.finish();
    sink.finish();
    let i = &mut 0;
    let with = |strategy: Strategy, chunk: Option<u64>| Options {
        strategy,
        fallback: false,
        chunk_size: chunk,
        ..Options::default()
    };
    let rw = with(Strategy::ReadWrite, Some(4096));
    traced(
        i,
        "read_write file→file chunk 4096",
        End::File,
        End::File,
        200_005,
        &rw,
    );
    let rw_pipe = with(Strategy::ReadWrite, Some(1000));
    traced(
        i,
        "read_write file→pipe chunk 1000",
        End::File,
        End::Pipe,
        50_001,
        &rw_pipe,
    );
    traced(
        i,
        "read_write tcp→file",
        End::Tcp,
        End::File,
        300_000,
        &with(Strategy::ReadWrite, None),
    );
    let rw_big = with(Strategy::ReadWrite, None);
    traced(
        i,
        "read_write file→file default chunk",
        End::File,
        End::File,
        1 << 20,
        &rw_big,
    );
    let sf = with(Strategy::Sendfile, None);
    traced(i, "sendfile file→pipe", End::File, End::Pipe, 1 << 20, &sf);
    traced(i, "sendfile file→tcp", End::File, End::Tcp, 1 << 20, &sf);
    let sp = with(Strategy::Splice, None);
    traced(
        i,
        "splice file→tcp (internal pipe)",
        End::File,
        End::Tcp,
        (2 << 20) + 3,
        &sp,
    );
    traced(
        i,
        "splice file→file (internal pipe)",
        End::File,
        End::File,
        100_000,
        &sp,
    );
    let sp_small = with(Strategy::Splice, Some(8192));
    traced(
        i,
        "splice file→unix chunk 8192",
        End::File,
        End::Unix,
        100_000,
        &sp_small,
    );
    traced(i, "splice pipe→file", End::Pipe, End::File, 200_000, &sp);
    let cfr = with(Strategy::CopyFileRange, None);
    traced(
        i,
        "copy_file_range file→file",
        End::File,
        End::File,
        (1 << 20) + 1,
        &cfr,
    );
    let mm = with(Strategy::MmapWrite, None);
    traced(
        i,
        "mmap_write file→file",
        End::File,
        End::File,
        (5 << 20) + 1,
        &mm,
    );
    traced(
        i,
        "auto file→file",
        End::File,
        End::File,
        70_000,
        &Options::default(),
    );
    // A fallback: copy_file_range cannot serve file→pipe, sendfile does.
    let fb = Options {
        strategy: Strategy::CopyFileRange,
        fallback: true,
        ..Options::default()
    };
    traced(
        i,
        "copy_file_range→sendfile fallback file→pipe",
        End::File,
        End::Pipe,
        30_000,
        &fb,
    );

    // copy_file by path: opens, stats, truncates and closes inside the call.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::data(500_000, 77);
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    drop(file_at(&src, &data));
    drop(file_at(&dst, b"some old content"));
    marker();
    let result = zcopy::copy_file(&src, &dst, &Options::default());
    marker();
    let report = result.expect("copy_file");
    common::assert_bytes(&std::fs::read(&dst).expect("read dst"), &data, "copy_file");
    print_report(i, "copy_file by path", &report);

    // A failed transfer's report counts too: strict reflink where extents cannot be shared.
    let a = common::file_with(&data);
    let b = common::empty_file();
    marker();
    let result = zcopy::transfer(&a, &b, &with(Strategy::Reflink, None));
    marker();
    match result {
        Ok(report) => {
            common::skip(
                "child_strace",
                "the temp dir's filesystem can clone; counted a success",
            );
            print_report(i, "reflink (succeeded)", &report);
        }
        Err(e) => {
            assert_eq!(e.kind(), zcopy::ErrorKind::Unsupported, "{e}");
            assert!(common::content(&b).is_empty());
            let report = e.report().expect("the error carries its report");
            print_report(i, "strict reflink refused", report);
        }
    }
    common::child_done("test_report::child_strace");
}

// ---------------------------------------------------------------------------------------------
// The copy model and the other counters.

/// One strict transfer of `n` bytes `src → dst` by `strategy`, its bytes checked.
fn measured(strategy: Strategy, src: End, dst: End, n: usize) -> Report {
    let label = format!("{strategy} {src:?}→{dst:?} {n} bytes");
    let data = common::data(n, n as u64);
    let source = Source::new(src, &data);
    let sink = Sink::new(dst);
    let opts = Options {
        strategy,
        fallback: false,
        ..Options::default()
    };
    let result = zcopy::transfer(source.fd(), sink.fd(), &opts);
    source.finish();
    let got = sink.finish();
    let report = result.unwrap_or_else(|e| panic!("{label}: {e} ({:?})", e.kind()));
    common::assert_bytes(&got, &data, &label);
    assert_eq!(report.bytes, n as u64, "{label}: bytes");
    assert_eq!(report.strategy, strategy, "{label}: strategy");
    assert_eq!(
        report.mode_switches,
        2 * report.syscalls,
        "{label}: mode_switches"
    );
    assert!(report.syscalls > 0, "{label}: syscalls");
    assert!(report.elapsed_ns > 0, "{label}: elapsed_ns");
    report
}

/// The modelled copies of each technique, as DESIGN.md's table and each technique's doc say.
#[test]
fn copy_model_per_technique() {
    const N: usize = (1 << 20) + 7;
    let n = N as u64;
    // (strategy, src, dst, cpu copies per byte, dma copies per byte)
    let cases = [
        (Strategy::ReadWrite, End::File, End::File, 2, 2),
        (Strategy::ReadWrite, End::Pipe, End::File, 2, 1),
        (Strategy::ReadWrite, End::File, End::Tcp, 2, 2),
        (Strategy::MmapWrite, End::File, End::File, 1, 2),
        (Strategy::Sendfile, End::File, End::Pipe, 0, 1),
        (Strategy::Sendfile, End::File, End::Tcp, 1, 2),
        (Strategy::Sendfile, End::File, End::File, 1, 2),
        (Strategy::Splice, End::File, End::Tcp, 0, 2),
        (Strategy::Splice, End::File, End::Pipe, 0, 1),
        (Strategy::Splice, End::File, End::File, 1, 2),
        (Strategy::Splice, End::Pipe, End::Tcp, 0, 1),
        (Strategy::CopyFileRange, End::File, End::File, 1, 2),
    ];
    for (strategy, src, dst, cpu, dma) in cases {
        let label = format!("{strategy} {src:?}→{dst:?}");
        let r = measured(strategy, src, dst, N);
        assert_eq!(r.cpu_copies_bytes, cpu * n, "{label}: cpu_copies_bytes");
        assert_eq!(r.dma_copies_bytes, dma * n, "{label}: dma_copies_bytes");
    }
}

/// The named cases of the brief, spelled out.
#[test]
fn copy_model_named_cases() {
    let n = 3 << 20;
    let r = measured(Strategy::ReadWrite, End::File, End::File, n);
    assert_eq!(r.cpu_copies_bytes, 2 * r.bytes);
    assert_eq!(r.dma_copies_bytes, 2 * r.bytes);
    let r = measured(Strategy::Sendfile, End::File, End::Pipe, n);
    assert_eq!(r.cpu_copies_bytes, 0);
    let r = measured(Strategy::Splice, End::File, End::Tcp, n);
    assert_eq!(r.cpu_copies_bytes, 0);
    assert_eq!(r.dma_copies_bytes, 2 * r.bytes);
    let r = measured(Strategy::CopyFileRange, End::File, End::File, n);
    assert_eq!(r.cpu_copies_bytes, r.bytes);
}

/// Zero bytes cost no modelled copies, and the counters stay consistent.
#[test]
fn empty_transfer_report() {
    for strategy in [
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ] {
        let r = measured(strategy, End::File, End::File, 0);
        assert_eq!(r.cpu_copies_bytes, 0, "{strategy}");
        assert_eq!(r.dma_copies_bytes, 0, "{strategy}");
    }
}

/// After a fallback the copies are those of the technique that moved the bytes, and the
/// fallback is listed with its reason.
#[test]
fn fallback_report_counts_the_technique_that_moved() {
    let n = 200_000;
    let data = common::data(n, 3);
    let src = common::file_with(&data);
    let sink = Sink::new(End::Tcp);
    let opts = Options {
        strategy: Strategy::CopyFileRange,
        fallback: true,
        ..Options::default()
    };
    let result = zcopy::transfer(&src, sink.fd(), &opts);
    let got = sink.finish();
    let r = result.expect("copy_file_range with fallback to a socket");
    common::assert_bytes(&got, &data, "fallback to a socket");
    assert_eq!(r.strategy, Strategy::Sendfile);
    assert_eq!(r.fallbacks.len(), 1, "{:?}", r.fallbacks);
    assert_eq!(r.fallbacks[0].strategy, Strategy::CopyFileRange);
    assert!(
        r.fallbacks[0].reason.contains("regular files only"),
        "{:?}",
        r.fallbacks[0]
    );
    assert_eq!(
        r.cpu_copies_bytes, n as u64,
        "sendfile to a socket: 1 CPU copy"
    );
    assert_eq!(r.dma_copies_bytes, 2 * n as u64);
}

/// A 64 MiB read_write copy really spends CPU time, and the report says so; wall time too.
#[test]
fn cpu_time_of_a_big_read_write_copy() {
    let n = 64 << 20;
    let r = measured(Strategy::ReadWrite, End::File, End::File, n);
    assert!(r.user_cpu_ns + r.sys_cpu_ns > 0, "{r:?}");
    assert!(r.elapsed_ns > 0, "{r:?}");
    // One thread's CPU clock cannot run faster than the wall clock, and the report reads the
    // CPU clock inside the wall-clock interval.
    assert!(
        r.user_cpu_ns + r.sys_cpu_ns <= r.elapsed_ns,
        "cpu {} + {} ns > elapsed {} ns",
        r.user_cpu_ns,
        r.sys_cpu_ns,
        r.elapsed_ns
    );
    // 128 KiB chunks: at least a read and a write per chunk.
    assert!(r.syscalls >= 2 * (n as u64 / (128 << 10)), "{r:?}");
    assert_eq!(r.cpu_copies_bytes, 2 * n as u64);
    assert_eq!(r.dma_copies_bytes, 2 * n as u64);
}

/// A 4 KiB transfer lasts a few microseconds, far less than a scheduler tick: its CPU time is
/// still measured (the thread CPU clock, not tick-sampled `getrusage`), more than nothing and
/// less than the call's wall time, every time. Through `transfer` and a prepared run, to a
/// file and to a socket.
#[test]
fn cpu_time_of_a_short_transfer_is_measured() {
    let data = common::data(4096, 41);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let (sock, peer) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut &peer, &mut all).map(|_| all.len())
    });
    let at = |off: u64| Options {
        src_offset: Some(0),
        dst_offset: Some(off),
        ..Options::default()
    };
    let mut to_sock = zcopy::Prepared::new(&src, &sock, &Options::default()).expect("prepare");
    let mut reports = Vec::new();
    for _ in 0..20 {
        reports.push((
            "transfer file",
            zcopy::transfer(&src, &dst, &at(0)).expect("file"),
        ));
        reports.push((
            "prepared socket",
            to_sock.run(None, Some(0), None).expect("prepared run"),
        ));
        let to_sock_once = Options {
            src_offset: Some(0),
            ..Options::default()
        };
        reports.push((
            "transfer socket",
            zcopy::transfer(&src, &sock, &to_sock_once).expect("socket"),
        ));
    }
    drop(to_sock);
    drop(sock);
    assert_eq!(drain.join().expect("drain").expect("read"), 40 * 4096);
    common::assert_bytes(&common::content(&dst), &data, "4 KiB file");
    for (what, r) in &reports {
        assert_eq!(r.bytes, 4096, "{what}");
        let cpu = r.user_cpu_ns + r.sys_cpu_ns;
        assert!(cpu > 0, "{what}: no CPU time measured: {r:?}");
        assert!(
            cpu < r.elapsed_ns,
            "{what}: CPU {cpu} ns is not under the wall time: {r:?}"
        );
    }
}

/// `statfs.f_type` of the filesystem `f` lives on.
fn fs_magic(f: &std::fs::File) -> i64 {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is valid for writes of one statfs; the fd is open.
    let r = unsafe { libc::fstatfs(f.as_raw_fd(), st.as_mut_ptr()) };
    assert_eq!(r, 0, "fstatfs");
    // SAFETY: fstatfs succeeded and filled it.
    unsafe { st.assume_init() }.f_type
}

/// A file living in memory (tmpfs, /dev/shm) has no device behind it, so no DMA copy at that
/// end (issue 14, case 15): tmpfs → tmpfs 0 DMA copies per byte, tmpfs → /dev/null 0, a file on
/// a disk → tmpfs 1, whatever the technique.
#[test]
fn copy_model_memory_filesystems_have_no_dma() {
    const TMPFS: i64 = 0x0102_1994;
    let n: usize = (1 << 20) + 7;
    let data = common::data(n, 15);
    let shm = || tempfile::tempfile_in("/dev/shm").expect("a file in /dev/shm");
    let disk = common::empty_file();
    if fs_magic(&shm()) != TMPFS || fs_magic(&disk) == TMPFS {
        common::skip(
            "copy_model_memory_filesystems_have_no_dma",
            "needs /dev/shm on tmpfs and the temp folder on a disk filesystem",
        );
        return;
    }
    let null = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null")
    };
    let filled = |f: std::fs::File| {
        use std::io::{Seek, Write};
        let mut f = f;
        f.write_all(&data).expect("fill");
        f.rewind().expect("rewind");
        f
    };
    // (label, src, dst, DMA copies per byte)
    let techniques = [
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
    ];
    for s in techniques {
        let cases: [(&str, std::fs::File, std::fs::File, u64); 4] = [
            ("tmpfs → tmpfs", filled(shm()), shm(), 0),
            ("tmpfs → /dev/null", filled(shm()), null(), 0),
            ("disk → tmpfs", filled(common::empty_file()), shm(), 1),
            ("tmpfs → disk", filled(shm()), common::empty_file(), 1),
        ];
        for (what, src, dst, dma) in cases {
            let label = format!("{s} {what}");
            let opts = Options {
                strategy: s,
                fallback: false,
                ..Options::default()
            };
            let r = match zcopy::transfer(&src, &dst, &opts) {
                Ok(r) => r,
                Err(e) if e.kind() == zcopy::ErrorKind::Unsupported => continue,
                Err(e) => panic!("{label}: {e}"),
            };
            assert_eq!(r.bytes, n as u64, "{label}");
            assert_eq!(r.dma_copies_bytes, dma * n as u64, "{label}: {r:?}");
        }
    }
    // Auto too, the named case of the issue.
    let src = filled(shm());
    let dst = shm();
    let r = zcopy::transfer(&src, &dst, &Options::default()).expect("auto tmpfs → tmpfs");
    common::assert_bytes(&common::content(&dst), &data, "auto tmpfs → tmpfs");
    assert_eq!(r.dma_copies_bytes, 0, "{r:?}");
}
