//! `io_uring`: reads and writes kept in flight through an io_uring (queue depth 4, or the
//! `queue_depth` option): while one
//! chunk is written, the next ones are already being read.
//!
//! The source must be a regular file or block device; the destination a file, socket, pipe or
//! character device. Reads go at explicit offsets into a ring of buffers, up to the queue depth
//! at once; writes go strictly in order, one at a time, so the bytes counted as moved are always
//! a prefix of the destination's range (and a stream destination gets them in order). Short
//! reads and writes are resubmitted for the rest, and so is `-EAGAIN`. A non-blocking stream
//! destination is Unsupported: io_uring waits for a socket's readiness itself, which would block
//! where the caller asked not to. A buffer is never reused or freed while the kernel may still
//! use it: on an error or a cancel, pending requests are cancelled (`IORING_OP_ASYNC_CANCEL`) and
//! their completions awaited before returning. Every wait is bounded: with a progress callback
//! or a cancel flag, a wait for completions lasts 100 ms at most before they are asked again
//! (a stalled socket or a full pipe cannot hold a stop back), and the final cancel-and-wait
//! gives up after 10 s, leaving the buffers mapped rather than freeing them under the kernel.
//! Every completion reaped is applied to the slot it belongs to, even past an error, so the
//! requests waited for are exactly those in flight. io_uring disabled
//! (`kernel.io_uring_disabled`) or blocked (seccomp) is Unsupported.
//!
//! Direct mode, at or above the `direct_threshold` option (Auto tries it first there, nginx's
//! `aio on; directio N;`): the source is read with `O_DIRECT` through a `/proc/self/fd` reopen,
//! aligned as the [`direct`](super::direct) technique does (its unaligned head and its tail go
//! through the page cache), and a regular-file destination whose offset is aligned is written
//! with `O_DIRECT` too.
//!
//! Copy model: buffered, 2 CPU copies per byte (page cache → buffer, buffer → destination);
//! direct, 0 when both ends are direct and 1 when the destination is written through the kernel;
//! plus one DMA copy at each end backed by a device. Syscalls: about one `io_uring_enter` per
//! completion round, plus the ring's setup (`io_uring_setup`, 2–3 `mmap`) and teardown.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, types};

use super::{classify, direct, dma_ends, Family, Job, Technique, IDLE_TICK_MS};
use crate::endpoint::Kind;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys::fs::Fd;
use crate::sys::mm::AnonBuffer;
use crate::sys::uring::Ring;

/// Requests in flight at most, unless the `queue_depth` option says otherwise. Measured here
/// (256 MiB file → file, 512 KiB requests, medians of 5 interleaved rounds): depths 1 to 4 tie
/// (2.3 GB/s cold, 2.8 GB/s hot), 8 is 0.88×/0.97× of that, 32 is 0.75×/0.82×: deeper queues
/// only add buffers for page-cache copies on 2 cores. 4 keeps a disk busy for direct reads.
pub(crate) const QUEUE_DEPTH: usize = 4;
/// Bytes per request.
pub(crate) const DEFAULT_CHUNK: u64 = 512 * 1024;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::IoUring,
    family: Some(Family::IoUring),
    supports,
    run,
    model: |job| CopyModel {
        cpu: if job.direct {
            u64::from(!direct::dst_direct_capable(job.dst))
        } else {
            2
        },
        dma: dma_ends(job),
    },
};

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    if !matches!(job.src.kind, Kind::File | Kind::BlockDevice) {
        return Err(format!(
            "reads regular files and block devices; {} is {}",
            job.src.name, job.src.kind
        ));
    }
    super::true_size(job)?;
    if job.dst.flags & libc::O_NONBLOCK != 0
        && !matches!(job.dst.kind, Kind::File | Kind::BlockDevice)
    {
        // io_uring waits for a stream's readiness itself: it would block where the caller
        // asked not to.
        return Err(format!(
            "{} is non-blocking, and io_uring would wait for it",
            job.dst.name
        ));
    }
    Ok(())
}

/// What a ring slot is doing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Idle,
    /// Reading `len` bytes at source offset `off`; `filled` already read.
    Reading {
        off: u64,
        len: usize,
        filled: usize,
    },
    /// Holding `len` bytes read from `off`, waiting for its turn to be written.
    Ready {
        off: u64,
        len: usize,
    },
    /// Writing; `done` bytes of `len` already written.
    Writing {
        off: u64,
        len: usize,
        done: usize,
    },
}

