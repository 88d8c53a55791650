//! `msg_zerocopy`: exact bytes over loopback TCP with completions counted, the socket option
//! restored, and refusals for sockets and pipes that cannot do it.

use std::os::fd::AsRawFd;

use crate::common::{self, End, Sink, Source};
use zcopy::{ErrorKind, Options, Strategy};

fn strict() -> Options<'static> {
    Options {
        strategy: Strategy::MsgZerocopy,
        fallback: false,
        ..Options::default()
    }
}

fn so_zerocopy(fd: &impl AsRawFd) -> i32 {
    let mut v: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for writes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ZEROCOPY,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt SO_ZEROCOPY");
    v
}

#[test]
fn exact_bytes_over_loopback_tcp_with_completions_counted() {
    for n in [0usize, 1, 4097, (1 << 20) + 1, 16 << 20] {
        let data = common::data(n, n as u64 + 3);
        let src = common::file_with(&data);
        let (c, s) = common::tcp_pair();
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut &s, &mut v).expect("drain");
            v
        });
        let r = zcopy::transfer(&src, &c, &strict()).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(so_zerocopy(&c), 0, "SO_ZEROCOPY left on");
        drop(c);
        common::assert_bytes(
            &reader.join().expect("reader"),
            &data,
            &format!("msg_zerocopy {n}"),
        );
        assert_eq!(r.bytes, n as u64);
        assert_eq!(r.strategy, Strategy::MsgZerocopy);
        if n > 0 {
            assert!(r.zerocopy_sends > 0, "{r:?}");
        }
        assert!(r.zerocopy_copied <= r.zerocopy_sends, "{r:?}");
        // One copy into the user buffer, plus what the kernel copied (on loopback: everything
        // whose completion arrived).
        assert!(
            r.cpu_copies_bytes >= r.bytes && r.cpu_copies_bytes <= 2 * r.bytes,
            "{r:?}"
        );
        println!(
            "msg_zerocopy {n}: {} sends, {} copied by the kernel",
            r.zerocopy_sends, r.zerocopy_copied
        );
    }
}

#[test]
fn from_a_stream_source_and_with_offsets() {
    let data = common::data(3 << 20, 8);
    let source = Source::new(End::Pipe, &data);
    let sink = Sink::new(End::Tcp);
    let r = zcopy::transfer(source.fd(), sink.fd(), &strict()).expect("pipe → tcp");
    source.finish();
    assert_eq!(r.bytes, data.len() as u64);
    common::assert_bytes(&sink.finish(), &data, "pipe → tcp");

    let src = common::file_with(&data);
    let sink = Sink::new(End::Tcp);
    let opts = Options {
        src_offset: Some(12345),
        len: Some(1 << 20),
        ..strict()
    };
    zcopy::transfer(&src, sink.fd(), &opts).expect("offsets");
    assert_eq!(
        common::pos(&src),
        0,
        "explicit offset left the position alone"
    );
    common::assert_bytes(
        &sink.finish(),
        &data[12345..12345 + (1 << 20)],
        "with offsets",
    );
}

#[test]
fn refused_where_the_kernel_cannot() {
    let data = common::data(10_000, 9);
    for end in [End::Unix, End::Pipe, End::File] {
        let src = common::file_with(&data);
        let sink = Sink::new(end);
        let e = zcopy::transfer(&src, sink.fd(), &strict()).expect_err("unsupported");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{end:?}: {e}");
        assert_eq!(e.bytes_moved(), 0);
        assert!(sink.finish().is_empty(), "{end:?}: bytes written");
    }
    // With fallback, Auto's list takes over.
    let src = common::file_with(&data);
    let sink = Sink::new(End::Unix);
    let r = zcopy::transfer(
        &src,
        sink.fd(),
        &Options {
            strategy: Strategy::MsgZerocopy,
            ..Options::default()
        },
    )
    .expect("fallback");
    assert_eq!(r.fallbacks[0].strategy, Strategy::MsgZerocopy);
    common::assert_bytes(&sink.finish(), &data, "after fallback");
}

#[test]
fn peer_gone_is_an_error_with_the_count() {
    let data = common::data(8 << 20, 10);
    let src = common::file_with(&data);
    let (c, s) = common::tcp_pair();
    drop(s);
    let e = zcopy::transfer(&src, &c, &strict()).expect_err("peer gone");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(
        matches!(e.errno(), Some(libc::EPIPE | libc::ECONNRESET)),
        "{e:?}"
    );
    assert_eq!(common::pos(&src), e.bytes_moved());
}
