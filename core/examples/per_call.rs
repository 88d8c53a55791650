//! The per-call cost of a [`zcopy::Prepared`] run against the bare syscall it makes: 4 KiB
//! file → loopback TCP (against `sendfile`) and 4 KiB file → file (against `copy_file_range`,
//! and `pread` + `pwrite`, what Auto picks at that size). Each round runs every case once, in a
//! rotating order, as a batch of `OPS` calls; a case's figure is its time per call, and each
//! ratio the median over the rounds of the ratio taken within the round (a busy machine slows
//! both sides of it). The lowest per-call time of each case is printed too: the least
//! disturbed batch. Two more cases make, bare, the syscalls a metered run adds for its Report
//! (the thread CPU clock and getrusage at both ends): the floor a metered call can reach. Every
//! prepared case here runs a length from an offset within the file, so it makes no `fstat` of
//! the source (a run to end of file makes one): with the meter off its floor is the bare
//! syscall itself. Two cases make the `fstat` and the syscall bare, the floor of a run that
//! looks at the source's size; one more adds the stop hook's tick on the socket (a
//! `getsockopt` and two `setsockopt` of `SO_SNDTIMEO`), which a Python call on the main thread
//! made to stay stoppable by Ctrl-C until Python's SIGINT was found to interrupt the wait. Two
//! cases run prepared transfers with the CPU meter off ([`Prepared::set_cpu_meter`]), as a file
//! server's bodies do. Last, a plain [`zcopy::transfer`] to TCP, beside the 12 syscalls it makes
//! done bare (both ends classified, `SO_DOMAIN`, SIGPIPE masked, the meter, the `sendfile`), and
//! the 17 Python's `zcopy.transfer` makes on the main thread (those, a duplicate of each fd and
//! its `close`, SIGINT's `sigaction`): the floor of a plain call that keeps its promises.
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

/// The files and the connected socket every case works on.
struct Fixture {
    src_path: std::path::PathBuf,
    dst_path: std::path::PathBuf,
    src: File,
    dst: File,
    sock: TcpStream,
    drain: std::thread::JoinHandle<()>,
}

impl Fixture {
    fn new() -> std::io::Result<Fixture> {
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
        Ok(Fixture {
            src_path,
            dst_path,
            src,
            dst,
            sock,
            drain,
        })
    }

    fn close(self) -> std::io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Both)?;
        let _ = self.drain.join();
        std::fs::remove_file(&self.src_path)?;
        std::fs::remove_file(&self.dst_path)
    }
}

/// What a run's Report costs: the thread CPU clock and getrusage, read at both ends.
fn meter() {
    // SAFETY: `ts` and `ru` are live locals valid for writes.
    unsafe {
        let mut ts = std::mem::zeroed::<libc::timespec>();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        let mut ru = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
    }
}

/// The thread CPU clock alone (no getrusage: no context switches, no user share).
fn clock_only() {
    // SAFETY: `ts` is a live local valid for writes.
    unsafe {
        let mut ts = std::mem::zeroed::<libc::timespec>();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
}

fn fstat(fd: i32) {
    // SAFETY: `st` is a live local valid for writes; the fd is open.
    unsafe {
        let mut st = std::mem::zeroed::<libc::stat>();
        libc::fstat(fd, &mut st);
    }
}

/// `getsockopt(fd, SOL_SOCKET, opt)`, bare, read into a `T`: a plain C value (a `timeval`, a
/// `c_int`) of the option's size.
fn sockopt<T: Copy>(fd: i32, opt: i32) -> T {
    // SAFETY: every `T` this example reads is a plain C value, valid as all-zero bytes.
    let mut v: T = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live locals of the sizes given; the fd is open.
    unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&raw mut v).cast(), &mut len);
    }
    v
}

/// What arming the stop hook's tick costs a socket destination (Python's main thread does):
/// read `SO_SNDTIMEO`, set it to 100 ms.
fn tick(t: i32) {
    let _old: libc::timeval = sockopt(t, libc::SO_SNDTIMEO);
    set_send_timeout(t, 100_000);
}

/// Restores the timeout [`tick`] replaced.
fn tick_off(t: i32) {
    set_send_timeout(t, 0);
}

