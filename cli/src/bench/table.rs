//! The terminal table of a run, and the targets it is checked against.

use super::{Run, Sample};

/// One technique's medians in one cell (endpoint, size, cache).
pub struct Row {
    pub name: String,
    /// Median GB/s.
    pub gbps: f64,
    /// Median of the per-round ratios of GB/s against read_write in the same round.
    pub ratio: Option<f64>,
    /// Median microseconds per op.
    pub us_per_op: f64,
    /// Median CPU seconds (user + sys) per GB moved.
    pub cpu_per_gb: Option<f64>,
    pub syscalls_per_op: Option<f64>,
    pub ctx_per_op: Option<f64>,
    /// Modelled CPU copies per byte moved.
    pub copies_per_byte: Option<f64>,
    /// What Auto picked.
    pub picked: String,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn rate(s: &Sample) -> f64 {
    s.bytes as f64 / s.elapsed_ns.max(1) as f64
}

/// The cells of a run, in the order they ran.
pub fn cells(run: &Run) -> Vec<(String, u64, String)> {
    let mut cells: Vec<(String, u64, String)> = Vec::new();
    for s in &run.samples {
        let key = (s.endpoint.clone(), s.size, s.cache.clone());
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    cells
}

/// Every technique's row in one cell, in the order they were listed.
pub fn rows(run: &Run, endpoint: &str, size: u64, cache: &str) -> Vec<Row> {
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
    names
        .iter()
        .map(|name| {
            let mine: Vec<&Sample> = here
                .iter()
                .copied()
                .filter(|s| s.technique == *name)
                .collect();
            let per = |f: &dyn Fn(&Sample) -> Option<f64>| {
                median(mine.iter().filter_map(|s| f(s)).collect())
            };
            Row {
                name: name.to_string(),
                gbps: per(&|s| Some(rate(s))).unwrap_or(0.0),
                ratio: per(&|s| {
                    here.iter()
                        .find(|b| b.technique == "read_write" && b.round == s.round)
                        .map(|b| rate(s) / rate(b))
                }),
                us_per_op: per(&|s| Some(s.elapsed_ns as f64 / 1e3 / s.ops as f64)).unwrap_or(0.0),
                cpu_per_gb: per(&|s| {
                    Some((s.user_cpu_ns? + s.sys_cpu_ns?) as f64 / s.bytes.max(1) as f64)
                }),
                syscalls_per_op: per(&|s| Some(s.syscalls? as f64 / s.ops as f64)),
                ctx_per_op: per(&|s| Some(s.ctx_switches? as f64 / s.ops as f64)),
                copies_per_byte: per(&|s| Some(s.cpu_copies_bytes? as f64 / s.bytes as f64)),
                picked: mine
                    .first()
                    .and_then(|s| s.strategy_used.clone())
                    .filter(|_| *name == "auto")
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// The header naming the machine.
pub fn header(run: &Run) -> String {
    let m = &run.machine;
    format!(
        "zcopy bench {} — {} ({} cores), Linux {}, {}; {} rounds, medians",
        run.version, m.cpu, m.cores, m.kernel, m.filesystem, run.rounds
    )
}

/// The terminal table: per cell, each technique's median GB/s, the median of per-round ratios
/// against read_write, µs per op, CPU seconds per GB, syscalls, mode switches and context
/// switches per op, modelled CPU copies per byte; `*` marks the fastest. Then the targets.
pub fn table(run: &Run) -> String {
    let mut out = header(run) + "\n";
    for (endpoint, size, cache) in cells(run) {
        out += &format!("\n{endpoint}  {}  {cache}\n", human(size));
        out += &format!(
            "  {:<23} {:>7} {:>7} {:>9} {:>8} {:>9} {:>8} {:>7} {:>6}  {}\n",
            "technique",
            "GB/s",
            "× r/w",
            "µs/op",
            "CPU s/GB",
            "syscalls",
            "mode sw",
            "ctx sw",
            "copies",
            "picked"
        );
        let rows = rows(run, &endpoint, size, &cache);
        let best = rows.iter().map(|r| r.gbps).fold(0.0, f64::max);
        for r in rows {
            let mark = if r.gbps >= best { "*" } else { " " };
            out += &format!(
                "{mark} {:<23} {:>7.2} {:>6}× {:>9.1} {:>8} {:>9} {:>8} {:>7} {:>6}  {}\n",
                r.name,
                r.gbps,
                opt(r.ratio, 2),
                r.us_per_op,
                opt(r.cpu_per_gb, 3),
                opt(r.syscalls_per_op, 0),
                opt(r.syscalls_per_op.map(|n| 2.0 * n), 0),
                opt(r.ctx_per_op, 1),
                opt(r.copies_per_byte, 2),
                r.picked
            );
        }
    }
    out += "\nper op: syscalls, mode switches (2 per syscall) and context switches; copies: modelled CPU copies per byte\n";
    out += &summary(run);
    out += "\ntargets (issue 6; medians of this run):\n";
    for t in targets(run) {
        out += &format!("  [{}] {}: {}\n", t.verdict(), t.what, t.measured);
    }
    out
}

/// The summary: per cell, Auto's GB/s and pick, then Auto's speed as a multiple of read_write
/// and of the best fixed technique, zcopy's against each peer's (ratios of medians; `-` where
/// not measured), and Auto's CPU per GB as a multiple of read_write's.
pub fn summary(run: &Run) -> String {
    // (column, zcopy's row, the peer's row): whole-file peers (cp, shutil.copyfile create their
    // destination) are set against zcopy::copy_file, which does the same; the others against
    // auto.
    const VS: &[(&str, &str, &str)] = &[
        ("× std_io_copy", "auto", "std_io_copy"),
        ("copy_file × cp", "zcopy_copy_file", "cp"),
        ("copy_file × shutil", "zcopy_copy_file", "shutil_copyfile"),
        ("× py_sendfile", "auto", "py_sendfile"),
    ];
    let mut out = format!(
        "\nsummary: zcopy against the others (× = zcopy's GB/s ÷ theirs; CPU = auto's CPU/GB ÷ read_write's)\n  {:<20} {:>7} {:<16} {:>6} {:>22}{}  {:>6}\n",
        "cell",
        "GB/s",
        "auto picked",
        "× r/w",
        "× best fixed",
        VS.iter().map(|v| format!("{:>20}", v.0)).collect::<String>(),
        "CPU"
    );
    for (e, size, c) in cells(run) {
        let rows = rows(run, &e, size, &c);
        let row = |name: &str| rows.iter().find(|r| r.name == name);
        let Some(auto) = row("auto") else {
            continue;
        };
        let vs = |ours: &str, theirs: &str| Some(row(ours)?.gbps / row(theirs)?.gbps.max(1e-12));
        let best = rows
            .iter()
            .filter(|r| r.name != "auto" && r.name.parse::<zcopy::Strategy>().is_ok())
            .max_by(|a, b| a.gbps.total_cmp(&b.gbps))
            .map_or("-".to_string(), |b| {
                format!("{:.2} {}", auto.gbps / b.gbps.max(1e-12), b.name)
            });
        let cpu =
            row("read_write").and_then(|rw| Some(auto.cpu_per_gb? / rw.cpu_per_gb?.max(1e-12)));
        out += &format!(
            "  {:<20} {:>7.2} {:<16} {:>6} {:>22}{}  {:>6}\n",
            format!("{e} {} {c}", human(size)),
            auto.gbps,
            auto.picked,
            opt(auto.ratio, 2),
            best,
            VS.iter()
                .map(|v| format!("{:>20}", opt(vs(v.1, v.2), 2)))
                .collect::<String>(),
            opt(cpu, 2)
        );
    }
    out
}

/// One target and what this run measured for it.
pub struct Target {
    pub what: &'static str,
    /// `None`: the run has no cell to judge it by.
    pub met: Option<bool>,
    pub measured: String,
}

impl Target {
    fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        }
    }
}

/// Checks the run against the targets of issue 6, cell by cell where the run has the cells.
pub fn targets(run: &Run) -> Vec<Target> {
    let all = cells(run);
    let find = |rows: &[Row], name: &str| rows.iter().position(|r| r.name == name);
    let fixed = |name: &str| name != "auto" && name.parse::<zcopy::Strategy>().is_ok();
    let mut out = Vec::new();

    // Each check: the cells it looks at, and a judgement of one cell (met, figure).
    type Judge<'a> =
        &'a dyn Fn(&[Row], &dyn Fn(&str, &str) -> Option<f64>) -> Option<(bool, String)>;
    let mut check = |what: &'static str, pick: &dyn Fn(&str, u64, &str) -> bool, judge: Judge| {
        let mut seen = Vec::new();
        for (e, size, c) in all.iter().filter(|(e, s, c)| pick(e, *s, c)) {
            let pair = |a: &str, b: &str| paired(run, e, *size, c, a, b);
            if let Some(v) = judge(&rows(run, e, *size, c), &pair) {
                seen.push((v.0, format!("{e} {} {c} {}", human(*size), v.1)));
            }
        }
        let met = (!seen.is_empty()).then(|| seen.iter().all(|(ok, _)| *ok));
        let measured = if seen.is_empty() {
            "no cell in this run".to_string()
        } else {
            seen.into_iter()
                .map(|(ok, s)| if ok { s } else { format!("{s} (!)") })
                .collect::<Vec<_>>()
                .join("; ")
        };
        out.push(Target {
            what,
            met,
            measured,
        });
    };

    check(
        "auto >= 0.95x the best fixed technique, every cell",
        &|_, _, _| true,
        &|rows, _| {
            let auto = &rows[find(rows, "auto")?];
            let best = rows
                .iter()
                .filter(|r| fixed(&r.name))
                .max_by(|a, b| a.gbps.total_cmp(&b.gbps))?;
            let x = auto.gbps / best.gbps.max(1e-12);
            Some((x >= 0.95, format!("{x:.2}x {}", best.name)))
        },
    );
    check(
        "hot file->file from 1 MiB: auto >= 1.5x read_write",
        &|e, s, c| e == "file_file" && s >= 1 << 20 && c == "hot",
        &|rows, _| {
            let x = rows[find(rows, "auto")?].ratio?;
            Some((x >= 1.5, format!("{x:.2}x")))
        },
    );
    check(
        "hot file->file 256 MiB: zcopy >= 1.15x the best of cp, std::io::copy, shutil.copyfile (whole-file peers against zcopy::copy_file)",
        &|e, s, c| e == "file_file" && s >= 256 << 20 && c == "hot",
        &|rows, _| {
            let gbps = |name: &str| find(rows, name).map(|i| rows[i].gbps.max(1e-12));
            let worst = [
                ("std_io_copy", "auto"),
                ("cp", "zcopy_copy_file"),
                ("shutil_copyfile", "zcopy_copy_file"),
            ]
            .iter()
            .filter_map(|(peer, ours)| Some((gbps(ours)? / gbps(peer)?, *peer)))
            .min_by(|a, b| a.0.total_cmp(&b.0))?;
            Some((worst.0 >= 1.15, format!("{:.2}x {}", worst.0, worst.1)))
        },
    );
    check(
        "file->socket from 1 MiB: auto >= 1.0x read_write, CPU/GB <= 0.6x read_write's",
        &|e, s, c| e == "file_tcp" && s >= 1 << 20 && c == "hot",
        &|rows, _| {
            let auto = &rows[find(rows, "auto")?];
            let rw = &rows[find(rows, "read_write")?];
            let (x, cpu) = (auto.ratio?, auto.cpu_per_gb? / rw.cpu_per_gb?.max(1e-12));
            Some((x >= 1.0 && cpu <= 0.6, format!("{x:.2}x, CPU {cpu:.2}x")))
        },
    );
    check(
        "file->pipe from 64 KiB: auto >= 1.5x read_write",
        &|e, s, c| e == "file_pipe" && s >= 64 << 10 && c == "hot",
        &|rows, _| {
            let x = rows[find(rows, "auto")?].ratio?;
            Some((x >= 1.5, format!("{x:.2}x")))
        },
    );
    check(
        "4 KiB zcopy::copy_file in-process <= 25 us per op",
        &|e, s, c| e == "file_file" && s == 4 << 10 && c == "hot",
        &|rows, _| {
            let us = rows[find(rows, "zcopy_copy_file")?].us_per_op;
            let std = find(rows, "std_fs_copy").map(|i| rows[i].us_per_op);
            Some((
                us <= 25.0,
                format!("{us:.1} us (std::fs::copy {})", opt(std, 1)),
            ))
        },
    );
    check(
        "4 KiB file->socket: auto <= 1.1x a bare sendfile per op",
        &|e, s, c| e == "file_tcp" && s == 4 << 10 && c == "hot",
        &|rows, pair| {
            let auto = rows[find(rows, "auto")?].us_per_op;
            let bare = rows[find(rows, "bare_sendfile")?].us_per_op;
            let x = pair("auto", "bare_sendfile")?;
            let floor = match find(rows, "bare_sendfile_nosigpipe") {
                Some(_) => pair("bare_sendfile_nosigpipe", "bare_sendfile")
                    .map_or(String::new(), |f| {
                        format!("; with SIGPIPE kept out, as zcopy promises, the floor is {f:.2}x")
                    }),
                None => String::new(),
            };
            Some((
                x <= 1.1,
                format!("{x:.2}x ({auto:.1} vs {bare:.1} us{floor})"),
            ))
        },
    );
    check(
        "from Python, 4 KiB zcopy.copy_file <= 0.6x the time of shutil.copyfile",
        &|e, s, c| e == "file_file" && s == 4 << 10 && c == "hot",
        &|rows, pair| {
            let z = rows[find(rows, "py_zcopy_copy_file")?].us_per_op;
            let sh = rows[find(rows, "shutil_copyfile")?].us_per_op;
            let x = pair("py_zcopy_copy_file", "shutil_copyfile")?;
            Some((x <= 0.6, format!("{x:.2}x ({z:.1} vs {sh:.1} us)")))
        },
    );
    check(
        "the Report's bookkeeping <= 2% at 1 MiB (copy_file_range against the bare syscall)",
        &|e, s, c| e == "file_file" && s == 1 << 20 && c == "hot",
        &|rows, pair| {
            let z = rows[find(rows, "copy_file_range")?].us_per_op;
            let bare = rows[find(rows, "bare_copy_file_range")?].us_per_op;
            let x = pair("copy_file_range", "bare_copy_file_range")? - 1.0;
            Some((
                x <= 0.02,
                format!("{:+.1}% ({z:.1} vs {bare:.1} us)", 100.0 * x),
            ))
        },
    );
    out
}

/// The median over rounds of `a`'s time per op divided by `b`'s in the same round, in one cell.
pub fn paired(run: &Run, endpoint: &str, size: u64, cache: &str, a: &str, b: &str) -> Option<f64> {
    let here = |t: &str, round: usize| {
        run.samples.iter().find(|s| {
            s.endpoint == endpoint
                && s.size == size
                && s.cache == cache
                && s.technique == t
                && s.round == round
        })
    };
    let per_op = |s: &Sample| s.elapsed_ns as f64 / s.ops as f64;
    median(
        (0..run.rounds)
            .filter_map(|r| Some(per_op(here(a, r)?) / per_op(here(b, r)?).max(1e-12)))
            .collect(),
    )
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
