//! What a transfer is asked to do: [`Strategy`] and [`Options`].

use std::fmt;
use std::sync::atomic::AtomicBool;

/// The most threads [`Options::parallelism`] may ask for.
pub(crate) const MAX_PARALLELISM: u32 = 64;

/// A technique for moving bytes, or [`Strategy::Auto`] to let the planner choose.
///
/// The string names (`Display`/`FromStr`) are the ones every face of zcopy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Strategy {
    /// Let the planner pick the best technique for the pair, falling back when one can't serve it.
    #[default]
    Auto,
    /// `read` into a user buffer, `write` it out.
    ReadWrite,
    /// `mmap` the source in windows, `write` from the mapping.
    MmapWrite,
    /// `sendfile(2)`: the kernel moves the bytes.
    Sendfile,
    /// `splice(2)` through a pipe: pages move by reference.
    Splice,
    /// `copy_file_range(2)`: an in-kernel file-to-file copy (a clone where the filesystem can).
    CopyFileRange,
    /// `FICLONERANGE`: the destination shares the source's extents; no data is copied.
    Reflink,
    /// `O_DIRECT` reads (and writes where possible) through an aligned buffer, bypassing the
    /// page cache.
    Direct,
    /// `send(MSG_ZEROCOPY)` to an IP socket from pinned user buffers.
    MsgZerocopy,
    /// Reads and writes kept in flight through an io_uring.
    IoUring,
}

impl Strategy {
    /// Every strategy, `Auto` first, in the order the names are documented.
    pub const ALL: &'static [Strategy] = &[
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
        Strategy::Reflink,
        Strategy::Direct,
        Strategy::IoUring,
        Strategy::MsgZerocopy,
    ];

    /// Every concrete technique (all but `Auto`).
    pub const TECHNIQUES: &'static [Strategy] = &[
        Strategy::ReadWrite,
        Strategy::MmapWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::CopyFileRange,
        Strategy::Reflink,
        Strategy::Direct,
        Strategy::IoUring,
        Strategy::MsgZerocopy,
    ];

    /// The name every face uses: `auto`, `read_write`, `mmap_write`, `sendfile`, `splice`,
    /// `copy_file_range`, `reflink`, `direct`, `io_uring`, `msg_zerocopy`.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::ReadWrite => "read_write",
            Strategy::MmapWrite => "mmap_write",
            Strategy::Sendfile => "sendfile",
            Strategy::Splice => "splice",
            Strategy::CopyFileRange => "copy_file_range",
            Strategy::Reflink => "reflink",
            Strategy::Direct => "direct",
            Strategy::MsgZerocopy => "msg_zerocopy",
            Strategy::IoUring => "io_uring",
        }
    }
}

/// What a transfer does to the page cache (the `cache` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CachePolicy {
    /// Leave the cache as the transfer leaves it (the default).
    #[default]
    Keep,
    /// After the transfer, evict the pages it brought into the cache, for source and
    /// destination (dirty destination pages are written back first); pages that were resident
    /// before stay. Costs a residency snapshot of both ranges before, and the eviction after.
    DropAfter,
    /// Advise `POSIX_FADV_NOREUSE` on both ranges first: since Linux 6.3 the pages read are not
    /// promoted as recently used, so they are the first to go under memory pressure.
    NoReuse,
    /// Uncached buffered I/O (`RWF_DONTCACHE`, Linux 6.14+): reads and writes of regular files
    /// go through the page cache, and the pages they bring in are dropped once read or written
    /// back, so a large copy leaves the cache as it found it (pages resident before stay). Served
    /// by `read_write` (`preadv2`/`pwritev2` with the flag, 4 MiB chunks); a named technique
    /// that cannot pass the flag is Unsupported. The transfer returns once the destination's
    /// last writes completed (`sync_file_range`; not a durability promise: that is `sync`), so
    /// no page of either file is left cached; it therefore runs at about the disk's write
    /// speed, where `Keep` returns with the copy still in memory, to be written later. Where the kernel or filesystem refuses the flag (`EOPNOTSUPP`:
    /// before 6.14, tmpfs), Auto copies with [`CachePolicy::DropAfter`] instead and says so in
    /// the Report's fallbacks.
    DontCache,
}

