//! # zcopy
//!
//! Moves bytes between file descriptors on Linux by every technique the kernel offers —
//! `read`+`write`, `mmap`+`write`, `sendfile`, `splice`, `copy_file_range`, reflink — picks the
//! best one for the pair automatically, and reports exactly what the transfer cost: syscalls,
//! user↔kernel mode switches, CPU time, context switches and the modelled copies.
//!
//! ```
//! use std::io::{Read, Seek, Write};
//!
//! let mut src = tempfile::tempfile()?;
//! src.write_all(b"hello, zero-copy")?;
//! src.rewind()?;
//! let mut dst = tempfile::tempfile()?;
//!
//! let report = zcopy::transfer(&src, &dst, &zcopy::Options::default())?;
//! assert_eq!(report.bytes, 16);
//! println!("{} moved {} bytes in {} syscalls", report.strategy, report.bytes, report.syscalls);
//!
//! let mut back = String::new();
//! dst.rewind()?;
//! dst.read_to_string(&mut back)?;
//! assert_eq!(back, "hello, zero-copy");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The engine borrows the caller's fds: it never closes them, leaves their flags as it found them,
//! and moves their positions only when an offset is `None` (by exactly the bytes moved). It never
//! raises `SIGPIPE` or `SIGBUS` in the host, never installs signal handlers, and never changes
//! process-wide state.

#![warn(missing_docs)]

/// `Display` and `FromStr` for an enum with `ALL` and `name()`: the names every face uses; the
/// parse error lists the valid names.
macro_rules! named {
    ($t:ty, $what:literal) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::Error;

            /// Parses a name; the error lists the valid names.
            fn from_str(s: &str) -> Result<$t, $crate::Error> {
                <$t>::ALL
                    .iter()
                    .copied()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.name()).collect();
                        $crate::Error::invalid(format!(
                            concat!("unknown ", $what, " {:?}; expected one of {}"),
                            s,
                            names.join(", ")
                        ))
                    })
            }
        }
    };
}

mod buffered;
pub mod cache;
mod endpoint;
mod error;
mod options;
mod parallel;
mod plan;
mod prealloc;
mod prepared;
mod report;
mod source;
mod sparse;
mod strategy;
mod sys;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
mod tree;

