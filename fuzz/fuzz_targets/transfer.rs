//! Fuzzes `zcopy::transfer` over techniques, option combinations, offsets, lengths and fd kinds
//! (regular files, pipes, a Unix socket, /dev/zero), checking that every call either moves exactly
//! the bytes the options ask for, to exactly where they belong, leaving positions as promised, or
//! returns a clean error whose `bytes_moved()` prefix is what the destination holds. A panic, an
//! abort or a signal is a crash the fuzzer reports.

#![no_main]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcopy::{CachePolicy, ErrorKind, Options, Strategy, SyncPolicy};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SrcKind {
    File,
    Pipe,
    Unix,
    DevZero,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum DstKind {
    File,
    AppendFile,
    Pipe,
    Unix,
}

/// An offset or length: small ones most of the time, and the edges.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(u16),
    Mid(u32),
    Huge(u64),
    Max,
}

impl Num {
    fn get(self) -> u64 {
        match self {
            Num::Small(n) => u64::from(n),
            Num::Mid(n) => u64::from(n % (4 << 20)),
            Num::Huge(n) => n,
            Num::Max => u64::MAX,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Case {
    src: SrcKind,
    dst: DstKind,
    /// Source bytes: `seed`-generated, this many (up to 1 MiB).
    src_len: u32,
    seed: u8,
    /// A hole at the start of a file source (sparse).
    hole: u16,
    /// Bytes already in a file destination.
    dst_len: u16,
    src_pos: u16,
    dst_pos: u16,
    strategy: u8,
    fallback: bool,
    src_offset: Option<Num>,
    dst_offset: Option<Num>,
    len: Option<Num>,
    chunk_size: Option<Num>,
    cache: u8,
    sync: u8,
    sparse: bool,
    queue_depth: Option<u16>,
    parallelism: Option<u8>,
    direct_threshold: Option<Num>,
    /// Stop from the progress callback after this many calls.
    stop_after: Option<u8>,
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(u32::from(seed % 31)) as u8)
        .collect()
}

fn temp(dir: &std::path::Path, name: &str, append: bool) -> File {
    let _ = std::fs::remove_file(dir.join(name));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .append(append)
        .custom_flags(libc::O_CLOEXEC)
        .open(dir.join(name))
        .expect("temp file");
    f
}

fn getfl(f: &impl AsFd) -> i32 {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL reads no memory; the fd is open.
    let fl = unsafe { libc::fcntl(f.as_fd().as_raw_fd(), libc::F_GETFL) };
    assert!(fl >= 0, "the caller's fd was closed");
    fl
}

fuzz_target!(|case: Case| {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // The feeder threads below may write to a pipe whose reader zcopy refused: the harness
        // (not zcopy) would get SIGPIPE. zcopy itself never raises it; that is tested elsewhere.
        // SAFETY: setting a signal's disposition to SIG_IGN is async-signal-safe and process-wide
        // by design here, in the fuzzing process only.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    });
    if std::env::var_os("ZCOPY_FUZZ_PRINT").is_some() {
        // What a kept input means, for turning it into a named test.
        eprintln!("{case:#?}");
    }
    let dir = std::env::temp_dir().join(format!("zcopy-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("fuzz dir");

    let n = (case.src_len % (1 << 20)) as usize;
    let content = {
        let mut c = bytes(n, case.seed);
        let hole = (case.hole as usize).min(n);
        c[..hole].fill(0);
        c
    };
    let strategy = Strategy::ALL[case.strategy as usize % Strategy::ALL.len()];
    let calls = std::sync::atomic::AtomicU32::new(0);
    let stop = |_: u64| {
        let k = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        case.stop_after.is_none_or(|s| k < u32::from(s))
    };
    let opts = Options {
        strategy,
        fallback: case.fallback,
        src_offset: case.src_offset.map(Num::get),
        dst_offset: case.dst_offset.map(Num::get),
        len: case.len.map(Num::get),
        // At most ~20,000 chunks: a 1 MiB source in 1-byte chunks is a million syscalls, which
        // is slow (16 s under ASan), not wrong, and would stop the fuzzer with a timeout.
        chunk_size: case.chunk_size.map(Num::get).map(|c| {
            if c > 0 && n as u64 / c > 20_000 {
                (n as u64).div_ceil(20_000)
            } else {
                c
            }
        }),
        progress: Some(&stop),
        cache: CachePolicy::ALL[case.cache as usize % CachePolicy::ALL.len()],
        sync: SyncPolicy::ALL[case.sync as usize % SyncPolicy::ALL.len()],
        sparse: case.sparse,
        queue_depth: case.queue_depth.map(u32::from),
        parallelism: case.parallelism.map(u32::from),
        direct_threshold: case.direct_threshold.map(Num::get),
        ..Options::default()
    };

    // The source, and what reading it from its start position gives.
    let mut feeder = None;
    let (src, src_start, src_is_file): (Box<dyn AsFd>, u64, bool) = match case.src {
        SrcKind::File => {
            let mut f = temp(&dir, "src", false);
            if case.hole as usize >= n && n > 0 {
                f.set_len(n as u64).expect("set_len");
            } else {
                f.write_all(&content).expect("write src");
            }
            let p = u64::from(case.src_pos) % (n as u64 + 2);
            f.seek(SeekFrom::Start(p)).expect("seek src");
            (Box::new(f), p, true)
        }
        SrcKind::DevZero => {
            if case.len.is_none_or(|l| l.get() > 4 << 20) {
                // To end of file an endless source is refused (tested elsewhere); a huge len
                // would run for ever. Neither is worth fuzzing.
                return;
            }
            (Box::new(File::open("/dev/zero").expect("/dev/zero")), 0, false)
        }
        SrcKind::Pipe | SrcKind::Unix => {
            let (r, mut w): (Box<dyn AsFd + Send>, Box<dyn Write + Send>) = match case.src {
                SrcKind::Pipe => {
                    let (r, w) = std::io::pipe().expect("pipe");
                    (Box::new(r), Box::new(w))
                }
                _ => {
                    let (a, b) = UnixStream::pair().expect("socketpair");
                    (Box::new(a), Box::new(b))
                }
            };
            let c = content.clone();
            feeder = Some(std::thread::spawn(move || {
                let _ = w.write_all(&c);
            }));
            (r, 0, false)
        }
    };

    // The destination.
    let mut drain = None;
    let dst_before = bytes(case.dst_len as usize, case.seed.wrapping_add(1));
    let (dst, dst_file): (Box<dyn AsFd>, Option<File>) = match case.dst {
        DstKind::File | DstKind::AppendFile => {
            let append = matches!(case.dst, DstKind::AppendFile);
            let mut f = temp(&dir, "dst", append);
            f.write_all(&dst_before).expect("write dst");
            let p = u64::from(case.dst_pos) % (dst_before.len() as u64 + 2);
            f.seek(SeekFrom::Start(p)).expect("seek dst");
            let g = f.try_clone().expect("clone dst");
            (Box::new(f), Some(g))
        }
        DstKind::Pipe | DstKind::Unix => {
            let (w, mut r): (Box<dyn AsFd>, Box<dyn Read + Send>) = match case.dst {
                DstKind::Pipe => {
                    let (r, w) = std::io::pipe().expect("pipe");
                    (Box::new(w), Box::new(r))
                }
                _ => {
                    let (a, b) = UnixStream::pair().expect("socketpair");
                    (Box::new(a), Box::new(b))
                }
            };
            drain = Some(std::thread::spawn(move || {
                let mut got = Vec::new();
                let _ = r.read_to_end(&mut got);
                got
            }));
            (w, None)
        }
    };
    let dst_pos = dst_file.as_ref().map(|f| {
        let mut f = f;
        f.stream_position().expect("dst position")
    });
    let (src_fl, dst_fl) = (getfl(&src), getfl(&dst));

    let cancel = AtomicBool::new(false);
    let opts = Options {
        cancel: Some(&cancel),
        ..opts
    };
    let result = zcopy::transfer(src.as_fd(), dst.as_fd(), &opts);

    // The caller's fds are open and their flags unchanged.
    assert_eq!(getfl(&src), src_fl, "src flags changed");
    assert_eq!(getfl(&dst), dst_fl, "dst flags changed");
    drop(src); // unblocks a feeder zcopy did not drain
    drop(dst); // ends a drain
    if let Some(f) = feeder {
        f.join().expect("feeder");
    }
    let drained = drain.map(|d| d.join().expect("drain"));

    let moved = match &result {
        Ok(r) => r.bytes,
        Err(e) => {
            // A clean error: a kind, a message, and no more bytes than could exist.
            assert!(!e.message().is_empty(), "an error without a message: {e:?}");
            if e.kind() == ErrorKind::Io {
                assert!(e.errno().is_some(), "an OS error without errno: {e:?}");
            }
            e.bytes_moved()
        }
    };
    // What the source gave from where the transfer began.
    let start = if src_is_file {
        opts.src_offset.unwrap_or(src_start)
    } else {
        0
    };
    let expect_src = |k: u64| -> Vec<u8> {
        match case.src {
            SrcKind::DevZero => vec![0u8; k as usize],
            _ => {
                let s = (start.min(n as u64)) as usize;
                content[s..(s + k as usize).min(n)].to_vec()
            }
        }
    };
    if matches!(case.src, SrcKind::File | SrcKind::Pipe | SrcKind::Unix) {
        assert!(
            moved <= (n as u64).saturating_sub(if src_is_file { start } else { 0 }),
            "moved {moved} of a {n}-byte source from {start}: {result:?}"
        );
    }
    if let Ok(r) = &result {
        if let Some(l) = opts.len {
            assert!(r.bytes <= l, "moved {} past len {l}", r.bytes);
        }
        if src_is_file {
            let want = (n as u64).saturating_sub(start).min(opts.len.unwrap_or(u64::MAX));
            assert_eq!(r.bytes, want, "a file source moved short: {r:?}");
        }
    }
    let want = expect_src(moved);
    assert_eq!(want.len() as u64, moved, "bytes_moved past what the source holds");
    match (dst_file, drained) {
        (Some(f), _) => {
            let size = f.metadata().expect("metadata").len();
            let at = if matches!(case.dst, DstKind::AppendFile) {
                dst_before.len() as u64
            } else {
                opts.dst_offset.or(dst_pos).unwrap_or(0)
            };
            let read = |off: u64, len: usize| {
                let mut v = vec![0u8; len];
                f.read_exact_at(&mut v, off).expect("read dst back");
                v
            };
            if moved > 0 {
                assert!(size >= at + moved, "dst holds {size} bytes, fewer than {at} + {moved}: {result:?}");
                assert!(read(at, moved as usize) == want, "dst bytes differ: {result:?}");
            }
            // Before the written range: the old bytes (all of them when nothing moved), then
            // zeros up to it (a few probed: the gap may be terabytes of hole).
            let keep = (dst_before.len() as u64).min(if moved > 0 { at } else { u64::MAX });
            let keep = keep.min(size) as usize;
            assert!(read(0, keep) == dst_before[..keep], "bytes before the range changed: {result:?}");
            if moved > 0 && at > dst_before.len() as u64 {
                let gap = at - dst_before.len() as u64;
                for probe in [0, gap / 2, gap - 1] {
                    let off = dst_before.len() as u64 + probe;
                    assert_eq!(read(off, 1), [0], "the gap is not zeros at {off}");
                }
            }
        }
        (None, Some(got)) => {
            assert_eq!(got.len() as u64, moved, "the reader got other than bytes_moved: {result:?}");
            assert!(got == want, "the reader got other bytes: {result:?}");
        }
        (None, None) => unreachable!("a destination is a file or a stream"),
    }
});

