//! `zcopy copy` as `cp` users expect it: `copy SRC DST`, `copy SRC... DIR`, `copy -t DIR
//! SRC...`, `-T` for a DST taken as a file; a Report per copy (none with `-q`), a progress bar
//! on a terminal with `--progress`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use zcopy::{CachePolicy, OnError, Options, Report, Strategy, SyncPolicy, TreeOptions, TreeReport};

use crate::fail::Failure;
use crate::names::names;
use crate::size;

/// The arguments of `zcopy copy`, parsed by clap.
#[derive(clap::Args)]
pub struct Args {
    /// SRC DST, or SRC... DIR (each SRC to DIR/its name). `-` is standard input as SRC,
    /// standard output as DST. When DST is standard output (`-`, /dev/stdout, or the file
    /// stdout is open on), the Report goes to standard error.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Copy every SRC into DIR (as cp -t).
    #[arg(long, short = 't', value_name = "DIR")]
    pub target_directory: Option<PathBuf>,
    /// Treat DST as a file even when it is a directory (as cp -T).
    #[arg(long, short = 'T')]
    pub no_target_directory: bool,
    /// The technique.
    #[arg(long, short, default_value = "auto", value_parser = names::<Strategy>())]
    pub strategy: Strategy,
    /// Use exactly the named technique, or fail with "unsupported".
    #[arg(long)]
    pub no_fallback: bool,
    /// Start reading SRC at this byte.
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    pub offset: Option<u64>,
    /// Start writing DST at this byte.
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    pub dst_offset: Option<u64>,
    /// Move at most this many bytes (default: to end of file).
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    pub len: Option<u64>,
    /// Bytes per syscall (buffer, window or pipe size); default: the technique's own.
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    pub chunk_size: Option<u64>,
    /// Page-cache policy: evict what the copy brought in (drop_after), advise noreuse.
    #[arg(long, default_value = "keep", value_parser = names::<CachePolicy>())]
    pub cache: CachePolicy,
    /// Durability: fdatasync DST at the end (data), fsync (full).
    #[arg(long, default_value = "none", value_parser = names::<SyncPolicy>())]
    pub sync: SyncPolicy,
    /// With auto, copy files of at least this many bytes with O_DIRECT (nginx's directio).
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    pub direct_threshold: Option<u64>,
    /// io_uring: requests in flight (default 4).
    #[arg(long)]
    pub queue_depth: Option<u32>,
    /// Threads that copy a file → file transfer of at least 16 MiB at once, each a range of
    /// at least 8 MiB (default 1; at most 64). Other copies use one thread.
    #[arg(long)]
    pub parallelism: Option<u32>,
    /// Print the Report (an array of them for several SRC) and errors as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print no Report (errors still go to stderr).
    #[arg(long, short)]
    pub quiet: bool,
    /// Draw a progress bar on stderr when it is a terminal (nothing otherwise).
    #[arg(long)]
    pub progress: bool,
    /// Copy directories recursively, as cp -a: files through the engine, symlinks as links,
    /// hard links, special files, modes, owners (as root), times and extended attributes.
    /// Existing directories are copied into.
    #[arg(long, short = 'r', visible_short_alias = 'R')]
    pub recursive: bool,
    /// The same as -r (cp's -a: every attribute is kept).
    #[arg(long, short = 'a')]
    pub archive: bool,
    /// With -r: threads that copy files at once (default: the number of CPUs, at least 4).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// With -r: go on past a failed entry and list every failure at the end (as the exit
    /// status says), instead of stopping at the first.
    #[arg(long)]
    pub keep_going: bool,
}

/// One copy: a source and where it goes.
struct Job {
    src: PathBuf,
    dst: PathBuf,
}

/// What one copy did: a file's Report or a tree's.
enum Done {
    File(Report),
    Tree(TreeReport),
}

impl Done {
    fn bytes(&self) -> u64 {
        match self {
            Done::File(r) => r.bytes,
            Done::Tree(r) => r.bytes,
        }
    }
}

