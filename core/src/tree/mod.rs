//! Whole-tree copies ([`copy_tree`]), like `cp -a`: one walker on the calling thread creates
//! directories, symlinks and special files and hands regular files to a pool of worker threads
//! (`pool`), which copy each through the engine into a temporary name and rename it into place
//! (taking files round-robin across directories, one directory's batch at a time, so workers
//! running at once do not queue on one directory's lock);
//! hard links are made again once their first name exists; directories get their metadata last,
//! deepest first (`meta`), so copying their contents does not change their times.

mod meta;
mod pool;
mod walk;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::{Error, ErrorKind, Options, Result};

/// The most worker threads [`TreeOptions::workers`] may ask for.
pub const MAX_WORKERS: u32 = 256;

/// A whole-tree progress callback: receives the bytes copied so far and the files finished so
/// far, over the whole tree; returns `true` to go on or `false` to stop the copy with a
/// [`Cancelled`](crate::ErrorKind::Cancelled) error. Always called on the thread that called
/// [`copy_tree`].
pub type TreeProgress<'a> = &'a (dyn Fn(u64, u64) -> bool + Sync);

/// What [`copy_tree`] does when copying one entry fails (the `errors` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnError {
    /// Stop at the first error and return it (the default; `"raise"`).
    #[default]
    Raise,
    /// Go on with the rest of the tree, then return one error listing every failed path with
    /// its message (`"collect"`).
    Collect,
}

impl OnError {
    /// Every policy.
    pub const ALL: &'static [OnError] = &[OnError::Raise, OnError::Collect];

    /// The name every face uses: `raise`, `collect`.
    pub const fn name(self) -> &'static str {
        match self {
            OnError::Raise => "raise",
            OnError::Collect => "collect",
        }
    }
}

/// What [`copy_tree`] does with FIFOs, sockets and device nodes (the `specials` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Specials {
    /// Make a new one of the same kind (`mknod`), as `cp -a` does (the default; `"recreate"`).
    /// A device node needs `CAP_MKNOD`: without it the error names the path.
    #[default]
    Recreate,
    /// Refuse it with an [`Invalid`](crate::ErrorKind::Invalid) error naming the path, as
    /// `shutil.copytree` does (`"error"`).
    Error,
}

impl Specials {
    /// Every policy.
    pub const ALL: &'static [Specials] = &[Specials::Recreate, Specials::Error];

    /// The name every face uses: `recreate`, `error`.
    pub const fn name(self) -> &'static str {
        match self {
            Specials::Recreate => "recreate",
            Specials::Error => "error",
        }
    }
}

named!(OnError, "errors policy");
named!(Specials, "specials policy");

/// How to run [`copy_tree`]. `TreeOptions::default()` is `cp -a`: symlinks kept as links, the
/// destination must not exist, one worker per CPU (at least 4), stop at the first error.
///
/// ```
/// let opts = zcopy::TreeOptions { dirs_exist_ok: true, ..Default::default() };
/// assert!(opts.symlinks);
/// assert_eq!(opts.errors, zcopy::OnError::Raise);
/// ```
#[derive(Clone)]
pub struct TreeOptions<'a> {
    /// The options each regular file is copied with (Auto per file: reflink or
    /// `copy_file_range` where the filesystem clones, holes kept, the cache and sync policies).
    /// Its offsets, `len` and `progress` must be `None` (they make no sense per file: the
    /// tree's own [`TreeOptions::progress`] replaces the callback); its `cancel` flag stops the
    /// whole tree.
    pub transfer: Options<'a>,
    /// Keep symlinks as symlinks (the default, `true`); `false` copies what they point to
    /// (a dangling one is then an error naming it; a directory seen twice on one path is a
    /// loop error).
    pub symlinks: bool,
    /// Copy into a destination directory that already exists (and into existing directories
    /// below it), replacing files of the same names. `false` (the default): a destination that
    /// exists is an error (`EEXIST`).
    pub dirs_exist_ok: bool,
    /// Threads that copy regular files at once (`None` or 0: the number of CPUs, at least 4,
    /// since creating files waits on the filesystem more than on a CPU; at most
    /// [`MAX_WORKERS`]).
    pub workers: Option<u32>,
    /// Stop at the first error, or collect them all (default [`OnError::Raise`]).
    pub errors: OnError,
    /// FIFOs, sockets and devices: recreated or refused (default [`Specials::Recreate`]).
    pub specials: Specials,
    /// Called with (bytes, files) so far, over the whole tree, at most every 50 ms and once at
    /// the end; `false` stops the copy (files being copied then are stopped between chunks and
    /// leave nothing under their names).
    pub progress: Option<TreeProgress<'a>>,
}

