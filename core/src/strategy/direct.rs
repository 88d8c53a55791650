//! `direct`: `O_DIRECT` reads (and writes, where the destination allows) through an aligned
//! user buffer, bypassing the page cache: large transfers neither pollute the cache nor evict
//! other files' pages.
//!
//! The caller's fds are never changed: the engine reopens the files through `/proc/self/fd`
//! with `O_DIRECT` (a new open file description), moves the bytes through those, and closes
//! them. The alignment comes from `statx(STATX_DIOALIGN)`, else the block device's logical block
//! size. The unaligned head (up to the first aligned source offset) and the partial tail go
//! through the page cache with ordinary `pread`/`pwrite`, so a 4097-byte file copies to exactly
//! 4097 bytes. The destination is written with `O_DIRECT` when it is a regular file whose offset
//! is aligned like the source's, else with ordinary writes (sockets, pipes, misaligned files).
//! Reads with `O_DIRECT` see dirty cached pages: the kernel writes the range back before each
//! direct read, so mixing buffered writes and direct copies never returns stale bytes.
//!
//! Trade-off measured here (FACTS.md): O_DIRECT reads run at ~0.85 GB/s against ~1.45 GB/s for
//! cold buffered reads on this virtual disk, and much slower than hot cached copies; direct I/O
//! pays when keeping the cache for other files matters more than this transfer's speed.
//!
//! Copy model: 0 CPU copies per byte when both ends are direct (the device DMAs into and out of
//! the user buffer); 1 when the destination is written through the kernel (socket, pipe, a
//! buffered file); plus one DMA copy at each end backed by a device. Syscalls: 2 per chunk
//! (direct `pread` + `pwrite`/`write`), plus the reopen (`openat`, `statx`, `close` per file).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::{dma_ends, no_append, true_size, Job, Technique};
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;
use crate::sys::fs::Fd;
use crate::sys::mm::AnonBuffer;

/// The default chunk: 1 MiB (O_DIRECT's throughput levels off there: FACTS.md).
pub(crate) const DEFAULT_CHUNK: u64 = 1 << 20;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::Direct,
    family: None,
    supports,
    run,
    model: |job| CopyModel {
        cpu: u64::from(!dst_direct_capable(job.dst)),
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
    true_size(job)?;
    if dst_direct_capable(job.dst) {
        no_append(job, "O_DIRECT")?;
    }
    Ok(())
}

/// Whether the destination can be written with O_DIRECT at all (a regular file or block device).
pub(crate) fn dst_direct_capable(dst: &Endpoint<'_>) -> bool {
    matches!(dst.kind, Kind::File | Kind::BlockDevice) && !dst.append()
}

/// Opens `ep`'s file again with `flags | O_DIRECT`, without touching the caller's fd.
pub(crate) fn reopen(ep: &Endpoint<'_>, flags: i32) -> Result<Fd> {
    let path = CString::new(format!("/proc/self/fd/{}", ep.fd.as_raw_fd()))
        .map_err(|_| Error::invalid("fd path"))?;
    sys::fs::open(&path, flags | libc::O_DIRECT, 0).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => Error::new(
            ErrorKind::Unsupported,
            Some(libc::EINVAL),
            format!("the filesystem of {} refuses O_DIRECT (EINVAL)", ep.name),
        ),
        Some(libc::ENOENT) => Error::new(
            ErrorKind::Unsupported,
            Some(libc::ENOENT),
            format!(
                "{} cannot be reopened through /proc/self/fd for O_DIRECT (is /proc mounted?)",
                ep.name
            ),
        ),
        _ => Error::os(e, format_args!("reopening {} with O_DIRECT", ep.name)),
    })
}

/// The (memory, offset) alignment O_DIRECT needs on `fd`.
pub(crate) fn alignment(fd: BorrowedFd<'_>, ep: &Endpoint<'_>) -> Result<u64> {
    match sys::fs::dio_align(fd) {
        Ok(Some((_, 0))) => Err(Error::new(
            ErrorKind::Unsupported,
            Some(libc::EOPNOTSUPP),
            format!(
                "the filesystem of {} does not support O_DIRECT (statx reports no alignment)",
                ep.name
            ),
        )),
        Ok(Some((mem, off))) => Ok(u64::from(mem.max(off)).max(512)),
        Ok(None) | Err(_) => Ok(logical_block_size(ep)),
    }
}

