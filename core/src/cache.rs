//! Page-cache control: what of a file is cached ([`residency`]), hints about how it will be used
//! ([`advise`], [`readahead`]), moving it in or out of the cache ([`warm`], [`evict`]), and
//! keeping it there ([`lock`]).
//!
//! ```
//! use std::io::Write;
//! let mut f = tempfile::tempfile()?;
//! f.write_all(&vec![7u8; 1 << 20])?;
//! let r = zcopy::cache::evict(&f, 0, None)?;
//! assert_eq!(r.resident, 0);
//! let r = zcopy::cache::warm(&f, 0, None)?;
//! assert_eq!((r.pages, r.resident), (256, 256));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A pipe, a socket, a character device or a procfs/sysfs file has no page cache: hints on them
//! are no-ops that say so ([`Hint::Skipped`], [`Method::None`]), never errors.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use crate::endpoint::{Endpoint, Kind, Name};
use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// How a range of a file will be used (`posix_fadvise` advice). The names are the ones every
/// face uses: `normal`, `sequential`, `random`, `willneed`, `dontneed`, `noreuse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Advice {
    /// No particular pattern (the default readahead).
    Normal,
    /// Read front to back: the kernel doubles its readahead window.
    Sequential,
    /// Read in no order: the kernel turns readahead off.
    Random,
    /// Will be read soon: the kernel starts reading it into the cache now.
    WillNeed,
    /// Not needed any more: the kernel drops its clean cached pages (dirty ones stay until
    /// written back: [`evict`] writes them back first).
    DontNeed,
    /// Will be read once: since Linux 6.3 its pages are not promoted as recently used.
    NoReuse,
}

impl Advice {
    /// Every advice, in the order of the names above.
    pub const ALL: &'static [Advice] = &[
        Advice::Normal,
        Advice::Sequential,
        Advice::Random,
        Advice::WillNeed,
        Advice::DontNeed,
        Advice::NoReuse,
    ];

    /// The name every face uses.
    pub const fn name(self) -> &'static str {
        match self {
            Advice::Normal => "normal",
            Advice::Sequential => "sequential",
            Advice::Random => "random",
            Advice::WillNeed => "willneed",
            Advice::DontNeed => "dontneed",
            Advice::NoReuse => "noreuse",
        }
    }

    fn raw(self) -> i32 {
        match self {
            Advice::Normal => libc::POSIX_FADV_NORMAL,
            Advice::Sequential => libc::POSIX_FADV_SEQUENTIAL,
            Advice::Random => libc::POSIX_FADV_RANDOM,
            Advice::WillNeed => libc::POSIX_FADV_WILLNEED,
            Advice::DontNeed => libc::POSIX_FADV_DONTNEED,
            Advice::NoReuse => libc::POSIX_FADV_NOREUSE,
        }
    }
}

named!(Advice, "advice");

/// Which kernel interface answered a [`residency`] question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Method {
    /// `cachestat(2)` (Linux 6.5+) counted the pages; the bitmap came from `mincore(2)` where it
    /// can see the file, else from `cachestat` page by page.
    Cachestat,
    /// `mincore(2)` over a `PROT_NONE` mapping of the file.
    Mincore,
    /// The fd has no page cache (a pipe, socket, character device, procfs or sysfs file).
    None,
    /// Unknown: this process may not see the file's page cache (`cachestat` and `mincore` answer
    /// truthfully only for files it owns or may write). Only [`evict`] and [`warm`] give it,
    /// after doing their work; `resident` and `ratio` are then 0 and `bitmap` empty, meaning
    /// "not known", not "not cached". [`residency`] says so with an Unsupported error instead.
    Unknown,
}

impl Method {
    /// Every method.
    pub const ALL: &'static [Method] = &[
        Method::Cachestat,
        Method::Mincore,
        Method::None,
        Method::Unknown,
    ];

    /// `cachestat`, `mincore`, `none` or `unknown`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Cachestat => "cachestat",
            Method::Mincore => "mincore",
            Method::None => "none",
            Method::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of a range of a file is in the page cache.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Residency {
    /// Pages in the range (the system page size each; the last may be partial).
    pub pages: u64,
    /// Pages of the range in the page cache.
    pub resident: u64,
    /// `resident / pages` (0 for an empty range).
    pub ratio: f64,
    /// One byte per page, 1 = resident (as `mincore` fills it).
    pub bitmap: Vec<u8>,
    /// Which interface answered.
    pub method: Method,
}

