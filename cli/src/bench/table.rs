//! The terminal report of a run: the header; with `--full` (or without `--quick`) a legend and
//! one table per cell; the summary; the targets the run is checked against.
//!
//! Every ratio is the median of per-round ratios (the two figures taken in the same round, so a
//! slow moment of the machine weighs on both), printed with the lowest and highest of them:
//! `1.49× [1.31–1.62]`. Min–max, not the interquartile range: the quick run has 3 rounds. A
//! target is met in a cell when every round meets it, not met when none does, and noisy when the
//! rounds fall on both sides of it.

use super::{peers, Run, Sample};

/// A figure over the rounds of a cell: its median, and its lowest and highest round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    /// How many rounds it was taken over.
    pub rounds: usize,
}

impl Spread {
    /// The spread of `v` (`None` when empty; values that are not finite are left out).
    pub fn of(mut v: Vec<f64>) -> Option<Spread> {
        v.retain(|x| x.is_finite());
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => return None,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Some(Spread {
            median,
            lo: v[0],
            hi: v[n - 1],
            rounds: n,
        })
    }

    /// `f(median)` then `unit`, then `[f(lo)–f(hi)]` when there was more than one round
    /// (`[f(lo) to f(hi)]` for signed figures).
    pub fn show(&self, unit: &str, f: impl Fn(f64) -> String) -> String {
        let (lo, hi) = (f(self.lo), f(self.hi));
        let dash = if lo.starts_with(['+', '-']) {
            " to "
        } else {
            "–"
        };
        if self.rounds < 2 {
            format!("{}{unit}", f(self.median))
        } else {
            format!("{}{unit} [{lo}{dash}{hi}]", f(self.median))
        }
    }

    /// A ratio: `1.49× [1.31–1.62]`.
    pub fn ratio(&self) -> String {
        self.show("×", |x| format!("{x:.2}"))
    }
}

/// A ratio cell, `-` where there is none.
fn ratio(s: Option<Spread>) -> String {
    s.map_or_else(|| "-".to_string(), |s| s.ratio())
}

/// One technique's figures in one cell (endpoint, size, cache).
pub struct Row {
    pub name: String,
    /// Median GB/s.
    pub gbps: f64,
    /// The per-round ratios of GB/s against read_write in the same round (`None` for a peer
    /// that starts a process per op, and where read_write was not measured).
    pub ratio: Option<Spread>,
    /// Median microseconds per op.
    pub us_per_op: f64,
    /// Median CPU seconds (user + sys) per GB moved.
    pub cpu_per_gb: Option<f64>,
    /// Whether the CPU figure is a tick-counted 0 (no CPU clock reading in the samples).
    pub cpu_below_tick: bool,
    pub syscalls_per_op: Option<f64>,
    pub ctx_per_op: Option<f64>,
    /// Modelled CPU copies per byte moved.
    pub copies_per_byte: Option<f64>,
    /// What Auto picked.
    pub picked: String,
    /// Whether the row starts a process per op (`cp`): its time includes the start.
    pub process_start: bool,
    /// Median pages of the source and destination in the page cache after a sample (file →
    /// file rows that write the bench's destination).
    pub resident_pages: Option<f64>,
}

fn median(v: Vec<f64>) -> Option<f64> {
    Spread::of(v).map(|s| s.median)
}

/// GB/s (bytes per ns).
fn rate(s: &Sample) -> Option<f64> {
    Some(s.bytes as f64 / s.elapsed_ns.max(1) as f64)
}

/// Nanoseconds per op.
fn per_op(s: &Sample) -> Option<f64> {
    Some(s.elapsed_ns as f64 / s.ops.max(1) as f64)
}

/// CPU ns (user + sys): the CPU clock's figure, else getrusage's.
fn cpu_ns(s: &Sample) -> Option<u64> {
    s.cpu_ns.or_else(|| Some(s.user_cpu_ns? + s.sys_cpu_ns?))
}

/// CPU seconds per GB (CPU ns per byte).
fn cpu_per_byte(s: &Sample) -> Option<f64> {
    Some(cpu_ns(s)? as f64 / s.bytes.max(1) as f64)
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

/// The samples of one cell.
fn cell<'a>(run: &'a Run, endpoint: &str, size: u64, cache: &str) -> Vec<&'a Sample> {
    run.samples
        .iter()
        .filter(|s| s.endpoint == endpoint && s.size == size && s.cache == cache)
        .collect()
}

/// `f(a) ÷ f(b)` in every round where both were measured, among `here` (one cell's samples).
fn pair(here: &[&Sample], a: &str, b: &str, f: &dyn Fn(&Sample) -> Option<f64>) -> Option<Spread> {
    Spread::of(
        here.iter()
            .filter(|s| s.technique == a)
            .filter_map(|s| {
                let other = here
                    .iter()
                    .find(|o| o.technique == b && o.round == s.round)?;
                let (x, y) = (f(s)?, f(other)?);
                (y > 0.0).then(|| x / y)
            })
            .collect(),
    )
}

