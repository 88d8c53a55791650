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
//! their completions awaited before returning. io_uring disabled (`kernel.io_uring_disabled`) or
//! blocked (seccomp) is Unsupported.
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

use io_uring::{opcode, types};

use super::{classify, direct, dma_ends, Family, Job, Technique};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::plan::Kind;
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

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let depth = job.queue_depth.map_or(QUEUE_DEPTH, |q| q as usize);
    let mut ring = Ring::new((depth * 2) as u32).map_err(|e| {
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
    })?;
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
    let mut dst_direct = None;
    if job.direct && direct::dst_direct_capable(job.dst) && dst_base.is_some_and(|d| d % align == 0)
    {
        let fd = direct::reopen(job.dst, libc::O_WRONLY)?;
        if align % direct::alignment(fd.as_fd(), job.dst)? == 0 {
            dst_direct = Some(fd.as_fd().as_raw_fd());
            reopened.push(fd);
        }
    }
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
    let mut slots = vec![Slot::Idle; depth];
    let limit = job.remaining.map(|r| src_start.saturating_add(r));
    let mut next_read = src_start;
    let mut eof: Option<u64> = None;
    let mut in_flight = 0usize;

    let result = (|| -> Result<()> {
        loop {
            job.checkpoint()?;
            // Fill idle slots with reads, in offset order.
            for (i, slot) in slots.iter_mut().enumerate() {
                if *slot != Slot::Idle || eof.is_some() {
                    continue;
                }
                let end = limit.unwrap_or(u64::MAX);
                if next_read >= end {
                    break;
                }
                let len = (end - next_read).min(chunk as u64) as usize;
                *slot = Slot::Reading {
                    off: next_read,
                    len,
                    filled: 0,
                };
                next_read += len as u64;
                // SAFETY: slot i's buffer is not in use by any other request.
                unsafe { submit_read(&mut ring, &io, i, slot)? };
                in_flight += 1;
            }
            // Start the write of the chunk whose turn it is (one at a time, in order).
            let turn = job.src_off.unwrap_or(src_start);
            let writing = slots.iter().any(|s| matches!(s, Slot::Writing { .. }));
            if !writing {
                let ready = slots
                    .iter()
                    .position(|s| matches!(s, Slot::Ready { off, .. } if *off == turn));
                if let Some(i) = ready {
                    if let Slot::Ready { off, len } = slots[i] {
                        slots[i] = Slot::Writing { off, len, done: 0 };
                        // SAFETY: slot i holds the bytes read; nothing else uses its buffer.
                        unsafe { submit_write(&mut ring, &io, i, &slots[i])? };
                        in_flight += 1;
                    }
                }
            }
            if in_flight == 0 {
                return Ok(());
            }
            ring.submit_and_wait(1)
                .map_err(|e| Error::os(e, "io_uring_enter"))?;
            for cqe in ring.completions() {
                in_flight -= 1;
                let tag = cqe.user_data();
                let i = (tag & 0xffff_ffff) as usize;
                let res = cqe.result();
                match (tag & !0xffff_ffff, slots[i]) {
                    (READ, Slot::Reading { off, len, filled }) => {
                        if res == -libc::EAGAIN || res == -libc::EINTR {
                            // SAFETY: as above.
                            unsafe { submit_read(&mut ring, &io, i, &slots[i])? };
                            in_flight += 1;
                        } else if res < 0 {
                            let e = std::io::Error::from_raw_os_error(-res);
                            return Err(Error::os(
                                e,
                                format_args!("io_uring read from {}", job.src.name),
                            ));
                        } else if res == 0 {
                            let at = off + filled as u64;
                            eof = Some(eof.map_or(at, |e| e.min(at)));
                            slots[i] = if filled > 0 {
                                Slot::Ready { off, len: filled }
                            } else {
                                Slot::Idle
                            };
                        } else {
                            let asked = read_len(&io, len, filled);
                            let filled = (filled + res as usize).min(len);
                            if filled < len && io.align > 1 && (res as usize) < asked {
                                // A short O_DIRECT read is the end of the file; the rest of the
                                // offset is no longer aligned (the tail goes buffered below).
                                let at = off + filled as u64;
                                eof = Some(eof.map_or(at, |e| e.min(at)));
                                slots[i] = Slot::Ready { off, len: filled };
                            } else if filled < len {
                                // A short read: ask for the rest (0 then means end of file).
                                slots[i] = Slot::Reading { off, len, filled };
                                // SAFETY: as above.
                                unsafe { submit_read(&mut ring, &io, i, &slots[i])? };
                                in_flight += 1;
                            } else {
                                slots[i] = Slot::Ready { off, len };
                            }
                        }
                    }
                    (WRITE, Slot::Writing { off, len, done }) => {
                        if res == -libc::EAGAIN || res == -libc::EINTR {
                            // SAFETY: as above.
                            unsafe { submit_write(&mut ring, &io, i, &slots[i])? };
                            in_flight += 1;
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
                                slots[i] = Slot::Writing { off, len, done };
                                // SAFETY: as above.
                                unsafe { submit_write(&mut ring, &io, i, &slots[i])? };
                                in_flight += 1;
                            } else {
                                slots[i] = Slot::Idle;
                            }
                        }
                    }
                    _ => {} // a cancel's own completion, or a request it cancelled
                }
            }
            // Done when everything up to end of file (or len) is written and nothing is in
            // flight (reads past the end may still be: let them finish).
            let turn = job.src_off.unwrap_or(src_start);
            let reached = eof.is_some_and(|e| turn >= e) || limit.is_some_and(|l| turn >= l);
            if reached && in_flight == 0 {
                return Ok(());
            }
        }
    })();
    // Never free a buffer the kernel may still use: cancel what is pending and wait for it.
    if in_flight > 0 {
        for (i, s) in slots.iter().enumerate() {
            let tag = match s {
                Slot::Reading { .. } => READ | i as u64,
                Slot::Writing { .. } => WRITE | i as u64,
                _ => continue,
            };
            let cancel = opcode::AsyncCancel::new(tag)
                .build()
                .user_data(CANCEL | i as u64);
            // SAFETY: a cancel names no buffer.
            if unsafe { ring.push(&cancel) }.is_ok() {
                in_flight += 1;
            }
        }
        while in_flight > 0 {
            if ring.submit_and_wait(1).is_err() {
                break;
            }
            for cqe in ring.completions() {
                in_flight = in_flight.saturating_sub(1);
                // A write the cancel came too late for: its bytes reached the destination, so
                // they count (a pipe or socket write cannot be taken back).
                if cqe.user_data() & !0xffff_ffff == WRITE && cqe.result() > 0 {
                    job.advance(cqe.result() as usize);
                }
            }
        }
    }
    drop(bufs);
    drop(ring);
    result?;
    if job.direct && limit.is_none_or(|l| job.src_off.unwrap_or(0) < l) {
        // Past a short O_DIRECT read: whatever follows (a file that grew) goes buffered.
        direct::buffered(job, u64::MAX)?;
    }
    drop(reopened);
    Ok(())
}

