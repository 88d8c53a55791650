//! The access log, in nginx's `combined` format:
//!
//! ```text
//! $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//! ```
//!
//! Kept off the hot path as nginx's `access_log ... buffer=32k flush=1s` does: each worker
//! thread (in the threads model, each connection's thread) appends its lines to a buffer of
//! its own and writes the buffer with one `write` when it passes 32 KiB, when its oldest line
//! is a second old (checked at the worker's sweep, so a line is written within about two
//! seconds), and when the worker ends. No lock is taken: the file is opened `O_APPEND`, so each
//! `write` lands whole at the end whatever the other workers write; standard output, when it
//! is a pipe, gets writes of at most `PIPE_BUF` bytes cut at line ends, which a pipe keeps
//! whole too.
//!
//! A connection keeps its request's line, `Referer` and `User-Agent` (escaped as nginx does:
//! `"`, `\`, control and non-ASCII bytes as `\xHH`) in a buffer of its own from the request
//! until the response has been sent or cut short, and counts the bytes it sends, so
//! `$body_bytes_sent` is what actually left (a client leaving mid-body is logged with the part
//! it got).

use std::cell::RefCell;
use std::ffi::CString;
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{date, AccessLog};
use crate::notice::{NoticeKind, Notices};
use crate::os;
use crate::os::fs::Fd;
use zcopy::{Error, Result};

/// A worker writes its buffer once it holds this many bytes.
const FLUSH_AT: usize = 32 << 10;

/// ... or once its oldest line is this old.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_secs(1);

/// The most a write to a pipe may carry to land whole (Linux's `PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// Where a server's access log goes: a file opened `O_APPEND`, or standard output.
#[derive(Debug)]
pub(crate) struct LogFile {
    fd: Fd,
    /// Not a regular file (a pipe, a terminal): writes are cut at line ends to `PIPE_BUF`.
    pipe: bool,
    /// Where a failure to write is told.
    notices: Arc<Notices>,
}

impl LogFile {
    /// Opens the log `target` names (`None` for [`AccessLog::Off`]): a file is created (mode
    /// 0644 less the umask) or appended to; standard output is duplicated.
    pub(crate) fn open(target: &AccessLog, notices: &Arc<Notices>) -> Result<Option<Arc<LogFile>>> {
        let fd = match target {
            AccessLog::Off => return Ok(None),
            AccessLog::Stdout => os::fs::dup_cloexec(std::io::stdout().as_fd())
                .map_err(|e| Error::os(e, "cannot write the access log to standard output"))?,
            AccessLog::File(path) => {
                let c = CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| Error::invalid("the access log's path contains a NUL byte"))?;
                let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOCTTY;
                os::fs::open(&c, flags, 0o644).map_err(|e| {
                    Error::os(
                        e,
                        format_args!("cannot open the access log {}", path.display()),
                    )
                })?
            }
        };
        let pipe = os::fs::fstat(fd.as_fd())
            .map(|st| st.st_mode & libc::S_IFMT != libc::S_IFREG)
            .unwrap_or(true);
        Ok(Some(Arc::new(LogFile {
            fd,
            pipe,
            notices: notices.clone(),
        })))
    }

    /// Writes `bytes` (whole lines) to the log.
    fn write(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let mut n = rest.len();
            if self.pipe && n > PIPE_BUF {
                // Whole lines of at most PIPE_BUF bytes (a longer line alone).
                n = match rest[..PIPE_BUF].iter().rposition(|&c| c == b'\n') {
                    Some(i) => i + 1,
                    None => rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(rest.len(), |i| i + 1),
                };
            }
            if !self.write_all(&rest[..n]) {
                return;
            }
            rest = &rest[n..];
        }
    }

    /// One `write` of `chunk` (more if the kernel takes part of it); false when the log
    /// cannot be written (the lines are dropped, and the reason printed once).
    fn write_all(&self, mut chunk: &[u8]) -> bool {
        let mut waits = 0;
        while !chunk.is_empty() {
            match os::fs::write(self.fd.as_fd(), chunk) {
                Ok(0) => return self.failed("wrote nothing"),
                Ok(n) => chunk = &chunk[n..],
                // Standard output left non-blocking by someone else: wait a little for it.
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && waits < 1000 => {
                    waits += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => {
                    if e.raw_os_error() == Some(libc::EPIPE) {
                        os::process::consume_sigpipe();
                    }
                    return self.failed(&e.to_string());
                }
            }
        }
        true
    }

    /// Tells (once per server) that the log cannot be written; false.
    fn failed(&self, why: &str) -> bool {
        self.notices.once(NoticeKind::AccessLogFailed, || {
            format!("cannot write the access log ({why}); its lines are dropped")
        });
        false
    }
}

/// A worker thread's buffered lines.
struct Buf {
    file: Arc<LogFile>,
    bytes: Vec<u8>,
    /// When the oldest line not yet written was added.
    since: Option<Instant>,
}

impl Buf {
    fn flush(&mut self) {
        if !self.bytes.is_empty() {
            self.file.write(&self.bytes);
            self.bytes.clear();
        }
        self.since = None;
    }
}

thread_local! {
    static BUF: RefCell<Option<Buf>> = const { RefCell::new(None) };
}

