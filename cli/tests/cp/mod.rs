//! `zcopy copy` and `probe` as cp users expect them (issue 18, item 1): size suffixes, names in
//! any case, several sources into a directory, `-t`, `-q`, `--progress`, one-line errors that
//! name the paths and filesystems given, exit statuses 1 and 2, errors as JSON, and probe's
//! mark on the technique Auto picks first.

use std::io::Read;
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a failure: exactly `line` on stderr, and the status.
fn fails_with(out: &Output, status: i32, line: &str) {
    assert_eq!(stderr(out), format!("{line}\n"), "stderr");
    assert_eq!(out.status.code(), Some(status), "{}", stderr(out));
}

#[test]
fn sizes_take_suffixes_on_every_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(3 << 20);
    std::fs::write(&src, &bytes).expect("write");
    let out = zcopy(&[
        "copy",
        s(&src),
        s(&dst),
        "--offset",
        "4k",
        "--len",
        "1M",
        "--dst-offset",
        "1KB",
        "--chunk-size",
        "64KiB",
        "--direct-threshold",
        "1G",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["bytes"], 1 << 20);
    assert_ne!(v["strategy"], "direct", "1 MiB is below a 1 GiB threshold");
    let mut want = vec![0u8; 1024];
    want.extend_from_slice(&bytes[4096..4096 + (1 << 20)]);
    assert!(std::fs::read(&dst).expect("read") == want, "bytes differ");
    // A length past the end moves what there is.
    let out = zcopy(&["copy", s(&src), s(&dst), "--len", "1GiB", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&dst).expect("read") == bytes, "bytes differ");
    // Plain bytes, and `512B`.
    let out = zcopy(&["copy", s(&src), s(&dst), "--len", "512B", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dst).expect("read"), &bytes[..512]);
    // A bad size is a usage error: one line, status 2, naming the flag.
    let out = zcopy(&["copy", s(&src), s(&dst), "--len", "4Q"]);
    fails_with(
        &out,
        2,
        "zcopy: error: invalid value '4Q' for '--len <SIZE>': expected a byte count like 512, 4k, 64KiB, 1M or 2G (K, M, G, T, P, E: powers of 1024); see 'zcopy copy --help'",
    );
    // serve --directio takes the same sizes (or off); a bad one is refused the same way.
    let out = zcopy(&["serve", s(dir.path()), "--directio", "lots"]);
    fails_with(
        &out,
        2,
        "zcopy: error: invalid value 'lots' for '--directio <SIZE|off>': expected a byte count like 512, 4k, 64KiB, 1M or 2G (K, M, G, T, P, E: powers of 1024); see 'zcopy serve --help'",
    );
}

/// `serve --directio 4MiB --model EPOLL` starts with a 4 MiB threshold, and stops on SIGTERM.
#[test]
fn serve_takes_a_size_suffix_and_a_model_in_any_case() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["serve", s(dir.path()), "--listen", "127.0.0.1:0"])
        .args(["--directio", "4MiB", "--model", "EPOLL", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zcopy serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the first line");
    // SAFETY: kill touches no memory; the pid is our child's, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(
        line.contains("model epoll") && line.contains("directio 4194304"),
        "{line}"
    );
    assert!(status.success(), "{status}");
}

