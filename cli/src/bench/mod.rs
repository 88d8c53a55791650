//! `zcopy bench`: every technique the pair allows, and the tools people use today, timed the
//! same way in one run, rounds interleaved (each round in its own shuffled order: see
//! [`round_order`]); medians and the median of the per-round ratios against read_write.
//!
//! One sample is `ops` transfers of `size` bytes (small sizes are batched so a sample lasts long
//! enough to time); each op reads its own range of the source, so a cold sample (source evicted
//! first) stays cold for every op. Elapsed time and CPU cover all ops. Peers that copy whole
//! files (`cp`, `shutil.copyfile`, `std::fs::copy`, `zcopy::copy_file`) copy `ops` files of
//! `size` bytes, each holding the bytes of its op's range, to fresh destination paths.
//!
//! The first round of every cell checks the bytes: the destination file, or everything a pipe or
//! socket reader received, is compared with the source.
//!
//! CPU: `cpu_ns` (user + system) is read from the CPU clocks, exact to the nanosecond:
//! `CLOCK_THREAD_CPUTIME_ID` around an in-process sample (the clock zcopy's Reports read too),
//! for `auto_parallel2` the sum of its Reports (each worker reads its own thread's clock,
//! which the bench thread's cannot see), the reaped children's total for `cp`,
//! `time.thread_time_ns()` in the Python peers. `user_cpu_ns` and `sys_cpu_ns`: for zcopy's
//! rows the Reports' (their sum is the same clock's; the user share is getrusage's, sampled at
//! scheduler ticks), for peers `getrusage`'s split (a short sample may show 0 there).
//!
//! The cache-policy rows (`cache_keep`, `cache_drop_after`, `cache_dontcache`, `cache_direct`:
//! Auto with `cache=keep`, `drop_after`, `dontcache`, and `direct_threshold=0`) run in the cold
//! file → file cells of 256 MiB and more, and each sample of a file → file row that writes the
//! bench's destination records `resident_pages`: the pages of source and destination in the
//! page cache just after it (the source was evicted before a cold sample, the destination
//! truncated, so every one was brought in by the sample).
//!
//! - [`peers`]: the tools measured beside zcopy's techniques.
//! - [`table`](mod@table): the terminal table and the targets.
//! - [`plot`]: the SVG chart.
//! - [`tree`](mod@tree): `--tree`, whole-tree copies against cp -a and the others.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use zcopy::{Options, Strategy};

pub mod peers;
pub mod plot;
pub mod table;
pub mod tree;

pub use table::{human, table};

/// What to run.
pub struct Plan {
    /// Bytes per op.
    pub sizes: Vec<u64>,
    /// `file_file`, `file_pipe`, `file_tcp`.
    pub endpoints: Vec<String>,
    /// `hot`, `cold`.
    pub caches: Vec<String>,
    /// Rounds, interleaved.
    pub rounds: usize,
    /// Bytes a sample moves at most (ops × size), for batching small sizes.
    pub sample_bytes: u64,
    /// Ops a sample makes at most (small sizes).
    pub max_ops: u64,
    /// The Python interpreter for the Python peers (`None`: not measured).
    pub python: Option<PathBuf>,
    /// Only these techniques and peers (`None`: all); read_write is kept for the ratios.
    pub only: Option<Vec<String>>,
}

/// The machine the run was on.
#[derive(Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// The filesystem of the scratch directory.
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
    /// User CPU: zcopy's Reports (see the module's notes), else `getrusage` (ticks).
    pub user_cpu_ns: Option<u64>,
    /// System CPU: zcopy's Reports (see the module's notes), else `getrusage` (ticks).
    pub sys_cpu_ns: Option<u64>,
    /// User + system CPU from the CPU clocks, exact to the ns (see the module's notes); what the
    /// table's CPU figures use. Added after the first schema: older files lack it.
    pub cpu_ns: Option<u64>,
    pub syscalls: Option<u64>,
    pub mode_switches: Option<u64>,
    pub ctx_switches: Option<u64>,
    pub cpu_copies_bytes: Option<u64>,
    pub strategy_used: Option<String>,
    /// Whether this sample's bytes were compared with the source (the first round of a cell).
    pub verified: bool,
    /// Pages of the source and the destination in the page cache just after the sample (file
    /// → file rows writing the bench's destination; null otherwise). Added after the first
    /// schema: older files lack it.
    pub resident_pages: Option<u64>,
}