/// Runs the copies; each failure is printed as it happens (the others go on, as with cp).
pub fn run(a: Args) -> Result<(), Failure> {
    let jobs = jobs(&a)?;
    let opts = options(&a);
    let bar = a.progress.then(|| progress_bar(&jobs, &opts)).flatten();
    let mut out = Out {
        a: &a,
        bar: bar.as_ref(),
        several: jobs.len() > 1,
        reports: Vec::new(),
        failed: false,
    };
    let mut done = 0u64;
    for job in &jobs {
        if let Some(bar) = &bar {
            bar.set_message(job.src.display().to_string());
        }
        let tree = (a.recursive || a.archive) && is_real_dir(&job.src);
        let result = if tree {
            copy_tree(job, &a, &opts, bar.as_ref(), done)
        } else {
            copy_file(job, &opts, bar.as_ref(), done)
        };
        match result {
            Ok(d) => {
                done += d.bytes();
                if let Some(bar) = &bar {
                    bar.set_position(done);
                }
                out.report(job, d)?;
            }
            Err(f) => out.fail(f),
        }
    }
    if let Some(bar) = &bar {
        bar.finish();
    }
    out.finish(&jobs)
}

/// The engine's options from the command line.
fn options(a: &Args) -> Options<'static> {
    Options {
        strategy: a.strategy,
        src_offset: a.offset,
        dst_offset: a.dst_offset,
        len: a.len,
        chunk_size: a.chunk_size,
        fallback: !a.no_fallback,
        cache: a.cache,
        sync: a.sync,
        direct_threshold: a.direct_threshold,
        queue_depth: a.queue_depth,
        parallelism: a.parallelism,
        ..Options::default()
    }
}

/// Whether `p` is a directory itself (not a symlink to one: `cp -a` copies the link).
fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// One file copy, its progress drawn on `bar` after the `done` bytes of the copies before.
fn copy_file(
    job: &Job,
    opts: &Options<'_>,
    bar: Option<&indicatif::ProgressBar>,
    done: u64,
) -> Result<Done, Failure> {
    let tick = |n: u64| {
        if let Some(bar) = bar {
            bar.set_position(done + n);
        }
        true
    };
    let job_opts = Options {
        progress: bar.map(|_| &tick as zcopy::Progress<'_>),
        ..opts.clone()
    };
    copy_one(job, &job_opts).map(Done::File)
}

/// One directory copied as `cp -a` does, by the engine's `copy_tree` (into an existing
/// directory too, as cp merges).
fn copy_tree(
    job: &Job,
    a: &Args,
    opts: &Options<'_>,
    bar: Option<&indicatif::ProgressBar>,
    done: u64,
) -> Result<Done, Failure> {
    let tick = |bytes: u64, files: u64| {
        if let Some(bar) = bar {
            bar.set_position(done + bytes);
            bar.set_message(format!("{} ({files} files)", job.src.display()));
        }
        true
    };
    let tree = TreeOptions {
        transfer: opts.clone(),
        dirs_exist_ok: true,
        workers: a.workers,
        errors: if a.keep_going {
            OnError::Collect
        } else {
            OnError::Raise
        },
        progress: bar.map(|_| &tick as zcopy::TreeProgress<'_>),
        ..TreeOptions::default()
    };
    zcopy::copy_tree(&job.src, &job.dst, &tree)
        .map(Done::Tree)
        .map_err(|e| Failure::engine(&e).at(&job.src))
}

/// Where the reports go, and what has failed.
struct Out<'a> {
    a: &'a Args,
    bar: Option<&'a indicatif::ProgressBar>,
    several: bool,
    /// With --json and several copies: printed together at the end.
    reports: Vec<(PathBuf, PathBuf, serde_json::Value)>,
    failed: bool,
}

impl Out<'_> {
    /// Prints (or, for a JSON array, keeps) the report of one copy.
    fn report(&mut self, job: &Job, done: Done) -> Result<(), Failure> {
        if self.a.quiet {
            return Ok(());
        }
        if self.a.json {
            let v = match &done {
                Done::File(r) => serde_json::to_value(r).unwrap_or_default(),
                Done::Tree(r) => tree_json(r),
            };
            if self.several {
                self.reports.push((job.src.clone(), job.dst.clone(), v));
                return Ok(());
            }
            let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
            return self.emit(&text, is_stdout(&job.dst));
        }
        let body = match &done {
            Done::File(r) => table(r),
            Done::Tree(r) => tree_table(r),
        };
        let text = if self.several {
            format!("{} -> {}\n{body}", job.src.display(), job.dst.display())
        } else {
            body
        };
        self.emit(&text, is_stdout(&job.dst))
    }

    fn emit(&self, text: &str, data_on_stdout: bool) -> Result<(), Failure> {
        match self.bar {
            Some(bar) => bar.suspend(|| emit(text, data_on_stdout)),
            None => emit(text, data_on_stdout),
        }
    }

    fn fail(&mut self, f: Failure) {
        match self.bar {
            Some(bar) => bar.suspend(|| f.print(self.a.json)),
            None => f.print(self.a.json),
        }
        self.failed = true;
    }

    /// The JSON array of several copies' reports; the status.
    fn finish(self, jobs: &[Job]) -> Result<(), Failure> {
        if self.a.json && self.several && !self.a.quiet {
            let all: Vec<serde_json::Value> = self
                .reports
                .into_iter()
                .map(|(src, dst, mut v)| {
                    if let Some(o) = v.as_object_mut() {
                        o.insert("src".into(), src.display().to_string().into());
                        o.insert("dst".into(), dst.display().to_string().into());
                    }
                    v
                })
                .collect();
            let text = serde_json::to_string_pretty(&all).unwrap_or_default() + "\n";
            emit(&text, jobs.iter().any(|j| is_stdout(&j.dst)))?;
        }
        if self.failed {
            return Err(Failure::reported());
        }
        Ok(())
    }
}

