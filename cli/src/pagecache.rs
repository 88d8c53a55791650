//! `zcopy fincore`, `warm` and `evict` as util-linux `fincore` and `vmtouch` users expect them:
//! fincore's columns (`RES PAGES SIZE FILE`, `--bytes`, `--json` with its keys), directories
//! walked, vmtouch's summary (files, directories, pages, resident, elapsed), and `warm --lock`
//! (vmtouch `-l`): the pages mapped and locked in memory until SIGINT or SIGTERM.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zcopy::cache::{Method, Residency};

use crate::fail::Failure;
use crate::names::Named;
use crate::size::{human, percent, percent_value};

/// What to do to each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Tell what is resident.
    Fincore,
    /// Read it into the page cache (with `lock`: and lock it there).
    Warm,
    /// Write it back and drop it from the page cache.
    Evict,
}

/// A column of the table (util-linux fincore's, then zcopy's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Resident bytes (resident pages × page size).
    Res,
    /// Resident pages.
    Pages,
    /// The file's size.
    Size,
    /// The file's name.
    File,
    /// Resident pages ÷ the file's pages, cut (not rounded) to a tenth.
    Percent,
    /// Which kernel interface answered: cachestat, mincore, none, unknown.
    Method,
}

impl Named for Column {
    fn all() -> &'static [Self] {
        &[
            Column::Res,
            Column::Pages,
            Column::Size,
            Column::File,
            Column::Percent,
            Column::Method,
        ]
    }
    fn name(self) -> &'static str {
        match self {
            Column::Res => "RES",
            Column::Pages => "PAGES",
            Column::Size => "SIZE",
            Column::File => "FILE",
            Column::Percent => "PERCENT",
            Column::Method => "METHOD",
        }
    }
}

/// util-linux fincore's default columns.
const FINCORE: &[Column] = &[Column::Res, Column::Pages, Column::Size, Column::File];

/// The columns `warm -v` and `evict -v` print.
const VERBOSE: &[Column] = &[
    Column::Res,
    Column::Pages,
    Column::Size,
    Column::Percent,
    Column::Method,
    Column::File,
];

/// The arguments of `fincore`, `warm` and `evict`, already parsed by clap.
pub struct Args {
    pub op: Op,
    pub paths: Vec<PathBuf>,
    pub json: bool,
    pub bytes: bool,
    pub output: Option<Vec<Column>>,
    pub noheadings: bool,
    /// fincore: print the summary even without a directory.
    pub summary: bool,
    /// warm, evict: print a row per file too.
    pub verbose: bool,
    /// warm, evict: print nothing but errors.
    pub quiet: bool,
    /// warm: lock the pages until SIGINT or SIGTERM.
    pub lock: bool,
}

/// One file's residency.
struct Row {
    file: String,
    size: u64,
    /// The file's pages.
    pages: u64,
    /// Its resident pages; `None` when this user may not see its page cache.
    resident: Option<u64>,
    method: Method,
}

/// What the walk found and did.
#[derive(Default)]
struct Totals {
    files: u64,
    dirs: u64,
    pages: u64,
    resident: u64,
    unknown_files: u64,
    unknown_pages: u64,
    locked_pages: u64,
}