/// The whole run, as `--json` writes it.
#[derive(Serialize)]
pub struct Run {
    pub version: &'static str,
    pub rounds: usize,
    pub machine: Machine,
    pub samples: Vec<Sample>,
}

/// Endpoints the bench knows.
pub const ENDPOINTS: &[&str] = &["file_file", "file_pipe", "file_tcp"];

/// Every technique and peer the bench knows, for `--techniques`, in the order the tables list
/// them (the order they run in is shuffled: see [`round_order`]).
pub const KNOWN: &[&str] = &[
    "auto",
    "auto_prepared",
    "auto_prepared_unmetered",
    "read_write",
    "mmap_write",
    "sendfile",
    "splice",
    "copy_file_range",
    "direct",
    "io_uring",
    "msg_zerocopy",
    "auto_parallel2",
    "cache_keep",
    "cache_drop_after",
    "cache_dontcache",
    "cache_direct",
    "std_io_copy",
    "bare_copy_file_range",
    "bare_sendfile",
    "bare_sendfile_nosigpipe",
    "bare_sendfile_metered",
    "zcopy_copy_file",
    "std_fs_copy",
    "cp",
    "shutil_copyfile",
    "py_sendfile",
    "py_zcopy_copy_file",
];

/// The techniques and peers the plan measures for an endpoint, zcopy's first.
pub fn techniques(plan: &Plan, endpoint: &str) -> Vec<&'static str> {
    let mut v = all_techniques(endpoint, plan.python.as_deref());
    if let Some(only) = &plan.only {
        v.retain(|t| *t == "read_write" || only.iter().any(|o| o == t));
    }
    v
}

/// Every technique and peer that can run for an endpoint here.
fn all_techniques(endpoint: &str, python: Option<&Path>) -> Vec<&'static str> {
    // auto_prepared: Auto through one zcopy::Prepared for all the ops of a sample (per-op
    // cells); auto_prepared_unmetered: the same with its CPU meter off, as a file server runs.
    let mut v = vec![
        "auto",
        "auto_prepared",
        "auto_prepared_unmetered",
        "read_write",
        "mmap_write",
        "sendfile",
        "splice",
    ];
    match endpoint {
        // auto_parallel2: two threads on ranges of one copy; cache_*: the cache policies
        // (both only for big copies: see `at`).
        "file_file" => v.extend([
            "copy_file_range",
            "direct",
            "io_uring",
            "auto_parallel2",
            "cache_keep",
            "cache_drop_after",
            "cache_dontcache",
            "cache_direct",
        ]),
        "file_tcp" => v.extend(["io_uring", "msg_zerocopy"]),
        _ => v.extend(["io_uring"]),
    }
    v.extend(peers::available(endpoint, python));
    v
}

/// How many samples `plan` takes (for the progress bar).
pub fn count(plan: &Plan) -> u64 {
    let per_round: usize = plan
        .endpoints
        .iter()
        .flat_map(|e| {
            let all = techniques(plan, e);
            plan.sizes
                .iter()
                .flat_map(move |&s| plan.caches.iter().map(move |c| (s, c)))
                .map(move |(s, c)| at(&all, e, s, c == "cold").len())
        })
        .sum();
    (per_round * plan.rounds) as u64
}

