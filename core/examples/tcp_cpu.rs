//! CPU of the sending thread for file → loopback TCP, one technique, hot source (a file in
//! /var/tmp, written and synced first): the same transfer as `zcopy bench`'s file_tcp cells, in a
//! loop long enough to profile. The receiving thread is named `drain`, so a profile can be split
//! by thread: `perf record -g target/release/examples/tcp_cpu mmap_write 1 8192`, then
//! `perf report --no-children --sort pid,sym`.
//!
//! `cargo run --release -p zcopy --example tcp_cpu [STRATEGY] [SIZE_MIB] [TOTAL_MIB] [prepared]`
//! (defaults: auto, 1, 4096; `prepared`: one `zcopy::Prepared` run for every transfer, as a
//! server sending one file again runs it, in place of `zcopy::transfer`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Instant;

use zcopy::{Options, Strategy};

/// The calling thread's CPU time (user + system) in ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes of one timespec. (The calling thread's CPU clock always
    // exists, so the call cannot fail.)
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let strategy: Strategy = args.next().unwrap_or("auto".into()).parse()?;
    let mib: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let total: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(4096);
    let prepared = args.next().is_some_and(|a| a == "prepared");
    let size = mib << 20;
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4096) as u8).collect();
    let mut src = tempfile::tempfile_in("/var/tmp")?;
    src.write_all(&data)?;
    src.sync_all()?;
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (mut srv, _) = l.accept()?;
    let want = (total << 20) as u64;
    let drain = std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            while got < want {
                match srv.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n as u64,
                }
            }
            got
        })?;
    let opts = Options {
        strategy,
        src_offset: Some(0),
        len: Some(size as u64),
        ..Options::default()
    };
    let ops = total / mib;
    let (t, c0) = (Instant::now(), thread_cpu_ns());
    let mut used = None;
    let mut p = if prepared {
        Some(zcopy::Prepared::new(&src, &c, &opts)?)
    } else {
        None
    };
    for _ in 0..ops {
        let r = match p.as_mut() {
            Some(p) => p.run(opts.len, opts.src_offset, None)?,
            None => zcopy::transfer(src.as_fd(), c.as_fd(), &opts)?,
        };
        used = Some(r.strategy);
    }
    drop(p);
    let (secs, cpu) = (t.elapsed().as_secs_f64(), thread_cpu_ns() - c0);
    drop(c);
    let got = drain.join().map_err(|_| "drain panicked")?;
    println!(
        "{strategy:?}{} (ran {used:?}) {mib} MiB x {ops}: {:.2} GB/s, sender CPU {:.3} s/GB, got {got}",
        if prepared { " prepared" } else { "" },
        want as f64 / secs / 1e9,
        cpu as f64 / want as f64
    );
    Ok(())
}
