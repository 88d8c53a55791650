//! `zcopy fincore`, `warm` and `evict` as util-linux fincore and vmtouch users expect them
//! (issue 18, item 2): fincore's columns, `--bytes` and JSON keys; percentages never rounded up
//! to 100; directories walked with vmtouch's summary; `warm --lock` holding the pages until
//! SIGTERM, refused cleanly past RLIMIT_MEMLOCK.

use std::io::BufRead;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn zcopy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(args)
        .output()
        .expect("run zcopy")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Writes `n` bytes to `p` and flushes them to the device (so eviction can drop every page).
fn write_synced(p: &Path, n: usize) {
    let bytes: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    std::fs::write(p, bytes).expect("write");
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .expect("sync");
}

fn page_size() -> u64 {
    // SAFETY: sysconf touches no memory.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}

#[test]
fn fincore_prints_util_linux_columns_bytes_and_json() {
    if page_size() != 4096 {
        eprintln!("SKIP fincore_prints_util_linux_columns_bytes_and_json: pages are not 4 KiB");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    write_synced(&f, 4 << 20);
    ok(zcopy(&["warm", s(&f)]));
    // RES is resident bytes, PAGES resident pages (not the file's pages), SIZE the size.
    assert_eq!(
        ok(zcopy(&["fincore", s(&f)])),
        format!("  RES PAGES  SIZE FILE\n   4M  1024    4M {}\n", s(&f))
    );
    assert_eq!(
        ok(zcopy(&["fincore", "--bytes", s(&f)])),
        format!(
            "    RES PAGES    SIZE FILE\n4194304  1024 4194304 {}\n",
            s(&f)
        )
    );
    assert_eq!(
        ok(zcopy(&["fincore", "-n", "-b", s(&f)])),
        format!("4194304  1024 4194304 {}\n", s(&f))
    );
    // util-linux's JSON: its keys, in its order; sizes as strings, numbers with --bytes.
    let text = ok(zcopy(&["fincore", "--json", s(&f)]));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"fincore": [{"res": "4M", "pages": 1024, "size": "4M", "file": s(&f)}]})
    );
    let keys: Vec<usize> = ["\"res\"", "\"pages\"", "\"size\"", "\"file\""]
        .iter()
        .map(|k| text.find(k).expect("key"))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(zcopy(&["fincore", "-J", "-b", s(&f)]))).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"fincore": [{"res": 4194304, "pages": 1024, "size": 4194304, "file": s(&f)}]})
    );
    // Evicted: nothing resident.
    ok(zcopy(&["evict", s(&f)]));
    assert_eq!(
        ok(zcopy(&["fincore", s(&f)])),
        format!("  RES PAGES  SIZE FILE\n   0B     0    4M {}\n", s(&f))
    );
    // zcopy's own columns on demand.
    ok(zcopy(&["warm", s(&f)]));
    // mincore where the kernel has no cachestat (before 6.5).
    let method = ok(zcopy(&["fincore", "-o", "method", "-n", s(&f)]));
    assert_eq!(
        ok(zcopy(&["fincore", "-o", "pages,Percent,METHOD", s(&f)])),
        format!("PAGES PERCENT METHOD\n 1024  100.0% {method}")
    );
}

