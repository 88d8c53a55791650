//! `zcopy serve`, run as a process and fetched from with curl: exact bytes, a range, HEAD,
//! keep-alive reuse across two URLs, a 404, and a clean stop on SIGTERM; EADDRINUSE for a
//! second process, the timeouts and the connection limit; nginx's answers (301 for a
//! directory, 403 without index.html, Date/Last-Modified/ETag, 304 for `If-None-Match` and
//! `curl -z`, If-Range) and its combined access log (`--access-log PATH|-|off`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process; killed (and reaped) on drop, so no test leaves one behind.
struct Serve {
    child: Child,
    port: u16,
    /// Its standard output after the first line (kept open: `--access-log -` writes there).
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Serve {
    serve_in(dir, extra, dir)
}

/// [`serve`] with `cwd` as the server's working directory.
fn serve_in(dir: &Path, extra: &[&str], cwd: &Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .arg("serve")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(extra)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn zcopy serve");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("first line");
    // "listening on http://127.0.0.1:PORT (...)"
    let port = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Serve {
        child,
        port,
        stdout,
    }
}

/// Stops the server with SIGTERM and waits for it (it writes its access log's last lines
/// first); what it printed after its first line.
fn stop(mut s: Serve) -> String {
    // SAFETY: kill touches no memory; the pid is our child's, not yet reaped.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "zcopy serve exited with {status}");
    let mut rest = String::new();
    s.stdout.read_to_string(&mut rest).expect("stdout");
    rest
}

fn have_curl() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: curl is not installed (apt-get install curl)");
    }
    ok
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn fetch_with_curl(extra: &[&str]) {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let big = data(3 * (1 << 20) + 777);
    let small = data(4096);
    std::fs::write(dir.path().join("big.bin"), &big).expect("write");
    std::fs::write(dir.path().join("small.bin"), &small).expect("write");
    let s = serve(dir.path(), extra);
    let base = format!("http://127.0.0.1:{}", s.port);
    let out = tempfile::tempdir().expect("tempdir");
    let o = |n: &str| out.path().join(n).to_str().expect("utf-8").to_string();

    // Byte-exact bodies.
    curl(&["-o", &o("big"), &format!("{base}/big.bin")]);
    assert!(
        std::fs::read(o("big")).expect("read") == big,
        "big body differs"
    );
    // A range.
    curl(&[
        "-r",
        "100-199",
        "-o",
        &o("range"),
        &format!("{base}/big.bin"),
    ]);
    assert_eq!(std::fs::read(o("range")).expect("read"), &big[100..200]);
    // HEAD: the headers, no body.
    let head = curl(&["-I", &format!("{base}/big.bin")]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", big.len())),
        "{head}"
    );
    // Two URLs in one curl command reuse one connection (keep-alive).
    let w = curl(&[
        "-w",
        "%{num_connects} ",
        "-o",
        &o("a"),
        &format!("{base}/small.bin"),
        "-o",
        &o("b"),
        &format!("{base}/big.bin"),
    ]);
    assert_eq!(w.trim(), "1 0", "connections per URL");
    assert_eq!(std::fs::read(o("a")).expect("read"), small);
    assert!(std::fs::read(o("b")).expect("read") == big);
    // A missing file is a 404.
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/missing"),
    ]);
    assert_eq!(code, "404");
}

#[test]
fn serve_answers_curl() {
    fetch_with_curl(&[]);
}

#[test]
fn serve_answers_curl_with_directio() {
    fetch_with_curl(&["--directio", "1m"]);
}

#[test]
fn serve_answers_curl_with_each_model() {
    for m in ["threads", "poll", "uring"] {
        fetch_with_curl(&["--model", m, "--directio", "64k"]);
    }
}

