//! The techniques, one file each, all with the same shape ([`Technique`]), so the planner can
//! treat them as a list.
//!
//! A technique gets a [`Job`]: the classified fds, the offsets reached so far and the bytes left.
//! It moves bytes chunk by chunk, calling [`Job::advance`] after each syscall that moved some, so
//! the job's offsets are exact whenever it returns. A technique that cannot serve the pair says so
//! with an [`Unsupported`](crate::ErrorKind::Unsupported) error; the planner then tries the next
//! one from the exact offsets reached.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicI32, Ordering};

pub(crate) use crate::endpoint::{position, seek_to};
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, Result};
use crate::options::{Progress, Strategy, WaitTicks};
use crate::report::CopyModel;
use crate::sys;

/// How long one wait for an idle pipe or socket source lasts before the cancel flag and the
/// progress callback are asked again (see [`Job::wait_idle_source`]).
pub(crate) const IDLE_TICK_MS: i32 = sys::stop::TICK_MS;

/// The most one chunk moves when the caller can stop the transfer (a progress callback or a
/// cancel flag) and gave no `chunk_size`, so both are seen at least every 100 ms of copying.
///
/// Only techniques whose own chunk is larger are bounded by it: `copy_file_range` (1 GiB a
/// call) and `sendfile` (2 GiB). 32 MiB takes 6 ms at the fastest file → file rate measured on
/// these machines (5.6 GB/s hot), 25 ms at a cold source's 1.3 GB/s and 76 ms at O_DIRECT's
/// 0.44 GB/s; the extra calls (31 a GiB) cost nothing measurable (the README's Guarantees).
/// Without a callback or flag, chunks are the technique's own.
pub(crate) const STOPPABLE_CHUNK: u64 = 32 << 20;

pub(crate) mod copy_file_range;
pub(crate) mod direct;
pub(crate) mod io_uring;
pub(crate) mod mmap_write;
pub(crate) mod msg_zerocopy;
pub(crate) mod read_write;
pub(crate) mod reflink;
pub(crate) mod sendfile;
pub(crate) mod splice;

/// One technique, as the planner sees it.
pub(crate) struct Technique {
    /// Its name.
    pub strategy: Strategy,
    /// The syscall family it depends on, when the process may lack it.
    pub family: Option<Family>,
    /// Whether it can serve this job, decided from the classification alone (no syscall, but
    /// the filesystem's type, asked once per mount and thread: [`true_size`]).
    pub supports: fn(&Job<'_, '_>) -> std::result::Result<(), String>,
    /// Moves bytes until the job is done, end of file, or an error.
    pub run: fn(&mut Job<'_, '_>) -> Result<()>,
    /// Modelled copies per byte it moves for this pair.
    pub model: fn(&Job<'_, '_>) -> CopyModel,
}

/// The technique behind a strategy (`None` for Auto).
pub(crate) fn technique(s: Strategy) -> Option<&'static Technique> {
    Some(match s {
        Strategy::Auto => return None,
        Strategy::ReadWrite => &read_write::TECHNIQUE,
        Strategy::MmapWrite => &mmap_write::TECHNIQUE,
        Strategy::Sendfile => &sendfile::TECHNIQUE,
        Strategy::Splice => &splice::TECHNIQUE,
        Strategy::CopyFileRange => &copy_file_range::TECHNIQUE,
        Strategy::Reflink => &reflink::TECHNIQUE,
        Strategy::Direct => &direct::TECHNIQUE,
        Strategy::MsgZerocopy => &msg_zerocopy::TECHNIQUE,
        Strategy::IoUring => &io_uring::TECHNIQUE,
    })
}

