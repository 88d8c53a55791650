//! The `parallelism` option: a file → file transfer split into contiguous ranges, moved at once
//! by worker threads.
//!
//! Each worker runs the single-threaded planner ([`run_list`](crate::plan::run_list)) on its range with explicit
//! offsets and the technique list the planner chose for the whole transfer, so strategy and
//! fallback rules are the ones of one thread. The calling thread moves no bytes: it relays the
//! workers' progress to the caller's callback (so callbacks stay on the caller's thread, as C's
//! `zc_progress_fn` and Python's Ctrl-C handling need), tells the workers to stop when asked or
//! when one fails, and gathers their reports. The result is the contiguous prefix from the start
//! that is completely written (see [`Options::parallelism`]).

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, Strategy};
use crate::report::{Fallback, Meter, Report};
use crate::strategy;

/// The fewest bytes a worker gets: a transfer is split only from twice this, so small copies
/// never start threads.
const MIN_RANGE: u64 = 8 << 20;

/// Ranges start at multiples of this from the transfer's start (page and block aligned when the
/// start offsets are, which reflink needs).
const ALIGN: u64 = 1 << 20;

/// How a transfer is split: the absolute start offsets, and each range's start (relative to
/// them) and length (`None`: to end of file, the last range of a transfer to end of file).
struct Split {
    src_start: u64,
    dst_start: u64,
    ranges: Vec<(u64, Option<u64>)>,
}

/// What a worker gives back: its range's outcome, its report (counters of its own thread), and
/// whether it stopped because it was told to (a stop that is not its range's own failure).
type Outcome = (Result<()>, Report, bool);

/// What the workers tell the calling thread, which waits on [`Relay::wake`] for it.
#[derive(Default)]
struct News {
    /// A worker moved bytes since the calling thread last looked: the caller's progress
    /// callback is due.
    moved: bool,
    /// Ranges finished since it last looked (`Err`: the worker panicked).
    done: Vec<(usize, std::thread::Result<Outcome>)>,
}

/// The workers' way to the calling thread: a mutex and a condvar (futex-based: no thread
/// handle is created for the calling thread, unlike `std::thread::scope` or `mpsc`, whose
/// handle is never freed on a C program's main thread and shows up under valgrind).
#[derive(Default)]
struct Relay {
    news: Mutex<News>,
    wake: Condvar,
}

impl Relay {
    fn lock(&self) -> MutexGuard<'_, News> {
        self.news.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn moved(&self) {
        let mut news = self.lock();
        if !news.moved {
            news.moved = true;
            drop(news);
            self.wake.notify_one();
        }
    }

    fn done(&self, range: usize, outcome: std::thread::Result<Outcome>) {
        self.lock().done.push((range, outcome));
        self.wake.notify_one();
    }

    /// Waits for news, and takes it.
    fn wait(&self) -> News {
        let mut news = self.lock();
        while !news.moved && news.done.is_empty() {
            news = self.wake.wait(news).unwrap_or_else(PoisonError::into_inner);
        }
        std::mem::take(&mut *news)
    }
}

/// What the calling thread and the workers share.
struct Shared {
    /// Bytes moved by all the workers so far.
    total: AtomicU64,
    /// Set to stop every worker at its next chunk.
    stop: AtomicBool,
    relay: Relay,
    /// Whether the caller has a progress callback to relay to.
    wants_progress: bool,
    /// What each worker runs on its range.
    run_list: RunList,
}

/// The planner's single-threaded run ([`run_list`](crate::plan::run_list)), which each worker runs on its range:
/// given by the planner, so this module does not import it back.
pub(crate) type RunList =
    fn(&Endpoint<'_>, &Endpoint<'_>, &Options<'_>, &[Strategy], bool, &mut Report) -> Result<()>;

/// Worker threads that borrow from the stack of the function that owns this (for `'env`), all
/// joined when it is dropped, on return or unwind: `std::thread::scope` without its thread
/// handle for the calling thread (see [`Relay`]).
///
/// Sound only while it is dropped before `'env` ends: it lives in one local of
/// [`run_workers`] (lent to [`spawn_ranges`] by `&mut`) or of `tree::pool::run`, is never
/// moved out, leaked or forgotten.
pub(crate) struct Workers<'env> {
    handles: Vec<JoinHandle<()>>,
    env: PhantomData<&'env ()>,
}

