//! `reflink`: `FICLONERANGE` makes the destination share the source's extents (copy on write).
//!
//! Needs both files on one filesystem that can share extents (XFS with `reflink=1`, btrfs,
//! bcachefs, OCFS2); others refuse (`EOPNOTSUPP`, `EXDEV`), which is Unsupported. Offsets and
//! length must be multiples of the filesystem block, except a range that ends at the source's
//! end. One call clones the whole range: the source's size when the transfer starts (it does
//! not follow a file that grows). A report with strategy `reflink` means a clone happened.
//! Copy model: 0 CPU and 0 DMA copies (only metadata changes). Syscalls: 1.

use super::{classify, no_append, true_size, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::Reflink,
    family: None,
    supports,
    run,
    model: |_| CopyModel { cpu: 0, dma: 0 },
};

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    for ep in [job.src, job.dst] {
        if ep.kind != Kind::File {
            return Err(format!(
                "clones regular files only; {} is {}",
                ep.name, ep.kind
            ));
        }
    }
    true_size(job)?;
    no_append(job, "FICLONERANGE")
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    if job.next_chunk(u64::MAX)?.is_none() {
        return Ok(());
    }
    let src_off = job.src_offset()?;
    let dst_off = job.dst_offset()?;
    let left = job.src.size.saturating_sub(src_off);
    let len = job.remaining.map_or(left, |r| r.min(left));
    if len == 0 {
        return Ok(());
    }
    // Length 0 means "to the source's end", which the kernel accepts unaligned.
    let arg = if len == left { 0 } else { len };
    sys::fs::ficlonerange(job.src.fd, src_off, arg, job.dst.fd, dst_off).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let what = format_args!("FICLONERANGE from {} to {}", job.src.name, job.dst.name);
        match errno {
            libc::EINVAL => {
                let bs = job.src.blksize.max(1);
                let bad: Vec<String> = [("src_offset", src_off), ("dst_offset", dst_off), ("len", arg)]
                    .iter()
                    .filter(|(_, v)| v % bs != 0)
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                Error::new(
                    ErrorKind::Unsupported,
                    Some(errno),
                    format!(
                        "{what}: the filesystem refused the range (EINVAL): offsets and length must be aligned to its {bs}-byte block (a length may end at the source's end instead){}",
                        if bad.is_empty() { String::new() } else { format!("; not aligned: {}", bad.join(", ")) }
                    ),
                )
            }
            libc::EXDEV => Error::new(
                ErrorKind::Unsupported,
                Some(errno),
                format!("{what}: src and dst are on different filesystems (EXDEV); a clone needs one"),
            ),
            libc::EOPNOTSUPP | libc::ENOTTY | libc::ENOSYS => Error::new(
                ErrorKind::Unsupported,
                Some(errno),
                format!("{what}: this filesystem cannot share extents ({}); XFS with reflink=1, btrfs, bcachefs and OCFS2 can", super::errno_name(errno)),
            ),
            _ => classify(e, None, &[], what),
        }
    })?;
    job.advance(usize::try_from(len).unwrap_or(usize::MAX));
    Ok(())
}
