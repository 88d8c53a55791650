//! # zcopy-py
//!
//! The Python face of zcopy: the extension module `zcopy._zcopy`, re-exported by the `zcopy`
//! package (`py/python/zcopy`). It translates arguments, types and errors and nothing else; the
//! engine (crate `zcopy`) does the work.
//!
//! ```python
//! import zcopy
//!
//! with open("big.iso", "rb") as src, open("copy.iso", "wb") as dst:
//!     report = zcopy.transfer(src, dst)
//! print(report.strategy, report.bytes, report.syscalls)
//! ```
//!
//! - `args`: fds, file objects and paths; keyword options.
//! - `watch`: Ctrl-C, cancel, progress and the tqdm bar while the engine runs without the GIL.
//! - `errors`: the exception classes and the one conversion from `zcopy::Error`.
//! - `report`: `Report`, `Support` and `Residency`.
//! - `cache`: the page-cache functions (`lock` and `Locked`, `files` and `Files` too).
//! - `choice`: `auto_choice`, what Auto would run first for a pair and why.
//! - `log`: `Log`, the Kafka-style segment log.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::PyDict;

mod args;
mod cache;
mod choice;
mod errors;
#[cfg(feature = "log")]
mod log;
mod prepared;
mod report;
#[cfg(feature = "serve")]
mod serve;
mod tree;
mod watch;

use args::{End, Opts, ProgressArg};
use errors::{CancelledError, EngineError, UnsupportedError, ZcopyError};
use report::{Report, Residency, Support};
use watch::Watch;

/// Runs `f`, turning a panic into a `ZcopyError` (never pyo3's `PanicException`).
pub(crate) fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(errors::panicked(py, &*payload, 0)),
    }
}

/// Runs one engine call without the GIL, with the face's progress hook; gives the bytes moved
/// and the Report or the exception to raise.
pub(crate) fn run_engine<F>(
    py: Python<'_>,
    opts: &Opts,
    total: Option<u64>,
    call: F,
) -> PyResult<(u64, PyResult<Report>)>
where
    F: for<'a> FnOnce(&zcopy::Options<'a>) -> zcopy::Result<zcopy::Report> + Send,
{
    run_engine_within(py, opts, (total, None), call)
}

/// [`run_engine`], for a call that moves about `bound` bytes (when given), not an exact
/// `length`: the log's sends (a budget, exceeded by a first record bigger than it). A bound of
/// at most 1 MiB on the main thread spares the ticks, as a `length` does (see `watch`).
pub(crate) fn run_engine_within<F>(
    py: Python<'_>,
    opts: &Opts,
    (total, bound): (Option<u64>, Option<u64>),
    call: F,
) -> PyResult<(u64, PyResult<Report>)>
where
    F: for<'a> FnOnce(&zcopy::Options<'a>) -> zcopy::Result<zcopy::Report> + Send,
{
    let mut watch = Watch::new(py, opts, total)?;
    if let Some(b) = bound {
        watch.within(b);
    }
    let stops = watch.stops(py)?;
    let watch = watch;
    let hook = |moved: u64| watch.tick(moved);
    let mut engine_opts = opts.engine(&hook, &watch.flag);
    match stops {
        watch::Stops::Nothing => {
            // Nothing to ask between chunks or during waits: the engine arms no stop hook, and
            // so cuts no wait into ticks (for a socket: a getsockopt and two setsockopt a call).
            engine_opts.progress = None;
            engine_opts.cancel = None;
        }
        watch::Stops::Signals => {
            // Ctrl-C alone: where SIGINT interrupts this thread's waits (Python's handler, no
            // SA_RESTART, not blocked), the engine cuts none into ticks (see WaitTicks).
            engine_opts.wait_ticks = zcopy::WaitTicks::UnlessInterruptedBy(libc::SIGINT);
        }
        watch::Stops::Hooks | watch::Stops::SignalsTicked => {}
    }
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| call(&engine_opts))));
    let (moved, result) = match outcome {
        Ok(Ok(r)) => (r.bytes, Ok(Report::from_engine(&r))),
        Ok(Err(error)) => {
            let moved = error.bytes_moved();
            let err = PyErr::from(EngineError { error });
            (moved, Err(err))
        }
        Err(payload) => {
            let moved = watch.last.load(std::sync::atomic::Ordering::Relaxed);
            (moved, Err(errors::panicked(py, &*payload, moved)))
        }
    };
    // An exception Python code raised meanwhile (Ctrl-C, the callback's) is the one to raise.
    match watch.finish(py, moved) {
        Ok(()) => Ok((moved, result)),
        Err(e) => Ok((moved, Err(e))),
    }
}