impl<'env> Workers<'env> {
    pub(crate) fn new() -> Workers<'env> {
        Workers {
            handles: Vec::new(),
            env: PhantomData,
        }
    }

    /// Starts `f` on a thread named `name`.
    pub(crate) fn spawn(
        &mut self,
        name: String,
        f: impl FnOnce() + Send + 'env,
    ) -> std::io::Result<()> {
        let builder = std::thread::Builder::new().name(name);
        // SAFETY: the thread may borrow what lives for 'env, and is joined before 'env ends:
        // `Drop` joins every handle, and the value is dropped before 'env ends (the type's
        // invariant).
        let handle = unsafe { builder.spawn_unchecked(f) }?;
        self.handles.push(handle);
        Ok(())
    }
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        for handle in self.handles.drain(..) {
            // A worker's panic was caught and relayed; nothing is left to see here.
            let _ = handle.join();
        }
    }
}

/// Runs the transfer on `parallelism` threads when it qualifies, each running `run_list` on its
/// range, giving its result; `None` when it runs on one thread (the caller then runs
/// `run_list` itself).
pub(crate) fn run(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    (list, direct): (&[Strategy], bool),
    run_list: RunList,
    report: &mut Report,
) -> Option<Result<()>> {
    match split(src, dst, opts) {
        Ok(None) => None,
        Ok(Some(split)) => Some(run_ranges(
            src,
            dst,
            opts,
            (list, direct, run_list),
            &split,
            report,
        )),
        Err(e) => Some(Err(e)),
    }
}

/// The ranges, or `None` for one thread: `parallelism` above 1, regular file → regular file,
/// not `O_APPEND`, no holes to keep, at least `2 × MIN_RANGE` bytes to move. No syscall unless
/// it splits (then one `lseek` per `None` offset).
fn split(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<Option<Split>> {
    let n = u64::from(opts.parallelism.unwrap_or(1));
    if n <= 1 || src.kind != Kind::File || dst.kind != Kind::File || dst.append() {
        return Ok(None);
    }
    if opts.sparse && src.blocks.saturating_mul(512) < src.size {
        return Ok(None);
    }
    let want = opts.len.unwrap_or(u64::MAX);
    // At most this much is there to move from the fd's position (not asked for yet: a syscall).
    if src
        .size
        .saturating_sub(opts.src_offset.unwrap_or(0))
        .min(want)
        < 2 * MIN_RANGE
    {
        return Ok(None);
    }
    let src_start = match opts.src_offset {
        Some(o) => o,
        None => strategy::position(src)?,
    };
    let total = src.size.saturating_sub(src_start).min(want);
    if total < 2 * MIN_RANGE {
        return Ok(None);
    }
    let dst_start = match opts.dst_offset {
        Some(o) => o,
        None => strategy::position(dst)?,
    };
    let threads = n.min(total / MIN_RANGE);
    // At least MIN_RANGE, a multiple of ALIGN (MIN_RANGE is one).
    let piece = total / threads / ALIGN * ALIGN;
    let ranges = (0..threads)
        .map(|i| {
            let start = i * piece;
            // The last range takes the rest, as the single-threaded tail would: to `len`, or to
            // end of file following a source that grows.
            let len = if i + 1 == threads {
                opts.len.map(|l| l - start)
            } else {
                Some(piece)
            };
            (start, len)
        })
        .collect();
    Ok(Some(Split {
        src_start,
        dst_start,
        ranges,
    }))
}

/// Sets the flag when dropped: the workers stop at their next chunk if the calling thread
/// unwinds (a panicking progress callback) while they run.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Why a parallel transfer stopped short, in the order the calling thread learnt of it.
enum Cause {
    /// The caller's progress callback returned `false`.
    Progress,
    /// This range failed (an error of its own, the cancel flag included).
    Range(usize),
    /// A worker could not be started.
    Spawn(Error),
}

fn run_ranges(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    (list, direct, run_list): (&[Strategy], bool, RunList),
    split: &Split,
    report: &mut Report,
) -> Result<()> {
    let shared = Shared {
        total: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        relay: Relay::default(),
        wants_progress: opts.progress.is_some(),
        run_list,
    };
    let ended = run_workers(src, dst, opts, (list, direct), split, &shared);
    conclude(src, dst, opts, list, split, ended, report)
}

/// Starts one worker per range and relays their progress to the caller's callback until every
/// worker started has finished; then gives each range's outcome (`None`: never started) and why
/// the transfer stopped short, if it did. A worker's panic is resumed here, once all are joined.
fn run_workers(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    (list, direct): (&[Strategy], bool),
    split: &Split,
    shared: &Shared,
) -> (Vec<Option<Outcome>>, Option<Cause>) {
    let mut outcomes: Vec<Option<Outcome>> = (0..split.ranges.len()).map(|_| None).collect();
    let mut cause: Option<Cause> = None;
    let panicked = {
        // Declared after what the workers borrow, so dropped (joining them) before it; the
        // stop flag is set first when this thread unwinds (a panicking progress callback), so
        // they stop at their next chunk.
        let mut workers = Workers::new();
        let _stop = StopOnDrop(&shared.stop);
        let (started, refused) =
            spawn_ranges(&mut workers, src, dst, opts, (list, direct), split, shared);
        if let Some(e) = refused {
            cause = Some(Cause::Spawn(e));
        }
        watch(shared, opts, started, &mut outcomes, &mut cause)
    };
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
    (outcomes, cause)
}

/// Starts a worker on each range, in order, until one cannot be started (then the others are
/// told to stop, and the error is given back); returns how many were started.
fn spawn_ranges<'env>(
    workers: &mut Workers<'env>,
    src: &Endpoint<'env>,
    dst: &Endpoint<'env>,
    opts: &Options<'env>,
    (list, direct): (&'env [Strategy], bool),
    split: &Split,
    shared: &'env Shared,
) -> (usize, Option<Error>) {
    let n = split.ranges.len();
    for (i, &(start, len)) in split.ranges.iter().enumerate() {
        let (src, dst) = (src.clone(), dst.clone());
        let range_opts = Options {
            src_offset: Some(split.src_start + start),
            dst_offset: Some(split.dst_start + start),
            len,
            // The worker's own hook relays to the caller's callback, on this thread.
            progress: None,
            parallelism: None,
            ..opts.clone()
        };
        let spawned = workers.spawn(format!("zcopy-range-{i}"), move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                worker(&src, &dst, &range_opts, list, direct, shared)
            }));
            shared.relay.done(i, outcome);
        });
        if let Err(e) = spawned {
            shared.stop.store(true, Ordering::Relaxed);
            let e = Error::os(e, format_args!("cannot start thread {} of {n}", i + 1));
            return (i, Some(e));
        }
    }
    (n, None)
}

