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
    /// The request line as sent (for the access log).
    pub line: &'a [u8],
    /// The `If-None-Match` header's value, if any.
    pub if_none_match: Option<&'a [u8]>,
    /// The `If-Modified-Since` header's value, if any.
    pub if_modified_since: Option<&'a [u8]>,
    /// The `If-Match` header's value, if any.
    pub if_match: Option<&'a [u8]>,
    /// The `If-Unmodified-Since` header's value, if any.
    pub if_unmodified_since: Option<&'a [u8]>,
    /// The `If-Range` header's value, if any.
    pub if_range: Option<&'a [u8]>,
    /// The `Referer` header's value, if any (for the access log).
    pub referer: Option<&'a [u8]>,
    /// The `User-Agent` header's value, if any (for the access log).
    pub user_agent: Option<&'a [u8]>,
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
        return unfinished(buf, full, scan);
    };
    let head = &buf[..end];
    let mut lines = head.split(|&c| c == b'\n').map(trim_cr);
    let parsed = request_line(&mut lines).and_then(|mut req| {
        let mut seen_length = false;
        for line in lines.take_while(|l| !l.is_empty()) {
            header(&mut req, line, &mut seen_length)?;
        }
        Ok(req)
    });
    match parsed {
        Ok(req) => Parsed::Request(req, end),
        Err(status) => Parsed::Refuse(status),
    }
}

/// What a head without its end yet gives: refused early when it cannot be a request (a request
/// line starts with a token character: checked before the length, so the answer does not
/// depend on how the bytes arrived, as the fuzz target http_head found), too long when the
/// buffer is `full` (414 while still in the request line, else 431), else incomplete.
fn unfinished<'a>(buf: &[u8], full: bool, scan: &HeadScan) -> Parsed<'a> {
    if buf
        .first()
        .is_some_and(|&c| !is_tchar(c) && c != b'\r' && c != b'\n')
    {
        return Parsed::Refuse(400);
    }
    if full {
        return Parsed::Refuse(if scan.saw_line() { 431 } else { 414 });
    }
    Parsed::Incomplete
}

/// Reads the request line (after any empty lines, which RFC 9112 §2.2 says to ignore): a
/// request with its method, target and version, and no header yet; `Err(status)` to refuse it.
fn request_line<'a>(lines: &mut impl Iterator<Item = &'a [u8]>) -> Result<Request<'a>, u16> {
    let line = lines.find(|l| !l.is_empty()).ok_or(400u16)?;
    let mut parts = line.split(|&c| c == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !method.iter().all(|&c| is_tchar(c)) {
        return Err(400);
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        v if v.starts_with(b"HTTP/") => return Err(505),
        _ => return Err(400),
    };
    if target.first() != Some(&b'/') || target.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return Err(400);
    }
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => return Err(405),
    };
    Ok(Request {
        method,
        target,
        range: None,
        keep_alive: !http10,
        http10,
        content_length: 0,
        line,
        if_none_match: None,
        if_modified_since: None,
        if_match: None,
        if_unmodified_since: None,
        if_range: None,
        referer: None,
        user_agent: None,
    })
}

