//! `zcopy_serve`: a real server on loopback, a std TcpStream client, exact bytes compared, for
//! every I/O model.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zcopy_serve::{AccessLog, IoModel, ServeOptions, Server, ShutdownHandle};

use crate::common;

/// A running server over a temp dir of fixtures; stopped (and joined) on drop.
struct Running {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<zcopy::Result<()>>>,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread").expect("server run");
        }
    }
}

const SIZES: [(&str, usize); 5] = [
    ("zero", 0),
    ("one", 1),
    ("four_k", 4096),
    ("mib_odd", (1 << 20) + 4099),
    ("big", 3 * (1 << 20) + 1234),
];

fn fixture_bytes(name: &str) -> Vec<u8> {
    let (i, &(_, n)) = SIZES
        .iter()
        .enumerate()
        .find(|(_, (s, _))| *s == name)
        .expect("fixture");
    common::data(n, i as u64 + 1)
}

fn start(model: IoModel, directio: Option<u64>) -> Running {
    start_with(model, |o| o.directio = directio)
}

/// A server of `model` over the fixtures, with 2 workers and the options `set` changes.
fn start_with(model: IoModel, set: impl FnOnce(&mut ServeOptions)) -> Running {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("tempdir");
    for (name, _) in SIZES {
        std::fs::write(dir.path().join(name), fixture_bytes(name)).expect("write fixture");
    }
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/index.html"), b"<p>index</p>\n").expect("index");
    std::fs::create_dir(dir.path().join("noindex")).expect("mkdir");
    let mut opts = ServeOptions::new(dir.path());
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    opts.workers = 2;
    opts.model = model;
    set(&mut opts);
    let server = Server::bind(&opts).expect("bind");
    let addr = server.local_addr();
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run());
    Running {
        addr,
        handle,
        thread: Some(thread),
        dir,
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response from `r`; `head` says it has no body (a HEAD request).
fn read_response(r: &mut impl BufRead, head: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("header");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("header colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    // A 304 has no body, whatever the method (RFC 9110 §6.4.1).
    if !head && status != 304 {
        let len: usize = resp
            .header("content-length")
            .expect("content-length")
            .parse()
            .expect("length");
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).expect("body");
    }
    resp
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(addr).expect("connect"))
}

/// Sends `raw` on a new connection and reads one response.
fn request(addr: SocketAddr, raw: &str) -> Response {
    let mut c = connect(addr);
    c.get_mut().write_all(raw.as_bytes()).expect("send");
    read_response(&mut c, raw.starts_with("HEAD "))
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"),
    )
}

fn bodies_are_exact(model: IoModel, directio: Option<u64>) {
    let s = start(model, directio);
    for (name, n) in SIZES {
        let r = get(s.addr, &format!("/{name}"), "");
        assert_eq!(r.status, 200, "{model} {name}");
        assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
        assert!(
            r.body == fixture_bytes(name),
            "{model} {name}: body differs"
        );
    }
}

fn ranges(model: IoModel, directio: Option<u64>) {
    let s = start(model, directio);
    let big = fixture_bytes("mib_odd");
    let size = big.len();
    let cases: [(String, usize, usize); 5] = [
        ("bytes=100-199".into(), 100, 200),
        ("bytes=4097-".into(), 4097, size),
        ("bytes=-100".into(), size - 100, size),
        (format!("bytes=1000-{}", size + 5000), 1000, size), // clipped at the end
        ("bytes=513-1048575".into(), 513, 1_048_576),        // unaligned edges
    ];
    for (spec, a, b) in cases {
        let r = get(s.addr, "/mib_odd", &format!("Range: {spec}\r\n"));
        assert_eq!(r.status, 206, "{model} {spec}");
        let want_cr = format!("bytes {a}-{}/{size}", b - 1);
        assert_eq!(r.header("content-range"), Some(want_cr.as_str()), "{spec}");
        assert!(r.body == big[a..b], "{model} {spec}: body differs");
    }
    for spec in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 1, size + 9),
        "bytes=-0".into(),
    ] {
        let r = get(s.addr, "/mib_odd", &format!("Range: {spec}\r\n"));
        assert_eq!(r.status, 416, "{model} {spec}");
        let want = format!("bytes */{size}");
        assert_eq!(r.header("content-range"), Some(want.as_str()));
    }
    // An empty file has no satisfiable range.
    assert_eq!(get(s.addr, "/zero", "Range: bytes=0-\r\n").status, 416);
    // Several ranges, or another unit: ignored, the whole file is sent.
    let r = get(s.addr, "/four_k", "Range: bytes=0-1,5-6\r\n");
    assert_eq!((r.status, r.body.len()), (200, 4096));
}

fn keep_alive_and_pipelining(model: IoModel) {
    let s = start(model, None);
    let mut c = connect(s.addr);
    for name in ["four_k", "one", "zero", "mib_odd", "four_k"] {
        write!(c.get_mut(), "GET /{name} HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
        let r = read_response(&mut c, false);
        assert_eq!(r.status, 200);
        assert!(r.body == fixture_bytes(name), "{model} keep-alive {name}");
    }
    // Pipelined: five requests in one write, including a HEAD, a 404 and a range.
    let pipelined = "GET /one HTTP/1.1\r\nHost: t\r\n\r\nHEAD /four_k HTTP/1.1\r\n\r\nGET /missing HTTP/1.1\r\n\r\nGET /four_k HTTP/1.1\r\nRange: bytes=10-19\r\n\r\nGET /mib_odd HTTP/1.1\r\nConnection: close\r\n\r\n";
    c.get_mut().write_all(pipelined.as_bytes()).expect("send");
    let r = read_response(&mut c, false);
    assert!(r.status == 200 && r.body == fixture_bytes("one"));
    let r = read_response(&mut c, true);
    assert_eq!((r.status, r.header("content-length")), (200, Some("4096")));
    assert_eq!(read_response(&mut c, false).status, 404);
    let r = read_response(&mut c, false);
    assert!(r.status == 206 && r.body == fixture_bytes("four_k")[10..20]);
    let r = read_response(&mut c, false);
    assert!(r.status == 200 && r.body == fixture_bytes("mib_odd"));
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest)
        .expect("end of stream after Connection: close");
    assert!(rest.is_empty());
    // A client that shuts down its sending side after its request gets the response, then the
    // server's end of stream (no readiness edge is left to wait for).
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"GET /one HTTP/1.1\r\n\r\nGET /four_k HTTP/1.1\r\n\r\n")
        .expect("send");
    c.get_mut()
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    assert!(read_response(&mut c, false).body == fixture_bytes("one"));
    assert!(read_response(&mut c, false).body == fixture_bytes("four_k"));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("end of stream");
    assert!(rest.is_empty());
    // HTTP/1.0 closes unless asked to keep alive.
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /one HTTP/1.0\r\n\r\n")
        .expect("send");
    let r = read_response(&mut c, false);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = read_response(&mut c, false);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("closed");
    assert!(rest.is_empty());
}