impl Residency {
    fn none() -> Residency {
        Residency {
            pages: 0,
            resident: 0,
            ratio: 0.0,
            bitmap: Vec::new(),
            method: Method::None,
        }
    }
}

/// The residency of `r` after [`evict`] or [`warm`] did their work: where this process may not
/// see the file's page cache, [`Method::Unknown`] rather than an error (the work was done).
fn residency_after(r: &Range<'_>) -> Result<Residency> {
    match range_residency(r) {
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            let ps = sys::mm::page_size();
            let first = r.offset / ps;
            Ok(Residency {
                pages: (r.offset + r.len).div_ceil(ps) - first,
                resident: 0,
                ratio: 0.0,
                bitmap: Vec::new(),
                method: Method::Unknown,
            })
        }
        other => other,
    }
}

/// What a hint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// The kernel took the hint.
    Applied,
    /// Nothing to do for this fd, and why (it has no page cache).
    Skipped(String),
}

/// A file's range, resolved against its size.
struct Range<'fd> {
    ep: Endpoint<'fd>,
    offset: u64,
    /// Bytes from `offset`; 0 when the range is empty.
    len: u64,
}

/// Why `fd` has no page cache, if it has none.
fn uncached(ep: &Endpoint<'_>) -> Option<String> {
    if !matches!(ep.kind, Kind::File | Kind::BlockDevice) {
        return Some(format!(
            "{} is {}, which has no page cache",
            ep.name, ep.kind
        ));
    }
    if let Some(fs) = ep.sizeless_fs() {
        return Some(format!(
            "{} is a {fs} file, made when read, which has no page cache",
            ep.name
        ));
    }
    None
}

fn resolve<'fd>(
    fd: BorrowedFd<'fd>,
    name: Name<'fd>,
    offset: u64,
    len: Option<u64>,
) -> Result<std::result::Result<Range<'fd>, String>> {
    let ep = Endpoint::classify_as(fd, name)?;
    ep.usable()?;
    if let Some(why) = uncached(&ep) {
        return Ok(Err(why));
    }
    let size = if ep.kind == Kind::BlockDevice {
        sys::fs::lseek(fd, 0, libc::SEEK_END)
            .map_err(|e| Error::os(e, format_args!("lseek on {}", ep.name)))?
    } else {
        ep.size
    };
    let end = match len {
        Some(l) => offset
            .checked_add(l)
            .ok_or_else(|| Error::invalid(format!("offset {offset} plus length {l} overflows")))?,
        None => size,
    };
    let len = end.saturating_sub(offset);
    Ok(Ok(Range { ep, offset, len }))
}

/// How much of `len` bytes of `fd` from `offset` (`None`: to end of file) is in the page cache.
///
/// `cachestat(2)` counts where the kernel has it (Linux 6.5+), `mincore(2)` over a `PROT_NONE`
/// mapping otherwise; the bitmap comes from `mincore` (or, where it cannot see the file, from
/// `cachestat` page by page). A page whose read is still in flight counts in `resident` but is 0
/// in a `mincore` bitmap until the read completes ([`warm`] waits for it).
///
/// Since Linux 5.2 `mincore`, and on recent kernels `cachestat`, tell the truth only for files
/// the caller owns or may write (`mincore` reports every other file fully resident); where
/// neither can see the file, this says so with an [`Unsupported`](ErrorKind::Unsupported) error
/// instead of a false answer.
///
/// # Errors
/// A bad fd; an offset plus length past 2^64; Unsupported as above.
pub fn residency(fd: impl AsFd, offset: u64, len: Option<u64>) -> Result<Residency> {
    let fd = fd.as_fd();
    residency_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len)
}

