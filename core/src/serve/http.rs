//! HTTP/1.1 request parsing and response headers: just what a static file server needs (GET and
//! HEAD, one byte range, keep-alive), refusing everything else with the status it deserves.
//!
//! Public (and hidden from the docs) only so the fuzz target `http_head` can reach the parser;
//! not a stable API.

use std::io::Write;

/// The largest request head (request line and headers) accepted: 8 KiB, like nginx's
/// `client_header_buffer_size`.
pub const MAX_HEAD: usize = 8192;

/// The methods served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: the head and the body.
    Get,
    /// `HEAD`: the head only.
    Head,
}

/// A parsed request head, borrowing the connection's buffer.
#[derive(Debug)]
pub struct Request<'a> {
    /// The method (others are refused with 405).
    pub method: Method,
    /// The request target as sent (percent-encoded, with any query).
    pub target: &'a [u8],
    /// The `Range` header's value, if any.
    pub range: Option<&'a [u8]>,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// HTTP/1.0 (the response then says `Connection: keep-alive` when it keeps the connection).
    pub http10: bool,
    /// Body bytes that follow the head (`Content-Length`), to be skipped.
    pub content_length: u64,
}

/// What parsing the bytes received so far gave.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// The head is not complete yet.
    Incomplete,
    /// A request, and the bytes its head took.
    Request(Request<'a>, usize),
    /// A request that is answered with this status, then the connection is closed.
    Refuse(u16),
}

/// Where the search for the end of a request head stopped, so that every byte is looked at
/// once however the head arrives (in one segment, or two bytes per `recv`). Positions are
/// relative to the start of the head; a connection keeps one per head and starts a new one
/// ([`HeadScan::default`]) for the next request.
#[derive(Debug, Default, Clone)]
pub struct HeadScan {
    /// The next byte to look at.
    pos: usize,
    /// Where the current line starts.
    line_start: usize,
    /// A line with something other than CR and LF has been seen (the request line began).
    started: bool,
    /// The current line has something other than CR and LF.
    line_has_content: bool,
    /// Bytes looked at in all, for the tests that prove the scan linear.
    pub scanned: u64,
}

impl HeadScan {
    /// The index just past the empty line that ends the head at the start of `buf`, once it
    /// has arrived. `buf` must begin with the bytes this scan saw before (more may follow);
    /// only those after them are looked at. Empty lines before the request line are skipped,
    /// not the end (RFC 9112 §2.2).
    pub fn end(&mut self, buf: &[u8]) -> Option<usize> {
        while self.pos < buf.len() {
            let c = buf[self.pos];
            self.pos += 1;
            self.scanned += 1;
            if c != b'\n' {
                if c != b'\r' {
                    self.line_has_content = true;
                }
                continue;
            }
            let len = self.pos - 1 - self.line_start;
            let empty = len == 0 || (len == 1 && buf[self.line_start] == b'\r');
            if empty && self.started {
                return Some(self.pos);
            }
            self.started |= self.line_has_content;
            self.line_has_content = false;
            self.line_start = self.pos;
        }
        None
    }

    /// Whether a line has ended (so an over-long head is past its request line).
    fn saw_line(&self) -> bool {
        self.line_start > 0
    }
}

