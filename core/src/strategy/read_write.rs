//! `read_write`: `read` (or `pread`) into a user buffer, then `write` (or `pwrite`) it out.
//!
//! Serves every pair, and the `dontcache` cache policy: regular file ends are then read with
//! `preadv2` and written with `pwritev2` with `RWF_DONTCACHE`, in chunks of
//! [`DONTCACHE_BUFFER`], at most two of them written back at once, and a file destination's
//! written range is waited for at the end
//! (`sync_file_range`), so no page of it is still in the cache when the transfer returns; a
//! source range that ends before end of file has the pages readahead brought in past it dropped
//! (where none were cached before).
//! Copy model: 2 CPU copies per byte (kernel → user buffer, user buffer → kernel), plus one DMA
//! copy at each end backed by a device. Syscalls: 2 per chunk (3 uncached: the wait for the chunk
//! before; plus the final wait).

use std::cell::Cell;

use super::{dma_ends, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;
use crate::sys::mm::AnonBuffer;

/// The default buffer: 128 KiB, the knee coreutils measured (larger gains nothing).
pub(crate) const DEFAULT_BUFFER: u64 = 128 * 1024;

/// The buffer under the `dontcache` cache policy: 4 MiB. Each `RWF_DONTCACHE` write starts the
/// writeback of its own range at once (Linux 6.18: `generic_write_sync` →
/// `filemap_fdatawrite_range_kick`), and each uncached read waits for its own pages
/// (`filemap_get_pages` → `folio_wait_bit_common`), so every chunk costs a disk round trip.
/// Measured here (cold 256 MiB ext4 file → file, final wait included, medians of 9 interleaved
/// rounds): 128 KiB 0.43 GB/s, 1 MiB 0.76, 4 MiB 0.95, 8 MiB 1.04 (16 and 32 MiB slower);
/// reading and writing on two threads gained nothing (1.05×). 8 MiB chunks need more memory
/// than a small cgroup has: with the two chunks [`bound_writeback`] keeps and the device's
/// readahead (8 MiB here), a 1 MiB hot file in a 40 MiB memory cgroup (with its Python
/// process) was evicted by a 96 MiB copy in 8 MiB chunks, kept whole in 1, 2 and 4 MiB ones.
pub(crate) const DONTCACHE_BUFFER: u64 = 4 << 20;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::ReadWrite,
    family: None,
    supports: |_| Ok(()),
    run,
    model: |job| CopyModel {
        cpu: 2,
        dma: dma_ends(job),
    },
};

thread_local! {
    /// One buffer per thread, reused across transfers: no syscall to allocate it per call (and
    /// the ones that make it are counted: see `AnonBuffer`). Taken out while in use, so a nested
    /// call (from a progress callback) makes its own.
    static BUFFER: Cell<Option<AnonBuffer>> = const { Cell::new(None) };
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let uncached_files =
        job.dontcache && (job.src.kind == Kind::File || job.dst.kind == Kind::File);
    let want = job.chunk.unwrap_or(if uncached_files {
        DONTCACHE_BUFFER
    } else {
        DEFAULT_BUFFER
    });
    // A file source needs no buffer larger than what is left of it (plus a page, to see EOF).
    let hint = match (job.remaining, job.src.seekable()) {
        (Some(r), _) => r,
        (None, true) => job.src.size.saturating_sub(job.src_off.unwrap_or(0)) + 4096,
        (None, false) => want,
    };
    let size = usize::try_from(want.min(hint).max(1)).unwrap_or(usize::MAX);
    let mut buf = match BUFFER.take() {
        Some(b) if b.len() >= size => b,
        old => {
            drop(old);
            // At least the default size: untouched pages of an anonymous mapping cost nothing,
            // and the next call can reuse it.
            let len = size.max(DEFAULT_BUFFER as usize);
            AnonBuffer::new(len).map_err(|e| Error::os(e, "mmap of a read_write buffer"))?
        }
    };
    let result = pump(job, &mut buf.as_mut_slice()[..size]);
    // Keep it for the next call unless it is oversized (a caller's huge chunk_size).
    if buf.len() as u64 <= DEFAULT_BUFFER {
        BUFFER.set(Some(buf));
    }
    result
}

/// `RWF_DONTCACHE` for an end that is a regular file under the `dontcache` policy, else 0.
fn uncached(job: &Job<'_, '_>, ep: &crate::endpoint::Endpoint<'_>) -> i32 {
    if job.dontcache && ep.kind == Kind::File {
        libc::RWF_DONTCACHE
    } else {
        0
    }
}

/// The error of a read or write the kernel refused the `RWF_DONTCACHE` flag for: Unsupported
/// before any byte moved (the planner then copies another way), an OS error after.
fn refused_dontcache(job: &Job<'_, '_>, e: std::io::Error, what: std::fmt::Arguments<'_>) -> Error {
    if e.raw_os_error() == Some(libc::EOPNOTSUPP) && job.moved == 0 {
        return Error::unsupported(format!(
            "read_write: {what} refuses RWF_DONTCACHE (uncached buffered I/O needs Linux 6.14+ \
             and a filesystem that has it, such as ext4 or XFS)"
        ));
    }
    Error::os(e, what)
}

