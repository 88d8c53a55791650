//! `mmap_write`: map the source in windows (`mmap`), `write` from the mapping.
//!
//! Needs a regular file as source, one that reports its true size (not procfs or sysfs:
//! [`super::true_size`]); a file the kernel cannot map (`ENODEV`, `EACCES`) is Unsupported. The engine never reads the mapped pages itself: only the
//! kernel does, inside `write`, so a source truncated under us yields `EFAULT` or a short count,
//! never `SIGBUS` in the host (see `sys::mm::Mapping`). Copy model: 1 CPU copy per byte (page
//! cache → destination inside `write`), plus one DMA copy at each end backed by a device.
//! Syscalls: `mmap` + `write` + `munmap` per window (a write per 512 KiB of it for more than
//! 64 MiB into a regular file), plus one `fstat` per window. The runs of a
//! [`Prepared`](crate::Prepared) transfer keep their last window mapped ([`KeptMapping`]): a run
//! whose range it covers makes neither `mmap` nor `munmap`, and takes no page faults for the
//! pages an earlier run touched.

use super::{dma_ends, true_size, Job, Technique};
use crate::endpoint::Kind;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Strategy;
use crate::report::CopyModel;
use crate::sys;
use crate::sys::mm::Mapping;

/// The default window: 4 MiB.
pub(crate) const DEFAULT_WINDOW: u64 = 4 << 20;

pub(crate) const TECHNIQUE: Technique = Technique {
    strategy: Strategy::MmapWrite,
    family: None,
    supports,
    run,
    model: |job| CopyModel {
        cpu: 1,
        dma: dma_ends(job),
    },
};

fn supports(job: &Job<'_, '_>) -> std::result::Result<(), String> {
    if job.src.kind != Kind::File {
        return Err(format!(
            "needs a regular file to map; {} is {}",
            job.src.name, job.src.kind
        ));
    }
    true_size(job)
}

fn run(job: &mut Job<'_, '_>) -> Result<()> {
    let page = sys::mm::page_size();
    let start = job.src_offset()?;
    // Into a regular file, more than 64 MiB: writes of at most 512 KiB, so the page cache's
    // new folios stay at most that big (see splice's `BIG_FILE_PIPE`: bigger ones land on
    // memory a VM's host took back). Measured (256 MiB hot file → file, 15 shuffled rounds):
    // with one 4 MiB write per window, 12 of 15 rounds spent 0.45–1.55 CPU s/GB (median
    // 0.819); with 512 KiB writes, 11 rounds: none, median 0.156 s/GB, 1.42× read_write.
    let most = job.remaining.unwrap_or(job.src.size.saturating_sub(start));
    let piece = if job.dst.kind == Kind::File && most > super::splice::BIG_FILE_FROM {
        super::splice::BIG_FILE_PIPE as usize
    } else {
        usize::MAX
    };
    // A prepared transfer's kept window, under the `keep` cache policy, unless a parallel
    // worker of the same run holds it (that worker keeps it; this one maps its own windows).
    let slot = job.src.kept_mapping.clone().filter(|_| job.cache_keep);
    let mut kept = slot.as_deref().and_then(|k| k.0.try_lock().ok());
    loop {
        let Some(n) = job.next_chunk(DEFAULT_WINDOW)? else {
            return Ok(());
        };
        let off = job.src_offset()?;
        // The size now, not the one seen at the last window: a source cut since (by the
        // progress callback, say) has its new end in a page whose tail reads as zeros, and
        // those zeros must not be written out as the source's bytes. One fstat per window.
        let size = current_size(job)?;
        if off >= size {
            if off > size && off > start {
                // The source shrank below bytes already sent.
                return Err(Error::new(
                    ErrorKind::Io,
                    Some(libc::EFAULT),
                    format!(
                        "{} shrank to {size} bytes during mmap_write, after bytes up to offset {off} had been sent",
                        job.src.name
                    ),
                ));
            }
            // The end of the file, as it is now (it may have grown since the transfer began).
            return Ok(());
        }
        let n = (n as u64).min(size - off);
        let base = off - off % page;
        let window = match kept.as_deref_mut() {
            Some(slot) => from_kept(slot, job, (base, off, n), piece)?,
            None => {
                let delta = (off - base) as usize;
                let map = Mapping::map(job.src.fd, base, delta + n as usize)
                    .map_err(|e| refused(e, job))?;
                write_window(job, &map, delta, delta + n as usize, piece)?
            }
        };
        if window == Window::SourceEnded {
            return Ok(());
        }
    }
}

/// The window a [`Prepared`](crate::Prepared) transfer keeps mapped between its runs, in the
/// slot of its source ([`Endpoint::kept_mapping`](crate::endpoint::Endpoint)): a run over the
/// same bytes of the file (a server sending one file again, a log consumer reading on in one
/// segment) writes from it with no `mmap`, no `munmap`, and no page faults for the pages
/// earlier runs touched. It maps at least [`DEFAULT_WINDOW`] from the window's start, past the
/// file's end if need be: mapping past the end is allowed, and only ranges within the size
/// just seen by `fstat` are written, so a file that grows is read on from the same mapping.
/// Unmapped when the `Prepared` is dropped, when a run needs a window it does not cover, and
/// before a run with another cache policy than `keep` (a mapped page is not dropped from the
/// cache by `POSIX_FADV_DONTNEED`).
#[derive(Debug, Default)]
pub(crate) struct KeptMapping(std::sync::Mutex<Option<Kept>>);