/// [`residency`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`residency`].
pub fn residency_named(
    fd: impl AsFd,
    name: &Path,
    offset: u64,
    len: Option<u64>,
) -> Result<Residency> {
    residency_of(fd.as_fd(), Name::Path("", name), offset, len)
}

fn residency_of(
    fd: BorrowedFd<'_>,
    name: Name<'_>,
    offset: u64,
    len: Option<u64>,
) -> Result<Residency> {
    match resolve(fd, name, offset, len)? {
        Ok(range) => range_residency(&range),
        Err(_) => Ok(Residency::none()),
    }
}

fn range_residency(r: &Range<'_>) -> Result<Residency> {
    let ps = sys::mm::page_size();
    let first = r.offset / ps;
    let pages = (r.offset + r.len).div_ceil(ps) - first;
    if pages == 0 {
        return Ok(Residency {
            pages: 0,
            resident: 0,
            ratio: 0.0,
            bitmap: Vec::new(),
            method: Method::Cachestat,
        });
    }
    let counted = sys::fs::cachestat(r.ep.fd, first * ps, pages * ps);
    let mut bitmap = vec![
        0u8;
        usize::try_from(pages)
            .map_err(|_| Error::invalid("range too large for a bitmap"))?
    ];
    let mincore_ok = mincore_sees(&r.ep) && mincore_bitmap(&r.ep, first, &mut bitmap).is_ok();
    let blind = || {
        Error::new(
            ErrorKind::Unsupported,
            Some(libc::EPERM),
            format!(
                "cannot see the page cache of {}: cachestat and mincore report truthfully only on files this process owns or may write, and it does neither",
                r.ep.name
            ),
        )
    };
    match counted {
        Ok(cs) => {
            if !mincore_ok {
                // Page by page: the only truthful bitmap left.
                for (i, b) in bitmap.iter_mut().enumerate() {
                    let cs = sys::fs::cachestat(r.ep.fd, (first + i as u64) * ps, ps)
                        .map_err(|e| Error::os(e, format_args!("cachestat on {}", r.ep.name)))?;
                    *b = u8::from(cs.nr_cache > 0);
                }
            }
            let resident = cs.nr_cache.min(pages);
            Ok(Residency {
                pages,
                resident,
                ratio: resident as f64 / pages as f64,
                bitmap,
                method: Method::Cachestat,
            })
        }
        Err(e) if mincore_ok && e.raw_os_error() == Some(libc::ENOSYS) => {
            let resident = bitmap.iter().filter(|&&b| b == 1).count() as u64;
            Ok(Residency {
                pages,
                resident,
                ratio: resident as f64 / pages as f64,
                bitmap,
                method: Method::Mincore,
            })
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => Err(blind()),
        Err(e) => Err(Error::os(e, format_args!("cachestat on {}", r.ep.name))),
    }
}

/// Whether `mincore` tells the truth about this file (Linux 5.2+: the caller owns it, may
/// write it, or is privileged) and can map it (the fd is readable).
fn mincore_sees(ep: &Endpoint<'_>) -> bool {
    // SAFETY: geteuid has no failure mode.
    let euid = unsafe { libc::geteuid() };
    let acc = ep.flags & libc::O_ACCMODE;
    acc != libc::O_WRONLY && (euid == 0 || ep.uid == euid || acc == libc::O_RDWR)
}

/// Fills `bitmap` (one byte per page from page `first`) with `mincore` over `PROT_NONE` windows.
fn mincore_bitmap(ep: &Endpoint<'_>, first: u64, bitmap: &mut [u8]) -> std::io::Result<()> {
    const WINDOW_PAGES: usize = 1 << 18; // 1 GiB of 4 KiB pages per mapping
    let ps = sys::mm::page_size();
    for (i, chunk) in bitmap.chunks_mut(WINDOW_PAGES).enumerate() {
        let start = first + (i * WINDOW_PAGES) as u64;
        let probe = sys::mm::Probe::map(ep.fd, start * ps, chunk.len() * ps as usize)?;
        probe.mincore(chunk)?;
        for b in chunk.iter_mut() {
            *b &= 1;
        }
    }
    Ok(())
}

/// Tells the kernel how `len` bytes of `fd` from `offset` (`None`: to end of file) will be used.
///
/// # Errors
/// A bad fd, or the kernel refusing the advice. An fd without a page cache is not an error:
/// the result is [`Hint::Skipped`] with the reason.
pub fn advise(fd: impl AsFd, offset: u64, len: Option<u64>, advice: Advice) -> Result<Hint> {
    let fd = fd.as_fd();
    advise_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len, advice)
}