impl Default for TreeOptions<'_> {
    fn default() -> Self {
        TreeOptions {
            transfer: Options::default(),
            symlinks: true,
            dirs_exist_ok: false,
            workers: None,
            errors: OnError::Raise,
            specials: Specials::Recreate,
            progress: None,
        }
    }
}

impl fmt::Debug for TreeOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeOptions")
            .field("transfer", &self.transfer)
            .field("symlinks", &self.symlinks)
            .field("dirs_exist_ok", &self.dirs_exist_ok)
            .field("workers", &self.workers)
            .field("errors", &self.errors)
            .field("specials", &self.specials)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// One entry [`copy_tree`] could not copy: its source path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError {
    /// The source path of the entry.
    pub path: PathBuf,
    /// What kind of failure it was.
    pub kind: ErrorKind,
    /// The errno behind it, as [`Error::errno`].
    pub errno: Option<i32>,
    /// The message, as [`Error::message`].
    pub message: String,
}

/// What a [`copy_tree`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeReport {
    /// Regular files copied (hard links made again not counted).
    pub files: u64,
    /// Directories created (or, with `dirs_exist_ok`, found) and given their metadata.
    pub directories: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// FIFOs, sockets and devices made.
    pub specials: u64,
    /// Hard links made again (second and further names of one file).
    pub hard_links: u64,
    /// Bytes copied: the regular files' lengths, each file once (holes included, as a
    /// [`Report`](crate::Report)'s `bytes` counts them).
    pub bytes: u64,
    /// Wall-clock time of the whole copy.
    pub elapsed_ns: u64,
    /// Syscalls made by the calling thread and the workers.
    pub syscalls: u64,
    /// The entries that failed, in the order they failed (with [`OnError::Raise`], the first).
    pub errors: Vec<TreeError>,
}

/// Copies the tree at `src` to `dst`, like `cp -a` (and `shutil.copytree`): directories,
/// regular files through the engine (each as [`copy_file`](crate::copy_file) would, with
/// `opts.transfer`), symlinks as links, FIFOs, sockets and devices recreated (or refused:
/// [`TreeOptions::specials`]), hard links made again, and every entry's mode, times (to the
/// nanosecond), extended attributes (where the filesystem has them) and owner (when running as
/// root; otherwise its group where allowed) copied. `src` may also be a single file or symlink.
///
/// Regular files are copied by a pool of [`TreeOptions::workers`] threads while the calling
/// thread walks the tree. Each file is written under a temporary name (`.zcopy-PID-N.part`) in
/// its destination directory and renamed into place when complete, so a file whose copy fails
/// or is stopped leaves nothing under its own name. A directory's metadata is set after its
/// contents, deepest first.
///
/// ```
/// let src = tempfile::tempdir()?;
/// std::fs::create_dir(src.path().join("sub"))?;
/// std::fs::write(src.path().join("sub/a.txt"), b"hello")?;
/// std::os::unix::fs::symlink("sub/a.txt", src.path().join("link"))?;
/// let out = tempfile::tempdir()?;
/// let dst = out.path().join("copy");
///
/// let report = zcopy::copy_tree(src.path(), &dst, &zcopy::TreeOptions::default())?;
/// assert_eq!((report.files, report.directories, report.symlinks), (1, 2, 1));
/// assert_eq!(std::fs::read(dst.join("sub/a.txt"))?, b"hello");
/// assert_eq!(std::fs::read_link(dst.join("link"))?, std::path::Path::new("sub/a.txt"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Invalid`] for options that make no sense per file (an offset, `len` or a
/// per-file progress callback in `transfer`; `workers` above [`MAX_WORKERS`]), or a special
/// file with [`Specials::Error`]; [`ErrorKind::Io`] naming the path for an OS failure (`EEXIST`
/// when `dst` exists without `dirs_exist_ok`); [`ErrorKind::Cancelled`] when the progress
/// callback or the cancel flag stopped it. With [`OnError::Collect`], one error listing every
/// failed path (its kind and errno those of the first). Every error carries the tree's report
/// so far ([`Error::tree_report`]) and its bytes ([`Error::bytes_moved`]).
pub fn copy_tree(
    src: impl AsRef<Path>,
    dst: impl AsRef<Path>,
    opts: &TreeOptions<'_>,
) -> Result<TreeReport> {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    check(opts)?;
    let started = Instant::now();
    let calls = crate::sys::count();
    let shared = Shared::new(opts);
    let workers = worker_count(opts.workers);
    let (mut report, walked) = pool::run(src, dst, &shared, workers)?;
    report.bytes = shared.bytes.load(Ordering::Relaxed);
    report.files = shared.files.load(Ordering::Relaxed);
    walk::finish(walked, opts, &shared, &mut report);
    shared.relay(true);
    report.syscalls = crate::sys::count() - calls + shared.syscalls.load(Ordering::Relaxed);
    report.elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let errors = shared.take_errors();
    report.errors = errors.iter().map(|(_, e)| e.clone()).collect();
    if shared.cancelled.load(Ordering::Relaxed) {
        let e = Error::cancelled(format!(
            "copy of {} to {} stopped after {} files ({} bytes)",
            src.display(),
            dst.display(),
            report.files,
            report.bytes
        ));
        return Err(e.with_tree_report(report));
    }
    match (errors.len(), opts.errors) {
        (0, _) => Ok(report),
        (_, OnError::Raise) | (1, OnError::Collect) => {
            let first = &report.errors[0];
            let e = Error::new(first.kind, first.errno, first.message.clone());
            Err(e.with_tree_report(report))
        }
        (n, OnError::Collect) => {
            let mut msg = format!(
                "{n} entries failed copying {} to {}:",
                src.display(),
                dst.display()
            );
            for e in &report.errors {
                msg.push_str(&format!("\n  {}", e.message));
            }
            let first = &report.errors[0];
            let e = Error::new(first.kind, first.errno, msg);
            Err(e.with_tree_report(report))
        }
    }
}