const READ: u64 = 1 << 32;
const WRITE: u64 = 2 << 32;
const CANCEL: u64 = 3 << 32;

/// How long the final cancel-and-wait may take before the transfer gives up on requests the
/// kernel still holds: it then leaks their buffers (and the ring) rather than free memory the
/// kernel may still write, and returns. Requests on files and streams end well within it once
/// cancelled; only a device that never answers reaches it.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Where requests read and write.
struct Io {
    /// The ring of `queue_depth` buffers of `chunk` bytes.
    base: *mut u8,
    chunk: usize,
    src: RawFd,
    dst: RawFd,
    /// An O_DIRECT reopen of a regular-file destination (direct mode, aligned offset).
    dst_direct: Option<RawFd>,
    /// O_DIRECT alignment in direct mode, 1 when buffered.
    align: u64,
    /// Where the destination range starts (files), or `None` to write at its position.
    dst_base: Option<u64>,
    src_start: u64,
}

/// The slots and the requests the kernel holds for them. Each slot has at most one read or
/// write in flight (`pending`); cancels are counted apart. The count of requests in flight is
/// derived from these, never kept on the side, and every completion reaped is applied to them,
/// so a wait for "everything in flight" always has something to wait for.
struct Flight {
    slots: Vec<Slot>,
    pending: Vec<bool>,
    cancels: usize,
    /// The next source offset to read.
    next_read: u64,
    /// End of the source, once a read found it.
    eof: Option<u64>,
    /// Source offset where the job ends (`len`), if any.
    limit: Option<u64>,
    /// Where the writes had reached when `eof` was seen. Below `eof`, the end was seen by a
    /// read ahead: a source that grew meanwhile goes on past it, so it is read again there.
    eof_seen_at: u64,
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let depth = job.queue_depth.map_or(QUEUE_DEPTH, |q| q as usize);
    let mut ring = Ring::new((depth * 2) as u32).map_err(|e| setup_error(e, job))?;
    // Direct mode: O_DIRECT reopens, and the unaligned head through the page cache first.
    let mut reopened: Vec<Fd> = Vec::new();
    let mut align = 1;
    if job.direct {
        let src = direct::reopen(job.src, libc::O_RDONLY)?;
        align = direct::alignment(src.as_fd(), job.src)?;
        reopened.push(src);
        let start = job.src_offset()?;
        let head = (align - start % align) % align;
        if head > 0 && direct::buffered(job, head)? < head {
            return Ok(()); // end of file within the head
        }
    }
    let src_start = job.src_offset()?;
    // Files are written at explicit offsets; streams (and O_APPEND files) at their position.
    let dst_base = if matches!(job.dst.kind, Kind::File | Kind::BlockDevice) && !job.dst.append() {
        Some(job.dst_offset()?)
    } else {
        None
    };
    let dst_direct = direct_dst(job, align, dst_base, &mut reopened)?;
    let chunk = (job.chunk.unwrap_or(DEFAULT_CHUNK).max(4096)).div_ceil(align) * align;
    let chunk = usize::try_from(chunk).map_err(|_| Error::invalid("chunk_size too large"))?;
    let total = chunk
        .checked_mul(depth)
        .ok_or_else(|| Error::invalid("chunk_size times queue_depth is too large"))?;
    let mut bufs = AnonBuffer::new(total).map_err(|e| Error::os(e, "mmap of io_uring buffers"))?;
    let io = Io {
        base: bufs.as_mut_slice().as_mut_ptr(),
        chunk,
        src: if job.direct {
            reopened[0].as_fd().as_raw_fd()
        } else {
            job.src.fd.as_raw_fd()
        },
        dst: job.dst.fd.as_raw_fd(),
        dst_direct,
        align,
        dst_base,
        src_start,
    };
    let mut flight = Flight {
        slots: vec![Slot::Idle; depth],
        pending: vec![false; depth],
        cancels: 0,
        next_read: src_start,
        eof: None,
        limit: job.remaining.map(|r| src_start.saturating_add(r)),
        eof_seen_at: 0,
    };
    let result = flight.pump(&mut ring, &io, job);
    // Never free a buffer the kernel may still use: cancel what is pending and wait for it.
    if !flight.drain(&mut ring, job) {
        std::mem::forget(bufs);
        std::mem::forget(ring);
        return Err(left_pending(result, flight.in_flight(), job));
    }
    drop(bufs);
    drop(ring);
    result?;
    if job.direct && flight.limit.is_none_or(|l| job.src_off.unwrap_or(0) < l) {
        // Past a short O_DIRECT read: whatever follows (a file that grew) goes buffered.
        direct::buffered(job, u64::MAX)?;
    }
    drop(reopened);
    Ok(())
}