/// [`advise`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`advise`].
pub fn advise_named(
    fd: impl AsFd,
    name: &Path,
    offset: u64,
    len: Option<u64>,
    advice: Advice,
) -> Result<Hint> {
    advise_of(fd.as_fd(), Name::Path("", name), offset, len, advice)
}

fn advise_of(
    fd: BorrowedFd<'_>,
    name: Name<'_>,
    offset: u64,
    len: Option<u64>,
    advice: Advice,
) -> Result<Hint> {
    let r = match resolve(fd, name, offset, len)? {
        Ok(r) => r,
        Err(why) => return Ok(Hint::Skipped(why)),
    };
    // fadvise's length 0 means "to end of file": keep that for None, skip empty ranges.
    let flen = match len {
        None => 0,
        Some(_) if r.len == 0 => return Ok(Hint::Applied),
        Some(_) => r.len,
    };
    sys::fs::fadvise(r.ep.fd, offset, flen, advice.raw())
        .map_err(|e| Error::os(e, format_args!("posix_fadvise({advice}) on {}", r.ep.name)))?;
    Ok(Hint::Applied)
}

/// Starts reading `len` bytes of `fd` from `offset` (`None`: to end of file) into the page cache
/// (`readahead(2)`), without waiting for it.
///
/// # Errors
/// A bad fd, or the kernel refusing. An fd without a page cache gives [`Hint::Skipped`].
pub fn readahead(fd: impl AsFd, offset: u64, len: Option<u64>) -> Result<Hint> {
    let fd = fd.as_fd();
    readahead_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len)
}

/// [`readahead`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`readahead`].
pub fn readahead_named(fd: impl AsFd, name: &Path, offset: u64, len: Option<u64>) -> Result<Hint> {
    readahead_of(fd.as_fd(), Name::Path("", name), offset, len)
}

fn readahead_of(fd: BorrowedFd<'_>, name: Name<'_>, offset: u64, len: Option<u64>) -> Result<Hint> {
    let r = match resolve(fd, name, offset, len)? {
        Ok(r) => r,
        Err(why) => return Ok(Hint::Skipped(why)),
    };
    start_reading(&r)?;
    Ok(Hint::Applied)
}

fn start_reading(r: &Range<'_>) -> Result<()> {
    // The kernel reads at most a readahead window per call: ask window by window.
    const STEP: u64 = 2 << 20;
    let mut off = r.offset;
    let end = r.offset + r.len;
    while off < end {
        let n = (end - off).min(STEP) as usize;
        sys::fs::readahead(r.ep.fd, off, n)
            .map_err(|e| Error::os(e, format_args!("readahead on {}", r.ep.name)))?;
        off += n as u64;
    }
    Ok(())
}

/// Brings `len` bytes of `fd` from `offset` (`None`: to end of file) into the page cache
/// without copying them to user space, waits until they are there, and returns the range's
/// residency afterwards. It reads the range with `sendfile` into `/dev/null`: the kernel reads
/// the pages into the cache (with its own readahead) and the null device discards them.
///
/// Where this process may not see the file's page cache (see [`residency`]), the pages are
/// read all the same and the residency after is [`Method::Unknown`].
///
/// # Errors
/// A bad fd, an offset plus length past 2^64, and a failed read with its errno. An fd without
/// a page cache gives a residency with [`Method::None`].
pub fn warm(fd: impl AsFd, offset: u64, len: Option<u64>) -> Result<Residency> {
    let fd = fd.as_fd();
    warm_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len)
}

/// [`warm`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`warm`].
pub fn warm_named(fd: impl AsFd, name: &Path, offset: u64, len: Option<u64>) -> Result<Residency> {
    warm_of(fd.as_fd(), Name::Path("", name), offset, len)
}

