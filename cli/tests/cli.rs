//! The `zcopy` command, run as a process: exact bytes, JSON reports, probe, and one-line errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn zcopy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(args)
        .output()
        .expect("run zcopy")
}

fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn copy_with_each_strategy_prints_a_json_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(3_000_001);
    std::fs::write(&src, &bytes).expect("write");
    for strategy in [
        "auto",
        "read_write",
        "mmap_write",
        "sendfile",
        "splice",
        "copy_file_range",
    ] {
        let out = zcopy(&[
            "copy",
            s(&src),
            s(&dst),
            "--strategy",
            strategy,
            "--no-fallback",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{strategy}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
        assert_eq!(report["bytes"], 3_000_001, "{strategy}");
        let used = report["strategy"].as_str().expect("strategy");
        if strategy == "auto" {
            // 3 MB file → file: splice on ext4 and tmpfs, copy_file_range where it can clone.
            assert!(
                ["splice", "copy_file_range"].contains(&used),
                "auto used {used}"
            );
        } else {
            assert_eq!(used, strategy);
        }
        assert!(report["syscalls"].as_u64().expect("syscalls") > 0);
        assert_eq!(
            report["mode_switches"],
            report["syscalls"].as_u64().expect("n") * 2
        );
        assert_eq!(std::fs::read(&dst).expect("read"), bytes, "{strategy}");
    }
}

#[test]
fn copy_with_offset_and_len_and_a_human_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(100_000);
    std::fs::write(&src, &bytes).expect("write");
    let out = zcopy(&[
        "copy",
        s(&src),
        s(&dst),
        "--offset",
        "1000",
        "--len",
        "5000",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("bytes") && text.contains("5000") && text.contains("syscalls"),
        "{text}"
    );
    assert_eq!(std::fs::read(&dst).expect("read"), &bytes[1000..6000]);
}

#[test]
fn copy_to_stdout_pipes_the_bytes_and_reports_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let bytes = data(2_000_000);
    std::fs::write(&src, &bytes).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["copy", s(&src), "-", "--json"])
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(out.stdout, bytes);
    let report: serde_json::Value = serde_json::from_slice(&out.stderr).expect("json on stderr");
    assert_eq!(report["strategy"], "sendfile");
}

