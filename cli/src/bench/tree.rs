//! `zcopy bench --tree`: whole-tree copies. zcopy's `copy_tree` (in process) against the tools
//! people use — `cp -a`, Python's `shutil.copytree` (timed inside the interpreter, start-up
//! excluded), `rsync -a` and `xcp` where installed — on a generated tree (by default 10,000
//! files of 0 to 1 MiB, log-uniform, in 500 directories), hot and cold (every source file's
//! pages evicted before a cold sample, as the file cells do), rounds interleaved in rotating
//! order; medians, the median of the per-round ratios against `cp -a`, and the target lines.
//! The first round of each cell checks the copy: the same entries with the same bytes (and,
//! for zcopy, the same modes and nanosecond modification times as the source).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What `--tree` measures.
pub struct Args {
    /// Files in the generated tree.
    pub files: usize,
    /// Rounds, interleaved.
    pub rounds: usize,
    /// `hot`, `cold`.
    pub caches: Vec<String>,
    /// Where the scratch directory goes.
    pub dir: PathBuf,
    /// The Python interpreter for `shutil.copytree`, or none.
    pub python: Option<PathBuf>,
}

/// The largest file of the generated tree.
const MAX_SIZE: u64 = 1 << 20;

/// Runs the tree bench and prints its table and target lines.
pub fn run(a: &Args) -> Result<(), String> {
    for c in &a.caches {
        if c != "hot" && c != "cold" {
            return Err(format!("unknown cache state {c:?}; expected hot, cold"));
        }
    }
    let work = tempfile::Builder::new()
        .prefix("zcopy-bench-tree.")
        .tempdir_in(&a.dir)
        .map_err(|e| format!("cannot make a scratch dir in {}: {e}", a.dir.display()))?;
    let src = work.path().join("src");
    let (dirs, bytes) = generate(&src, a.files)?;
    println!(
        "tree: {} files, {dirs} directories, {:.1} MiB in {}",
        a.files,
        bytes as f64 / (1 << 20) as f64,
        src.display()
    );
    let peers = peers(a.python.as_deref());
    let mut times: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); peers.len()]; a.caches.len()];
    for round in 0..a.rounds {
        for (ci, cache) in a.caches.iter().enumerate() {
            for k in 0..peers.len() {
                let pi = (k + round) % peers.len();
                let dst = work.path().join(format!("dst-{}", peers[pi]));
                let secs = sample(peers[pi], &src, &dst, cache == "cold", a.python.as_deref())?;
                if round == 0 {
                    verify(&src, &dst, peers[pi] == "zcopy")
                        .map_err(|e| format!("{} copy differs: {e}", peers[pi]))?;
                }
                std::fs::remove_dir_all(&dst)
                    .map_err(|e| format!("cannot remove {}: {e}", dst.display()))?;
                times[ci][pi].push(secs);
            }
        }
    }
    print!("{}", report(a, &peers, &times, bytes));
    Ok(())
}

/// The peers installed here, zcopy first; prints why each missing one is left out.
fn peers(python: Option<&Path>) -> Vec<&'static str> {
    let mut v = vec!["zcopy", "cp_a"];
    match python {
        Some(_) => v.push("shutil_copytree"),
        None => println!("shutil_copytree: skipped (--python none)"),
    }
    for (name, cmd, how) in [
        ("rsync_a", "rsync", "apt-get install rsync"),
        ("xcp", "xcp", "cargo install xcp"),
    ] {
        if which(cmd) {
            v.push(name);
        } else {
            println!("{name}: skipped ({cmd} is not on PATH; {how})");
        }
    }
    v
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