/// A tree's report as JSON.
fn tree_json(r: &TreeReport) -> serde_json::Value {
    serde_json::json!({
        "files": r.files,
        "directories": r.directories,
        "symlinks": r.symlinks,
        "specials": r.specials,
        "hard_links": r.hard_links,
        "bytes": r.bytes,
        "elapsed_ns": r.elapsed_ns,
        "syscalls": r.syscalls,
    })
}

/// A tree's report as a table.
fn tree_table(r: &TreeReport) -> String {
    let secs = r.elapsed_ns as f64 / 1e9;
    let rate = if secs > 0.0 {
        r.files as f64 / secs
    } else {
        0.0
    };
    let rows = [
        ("files", r.files.to_string()),
        ("directories", r.directories.to_string()),
        ("symlinks", r.symlinks.to_string()),
        ("specials", r.specials.to_string()),
        ("hard links", r.hard_links.to_string()),
        ("bytes", r.bytes.to_string()),
        (
            "elapsed",
            format!("{:.3} ms ({rate:.0} files/s)", r.elapsed_ns as f64 / 1e6),
        ),
        ("syscalls", r.syscalls.to_string()),
    ];
    rows.iter().map(|(k, v)| format!("{k:<14} {v}\n")).collect()
}

/// The copies the paths ask for, as cp reads them: `SRC DST` (into DST when it is a
/// directory, unless `-T`), `SRC... DIR`, `-t DIR SRC...`.
fn jobs(a: &Args) -> Result<Vec<Job>, Failure> {
    let into = |dir: &Path, srcs: &[PathBuf]| -> Result<Vec<Job>, Failure> {
        srcs.iter()
            .map(|src| {
                Ok(Job {
                    dst: dir.join(basename(src, dir)?),
                    src: src.clone(),
                })
            })
            .collect()
    };
    if let Some(dir) = &a.target_directory {
        if a.no_target_directory {
            return Err(Failure::usage(
                "--target-directory (-t) and --no-target-directory (-T) cannot be combined; see 'zcopy copy --help'",
            ));
        }
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Failure::new(
                    "io",
                    format!("target directory {}: Not a directory", dir.display()),
                )
                .errno(libc::ENOTDIR)
                .at(dir))
            }
            Err(e) => {
                return Err(
                    Failure::io(&e, format_args!("target directory {}", dir.display())).at(dir),
                )
            }
        }
        return into(dir, &a.paths);
    }
    let (last, srcs) = match a.paths.split_last() {
        Some((last, srcs)) if !srcs.is_empty() => (last, srcs),
        Some((only, _)) => {
            return Err(Failure::usage(format!(
                "missing destination file operand after {}; see 'zcopy copy --help'",
                only.display()
            )))
        }
        None => return Err(Failure::usage("missing file operand")),
    };
    let is_dir = !is_dash(last) && std::fs::metadata(last).is_ok_and(|m| m.is_dir());
    if srcs.len() > 1 {
        if a.no_target_directory {
            return Err(Failure::usage(format!(
                "extra operand {} (with -T, one SRC and one DST); see 'zcopy copy --help'",
                a.paths[2].display()
            )));
        }
        if !is_dir {
            return Err(Failure::new(
                "io",
                format!("target {} is not a directory", last.display()),
            )
            .errno(libc::ENOTDIR)
            .at(last));
        }
        return into(last, srcs);
    }
    if is_dir && !a.no_target_directory {
        return into(last, srcs);
    }
    Ok(vec![Job {
        src: srcs[0].clone(),
        dst: last.clone(),
    }])
}