fn warm_of(fd: BorrowedFd<'_>, name: Name<'_>, offset: u64, len: Option<u64>) -> Result<Residency> {
    let r = match resolve(fd, name, offset, len)? {
        Ok(r) => r,
        Err(_) => return Ok(Residency::none()),
    };
    if r.len > 0 {
        let null = sys::fs::open(c"/dev/null", libc::O_WRONLY, 0)
            .map_err(|e| Error::os(e, "cannot open /dev/null to warm the cache through"))?;
        let mut off = r.offset;
        let end = r.offset + r.len;
        while off < end {
            let n = (end - off).min(crate::sys::fs::MAX_RW_COUNT) as usize;
            let k = sys::fs::sendfile(null.as_fd(), r.ep.fd, Some(&mut off), n).map_err(|e| {
                Error::os(e, format_args!("sendfile from {} to /dev/null", r.ep.name))
            })?;
            if k == 0 {
                break;
            }
        }
    }
    residency_after(&r)
}

/// Drops `len` bytes of `fd` from `offset` (`None`: to end of file) from the page cache:
/// writes dirty pages back first (`sync_file_range`; `POSIX_FADV_DONTNEED` alone silently keeps
/// them), then drops them. Returns what is still resident (pages mapped or locked by a process
/// stay).
///
/// Where this process may not see the file's page cache (see [`residency`]), the pages are
/// dropped all the same and the residency after is [`Method::Unknown`].
///
/// # Errors
/// A bad fd, an offset plus length past 2^64, and a failed write-back (EIO, ENOSPC) with its
/// errno. An fd without a page cache gives a residency with [`Method::None`].
pub fn evict(fd: impl AsFd, offset: u64, len: Option<u64>) -> Result<Residency> {
    let fd = fd.as_fd();
    evict_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len)
}

/// [`evict`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`evict`].
pub fn evict_named(fd: impl AsFd, name: &Path, offset: u64, len: Option<u64>) -> Result<Residency> {
    evict_of(fd.as_fd(), Name::Path("", name), offset, len)
}

fn evict_of(
    fd: BorrowedFd<'_>,
    name: Name<'_>,
    offset: u64,
    len: Option<u64>,
) -> Result<Residency> {
    let r = match resolve(fd, name, offset, len)? {
        Ok(r) => r,
        Err(_) => return Ok(Residency::none()),
    };
    drop_range(&r.ep, r.offset, r.len)?;
    residency_after(&r)
}

/// Pages of a file range mapped and locked in memory ([`lock`]): they stay in the page cache,
/// whatever the memory pressure, until this is dropped (which unmaps, and so unlocks, them).
/// `vmtouch -l` holds files this way.
#[derive(Debug)]
pub struct Locked {
    map: Option<sys::mm::Mapping>,
    pages: u64,
}

impl Locked {
    /// Pages locked (the system page size each; the last may be partial).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Bytes locked: the locked pages' length (whole pages).
    pub fn bytes(&self) -> u64 {
        self.map.as_ref().map_or(0, |m| m.len() as u64)
    }
}

/// Maps `len` bytes of `fd` from `offset` (`None`: to end of file; a range past the end is cut
/// there) read-only and locks them in memory with `mlock(2)`: the kernel reads every page in
/// and keeps it resident until the returned [`Locked`] is dropped. The pages are never touched
/// from user space, so a truncation meanwhile cannot raise `SIGBUS`.
///
/// Locked memory counts against `RLIMIT_MEMLOCK` (`ulimit -l`) unless the process has
/// `CAP_IPC_LOCK`; past it the kernel refuses with `ENOMEM` (`EPERM` when the limit is 0),
/// and nothing of this range stays locked.
///
/// # Errors
/// A bad fd, a directory, an fd without a page cache (Invalid), an fd not open for reading
/// (`EACCES` from `mmap`), and `mlock`'s refusal with its errno.
pub fn lock(fd: impl AsFd, offset: u64, len: Option<u64>) -> Result<Locked> {
    let fd = fd.as_fd();
    lock_of(fd, Name::Fd("", fd.as_raw_fd()), offset, len)
}