/// Runs the command on every file named or found under a directory named; each failure is
/// printed as it happens and the others go on (as util-linux fincore does).
pub fn run(a: Args) -> Result<(), Failure> {
    let started = Instant::now();
    let mut failed = false;
    let mut fail = |f: Failure| {
        f.print(a.json);
        failed = true;
    };
    let mut totals = Totals::default();
    let walk = zcopy::cache::files(&a.paths);
    for (path, e) in &walk.errors {
        fail(Failure::engine(e).at(path));
    }
    totals.dirs = walk.directories;
    let (files, any_dir) = (walk.files, walk.any_directory);
    // Nothing found to lock: nothing to hold (the summary says 0, errors are printed).
    let hold = a.lock && !files.is_empty();
    let (rows, locks) = if hold {
        let (rows, locks) = lock_all(&files)?;
        totals.locked_pages = locks.iter().map(zcopy::cache::Locked::pages).sum();
        (rows, locks)
    } else {
        let mut rows = Vec::new();
        for path in &files {
            match one(a.op, path) {
                Ok(row) => rows.push(row),
                Err(f) => fail(f),
            }
        }
        (rows, Vec::new())
    };
    add_up(&rows, &mut totals);
    let mut out = render(&a, &rows, &totals, any_dir, started.elapsed());
    if hold {
        // Hold SIGINT and SIGTERM from now on (before saying the pages are locked, so a signal
        // sent on reading that line is waited for, not fatal), then wait for one.
        let set = signal_set();
        // SAFETY: `set` is an initialised sigset; no old mask is asked for.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if !a.json {
            out += "Locked until SIGINT or SIGTERM (Ctrl-C).\n";
        }
    }
    if a.quiet {
        out.clear();
    }
    let mut stdout = std::io::stdout();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::io(&e, "cannot write the table"))?;
    if hold {
        let set = signal_set();
        let mut sig = 0;
        // SAFETY: `set` is initialised and `sig` valid for writes.
        unsafe { libc::sigwait(&set, &mut sig) };
        drop(locks);
    }
    if failed {
        Err(Failure::reported())
    } else {
        Ok(())
    }
}

/// Adds each row's pages to the totals.
fn add_up(rows: &[Row], totals: &mut Totals) {
    for r in rows {
        totals.files += 1;
        totals.pages += r.pages;
        match r.resident {
            Some(n) => totals.resident += n,
            None => {
                totals.unknown_files += 1;
                totals.unknown_pages += r.pages;
            }
        }
    }
}

/// What the command prints: the rows and the summary, as a table or as JSON, as `a` asks.
fn render(a: &Args, rows: &[Row], totals: &Totals, any_dir: bool, elapsed: Duration) -> String {
    let with_summary = a.op != Op::Fincore || any_dir || a.summary;
    let with_rows = a.op == Op::Fincore || a.verbose || a.output.is_some() || a.json;
    let columns = a.output.clone().unwrap_or_else(|| {
        if a.op == Op::Fincore || a.json {
            FINCORE.to_vec()
        } else {
            VERBOSE.to_vec()
        }
    });
    let ps = zcopy::cache::page_size();
    if a.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| json_row(r, &columns, a.bytes, ps))
            .collect();
        let mut v = serde_json::json!({ "fincore": list });
        if with_summary {
            let mut s = serde_json::json!({
                "files": totals.files,
                "directories": totals.dirs,
                "pages": totals.pages,
                "resident": totals.resident,
                "unknown_pages": totals.unknown_pages,
                "elapsed_ns": elapsed.as_nanos() as u64,
            });
            if a.lock {
                s["locked_pages"] = totals.locked_pages.into();
            }
            v["summary"] = s;
        }
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    if with_rows && !rows.is_empty() {
        out += &table(rows, &columns, a.bytes, !a.noheadings, ps);
    }
    if with_summary {
        if with_rows && !rows.is_empty() {
            out += "\n";
        }
        out += &summary(totals, a.op, a.lock, a.bytes, ps, elapsed);
    }
    out
}

/// Opens `path` for reading without waiting (a FIFO named on the command line has no page
/// cache, and must not block the command).
fn open(path: &Path) -> Result<File, Failure> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Failure::io(&e, format_args!("cannot open {}", path.display())).at(path))
}

/// Runs `op` on one file.
fn one(op: Op, path: &Path) -> Result<Row, Failure> {
    let f = open(path)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let r = match op {
        Op::Fincore => zcopy::cache::residency(&f, 0, None),
        Op::Warm => zcopy::cache::warm(&f, 0, None),
        Op::Evict => zcopy::cache::evict(&f, 0, None),
    }
    .map_err(|e| engine(&e, &f, path))?;
    Ok(row(path, size, &r))
}

