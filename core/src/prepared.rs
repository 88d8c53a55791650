//! A transfer prepared once between two fds and run many times ([`Prepared`]): both fds are
//! classified and the options checked once, so a run costs the technique's own syscalls, one
//! `fstat` of the source only when the run needs its size now (to end of file, say), and the
//! Report's metering (two reads each of the thread CPU clock and `getrusage`; none with the
//! meter off).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::endpoint::{Endpoint, Kind, Name};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::plan;
use crate::report::{Meter, Report};
use crate::sys;

/// A transfer between two fds, prepared once and run many times.
///
/// [`transfer`](crate::transfer) classifies both fds on every call (a `statx` and an
/// `fcntl(F_GETFL)` each) and checks the options again. A `Prepared` does that once, in
/// [`Prepared::new`]; each [`Prepared::run`] then costs the technique's syscalls, the Report's
/// metering (two `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` and two `getrusage`; none with
/// [`Prepared::set_cpu_meter`] off), plus one `fstat` of a file source where the run needs
/// the size it has now. A run with a length and a source offset whose range lies within the
/// size last seen makes none: its technique stops at the source's end by its own short
/// returns, so a source that shrank gives the bytes it still has, exactly as
/// [`transfer`](crate::transfer) would (and with Keep's cache policy, one thread, no reflink,
/// and ends that are not one file). Every other run from a regular file or block device looks
/// (to end of file, from the fd's position, past the size last seen, ...): a source that grew
/// is seen whole. The destination is looked at again only where the run reads its size: when
/// it is `O_APPEND`, with `cache=drop_after`, and when the source has holes to keep
/// (`sparse`); then the run makes two `fstat`s. No run looks to prove an fd still names the
/// file prepared: both are borrowed for the Prepared's life, so they stay open (the C, Go and
/// Python faces hold duplicates of their callers' fds). Ends that are pipes, sockets or
/// character devices are not looked at again; their status flags are the ones seen at
/// preparation (set `O_NONBLOCK` before preparing, not between runs). Auto's choice is made
/// per run, from the run's length.
///
/// mmap_write (Auto's choice for 1 MiB and more of a file to a socket) keeps its last window of
/// the source given to [`Prepared::new`] (at least 4 MiB of it) mapped between runs (not of a
/// run's own source, given to [`Prepared::run_from`] and the like): a run over bytes it covers makes no
/// `mmap` and no `munmap`, and takes no page faults for pages an earlier run touched (a file
/// sent again; a log read on within a segment). The window is unmapped when the `Prepared` is
/// dropped, when a run needs one it does not cover, and before a run with a cache policy other
/// than `keep`. While it is mapped, it holds the file open (a file deleted meanwhile keeps its
/// blocks until then) and its pages in the cache (`POSIX_FADV_DONTNEED`, and so
/// [`cache::evict`](crate::cache::evict), leaves mapped pages): drop the `Prepared` first. Bytes
/// are read as the file is at each run (rewritten, cut or grown since), as `transfer` reads them.
///
/// SIGPIPE: a transfer to a pipe or socket blocks SIGPIPE for the calling thread around its
/// writes (two `pthread_sigmask`), so a reader that went away gives an `EPIPE` error, never a
/// signal. `new` reads SIGPIPE's disposition once (one `sigaction`); when it is `SIG_IGN`, as
/// Rust's runtime and Python set it, runs do not block it (the kernel discards the signal
/// anyway). A host that sets SIGPIPE back to its default after preparing must prepare again.
///
/// Every run returns a [`Report`] as exact as `transfer`'s, its counters covering that run.
/// The options are those given to `new`, except `len`, `src_offset` and `dst_offset`, which
/// each run gives.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::net::TcpStream;
/// let file = std::fs::File::open("index.html")?;
/// let sock = TcpStream::connect("127.0.0.1:8080")?;
/// let mut p = zcopy::Prepared::new(&file, &sock, &zcopy::Options::default())?;
/// for _ in 0..3 {
///     let r = p.run(None, Some(0), None)?; // the whole file, from its first byte, each time
///     assert_eq!(r.bytes, file.metadata()?.len());
/// }
/// # Ok(())
/// # }
/// ```
pub struct Prepared<'fd, 'a> {
    /// `None` when prepared by [`Prepared::to_dst`]: each run names its source.
    src: Option<Endpoint<'fd>>,
    dst: Endpoint<'fd>,
    opts: Options<'a>,
    /// See [`Prepared::set_cpu_meter`].
    cpu_meter: bool,
}

