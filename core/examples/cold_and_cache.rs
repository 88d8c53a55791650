//! The page-cache claims, measured: what a large copy leaves in the cache under `keep`,
//! `drop_after` and direct I/O, and the throughput of direct, io_uring (buffered and direct) and
//! copy_file_range against read_write for cold files (medians of interleaved rounds).
//!
//! `cargo run --release -p zcopy --example cold_and_cache [SIZE_MIB] [ROUNDS]`

use std::error::Error;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use zcopy::cache;
use zcopy::{CachePolicy, Options, Strategy};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir_in(std::env::var("ZCOPY_DIR").unwrap_or_else(|_| "/tmp".into()))?;
    let src_path = dir.path().join("src");
    {
        let mut f = File::create(&src_path)?;
        let block: Vec<u8> = (0..(1 << 20)).map(|i| (i * 31 + i / 4096) as u8).collect();
        for _ in 0..mib {
            f.write_all(&block)?;
        }
        f.sync_all()?;
    }
    let dst_path = dir.path().join("dst");
    let paths = (src_path.as_path(), dst_path.as_path());
    residency(paths, mib)?;
    throughput(paths, mib, rounds)?;
    queue_depths(paths, mib, rounds)
}

/// What each cache policy leaves resident of the source and the destination.
fn residency((src_path, dst_path): (&Path, &Path), mib: u64) -> Result<(), Box<dyn Error>> {
    let src = File::open(src_path)?;
    println!("== residency after copying {mib} MiB (source cold before each copy)");
    println!(
        "{:<28} {:>14} {:>14}",
        "policy", "src resident", "dst resident"
    );
    let policies: [(&str, Options); 4] = [
        (
            "keep (read_write)",
            Options {
                strategy: Strategy::ReadWrite,
                ..Options::default()
            },
        ),
        ("keep (auto)", Options::default()),
        (
            "drop_after (auto)",
            Options {
                cache: CachePolicy::DropAfter,
                ..Options::default()
            },
        ),
        (
            "direct_threshold 0 (auto)",
            Options {
                direct_threshold: Some(0),
                ..Options::default()
            },
        ),
    ];
    for (name, opts) in &policies {
        cache::evict(&src, 0, None)?;
        let r = zcopy::copy_file(src_path, dst_path, opts)?;
        let dst = File::open(dst_path)?;
        let (s, d) = (
            cache::residency(&src, 0, None)?,
            cache::residency(&dst, 0, None)?,
        );
        println!(
            "{:<28} {:>8} MiB {:>8} MiB   ({})",
            name,
            (s.resident * 4096) >> 20,
            (d.resident * 4096) >> 20,
            r.strategy
        );
        cache::evict(&dst, 0, None)?;
    }
    Ok(())
}

/// Cold file → file throughput of each technique, against read_write.
fn throughput(
    (src_path, dst_path): (&Path, &Path),
    mib: u64,
    rounds: usize,
) -> Result<(), Box<dyn Error>> {
    let (src, size) = (File::open(src_path)?, mib << 20);
    println!("\n== cold {mib} MiB file → file, {rounds} interleaved rounds, medians");
    let cases: [(&str, Options); 6] = [
        (
            "read_write",
            Options {
                strategy: Strategy::ReadWrite,
                ..Options::default()
            },
        ),
        (
            "copy_file_range",
            Options {
                strategy: Strategy::CopyFileRange,
                ..Options::default()
            },
        ),
        (
            "direct",
            Options {
                strategy: Strategy::Direct,
                ..Options::default()
            },
        ),
        (
            "io_uring",
            Options {
                strategy: Strategy::IoUring,
                ..Options::default()
            },
        ),
        (
            "io_uring direct",
            Options {
                strategy: Strategy::IoUring,
                direct_threshold: Some(0),
                ..Options::default()
            },
        ),
        (
            "auto direct_threshold",
            Options {
                direct_threshold: Some(0),
                ..Options::default()
            },
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            cache::evict(&src, 0, None)?;
            let _ = std::fs::remove_file(dst_path);
            let t = Instant::now();
            zcopy::copy_file(src_path, dst_path, &cases[i].1)?;
            // Count the write-back too: direct writes are on the device, buffered ones not yet.
            File::open(dst_path)?.sync_all()?;
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    let base = median(&mut times[0].clone());
    for (i, (name, _)) in cases.iter().enumerate() {
        let m = median(&mut times[i]);
        println!(
            "{name:<24} {:>6.2} GB/s  {:>5.2}x read_write",
            size as f64 / m / 1e9,
            base / m
        );
    }
    Ok(())
}

/// io_uring's throughput at each queue depth, from a cold and from a hot source.
fn queue_depths(
    (src_path, dst_path): (&Path, &Path),
    mib: u64,
    rounds: usize,
) -> Result<(), Box<dyn Error>> {
    let (src, size) = (File::open(src_path)?, mib << 20);
    println!("\n== io_uring queue depth, {mib} MiB file → file, cold and hot source, medians");
    let depths = [1u32, 2, 4, 8, 16, 32];
    for cold in [true, false] {
        let mut t: Vec<Vec<f64>> = vec![Vec::new(); depths.len()];
        for round in 0..rounds {
            for k in 0..depths.len() {
                let i = (k + round) % depths.len();
                if cold {
                    cache::evict(&src, 0, None)?;
                } else {
                    cache::warm(&src, 0, None)?;
                }
                let _ = std::fs::remove_file(dst_path);
                let opts = Options {
                    strategy: Strategy::IoUring,
                    queue_depth: Some(depths[i]),
                    ..Options::default()
                };
                let s = Instant::now();
                zcopy::copy_file(src_path, dst_path, &opts)?;
                t[i].push(s.elapsed().as_secs_f64());
            }
        }
        let line: Vec<String> = depths
            .iter()
            .zip(t.iter_mut())
            .map(|(q, v)| format!("qd {q}: {:.2}", size as f64 / median(v) / 1e9))
            .collect();
        println!(
            "{:<5} GB/s  {}",
            if cold { "cold" } else { "hot" },
            line.join("  ")
        );
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