/// Parses the head at the start of `buf`, looking only at the bytes `scan` has not seen yet
/// until the head is complete (then once more at the head to parse it): linear in the head's
/// length however it arrives. `full` says the buffer cannot take more bytes, so an incomplete
/// head is too long (414 while still in the request line, else 431).
pub fn parse<'a>(buf: &'a [u8], full: bool, scan: &mut HeadScan) -> Parsed<'a> {
    let Some(end) = scan.end(buf) else {
        // Refuse garbage early: a request line starts with a token character. (Before the
        // length check, so the answer does not depend on how the bytes arrived: found by the
        // fuzz target http_head.)
        if buf
            .first()
            .is_some_and(|&c| !is_tchar(c) && c != b'\r' && c != b'\n')
        {
            return Parsed::Refuse(400);
        }
        if full {
            return Parsed::Refuse(if scan.saw_line() { 431 } else { 414 });
        }
        return Parsed::Incomplete;
    };
    let head = &buf[..end];
    let mut lines = head.split(|&c| c == b'\n').map(trim_cr);
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let mut line = lines.next().unwrap_or_default();
    while line.is_empty() {
        match lines.next() {
            Some(l) => line = l,
            None => return Parsed::Refuse(400),
        }
    }
    let mut parts = line.split(|&c| c == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Refuse(400);
    };
    if method.is_empty() || !method.iter().all(|&c| is_tchar(c)) {
        return Parsed::Refuse(400);
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        v if v.starts_with(b"HTTP/") => return Parsed::Refuse(505),
        _ => return Parsed::Refuse(400),
    };
    if target.first() != Some(&b'/') || target.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return Parsed::Refuse(400);
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => return Parsed::Refuse(405),
    };
    let mut req = Request {
        method,
        target,
        range: None,
        keep_alive: !http10,
        http10,
        content_length: 0,
    };
    let mut seen_length = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return Parsed::Refuse(400);
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
            return Parsed::Refuse(400);
        }
        if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&c| c == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    req.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    req.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"range") {
            req.range = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            match number(value) {
                Some(n) if !seen_length || n == req.content_length => req.content_length = n,
                _ => return Parsed::Refuse(400),
            }
            seen_length = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // A request body we would have to de-chunk: not for a file server.
            return Parsed::Refuse(400);
        }
    }
    Parsed::Request(req, end)
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// RFC 9110 token characters.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A decimal number of at most 19 digits (no sign, no spaces).
fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The part of a file a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The whole file (no Range header, or one this server ignores, as RFC 9110 allows).
    Full,
    /// Bytes `start..end` (end exclusive), answered with 206.
    Part(u64, u64),
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a file of `size` bytes: one range `bytes=a-b`, `a-` or
/// `-n`. Several ranges, other units and malformed values are ignored (the whole file is sent).
pub fn range(spec: Option<&[u8]>, size: u64) -> Range {
    let Some(spec) = spec else { return Range::Full };
    let Some(set) = spec.strip_prefix(b"bytes=") else {
        return Range::Full;
    };
    let set = trim(set);
    if set.contains(&b',') {
        return Range::Full;
    }
    let Some(dash) = set.iter().position(|&c| c == b'-') else {
        return Range::Full;
    };
    let (a, b) = (trim(&set[..dash]), trim(&set[dash + 1..]));
    if a.is_empty() {
        // The last n bytes.
        return match number(b) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if size == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part(size - n.min(size), size),
            None => Range::Full,
        };
    }
    let Some(start) = number(a) else {
        return Range::Full;
    };
    let last = if b.is_empty() {
        None
    } else {
        match number(b) {
            Some(l) if l >= start => Some(l),
            _ => return Range::Full,
        }
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    let end = last.map_or(size, |l| l.saturating_add(1).min(size));
    Range::Part(start, end)
}