fn row(path: &Path, size: u64, r: &Residency) -> Row {
    Row {
        file: path.display().to_string(),
        size,
        pages: r.pages,
        resident: (r.method != Method::Unknown).then_some(r.resident),
        method: r.method,
    }
}

/// An engine error about the file `f` opened from `path`, its message naming the path where
/// the engine names the fd (`fd 3`), or starting with it.
fn engine(e: &zcopy::Error, f: &File, path: &Path) -> Failure {
    let mut failure = Failure::engine(e).at(path);
    failure.message = naming(e.message(), f.as_raw_fd(), path);
    failure
}

/// `msg` with every `fd N` replaced by `path`, or `path: msg` when it names no fd.
fn naming(msg: &str, fd: i32, path: &Path) -> String {
    let token = format!("fd {fd}");
    let shown = path.display().to_string();
    let mut out = String::new();
    let mut rest = msg;
    let mut found = false;
    while let Some(i) = rest.find(&token) {
        let after = &rest[i + token.len()..];
        let whole = !rest[..i].ends_with(|c: char| c.is_alphanumeric())
            && !after.starts_with(|c: char| c.is_ascii_digit());
        out += &rest[..i];
        if whole {
            out += &shown;
            found = true;
        } else {
            out += &token;
        }
        rest = after;
    }
    out += rest;
    if found {
        out
    } else {
        format!("{shown}: {msg}")
    }
}

/// `warm --lock`: checks that the files fit under `RLIMIT_MEMLOCK` (unless this process may
/// lock any amount), then maps and locks each. All or nothing: a refusal unlocks what was
/// locked.
fn lock_all(files: &[PathBuf]) -> Result<(Vec<Row>, Vec<zcopy::cache::Locked>), Failure> {
    let ps = zcopy::cache::page_size();
    let total_pages: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len().div_ceil(ps))
        .sum();
    let limit = zcopy::cache::lock_limit();
    let too_much = |limit: u64| {
        let what = match files {
            [one] => format!("1 file, {}", one.display()),
            _ => format!("{} files", files.len()),
        };
        let f = Failure::new(
            "io",
            format!(
                "cannot lock {} ({total_pages} pages of {what}) in memory: RLIMIT_MEMLOCK allows {} (raise it with `ulimit -l`, or run with CAP_IPC_LOCK)",
                human(total_pages * ps),
                human(limit),
            ),
        )
        .errno(libc::ENOMEM);
        match files {
            [one] => f.at(one),
            _ => f,
        }
    };
    if let Some(l) = limit.filter(|&l| total_pages * ps > l) {
        return Err(too_much(l));
    }
    let mut rows = Vec::new();
    let mut locks = Vec::new();
    for path in files {
        let f = open(path)?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let locked = zcopy::cache::lock(&f, 0, None).map_err(|e| {
            let mut failure = engine(&e, &f, path);
            if let (Some(libc::ENOMEM | libc::EPERM | libc::EAGAIN), Some(l)) = (e.errno(), limit)
            {
                failure.message += &format!(
                    "; RLIMIT_MEMLOCK allows {} (raise it with `ulimit -l`, or run with CAP_IPC_LOCK)",
                    human(l)
                );
            }
            failure
        })?;
        let r = zcopy::cache::residency(&f, 0, None).map_err(|e| engine(&e, &f, path))?;
        rows.push(row(path, size, &r));
        locks.push(locked);
    }
    Ok((rows, locks))
}

fn signal_set() -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset/sigaddset initialise `set` in place.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        set.assume_init()
    }
}

/// A size as `--bytes` asks: the number, or util-linux's human form.
fn size_text(n: u64, bytes: bool) -> String {
    if bytes {
        n.to_string()
    } else {
        human(n)
    }
}

