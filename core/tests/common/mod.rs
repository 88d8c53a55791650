//! Fixtures shared by the integration tests: real files, pipes, socketpairs and loopback TCP.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;

/// `n` deterministic, non-repeating-looking bytes (xorshift), different for each `seed`.
pub fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A temporary file holding `bytes`, its position at 0.
pub fn file_with(bytes: &[u8]) -> File {
    let mut f = tempfile::tempfile().expect("tempfile");
    f.write_all(bytes).expect("write fixture");
    f.rewind().expect("rewind");
    f
}

/// An empty temporary file.
pub fn empty_file() -> File {
    tempfile::tempfile().expect("tempfile")
}

/// A file's whole content, read with pread (its position is untouched).
pub fn content(f: &File) -> Vec<u8> {
    let len = f.metadata().expect("metadata").len() as usize;
    let mut v = vec![0; len];
    f.read_exact_at(&mut v, 0).expect("read back");
    v
}

/// An fd's position.
pub fn pos(f: &impl AsFd) -> u64 {
    // SAFETY: lseek on a borrowed, open fd touches no memory.
    let r = unsafe { libc::lseek(f.as_fd().as_raw_fd(), 0, libc::SEEK_CUR) };
    assert!(r >= 0, "lseek failed");
    r as u64
}

/// An fd's status flags (F_GETFL).
pub fn flags(f: &impl AsFd) -> i32 {
    // SAFETY: F_GETFL touches no memory.
    let r = unsafe { libc::fcntl(f.as_fd().as_raw_fd(), libc::F_GETFL) };
    assert!(r >= 0, "fcntl failed: the fd is closed");
    r
}

/// Sets O_NONBLOCK on an fd.
pub fn set_nonblocking(f: &impl AsFd) {
    let fl = flags(f);
    // SAFETY: F_SETFL touches no memory.
    let r = unsafe { libc::fcntl(f.as_fd().as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) };
    assert_eq!(r, 0);
}

/// A pipe: (read end, write end).
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: fds is valid for two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two fresh fds we now own.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// A loopback TCP connection: (client, server side).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// What an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    File,
    Pipe,
    Unix,
    Tcp,
}

pub const ALL_ENDS: [End; 4] = [End::File, End::Pipe, End::Unix, End::Tcp];

/// A source of `bytes` of kind `end`: the fd to read, and (for streams) a feeder thread that
/// writes `bytes` and closes its end.
pub struct Source {
    pub fd: OwnedFd,
    feeder: Option<JoinHandle<()>>,
}

