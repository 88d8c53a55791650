//! `zcopy.auto_choice(src, dst, **options)`: what Auto would pick first for a pair, and why.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::args::{End, Opts};
use crate::errors::{self, EngineError};
use crate::report::py_str;

/// What auto would do for a pair of fds, as `zcopy.auto_choice()` tells it.
#[pyclass(module = "zcopy", name = "AutoChoice", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AutoChoice {
    /// The techniques auto tries, in order (it falls back along this list).
    order: Vec<String>,
    /// The first of them the pair supports (as `probe` judges it): what auto runs first.
    /// None when none does.
    first: Option<String>,
    /// Why this order, in one sentence.
    why: String,
}

#[pymethods]
impl AutoChoice {
    /// `AutoChoice(order=['copy_file_range', ...], first='copy_file_range', why='...')`.
    fn __repr__(&self) -> String {
        let order: Vec<String> = self.order.iter().map(|s| py_str(s)).collect();
        format!(
            "AutoChoice(order=[{}], first={}, why={})",
            order.join(", "),
            self.first.as_deref().map_or("None".to_string(), py_str),
            py_str(&self.why)
        )
    }

    /// The fields as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("order", self.order.clone())?;
        d.set_item("first", self.first.clone())?;
        d.set_item("why", &self.why)?;
        Ok(d)
    }
}

/// What ``strategy="auto"`` would do for ``src`` -> ``dst`` with ``**options``, without moving
/// a byte: an AutoChoice with ``order`` (the techniques auto tries, in order: it falls back
/// along it), ``first`` (the first of them the pair supports, as ``probe`` judges it: what a
/// ``transfer`` with these options runs first and, unless it refuses at run time, the
/// Report's ``strategy``; None when none does) and ``why`` (the rule that chose the order, in
/// a sentence).
///
/// ``src`` and ``dst`` are taken as by ``transfer``; the options are ``transfer``'s (its
/// ``strategy`` is taken as ``"auto"`` and ``fallback`` as True; ``src_offset``,
/// ``dst_offset``, ``length`` and ``direct_threshold`` count, as they do for a transfer).
/// Raises as ``probe`` does for bad fds, and as ``transfer`` for bad options.
#[pyfunction]
#[pyo3(signature = (src, dst, **options))]
pub(crate) fn auto_choice(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<AutoChoice> {
    crate::guarded(py, || {
        let mut opts = Opts::parse("auto_choice", options)?;
        let src = End::resolve(src, "src", "auto_choice")?;
        let dst = End::resolve(dst, "dst", "auto_choice")?;
        // A seekable file object is read from its own idea of its position, as transfer does.
        src.src_start(&mut opts.src_offset)?;
        let (s, d) = (&src.fd, &dst.fd);
        let (sl, dl) = (src.label(), dst.label());
        let never = AtomicBool::new(false);
        let hook = |_: u64| true;
        let engine_opts = opts.engine(&hook, &never);
        let outcome = py.detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                zcopy::auto_choice_named(s, sl, d, dl, &engine_opts)
            }))
        });
        match outcome {
            Ok(Ok(c)) => Ok(AutoChoice {
                order: c.order.iter().map(|s| s.to_string()).collect(),
                first: c.first.map(|s| s.to_string()),
                why: c.why,
            }),
            Ok(Err(error)) => Err(EngineError::from(error).into()),
            Err(payload) => Err(errors::panicked(py, &*payload, 0)),
        }
    })
}