/// Makes this thread a writer of `file` (nothing when `None`): called as a worker (or a
/// connection's thread) starts.
pub(crate) fn attach(file: Option<&Arc<LogFile>>) {
    let Some(file) = file else { return };
    BUF.with(|b| {
        // Grown by the first lines, then kept (a flush empties it, keeping its capacity): a
        // thread that logs nothing (the threads model's acceptor) allocates nothing.
        *b.borrow_mut() = Some(Buf {
            file: file.clone(),
            bytes: Vec::new(),
            since: None,
        });
    });
}

/// Writes what this thread has buffered and stops it writing: called as the worker ends,
/// after its connections (whose responses in flight are logged as they are dropped).
pub(crate) fn finish() {
    BUF.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if let Some(mut buf) = b.take() {
                buf.flush();
            }
        }
    });
}

/// Writes this thread's buffer if its oldest line is [`FLUSH_AFTER`] old: called at each sweep.
pub(crate) fn tick(now: Instant) {
    BUF.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if let Some(buf) = b.as_mut() {
                if buf
                    .since
                    .is_some_and(|s| now.duration_since(s) >= FLUSH_AFTER)
                {
                    buf.flush();
                }
            }
        }
    });
}

/// When this thread's buffer is due to be written (`None`: it is empty).
pub(crate) fn due() -> Option<Instant> {
    BUF.with(|b| {
        b.try_borrow()
            .ok()
            .and_then(|b| b.as_ref().and_then(|buf| buf.since))
            .map(|s| s + FLUSH_AFTER)
    })
}

/// One connection's request being answered, for its log line.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// The peer's address, looked up at the first request (`None`: unknown).
    peer: Option<IpAddr>,
    looked_up: bool,
    /// The escaped request line, `Referer` and `User-Agent`, one after the other.
    text: Vec<u8>,
    referer_at: usize,
    agent_at: usize,
    status: u16,
    /// Bytes of the response's head: what was sent beyond them is body.
    head_len: u64,
    /// Bytes of the response sent so far.
    sent: u64,
    /// A response has begun and is not logged yet.
    open: bool,
}

impl Entry {
    /// Records the request a response of `status` (whose head is `head_len` bytes) begins for.
    /// A response still open is logged first.
    pub(crate) fn begin(
        &mut self,
        sock: BorrowedFd<'_>,
        line: &[u8],
        referer: Option<&[u8]>,
        agent: Option<&[u8]>,
        status: u16,
        head_len: usize,
    ) {
        self.end();
        if !self.looked_up {
            self.looked_up = true;
            self.peer = os::net::peer_addr(sock).ok().map(|a| match a.ip() {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
                ip => ip,
            });
        }
        self.text.clear();
        escape(&mut self.text, Some(line).filter(|l| !l.is_empty()));
        self.referer_at = self.text.len();
        escape(&mut self.text, referer);
        self.agent_at = self.text.len();
        escape(&mut self.text, agent);
        self.status = status;
        self.head_len = head_len as u64;
        self.sent = 0;
        self.open = true;
    }

    /// Counts `n` bytes of the response sent.
    pub(crate) fn sent(&mut self, n: usize) {
        self.sent += n as u64;
    }

    /// Logs the response (sent whole or cut short), once.
    pub(crate) fn end(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        BUF.with(|b| {
            let Ok(mut b) = b.try_borrow_mut() else {
                return;
            };
            let Some(buf) = b.as_mut() else { return };
            let out = &mut buf.bytes;
            // Writes into a Vec cannot fail.
            match self.peer {
                Some(ip) => {
                    let _ = write!(out, "{ip}");
                }
                None => out.push(b'-'),
            }
            out.extend_from_slice(b" - - [");
            out.extend_from_slice(&date::local_now());
            out.extend_from_slice(b"] \"");
            out.extend_from_slice(&self.text[..self.referer_at]);
            let body = self.sent.saturating_sub(self.head_len);
            let _ = write!(out, "\" {} {body} \"", self.status);
            out.extend_from_slice(&self.text[self.referer_at..self.agent_at]);
            out.extend_from_slice(b"\" \"");
            out.extend_from_slice(&self.text[self.agent_at..]);
            out.extend_from_slice(b"\"\n");
            if buf.since.is_none() {
                buf.since = Some(Instant::now());
            }
            if buf.bytes.len() >= FLUSH_AT {
                buf.flush();
            }
        });
    }
}

impl Drop for Entry {
    /// A connection closed mid-response logs what it sent.
    fn drop(&mut self) {
        self.end();
    }
}

/// Appends `v` as nginx logs a variable: `-` when absent, else with `"`, `\`, control bytes
/// and bytes above 0x7e as `\xHH`.
fn escape(out: &mut Vec<u8>, v: Option<&[u8]>) {
    let Some(v) = v else {
        out.push(b'-');
        return;
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in v {
        if !(0x20..=0x7e).contains(&c) || c == b'"' || c == b'\\' {
            out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ]);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_nginx_s() {
        let mut out = Vec::new();
        escape(&mut out, Some(b"GET /a\"b\\c\x01\xff~ HTTP/1.1"));
        assert_eq!(out, b"GET /a\\x22b\\x5Cc\\x01\\xFF~ HTTP/1.1");
        out.clear();
        escape(&mut out, None);
        assert_eq!(out, b"-");
    }
}