impl KeptMapping {
    /// Unmaps the kept window, if any (one `munmap`).
    pub(crate) fn release(&self) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = None;
        }
    }
}

/// A kept window: its mapping and the file offset it starts at.
#[derive(Debug)]
pub(crate) struct Kept {
    base: u64,
    map: Mapping,
}

/// Writes source bytes `off..off + n` (within the size just seen) from the window kept in
/// `slot`, in writes of at most `piece` bytes, first mapping one from the page-aligned `base`
/// when the kept one does not cover them.
fn from_kept(
    slot: &mut Option<Kept>,
    job: &mut Job<'_, '_>,
    (base, off, n): (u64, u64, u64),
    piece: usize,
) -> Result<Window> {
    let covers = |k: &&Kept| k.base <= off && off.saturating_add(n) <= k.base + k.map.len() as u64;
    let k = match slot.as_ref().filter(covers) {
        Some(k) => k,
        None => {
            // The old window goes first: two windows are never mapped at once.
            *slot = None;
            let len = ((off - base) + n).max(DEFAULT_WINDOW) as usize;
            let map = Mapping::map(job.src.fd, base, len).map_err(|e| refused(e, job))?;
            slot.insert(Kept { base, map })
        }
    };
    let from = (off - k.base) as usize;
    write_window(job, &k.map, from, from + n as usize, piece)
}

/// How writing a window ended.
#[derive(PartialEq, Eq)]
enum Window {
    /// Every byte of it was written.
    Written,
    /// The source was truncated to the offset reached, and the transfer runs to end of file:
    /// that is its end.
    SourceEnded,
}

/// Writes bytes `done..end` of the mapping `map` (`end` at most its length), as many writes
/// as the destination takes, each of at most `piece` bytes.
fn write_window(
    job: &mut Job<'_, '_>,
    map: &Mapping,
    mut done: usize,
    end: usize,
    piece: usize,
) -> Result<Window> {
    let end = end.min(map.len());
    while done < end {
        let len = (end - done).min(piece);
        // SAFETY: `done < end <= map.len()` and `len <= end - done`, so the pointer and length
        // stay inside the mapping, which outlives this call; only the kernel reads it
        // (Mapping's type-level Safety).
        let r = unsafe {
            let ptr = map.as_ptr().add(done);
            match job.dst_off {
                Some(o) => sys::fs::pwrite_raw(job.dst.fd, ptr, len, o),
                // A full pipe or stalled socket must not hold the write: its wait is cut.
                None if job.dst_ticks => sys::fs::write_raw_nowait(job.dst.fd, ptr, len),
                None => sys::fs::write_raw(job.dst.fd, ptr, len),
            }
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
                if done < end {
                    job.interrupted_write()?;
                }
            }
            Err(e) if job.retry_stalled_dst(&e)? => {}
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => return truncated(job),
            Err(e) => return Err(Error::os(e, format_args!("write to {}", job.dst.name))),
        }
    }
    Ok(Window::Written)
}

/// A write from the mapping failed with `EFAULT`: the mapped pages vanished, the source was
/// truncated under us. The end of the transfer if it runs to end of file and the source now
/// ends exactly at the offset reached; an error otherwise.
fn truncated(job: &Job<'_, '_>) -> Result<Window> {
    let now = current_size(job)?;
    let at = job.src_off.unwrap_or(0);
    if job.to_eof() && now == at {
        return Ok(Window::SourceEnded);
    }
    Err(Error::new(
        ErrorKind::Io,
        Some(libc::EFAULT),
        format!(
            "{} was truncated to {now} bytes during mmap_write (EFAULT at offset {at})",
            job.src.name
        ),
    ))
}

/// An `mmap` failure: `ENODEV` (the file's filesystem or driver cannot map it) and `EACCES`
/// (a special mapping that refuses reads) are the kernel refusing the file: Unsupported, so Auto
/// moves on from the exact offset reached. Anything else is an OS failure.
fn refused(e: std::io::Error, job: &Job<'_, '_>) -> Error {
    match e.raw_os_error() {
        Some(errno @ (libc::ENODEV | libc::EACCES)) => Error::new(
            ErrorKind::Unsupported,
            Some(errno),
            format!(
                "mmap of {}: the kernel cannot map this file ({})",
                job.src.name,
                super::errno_name(errno)
            ),
        ),
        _ => Error::os(e, format_args!("mmap of {}", job.src.name)),
    }
}

fn current_size(job: &Job<'_, '_>) -> Result<u64> {
    sys::fs::fstat(job.src.fd)
        .map(|st| st.st_size.max(0) as u64)
        .map_err(|e| Error::os(e, format_args!("fstat on {}", job.src.name)))
}