/// Whether the transfer would start moving bytes: a technique named without fallback that
/// cannot serve the pair refuses before a byte moves, and then a buffered reader's head must not
/// go out either.
fn may_start(opts: &Opts, src: &End<'_>, dst: &End<'_>) -> bool {
    if opts.fallback || opts.strategy == zcopy::Strategy::Auto {
        return true;
    }
    zcopy::probe_named(&src.fd, src.label(), &dst.fd, dst.label()).is_ok_and(|list| {
        list.iter()
            .any(|s| s.strategy == opts.strategy && s.supported)
    })
}

/// The bar's total: what is left of a regular-file source, capped by `length`.
fn bar_total(opts: &Opts, left: impl FnOnce() -> Option<u64>) -> Option<u64> {
    if !matches!(opts.progress, ProgressArg::Bar) {
        return None;
    }
    match (opts.length, left()) {
        (Some(l), Some(r)) => Some(l.min(r)),
        (l, r) => l.or(r),
    }
}

/// Move bytes from `src` to `dst`, by the best technique for the pair or the one named, and
/// report what it cost.
///
/// `src` and `dst` are each an int file descriptor or an object with `fileno()`: a file (binary
/// or text), a socket, a pipe end. Paths are not taken here (use `copy_file`). zcopy works on
/// duplicates of the fds for the duration of the call and never closes the caller's.
///
/// File objects are honoured: a writer's buffered bytes are flushed first; a seekable reader
/// that has consumed 10 bytes transfers from byte 10, and afterwards its position (`tell()`)
/// has advanced by exactly the bytes moved. So does a binary reader of a pipe or socket (from
/// `open(fd, "rb")` or `makefile("rb")`, which cannot seek): the bytes it has read ahead go out
/// first, then what its fd holds, and the object gives up those moved, so its next read returns
/// what follows them (with an empty buffer, the object reads its fd once first, as any read of
/// it would). A text-mode reader of a pipe, socket or terminal (`sys.stdin` in a pipeline) may
/// hold text it decoded ahead, which cannot be sent as bytes: it raises TypeError (pass its
/// `.buffer`). Objects without a real fd (`io.BytesIO`) raise TypeError.
///
/// Options (keyword arguments):
///
/// - `strategy` (str, default `"auto"`): a name from `strategies()`.
/// - `src_offset`, `dst_offset` (int or None): where to read / write. None (the default) uses
///   the position and advances it by the bytes moved; an int leaves the position alone.
/// - `length` (int or None): bytes to move; None runs to end of file, 0 moves nothing.
/// - `chunk_size` (int or None): bytes per syscall; None is each technique's own.
/// - `fallback` (bool, default True): False means exactly `strategy` or UnsupportedError.
/// - `progress`: a callable given the bytes moved so far after each chunk, and every 100 ms
///   while the transfer waits (a FIFO's open, an idle source, a full pipe or a socket whose
///   peer does not read); returning False stops the transfer with CancelledError, also in such
///   a wait; any other value goes on. Or True for a tqdm bar (`tqdm.auto`). Without a
///   `chunk_size`, a chunk is at most 32 MiB, so it is called at least every 100 ms of
///   copying. A stop asked after the last byte moved does not fail the transfer.
/// - `cancel`: a `threading.Event` (or any object with `is_set()`); once set, the transfer
///   stops within a chunk, or within 100 ms of any wait, with CancelledError, unless every
///   byte had moved already. Ctrl-C ends any wait likewise, with KeyboardInterrupt.
/// - `cache` (str, default `"keep"`): `"drop_after"` evicts from the page cache what the
///   transfer brought in; `"noreuse"` advises the kernel the pages are read once;
///   `"dontcache"` reads and writes files uncached (RWF_DONTCACHE, Linux 6.14+: pages brought
///   in are dropped once used, and the call returns once its last writes completed, so none
///   is left cached; where refused, "drop_after" is used and the Report's `fallbacks` say so).
/// - `sync` (str, default `"none"`): `"data"` (fdatasync) or `"full"` (fsync) the destination
///   before returning.
/// - `direct_threshold` (int or None): bytes from which auto moves a file with O_DIRECT
///   (nginx's `directio`); None: never.
/// - `sparse` (bool, default True): keep the holes of a sparse source file.
/// - `queue_depth` (int or None): requests io_uring keeps in flight (1 to 1024; None: 4).
/// - `parallelism` (int or None): threads that move a file -> file transfer of at least
///   16 MiB at once, each a contiguous range of at least 8 MiB (at most 64; None, 0 and 1:
///   one thread, the default). Other pairs, O_APPEND destinations and sparse sources run on
///   one thread. `progress` is still called on the calling thread; on an error (Ctrl-C
///   included) `.bytes_moved` is the contiguous prefix from the start that is completely
///   written, and bytes past it may have been written too. Measured on 2 vCPUs (ext4, 16 and
///   256 MiB): 2 threads ran at 0.97-0.98x one thread hot, 0.79-0.96x cold, so auto never
///   uses it by itself.
///
/// The call runs without the GIL; Ctrl-C stops it within one chunk with KeyboardInterrupt,
/// whose `.bytes_moved` tells how far it got. On the main thread with no `progress` or
/// `cancel`, for a `length` of at most 1 MiB, where SIGINT interrupts the call's waits (Python's own handler is installed
/// without SA_RESTART; SIGINT not blocked in the thread: one `sigaction` a call tells), the
/// signal itself ends a wait on a stalled pipe or socket; otherwise (after
/// `signal.siginterrupt(signal.SIGINT, False)`, with SIGINT blocked by
/// `signal.pthread_sigmask`, or for a longer call or one to end of file, where a look at the
/// signals after every chunk would take the GIL each 128 KiB) waits are cut into 100 ms ticks that look for it (a socket then
/// costs a `getsockopt` and two `setsockopt(SO_SNDTIMEO)` a call). A Ctrl-C in the instant
/// between the last look and the start of a wait is seen at the next one, as with Python's own
/// blocking calls.
///
/// Raises ZcopyError (an OSError; OS failures are also the matching built-in subclass, e.g.
/// BrokenPipeError, BlockingIOError for a non-blocking fd that would block, IsADirectoryError
/// for a directory's fd), UnsupportedError (the technique named with fallback=False cannot
/// serve the pair: e.g. one that trusts the size of a procfs or sysfs file),
/// CancelledError, ValueError for bad arguments (the engine's are also ZcopyError), TypeError.
/// Every ZcopyError has `.bytes_moved`: the destination holds exactly that many bytes.
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
fn transfer(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Report> {
    guarded(py, || {
        let mut opts = Opts::parse("transfer", options)?;
        let src = End::resolve(src, "src", "transfer")?;
        let dst = End::resolve(dst, "dst", "transfer")?;
        let start = src.src_start(&mut opts.src_offset)?;
        let head = if src.buffered_reader.is_some()
            && opts.src_offset.is_none()
            && opts.length != Some(0)
            && may_start(&opts, &src, &dst)
        {
            src.read_ahead(opts.length)?
        } else {
            None
        };
        let total = bar_total(&opts, || src.remaining(opts.src_offset));
        let (s, d) = (&src.fd, &dst.fd);
        let (sl, dl) = (src.label(), dst.label());
        let (moved, result) = run_engine(py, &opts, total, |o| match &head {
            Some(head) => zcopy::transfer_buffered_named(s, sl, head, d, dl, o),
            None => zcopy::transfer_named(s, sl, d, dl, o),
        })?;
        // The bytes read ahead that went out leave the reader's buffer; the rest stay.
        let sent = head.as_ref().map_or(0, |h| moved.min(h.len() as u64));
        let result = match src.consume_head(sent) {
            Ok(()) => result,
            Err(e) => Err(errors::with_bytes_moved(py, e, moved)),
        };
        let settled = src.settle_src(start, moved).and_then(|()| dst.settle_dst());
        let report = result?;
        settled?;
        Ok(report)
    })
}

/// Copy the file at path `src` to path `dst`, creating or truncating `dst`; report what it
/// cost. A new `dst` gets the source's permission bits minus the umask, without setuid, setgid
/// and sticky (as `cp`); an existing `dst` keeps its mode (as `shutil.copyfile`).
///
/// `src` and `dst` are paths (str, bytes or os.PathLike). The options are `transfer`'s;
/// offsets count from the start of each file. Errors are the built-ins open() and shutil
/// raise, each also a ZcopyError with `.errno` set: FileNotFoundError, NotADirectoryError,
/// PermissionError, IsADirectoryError (a directory as either path). Copying a file onto itself
/// is a ValueError (nothing is truncated), and so is a `src` that is a named pipe, socket or
/// device, or a `dst` that is a named pipe or socket (refused before opening, as
/// shutil.copyfile refuses named pipes): open those yourself and pass the file objects or fds
/// to `transfer`. Runs without the GIL; Ctrl-C stops it.
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
fn copy_file(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Report> {
    guarded(py, || {
        let opts = Opts::parse("copy_file", options)?;
        let src = args::path(src, "src", "copy_file")?;
        let dst = args::path(dst, "dst", "copy_file")?;
        let total = bar_total(&opts, || {
            let size = std::fs::metadata(&src).ok()?.len();
            Some(size.saturating_sub(opts.src_offset.unwrap_or(0)))
        });
        let (src, dst) = (&src, &dst);
        let (_, result) = run_engine(py, &opts, total, |o| zcopy::copy_file(src, dst, o))?;
        result
    })
}

/// Which techniques can serve the pair `src` -> `dst`, and for the others why not, without
/// moving a byte: one `Support(strategy, supported, reason)` per technique (auto excluded), in
/// `strategies()` order. `src` and `dst` are taken as by `transfer`.
///
/// A technique marked supported can still refuse at run time, which auto handles by falling
/// back.
#[pyfunction]
fn probe(py: Python<'_>, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<Vec<Support>> {
    guarded(py, || {
        let src = End::resolve(src, "src", "probe")?;
        let dst = End::resolve(dst, "dst", "probe")?;
        let (s, d) = (&src.fd, &dst.fd);
        let (sl, dl) = (src.label(), dst.label());
        let outcome =
            py.detach(|| catch_unwind(AssertUnwindSafe(|| zcopy::probe_named(s, sl, d, dl))));
        match outcome {
            Ok(Ok(list)) => Ok(list.iter().map(Support::from_engine).collect()),
            Ok(Err(error)) => Err(EngineError::from(error).into()),
            Err(payload) => Err(errors::panicked(py, &*payload, 0)),
        }
    })
}

/// The names `strategy=` accepts, "auto" first, then every technique this build of the engine
/// has, in the order `probe` lists them.
#[pyfunction]
fn strategies() -> Vec<&'static str> {
    zcopy::Strategy::ALL.iter().map(|s| s.name()).collect()
}

/// Test-only: makes the next transfer on this thread panic inside the engine once it has moved
/// `after_bytes` bytes, so the tests can check the panic comes back as a `ZcopyError`. Not part
/// of the API; only in builds with the `testing` feature.
#[cfg(feature = "testing")]
#[pyfunction]
fn _inject_panic(after_bytes: u64) {
    zcopy::testing::inject_panic(after_bytes);
}

/// Test-only: makes the first worker thread of the next server started panic as it starts, so
/// the tests can check `Server.close()` raises a `ZcopyError`. Not part of the API; only in
/// builds with the `testing` feature.
#[cfg(all(feature = "testing", feature = "serve"))]
#[pyfunction]
fn _inject_worker_panic() {
    zcopy_serve::testing::inject_worker_panic();
}

/// The extension module behind the `zcopy` package.
#[pymodule]
fn _zcopy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", zcopy::VERSION)?;
    m.add_function(wrap_pyfunction!(transfer, m)?)?;
    m.add_function(wrap_pyfunction!(copy_file, m)?)?;
    m.add_function(wrap_pyfunction!(tree::copytree, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(prepared::prepare, m)?)?;
    m.add_function(wrap_pyfunction!(prepared::prepare_to, m)?)?;
    m.add_function(wrap_pyfunction!(strategies, m)?)?;
    #[cfg(feature = "testing")]
    m.add_function(wrap_pyfunction!(_inject_panic, m)?)?;
    #[cfg(all(feature = "testing", feature = "serve"))]
    m.add_function(wrap_pyfunction!(_inject_worker_panic, m)?)?;
    m.add_function(wrap_pyfunction!(cache::residency, m)?)?;
    m.add_function(wrap_pyfunction!(cache::advise, m)?)?;
    m.add_function(wrap_pyfunction!(cache::readahead, m)?)?;
    m.add_function(wrap_pyfunction!(cache::evict, m)?)?;
    m.add_function(wrap_pyfunction!(cache::warm, m)?)?;
    m.add_function(wrap_pyfunction!(cache::lock, m)?)?;
    m.add_function(wrap_pyfunction!(cache::lock_limit, m)?)?;
    m.add_function(wrap_pyfunction!(cache::files, m)?)?;
    m.add_function(wrap_pyfunction!(choice::auto_choice, m)?)?;
    m.add_class::<Report>()?;
    m.add_class::<tree::TreeReport>()?;
    m.add_class::<prepared::Prepared>()?;
    m.add_class::<Support>()?;
    m.add_class::<Residency>()?;
    m.add_class::<cache::Locked>()?;
    m.add_class::<cache::Files>()?;
    m.add_class::<choice::AutoChoice>()?;
    #[cfg(feature = "log")]
    m.add_class::<log::Log>()?;
    #[cfg(feature = "serve")]
    m.add_class::<serve::Server>()?;
    m.add("ZcopyError", py.get_type::<ZcopyError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    for (name, cls) in errors::exported(py)? {
        m.add(name, cls)?;
    }
    Ok(())
}
