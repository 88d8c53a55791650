//! Keeping holes: a file→file transfer of a sparse source moves only its data segments
//! (`SEEK_DATA`/`SEEK_HOLE`) and leaves holes in the destination, so the copy has the same
//! size and no more allocated blocks than the source. Not a technique: a wrapper that runs the
//! technique once per data segment.

use crate::endpoint::Kind;
use crate::error::{Error, Result};
use crate::strategy::{Job, Technique};
use crate::sys;

/// Whether the job should keep the source's holes: asked for (`sparse`, the default), file →
/// file, a source with holes (fewer allocated bytes than its size: free to check), a destination
/// that is not `O_APPEND` and whose range starts at or past its end (so a skipped hole reads as
/// zeros, never as old bytes).
pub(crate) fn eligible(job: &mut Job<'_, '_>) -> Result<bool> {
    let (src, dst) = (job.src, job.dst);
    if !job.sparse || src.kind != Kind::File || dst.kind != Kind::File || dst.append() {
        return Ok(false);
    }
    if src.blocks.saturating_mul(512) >= src.size {
        return Ok(false);
    }
    Ok(job.dst_offset()? >= dst.size)
}

/// Runs `tech` over each data segment and skips the holes between them.
///
/// `SEEK_DATA` and `SEEK_HOLE` move the source's position. Without a `src_offset` the job owns
/// that position (it is set to the offset reached when the transfer ends); with one, the
/// caller's position is put back as it was (two more `lseek`s).
pub(crate) fn run(tech: &Technique, job: &mut Job<'_, '_>) -> Result<()> {
    if job.src_off.is_none() {
        return segments(tech, job);
    }
    let saved = crate::endpoint::position(job.src)?;
    let result = segments(tech, job);
    let restored = crate::endpoint::seek_to(job.src, saved);
    result.and(restored)
}

fn segments(tech: &Technique, job: &mut Job<'_, '_>) -> Result<()> {
    // Holes are counted as moved when skipped, but reach the destination only when bytes are
    // written after them (or the final ftruncate gives it the size): on an error before that,
    // the count is taken back, so `bytes_moved` is what the destination holds.
    let mut unwritten = 0u64;
    let result = skip_and_copy(tech, job, &mut unwritten);
    if result.is_err() && unwritten > 0 {
        job.unskip(unwritten);
    }
    result
}

/// The segments loop of [`segments`]; `unwritten` is the count of hole bytes skipped since the
/// last byte the destination received.
fn skip_and_copy(tech: &Technique, job: &mut Job<'_, '_>, unwritten: &mut u64) -> Result<()> {
    let limit = job.remaining;
    let start = job.moved;
    let mut skipped_last = false;
    loop {
        let off = job.src_offset()?;
        let left = limit.map(|l| l - (job.moved - start));
        if left == Some(0) {
            break;
        }
        let data = match seek(job, off, libc::SEEK_DATA)? {
            Some(d) => d,
            None => {
                // No data after `off`: the rest of the file is a hole.
                let hole = job
                    .src
                    .size
                    .saturating_sub(off)
                    .min(left.unwrap_or(u64::MAX));
                skipped_last = hole > 0;
                job.skip(hole);
                *unwritten += hole;
                break;
            }
        };
        let hole = (data - off).min(left.unwrap_or(u64::MAX));
        job.skip(hole);
        *unwritten += hole;
        if left.is_some_and(|l| hole >= l) {
            skipped_last = hole > 0;
            break;
        }
        let end = seek(job, data, libc::SEEK_HOLE)?.unwrap_or(job.src.size);
        let segment = (end - data).min(left.map_or(u64::MAX, |l| l - hole));
        job.remaining = Some(segment);
        let before = job.moved;
        let outcome = (tech.run)(job);
        let moved = job.moved - before;
        if moved > 0 {
            *unwritten = 0;
        }
        job.remaining = limit.map(|l| l - (job.moved - start));
        outcome?;
        skipped_last = false;
        if moved < segment {
            break; // the source ended early (it shrank)
        }
    }
    job.remaining = limit.map(|l| l - (job.moved - start));
    if skipped_last {
        // The source ends in a hole: give the destination the same size.
        let end = job.dst_off.unwrap_or(0);
        sys::fs::ftruncate(job.dst.fd, end)
            .map_err(|e| Error::os(e, format_args!("ftruncate of {} to {end}", job.dst.name)))?;
    }
    *unwritten = 0;
    Ok(())
}

/// `lseek(src, off, whence)` for SEEK_DATA/SEEK_HOLE; `None` for ENXIO (no data past `off`).
fn seek(job: &Job<'_, '_>, off: u64, whence: i32) -> Result<Option<u64>> {
    let o = i64::try_from(off).map_err(|_| Error::invalid("offset past 2^63 - 1"))?;
    match sys::fs::lseek(job.src.fd, o, whence) {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(Error::os(
            e,
            format_args!("lseek(SEEK_DATA/SEEK_HOLE) on {}", job.src.name),
        )),
    }
}