/// Every technique's row in one cell, in the order [`super::KNOWN`] lists them.
pub fn rows(run: &Run, endpoint: &str, size: u64, cache: &str) -> Vec<Row> {
    let here = cell(run, endpoint, size, cache);
    let mut names: Vec<&str> = Vec::new();
    for s in &here {
        if !names.contains(&s.technique.as_str()) {
            names.push(&s.technique);
        }
    }
    // The order of the listing, not of the samples (each round runs in its own order).
    names.sort_by_key(|n| {
        super::KNOWN
            .iter()
            .position(|k| k == n)
            .unwrap_or(usize::MAX)
    });
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
            let process_start = peers::process_per_op(name);
            let cpu_per_gb = per(&cpu_per_byte);
            Row {
                name: name.to_string(),
                gbps: per(&rate).unwrap_or(0.0),
                ratio: (!process_start)
                    .then(|| pair(&here, name, "read_write", &rate))
                    .flatten(),
                us_per_op: per(&|s| Some(per_op(s)? / 1e3)).unwrap_or(0.0),
                cpu_per_gb,
                cpu_below_tick: cpu_per_gb == Some(0.0) && mine.iter().all(|s| s.cpu_ns.is_none()),
                syscalls_per_op: per(&|s| Some(s.syscalls? as f64 / s.ops as f64)),
                ctx_per_op: per(&|s| Some(s.ctx_switches? as f64 / s.ops as f64)),
                copies_per_byte: per(&|s| Some(s.cpu_copies_bytes? as f64 / s.bytes as f64)),
                picked: mine
                    .first()
                    .and_then(|s| s.strategy_used.clone())
                    .filter(|_| *name == "auto")
                    .unwrap_or_default(),
                process_start,
                resident_pages: per(&|s| Some(s.resident_pages? as f64)),
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
        "zcopy bench {} — {} ({} cores), Linux {}, {}; {} round{}",
        run.version,
        m.cpu,
        m.cores,
        m.kernel,
        m.filesystem,
        run.rounds,
        if run.rounds == 1 { "" } else { "s" }
    )
}

