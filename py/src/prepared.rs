//! `zcopy.prepare(src, dst, **options)` and `zcopy.prepare_to(dst, **options)`: a transfer
//! prepared once and run many times.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{count, End, Kept, Opts, ProgressArg};
use crate::report::Report;
use crate::{bar_total, guarded, run_engine};

/// A transfer between two files, sockets or pipes, prepared once by `zcopy.prepare()` and
/// run many times by `transfer()`: both ends are classified and the options checked once, so
/// a call costs the technique's own syscalls, not a new classification (plus one `fstat` of a
/// file source where a call needs its size now: to end of file, or past the size last seen;
/// not for a `length` and a `src_offset` within it, where the technique stops at the file's
/// end by itself). Use it as a context manager, or call `close()`; it holds duplicates of the
/// caller's fds until then (the caller's own fds are never closed).
#[pyclass(module = "zcopy", name = "Prepared")]
pub(crate) struct Prepared {
    state: Option<State>,
}

/// What an open Prepared holds. Fields drop in order: the engine's prepared transfer before
/// the kept duplicates whose fds it borrows.
struct State {
    engine: Option<zcopy::Prepared<'static, 'static>>,
    kept: Option<(Kept, Kept)>,
    /// The destination alone, for a transfer made by `prepare_to` (`kept` is then `None`).
    to_dst: Option<Kept>,
    /// The caller's objects: kept alive, and given to `zcopy.transfer` by the path that serves
    /// a buffered reader that cannot seek (`kept` is then `None`).
    src: Py<PyAny>,
    dst: Py<PyAny>,
    /// The options given to prepare(), as `transfer` parses them.
    opts: Opts,
    /// The same, as given, for that path.
    kwargs: Option<Py<PyDict>>,
}

