//! `msg_zerocopy`: `send(MSG_ZEROCOPY)` to an IP socket from user buffers the kernel pins
//! instead of copying; each buffer is held until its completion arrives on the socket's error
//! queue.
//!
//! The source is read into a ring of page-aligned buffers (`read`/`pread`: one CPU copy from the
//! page cache), each sent with `MSG_ZEROCOPY`. `SO_ZEROCOPY` is switched on for the transfer
//! and back off afterwards if it was off. Completions the kernel flags as copied (it copies
//! anyway on loopback and when the NIC cannot gather) are counted in the Report
//! (`zerocopy_copied`) and their bytes added to its CPU copies. `ENOBUFS` (the socket's
//! pinned-memory budget is spent) sends that chunk with an ordinary copying `send`.
//! Unix sockets and pipes cannot do it: Unsupported.
//!
//! Copy model: 1 CPU copy per byte (source → user buffer) plus one per byte the kernel copied;
//! one DMA copy at each end backed by a device. Syscalls: 2 per chunk, plus the completions'
//! `recvmsg` and `poll` calls.

use std::collections::VecDeque;
use std::os::fd::AsFd;

use super::{dma_ends, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;
use crate::sys::mm::AnonBuffer;
use crate::sys::net::Completion;

/// Bytes per send (one ring slot).
pub(crate) const DEFAULT_CHUNK: u64 = 256 * 1024;
/// Buffers in flight at most.
const SLOTS: usize = 8;
/// How long to wait for the last completions before returning (a peer that stopped reading).
const DRAIN_MS: i32 = 2000;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::MsgZerocopy,
    family: None,
    supports,
    run,
    model: |job| CopyModel {
        cpu: 1,
        dma: dma_ends(job),
    },
};

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    if job.dst.kind != Kind::Socket {
        return Err(format!(
            "sends to sockets only; {} is {}",
            job.dst.name, job.dst.kind
        ));
    }
    Ok(())
}

fn unsupported(job: &Job<'_, '_>, why: &str, errno: i32) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        Some(errno),
        format!("msg_zerocopy: {} {why}", job.dst.name),
    )
}

/// One send in flight: the ring slot it reads from and its length.
struct InFlight {
    slot: usize,
    len: u64,
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let dst = job.dst.fd;
    match sys::net::socket_domain(dst) {
        Ok(libc::AF_INET | libc::AF_INET6) => {}
        Ok(_) => {
            return Err(unsupported(
                job,
                "is not an IP socket (MSG_ZEROCOPY needs TCP or UDP)",
                libc::EOPNOTSUPP,
            ))
        }
        Err(e) => {
            return Err(Error::os(
                e,
                format_args!("getsockopt(SO_DOMAIN) on {}", job.dst.name),
            ))
        }
    }
    let was_on = sys::net::get_int(dst, libc::SOL_SOCKET, libc::SO_ZEROCOPY).map_err(|e| {
        unsupported(
            job,
            &format!("has no SO_ZEROCOPY ({e})"),
            e.raw_os_error().unwrap_or(libc::EOPNOTSUPP),
        )
    })?;
    if was_on == 0 {
        sys::net::set_int(dst, libc::SOL_SOCKET, libc::SO_ZEROCOPY, 1).map_err(|e| {
            unsupported(
                job,
                &format!("refuses SO_ZEROCOPY ({e})"),
                e.raw_os_error().unwrap_or(libc::EOPNOTSUPP),
            )
        })?;
    }
    let result = pump(job);
    if was_on == 0 {
        let _ = sys::net::set_int(dst, libc::SOL_SOCKET, libc::SO_ZEROCOPY, 0);
    }
    result
}

/// The sends in flight, in send order, and how many read from each ring slot.
struct Sends {
    /// Sends in flight per slot.
    busy: [u32; SLOTS],
    fifo: VecDeque<InFlight>,
    /// The completions last taken (kept to reuse its allocation).
    done: Vec<Completion>,
}

impl Sends {
    fn new() -> Sends {
        Sends {
            busy: [0; SLOTS],
            fifo: VecDeque::new(),
            done: Vec::new(),
        }
    }

    /// [`reap`] into these.
    fn reap(&mut self, job: &mut Job<'_, '_>, wait: bool) -> Result<()> {
        reap(job, &mut self.fifo, &mut self.busy, &mut self.done, wait)
    }

    /// Files one send of `len` bytes from `slot`.
    fn sent(&mut self, slot: usize, len: usize) {
        self.busy[slot] += 1;
        self.fifo.push_back(InFlight {
            slot,
            len: len as u64,
        });
    }
}

fn pump(job: &mut Job<'_, '_>) -> Result<()> {
    let chunk = job.chunk.unwrap_or(DEFAULT_CHUNK).max(4096);
    let slot_len = usize::try_from(chunk).map_err(|_| Error::invalid("chunk_size too large"))?;
    let mut ring = AnonBuffer::new(slot_len * SLOTS)
        .map_err(|e| Error::os(e, "mmap of the MSG_ZEROCOPY buffers"))?;
    let base = ring.as_mut_slice().as_mut_ptr();
    let mut sends = Sends::new();
    let result = fill_and_send(job, base, slot_len, chunk, &mut sends);
    // Collect the last completions (bounded: a peer that stopped reading never acks). The ring
    // may be unmapped with sends in flight: the kernel holds its own references to the pages.
    // A stop skips it: the caller asked to be let go now.
    let stopped = matches!(&result, Err(e) if e.kind() == crate::ErrorKind::Cancelled);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(DRAIN_MS as u64);
    while !stopped && !sends.fifo.is_empty() && std::time::Instant::now() < deadline {
        if !sys::net::wait_errqueue(job.dst.fd, DRAIN_MS).unwrap_or(false) {
            break;
        }
        if sends.reap(job, false).is_err() {
            break;
        }
    }
    drop(ring);
    result
}