/// The logical block size of the device under `ep` (sysfs), or 4096 when it cannot be read.
fn logical_block_size(ep: &Endpoint<'_>) -> u64 {
    let (maj, min) = (libc::major(ep.dev), libc::minor(ep.dev));
    for p in [
        format!("/sys/dev/block/{maj}:{min}/queue/logical_block_size"),
        format!("/sys/dev/block/{maj}:{min}/../queue/logical_block_size"),
    ] {
        let Ok(c) = CString::new(p) else { continue };
        if let Ok(bytes) = sys::fs::read_small(&c) {
            if let Some(n) = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
            {
                if n.is_power_of_two() {
                    return n;
                }
            }
        }
    }
    4096
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let src_direct = reopen(job.src, libc::O_RDONLY)?;
    let align = alignment(src_direct.as_fd(), job.src)?;
    let src_off = job.src_offset()?;
    // Head: bytes up to the first aligned source offset, through the page cache.
    let head = (align - src_off % align) % align;
    if head > 0 && buffered(job, head)? < head {
        return Ok(()); // end of file within the head
    }
    if job.remaining == Some(0) {
        return Ok(());
    }
    // The destination goes direct when it can and its offset is aligned like the source's.
    let dst_direct = if dst_direct_capable(job.dst) {
        let d = job.dst_offset()?;
        if d % align == 0 {
            let fd = reopen(job.dst, libc::O_WRONLY)?;
            let a = alignment(fd.as_fd(), job.dst)?;
            (d % a == 0 && align % a == 0).then_some(fd)
        } else {
            None
        }
    } else {
        None
    };
    let chunk = job.chunk.unwrap_or(DEFAULT_CHUNK).max(align) / align * align;
    let mut buf =
        AnonBuffer::new(chunk as usize).map_err(|e| Error::os(e, "mmap of an O_DIRECT buffer"))?;
    while let Some(n) = job.next_chunk(chunk)? {
        let off = job.src_offset()?;
        // Ask for whole blocks; the kernel returns less at end of file.
        let want = (n as u64).div_ceil(align) * align;
        let want = want.min(chunk) as usize;
        let got = sys::fs::pread(src_direct.as_fd(), &mut buf.as_mut_slice()[..want], off)
            .map_err(|e| {
                Error::os(
                    e,
                    format_args!("O_DIRECT read from {} at {off}", job.src.name),
                )
            })?;
        let got = got.min(n);
        if got == 0 {
            return Ok(());
        }
        let whole = (got as u64).is_multiple_of(align);
        let data = &buf.as_mut_slice()[..got];
        match (&dst_direct, whole) {
            (Some(d), true) => write_all(job, Some(d.as_fd()), data)?,
            _ => write_all(job, None, data)?,
        }
        if !whole {
            // A partial block: the end of the file (or of len). The offset is no longer
            // aligned, so whatever follows (a file that grew meanwhile) goes through the cache.
            buffered(job, u64::MAX)?;
            return Ok(());
        }
    }
    Ok(())
}

/// Writes `data` at the job's destination: through `direct` (an O_DIRECT reopen, at the
/// explicit offset) or the caller's fd.
fn write_all(job: &mut Job<'_, '_>, direct: Option<BorrowedFd<'_>>, data: &[u8]) -> Result<()> {
    let mut done = 0;
    while done < data.len() {
        let r = match (direct, job.dst_off) {
            (Some(fd), Some(o)) => sys::fs::pwrite(fd, &data[done..], o),
            (None, Some(o)) => sys::fs::pwrite(job.dst.fd, &data[done..], o),
            // A full pipe or stalled socket must not hold the write: its wait is cut.
            (_, None) if job.dst_ticks => sys::fs::write_nowait(job.dst.fd, &data[done..]),
            (_, None) => sys::fs::write(job.dst.fd, &data[done..]),
        };
        match r {
            Ok(0) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    Some(libc::EIO),
                    format!("write to {} accepted 0 bytes", job.dst.name),
                ))
            }
            Ok(k) => {
                job.advance(k);
                done += k;
                if done < data.len() {
                    job.interrupted_write()?;
                }
            }
            Err(e) if job.retry_stalled_dst(&e)? => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                // The source is a file: what was read but not written is simply read again.
                return Err(Error::os(
                    e,
                    format_args!("write to {} (non-blocking)", job.dst.name),
                ));
            }
            Err(e) => return Err(Error::os(e, format_args!("write to {}", job.dst.name))),
        }
    }
    Ok(())
}

/// Moves up to `n` bytes through the page cache (the unaligned head, or what follows a partial
/// block); returns how many it moved (fewer at end of file or of len).
pub(crate) fn buffered(job: &mut Job<'_, '_>, n: u64) -> Result<u64> {
    let mut buf = [0u8; 4096];
    let mut moved = 0;
    while moved < n {
        let Some(k) = job.next_chunk(buf.len() as u64)? else {
            break;
        };
        let k = k
            .min(buf.len())
            .min(usize::try_from(n - moved).unwrap_or(usize::MAX));
        let off = job.src_offset()?;
        let got = sys::fs::pread(job.src.fd, &mut buf[..k], off)
            .map_err(|e| Error::os(e, format_args!("read from {}", job.src.name)))?;
        if got == 0 {
            break;
        }
        write_all(job, None, &buf[..got])?;
        moved += got as u64;
    }
    Ok(moved)
}