/// A status line's reason phrase.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The `Content-Type` for a file name's extension.
pub(crate) fn content_type(path: &[u8]) -> &'static str {
    let ext = match path.iter().rposition(|&c| c == b'.') {
        Some(i) if !path[i..].contains(&b'/') => &path[i + 1..],
        _ => b"",
    };
    let lower = |e: &[u8], t: &[u8]| e.eq_ignore_ascii_case(t);
    match ext {
        e if lower(e, b"html") || lower(e, b"htm") => "text/html",
        e if lower(e, b"txt") => "text/plain",
        e if lower(e, b"css") => "text/css",
        e if lower(e, b"js") => "application/javascript",
        e if lower(e, b"json") => "application/json",
        e if lower(e, b"png") => "image/png",
        e if lower(e, b"jpg") || lower(e, b"jpeg") => "image/jpeg",
        e if lower(e, b"svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Writes a file response's head into `out`: status, length, range and connection headers.
pub(crate) fn file_head(
    out: &mut Vec<u8>,
    status: u16,
    len: u64,
    part: Option<(u64, u64, u64)>,
    ctype: &str,
    keep_alive: bool,
    http10: bool,
) {
    // Writes into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: zcopy\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\n",
        reason(status)
    );
    if let Some((start, end, size)) = part {
        let _ = write!(out, "Content-Range: bytes {start}-{}/{size}\r\n", end - 1);
    }
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
}

/// Writes an error response (head and a short text body) into `out`; `size` is the file's size
/// for a 416.
pub(crate) fn error_response(
    out: &mut Vec<u8>,
    status: u16,
    size: Option<u64>,
    head_only: bool,
    keep_alive: bool,
    http10: bool,
) {
    let body = format!("{status} {}\n", reason(status));
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: zcopy\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if status == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    if let Some(size) = size {
        let _ = write!(out, "Content-Range: bytes */{size}\r\n");
    }
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

fn connection(out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` to the parser `step` bytes at a time, as a connection's `recv`s would;
    /// returns the status or head length it gave and the bytes the scan looked at.
    fn trickle(data: &[u8], step: usize, cap: usize) -> (Option<(u16, usize)>, u64) {
        let mut scan = HeadScan::default();
        let mut have = 0;
        while have < data.len().min(cap) {
            have = (have + step).min(data.len()).min(cap);
            let buf = &data[..have];
            match parse(buf, have == cap, &mut scan) {
                Parsed::Incomplete => {}
                Parsed::Request(_, used) => return (Some((200, used)), scan.scanned),
                Parsed::Refuse(status) => return (Some((status, 0)), scan.scanned),
            }
        }
        (None, scan.scanned)
    }

    #[test]
    fn an_8k_trickle_of_empty_lines_is_scanned_once() {
        // Issue 14, case 6: 8 KB of CRLF two bytes at a time cost 0.44 s of server CPU when
        // every recv rescanned the buffer (and every line rescanned what came before it).
        let data = b"\r\n".repeat(MAX_HEAD / 2);
        let (status, scanned) = trickle(&data, 2, MAX_HEAD);
        assert_eq!(status, Some((431, 0)));
        assert_eq!(scanned, MAX_HEAD as u64, "each byte is looked at once");
    }

    #[test]
    fn scanning_is_linear_however_the_head_arrives() {
        let mut head = b"\r\n\r\nGET /f HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            head.extend_from_slice(format!("X-Header-{i}: {}\r\n", "v".repeat(i)).as_bytes());
        }
        head.extend_from_slice(b"\r\nGET /next HTTP/1.1\r\n\r\n");
        let end = head.len() - b"GET /next HTTP/1.1\r\n\r\n".len();
        let whole = trickle(&head, head.len(), 1 << 20);
        assert_eq!(whole, (Some((200, end)), end as u64));
        for step in [1, 2, 3, 7, 64, 1000] {
            assert_eq!(
                trickle(&head, step, 1 << 20),
                whole,
                "{step} bytes per recv"
            );
        }
    }

    #[test]
    fn a_garbage_first_byte_is_400_however_the_bytes_arrive() {
        // Found by the fuzz target http_head: 8 KiB without a head's end starting with a
        // non-token byte was 431 in one piece and 400 when it trickled in.
        let mut data = vec![0x93];
        data.extend_from_slice(&b"GET /f HTTP/1.1\r\nX: y".repeat(400));
        for step in [2, 100, MAX_HEAD] {
            assert_eq!(
                trickle(&data, step, MAX_HEAD).0,
                Some((400, 0)),
                "by {step}"
            );
        }
    }

    #[test]
    fn empty_lines_before_the_request_line_are_skipped_in_every_split() {
        for data in [
            &b"\r\n\rGET / HTTP/1.1\r\n\r\n"[..],
            b"\n\r\r\nGET / HTTP/1.1\n\n",
        ] {
            let whole = trickle(data, data.len(), 1 << 20);
            assert!(matches!(whole.0, Some((_, n)) if n == data.len() || n == 0));
            for step in 1..data.len() {
                assert_eq!(
                    trickle(data, step, 1 << 20).0,
                    whole.0,
                    "{data:?} by {step}"
                );
            }
        }
    }
}