/// What the columns of the per-cell tables mean, printed above the first.
pub const LEGEND: &str = "
How to read the tables: one per cell (endpoint, bytes per op, page cache hot or cold); each row
is one technique of zcopy's or one tool people use today, all timed the same way in each round.
  4K, 1M, 16M   bytes per op (KiB, MiB); GB/s counts 10^9 bytes per second
  GB/s          median over the rounds of bytes moved ÷ wall time
  ÷ read_write  the median of per-round ratios: the row's GB/s ÷ read_write's in the same round
                (above 1: faster than plain read/write), then [lowest–highest] of those ratios
  µs/op         median wall time of one op (one transfer of the cell's size)
  CPU s/GB      median CPU seconds (user + system) per GB moved, from the CPU clocks: the bench
                thread's for in-process rows, the child's for cp and Python
  syscalls, mode sw, ctx sw   per op: system calls, mode switches (2 per syscall), context switches
  copies        modelled CPU copies of each byte moved (0: zero-copy)
  -             not measured: peers do not count syscalls or copies; cp gets no ratio (see note)
  *             the fastest row of the cell (highest median GB/s)
  note          what auto picked; cp starts one process per op, so its time includes process start;
                for the cache_* rows (a cold 256M file → file under each cache policy), the pages of
                source and destination left in the page cache after the copy (median)
";

/// The report: the header; with `tables`, the legend and every cell's table; then the summary
/// and the targets (and, without `tables`, where the tables are).
pub fn table(run: &Run, tables: bool) -> String {
    let mut out = header(run) + "\n";
    if tables {
        out += LEGEND;
        for (endpoint, size, cache) in cells(run) {
            out += &cell_table(run, &endpoint, size, &cache);
        }
    }
    out += &summary(run);
    out += &targets_text(run);
    if tables {
        out += &misses_by_round(run);
    } else {
        out += "\nEvery technique and tool, cell by cell (with a legend): the same command with --full.\n";
    }
    out
}

/// One cell's table: each technique's median GB/s, the per-round ratios against read_write,
/// µs per op, CPU seconds per GB, syscalls, mode switches and context switches per op, modelled
/// CPU copies per byte; `*` marks the fastest.
fn cell_table(run: &Run, endpoint: &str, size: u64, cache: &str) -> String {
    let mut out = format!("\n{endpoint}  {}  {cache}\n", human(size));
    out += &format!(
        "  {:<23} {:>7}  {:<24}\n",
        "", "", "÷ read_write, median of"
    );
    out += &format!(
        "  {:<23} {:>7}  {:<24} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7}  {}\n",
        "technique",
        "GB/s",
        "per-round ratios [lo–hi]",
        "µs/op",
        "CPU s/GB",
        "syscalls",
        "mode sw",
        "ctx sw",
        "copies",
        "note"
    );
    let rows = rows(run, endpoint, size, cache);
    let best = rows.iter().map(|r| r.gbps).fold(0.0, f64::max);
    for r in rows {
        let mark = if r.gbps >= best { "*" } else { " " };
        let vs = match r.ratio {
            _ if r.name == "read_write" => "1 (the baseline)".to_string(),
            s => ratio(s),
        };
        let cpu = if r.cpu_below_tick {
            "< 1 tick".to_string()
        } else {
            opt(r.cpu_per_gb, 3)
        };
        let mut note = if r.process_start {
            "includes process start".to_string()
        } else if r.picked.is_empty() {
            String::new()
        } else {
            format!("picked {}", r.picked)
        };
        if let (Some(p), true) = (r.resident_pages, r.name.starts_with("cache_")) {
            note += &format!(" {p:.0} pages cached after");
        }
        out += &format!(
            "{mark} {:<23} {:>7.2}  {:<24} {:>9.1} {:>9} {:>9} {:>8} {:>7} {:>7}  {}\n",
            r.name,
            r.gbps,
            vs,
            r.us_per_op,
            cpu,
            opt(r.syscalls_per_op, 0),
            opt(r.syscalls_per_op.map(|n| 2.0 * n), 0),
            opt(r.ctx_per_op, 1),
            opt(r.copies_per_byte, 2),
            note.trim_end()
        );
    }
    out
}

/// The best fixed technique of a cell's rows (highest median GB/s), not Auto.
fn best_fixed(rows: &[Row]) -> Option<&Row> {
    rows.iter()
        .filter(|r| r.name != "auto" && r.name.parse::<zcopy::Strategy>().is_ok())
        .max_by(|a, b| a.gbps.total_cmp(&b.gbps))
}

/// The Python peer set against zcopy in a cell: (zcopy's row, the peer's).
fn python_pair(endpoint: &str) -> (&'static str, &'static str) {
    if endpoint == "file_file" {
        ("zcopy_copy_file", "shutil_copyfile")
    } else {
        ("auto", "py_sendfile")
    }
}

/// The summary: per cell, what Auto picked and its GB/s, then its speed against read_write, the
/// best fixed technique, std::io::copy and Python (zcopy::copy_file against shutil.copyfile,
/// file → file), and its CPU per GB against read_write's, each the median of per-round ratios
/// with its lowest and highest round.
pub fn summary(run: &Run) -> String {
    let spread = if run.rounds < 2 {
        "; one round, so no spread".to_string()
    } else {
        format!(", with [lowest–highest] over the {} rounds", run.rounds)
    };
    let mut out = format!(
        "
Summary: auto (zcopy's default) against the others, one line per cell (endpoint, bytes per op, page
cache). Each ratio is the median of per-round ratios, auto's GB/s ÷ the other's in the same round
(above 1: auto is faster){spread}. Best fixed: the fastest
technique forced by name. The one it ran: that technique forced by name, in the same round (an
A/A comparison: away from 1 is mostly the machine's noise). Python: zcopy::copy_file ÷
shutil.copyfile (file → file; both create the file), else auto ÷ socket.sendfile or
os.sendfile. CPU: auto's CPU per GB ÷ read_write's.
cp is left out: it starts a process for every copy, so its time is mostly that.
"
    );
    out += &format!(
        "  {:<19} {:<16} {:>6}  {:<19} {:<36} {:<19} {:<19} {:<19} {}\n",
        "cell",
        "auto picked",
        "GB/s",
        "÷ read_write",
        "÷ best fixed",
        "÷ the one it ran",
        "÷ std::io::copy",
        "÷ Python",
        "CPU ÷ read_write"
    );
    for (e, size, c) in cells(run) {
        let rows = rows(run, &e, size, &c);
        let Some(auto) = rows.iter().find(|r| r.name == "auto") else {
            continue;
        };
        let here = cell(run, &e, size, &c);
        let best = best_fixed(&rows).map_or("-".to_string(), |b| {
            format!("{} {}", ratio(pair(&here, "auto", &b.name, &rate)), b.name)
        });
        let (ours, py) = python_pair(&e);
        out += &format!(
            "  {:<19} {:<16} {:>6.2}  {:<19} {:<36} {:<19} {:<19} {:<19} {}\n",
            format!("{e} {} {c}", human(size)),
            auto.picked,
            auto.gbps,
            ratio(auto.ratio),
            best,
            ratio(auto_vs_ran(&here).map(|r| r.0)),
            ratio(pair(&here, "auto", "std_io_copy", &rate)),
            ratio(pair(&here, ours, py, &rate)),
            ratio(pair(&here, "auto", "read_write", &cpu_per_byte)),
        );
    }
    out
}

/// How a target fares in one cell, or over all of its cells (the worst of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// No round meets it.
    NotMet,
    /// Some rounds meet it and some do not.
    Noisy,
    /// Every round meets it.
    Met,
}

impl Verdict {
    /// Whether the figure `s` meets `x ≥ limit` (`at_least`) or `x ≤ limit`, round by round.
    pub fn of(s: &Spread, at_least: bool, limit: f64) -> Verdict {
        let ok = |x: f64| if at_least { x >= limit } else { x <= limit };
        match (ok(s.lo), ok(s.hi)) {
            (true, true) => Verdict::Met,
            (false, false) => Verdict::NotMet,
            _ => Verdict::Noisy,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Noisy => "noisy",
            Verdict::NotMet => "NOT met",
        }
    }
}

/// One target and what this run measured for it.
pub struct Target {
    pub what: &'static str,
    /// `None`: the run has no cell to judge it by.
    pub verdict: Option<Verdict>,
    pub measured: String,
}

impl Target {
    fn verdict(&self) -> &'static str {
        self.verdict.map_or("not measured", Verdict::word)
    }
}

/// The targets as printed: a heading saying how they are judged, one line each.
fn targets_text(run: &Run) -> String {
    let mut out = String::from(
        "
Targets the project set itself: each figure is the median [lowest–highest] over the rounds; met:
every round meets the target; NOT met: no round does; noisy: rounds on both sides (more --rounds or
a quieter machine will tell).
",
    );
    for t in targets(run) {
        out += &format!("  {:<12}  {}: {}\n", t.verdict(), t.what, t.measured);
    }
    out
}