/// The name `src` gets in a directory: its last component.
fn basename<'a>(src: &'a Path, dir: &Path) -> Result<&'a std::ffi::OsStr, Failure> {
    if is_dash(src) {
        return Err(Failure::new(
            "invalid",
            format!(
                "cannot copy standard input (-) into directory {}: name the destination file",
                dir.display()
            ),
        )
        .errno(libc::EINVAL)
        .at(src));
    }
    src.file_name().ok_or_else(|| {
        Failure::new("io", format!("src {} is a directory", src.display()))
            .errno(libc::EISDIR)
            .at(src)
    })
}

/// One copy: the engine's `copy_file` for two regular paths, else the fds opened here (a
/// named pipe, a device, `-`) moved by `transfer_named`, so messages name the paths.
fn copy_one(job: &Job, opts: &Options<'_>) -> Result<Report, Failure> {
    let (src, dst) = (&job.src, &job.dst);
    let plain = |p: &Path| !is_dash(p) && !is_special(p);
    let result = if plain(src) && plain(dst) {
        zcopy::copy_file(src, dst, opts)
    } else {
        let src_file = open_src(src)?;
        let dst_file = open_dst(dst)?;
        let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
        let s = src_file
            .as_ref()
            .map_or_else(|| stdin.as_fd(), |f| f.as_fd());
        let d = dst_file
            .as_ref()
            .map_or_else(|| stdout.as_fd(), |f| f.as_fd());
        zcopy::transfer_named(s, &shown(src, "src"), d, &shown(dst, "dst"), opts)
    };
    result.map_err(|e| {
        let f = Failure::engine(&e);
        match about(e.message(), src, dst) {
            Some(p) => f.at(p),
            None => f,
        }
    })
}

/// How messages name a path: `-` is standard input (as SRC) or standard output (as DST).
pub fn shown(p: &Path, role: &str) -> PathBuf {
    match (is_dash(p), role) {
        (true, "src") => PathBuf::from("standard input"),
        (true, _) => PathBuf::from("standard output"),
        _ => p.to_path_buf(),
    }
}

/// Which of the two paths an engine message is about: the one it names (`src PATH`, `dst
/// PATH`), or neither when it names both or none.
pub fn about<'a>(message: &str, src: &'a Path, dst: &'a Path) -> Option<&'a Path> {
    let names = |role: &str, p: &Path| {
        let needle = format!("{role} {}", shown(p, role).display());
        message.match_indices(&needle).any(|(i, _)| {
            let after = &message[i + needle.len()..];
            after.is_empty() || after.starts_with([':', ' ', ',', ';', ')'])
        })
    };
    match (names("src", src), names("dst", dst)) {
        (true, false) => Some(src),
        (false, true) => Some(dst),
        _ => None,
    }
}