#[test]
fn serve_stops_on_sigterm_and_refuses_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = serve(dir.path(), &[]);
    // SAFETY: kill touches no memory; the pid is our child's, not yet reaped.
    assert_eq!(unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) }, 0);
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "zcopy serve exited with {status}");
    for (args, want) in [
        (vec!["--directio", "lots"], "--directio"),
        (vec!["--model", "select"], "epoll"),
        (vec!["--listen", "nowhere"], "--listen"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .arg("serve")
            .arg(dir.path())
            .args(&args)
            .output()
            .expect("run");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["serve", "/nonexistent/dir", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir"));
}

/// Issue 14, case 8: with SO_REUSEPORT a second `zcopy serve` on a served address started and
/// took half the connections. Now a second process, in every model, fails with a one-line
/// error naming the address, and the first one serves every request.
#[test]
fn a_second_serve_process_on_a_served_address_fails_with_eaddrinuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f"), data(5000)).expect("write");
    for first in MODELS {
        let s = serve(dir.path(), &["--model", first]);
        let addr = format!("127.0.0.1:{}", s.port);
        for second in MODELS {
            let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
                .args(["serve", "--listen", &addr, "--model", second])
                .arg(dir.path())
                .output()
                .expect("run");
            assert!(!out.status.success(), "{first} then {second} started");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(
                err.contains(&addr) && err.contains("in use"),
                "{first} then {second}: {err}"
            );
        }
        for _ in 0..4 {
            assert_eq!(get(s.port, "/f"), data(5000), "{first}");
        }
    }
}

const MODELS: [&str; 4] = ["threads", "poll", "epoll", "uring"];

/// One GET on a fresh connection (closed by the request); the body.
fn get(port: u16, path: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut got = Vec::new();
    c.read_to_end(&mut got).expect("read");
    let at = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    got.split_off(at + 4)
}

/// Seconds until the server closes `c` (end of file or reset), writing a byte every 100 ms
/// when `trickle`. A read the kernel interrupts (EINTR: a socket with a receive timeout is not
/// restarted after a stop and continue of this process) is tried again, not taken for a close;
/// any other error fails the test with its kind.
fn until_closed(c: &mut TcpStream, trickle: bool) -> Duration {
    let t0 = Instant::now();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while t0.elapsed() < Duration::from_secs(20) {
        match c.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(n) => panic!("unexpected {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t0.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read after {:?}: {e} ({:?})", t0.elapsed(), e.kind()),
        }
        if trickle && c.write_all(b"x").is_err() {
            return t0.elapsed(); // the server has closed
        }
    }
    panic!("the server kept the connection for 20 s");
}