/// Waits for the `started` workers' news until all have finished: calls the caller's progress
/// callback with the total moved when it grew (stopping every worker if it says stop), files
/// each finished range's outcome, and stops the others at the first range that fails. Gives
/// back the payload of the first worker that panicked.
fn watch(
    shared: &Shared,
    opts: &Options<'_>,
    started: usize,
    outcomes: &mut [Option<Outcome>],
    cause: &mut Option<Cause>,
) -> Option<Box<dyn std::any::Any + Send>> {
    let stop = &shared.stop;
    let mut panicked = None;
    let mut reported = 0;
    let mut finished = 0;
    while finished < started {
        let news = shared.relay.wait();
        if let (true, Some(progress)) = (news.moved, opts.progress) {
            let now = shared.total.load(Ordering::Relaxed);
            if now > reported && !matches!(cause, Some(Cause::Progress)) {
                reported = now;
                if !progress(now) {
                    stop.store(true, Ordering::Relaxed);
                    cause.get_or_insert(Cause::Progress);
                }
            }
        }
        for (i, outcome) in news.done {
            finished += 1;
            match outcome {
                Ok(outcome) => {
                    // A worker told to stop says Cancelled: not a reason of its own.
                    if matches!(&outcome, (Err(e), _, halted)
                        if !(*halted && e.kind() == ErrorKind::Cancelled))
                    {
                        stop.store(true, Ordering::Relaxed);
                        cause.get_or_insert(Cause::Range(i));
                    }
                    outcomes[i] = Some(outcome);
                }
                Err(payload) => {
                    stop.store(true, Ordering::Relaxed);
                    panicked.get_or_insert(payload);
                }
            }
        }
    }
    panicked
}

/// Adds up what the ranges did into `report`, leaves the caller's fds where a single-threaded
/// transfer of the complete prefix would have, and gives the transfer's result.
fn conclude(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    list: &[Strategy],
    split: &Split,
    (outcomes, cause): (Vec<Option<Outcome>>, Option<Cause>),
    report: &mut Report,
) -> Result<()> {
    let n = split.ranges.len();
    // Every range finished: a stop asked meanwhile is moot (as the single-threaded transfer's
    // last progress call is).
    let complete = outcomes.iter().all(|o| matches!(o, Some((Ok(()), _, _))));
    let prefix = complete_prefix(split, &outcomes);
    let moved: u64 = outcomes.iter().flatten().map(|(_, p, _)| p.bytes).sum();
    let mut errors = Vec::with_capacity(n);
    let mut parts = Vec::with_capacity(n);
    for outcome in outcomes {
        // Indexed by range, as Cause::Range is.
        errors.push(match outcome {
            Some((result, part, _)) => {
                parts.push(part);
                result.err()
            }
            None => None,
        });
    }
    merge(list, &parts, report);
    report.bytes = prefix;
    let settled = settle(src, opts.src_offset, split.src_start + prefix)
        .and_then(|()| settle(dst, opts.dst_offset, split.dst_start + prefix));
    if complete {
        return settled;
    }
    settled?;
    let after =
        format!("after {prefix} bytes (the complete prefix; {moved} moved by {n} threads in all)");
    Err(stop_error(cause, errors, &after))
}