#[test]
fn percentages_are_never_rounded_up_to_100() {
    if page_size() != 4096 {
        eprintln!("SKIP percentages_are_never_rounded_up_to_100: pages are not 4 KiB");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    write_synced(&f, 2333 * 4096);
    ok(zcopy(&["evict", s(&f)]));
    // Every page but one read back in (readahead off, so page 1000 stays out).
    let file = std::fs::File::open(&f).expect("open");
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fadvise touches no memory.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    let mut b = [0u8; 1];
    for page in (0..2333u64).filter(|&p| p != 1000) {
        file.read_at(&mut b, page * 4096).expect("read");
    }
    let text = ok(zcopy(&[
        "fincore",
        "-o",
        "PAGES,PERCENT",
        "--summary",
        s(&f),
    ]));
    let resident: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("PAGES");
    if resident != 2332 {
        eprintln!("SKIP percentages_are_never_rounded_up_to_100: the kernel kept {resident} of 2333 pages, not 2332:\n{text}");
        return;
    }
    // 2332 / 2333 = 99.957 %: cut to 99.9 %, never shown as 100.
    assert!(text.starts_with("PAGES PERCENT\n 2332   99.9%\n"), "{text}");
    assert!(
        text.contains("  Resident Pages: 2332/2333  9.1M/9.1M  99.9%\n"),
        "{text}"
    );
    assert!(!text.contains("100"), "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(zcopy(&["fincore", "--json", "-o", "percent", s(&f)])))
            .expect("json");
    assert_eq!(v["fincore"][0]["percent"], 99.9);
}

#[test]
fn warm_evict_and_fincore_walk_directories_with_a_summary() {
    if page_size() != 4096 {
        eprintln!(
            "SKIP warm_evict_and_fincore_walk_directories_with_a_summary: pages are not 4 KiB"
        );
        return;
    }
    // d/x (2 pages), d/sub/y (3), d/sub/deeper/z (1); a symlink and a hard link to x, and a
    // FIFO, which the walk skips (as vmtouch).
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("d");
    std::fs::create_dir_all(d.join("sub/deeper")).expect("mkdir");
    write_synced(&d.join("x"), 8192);
    write_synced(&d.join("sub/y"), 12288);
    write_synced(&d.join("sub/deeper/z"), 100);
    std::os::unix::fs::symlink(d.join("x"), d.join("link")).expect("symlink");
    std::fs::hard_link(d.join("x"), d.join("sub/x2")).expect("hard link");
    let c = std::ffi::CString::new(s(&d.join("fifo"))).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let summary = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("Elapsed"))
            .map(str::to_string)
            .collect()
    };
    let out = ok(zcopy(&["evict", s(&d)]));
    assert_eq!(
        summary(&out),
        [
            "           Files: 3",
            "     Directories: 3",
            "   Evicted Pages: 6 (24K)",
            "  Resident Pages: 0/6  0B/24K  0.0%",
        ],
        "{out}"
    );
    assert!(
        out.ends_with(" seconds\n") && out.contains("         Elapsed: "),
        "{out}"
    );
    assert_eq!(ok(zcopy(&["warm", "-q", s(&d)])), "", "-q prints nothing");
    let out = ok(zcopy(&["warm", s(&d)]));
    assert_eq!(
        summary(&out),
        [
            "           Files: 3",
            "     Directories: 3",
            "   Touched Pages: 6 (24K)",
            "  Resident Pages: 6/6  24K/24K  100.0%",
        ],
        "{out}"
    );
    // fincore: a row per file, in the walk's order (names sorted in each directory), then
    // the summary.
    let out = ok(zcopy(&["fincore", s(&d)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "  RES PAGES  SIZE FILE");
    assert_eq!(
        lines[1],
        format!("   4K     1  100B {}", s(&d.join("sub/deeper/z")))
    );
    // x is taken once, by the name the walk meets first (its hard link sub/x2).
    assert_eq!(
        lines[2],
        format!("   8K     2    8K {}", s(&d.join("sub/x2")))
    );
    assert_eq!(
        lines[3],
        format!("  12K     3   12K {}", s(&d.join("sub/y")))
    );
    assert_eq!(
        &lines[4..8],
        [
            "",
            "           Files: 3",
            "     Directories: 3",
            "  Resident Pages: 6/6  24K/24K  100.0%"
        ]
    );
    // JSON: the rows and the summary.
    let v: serde_json::Value =
        serde_json::from_str(&ok(zcopy(&["evict", "--json", "--bytes", s(&d)]))).expect("json");
    assert_eq!(v["fincore"].as_array().expect("rows").len(), 3);
    assert_eq!(v["fincore"][2]["file"], s(&d.join("sub/y")));
    assert_eq!(v["fincore"][2]["pages"], 0);
    let sum = &v["summary"];
    assert_eq!(
        (
            &sum["files"],
            &sum["directories"],
            &sum["pages"],
            &sum["resident"]
        ),
        (&3.into(), &3.into(), &6.into(), &0.into()),
        "{v}"
    );
    assert!(sum["elapsed_ns"].as_u64().is_some(), "{v}");
    // A directory among files, and warm -v: the rows, then the summary.
    let other = dir.path().join("other");
    write_synced(&other, 4096);
    let out = ok(zcopy(&["warm", "-v", s(&other), s(&d)]));
    assert!(
        out.starts_with("  RES PAGES  SIZE PERCENT METHOD    FILE\n")
            || out.starts_with("  RES PAGES  SIZE PERCENT METHOD  FILE\n"),
        "{out}"
    );
    assert!(
        out.contains("           Files: 4\n     Directories: 3\n"),
        "{out}"
    );
    // A directory that cannot be read: one line, the rest still done, status 1.
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        use std::os::unix::fs::PermissionsExt;
        let locked = d.join("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        let out = zcopy(&["fincore", s(&d)]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "zcopy: error: cannot read directory {}: Permission denied\n",
                s(&locked)
            )
        );
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
}

/// The `VmLck` of a process, in kB.
fn vm_locked_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmLck")
}