/// Reads one header line into `req` (`seen_length`: whether a `Content-Length` came before);
/// `Err(status)` to refuse the request.
fn header<'a>(req: &mut Request<'a>, line: &'a [u8], seen_length: &mut bool) -> Result<(), u16> {
    let colon = line.iter().position(|&c| c == b':').ok_or(400u16)?;
    let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
    if name.is_empty() || !name.iter().all(|&c| is_tchar(c)) {
        return Err(400);
    }
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    if is(b"connection") {
        for token in value.split(|&c| c == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                req.keep_alive = false;
            } else if token.eq_ignore_ascii_case(b"keep-alive") && req.http10 {
                req.keep_alive = true;
            }
        }
    } else if is(b"range") {
        req.range = Some(value);
    } else if is(b"content-length") {
        match number(value) {
            Some(n) if !*seen_length || n == req.content_length => req.content_length = n,
            _ => return Err(400),
        }
        *seen_length = true;
    } else if is(b"transfer-encoding") {
        // A request body we would have to de-chunk: not for a file server.
        return Err(400);
    } else {
        // The first of each of these counts.
        let slot = match () {
            _ if is(b"if-none-match") => &mut req.if_none_match,
            _ if is(b"if-modified-since") => &mut req.if_modified_since,
            _ if is(b"if-match") => &mut req.if_match,
            _ if is(b"if-unmodified-since") => &mut req.if_unmodified_since,
            _ if is(b"if-range") => &mut req.if_range,
            _ if is(b"referer") => &mut req.referer,
            _ if is(b"user-agent") => &mut req.user_agent,
            _ => return Ok(()),
        };
        slot.get_or_insert(value);
    }
    Ok(())
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
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
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

/// A file's entity tag in nginx's form (`ngx_http_set_etag`): `"<mtime>-<size>"`, the
/// modification time in seconds and the size in bytes, both in lower-case hex.
#[derive(Clone, Copy)]
pub struct ETag {
    buf: [u8; 36],
    len: usize,
}

impl ETag {
    /// The tag of a file of `size` bytes last modified `mtime` seconds after the epoch.
    pub fn new(mtime: i64, size: u64) -> ETag {
        // 2 quotes, a dash and two 16-digit numbers fit in 36 bytes.
        let mut buf = [0u8; 36];
        buf[0] = b'"';
        let mut len = 1 + hex(&mut buf[1..], mtime as u64);
        buf[len] = b'-';
        len += 1;
        len += hex(&mut buf[len..], size);
        buf[len] = b'"';
        ETag { buf, len: len + 1 }
    }

    /// The tag, quotes included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What the validator headers say about a file: its modification time and entity tag.
#[derive(Clone, Copy)]
pub(crate) struct Validators<'a> {
    pub mtime: i64,
    pub etag: &'a ETag,
}

/// Whether an `If-None-Match` (`weak`: weak comparison, a `W/` tag matching by its opaque
/// part) or `If-Match` (strong: a `W/` tag never matches) list holds `etag`: `*`, or
/// entity-tags separated by commas (RFC 9110 §13.1.1, §13.1.2). A malformed list matches
/// nothing after the malformed part.
pub fn etag_matches(list: &[u8], etag: &[u8], weak: bool) -> bool {
    let mut rest = trim(list);
    if rest == b"*" {
        return true;
    }
    loop {
        let start = rest
            .iter()
            .position(|&c| c != b' ' && c != b'\t' && c != b',')
            .unwrap_or(rest.len());
        rest = &rest[start..];
        if rest.is_empty() {
            return false;
        }
        let (is_weak, tag) = match rest.strip_prefix(b"W/") {
            Some(t) => (true, t),
            None => (false, rest),
        };
        if tag.first() != Some(&b'"') {
            return false;
        }
        let Some(close) = tag[1..].iter().position(|&c| c == b'"') else {
            return false;
        };
        let (tag, after) = tag.split_at(close + 2);
        if tag == etag && (weak || !is_weak) {
            return true;
        }
        rest = after;
    }
}

/// Whether an `If-Range` value lets a Range apply (RFC 9110 §13.1.5): an entity-tag that is
/// strongly equal to `etag`, or a date equal to `mtime`. A weak tag, another tag, another
/// date or something else: the whole file is sent.
pub fn if_range_matches(value: &[u8], etag: &[u8], mtime: i64) -> bool {
    let v = trim(value);
    if v.starts_with(b"W/") {
        return false;
    }
    if v.first() == Some(&b'"') {
        return v == etag;
    }
    super::date::parse_http_date(v) == Some(mtime)
}

/// Writes the status line and the headers every response has (`Server`, `Date`).
fn status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nServer: zcopy\r\nDate: ");
    out.extend_from_slice(&super::date::date_now());
    out.extend_from_slice(b"\r\n");
}