/// The techniques of `techs` worth measuring at `size` for `endpoint`, with the source `cold` or
/// hot: `auto_parallel2` splits only copies of 16 MiB or more (below, it is auto);
/// `auto_prepared` (and `auto_prepared_unmetered`) saves a per-call cost that shows only up to
/// 64 KiB, and, file → TCP hot from 1 MiB, `auto_prepared` shows the CPU its kept mmap_write
/// window saves; the cache policies (`cache_*`) matter for big copies of a cold source
/// (256 MiB and more).
fn at(techs: &[&'static str], endpoint: &str, size: u64, cold: bool) -> Vec<&'static str> {
    let kept_window = endpoint == "file_tcp" && !cold && size >= 1 << 20;
    techs
        .iter()
        .copied()
        .filter(|t| *t != "auto_parallel2" || size >= 16 << 20)
        .filter(|t| {
            !t.starts_with("auto_prepared")
                || size <= 64 << 10
                || (kept_window && *t == "auto_prepared")
        })
        .filter(|t| !t.starts_with("cache_") || (cold && size >= 256 << 20))
        .collect()
}

/// Checks the plan's names before anything runs.
pub fn check(plan: &Plan) -> Result<(), String> {
    if let Some(e) = plan
        .endpoints
        .iter()
        .find(|e| !ENDPOINTS.contains(&e.as_str()))
    {
        return Err(format!(
            "unknown endpoint {e:?} in --endpoints; expected {}",
            ENDPOINTS.join(", ")
        ));
    }
    if let Some(c) = plan
        .caches
        .iter()
        .find(|c| !["hot", "cold"].contains(&c.as_str()))
    {
        return Err(format!(
            "unknown cache state {c:?} in --cache; expected hot, cold"
        ));
    }
    if let Some(t) = plan
        .only
        .iter()
        .flatten()
        .find(|t| !KNOWN.contains(&t.as_str()))
    {
        return Err(format!(
            "unknown technique {t:?} in --techniques; expected some of {}",
            KNOWN.join(", ")
        ));
    }
    Ok(())
}

/// Ops per sample for `size`: enough to fill `sample_bytes`, 1 to `max_ops` (a peer that spawns a
/// process per op takes fewer: see [`peers::ops`]).
fn ops_for(plan: &Plan, size: u64) -> u64 {
    (plan.sample_bytes / size.max(1)).clamp(1, plan.max_ops.max(1))
}

/// Runs the plan in `dir`; `each` is told of every sample as it lands.
pub fn run(plan: &Plan, dir: &Path, mut each: impl FnMut(&Sample)) -> Result<Run, String> {
    check(plan)?;
    let machine = machine(dir);
    let mut samples = Vec::new();
    for endpoint in &plan.endpoints {
        let all = techniques(plan, endpoint);
        for &size in &plan.sizes {
            let ops = ops_for(plan, size);
            let fixture = Fixture::make(dir, size, ops, &at(&all, endpoint, size, true))
                .map_err(|e| format!("cannot make the source files in {}: {e}", dir.display()))?;
            for cache in &plan.caches {
                let cold = cache == "cold";
                let techs = at(&all, endpoint, size, cold);
                for round in 0..plan.rounds {
                    for k in round_order(techs.len(), round, size, cold) {
                        let tech = techs[k];
                        let ops = peers::ops(tech, ops);
                        let s = sample(endpoint, tech, &fixture, ops, cold, round == 0, plan)
                            .map_err(|e| {
                                format!("{endpoint} {} {cache} {tech}: {e}", human(size))
                            })?;
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
            fixture.remove();
        }
    }
    Ok(Run {
        version: zcopy::VERSION,
        rounds: plan.rounds,
        machine,
        samples,
    })
}

/// The order of a round's `n` rows: a shuffle, a new one each round, the same in every run (a
/// seed from the round, the size and the cache state).
///
/// Not a rotation: rotating kept each row's predecessor the same in every round, so whatever a
/// sample leaves behind for the next fell on one row every time. Measured (15 rounds, file →
/// file 256 MiB hot): `zcopy_copy_file`, always run just after `bare_copy_file_range`, spent
/// 0.73–1.14 CPU s/GB in 10 of 15 rounds (0.14–0.21 in the others; the same engine from Python
/// 0.13–0.20 in 14 of 15), every extra ns in the `memcpy` of the page cache write
/// (`copy_folio_from_iter_atomic`, perf). That memcpy is slow when it first touches memory the
/// VM's host has taken back (virtio-balloon free page reporting, order-9 blocks free for about
/// 2 s): touching 256 MiB of fresh anonymous huge pages here, just after freeing as much page
/// cache, cost 0.02–0.03 CPU s in 6 of 9 tries when the pause between was at most 1 s, and
/// 0.18–0.58 s in all 6 tries after a pause of 3 or 6 s. splice through a 1 MiB pipe wrote
/// 1 MiB folios (copy_file_range's internal pipe 64 KiB ones), which need exactly such blocks
/// (the engine now uses a 512 KiB pipe there: see its splice technique); which sample meets
/// them depends on what ran before it. Shuffled, such a carry-over lands on a different row
/// each round, and the median of the rounds no longer carries it.
fn round_order(n: usize, round: usize, size: u64, cold: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let seed = (round as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(size.rotate_left(17))
        .wrapping_add(u64::from(cold));
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    order
}

/// The source bytes: byte `p` of the source is `pattern(p)`, so any reader can check what it
/// got without a copy of the file.
fn pattern_block() -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    })
}

/// Whether `buf` holds the source's bytes from `offset`.
pub fn matches_source(buf: &[u8], offset: u64) -> bool {
    let block = pattern_block();
    let mut pos = 0usize;
    while pos < buf.len() {
        let at = ((offset + pos as u64) % block.len() as u64) as usize;
        let n = (block.len() - at).min(buf.len() - pos);
        if buf[pos..pos + n] != block[at..at + n] {
            return false;
        }
        pos += n;
    }
    true
}

/// Writes the source's bytes from `offset`, `len` of them, to `w`.
fn write_source(w: &mut impl Write, offset: u64, len: u64) -> std::io::Result<()> {
    let block = pattern_block();
    let mut done = 0u64;
    while done < len {
        let at = ((offset + done) % block.len() as u64) as usize;
        let n = ((block.len() - at) as u64).min(len - done) as usize;
        w.write_all(&block[at..at + n])?;
        done += n as u64;
    }
    Ok(())
}

/// The files of one size: the source (`ops` ranges of `size` bytes) and, for the whole-file
/// peers, one piece file per op holding its range.
pub struct Fixture {
    pub dir: PathBuf,
    pub size: u64,
    pub src: PathBuf,
    pieces: u64,
}

impl Fixture {
    fn make(dir: &Path, size: u64, ops: u64, techs: &[&str]) -> std::io::Result<Fixture> {
        let src = dir.join("bench.src");
        let mut f = std::io::BufWriter::new(File::create(&src)?);
        write_source(&mut f, 0, size * ops)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let pieces = if techs.iter().any(|t| peers::whole_file(t)) {
            ops
        } else {
            0
        };
        let fixture = Fixture {
            dir: dir.to_path_buf(),
            size,
            src,
            pieces,
        };
        for i in 0..pieces {
            let mut f = File::create(fixture.piece(i))?;
            write_source(&mut f, i * size, size)?;
            f.sync_all()?;
        }
        Ok(fixture)
    }

    /// Piece `i`: the bytes of op `i`'s range, as a file of its own.
    pub fn piece(&self, i: u64) -> PathBuf {
        self.dir.join(format!("piece.{i}"))
    }

    /// Where a whole-file peer writes op `i`.
    pub fn out(&self, i: u64) -> PathBuf {
        self.dir.join(format!("out.{i}"))
    }

    /// Evicts (cold) or warms (hot) the source and the pieces of the first `ops` ops.
    fn set_cache(&self, cold: bool, ops: u64) -> Result<(), String> {
        let mut paths = vec![self.src.clone()];
        paths.extend((0..self.pieces.min(ops)).map(|i| self.piece(i)));
        for p in paths {
            let f = File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let r = if cold {
                zcopy::cache::evict(&f, 0, None)
            } else {
                zcopy::cache::warm(&f, 0, None)
            };
            r.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Removes the outputs of whole-file peers (before a sample, outside its timing).
    fn clear_outs(&self, ops: u64) {
        for i in 0..ops {
            let _ = std::fs::remove_file(self.out(i));
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.src);
        for i in 0..self.pieces {
            let _ = std::fs::remove_file(self.piece(i));
        }
        self.clear_outs(self.pieces);
        let _ = std::fs::remove_file(self.dir.join("bench.dst"));
    }
}

/// A destination of the endpoint's kind, with the thread that drains it.
pub enum Dst {
    /// `bench.dst`, written at offset 0 by every op.
    File(File),
    /// A pipe's write end; the reader runs in a thread.
    Pipe(std::io::PipeWriter),
    /// A connected loopback TCP socket; the peer's end is drained in a thread.
    Tcp(TcpStream),
    /// A listener for a peer in another process to connect to; accepted and drained in a thread.
    Listener(u16),
}

impl Dst {
    /// The fd zcopy writes to (`None` for a listener).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Dst::File(f) => Some(f.as_fd()),
            Dst::Pipe(w) => Some(w.as_fd()),
            Dst::Tcp(s) => Some(s.as_fd()),
            Dst::Listener(_) => None,
        }
    }
}

/// What the drain thread got: bytes, and whether they were the source's (when checked).
type Drained = std::thread::JoinHandle<std::io::Result<(u64, bool)>>;

fn drain(r: impl Read + Send + 'static, verify: bool) -> Drained {
    std::thread::spawn(move || drain_loop(r, verify))
}

/// Reads `r` to its end: (bytes, whether they were the source's from byte 0, when `verify`).
fn drain_loop(mut r: impl Read, verify: bool) -> std::io::Result<(u64, bool)> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut got, mut same) = (0u64, true);
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok((got, same)),
            Ok(n) => {
                if verify && same {
                    same = matches_source(&buf[..n], got);
                }
                got += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A destination for `endpoint` and its drain; `external` when a peer in another process
/// connects to it.
fn destination(
    endpoint: &str,
    dir: &Path,
    verify: bool,
    external: bool,
) -> std::io::Result<(Dst, Option<Drained>)> {
    Ok(match endpoint {
        "file_file" => {
            let f = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.join("bench.dst"))?;
            (Dst::File(f), None)
        }
        "file_pipe" => {
            let (r, w) = std::io::pipe()?;
            (Dst::Pipe(w), Some(drain(r, verify)))
        }
        _ => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            if external {
                let port = l.local_addr()?.port();
                let h = std::thread::spawn(move || drain_loop(l.accept()?.0, verify));
                (Dst::Listener(port), Some(h))
            } else {
                let c = TcpStream::connect(l.local_addr()?)?;
                let (s, _) = l.accept()?;
                (Dst::Tcp(c), Some(drain(s, verify)))
            }
        }
    })
}

/// What a sample measured, before the bench adds the round and cache state.
#[derive(Default)]
pub struct Measured {
    pub elapsed_ns: u64,
    pub user_cpu_ns: Option<u64>,
    pub sys_cpu_ns: Option<u64>,
    /// User + system CPU from a CPU clock (ns).
    pub cpu_ns: Option<u64>,
    pub syscalls: Option<u64>,
    pub ctx_switches: Option<u64>,
    pub cpu_copies_bytes: Option<u64>,
    pub strategy_used: Option<String>,
}

/// The calling thread's counters, for timing in-process code the same way for every technique.
pub struct Clock {
    t0: Instant,
    u0: (u64, u64, u64),
    /// The CPU clock read, and its reading at the start.
    cpu: (libc::clockid_t, u64),
}

impl Clock {
    /// Times the calling thread (its CPU from `CLOCK_THREAD_CPUTIME_ID`, the clock zcopy's
    /// Reports read).
    pub fn start() -> Clock {
        let id = libc::CLOCK_THREAD_CPUTIME_ID;
        Clock {
            u0: usage(libc::RUSAGE_THREAD),
            cpu: (id, cpu_clock(id)),
            t0: Instant::now(),
        }
    }

    /// Elapsed time, CPU and context switches since [`Clock::start`].
    pub fn stop(self) -> Measured {
        let elapsed = self.t0.elapsed();
        let cpu = cpu_clock(self.cpu.0);
        let u1 = usage(libc::RUSAGE_THREAD);
        Measured {
            elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            user_cpu_ns: Some(u1.0.saturating_sub(self.u0.0)),
            sys_cpu_ns: Some(u1.1.saturating_sub(self.u0.1)),
            cpu_ns: Some(cpu.saturating_sub(self.cpu.1)),
            ctx_switches: Some(u1.2.saturating_sub(self.u0.2)),
            ..Measured::default()
        }
    }
}

/// The CPU clock `id` in ns (0 if it cannot be read, which Linux does not do for these ids).
fn cpu_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes of one timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec.max(0) as u64 * 1_000_000_000 + ts.tv_nsec.max(0) as u64
}