fn pump(job: &mut Job<'_, '_>, buf: &mut [u8]) -> Result<()> {
    let (src_flags, dst_flags) = (uncached(job, job.src), uncached(job, job.dst));
    if dst_flags != 0 && !job.dst.append() {
        // Explicit offsets, so each chunk's range is known (the position is set at the end).
        job.dst_offset()?;
    }
    let (dst_start, moved_before) = (job.dst_off, job.moved);
    let tail = if src_flags != 0 {
        readahead_tail(job)?
    } else {
        None
    };
    let copied = copy(job, buf, src_flags, dst_flags);
    if let Some((off, len)) = tail {
        // Pages read ahead past the range were never read, so never dropped: drop them
        // (none were cached there before). Clean pages only; a failure leaves them cached.
        let _ = sys::fs::fadvise(job.src.fd, off, len, libc::POSIX_FADV_DONTNEED);
    }
    copied?;
    if dst_flags != 0 {
        settle_uncached(job, dst_start, job.moved - moved_before)?;
    }
    Ok(())
}

/// The most an uncached read brings in past the bytes it asked for: the readahead window,
/// `read_ahead_kb` of the device (8 MiB here), doubled by `POSIX_FADV_SEQUENTIAL`.
const READAHEAD_REACH: u64 = 32 << 20;

/// Where an uncached copy of a source range that ends before the end of file may leave pages:
/// readahead reads past the last chunk, and pages read ahead but never read stay cached.
/// `Some((offset, len))` of the source past the range when no page of it is cached now (one
/// `cachestat`), to be dropped after the copy; `None` when the range runs to end of file, or
/// pages past it are cached already (someone's: they stay, and so may the few read ahead).
fn readahead_tail(job: &Job<'_, '_>) -> Result<Option<(u64, u64)>> {
    let (Some(len), true) = (job.remaining, job.src.kind == Kind::File) else {
        return Ok(None);
    };
    let start = match job.src_off {
        Some(o) => o,
        None => crate::endpoint::position(job.src)?,
    };
    let end = start.saturating_add(len);
    if end >= job.src.size {
        return Ok(None);
    }
    let reach = READAHEAD_REACH.min(job.src.size - end);
    Ok(match sys::fs::cachestat(job.src.fd, end, reach) {
        Ok(cs) if cs.nr_cache == 0 => Some((end, reach)),
        _ => None,
    })
}

/// Waits until the `written` bytes this technique wrote uncached to the destination from
/// `start` (`None`: up to the fd's position now) are on disk: a page under writeback when an
/// `RWF_DONTCACHE` write returns stays cached until its write completes (up to 2,560 pages
/// of the last chunks, seen here), and is dropped once it does. Waiting costs the last
/// chunk's write, not more: the others were written while the next ones were copied. Measured
/// (cold 256 MiB ext4 file → file, 15 interleaved rounds): the same copy without this wait ran
/// 0.99× [0.73–1.19] as fast per round, and returned with up to 2,048 pages under writeback.
fn settle_uncached(job: &Job<'_, '_>, start: Option<u64>, written: u64) -> Result<()> {
    if written == 0 {
        return Ok(());
    }
    let start = match start {
        Some(s) => s,
        None => crate::endpoint::position(job.dst)?.saturating_sub(written),
    };
    sys::fs::sync_range(job.dst.fd, start, written)
        .map_err(|e| Error::os(e, format_args!("sync_file_range on {}", job.dst.name)))
}