/// The complete prefix: the ranges finished in full, then what the first unfinished one moved
/// (each worker writes its range in order from its start).
fn complete_prefix(split: &Split, outcomes: &[Option<Outcome>]) -> u64 {
    let mut prefix = 0;
    for (&(_, len), outcome) in split.ranges.iter().zip(outcomes) {
        let Some((result, part, _)) = outcome else {
            break;
        };
        prefix += part.bytes;
        if result.is_err() || len.is_some_and(|l| part.bytes < l) {
            break;
        }
    }
    prefix
}

/// The error of a parallel transfer that stopped short, from why it stopped and each range's
/// error (indexed by range); `after` says how far it got.
fn stop_error(cause: Option<Cause>, mut errors: Vec<Option<Error>>, after: &str) -> Error {
    match cause {
        Some(Cause::Progress) => {
            Error::cancelled(format!("transfer stopped by the progress callback {after}"))
        }
        Some(Cause::Spawn(e)) => e,
        Some(Cause::Range(i)) => match errors.get_mut(i).and_then(Option::take) {
            Some(e) if e.kind() == ErrorKind::Cancelled => {
                Error::cancelled(format!("transfer cancelled by the cancel flag {after}"))
            }
            Some(e) => e,
            None => Error::cancelled(format!("transfer stopped {after}")),
        },
        // A range stopped without a reason of its own: only a stop asked can do that.
        None => errors
            .into_iter()
            .flatten()
            .next()
            .unwrap_or_else(|| Error::cancelled(format!("transfer stopped {after}"))),
    }
}

/// One worker: moves its range with the single-threaded planner, on its own thread, and
/// measures what its thread spent (syscall counts, the CPU clock and `getrusage` are per
/// thread, so each worker reads its own).
fn worker(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    list: &[Strategy],
    direct: bool,
    shared: &Shared,
) -> Outcome {
    let meter = Meter::start();
    let last = AtomicU64::new(0);
    let halted = AtomicBool::new(false);
    // The job's progress hook: adds this range's new bytes to the total, wakes the calling
    // thread for the caller's callback, and stops the range once told to.
    let relay = |moved: u64| {
        let before = last.swap(moved, Ordering::Relaxed);
        shared
            .total
            .fetch_add(moved.saturating_sub(before), Ordering::Relaxed);
        if shared.stop.load(Ordering::Relaxed) {
            halted.store(true, Ordering::Relaxed);
            return false;
        }
        if shared.wants_progress {
            shared.relay.moved();
        }
        true
    };
    let opts = Options {
        progress: Some(&relay),
        ..opts.clone()
    };
    let mut part = Report::default();
    let result = (shared.run_list)(src, dst, &opts, list, direct, &mut part);
    meter.finish(&mut part);
    (result, part, halted.load(Ordering::Relaxed))
}

/// Sets an fd's position after the transfer, when its offset was `None`.
fn settle(ep: &Endpoint<'_>, offset: Option<u64>, at: u64) -> Result<()> {
    match offset {
        Some(_) => Ok(()),
        None => strategy::seek_to(ep, at),
    }
}

/// Adds the workers' reports to the transfer's: counters summed; `strategy` the furthest in
/// `list` any range reached, `fallbacks` each technique before it that a range fell back from
/// (the first range's reason).
fn merge(list: &[Strategy], parts: &[Report], report: &mut Report) {
    for p in parts {
        report.syscalls += p.syscalls;
        report.user_cpu_ns += p.user_cpu_ns;
        report.sys_cpu_ns += p.sys_cpu_ns;
        report.voluntary_ctx_switches += p.voluntary_ctx_switches;
        report.involuntary_ctx_switches += p.involuntary_ctx_switches;
        report.cpu_copies_bytes += p.cpu_copies_bytes;
        report.dma_copies_bytes += p.dma_copies_bytes;
        report.zerocopy_sends += p.zerocopy_sends;
        report.zerocopy_copied += p.zerocopy_copied;
    }
    let rank = |s: Strategy| list.iter().position(|&x| x == s);
    if let Some(s) = parts
        .iter()
        .map(|p| p.strategy)
        .filter(|&s| rank(s).is_some())
        .max_by_key(|&s| rank(s))
    {
        report.strategy = s;
    }
    let used = rank(report.strategy).unwrap_or(0);
    report.fallbacks = list[..used]
        .iter()
        .filter_map(|&s| {
            parts
                .iter()
                .flat_map(|p| &p.fallbacks)
                .find(|f| f.strategy == s)
                .cloned()
        })
        .collect::<Vec<Fallback>>();
}