/// A transfer in progress: what is being moved, and how far it got.
pub(crate) struct Job<'a, 'fd> {
    pub src: &'a Endpoint<'fd>,
    pub dst: &'a Endpoint<'fd>,
    /// The next source offset, or `None` to read at (and advance) the fd's position.
    pub src_off: Option<u64>,
    /// The next destination offset, or `None` to write at (and advance) the fd's position.
    pub dst_off: Option<u64>,
    /// Bytes still to move, or `None` for "to end of file".
    pub remaining: Option<u64>,
    /// Bytes moved so far, by every technique tried.
    pub moved: u64,
    /// The caller's chunk size, if any.
    pub chunk: Option<u64>,
    progress: Option<Progress<'a>>,
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
    reported: u64,
    /// The source's position must be set to `src_off` at the end (a technique turned the
    /// position into an explicit offset).
    src_pos_pending: bool,
    /// Likewise for the destination.
    dst_pos_pending: bool,
    /// Whether holes of a sparse source are kept (the `sparse` option).
    pub sparse: bool,
    /// Bytes skipped as holes (counted in `moved`, but no technique moved them).
    pub holes: u64,
    /// CPU-copied bytes beyond the technique's model (MSG_ZEROCOPY sends the kernel copied).
    pub extra_cpu_copies: u64,
    /// `send(MSG_ZEROCOPY)` calls made.
    pub zerocopy_sends: u64,
    /// Whether the transfer reached the `direct_threshold`: io_uring then reads with O_DIRECT.
    pub direct: bool,
    /// The `queue_depth` option.
    pub queue_depth: Option<u32>,
    /// Of those, completions the kernel flagged as copied.
    pub zerocopy_copied: u64,
    /// Whether waits for room in the destination are cut into ticks the stop hook can end
    /// (see [`DstTicks`]).
    pub dst_ticks: bool,
    /// Whether waits may be cut into ticks at all (the `wait_ticks` option is not
    /// [`WaitTicks::Off`]): an idle source's, an io_uring's.
    pub ticks: bool,
    /// Whether reads and writes of regular files are uncached (`RWF_DONTCACHE`: the
    /// `dontcache` cache policy); only techniques that can pass the flag serve it.
    pub dontcache: bool,
    /// Whether the cache policy is `keep`: only then may mmap_write keep a window mapped past
    /// the run (a mapped page resists the other policies' drops).
    pub cache_keep: bool,
}

impl<'a, 'fd> Job<'a, 'fd> {
    pub(crate) fn new(
        src: &'a Endpoint<'fd>,
        dst: &'a Endpoint<'fd>,
        opts: &crate::Options<'a>,
    ) -> Job<'a, 'fd> {
        Job {
            src,
            dst,
            src_off: opts.src_offset,
            dst_off: opts.dst_offset,
            remaining: opts.len,
            moved: 0,
            chunk: opts.chunk_size.filter(|&c| c > 0),
            progress: opts.progress,
            cancel: opts.cancel,
            reported: 0,
            src_pos_pending: false,
            dst_pos_pending: false,
            sparse: opts.sparse,
            holes: 0,
            extra_cpu_copies: 0,
            zerocopy_sends: 0,
            direct: false,
            queue_depth: opts.queue_depth,
            zerocopy_copied: 0,
            dst_ticks: false,
            ticks: opts.wait_ticks != WaitTicks::Off,
            dontcache: opts.cache == crate::CachePolicy::DontCache,
            cache_keep: opts.cache == crate::CachePolicy::Keep,
        }
    }

    /// The size of the next chunk (at most `default`, or the caller's chunk size, and never past
    /// `len`), or `None` when the job is done. Checks the cancel flag and calls the progress
    /// callback first, so a stop happens between chunks, with nothing in flight. When the caller
    /// can stop the transfer, `default` is bounded by [`STOPPABLE_CHUNK`].
    pub(crate) fn next_chunk(&mut self, default: u64) -> Result<Option<usize>> {
        self.checkpoint()?;
        self.wait_idle_source()?;
        let want = match self.chunk {
            Some(c) => c,
            None if self.progress.is_some() || self.cancel.is_some() => {
                default.min(STOPPABLE_CHUNK)
            }
            None => default,
        };
        let n = match self.remaining {
            Some(0) => return Ok(None),
            Some(r) => r.min(want),
            None => want,
        };
        Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
    }