/// Prepare a transfer from `src` to `dst` with `**options` (those of `transfer`, except
/// `length`, `src_offset` and `dst_offset`, which each call of the returned object's
/// `transfer()` gives).
///
/// `src` and `dst` are as for `transfer`: int fds or objects with `fileno()`. zcopy keeps
/// duplicates of their fds until `close()` (or the end of a `with` block), so the bytes keep
/// going to the files they named even if the caller closes its own fds meanwhile. A buffered
/// reader that cannot seek (a pipe wrapped by `open()`) is served each call as `transfer`
/// serves it (its read-ahead bytes first), without the speed-up.
///
/// Ctrl-C stops a call as it stops `transfer`. Prepared on the main thread without `progress`
/// or `cancel`, it reads once, here, whether SIGINT interrupts this thread's waits (its handler
/// installed without SA_RESTART, SIGINT not blocked), and its calls on the main thread of a
/// `length` of at most 1 MiB cut no wait into ticks when it does: a program that changes SIGINT's handler or flags
/// (`signal.signal`, `signal.siginterrupt`) or blocks it afterwards prepares again.
///
/// Calls that use mmap_write (Auto's choice for 1 MiB and more of a file to a socket) keep
/// their last window of the file mapped until `close()`: a call over bytes it covers makes no
/// `mmap`, no `munmap` and no page faults for pages an earlier call touched. Until then the
/// file stays open through it and its mapped pages resist `evict()`.
///
/// Raises as `transfer` does for bad fds or options (TypeError for `length`, `src_offset` or
/// `dst_offset` here).
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
pub(crate) fn prepare(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Prepared> {
    guarded(py, || {
        no_per_call_options("prepare", options)?;
        let opts = Opts::parse("prepare", options)?;
        let s = End::resolve(src, "src", "prepare")?.keep(src)?;
        let d = End::resolve(dst, "dst", "prepare")?.keep(dst)?;
        let kept = match (s, d) {
            (Some(s), Some(d)) => Some((s, d)),
            _ => None,
        };
        let engine = match &kept {
            Some((s, d)) => {
                // SAFETY: the fds and labels are the kept duplicates' and their labels' (whose
                // text lives on the heap, where moving the `Kept` leaves it), owned by the same
                // State and dropped after this prepared transfer (field order), which never
                // outlives them.
                let (sf, df, sl, dl) = unsafe {
                    (
                        BorrowedFd::borrow_raw(s.fd.as_raw_fd()),
                        BorrowedFd::borrow_raw(d.fd.as_raw_fd()),
                        &*(s.label.as_path() as *const Path),
                        &*(d.label.as_path() as *const Path),
                    )
                };
                let p = zcopy::Prepared::from_fds_named(sf, sl, df, dl, &base(py, &opts)?)
                    .map_err(crate::errors::EngineError::from)?;
                Some(p)
            }
            None => None,
        };
        Ok(Prepared {
            state: Some(State {
                engine,
                kept,
                to_dst: None,
                src: src.clone().unbind(),
                dst: dst.clone().unbind(),
                opts,
                kwargs: options.map(|k| k.clone().unbind()),
            }),
        })
    })
}

/// The engine's options of a prepared transfer (its callbacks are given per call). Prepared on
/// the main thread with Ctrl-C as the only stop (no callback, bar or event), it reads once
/// whether SIGINT interrupts this thread's waits, so its calls need not cut theirs into ticks
/// (`zcopy::WaitTicks::UnlessInterruptedBy`; a host that changes SIGINT's handler or flags, or
/// blocks it, afterwards prepares again).
fn base(py: Python<'_>, opts: &Opts) -> PyResult<zcopy::Options<'static>> {
    let signals_only = matches!(opts.progress, ProgressArg::Off)
        && opts.cancel.is_none()
        && crate::watch::on_main_thread(py)?;
    let wait_ticks = if signals_only {
        zcopy::WaitTicks::UnlessInterruptedBy(libc::SIGINT)
    } else {
        zcopy::WaitTicks::On
    };
    Ok(zcopy::Options {
        wait_ticks,
        strategy: opts.strategy,
        chunk_size: opts.chunk_size,
        fallback: opts.fallback,
        cache: opts.cache,
        sync: opts.sync,
        direct_threshold: opts.direct_threshold,
        sparse: opts.sparse,
        queue_depth: opts.queue_depth,
        parallelism: opts.parallelism,
        ..zcopy::Options::default()
    })
}

/// A call's `length`, `src_offset` and `dst_offset`, each `None` or a count.
fn per_call(
    length: Option<&Bound<'_, PyAny>>,
    src_offset: Option<&Bound<'_, PyAny>>,
    dst_offset: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<u64>, Option<u64>, Option<u64>)> {
    let arg = |v: Option<&Bound<'_, PyAny>>, name: &str| match v {
        Some(v) => count(v, name),
        None => Ok(None),
    };
    Ok((
        arg(length, "length")?,
        arg(src_offset, "src_offset")?,
        arg(dst_offset, "dst_offset")?,
    ))
}

/// Refuses `length`, `src_offset` and `dst_offset` at preparation: each call gives them.
fn no_per_call_options(func: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    if let Some(kw) = options {
        for key in ["length", "src_offset", "dst_offset"] {
            if kw.contains(key)? {
                return Err(PyTypeError::new_err(format!(
                    "{func}() takes no {key}: give it to each call, p.transfer({key}=...)"
                )));
            }
        }
    }
    Ok(())
}

/// Prepare a transfer to `dst` alone, each call naming its source:
/// `p.transfer_from(src, length=None, src_offset=None, dst_offset=None)`. The destination is
/// classified once; each call classifies only its source (a `statx` and an `fcntl`). For a
/// server that sends many files, one after another, to one connection. `dst` and `**options`
/// as for `prepare`; `transfer()` of it raises ValueError (it has no source).
#[pyfunction]
#[pyo3(signature = (dst, **options))]
pub(crate) fn prepare_to(
    py: Python<'_>,
    dst: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Prepared> {
    guarded(py, || {
        no_per_call_options("prepare_to", options)?;
        let opts = Opts::parse("prepare_to", options)?;
        let d = End::resolve(dst, "dst", "prepare_to")?
            .keep(dst)?
            .ok_or_else(|| PyTypeError::new_err("prepare_to() takes no reader as its dst"))?;
        // SAFETY: the fd and label are the kept duplicate's and its label's (whose text lives
        // on the heap, where moving the `Kept` leaves it), owned by the same State and dropped
        // after this prepared transfer (field order), which never outlives them.
        let (df, dl) = unsafe {
            (
                BorrowedFd::borrow_raw(d.fd.as_raw_fd()),
                &*(d.label.as_path() as *const Path),
            )
        };
        let p = zcopy::Prepared::to_dst_named(df, dl, &base(py, &opts)?)
            .map_err(crate::errors::EngineError::from)?;
        Ok(Prepared {
            state: Some(State {
                engine: Some(p),
                kept: None,
                to_dst: Some(d),
                src: py.None(),
                dst: dst.clone().unbind(),
                opts,
                kwargs: options.map(|k| k.clone().unbind()),
            }),
        })
    })
}

impl Prepared {
    /// One call of `send` on the engine's prepared transfer, to its destination, from a source
    /// `send` names (as `transfer_from` calls, with the prepared options' callbacks and Ctrl-C;
    /// the destination's position settled after): `Log.send_prepared`'s. `what` names the
    /// caller in errors; `most` is about the bytes it moves (see [`crate::run_engine_within`]).
    pub(crate) fn send_to_dst<F>(
        &mut self,
        py: Python<'_>,
        (what, most): (&str, Option<u64>),
        send: F,
    ) -> PyResult<Report>
    where
        F: for<'a> FnOnce(
                &mut zcopy::Prepared<'static, 'static>,
                &zcopy::Options<'a>,
            ) -> zcopy::Result<zcopy::Report>
            + Send,
    {
        let closed = || PyValueError::new_err(format!("{what} with a closed zcopy.Prepared"));
        let state = self.state.as_mut().ok_or_else(closed)?;
        let d = match (&state.to_dst, &state.kept) {
            (Some(d), _) | (None, Some((_, d))) => d,
            (None, None) => {
                return Err(PyValueError::new_err(format!(
                    "{what} with a zcopy.Prepared whose source is a buffered reader that cannot seek: prepare it with prepare_to(dst)"
                )))
            }
        };
        let engine = state.engine.as_mut().ok_or_else(closed)?;
        state.opts.length = None;
        state.opts.src_offset = None;
        state.opts.dst_offset = None;
        d.before(py, None)?;
        let (_, result) =
            crate::run_engine_within(py, &state.opts, (None, most), |o| send(engine, o))?;
        let settled = d.settle_dst(py);
        let report = result?;
        settled?;
        Ok(report)
    }
}

#[pymethods]
impl Prepared {
    /// Move `length` bytes (None: to the source's end of file) from `src_offset` of the source
    /// to `dst_offset` of the destination (None: at and advancing the position, as `transfer`
    /// does: a file object's position follows), and return this call's Report. Raises as
    /// `transfer` does, and ValueError once closed.
    #[pyo3(signature = (length = None, src_offset = None, dst_offset = None))]
    fn transfer(
        &mut self,
        py: Python<'_>,
        length: Option<&Bound<'_, PyAny>>,
        src_offset: Option<&Bound<'_, PyAny>>,
        dst_offset: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Report> {
        guarded(py, || {
            let (length, src_offset, dst_offset) = per_call(length, src_offset, dst_offset)?;
            let state = self
                .state
                .as_mut()
                .ok_or_else(|| PyValueError::new_err("transfer() on a closed zcopy.Prepared"))?;
            if state.to_dst.is_some() {
                return Err(PyValueError::new_err(
                    "transfer() of a zcopy.Prepared made by prepare_to(), which has no source: call transfer_from(src, ...)",
                ));
            }
            let (Some(engine), Some((s, d))) = (state.engine.as_mut(), state.kept.as_ref()) else {
                return state.by_transfer(py, length, src_offset, dst_offset);
            };
            state.opts.length = length;
            state.opts.src_offset = src_offset;
            state.opts.dst_offset = dst_offset;
            let start = s.before(py, Some(&mut state.opts.src_offset))?;
            d.before(py, None)?;
            let opts = &state.opts;
            let total = bar_total(opts, || None);
            let (moved, result) = run_engine(py, opts, total, |o| engine.run_with(o))?;
            let settled = s
                .settle_src(py, start, moved)
                .and_then(|()| d.settle_dst(py));
            let report = result?;
            settled?;
            Ok(report)
        })
    }

    /// Move bytes from `src` (an int fd or an object with `fileno()`, used for this call only)
    /// in place of the prepared source, to the prepared destination: `length`, `src_offset`,
    /// `dst_offset`, the Report and the errors as for `transfer()`. `src` is classified for
    /// this call. A buffered reader that cannot seek (a pipe opened with `open()`) is refused
    /// with TypeError: pass its `fileno()`, or use `zcopy.transfer`.
    #[pyo3(signature = (src, length = None, src_offset = None, dst_offset = None))]
    fn transfer_from(
        &mut self,
        py: Python<'_>,
        src: &Bound<'_, PyAny>,
        length: Option<&Bound<'_, PyAny>>,
        src_offset: Option<&Bound<'_, PyAny>>,
        dst_offset: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Report> {
        guarded(py, || {
            let (length, src_offset, dst_offset) = per_call(length, src_offset, dst_offset)?;
            let state = self.state.as_mut().ok_or_else(|| {
                PyValueError::new_err("transfer_from() on a closed zcopy.Prepared")
            })?;
            let d = match (&state.to_dst, &state.kept) {
                (Some(d), _) | (None, Some((_, d))) => d,
                (None, None) => {
                    return Err(PyValueError::new_err(
                        "transfer_from() of a zcopy.Prepared whose source is a buffered reader that cannot seek: use transfer()",
                    ))
                }
            };
            let Some(engine) = state.engine.as_mut() else {
                return Err(PyValueError::new_err(
                    "transfer_from() on a closed zcopy.Prepared",
                ));
            };
            let s = End::resolve(src, "src", "transfer_from")?;
            if s.buffered_reader.is_some() {
                return Err(PyTypeError::new_err(
                    "transfer_from() cannot send what a buffered reader that cannot seek holds ahead: pass its fileno(), or use zcopy.transfer",
                ));
            }
            state.opts.length = length;
            state.opts.src_offset = src_offset;
            state.opts.dst_offset = dst_offset;
            let start = s.src_start(&mut state.opts.src_offset)?;
            d.before(py, None)?;
            let opts = &state.opts;
            let total = bar_total(opts, || None);
            let (sfd, slabel) = (s.fd.as_fd(), s.label());
            let (moved, result) =
                run_engine(py, opts, total, |o| engine.run_from_with(sfd, slabel, o))?;
            let settled = s.settle_src(start, moved).and_then(|()| d.settle_dst(py));
            let report = result?;
            settled?;
            Ok(report)
        })
    }

    /// Turn the CPU meter on or off (on when prepared). Off, a call makes 4 syscalls fewer
    /// (`getrusage` and `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` at each end) and its Report's
    /// `user_cpu_ns`, `sys_cpu_ns` and context switches are 0: not measured; the rest stays
    /// exact. No effect on a transfer from a buffered reader that cannot seek (served by
    /// `zcopy.transfer`, which always measures). Raises ValueError once closed.
    fn set_cpu_meter(&mut self, on: bool) -> PyResult<()> {
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("set_cpu_meter() on a closed zcopy.Prepared"))?;
        if let Some(engine) = state.engine.as_mut() {
            engine.set_cpu_meter(on);
        }
        Ok(())
    }

    /// Release the duplicates of the fds (the caller's own stay open). Calling it again does
    /// nothing.
    fn close(&mut self) {
        self.state = None;
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.state.is_none()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match &self.state {
            None => "<zcopy.Prepared closed>".to_string(),
            Some(s) => match &s.kept {
                Some((src, dst)) => {
                    format!(
                        "<zcopy.Prepared src {} -> dst {}>",
                        src.label.display(),
                        dst.label.display()
                    )
                }
                None => "<zcopy.Prepared (by transfer)>".to_string(),
            },
        }
    }
}

impl State {
    /// One call through `zcopy.transfer` (a buffered reader that cannot seek).
    fn by_transfer(
        &self,
        py: Python<'_>,
        length: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> PyResult<Report> {
        let kw = match &self.kwargs {
            Some(k) => k.bind(py).copy()?,
            None => PyDict::new(py),
        };
        kw.set_item("length", length)?;
        kw.set_item("src_offset", src_offset)?;
        kw.set_item("dst_offset", dst_offset)?;
        crate::transfer(py, self.src.bind(py), self.dst.bind(py), Some(&kw))
    }
}