/// `setsockopt(t, SOL_SOCKET, SO_SNDTIMEO, {0, usec})`, bare.
fn set_send_timeout(t: i32, usec: libc::suseconds_t) {
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: usec,
    };
    let len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` is a live local of the size given; the fd is open.
    unsafe {
        libc::setsockopt(
            t,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast(),
            len,
        );
    }
}

fn sendfile(t: i32, s: i32, i: u64) {
    let mut off = (i * SIZE) as libc::off_t;
    // SAFETY: `off` is a live local; the fds are open.
    let n = unsafe { libc::sendfile(t, s, &mut off, SIZE as usize) };
    assert_eq!(n, SIZE as isize);
}

fn copy_file_range(s: i32, d: i32, i: u64) {
    let (mut a, mut b) = ((i * SIZE) as libc::loff_t, 0 as libc::loff_t);
    // SAFETY: both offsets are live locals; the fds are open.
    let n = unsafe { libc::copy_file_range(s, &mut a, d, &mut b, SIZE as usize, 0) };
    assert_eq!(n, SIZE as isize);
}

fn pread_pwrite(s: i32, d: i32, buf: &mut [u8], i: u64) {
    // SAFETY: `buf` holds SIZE writable bytes.
    let n = unsafe { libc::pread(s, buf.as_mut_ptr().cast(), SIZE as usize, (i * SIZE) as i64) };
    assert_eq!(n, SIZE as isize);
    // SAFETY: as above; the bytes were just read.
    let n = unsafe { libc::pwrite(d, buf.as_ptr().cast(), SIZE as usize, 0) };
    assert_eq!(n, SIZE as isize);
}

/// `statx(fd, "", AT_EMPTY_PATH)` and `fcntl(fd, F_GETFL)`: what classifying one end costs.
fn classify(fd: i32) {
    // SAFETY: `stx` is a live local valid for writes; the path is a NUL-terminated literal;
    // the fd is open.
    unsafe {
        let mut stx = std::mem::zeroed::<libc::statx>();
        libc::statx(
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_BASIC_STATS,
            &mut stx,
        );
        libc::fcntl(fd, libc::F_GETFL);
    }
}

/// The syscalls a plain `zcopy::transfer` of 4 KiB file → TCP makes, done bare: both ends
/// classified, the socket's `SO_DOMAIN` (the Report's copy model), SIGPIPE blocked and
/// unblocked around the send, the meter at both ends, the `sendfile`. With `python`, what
/// `zcopy.transfer` adds on the main thread: a duplicate of each fd, closed after, and
/// SIGINT's `sigaction` (whether a signal interrupts a wait).
fn transfer_bare(s: i32, t: i32, i: u64, python: bool) {
    let (mut s, mut t) = (s, t);
    if python {
        // SAFETY: both fds are open; the duplicates are closed below.
        unsafe {
            s = libc::fcntl(s, libc::F_DUPFD_CLOEXEC, 0);
            t = libc::fcntl(t, libc::F_DUPFD_CLOEXEC, 0);
        }
    }
    meter();
    classify(s);
    classify(t);
    let _domain: libc::c_int = sockopt(t, libc::SO_DOMAIN);
    // SAFETY: the sigsets and the sigaction are live locals; the fds are open; the old mask is
    // restored.
    unsafe {
        if python {
            let mut old = std::mem::zeroed::<libc::sigaction>();
            libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old);
        }
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        let mut old = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        sendfile(t, s, i);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    meter();
    if python {
        // SAFETY: the duplicates made above, closed once.
        unsafe {
            libc::close(s);
            libc::close(t);
        }
    }
}

/// The bare syscalls, and the same with the metering a run adds, done by hand.
fn bare_cases<'a>(f: &'a Fixture) -> Vec<Case<'a>> {
    let (s, d, t) = (f.src.as_raw_fd(), f.dst.as_raw_fd(), f.sock.as_raw_fd());
    let mut b1 = vec![0u8; SIZE as usize];
    let mut b2 = vec![0u8; SIZE as usize];
    vec![
        ("bare sendfile → tcp", Box::new(move |i| sendfile(t, s, i))),
        (
            "bare copy_file_range",
            Box::new(move |i| copy_file_range(s, d, i)),
        ),
        (
            "bare pread + pwrite",
            Box::new(move |i| pread_pwrite(s, d, &mut b1, i)),
        ),
        (
            "sendfile + metering",
            Box::new(move |i| {
                meter();
                sendfile(t, s, i);
                meter();
            }),
        ),
        (
            "pread+pwrite + metering",
            Box::new(move |i| {
                meter();
                pread_pwrite(s, d, &mut b2, i);
                meter();
            }),
        ),
        (
            "sendfile + fstat",
            Box::new(move |i| {
                fstat(s);
                sendfile(t, s, i);
            }),
        ),
        (
            "sendfile+fstat+tick",
            Box::new(move |i| {
                fstat(s);
                tick(t);
                sendfile(t, s, i);
                tick_off(t);
            }),
        ),
        (
            "cfr + fstat",
            Box::new(move |i| {
                fstat(s);
                copy_file_range(s, d, i);
            }),
        ),
        (
            "sendfile + clock only",
            Box::new(move |i| {
                clock_only();
                sendfile(t, s, i);
                clock_only();
            }),
        ),
        (
            "transfer's 12, bare",
            Box::new(move |i| transfer_bare(s, t, i, false)),
        ),
        (
            "py transfer's 17, bare",
            Box::new(move |i| transfer_bare(s, t, i, true)),
        ),
    ]
}

/// A plain `zcopy::transfer` of SIZE bytes from `i * SIZE` of the source to the socket.
fn transfer_case(f: &Fixture) -> Case<'_> {
    let run = move |i: u64| {
        let opts = Options {
            len: Some(SIZE),
            src_offset: Some(i * SIZE),
            ..Options::default()
        };
        let r = zcopy::transfer(&f.src, &f.sock, &opts).expect("transfer");
        assert_eq!((r.bytes, r.syscalls), (SIZE, 12), "{r:?}");
    };
    ("transfer → tcp", Box::new(run))
}

/// A prepared run of SIZE bytes from `i * SIZE` of the source, as a case.
fn prepared_case<'a>(
    name: &'static str,
    mut p: Prepared<'a, 'static>,
    to_file: bool,
    meter_on: bool,
) -> Case<'a> {
    p.set_cpu_meter(meter_on);
    let run = move |i: u64| {
        let r = p
            .run(Some(SIZE), Some(i * SIZE), to_file.then_some(0))
            .expect("run");
        assert_eq!(r.bytes, SIZE);
    };
    (name, Box::new(run))
}

fn prepared_cases(f: &Fixture) -> Result<Vec<Case<'_>>, zcopy::Error> {
    let auto = Options::default();
    let cfr = Options {
        strategy: zcopy::Strategy::CopyFileRange,
        fallback: false,
        ..Options::default()
    };
    let (src, dst, sock) = (&f.src, &f.dst, &f.sock);
    Ok(vec![
        prepared_case(
            "prepared → tcp",
            Prepared::new(src, sock, &auto)?,
            false,
            true,
        ),
        prepared_case(
            "prepared → file",
            Prepared::new(src, dst, &auto)?,
            true,
            true,
        ),
        prepared_case(
            "prepared → file (cfr)",
            Prepared::new(src, dst, &cfr)?,
            true,
            true,
        ),
        prepared_case(
            "→ tcp, meter off",
            Prepared::new(src, sock, &auto)?,
            false,
            false,
        ),
        prepared_case(
            "→ file (cfr), meter off",
            Prepared::new(src, dst, &cfr)?,
            true,
            false,
        ),
    ])
}

/// Every case once per round, in a rotating order; each case's time per call, per round.
fn measure(cases: &mut [Case<'_>], rounds: usize) -> Vec<Vec<f64>> {
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
    per_call
}

fn lowest(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::MAX, f64::min)
}

fn print(cases: &[Case<'_>], per_call: &[Vec<f64>], rounds: usize) {
    println!("{rounds} rounds of {OPS} calls of {SIZE} bytes per case, interleaved");
    println!("  {:<24} {:>10} {:>10}", "case", "median µs", "lowest µs");
    for (c, v) in cases.iter().zip(per_call) {
        let med = median(v.clone());
        println!(
            "  {:<24} {:>10.2} {:>10.2}",
            c.0,
            med / 1e3,
            lowest(v) / 1e3
        );
    }
    let at = |name: &str| cases.iter().position(|c| c.0 == name).expect("a case");
    let ratio = |a: &str, b: &str| {
        let (a, b) = (&per_call[at(a)], &per_call[at(b)]);
        let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        format!(
            "{:.2}× (median of per-round ratios), {:.2}× (lowest ÷ lowest)",
            median(r),
            lowest(a) / lowest(b)
        )
    };
    let lines = [
        ("prepared → tcp", "bare sendfile → tcp"),
        ("→ tcp, meter off", "bare sendfile → tcp"),
        ("prepared → file", "bare copy_file_range"),
        ("prepared → file", "bare pread + pwrite"),
        ("prepared → file (cfr)", "bare copy_file_range"),
        ("→ file (cfr), meter off", "bare copy_file_range"),
        ("prepared → file (cfr)", "prepared → file"),
        ("sendfile + metering", "bare sendfile → tcp"),
        ("prepared → tcp", "sendfile + metering"),
        ("pread+pwrite + metering", "bare pread + pwrite"),
        ("prepared → file", "pread+pwrite + metering"),
        ("sendfile + clock only", "bare sendfile → tcp"),
        ("sendfile + fstat", "bare sendfile → tcp"),
        ("sendfile+fstat+tick", "bare sendfile → tcp"),
        ("→ tcp, meter off", "sendfile + fstat"),
        ("cfr + fstat", "bare copy_file_range"),
        ("→ file (cfr), meter off", "cfr + fstat"),
        ("transfer → tcp", "bare sendfile → tcp"),
        ("transfer's 12, bare", "bare sendfile → tcp"),
        ("transfer → tcp", "transfer's 12, bare"),
        ("py transfer's 17, bare", "bare sendfile → tcp"),
    ];
    for (a, b) in lines {
        println!("  {a:<24} ÷ {b:<24} {}", ratio(a, b));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(21), |s| s.parse())?;
    let f = Fixture::new()?;
    let mut cases = bare_cases(&f);
    cases.extend(prepared_cases(&f)?);
    cases.push(transfer_case(&f));
    let per_call = measure(&mut cases, rounds);
    print(&cases, &per_call, rounds);
    drop(cases);
    f.close()?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