#[test]
fn probe_lists_every_technique() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::write(&src, b"abc").expect("write");
    let dst = dir.path().join("not-yet");
    let out = zcopy(&["probe", s(&src), s(&dst)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    for name in [
        "read_write",
        "mmap_write",
        "sendfile",
        "splice",
        "copy_file_range",
        "reflink",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(!dst.exists(), "probe created the destination");
    let out = zcopy(&["probe", s(&src), s(&dst), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["techniques"].as_array().expect("array").len(), 9);
}

#[test]
fn errors_are_one_clear_line_and_a_failure_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let dst = dir.path().join("dst");
    let out = zcopy(&["copy", s(&missing), s(&dst)]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("missing") && err.contains("No such file"),
        "{err}"
    );

    let src = dir.path().join("src");
    std::fs::write(&src, b"abc").expect("write");
    let out = zcopy(&["copy", s(&src), s(&dst), "--strategy", "warp"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert!(
        err.contains("invalid value 'warp' for '--strategy <STRATEGY>'"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn fincore_evict_and_warm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    std::fs::write(&f, data(4 << 20)).expect("write");
    let out = zcopy(&["evict", s(&f)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = |out: Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let v = json(zcopy(&["fincore", "--json", "--bytes", s(&f)]));
    assert_eq!(v["fincore"][0]["size"], 4 << 20);
    assert_eq!(v["fincore"][0]["pages"], 0, "resident pages");
    let out = zcopy(&["warm", s(&f)]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("100.0%"), "{text}");
    let v = json(zcopy(&["fincore", "--json", "--bytes", s(&f)]));
    assert_eq!(v["fincore"][0]["pages"], 1024);
    assert_eq!(v["fincore"][0]["res"], 4 << 20);
    // A missing file among others: the others are reported, the status says it failed.
    let out = zcopy(&["fincore", s(&f), s(&dir.path().join("missing"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("  4M  1024    4M"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn copy_with_cache_and_sync_policies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(2 << 20);
    std::fs::write(&src, &bytes).expect("write");
    assert!(zcopy(&["evict", s(&src)]).status.success());
    let out = zcopy(&[
        "copy",
        s(&src),
        s(&dst),
        "--cache",
        "drop_after",
        "--sync",
        "full",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = zcopy(&["fincore", "--json", s(&src), s(&dst)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["fincore"][0]["pages"], 0, "drop_after left source pages");
    assert_eq!(
        v["fincore"][1]["pages"], 0,
        "drop_after left destination pages"
    );
    assert_eq!(std::fs::read(&dst).expect("read"), bytes);
    let out = zcopy(&[
        "copy",
        s(&src),
        s(&dst),
        "--direct-threshold",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["strategy"] == "io_uring" || v["strategy"] == "direct",
        "{v}"
    );
    assert_eq!(std::fs::read(&dst).expect("read"), bytes);
    let out = zcopy(&["copy", s(&src), s(&dst), "--sync", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "invalid value 'sometimes' for '--sync <SYNC>' [possible values: none, data, full]"
    ));
}

/// The cache-policy rows on a cold 256 MiB file → file copy: each row's pages cached after,
/// `keep` leaving the copy's pages in the cache and every other policy fewer; the table shows
/// them and the dontcache target is judged.
#[test]
fn bench_compares_the_cache_policies_on_a_cold_big_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = zcopy(&[
        "bench",
        "--sizes",
        "256M",
        "--rounds",
        "1",
        "--endpoints",
        "file_file",
        "--cache",
        "cold",
        "--techniques",
        "cache_keep,cache_drop_after,cache_dontcache,cache_direct",
        "--python",
        "none",
        "--dir",
        s(dir.path()),
        "--json",
        s(&json),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(table.contains("pages cached after"), "{table}");
    assert!(
        table.contains("cache_dontcache ≥ 0.85× cache_keep's speed"),
        "{table}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    let samples = v["samples"].as_array().expect("samples");
    let pages = |tech: &str| -> u64 {
        let s = samples
            .iter()
            .find(|s| s["technique"] == tech)
            .unwrap_or_else(|| panic!("no {tech} sample in {samples:?}"));
        assert_eq!(s["cache"], "cold", "{s}");
        s["resident_pages"]
            .as_u64()
            .unwrap_or_else(|| panic!("{s}"))
    };
    let keep = pages("cache_keep");
    assert!(keep > 0, "keep left no page of the copy cached");
    for tech in ["cache_drop_after", "cache_dontcache", "cache_direct"] {
        assert!(
            pages(tech) < keep,
            "{tech}: {} pages, keep {keep}",
            pages(tech)
        );
    }
}

#[test]
fn bench_writes_the_json_schema_a_table_and_a_plot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let plot = dir.path().join("bench.svg");
    let python_works = Command::new("python3")
        .args(["-c", "import resource, shutil, socket"])
        .status()
        .is_ok_and(|s| s.success());
    let out = zcopy(&[
        "bench",
        "--sizes",
        "4K,64K",
        "--rounds",
        "2",
        "--sample-bytes",
        "262144",
        "--endpoints",
        "file_file,file_pipe,file_tcp",
        "--cache",
        "hot,cold",
        "--dir",
        s(dir.path()),
        "--json",
        s(&json),
        "--plot",
        s(&plot),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        table.contains("file_tcp  64K  cold") && table.contains("per-round ratios [lo–hi]"),
        "{table}"
    );
    assert!(table.contains("Targets the project set itself"), "{table}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    assert_eq!(v["rounds"], 2);
    for key in ["cpu", "cores", "kernel", "filesystem"] {
        assert!(!v["machine"][key].is_null(), "machine.{key}");
    }
    let samples = v["samples"].as_array().expect("samples");
    for s in samples {
        for key in [
            "endpoint",
            "size",
            "cache",
            "technique",
            "round",
            "ops",
            "bytes",
            "elapsed_ns",
            "user_cpu_ns",
            "sys_cpu_ns",
            "cpu_ns",
            "syscalls",
            "ctx_switches",
            "cpu_copies_bytes",
            "strategy_used",
        ] {
            assert!(s.get(key).is_some(), "{key} missing from {s}");
        }
        let size = s["size"].as_u64().expect("size");
        assert!(size == 4096 || size == 65536, "{s}");
        assert_eq!(
            s["bytes"].as_u64(),
            Some(size * s["ops"].as_u64().expect("ops"))
        );
        // The first round of every cell had its bytes compared with the source.
        assert_eq!(s["verified"], s["round"] == 0, "{s}");
    }
    let has = |endpoint: &str, tech: &str| {
        samples
            .iter()
            .any(|s| s["endpoint"] == endpoint && s["technique"] == tech)
    };
    assert!(has("file_file", "copy_file_range") && has("file_file", "std_io_copy"));
    assert!(has("file_file", "zcopy_copy_file") && has("file_file", "std_fs_copy"));
    assert!(has("file_file", "bare_copy_file_range") && has("file_tcp", "bare_sendfile"));
    assert!(has("file_tcp", "msg_zerocopy") && has("file_pipe", "splice"));
    if python_works {
        assert!(
            has("file_file", "shutil_copyfile"),
            "python3 works: shutil.copyfile is a peer"
        );
        assert!(has("file_tcp", "py_sendfile") && has("file_pipe", "py_sendfile"));
    } else {
        eprintln!("SKIP the Python peers: python3 cannot run here");
    }
    // Peers report no syscalls: null, never a made-up number.
    assert!(samples
        .iter()
        .filter(|s| ["std_io_copy", "shutil_copyfile", "py_sendfile"]
            .contains(&s["technique"].as_str().unwrap_or("")))
        .all(|s| s["syscalls"].is_null()));
    assert!(samples
        .iter()
        .filter(|s| s["technique"] == "auto")
        .all(|s| s["strategy_used"].is_string()));
    // Pages cached after a sample: file → file rows writing the bench's file, nowhere else.
    for s in samples {
        let counted = s["endpoint"] == "file_file"
            && ["auto", "read_write", "copy_file_range", "auto_prepared"]
                .contains(&s["technique"].as_str().unwrap_or(""));
        let other = s["endpoint"] != "file_file" || s["technique"] == "zcopy_copy_file";
        if counted {
            assert!(s["resident_pages"].is_u64(), "{s}");
        } else if other {
            assert!(s["resident_pages"].is_null(), "{s}");
        }
    }
    let svg = std::fs::read_to_string(&plot).expect("plot written");
    assert!(
        svg.starts_with("<svg") && svg.contains("file_tcp, cold: GB/s"),
        "{}",
        &svg[..svg.len().min(300)]
    );
    assert!(svg.contains("<polyline"), "the plot has lines");
    let bad = zcopy(&["bench", "--sizes", "4Q", "--dir", s(dir.path())]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad size"));
    let bad = zcopy(&["bench", "--plot", "x.png", "--dir", s(dir.path())]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ending in .svg"));
    let bad = zcopy(&["bench", "--endpoints", "file_disk", "--dir", s(dir.path())]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown endpoint \"file_disk\""));
}

#[test]
fn copy_with_parallelism() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data((20 << 20) + 12345);
    std::fs::write(&src, &bytes).expect("write");
    let out = zcopy(&["copy", s(&src), s(&dst), "--parallelism", "3", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["bytes"], bytes.len());
    assert_eq!(std::fs::read(&dst).expect("read"), bytes);
    let out = zcopy(&["copy", s(&src), s(&dst), "--parallelism", "65"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parallelism 65"));
}

mod cp;
mod pagecache;
mod serve;
mod tree;

/// `zcopy copy FIFO out` while no writer opens the FIFO: Ctrl-C (SIGINT) ends the command at
/// once (the open waits in the kernel, interruptible; the CLI installs no handler), by the
/// signal, and nothing is left waiting.
#[test]
fn ctrl_c_stops_a_copy_from_a_fifo_without_a_writer() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).expect("no NUL");
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let out = dir.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zcopy"));
    cmd.args(["copy", s(&fifo), s(&out)])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe; the child gets SIGINT's default action even when
    // this test runs with SIGINT ignored (started in the background by a shell).
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("run zcopy");
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "zcopy ended before Ctrl-C"
    );
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill touches no memory; `pid` is our child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill");
    let asked = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if asked.elapsed() > std::time::Duration::from_secs(5) {
            let _ = child.kill();
            panic!("zcopy still waits 5 s after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        asked.elapsed() < std::time::Duration::from_millis(1500),
        "ended {:?} after Ctrl-C",
        asked.elapsed()
    );
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

/// The permission bits (with setuid, setgid, sticky) of the file at `p`.
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

/// `zcopy copy` under `umask 077`: as `cp`, a new file gets the source's mode minus the umask,
/// without setuid/setgid/sticky; an existing destination keeps its mode.
#[test]
fn copy_under_umask_077_never_loosens_permissions() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = data(300_000);
    let copy = |src: &Path, dst: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zcopy"));
        cmd.args(["copy", s(src), s(dst)]);
        // SAFETY: umask is async-signal-safe and cannot fail; it runs in the child only.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o077);
                Ok(())
            });
        }
        let out = cmd.output().expect("run zcopy");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (src_mode, want) in [(0o666, 0o600), (0o4755, 0o700)] {
        let src = dir.path().join(format!("src{src_mode:o}"));
        std::fs::write(&src, &bytes).expect("write");
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(src_mode)).expect("chmod");
        let dst = dir.path().join(format!("new{src_mode:o}"));
        copy(&src, &dst);
        assert_eq!(mode_of(&dst), want, "new file from a {src_mode:o} source");
        assert_eq!(std::fs::read(&dst).expect("read"), bytes);
    }
    let existing = dir.path().join("existing");
    std::fs::write(&existing, b"old").expect("write");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    copy(&dir.path().join("src666"), &existing);
    assert_eq!(
        mode_of(&existing),
        0o600,
        "an existing destination keeps its mode"
    );
    assert_eq!(std::fs::read(&existing).expect("read"), bytes);
}

/// `zcopy evict` and `warm` as a user who may not see a root-owned file's page cache (neither
/// owner nor writer: cachestat refuses, mincore would lie): the work is done, the status is
/// success, and the residency is reported as unknown.
#[test]
fn evict_and_warm_succeed_on_a_file_whose_cache_cannot_be_seen() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP evict_and_warm_succeed_on_a_file_whose_cache_cannot_be_seen: not root, cannot run as another user");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = dir.path().join("f");
    std::fs::write(&f, data(4 << 20)).expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let as_nobody = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run zcopy as nobody")
    };
    let fincore_root = || -> serde_json::Value {
        let out = zcopy(&["fincore", "--json", s(&f)]);
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["fincore"].clone()
    };
    let warm = zcopy(&["warm", s(&f)]);
    assert!(warm.status.success());
    let out = as_nobody(&["evict", "-v", s(&f)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "evict as nobody: {text}{err}");
    if text.contains("cachestat") {
        eprintln!("SKIP evict_and_warm_succeed_on_a_file_whose_cache_cannot_be_seen: this kernel's cachestat answers anyone");
        return;
    }
    assert!(
        text.contains("unknown") && text.contains("may not see"),
        "{text}"
    );
    // The pages were dropped all the same (root sees it).
    assert_eq!(fincore_root()[0]["pages"], 0, "resident pages");
    let out = as_nobody(&["warm", "-v", s(&f)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "warm as nobody: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("unknown"), "{text}");
    assert_eq!(fincore_root()[0]["pages"], 1024, "resident pages");
    // fincore itself still refuses to guess.
    let out = as_nobody(&["fincore", s(&f)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot see"));
}

/// `zcopy copy SRC /dev/stdout > out` (and the other names of stdout, and the very file stdout
/// is): the Report goes to stderr, never into or over the data.
#[test]
fn copy_to_a_name_of_stdout_reports_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let bytes = data(1_500_000);
    std::fs::write(&src, &bytes).expect("write");
    let out_path = dir.path().join("out");
    for name in ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1", s(&out_path)] {
        for json in [true, false] {
            let out = std::fs::File::create(&out_path).expect("create out");
            let mut args = vec!["copy", s(&src), name];
            if json {
                args.push("--json");
            }
            let run = Command::new(env!("CARGO_BIN_EXE_zcopy"))
                .args(&args)
                .stdout(Stdio::from(out))
                .output()
                .expect("run");
            let err = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "{name}: {err}");
            let got = std::fs::read(&out_path).expect("read out");
            assert!(
                got == bytes,
                "{name} json {json}: out holds {} bytes, want the {} copied",
                got.len(),
                bytes.len()
            );
            if json {
                let report: serde_json::Value =
                    serde_json::from_slice(&run.stderr).expect("json report on stderr");
                assert_eq!(report["bytes"], bytes.len());
            } else {
                assert!(
                    err.contains("bytes") && err.contains("1500000"),
                    "{name}: {err}"
                );
            }
        }
    }
    // Through a pipe too.
    let run = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["copy", s(&src), "/dev/stdout", "--json"])
        .stdout(Stdio::piped())
        .output()
        .expect("run");
    assert!(run.status.success());
    assert!(
        run.stdout == bytes,
        "the pipe holds {} bytes",
        run.stdout.len()
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stderr).expect("json on stderr");
    assert_eq!(report["bytes"], bytes.len());
    // Another file: the Report still goes to stdout.
    let run = zcopy(&["copy", s(&src), s(&dir.path().join("other")), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json on stdout");
    assert_eq!(report["bytes"], bytes.len());
}

/// `probe` opens an existing destination as `copy` does (blocking): its verdict for io_uring to
/// /dev/null matches what `copy --strategy io_uring --no-fallback` does.
#[test]
fn probe_judges_the_destination_as_copy_opens_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::write(&src, data(300_000)).expect("write");
    let copy = zcopy(&[
        "copy",
        s(&src),
        "/dev/null",
        "--strategy",
        "io_uring",
        "--no-fallback",
        "--json",
    ]);
    let out = zcopy(&["probe", s(&src), "/dev/null", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let io_uring = v["techniques"]
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["strategy"] == "io_uring")
        .expect("an io_uring verdict")
        .clone();
    if !copy.status.success() {
        let err = String::from_utf8_lossy(&copy.stderr);
        eprintln!(
            "SKIP probe_judges_the_destination_as_copy_opens_it: io_uring copy refused here: {err}"
        );
        assert_eq!(io_uring["supported"], false, "{io_uring}");
        return;
    }
    assert_eq!(
        io_uring["supported"], true,
        "probe says {io_uring}, copy worked"
    );
    // A FIFO without a reader still fails at once instead of waiting for one.
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).expect("path");
    // SAFETY: `c` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = zcopy(&["probe", s(&src), s(&fifo)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fifo") && err.contains("No such device or address"),
        "{err}"
    );
}

#[test]
fn copy_from_a_named_pipe_and_to_a_device_as_cp_does() {
    // The engine's copy_file refuses special files (as shutil.copyfile does); the command, like
    // cp, opens them itself and copies what the pipe gives.
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let dst = dir.path().join("dst");
    let c = std::ffi::CString::new(s(&fifo)).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let bytes = data(300_007);
    let (f, b) = (fifo.clone(), bytes.clone());
    let writer = std::thread::spawn(move || std::fs::write(&f, &b).expect("write the fifo"));
    let out = zcopy(&["copy", s(&fifo), s(&dst)]);
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&dst).expect("dst") == bytes, "bytes differ");
    let out = zcopy(&["copy", s(&dst), "/dev/null"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