/// [`lock`], with messages naming the file `name` (the path it was opened from, or the
/// caller's `fd 5` for a duplicate of the caller's fd) instead of its fd number.
///
/// # Errors
/// As [`lock`].
pub fn lock_named(fd: impl AsFd, name: &Path, offset: u64, len: Option<u64>) -> Result<Locked> {
    lock_of(fd.as_fd(), Name::Path("", name), offset, len)
}

fn lock_of(fd: BorrowedFd<'_>, name: Name<'_>, offset: u64, len: Option<u64>) -> Result<Locked> {
    let r = match resolve(fd, name, offset, len)? {
        Ok(r) => r,
        Err(why) => return Err(Error::invalid(format!("cannot lock: {why}"))),
    };
    let ps = sys::mm::page_size();
    let start = r.offset / ps * ps;
    // A block device's size is the resolved range's; a file's range stops at its end (the
    // pages past it cannot be faulted in).
    let size = if r.ep.kind == Kind::BlockDevice {
        u64::MAX
    } else {
        r.ep.size
    };
    let end = (r.offset + r.len).min(size);
    if end <= r.offset {
        return Ok(Locked {
            map: None,
            pages: 0,
        });
    }
    let map_len =
        usize::try_from(end - start).map_err(|_| Error::invalid("range too large to map"))?;
    let map = sys::mm::Mapping::map(r.ep.fd, start, map_len)
        .map_err(|e| Error::os(e, format_args!("mmap of {} to lock it", r.ep.name)))?;
    map.lock().map_err(|e| {
        Error::os(
            e,
            format_args!("mlock of {} bytes of {}", map.len(), r.ep.name),
        )
    })?;
    Ok(Locked {
        pages: (end - start).div_ceil(ps),
        map: Some(map),
    })
}

/// The most bytes this process may lock in memory with [`lock`]: the soft `RLIMIT_MEMLOCK`
/// (`ulimit -l`), or `None` when nothing binds it (the limit is unlimited, or the process has
/// `CAP_IPC_LOCK` in its effective set, as `/proc/self/status` tells; if that cannot be read,
/// `None` too, leaving the verdict to `mlock`). Memory the process has locked already counts
/// against the same limit.
pub fn lock_limit() -> Option<u64> {
    const CAP_IPC_LOCK: u32 = 14;
    let limit = sys::process::memlock_limit().ok().flatten()?;
    // Read through std (uncounted syscalls): this is asked before locking, never during a
    // transfer.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    (caps & (1 << CAP_IPC_LOCK) == 0).then_some(limit)
}

/// The system page size: the unit of [`Residency::pages`], [`Locked::pages`] and every bitmap
/// byte.
pub fn page_size() -> u64 {
    sys::mm::page_size()
}

/// The files a page-cache command works on, as [`files`] finds them.
#[derive(Debug, Default)]
pub struct Files {
    /// Each path given that is not a directory (followed if a symlink; a pipe or device named
    /// is kept: it has no page cache, which [`residency`] says), and every regular file under
    /// each directory given, in the order met.
    pub files: Vec<std::path::PathBuf>,
    /// Directories walked (each given directory and every one below it).
    pub directories: u64,
    /// Whether a path given was a directory.
    pub any_directory: bool,
    /// What could not be read, with the path it is about: a path given that does not exist,
    /// a directory that cannot be listed, an entry that cannot be stat'ed. The rest is walked.
    pub errors: Vec<(std::path::PathBuf, Error)>,
}

/// The files under `paths` as vmtouch walks them: each path given (a directory recursively,
/// its entries in name order); inside directories, symlinks, pipes, sockets and devices are
/// skipped and a file met before (a hard link, or a file also named) is taken once. Reads
/// directories through `std` (uncounted syscalls); nothing is opened but directories.
pub fn files<P: AsRef<std::path::Path>>(paths: &[P]) -> Files {
    use std::os::unix::fs::MetadataExt;
    let mut walk = Files::default();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let p = p.as_ref();
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                walk.any_directory = true;
                visit(p, &mut walk, &mut seen);
            }
            Ok(m) => {
                seen.insert((m.dev(), m.ino()));
                walk.files.push(p.to_path_buf());
            }
            Err(e) => walk.errors.push((
                p.to_path_buf(),
                Error::os(e, format_args!("cannot open {}", p.display())),
            )),
        }
    }
    walk
}

