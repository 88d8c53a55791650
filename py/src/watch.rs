//! What runs between chunks while a transfer runs without the GIL: Ctrl-C, the cancel event,
//! the caller's progress callback and the tqdm bar.
//!
//! The engine calls [`Watch::tick`] after each chunk. Taking the GIL costs little when nobody
//! holds it but up to the interpreter's switch interval (5 ms) when another thread is busy, so
//! the tick takes it only every [`INTERVAL_NS`] unless a progress callback must see every
//! chunk. Ctrl-C therefore stops a transfer within one chunk plus 20 ms.

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
    /// Bytes earlier engine calls of the same transfer moved (a buffered reader's head): added
    /// to the counts the progress callback and the bar see.
    pub base: AtomicU64,
    /// What the bar shows.
    shown: AtomicU64,
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
            base: AtomicU64::new(0),
            shown: AtomicU64::new(0),
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

    /// The engine's progress hook: `false` stops the transfer.
    pub(crate) fn tick(&self, moved: u64) -> bool {
        self.last.store(moved, Ordering::Relaxed);
        let moved = self.base.load(Ordering::Relaxed) + moved;
        if self.progress.is_none() {
            let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if now < self.next_ns.load(Ordering::Relaxed) {
                return true;
            }
            self.next_ns
                .store(now.saturating_add(INTERVAL_NS), Ordering::Relaxed);
        }
        Python::attach(|py| match self.tick_attached(py, moved) {
            Ok(go_on) => go_on,
            Err(e) => {
                if let Ok(mut slot) = self.raised.lock() {
                    slot.get_or_insert(e);
                }
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

    /// Whether Python code raised an exception during the transfer (then no further engine call
    /// should start: [`Watch::finish`] gives it).
    pub(crate) fn has_raised(&self) -> bool {
        self.raised.lock().is_ok_and(|slot| slot.is_some())
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