/// The options [`copy_tree`] refuses.
fn check(opts: &TreeOptions<'_>) -> Result<()> {
    let t = &opts.transfer;
    if t.src_offset.is_some() || t.dst_offset.is_some() || t.len.is_some() {
        return Err(Error::invalid(
            "copy_tree copies whole files: src_offset, dst_offset and len must be None",
        ));
    }
    if t.progress.is_some() {
        return Err(Error::invalid(
            "copy_tree takes its progress callback in TreeOptions::progress (bytes, files), \
             not in the per-file transfer options",
        ));
    }
    if opts.workers.is_some_and(|w| w > MAX_WORKERS) {
        return Err(Error::invalid(format!(
            "workers must be at most {MAX_WORKERS}"
        )));
    }
    Ok(())
}

/// `workers`, or the number of CPUs but at least 4.
fn worker_count(asked: Option<u32>) -> usize {
    match asked {
        Some(n) if n > 0 => n as usize,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(4),
    }
}

/// What the walker, the workers and the progress relay share.
pub(crate) struct Shared<'a> {
    pub(crate) opts: &'a TreeOptions<'a>,
    /// Set to stop everything: the first error under [`OnError::Raise`], or a stop.
    pub(crate) stop: AtomicBool,
    /// Set when the progress callback or the cancel flag asked to stop.
    pub(crate) cancelled: AtomicBool,
    pub(crate) bytes: AtomicU64,
    pub(crate) files: AtomicU64,
    pub(crate) syscalls: AtomicU64,
    errors: Mutex<Vec<(u64, TreeError)>>,
    last_relay: Mutex<Option<Instant>>,
}

impl<'a> Shared<'a> {
    fn new(opts: &'a TreeOptions<'a>) -> Shared<'a> {
        Shared {
            opts,
            stop: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            syscalls: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            last_relay: Mutex::new(None),
        }
    }

    /// Whether to stop now: asked already, or the caller's cancel flag is up.
    pub(crate) fn stopped(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if self
            .opts
            .transfer
            .cancel
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            self.cancel();
            return true;
        }
        false
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Records the failure of the entry at `path` (its message names it); under
    /// [`OnError::Raise`] it stops everything. A stop asked by the caller is not an entry's
    /// failure and is not recorded.
    pub(crate) fn fail(&self, path: &Path, e: Error) {
        if e.kind() == ErrorKind::Cancelled && self.stopped() {
            return;
        }
        let shown = path.display().to_string();
        let message = if e.message().contains(&shown) {
            e.message().to_string()
        } else {
            format!("{shown}: {}", e.message())
        };
        let entry = TreeError {
            path: path.to_path_buf(),
            kind: e.kind(),
            errno: e.errno(),
            message,
        };
        if let Ok(mut errors) = self.errors.lock() {
            let seq = errors.len() as u64;
            errors.push((seq, entry));
        }
        if self.opts.errors == OnError::Raise {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    fn take_errors(&self) -> Vec<(u64, TreeError)> {
        match self.errors.lock() {
            Ok(mut e) => std::mem::take(&mut *e),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// Calls the caller's progress callback with the counts so far, when 50 ms have passed
    /// since the last call (or always, with `last`); a `false` from it stops the copy. Only the
    /// calling thread calls it.
    pub(crate) fn relay(&self, last: bool) {
        let Some(progress) = self.opts.progress else {
            return;
        };
        if self.cancelled.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if let Ok(mut at) = self.last_relay.lock() {
            if !last && at.is_some_and(|t| now.duration_since(t).as_millis() < 50) {
                return;
            }
            *at = Some(now);
        }
        let bytes = self.bytes.load(Ordering::Relaxed);
        let files = self.files.load(Ordering::Relaxed);
        if !progress(bytes, files) && !last {
            self.cancel();
        }
    }
}