#[test]
fn names_are_taken_in_any_case_with_dashes_or_underscores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(200_000);
    std::fs::write(&src, &bytes).expect("write");
    for (strategy, want) in [
        ("copy-file-range", "copy_file_range"),
        ("Copy_File-Range", "copy_file_range"),
        ("READ_WRITE", "read_write"),
        ("Sendfile", "sendfile"),
    ] {
        let out = zcopy(&[
            "copy",
            s(&src),
            s(&dst),
            "--strategy",
            strategy,
            "--no-fallback",
            "--cache",
            "Drop-After",
            "--sync",
            "FULL",
            "--json",
        ]);
        assert!(out.status.success(), "{strategy}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["strategy"], want);
        assert!(std::fs::read(&dst).expect("read") == bytes, "{strategy}");
    }
    let out = zcopy(&["copy", s(&src), s(&dst), "--cache", "no-reuse", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A wrong name: one line listing the right ones, status 2.
    let out = zcopy(&["copy", s(&src), s(&dst), "--strategy", "warp"]);
    fails_with(
        &out,
        2,
        "zcopy: error: invalid value 'warp' for '--strategy <STRATEGY>' [possible values: auto, read_write, mmap_write, sendfile, splice, copy_file_range, reflink, direct, io_uring, msg_zerocopy]; see 'zcopy copy --help'",
    );
    let out = zcopy(&["serve", s(dir.path()), "--model", "select"]);
    fails_with(
        &out,
        2,
        "zcopy: error: invalid value 'select' for '--model <MODEL>' [possible values: threads, poll, epoll, uring]; see 'zcopy serve --help'",
    );
    // --help lists the names.
    let help = stdout(&zcopy(&["copy", "--help"]));
    for list in [
        "[possible values: auto, read_write, mmap_write, sendfile, splice, copy_file_range, reflink, direct, io_uring, msg_zerocopy]",
        "[possible values: keep, drop_after, noreuse, dontcache]",
        "[possible values: none, data, full]",
    ] {
        assert!(help.contains(list), "{list} missing from:\n{help}");
    }
    let help = stdout(&zcopy(&["serve", "--help"]));
    assert!(
        help.contains("[possible values: threads, poll, epoll, uring]"),
        "{help}"
    );
    let help = stdout(&zcopy(&["fincore", "--help"]));
    assert!(
        help.contains("[possible values: RES, PAGES, SIZE, FILE, PERCENT, METHOD]"),
        "{help}"
    );
    // bench's lists too.
    let out = zcopy(&[
        "bench",
        "--sizes",
        "4k",
        "--rounds",
        "1",
        "--sample-bytes",
        "4KiB",
        "--endpoints",
        "File-File",
        "--cache",
        "HOT",
        "--techniques",
        "Read-Write",
        "--python",
        "none",
        "--dir",
        s(dir.path()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn copy_several_sources_into_a_directory_as_cp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (bytes_a, bytes_b) = (data(300_001), data(5000));
    std::fs::write(&a, &bytes_a).expect("write");
    std::fs::write(&b, &bytes_b).expect("write");
    let into = dir.path().join("into");
    std::fs::create_dir(&into).expect("mkdir");

    // SRC... DIR: each to DIR/its name, a Report for each.
    let out = zcopy(&["copy", s(&a), s(&b), s(&into)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(into.join("a")).expect("a") == bytes_a);
    assert!(std::fs::read(into.join("b")).expect("b") == bytes_b);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{} -> {}\nbytes          300001\n",
            s(&a),
            s(&into.join("a"))
        )) && text.contains(&format!(
            "{} -> {}\nbytes          5000\n",
            s(&b),
            s(&into.join("b"))
        )),
        "{text}"
    );

    // -t DIR SRC...: the same, and --json gives an array naming each copy.
    let t = dir.path().join("t");
    std::fs::create_dir(&t).expect("mkdir");
    let out = zcopy(&["copy", "-t", s(&t), s(&a), s(&b), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let list = v.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["src"], s(&a));
    assert_eq!(list[0]["dst"], s(&t.join("a")));
    assert_eq!(list[0]["bytes"], 300_001);
    assert_eq!(list[1]["dst"], s(&t.join("b")));
    assert!(std::fs::read(t.join("a")).expect("a") == bytes_a);
    assert!(std::fs::read(t.join("b")).expect("b") == bytes_b);
    let out = zcopy(&["copy", "--target-directory", s(&t), s(&b), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // SRC DIR with DIR an existing directory: into it.
    let one = dir.path().join("one");
    std::fs::create_dir(&one).expect("mkdir");
    let out = zcopy(&["copy", s(&a), s(&one), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(one.join("a")).expect("a") == bytes_a);

    // -T: DST is the file itself, a directory refuses.
    let out = zcopy(&["copy", "-T", s(&a), s(&one)]);
    fails_with(
        &out,
        1,
        &format!("zcopy: error: cannot open dst {}: Is a directory", s(&one)),
    );

    // Several sources and a DST that is not a directory: cp's refusal, nothing copied.
    let out = zcopy(&["copy", s(&a), s(&b), s(&dir.path().join("nodir"))]);
    fails_with(
        &out,
        1,
        &format!(
            "zcopy: error: target {} is not a directory",
            s(&dir.path().join("nodir"))
        ),
    );
    assert!(!dir.path().join("nodir").exists());
    let out = zcopy(&["copy", "-t", s(&a), s(&b)]);
    fails_with(
        &out,
        1,
        &format!("zcopy: error: target directory {}: Not a directory", s(&a)),
    );

    // One missing source among others: the others are copied, one line for it, status 1.
    let again = dir.path().join("again");
    std::fs::create_dir(&again).expect("mkdir");
    let missing = dir.path().join("missing");
    let out = zcopy(&["copy", s(&a), s(&missing), s(&b), s(&again), "-q"]);
    fails_with(
        &out,
        1,
        &format!(
            "zcopy: error: cannot open src {}: No such file or directory",
            s(&missing)
        ),
    );
    assert!(std::fs::read(again.join("a")).expect("a") == bytes_a);
    assert!(std::fs::read(again.join("b")).expect("b") == bytes_b);

    // A missing DST operand is a usage error.
    let out = zcopy(&["copy", s(&a)]);
    fails_with(
        &out,
        2,
        &format!(
            "zcopy: error: missing destination file operand after {}; see 'zcopy copy --help'",
            s(&a)
        ),
    );
}

#[test]
fn quiet_prints_no_report_and_progress_draws_only_on_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    let bytes = data(8 << 20);
    std::fs::write(&src, &bytes).expect("write");
    let out = zcopy(&["copy", s(&src), s(&dst), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert!(std::fs::read(&dst).expect("read") == bytes);
    let out = zcopy(&["copy", s(&src), s(&dst), "--quiet", "--json"]);
    assert!(out.status.success() && out.stdout.is_empty());
    // stderr is a pipe here: --progress draws nothing.
    let out = zcopy(&["copy", s(&src), s(&dst), "--progress"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert!(stdout(&out).contains("bytes          8388608"));
    assert!(std::fs::read(&dst).expect("read") == bytes);

    // stderr a terminal (a pseudo-terminal of 100 columns): the bar is drawn there.
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes the two fds; the name and termios are not asked for.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    use std::os::fd::FromRawFd;
    // SAFETY: openpty just opened both fds; each is owned once, here.
    let (mut master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["copy", s(&src), s(&dst), "--progress", "-q"])
        .env("TERM", "xterm")
        .stdout(Stdio::null())
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("run zcopy");
    let status = child.wait().expect("wait");
    drop(child);
    let mut drawn = Vec::new();
    // Once the child is gone and our slave end closed (moved into the child's Stdio), the
    // master reads what was written, then EIO.
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drawn.extend_from_slice(&buf[..n]),
        }
    }
    let drawn = String::from_utf8_lossy(&drawn);
    assert!(status.success(), "{drawn}");
    assert!(
        drawn.contains("8.00 MiB/8.00 MiB") && drawn.contains("100%"),
        "the bar: {drawn:?}"
    );
    assert!(std::fs::read(&dst).expect("read") == bytes);
}

#[test]
fn errors_are_one_line_naming_the_paths_and_filesystems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::write(&src, data(2 << 20)).expect("write");
    let missing = dir.path().join("missing");
    let out = zcopy(&["copy", s(&missing), s(&dir.path().join("dst"))]);
    fails_with(
        &out,
        1,
        &format!(
            "zcopy: error: cannot open src {}: No such file or directory",
            s(&missing)
        ),
    );

    // stdout's reader gone: the error names standard output, not fd 1.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["copy", s(&src), "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("zcopy: error: ")
            && err.contains(&format!(
                "from src {} to dst standard output: Broken pipe",
                s(&src)
            ))
            && !err.contains(" fd "),
        "{err}"
    );

    // A filesystem is named by name, never by magic number.
    let out = zcopy(&["probe", s(&src), s(&dir.path().join("new"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("statfs type") && !text.contains("0x"),
        "{text}"
    );
    let fstype = Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "--target", s(dir.path())])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|t| !t.is_empty());
    let reflink = text
        .lines()
        .find(|l| l.get(2..).is_some_and(|l| l.starts_with("reflink ")))
        .expect("a reflink line");
    match fstype {
        Some(t) if !["xfs", "btrfs", "bcachefs", "ocfs2"].contains(&t.as_str()) => assert!(
            reflink.contains(&format!("the filesystem ({t}) cannot share extents")),
            "{reflink}"
        ),
        other => eprintln!("SKIP the filesystem's name in reflink's verdict: {other:?}"),
    }

    // The top-level usage errors are one line and status 2 too.
    let out = zcopy(&[]);
    fails_with(
        &out,
        2,
        "zcopy: error: a command is needed: copy, fincore, evict, warm, bench, serve, probe; see 'zcopy --help'",
    );
    let out = zcopy(&["copy", s(&src), "x", "--bogus"]);
    fails_with(
        &out,
        2,
        "zcopy: error: unexpected argument '--bogus' found; tip: to pass '--bogus' as a value, use '-- --bogus'; see 'zcopy copy --help'",
    );
}

#[test]
fn json_errors_are_json_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let out = zcopy(&["copy", s(&missing), s(&dir.path().join("dst")), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(
        v,
        serde_json::json!({
            "error": format!("cannot open src {}: No such file or directory", s(&missing)),
            "kind": "io",
            "errno": libc::ENOENT,
            "path": s(&missing),
            "bytes_moved": 0,
        })
    );
    // A usage error with --json: kind usage, status 2.
    let out = zcopy(&["copy", "a", "b", "--json", "--strategy", "warp"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["kind"], "usage");
    assert_eq!(v["errno"], serde_json::Value::Null);
    assert!(
        v["error"]
            .as_str()
            .expect("text")
            .starts_with("invalid value 'warp' for '--strategy <STRATEGY>'"),
        "{v}"
    );
    let out = zcopy(&["fincore", "-bJ", "--output", "RES,NOPE", "f"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["kind"], "usage");
    // An engine refusal: kind invalid, with the engine's errno.
    let src = dir.path().join("src");
    std::fs::write(&src, b"abc").expect("write");
    let out = zcopy(&["copy", s(&src), s(&src), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["kind"], "invalid");
    assert_eq!(v["errno"], libc::EINVAL);
    assert!(v["error"]
        .as_str()
        .expect("text")
        .contains("are the same file"));
    // fincore and probe too, one object per failing path.
    let out = zcopy(&["fincore", "--json", s(&missing), s(&src)]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["path"], s(&missing));
    assert_eq!(v["errno"], libc::ENOENT);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the rows");
    assert_eq!(rows["fincore"][0]["file"], s(&src));
    let out = zcopy(&["probe", "--json", s(&missing), s(&src)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(v["path"], s(&missing));
    // An engine refusal about one end names that end's path.
    let out = zcopy(&["probe", "--json", s(dir.path()), s(&src)]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("a JSON error");
    assert_eq!(
        v,
        serde_json::json!({
            "error": format!("src {} is a directory", s(dir.path())),
            "kind": "io",
            "errno": libc::EISDIR,
            "path": s(dir.path()),
            "bytes_moved": 0,
        })
    );
}

#[test]
fn probe_marks_the_technique_auto_picks_first_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::write(&src, data(300_000)).expect("write");
    // To /dev/null: sendfile, by the rule for a file → a character device.
    let out = zcopy(&["probe", s(&src), "/dev/null"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with("* ")).collect();
    assert_eq!(
        marked,
        [
            "* sendfile         yes",
            "* Auto picks sendfile first (its order: sendfile, splice, read_write): a regular file → a character device: sendfile moves the pages in the kernel, one syscall per chunk, with the least CPU for the sender"
        ],
        "{text}"
    );
    // JSON: the verdicts and Auto's choice.
    let out = zcopy(&["probe", s(&src), "/dev/null", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["auto"]["first"], "sendfile");
    assert_eq!(
        v["auto"]["order"],
        serde_json::json!(["sendfile", "splice", "read_write"])
    );
    assert!(v["auto"]["why"]
        .as_str()
        .expect("why")
        .contains("sendfile moves"));
    // The copy's size counts: a 4 KiB copy goes by read_write first where no clone is possible.
    let out = zcopy(&[
        "probe",
        s(&src),
        s(&dir.path().join("new")),
        "--len",
        "4k",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let why = v["auto"]["why"].as_str().expect("why");
    if v["auto"]["first"] == "read_write" {
        assert!(
            why.starts_with("file → file of 4096 bytes (at most 8 KiB)"),
            "{why}"
        );
    } else {
        assert_eq!(
            v["auto"]["first"], "copy_file_range",
            "a cloning filesystem: {v}"
        );
    }
    // And the direct threshold.
    let out = zcopy(&[
        "probe",
        s(&src),
        s(&dir.path().join("new")),
        "--direct-threshold",
        "1k",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["auto"]["order"][0], "io_uring", "{v}");
    assert!(
        v["auto"]["why"]
            .as_str()
            .expect("why")
            .starts_with("300000 bytes to move reach direct_threshold (1024)"),
        "{v}"
    );
    // Whatever is picked is marked in the table, once.
    let out = zcopy(&["probe", s(&src), s(&dir.path().join("new"))]);
    let text = stdout(&out);
    let v: serde_json::Value = serde_json::from_slice(
        &zcopy(&["probe", s(&src), s(&dir.path().join("new")), "--json"]).stdout,
    )
    .expect("json");
    let first = v["auto"]["first"].as_str().expect("a first pick");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("* ") && l.ends_with(" yes"))
            .collect::<Vec<_>>(),
        [format!("* {first:<16} yes")],
        "{text}"
    );
}
