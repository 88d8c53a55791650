//! # `zcopy-log`: a Kafka-style append-only segment log on the zcopy engine
//!
//! Producers [`append`](Log::append) records through a memory-mapped, preallocated segment
//! file; consumers move ranges of whole records straight from the segment files to a socket or
//! pipe with `sendfile` ([`Log::send`], a [`Report`] of what it cost), and parse them with
//! [`decode`]. This is how Kafka writes its log and serves its consumers.
//!
//! The crate is built on the engine's public API only: sends are [`zcopy::transfer`]s (or
//! [`zcopy::transfer_named`]s, from [`Log::send_rest_named`]), errors are [`zcopy::Error`]s (so
//! every face of zcopy translates them as it does the engine's), the mappings are memmap2's and
//! the file calls std's and nix's.
//!
//! ```
//! use zcopy_log::{FlushPolicy, Log, LogOptions};
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("events");
//! let opts = LogOptions { flush: FlushPolicy::Sync, ..LogOptions::default() };
//! let mut log = Log::open(&dir, &opts)?;
//! assert_eq!(log.append(b"first")?, 0);
//! assert_eq!(log.append(b"second")?, 1);
//! assert_eq!(log.read(0, 10)?, vec![b"first".to_vec(), b"second".to_vec()]);
//! log.close()?;
//!
//! let log = Log::open(&dir, &opts)?; // reopened: the records are there
//! assert_eq!(log.next_offset(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Files
//! A log is a directory of segments named like Kafka's, by the offset of their first record:
//! `00000000000000000000.log` (the frames, see [`decode`] for their layout) and
//! `00000000000000000000.index` (every [`LogOptions::index_interval_bytes`] of log, the
//! position of a record, for lookups: a binary search, then a scan forward), plus `.lock`.
//! A segment rolls when the next record does not fit in [`LogOptions::segment_bytes`]: the full
//! one is synced and truncated to its used length, a new one is preallocated.
//!
//! ## Guarantees
//! - **Space**: the active segment and its index are preallocated with `fallocate` before they
//!   are mapped, so a full disk is an `ENOSPC` error from [`Log::open`] or from the
//!   [`append`](Log::append) that rolls, naming the segment, never a `SIGBUS` later. The earlier
//!   records are untouched by it.
//! - **Durability**: under [`FlushPolicy::Sync`], `append` returns after `msync(MS_SYNC)` of the
//!   record's bytes: an acknowledged record survives a crash of the process *and* of the
//!   machine (power loss), as far as the device honours flushes. (The index is not synced per
//!   record, as in Kafka: recovery checks it against the log and rebuilds what it lacks, so it
//!   is synced at [`Log::flush`], rolls and [`Log::close`].) Under [`FlushPolicy::Async`] a
//!   background thread syncs every interval or byte threshold (what was appended since is lost
//!   on power loss, not on a process crash: the page cache keeps it);
//!   under [`FlushPolicy::Manual`] only [`Log::flush`], rolls and [`Log::close`] do.
//! - **Recovery**: [`Log::open`] validates the last segment from its last good index entry
//!   (lengths, CRC-32C, offsets in sequence), keeps the longest valid prefix and zeroes the torn
//!   rest, rebuilding the index entries it lacks. So after `kill -9` of a writer, or a power
//!   loss, every acknowledged record is there byte for byte and the next append gets the next
//!   offset.
//! - **One writer**: `open` takes an exclusive `flock` on `.lock` in the directory; a second
//!   `open` (from this process or another) fails with `EWOULDBLOCK` naming the directory.
//!
//! ## SIGBUS
//! Appends store into the mapping, so a segment file truncated behind the log's back (by
//! another program ignoring the lock) would fault; nothing in zcopy does that. Reads never touch
//! the mapping: they use `pread` and `sendfile`.

mod flusher;
mod index;
mod record;
mod segment;

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
pub use record::{decode, decode_first, decode_prefix, Record, FRAME_HEADER};
use zcopy::{Error, ErrorKind, Options, Report, Result, Strategy};

