//! `splice`: `splice(2)` moves pages by reference between an fd and a pipe.
//!
//! When one end is a pipe, one `splice` per chunk moves the bytes directly. Otherwise they go
//! through an internal pipe (close-on-exec, sized to 1 MiB with `F_SETPIPE_SZ` when the transfer
//! is larger than the default 64 KiB, 512 KiB for more than 64 MiB into a regular file (see
//! [`BIG_FILE_PIPE`]), keeping the default when the limit refuses): one `splice`
//! in, one or more out. `SPLICE_F_MORE` is never set: on a socket it corks small transfers.
//! Copy model: 0 CPU copies per byte into a pipe or socket (pages move by reference); 1 into a
//! regular file or block device (the kernel copies the pipe's pages into the destination's page
//! cache); plus one DMA copy at each end backed by a device. Syscalls: 1 per chunk through a
//! pipe end, 2 per chunk otherwise, plus 4 (pipe2, F_SETPIPE_SZ, 2 × close) for the pipe.

use super::{classify, dma_ends, no_append, Family, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;
use std::os::fd::AsFd;

/// The internal pipe's size (measured best here: FACTS.md), but see [`BIG_FILE_PIPE`].
pub(crate) const PIPE_SIZE: u64 = 1 << 20;

/// The internal pipe's size for a copy into a regular file of more than [`BIG_FILE_FROM`]
/// bytes: 512 KiB, not 1 MiB.
///
/// The kernel writes a pipe's whole content into the destination's page cache in one go, and
/// ext4 sizes the new folios by that write: a 1 MiB pipe makes 1 MiB folios (copy_file_range's
/// internal 64 KiB pipe makes 64 KiB ones; checked through `/proc/kpageflags`). A 1 MiB folio
/// needs a free block of order 8, which the page allocator takes from the largest free blocks:
/// on a VM whose host takes free memory back (virtio-balloon free page reporting, order-9 blocks
/// free for ~2 s, as on this project's machines), those are the blocks the host took, and the
/// first write to each page then waits for the host to fault it back in. Measured here (256 MiB
/// hot file → file, 9–10 rounds in shuffled order): with the 1 MiB pipe 3–5 rounds in 10 spent
/// 0.79–1.23 CPU s/GB in the page cache's memcpy instead of 0.14–0.21; with 512 KiB and 256 KiB
/// pipes none did (medians 0.158 and 0.161 s/GB, 2.28× and 1.84× the 1 MiB pipe's GB/s in the
/// same rounds; copy_file_range 0.201 s/GB, 1.39×). A copy of 1 or 16 MiB into the same range,
/// the memory reused, never met it, and there the 1 MiB pipe stays the fastest (CPU 0.095 and
/// 0.116 s/GB; 512 KiB 0.099 and 0.123, 256 KiB 0.107 and 0.137).
pub(crate) const BIG_FILE_PIPE: u64 = 512 << 10;

/// The copy length into a regular file above which the pipe is [`BIG_FILE_PIPE`] (the end of
/// the sizes Auto splices without reserving the destination first).
pub(crate) const BIG_FILE_FROM: u64 = 64 << 20;
/// A pipe's default capacity.
const DEFAULT_PIPE: u64 = 64 * 1024;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::Splice,
    family: Some(Family::Splice),
    supports: |job| no_append(job, "splice"),
    run,
    model: |job| CopyModel {
        cpu: u64::from(matches!(job.dst.kind, Kind::File | Kind::BlockDevice)),
        dma: dma_ends(job),
    },
};

const REFUSALS: &[i32] = &[libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP, libc::EXDEV];

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    if job.src.kind == Kind::Pipe || job.dst.kind == Kind::Pipe {
        direct(job)
    } else {
        through_pipe(job)
    }
}

