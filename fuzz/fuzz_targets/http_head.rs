//! Fuzzes the request-head parser of `zcopy serve` (`zcopy_serve::http`): the first input byte
//! is how many bytes each `recv` brings (1 to 256), the rest is what the client sends. Checks
//! that the head parsed as it trickles in, into a buffer of `MAX_HEAD` bytes as a connection's,
//! gives exactly what parsing it in one piece gives; that the scan looks at each byte once
//! (linear time, however the bytes arrive); that a request's head length and fields lie in
//! what was sent; that pipelined heads after it parse the same way; and that every `Range`
//! value gives a range inside the file. A panic is a crash the fuzzer reports.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zcopy_serve::http::{self, HeadScan, Parsed, Range, MAX_HEAD};

/// What a parse gave, comparable.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Incomplete,
    Refuse(u16),
    Request {
        used: usize,
        get: bool,
        target: Vec<u8>,
        range: Option<Vec<u8>>,
        keep_alive: bool,
        http10: bool,
        content_length: u64,
    },
}

fn outcome(p: Parsed<'_>, buf: &[u8]) -> Outcome {
    match p {
        Parsed::Incomplete => Outcome::Incomplete,
        Parsed::Refuse(status) => {
            assert!(
                matches!(status, 400 | 405 | 414 | 431 | 505),
                "status {status}"
            );
            Outcome::Refuse(status)
        }
        Parsed::Request(req, used) => {
            assert!(
                used <= buf.len() && buf[..used].ends_with(b"\n"),
                "head length {used}"
            );
            assert!(req.target.first() == Some(&b'/'), "target {:?}", req.target);
            check_range(req.range);
            Outcome::Request {
                used,
                get: req.method == http::Method::Get,
                target: req.target.to_vec(),
                range: req.range.map(<[u8]>::to_vec),
                keep_alive: req.keep_alive,
                http10: req.http10,
                content_length: req.content_length,
            }
        }
    }
}

/// Every range of a file of one of a few sizes lies inside the file and is not empty.
fn check_range(spec: Option<&[u8]>) {
    for size in [0u64, 1, 2, 100, 4096, u64::MAX] {
        match http::range(spec, size) {
            Range::Full | Range::Unsatisfiable => {}
            Range::Part(start, end) => {
                assert!(
                    start < end && end <= size,
                    "{spec:?} of {size}: {start}..{end}"
                )
            }
        }
    }
}

/// Parses `data` as it arrives `step` bytes at a time into a buffer of `MAX_HEAD` bytes; the
/// outcome and the bytes the scan looked at.
fn trickled(data: &[u8], step: usize) -> (Outcome, u64, usize) {
    let cap = data.len().min(MAX_HEAD);
    let mut scan = HeadScan::default();
    let mut have = 0;
    loop {
        have = (have + step).min(cap);
        let o = outcome(
            http::parse(&data[..have], have == MAX_HEAD, &mut scan),
            data,
        );
        if o != Outcome::Incomplete || have == cap {
            return (o, scan.scanned, have);
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else {
        return;
    };
    check_range(Some(data));
    let mut rest = data;
    // The first head and up to 7 pipelined after it, as a connection reads them.
    for _ in 0..8 {
        let cap = rest.len().min(MAX_HEAD);
        let mut scan = HeadScan::default();
        let whole = outcome(http::parse(&rest[..cap], cap == MAX_HEAD, &mut scan), rest);
        assert!(
            scan.scanned <= cap as u64,
            "scanned {} of {cap}",
            scan.scanned
        );
        let (o, scanned, have) = trickled(rest, usize::from(step) + 1);
        assert!(scanned <= have as u64, "scanned {scanned} of {have} bytes");
        assert_eq!(o, whole, "{} bytes per recv", usize::from(step) + 1);
        match whole {
            // The request's body is skipped, as a connection does, before the next head.
            Outcome::Request {
                used,
                content_length,
                ..
            } => {
                let body = usize::try_from(content_length).unwrap_or(usize::MAX);
                rest = &rest[used.saturating_add(body).min(rest.len())..];
            }
            _ => return,
        }
    }
});