    /// Before reading a blocking pipe or socket, when the caller can stop the transfer (a cancel
    /// flag or a progress callback): waits for bytes in `poll` slices of [`IDLE_TICK_MS`],
    /// checking the cancel flag and calling the progress callback (with the same count) between
    /// them, so a source that goes quiet can still be stopped. One `poll` per chunk when bytes
    /// are there; nothing for files, for non-blocking sources (their reads return at once),
    /// without a way to stop, or without ticks ([`WaitTicks::Off`]: the read itself waits, and
    /// a signal that interrupts it asks the stop hook).
    fn wait_idle_source(&mut self) -> Result<()> {
        if !matches!(self.src.kind, Kind::Pipe | Kind::Socket)
            || self.src.flags & libc::O_NONBLOCK != 0
            || (self.cancel.is_none() && self.progress.is_none())
            || !self.ticks
        {
            return Ok(());
        }
        loop {
            let ready = sys::net::wait_readable(self.src.fd, IDLE_TICK_MS)
                .map_err(|e| Error::os(e, format_args!("poll on {}", self.src.name)))?;
            if ready {
                return Ok(());
            }
            if let Some(progress) = self.progress {
                if !progress(self.moved) {
                    return Err(Error::cancelled(format!(
                        "transfer stopped by the progress callback after {} bytes (the source was idle)",
                        self.moved
                    )));
                }
            }
            if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::cancelled(format!(
                    "transfer cancelled by the cancel flag after {} bytes (the source was idle)",
                    self.moved
                )));
            }
        }
    }

    /// Before a `splice` or `sendfile` chunk to a pipe whose waits are cut ([`Job::dst_ticks`]):
    /// waits in ticks the stop hook can end until the pipe has room, so the call (which waits
    /// only for a first free slot, then moves what fits) does not block. One `poll` per chunk,
    /// only with a stop hook. (Writes use `RWF_NOWAIT` instead; a socket's waits are bounded by
    /// `SO_SNDTIMEO`.)
    pub(crate) fn wait_dst_room(&mut self) -> Result<()> {
        if !self.dst_ticks || self.dst.kind != Kind::Pipe {
            return Ok(());
        }
        sys::stop::poll_ticks(self.dst.fd, libc::POLLOUT)
            .map_err(|e| Error::os(e, format_args!("waiting for room in {}", self.dst.name)))
    }

    /// After a call that writes to the destination failed with `err`: when its waits are cut
    /// ([`Job::dst_ticks`]) and `err` is `EAGAIN` (a full pipe, or a socket's one-tick
    /// `SO_SNDTIMEO` ran out), waits in ticks the stop hook can end until there is room, and
    /// says to retry. `false` for any other error (see [`Job::dst_stalled`]).
    pub(crate) fn retry_stalled_dst(&self, err: &io::Error) -> Result<bool> {
        if !self.dst_stalled(err) {
            return Ok(false);
        }
        self.wait_dst_writable()?;
        Ok(true)
    }

    /// Whether `err` from a call writing to the destination means "no room yet" in a wait the
    /// job cuts into ticks (see [`Job::retry_stalled_dst`]).
    ///
    /// A non-blocking pipe or socket source's own `EAGAIN` (a `splice` or `sendfile` from it
    /// reads and writes in one call) is the caller's to see: not a stall then.
    pub(crate) fn dst_stalled(&self, err: &io::Error) -> bool {
        self.dst_ticks
            && err.raw_os_error() == Some(libc::EAGAIN)
            && (self.src.seekable() || self.src.flags & libc::O_NONBLOCK == 0)
    }

    /// After a write to the destination that moved some bytes but fewer than asked, when its
    /// waits are not cut ([`Job::dst_ticks`] off): a blocking pipe or socket stops short when a
    /// signal interrupts it, so the stop hook is asked now, as the `EINTR` of a wait that had
    /// moved nothing would ask it; else the next write would wait again with the stop unseen.
    /// (Between chunks, [`Job::checkpoint`] asks the callback and flag anyway.) Nothing without
    /// a hook.
    pub(crate) fn interrupted_write(&self) -> Result<()> {
        if self.dst_ticks {
            return Ok(());
        }
        sys::stop::check().map_err(|e| Error::os(e, format_args!("writing to {}", self.dst.name)))
    }

    /// Waits in ticks the stop hook can end until the destination has room.
    pub(crate) fn wait_dst_writable(&self) -> Result<()> {
        sys::stop::poll_ticks(self.dst.fd, libc::POLLOUT)
            .map_err(|e| Error::os(e, format_args!("waiting for room in {}", self.dst.name)))
    }

    /// Whether the caller can stop the transfer (a progress callback or a cancel flag), so a
    /// wait must come back often enough to ask them.
    pub(crate) fn can_stop(&self) -> bool {
        self.progress.is_some() || self.cancel.is_some()
    }

    /// Calls the progress callback (when bytes moved since the last call) and checks the cancel
    /// flag.
    pub(crate) fn checkpoint(&mut self) -> Result<()> {
        // Progress first: a cancel flag set from inside the callback stops this very chunk.
        if self.moved > self.reported {
            self.reported = self.moved;
            sys::stop::note_moved(self.moved);
            if let Some(progress) = self.progress {
                if !progress(self.moved) {
                    return Err(Error::cancelled(format!(
                        "transfer stopped by the progress callback after {} bytes",
                        self.moved
                    )));
                }
            }
        }
        if let Some(cancel) = self.cancel {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::cancelled(format!(
                    "transfer cancelled by the cancel flag after {} bytes",
                    self.moved
                )));
            }
        }
        Ok(())
    }

    /// Accounts for `n` bytes that reached the destination.
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n as u64;
        self.moved += n;
        #[cfg(feature = "testing")]
        crate::testing::maybe_panic(self.moved);
        if let Some(o) = &mut self.src_off {
            *o += n;
        }
        if let Some(o) = &mut self.dst_off {
            *o += n;
        }
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(n);
        }
    }

    /// Accounts for `n` bytes of a hole: left unwritten in the destination, which reads them as
    /// zeros (see `sparse`).
    pub(crate) fn skip(&mut self, n: u64) {
        self.moved += n;
        self.holes += n;
        if let Some(o) = &mut self.src_off {
            *o += n;
        }
        if let Some(o) = &mut self.dst_off {
            *o += n;
        }
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(n);
        }
    }

    /// Takes back `n` hole bytes [`Job::skip`] counted that never reached the destination (the
    /// write or `ftruncate` that would have given it them failed), so the count and the offsets
    /// say what the destination holds.
    pub(crate) fn unskip(&mut self, n: u64) {
        self.moved -= n;
        self.holes -= n;
        if let Some(o) = &mut self.src_off {
            *o -= n;
        }
        if let Some(o) = &mut self.dst_off {
            *o -= n;
        }
        if let Some(r) = &mut self.remaining {
            *r += n;
        }
    }

    /// The explicit source offset, turning "the fd's position" into one (`lseek`) the first time;
    /// the position is then set to the offset reached when the transfer ends.
    pub(crate) fn src_offset(&mut self) -> Result<u64> {
        if let Some(o) = self.src_off {
            return Ok(o);
        }
        let pos = position(self.src)?;
        self.src_off = Some(pos);
        self.src_pos_pending = true;
        Ok(pos)
    }

    /// The explicit destination offset, as [`Job::src_offset`].
    pub(crate) fn dst_offset(&mut self) -> Result<u64> {
        if let Some(o) = self.dst_off {
            return Ok(o);
        }
        let pos = position(self.dst)?;
        self.dst_off = Some(pos);
        self.dst_pos_pending = true;
        Ok(pos)
    }

    /// Sets the fds' positions the job took over (see [`Job::src_offset`]).
    pub(crate) fn settle_positions(&mut self) -> Result<()> {
        if self.src_pos_pending {
            self.src_pos_pending = false;
            seek_to(self.src, self.src_off.take().unwrap_or(0))?;
        }
        if self.dst_pos_pending {
            self.dst_pos_pending = false;
            seek_to(self.dst, self.dst_off.take().unwrap_or(0))?;
        }
        Ok(())
    }

    /// Gives `n` bytes read from the source but not delivered back to it, so the source's
    /// position stays exact. Returns `false` when the source cannot seek (a pipe or socket): the
    /// bytes are then only held by the caller of this function, which must deliver them.
    pub(crate) fn give_back_src(&mut self, n: usize) -> Result<bool> {
        if n == 0 || self.src_off.is_some() {
            return Ok(true);
        }
        if !self.src.seekable() {
            return Ok(false);
        }
        sys::fs::lseek(self.src.fd, -(n as i64), libc::SEEK_CUR)
            .map_err(|e| Error::os(e, format_args!("lseek on {}", self.src.name)))?;
        Ok(true)
    }

    /// Whether nothing is left to move: the length is reached, or a regular-file source is at
    /// (or past) its end, as `fstat` tells it now (it may have grown since the transfer began).
    /// A stop that arrives then comes after the last byte moved, so it does not fail the transfer.
    pub(crate) fn complete(&self) -> bool {
        if self.remaining == Some(0) {
            return true;
        }
        if self.src.kind != Kind::File {
            return false;
        }
        let at = match self.src_off {
            Some(o) => o,
            None => match position(self.src) {
                Ok(p) => p,
                Err(_) => return false,
            },
        };
        sys::fs::fstat(self.src.fd).is_ok_and(|st| at >= u64::try_from(st.st_size).unwrap_or(0))
    }

    /// Whether the job stops at end of file rather than at a length.
    pub(crate) fn to_eof(&self) -> bool {
        self.remaining.is_none()
    }
}