/// Checks the run against the targets, cell by cell where the run has the cells.
pub fn targets(run: &Run) -> Vec<Target> {
    vec![
        auto_vs_best_fixed(run),
        auto_vs_itself(run),
        file_file_big(run),
        file_file_256m_peers(run),
        file_tcp_cpu(run),
        file_pipe(run),
        copy_file_4k(run),
        auto_4k_tcp(run),
        prepared_4k(run, "file_tcp", "bare_sendfile", "file → TCP 4 KiB hot: a zcopy::Prepared run, CPU meter off (auto_prepared_unmetered), ≤ 1.3× a bare sendfile's time per op"),
        prepared_4k(run, "file_file", "bare_copy_file_range", "file → file 4 KiB hot: a zcopy::Prepared run, CPU meter off (auto_prepared_unmetered), ≤ 1.3× a bare copy_file_range's time per op"),
        python_copy_file_4k(run),
        bookkeeping_1m(run),
        dontcache_256m_cold(run),
    ]
}

/// Which cells a target looks at: (endpoint, size, cache) → whether.
type Pick<'a> = &'a dyn Fn(&str, u64, &str) -> bool;
/// A target's judgement of one cell from its rows and samples: (verdict, figure), or `None`
/// when the cell lacks what it needs.
type Judge<'a> = &'a dyn Fn(&[Row], &[&Sample]) -> Option<(Verdict, String)>;

/// One cell's judgement: (verdict, the cell's name, its size, the figure).
type Seen = (Verdict, String, String, String);

/// Judges `what` in every cell of the run that `pick` takes; the verdict is the worst cell's.
fn judge_cells(run: &Run, what: &'static str, pick: Pick<'_>, judge: Judge<'_>) -> Target {
    let mut seen: Vec<Seen> = Vec::new();
    for (e, size, c) in cells(run).iter().filter(|(e, s, c)| pick(e, *s, c)) {
        let here = cell(run, e, *size, c);
        if let Some(v) = judge(&rows(run, e, *size, c), &here) {
            seen.push((v.0, format!("{e} {} {c}", human(*size)), human(*size), v.1));
        }
    }
    Target {
        what,
        verdict: seen.iter().map(|s| s.0).min(),
        measured: measured_text(&seen),
    }
}