/// Deterministic xorshift numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes the tree: `files` files in one directory per 20 (at least one), under 25 parents;
/// sizes log-uniform from 0 to 1 MiB. Returns the directories and bytes written.
fn generate(root: &Path, files: usize) -> Result<(usize, u64), String> {
    let dirs = (files / 20).max(1);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let block: Vec<u8> = (0..MAX_SIZE + 4096)
        .map(|_| (rng.next() >> 24) as u8)
        .collect();
    let mut bytes = 0;
    for i in 0..files {
        let d = root.join(format!("g{:02}/d{:04}", (i % dirs) % 25, i % dirs));
        if i < dirs {
            std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        // exp(u * ln(MAX + 1)) - 1, u uniform in [0, 1): 0 to MAX bytes, log-uniform.
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let size = (((MAX_SIZE + 1) as f64).ln() * u).exp() as u64 - 1;
        let at = (rng.next() % 4096) as usize;
        let p = d.join(format!("f{i:05}"));
        std::fs::write(&p, &block[at..at + size as usize])
            .map_err(|e| format!("{}: {e}", p.display()))?;
        bytes += size;
    }
    Ok((dirs, bytes))
}

/// Every regular file under `root`.
fn files_under(root: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(root)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            files_under(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// Evicts (cold) or warms (hot) every file of the source, writes back what the last copy left
/// dirty, then times one copy by `peer`.
fn sample(
    peer: &str,
    src: &Path,
    dst: &Path,
    cold: bool,
    python: Option<&Path>,
) -> Result<f64, String> {
    let mut files = Vec::new();
    files_under(src, &mut files).map_err(|e| e.to_string())?;
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    for p in &files {
        let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let r = if cold {
            zcopy::cache::evict(&f, 0, None)
        } else {
            zcopy::cache::warm(&f, 0, None)
        };
        r.map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    match peer {
        "zcopy" => {
            zcopy::copy_tree(src, dst, &zcopy::TreeOptions::default())
                .map_err(|e| e.to_string())?;
        }
        "cp_a" => spawn(Command::new("cp").arg("-a").arg(src).arg(dst))?,
        "rsync_a" => spawn(
            Command::new("rsync")
                .arg("-a")
                .arg(format!("{}/", src.display()))
                .arg(dst),
        )?,
        "xcp" => spawn(Command::new("xcp").arg("-r").arg(src).arg(dst))?,
        "shutil_copytree" => return shutil(python, src, dst),
        other => return Err(format!("unknown tree peer {other}")),
    }
    Ok(start.elapsed().as_secs_f64())
}

fn spawn(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// `shutil.copytree(src, dst, symlinks=True)`, timed inside the interpreter.
fn shutil(python: Option<&Path>, src: &Path, dst: &Path) -> Result<f64, String> {
    let python = python.ok_or("no python")?;
    let code = "import shutil, sys, time\n\
                t = time.perf_counter_ns()\n\
                shutil.copytree(sys.argv[1], sys.argv[2], symlinks=True)\n\
                print(time.perf_counter_ns() - t)";
    let out = Command::new(python)
        .args(["-c", code])
        .arg(src)
        .arg(dst)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "shutil.copytree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let ns: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "shutil.copytree printed no time".to_string())?;
    Ok(ns / 1e9)
}

/// The same files with the same bytes under `dst` as under `src` (and with `meta`, the same
/// modes and modification times to the nanosecond).
fn verify(src: &Path, dst: &Path, meta: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    files_under(src, &mut a).map_err(|e| e.to_string())?;
    files_under(dst, &mut b).map_err(|e| e.to_string())?;
    if a.len() != b.len() {
        return Err(format!("{} files, the source has {}", b.len(), a.len()));
    }
    for p in &a {
        let rel = p.strip_prefix(src).map_err(|e| e.to_string())?;
        let q = dst.join(rel);
        let (x, y) = (std::fs::read(p), std::fs::read(&q));
        match (x, y) {
            (Ok(x), Ok(y)) if x == y => {}
            (_, Err(e)) => return Err(format!("{}: {e}", q.display())),
            _ => return Err(format!("{} holds other bytes", q.display())),
        }
        if meta {
            let (m, n) = (
                std::fs::metadata(p).map_err(|e| e.to_string())?,
                std::fs::metadata(&q).map_err(|e| e.to_string())?,
            );
            if (m.mode(), m.mtime(), m.mtime_nsec()) != (n.mode(), n.mtime(), n.mtime_nsec()) {
                return Err(format!("{}: mode or mtime differs", q.display()));
            }
        }
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The table (one per cache state) and the target lines.
fn report(a: &Args, peers: &[&str], times: &[Vec<Vec<f64>>], bytes: u64) -> String {
    let mut out = String::new();
    let zi = 0; // zcopy is first.
    for (ci, cache) in a.caches.iter().enumerate() {
        let t = &times[ci];
        out += &format!(
            "\n{cache}: {} files, median of {} rounds (spread: fastest–slowest)\n{:<16} {:>10} {:>15} {:>12} {:>10} {:>14} {:>13}\n",
            a.files, a.rounds, "peer", "seconds", "spread", "files/s", "MB/s", "zcopy speed-up", "spread"
        );
        // Per-round ratio peer time / zcopy time, then its median.
        let ratios =
            |pi: usize| -> Vec<f64> { t[pi].iter().zip(&t[zi]).map(|(p, z)| p / z).collect() };
        let ratio = |pi: usize| median(&ratios(pi));
        let spread = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        };
        for (pi, peer) in peers.iter().enumerate() {
            let m = median(&t[pi]);
            let (lo, hi) = spread(&t[pi]);
            let (rlo, rhi) = spread(&ratios(pi));
            out += &format!(
                "{peer:<16} {m:>10.3} {:>15} {:>12.0} {:>10.1} {:>13.2}× {:>13}\n",
                format!("{lo:.3}–{hi:.3}"),
                a.files as f64 / m,
                bytes as f64 / m / 1e6,
                ratio(pi),
                format!("{rlo:.2}–{rhi:.2}×"),
            );
        }
        let cp = ratio(1);
        out += &format!(
            "target ({cache}): zcopy ≥ 1.3× cp -a: {cp:.2}× — {}\n",
            if cp >= 1.3 { "met" } else { "NOT met" }
        );
        let best = (1..peers.len())
            .map(|pi| (peers[pi], ratio(pi)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        match best {
            Some((name, r)) => {
                out += &format!(
                    "target ({cache}): zcopy ≥ the best of the others ({name}): {r:.2}× — {}\n",
                    if r >= 1.0 { "met" } else { "NOT met" }
                )
            }
            None => out += &format!("target ({cache}): no other peer installed\n"),
        }
    }
    out
}
