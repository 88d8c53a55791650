//! `zcopy bench`: every technique the pair allows, and the tools people use today, timed the
//! same way in one run, rounds interleaved in rotating order; medians and the median of the
//! per-round ratios against read_write.
//!
//! One sample is `ops` transfers of `size` bytes (small sizes are batched so a sample lasts long
//! enough to time); each op reads its own range of the source, so a cold sample (source evicted
//! first) stays cold for every op. Elapsed time and CPU cover all ops.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use zcopy::{Options, Strategy};

/// What to run.
pub struct Plan {
    pub sizes: Vec<u64>,
    pub endpoints: Vec<String>,
    pub caches: Vec<String>,
    pub rounds: usize,
    /// Bytes a sample moves at most (ops × size), for batching small sizes.
    pub sample_bytes: u64,
}

/// The machine the run was on.
#[derive(Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub filesystem: String,
}

/// One timed sample (DESIGN.md's schema; a peer's unknown fields are null).
#[derive(Serialize, Clone)]
pub struct Sample {
    pub endpoint: String,
    pub size: u64,
    pub cache: String,
    pub technique: String,
    pub round: usize,
    pub ops: u64,
    pub bytes: u64,
    pub elapsed_ns: u64,
    pub user_cpu_ns: Option<u64>,
    pub sys_cpu_ns: Option<u64>,
    pub syscalls: Option<u64>,
    pub ctx_switches: Option<u64>,
    pub cpu_copies_bytes: Option<u64>,
    pub strategy_used: Option<String>,
}

/// The whole run, as `--json` writes it.
#[derive(Serialize)]
pub struct Run {
    pub version: &'static str,
    pub rounds: usize,
    pub machine: Machine,
    pub samples: Vec<Sample>,
}

/// The techniques and peers measured for an endpoint.
fn techniques(endpoint: &str) -> Vec<&'static str> {
    let mut v = vec!["auto", "read_write", "mmap_write", "sendfile", "splice"];
    match endpoint {
        "file_file" => v.extend(["copy_file_range", "direct", "io_uring", "std_io_copy"]),
        "file_tcp" => v.extend(["io_uring", "msg_zerocopy", "std_io_copy"]),
        _ => v.extend(["io_uring", "std_io_copy"]),
    }
    if endpoint == "file_file" && which("cp") {
        v.push("cp");
    }
    v
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

/// Runs the plan in `dir`; `each` is told of every sample as it lands.
pub fn run(plan: &Plan, dir: &Path, mut each: impl FnMut(&Sample)) -> Result<Run, String> {
    let machine = machine(dir);
    let mut samples = Vec::new();
    for endpoint in &plan.endpoints {
        if !["file_file", "file_pipe", "file_tcp"].contains(&endpoint.as_str()) {
            return Err(format!(
                "unknown endpoint {endpoint:?}; expected file_file, file_pipe, file_tcp"
            ));
        }
        let techs = techniques(endpoint);
        for &size in &plan.sizes {
            let ops = (plan.sample_bytes / size.max(1)).clamp(1, 2000);
            let src_path = dir.join("bench.src");
            make_source(&src_path, size * ops)
                .map_err(|e| format!("cannot make the source file: {e}"))?;
            for cache in &plan.caches {
                if !["hot", "cold"].contains(&cache.as_str()) {
                    return Err(format!("unknown cache state {cache:?}; expected hot, cold"));
                }
                for round in 0..plan.rounds {
                    for k in 0..techs.len() {
                        let tech = techs[(k + round) % techs.len()];
                        let s = sample(endpoint, tech, size, ops, cache == "cold", &src_path, dir)
                            .map_err(|e| format!("{endpoint} {size} {cache} {tech}: {e}"))?;
                        let s = Sample {
                            round,
                            cache: cache.clone(),
                            ..s
                        };
                        each(&s);
                        samples.push(s);
                    }
                }
            }
            let _ = std::fs::remove_file(&src_path);
        }
    }
    Ok(Run {
        version: zcopy::VERSION,
        rounds: plan.rounds,
        machine,
        samples,
    })
}

fn make_source(path: &Path, len: u64) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.sync_all()
}

/// A destination of the endpoint's kind, with whatever drains it.
enum Dst {
    File(File),
    Stream(Box<dyn AsFd>, Option<std::thread::JoinHandle<u64>>),
}