use std::ffi::{CStr, CString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub use buffered::{transfer_buffered, transfer_buffered_named};
pub use error::{Error, ErrorKind, Result};
pub use options::{CachePolicy, Options, Progress, Strategy, SyncPolicy, WaitTicks};
pub use plan::{AutoChoice, Support};
pub use prepared::Prepared;
pub use report::{Fallback, Report};
pub use source::Source;
pub use tree::{
    copy_tree, OnError, Specials, TreeError, TreeOptions, TreeProgress, TreeReport, MAX_WORKERS,
};

use endpoint::Endpoint;
use report::Meter;

/// The version of this crate (`zc_version()` in C, `zcopy.__version__` in Python).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Moves bytes from `src` to `dst` as `opts` says, and reports what it cost.
///
/// `src` and `dst` may be regular files, pipes and FIFOs, stream sockets (TCP, Unix) and
/// character devices (`/dev/null`; `/dev/zero` only with a `len`). On error the destination
/// holds exactly [`Error::bytes_moved`] bytes from where the transfer began, and positions
/// advanced (for `None` offsets) by exactly that much (with [`Options::parallelism`], bytes
/// past them may have been written too: see there).
///
/// # Errors
/// [`ErrorKind::Invalid`] for a request that cannot make sense (a write-only source, an offset
/// on a pipe, overlapping ranges of one file); [`ErrorKind::Unsupported`] when the named
/// technique cannot serve the pair and fallback is off; [`ErrorKind::Cancelled`] when the
/// progress callback or cancel flag stopped it; [`ErrorKind::Io`] for an OS failure, with its
/// errno (`EAGAIN` on a non-blocking fd that would block: see [`Error::is_would_block`];
/// `EISDIR` for a directory, as `read(2)` and `write(2)` refuse it).
pub fn transfer(src: impl AsFd, dst: impl AsFd, opts: &Options<'_>) -> Result<Report> {
    let meter = Meter::start();
    let src = Endpoint::classify(src.as_fd(), "src")?;
    let dst = Endpoint::classify(dst.as_fd(), "dst")?;
    meter.finish_result(plan::run(&src, &dst, opts))
}

/// [`transfer`], with messages naming the ends `src_name` and `dst_name` (the paths the caller
/// opened them from: `src big.iso`, `dst -`) instead of their fd numbers (`src fd 3`).
///
/// # Errors
/// As [`transfer`].
pub fn transfer_named(
    src: impl AsFd,
    src_name: &Path,
    dst: impl AsFd,
    dst_name: &Path,
    opts: &Options<'_>,
) -> Result<Report> {
    let meter = Meter::start();
    let src = Endpoint::classify_as(src.as_fd(), endpoint::Name::Path("src", src_name))?;
    let dst = Endpoint::classify_as(dst.as_fd(), endpoint::Name::Path("dst", dst_name))?;
    meter.finish_result(plan::run(&src, &dst, opts))
}

/// Copies the file at `src_path` to `dst_path`, creating or truncating the destination.
///
/// Permissions follow `cp` (without `-p`): a new destination gets the source's permission bits
/// minus the process's umask, without the setuid, setgid and sticky bits; an existing
/// destination keeps its own mode. A copy never grants more than the caller's umask allows.
///
/// The options apply as for [`transfer`]; offsets are counted from the start of each file.
///
/// # Errors
/// As [`transfer`], plus the errors of opening either path (their messages name the path:
/// [`ErrorKind::Io`] with the OS's errno, `EISDIR` for a directory as either path), and
/// [`ErrorKind::Invalid`] when both paths name the same file (nothing is truncated then), or
/// when `src` is a FIFO, a socket or a device, or `dst` a FIFO or a socket (checked before
/// either is opened, as `shutil.copyfile` refuses named pipes: open such files yourself and
/// pass the fds to [`transfer`]).
pub fn copy_file(
    src_path: impl AsRef<Path>,
    dst_path: impl AsRef<Path>,
    opts: &Options<'_>,
) -> Result<Report> {
    let (src_path, dst_path) = (src_path.as_ref(), dst_path.as_ref());
    let meter = Meter::start();
    let c_src = c_path(src_path, "src")?;
    let c_dst = c_path(dst_path, "dst")?;
    refuse_special(&c_src, src_path, "src")?;
    refuse_special(&c_dst, dst_path, "dst")?;
    // Decided once for the opens and the transfer (`WaitTicks::UnlessInterruptedBy`).
    let decided = strategy::decide_wait_ticks(opts, None, None);
    let opts = decided.as_ref().unwrap_or(opts);
    // A path made a FIFO after that check would block the open until its other end comes: with
    // a progress callback or a cancel flag, the wait is cut into ticks they can end (or, without
    // ticks, ended by the signal that interrupts it).
    let src = strategy::with_stop_hook(opts, || sys::fs::open_stoppable(&c_src, libc::O_RDONLY, 0))
        .map_err(|e| Error::os(e, format_args!("cannot open src {}", src_path.display())))?;
    let (src_st, src_mnt) = sys::fs::fstat_mount(src.as_fd())
        .map_err(|e| Error::os(e, format_args!("fstat on src {}", src_path.display())))?;
    if src_st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(Error::new(
            ErrorKind::Io,
            Some(libc::EISDIR),
            format!("src {} is a directory", src_path.display()),
        ));
    }
    // The kernel applies the umask, and the mode only when it creates the file (cp's rule).
    let mode = src_st.st_mode & 0o777;
    let dst = strategy::with_stop_hook(opts, || {
        sys::fs::open_stoppable(&c_dst, libc::O_WRONLY | libc::O_CREAT, mode)
    })
    .map_err(|e| Error::os(e, format_args!("cannot open dst {}", dst_path.display())))?;
    let (dst_st, dst_mnt) = sys::fs::fstat_mount(dst.as_fd())
        .map_err(|e| Error::os(e, format_args!("fstat on dst {}", dst_path.display())))?;
    if dst_st.st_dev == src_st.st_dev && dst_st.st_ino == src_st.st_ino {
        return Err(Error::invalid(format!(
            "src {} and dst {} are the same file",
            src_path.display(),
            dst_path.display()
        )));
    }
    let is_reg = dst_st.st_mode & libc::S_IFMT == libc::S_IFREG;
    if is_reg && dst_st.st_size > 0 {
        sys::fs::ftruncate(dst.as_fd(), 0).map_err(|e| {
            Error::os(
                e,
                format_args!("cannot truncate dst {}", dst_path.display()),
            )
        })?;
    }
    let src_ep = Endpoint::from_stat(
        src.as_fd(),
        endpoint::Name::Path("src", src_path),
        &src_st,
        src_mnt,
        libc::O_RDONLY,
    );
    let mut dst_st = dst_st;
    dst_st.st_size = 0;
    let dst_ep = Endpoint::from_stat(
        dst.as_fd(),
        endpoint::Name::Path("dst", dst_path),
        &dst_st,
        dst_mnt,
        libc::O_WRONLY,
    );
    let result = plan::run(&src_ep, &dst_ep, opts);
    // Close (counted) before the meter stops, so the report includes it.
    drop((src, dst));
    meter.finish_result(result)
}