#[test]
fn warm_lock_holds_the_pages_until_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    write_synced(&f, 1 << 20);
    ok(zcopy(&["evict", s(&f)]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["warm", "--lock", s(&f)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zcopy");
    let mut out = String::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    while !out.contains("Locked until") {
        let mut line = String::new();
        if lines.read_line(&mut line).expect("read") == 0 {
            let _ = child.kill();
            panic!("zcopy ended before locking: {out}");
        }
        out += &line;
    }
    let pages = (1u64 << 20).div_ceil(page_size());
    assert!(
        out.contains(&format!("    Locked Pages: {pages} (1M)\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  Resident Pages: {pages}/{pages}  1M/1M  100.0%\n"
        )),
        "{out}"
    );
    assert!(
        out.ends_with("Locked until SIGINT or SIGTERM (Ctrl-C).\n"),
        "{out}"
    );
    // While it waits, the pages are locked in its memory and resident.
    assert!(vm_locked_kb(child.id()) >= 1024, "VmLck below 1 MiB");
    let v: serde_json::Value =
        serde_json::from_str(&ok(zcopy(&["fincore", "--json", "--bytes", s(&f)]))).expect("json");
    assert_eq!(v["fincore"][0]["pages"], pages);
    // Evicting cannot drop locked pages.
    ok(zcopy(&["evict", s(&f)]));
    let v: serde_json::Value =
        serde_json::from_str(&ok(zcopy(&["fincore", "--json", s(&f)]))).expect("json");
    assert_eq!(v["fincore"][0]["pages"], pages, "locked pages were evicted");
    // SIGTERM: unlocked, status 0.
    // SAFETY: kill touches no memory; the pid is our child's, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
}

#[test]
fn warm_lock_refuses_cleanly_past_rlimit_memlock() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = dir.path().join("f");
    write_synced(&f, 1 << 20);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zcopy"));
    cmd.args(["warm", "--lock", s(&f)]);
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } == 0 {
        // root has CAP_IPC_LOCK, which lifts the limit: run as nobody, without it.
        cmd.uid(65534).gid(65534);
    }
    // SAFETY: setrlimit is async-signal-safe; it lowers the child's limit only.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run zcopy");
    let pages = (1u64 << 20).div_ceil(page_size());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "zcopy: error: cannot lock 1M ({pages} pages of 1 file, {}) in memory: RLIMIT_MEMLOCK allows 64K (raise it with `ulimit -l`, or run with CAP_IPC_LOCK)\n",
            s(&f)
        )
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    // Nothing to lock (a missing path): the error, status 1, no wait for a signal.
    let missing = dir.path().join("missing");
    let out = zcopy(&["warm", "--lock", s(&missing)]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "zcopy: error: cannot open {}: No such file or directory\n",
            s(&missing)
        )
    );
    assert_eq!(out.status.code(), Some(1));
    // As JSON.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zcopy"));
    cmd.args(["warm", "--lock", "--json", s(&f)]);
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } == 0 {
        cmd.uid(65534).gid(65534);
    }
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
            Ok(())
        });
    }
    let out = cmd.output().expect("run zcopy");
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["errno"], libc::ENOMEM);
    assert_eq!(v["path"], s(&f));
    assert_eq!(out.status.code(), Some(1));
}