impl CachePolicy {
    /// Every policy.
    pub const ALL: &'static [CachePolicy] = &[
        CachePolicy::Keep,
        CachePolicy::DropAfter,
        CachePolicy::NoReuse,
        CachePolicy::DontCache,
    ];

    /// The name every face uses: `keep`, `drop_after`, `noreuse`, `dontcache`.
    pub const fn name(self) -> &'static str {
        match self {
            CachePolicy::Keep => "keep",
            CachePolicy::DropAfter => "drop_after",
            CachePolicy::NoReuse => "noreuse",
            CachePolicy::DontCache => "dontcache",
        }
    }
}

/// What a transfer makes durable before it returns (the `sync` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SyncPolicy {
    /// Nothing: the data may still be in the page cache only (the default).
    #[default]
    None,
    /// `fdatasync` the destination at the end: its data is on the device.
    Data,
    /// `fsync` the destination at the end: data and metadata.
    Full,
}

impl SyncPolicy {
    /// Every policy.
    pub const ALL: &'static [SyncPolicy] = &[SyncPolicy::None, SyncPolicy::Data, SyncPolicy::Full];

    /// The name every face uses: `none`, `data`, `full`.
    pub const fn name(self) -> &'static str {
        match self {
            SyncPolicy::None => "none",
            SyncPolicy::Data => "data",
            SyncPolicy::Full => "full",
        }
    }
}

named!(Strategy, "strategy");
named!(CachePolicy, "cache policy");
named!(SyncPolicy, "sync policy");

/// How a transfer that can be stopped (a progress callback or a cancel flag) keeps its blocking
/// waits stoppable (the [`Options::wait_ticks`] option).
///
/// A wait ends for the stop hook (the callback and the flag) in two ways: a wait interrupted by a
/// signal (`EINTR`, or a send or write that returns what it moved so far) asks it before going
/// on, and, with ticks, a wait that could last for ever is cut into 100 ms ticks that ask it. A
/// cancel flag sends no signal, so it needs the ticks; a caller whose only way to stop is a
/// signal that interrupts the waits (Python's Ctrl-C on its main thread) does not, and then
/// saves what the ticks cost: for a blocking socket destination, a `getsockopt` and two
/// `setsockopt(SO_SNDTIMEO)` a transfer; for a blocking pipe, a `poll` a chunk (or
/// `RWF_NOWAIT` writes); for an idle pipe or socket source, a `poll` a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WaitTicks {
    /// Cut the waits that could last for ever into ticks (the default).
    #[default]
    On,
    /// Cut no wait: the hook is asked between chunks and when a signal interrupts a wait. Only
    /// for a caller whose only way to stop is a signal handled without `SA_RESTART` and not
    /// blocked in the calling thread (with `SA_RESTART` the kernel resumes the wait after the
    /// handler, and the hook is not asked until the wait ends by itself, maybe never). A signal
    /// that arrives in the instant between the hook's last question and the start of a wait is
    /// seen at the next signal, as it is by the host's own blocking calls (CPython's
    /// `socket.send` has the same window).
    Off,
    /// [`WaitTicks::Off`] when signal `sig` (a `libc::SIGINT`, say) interrupts the calling
    /// thread's waits, else [`WaitTicks::On`]. It interrupts them when its handler is installed
    /// without `SA_RESTART` and the thread does not block it; also when it has no handler
    /// (`SIG_DFL`, `SIG_IGN`: it then ends the process, or nothing, and there is nothing for a
    /// hook to learn from it). Checked once per call (a `sigaction`, and the thread's signal
    /// mask, read by the `pthread_sigmask` that blocks SIGPIPE around writes to a pipe or
    /// socket, or by one of its own), and only where ticks would cost syscalls: a blocking pipe
    /// or socket at either end, and [`copy_file`](crate::copy_file)'s opens. A
    /// [`Prepared`](crate::Prepared) transfer checks once, when prepared: a host that changes
    /// the signal's handler or flags, or blocks it, afterwards must prepare again.
    UnlessInterruptedBy(i32),
}

