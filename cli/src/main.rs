//! `zcopy`: the command-line face of the zcopy engine.
//!
//! - `zcopy copy SRC DST` copies with the engine and prints the Report (a table, or `--json`).
//! - `zcopy probe SRC DST` tells which techniques can serve the pair, and why not for the others.
//!
//! `-` stands for standard input (as SRC) or standard output (as DST), so pipes work:
//! `zcopy copy big.iso - | sha256sum`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod serve;

use clap::{Parser, Subcommand};
use zcopy::cache::Method;
use zcopy::{Options, Report, Strategy};

#[derive(Parser)]
#[command(name = "zcopy", version = zcopy::VERSION, about = "Move bytes by every technique Linux offers, and report what it cost")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy SRC to DST and print what it cost. A DST path is created (with SRC's permission bits
    /// minus the umask, as cp) or truncated (keeping its mode); `-` is standard input or output.
    Copy {
        /// The source path, or `-` for standard input.
        src: PathBuf,
        /// The destination path, or `-` for standard output. When DST is standard output (`-`,
        /// /dev/stdout, or the file stdout is open on), the Report goes to standard error.
        dst: PathBuf,
        /// The technique: auto, read_write, mmap_write, sendfile, splice, copy_file_range, reflink,
        /// direct, io_uring, msg_zerocopy.
        #[arg(long, short, default_value = "auto")]
        strategy: String,
        /// Use exactly the named technique, or fail with "unsupported".
        #[arg(long)]
        no_fallback: bool,
        /// Start reading SRC at this byte.
        #[arg(long)]
        offset: Option<u64>,
        /// Start writing DST at this byte.
        #[arg(long)]
        dst_offset: Option<u64>,
        /// Move at most this many bytes (default: to end of file).
        #[arg(long)]
        len: Option<u64>,
        /// Bytes per syscall (buffer, window or pipe size); default: the technique's own.
        #[arg(long)]
        chunk_size: Option<u64>,
        /// Page-cache policy: keep, drop_after (evict what the copy brought in), noreuse.
        #[arg(long, default_value = "keep")]
        cache: String,
        /// Durability: none, data (fdatasync DST at the end), full (fsync).
        #[arg(long, default_value = "none")]
        sync: String,
        /// With auto, copy files of at least this many bytes with O_DIRECT (nginx's directio).
        #[arg(long)]
        direct_threshold: Option<u64>,
        /// io_uring: requests in flight (default 4).
        #[arg(long)]
        queue_depth: Option<u32>,
        /// Threads that copy a file → file transfer of at least 16 MiB at once, each a range of
        /// at least 8 MiB (default 1; at most 64). Other copies use one thread.
        #[arg(long)]
        parallelism: Option<u32>,
        /// Print the Report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show how much of each FILE is in the page cache (like util-linux fincore).
    Fincore {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file (pages, resident, ratio, method), in an array.
        #[arg(long)]
        json: bool,
    },
    /// Write back and drop each FILE's pages from the page cache; print what is still resident
    /// (`?`, method `unknown`, for a file whose page cache this user may not see: neither its
    /// owner nor allowed to write it).
    Evict {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Read each FILE into the page cache (no copy to user space); print what is resident (`?`,
    /// method `unknown`, for a file whose page cache this user may not see).
    Warm {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Time every technique the pair allows against the tools people use today (std::io::copy,
    /// std::fs::copy, cp, Python's shutil.copyfile and socket.sendfile), file → file, → pipe and
    /// → loopback TCP, hot and cold; print medians, ratios and the targets they meet.
    Bench {
        /// A short run for a first look (under a minute on 2 cores): the summary and targets only.
        #[arg(long)]
        quick: bool,
        /// With --quick, also print every cell's table (the default without --quick).
        #[arg(long)]
        full: bool,
        /// Sizes to move, e.g. 4K,64K,1M,16M,256M.
        #[arg(long)]
        sizes: Option<String>,
        /// Endpoints: file_file, file_pipe, file_tcp.
        #[arg(long, default_value = "file_file,file_pipe,file_tcp")]
        endpoints: String,
        /// Only these techniques and peers (comma-separated; read_write is always kept, for the
        /// ratios), e.g. auto,splice,copy_file_range,cp.
        #[arg(long)]
        techniques: Option<String>,
        /// Cache states: hot, cold (the source evicted before each sample).
        #[arg(long, default_value = "hot,cold")]
        cache: String,
        /// Rounds, interleaved in rotating order.
        #[arg(long)]
        rounds: Option<usize>,
        /// Where to put the scratch files (default: the temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Write every sample as JSON to FILE.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw throughput and CPU per GB by size to FILE (SVG).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// The Python interpreter for the Python peers (default: python3 on PATH; `none` to
        /// leave them out). With zcopy installed in it, zcopy.copy_file is measured too.
        #[arg(long, default_value = "python3")]
        python: String,
        /// Bytes one sample moves at most (small sizes are batched up to it; default 16 MiB
        /// with --quick, else 64 MiB). For tests.
        #[arg(long, hide = true)]
        sample_bytes: Option<u64>,
    },
    /// Serve DIR over HTTP/1.1 (GET, HEAD, ranges, keep-alive) like nginx with `sendfile on`:
    /// files below --directio bytes with sendfile, larger ones with O_DIRECT reads through
    /// io_uring (the page cache untouched). Prints the address, then serves until SIGINT/SIGTERM.
    Serve {
        /// The directory to serve.
        dir: PathBuf,
        /// The address to listen on (port 0: any free port). Loopback by default.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Worker threads, each with its own reactor (default: the number of CPUs).
        #[arg(long)]
        workers: Option<usize>,
        /// Read files of at least this many bytes (e.g. 4m) with O_DIRECT, or `off`.
        #[arg(long, default_value = "off")]
        directio: String,
        /// The I/O model: epoll (reactor), uring (proactor), threads (blocking), poll (spinning).
        #[arg(long, default_value = "epoll")]
        model: String,
        /// Seconds a client may take to send a request head; then the connection is closed
        /// (nginx's client_header_timeout).
        #[arg(long, value_name = "S", default_value = "60")]
        header_timeout: String,
        /// Seconds an idle kept-alive connection is kept after its last response (nginx's
        /// keepalive_timeout).
        #[arg(long, value_name = "S", default_value = "75")]
        keepalive_timeout: String,
        /// The most connections one worker holds at once; more wait in the listen backlog
        /// (nginx's worker_connections).
        #[arg(long, value_name = "N", default_value_t = 512)]
        max_connections: usize,
        /// Log each response in nginx's combined format to PATH (appended), `-` (standard
        /// output) or `off`.
        #[arg(long, value_name = "PATH|-|off", default_value = "off")]
        access_log: std::ffi::OsString,
    },
    /// Tell which techniques can serve SRC → DST, and why not for the others. Moves nothing and
    /// creates nothing.
    Probe {
        /// The source path, or `-` for standard input.
        src: PathBuf,
        /// The destination path (need not exist), or `-` for standard output.
        dst: PathBuf,
        /// Print the verdicts as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("zcopy: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Copy {
            src,
            dst,
            strategy,
            no_fallback,
            offset,
            dst_offset,
            len,
            chunk_size,
            cache,
            sync,
            direct_threshold,
            queue_depth,
            parallelism,
            json,
        } => {
            let strategy: Strategy = strategy.parse().map_err(describe)?;
            let cache = cache.parse().map_err(describe)?;
            let sync = sync.parse().map_err(describe)?;
            let opts = Options {
                strategy,
                src_offset: offset,
                dst_offset,
                len,
                chunk_size,
                fallback: !no_fallback,
                cache,
                sync,
                direct_threshold,
                queue_depth,
                parallelism,
                ..Options::default()
            };
            // copy_file copies regular files; a named pipe, socket or device (as `cp` copies
            // from and to them) is opened here and its fd given to transfer.
            let plain = |p: &std::path::Path| !is_dash(p) && !is_special(p);
            let result = if plain(&src) && plain(&dst) {
                zcopy::copy_file(&src, &dst, &opts)
            } else {
                let src_file = open_src(&src)?;
                let dst_file = open_dst(&dst)?;
                let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
                let s = src_file
                    .as_ref()
                    .map_or_else(|| stdin.as_fd(), |f| f.as_fd());
                let d = dst_file
                    .as_ref()
                    .map_or_else(|| stdout.as_fd(), |f| f.as_fd());
                zcopy::transfer(s, d, &opts)
            };
            let report = result.map_err(describe)?;
            // With DST on stdout (`-`, /dev/stdout, or the very file stdout is) the report goes
            // to stderr, out of the data's way.
            let to_stdout = is_stdout(&dst);
            let text = if json {
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n"
            } else {
                table(&report)
            };
            if to_stdout {
                std::io::stderr()
                    .write_all(text.as_bytes())
                    .map_err(|e| e.to_string())
            } else {
                std::io::stdout()
                    .write_all(text.as_bytes())
                    .map_err(|e| e.to_string())
            }
        }
        Command::Fincore { files, json } => {
            pages(&files, json, |f| zcopy::cache::residency(f, 0, None))
        }
        Command::Evict { files } => pages(&files, false, |f| zcopy::cache::evict(f, 0, None)),
        Command::Warm { files } => pages(&files, false, |f| zcopy::cache::warm(f, 0, None)),
        Command::Serve {
            dir,
            listen,
            workers,
            directio,
            model,
            header_timeout,
            keepalive_timeout,
            max_connections,
            access_log,
        } => serve::run(serve::Args {
            dir,
            listen,
            workers,
            directio,
            model,
            header_timeout,
            keepalive_timeout,
            max_connections,
            access_log,
        }),
        Command::Bench {
            quick,
            full,
            sizes,
            endpoints,
            techniques,
            cache,
            rounds,
            dir,
            json,
            plot,
            python,
            sample_bytes,
        } => {
            let sizes = match sizes {
                Some(s) => bench::parse_sizes(&s)?,
                None if quick => vec![4 << 10, 1 << 20, 16 << 20],
                None => vec![4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20],
            };
            let plan = bench::Plan {
                sizes,
                endpoints: endpoints.split(',').map(|s| s.trim().to_string()).collect(),
                caches: cache.split(',').map(|s| s.trim().to_string()).collect(),
                rounds: rounds.unwrap_or(if quick { 3 } else { 7 }).max(1),
                sample_bytes: sample_bytes.unwrap_or(if quick { 16 << 20 } else { 64 << 20 }),
                max_ops: if quick { 500 } else { 2000 },
                python: (python != "none").then(|| PathBuf::from(python)),
                only: techniques.map(|t| t.split(',').map(|s| s.trim().to_string()).collect()),
            };
            bench::check(&plan).map_err(|e| format!("error: {e}"))?;
            if let Some(p) = &plot {
                // Refuse a bad name before the run, not after it.
                bench::plot::check_path(p).map_err(|e| format!("error: {e}"))?;
            }
            let base = dir.unwrap_or_else(std::env::temp_dir);
            let work = tempfile::Builder::new()
                .prefix("zcopy-bench.")
                .tempdir_in(&base)
                .map_err(|e| {
                    format!(
                        "error: cannot make a scratch dir in {}: {e}",
                        base.display()
                    )
                })?;
            let bar = indicatif::ProgressBar::new(bench::count(&plan));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed:>4} [{bar:30}] {pos}/{len} samples  {msg}",
                )
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
            );
            let run = bench::run(&plan, work.path(), |s| {
                bar.inc(1);
                bar.set_message(format!(
                    "{} {} {} {}",
                    s.endpoint,
                    bench::human(s.size),
                    s.cache,
                    s.technique
                ));
            });
            bar.finish_and_clear();
            let run = run.map_err(|e| format!("error: {e}"))?;
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
                std::fs::write(&path, text + "\n")
                    .map_err(|e| format!("error: cannot write {}: {e}", path.display()))?;
            }
            if let Some(path) = plot {
                bench::plot::write(&run, &path).map_err(|e| format!("error: {e}"))?;
            }
            std::io::stdout()
                .write_all(bench::table(&run, full || !quick).as_bytes())
                .map_err(|e| e.to_string())
        }
        Command::Probe { src, dst, json } => {
            let src_file = open_src(&src)?;
            let dst_file = open_probe_dst(&dst)?;
            let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
            let s: BorrowedFd<'_> = src_file
                .as_ref()
                .map_or_else(|| stdin.as_fd(), |f| f.as_fd());
            let d: BorrowedFd<'_> = dst_file
                .as_ref()
                .map_or_else(|| stdout.as_fd(), |f| f.as_fd());
            let verdicts = zcopy::probe(s, d).map_err(describe)?;
            let mut out = String::new();
            if json {
                out = serde_json::to_string_pretty(&verdicts).map_err(|e| e.to_string())? + "\n";
            } else {
                for v in &verdicts {
                    let mark = if v.supported { "yes" } else { "no " };
                    out += &format!("{:<16} {mark}  {}\n", v.strategy.name(), v.reason);
                }
            }
            std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| e.to_string())
        }
    }
}