fn sample(
    endpoint: &str,
    tech: &str,
    fx: &Fixture,
    ops: u64,
    cold: bool,
    verify: bool,
    plan: &Plan,
) -> Result<Sample, String> {
    let size = fx.size;
    fx.set_cache(cold, ops)?;
    fx.clear_outs(ops);
    let external = peers::external(tech);
    let (dst, drained) =
        destination(endpoint, &fx.dir, verify, external).map_err(|e| e.to_string())?;
    let src = File::open(&fx.src).map_err(|e| e.to_string())?;
    let m = match engine_options(tech) {
        Some(base) if tech.starts_with("auto_prepared") => {
            let metered = tech == "auto_prepared";
            prepared(&base, &src, &dst, size, ops, metered)?
        }
        Some(base) => engine(&base, &src, &dst, size, ops)?,
        None => peers::run(tech, endpoint, fx, &src, &dst, ops, plan)?,
    };
    let dst_file = match dst {
        Dst::File(f) => Some(f),
        other => {
            drop(other); // closing the writer ends the drain
            None
        }
    };
    // Before the check below reads the destination back into the cache.
    let resident_pages = match &dst_file {
        Some(f) if !peers::whole_file(tech) => resident(&src, f),
        _ => None,
    };
    if let Some(h) = drained {
        check_drained(h, size * ops)?;
    }
    if verify && endpoint == "file_file" {
        check_destination(tech, fx, dst_file.as_ref(), ops)?;
    }
    Ok(Sample {
        endpoint: endpoint.to_string(),
        size,
        cache: String::new(),
        technique: tech.to_string(),
        round: 0,
        ops,
        bytes: size * ops,
        elapsed_ns: m.elapsed_ns,
        user_cpu_ns: m.user_cpu_ns,
        sys_cpu_ns: m.sys_cpu_ns,
        cpu_ns: m.cpu_ns,
        syscalls: m.syscalls,
        mode_switches: m.syscalls.map(|n| 2 * n),
        ctx_switches: m.ctx_switches,
        cpu_copies_bytes: m.cpu_copies_bytes,
        strategy_used: m.strategy_used,
        verified: verify,
        resident_pages,
    })
}