/// Writes the Report: to stdout, or to stderr when the data goes to stdout.
fn emit(text: &str, data_on_stdout: bool) -> Result<(), Failure> {
    let r = if data_on_stdout {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
    r.map_err(|e| Failure::io(&e, "cannot write the report"))
}

/// A progress bar on stderr when stderr is a terminal, else none (nothing is drawn, and the
/// engine gets no progress callback). Its length is the bytes the copies will move, when every
/// source's size is known; else a spinner with the bytes so far.
fn progress_bar(jobs: &[Job], opts: &Options<'_>) -> Option<indicatif::ProgressBar> {
    let target = indicatif::ProgressDrawTarget::stderr();
    if target.is_hidden() {
        return None;
    }
    let total: Option<u64> = jobs
        .iter()
        .map(|j| {
            let m = std::fs::metadata(&j.src).ok().filter(|m| m.is_file())?;
            let left = m.len().saturating_sub(opts.src_offset.unwrap_or(0));
            Some(opts.len.map_or(left, |l| l.min(left)))
        })
        .sum();
    let (bar, template) = match total {
        Some(n) => (
            indicatif::ProgressBar::with_draw_target(Some(n), target),
            "{bytes:>10}/{total_bytes} [{bar:30}] {percent:>3}% {binary_bytes_per_sec} eta {eta} {wide_msg}",
        ),
        None => (
            indicatif::ProgressBar::with_draw_target(None, target),
            "{spinner} {bytes:>10} {binary_bytes_per_sec} {elapsed} {wide_msg}",
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .ok()?
        .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

pub fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Whether `p` names this process's standard output: `-`, `/dev/stdout`, `/dev/fd/1`,
/// `/proc/self/fd/1`, or any path to the same file (device and inode) as fd 1, such as the file
/// of `> out`. Then the Report must not go to stdout: it would land in (or over) the data.
pub fn is_stdout(p: &Path) -> bool {
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

/// Whether `p` names something other than a regular file or a directory: a named pipe, a
/// socket or a device (`/dev/stdout` on a pipe among them).
fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.file_type().is_file() && !m.file_type().is_dir())
}

pub fn open_src(p: &Path) -> Result<Option<File>, Failure> {
    if is_dash(p) {
        return Ok(None);
    }
    File::open(p)
        .map(Some)
        .map_err(|e| Failure::io(&e, format_args!("cannot open src {}", p.display())).at(p))
}

fn open_dst(p: &Path) -> Result<Option<File>, Failure> {
    if is_dash(p) {
        return Ok(None);
    }
    open_dst_path(p, true)
        .map(Some)
        .map_err(|e| Failure::io(&e, format_args!("cannot open dst {}", p.display())).at(p))
}

/// Opens the destination path with the flags `copy` gives the engine (`O_WRONLY`, blocking, as
/// `zcopy::copy_file` opens it), so `probe` judges the fd `copy` would use. `copy` creates and
/// truncates it; `probe` (`for_copy` false) changes nothing and must not wait for a FIFO's
/// reader: it opens with `O_NONBLOCK` (a FIFO without a reader fails at once with ENXIO) and
/// then clears that flag again.
fn open_dst_path(p: &Path, for_copy: bool) -> std::io::Result<File> {
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
pub fn open_probe_dst(p: &Path) -> Result<Option<File>, Failure> {
    if is_dash(p) {
        return Ok(None);
    }
    if p.exists() {
        return open_dst_path(p, false)
            .map(Some)
            .map_err(|e| Failure::io(&e, format_args!("cannot open dst {}", p.display())).at(p));
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
            Failure::io(
                &e,
                format_args!(
                    "cannot stand in for dst {} in {}",
                    p.display(),
                    dir.display()
                ),
            )
            .at(p)
        })
}

/// The Report as a table.
pub fn table(r: &Report) -> String {
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