fn refusals(model: IoModel) {
    let s = start(model, None);
    let r = request(s.addr, "HEAD /mib_odd HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(((1 << 20) + 4099).to_string().as_str())
    );
    assert_eq!(get(s.addr, "/nope", "").status, 404);
    // As nginx: a directory without index.html is 403 (no listing), with one its index is
    // served, and named without its slash it is redirected to the name with it.
    assert_eq!(get(s.addr, "/noindex/", "").status, 403);
    let r = get(s.addr, "/sub/", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>index</p>\n"[..]));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = get(s.addr, "/sub", "");
    assert_eq!((r.status, r.header("location")), (301, Some("/sub/")));
    // A file named with a trailing slash is not there.
    assert_eq!(get(s.addr, "/one/", "").status, 404);
    // Nothing above the directory, however spelled.
    for t in [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/sub/../../etc/passwd",
        "/%2E%2E%2Fetc%2Fpasswd",
        "/a%00b",
    ] {
        let r = get(s.addr, t, "");
        assert!(
            r.status == 400 || r.status == 404,
            "{model} {t}: {}",
            r.status
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("root:"), "{t}");
    }
    // A symlink out of the directory is not followed out of it.
    std::os::unix::fs::symlink("/etc/passwd", s.dir.path().join("escape")).expect("symlink");
    assert_eq!(get(s.addr, "/escape", "").status, 404);
    // `..` that stays inside is fine.
    assert_eq!(get(s.addr, "/sub/../one", "").status, 200);
    assert_eq!(request(s.addr, "garbage\r\n\r\n").status, 400);
    assert_eq!(
        request(s.addr, "GET /one HTTP/1.1 extra\r\n\r\n").status,
        400
    );
    assert_eq!(request(s.addr, "GET one HTTP/1.1\r\n\r\n").status, 400);
    assert_eq!(
        request(s.addr, "GET /one HTTP/1.1\r\nno colon\r\n\r\n").status,
        400
    );
    assert_eq!(request(s.addr, "GET /one HTTP/2.0\r\n\r\n").status, 505);
    let r = request(s.addr, "POST /one HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    let long = "a".repeat(9000);
    assert_eq!(
        request(s.addr, &format!("GET /{long} HTTP/1.1\r\n\r\n")).status,
        414
    );
    assert_eq!(
        request(s.addr, &format!("GET /one HTTP/1.1\r\nX: {long}\r\n\r\n")).status,
        431
    );
    // A refusal while the client is still sending: the response arrives whole, and the server
    // closes lingering (its end of stream first, then reading what still comes until the
    // client closes), not with a reset that could destroy the response in flight: after the
    // end of stream the client can still send (a closed socket would answer with a reset,
    // and the second write would fail).
    let c = TcpStream::connect(s.addr).expect("connect");
    let mut w = c.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(b"GET /");
        let _ = w.write_all(&vec![b'a'; 200_000]);
    });
    let mut c = BufReader::new(c);
    let r = read_response(&mut c, false);
    assert_eq!((r.status, r.header("connection")), (414, Some("close")));
    writer.join().expect("writer");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).expect("end of stream");
    assert!(rest.is_empty());
    c.get_mut()
        .write_all(b"x")
        .expect("first write after the end of stream");
    c.get_mut()
        .write_all(b"y")
        .expect("second write: the server is still reading");
    drop(c);
    // Binary garbage never brings the server down.
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.write_all(&common::data(20_000, 9)).ok();
    drop(c);
    assert_eq!(get(s.addr, "/one", "").status, 200);
}

fn disconnect_mid_body(model: IoModel, directio: Option<u64>) {
    let s = start(model, directio);
    for _ in 0..8 {
        let mut c = TcpStream::connect(s.addr).expect("connect");
        c.write_all(b"GET /big HTTP/1.1\r\n\r\n").expect("send");
        let mut some = [0u8; 1000];
        c.read_exact(&mut some).expect("the start of the response");
        drop(c); // with most of the body unsent
    }
    let r = get(s.addr, "/big", "");
    assert!(r.status == 200 && r.body == fixture_bytes("big"), "{model}");
}