/// Runs `op` on each file and prints its residency: a table like fincore's, or JSON. Every file
/// is tried; the first error is returned at the end.
fn pages(
    files: &[PathBuf],
    json: bool,
    op: impl Fn(&File) -> zcopy::Result<zcopy::cache::Residency>,
) -> Result<(), String> {
    let mut out = String::new();
    let mut rows = Vec::new();
    let mut first_err = None;
    if !json {
        out += &format!(
            "{:>10} {:>10} {:>7} {:>10}  {:<9} FILE\n",
            "RES", "PAGES", "PERCENT", "SIZE", "METHOD"
        );
    }
    for path in files {
        let result = File::open(path)
            .map_err(|e| format!("error: cannot open {}: {e}", path.display()))
            .and_then(|f| {
                let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                op(&f)
                    .map(|r| (r, size))
                    .map_err(|e| format!("error: {}: {}", path.display(), e.message()))
            });
        match result {
            // evict/warm did their work on a file whose page cache this process may not see.
            Ok((r, size)) if r.method == Method::Unknown => {
                if json {
                    rows.push(serde_json::json!({
                        "file": path.display().to_string(),
                        "size": size,
                        "pages": r.pages,
                        "resident": null,
                        "ratio": null,
                        "method": r.method.name(),
                    }));
                } else {
                    out += &format!(
                        "{:>10} {:>10} {:>7} {:>10}  {:<9} {} (may not see its page cache: neither owner nor writer)\n",
                        "?",
                        r.pages,
                        "?",
                        human(size),
                        r.method.name(),
                        path.display()
                    );
                }
            }
            Ok((r, size)) if json => rows.push(serde_json::json!({
                "file": path.display().to_string(),
                "size": size,
                "pages": r.pages,
                "resident": r.resident,
                "ratio": r.ratio,
                "method": r.method.name(),
            })),
            Ok((r, size)) => {
                let res = human(r.resident * 4096);
                out += &format!(
                    "{res:>10} {:>10} {:>6.1}% {:>10}  {:<9} {}\n",
                    r.pages,
                    r.ratio * 100.0,
                    human(size),
                    r.method.name(),
                    path.display()
                );
            }
            Err(e) => {
                eprintln!("zcopy: {e}");
                first_err.get_or_insert(e);
            }
        }
    }
    if json {
        out = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())? + "\n";
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| e.to_string())?;
    match first_err {
        Some(_) => Err("some files failed (see above)".to_string()),
        None => Ok(()),
    }
}