fn destination(endpoint: &str, dir: &Path, total: u64) -> std::io::Result<Dst> {
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            while got < total {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n as u64,
                }
            }
            got
        })
    };
    Ok(match endpoint {
        "file_file" => Dst::File(
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.join("bench.dst"))?,
        ),
        "file_pipe" => {
            let (r, w) = std::io::pipe()?;
            Dst::Stream(Box::new(w), Some(drain(Box::new(r))))
        }
        _ => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let c = TcpStream::connect(l.local_addr()?)?;
            let (s, _) = l.accept()?;
            Dst::Stream(Box::new(c), Some(drain(Box::new(s))))
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn sample(
    endpoint: &str,
    tech: &str,
    size: u64,
    ops: u64,
    cold: bool,
    src_path: &Path,
    dir: &Path,
) -> Result<Sample, String> {
    let src = File::open(src_path).map_err(|e| e.to_string())?;
    if cold {
        zcopy::cache::evict(&src, 0, None).map_err(|e| e.to_string())?;
    } else {
        zcopy::cache::warm(&src, 0, None).map_err(|e| e.to_string())?;
    }
    let mut dst = destination(endpoint, dir, size * ops).map_err(|e| e.to_string())?;
    let piece = dir.join("bench.piece");
    if tech == "cp" {
        // cp copies whole files: one of `size` bytes, cold or hot like the source.
        let mut bytes = vec![0u8; size as usize];
        src.read_exact_at(&mut bytes, 0)
            .map_err(|e| e.to_string())?;
        std::fs::write(&piece, &bytes).map_err(|e| e.to_string())?;
        let f = File::open(&piece).map_err(|e| e.to_string())?;
        if cold {
            zcopy::cache::evict(&f, 0, None).map_err(|e| e.to_string())?;
        }
    }
    let mut syscalls = 0;
    let mut copies = 0;
    let mut used = None;
    let (t0, u0) = (Instant::now(), usage());
    if tech == "cp" {
        for _ in 0..ops {
            let st = std::process::Command::new("cp")
                .arg(&piece)
                .arg(dir.join("bench.dst"))
                .status();
            if !st.as_ref().is_ok_and(|s| s.success()) {
                return Err(format!("cp failed: {st:?}"));
            }
        }
    } else if tech == "std_io_copy" {
        for i in 0..ops {
            let mut part = (&src).take(size);
            (&src)
                .seek(SeekFrom::Start(i * size))
                .map_err(|e| e.to_string())?;
            match &mut dst {
                Dst::File(f) => {
                    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                    std::io::copy(&mut part, f).map_err(|e| e.to_string())?;
                }
                Dst::Stream(w, _) => {
                    let fd = w.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
                    let mut f = File::from(fd);
                    std::io::copy(&mut part, &mut f).map_err(|e| e.to_string())?;
                }
            }
        }
    } else {
        let strategy: Strategy = tech.parse().map_err(|e: zcopy::Error| e.to_string())?;
        for i in 0..ops {
            let opts = Options {
                strategy,
                fallback: strategy == Strategy::Auto,
                src_offset: Some(i * size),
                len: Some(size),
                dst_offset: matches!(dst, Dst::File(_)).then_some(0),
                ..Options::default()
            };
            let fd = match &dst {
                Dst::File(f) => f.as_fd(),
                Dst::Stream(w, _) => w.as_fd(),
            };
            let r = zcopy::transfer(&src, fd, &opts).map_err(|e| e.to_string())?;
            syscalls += r.syscalls;
            copies += r.cpu_copies_bytes;
            used = Some(r.strategy.name().to_string());
        }
    }
    let (elapsed, u1) = (t0.elapsed(), usage());
    if let Dst::Stream(w, drain) = dst {
        drop(w);
        if let Some(h) = drain {
            let got = h
                .join()
                .map_err(|_| "the drain thread panicked".to_string())?;
            if got != size * ops {
                return Err(format!("the reader got {got} bytes, not {}", size * ops));
            }
        }
    }
    let zc = tech != "cp" && tech != "std_io_copy";
    Ok(Sample {
        endpoint: endpoint.to_string(),
        size,
        cache: String::new(),
        technique: tech.to_string(),
        round: 0,
        ops,
        bytes: size * ops,
        elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        // cp runs in child processes: this thread's CPU does not see it.
        user_cpu_ns: (tech != "cp").then(|| u1.0.saturating_sub(u0.0)),
        sys_cpu_ns: (tech != "cp").then(|| u1.1.saturating_sub(u0.1)),
        syscalls: zc.then_some(syscalls),
        ctx_switches: (tech != "cp").then(|| u1.2.saturating_sub(u0.2)),
        cpu_copies_bytes: zc.then_some(copies),
        strategy_used: used,
    })
}

/// (user ns, sys ns, context switches) of this thread.
fn usage() -> (u64, u64, u64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `ru` is valid for writes of one rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) } != 0 {
        return (0, 0, 0);
    }
    // SAFETY: getrusage succeeded and filled it.
    let ru = unsafe { ru.assume_init() };
    let ns = |tv: libc::timeval| {
        tv.tv_sec.max(0) as u64 * 1_000_000_000 + tv.tv_usec.max(0) as u64 * 1000
    };
    (
        ns(ru.ru_utime),
        ns(ru.ru_stime),
        (ru.ru_nvcsw + ru.ru_nivcsw).max(0) as u64,
    )
}