/// How many bytes a read of slot length `len`, `filled` so far, asks for: the rest, rounded up
/// to the O_DIRECT alignment (the chunk is a multiple of it, so this stays inside the slot).
fn read_len(io: &Io, len: usize, filled: usize) -> usize {
    let rest = (len - filled) as u64;
    (rest.div_ceil(io.align) * io.align).min((io.chunk - filled) as u64) as usize
}

/// Queues the read of slot `i` (the part not yet filled).
///
/// # Safety
/// Slot `i`'s buffer must not be in use by another request.
unsafe fn submit_read(ring: &mut Ring, io: &Io, i: usize, slot: &Slot) -> Result<()> {
    let Slot::Reading { off, len, filled } = *slot else {
        return Ok(());
    };
    // SAFETY: the slot's range lies inside the buffer mapping, which outlives every request.
    let ptr = unsafe { io.base.add(i * io.chunk + filled) };
    let e = opcode::Read::new(types::Fd(io.src), ptr, read_len(io, len, filled) as u32)
        .offset(off + filled as u64)
        .build()
        .user_data(READ | i as u64);
    // SAFETY: the buffer stays mapped until this request's completion is reaped (see `run`).
    unsafe { ring.push(&e) }.map_err(|e| Error::os(e, "io_uring submission queue full"))
}

/// Queues the write of slot `i` (the part not yet written).
///
/// # Safety
/// As [`submit_read`].
unsafe fn submit_write(ring: &mut Ring, io: &Io, i: usize, slot: &Slot) -> Result<()> {
    let Slot::Writing { off, len, done } = *slot else {
        return Ok(());
    };
    // SAFETY: the slot's range lies inside the buffer mapping, which outlives every request.
    let ptr = unsafe { io.base.add(i * io.chunk + done) };
    // -1 (as u64): the fd's position, for streams and O_APPEND files.
    let at = io
        .dst_base
        .map_or(u64::MAX, |b| b + (off - io.src_start) + done as u64);
    // Whole aligned blocks go to the O_DIRECT reopen; a partial tail through the caller's fd.
    let fd = match io.dst_direct {
        Some(d)
            if ((len - done) as u64).is_multiple_of(io.align) && at.is_multiple_of(io.align) =>
        {
            d
        }
        _ => io.dst,
    };
    let e = opcode::Write::new(types::Fd(fd), ptr, (len - done) as u32)
        .offset(at)
        .build()
        .user_data(WRITE | i as u64);
    // SAFETY: as above.
    unsafe { ring.push(&e) }.map_err(|e| Error::os(e, "io_uring submission queue full"))
}