impl Source {
    pub fn new(end: End, bytes: &[u8]) -> Source {
        let feed = |mut w: Box<dyn Write + Send>, bytes: Vec<u8>| {
            Some(std::thread::spawn(move || {
                // The reader may stop early (a len shorter than the data): ignore EPIPE.
                let _ = w.write_all(&bytes);
            }))
        };
        let (fd, feeder): (OwnedFd, _) = match end {
            End::File => (file_with(bytes).into(), None),
            End::Pipe => {
                let (r, w) = pipe();
                (r.into(), feed(Box::new(w), bytes.to_vec()))
            }
            End::Unix => {
                let (a, b) = UnixStream::pair().expect("socketpair");
                (a.into(), feed(Box::new(b), bytes.to_vec()))
            }
            End::Tcp => {
                let (c, s) = tcp_pair();
                (s.into(), feed(Box::new(c), bytes.to_vec()))
            }
        };
        Source { fd, feeder }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Drops the fd, then waits for the feeder.
    pub fn finish(self) {
        let Source { fd, feeder } = self;
        drop(fd);
        if let Some(h) = feeder {
            h.join().expect("feeder thread");
        }
    }
}

/// A destination of kind `end`: the fd to write, and every byte that arrived once it is closed.
pub struct Sink {
    fd: Option<OwnedFd>,
    file: Option<File>,
    drain: Option<JoinHandle<Vec<u8>>>,
}

impl Sink {
    pub fn new(end: End) -> Sink {
        let drain = |mut r: Box<dyn Read + Send>| {
            Some(std::thread::spawn(move || {
                let mut v = Vec::new();
                r.read_to_end(&mut v).expect("drain");
                v
            }))
        };
        match end {
            End::File => {
                let f = empty_file();
                let fd = f.try_clone().expect("dup").into();
                Sink {
                    fd: Some(fd),
                    file: Some(f),
                    drain: None,
                }
            }
            End::Pipe => {
                let (r, w) = pipe();
                Sink {
                    fd: Some(w.into()),
                    file: None,
                    drain: drain(Box::new(r)),
                }
            }
            End::Unix => {
                let (a, b) = UnixStream::pair().expect("socketpair");
                Sink {
                    fd: Some(a.into()),
                    file: None,
                    drain: drain(Box::new(b)),
                }
            }
            End::Tcp => {
                let (c, s) = tcp_pair();
                Sink {
                    fd: Some(c.into()),
                    file: None,
                    drain: drain(Box::new(s)),
                }
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_ref().expect("sink fd").as_fd()
    }

    /// Closes the write end and returns every byte that arrived.
    pub fn finish(mut self) -> Vec<u8> {
        self.fd.take();
        if let Some(f) = &self.file {
            return content(f);
        }
        self.drain
            .take()
            .expect("drain")
            .join()
            .expect("drain thread")
    }
}

/// Whether `cmd` runs on this machine.
pub fn have(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `f` on a thread of its own and returns what it returns, or fails the test (naming
/// `what`) when it has not returned after `secs` seconds: a hang becomes a failure with the
/// case named instead of a test run that never ends. The stuck thread is left behind.
#[track_caller]
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: still running after {secs} s (a wait without bound)"),
    }
}

/// Prints why a test did not run its main check (the fallback it checks instead is then tested).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why}");
}

/// This process's umask, read from `/proc/self/status` (setting it to read it would change
/// process-wide state under the other test threads).
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .expect("a Umask: line in /proc/self/status")
}

/// Whether we are root (loop mounts, mkfs).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no failure mode and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Asserts two byte strings are equal, printing where they first differ rather than both.
#[track_caller]
pub fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: got {} bytes, want {}; first difference at byte {first}",
        got.len(),
        want.len()
    );
}

/// The env var that tells a re-executed test binary it is the child of [`run_child`].
pub const CHILD_ENV: &str = "ZCOPY_TEST_CHILD";
/// What a child prints last, so the parent knows its checks ran (not a filtered-out no-op).
const CHILD_DONE: &str = "ZCOPY_TEST_CHILD_DONE";

/// Whether this process is the child started by [`run_child`] for `test` (its full path, e.g.
/// `test_sys::child_sigpipe`). Otherwise the ignored child test is a no-op, and says so.
pub fn in_child(test: &str) -> bool {
    if std::env::var(CHILD_ENV).is_ok_and(|v| v == test) {
        return true;
    }
    eprintln!("{test} runs only as the child of its parent test");
    false
}

/// Marks the end of a child's checks; [`run_child`] requires it.
pub fn child_done(test: &str) {
    println!("{CHILD_DONE} {test}");
}

/// Runs the `#[ignore]`d test `test` alone in a fresh copy of this test binary (under
/// `wrapper`, e.g. `["strace", "-f", ...]`, when not empty), for what must not touch the parent:
/// signal dispositions, seccomp filters, tracing. Panics, printing the child's output, unless it
/// passed and reached [`child_done`]; passes its SKIP lines on. Returns its stdout.
pub fn run_child_with(wrapper: &[&std::ffi::OsStr], test: &str) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = match wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = std::process::Command::new(prog);
            c.args(args).arg(&exe);
            c
        }
        None => std::process::Command::new(&exe),
    };
    let out = cmd
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .output()
        .expect("spawn child test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ran = stdout.contains("1 passed") && stdout.contains(&format!("{CHILD_DONE} {test}"));
    assert!(
        out.status.success() && ran,
        "child {test} failed (status {}, ran its checks: {ran})\n--- child stdout\n{stdout}\n--- child stderr\n{stderr}",
        out.status
    );
    for line in stderr.lines().filter(|l| l.starts_with("SKIP")) {
        eprintln!("{line} (in child {test})");
    }
    stdout
}

/// [`run_child_with`] without a wrapper.
pub fn run_child(test: &str) {
    run_child_with(&[], test);
}