/// --header-timeout 1 closes a client trickling its head, --keepalive-timeout 1 an idle
/// kept-alive connection, and with --max-connections 2000 a new client is served beside 1,000
/// idle connections; in every model. Bad values are refused with the flag named.
#[test]
fn serve_timeouts_and_max_connections_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f"), data(5000)).expect("write");
    let flags = [
        "--header-timeout",
        "1",
        "--keepalive-timeout",
        "1",
        "--max-connections",
        "2000",
    ];
    for model in MODELS {
        let s = serve(dir.path(), &[&["--model", model][..], &flags].concat());
        let mut slow = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        slow.write_all(b"GET /f HTTP/1.1\r\nX-Slow: ")
            .expect("send");
        let took = until_closed(&mut slow, true);
        assert!(
            took >= Duration::from_millis(900),
            "{model}: closed after {took:?}"
        );
        let mut idle = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        idle.write_all(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut resp = vec![0u8; 5000];
        let mut r = BufReader::new(idle.try_clone().expect("clone"));
        let mut line = String::new();
        while line != "\r\n" {
            line.clear();
            r.read_line(&mut line).expect("head");
        }
        r.read_exact(&mut resp).expect("body");
        assert_eq!(resp, data(5000), "{model}");
        let took = until_closed(&mut idle, false);
        assert!(took >= Duration::from_millis(900), "{model}: {took:?}");
        let many: Vec<_> = (0..1000)
            .map(|_| TcpStream::connect(("127.0.0.1", s.port)).expect("connect"))
            .collect();
        assert_eq!(get(s.port, "/f"), data(5000), "{model} beside 1,000 idle");
        drop(many);
    }
    for (args, want) in [
        (["--header-timeout", "0"], "--header-timeout"),
        (["--keepalive-timeout", "soon"], "--keepalive-timeout"),
        (["--max-connections", "0"], "max_connections"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg(dir.path())
            .output()
            .expect("run");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// `curl -w FORMAT` with `-o /dev/null` and `args`: what the format printed.
fn curl_w(format: &str, args: &[&str]) -> String {
    let mut all = vec!["-o", "/dev/null", "-w", format];
    all.extend_from_slice(args);
    curl(&all)
}

/// The value of header `name` in curl's `-I`/`-i` output.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// 784111777: Sun, 06 Nov 1994 08:49:37 GMT.
const MTIME: u64 = 784_111_777;

/// nginx's answers, asked with curl, in every model: the redirect of a directory, 403 without
/// an index, the validators, 304 for `If-None-Match` and `curl -z`, If-Range; then the access
/// log's lines, field by field.
#[test]
fn serve_answers_curl_as_nginx_does_and_logs_each_response() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let body = data(10_000);
    let f = dir.path().join("f.bin");
    std::fs::write(&f, &body).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .expect("open")
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(MTIME))
        .expect("mtime");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/index.html"), b"<p>sub</p>").expect("write");
    std::fs::create_dir(dir.path().join("bare")).expect("mkdir");
    let etag = format!("\"{MTIME:x}-{:x}\"", body.len());
    let logs = tempfile::tempdir().expect("tempdir");
    for model in MODELS {
        let log = logs.path().join(format!("{model}.log"));
        let log_arg = log.to_str().expect("utf-8");
        let s = serve(dir.path(), &["--model", model, "--access-log", log_arg]);
        let base = format!("http://127.0.0.1:{}", s.port);
        let url = |p: &str| format!("{base}{p}");
        // A directory without its slash: 301 to it, the query kept; curl -L follows.
        let head = curl(&["-sI", &url("/sub?a=1")]);
        assert!(head.starts_with("HTTP/1.1 301"), "{model}: {head}");
        assert_eq!(header(&head, "location"), Some("/sub/?a=1"), "{model}");
        assert_eq!(curl(&["-L", &url("/sub")]), "<p>sub</p>", "{model}");
        assert_eq!(curl_w("%{http_code}", &[&url("/bare/")]), "403", "{model}");
        // The validators, from the file's stat.
        let head = curl(&["-I", &url("/f.bin")]);
        assert_eq!(
            header(&head, "etag"),
            Some(etag.as_str()),
            "{model}: {head}"
        );
        assert_eq!(
            header(&head, "last-modified"),
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            "{model}"
        );
        assert!(
            header(&head, "date").is_some_and(|d| d.ends_with(" GMT") && d.len() == 29),
            "{model}: {head}"
        );
        // If-None-Match: 304; another tag: 200.
        let inm = format!("If-None-Match: {etag}");
        assert_eq!(curl_w("%{http_code}", &["-H", &inm, &url("/f.bin")]), "304");
        let other = "If-None-Match: \"1-2\"";
        assert_eq!(
            curl_w("%{http_code}", &["-H", other, &url("/f.bin")]),
            "200"
        );
        // curl -z DATE sends If-Modified-Since: older → 200, equal or newer → 304; -z FILE
        // takes the file's mtime.
        for (date, want) in [
            ("Sun, 06 Nov 1994 08:49:36 GMT", "200"),
            ("Sun, 06 Nov 1994 08:49:37 GMT", "304"),
            ("Sun, 06 Nov 1994 08:49:38 GMT", "304"),
        ] {
            let got = curl_w("%{http_code}", &["-z", date, &url("/f.bin")]);
            assert_eq!(got, want, "{model} -z {date}");
        }
        let fpath = f.to_str().expect("utf-8");
        assert_eq!(
            curl_w("%{http_code}", &["-z", fpath, &url("/f.bin")]),
            "304"
        );
        // If-Range: the range with the matching tag, the whole file with another.
        let out = tempfile::NamedTempFile::new().expect("tmp");
        let o = out.path().to_str().expect("utf-8");
        let ir = format!("If-Range: {etag}");
        let code = curl(&[
            "-r",
            "0-9",
            "-H",
            &ir,
            "-o",
            o,
            "-w",
            "%{http_code}",
            &url("/f.bin"),
        ]);
        assert_eq!(code, "206", "{model}");
        assert_eq!(std::fs::read(o).expect("read"), &body[..10]);
        let code = curl(&[
            "-r",
            "0-9",
            "-H",
            "If-Range: \"1-2\"",
            "-o",
            o,
            "-w",
            "%{http_code}",
            &url("/f.bin"),
        ]);
        assert_eq!(code, "200", "{model}");
        assert_eq!(std::fs::read(o).expect("read"), body);
        let code = curl(&[
            "-A",
            "tester/2 \"x\"",
            "-e",
            "http://ref.test/",
            "-o",
            o,
            "-w",
            "%{http_code}",
            &url("/f.bin?last"),
        ]);
        assert_eq!(code, "200");
        let printed = stop(s);
        assert_eq!(printed, "", "{model}: with a log file, nothing on stdout");
        // The log, nginx's combined format, field by field.
        let text = std::fs::read_to_string(&log).expect("the access log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 14, "{model}: one line per response:\n{text}");
        let fields = |l: &str| -> (String, String, u16, u64, String, String) {
            // 127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 5 "ref" "agent"
            let (addr, rest) = l.split_once(" - - [").expect("addr");
            let (time, rest) = rest.split_once("] \"").expect("time");
            assert_eq!(time.len(), 26, "$time_local {time:?}");
            let (req, rest) = rest.split_once("\" ").expect("request");
            let mut it = rest.splitn(3, ' ');
            let status = it.next().and_then(|v| v.parse().ok()).expect("status");
            let bytes = it.next().and_then(|v| v.parse().ok()).expect("bytes");
            let q = it.next().expect("quoted");
            let (referer, agent) = q
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .and_then(|q| q.split_once("\" \""))
                .expect("referer and agent");
            (
                addr.into(),
                req.into(),
                status,
                bytes,
                referer.into(),
                agent.into(),
            )
        };
        let all: Vec<_> = lines.iter().map(|l| fields(l)).collect();
        // Two workers, each writing its own buffer: the lines of one request each, in any
        // order between the workers.
        let mut statuses: Vec<u16> = all.iter().map(|f| f.2).collect();
        statuses.sort_unstable();
        let mut want = [
            301, 301, 200, 403, 200, 304, 200, 200, 304, 304, 304, 206, 200, 200,
        ];
        want.sort_unstable();
        assert_eq!(statuses, want, "{model}:\n{text}");
        let find = |req: &str| {
            all.iter()
                .find(|f| f.1 == req)
                .unwrap_or_else(|| panic!("{model}: no {req:?} in\n{text}"))
        };
        let l = find("HEAD /sub?a=1 HTTP/1.1");
        assert_eq!((l.2, l.3), (301, 0));
        assert!(l.5.starts_with("curl/"), "{model}: {l:?}");
        assert_eq!((l.4.as_str()), "-");
        assert_eq!(
            find("GET /sub/ HTTP/1.1").3,
            10,
            "{model}: the index's bytes"
        );
        assert_eq!(find("GET /bare/ HTTP/1.1").2, 403);
        let l = find("GET /f.bin?last HTTP/1.1");
        assert_eq!((l.2, l.3), (200, body.len() as u64));
        assert_eq!(l.4, "http://ref.test/");
        assert_eq!(l.5, "tester/2 \\x22x\\x22");
        let range = all.iter().find(|f| f.2 == 206).expect("206");
        assert_eq!(range.3, 10, "{model}: the range's bytes");
        assert!(all.iter().filter(|f| f.2 == 304).all(|f| f.3 == 0));
        assert!(all.iter().all(|f| f.0 == "127.0.0.1"));
    }
}

/// `--access-log -` writes the lines to standard output; `--access-log off` (the default)
/// writes nothing anywhere (no file named `off` either).
#[test]
fn serve_access_log_to_stdout_or_off() {
    if !have_curl() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f"), data(777)).expect("write");
    let cwd = tempfile::tempdir().expect("tempdir");
    for model in MODELS {
        let s = serve_in(
            dir.path(),
            &["--model", model, "--access-log", "-"],
            cwd.path(),
        );
        let url = format!("http://127.0.0.1:{}/f", s.port);
        curl(&["-o", "/dev/null", "-A", "to-stdout", &url]);
        let printed = stop(s);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 1, "{model}: {printed:?}");
        assert!(
            lines[0].starts_with("127.0.0.1 - - [")
                && lines[0].ends_with("] \"GET /f HTTP/1.1\" 200 777 \"-\" \"to-stdout\""),
            "{model}: {printed:?}"
        );
        for extra in [&["--access-log", "off"][..], &[]] {
            let s = serve_in(
                dir.path(),
                &[&["--model", model][..], extra].concat(),
                cwd.path(),
            );
            let url = format!("http://127.0.0.1:{}/f", s.port);
            curl(&["-o", "/dev/null", &url]);
            assert_eq!(stop(s), "", "{model} {extra:?}: nothing on stdout");
        }
        let left: Vec<_> = std::fs::read_dir(cwd.path()).expect("ls").collect();
        assert!(left.is_empty(), "{model}: files made: {left:?}");
    }
    // A log that cannot be opened is refused at start, naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            "/nonexistent/dir/log",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/log"), "{err}");
}
