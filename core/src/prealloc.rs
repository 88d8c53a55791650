//! Reserving a file destination's blocks before a large copy (`fallocate` with
//! `FALLOC_FL_KEEP_SIZE`).
//!
//! Measured on these machines (FACTS.md, and the performance issue's side-by-side runs): a hot
//! 256 MiB ext4 → ext4 copy spends much of its time allocating the destination's blocks as the
//! writes extend it, extent by extent. Reserving the whole range first makes every technique
//! faster (copy_file_range 3.58 → 4.63 GB/s, splice through a 1 MiB pipe 4.29 → 5.56). The
//! file's size is not changed by the reservation: only what is written sets it; blocks
//! reserved past what a failed copy wrote are released again (a truncate to the size the file
//! has then, which on ext4 frees blocks past the end).
//!
//! Only where it pays and cannot hurt: both ends regular files, the destination on ext4 (where
//! a copy never shares extents, so nothing reserved is wasted), at least [`RESERVE_FROM`]
//! bytes, a source without holes (a sparse copy keeps them: reserving would fill them), and
//! only the part of the range past the destination's end (existing blocks are left as they
//! are). A filesystem that refuses (`EOPNOTSUPP`, `ENOSPC`) is copied as without it.

use crate::endpoint::magic;
use crate::endpoint::{Endpoint, Kind};
use crate::error::Result;
use crate::options::{Options, Strategy};
use crate::sys;

/// The smallest copy whose destination is reserved first. Below it the extents are few and
/// the `fallocate` (and, after a failure, the `fallocate` that releases) cost more than they
/// save.
pub(crate) const RESERVE_FROM: u64 = 4 << 20;

/// Whether [`reserve`] would reserve for this transfer, judged without a syscall but the
/// destination's filesystem type (asked once per mount and thread): a regular file → regular
/// file copy of at least [`RESERVE_FROM`] bytes (counted from byte 0 when the position is used)
/// onto ext4, from a source without holes when they are kept, not reflink or direct, not
/// `O_APPEND`.
pub(crate) fn applies(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    let most = src
        .size
        .saturating_sub(opts.src_offset.unwrap_or(0))
        .min(opts.len.unwrap_or(u64::MAX));
    (src.kind, dst.kind) == (Kind::File, Kind::File)
        && most >= RESERVE_FROM
        && !matches!(opts.strategy, Strategy::Reflink | Strategy::Direct)
        && !dst.append()
        && !(opts.sparse && src.blocks.saturating_mul(512) < src.size)
        && dst.fs_type() == Some(magic::EXT4)
        && src.sizeless_fs().is_none()
}

/// A reservation made for one transfer, up to `end` of the destination.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserved {
    /// Where the copy writes its first byte.
    dst_start: u64,
    /// Where the copy's last byte ends, and the reservation with it (it begins at the copy's
    /// first byte, or the destination's end if that is further).
    end: u64,
}

/// Reserves the destination's blocks for this transfer when it pays (see the module's doc);
/// `None` when not reserved.
pub(crate) fn reserve(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<Option<Reserved>> {
    if !applies(src, dst, opts) {
        return Ok(None);
    }
    let src_start = match opts.src_offset {
        Some(o) => o,
        None => crate::endpoint::position(src)?,
    };
    let len = src
        .size
        .saturating_sub(src_start)
        .min(opts.len.unwrap_or(u64::MAX));
    if len < RESERVE_FROM {
        return Ok(None);
    }
    let dst_start = match opts.dst_offset {
        Some(o) => o,
        None => crate::endpoint::position(dst)?,
    };
    // Only what lies past the destination's end: blocks inside it are the file's already.
    let start = dst_start.max(dst.size);
    let Some(end) = dst_start.checked_add(len).filter(|&e| e > start) else {
        return Ok(None);
    };
    match sys::fs::reserve(dst.fd, start, end - start) {
        Ok(()) => Ok(Some(Reserved { dst_start, end })),
        // Not supported, no room, or anything else: the copy goes on as without it (and meets
        // ENOSPC itself, with the bytes it moved, if space really runs out).
        Err(_) => Ok(None),
    }
}

impl Reserved {
    /// After a transfer that moved `moved` bytes: when it stopped short of the reserved end (it
    /// failed, or the source shrank), releases the reserved blocks past the destination's end
    /// now. Nothing to do (no syscall) when it filled the range.
    pub(crate) fn release_unwritten(self, dst: &Endpoint<'_>, moved: u64) {
        if self.dst_start.saturating_add(moved) >= self.end {
            return;
        }
        let size = match sys::fs::fstat(dst.fd) {
            Ok(st) => st.st_size.max(0) as u64,
            Err(_) => return,
        };
        if size < self.end {
            // ext4 punches no hole past the end of a file, but a truncate to the size the file
            // has frees the blocks reserved past it (ext4_setattr truncates "possible
            // preallocated blocks" even when the size does not change). Best effort: a refusal
            // leaves them allocated, the data right either way. (A writer extending the file
            // between the fstat and the truncate would lose its new bytes: a destination is not
            // expected to have another writer during a copy.)
            let _ = sys::fs::ftruncate(dst.fd, size);
        }
    }
}
