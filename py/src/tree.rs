//! `zcopy.copytree`: whole-tree copies, like `cp -a` and `shutil.copytree`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use crate::args::{self, Opts, ProgressArg};
use crate::errors::{self, EngineError};
use crate::watch::Watch;

/// What one `copytree` did: the entries it made, the bytes it copied, and the entries that failed.
#[pyclass(module = "zcopy", name = "TreeReport", frozen, eq, get_all)]
#[derive(Clone, PartialEq)]
pub struct TreeReport {
    /// Regular files copied (hard links made again not counted).
    files: u64,
    /// Directories created (or found, with dirs_exist_ok).
    directories: u64,
    /// Symlinks made.
    symlinks: u64,
    /// FIFOs, sockets and devices made.
    specials: u64,
    /// Hard links made again.
    hard_links: u64,
    /// Bytes copied: the regular files' lengths, each file once.
    bytes: u64,
    /// Wall-clock time of the whole copy, in nanoseconds.
    elapsed_ns: u64,
    /// Syscalls made by the calling thread and the workers.
    syscalls: u64,
    /// The entries that failed, as (source path, message).
    errors: Vec<(String, String)>,
}

#[pymethods]
impl TreeReport {
    fn __repr__(&self) -> String {
        format!(
            "TreeReport(files={}, directories={}, symlinks={}, specials={}, hard_links={}, \
             bytes={}, elapsed_ns={}, syscalls={}, errors={:?})",
            self.files,
            self.directories,
            self.symlinks,
            self.specials,
            self.hard_links,
            self.bytes,
            self.elapsed_ns,
            self.syscalls,
            self.errors
        )
    }
}

impl TreeReport {
    fn from_engine(r: &zcopy::TreeReport) -> TreeReport {
        TreeReport {
            files: r.files,
            directories: r.directories,
            symlinks: r.symlinks,
            specials: r.specials,
            hard_links: r.hard_links,
            bytes: r.bytes,
            elapsed_ns: r.elapsed_ns,
            syscalls: r.syscalls,
            errors: r
                .errors
                .iter()
                .map(|e| (e.path.display().to_string(), e.message.clone()))
                .collect(),
        }
    }
}

/// Copy the tree at path `src` to path `dst`, like `cp -a` (and `shutil.copytree`), and
/// report what was done: directories, regular files through the engine (auto per file:
/// reflink or copy_file_range where the filesystem clones, holes kept, the page-cache policy),
/// symlinks kept as links (`symlinks=False` copies what they point to), FIFOs, sockets and
/// devices recreated (`specials="error"` refuses them, as shutil does), hard links made again,
/// and every entry's mode, times (to the nanosecond), extended attributes and owner (as root).
///
/// Files are copied by `workers` threads (None: the number of CPUs, at least 4), each into a
/// temporary name renamed into place when complete, so a file that fails leaves nothing under
/// its name. `dirs_exist_ok=True` copies into an existing destination. `errors="collect"` goes
/// on past failures and raises one error listing them all; the default `"raise"` stops at the
/// first. `progress` is called with `(bytes, files)` so far (at most every 50 ms and at the
/// end; False stops the copy), or True for a tqdm bar; `cancel` is a threading.Event. Every
/// other option is `copy_file`'s, applied to each file (offsets and `length` are refused).
///
/// Errors are `copy_file`'s (FileExistsError for a `dst` that exists without
/// `dirs_exist_ok`), each with `.bytes_moved` and `.tree_report` (what was done before it).
/// Runs without the GIL; Ctrl-C stops it.
#[pyfunction]
#[pyo3(signature = (src, dst, *, dirs_exist_ok=false, symlinks=true, workers=None, errors="raise", specials="recreate", **options))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn copytree(
    py: Python<'_>,
    src: &Bound<'_, PyAny>,
    dst: &Bound<'_, PyAny>,
    dirs_exist_ok: bool,
    symlinks: bool,
    workers: Option<u32>,
    errors: &str,
    specials: &str,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<TreeReport> {
    crate::guarded(py, || {
        let mut opts = Opts::parse("copytree", options)?;
        let src = args::path(src, "src", "copytree")?;
        let dst = args::path(dst, "dst", "copytree")?;
        let on_error: zcopy::OnError = args::named(
            &errors.into_pyobject(py)?.into_any(),
            "errors",
            "raise, collect",
        )?;
        let specials: zcopy::Specials = args::named(
            &specials.into_pyobject(py)?.into_any(),
            "specials",
            "recreate, error",
        )?;
        // The callable gets (bytes, files): the watch handles Ctrl-C, the event and the bar.
        let callback = match std::mem::replace(&mut opts.progress, ProgressArg::Off) {
            ProgressArg::Call(f) => Some(f),
            ProgressArg::Bar => {
                opts.progress = ProgressArg::Bar;
                None
            }
            ProgressArg::Off => None,
        };
        let watch = Watch::new(py, &opts, None)?;
        let hook = |bytes: u64, files: u64| {
            if !watch.tick(bytes) {
                return false;
            }
            match &callback {
                Some(f) => watch.call(|py| {
                    let answer = f.bind(py).call1((bytes, files))?;
                    Ok(!answer.is(&*PyBool::new(py, false)))
                }),
                None => true,
            }
        };
        let unused = |_: u64| true;
        let mut transfer = opts.engine(&unused, &watch.flag);
        transfer.progress = None;
        let tree = zcopy::TreeOptions {
            transfer,
            symlinks,
            dirs_exist_ok,
            workers,
            errors: on_error,
            specials,
            progress: Some(&hook),
        };
        let (src, dst) = (&src, &dst);
        let outcome =
            py.detach(|| catch_unwind(AssertUnwindSafe(|| zcopy::copy_tree(src, dst, &tree))));
        let (moved, result) = match outcome {
            Ok(Ok(r)) => (r.bytes, Ok(TreeReport::from_engine(&r))),
            Ok(Err(error)) => {
                let moved = error.bytes_moved();
                let report = error.tree_report().map(TreeReport::from_engine);
                let err = PyErr::from(EngineError::from(error));
                if let Some(r) = report {
                    let _ = err.value(py).setattr("tree_report", r);
                }
                (moved, Err(err))
            }
            Err(payload) => (0, Err(errors::panicked(py, &*payload, 0))),
        };
        watch.finish(py, moved)?;
        result
    })
}