/// Runs `f` with the stop hook of `opts` armed on this thread (see [`sys::stop`]), when it has
/// one (a progress callback or a cancel flag): blocking waits then end within a tick of a stop,
/// or, with [`WaitTicks::Off`], when a signal interrupts them (an undecided
/// [`WaitTicks::UnlessInterruptedBy`] counts as [`WaitTicks::On`]: see [`decide_wait_ticks`]).
/// Without one, just `f()`.
pub(crate) fn with_stop_hook<T>(opts: &crate::Options<'_>, f: impl FnOnce() -> T) -> T {
    if opts.progress.is_none() && opts.cancel.is_none() {
        return f();
    }
    let hook = |moved: u64| ask_stop(opts.progress, opts.cancel, moved);
    let _scope = sys::stop::Scope::arm(&hook, opts.wait_ticks != WaitTicks::Off);
    f()
}

/// `opts` with its [`WaitTicks::UnlessInterruptedBy`] decided ([`WaitTicks::On`] or
/// [`WaitTicks::Off`]) for one call on this thread, or `None` when there is nothing to decide:
/// another setting, nothing that can stop the transfer (no hook is armed), or `ends` (when
/// known) of which neither is a blocking pipe or socket (nothing would be cut). A prepared
/// destination's answer ([`Endpoint::signal_checked`]) costs nothing; else
/// [`sys::stop::interrupts_waits`], given the thread's `mask` when the caller has it.
pub(crate) fn decide_wait_ticks<'a>(
    opts: &crate::Options<'a>,
    ends: Option<(&Endpoint<'_>, &Endpoint<'_>)>,
    mask: Option<&sys::process::SigMask>,
) -> Option<crate::Options<'a>> {
    let WaitTicks::UnlessInterruptedBy(sig) = opts.wait_ticks else {
        return None;
    };
    if opts.progress.is_none() && opts.cancel.is_none() {
        return None;
    }
    let waits = |e: &Endpoint<'_>| {
        matches!(e.kind, Kind::Pipe | Kind::Socket) && e.flags & libc::O_NONBLOCK == 0
    };
    let interrupts = match ends {
        Some((src, dst)) if !waits(src) && !waits(dst) => return None,
        Some((_, dst)) if dst.signal_checked.is_some_and(|(s, _)| s == sig) => {
            dst.signal_checked.is_some_and(|(_, v)| v)
        }
        _ => sys::stop::interrupts_waits(sig, mask),
    };
    Some(crate::Options {
        wait_ticks: if interrupts {
            WaitTicks::Off
        } else {
            WaitTicks::On
        },
        ..opts.clone()
    })
}