/// Waits for one completion, a tick at most when one is given. A tick without a completion (a
/// stalled socket, a full pipe) or a signal asks the caller's stop hook (Python's signal check
/// among them).
fn wait(ring: &mut Ring, job: &Job<'_, '_>, tick: Option<Duration>) -> Result<()> {
    let what = || format!("io_uring wait on {} → {}", job.src.name, job.dst.name);
    let came = ring
        .wait(1, tick)
        .map_err(|e| Error::os(e, format_args!("{}", what())))?;
    if !came {
        crate::sys::stop::check().map_err(|e| Error::os(e, format_args!("{}", what())))?;
    }
    Ok(())
}

/// Direct mode's O_DIRECT reopen of a regular-file destination whose offset is aligned (kept
/// in `reopened`), or `None` to write through the caller's fd.
fn direct_dst(
    job: &Job<'_, '_>,
    align: u64,
    dst_base: Option<u64>,
    reopened: &mut Vec<Fd>,
) -> Result<Option<RawFd>> {
    if !job.direct
        || !direct::dst_direct_capable(job.dst)
        || dst_base.is_none_or(|d| !d.is_multiple_of(align))
    {
        return Ok(None);
    }
    let fd = direct::reopen(job.dst, libc::O_WRONLY)?;
    if !align.is_multiple_of(direct::alignment(fd.as_fd(), job.dst)?) {
        return Ok(None);
    }
    let raw = fd.as_fd().as_raw_fd();
    reopened.push(fd);
    Ok(Some(raw))
}

/// The error of a transfer whose requests were still pending after [`DRAIN_LIMIT`] (their
/// buffers and ring were leaked): the transfer's own error, if any, with that said.
fn left_pending(result: Result<()>, held: usize, job: &Job<'_, '_>) -> Error {
    let why = format!(
        "{held} io_uring requests on {} → {} were still pending {} s after their cancel: \
         their buffers are left mapped rather than freed",
        job.src.name,
        job.dst.name,
        DRAIN_LIMIT.as_secs()
    );
    match result {
        Err(e) => Error::new(e.kind(), e.errno(), format!("{}; {why}", e.message())),
        Ok(()) => Error::new(ErrorKind::Io, Some(libc::ETIME), why),
    }
}

/// The error of a ring that could not be made: Unsupported where io_uring is refused.
fn setup_error(e: std::io::Error, job: &Job<'_, '_>) -> Error {
    let what = format_args!("io_uring_setup for {} → {}", job.src.name, job.dst.name);
    let refusals = [libc::EPERM, libc::ENOSYS, libc::EOPNOTSUPP];
    match classify(e, Some(Family::IoUring), &refusals, what) {
        err if err.kind() == ErrorKind::Unsupported => Error::new(
            ErrorKind::Unsupported,
            err.errno(),
            format!(
                "{} (kernel.io_uring_disabled, or a seccomp filter)",
                err.message()
            ),
        ),
        err => err,
    }
}

impl Flight {
    /// Requests the kernel holds: reads and writes of slots, and cancels.
    fn in_flight(&self) -> usize {
        self.pending.iter().filter(|&&p| p).count() + self.cancels
    }

    /// Moves the job's bytes: reads ahead into idle slots, writes in order, until the end of
    /// the source or `len`, an error, or a stop. Returns with requests possibly in flight;
    /// [`Flight::drain`] must follow.
    fn pump(&mut self, ring: &mut Ring, io: &Io, job: &mut Job<'_, '_>) -> Result<()> {
        // When the caller can stop the transfer, a wait lasts a tick at most, so the stop is
        // seen even while the destination (a stalled socket, a full pipe) takes nothing.
        let tick =
            (job.can_stop() && job.ticks).then(|| Duration::from_millis(IDLE_TICK_MS as u64));
        loop {
            job.checkpoint()?;
            // Submit: reads ahead into idle slots, the write whose turn it is.
            self.fill_reads(ring, io)?;
            let turn = job.src_off.unwrap_or(io.src_start);
            self.start_write(ring, io, turn)?;
            if self.in_flight() == 0 {
                return Ok(());
            }
            wait(ring, job, tick)?;
            // Reap: apply the completions, resubmitting the rest of short reads and writes.
            self.reap(ring, io, job)?;
            if self.finished(io, job) {
                return Ok(());
            }
        }
    }