/// Which techniques can serve the pair `src` → `dst`, and for the others why not, without moving
/// a byte. One entry per technique (Auto excluded), in [`Strategy::TECHNIQUES`] order.
///
/// The verdicts come from what the fds are, the filesystems they live on, and what this process
/// has learned is unavailable (a seccomp filter, an old kernel); a technique marked supported
/// can still refuse at run time (copy_file_range on some network filesystems), which Auto handles
/// by falling back.
///
/// # Errors
/// As [`transfer`]'s argument checks: a bad fd, a write-only source, a read-only destination.
pub fn probe(src: impl AsFd, dst: impl AsFd) -> Result<Vec<Support>> {
    let src = Endpoint::classify(src.as_fd(), "src")?;
    let dst = Endpoint::classify(dst.as_fd(), "dst")?;
    plan::probe(&src, &dst)
}

/// [`probe`], with messages naming the ends `src_name` and `dst_name` instead of their fd
/// numbers (as [`transfer_named`]).
///
/// # Errors
/// As [`probe`].
pub fn probe_named(
    src: impl AsFd,
    src_name: &Path,
    dst: impl AsFd,
    dst_name: &Path,
) -> Result<Vec<Support>> {
    let src = Endpoint::classify_as(src.as_fd(), endpoint::Name::Path("src", src_name))?;
    let dst = Endpoint::classify_as(dst.as_fd(), endpoint::Name::Path("dst", dst_name))?;
    plan::probe(&src, &dst)
}

/// What [`Strategy::Auto`] would do for `src` → `dst` with `opts` (its `strategy` taken as
/// Auto, fallback allowed): the techniques in the order it tries them, the first one the pair
/// supports (as [`probe`] judges it), and why, in a sentence. Moves nothing; the offsets,
/// `len` and `direct_threshold` of `opts` count, as they do for a transfer.
///
/// ```
/// use std::io::Write;
/// let mut src = tempfile::tempfile()?;
/// src.write_all(&[7u8; 100])?;
/// let dst = tempfile::tempfile()?;
/// let auto = zcopy::auto_choice(&src, &dst, &zcopy::Options::default())?;
/// assert_eq!(auto.first, auto.order.first().copied());
/// assert!(!auto.why.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`probe`].
pub fn auto_choice(src: impl AsFd, dst: impl AsFd, opts: &Options<'_>) -> Result<AutoChoice> {
    let src = Endpoint::classify(src.as_fd(), "src")?;
    let dst = Endpoint::classify(dst.as_fd(), "dst")?;
    plan::auto_choice(&src, &dst, opts)
}

/// [`auto_choice`], with messages (and the reasons in `why`) naming the ends `src_name` and
/// `dst_name` instead of their fd numbers (as [`transfer_named`]).
///
/// # Errors
/// As [`probe`].
pub fn auto_choice_named(
    src: impl AsFd,
    src_name: &Path,
    dst: impl AsFd,
    dst_name: &Path,
    opts: &Options<'_>,
) -> Result<AutoChoice> {
    let src = Endpoint::classify_as(src.as_fd(), endpoint::Name::Path("src", src_name))?;
    let dst = Endpoint::classify_as(dst.as_fd(), endpoint::Name::Path("dst", dst_name))?;
    plan::auto_choice(&src, &dst, opts)
}

/// Refuses, before opening it, a path [`copy_file`] does not copy (`shutil.copyfile`'s
/// `SpecialFileError`): a FIFO (whose open blocks until a writer or reader comes), a socket or
/// a device as `src`, a FIFO or socket as `dst`. One `stat` of the path; a path that cannot be
/// stat'ed is left to the open, whose error names it.
fn refuse_special(c: &CStr, path: &Path, role: &str) -> Result<()> {
    let Ok(st) = sys::fs::stat(c) else {
        return Ok(());
    };
    let what = match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => "a named pipe",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR if role == "src" => "a character device",
        libc::S_IFBLK if role == "src" => "a block device",
        _ => return Ok(()),
    };
    Err(Error::invalid(format!(
        "{role} {} is {what}: copy_file copies regular files; open it and pass the fd to transfer",
        path.display()
    )))
}

fn c_path(p: &Path, role: &str) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("{role} path {} contains a NUL byte", p.display())))
}
