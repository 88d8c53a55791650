//! `zcopy serve`, run as a process and fetched from with curl: exact bytes, a range, HEAD,
//! keep-alive reuse across two URLs, a 404, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