fn concurrent(model: IoModel, directio: Option<u64>) {
    let s = start(model, directio);
    let addr = s.addr;
    let clients: Vec<_> = (0..64)
        .map(|i| {
            std::thread::spawn(move || {
                let name = ["four_k", "mib_odd", "one", "big"][i % 4];
                let mut c = connect(addr);
                for _ in 0..3 {
                    write!(c.get_mut(), "GET /{name} HTTP/1.1\r\n\r\n").expect("send");
                    let r = read_response(&mut c, false);
                    assert!(r.status == 200 && r.body == fixture_bytes(name), "{name}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
}

/// Above the directio threshold the body is read with O_DIRECT: after evicting the file, a
/// download leaves none of it in the page cache.
fn direct_leaves_cache_untouched(model: IoModel) {
    let s = start(model, Some(1 << 20));
    let path = s.dir.path().join("big");
    let f = File::open(&path).expect("open");
    zcopy::cache::evict(&f, 0, None).expect("evict");
    let r = get(s.addr, "/big", "");
    assert!(
        r.status == 200 && r.body == fixture_bytes("big"),
        "{model}: direct body differs"
    );
    let r = get(s.addr, "/big", "Range: bytes=1001-2000000\r\n");
    assert!(
        r.status == 206 && r.body == fixture_bytes("big")[1001..2_000_001],
        "{model}: direct range"
    );
    let res = zcopy::cache::residency(&f, 0, None).expect("residency");
    if is_tmpfs(&path) {
        common::skip(
            "direct residency",
            "the temp dir is tmpfs (no page cache to spare)",
        );
        return;
    }
    assert_eq!(
        res.resident, 0,
        "{model}: {} pages of the direct file were cached",
        res.resident
    );
    // Below the threshold sendfile goes through the page cache (the control).
    let small = File::open(s.dir.path().join("four_k")).expect("open");
    zcopy::cache::evict(&small, 0, None).expect("evict");
    get(s.addr, "/four_k", "");
    assert!(
        zcopy::cache::residency(&small, 0, None)
            .expect("residency")
            .resident
            > 0
    );
}

fn is_tmpfs(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: an all-zero statfs is valid; statfs fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` valid for writes.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type == libc::TMPFS_MAGIC }
}

fn lenient_and_strict_parsing(model: IoModel) {
    let s = start(model, None);
    // Bare LF line endings, empty lines before the request line, a GET with a body (skipped,
    // so the pipelined request after it is read right), header names in any case.
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"\r\n\nGET /one HTTP/1.1\nhOsT: t\ncontent-LENGTH: 5\n\nhelloGET /four_k HTTP/1.1\r\nRANGE: bytes=0-9\r\n\r\n")
        .expect("send");
    let r = read_response(&mut c, false);
    assert!(r.status == 200 && r.body == fixture_bytes("one"), "{model}");
    let r = read_response(&mut c, false);
    assert!(
        r.status == 206 && r.body == fixture_bytes("four_k")[..10],
        "{model}"
    );
    // A body split over several segments is skipped too.
    c.get_mut()
        .write_all(b"GET /one HTTP/1.1\r\nContent-Length: 20000\r\n\r\n")
        .expect("send");
    c.get_mut().write_all(&vec![b'z'; 20_000]).expect("body");
    c.get_mut()
        .write_all(b"GET /one HTTP/1.1\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut c, false).status, 200);
    assert_eq!(read_response(&mut c, false).status, 200);
    // What a file server will not guess at: 400.
    for bad in [
        "GET /one HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /one HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET /one HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET /one HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET  /one HTTP/1.1\r\n\r\n",
    ] {
        let r = request(s.addr, bad);
        assert_eq!(r.status, 400, "{model} {bad:?}");
        assert_eq!(r.header("connection"), Some("close"), "{bad:?}");
    }
    // A bad escape is a 400 too (the connection goes on, as after a 404).
    assert_eq!(get(s.addr, "/one%zz", "").status, 400);
    assert_eq!(get(s.addr, "/one%2", "").status, 400);
    // A query string is not part of the path; percent-encoded names are decoded.
    std::fs::write(s.dir.path().join("a b"), b"space").expect("write");
    assert_eq!(get(s.addr, "/a%20b?x=1", "").body, b"space");
}

/// Reads from `c` until the server closes the connection (an end of file or a reset),
/// sending one more header byte every 100 ms when `trickle`; the time it took. Fails after 20 s.
/// A read the kernel interrupts (EINTR: a socket with a receive timeout is not restarted after
/// a stop and continue of this process) is tried again.
fn until_closed(c: &mut TcpStream, trickle: bool) -> Duration {
    let t0 = Instant::now();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    while t0.elapsed() < Duration::from_secs(20) {
        match c.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(n) => panic!(
                "unexpected {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return t0.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read: {e}"),
        }
        if trickle && c.write_all(b"x").is_err() {
            return t0.elapsed(); // the server has closed
        }
    }
    panic!("the server kept the connection for 20 s");
}

/// A client that sends its head one byte per 100 ms is closed after the header timeout (1 s
/// here), without a response; one that sends nothing at all, too.
fn slow_header_is_closed(model: IoModel) {
    let s = start_with(model, |o| {
        o.header_timeout = Duration::from_secs(1);
        o.keepalive_timeout = Duration::from_secs(60);
    });
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.write_all(b"GET /one HTTP/1.1\r\nX-Slow: ").expect("send");
    let took = until_closed(&mut c, true);
    assert!(
        took >= Duration::from_millis(900),
        "{model}: closed after {took:?}"
    );
    let mut idle = TcpStream::connect(s.addr).expect("connect");
    let took = until_closed(&mut idle, false);
    assert!(
        took >= Duration::from_millis(900),
        "{model}: closed after {took:?}"
    );
    // The server still serves.
    assert_eq!(get(s.addr, "/one", "").body, fixture_bytes("one"));
}

/// A kept-alive connection idle after its response is closed after the keep-alive timeout
/// (1 s here; the header timeout, 60 s, does not apply to it).
fn idle_keep_alive_is_closed(model: IoModel) {
    let s = start_with(model, |o| {
        o.header_timeout = Duration::from_secs(60);
        o.keepalive_timeout = Duration::from_secs(1);
    });
    let mut c = connect(s.addr);
    for _ in 0..2 {
        c.get_mut()
            .write_all(b"GET /four_k HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("send");
        let r = read_response(&mut c, false);
        assert_eq!(r.body, fixture_bytes("four_k"), "{model}");
    }
    let took = until_closed(c.get_mut(), false);
    assert!(
        took >= Duration::from_millis(900),
        "{model}: closed after {took:?}"
    );
}

/// A head sent in 60 segments, 5 ms apart, is served: after 16 reads into one head the server
/// reads it once per sweep (here every 250 ms) instead of once per segment, and what came
/// meanwhile is read at once. A second request on the connection is read at full speed again.
fn head_in_many_segments_is_served(model: IoModel) {
    let s = start_with(model, |o| {
        o.header_timeout = Duration::from_secs(10);
        o.keepalive_timeout = Duration::from_secs(1);
    });
    let mut c = connect(s.addr);
    c.get_mut().set_nodelay(true).expect("nodelay");
    let head = format!(
        "GET /four_k HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(40)
    );
    for piece in head.as_bytes().chunks(head.len().div_ceil(60)) {
        c.get_mut().write_all(piece).expect("send");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        read_response(&mut c, false).body,
        fixture_bytes("four_k"),
        "{model}"
    );
    c.get_mut()
        .write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    assert_eq!(
        read_response(&mut c, false).body,
        fixture_bytes("one"),
        "{model}"
    );
}

/// Raises RLIMIT_NOFILE's soft limit to `want` (or as far as the hard limit allows); whether
/// it is at least `want` now.
fn nofile_at_least(want: u64) -> bool {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return false;
    }
    if r.rlim_cur < want {
        r.rlim_cur = want.min(r.rlim_max);
        // SAFETY: `r` is a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    }
    r.rlim_cur >= want
}

/// 1,000 connections that send nothing do not keep a new client from being served.
fn thousand_idle_connections(model: IoModel) {
    // 1,000 client ends and 1,000 server ends in this process, for each model's test at once.
    if !nofile_at_least(16_384) {
        return common::skip("thousand_idle_connections", "RLIMIT_NOFILE below 16384");
    }
    let s = start_with(model, |o| o.max_connections = 2000);
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(s.addr).expect("connect"))
        .collect();
    for name in ["one", "four_k", "mib_odd"] {
        let r = get(s.addr, &format!("/{name}"), "");
        assert_eq!(r.body, fixture_bytes(name), "{model} {name}");
    }
    drop(idle);
}

/// At max_connections, a new connection waits in the backlog while those held are served,
/// and is served once one of them ends.
fn max_connections_holds_new_ones_back(model: IoModel) {
    let s = start_with(model, |o| {
        o.workers = 1;
        o.max_connections = 2;
    });
    let mut held: Vec<_> = (0..2).map(|_| connect(s.addr)).collect();
    let mut third = connect(s.addr);
    third
        .get_mut()
        .write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    // The held connections are served.
    for c in &mut held {
        c.get_mut()
            .write_all(b"GET /four_k HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("send");
        assert_eq!(
            read_response(c, false).body,
            fixture_bytes("four_k"),
            "{model}"
        );
    }
    // The third waits in the backlog...
    third
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut b = [0u8; 1];
    let e = loop {
        match third.get_mut().peek(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.expect_err("not served at the limit"),
        }
    };
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{model}: {e}");
    // ...until a held one ends.
    drop(held.pop());
    third
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    assert_eq!(
        read_response(&mut third, false).body,
        fixture_bytes("one"),
        "{model}"
    );
}

/// 784111777: Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date.
const MTIME: u64 = 784_111_777;

/// Sets `path`'s modification time to [`MTIME`] seconds after the epoch.
fn set_mtime(path: &Path) {
    let f = File::options().write(true).open(path).expect("open");
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(MTIME))
        .expect("set mtime");
}

/// Seconds since the epoch of an IMF-fixdate, as glibc's strptime and timegm read it.
fn imf_to_secs(v: &str) -> i64 {
    let c = std::ffi::CString::new(v).expect("date");
    let fmt = c"%a, %d %b %Y %H:%M:%S GMT";
    // SAFETY: an all-zero tm is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both strings are NUL-terminated and `tm` is valid for writes.
    let end = unsafe { libc::strptime(c.as_ptr(), fmt.as_ptr(), &mut tm) };
    assert!(!end.is_null(), "not an IMF-fixdate: {v:?}");
    // SAFETY: strptime returned a pointer into `c`, which lives here.
    let rest = unsafe { *end };
    assert_eq!(rest, 0, "more after the date: {v:?}");
    // SAFETY: `tm` is initialised.
    unsafe { libc::timegm(&mut tm) }
}

/// `Date`, `Last-Modified` and `ETag` (nginx's form, from the file's stat) on file responses;
/// `Date` on every response.
fn validators_are_sent(model: IoModel) {
    let s = start(model, None);
    let path = s.dir.path().join("four_k");
    set_mtime(&path);
    let meta = std::fs::metadata(&path).expect("stat");
    use std::os::unix::fs::MetadataExt;
    let etag = format!("\"{:x}-{:x}\"", meta.mtime(), meta.size());
    assert_eq!(etag, "\"2ebc98a1-1000\"");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_secs() as i64;
    for raw in [
        "GET /four_k HTTP/1.1\r\n\r\n",
        "HEAD /four_k HTTP/1.1\r\n\r\n",
        "GET /four_k HTTP/1.1\r\nRange: bytes=0-9\r\n\r\n",
    ] {
        let r = request(s.addr, raw);
        assert!(r.status == 200 || r.status == 206, "{model} {raw:?}");
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{model} {raw:?}");
        assert_eq!(
            r.header("last-modified"),
            Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            "{model}"
        );
        let date = r.header("date").expect("Date");
        assert!((imf_to_secs(date) - now).abs() <= 5, "{model}: Date {date}");
    }
    // Errors and redirects carry a Date too (no validators: no file).
    for t in ["/nope", "/sub", "/noindex/"] {
        let r = get(s.addr, t, "");
        assert!(r.header("date").is_some(), "{model} {t}");
        assert!(r.header("etag").is_none(), "{model} {t}");
    }
    // An index.html carries its own validators.
    let index = std::fs::metadata(s.dir.path().join("sub/index.html")).expect("stat");
    let r = get(s.addr, "/sub/", "");
    let want = format!("\"{:x}-{:x}\"", index.mtime(), index.size());
    assert_eq!(r.header("etag"), Some(want.as_str()), "{model}");
}

/// 301 for a directory without its slash, keeping the query, as nginx.
fn directories_as_nginx(model: IoModel) {
    let s = start(model, None);
    std::fs::create_dir(s.dir.path().join("a b")).expect("mkdir");
    for (t, want) in [
        ("/sub", "/sub/"),
        ("/sub?x=1&y=2", "/sub/?x=1&y=2"),
        ("/a%20b", "/a%20b/"),
        ("/one/../sub", "/sub/"),
    ] {
        let r = get(s.addr, t, "");
        assert_eq!(
            (r.status, r.header("location")),
            (301, Some(want)),
            "{model} {t}"
        );
    }
    let r = request(s.addr, "HEAD /sub HTTP/1.1\r\n\r\n");
    assert_eq!((r.status, r.header("location")), (301, Some("/sub/")));
    // The redirect keeps the connection: the next request on it is answered.
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"GET /sub HTTP/1.1\r\n\r\nGET /sub/ HTTP/1.1\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut c, false).status, 301);
    let r = read_response(&mut c, false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>index</p>\n"[..]));
    assert_eq!(get(s.addr, "/a%20b/", "").status, 403, "{model}");
    assert_eq!(
        get(s.addr, "/", "").status,
        403,
        "{model}: the root has no index"
    );
    std::fs::write(s.dir.path().join("index.html"), b"root").expect("write");
    assert_eq!(get(s.addr, "/", "").body, b"root", "{model}");
}

/// If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since and If-Range, as RFC 9110
/// §13 (and nginx) answer them.
fn conditional_requests(model: IoModel) {
    let s = start(model, None);
    set_mtime(&s.dir.path().join("four_k"));
    let etag = "\"2ebc98a1-1000\"";
    let (before, at, after) = (
        "Sun, 06 Nov 1994 08:49:36 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:38 GMT",
    );
    let cases: Vec<(String, u16)> = vec![
        (format!("If-None-Match: {etag}"), 304),
        (format!("If-None-Match: W/{etag}"), 304),
        (format!("If-None-Match: \"x\", {etag}"), 304),
        ("If-None-Match: *".into(), 304),
        ("If-None-Match: \"2ebc98a1-1001\"".into(), 200),
        (format!("If-Modified-Since: {before}"), 200),
        (format!("If-Modified-Since: {at}"), 304),
        (format!("If-Modified-Since: {after}"), 304),
        (
            "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT".into(),
            304,
        ),
        ("If-Modified-Since: Sun Nov  6 08:49:37 1994".into(), 304),
        ("If-Modified-Since: not a date".into(), 200),
        // If-None-Match present: If-Modified-Since is ignored.
        (
            format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {after}"),
            200,
        ),
        (
            format!("If-None-Match: {etag}\r\nIf-Modified-Since: {before}"),
            304,
        ),
        (format!("If-Match: {etag}"), 200),
        ("If-Match: *".into(), 200),
        (format!("If-Match: W/{etag}"), 412),
        ("If-Match: \"x\"".into(), 412),
        (format!("If-Unmodified-Since: {before}"), 412),
        (format!("If-Unmodified-Since: {at}"), 200),
        // If-Range: the range with a matching tag or date, else the whole file.
        (format!("Range: bytes=0-9\r\nIf-Range: {etag}"), 206),
        (format!("Range: bytes=0-9\r\nIf-Range: {at}"), 206),
        ("Range: bytes=0-9\r\nIf-Range: \"x\"".into(), 200),
        (format!("Range: bytes=0-9\r\nIf-Range: W/{etag}"), 200),
        (format!("Range: bytes=0-9\r\nIf-Range: {after}"), 200),
        (format!("If-Range: {etag}"), 200),
    ];
    let body = fixture_bytes("four_k");
    for (headers, want) in cases {
        // Each on a kept-alive connection followed by a plain request: a 304 leaves nothing
        // behind on it.
        let mut c = connect(s.addr);
        write!(
            c.get_mut(),
            "GET /four_k HTTP/1.1\r\n{headers}\r\n\r\nGET /one HTTP/1.1\r\n\r\n"
        )
        .expect("send");
        let r = read_response(&mut c, false);
        assert_eq!(r.status, want, "{model} {headers:?}");
        match want {
            304 => {
                assert_eq!(r.header("etag"), Some(etag), "{headers}");
                assert_eq!(r.header("last-modified"), Some(at), "{headers}");
                assert!(r.header("date").is_some(), "{headers}");
                assert!(r.header("content-length").is_none(), "{headers}");
            }
            200 => assert!(r.body == body, "{model} {headers:?}: the whole file"),
            206 => assert!(r.body == body[..10], "{model} {headers:?}"),
            _ => {}
        }
        let next = read_response(&mut c, false);
        assert_eq!(next.body, fixture_bytes("one"), "{model} after {headers:?}");
    }
    let r = request(
        s.addr,
        &format!("HEAD /four_k HTTP/1.1\r\nIf-None-Match: {etag}\r\n\r\n"),
    );
    assert_eq!(r.status, 304, "{model}: HEAD");
}

/// One access log line, split into nginx's combined fields.
#[derive(Debug)]
struct LogLine {
    addr: String,
    time: String,
    request: String,
    status: u16,
    bytes: u64,
    referer: String,
    agent: String,
}

/// Splits `line` as nginx's combined format writes it (quoted fields hold no `"`: they are
/// escaped as `\x22`).
fn parse_log_line(line: &str) -> LogLine {
    fn not_one<T>(line: &str) -> T {
        panic!("not a combined log line: {line:?}")
    }
    let (addr, rest) = line.split_once(" - - [").unwrap_or_else(|| not_one(line));
    let (time, rest) = rest.split_once("] \"").unwrap_or_else(|| not_one(line));
    let (request, rest) = rest.split_once("\" ").unwrap_or_else(|| not_one(line));
    let mut it = rest.splitn(3, ' ');
    let status = it
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| not_one(line));
    let bytes = it
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| not_one(line));
    let rest = it.next().unwrap_or_else(|| not_one(line));
    let rest = rest.strip_prefix('"').unwrap_or_else(|| not_one(line));
    let (referer, rest) = rest.split_once("\" \"").unwrap_or_else(|| not_one(line));
    let agent = rest.strip_suffix('"').unwrap_or_else(|| not_one(line));
    // [06/Nov/1994:08:49:37 +0000]
    let tb = time.as_bytes();
    assert!(
        tb.len() == 26 && tb[2] == b'/' && tb[6] == b'/' && tb[11] == b':' && tb[20] == b' ',
        "$time_local {time:?}"
    );
    LogLine {
        addr: addr.into(),
        time: time.into(),
        request: request.into(),
        status,
        bytes,
        referer: referer.into(),
        agent: agent.into(),
    }
}

fn read_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "whole lines: {text:?}"
    );
    text.lines().map(parse_log_line).collect()
}

/// The access log after a mix of requests (two workers, each with its buffer): one line per
/// response, every field as nginx writes it, written by the time the server has stopped.
fn access_log_lines(model: IoModel) {
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("access.log");
    std::fs::write(&log, b"").expect("an existing log is appended to");
    let s = start_with(model, |o| o.access_log = AccessLog::File(log.clone()));
    let big = fixture_bytes("big").len() as u64;
    let r = get(
        s.addr,
        "/four_k?q=1",
        "Referer: http://example.test/page\r\nUser-Agent: probe/1.0 (\"quoted\")\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request(s.addr, "HEAD /four_k?q=2 HTTP/1.1\r\n\r\n").status,
        200
    );
    assert_eq!(get(s.addr, "/nope?q=3", "").status, 404);
    assert_eq!(
        get(s.addr, "/mib_odd?q=4", "Range: bytes=10-109\r\n").status,
        206
    );
    assert_eq!(get(s.addr, "/sub?q=5", "").status, 301);
    let etag = request(s.addr, "HEAD /one HTTP/1.1\r\n\r\n")
        .header("etag")
        .expect("etag")
        .to_string();
    let r = get(s.addr, "/one?q=6", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304);
    assert_eq!(request(s.addr, "BREW /pot HTTP/1.1\r\n\r\n").status, 405);
    assert_eq!(request(s.addr, "garbage\r\n\r\n").status, 400);
    // Pipelined on one connection, then a client leaving mid-body.
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"GET /one?q=7 HTTP/1.1\r\n\r\nGET /zero?q=8 HTTP/1.1\r\n\r\n")
        .expect("send");
    read_response(&mut c, false);
    read_response(&mut c, false);
    drop(c);
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.write_all(b"GET /big?q=9 HTTP/1.1\r\n\r\n").expect("send");
    let mut some = [0u8; 1000];
    c.read_exact(&mut some).expect("the start");
    drop(c);
    // Give the server a moment to see the reset, then stop it: every line is written.
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    let lines = read_log(&log);
    let find = |q: &str| {
        lines
            .iter()
            .find(|l| l.request.contains(q))
            .unwrap_or_else(|| panic!("{model}: no line for {q} in {lines:#?}"))
    };
    let l = find("?q=1 ");
    assert_eq!(l.addr, "127.0.0.1");
    assert_eq!(l.request, "GET /four_k?q=1 HTTP/1.1");
    assert_eq!((l.status, l.bytes), (200, 4096), "{model}");
    assert_eq!(l.referer, "http://example.test/page");
    assert_eq!(l.agent, "probe/1.0 (\\x22quoted\\x22)");
    let l = find("?q=2 ");
    assert_eq!(
        (l.request.as_str(), l.status, l.bytes),
        ("HEAD /four_k?q=2 HTTP/1.1", 200, 0)
    );
    assert_eq!((l.referer.as_str(), l.agent.as_str()), ("-", "-"));
    let l = find("?q=3 ");
    assert_eq!((l.status, l.bytes), (404, "404 Not Found\n".len() as u64));
    assert_eq!((find("?q=4 ").status, find("?q=4 ").bytes), (206, 100));
    assert_eq!(find("?q=5 ").status, 301);
    assert_eq!((find("?q=6 ").status, find("?q=6 ").bytes), (304, 0));
    assert_eq!(find("BREW /pot").status, 405);
    let l = find("garbage");
    assert_eq!((l.request.as_str(), l.status), ("garbage", 400));
    assert_eq!((find("?q=7 ").status, find("?q=7 ").bytes), (200, 1));
    assert_eq!((find("?q=8 ").status, find("?q=8 ").bytes), (200, 0));
    let l = find("?q=9 ");
    assert!(l.status == 200 && l.bytes <= big, "{model}: {l:?}");
    assert_eq!(
        lines.len(),
        12,
        "{model}: one line per response: {lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.time.is_empty()));
}

/// Lines reach the file while the server runs: within about two seconds of the response (a
/// worker writes its buffer once its oldest line is a second old).
fn access_log_is_flushed_while_running(model: IoModel) {
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("access.log");
    let s = start_with(model, |o| o.access_log = AccessLog::File(log.clone()));
    // A kept-alive connection, left open: its thread (threads model) or worker must write
    // the line while the connection idles.
    let mut c = connect(s.addr);
    c.get_mut()
        .write_all(b"GET /one?live HTTP/1.1\r\nUser-Agent: live\r\n\r\n")
        .expect("send");
    assert_eq!(read_response(&mut c, false).status, 200);
    let t0 = Instant::now();
    let lines = loop {
        let lines = read_log(&log);
        if !lines.is_empty() || t0.elapsed() > Duration::from_secs(10) {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 1, "{model}: after {:?}", t0.elapsed());
    assert_eq!((lines[0].status, lines[0].agent.as_str()), (200, "live"));
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "{model}: written after {:?}",
        t0.elapsed()
    );
    drop(c);
}

macro_rules! per_model {
    ($($model:ident => $name:ident),*) => {$(
        mod $name {
            use super::*;
            const M: IoModel = IoModel::$model;
            #[test] fn bodies_are_byte_exact() { bodies_are_exact(M, None) }
            #[test] fn bodies_are_byte_exact_direct() { bodies_are_exact(M, Some(4096)) }
            #[test] fn ranges_sendfile() { ranges(M, None) }
            #[test] fn ranges_direct() { ranges(M, Some(1)) }
            #[test] fn keep_alive_and_pipelined() { keep_alive_and_pipelining(M) }
            #[test] fn refuses_what_it_must() { refusals(M) }
            #[test] fn lenient_and_strict_parsing() { super::lenient_and_strict_parsing(M) }
            #[test] fn client_leaving_mid_body() { disconnect_mid_body(M, None) }
            #[test] fn client_leaving_mid_direct_body() { disconnect_mid_body(M, Some(4096)) }
            #[test] fn sixty_four_connections() { concurrent(M, None) }
            #[test] fn sixty_four_connections_direct() { concurrent(M, Some(1 << 20)) }
            #[test] fn direct_download_leaves_page_cache_untouched() { direct_leaves_cache_untouched(M) }
            #[test] fn slow_header_client_is_closed_after_header_timeout() { slow_header_is_closed(M) }
            #[test] fn idle_keep_alive_is_closed_after_keepalive_timeout() { idle_keep_alive_is_closed(M) }
            #[test] fn thousand_idle_connections_do_not_stop_a_new_client() { thousand_idle_connections(M) }
            #[test] fn max_connections_keeps_new_ones_in_the_backlog() { max_connections_holds_new_ones_back(M) }
            #[test] fn a_head_in_sixty_segments_is_served() { head_in_many_segments_is_served(M) }
            #[test] fn date_last_modified_and_etag_are_sent() { validators_are_sent(M) }
            #[test] fn directories_redirect_serve_index_or_forbid() { directories_as_nginx(M) }
            #[test] fn conditional_requests_answer_304_412_and_if_range() { conditional_requests(M) }
            #[test] fn access_log_has_a_combined_line_per_response() { access_log_lines(M) }
            #[test] fn access_log_is_written_while_running() { access_log_is_flushed_while_running(M) }
        }
    )*};
}

per_model!(Epoll => epoll, Threads => threads, Poll => poll, Uring => uring);

#[test]
fn bind_errors_name_the_problem() {
    let mut opts = ServeOptions::new("/nonexistent/dir");
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    let e = Server::bind(&opts).err().expect("missing dir");
    // What open(2) says (Python: FileNotFoundError).
    assert_eq!(e.kind(), zcopy::ErrorKind::Io);
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.message().contains("/nonexistent/dir"), "{}", e.message());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ServeOptions::new(dir.path());
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    opts.workers = 0;
    assert_eq!(
        Server::bind(&opts).err().expect("0 workers").kind(),
        zcopy::ErrorKind::Invalid
    );
    // The port in use.
    opts.workers = 1;
    let first = Server::bind(&opts).expect("bind");
    opts.listen = first.local_addr();
    let e = Server::bind(&opts).err().expect("in use");
    assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{}", e.message());
    assert!(
        e.message().contains(&first.local_addr().to_string()),
        "{}",
        e.message()
    );
}

/// Issue 14, case 8: with SO_REUSEPORT a second server on a served address started without
/// error and took half the connections. Every model against every model: EADDRINUSE.
#[test]
fn a_second_server_on_a_served_address_gets_eaddrinuse() {
    for first in IoModel::ALL {
        let s = start(first, None);
        for second in IoModel::ALL {
            let mut opts = ServeOptions::new(s.dir.path());
            opts.listen = s.addr;
            opts.workers = 2;
            opts.model = second;
            let e = Server::bind(&opts)
                .err()
                .expect("a second server must not bind");
            assert_eq!(e.kind(), zcopy::ErrorKind::Io, "{first} then {second}");
            assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{}", e.message());
            assert!(e.message().contains(&s.addr.to_string()), "{}", e.message());
        }
        // Every connection still reaches the first server's workers.
        for _ in 0..8 {
            assert_eq!(
                get(s.addr, "/one", "").body,
                fixture_bytes("one"),
                "{first}"
            );
        }
    }
}

#[test]
fn io_model_names() {
    for m in IoModel::ALL {
        assert_eq!(m.name().parse::<IoModel>().expect("parse"), m);
    }
    let e = "select".parse::<IoModel>().expect_err("unknown");
    assert!(e.message().contains("epoll"), "{}", e.message());
}

// ---------------------------------------------------------------------------------------------
// Fallbacks, each in a child process under a seccomp filter (see test_seccomp).

#[test]
fn io_uring_blocked_serves_large_files_with_sendfile() {
    common::run_child("test_serve::child_io_uring_blocked");
}

#[test]
#[ignore = "run by io_uring_blocked_serves_large_files_with_sendfile in a child process"]
fn child_io_uring_blocked() {
    if !common::in_child("test_serve::child_io_uring_blocked") {
        return;
    }
    match crate::seccomp::block(&[libc::SYS_io_uring_setup], libc::ENOSYS) {
        Ok(()) => {
            // The reactor cannot make its ring: direct bodies go by sendfile, still exact.
            let s = start(IoModel::Epoll, Some(4096));
            for name in ["mib_odd", "big"] {
                let r = get(s.addr, &format!("/{name}"), "");
                assert!(r.status == 200 && r.body == fixture_bytes(name), "{name}");
            }
            let r = get(s.addr, "/big", "Range: bytes=5-99999\r\n");
            assert!(r.status == 206 && r.body == fixture_bytes("big")[5..100_000]);
            drop(s);
            // The uring model cannot run at all: run() says why.
            let dir = tempfile::tempdir().expect("tempdir");
            let mut opts = ServeOptions::new(dir.path());
            opts.listen = "127.0.0.1:0".parse().expect("addr");
            opts.workers = 1;
            opts.model = IoModel::Uring;
            let e = Server::bind(&opts)
                .expect("bind")
                .run()
                .expect_err("no io_uring");
            assert_eq!(e.errno(), Some(libc::ENOSYS), "{}", e.message());
            assert!(e.message().contains("io_uring"), "{}", e.message());
        }
        Err(why) => common::skip("io_uring blocked", &why),
    }
    common::child_done("test_serve::child_io_uring_blocked");
}

#[test]
fn openat2_blocked_still_keeps_paths_inside() {
    common::run_child("test_serve::child_openat2_blocked");
}

#[test]
#[ignore = "run by openat2_blocked_still_keeps_paths_inside in a child process"]
fn child_openat2_blocked() {
    if !common::in_child("test_serve::child_openat2_blocked") {
        return;
    }
    match crate::seccomp::block(&[libc::SYS_openat2], libc::ENOSYS) {
        Ok(()) => {
            let s = start(IoModel::Epoll, None);
            std::os::unix::fs::symlink("/etc/passwd", s.dir.path().join("escape"))
                .expect("symlink");
            std::os::unix::fs::symlink("/etc", s.dir.path().join("etcdir")).expect("symlink");
            assert!(get(s.addr, "/one", "").body == fixture_bytes("one"));
            assert_eq!(get(s.addr, "/sub/", "").status, 200);
            for t in [
                "/escape",
                "/etcdir/passwd",
                "/../etc/passwd",
                "/%2e%2e/etc/passwd",
            ] {
                let r = get(s.addr, t, "");
                assert!(r.status == 400 || r.status == 404, "{t}: {}", r.status);
            }
        }
        Err(why) => common::skip("openat2 blocked", &why),
    }
    common::child_done("test_serve::child_openat2_blocked");
}

/// Issue 15: a panic in a worker thread (a bug) was reported as an Invalid error. It now goes
/// on unwinding from `Server::run` once the other workers have stopped, so each face's panic
/// boundary reports a panic (`ZC_PANIC` in C). In a child: the hook is process-wide, and
/// another test's server must not take it.
#[test]
fn a_worker_panic_unwinds_from_run() {
    common::run_child("test_serve::child_worker_panic_unwinds_from_run");
}

#[test]
#[ignore = "run by a_worker_panic_unwinds_from_run in a child"]
fn child_worker_panic_unwinds_from_run() {
    let name = "test_serve::child_worker_panic_unwinds_from_run";
    if !common::in_child(name) {
        return;
    }
    for model in [
        IoModel::Epoll,
        IoModel::Threads,
        IoModel::Poll,
        IoModel::Uring,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = ServeOptions::new(dir.path());
        opts.listen = "127.0.0.1:0".parse().expect("addr");
        opts.workers = 2;
        opts.model = model;
        let server = Server::bind(&opts).expect("bind");
        zcopy_serve::testing::inject_worker_panic();
        // No shutdown asked: the panic alone must stop the other worker.
        let payload = std::thread::spawn(move || server.run())
            .join()
            .err()
            .unwrap_or_else(|| panic!("{model:?}: run returned instead of unwinding"));
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            msg.contains(zcopy_serve::testing::WORKER_MESSAGE),
            "{model:?}: {msg}"
        );
    }
    common::child_done(name);
}

#[test]
fn serve_root_errors_are_os_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"data").expect("write");
    for (root, errno) in [
        (dir.path().join("missing"), libc::ENOENT),
        (file.clone(), libc::ENOTDIR),
    ] {
        let mut opts = zcopy_serve::ServeOptions::new(&root);
        opts.listen = "127.0.0.1:0".parse().expect("addr");
        let Err(e) = zcopy_serve::Server::bind(&opts) else {
            panic!("served {}", root.display());
        };
        assert_eq!(
            (e.kind(), e.errno()),
            (zcopy::ErrorKind::Io, Some(errno)),
            "{e}"
        );
        assert!(e.message().contains(&root.display().to_string()), "{e}");
    }
}

