//! `zcopy serve`, run as a process and fetched from with curl: exact bytes, a range, HEAD,
//! keep-alive reuse across two URLs, a 404, and a clean stop on SIGTERM; EADDRINUSE for a
//! second process, the timeouts and the connection limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process; killed (and reaped) on drop, so no test leaves one behind.
struct Serve {
    child: Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .arg("serve")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn zcopy serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    // "listening on http://127.0.0.1:PORT (...)"
    let port = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Serve { child, port }
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