/// What a target measured over its cells: by size for a few cells (all of one endpoint and
/// cache state: the target says which), counts and the cells not met for many.
fn measured_text(seen: &[Seen]) -> String {
    if seen.is_empty() {
        return "no such cell in this run".to_string();
    }
    if seen.len() <= 4 {
        return seen
            .iter()
            .map(|(v, _, size, figure)| match v {
                Verdict::Met => format!("{size} {figure}"),
                Verdict::Noisy => format!("{size} {figure} (noisy)"),
                Verdict::NotMet => format!("{size} {figure} (not met)"),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let count = |v: Verdict| seen.iter().filter(|s| s.0 == v).count();
    let mut m = format!(
        "met in {} of {} cells, noisy in {}",
        count(Verdict::Met),
        seen.len(),
        count(Verdict::Noisy)
    );
    if count(Verdict::NotMet) > 0 {
        let not_met: Vec<&str> = seen
            .iter()
            .filter(|s| s.0 == Verdict::NotMet)
            .map(|s| s.1.as_str())
            .collect();
        m += &format!(", not met in {}", not_met.join(", "));
    }
    m
}

fn find(rows: &[Row], name: &str) -> Option<usize> {
    rows.iter().position(|r| r.name == name)
}

/// Auto's GB/s against read_write's, per round, judged `≥ limit`.
fn auto_over_read_write(rows: &[Row], limit: f64) -> Option<(Verdict, String)> {
    let x = rows[find(rows, "auto")?].ratio?;
    Some((Verdict::of(&x, true, limit), x.ratio()))
}

/// `a`'s time per op against `b`'s, per round, judged `≤ limit`, with both medians in µs.
fn per_op_at_most(
    rows: &[Row],
    here: &[&Sample],
    a: &str,
    b: &str,
    limit: f64,
) -> Option<(Verdict, String)> {
    let (ua, ub) = (
        rows[find(rows, a)?].us_per_op,
        rows[find(rows, b)?].us_per_op,
    );
    let x = pair(here, a, b, &per_op)?;
    Some((
        Verdict::of(&x, false, limit),
        format!("{} ({ua:.1} vs {ub:.1} µs)", x.ratio()),
    ))
}

/// Auto against the technique it ran, per round: Auto's GB/s ÷ that technique's row (forced by
/// name) in the same round, and the same of CPU per GB; with the name of the technique Auto ran
/// most often. The two differ only by Auto's own work (its plan; a fallback, if any), so
/// figures away from 1 are the machine's noise, unless the CPU ratio moves too.
fn auto_vs_ran(here: &[&Sample]) -> Option<(Spread, Option<Spread>, String)> {
    let ran = |round: usize| -> Option<&str> {
        here.iter()
            .find(|s| s.technique == "auto" && s.round == round)?
            .strategy_used
            .as_deref()
    };
    let mut names: Vec<&str> = here
        .iter()
        .filter(|s| s.technique == "auto")
        .filter_map(|s| s.strategy_used.as_deref())
        .collect();
    names.sort_unstable();
    let name = names
        .iter()
        .max_by_key(|n| names.iter().filter(|m| m == n).count())?
        .to_string();
    let wall = per_round(here, |r| in_round(here, r, "auto", ran(r)?, &rate))?;
    let cpu = per_round(here, |r| in_round(here, r, "auto", ran(r)?, &cpu_per_byte));
    Some((wall, cpu, name))
}

fn auto_vs_best_fixed(run: &Run) -> Target {
    let mut t = judge_cells(
        run,
        "auto ≥ 0.95× the best fixed technique, every cell (÷ best fixed above)",
        &|_, _, _| true,
        &|rows, here| {
            let best = best_fixed(rows)?;
            let x = pair(here, "auto", &best.name, &rate)?;
            Some((
                Verdict::of(&x, true, 0.95),
                format!("{} {}", x.ratio(), best.name),
            ))
        },
    );
    // The cells whose median misses, each with what Auto ran: another technique than the best
    // (a choice to look at), or the best itself (then the ratio is Auto against itself, and
    // its CPU per GB against the same row's tells noise from a cost of Auto's own).
    let mut misses = Vec::new();
    for m in below_best(run) {
        let here = cell(run, &m.endpoint, m.size, &m.cache);
        let cpu = pair(&here, "auto", &m.best, &cpu_per_byte);
        let what = match auto_vs_ran(&here) {
            Some((_, _, n)) if n == m.best => format!("ran {n} itself"),
            Some((w, _, n)) => format!("ran {n}, ÷ {n} {}", w.ratio()),
            None => "ran -".to_string(),
        };
        misses.push(format!(
            "{} {:.2}× {} ({what}; CPU/GB ÷ {} {})",
            m.name(),
            m.ratio.median,
            m.best,
            m.best,
            cpu.map_or("-".to_string(), |c| format!("{:.2}×", c.median)),
        ));
    }
    if !misses.is_empty() {
        t.measured += &format!("; medians below 0.95: {}", misses.join(", "));
    }
    t
}

/// A cell where Auto's median misses 0.95× the best fixed technique.
struct Miss {
    endpoint: String,
    size: u64,
    cache: String,
    /// The best fixed technique of the cell (highest median GB/s).
    best: String,
    /// Auto's GB/s ÷ the best fixed technique's, per round.
    ratio: Spread,
}

impl Miss {
    /// The cell as the summary names it: `file_tcp 1M hot`.
    fn name(&self) -> String {
        format!("{} {} {}", self.endpoint, human(self.size), self.cache)
    }
}

/// The cells where the median of Auto's per-round ratios to the best fixed technique is below
/// 0.95, in the order they ran.
fn below_best(run: &Run) -> Vec<Miss> {
    let mut misses = Vec::new();
    for (endpoint, size, cache) in cells(run) {
        let rows = rows(run, &endpoint, size, &cache);
        let here = cell(run, &endpoint, size, &cache);
        let Some(best) = best_fixed(&rows) else {
            continue;
        };
        let Some(ratio) = pair(&here, "auto", &best.name, &rate) else {
            continue;
        };
        if ratio.median < 0.95 {
            let best = best.name.clone();
            misses.push(Miss {
                endpoint,
                size,
                cache,
                best,
                ratio,
            });
        }
    }
    misses
}

/// The closing note of a full report: for each cell where Auto's median misses 0.95× the best
/// fixed technique, the GB/s of every round, in round order, of Auto, of the technique it ran
/// (forced by name in the same round: an A/A pair, whose gap is the machine's noise or Auto's
/// own cost) and of the best fixed technique: two lines per cell. Empty when no cell misses.
fn misses_by_round(run: &Run) -> String {
    let misses = below_best(run);
    if misses.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "
Where auto's median is below 0.95× the best fixed technique: GB/s in each round, in round order,
of auto, of the technique it ran (forced by name in the same round) and of the best fixed one.
",
    );
    for m in &misses {
        let here = cell(run, &m.endpoint, m.size, &m.cache);
        let mut rounds: Vec<usize> = here.iter().map(|s| s.round).collect();
        rounds.sort_unstable();
        rounds.dedup();
        let series = |t: &str| -> String {
            rounds
                .iter()
                .map(|&r| {
                    here.iter()
                        .find(|s| s.technique == t && s.round == r)
                        .and_then(|s| rate(s))
                        .map_or_else(|| format!("{:>5}", "-"), |x| format!("{x:>5.2}"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let ran = auto_vs_ran(&here).map(|r| r.2);
        let mut note = ran_note(&here, ran.as_deref(), &rounds);
        let mut best_note = "best fixed".to_string();
        match ran.as_deref() {
            Some(r) if r == m.best => best_note += ", the one it ran",
            Some(r) => note += &format!("; {r} forced by name: {}", series(r).trim_start()),
            None => {}
        }
        if !note.is_empty() {
            note = format!("({note})");
        }
        out += &format!(
            "  {:<19} {:<16} {}  {note}\n  {:<19} {:<16} {}  {best_note}\n",
            m.name(),
            "auto",
            series("auto"),
            "",
            m.best,
            series(&m.best),
        );
    }
    out
}

/// What Auto ran in a cell's rounds: `ran mmap_write`, then the rounds (counted from 1) where it
/// ran something else, if any.
fn ran_note(here: &[&Sample], ran: Option<&str>, rounds: &[usize]) -> String {
    let Some(ran) = ran else {
        return String::new();
    };
    let other: Vec<String> = rounds
        .iter()
        .enumerate()
        .filter_map(|(i, &r)| {
            let used = here
                .iter()
                .find(|s| s.technique == "auto" && s.round == r)?
                .strategy_used
                .as_deref()?;
            (used != ran).then(|| format!("{used} in round {}", i + 1))
        })
        .collect();
    if other.is_empty() {
        format!("ran {ran}")
    } else {
        format!("ran {ran}; {}", other.join(", "))
    }
}

fn auto_vs_itself(run: &Run) -> Target {
    judge_cells(
        run,
        "auto ≥ 0.95× the technique it ran, forced by name in the same round (Auto's own cost)",
        &|_, _, _| true,
        &|_, here| {
            let (wall, cpu, name) = auto_vs_ran(here)?;
            Some((
                Verdict::of(&wall, true, 0.95),
                format!(
                    "{} {name}, CPU per GB {}",
                    wall.ratio(),
                    cpu.map_or("-".to_string(), |c| c.ratio())
                ),
            ))
        },
    )
}

fn file_file_big(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file ≥ 1 MiB hot: auto ≥ 1.5× read_write",
        &|e, s, c| e == "file_file" && s >= 1 << 20 && c == "hot",
        &|rows, _| auto_over_read_write(rows, 1.5),
    )
}

/// The peers of the 256 MiB target, each against the zcopy row that does what it does: (zcopy's
/// row, the peer's, its name). `auto` writes into the bench's existing destination as
/// std::io::copy does; `zcopy_copy_file` creates the file as std::fs::copy, shutil.copyfile and
/// cp do (cp's time includes its process start: about 2 ms of the 50–80 ms a copy takes here).
const PEERS_256M: [(&str, &str, &str); 4] = [
    ("auto", "std_io_copy", "std::io::copy"),
    ("zcopy_copy_file", "std_fs_copy", "std::fs::copy"),
    ("zcopy_copy_file", "shutil_copyfile", "shutil.copyfile"),
    ("zcopy_copy_file", "cp", "cp"),
];

/// `f(round)` over the rounds of a cell's samples where it gives a figure.
fn per_round(here: &[&Sample], f: impl Fn(usize) -> Option<f64>) -> Option<Spread> {
    let mut rounds: Vec<usize> = here.iter().map(|s| s.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    Spread::of(rounds.into_iter().filter_map(f).collect())
}

/// `f(a) ÷ f(b)` in round `round` of a cell's samples.
fn in_round(
    here: &[&Sample],
    round: usize,
    a: &str,
    b: &str,
    f: &dyn Fn(&Sample) -> Option<f64>,
) -> Option<f64> {
    let get = |t: &str| here.iter().find(|s| s.technique == t && s.round == round);
    let (x, y) = (f(get(a)?)?, f(get(b)?)?);
    (y > 0.0).then(|| x / y)
}

/// Issue 16's target for big copies: in each round, zcopy against the fastest of the peers of
/// that round (each peer against the zcopy row that does what it does: [`PEERS_256M`]) at ≥
/// 1.3×, and both zcopy rows against read_write at ≥ 1.5×.
fn file_file_256m_peers(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file 256 MiB hot: zcopy ≥ 1.3× the best of std::io::copy, std::fs::copy, shutil.copyfile and cp, and ≥ 1.5× read_write (auto against the rows that write an existing file, zcopy::copy_file against those that create one; cp includes process start)",
        &|e, s, c| e == "file_file" && s >= 256 << 20 && c == "hot",
        &|_, here| {
            let peers: Vec<_> = PEERS_256M
                .iter()
                .filter(|(ours, peer, _)| pair(here, ours, peer, &rate).is_some())
                .collect();
            if peers.is_empty() {
                return None;
            }
            let best = per_round(here, |round| {
                peers
                    .iter()
                    .map(|(ours, peer, _)| in_round(here, round, ours, peer, &rate))
                    .collect::<Option<Vec<f64>>>()
                    .and_then(|v| v.into_iter().reduce(f64::min))
            })?;
            let mut v = Verdict::of(&best, true, 1.3);
            let mut figures = vec![format!("{} the best peer of each round", best.ratio())];
            for (ours, peer, name) in &peers {
                if let Some(x) = pair(here, ours, peer, &rate) {
                    figures.push(format!("{} {name}", x.ratio()));
                }
            }
            for ours in ["auto", "zcopy_copy_file"] {
                if let Some(x) = pair(here, ours, "read_write", &rate) {
                    v = v.min(Verdict::of(&x, true, 1.5));
                    figures.push(format!("{ours} {} read_write", x.ratio()));
                }
            }
            Some((v, figures.join(", ")))
        },
    )
}

fn file_tcp_cpu(run: &Run) -> Target {
    judge_cells(
        run,
        "file → TCP ≥ 1 MiB hot: auto ≥ 1.0× read_write at ≤ 0.6× its CPU per GB",
        &|e, s, c| e == "file_tcp" && s >= 1 << 20 && c == "hot",
        &|rows, here| {
            let x = rows[find(rows, "auto")?].ratio?;
            let cpu = pair(here, "auto", "read_write", &cpu_per_byte)?;
            let v = Verdict::of(&x, true, 1.0).min(Verdict::of(&cpu, false, 0.6));
            // Beside it, not judged: a Prepared's runs, whose kept mmap_write window spares the
            // mmap and munmap of each run.
            let prepared = pair(here, "auto_prepared", "read_write", &cpu_per_byte)
                .map_or(String::new(), |p| {
                    format!(" (a Prepared's runs: CPU {})", p.ratio())
                });
            Some((v, format!("{}, CPU {}{prepared}", x.ratio(), cpu.ratio())))
        },
    )
}

fn file_pipe(run: &Run) -> Target {
    judge_cells(
        run,
        "file → pipe ≥ 64 KiB hot: auto ≥ 1.5× read_write",
        &|e, s, c| e == "file_pipe" && s >= 64 << 10 && c == "hot",
        &|rows, _| auto_over_read_write(rows, 1.5),
    )
}

fn copy_file_4k(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file 4 KiB hot: zcopy::copy_file ≤ 25 µs per op",
        &|e, s, c| e == "file_file" && s == 4 << 10 && c == "hot",
        &|rows, here| {
            let us = Spread::of(
                here.iter()
                    .filter(|s| s.technique == "zcopy_copy_file")
                    .filter_map(|s| Some(per_op(s)? / 1e3))
                    .collect(),
            )?;
            let std = find(rows, "std_fs_copy").map(|i| rows[i].us_per_op);
            Some((
                Verdict::of(&us, false, 25.0),
                format!(
                    "{} (std::fs::copy {} µs)",
                    us.show(" µs", |x| format!("{x:.1}")),
                    opt(std, 1)
                ),
            ))
        },
    )
}

fn auto_4k_tcp(run: &Run) -> Target {
    judge_cells(
        run,
        "file → TCP 4 KiB hot: auto ≤ 1.1× a bare sendfile's time per op",
        &|e, s, c| e == "file_tcp" && s == 4 << 10 && c == "hot",
        &|rows, here| {
            let (v, figure) = per_op_at_most(rows, here, "auto", "bare_sendfile", 1.1)?;
            let floor = pair(here, "bare_sendfile_nosigpipe", "bare_sendfile", &per_op).map_or(
                String::new(),
                |f| {
                    format!(
                        "; the floor with SIGPIPE kept out, as zcopy promises: {}",
                        f.ratio()
                    )
                },
            );
            Some((v, format!("{figure}{floor}")))
        },
    )
}

/// A prepared run at 4 KiB hot against a bare syscall, `endpoint`'s cell: judged on
/// `auto_prepared_unmetered` (a `zcopy::Prepared` with its CPU meter off, as a file server's
/// bodies run: every Report figure but the CPU time and context switches stays exact). The
/// metered `auto_prepared` is shown beside it: its Report also reads the thread CPU clock and
/// getrusage at its start and end (4 syscalls); where the cell has `bare_sendfile_metered`, the
/// line shows that floor too.
fn prepared_4k(
    run: &Run,
    endpoint: &'static str,
    bare: &'static str,
    what: &'static str,
) -> Target {
    judge_cells(
        run,
        what,
        &|e, s, c| e == endpoint && s == 4 << 10 && c == "hot",
        &|rows, here| {
            let (v, figure) = per_op_at_most(rows, here, "auto_prepared_unmetered", bare, 1.3)?;
            let metered = pair(here, "auto_prepared", bare, &per_op).map_or(String::new(), |m| {
                format!("; metered (auto_prepared): {}", m.ratio())
            });
            let floor =
                pair(here, "bare_sendfile_metered", bare, &per_op).map_or(String::new(), |f| {
                    format!(
                        ", its floor with the Report's metering done bare: {}",
                        f.ratio()
                    )
                });
            Some((v, format!("{figure}{metered}{floor}")))
        },
    )
}

fn python_copy_file_4k(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file 4 KiB hot, from Python: zcopy.copy_file ≤ 0.6× shutil.copyfile's time",
        &|e, s, c| e == "file_file" && s == 4 << 10 && c == "hot",
        &|rows, here| per_op_at_most(rows, here, "py_zcopy_copy_file", "shutil_copyfile", 0.6),
    )
}

fn bookkeeping_1m(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file 1 MiB hot: the Report's bookkeeping ≤ 2% (copy_file_range ÷ the bare syscall)",
        &|e, s, c| e == "file_file" && s == 1 << 20 && c == "hot",
        &|rows, here| {
            let z = rows[find(rows, "copy_file_range")?].us_per_op;
            let bare = rows[find(rows, "bare_copy_file_range")?].us_per_op;
            let x = pair(here, "copy_file_range", "bare_copy_file_range", &per_op)?;
            Some((
                Verdict::of(&x, false, 1.02),
                format!(
                    "{} ({z:.1} vs {bare:.1} µs)",
                    x.show("%", |r| format!("{:+.1}", 100.0 * (r - 1.0)))
                ),
            ))
        },
    )
}

/// The cache policies on a cold 256 MiB copy: dontcache at ≥ 0.85× keep's speed, leaving no
/// page of either file cached (the source was evicted before the sample, the destination is
/// new).
fn dontcache_256m_cold(run: &Run) -> Target {
    judge_cells(
        run,
        "file → file 256 MiB cold: cache_dontcache ≥ 0.85× cache_keep's speed, 0 pages of either file cached after",
        &|e, s, c| e == "file_file" && s >= 256 << 20 && c == "cold",
        &|_, here| {
            let x = pair(here, "cache_dontcache", "cache_keep", &rate)?;
            let most = here
                .iter()
                .filter(|s| s.technique == "cache_dontcache")
                .filter_map(|s| s.resident_pages)
                .max()?;
            let v = Verdict::of(&x, true, 0.85).min(if most == 0 {
                Verdict::Met
            } else {
                Verdict::NotMet
            });
            Some((v, format!("{}, at most {most} pages cached after", x.ratio())))
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_median_and_the_extremes() {
        let s = Spread::of(vec![1.62, 1.31, 1.49]).expect("values");
        assert_eq!((s.median, s.lo, s.hi, s.rounds), (1.49, 1.31, 1.62, 3));
        assert_eq!(s.ratio(), "1.49× [1.31–1.62]");
        assert_eq!(Spread::of(vec![1.0, 2.0]).expect("values").median, 1.5);
        assert_eq!(Spread::of(vec![0.97]).expect("one").ratio(), "0.97×");
        assert_eq!(Spread::of(vec![f64::NAN]), None);
    }

    /// A sample of 1 GB moved at `gbps` by `tech` in `round`, Auto's with what it ran.
    fn at(endpoint: &str, size: u64, tech: &str, round: usize, gbps: f64, ran: &str) -> Sample {
        Sample {
            endpoint: endpoint.into(),
            size,
            cache: "hot".into(),
            technique: tech.into(),
            round,
            ops: 1,
            bytes: 1_000_000_000,
            elapsed_ns: (1e9 / gbps) as u64,
            user_cpu_ns: None,
            sys_cpu_ns: None,
            cpu_ns: Some(300_000_000),
            syscalls: None,
            mode_switches: None,
            ctx_switches: None,
            cpu_copies_bytes: None,
            strategy_used: (tech == "auto").then(|| ran.to_string()),
            verified: false,
            resident_pages: None,
        }
    }

    fn run_of(samples: Vec<Sample>) -> Run {
        Run {
            version: "test",
            rounds: 3,
            machine: super::super::Machine {
                cpu: "test".into(),
                cores: 2,
                kernel: "6.18".into(),
                filesystem: "ext4".into(),
            },
            samples,
        }
    }

    #[test]
    fn a_missed_cell_shows_its_rounds_in_the_full_report_only() {
        let (tcp, pipe) = ("file_tcp", "file_pipe");
        let mut samples = Vec::new();
        // file_tcp 1M: auto runs mmap_write (splice in the third round) and misses sendfile.
        let rounds = [
            (1.20, 1.30, 1.50, 1.00),
            (0.90, 1.00, 1.60, 1.00),
            (1.10, 1.15, 1.40, 1.00),
        ];
        for (r, (auto, mmap, sendfile, rw)) in rounds.into_iter().enumerate() {
            let ran = if r == 2 { "splice" } else { "mmap_write" };
            samples.push(at(tcp, 1 << 20, "auto", r, auto, ran));
            samples.push(at(tcp, 1 << 20, "mmap_write", r, mmap, ""));
            samples.push(at(tcp, 1 << 20, "sendfile", r, sendfile, ""));
            samples.push(at(tcp, 1 << 20, "read_write", r, rw, ""));
        }
        // file_tcp 16M: auto runs the best fixed technique itself and misses it.
        for (r, (auto, mmap)) in [(2.0, 2.5), (2.1, 2.4), (1.9, 2.6)].into_iter().enumerate() {
            samples.push(at(tcp, 16 << 20, "auto", r, auto, "mmap_write"));
            samples.push(at(tcp, 16 << 20, "mmap_write", r, mmap, ""));
            samples.push(at(tcp, 16 << 20, "read_write", r, 1.0, ""));
        }
        // file_pipe 1M: auto meets the target, so it is not listed.
        for r in 0..3 {
            samples.push(at(pipe, 1 << 20, "auto", r, 3.0, "splice"));
            samples.push(at(pipe, 1 << 20, "splice", r, 3.0, ""));
            samples.push(at(pipe, 1 << 20, "read_write", r, 1.0, ""));
        }
        let run = run_of(samples);
        let note = misses_by_round(&run);
        let lines: Vec<&str> = note.lines().skip_while(|l| !l.starts_with("  ")).collect();
        assert_eq!(
            lines,
            [
                "  file_tcp 1M hot     auto              1.20  0.90  1.10  (ran mmap_write; splice in round 3; mmap_write forced by name: 1.30  1.00  1.15)",
                "                      sendfile          1.50  1.60  1.40  best fixed",
                "  file_tcp 16M hot    auto              2.00  2.10  1.90  (ran mmap_write)",
                "                      mmap_write        2.50  2.40  2.60  best fixed, the one it ran",
            ],
            "{note}"
        );
        // The summary's target line names the same cells; --quick leaves the rounds out.
        assert!(table(&run, true).ends_with(&note), "{}", table(&run, true));
        assert!(table(&run, true).contains(
            "medians below 0.95: file_tcp 1M hot 0.79× sendfile (ran mmap_write, ÷ mmap_write"
        ));
        assert!(!table(&run, false).contains("GB/s in each round"));
        // No miss, no note.
        let met = run_of(
            run.samples
                .into_iter()
                .filter(|s| s.endpoint == pipe)
                .collect(),
        );
        assert_eq!(misses_by_round(&met), "");
    }

    #[test]
    fn a_spread_across_the_target_is_noisy_not_failed() {
        let s = |lo, hi| Spread {
            median: (lo + hi) / 2.0,
            lo,
            hi,
            rounds: 3,
        };
        assert_eq!(Verdict::of(&s(0.17, 0.97), true, 0.95), Verdict::Noisy);
        assert_eq!(Verdict::of(&s(0.17, 0.90), true, 0.95), Verdict::NotMet);
        assert_eq!(Verdict::of(&s(0.96, 1.20), true, 0.95), Verdict::Met);
        assert_eq!(Verdict::of(&s(1.05, 1.15), false, 1.1), Verdict::Noisy);
        assert_eq!(Verdict::of(&s(1.0, 1.05), false, 1.1), Verdict::Met);
    }
}