fn cell(r: &Row, c: Column, bytes: bool, ps: u64) -> String {
    let unknown = || "?".to_string();
    match c {
        Column::Res => r
            .resident
            .map_or_else(unknown, |n| size_text(n * ps, bytes)),
        Column::Pages => r.resident.map_or_else(unknown, |n| n.to_string()),
        Column::Size => size_text(r.size, bytes),
        Column::File => r.file.clone(),
        Column::Percent => r.resident.map_or_else(unknown, |n| percent(n, r.pages)),
        Column::Method => r.method.name().to_string(),
    }
}

/// The table as util-linux prints it: a header, columns right-aligned but FILE, one space
/// apart; RES and SIZE at least 5 wide.
fn table(rows: &[Row], columns: &[Column], bytes: bool, headings: bool, ps: u64) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|&c| cell(r, c, bytes, ps)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let min = match c {
                Column::Res | Column::Size => 5,
                _ => 0,
            };
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([c.name().len(), min])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let mut s = String::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let last = i + 1 == values.len();
            match columns[i] {
                Column::File | Column::Method if last => s += v,
                Column::File | Column::Method => s += &format!("{v:<w$}", w = widths[i]),
                _ => s += &format!("{v:>w$}", w = widths[i]),
            }
        }
        s + "\n"
    };
    let mut out = String::new();
    if headings {
        out += &line(columns.iter().map(|c| c.name()).collect());
    }
    for row in &cells {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

fn json_row(r: &Row, columns: &[Column], bytes: bool, ps: u64) -> serde_json::Value {
    let size = |n: u64| -> serde_json::Value {
        if bytes {
            n.into()
        } else {
            human(n).into()
        }
    };
    let mut o = serde_json::Map::new();
    for &c in columns {
        let v = match c {
            Column::Res => r.resident.map_or(serde_json::Value::Null, |n| size(n * ps)),
            Column::Pages => r.resident.into(),
            Column::Size => size(r.size),
            Column::File => r.file.clone().into(),
            Column::Percent => r.resident.map(|n| percent_value(n, r.pages)).into(),
            Column::Method => r.method.name().into(),
        };
        o.insert(c.name().to_ascii_lowercase(), v);
    }
    serde_json::Value::Object(o)
}

/// vmtouch's summary.
fn summary(
    t: &Totals,
    op: Op,
    lock: bool,
    bytes: bool,
    ps: u64,
    elapsed: std::time::Duration,
) -> String {
    let pages = |n: u64| format!("{n} ({})", size_text(n * ps, bytes));
    let mut lines = vec![
        ("Files", t.files.to_string()),
        ("Directories", t.dirs.to_string()),
    ];
    match op {
        Op::Warm if lock => lines.push(("Locked Pages", pages(t.locked_pages))),
        Op::Warm => lines.push(("Touched Pages", pages(t.pages))),
        Op::Evict => lines.push(("Evicted Pages", pages(t.pages))),
        Op::Fincore => {}
    }
    let seen = t.pages - t.unknown_pages;
    lines.push((
        "Resident Pages",
        format!(
            "{}/{}  {}/{}  {}",
            t.resident,
            seen,
            size_text(t.resident * ps, bytes),
            size_text(seen * ps, bytes),
            percent(t.resident, seen)
        ),
    ));
    if t.unknown_files > 0 {
        lines.push((
            "Unknown",
            format!(
                "{} pages of {} {}: this user may not see {} page cache (neither owner nor allowed to write)",
                t.unknown_pages,
                t.unknown_files,
                if t.unknown_files == 1 { "file" } else { "files" },
                if t.unknown_files == 1 { "its" } else { "their" },
            ),
        ));
    }
    lines.push(("Elapsed", format!("{:.6} seconds", elapsed.as_secs_f64())));
    lines
        .iter()
        .map(|(k, v)| format!("{k:>16}: {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_where_the_engine_names_the_fd() {
        let p = Path::new("www/f");
        assert_eq!(
            naming("cannot see the page cache of fd 3: no", 3, p),
            "cannot see the page cache of www/f: no"
        );
        assert_eq!(naming("fd 31 and fd 3", 3, p), "fd 31 and www/f");
        assert_eq!(naming("overflows", 3, p), "www/f: overflows");
    }
}
