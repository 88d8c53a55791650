//! `sendfile`: `sendfile(2)` moves the bytes inside the kernel, no user buffer.
//!
//! The source must be a regular file or block device, unless the destination is a pipe (then a
//! socket or anything else the kernel can splice from, but not another pipe). The destination cannot be `O_APPEND`. At most
//! 0x7ffff000 bytes per call (the kernel's limit); short counts loop. An explicit `dst_offset`
//! is honoured by moving the destination's position there and back (sendfile writes at the
//! position). Copy model: 1 CPU copy per byte (page cache → socket buffer or destination page;
//! 0 with a NIC doing scatter/gather DMA, which is not assumed), 0 into a pipe (pages are
//! referenced); plus one DMA copy at each end backed by a device. Syscalls: 1 per chunk.

use super::{classify, dma_ends, no_append, seek_to, true_size, Family, Job, Technique};
use crate::endpoint::{Endpoint, Kind};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;

/// The most one `sendfile` call moves (Linux's `MAX_RW_COUNT`).
pub(crate) const MAX_PER_CALL: u64 = sys::fs::MAX_RW_COUNT;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::Sendfile,
    family: Some(Family::Sendfile),
    supports,
    run,
    model: |job| CopyModel {
        cpu: u64::from(job.dst.kind != Kind::Pipe),
        dma: dma_ends(job),
    },
};

/// errnos with which the kernel says "not this pair".
const REFUSALS: &[i32] = &[libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP, libc::EXDEV];

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    no_append(job, "sendfile")?;
    if job.src.kind == Kind::Pipe {
        return Err(format!(
            "cannot read from a pipe (the kernel refuses it); {} is one",
            job.src.name
        ));
    }
    if !job.src.seekable() && job.dst.kind != Kind::Pipe {
        return Err(format!(
            "reads only from a regular file or block device (or into a pipe); {} is {}",
            job.src.name, job.src.kind
        ));
    }
    true_size(job)
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let Some(dst_off) = job.dst_off else {
        return pump(job);
    };
    // sendfile writes at the destination's position: put it at dst_off, then back.
    let saved = super::position(job.dst)?;
    seek_to(job.dst, dst_off).map_err(|e| past_max_size(e, job.dst, dst_off))?;
    let result = pump(job);
    let restored = seek_to(job.dst, saved);
    result.and(restored)
}

/// `lseek` refuses (`EINVAL`) a position past the largest file the destination's filesystem
/// holds, where the other techniques' writes fail with `EFBIG`: say that, with the offset.
fn past_max_size(e: Error, dst: &Endpoint<'_>, off: u64) -> Error {
    if e.errno() != Some(libc::EINVAL) {
        return e;
    }
    Error::new(
        ErrorKind::Io,
        Some(libc::EFBIG),
        format!(
            "sendfile to {} at dst_offset {off}: File too large (past the largest file its filesystem holds)",
            dst.name
        ),
    )
}

fn pump(job: &mut Job<'_, '_>) -> Result<()> {
    let mut moved_here = 0u64;
    while let Some(n) = job.next_chunk(MAX_PER_CALL)? {
        job.wait_dst_room()?;
        let n = n.min(MAX_PER_CALL as usize);
        let mut off = job.src_off;
        let k = match sys::fs::sendfile(job.dst.fd, job.src.fd, off.as_mut(), n) {
            Ok(k) => k,
            Err(e) if job.retry_stalled_dst(&e)? => continue,
            Err(e) => {
                let what = format_args!("sendfile from {} to {}", job.src.name, job.dst.name);
                let refusals = if moved_here == 0 { REFUSALS } else { &[] };
                return Err(classify(e, Some(Family::Sendfile), refusals, what));
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