use flusher::Flusher;
use segment::{Segment, Touched};

/// The smallest [`LogOptions::segment_bytes`]: 4096.
pub const MIN_SEGMENT_BYTES: u64 = 4096;
/// The largest [`LogOptions::segment_bytes`]: index positions are 32-bit.
pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;

/// When appended records are made durable (`msync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlushPolicy {
    /// Before [`Log::append`] returns (Kafka's producer "sync"): one `msync(MS_SYNC)` of the
    /// record's pages per append. The default.
    Sync,
    /// In the background: a thread syncs what was appended once `bytes` are pending or every
    /// `interval`, whichever comes first (at least one must be set), and [`Log::flush`] and
    /// [`Log::close`] sync the rest.
    Async {
        /// Sync once this many bytes of frames are pending (`None`: no byte threshold).
        bytes: Option<u64>,
        /// Sync at least this often (`None`: no timer).
        interval: Option<Duration>,
    },
    /// Only on [`Log::flush`], at each roll and at [`Log::close`]; otherwise the kernel writes
    /// the pages back when it likes (Kafka's default, which leaves durability to replication).
    Manual,
}

impl FlushPolicy {
    /// The default interval of [`FlushPolicy::Async`]: 1 s.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

    /// `Async` with the default interval and no byte threshold.
    pub const fn async_default() -> FlushPolicy {
        FlushPolicy::Async {
            bytes: None,
            interval: Some(FlushPolicy::DEFAULT_INTERVAL),
        }
    }

    /// The name every face uses: `sync`, `async`, `manual`.
    pub const fn name(self) -> &'static str {
        match self {
            FlushPolicy::Sync => "sync",
            FlushPolicy::Async { .. } => "async",
            FlushPolicy::Manual => "manual",
        }
    }
}

/// How to open a [`Log`]. `LogOptions::default()`: 64 MiB segments, [`FlushPolicy::Sync`], an
/// index entry every 4096 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The size a segment is preallocated to; the next segment starts when a record does not
    /// fit. From [`MIN_SEGMENT_BYTES`] to [`MAX_SEGMENT_BYTES`]; a record's frame (its
    /// payload plus [`FRAME_HEADER`] bytes) must fit in one.
    pub segment_bytes: u64,
    /// When appends are made durable.
    pub flush: FlushPolicy,
    /// Bytes of log between index entries (Kafka's `index.interval.bytes`, 4096 by default);
    /// 0 indexes every record. Smaller: faster lookups, a larger index.
    pub index_interval_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 << 20,
            flush: FlushPolicy::Sync,
            index_interval_bytes: 4096,
        }
    }
}

impl LogOptions {
    fn check(&self) -> Result<()> {
        let s = self.segment_bytes;
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&s) {
            return Err(Error::invalid(format!(
                "segment_bytes {s} is out of range: it must be from {MIN_SEGMENT_BYTES} to {MAX_SEGMENT_BYTES}"
            )));
        }
        if let FlushPolicy::Async { bytes, interval } = self.flush {
            if bytes.is_none() && interval.is_none() {
                return Err(Error::invalid(
                    "flush policy async needs a byte threshold or an interval (or both); for neither use manual",
                ));
            }
            if bytes == Some(0) {
                return Err(Error::invalid(
                    "async flush bytes must be positive (None for no byte threshold)",
                ));
            }
            if interval == Some(Duration::ZERO) {
                return Err(Error::invalid(
                    "async flush interval must be positive (None for no timer)",
                ));
            }
        }
        Ok(())
    }
}

/// An append-only log of records in a directory, open for appending (one writer at a time).
///
/// Records get consecutive offsets from 0. Dropping the log closes it as [`Log::close`] does,
/// ignoring errors; call `close` to see them.
pub struct Log {
    dir: PathBuf,
    opts: LogOptions,
    /// The exclusive flock on `.lock` (`None` once released by close).
    lock: Option<Flock<File>>,
    dir_fd: File,
    /// Oldest first; the last one is active.
    segments: Vec<Segment>,
    flusher: Option<Flusher>,
    /// Set when a roll failed half way: appends are refused until the log is reopened.
    broken: Option<String>,
    closed: bool,
}