/// Bytes as people read them: 4.0K, 1.5M, 2.0G.
fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", units[i])
    }
}

fn is_dash(p: &std::path::Path) -> bool {
    p.as_os_str() == "-"
}

/// Whether `p` names this process's standard output: `-`, `/dev/stdout`, `/dev/fd/1`,
/// `/proc/self/fd/1`, or any path to the same file (device and inode) as fd 1, such as the file
/// of `> out`. Then the Report must not go to stdout: it would land in (or over) the data.
fn is_stdout(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if is_dash(p)
        || ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].contains(&p.to_str().unwrap_or(""))
    {
        return true;
    }
    // stat through /proc/self/fd/1 follows to the file fd 1 is open on (a pipe or socket too).
    match (std::fs::metadata(p), std::fs::metadata("/proc/self/fd/1")) {
        (Ok(dst), Ok(out)) => dst.dev() == out.dev() && dst.ino() == out.ino(),
        _ => false,
    }
}

/// One line: the message, then the errno's name and the bytes moved when there are any.
fn describe(e: zcopy::Error) -> String {
    let mut s = format!("error: {}", e.message());
    if e.bytes_moved() > 0 {
        s += &format!(" ({} bytes moved before the error)", e.bytes_moved());
    }
    s
}

/// Whether `p` names something other than a regular file or a directory: a named pipe, a
/// socket or a device (`/dev/stdout` on a pipe among them).
fn is_special(p: &std::path::Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.file_type().is_file() && !m.file_type().is_dir())
}

