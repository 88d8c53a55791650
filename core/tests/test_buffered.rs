//! `transfer_buffered`: bytes a buffered reader read ahead go out first, then the fd's, as one
//! transfer — exact bytes, `len` and `dst_offset` across both parts, progress counted from the
//! first byte, errors counting what went out, refusals before a byte moves, labels in messages.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use zcopy::{ErrorKind, Options, Strategy};

use crate::common::*;

/// A pipe holding `rest`, its writer closed.
fn fed_pipe(rest: &[u8]) -> std::fs::File {
    let (r, mut w) = pipe();
    w.write_all(rest).expect("fill the pipe");
    r
}

#[test]
fn read_ahead_then_the_fd_in_order_with_one_report() {
    let (head, rest) = (data(1000, 1), data(5000, 2));
    let src = fed_pipe(&rest);
    let dst = empty_file();
    let r = zcopy::transfer_buffered(&src, &head, &dst, &Options::default()).expect("transfer");
    assert_eq!(r.bytes, 6000);
    assert!(r.syscalls > 0, "the counters cover both parts");
    assert_bytes(&content(&dst), &[head, rest].concat(), "dst");
    assert_eq!(pos(&dst), 6000);
}

#[test]
fn len_within_the_read_ahead_leaves_the_fd_unread() {
    let head = data(1000, 3);
    let src = fed_pipe(b"after");
    let dst = empty_file();
    let opts = Options {
        len: Some(300),
        ..Options::default()
    };
    let r = zcopy::transfer_buffered(&src, &head, &dst, &opts).expect("transfer");
    assert_eq!(r.bytes, 300);
    assert_bytes(&content(&dst), &head[..300], "dst");
    let rest = zcopy::transfer(&src, &dst, &Options::default()).expect("the fd's bytes");
    assert_eq!(rest.bytes, 5, "the pipe was not read");
}

#[test]
fn len_and_dst_offset_span_both_parts() {
    let (head, rest) = (data(100, 4), data(400, 5));
    let src = fed_pipe(&rest);
    let dst = file_with(&[0u8; 10]);
    let opts = Options {
        len: Some(250),
        dst_offset: Some(10),
        ..Options::default()
    };
    let r = zcopy::transfer_buffered(&src, &head, &dst, &opts).expect("transfer");
    assert_eq!(r.bytes, 250);
    let want = [&[0u8; 10][..], &head, &rest[..150]].concat();
    assert_bytes(&content(&dst), &want, "dst");
    assert_eq!(pos(&dst), 0, "dst_offset leaves the position alone");
}

#[test]
fn progress_counts_from_the_first_byte_read_ahead() {
    let (head, rest) = (data(4096, 6), data(3 * 4096, 7));
    let src = fed_pipe(&rest);
    let dst = empty_file();
    let seen = Mutex::new(Vec::new());
    let hook = |n: u64| {
        seen.lock().expect("lock").push(n);
        true
    };
    let opts = Options {
        progress: Some(&hook),
        chunk_size: Some(4096),
        ..Options::default()
    };
    zcopy::transfer_buffered(&src, &head, &dst, &opts).expect("transfer");
    let seen = seen.into_inner().expect("lock");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.first(), Some(&4096), "{seen:?}");
    assert_eq!(seen.last(), Some(&(4 * 4096)), "{seen:?}");
}

#[test]
fn an_error_after_the_read_ahead_counts_it() {
    // A non-blocking empty pipe: the head goes out, then the fd would block.
    let head = data(700, 8);
    let (src, _w) = pipe();
    set_nonblocking(&src);
    let dst = empty_file();
    let e =
        zcopy::transfer_buffered(&src, &head, &dst, &Options::default()).expect_err("would block");
    assert!(e.is_would_block(), "{e}");
    assert_eq!(e.bytes_moved(), 700);
    assert_eq!(e.report().map(|r| r.bytes), Some(700));
    assert_bytes(&content(&dst), &head, "dst");
}

#[test]
fn a_refusal_sends_nothing_read_ahead() {
    let head = data(100, 9);
    let src = fed_pipe(b"rest");
    let dst = empty_file();
    let opts = Options {
        strategy: Strategy::CopyFileRange,
        fallback: false,
        ..Options::default()
    };
    let e = zcopy::transfer_buffered(&src, &head, &dst, &opts).expect_err("unsupported");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_eq!(e.bytes_moved(), 0);
    let flag = AtomicBool::new(true);
    let opts = Options {
        cancel: Some(&flag),
        ..Options::default()
    };
    let e = zcopy::transfer_buffered(&src, &head, &dst, &opts).expect_err("cancelled");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert_eq!(e.bytes_moved(), 0);
    assert!(content(&dst).is_empty());
}

#[test]
fn a_src_offset_is_refused_and_messages_use_the_labels() {
    let src = fed_pipe(b"x");
    let dst = empty_file();
    let opts = Options {
        src_offset: Some(0),
        ..Options::default()
    };
    let e = zcopy::transfer_buffered(&src, b"head", &dst, &opts).expect_err("src_offset");
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.message().contains("read ahead"), "{e}");
    // A read-only destination, named as the caller knows it.
    let ro = std::fs::File::open("/dev/null").expect("/dev/null");
    let e = zcopy::transfer_buffered_named(
        &src,
        Path::new("fd 5"),
        b"head",
        &ro,
        Path::new("fd 6"),
        &Options::default(),
    )
    .expect_err("read-only dst");
    assert!(e.message().contains("dst fd 6"), "{e}");
}
