//! The per-call cost of a [`zcopy::Prepared`] run against the bare syscall it makes: 4 KiB
//! file → loopback TCP (against `sendfile`) and 4 KiB file → file (against `copy_file_range`,
//! and `pread` + `pwrite`, what Auto picks at that size). Each round runs every case once, in a
//! rotating order, as a batch of `OPS` calls; a case's figure is its time per call, and each
//! ratio the median over the rounds of the ratio taken within the round (a busy machine slows
//! both sides of it). The lowest per-call time of each case is printed too: the least
//! disturbed batch. Two more cases make, bare, the syscalls a run adds for its Report and its
//! checks (the thread CPU clock and getrusage at both ends, an fstat per file end): the floor a
//! metered call can reach.
//!
//! `cargo run --release -p zcopy --example per_call [ROUNDS]` (default 21). Files live in
//! `$ZCOPY_DIR` (default /tmp).

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use zcopy::{Options, Prepared};

/// Calls per batch.
const OPS: u64 = 2_000;
/// Bytes per call.
const SIZE: u64 = 4096;

type Case<'a> = (&'static str, Box<dyn FnMut(u64) + 'a>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(21), |s| s.parse())?;
    let dir = std::env::var_os("ZCOPY_DIR").unwrap_or_else(|| "/tmp".into());
    let src_path = std::path::Path::new(&dir).join("zcopy-per-call.src");
    let dst_path = std::path::Path::new(&dir).join("zcopy-per-call.dst");
    File::create(&src_path)?.write_all(&vec![7u8; (SIZE * OPS) as usize])?;
    let src = File::open(&src_path)?;
    let dst = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&dst_path)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let sock = TcpStream::connect(listener.local_addr()?)?;
    let (mut peer, _) = listener.accept()?;
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(peer.read(&mut buf), Ok(n) if n > 0) {}
    });
    let opts = Options::default();
    let mut to_sock = Prepared::new(&src, &sock, &opts)?;
    let mut to_file = Prepared::new(&src, &dst, &opts)?;
    let cfr = Options {
        strategy: zcopy::Strategy::CopyFileRange,
        fallback: false,
        ..Options::default()
    };
    let mut to_file_cfr = Prepared::new(&src, &dst, &cfr)?;
    let (s, d, t) = (src.as_raw_fd(), dst.as_raw_fd(), sock.as_raw_fd());
    let mut buf = vec![0u8; SIZE as usize];
    let bufp = buf.as_mut_ptr();
    // What a run's Report costs: the thread CPU clock and getrusage, read at both ends.
    let meter = || {
        // SAFETY: `ts` and `ru` are live locals valid for writes.
        unsafe {
            let mut ts = std::mem::zeroed::<libc::timespec>();
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
            let mut ru = std::mem::zeroed::<libc::rusage>();
            libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        }
    };
    // The thread CPU clock alone (no getrusage: no context switches, no user share).
    let clock_only = || {
        // SAFETY: `ts` is a live local valid for writes.
        unsafe {
            let mut ts = std::mem::zeroed::<libc::timespec>();
            libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        }
    };
    let fstat = |fd: i32| {
        // SAFETY: `st` is a live local valid for writes; the fd is open.
        unsafe {
            let mut st = std::mem::zeroed::<libc::stat>();
            libc::fstat(fd, &mut st);
        }
    };
    let mut cases: Vec<Case<'_>> = vec![
        (
            "bare sendfile → tcp",
            Box::new(|i| {
                let mut off = (i * SIZE) as libc::off_t;
                // SAFETY: `off` is a live local; the fds are open.
                let n = unsafe { libc::sendfile(t, s, &mut off, SIZE as usize) };
                assert_eq!(n, SIZE as isize);
            }),
        ),
        (
            "prepared → tcp",
            Box::new(|i| {
                let r = to_sock.run(Some(SIZE), Some(i * SIZE), None).expect("run");
                assert_eq!(r.bytes, SIZE);
            }),
        ),
        (
            "bare copy_file_range",
            Box::new(|i| {
                let (mut a, mut b) = ((i * SIZE) as libc::loff_t, 0 as libc::loff_t);
                // SAFETY: both offsets are live locals; the fds are open.
                let n = unsafe { libc::copy_file_range(s, &mut a, d, &mut b, SIZE as usize, 0) };
                assert_eq!(n, SIZE as isize);
            }),
        ),
        (
            "bare pread + pwrite",
            Box::new(move |i| {
                // SAFETY: `bufp` points to SIZE writable bytes that outlive the loop.
                let n = unsafe { libc::pread(s, bufp.cast(), SIZE as usize, (i * SIZE) as i64) };
                assert_eq!(n, SIZE as isize);
                // SAFETY: as above; the bytes were just read.
                let n = unsafe { libc::pwrite(d, bufp.cast(), SIZE as usize, 0) };
                assert_eq!(n, SIZE as isize);
            }),
        ),
        (
            "prepared → file",
            Box::new(|i| {
                let r = to_file
                    .run(Some(SIZE), Some(i * SIZE), Some(0))
                    .expect("run");
                assert_eq!(r.bytes, SIZE);
            }),
        ),
        (
            "sendfile + metering",
            Box::new(move |i| {
                meter();
                fstat(s);
                let mut off = (i * SIZE) as libc::off_t;
                // SAFETY: `off` is a live local; the fds are open.
                let n = unsafe { libc::sendfile(t, s, &mut off, SIZE as usize) };
                assert_eq!(n, SIZE as isize);
                meter();
            }),
        ),
        (
            "pread+pwrite + metering",
            Box::new(move |i| {
                meter();
                fstat(s);
                fstat(d);
                // SAFETY: `bufp` points to SIZE writable bytes that outlive the loop.
                let n = unsafe { libc::pread(s, bufp.cast(), SIZE as usize, (i * SIZE) as i64) };
                assert_eq!(n, SIZE as isize);
                // SAFETY: as above; the bytes were just read.
                let n = unsafe { libc::pwrite(d, bufp.cast(), SIZE as usize, 0) };
                assert_eq!(n, SIZE as isize);
                meter();
            }),
        ),
        (
            "sendfile + clock only",
            Box::new(move |i| {
                clock_only();
                fstat(s);
                let mut off = (i * SIZE) as libc::off_t;
                // SAFETY: `off` is a live local; the fds are open.
                let n = unsafe { libc::sendfile(t, s, &mut off, SIZE as usize) };
                assert_eq!(n, SIZE as isize);
                clock_only();
            }),
        ),
        (
            "prepared → file (cfr)",
            Box::new(|i| {
                let r = to_file_cfr
                    .run(Some(SIZE), Some(i * SIZE), Some(0))
                    .expect("run");
                assert_eq!(r.bytes, SIZE);
            }),
        ),
    ];
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for k in 0..cases.len() {
            let c = (k + round) % cases.len();
            let t0 = Instant::now();
            for i in 0..OPS {
                (cases[c].1)(i);
            }
            per_call[c].push(t0.elapsed().as_nanos() as f64 / OPS as f64);
        }
    }
    println!("{rounds} rounds of {OPS} calls of {SIZE} bytes per case, interleaved");
    println!("  {:<24} {:>10} {:>10}", "case", "median µs", "lowest µs");
    for (c, v) in cases.iter().zip(&per_call) {
        let (med, lo) = (
            median(v.clone()),
            v.iter().copied().fold(f64::MAX, f64::min),
        );
        println!("  {:<24} {:>10.2} {:>10.2}", c.0, med / 1e3, lo / 1e3);
    }
    let ratio = |a: usize, b: usize| {
        let r: Vec<f64> = per_call[a]
            .iter()
            .zip(&per_call[b])
            .map(|(x, y)| x / y)
            .collect();
        let lo = per_call[a].iter().copied().fold(f64::MAX, f64::min)
            / per_call[b].iter().copied().fold(f64::MAX, f64::min);
        format!(
            "{:.2}× (median of per-round ratios), {lo:.2}× (lowest ÷ lowest)",
            median(r)
        )
    };
    println!("prepared → tcp  ÷ bare sendfile:        {}", ratio(1, 0));
    println!("prepared → file ÷ bare copy_file_range: {}", ratio(4, 2));
    println!("prepared → file ÷ bare pread + pwrite:  {}", ratio(4, 3));
    println!("floor with the same syscalls (metering, fstat) done bare:");
    println!(
        "  sendfile + metering ÷ bare sendfile:          {}",
        ratio(5, 0)
    );
    println!(
        "  prepared → tcp ÷ sendfile + metering:         {}",
        ratio(1, 5)
    );
    println!(
        "  pread+pwrite + metering ÷ bare pread + pwrite: {}",
        ratio(6, 3)
    );
    println!(
        "  prepared → file ÷ pread+pwrite + metering:     {}",
        ratio(4, 6)
    );
    println!(
        "  sendfile + the clock only (no getrusage) ÷ bare sendfile: {}",
        ratio(7, 0)
    );
    println!(
        "prepared → file, copy_file_range named ÷ bare copy_file_range: {}",
        ratio(8, 2)
    );
    println!(
        "prepared → file, copy_file_range named ÷ Auto's pick: {}",
        ratio(8, 4)
    );
    drop(cases);
    drop(to_sock);
    sock.shutdown(std::net::Shutdown::Both)?;
    let _ = drain.join();
    std::fs::remove_file(&src_path)?;
    std::fs::remove_file(&dst_path)?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
