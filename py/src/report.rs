//! The classes zcopy returns: [`Report`] (what a transfer did and cost) and [`Support`] (one
//! technique's verdict from `probe`).

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// What one transfer did and cost (DESIGN.md's Report, field for field).
#[pyclass(module = "zcopy", name = "Report", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// Bytes moved to the destination.
    bytes: u64,
    /// The technique that moved them (the last one tried, when several moved some).
    strategy: &'static str,
    /// Techniques tried before `strategy`, each as `(strategy, reason)`, in order.
    fallbacks: Vec<(String, String)>,
    /// Wall-clock time of the call, in nanoseconds.
    elapsed_ns: u64,
    /// Syscalls the engine made for the call (exact: they match `strace -c`).
    syscalls: u64,
    /// User/kernel mode switches: two per syscall (not scheduler context switches).
    mode_switches: u64,
    /// CPU time in user space of the calling thread, in nanoseconds.
    user_cpu_ns: u64,
    /// CPU time in the kernel of the calling thread, in nanoseconds.
    sys_cpu_ns: u64,
    /// Times the calling thread gave up the CPU waiting (getrusage's nvcsw).
    voluntary_ctx_switches: u64,
    /// Times the scheduler took the CPU from the calling thread (getrusage's nivcsw).
    involuntary_ctx_switches: u64,
    /// Modelled bytes copied by a CPU.
    cpu_copies_bytes: u64,
    /// Modelled bytes copied by DMA (disk or NIC; none at an end on tmpfs, procfs or sysfs).
    dma_copies_bytes: u64,
    /// `send(MSG_ZEROCOPY)` calls made (the `msg_zerocopy` technique; 0 otherwise).
    zerocopy_sends: u64,
    /// Of those, the ones the kernel copied after all (on loopback, every one).
    zerocopy_copied: u64,
}

impl Report {
    /// The report of a transfer made in two engine calls, `self` then `next` (`zcopy.atransfer`'s
    /// calls between its waits): bytes and counters summed; the technique, and the
    /// fallbacks before it, of the call that moved the last bytes.
    pub(crate) fn then(&self, next: &Report) -> Report {
        let last = if next.bytes == 0 && self.bytes > 0 {
            self
        } else {
            next
        };
        Report {
            bytes: self.bytes + next.bytes,
            strategy: last.strategy,
            fallbacks: last.fallbacks.clone(),
            elapsed_ns: self.elapsed_ns + next.elapsed_ns,
            syscalls: self.syscalls + next.syscalls,
            mode_switches: self.mode_switches + next.mode_switches,
            user_cpu_ns: self.user_cpu_ns + next.user_cpu_ns,
            sys_cpu_ns: self.sys_cpu_ns + next.sys_cpu_ns,
            voluntary_ctx_switches: self.voluntary_ctx_switches + next.voluntary_ctx_switches,
            involuntary_ctx_switches: self.involuntary_ctx_switches + next.involuntary_ctx_switches,
            cpu_copies_bytes: self.cpu_copies_bytes + next.cpu_copies_bytes,
            dma_copies_bytes: self.dma_copies_bytes + next.dma_copies_bytes,
            zerocopy_sends: self.zerocopy_sends + next.zerocopy_sends,
            zerocopy_copied: self.zerocopy_copied + next.zerocopy_copied,
        }
    }

    /// The engine's report (its fallback reasons name the ends as the caller's labels do).
    pub(crate) fn from_engine(r: &zcopy::Report) -> Report {
        Report {
            bytes: r.bytes,
            strategy: r.strategy.name(),
            fallbacks: r
                .fallbacks
                .iter()
                .map(|f| (f.strategy.to_string(), f.reason.clone()))
                .collect(),
            elapsed_ns: r.elapsed_ns,
            syscalls: r.syscalls,
            mode_switches: r.mode_switches,
            user_cpu_ns: r.user_cpu_ns,
            sys_cpu_ns: r.sys_cpu_ns,
            voluntary_ctx_switches: r.voluntary_ctx_switches,
            involuntary_ctx_switches: r.involuntary_ctx_switches,
            cpu_copies_bytes: r.cpu_copies_bytes,
            dma_copies_bytes: r.dma_copies_bytes,
            zerocopy_sends: r.zerocopy_sends,
            zerocopy_copied: r.zerocopy_copied,
        }
    }

    /// The counters after `fallbacks`, in DESIGN.md's order.
    fn counters(&self) -> [(&'static str, u64); 11] {
        [
            ("elapsed_ns", self.elapsed_ns),
            ("syscalls", self.syscalls),
            ("mode_switches", self.mode_switches),
            ("user_cpu_ns", self.user_cpu_ns),
            ("sys_cpu_ns", self.sys_cpu_ns),
            ("voluntary_ctx_switches", self.voluntary_ctx_switches),
            ("involuntary_ctx_switches", self.involuntary_ctx_switches),
            ("cpu_copies_bytes", self.cpu_copies_bytes),
            ("dma_copies_bytes", self.dma_copies_bytes),
            ("zerocopy_sends", self.zerocopy_sends),
            ("zerocopy_copied", self.zerocopy_copied),
        ]
    }
}

pub(crate) fn py_str(s: &str) -> String {
    // Python's repr of a str: quotes and escapes as Python writes them.
    Python::attach(|py| {
        pyo3::types::PyString::new(py, s)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| format!("{s:?}"))
    })
}