/// What one send moves: bytes `start..end` of segment `seg`, the frames of records
/// `from..next` (less the bytes skipped).
struct Frames<'l> {
    seg: &'l Segment,
    start: u64,
    end: u64,
    from: u64,
    next: u64,
}

impl Frames<'_> {
    /// `opts` reading these frames: their `src_offset` and `len` are the frames'.
    fn options<'o>(&self, opts: &Options<'o>) -> Options<'o> {
        Options {
            src_offset: Some(self.start),
            len: Some(self.end - self.start),
            ..opts.clone()
        }
    }

    /// The send's result: its Report and the offset after the last record, when every byte
    /// went; an `EIO` error naming the records otherwise.
    fn sent(&self, report: Report) -> Result<(Report, u64)> {
        if report.bytes != self.end - self.start {
            return Err(Error::new(
                ErrorKind::Io,
                Some(Errno::EIO as i32),
                format!(
                    "sent {} of the {} bytes of records {}..{} from {}",
                    report.bytes,
                    self.end - self.start,
                    self.from,
                    self.next,
                    self.seg.path.display()
                ),
            )
            .with_report(report));
        }
        Ok((report, self.next))
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("opts", &self.opts)
            .field("segments", &self.segments.len())
            .field("next_offset", &self.next_offset())
            .finish()
    }
}

/// The transfer options of [`Log::send`]: [`Strategy::Sendfile`] first (Kafka's `transferTo`;
/// the engine falls back to another technique where `dst` refuses it), the rest the engine's
/// defaults. A face that takes its caller's options for [`Log::send_with`] or
/// [`Log::send_rest`] starts from these, so the log's choice is made here once.
///
/// ```
/// assert_eq!(zcopy_log::send_options().strategy, zcopy::Strategy::Sendfile);
/// ```
pub fn send_options<'a>() -> Options<'a> {
    Options {
        strategy: Strategy::Sendfile,
        ..Options::default()
    }
}

