//! What runs between chunks while a transfer runs without the GIL: Ctrl-C, the cancel event,
//! the caller's progress callback and the tqdm bar.
//!
//! The engine calls [`Watch::tick`] after each chunk. Taking the GIL costs little when nobody
//! holds it but up to the interpreter's switch interval (5 ms) when another thread is busy, so
//! the tick takes it only every [`INTERVAL_NS`] unless a progress callback must see every
//! chunk. Ctrl-C therefore stops a transfer within one chunk plus 20 ms.
//!
//! When signals are the only stop (the main thread, no callback, bar or event) and the call
//! moves a `length` of at most [`EAGER_MAX`] ([`Stops::Signals`]), the engine may cut no wait
//! into ticks (`WaitTicks::UnlessInterruptedBy(SIGINT)`): it then asks the tick only between
//! chunks and when a signal interrupted a wait, and each such question must look at the
//! signals (a Ctrl-C that came between two waits would otherwise be seen at the next Ctrl-C),
//! so the tick is not throttled then (it skips only a question asked once the `length` asked
//! for has moved, when no wait is left). That saves a small call the ticks' syscalls (3 for a
//! socket) and costs it a few looks at most (a 128 KiB chunk of read_write is the smallest).
//! A longer call, or one to end of file ([`Stops::SignalsTicked`]), keeps the ticks and the
//! throttle: there the ticks cost nothing that counts, and a look per chunk would take the GIL
//! each 128 KiB (a 256 MiB read_write copy on the main thread ran 1.7–4.9× slower with a
//! thread busy in Python beside it).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{Opts, ProgressArg};

/// How often, at most, a tick without a progress callback takes the GIL.
const INTERVAL_NS: u64 = 20_000_000;

/// The state shared between the calling thread and the engine's progress hook.
pub(crate) struct Watch {
    progress: Option<Py<PyAny>>,
    bar: Option<Py<PyAny>>,
    cancel: Option<Py<PyAny>>,
    /// The engine's cancel flag: set when the cancel event is seen set; the engine checks it
    /// before each chunk.
    pub flag: AtomicBool,
    /// The first exception raised by Python code during the transfer (KeyboardInterrupt, the
    /// callback's own), raised in place of the engine's Cancelled error.
    raised: Mutex<Option<PyErr>>,
    started: Instant,
    next_ns: AtomicU64,
    /// The latest count the engine reported (what a panic's error says was moved).
    pub last: AtomicU64,
    /// What the bar shows.
    shown: AtomicU64,
    /// Whether every tick looks at the signals (see the module's doc).
    eager: bool,
    /// The `length` asked for, when given (see the module's doc).
    length: Option<u64>,
    /// Whether `length` is exactly what the call moves (a `length` given), not a bound it may
    /// exceed ([`Watch::within`]): only then does a tick that sees it moved stop looking.
    exact: bool,
}

/// The longest `length` a call may move without ticks (see the module's doc).
const EAGER_MAX: u64 = 1 << 20;

/// What can stop a transfer from Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stops {
    /// Nothing: a thread other than the main one, without callback, bar or event.
    Nothing,
    /// Signals only (Ctrl-C): the main thread, without callback, bar or event, moving a
    /// `length` of at most [`EAGER_MAX`]: no ticks, every question looks.
    Signals,
    /// Signals only, on a longer call or one to end of file: ticks, throttled questions.
    SignalsTicked,
    /// A progress callback, a bar or a cancel event (and signals, on the main thread).
    Hooks,
}

impl Watch {
    /// Prepares the hooks of `opts`; `total` is the bar's total when known.
    pub(crate) fn new(py: Python<'_>, opts: &Opts, total: Option<u64>) -> PyResult<Watch> {
        let bar = match opts.progress {
            ProgressArg::Bar => {
                let tqdm = py.import("tqdm.auto").map_err(|e| {
                    let err = pyo3::exceptions::PyImportError::new_err(
                        "progress=True shows a tqdm bar, and tqdm is not installed: pip install tqdm",
                    );
                    err.set_cause(py, Some(e));
                    err
                })?;
                let kw = PyDict::new(py);
                kw.set_item("total", total)?;
                kw.set_item("unit", "B")?;
                kw.set_item("unit_scale", true)?;
                kw.set_item("unit_divisor", 1024)?;
                kw.set_item("desc", "zcopy")?;
                Some(tqdm.getattr("tqdm")?.call((), Some(&kw))?.unbind())
            }
            _ => None,
        };
        let progress = match &opts.progress {
            ProgressArg::Call(f) => Some(f.clone_ref(py)),
            _ => None,
        };
        let cancel = opts.cancel.as_ref().map(|c| c.clone_ref(py));
        let watch = Watch {
            progress,
            bar,
            cancel,
            flag: AtomicBool::new(false),
            raised: Mutex::new(None),
            started: Instant::now(),
            next_ns: AtomicU64::new(INTERVAL_NS),
            last: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            eager: false,
            length: opts.length,
            exact: true,
        };
        // The engine checks the flag before the first chunk: an event set already stops it
        // before a byte moves.
        if let Some(c) = &watch.cancel {
            if c.bind(py).call_method0("is_set")?.is_truthy()? {
                watch.flag.store(true, Ordering::Relaxed);
            }
        }
        Ok(watch)
    }