impl std::fmt::Debug for Prepared<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("src", &self.src.as_ref().map(|s| s.name.to_string()))
            .field("dst", &self.dst.name.to_string())
            .field("strategy", &self.opts.strategy)
            .finish_non_exhaustive()
    }
}

impl<'fd, 'a> Prepared<'fd, 'a> {
    /// Classifies `src` and `dst` and checks `opts` (its `len`, `src_offset` and `dst_offset`
    /// are ignored: each [`Prepared::run`] gives its own).
    ///
    /// # Errors
    /// As [`transfer`](crate::transfer) for the fds and options: [`ErrorKind::Invalid`] for a
    /// write-only source, a read-only destination, an `O_PATH` fd or an option out of range;
    /// [`ErrorKind::Io`] for an fd that is not open (`EBADF`) or a directory (`EISDIR`).
    pub fn new(
        src: &'fd impl AsFd,
        dst: &'fd impl AsFd,
        opts: &Options<'a>,
    ) -> Result<Prepared<'fd, 'a>> {
        Prepared::from_fds(src.as_fd(), dst.as_fd(), opts)
    }

    /// [`Prepared::new`] from borrowed fds.
    ///
    /// # Errors
    /// As [`Prepared::new`].
    pub fn from_fds(
        src: BorrowedFd<'fd>,
        dst: BorrowedFd<'fd>,
        opts: &Options<'a>,
    ) -> Result<Prepared<'fd, 'a>> {
        let src = Endpoint::classify(src, "src")?;
        let dst = Endpoint::classify(dst, "dst")?;
        Prepared::from_endpoints(src, dst, opts)
    }

    /// [`Prepared::from_fds`], with messages naming the ends `src_name` and `dst_name` instead
    /// of their fd numbers (as [`transfer_named`](crate::transfer_named)): for a face that
    /// works on duplicates of its caller's fds and names them as its caller knows them.
    ///
    /// # Errors
    /// As [`Prepared::new`].
    pub fn from_fds_named(
        src: BorrowedFd<'fd>,
        src_name: &'fd Path,
        dst: BorrowedFd<'fd>,
        dst_name: &'fd Path,
        opts: &Options<'a>,
    ) -> Result<Prepared<'fd, 'a>> {
        let src = Endpoint::classify_as(src, Name::Path("src", src_name))?;
        let dst = Endpoint::classify_as(dst, Name::Path("dst", dst_name))?;
        Prepared::from_endpoints(src, dst, opts)
    }

    fn from_endpoints(
        mut src: Endpoint<'fd>,
        dst: Endpoint<'fd>,
        opts: &Options<'a>,
    ) -> Result<Prepared<'fd, 'a>> {
        src.usable()?; // the source's error first, as validate_ends orders them
        if src.kind == Kind::File {
            // mmap_write keeps its last window mapped here between runs (see the type's doc).
            src.kept_mapping = Some(std::sync::Arc::default());
        }
        let mut p = Prepared::to_endpoint(dst, opts)?;
        // The checks that need no offsets (offsets are checked again per run).
        plan::validate_ends(&src, &p.dst, &p.opts)?;
        p.src = Some(src);
        Ok(p)
    }

    /// Moves `len` bytes (`None`: to the source's end of file) from `src_offset` of the source
    /// to `dst_offset` of the destination (`None`: at and advancing the fd's position), as
    /// [`transfer`](crate::transfer) does with those three options set.
    ///
    /// With `len` `None` and a `src_offset`, a regular file is moved to the end its size had
    /// when the run began (bytes appended during the run are left for the next run), which
    /// spares the syscall that would only see end of file.
    ///
    /// # Errors
    /// As [`transfer`](crate::transfer); and [`ErrorKind::Invalid`] when a file end this run
    /// looks at (see the type's doc) now refers to another file: its fd was closed and the
    /// number reused, which only a caller that broke I/O safety (closed a number it lent
    /// through [`BorrowedFd::borrow_raw`]) can do, and which a run that does not look cannot
    /// see.
    pub fn run(
        &mut self,
        len: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> Result<Report> {
        let opts = self.per_run(len, src_offset, dst_offset);
        self.run_with(&opts)
    }

    /// Whether runs measure their CPU time and context switches (on by default). Off, a run
    /// makes 4 syscalls fewer (a `getrusage` and a `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` at
    /// each end, together often more than a small `sendfile` costs) and its Report's
    /// `user_cpu_ns`, `sys_cpu_ns`, `voluntary_ctx_switches` and `involuntary_ctx_switches`
    /// are 0: not measured. Everything else in the Report stays exact (its `syscalls` then
    /// counts no metering call). For a caller that makes many small runs and reads only their
    /// bytes, such as a file server's bodies.
    ///
    /// ```
    /// let src = tempfile::tempfile()?;
    /// std::io::Write::write_all(&mut &src, b"0123456789")?;
    /// let dst = tempfile::tempfile()?;
    /// let mut p = zcopy::Prepared::new(&src, &dst, &zcopy::Options::default())?;
    /// p.set_cpu_meter(false);
    /// let r = p.run(None, Some(0), Some(0))?;
    /// assert_eq!((r.bytes, r.user_cpu_ns + r.sys_cpu_ns), (10, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_cpu_meter(&mut self, on: bool) -> &mut Self {
        self.cpu_meter = on;
        self
    }