impl Log {
    /// Opens the log in `dir` for appending, creating the directory when it is missing, and
    /// recovers it after whatever happened to the last writer (see the module's Guarantees).
    ///
    /// # Errors
    /// [`ErrorKind::Invalid`] for options out of range (the message names the option); `Io`
    /// with `EWOULDBLOCK` when another `Log` holds the directory; `Io` with `ENOSPC` when the
    /// active segment cannot be preallocated (the message names it); `Io` with `EBADMSG` when a
    /// closed segment is corrupt; other OS failures with their errno, naming the file.
    pub fn open(dir: impl AsRef<Path>, opts: &LogOptions) -> Result<Log> {
        opts.check()?;
        let dir = dir.as_ref().to_path_buf();
        let existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::os(
                e,
                format_args!("cannot create the log directory {}", dir.display()),
            )
        })?;
        if !existed {
            sync_parent(&dir)?;
        }
        let lock_path = dir.join(".lock");
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&lock_path)
            .map_err(|e| Error::os(e, format_args!("cannot open {}", lock_path.display())))?;
        let lock = lock_exclusive(lock).map_err(|e| {
            if e == Errno::EWOULDBLOCK {
                Error::new(
                    ErrorKind::Io,
                    Some(Errno::EWOULDBLOCK as i32),
                    format!(
                        "the log in {} is already open for writing (by this or another process: {} is locked)",
                        dir.display(),
                        lock_path.display()
                    ),
                )
            } else {
                Error::os(e.into(), format_args!("flock of {}", lock_path.display()))
            }
        })?;
        let dir_fd = File::open(&dir)
            .map_err(|e| Error::os(e, format_args!("cannot open {}", dir.display())))?;
        let bases = scan_dir(&dir)?;
        let (cap, interval) = (opts.segment_bytes, opts.index_interval_bytes);
        let mut segments = Vec::with_capacity(bases.len().max(1));
        match bases.split_last() {
            None => {
                let seg = Segment::prepare(&dir, 0, cap, interval)?;
                if let Err(e) = seg.commit(&dir_fd) {
                    seg.discard();
                    return Err(e);
                }
                segments.push(seg);
            }
            Some((&last, closed)) => {
                for (i, &base) in closed.iter().enumerate() {
                    let next_base = bases[i + 1];
                    segments.push(Segment::open_closed(&dir, base, next_base)?);
                }
                segments.push(Segment::recover(&dir, last, cap, interval)?);
            }
        }
        let flusher = match opts.flush {
            FlushPolicy::Async { bytes, interval } => Some(Flusher::start(bytes, interval)?),
            _ => None,
        };
        let log = Log {
            dir,
            opts: opts.clone(),
            lock: Some(lock),
            dir_fd,
            segments,
            flusher,
            broken: None,
            closed: false,
        };
        log.hand_files_to_flusher();
        Ok(log)
    }

    fn hand_files_to_flusher(&self) {
        let seg = self.active();
        if let (Some(f), Some(a)) = (&self.flusher, &seg.active) {
            f.set_files(seg.file.clone(), a.index_file.clone());
        }
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty: open pushes one, and a roll only ever adds.
        &self.segments[self.segments.len() - 1]
    }

    /// Appends `record` and returns its offset; under [`FlushPolicy::Sync`] it is durable when
    /// this returns. Rolls to a new segment when it does not fit in this one.
    ///
    /// # Errors
    /// [`ErrorKind::Invalid`] when the record's frame (its length + [`FRAME_HEADER`]) is larger
    /// than `segment_bytes` (the message names both sizes); `Io` with `ENOSPC` when the roll
    /// cannot preallocate the next segment (nothing is appended, earlier records are intact);
    /// `Io` for a failed `msync`, or a failure of the background flush since the last call.
    pub fn append(&mut self, record: &[u8]) -> Result<u64> {
        if let Some(why) = &self.broken {
            return Err(Error::new(
                ErrorKind::Io,
                Some(Errno::EIO as i32),
                why.clone(),
            ));
        }
        if let Some(e) = self.flusher.as_ref().and_then(Flusher::take_error) {
            return Err(e);
        }
        let frame_len = record.len() as u64 + FRAME_HEADER as u64;
        if frame_len > self.opts.segment_bytes {
            return Err(Error::invalid(format!(
                "a record of {} bytes does not fit in a segment of segment_bytes {} (its frame takes {frame_len} bytes: {FRAME_HEADER} of header)",
                record.len(),
                self.opts.segment_bytes
            )));
        }
        if !self.active().fits(frame_len) {
            self.roll()?;
        }
        let interval = self.opts.index_interval_bytes;
        let last = self.segments.len() - 1;
        let seg = &mut self.segments[last];
        let touched = seg.append(record, interval)?;
        match (&self.opts.flush, &self.flusher) {
            // The log's bytes only: the index is rebuilt from them on recovery.
            (FlushPolicy::Sync, _) => seg.sync_touched(&Touched {
                index: None,
                ..touched
            })?,
            (FlushPolicy::Async { .. }, Some(f)) => f.dirty(touched.log, touched.index),
            _ => {}
        }
        Ok(touched.offset)
    }

    /// Starts the next segment: preallocates it first (so a full disk changes nothing), then
    /// syncs and truncates the full one, then renames the new one into place.
    fn roll(&mut self) -> Result<()> {
        let base = self.next_offset();
        let new = Segment::prepare(
            &self.dir,
            base,
            self.opts.segment_bytes,
            self.opts.index_interval_bytes,
        )?;
        let last = self.segments.len() - 1;
        if let Err(e) = self.segments[last].finish() {
            new.discard();
            if self.segments[last].active.is_none() {
                self.broken = Some(format!(
                    "the log in {} cannot append after a failed roll ({e}); reopen it",
                    self.dir.display()
                ));
            }
            return Err(e);
        }
        if let Err(e) = new.commit(&self.dir_fd) {
            new.discard();
            self.broken = Some(format!(
                "the log in {} cannot append after a failed roll ({e}); reopen it",
                self.dir.display()
            ));
            return Err(e);
        }
        self.segments.push(new);
        self.hand_files_to_flusher();
        Ok(())
    }

    /// Makes every record appended so far durable (`msync` of the active segment and its
    /// index), whatever the policy.
    ///
    /// # Errors
    /// `Io` for a failed `msync`, or a failure of the background flush since the last call.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(e) = self.flusher.as_ref().and_then(Flusher::take_error) {
            return Err(e);
        }
        self.active().sync_all()?;
        if let Some(f) = &self.flusher {
            f.clean();
        }
        Ok(())
    }

    /// The offset the next append will get (the number of records in the log).
    pub fn next_offset(&self) -> u64 {
        self.active().next
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        &self.opts
    }

    /// The base offsets of the segments, oldest first (the last one is being appended to).
    pub fn segments(&self) -> Vec<u64> {
        self.segments.iter().map(|s| s.base).collect()
    }

    /// How many times the background thread of [`FlushPolicy::Async`] has synced something
    /// (0 under the other policies).
    pub fn background_flushes(&self) -> u64 {
        self.flusher.as_ref().map_or(0, Flusher::flushes)
    }

    fn segment_of(&self, offset: u64) -> Result<&Segment> {
        let next = self.next_offset();
        if offset > next {
            return Err(Error::invalid(format!(
                "offset {offset} is past the end of the log in {} (the next offset is {next})",
                self.dir.display()
            )));
        }
        let i = self.segments.partition_point(|s| s.base <= offset);
        Ok(&self.segments[i.saturating_sub(1)])
    }

    /// Moves whole records from offset `from` to `dst` with `sendfile` (through
    /// [`zcopy::transfer`], [`Strategy::Sendfile`] first), as frames [`decode`] parses: as many
    /// as fit in `max_bytes`, but at least one, and within one segment (call again from the
    /// returned offset to go on). Returns the transfer's [`Report`] and the offset after the
    /// last record sent; `from == next_offset()` sends nothing.
    ///
    /// `dst` may be a pipe, a socket, a file (written at its position) or anything
    /// [`zcopy::transfer`] takes. On a blocking fd every byte is moved. On a non-blocking fd
    /// that fills up, the engine's error comes back as it is (`EAGAIN`, see
    /// [`Error::is_would_block`]) with [`Error::bytes_moved`]: `dst` then holds that many bytes
    /// of the frames, the last one perhaps cut; [`Log::send_rest`] sends the rest once `dst`
    /// is writable.
    ///
    /// # Errors
    /// [`ErrorKind::Invalid`] for `from` past the end of the log; the errors of
    /// [`zcopy::transfer`] for `dst` (`EPIPE`, `EBADF`, `EAGAIN`, ...); `Io` with `EBADMSG` for
    /// a segment whose frames do not parse.
    pub fn send(&self, dst: impl AsFd, from: u64, max_bytes: u64) -> Result<(Report, u64)> {
        self.send_with(dst, from, max_bytes, &send_options())
    }

    /// [`Log::send`] with the transfer's other options: `opts`' strategy, fallback,
    /// `dst_offset`, `chunk_size`, progress callback, cancel flag, cache and sync policies
    /// apply (so a consumer can be stopped, or watched); its `src_offset` and `len` are the
    /// records' and are ignored. `send` is this with [`send_options`].
    ///
    /// # Errors
    /// As [`Log::send`], plus [`ErrorKind::Cancelled`] when the callback or flag stopped it
    /// (with [`Error::bytes_moved`]).
    pub fn send_with(
        &self,
        dst: impl AsFd,
        from: u64,
        max_bytes: u64,
        opts: &Options<'_>,
    ) -> Result<(Report, u64)> {
        self.send_rest(dst, from, 0, max_bytes, opts)
    }

    /// Finishes a [`Log::send`] (or `send_with`) that stopped part way: on a non-blocking `dst`
    /// that filled up it fails with `EAGAIN` after moving [`Error::bytes_moved`] bytes, perhaps
    /// cutting a frame. Once `dst` is writable again, call this with the same `from` and
    /// `max_bytes` and `skip` = the bytes moved so far (summed over the calls): it sends the
    /// rest of the same frames (more, if records were appended meanwhile and the first call
    /// reached the log's end), so the consumer receives whole frames. Returns this call's
    /// [`Report`] and the offset after the last record; it may fail with `EAGAIN` again.
    ///
    /// ```
    /// # use zcopy_log::{Log, LogOptions};
    /// # fn f(log: &Log, sock: &std::net::TcpStream) -> zcopy::Result<u64> {
    /// let (from, max) = (0, 1 << 20);
    /// let mut skip = 0;
    /// loop {
    ///     match log.send_rest(sock, from, skip, max, &zcopy::Options::default()) {
    ///         Ok((_, next)) => return Ok(next),
    ///         Err(e) if e.is_would_block() => {
    ///             skip += e.bytes_moved();
    ///             // ... wait until `sock` is writable (poll, epoll), then go on
    ///         }
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Log::send_with`], and [`ErrorKind::Invalid`] for a `skip` past the frames' end.
    pub fn send_rest(
        &self,
        dst: impl AsFd,
        from: u64,
        skip: u64,
        max_bytes: u64,
        opts: &Options<'_>,
    ) -> Result<(Report, u64)> {
        self.send_frames(dst.as_fd(), None, from, skip, max_bytes, opts)
    }

    /// [`Log::send_rest`], with the engine's messages naming the destination `dst_name` as
    /// [`zcopy::transfer_named`] does (`dst fd 5`, when `dst_name` is `fd 5`: the number the
    /// caller knows, where `dst` is a duplicate of it; `dst -`) and the source by its segment's
    /// path, instead of both by the numbers of the fds the call works on. For a face or a
    /// program whose callers know the destination by another name than `dst`'s number: the
    /// error messages and the [`Report`]'s fallback reasons are then right as they come.
    ///
    /// ```
    /// # use zcopy_log::{Log, LogOptions};
    /// # use std::path::Path;
    /// # let tmp = tempfile::tempdir()?;
    /// # let mut log = Log::open(tmp.path(), &LogOptions::default())?;
    /// # log.append(b"record")?;
    /// let read_only = std::fs::File::open(tmp.path().join(".lock"))?;
    /// let opts = zcopy::Options::default();
    /// let e = log
    ///     .send_rest_named(&read_only, Path::new("fd 5"), 0, 0, 1 << 20, &opts)
    ///     .unwrap_err();
    /// assert!(e.message().contains("dst fd 5 "), "{e}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Log::send_rest`].
    pub fn send_rest_named(
        &self,
        dst: impl AsFd,
        dst_name: &Path,
        from: u64,
        skip: u64,
        max_bytes: u64,
        opts: &Options<'_>,
    ) -> Result<(Report, u64)> {
        self.send_frames(dst.as_fd(), Some(dst_name), from, skip, max_bytes, opts)
    }

    /// [`Log::send_rest`] through a transfer prepared to the consumer's destination once
    /// ([`zcopy::Prepared::to_dst`], with [`send_options`] or the caller's own), for a consumer
    /// that sends many times to one socket: a send then classifies only the segment (a `statx`
    /// and a `fcntl`), not the destination, and blocks no signal where SIGPIPE was ignored when
    /// prepared (as Rust's runtime and Python set it); with the Prepared's CPU meter off it then
    /// makes 3 syscalls for a small send where [`Log::send`] makes 12 (5 with SIGPIPE's
    /// default: the mask set and restored around the write). The frames, `skip` and the
    /// returned offset are `send_rest`'s; the options are the Prepared's (the destination is
    /// written at its position). The source is named by its segment's path.
    ///
    /// ```
    /// # use zcopy_log::{Log, LogOptions};
    /// # let tmp = tempfile::tempdir()?;
    /// # let mut log = Log::open(tmp.path(), &LogOptions::default())?;
    /// log.append(b"one")?;
    /// log.append(b"two")?;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut p = zcopy::Prepared::to_dst(std::os::fd::AsFd::as_fd(&b), &zcopy_log::send_options())?;
    /// let (_, next) = log.send_prepared(&mut p, 0, 0, 1)?; // the first record
    /// let (_, next) = log.send_prepared(&mut p, next, 0, 1)?; // the second
    /// assert_eq!(next, 2);
    /// # drop(p);
    /// # drop(b);
    /// # let mut got = Vec::new();
    /// # std::io::Read::read_to_end(&mut a, &mut got)?;
    /// # assert_eq!(zcopy_log::decode(&got)?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Log::send_rest`].
    pub fn send_prepared(
        &self,
        p: &mut zcopy::Prepared<'_, '_>,
        from: u64,
        skip: u64,
        max_bytes: u64,
    ) -> Result<(Report, u64)> {
        let frames = self.frames(from, skip, max_bytes)?;
        let report = p.run_from_named(
            frames.seg.file.as_fd(),
            &frames.seg.path,
            Some(frames.end - frames.start),
            Some(frames.start),
            None,
        )?;
        frames.sent(report)
    }

    /// [`Log::send_prepared`] with `opts` in place of the Prepared's options, all of them (as
    /// [`zcopy::Prepared::run_from_with`]; their `src_offset` and `len` are the records' and are
    /// ignored, their `dst_offset` applies): for a face that makes its callbacks per send.
    ///
    /// # Errors
    /// As [`Log::send_prepared`].
    pub fn send_prepared_with(
        &self,
        p: &mut zcopy::Prepared<'_, '_>,
        from: u64,
        skip: u64,
        max_bytes: u64,
        opts: &Options<'_>,
    ) -> Result<(Report, u64)> {
        let frames = self.frames(from, skip, max_bytes)?;
        let opts = frames.options(opts);
        let report = p.run_from_with(frames.seg.file.as_fd(), &frames.seg.path, &opts)?;
        frames.sent(report)
    }

    /// The body of [`Log::send_rest`] and [`Log::send_rest_named`] (`dst_name`: `None` lets
    /// the engine name both ends by their fd numbers).
    fn send_frames(
        &self,
        dst: BorrowedFd<'_>,
        dst_name: Option<&Path>,
        from: u64,
        skip: u64,
        max_bytes: u64,
        opts: &Options<'_>,
    ) -> Result<(Report, u64)> {
        let frames = self.frames(from, skip, max_bytes)?;
        let opts = Options {
            parallelism: None,
            ..frames.options(opts)
        };
        let seg = frames.seg;
        let report = match dst_name {
            None => zcopy::transfer(seg.file.as_fd(), dst, &opts)?,
            Some(name) => zcopy::transfer_named(seg.file.as_fd(), &seg.path, dst, name, &opts)?,
        };
        frames.sent(report)
    }

    /// The bytes of the whole records from `from` on that fit in `max_bytes` (at least one),
    /// within one segment, less the first `skip` of them.
    fn frames(&self, from: u64, skip: u64, max_bytes: u64) -> Result<Frames<'_>> {
        let seg = self.segment_of(from)?;
        let (pos, end, next) = seg.send_range(from, max_bytes, from == self.next_offset())?;
        if skip > end - pos {
            return Err(Error::invalid(format!(
                "skip {skip} is past the end of the {} bytes of records {from}..{next}",
                end - pos
            )));
        }
        Ok(Frames {
            seg,
            start: pos + skip,
            end,
            from,
            next,
        })
    }

    /// Up to `max_records` records from offset `from` on, each verified against its checksum
    /// (a copy of each: for moving many, [`Log::send`] is the zero-copy way).
    ///
    /// # Errors
    /// [`ErrorKind::Invalid`] for `from` past the end of the log; `Io` with `EBADMSG` for a
    /// record whose frame is damaged; `pread` failures.
    pub fn read(&self, from: u64, max_records: usize) -> Result<Vec<Vec<u8>>> {
        self.segment_of(from)?;
        let mut out = Vec::new();
        let mut off = from;
        let start = self
            .segments
            .partition_point(|s| s.base <= from)
            .saturating_sub(1);
        for seg in &self.segments[start..] {
            if out.len() >= max_records || off >= self.next_offset() {
                break;
            }
            if off < seg.next {
                seg.read_into(off, max_records, &mut out)?;
                off = seg.next.min(from + out.len() as u64);
            }
        }
        Ok(out)
    }

    /// Syncs everything (whatever the policy), stops and joins the background flusher, and
    /// truncates the active segment to its used length, so every segment file has its exact
    /// size; releases the directory.
    ///
    /// # Errors
    /// `Io` for a failed `msync` or truncation, or a failure of the background flush.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut first = None;
        if let Some(mut f) = self.flusher.take() {
            f.stop();
            first = f.take_error();
        }
        let last = self.segments.len() - 1;
        let r = self.segments[last].finish();
        // Release the lock explicitly (`flock(LOCK_UN)`): closing the fd alone leaves it held
        // while any copy of the fd lives, such as one in a child another thread forked and has
        // not yet exec'd, and a writer reopening right after would be refused.
        if let Some(lock) = self.lock.take() {
            let _ = lock.unlock();
        }
        match first {
            Some(e) => Err(e),
            None => r,
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// `fsync` of the directory holding the new directory `dir`, so its entry survives a power loss.
fn sync_parent(dir: &Path) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let f = File::open(parent)
        .map_err(|e| Error::os(e, format_args!("cannot open {}", parent.display())))?;
    f.sync_all()
        .map_err(|e| Error::os(e, format_args!("fsync of {}", parent.display())))
}