    /// For a call that moves about `bound` bytes, perhaps more (a log send's budget), in place
    /// of an exact `length`: it decides the ticks as a `length` would, and every tick still
    /// looks at the signals (a send past its bound may still wait).
    pub(crate) fn within(&mut self, bound: u64) {
        self.length = Some(bound);
        self.exact = false;
    }

    /// What can stop the transfer, so the engine must ask [`Watch::tick`] between chunks and
    /// during waits: a progress callback or bar, a cancel event, or signals (Ctrl-C), which
    /// Python handles on its main thread only. A transfer on another thread without a
    /// callback or an event runs to its end, as it did when the tick only checked signals (a
    /// no-op off the main thread). With [`Stops::Signals`], every tick looks at the signals
    /// from now on (see the module's doc); [`Stops::SignalsTicked`] changes nothing.
    pub(crate) fn stops(&mut self, py: Python<'_>) -> PyResult<Stops> {
        if self.progress.is_some() || self.bar.is_some() || self.cancel.is_some() {
            return Ok(Stops::Hooks);
        }
        if !on_main_thread(py)? {
            return Ok(Stops::Nothing);
        }
        if self.length.is_none_or(|l| l > EAGER_MAX) {
            return Ok(Stops::SignalsTicked);
        }
        self.eager = true;
        Ok(Stops::Signals)
    }

    /// The engine's progress hook: `false` stops the transfer.
    pub(crate) fn tick(&self, moved: u64) -> bool {
        self.last.store(moved, Ordering::Relaxed);
        if self.progress.is_none() {
            if self.eager {
                // Everything asked for has moved: no wait is left for a signal to cut, and a
                // Ctrl-C pending is raised by Python when the call returns.
                if self.exact && self.length.is_some_and(|l| moved >= l) {
                    return true;
                }
            } else {
                let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                if now < self.next_ns.load(Ordering::Relaxed) {
                    return true;
                }
                self.next_ns
                    .store(now.saturating_add(INTERVAL_NS), Ordering::Relaxed);
            }
        }
        Python::attach(|py| match self.tick_attached(py, moved) {
            Ok(go_on) => go_on,
            Err(e) => {
                if let Ok(mut slot) = self.raised.lock() {
                    slot.get_or_insert(e);
                }
                // What the engine checks between the parts of a transfer (a buffered reader's
                // read-ahead, then its fd), where it asks no callback.
                self.flag.store(true, Ordering::Relaxed);
                false
            }
        })
    }

    /// Runs Python code `f` with the GIL for the engine (a callback's answer: `false` stops);
    /// an exception it raises stops the transfer and is raised in place of the engine's error.
    pub(crate) fn call(&self, f: impl FnOnce(Python<'_>) -> PyResult<bool>) -> bool {
        Python::attach(|py| match f(py) {
            Ok(go_on) => go_on,
            Err(e) => {
                if let Ok(mut slot) = self.raised.lock() {
                    slot.get_or_insert(e);
                }
                false
            }
        })
    }

    fn tick_attached(&self, py: Python<'_>, moved: u64) -> PyResult<bool> {
        py.check_signals()?;
        if let Some(c) = &self.cancel {
            if c.bind(py).call_method0("is_set")?.is_truthy()? {
                // The engine stops before the next chunk, with its own "cancel flag" message.
                self.flag.store(true, Ordering::Relaxed);
            }
        }
        self.update_bar(py, moved)?;
        if let Some(f) = &self.progress {
            let answer = f.bind(py).call1((moved,))?;
            // False stops; any other value (None included) goes on.
            if answer.is(&*pyo3::types::PyBool::new(py, false)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn update_bar(&self, py: Python<'_>, moved: u64) -> PyResult<()> {
        if let Some(bar) = &self.bar {
            let shown = self.shown.swap(moved, Ordering::Relaxed);
            if moved > shown {
                bar.bind(py).call_method1("update", (moved - shown,))?;
            }
        }
        Ok(())
    }

    /// After the engine returned (with the GIL): closes the bar, and gives the exception Python
    /// code raised during the transfer, if any, with `.bytes_moved` set to `moved` (all the
    /// transfer's engine calls together).
    pub(crate) fn finish(&self, py: Python<'_>, moved: u64) -> PyResult<()> {
        let mut result = Ok(());
        if let Some(bar) = &self.bar {
            result = self
                .update_bar(py, moved)
                .and_then(|()| bar.bind(py).call_method0("close").map(drop));
        }
        let raised = self.raised.lock().ok().and_then(|mut slot| slot.take());
        match raised {
            Some(e) => Err(crate::errors::with_bytes_moved(py, e, moved)),
            None => result,
        }
    }
}

/// Whether the calling thread is Python's main thread (where Python runs signal handlers).
pub(crate) fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's id.
    let this = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    // The main thread's ident as first seen: equal means the main thread (or, after a fork
    // whose child started threads, one that reuses its ident: it then keeps the hook, as
    // before); different is confirmed by asking threading, since a fork makes the forking
    // thread the child's main thread.
    static MAIN: std::sync::OnceLock<std::os::raw::c_ulong> = std::sync::OnceLock::new();
    let main_now = || -> PyResult<std::os::raw::c_ulong> {
        py.import("threading")?
            .call_method0("main_thread")?
            .getattr(pyo3::intern!(py, "ident"))?
            .extract()
    };
    let first = *MAIN.get_or_init(|| main_now().unwrap_or(0));
    Ok(this == first || this == main_now()?)
}