    /// Whether everything up to end of file (or `len`) is written and nothing is in flight
    /// (reads past the end may still be: they are let finish). Buffered, an end seen ahead of
    /// the writes is looked for again from where they reached, as a read(2) loop would (a read
    /// there that gives 0 ends it); direct mode reads what follows through the page cache
    /// after the ring.
    fn finished(&mut self, io: &Io, job: &Job<'_, '_>) -> bool {
        let turn = job.src_off.unwrap_or(io.src_start);
        let reached = self.eof.is_some_and(|e| turn >= e) || self.limit.is_some_and(|l| turn >= l);
        if !reached || self.in_flight() != 0 {
            return false;
        }
        let ahead = self.eof.is_some_and(|e| self.eof_seen_at < e);
        if !ahead || io.align > 1 || self.limit.is_some_and(|l| turn >= l) {
            return true;
        }
        self.eof = None;
        self.next_read = turn;
        false
    }

    /// Applies every completion available, even past an error (each one ends a request), and
    /// returns the first error.
    fn reap(&mut self, ring: &mut Ring, io: &Io, job: &mut Job<'_, '_>) -> Result<()> {
        let mut failed = None;
        for cqe in ring.completions() {
            let (tag, res) = (cqe.user_data(), cqe.result());
            if failed.is_some() {
                self.settle(tag, res, job);
            } else if let Err(e) = self.complete(ring, io, job, tag, res) {
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Fills idle slots with reads, in offset order.
    fn fill_reads(&mut self, ring: &mut Ring, io: &Io) -> Result<()> {
        for i in 0..self.slots.len() {
            if self.slots[i] != Slot::Idle || self.eof.is_some() {
                continue;
            }
            let end = self.limit.unwrap_or(u64::MAX);
            if self.next_read >= end {
                break;
            }
            let len = (end - self.next_read).min(io.chunk as u64) as usize;
            self.slots[i] = Slot::Reading {
                off: self.next_read,
                len,
                filled: 0,
            };
            self.next_read += len as u64;
            self.submit_read(ring, io, i)?;
        }
        Ok(())
    }

    /// Starts the write of the chunk whose turn it is (one at a time, in order).
    fn start_write(&mut self, ring: &mut Ring, io: &Io, turn: u64) -> Result<()> {
        if self.slots.iter().any(|s| matches!(s, Slot::Writing { .. })) {
            return Ok(());
        }
        let ready = self
            .slots
            .iter()
            .position(|s| matches!(s, Slot::Ready { off, .. } if *off == turn));
        if let Some(i) = ready {
            if let Slot::Ready { off, len } = self.slots[i] {
                self.slots[i] = Slot::Writing { off, len, done: 0 };
                self.submit_write(ring, io, i)?;
            }
        }
        Ok(())
    }

    /// Applies one completion: ends its request, and moves its slot on (resubmitting the rest
    /// of a short read or write).
    fn complete(
        &mut self,
        ring: &mut Ring,
        io: &Io,
        job: &mut Job<'_, '_>,
        tag: u64,
        res: i32,
    ) -> Result<()> {
        let Some(i) = self.end_request(tag) else {
            return Ok(()); // a cancel's own completion
        };
        match (tag & !0xffff_ffff, self.slots[i]) {
            (READ, Slot::Reading { off, len, filled }) => {
                if res == -libc::EAGAIN || res == -libc::EINTR {
                    self.submit_read(ring, io, i)?;
                } else if res < 0 {
                    let e = std::io::Error::from_raw_os_error(-res);
                    return Err(Error::os(
                        e,
                        format_args!("io_uring read from {}", job.src.name),
                    ));
                } else if res == 0 {
                    self.found_eof(off + filled as u64, job.src_off.unwrap_or(io.src_start));
                    self.slots[i] = if filled > 0 {
                        Slot::Ready { off, len: filled }
                    } else {
                        Slot::Idle
                    };
                } else {
                    let asked = read_len(io, len, filled);
                    let filled = (filled + res as usize).min(len);
                    if filled < len && io.align > 1 && (res as usize) < asked {
                        // A short O_DIRECT read is the end of the file; the rest of the
                        // offset is no longer aligned (the tail goes buffered after the ring).
                        self.found_eof(off + filled as u64, job.src_off.unwrap_or(io.src_start));
                        self.slots[i] = Slot::Ready { off, len: filled };
                    } else if filled < len {
                        // A short read: ask for the rest (0 then means end of file).
                        self.slots[i] = Slot::Reading { off, len, filled };
                        self.submit_read(ring, io, i)?;
                    } else {
                        self.slots[i] = Slot::Ready { off, len };
                    }
                }
            }
            (WRITE, Slot::Writing { off, len, done }) => {
                if res == -libc::EAGAIN || res == -libc::EINTR {
                    self.submit_write(ring, io, i)?;
                } else if res <= 0 {
                    let errno = if res == 0 { libc::EIO } else { -res };
                    let e = std::io::Error::from_raw_os_error(errno);
                    return Err(Error::os(
                        e,
                        format_args!("io_uring write to {}", job.dst.name),
                    ));
                } else {
                    job.advance(res as usize);
                    let done = done + res as usize;
                    if done < len {
                        self.slots[i] = Slot::Writing { off, len, done };
                        self.submit_write(ring, io, i)?;
                    } else {
                        self.slots[i] = Slot::Idle;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies a completion once the transfer has failed or stopped: ends its request without
    /// starting another. A write the stop came too late for reached the destination, so its
    /// bytes count (a pipe or socket write cannot be taken back).
    fn settle(&mut self, tag: u64, res: i32, job: &mut Job<'_, '_>) {
        if let Some(i) = self.end_request(tag) {
            if tag & !0xffff_ffff == WRITE && res > 0 {
                job.advance(res as usize);
            }
            self.slots[i] = Slot::Idle;
        }
    }

    /// Marks the request of a completion's tag ended; the slot it was for, or `None` for a
    /// cancel.
    fn end_request(&mut self, tag: u64) -> Option<usize> {
        if tag & !0xffff_ffff == CANCEL {
            self.cancels = self.cancels.saturating_sub(1);
            return None;
        }
        let i = (tag & 0xffff_ffff) as usize;
        self.pending[i] = false;
        Some(i)
    }

    /// A read found the end of the source at `at`, the writes having reached `turn`.
    fn found_eof(&mut self, at: u64, turn: u64) {
        if self.eof.is_none_or(|e| at < e) {
            self.eof = Some(at);
            self.eof_seen_at = turn;
        }
    }

    /// Cancels every request in flight and waits for all of them to end, applying their
    /// completions. Returns `false` when some were still pending after [`DRAIN_LIMIT`].
    fn drain(&mut self, ring: &mut Ring, job: &mut Job<'_, '_>) -> bool {
        if self.in_flight() == 0 {
            return true;
        }
        for i in 0..self.slots.len() {
            if !self.pending[i] {
                continue;
            }
            let tag = match self.slots[i] {
                Slot::Writing { .. } => WRITE | i as u64,
                _ => READ | i as u64,
            };
            let cancel = opcode::AsyncCancel::new(tag)
                .build()
                .user_data(CANCEL | i as u64);
            // SAFETY: a cancel names no buffer.
            if unsafe { ring.push(&cancel) }.is_ok() {
                self.cancels += 1;
            }
        }
        let deadline = std::time::Instant::now() + DRAIN_LIMIT;
        let tick = Duration::from_millis(IDLE_TICK_MS as u64);
        while self.in_flight() > 0 {
            if std::time::Instant::now() >= deadline || ring.wait(1, Some(tick)).is_err() {
                return false;
            }
            for cqe in ring.completions() {
                self.settle(cqe.user_data(), cqe.result(), job);
            }
        }
        true
    }

    /// Queues the read of slot `i` (the part not yet filled).
    fn submit_read(&mut self, ring: &mut Ring, io: &Io, i: usize) -> Result<()> {
        let Slot::Reading { off, len, filled } = self.slots[i] else {
            return Ok(());
        };
        // SAFETY: the slot's range lies inside the buffer mapping, which outlives every request
        // (`run` frees it only once `drain` saw every request end, and leaks it otherwise);
        // slot i has no other request in flight (`pending[i]` is false here).
        let ptr = unsafe { io.base.add(i * io.chunk + filled) };
        let e = opcode::Read::new(types::Fd(io.src), ptr, read_len(io, len, filled) as u32)
            .offset(off + filled as u64)
            .build()
            .user_data(READ | i as u64);
        self.push(ring, i, &e)
    }

    /// Queues the write of slot `i` (the part not yet written).
    fn submit_write(&mut self, ring: &mut Ring, io: &Io, i: usize) -> Result<()> {
        let Slot::Writing { off, len, done } = self.slots[i] else {
            return Ok(());
        };
        // SAFETY: as in `submit_read`.
        let ptr = unsafe { io.base.add(i * io.chunk + done) };
        // -1 (as u64): the fd's position, for streams and O_APPEND files.
        let at = io
            .dst_base
            .map_or(u64::MAX, |b| b + (off - io.src_start) + done as u64);
        // Whole aligned blocks go to the O_DIRECT reopen; a partial tail through the caller's fd.
        let fd = match io.dst_direct {
            Some(d)
                if ((len - done) as u64).is_multiple_of(io.align)
                    && at.is_multiple_of(io.align) =>
            {
                d
            }
            _ => io.dst,
        };
        let e = opcode::Write::new(types::Fd(fd), ptr, (len - done) as u32)
            .offset(at)
            .build()
            .user_data(WRITE | i as u64);
        self.push(ring, i, &e)
    }

    fn push(&mut self, ring: &mut Ring, i: usize, e: &io_uring::squeue::Entry) -> Result<()> {
        // SAFETY: the entry's buffer stays mapped until its completion is reaped (see `run`),
        // and its fds stay open as long (the caller's for the call, the reopens until `run`
        // returns).
        unsafe { ring.push(e) }.map_err(|e| Error::os(e, "io_uring submission queue full"))?;
        self.pending[i] = true;
        Ok(())
    }
}

/// How many bytes a read of slot length `len`, `filled` so far, asks for: the rest, rounded up
/// to the O_DIRECT alignment (the chunk is a multiple of it, so this stays inside the slot).
fn read_len(io: &Io, len: usize, filled: usize) -> usize {
    let rest = (len - filled) as u64;
    (rest.div_ceil(io.align) * io.align).min((io.chunk - filled) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;

    /// A failure followed, in the same batch, by another request's completion: both requests
    /// end. (Found by the fuzzer: the completions after a failure were reaped but not applied,
    /// so the final wait waited for requests that had already ended, for ever.)
    #[test]
    fn a_failure_mid_batch_still_ends_every_request_of_the_batch() {
        let src = tempfile::tempfile().expect("src");
        let dst = tempfile::tempfile().expect("dst");
        let (s, d) = (
            Endpoint::classify(src.as_fd(), "src").expect("classify"),
            Endpoint::classify(dst.as_fd(), "dst").expect("classify"),
        );
        let opts = crate::Options::default();
        let mut job = Job::new(&s, &d, &opts);
        let mut ring = Ring::new(8).expect("io_uring");
        let mut bufs = AnonBuffer::new(2 * 4096).expect("buffers");
        let io = Io {
            base: bufs.as_mut_slice().as_mut_ptr(),
            chunk: 4096,
            src: src.as_raw_fd(),
            dst: dst.as_raw_fd(),
            dst_direct: None,
            align: 1,
            dst_base: Some(0),
            src_start: 0,
        };
        let mut flight = Flight {
            slots: vec![
                Slot::Writing {
                    off: 0,
                    len: 4096,
                    done: 0,
                },
                Slot::Reading {
                    off: 4096,
                    len: 4096,
                    filled: 0,
                },
            ],
            pending: vec![false; 2],
            cancels: 0,
            next_read: 8192,
            eof: None,
            limit: None,
            eof_seen_at: 0,
        };
        // Two no-ops standing in for the write (its result 0 is a failed write) and the read
        // (0: end of file), completed in one batch, the failure first.
        for (i, tag) in [(0, WRITE), (1, READ)] {
            let nop = opcode::Nop::new().build().user_data(tag | i as u64);
            flight.push(&mut ring, i, &nop).expect("push");
        }
        assert_eq!(flight.in_flight(), 2);
        assert!(ring.wait(2, None).expect("wait"));
        let e = flight
            .reap(&mut ring, &io, &mut job)
            .expect_err("the write failed");
        assert_eq!(e.errno(), Some(libc::EIO), "{e}");
        assert_eq!(flight.in_flight(), 0, "every request of the batch ended");
        assert!(
            flight.drain(&mut ring, &mut job),
            "nothing left to wait for"
        );
    }
}