/// Writes `Last-Modified` and `ETag`.
fn validators(out: &mut Vec<u8>, v: Validators<'_>) {
    out.extend_from_slice(b"Last-Modified: ");
    out.extend_from_slice(&super::date::imf_fixdate(v.mtime));
    out.extend_from_slice(b"\r\nETag: ");
    out.extend_from_slice(v.etag.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes a file response's head into `out`: status, `Date`, type, length, `Last-Modified`,
/// `ETag`, range and connection headers. Returns the head's length (all of `out`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn file_head(
    out: &mut Vec<u8>,
    status: u16,
    len: u64,
    part: Option<(u64, u64, u64)>,
    ctype: &str,
    v: Validators<'_>,
    keep_alive: bool,
    http10: bool,
) -> usize {
    status_line(out, status);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(ctype.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    decimal(out, len);
    out.extend_from_slice(b"\r\n");
    validators(out, v);
    out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
    if let Some((start, end, size)) = part {
        out.extend_from_slice(b"Content-Range: bytes ");
        decimal(out, start);
        out.push(b'-');
        decimal(out, end - 1);
        out.push(b'/');
        decimal(out, size);
        out.extend_from_slice(b"\r\n");
    }
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
    out.len()
}

/// Writes a `304 Not Modified` (no body, no length: RFC 9110 §15.4.5) into `out`, with the
/// validators a 200 would have carried. Returns its length.
pub(crate) fn not_modified(
    out: &mut Vec<u8>,
    v: Validators<'_>,
    keep_alive: bool,
    http10: bool,
) -> usize {
    status_line(out, 304);
    validators(out, v);
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
    out.len()
}

/// Writes a `301 Moved Permanently` to `location` (written by the closure, after
/// `Location: `) into `out`, with a short text body unless `head_only`. Returns the head's
/// length.
pub(crate) fn redirect(
    out: &mut Vec<u8>,
    location: impl FnOnce(&mut Vec<u8>),
    head_only: bool,
    keep_alive: bool,
    http10: bool,
) -> usize {
    let reason = reason(301);
    status_line(out, 301);
    let _ = write!(
        out,
        "Content-Type: text/plain\r\nContent-Length: {}\r\nLocation: ",
        reason.len() + 5
    );
    location(out);
    out.extend_from_slice(b"\r\n");
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
    let head = out.len();
    if !head_only {
        let _ = writeln!(out, "301 {reason}");
    }
    head
}

/// Writes an error response (head and a short text body) into `out`; `size` is the file's size
/// for a 416. Returns the head's length.
pub(crate) fn error_response(
    out: &mut Vec<u8>,
    status: u16,
    size: Option<u64>,
    head_only: bool,
    keep_alive: bool,
    http10: bool,
) -> usize {
    let reason = reason(status);
    status_line(out, status);
    // The body: "404 Not Found\n".
    let _ = write!(
        out,
        "Content-Type: text/plain\r\nContent-Length: {}\r\n",
        reason.len() + 5
    );
    if status == 405 {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    if let Some(size) = size {
        let _ = write!(out, "Content-Range: bytes */{size}\r\n");
    }
    connection(out, keep_alive, http10);
    out.extend_from_slice(b"\r\n");
    let head = out.len();
    if !head_only {
        let _ = writeln!(out, "{status} {reason}");
    }
    head
}

/// Appends `n` in decimal (the hot path's numbers, without `fmt`'s machinery).
fn decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `n` in lower-case hex at the start of `buf` (16 bytes are always enough); returns
/// the digits written.
fn hex(buf: &mut [u8], n: u64) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - (n | 1).leading_zeros()).div_ceil(4) as usize;
    for (i, b) in buf[..digits].iter_mut().enumerate() {
        *b = DIGITS[((n >> (4 * (digits - 1 - i))) & 15) as usize];
    }
    digits
}

fn connection(out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// The first line of `buf` that is not empty, without its CR LF (all that is left when no
/// line ends): the request line of a refused request, for the access log.
pub(crate) fn first_line(buf: &[u8]) -> &[u8] {
    let start = buf
        .iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    trim_cr(&rest[..end])
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

    #[test]
    fn etags_are_nginx_s_and_compare_as_rfc_9110_says() {
        // nginx: Last-Modified Tue, 23 Apr 2019 10:18:21 GMT and 612 bytes.
        let tag = ETag::new(1_556_014_701, 612);
        assert_eq!(tag.as_bytes(), b"\"5cbee66d-264\"");
        assert_eq!(ETag::new(-1, u64::MAX).as_bytes().len(), 35);
        // The hand-written hex against fmt's, at every digit count.
        for (m, n) in [
            (0i64, 0u64),
            (1, 15),
            (16, 255),
            (-1, u64::MAX),
            (0x1234_5678, 1 << 40),
        ] {
            let want = format!("\"{:x}-{:x}\"", m as u64, n);
            assert_eq!(ETag::new(m, n).as_bytes(), want.as_bytes());
        }
        let t = tag.as_bytes();
        for (list, weak, strong) in [
            (&b"\"5cbee66d-264\""[..], true, true),
            (b"W/\"5cbee66d-264\"", true, false),
            (b"*", true, true),
            (b" \"a\", W/\"b\" ,\"5cbee66d-264\"", true, true),
            (b"\"a\",,W/\"5cbee66d-264\"", true, false),
            (b"\"5cbee66d-265\"", false, false),
            (b"5cbee66d-264", false, false),
            (b"\"5cbee66d-264", false, false),
            (b"", false, false),
        ] {
            let l = String::from_utf8_lossy(list);
            assert_eq!(etag_matches(list, t, true), weak, "weak {l}");
            assert_eq!(etag_matches(list, t, false), strong, "strong {l}");
        }
        let mtime = 1_556_014_701;
        assert!(if_range_matches(b"\"5cbee66d-264\"", t, mtime));
        assert!(if_range_matches(b"Tue, 23 Apr 2019 10:18:21 GMT", t, mtime));
        assert!(!if_range_matches(b"W/\"5cbee66d-264\"", t, mtime));
        assert!(!if_range_matches(b"\"other\"", t, mtime));
        assert!(!if_range_matches(
            b"Tue, 23 Apr 2019 10:18:22 GMT",
            t,
            mtime
        ));
        assert!(!if_range_matches(b"soon", t, mtime));
    }

    #[test]
    fn the_validator_and_log_headers_are_parsed() {
        let head = b"GET /f?x HTTP/1.1\r\nIf-None-Match: \"a\"\r\nif-modified-since: d1\r\nIf-Match: *\r\nIf-Unmodified-Since: d2\r\nIf-Range: \"r\"\r\nReferer: http://r/\r\nUser-Agent: curl/8\r\n\r\n";
        let Parsed::Request(req, n) = parse(head, false, &mut HeadScan::default()) else {
            panic!("not parsed");
        };
        assert_eq!(n, head.len());
        assert_eq!(req.line, b"GET /f?x HTTP/1.1");
        assert_eq!(req.if_none_match, Some(&b"\"a\""[..]));
        assert_eq!(req.if_modified_since, Some(&b"d1"[..]));
        assert_eq!(req.if_match, Some(&b"*"[..]));
        assert_eq!(req.if_unmodified_since, Some(&b"d2"[..]));
        assert_eq!(req.if_range, Some(&b"\"r\""[..]));
        assert_eq!(req.referer, Some(&b"http://r/"[..]));
        assert_eq!(req.user_agent, Some(&b"curl/8"[..]));
        assert_eq!(first_line(b"\r\nBAD LINE\r\nX: y"), b"BAD LINE");
        assert_eq!(first_line(b"GET /aaaa"), b"GET /aaaa");
    }
}