fn machine(dir: &Path) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let filesystem = filesystem(dir);
    Machine {
        cpu,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel,
        filesystem,
    }
}

fn filesystem(dir: &Path) -> String {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return "unknown".into();
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is a valid path; `st` is valid for writes of one statfs.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return "unknown".into();
    }
    // SAFETY: statfs succeeded and filled it.
    match unsafe { st.assume_init() }.f_type {
        0xef53 => "ext4",
        0x0102_1994 => "tmpfs",
        0x5846_5342 => "xfs",
        0x9123_683e => "btrfs",
        _ => "other",
    }
    .into()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// The terminal table: per (endpoint, size, cache), each technique's median GB/s, median of
/// per-round ratios against read_write, CPU seconds per GB, syscalls per op; `*` marks the
/// fastest.
pub fn table(run: &Run) -> String {
    let m = &run.machine;
    let mut out = format!(
        "zcopy bench {} — {} ({} cores), Linux {}, {}; {} rounds, medians\n",
        run.version, m.cpu, m.cores, m.kernel, m.filesystem, run.rounds
    );
    let mut cells: Vec<(String, u64, String)> = Vec::new();
    for s in &run.samples {
        let key = (s.endpoint.clone(), s.size, s.cache.clone());
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    for (endpoint, size, cache) in cells {
        out += &format!("\n{endpoint}  {}  {cache}\n", human(size));
        out += &format!(
            "  {:<16} {:>8} {:>9} {:>10} {:>12}  {}\n",
            "technique", "GB/s", "× r/w", "CPU s/GB", "syscalls/op", "picked"
        );
        let here: Vec<&Sample> = run
            .samples
            .iter()
            .filter(|s| s.endpoint == endpoint && s.size == size && s.cache == cache)
            .collect();
        let mut names: Vec<&str> = Vec::new();
        for s in &here {
            if !names.contains(&s.technique.as_str()) {
                names.push(&s.technique);
            }
        }
        let rate = |s: &Sample| s.bytes as f64 / s.elapsed_ns.max(1) as f64;
        let mut rows = Vec::new();
        for name in &names {
            let mine: Vec<&&Sample> = here.iter().filter(|s| s.technique == *name).collect();
            let gbps = median(&mut mine.iter().map(|s| rate(s)).collect::<Vec<_>>());
            let ratio = median(
                &mut mine
                    .iter()
                    .filter_map(|s| {
                        here.iter()
                            .find(|b| b.technique == "read_write" && b.round == s.round)
                            .map(|b| rate(s) / rate(b))
                    })
                    .collect::<Vec<_>>(),
            );
            let cpu = mine
                .iter()
                .filter_map(|s| {
                    Some((s.user_cpu_ns? + s.sys_cpu_ns?) as f64 / 1e9 / (s.bytes as f64 / 1e9))
                })
                .collect::<Vec<_>>();
            let cpu = if cpu.is_empty() {
                "-".to_string()
            } else {
                format!("{:.3}", median(&mut cpu.clone()))
            };
            let sys = mine
                .iter()
                .filter_map(|s| s.syscalls.map(|c| c as f64 / s.ops as f64))
                .collect::<Vec<_>>();
            let sys = if sys.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", median(&mut sys.clone()))
            };
            let picked = mine
                .first()
                .and_then(|s| s.strategy_used.clone())
                .filter(|_| *name == "auto")
                .unwrap_or_default();
            rows.push((name.to_string(), gbps, ratio, cpu, sys, picked));
        }
        let best = rows.iter().map(|r| r.1).fold(0.0, f64::max);
        for (name, gbps, ratio, cpu, sys, picked) in rows {
            let mark = if gbps >= best { "*" } else { " " };
            out += &format!(
                "{mark} {name:<16} {gbps:>8.2} {ratio:>8.2}× {cpu:>10} {sys:>12}  {picked}\n"
            );
        }
    }
    out
}

/// Bytes as 4K, 64K, 1M, 256M.
pub fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}G", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}M", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}K", n >> 10),
        n => format!("{n}B"),
    }
}

/// Parses "4K,64K,1M" (K, M, G suffixes, powers of 1024).
pub fn parse_sizes(s: &str) -> Result<Vec<u64>, String> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            let (num, mul) = match p.chars().last() {
                Some('K' | 'k') => (&p[..p.len() - 1], 1u64 << 10),
                Some('M' | 'm') => (&p[..p.len() - 1], 1 << 20),
                Some('G' | 'g') => (&p[..p.len() - 1], 1 << 30),
                _ => (p, 1),
            };
            num.parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(mul))
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("bad size {p:?} in --sizes (e.g. 4K,64K,1M)"))
        })
        .collect()
}
