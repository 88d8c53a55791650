//! Transfers from a source that a buffered reader has read ahead of ([`transfer_buffered`]):
//! the bytes the reader holds go out first, then what the fd holds after them, as one transfer
//! with one Report. The faces use it for their languages' buffered readers (Python's
//! `io.BufferedReader` over a pipe or socket, a Go `bufio.Reader`, a C `FILE *`).

use std::ffi::CStr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::endpoint::{Endpoint, Name};
use crate::error::{Error, Result};
use crate::options::{Options, Strategy, SyncPolicy};
use crate::plan;
use crate::report::{Meter, Report};
use crate::sys;

/// Moves `read_ahead` — bytes a buffered reader of `src` has already read from the fd and not
/// yet given to its user — to `dst`, then what `src` holds after them, as one transfer: what
/// [`transfer`](crate::transfer) would move had the reader never read ahead.
///
/// The bytes go out through the engine like any others (from an in-memory file, `memfd`, by
/// whatever technique serves the destination), so `dst_offset`, the progress callback, the cancel
/// flag, a non-blocking or stalled destination and a broken pipe behave as for `transfer`.
/// `len` counts them: with `len` at most `read_ahead.len()`, the fd is not read at all.
/// Progress counts from the first of them; the Report covers both parts (its `strategy` is
/// the one that moved the last bytes). The caller then takes
/// `min(read_ahead.len(), moved)` bytes from its reader's buffer, `moved` being
/// [`Report::bytes`] or [`Error::bytes_moved`]: those went out, the rest of the buffer did
/// not.
///
/// A technique named with fallback off that cannot serve `src` → `dst` refuses before any of
/// the bytes goes out. `sync` applies once, at the end.
///
/// ```
/// use std::io::{Read, Seek, Write};
/// let (mut r, mut w) = std::io::pipe()?;
/// w.write_all(b"hello, buffered world")?;
/// drop(w);
/// let mut reader = std::io::BufReader::new(r);
/// let mut first = [0u8; 7];
/// reader.read_exact(&mut first)?; // "hello, ", and the rest is in the reader's buffer
/// let mut dst = tempfile::tempfile()?;
/// let held = reader.buffer().to_vec();
/// let report = zcopy::transfer_buffered(reader.get_ref(), &held, &dst, &zcopy::Options::default())?;
/// reader.consume(held.len().min(report.bytes as usize));
/// assert_eq!(report.bytes, 14);
/// let mut out = String::new();
/// dst.rewind()?;
/// dst.read_to_string(&mut out)?;
/// assert_eq!(out, "buffered world");
/// # use std::io::BufRead;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`transfer`](crate::transfer), with [`Error::bytes_moved`] counting the bytes read ahead
/// that went out; and [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) for a `src_offset`
/// (bytes read ahead come before the fd's position, so they follow no other offset).
pub fn transfer_buffered(
    src: impl AsFd,
    read_ahead: &[u8],
    dst: impl AsFd,
    opts: &Options<'_>,
) -> Result<Report> {
    let meter = Meter::start();
    let src = Endpoint::classify(src.as_fd(), "src")?;
    let dst = Endpoint::classify(dst.as_fd(), "dst")?;
    meter.finish_result(run(&src, read_ahead, &dst, opts))
}

/// [`transfer_buffered`], with messages naming the ends `src_name` and `dst_name` (as
/// [`transfer_named`](crate::transfer_named)); the bytes read ahead are "`src_name`'s read
/// buffer" ("src fd 5's read buffer" for a `src_name` of `fd 5`).
///
/// # Errors
/// As [`transfer_buffered`].
pub fn transfer_buffered_named(
    src: impl AsFd,
    src_name: &Path,
    read_ahead: &[u8],
    dst: impl AsFd,
    dst_name: &Path,
    opts: &Options<'_>,
) -> Result<Report> {
    let meter = Meter::start();
    let src = Endpoint::classify_as(src.as_fd(), Name::Path("src", src_name))?;
    let dst = Endpoint::classify_as(dst.as_fd(), Name::Path("dst", dst_name))?;
    meter.finish_result(run(&src, read_ahead, &dst, opts))
}