    /// Runs with `opts` in place of the options given to [`Prepared::new`], all of them (the
    /// length, offsets, progress callback and cancel flag included): for callers that make their
    /// callback per run. The fds are not classified again; the options are checked as
    /// [`transfer`](crate::transfer) checks them (no syscall).
    ///
    /// # Errors
    /// As [`Prepared::run`].
    pub fn run_with(&mut self, opts: &Options<'_>) -> Result<Report> {
        let meter = Meter::start_with(self.cpu_meter);
        let result = self.run_uncounted(opts);
        meter.finish_result(result)
    }

    fn run_uncounted(&mut self, opts: &Options<'_>) -> Result<Report> {
        let Some(src) = self.src.as_mut() else {
            return Err(Error::invalid(
                "this transfer was prepared with a destination only (Prepared::to_dst): run it with run_from, which names the source",
            ));
        };
        // At most one fstat: the source's, when the run reads its size or blocks (see
        // `src_stale`); the destination's only where the run reads its size (see `dst_stale`).
        // The fds need no look to prove they still name the files prepared: they are borrowed
        // for the Prepared's life (the faces hold duplicates of their callers' fds).
        if opts.cache != crate::CachePolicy::Keep {
            // The other policies drop pages from the cache, which a mapped page resists.
            if let Some(kept) = &src.kept_mapping {
                kept.release();
            }
        }
        if src_stale(src, &self.dst, opts) {
            refresh(src)?;
        }
        if dst_stale(src, &self.dst, opts) {
            refresh(&mut self.dst)?;
        }
        run_ends(src, &self.dst, opts)
    }

    /// A transfer prepared to `dst` alone, each run naming its source ([`Prepared::run_from`]):
    /// the destination is classified and SIGPIPE's disposition read once, here, and each run
    /// classifies only its source (a `statx` and a `fcntl`). For a server that sends many
    /// files, one after another, to one connection.
    ///
    /// ```
    /// let dst = tempfile::tempfile()?;
    /// let mut p = zcopy::Prepared::to_dst(std::os::fd::AsFd::as_fd(&dst), &zcopy::Options::default())?;
    /// for body in [&b"head "[..], &b"and tail"[..]] {
    ///     let src = tempfile::tempfile()?;
    ///     std::io::Write::write_all(&mut &src, body)?;
    ///     p.run_from(std::os::fd::AsFd::as_fd(&src), None, Some(0), None)?;
    /// }
    /// assert_eq!(std::io::Seek::stream_position(&mut &dst)?, 13);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Prepared::new`] for `dst`. A [`Prepared::run`] of it is
    /// [`ErrorKind::Invalid`](crate::ErrorKind::Invalid): it has no source.
    pub fn to_dst(dst: BorrowedFd<'fd>, opts: &Options<'a>) -> Result<Prepared<'fd, 'a>> {
        Prepared::to_endpoint(Endpoint::classify(dst, "dst")?, opts)
    }

    /// [`Prepared::to_dst`], with messages naming the destination `dst_name` (as
    /// [`Prepared::from_fds_named`]).
    ///
    /// # Errors
    /// As [`Prepared::to_dst`].
    pub fn to_dst_named(
        dst: BorrowedFd<'fd>,
        dst_name: &'fd Path,
        opts: &Options<'a>,
    ) -> Result<Prepared<'fd, 'a>> {
        Prepared::to_endpoint(
            Endpoint::classify_as(dst, Name::Path("dst", dst_name))?,
            opts,
        )
    }