/// The options zcopy's rows run with (`None` for a peer): a technique by name (Auto with
/// fallback), Auto split over two threads, Auto under each cache policy (`direct`: a direct
/// threshold of 0), Auto through a `Prepared`.
fn engine_options(tech: &str) -> Option<Options<'static>> {
    let auto = Options::default();
    Some(match tech {
        "auto_parallel2" => Options {
            parallelism: Some(2),
            ..auto
        },
        "auto_prepared" | "auto_prepared_unmetered" | "cache_keep" => auto,
        "cache_drop_after" => Options {
            cache: zcopy::CachePolicy::DropAfter,
            ..auto
        },
        "cache_dontcache" => Options {
            cache: zcopy::CachePolicy::DontCache,
            ..auto
        },
        "cache_direct" => Options {
            direct_threshold: Some(0),
            ..auto
        },
        _ => {
            let strategy = tech.parse::<Strategy>().ok()?;
            Options {
                strategy,
                fallback: strategy == Strategy::Auto,
                ..auto
            }
        }
    })
}

/// Pages of `src` and `dst` in the page cache (`None` if either cannot be asked).
fn resident(src: &File, dst: &File) -> Option<u64> {
    let pages = |f: &File| zcopy::cache::residency(f, 0, None).ok().map(|r| r.resident);
    Some(pages(src)? + pages(dst)?)
}