/// Reads the source chunk by chunk into the ring's slots, in ring order, and sends each slot
/// with `MSG_ZEROCOPY`, waiting for a slot's earlier sends to complete before reusing it.
/// `base` is the ring's start: `SLOTS` slots of `slot_len` bytes, mapped for the whole call.
fn fill_and_send(
    job: &mut Job<'_, '_>,
    base: *mut u8,
    slot_len: usize,
    chunk: u64,
    sends: &mut Sends,
) -> Result<()> {
    let mut next = 0usize;
    while let Some(n) = job.next_chunk(chunk)? {
        let n = n.min(slot_len);
        // The next slot in ring order; wait until the kernel is done with it.
        while sends.busy[next] > 0 {
            sends.reap(job, true)?;
        }
        // SAFETY: slot `next` lies inside the ring mapping and no send is in flight from it.
        let slot = unsafe { std::slice::from_raw_parts_mut(base.add(next * slot_len), slot_len) };
        let got = match job.src_off {
            Some(o) => sys::fs::pread(job.src.fd, &mut slot[..n], o),
            None => sys::fs::read(job.src.fd, &mut slot[..n]),
        }
        .map_err(|e| Error::os(e, format_args!("read from {}", job.src.name)))?;
        if got == 0 {
            return Ok(());
        }
        send_slot(job, sends, next, &slot[..got])?;
        sends.reap(job, false)?;
        next = (next + 1) % SLOTS;
    }
    Ok(())
}

/// Sends the bytes read into slot `slot_no` (`data`), as many sends as the socket takes; a
/// send refused for lack of pinned memory (`ENOBUFS`) goes as an ordinary copying send.
/// Bytes read but not delivered go back to a seekable source when it fails.
fn send_slot(job: &mut Job<'_, '_>, sends: &mut Sends, slot_no: usize, data: &[u8]) -> Result<()> {
    let got = data.len();
    let mut sent = 0;
    while sent < got {
        // SAFETY: the range is inside the slot, which stays mapped and unchanged until its
        // sends complete (busy count) or the ring is dropped after the transfer.
        let r = unsafe {
            sys::net::send_raw(
                job.dst.fd,
                data.as_ptr().add(sent),
                got - sent,
                libc::MSG_ZEROCOPY,
            )
        };
        match r {
            Ok(k) => {
                sends.sent(slot_no, k);
                job.zerocopy_sends += 1;
                job.advance(k);
                sent += k;
                if sent < got {
                    if let Err(stop) = job.interrupted_write() {
                        job.give_back_src(got - sent)?;
                        return Err(stop);
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // Out of pinned-memory budget: this piece goes by an ordinary send.
                let k = sys::net::send(job.dst.fd, &data[sent..], 0)
                    .map_err(|e| Error::os(e, format_args!("send to {}", job.dst.name)))?;
                job.extra_cpu_copies += k as u64;
                job.advance(k);
                sent += k;
            }
            Err(e) if job.dst_stalled(&e) => {
                if let Err(stop) = job.wait_dst_writable() {
                    // Bytes read but not delivered go back to a seekable source.
                    job.give_back_src(got - sent)?;
                    return Err(stop);
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                if job.give_back_src(got - sent)? {
                    return Err(Error::os(
                        e,
                        format_args!("send to {} (non-blocking)", job.dst.name),
                    ));
                }
                sys::stop::poll_ticks(job.dst.fd, libc::POLLOUT)
                    .map_err(|e| Error::os(e, format_args!("poll on {}", job.dst.name)))?;
            }
            Err(e) => {
                job.give_back_src(got - sent)?;
                return Err(Error::os(e, format_args!("send to {}", job.dst.name)));
            }
        }
    }
    Ok(())
}

/// Takes the completions queued (waiting for one first when `wait`), frees their slots in send
/// order, and counts the copied ones.
fn reap(
    job: &mut Job<'_, '_>,
    fifo: &mut VecDeque<InFlight>,
    busy: &mut [u32; SLOTS],
    done: &mut Vec<Completion>,
    wait: bool,
) -> Result<()> {
    if wait {
        // A peer that stopped reading never acks: with a stop hook, wait in ticks it can end.
        let timeout = if sys::stop::cuts_waits() {
            sys::stop::TICK_MS
        } else {
            -1
        };
        loop {
            let ready = sys::net::wait_errqueue(job.dst.fd.as_fd(), timeout)
                .map_err(|e| Error::os(e, format_args!("poll on {}", job.dst.name)))?;
            // Without a hook, poll returned for a completion or a hang-up: reap what is there.
            if ready || timeout < 0 {
                break;
            }
            sys::stop::check().map_err(|e| {
                Error::os(
                    e,
                    format_args!("waiting for completions on {}", job.dst.name),
                )
            })?;
        }
    }
    done.clear();
    sys::net::zerocopy_completions(job.dst.fd, done).map_err(|e| {
        Error::os(
            e,
            format_args!("MSG_ZEROCOPY completion on {}", job.dst.name),
        )
    })?;
    for c in done.iter() {
        // TCP completes sends in order: each id in the range retires the oldest send.
        let count = c.last.wrapping_sub(c.first).wrapping_add(1);
        for _ in 0..count {
            let Some(f) = fifo.pop_front() else { break };
            busy[f.slot] -= 1;
            if c.copied {
                job.zerocopy_copied += 1;
                job.extra_cpu_copies += f.len;
            }
        }
    }
    Ok(())
}
