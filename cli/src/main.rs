//! `zcopy`: the command-line face of the zcopy engine.
//!
//! - `zcopy copy SRC DST` (or `SRC... DIR`, `-t DIR SRC...`) copies with the engine and prints
//!   the Report (a table, `--json`, or nothing with `-q`).
//! - `zcopy probe SRC DST` tells which techniques can serve the pair, why not for the others,
//!   and which one Auto picks first and why.
//! - `zcopy fincore|warm|evict PATH...` show, fill and empty the page cache of files and
//!   directories (util-linux fincore's columns, vmtouch's summary; `warm --lock`).
//!
//! `-` stands for standard input (as SRC) or standard output (as DST), so pipes work:
//! `zcopy copy big.iso - | sha256sum`. Sizes take suffixes (`4k`, `1M`, `1GiB`: powers of 1024),
//! names any case with `-` or `_`. A failure prints one line (a JSON object with `--json`) and
//! exits 1; a command line that cannot be parsed exits 2.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod copy;
mod fail;
mod names;
mod pagecache;
mod probe;
mod serve;
mod size;

use clap::{CommandFactory, Parser, Subcommand};
use zcopy_serve::IoModel;

use fail::Failure;
use names::names;
use pagecache::Column;

/// What `--help` says of sizes, names and exit statuses.
const SIZES_AND_STATUS: &str = "SIZE takes a suffix: 512, 4k, 64KiB, 1M, 2G (K, KB, KiB: 1024; M, G, T, P, E: the next powers of 1024). \
Names take any case, with - or _ (copy-file-range, Drop_After). \
Exit status: 0 done; 1 failed (one line on stderr, a JSON object with --json); 2 a command line that cannot be parsed.";

#[derive(Parser)]
#[command(
    name = "zcopy",
    version = zcopy::VERSION,
    about = "Move bytes by every technique Linux offers, and report what it cost",
    after_help = SIZES_AND_STATUS
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The arguments of `zcopy bench`.
#[derive(clap::Args)]
struct BenchArgs {
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
    /// Rounds, interleaved: every technique once per round, in a new shuffled order each round.
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
    #[arg(long, hide = true, value_parser = size::parse)]
    sample_bytes: Option<u64>,
    /// Time whole-tree copies instead: zcopy's copy_tree against cp -a, shutil.copytree,
    /// rsync -a and xcp (those installed) on a generated tree, hot and cold, and check every
    /// copy is byte-identical.
    #[arg(long)]
    tree: bool,
    /// With --tree: files in the generated tree (in one directory per 20 files).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    tree_files: usize,
}

/// The arguments of `zcopy serve`.
#[derive(clap::Args)]
struct ServeArgs {
    /// The directory to serve.
    dir: PathBuf,
    /// The address to listen on (port 0: any free port). Loopback by default.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker threads, each with its own reactor (default: the number of CPUs).
    #[arg(long)]
    workers: Option<usize>,
    /// Read files of at least this many bytes (e.g. 4m) with O_DIRECT, or `off`.
    #[arg(long, value_name = "SIZE|off", default_value = "off", value_parser = size::parse_directio)]
    directio: size::Directio,
    /// The I/O model: epoll (reactor), uring (proactor), threads (blocking), poll (spinning).
    #[arg(long, default_value = "epoll", value_parser = names::<IoModel>())]
    model: IoModel,
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
}