/// A progress callback: receives the bytes moved so far (after each chunk) and returns `true` to
/// go on or `false` to stop the transfer with a [`Cancelled`](crate::ErrorKind::Cancelled) error.
pub type Progress<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// How to run a transfer. `Options::default()` is Auto from each fd's position to end of file.
///
/// ```
/// let opts = zcopy::Options { len: Some(4096), ..Default::default() };
/// assert_eq!(opts.strategy, zcopy::Strategy::Auto);
/// ```
#[derive(Clone)]
pub struct Options<'a> {
    /// The technique to use, or [`Strategy::Auto`] (the default).
    pub strategy: Strategy,
    /// Where to read the source. `None` (the default) reads from the fd's current position and
    /// advances it by the bytes moved; `Some(n)` reads from byte `n` and leaves the position alone.
    pub src_offset: Option<u64>,
    /// Where to write the destination; `None` and `Some` behave as for [`Options::src_offset`].
    pub dst_offset: Option<u64>,
    /// How many bytes to move. `None` runs to end of file (following a file that grows while
    /// it is copied); a `len` past end of file moves what there is. `Some(0)` moves nothing.
    pub len: Option<u64>,
    /// Bytes per syscall (the buffer size for `read_write`, the window for `mmap_write`, the
    /// pipe size for `splice`); `None` (or 0) uses each technique's own default. At most 1 GiB:
    /// larger is an [`Invalid`](crate::ErrorKind::Invalid) error.
    pub chunk_size: Option<u64>,
    /// Whether the planner may try the next technique when one cannot serve the pair (default
    /// `true`). `false` with a named strategy means exactly that technique or an
    /// [`Unsupported`](crate::ErrorKind::Unsupported) error; a named strategy with `true` falls
    /// back to Auto's list after it.
    pub fallback: bool,
    /// Called with the bytes moved so far after each chunk, and every 100 ms with the same count
    /// while the transfer waits (the open of a FIFO in [`copy_file`](crate::copy_file), a pipe
    /// or socket source with nothing to read, a full pipe or a socket whose peer does not read);
    /// returning `false` stops the transfer, also in the middle of such a wait. With a callback
    /// (or a cancel flag) and no `chunk_size`, chunks are at most 32 MiB, so it is called at
    /// least every 100 ms of copying (`copy_file_range` and `sendfile` otherwise move up to
    /// 1–2 GiB a call). A stop asked after the last byte moved does not fail the transfer.
    ///
    /// With a progress callback or a cancel flag, every blocking wait can be stopped: a wait
    /// interrupted by a signal (`EINTR`) asks them before it is retried, and a wait that could
    /// last for ever is cut into 100 ms ticks that ask them. To cut a socket destination's
    /// waits, a blocking socket whose `SO_SNDTIMEO` is 0 gets one of 100 ms for the transfer,
    /// restored after. Without either, the transfer makes exactly the syscalls it would make
    /// anyway. [`Options::wait_ticks`] spares the ticks to a caller that stops by a signal.
    pub progress: Option<Progress<'a>>,
    /// Checked before each chunk (at most 32 MiB, as for `progress`), and every 100 ms while the
    /// transfer waits (as for [`Options::progress`]): once it is `true`, the transfer stops with
    /// a Cancelled error (unless every byte had already moved).
    pub cancel: Option<&'a AtomicBool>,
    /// What the transfer does to the page cache (default [`CachePolicy::Keep`]).
    pub cache: CachePolicy,
    /// What it makes durable before returning (default [`SyncPolicy::None`]).
    pub sync: SyncPolicy,
    /// Bytes from which Auto moves a file with [`Strategy::Direct`] (nginx's `directio`):
    /// transfers of at least this many bytes (`len`, or what the source holds past the start)
    /// bypass the page cache; smaller ones take the zero-copy techniques. `None` (the default):
    /// never. Auto then tries io_uring in direct mode, then the direct technique.
    ///
    /// The trade-off measured on this project's machines (2-vCPU VM, ext4 on a virtual disk; a
    /// cold 256 MiB file → file copy including the final fsync, medians of 5 interleaved rounds):
    /// direct 0.31 GB/s and io_uring direct 0.30 GB/s against 0.52 GB/s for read_write and
    /// 0.64 GB/s for copy_file_range, i.e. ~0.6× (O_DIRECT reads ~0.85 GB/s against ~1.45 GB/s
    /// cold buffered, and no request merging). What it buys: a 1 GiB copy leaves 0 MiB of either
    /// file in the page cache, against 1 GiB of each under `keep`. So the threshold pays only
    /// where keeping other files cached matters more than this transfer's speed: large,
    /// read-once files on a busy server (nginx's `directio`).
    pub direct_threshold: Option<u64>,
    /// Keep the holes of a sparse source file (the default, `true`): file → file, only its data
    /// segments are moved (`SEEK_DATA`/`SEEK_HOLE`) and the destination gets holes where the
    /// source has them, when the destination range starts at or past its end (so a hole reads
    /// as zeros, not as old bytes). `false` writes the zeros. Costs nothing for files without
    /// holes (they are told apart by `st_blocks` from the `fstat` already made).
    pub sparse: bool,
    /// Requests the `io_uring` technique keeps in flight (`None`: 4; at most 1024). Each one
    /// holds a buffer of `chunk_size` bytes.
    pub queue_depth: Option<u32>,
    /// Threads that move a file → file transfer at once (`None`, `0` and `1`: one, the
    /// default; at most 64, more is an [`Invalid`](crate::ErrorKind::Invalid) error). With
    /// `n > 1`, a transfer from a regular file to a regular file of at least 16 MiB is split
    /// into up to `n` contiguous ranges of at least 8 MiB each, moved concurrently by worker
    /// threads; each runs the planner on its range with explicit offsets, so the technique,
    /// fallback and `chunk_size` rules are the ones of a single-threaded transfer. Any other
    /// transfer runs on one thread, silently: another kind of fd at either end, an `O_APPEND`
    /// destination, a sparse source whose holes are kept (`sparse`), or less than 16 MiB to move
    /// (a source whose length `fstat` does not tell, as in procfs, counts as empty). Auto never
    /// turns it on by itself.
    ///
    /// What stays as with one thread: `None` offsets start at the fds' positions, which
    /// advance by exactly the bytes moved when the transfer ends; the progress callback gets
    /// the bytes moved by all the threads together, always on the calling thread (which
    /// relays and does not move bytes itself); a stop asked by it, or the cancel flag, stops
    /// every thread at its next chunk. `len: None` still follows a source that grows (the last
    /// range runs to end of file). The [`Report`](crate::Report) sums the workers' syscalls, CPU
    /// times and context switches (each worker reads its own thread's CPU clock and
    /// `getrusage(RUSAGE_THREAD)` at its start and end) with the calling thread's; the syscalls `std::thread` makes to start and join them (`clone3`,
    /// `mmap` of their stacks, futex waits) are not counted. `strategy` is the technique the
    /// ranges used (the furthest fallback any range reached, with its `fallbacks`).
    ///
    /// On error, [`Error::bytes_moved`](crate::Error::bytes_moved) is the length of the
    /// contiguous prefix from where the transfer began that is completely written (the ranges
    /// before the first unfinished one, plus what that one moved), and the destination holds
    /// those bytes exactly; bytes past the prefix may also have been written by later ranges
    /// (they are the source's bytes, at their places), and are not undone.
    ///
    /// Measured on this project's machines (`zcopy bench --full`, 2 vCPUs, ext4 on a virtual
    /// disk, 7 rounds): 2 threads ran at 0.97× and 0.98× Auto on one thread for 16 and 256 MiB
    /// with the source hot, 0.79× and 0.96× cold; hence never on by default. It can pay where one thread cannot keep
    /// the storage busy (more cores, fast NVMe, network filesystems): measure there.
    pub parallelism: Option<u32>,
    /// Whether the waits of a transfer that can be stopped (a progress callback or a cancel
    /// flag) are cut into 100 ms ticks that ask them (default [`WaitTicks::On`]); see
    /// [`WaitTicks`] for when they need not be. No effect on a transfer that cannot be stopped.
    pub wait_ticks: WaitTicks,
}