    fn to_endpoint(mut dst: Endpoint<'fd>, opts: &Options<'a>) -> Result<Prepared<'fd, 'a>> {
        dst.usable()?;
        if matches!(dst.kind, Kind::Pipe | Kind::Socket) {
            // Read once: runs skip blocking SIGPIPE while it stays ignored (see the type's doc).
            dst.sigpipe_ignored = sys::process::sigpipe_ignored().unwrap_or(false);
        }
        if let crate::WaitTicks::UnlessInterruptedBy(sig) = opts.wait_ticks {
            // Read once: runs use it without a syscall (see WaitTicks::UnlessInterruptedBy).
            dst.signal_checked = Some((sig, sys::stop::interrupts_waits(sig, None)));
        }
        let opts = Options {
            len: None,
            src_offset: None,
            dst_offset: None,
            ..opts.clone()
        };
        Ok(Prepared {
            src: None,
            dst,
            opts,
            cpu_meter: true,
        })
    }

    /// Runs from `src` in place of the prepared source (if any), to the prepared destination:
    /// `src` is classified for this run (a `statx` and a `fcntl`) and checked against the
    /// destination as [`transfer`](crate::transfer) checks a pair; `len`, `src_offset` and
    /// `dst_offset` as for [`Prepared::run`].
    ///
    /// # Errors
    /// As [`transfer`](crate::transfer) from `src` to the prepared destination.
    pub fn run_from(
        &mut self,
        src: BorrowedFd<'_>,
        len: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> Result<Report> {
        let opts = self.per_run(len, src_offset, dst_offset);
        let meter = Meter::start_with(self.cpu_meter);
        let result = Endpoint::classify(src, "src").and_then(|src| self.run_src(&src, &opts));
        meter.finish_result(result)
    }

    /// [`Prepared::run_from`] with messages naming the source `src_name` (as
    /// [`transfer_named`](crate::transfer_named)): for a caller that knows the source by a path
    /// (`zcopy_log` names its segments so).
    ///
    /// # Errors
    /// As [`Prepared::run_from`].
    pub fn run_from_named(
        &mut self,
        src: BorrowedFd<'_>,
        src_name: &Path,
        len: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> Result<Report> {
        let opts = self.per_run(len, src_offset, dst_offset);
        self.run_from_with(src, src_name, &opts)
    }

    /// [`Prepared::run_from`] with messages naming the source `src_name` (as
    /// [`transfer_named`](crate::transfer_named)) and `opts` in place of the prepared options,
    /// all of them (as [`Prepared::run_with`]): for a face that names its caller's source and
    /// makes its callbacks per run.
    ///
    /// # Errors
    /// As [`Prepared::run_from`].
    pub fn run_from_with(
        &mut self,
        src: BorrowedFd<'_>,
        src_name: &Path,
        opts: &Options<'_>,
    ) -> Result<Report> {
        let meter = Meter::start_with(self.cpu_meter);
        let result = Endpoint::classify_as(src, Name::Path("src", src_name))
            .and_then(|src| self.run_src(&src, opts));
        meter.finish_result(result)
    }

    /// Runs from `src`, classified by [`Source::classify`](crate::Source::classify) or
    /// [`Source::opened`](crate::Source::opened), to the prepared destination: as
    /// [`Prepared::run_from`] without classifying the source again (no syscall but the
    /// technique's, with the CPU meter off). Its size is the one seen then (for a `len` of
    /// `None`).
    ///
    /// # Errors
    /// As [`Prepared::run_from`].
    pub fn run_source(
        &mut self,
        src: &crate::Source<'_>,
        len: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> Result<Report> {
        let opts = self.per_run(len, src_offset, dst_offset);
        let meter = Meter::start_with(self.cpu_meter);
        let result = self.run_src(src.endpoint(), &opts);
        meter.finish_result(result)
    }

    /// The prepared options with one run's length and offsets.
    fn per_run(
        &self,
        len: Option<u64>,
        src_offset: Option<u64>,
        dst_offset: Option<u64>,
    ) -> Options<'a> {
        Options {
            len,
            src_offset,
            dst_offset,
            ..self.opts.clone()
        }
    }

    /// One run from a source classified for it.
    fn run_src(&mut self, src: &Endpoint<'_>, opts: &Options<'_>) -> Result<Report> {
        plan::validate_ends(src, &self.dst, opts)?;
        if dst_stale(src, &self.dst, opts) {
            refresh(&mut self.dst)?;
        }
        run_ends(src, &self.dst, opts)
    }
}

/// One run between classified ends.
fn run_ends(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<Report> {
    // To the end of file from a given offset: the end the classification or fstat just saw, so
    // the technique stops at it instead of asking once more to see end of file (one syscall of
    // the few a small run makes). Not for files whose size is not their length (procfs, sysfs).
    if let (None, Some(off)) = (opts.len, opts.src_offset) {
        if src.kind == Kind::File && src.sizeless_fs().is_none() {
            let opts = Options {
                len: Some(src.size.saturating_sub(off)),
                ..opts.clone()
            };
            return plan::run(src, dst, &opts);
        }
    }
    plan::run(src, dst, opts)
}

/// Whether a run from `src` (just refreshed, or classified for this run) must see the size
/// `dst` has now, not the one it had when last looked at: where a run reads it. An
/// `O_APPEND` destination (its size is where the bytes go), and a file → file run that keeps
/// the holes of a source that has some (a hole is skipped only at or past the destination's
/// end, where it reads as zeros), and `cache=drop_after` (what of the destination was cached
/// before the run is looked up within its size). Elsewhere the destination's size only sizes a block
/// reservation (a stale one reserves a little more or less, never wrong bytes), and the
/// technique's own syscalls fail on an fd that was closed.
fn dst_stale(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if !matches!(dst.kind, Kind::File | Kind::BlockDevice) {
        return false;
    }
    dst.append()
        || opts.cache == crate::CachePolicy::DropAfter
        || (opts.sparse && src.kind == Kind::File && src.blocks.saturating_mul(512) < src.size)
}

/// Whether a run from `src` must see the size and blocks the source has now, not the ones
/// last seen (at preparation, or by the last run that looked): always for a regular file or
/// block device, except a run of a given length from a given offset whose range lies within
/// the size last seen, where nothing reads the size but to choose how (Auto's rules by
/// length, a block reservation: both see that length, as a fresh size would unless the file
/// shrank). Such a run stops at the source's end by its techniques' own short returns, so a
/// source that shrank since gives the bytes it still has, as [`transfer`](crate::transfer)
/// would; copy_file_range looks again itself before calling a first 0 a refusal, and
/// mmap_write sizes each window with its own `fstat`. Still looked at, for the runs that read
/// the size itself: to end of file (`len` `None`), from the fd's position (`src_offset`
/// `None`), past the size last seen (the file grew), reflink (a clone to the source's end),
/// a cache policy other than `keep` (ranges past the end), `parallelism` (its ranges), one
/// file as both ends (the overlap check), and wherever the destination is looked at
/// ([`dst_stale`]). No syscall, no allocation.
fn src_stale(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if src.kind != Kind::File {
        return src.kind == Kind::BlockDevice;
    }
    let within = match (opts.len, opts.src_offset) {
        (Some(n), Some(off)) => off.checked_add(n).is_some_and(|end| end <= src.size),
        _ => false,
    };
    !within
        || opts.strategy == crate::Strategy::Reflink
        || opts.cache != crate::CachePolicy::Keep
        || opts.parallelism.is_some_and(|n| n > 1)
        || (dst.kind == Kind::File && (dst.dev, dst.ino) == (src.dev, src.ino))
        || dst_stale(src, dst, opts)
}

/// Updates what may change of a file end (size, blocks) with one `fstat`; other ends are left
/// as classified. It checks too, at no cost, that the fd still names the file classified:
/// borrowed for the Prepared's life, it does unless a caller broke I/O safety (closed a number
/// it lent), which this catches when it looks.
fn refresh(ep: &mut Endpoint<'_>) -> Result<()> {
    if !matches!(ep.kind, Kind::File | Kind::BlockDevice) {
        return Ok(());
    }
    let st = sys::fs::fstat(ep.fd).map_err(|e| {
        Error::os(
            e,
            format_args!("{} is no longer open (prepared transfer)", ep.name),
        )
    })?;
    if st.st_dev != ep.dev || st.st_ino != ep.ino {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(libc::EBADF),
            format!(
                "{} no longer refers to the file the transfer was prepared for (closed and \
                 reused?): prepare it again",
                ep.name
            ),
        ));
    }
    ep.size = st.st_size.max(0) as u64;
    ep.blocks = st.st_blocks.max(0) as u64;
    Ok(())
}