fn open_src(p: &std::path::Path) -> Result<Option<File>, String> {
    if is_dash(p) {
        return Ok(None);
    }
    File::open(p)
        .map(Some)
        .map_err(|e| format!("error: cannot open src {}: {e}", p.display()))
}

fn open_dst(p: &std::path::Path) -> Result<Option<File>, String> {
    if is_dash(p) {
        return Ok(None);
    }
    open_dst_path(p, true)
        .map(Some)
        .map_err(|e| format!("error: cannot open dst {}: {e}", p.display()))
}

/// Opens the destination path with the flags `copy` gives the engine (`O_WRONLY`, blocking, as
/// `zcopy::copy_file` opens it), so `probe` judges the fd `copy` would use. `copy` creates and
/// truncates it; `probe` (`for_copy` false) changes nothing and must not wait for a FIFO's
/// reader: it opens with `O_NONBLOCK` (a FIFO without a reader fails at once with ENXIO) and
/// then clears that flag again.
fn open_dst_path(p: &std::path::Path, for_copy: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if for_copy {
        return o.create(true).truncate(true).open(p);
    }
    let f = o.custom_flags(libc::O_NONBLOCK).open(p)?;
    set_blocking(&f)?;
    Ok(f)
}

/// Clears `O_NONBLOCK` on `f`'s open file description (its own: `f` was just opened).
fn set_blocking(f: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL on an fd `f` owns touches no memory.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: F_SETFL on an fd `f` owns touches no memory.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The destination for a probe, without creating or truncating anything: an existing path is
/// opened for writing with the flags `copy` would use ([`open_dst_path`]; a FIFO without a
/// reader fails at once); a new one is stood in for by an unnamed temporary file in its
/// directory.
fn open_probe_dst(p: &std::path::Path) -> Result<Option<File>, String> {
    if is_dash(p) {
        return Ok(None);
    }
    if p.exists() {
        return open_dst_path(p, false)
            .map(Some)
            .map_err(|e| format!("error: cannot open dst {}: {e}", p.display()));
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
        .map(Some)
        .map_err(|e| {
            format!(
                "error: cannot stand in for dst {} in {}: {e}",
                p.display(),
                dir.display()
            )
        })
}

fn table(r: &Report) -> String {
    let mut out = String::new();
    let secs = r.elapsed_ns as f64 / 1e9;
    let rate = if secs > 0.0 {
        r.bytes as f64 / secs / 1e9
    } else {
        0.0
    };
    let rows: Vec<(&str, String)> = vec![
        ("bytes", r.bytes.to_string()),
        ("strategy", r.strategy.to_string()),
        (
            "elapsed",
            format!("{:.3} ms ({rate:.2} GB/s)", r.elapsed_ns as f64 / 1e6),
        ),
        ("syscalls", r.syscalls.to_string()),
        ("mode switches", r.mode_switches.to_string()),
        ("user cpu", format!("{:.3} ms", r.user_cpu_ns as f64 / 1e6)),
        ("sys cpu", format!("{:.3} ms", r.sys_cpu_ns as f64 / 1e6)),
        (
            "ctx switches",
            format!(
                "{} voluntary, {} involuntary",
                r.voluntary_ctx_switches, r.involuntary_ctx_switches
            ),
        ),
        (
            "cpu copies",
            format!("{} bytes (modelled)", r.cpu_copies_bytes),
        ),
        (
            "dma copies",
            format!("{} bytes (modelled)", r.dma_copies_bytes),
        ),
    ];
    for (k, v) in rows {
        out += &format!("{k:<14} {v}\n");
    }
    for f in &r.fallbacks {
        out += &format!("{:<14} {}: {}\n", "fell back from", f.strategy, f.reason);
    }
    out
}