/// One end is a pipe: splice straight from src to dst.
fn direct(job: &mut Job<'_, '_>) -> Result<()> {
    let mut moved_here = 0u64;
    while let Some(n) = job.next_chunk(PIPE_SIZE)? {
        job.wait_dst_room()?;
        let (mut so, mut dof) = (job.src_off, job.dst_off);
        let k = match sys::pipe::splice(job.src.fd, so.as_mut(), job.dst.fd, dof.as_mut(), n, 0) {
            Ok(k) => k,
            Err(e) if job.retry_stalled_dst(&e)? => continue,
            Err(e) => {
                let refusals = if moved_here == 0 { REFUSALS } else { &[] };
                let what = format_args!("splice from {} to {}", job.src.name, job.dst.name);
                return Err(classify(e, Some(Family::Splice), refusals, what));
            }
        };
        if k == 0 {
            return Ok(());
        }
        moved_here += k as u64;
        job.advance(k);
    }
    Ok(())
}

/// Neither end is a pipe: src → internal pipe → dst.
fn through_pipe(job: &mut Job<'_, '_>) -> Result<()> {
    let (r, w) = sys::pipe::pipe().map_err(|e| Error::os(e, "pipe2 for splice"))?;
    let needed = job.remaining.or_else(|| {
        job.src
            .seekable()
            .then(|| job.src.size.saturating_sub(job.src_off.unwrap_or(0)).max(1))
    });
    let big_file = job.dst.kind == Kind::File && needed.is_some_and(|n| n > BIG_FILE_FROM);
    let want = job
        .chunk
        .unwrap_or(if big_file { BIG_FILE_PIPE } else { PIPE_SIZE });
    let needed = needed.unwrap_or(want);
    let mut cap = DEFAULT_PIPE;
    if want.min(needed) > DEFAULT_PIPE {
        if let Ok(got) = sys::pipe::set_pipe_size(w.as_fd(), want as usize) {
            cap = got as u64;
        }
    }
    let cap = cap.min(want).max(1);
    // Bytes spliced into the pipe but not yet out stay exact only if the source can be rewound:
    // give a seekable source an explicit offset, advanced by what reaches dst.
    if job.src.seekable() {
        job.src_offset()?;
    }
    let mut moved_here = 0u64;
    while let Some(n) = job.next_chunk(cap)? {
        let n = n.min(cap as usize);
        let mut so = job.src_off;
        let inflight =
            sys::pipe::splice(job.src.fd, so.as_mut(), w.as_fd(), None, n, 0).map_err(|e| {
                let refusals = if moved_here == 0 { REFUSALS } else { &[] };
                let what = format_args!("splice from {} into a pipe", job.src.name);
                classify(e, Some(Family::Splice), refusals, what)
            })?;
        if inflight == 0 {
            return Ok(());
        }
        let mut left = inflight;
        while left > 0 {
            let mut dof = job.dst_off;
            match sys::pipe::splice(r.as_fd(), None, job.dst.fd, dof.as_mut(), left, 0) {
                Ok(0) => {
                    return Err(Error::new(
                        crate::ErrorKind::Io,
                        Some(libc::EIO),
                        format!("splice to {} accepted 0 bytes", job.dst.name),
                    ))
                }
                Ok(k) => {
                    left -= k;
                    moved_here += k as u64;
                    job.advance(k);
                    if left > 0 {
                        job.interrupted_write()?;
                    }
                }
                Err(e) if job.retry_stalled_dst(&e)? => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && !job.src.seekable() => {
                    // Bytes taken from a pipe or socket cannot be put back: wait (sleeping,
                    // not spinning) until the destination takes them.
                    sys::stop::poll_ticks(job.dst.fd, libc::POLLOUT)
                        .map_err(|e| Error::os(e, format_args!("poll on {}", job.dst.name)))?;
                }
                Err(e) => {
                    let refusals = if moved_here == 0 { REFUSALS } else { &[] };
                    let what = format_args!("splice from a pipe to {}", job.dst.name);
                    return Err(classify(e, Some(Family::Splice), refusals, what));
                }
            }
        }
    }
    Ok(())
}