/// The stop hook's question, in [`Job::checkpoint`]'s order: the progress callback (given the
/// bytes moved so far), then the cancel flag.
fn ask_stop(
    progress: Option<Progress<'_>>,
    cancel: Option<&std::sync::atomic::AtomicBool>,
    moved: u64,
) -> std::result::Result<(), String> {
    if progress.is_some_and(|p| !p(moved)) {
        return Err("transfer stopped by the progress callback while waiting".to_string());
    }
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err("transfer cancelled by the cancel flag while waiting".to_string());
    }
    Ok(())
}

/// Cuts the waits for room in a blocking pipe or socket destination into ticks, while a stop
/// hook is armed: [`Job::wait_dst_room`] polls a pipe before each chunk, `read_write` writes with
/// `RWF_NOWAIT`, and a socket whose `SO_SNDTIMEO` is 0 (wait for ever) gets one of a tick for
/// the transfer, so a `sendfile`, `splice` or `send` to a peer that stopped reading returns
/// `EAGAIN` (or what it moved) every tick ([`Job::retry_stalled_dst`]). The socket's timeout is
/// restored when this is dropped. Nothing without a hook, or for a non-blocking destination.
pub(crate) struct DstTicks<'fd> {
    /// Whether the job's waits are cut.
    pub on: bool,
    restore: Option<BorrowedFd<'fd>>,
}