impl<'a> Options<'a> {
    /// The defaults: Auto, fd positions, to end of file, fallback allowed.
    pub fn new() -> Options<'a> {
        Options::default()
    }

    /// These options with `strategy` set.
    pub fn with_strategy(mut self, strategy: Strategy) -> Options<'a> {
        self.strategy = strategy;
        self
    }

    /// These options with fallback allowed (`true`, the default) or refused.
    pub fn with_fallback(mut self, fallback: bool) -> Options<'a> {
        self.fallback = fallback;
        self
    }
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            strategy: Strategy::Auto,
            src_offset: None,
            dst_offset: None,
            len: None,
            chunk_size: None,
            fallback: true,
            progress: None,
            cancel: None,
            cache: CachePolicy::Keep,
            sync: SyncPolicy::None,
            direct_threshold: None,
            sparse: true,
            queue_depth: None,
            parallelism: None,
            wait_ticks: WaitTicks::On,
        }
    }
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("strategy", &self.strategy)
            .field("src_offset", &self.src_offset)
            .field("dst_offset", &self.dst_offset)
            .field("len", &self.len)
            .field("chunk_size", &self.chunk_size)
            .field("fallback", &self.fallback)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .field("cache", &self.cache)
            .field("sync", &self.sync)
            .field("direct_threshold", &self.direct_threshold)
            .field("sparse", &self.sparse)
            .field("queue_depth", &self.queue_depth)
            .field("parallelism", &self.parallelism)
            .field("wait_ticks", &self.wait_ticks)
            .finish()
    }
}