/// Waits for the drain thread: it must have got `want` bytes, the source's.
fn check_drained(h: Drained, want: u64) -> Result<(), String> {
    let (got, same) = h
        .join()
        .map_err(|_| "the reader thread panicked".to_string())?
        .map_err(|e| format!("the reader failed: {e}"))?;
    if got != want {
        return Err(format!("the reader got {got} bytes, not {want}"));
    }
    if !same {
        return Err("the reader got bytes that differ from the source".into());
    }
    Ok(())
}

/// Reads back what the last op wrote (the bench's destination, or a whole-file peer's last
/// output) and compares it with the source's range.
fn check_destination(tech: &str, fx: &Fixture, dst: Option<&File>, ops: u64) -> Result<(), String> {
    let size = fx.size;
    let out = if peers::whole_file(tech) {
        std::fs::read(fx.out(ops - 1))
    } else {
        let mut v = Vec::new();
        dst.map_or(Ok(0), |mut f| {
            std::io::Seek::rewind(&mut f)?;
            f.read_to_end(&mut v)
        })
        .map(|_| v)
    }
    .map_err(|e| format!("cannot read the destination back: {e}"))?;
    if out.len() as u64 != size || !matches_source(&out, (ops - 1) * size) {
        return Err(format!(
            "the destination holds {} bytes that are not the source's {size}",
            out.len()
        ));
    }
    Ok(())
}