fn run(
    src: &Endpoint<'_>,
    read_ahead: &[u8],
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<Report> {
    if opts.src_offset.is_some() && !read_ahead.is_empty() {
        return Err(Error::invalid(format!(
            "{} has bytes read ahead of its position, which no src_offset can name: read from \
             the position (src_offset None)",
            src.name
        )));
    }
    let n = opts.len.map_or(read_ahead.len(), |l| {
        read_ahead
            .len()
            .min(usize::try_from(l).unwrap_or(usize::MAX))
    });
    if n == 0 || !may_start(src, dst, opts)? {
        return plan::run(src, dst, opts);
    }
    let head = send_head(src, &read_ahead[..n], dst, opts)?;
    let n = head.bytes;
    if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Err(Error::cancelled(format!(
            "transfer cancelled by the cancel flag after {n} bytes"
        ))
        .with_report(head));
    }
    let progress = |moved: u64| opts.progress.is_none_or(|p| p(n + moved));
    let rest_opts = Options {
        len: opts.len.map(|l| l.saturating_sub(n)),
        dst_offset: opts.dst_offset.map(|d| d.saturating_add(n)),
        progress: opts.progress.map(|_| &progress as crate::Progress<'_>),
        ..opts.clone()
    };
    match plan::run(src, dst, &rest_opts) {
        Ok(rest) => Ok(then(head, rest)),
        Err(e) => {
            let rest = e.report().cloned().unwrap_or_else(|| Report {
                bytes: e.bytes_moved(),
                ..Report::default()
            });
            Err(e.with_report(then(head, rest)))
        }
    }
}

/// Whether the transfer would start moving bytes: a technique named without fallback that
/// cannot serve the pair refuses before a byte moves, and then none read ahead may go out.
fn may_start(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<bool> {
    if opts.fallback || opts.strategy == Strategy::Auto {
        return Ok(true);
    }
    let list = plan::probe(src, dst)?;
    Ok(list
        .iter()
        .any(|s| s.strategy == opts.strategy && s.supported))
}

/// Sends `bytes` (read ahead of `src`) to `dst` from a memfd holding them: by whatever technique
/// serves the destination, with `opts`' offsets, cache, progress and cancel; the sync is left to
/// the rest of the transfer.
fn send_head(
    src: &Endpoint<'_>,
    bytes: &[u8],
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<Report> {
    let name = Name::ReadAhead(&src.name);
    let memfd = hold(bytes).map_err(|e| {
        Error::os(
            e,
            format_args!("cannot hold the {} bytes of {name} in a memfd", bytes.len()),
        )
    })?;
    let head = Endpoint::classify_as(memfd.as_fd(), name)?;
    plan::run(
        &head,
        dst,
        &Options {
            strategy: Strategy::Auto,
            fallback: true,
            src_offset: Some(0),
            len: Some(bytes.len() as u64),
            sync: SyncPolicy::None,
            direct_threshold: None,
            parallelism: None,
            ..opts.clone()
        },
    )
}

/// A memfd holding `bytes`.
fn hold(bytes: &[u8]) -> std::io::Result<sys::fs::Fd> {
    const NAME: &CStr = c"zcopy-read-ahead";
    let fd = sys::fs::memfd_create(NAME)?;
    let mut done = 0;
    while done < bytes.len() {
        done += sys::fs::pwrite(fd.as_fd(), &bytes[done..], done as u64)?;
    }
    Ok(fd)
}

/// The report of a transfer made in two parts, `head` then `rest`: bytes and modelled copies
/// summed; the technique, and the fallbacks before it, of the part that moved the last bytes.
/// The counters (time, syscalls, CPU) are the caller's [`Meter`]'s, over both.
fn then(head: Report, rest: Report) -> Report {
    let last = if rest.bytes == 0 && head.bytes > 0 {
        &head
    } else {
        &rest
    };
    Report {
        bytes: head.bytes + rest.bytes,
        strategy: last.strategy,
        fallbacks: last.fallbacks.clone(),
        cpu_copies_bytes: head.cpu_copies_bytes + rest.cpu_copies_bytes,
        dma_copies_bytes: head.dma_copies_bytes + rest.dma_copies_bytes,
        zerocopy_sends: head.zerocopy_sends + rest.zerocopy_sends,
        zerocopy_copied: head.zerocopy_copied + rest.zerocopy_copied,
        ..rest
    }
}
