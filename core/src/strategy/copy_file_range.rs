//! `copy_file_range`: `copy_file_range(2)` copies between two regular files inside the kernel;
//! filesystems that share extents (XFS with reflink, btrfs) clone instead of copying.
//!
//! At most 1 GiB per call. A source whose files report no true size (procfs, sysfs) is refused
//! before a call. A 0 from the first call when the source should have bytes means the
//! filesystem cannot do it (some network filesystems), not end of file: that is Unsupported, so
//! Auto moves on. Copy model: 1 CPU copy per byte inside the kernel (0 when the
//! filesystem clones, which the call does not tell), plus one DMA copy at each end.
//! Syscalls: 1 per GiB, plus 1 to see end of file when no `len` is given.

use super::{classify, dma_ends, no_append, true_size, Family, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;

/// The most asked of one call: 1 GiB.
pub(crate) const MAX_PER_CALL: u64 = 1 << 30;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::CopyFileRange,
    family: Some(Family::CopyFileRange),
    supports,
    run,
    model: |job| CopyModel {
        cpu: 1,
        dma: dma_ends(job),
    },
};

const REFUSALS: &[i32] = &[
    libc::EINVAL,
    libc::EXDEV,
    libc::EOPNOTSUPP,
    libc::ENOSYS,
    libc::EBADF,
    libc::ETXTBSY,
];

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    for ep in [job.src, job.dst] {
        if ep.kind != Kind::File {
            return Err(format!(
                "copies between regular files only; {} is {}",
                ep.name, ep.kind
            ));
        }
    }
    true_size(job)?;
    no_append(job, "copy_file_range")
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let mut moved_here = 0u64;
    while let Some(n) = job.next_chunk(MAX_PER_CALL)? {
        let (mut so, mut dof) = (job.src_off, job.dst_off);
        let k = sys::fs::copy_file_range(job.src.fd, so.as_mut(), job.dst.fd, dof.as_mut(), n)
            .map_err(|e| {
                let refusals = if moved_here == 0 {
                    REFUSALS
                } else {
                    &[libc::EXDEV, libc::EOPNOTSUPP][..]
                };
                let what =
                    format_args!("copy_file_range from {} to {}", job.src.name, job.dst.name);
                classify(e, Some(Family::CopyFileRange), refusals, what)
            })?;
        if k == 0 {
            if moved_here == 0 && refuses_silently(job)? {
                return Err(Error::unsupported(format!(
                    "copy_file_range copied nothing from {} although it holds bytes (some network filesystems do this)",
                    job.src.name
                )));
            }
            return Ok(());
        }
        moved_here += k as u64;
        job.advance(k);
    }
    Ok(())
}

/// After a 0 from the first call: is that "end of file" or "this filesystem copies nothing"?
/// A source with bytes past the offset says the latter (files that report no true size were
/// refused before: [`super::true_size`]). The size seen at classification says so first; an
/// `fstat` then tells whether it still holds them: a [`Prepared`](crate::Prepared) run may
/// bring a size older than the file (it need not look again for a range within it), and the
/// file may have shrunk since. One syscall, made only on this path.
fn refuses_silently(job: &Job<'_, '_>) -> Result<bool> {
    let at = match job.src_off {
        Some(o) => o,
        None => super::position(job.src)?,
    };
    if at >= job.src.size {
        return Ok(false);
    }
    let st = sys::fs::fstat(job.src.fd)
        .map_err(|e| Error::os(e, format_args!("fstat on {}", job.src.name)))?;
    Ok(at < u64::try_from(st.st_size).unwrap_or(0))
}
