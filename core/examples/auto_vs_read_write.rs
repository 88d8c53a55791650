//! For each endpoint pair and size class: what Auto picks, and its throughput next to
//! read_write's, as medians of interleaved rounds (the measurement behind the README's table;
//! `zcopy bench` will grow out of it).
//!
//! `cargo run --release -p zcopy --example auto_vs_read_write [ROUNDS]`

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::thread;
use std::time::Instant;

use zcopy::{Options, Strategy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(7);
    let sizes: [(usize, &str); 4] = [
        (4 << 10, "4 KiB"),
        (64 << 10, "64 KiB"),
        (1 << 20, "1 MiB"),
        (64 << 20, "64 MiB"),
    ];
    println!(
        "{:<10} {:>7}  {:<16} {:>10} {:>10} {:>7}",
        "pair", "size", "auto picks", "auto GB/s", "rw GB/s", "ratio"
    );
    for pair in ["file→file", "file→tcp", "file→pipe", "pipe→file"] {
        for (size, label) in sizes {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4096) as u8).collect();
            let mut src = tempfile::tempfile()?;
            src.write_all(&data)?;
            // Small sizes are batched so one sample lasts long enough to time.
            let ops = (64 << 20) / size.max(1);
            let ops = ops.clamp(1, 2000);
            let mut auto = Vec::new();
            let mut rw = Vec::new();
            let mut picked = Strategy::Auto;
            for round in 0..rounds {
                let order: [Strategy; 2] = if round % 2 == 0 {
                    [Strategy::Auto, Strategy::ReadWrite]
                } else {
                    [Strategy::ReadWrite, Strategy::Auto]
                };
                for s in order {
                    let (secs, used) = sample(pair, &mut src, size, ops, s)?;
                    let gbps = (size * ops) as f64 / secs / 1e9;
                    if s == Strategy::Auto {
                        picked = used;
                        auto.push(gbps);
                    } else {
                        rw.push(gbps);
                    }
                }
            }
            let (a, r) = (median(&mut auto), median(&mut rw));
            println!(
                "{pair:<10} {label:>7}  {:<16} {a:>10.2} {r:>10.2} {:>6.2}x",
                picked.name(),
                a / r
            );
        }
    }
    small_ops()?;
    Ok(())
}

/// Per-op cost of 4 KiB copies: zcopy::copy_file next to std::fs::copy, and zcopy::transfer
/// (Auto, with its classification and counters) next to one bare copy_file_range call.
fn small_ops() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, vec![7u8; 4096])?;
    let ops = 2000;
    let per_op = |f: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>| -> Result<f64, Box<dyn std::error::Error>> {
        let mut v = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            for _ in 0..ops {
                f()?;
            }
            v.push(t.elapsed().as_secs_f64() * 1e6 / ops as f64);
        }
        Ok(median(&mut v))
    };
    let z = per_op(&mut || {
        zcopy::copy_file(&a, &b, &Options::default())
            .map(drop)
            .map_err(Into::into)
    })?;
    let s = per_op(&mut || std::fs::copy(&a, &b).map(drop).map_err(Into::into))?;
    println!(
        "\n4 KiB copy_file: zcopy {z:.1} µs/op, std::fs::copy {s:.1} µs/op ({:.2}x)",
        s / z
    );
    let src = File::open(&a)?;
    let dst = File::options().write(true).open(&b)?;
    let opts = Options {
        src_offset: Some(0),
        dst_offset: Some(0),
        len: Some(4096),
        ..Options::default()
    };
    let t = per_op(&mut || {
        zcopy::transfer(&src, &dst, &opts)
            .map(drop)
            .map_err(Into::into)
    })?;
    let raw = per_op(&mut || {
        use std::os::fd::AsRawFd;
        let (mut i, mut o) = (0i64, 0i64);
        // SAFETY: both fds are open; the offsets are locals.
        let n = unsafe {
            libc::copy_file_range(src.as_raw_fd(), &mut i, dst.as_raw_fd(), &mut o, 4096, 0)
        };
        if n == 4096 {
            Ok(())
        } else {
            Err("copy_file_range".into())
        }
    })?;
    println!(
        "4 KiB transfer: zcopy {t:.1} µs/op, bare copy_file_range {raw:.1} µs/op ({:.2}x)",
        t / raw
    );
    Ok(())
}

/// Runs `ops` transfers of `size` bytes with strategy `s`; returns the seconds they took and the
/// technique that moved the bytes.
fn sample(
    pair: &str,
    src: &mut File,
    size: usize,
    ops: usize,
    s: Strategy,
) -> Result<(f64, Strategy), Box<dyn std::error::Error>> {
    let opts = Options {
        strategy: s,
        src_offset: Some(0),
        len: Some(size as u64),
        ..Options::default()
    };
    let t;
    let used;
    match pair {
        "file→file" => {
            let dst = tempfile::tempfile()?;
            let o = Options {
                dst_offset: Some(0),
                ..opts
            };
            t = Instant::now();
            used = run_ops(src.as_fd(), dst.as_fd(), &o, ops)?;
        }
        "file→tcp" => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let c = TcpStream::connect(l.local_addr()?)?;
            let (srv, _) = l.accept()?;
            let drain = drain(srv, size * ops);
            t = Instant::now();
            used = run_ops(src.as_fd(), c.as_fd(), &opts, ops)?;
            drop(c);
            drain.join().map_err(|_| "drain thread panicked")?;
        }
        "file→pipe" => {
            let (r, w) = std::io::pipe()?;
            let drain = drain(r, size * ops);
            t = Instant::now();
            used = run_ops(src.as_fd(), w.as_fd(), &opts, ops)?;
            drop(w);
            drain.join().map_err(|_| "drain thread panicked")?;
        }
        _ => {
            // pipe → file: a feeder writes the bytes; the transfer drains them into a file.
            let (r, mut w) = std::io::pipe()?;
            src.rewind()?;
            let mut data = vec![0u8; size];
            src.read_exact(&mut data)?;
            let feed = thread::spawn(move || {
                for _ in 0..ops {
                    if w.write_all(&data).is_err() {
                        break;
                    }
                }
            });
            let dst = tempfile::tempfile()?;
            let o = Options {
                src_offset: None,
                dst_offset: Some(0),
                ..opts
            };
            t = Instant::now();
            used = run_ops(r.as_fd(), dst.as_fd(), &o, ops)?;
            feed.join().map_err(|_| "feeder panicked")?;
        }
    }
    Ok((t.elapsed().as_secs_f64(), used.unwrap_or(s)))
}

/// Runs `ops` transfers from `src` to `dst`; the technique the last one used (`None` for 0).
fn run_ops(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    opts: &Options<'_>,
    ops: usize,
) -> Result<Option<Strategy>, Box<dyn std::error::Error>> {
    let mut used = None;
    for _ in 0..ops {
        used = Some(zcopy::transfer(src, dst, opts)?.strategy);
    }
    Ok(used)
}

/// A thread that reads `total` bytes from `from` (or to its end, or an error) and drops them.
fn drain(mut from: impl Read + Send + 'static, total: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < total {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