/// `zcopy_serve::Running` (what the C, Python and CLI faces use): serves on its own thread,
/// says it runs, stops, joins with the outcome, and then says it no longer runs; joining again
/// is harmless.
#[test]
fn running_serves_until_stopped_and_joined() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("f"), b"running").expect("write");
    let mut opts = ServeOptions::new(dir.path());
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    opts.workers = 1;
    opts.model = IoModel::Threads;
    let server = zcopy_serve::Running::start(&opts).expect("start");
    assert_ne!(server.addr().port(), 0);
    assert_eq!(server.model(), IoModel::Threads);
    let r = get(server.addr(), "/f", "");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"running"[..]));
    assert!(server.running());
    server.stop();
    server.join().expect("join");
    assert!(!server.running());
    server.join().expect("a second join");
    // The address is free again once joined.
    opts.listen = server.addr();
    zcopy_serve::Running::start(&opts)
        .expect("the same address after join")
        .stop();
}

/// No notice is printed by the library: a notice (here, an access log that cannot be written:
/// `/dev/full` answers ENOSPC) reaches the caller's callback, once per server however many
/// lines fail, with its kind.
#[test]
fn notices_reach_the_callback_once() {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = told.clone();
    let s = start_with(IoModel::Epoll, move |o| {
        o.workers = 1;
        o.access_log = AccessLog::File("/dev/full".into());
        o.notify = zcopy_serve::Notify::new(move |kind, message| {
            sink.lock().expect("lock").push((kind, message.to_string()));
        });
    });
    for _ in 0..3 {
        assert_eq!(get(s.addr, "/one", "").status, 200);
    }
    drop(s); // the lines are written (and fail) by the time the server has stopped
    let told = told.lock().expect("lock");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, zcopy_serve::NoticeKind::AccessLogFailed);
    assert!(
        told[0].1.contains("cannot write the access log") && told[0].1.contains("No space"),
        "{}",
        told[0].1
    );
}