/// `ops` zcopy transfers of `size` bytes with `base`'s options, op `i` from byte `i * size` of
/// the source (at byte 0 of a file destination).
fn engine(
    base: &Options<'_>,
    src: &File,
    dst: &Dst,
    size: u64,
    ops: u64,
) -> Result<Measured, String> {
    let fd = dst.fd().ok_or("no destination fd")?;
    let is_file = matches!(dst, Dst::File(_));
    let mut tally = Tally::default();
    let clock = Clock::start();
    for i in 0..ops {
        let opts = Options {
            src_offset: Some(i * size),
            len: Some(size),
            dst_offset: is_file.then_some(0),
            ..base.clone()
        };
        let r = zcopy::transfer(src, fd, &opts).map_err(|e| e.to_string())?;
        tally.add(&r, size)?;
    }
    let mut m = clock.stop();
    if base.parallelism.is_some() {
        // The workers' CPU, which this thread's clock cannot see: the Reports' sum.
        m.cpu_ns = Some(tally.user_ns + tally.sys_ns);
    }
    Ok(tally.measured(m))
}

/// `ops` runs of one `zcopy::Prepared` with `base`'s options of `size` bytes, op `i` from byte
/// `i * size`: its preparation inside the measured time. Not `metered`, the runs read no CPU
/// clock ([`zcopy::Prepared::set_cpu_meter`]) and the sample's CPU figures are the bench's own
/// clock's, as for a peer.
fn prepared(
    base: &Options<'_>,
    src: &File,
    dst: &Dst,
    size: u64,
    ops: u64,
    metered: bool,
) -> Result<Measured, String> {
    use std::os::fd::AsFd;
    let fd = dst.fd().ok_or("no destination fd")?;
    let is_file = matches!(dst, Dst::File(_));
    let mut tally = Tally::default();
    let clock = Clock::start();
    let mut p = zcopy::Prepared::from_fds(src.as_fd(), fd, base).map_err(|e| e.to_string())?;
    p.set_cpu_meter(metered);
    for i in 0..ops {
        let r = p
            .run(Some(size), Some(i * size), is_file.then_some(0))
            .map_err(|e| e.to_string())?;
        tally.add(&r, size)?;
    }
    let m = clock.stop();
    Ok(if metered {
        tally.measured(m)
    } else {
        Measured {
            syscalls: Some(tally.syscalls),
            cpu_copies_bytes: Some(tally.copies),
            strategy_used: tally.used,
            ..m
        }
    })
}

/// What the Reports of a sample's ops add up to.
#[derive(Default)]
struct Tally {
    syscalls: u64,
    copies: u64,
    user_ns: u64,
    sys_ns: u64,
    ctx_switches: u64,
    used: Option<String>,
}

impl Tally {
    /// Adds one op's Report, which must have moved `size` bytes.
    fn add(&mut self, r: &zcopy::Report, size: u64) -> Result<(), String> {
        if r.bytes != size {
            return Err(format!("moved {} bytes, not {size}", r.bytes));
        }
        self.syscalls += r.syscalls;
        self.copies += r.cpu_copies_bytes;
        self.user_ns += r.user_cpu_ns;
        self.sys_ns += r.sys_cpu_ns;
        self.ctx_switches += r.voluntary_ctx_switches + r.involuntary_ctx_switches;
        self.used = Some(r.strategy.name().to_string());
        Ok(())
    }

    /// The sample's figures: the clock's `m`, with the counters, the user/sys split and the
    /// context switches from the Reports (with parallelism they include the worker threads,
    /// which this thread's counters cannot see; with one thread they are the same figures).
    fn measured(self, m: Measured) -> Measured {
        Measured {
            syscalls: Some(self.syscalls),
            cpu_copies_bytes: Some(self.copies),
            strategy_used: self.used,
            user_cpu_ns: Some(self.user_ns),
            sys_cpu_ns: Some(self.sys_ns),
            ctx_switches: Some(self.ctx_switches),
            ..m
        }
    }
}