impl<'fd> DstTicks<'fd> {
    pub(crate) fn arm(dst: &Endpoint<'fd>) -> DstTicks<'fd> {
        let off = DstTicks {
            on: false,
            restore: None,
        };
        if !sys::stop::cuts_waits() || dst.flags & libc::O_NONBLOCK != 0 {
            return off;
        }
        match dst.kind {
            Kind::Pipe => DstTicks {
                on: true,
                restore: None,
            },
            Kind::Socket => {
                // A caller's own timeout already bounds the wait (its EAGAIN is the caller's).
                match sys::net::send_timeout(dst.fd) {
                    Ok(tv) if tv.tv_sec == 0 && tv.tv_usec == 0 => {}
                    _ => return off,
                }
                let tick = libc::timeval {
                    tv_sec: 0,
                    tv_usec: libc::suseconds_t::from(sys::stop::TICK_MS) * 1000,
                };
                match sys::net::set_send_timeout(dst.fd, tick) {
                    Ok(()) => DstTicks {
                        on: true,
                        restore: Some(dst.fd),
                    },
                    Err(_) => off,
                }
            }
            _ => off,
        }
    }
}

impl Drop for DstTicks<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.restore {
            let zero = libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            };
            // Best effort: a socket that refuses now refused nothing before.
            let _ = sys::net::set_send_timeout(fd, zero);
        }
    }
}

/// Families of syscalls the process may turn out not to have (a kernel without them, or a
/// seccomp filter): remembered per process once seen, so later transfers skip them.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Family {
    Sendfile = 0,
    Splice = 1,
    CopyFileRange = 2,
    IoUring = 3,
}

static BLOCKED: [AtomicI32; 4] = [
    AtomicI32::new(0),
    AtomicI32::new(0),
    AtomicI32::new(0),
    AtomicI32::new(0),
];

impl Family {
    fn nr(self) -> libc::c_long {
        match self {
            Family::Sendfile => libc::SYS_sendfile,
            Family::Splice => libc::SYS_splice,
            Family::CopyFileRange => libc::SYS_copy_file_range,
            Family::IoUring => libc::SYS_io_uring_setup,
        }
    }

    /// Arguments that make the call fail with `EBADF` at once where it is allowed: every fd -1,
    /// every offset pointer null, a length of 1 (a length of 0 may return before any check).
    fn probe_args(self) -> [i64; 6] {
        match self {
            // sendfile(out_fd, in_fd, offset, count)
            Family::Sendfile => [-1, -1, 0, 1, 0, 0],
            // splice(fd_in, off_in, fd_out, off_out, len, flags), and copy_file_range alike
            Family::Splice | Family::CopyFileRange => [-1, 0, -1, 0, 1, 0],
            // io_uring_setup(entries, params): 0 entries and no params fail with EINVAL or
            // EFAULT where allowed; a disabled io_uring (the sysctl) or a filter says EPERM/ENOSYS.
            Family::IoUring => [0, 0, 0, 0, 0, 0],
        }
    }

    fn syscall_name(self) -> &'static str {
        match self {
            Family::Sendfile => "sendfile",
            Family::Splice => "splice",
            Family::CopyFileRange => "copy_file_range",
            Family::IoUring => "io_uring",
        }
    }

    /// The Unsupported error for a family found unavailable in this process, if it was.
    pub(crate) fn blocked(self) -> Option<Error> {
        let errno = BLOCKED[self as usize].load(Ordering::Relaxed);
        (errno != 0).then(|| {
            Error::new(
                crate::ErrorKind::Unsupported,
                Some(errno),
                format!(
                    "{} is not available in this process ({} seen earlier: a kernel without it or a seccomp filter)",
                    self.syscall_name(),
                    errno_name(errno)
                ),
            )
        })
    }
}