#[pymethods]
impl Report {
    /// `a + b`: the report of one transfer made in two calls, `a` then `b` (how
    /// `zcopy.atransfer` adds up the calls between its waits): bytes, time and every counter
    /// summed; the technique, and the fallbacks before it, of the call that moved the last bytes.
    fn __add__(&self, other: &Report) -> Report {
        self.then(other)
    }

    /// `Report(bytes=..., strategy='...', fallbacks=[...], elapsed_ns=..., ...)`: every field.
    fn __repr__(&self) -> String {
        let fallbacks: Vec<String> = self
            .fallbacks
            .iter()
            .map(|(s, r)| format!("({}, {})", py_str(s), py_str(r)))
            .collect();
        let mut out = format!(
            "Report(bytes={}, strategy={}, fallbacks=[{}]",
            self.bytes,
            py_str(self.strategy),
            fallbacks.join(", ")
        );
        for (name, value) in &self.counters() {
            out.push_str(&format!(", {name}={value}"));
        }
        out.push(')');
        out
    }

    /// The fields as a dict (fallbacks as a list of `(strategy, reason)` tuples), in
    /// DESIGN.md's order: ready for `json.dumps` or a pandas row.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("bytes", self.bytes)?;
        d.set_item("strategy", self.strategy)?;
        d.set_item("fallbacks", self.fallbacks.clone())?;
        for (name, value) in &self.counters() {
            d.set_item(*name, *value)?;
        }
        Ok(d)
    }
}

/// Whether one technique can serve a pair of fds, as `zcopy.probe()` reports it.
#[pyclass(module = "zcopy", name = "Support", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Support {
    /// The technique's name.
    strategy: String,
    /// Whether it can serve the pair.
    supported: bool,
    /// Why not (empty when supported).
    reason: String,
}

impl Support {
    pub(crate) fn from_engine(s: &zcopy::Support) -> Support {
        Support {
            strategy: s.strategy.to_string(),
            supported: s.supported,
            reason: s.reason.clone(),
        }
    }
}

#[pymethods]
impl Support {
    /// `Support(strategy='sendfile', supported=True, reason='')`.
    fn __repr__(&self) -> String {
        format!(
            "Support(strategy={}, supported={}, reason={})",
            py_str(&self.strategy),
            if self.supported { "True" } else { "False" },
            py_str(&self.reason)
        )
    }

    /// The fields as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("strategy", &self.strategy)?;
        d.set_item("supported", self.supported)?;
        d.set_item("reason", &self.reason)?;
        Ok(d)
    }
}

/// How much of a range of a file is in the page cache, as `zcopy.residency()` (and `evict`,
/// `warm`) report it.
#[pyclass(module = "zcopy", name = "Residency", frozen, eq)]
#[derive(Clone, PartialEq)]
pub(crate) struct Residency {
    /// Pages in the range (the system page size each; the last may be partial).
    #[pyo3(get)]
    pages: u64,
    /// Pages of the range in the page cache.
    #[pyo3(get)]
    resident: u64,
    /// `resident / pages` (0.0 for an empty range).
    #[pyo3(get)]
    ratio: f64,
    /// One byte per page, 1 = resident (as mincore fills it).
    bitmap: Vec<u8>,
    /// Which kernel interface answered: "cachestat", "mincore", or "none" (no page cache: a
    /// pipe, a socket, a device).
    #[pyo3(get)]
    method: String,
}

impl Residency {
    pub(crate) fn from_engine(r: zcopy::cache::Residency) -> Residency {
        Residency {
            pages: r.pages,
            resident: r.resident,
            ratio: r.ratio,
            bitmap: r.bitmap,
            method: r.method.to_string(),
        }
    }
}

#[pymethods]
impl Residency {
    /// One byte per page, 1 = resident (as mincore fills it).
    #[getter]
    fn bitmap<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.bitmap)
    }

    /// `Residency(pages=256, resident=256, ratio=1.0, method='cachestat')` (the bitmap is left
    /// out: it has one byte per page).
    fn __repr__(&self) -> String {
        format!(
            "Residency(pages={}, resident={}, ratio={}, method={})",
            self.pages,
            self.resident,
            Python::attach(|py| pyo3::types::PyFloat::new(py, self.ratio)
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| self.ratio.to_string())),
            py_str(&self.method)
        )
    }

    /// The fields as a dict (the bitmap as bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("pages", self.pages)?;
        d.set_item("resident", self.resident)?;
        d.set_item("ratio", self.ratio)?;
        d.set_item("bitmap", pyo3::types::PyBytes::new(py, &self.bitmap))?;
        d.set_item("method", &self.method)?;
        Ok(d)
    }
}