/// (user ns, sys ns, context switches) of `who` (`RUSAGE_THREAD`, `RUSAGE_CHILDREN`).
pub fn usage(who: libc::c_int) -> (u64, u64, u64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `ru` is valid for writes of one rusage.
    if unsafe { libc::getrusage(who, ru.as_mut_ptr()) } != 0 {
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
    Machine {
        cpu,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel,
        filesystem: filesystem(dir),
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

/// Parses "4K,64K,1M" (K, M, G suffixes, powers of 1024).
pub fn parse_sizes(s: &str) -> Result<Vec<u64>, String> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            crate::size::parse(p)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("bad size {p:?} in --sizes (e.g. 4K,64K,1M)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_check_finds_one_wrong_byte_anywhere() {
        let mut buf = Vec::new();
        write_source(&mut buf, 5000, 3 << 20).expect("write to a Vec");
        assert!(matches_source(&buf, 5000));
        assert!(!matches_source(&buf, 5001), "an offset off by one");
        for at in [0, 1 << 20, buf.len() - 1] {
            buf[at] ^= 1;
            assert!(!matches_source(&buf, 5000), "a flipped byte at {at}");
            buf[at] ^= 1;
        }
    }

    #[test]
    fn the_cache_policy_rows_run_only_on_big_cold_copies() {
        let all = all_techniques("file_file", None);
        let policies = |size, cold| -> Vec<&str> {
            at(&all, "file_file", size, cold)
                .into_iter()
                .filter(|t| t.starts_with("cache_"))
                .collect()
        };
        assert_eq!(
            policies(256 << 20, true),
            [
                "cache_keep",
                "cache_drop_after",
                "cache_dontcache",
                "cache_direct"
            ]
        );
        assert!(policies(256 << 20, false).is_empty());
        assert!(policies(16 << 20, true).is_empty());
        assert!(all_techniques("file_tcp", None)
            .iter()
            .all(|t| !t.starts_with("cache_")));
        let o = |t| engine_options(t).expect("a zcopy row");
        assert_eq!(o("cache_keep").cache, zcopy::CachePolicy::Keep);
        assert_eq!(o("cache_drop_after").cache, zcopy::CachePolicy::DropAfter);
        assert_eq!(o("cache_dontcache").cache, zcopy::CachePolicy::DontCache);
        assert_eq!(o("cache_direct").direct_threshold, Some(0));
        assert_eq!(o("auto_parallel2").parallelism, Some(2));
        assert_eq!(o("splice").strategy, Strategy::Splice);
        assert!(!o("splice").fallback && o("auto").fallback);
        assert!(engine_options("cp").is_none() && engine_options("bare_sendfile").is_none());
    }

    #[test]
    fn every_listed_technique_is_known_in_the_tables_order() {
        for endpoint in ENDPOINTS {
            let listed = all_techniques(endpoint, None);
            let at: Vec<usize> = listed
                .iter()
                .map(|t| KNOWN.iter().position(|k| k == t).expect("a known name"))
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{endpoint}: {listed:?}");
        }
    }

    #[test]
    fn each_round_runs_every_row_once_in_its_own_order() {
        let orders: Vec<Vec<usize>> = (0..6).map(|r| round_order(16, r, 1 << 20, false)).collect();
        for o in &orders {
            let mut sorted = o.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..16).collect::<Vec<_>>());
        }
        // A row's predecessor changes from round to round (a rotation kept it).
        let before = |o: &Vec<usize>, t: usize| {
            o.iter()
                .position(|&x| x == t)
                .map(|i| o.get(i.wrapping_sub(1)).copied())
        };
        let seen: std::collections::HashSet<_> = orders.iter().map(|o| before(o, 11)).collect();
        assert!(seen.len() > 2, "{orders:?}");
        assert_eq!(
            orders[3],
            round_order(16, 3, 1 << 20, false),
            "the same in every run"
        );
    }

    #[test]
    fn sizes_parse_with_suffixes_and_refuse_nonsense() {
        assert_eq!(
            parse_sizes("4K, 1M,2G,7"),
            Ok(vec![4096, 1 << 20, 2 << 30, 7])
        );
        for bad in ["0", "4Q", "", "-1K", "99999999999999999999G"] {
            assert!(parse_sizes(bad).is_err(), "{bad:?}");
        }
    }
}