/// The base offsets of the segments in `dir`, sorted; removes what a crash mid-roll left
/// (`*.log.tmp`, and `*.index` files without their `.log`).
fn scan_dir(dir: &Path) -> Result<Vec<u64>> {
    let what = |e| {
        Error::os(
            e,
            format_args!("cannot list the log directory {}", dir.display()),
        )
    };
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let mut tmps = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(what)? {
        let name = entry.map_err(what)?.file_name();
        let Some(name) = name.to_str() else { continue };
        let parse = |stem: &str| {
            (stem.len() == 20)
                .then(|| stem.parse::<u64>().ok())
                .flatten()
        };
        if let Some(b) = name.strip_suffix(".log").and_then(parse) {
            logs.push(b);
        } else if let Some(b) = name.strip_suffix(".index").and_then(parse) {
            indexes.push(b);
        } else if name.strip_suffix(".log.tmp").and_then(parse).is_some() {
            tmps.push(dir.join(name));
        }
    }
    logs.sort_unstable();
    for b in indexes
        .into_iter()
        .filter(|b| logs.binary_search(b).is_err())
    {
        tmps.push(segment::paths(dir, b).1);
    }
    for p in tmps {
        std::fs::remove_file(&p)
            .map_err(|e| Error::os(e, format_args!("cannot remove {}", p.display())))?;
    }
    Ok(logs)
}

/// `flock(LOCK_EX | LOCK_NB)` on `f` through nix, retried on `EINTR`; `EWOULDBLOCK` when
/// another open file description holds it.
fn lock_exclusive(mut f: File) -> std::result::Result<Flock<File>, Errno> {
    loop {
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((back, Errno::EINTR)) => f = back,
            Err((_, e)) => return Err(e),
        }
    }
}