fn copy(job: &mut Job<'_, '_>, buf: &mut [u8], src_flags: i32, dst_flags: i32) -> Result<()> {
    // The destination range of the chunk written before the last, under the dontcache policy.
    let mut behind: Option<(u64, u64)> = None;
    while let Some(n) = job.next_chunk(buf.len() as u64)? {
        let n = chunk_len(job, n.min(buf.len()), buf.len(), dst_flags);
        let got = read_chunk(job, &mut buf[..n], src_flags)?;
        if got == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < got {
            let r = match job.dst_off {
                _ if dst_flags != 0 => {
                    sys::fs::pwritev2(job.dst.fd, &buf[done..got], job.dst_off, dst_flags)
                }
                Some(off) => sys::fs::pwrite(job.dst.fd, &buf[done..got], off),
                // A full pipe or stalled socket must not hold the write: its wait is cut.
                None if job.dst_ticks => sys::fs::write_nowait(job.dst.fd, &buf[done..got]),
                None => sys::fs::write(job.dst.fd, &buf[done..got]),
            };
            match r {
                Ok(0) => {
                    job.give_back_src(got - done)?;
                    return Err(Error::new(
                        crate::ErrorKind::Io,
                        Some(libc::EIO),
                        format!("write to {} accepted 0 bytes", job.dst.name),
                    ));
                }
                Ok(k) => {
                    job.advance(k);
                    done += k;
                    // A short RWF_NOWAIT write means the destination is full: wait for room
                    // at once rather than try again for an EAGAIN.
                    if job.dst_ticks && done < got {
                        wait_for_room(job, got - done)?;
                    } else if done < got {
                        if let Err(stop) = job.interrupted_write() {
                            job.give_back_src(got - done)?;
                            return Err(stop);
                        }
                    }
                }
                Err(e) if job.dst_stalled(&e) => wait_for_room(job, got - done)?,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    if job.give_back_src(got - done)? {
                        return Err(Error::os(
                            e,
                            format_args!("write to {} (non-blocking)", job.dst.name),
                        ));
                    }
                    // Bytes taken from a pipe or socket cannot be put back: wait (sleeping, not
                    // spinning) until the destination takes them.
                    sys::stop::poll_ticks(job.dst.fd, libc::POLLOUT)
                        .map_err(|e| Error::os(e, format_args!("poll on {}", job.dst.name)))?;
                }
                Err(e) => {
                    job.give_back_src(got - done)?;
                    let what = format_args!("write to {}", job.dst.name);
                    return Err(refused_dontcache(job, e, what));
                }
            }
        }
        if let (true, Some(end)) = (dst_flags != 0, job.dst_off) {
            bound_writeback(job, &mut behind, (end - got as u64, got as u64))?;
        }
    }
    Ok(())
}

/// The length of the next chunk, at most `n`: under the dontcache policy a chunk that ends
/// inside a folio (a page, or a large folio of up to 2 MiB) writes it twice, the second time
/// while the first write's writeback holds it, and it stays cached; so one short chunk goes
/// first, and the others end on boundaries of the destination that no folio straddles.
fn chunk_len(job: &Job<'_, '_>, n: usize, buf_len: usize, dst_flags: i32) -> usize {
    if let (true, Some(off)) = (dst_flags != 0, job.dst_off) {
        let align = (1u64 << (buf_len as u64).trailing_zeros()).min(FOLIO_MAX);
        if align >= sys::mm::page_size() {
            return n.min(buf_len - (off % align) as usize);
        }
    }
    n
}

/// Reads the next chunk into `buf` (with `src_flags` through `preadv2` when there are any).
fn read_chunk(job: &mut Job<'_, '_>, buf: &mut [u8], src_flags: i32) -> Result<usize> {
    match job.src_off {
        _ if src_flags != 0 => sys::fs::preadv2(job.src.fd, buf, job.src_off, src_flags),
        Some(off) => sys::fs::pread(job.src.fd, buf, off),
        None => sys::fs::read(job.src.fd, buf),
    }
    .map_err(|e| refused_dontcache(job, e, format_args!("read from {}", job.src.name)))
}

/// The largest page-cache folio on x86-64 (a PMD, 2 MiB): folios are aligned to their size.
const FOLIO_MAX: u64 = 2 << 20;

/// Keeps at most two chunks of an uncached destination in memory: each `RWF_DONTCACHE` write
/// only starts its writeback, and a copy that reads faster than the disk writes would pile up
/// pages under writeback (24 MiB of 8 MiB chunks, seen here) that memory pressure cannot drop,
/// so it would evict other pages instead (a 1 MiB hot file in a 56 MiB memory cgroup). Waits
/// for the chunk before `just` (`sync_file_range`), which had a whole chunk's copy to finish.
/// The wait does not slow the copy: the disk must write what it reads, and without the bound
/// the time goes to the reads instead (off-CPU in `filemap_get_pages`, waiting on a disk busy
/// with that writeback: 123 ms a 256 MiB copy, against 114 ms here plus 56 in the reads), for
/// no speed gained (0.80 GB/s median against 0.91, same rounds), and the hot file is lost (a
/// 1 MiB one in a 40 MiB cgroup with 8 MiB of anonymous memory: evicted 4 times of 4, kept 4
/// of 4 with the bound).
fn bound_writeback(
    job: &Job<'_, '_>,
    behind: &mut Option<(u64, u64)>,
    just: (u64, u64),
) -> Result<()> {
    if let Some((off, len)) = behind.replace(just) {
        sys::fs::sync_range(job.dst.fd, off, len)
            .map_err(|e| Error::os(e, format_args!("sync_file_range on {}", job.dst.name)))?;
    }
    Ok(())
}

/// Waits in ticks the stop hook can end until the destination has room; on a stop, gives the
/// `undelivered` bytes back to a seekable source first, so its position stays exact.
fn wait_for_room(job: &mut Job<'_, '_>, undelivered: usize) -> Result<()> {
    if let Err(stop) = job.wait_dst_writable() {
        job.give_back_src(undelivered)?;
        return Err(stop);
    }
    Ok(())
}