/// Turns an error from a technique's syscall into the error the planner needs: `Unsupported`
/// when the kernel refused the pair (so the planner may fall back), `Io` otherwise.
///
/// `ENOSYS`, and `EPERM` when a probe call with fd -1 gets it too (a seccomp filter, not this
/// fd's permission), mark the family unavailable for the rest of the process.
pub(crate) fn classify(
    err: io::Error,
    family: Option<Family>,
    refusals: &[i32],
    what: impl std::fmt::Display,
) -> Error {
    let errno = err.raw_os_error().unwrap_or(0);
    if let Some(fam) = family {
        if errno == libc::ENOSYS || errno == libc::EPERM {
            if let Some(e) = sys::process::syscall_blocked(fam.nr(), fam.probe_args()) {
                BLOCKED[fam as usize].store(e, Ordering::Relaxed);
                return Error::new(
                    crate::ErrorKind::Unsupported,
                    Some(e),
                    format!(
                        "{what}: {} is blocked in this process ({})",
                        fam.syscall_name(),
                        errno_name(e)
                    ),
                );
            }
        }
    }
    if refusals.contains(&errno) {
        return Error::new(
            crate::ErrorKind::Unsupported,
            Some(errno),
            format!(
                "{what}: the kernel refused this pair ({})",
                errno_name(errno)
            ),
        );
    }
    Error::os(err, what)
}

/// `EINVAL`, `EXDEV`, ...: the symbolic name of an errno, for messages.
pub(crate) fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EINVAL => "EINVAL",
        libc::EXDEV => "EXDEV",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOSYS => "ENOSYS",
        libc::EPERM => "EPERM",
        libc::EBADF => "EBADF",
        libc::ESPIPE => "ESPIPE",
        libc::EAGAIN => "EAGAIN",
        libc::EPIPE => "EPIPE",
        libc::EFAULT => "EFAULT",
        libc::ENOSPC => "ENOSPC",
        libc::EISDIR => "EISDIR",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOTTY => "ENOTTY",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ENODEV => "ENODEV",
        libc::EACCES => "EACCES",
        _ => "an error",
    }
}

/// The DMA copies a pair costs per byte in the model: one at each end backed by a device (a
/// regular file or block device: the disk; an IP socket: the NIC, loopback included as the NIC
/// it stands in for). Pipes, Unix sockets, character devices and files on filesystems that live
/// in memory (tmpfs, ramfs, procfs, sysfs: [`Endpoint::has_device`]) have none.
pub(crate) fn dma_ends(job: &Job<'_, '_>) -> u64 {
    u64::from(job.src.has_device()) + u64::from(job.dst.has_device())
}

/// Refuses a source whose file does not report its true size (a procfs or sysfs file: size 0
/// or one page, whatever it holds), for the techniques that trust the size (`mmap_write`,
/// `reflink`, `copy_file_range`, `sendfile`, `direct`, `io_uring`): they would move nothing, or
/// a page of zeros, or fail after writing. A plain read (`read_write`, `splice`) sees the
/// exact content. One `fstatfs` per mount and thread, for sizes 0 and one page only
/// ([`Endpoint::sizeless_fs`]).
pub(crate) fn true_size(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    match job.src.sizeless_fs() {
        Some(fs) => Err(format!(
            "{} is on {fs}, whose files report no true size (fstat says {} bytes); only a plain read (read_write, splice) copies what it holds",
            job.src.name, job.src.size
        )),
        None => Ok(()),
    }
}

/// Refuses an `O_APPEND` destination for techniques whose syscall does.
pub(crate) fn no_append(job: &Job<'_, '_>, syscall: &str) -> std::result::Result<(), String> {
    if job.dst.append() {
        return Err(format!(
            "{} is O_APPEND, which {syscall} refuses",
            job.dst.name
        ));
    }
    Ok(())
}