/// The arguments of `zcopy probe`.
#[derive(clap::Args)]
struct ProbeArgs {
    /// The source path, or `-` for standard input.
    src: PathBuf,
    /// The destination path (need not exist), or `-` for standard output.
    dst: PathBuf,
    /// Where the copy would start reading SRC (Auto's choice may depend on the length).
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    offset: Option<u64>,
    /// How many bytes the copy would move.
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    len: Option<u64>,
    /// The copy's --direct-threshold.
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    direct_threshold: Option<u64>,
    /// Print {"techniques": [...], "auto": {"order", "first", "why"}}, and errors as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Copy SRC to DST, or each SRC into DIR (as cp), and print what it cost. A DST path is
    /// created (with SRC's permission bits minus the umask, as cp) or truncated (keeping its
    /// mode); `-` is standard input or output.
    #[command(
        override_usage = "zcopy copy [OPTIONS] SRC DST\n       zcopy copy [OPTIONS] SRC... DIR\n       zcopy copy [OPTIONS] -t DIR SRC...",
        after_help = SIZES_AND_STATUS
    )]
    Copy(copy::Args),
    /// Show how much of each file is in the page cache, like util-linux fincore (RES: resident
    /// bytes, PAGES: resident pages, SIZE, FILE). Directories are walked recursively and end
    /// with a summary like vmtouch's.
    Fincore {
        /// Files and directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print sizes in bytes rather than in human-readable form (as fincore -b).
        #[arg(long, short)]
        bytes: bool,
        /// Print util-linux's JSON: {"fincore": [{"res", "pages", "size", "file"}]}, with a
        /// "summary" object for directories; errors as JSON objects.
        #[arg(long, short = 'J')]
        json: bool,
        /// Columns, comma-separated: RES, PAGES, SIZE, FILE (fincore's), PERCENT, METHOD.
        #[arg(long, short, value_name = "LIST", value_delimiter = ',', value_parser = names::<Column>())]
        output: Option<Vec<Column>>,
        /// Print no header line.
        #[arg(long, short)]
        noheadings: bool,
        /// Print the summary (files, directories, resident pages, elapsed) for files too.
        #[arg(long, short)]
        summary: bool,
    },
    /// Write back and drop the pages of each file (directories recursively) from the page
    /// cache, as vmtouch -e; print a summary of what is still resident (pages of a file whose
    /// page cache this user may not see are counted apart, as unknown).
    Evict {
        /// Files and directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Also print a row per file (RES PAGES SIZE PERCENT METHOD FILE).
        #[arg(long, short)]
        verbose: bool,
        /// Print nothing but errors (as vmtouch -q).
        #[arg(long, short, conflicts_with_all = ["verbose", "json", "output"])]
        quiet: bool,
        /// Print sizes in bytes.
        #[arg(long, short)]
        bytes: bool,
        /// Print {"fincore": ROWS, "summary": {...}} (fincore's keys), and errors as JSON objects.
        #[arg(long, short = 'J')]
        json: bool,
        /// Row columns (implies rows), as fincore's --output.
        #[arg(long, short, value_name = "LIST", value_delimiter = ',', value_parser = names::<Column>())]
        output: Option<Vec<Column>>,
    },
    /// Read each file (directories recursively) into the page cache without copying it to user
    /// space, as vmtouch -t; print a summary of what is resident. With --lock, keep it there.
    Warm {
        /// Files and directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Map and lock the pages in memory (mlock, as vmtouch -l) until SIGINT or SIGTERM;
        /// refused when they do not fit under RLIMIT_MEMLOCK (ulimit -l).
        #[arg(long, short)]
        lock: bool,
        /// Also print a row per file (RES PAGES SIZE PERCENT METHOD FILE).
        #[arg(long, short)]
        verbose: bool,
        /// Print nothing but errors (as vmtouch -q).
        #[arg(long, short, conflicts_with_all = ["verbose", "json", "output"])]
        quiet: bool,
        /// Print sizes in bytes.
        #[arg(long, short)]
        bytes: bool,
        /// Print {"fincore": ROWS, "summary": {...}} (fincore's keys), and errors as JSON objects.
        #[arg(long, short = 'J')]
        json: bool,
        /// Row columns (implies rows), as fincore's --output.
        #[arg(long, short, value_name = "LIST", value_delimiter = ',', value_parser = names::<Column>())]
        output: Option<Vec<Column>>,
    },
    /// Time every technique the pair allows against the tools people use today (std::io::copy,
    /// std::fs::copy, cp, Python's shutil.copyfile and socket.sendfile), file → file, → pipe and
    /// → loopback TCP, hot and cold; print medians, ratios and the targets they meet.
    Bench(BenchArgs),
    /// Serve DIR over HTTP/1.1 (GET, HEAD, ranges, keep-alive) like nginx with `sendfile on`:
    /// files below --directio bytes with sendfile, larger ones with O_DIRECT reads through
    /// io_uring (the page cache untouched). Prints the address, then serves until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Tell which techniques can serve SRC → DST, why not for the others, and which one Auto
    /// picks first (marked *) and why. Moves nothing and creates nothing.
    #[command(after_help = SIZES_AND_STATUS)]
    Probe(ProbeArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    let json = cli.command.json_errors();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.print(json);
            f.status()
        }
    }
}

/// A command line clap refused: one line (a JSON object when `--json` was asked for) and
/// status 2; `--help` and `--version` print as usual, status 0.
fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .map(|c| c.get_name().to_string())
        .collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().filter(|a| commands.contains(a));
    let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!(
            "a command is needed: {}; see 'zcopy --help'",
            commands.join(", ")
        )
    } else {
        fail::clap_one_line(e, command.map(String::as_str))
    };
    // --json as a flag (bench's --json takes a file: not this one), or the page-cache
    // commands' -J (alone or among other short flags: -bJ).
    let json = match command.map(String::as_str) {
        None | Some("bench") => false,
        Some(c) => args.iter().any(|a| {
            a == "--json"
                || (["fincore", "warm", "evict"].contains(&c)
                    && a.starts_with('-')
                    && !a.starts_with("--")
                    && a.contains('J'))
        }),
    };
    let f = Failure::usage(message);
    f.print(json);
    f.status()
}

impl Command {
    /// Whether errors are to be printed as JSON objects.
    fn json_errors(&self) -> bool {
        match self {
            Command::Copy(copy::Args { json, .. })
            | Command::Fincore { json, .. }
            | Command::Evict { json, .. }
            | Command::Warm { json, .. }
            | Command::Probe(ProbeArgs { json, .. }) => *json,
            _ => false,
        }
    }
}

fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Copy(a) => copy::run(a),
        Command::Fincore {
            paths,
            bytes,
            json,
            output,
            noheadings,
            summary,
        } => pagecache::run(pagecache::Args {
            noheadings,
            summary,
            ..page_args(pagecache::Op::Fincore, paths, json, bytes, output)
        }),
        Command::Evict {
            paths,
            verbose,
            quiet,
            bytes,
            json,
            output,
        } => pagecache::run(pagecache::Args {
            verbose,
            quiet,
            ..page_args(pagecache::Op::Evict, paths, json, bytes, output)
        }),
        Command::Warm {
            paths,
            lock,
            verbose,
            quiet,
            bytes,
            json,
            output,
        } => pagecache::run(pagecache::Args {
            verbose,
            quiet,
            lock,
            ..page_args(pagecache::Op::Warm, paths, json, bytes, output)
        }),
        Command::Serve(a) => serve::run(serve::Args {
            dir: a.dir,
            listen: a.listen,
            workers: a.workers,
            directio: a.directio.0,
            model: a.model,
            header_timeout: a.header_timeout,
            keepalive_timeout: a.keepalive_timeout,
            max_connections: a.max_connections,
            access_log: a.access_log,
        })
        .map_err(Failure::from),
        Command::Bench(b) => bench_cmd(b),
        Command::Probe(a) => probe::run(probe::Args {
            src: a.src,
            dst: a.dst,
            json: a.json,
            offset: a.offset,
            len: a.len,
            direct_threshold: a.direct_threshold,
        }),
    }
}

/// The page-cache commands' arguments with their defaults (a summary for evict and warm).
fn page_args(
    op: pagecache::Op,
    paths: Vec<PathBuf>,
    json: bool,
    bytes: bool,
    output: Option<Vec<Column>>,
) -> pagecache::Args {
    pagecache::Args {
        summary: !matches!(op, pagecache::Op::Fincore),
        op,
        paths,
        json,
        bytes,
        output,
        noheadings: false,
        verbose: false,
        quiet: false,
        lock: false,
    }
}

/// `zcopy bench`: the plan from the flags, the run, then the JSON, plot and table asked for.
fn bench_cmd(b: BenchArgs) -> Result<(), Failure> {
    if b.tree {
        return bench::tree::run(&bench_tree_args(&b)).map_err(|e| format!("error: {e}").into());
    }
    let plan = bench_plan(&b)?;
    bench::check(&plan).map_err(|e| format!("error: {e}"))?;
    if let Some(p) = &b.plot {
        // Refuse a bad name before the run, not after it.
        bench::plot::check_path(p).map_err(|e| format!("error: {e}"))?;
    }
    let work = scratch_dir(b.dir.clone())?;
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
    if let Some(path) = &b.json {
        let text = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("error: cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &b.plot {
        bench::plot::write(&run, path).map_err(|e| format!("error: {e}"))?;
    }
    std::io::stdout()
        .write_all(bench::table(&run, b.full || !b.quick).as_bytes())
        .map_err(|e| Failure::io(&e, "cannot write the table"))
}

/// What `zcopy bench` measures, from its flags.
fn bench_plan(b: &BenchArgs) -> Result<bench::Plan, Failure> {
    let sizes = match &b.sizes {
        Some(s) => bench::parse_sizes(s)?,
        None if b.quick => vec![4 << 10, 1 << 20, 16 << 20],
        None => vec![4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20],
    };
    let quick = b.quick;
    Ok(bench::Plan {
        sizes,
        endpoints: name_list(&b.endpoints),
        caches: name_list(&b.cache),
        rounds: b.rounds.unwrap_or(if quick { 3 } else { 7 }).max(1),
        sample_bytes: b
            .sample_bytes
            .unwrap_or(if quick { 16 << 20 } else { 64 << 20 }),
        max_ops: if quick { 500 } else { 2000 },
        python: (b.python != "none").then(|| PathBuf::from(&b.python)),
        only: b.techniques.as_deref().map(name_list),
    })
}

/// What `zcopy bench --tree` measures, from its flags.
fn bench_tree_args(b: &BenchArgs) -> bench::tree::Args {
    bench::tree::Args {
        files: b.tree_files,
        rounds: b.rounds.unwrap_or(7).max(1),
        caches: name_list(&b.cache),
        dir: b.dir.clone().unwrap_or_else(std::env::temp_dir),
        python: (b.python != "none").then(|| PathBuf::from(&b.python)),
    }
}

/// Names in any case, with - or _ (the engine's form: lower case, _), comma-separated.
fn name_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|s| s.trim().to_ascii_lowercase().replace('-', "_"))
        .collect()
}

/// A scratch directory for the bench in `dir` (default: the temp dir), removed on drop.
fn scratch_dir(dir: Option<PathBuf>) -> Result<tempfile::TempDir, Failure> {
    let base = dir.unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("zcopy-bench.")
        .tempdir_in(&base)
        .map_err(|e| {
            format!(
                "error: cannot make a scratch dir in {}: {e}",
                base.display()
            )
            .into()
        })
}