/// Walks the directory `dir` into `walk`.
fn visit(
    dir: &std::path::Path,
    walk: &mut Files,
    seen: &mut std::collections::HashSet<(u64, u64)>,
) {
    use std::os::unix::fs::MetadataExt;
    walk.directories += 1;
    let listing = |e| Error::os(e, format_args!("cannot read directory {}", dir.display()));
    let entries = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            walk.errors.push((dir.to_path_buf(), listing(e)));
            return;
        }
    };
    let mut paths = Vec::new();
    for e in entries {
        match e {
            Ok(e) => paths.push(e.path()),
            Err(e) => walk.errors.push((dir.to_path_buf(), listing(e))),
        }
    }
    paths.sort();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => visit(&p, walk, seen),
            Ok(m) if m.is_file() => {
                if seen.insert((m.dev(), m.ino())) {
                    walk.files.push(p);
                }
            }
            Ok(_) => {}
            Err(e) => {
                let err = Error::os(e, format_args!("cannot stat {}", p.display()));
                walk.errors.push((p, err));
            }
        }
    }
}

/// Writes back, then drops, `len` bytes from `offset` (len 0: nothing).
pub(crate) fn drop_range(ep: &Endpoint<'_>, offset: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    sys::fs::sync_range(ep.fd, offset, len)
        .map_err(|e| Error::os(e, format_args!("sync_file_range on {}", ep.name)))?;
    sys::fs::fadvise(ep.fd, offset, len, libc::POSIX_FADV_DONTNEED)
        .map_err(|e| Error::os(e, format_args!("posix_fadvise(dontneed) on {}", ep.name)))
}

/// The page-cache and durability work a transfer's `cache` and `sync` options ask for, around
/// the techniques: hints and snapshots before, write-back and eviction after.
pub(crate) struct Policy {
    cache: crate::CachePolicy,
    sync: crate::SyncPolicy,
    /// For drop_after: each file end's start offset and residency bitmap before the transfer
    /// (`None`: could not be seen, so everything the transfer touched is evicted).
    src_before: Option<(u64, Option<Vec<u8>>)>,
    dst_before: Option<(u64, Option<Vec<u8>>)>,
}

impl Policy {
    /// Does the "before" half. Costs nothing with the default options.
    pub(crate) fn before(
        src: &Endpoint<'_>,
        dst: &Endpoint<'_>,
        opts: &crate::Options<'_>,
    ) -> Result<Policy> {
        let mut p = Policy {
            cache: opts.cache,
            sync: opts.sync,
            src_before: None,
            dst_before: None,
        };
        // Keep does nothing; DontCache is each read's and write's own flag (the techniques').
        if matches!(
            opts.cache,
            crate::CachePolicy::Keep | crate::CachePolicy::DontCache
        ) {
            return Ok(p);
        }
        let cached = |ep: &Endpoint<'_>| {
            matches!(ep.kind, Kind::File | Kind::BlockDevice) && uncached(ep).is_none()
        };
        let start = |ep: &Endpoint<'_>, off: Option<u64>| -> Result<u64> {
            match off {
                Some(o) => Ok(o),
                None if ep.append() => Ok(ep.size),
                None => crate::endpoint::position(ep),
            }
        };
        let src_start = if cached(src) {
            Some(start(src, opts.src_offset)?)
        } else {
            None
        };
        let dst_start = if cached(dst) {
            Some(start(dst, opts.dst_offset)?)
        } else {
            None
        };
        // The most the transfer can touch: len, or what the source holds past its start.
        let span = opts
            .len
            .unwrap_or_else(|| src.size.saturating_sub(src_start.unwrap_or(0)));
        match opts.cache {
            crate::CachePolicy::NoReuse => {
                for (ep, s) in [(src, src_start), (dst, dst_start)] {
                    if let Some(s) = s {
                        let len = if opts.len.is_some() { span } else { 0 };
                        sys::fs::fadvise(ep.fd, s, len, libc::POSIX_FADV_NOREUSE).map_err(|e| {
                            Error::os(e, format_args!("posix_fadvise(noreuse) on {}", ep.name))
                        })?;
                    }
                }
            }
            crate::CachePolicy::DropAfter => {
                p.src_before = src_start.map(|s| (s, snapshot(src, s, span)));
                p.dst_before = dst_start.map(|s| (s, snapshot(dst, s, span)));
            }
            crate::CachePolicy::Keep | crate::CachePolicy::DontCache => {}
        }
        Ok(p)
    }

    /// Does the "after" half for a transfer that moved `bytes` and succeeded or not (`ok`):
    /// sync the destination (on success only), then evict what the transfer brought in.
    pub(crate) fn after(
        &self,
        src: &Endpoint<'_>,
        dst: &Endpoint<'_>,
        bytes: u64,
        ok: bool,
    ) -> Result<()> {
        if ok && matches!(dst.kind, Kind::File | Kind::BlockDevice) {
            let r = match self.sync {
                crate::SyncPolicy::None => Ok(()),
                crate::SyncPolicy::Data => sys::fs::fdatasync(dst.fd),
                crate::SyncPolicy::Full => sys::fs::fsync(dst.fd),
            };
            r.map_err(|e| {
                Error::os(
                    e,
                    format_args!(
                        "{} of {}",
                        if self.sync == crate::SyncPolicy::Full {
                            "fsync"
                        } else {
                            "fdatasync"
                        },
                        dst.name
                    ),
                )
            })?;
        }
        if self.cache == crate::CachePolicy::DropAfter {
            for (ep, before) in [(src, &self.src_before), (dst, &self.dst_before)] {
                if let Some((start, bitmap)) = before {
                    drop_new(ep, *start, bytes, bitmap.as_deref())?;
                }
            }
        }
        Ok(())
    }
}

/// The residency bitmap of `len` bytes from `offset`, if it can be seen truthfully (capped so a
/// huge `len` does not allocate a huge bitmap: pages past the cap count as not resident before).
fn snapshot(ep: &Endpoint<'_>, offset: u64, len: u64) -> Option<Vec<u8>> {
    let ps = sys::mm::page_size();
    let first = offset / ps;
    let pages = (offset.saturating_add(len))
        .div_ceil(ps)
        .saturating_sub(first);
    // Past the file's end nothing is cached: no need to look there.
    let in_file = ep.size.div_ceil(ps).saturating_sub(first).min(pages);
    let mut bitmap = vec![0u8; usize::try_from(in_file).ok()?];
    if in_file == 0 {
        return Some(bitmap);
    }
    if mincore_sees(ep) && mincore_bitmap(ep, first, &mut bitmap).is_ok() {
        return Some(bitmap);
    }
    for (i, b) in bitmap.iter_mut().enumerate() {
        let cs = sys::fs::cachestat(ep.fd, (first + i as u64) * ps, ps).ok()?;
        *b = u8::from(cs.nr_cache > 0);
    }
    Some(bitmap)
}

/// Evicts the pages of `len` bytes from `offset` that were not resident in `before` (all of
/// them without a snapshot), run by run.
fn drop_new(ep: &Endpoint<'_>, offset: u64, len: u64, before: Option<&[u8]>) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let ps = sys::mm::page_size();
    let first = offset / ps;
    let pages = (offset + len).div_ceil(ps) - first;
    let Some(before) = before else {
        return drop_range(ep, first * ps, pages * ps);
    };
    let was = |i: u64| before.get(i as usize).copied().unwrap_or(0) == 1;
    let mut i = 0;
    while i < pages {
        if was(i) {
            i += 1;
            continue;
        }
        let run = i;
        while i < pages && !was(i) {
            i += 1;
        }
        drop_range(ep, (first + run) * ps, (i - run) * ps)?;
    }
    Ok(())
}
