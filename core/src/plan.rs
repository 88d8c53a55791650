//! The planner: classifies both fds once, checks the request, orders the techniques for the
//! pair, runs them, and falls back when one cannot serve it.

use crate::endpoint::{fs_type_of, magic, Endpoint, Kind};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, Strategy};
use crate::report::{Fallback, Report};
use crate::strategy::{self, Job, Technique};
use crate::sys;

/// The largest `chunk_size`: a buffer, window or pipe of 1 GiB per syscall (io_uring holds
/// `queue_depth` of them). Larger sizes gain nothing and overflow the buffer arithmetic.
pub(crate) const MAX_CHUNK: u64 = 1 << 30;

/// Checks the request against what the fds are; an error names what was wrong.
pub(crate) fn validate(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<()> {
    validate_ends(src, dst, opts)?;
    validate_range(src, dst, opts)
}

/// The checks of [`validate`] that need neither offsets nor a length: each end usable in its
/// direction, the options in range (what a [`Prepared`](crate::Prepared) checks once).
pub(crate) fn validate_ends(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<()> {
    src.usable()?;
    dst.usable()?;
    if src.access() == libc::O_WRONLY {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(libc::EBADF),
            format!("{} is opened write-only", src.name),
        ));
    }
    if dst.access() == libc::O_RDONLY {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(libc::EBADF),
            format!("{} is opened read-only", dst.name),
        ));
    }
    if let Some(q) = opts.queue_depth {
        if !(1..=1024).contains(&q) {
            return Err(Error::invalid(format!(
                "queue_depth {q} is out of range: 1 to 1024"
            )));
        }
    }
    if let Some(c) = opts.chunk_size.filter(|&c| c > MAX_CHUNK) {
        return Err(Error::invalid(format!(
            "chunk_size {c} is out of range: at most {MAX_CHUNK} (1 GiB) bytes per syscall"
        )));
    }
    if let Some(p) = opts.parallelism {
        if p > crate::options::MAX_PARALLELISM {
            return Err(Error::invalid(format!(
                "parallelism {p} is out of range: 0 to {} threads",
                crate::options::MAX_PARALLELISM
            )));
        }
    }
    Ok(())
}

/// The checks of [`validate`] on the offsets and length: offsets only where the fd has them,
/// a length for an endless source, no offset past 2^63 - 1, no overlap within one file.
fn validate_range(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<()> {
    validate_offsets_apply(src, dst, opts)?;
    validate_offsets_fit(opts)?;
    validate_no_overlap(src, dst, opts)
}

/// Offsets only where the fd has them (and none for an `O_APPEND` destination); a length for
/// a source that never ends.
fn validate_offsets_apply(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<()> {
    if opts.src_offset.is_some() && !src.seekable() {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(libc::ESPIPE),
            format!(
                "src_offset given, but {} is {}, which has no offsets",
                src.name, src.kind
            ),
        ));
    }
    if opts.dst_offset.is_some() && !dst.seekable() {
        return Err(Error::new(
            ErrorKind::Invalid,
            Some(libc::ESPIPE),
            format!(
                "dst_offset given, but {} is {}, which has no offsets",
                dst.name, dst.kind
            ),
        ));
    }
    if opts.dst_offset.is_some() && dst.append() {
        return Err(Error::invalid(format!(
            "dst_offset given, but {} is O_APPEND: every write goes to its end",
            dst.name
        )));
    }
    if let (Some(dev), None) = (src.endless(), opts.len) {
        return Err(Error::invalid(format!(
            "{} is {dev}, which never ends: give a len",
            src.name
        )));
    }
    Ok(())
}

/// No offset, nor offset plus length, past the largest file offset (2^63 - 1).
fn validate_offsets_fit(opts: &Options<'_>) -> Result<()> {
    const MAX: u64 = i64::MAX as u64;
    for (what, off) in [
        ("src_offset", opts.src_offset),
        ("dst_offset", opts.dst_offset),
    ] {
        if let Some(o) = off {
            if o > MAX
                || opts
                    .len
                    .is_some_and(|l| o.checked_add(l).is_none_or(|end| end > MAX))
            {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    Some(libc::EOVERFLOW),
                    format!(
                        "{what} {o} plus len {} is past the largest file offset (2^63 - 1)",
                        opts.len.unwrap_or(0)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Within one file (source and destination the same inode), the two ranges must not overlap.
fn validate_no_overlap(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<()> {
    if src.kind == Kind::File && dst.kind == Kind::File && src.dev == dst.dev && src.ino == dst.ino
    {
        let pos = |ep: &Endpoint<'_>, off: Option<u64>| -> Result<u64> {
            match off {
                Some(o) => Ok(o),
                None => sys::fs::lseek(ep.fd, 0, libc::SEEK_CUR)
                    .map_err(|e| Error::os(e, format_args!("lseek on {}", ep.name))),
            }
        };
        let s = pos(src, opts.src_offset)?;
        let d = if dst.append() {
            dst.size
        } else {
            pos(dst, opts.dst_offset)?
        };
        let len = opts.len.unwrap_or(u64::MAX).min(src.size.saturating_sub(s));
        if len > 0 && s < d.saturating_add(len) && d < s.saturating_add(len) {
            return Err(Error::invalid(format!(
                "{} and {} are the same file and the ranges overlap (src {s}..{}, dst {d}..{})",
                src.name,
                dst.name,
                s + len,
                d + len
            )));
        }
    }
    Ok(())
}

/// Auto's order of techniques for a pair (measured on machines like ours: FACTS.md).
///
/// file→file: `copy_file_range` first: one syscall per GiB, the best on a cold source, and a
/// clone on filesystems that share extents (up to 8 KiB where no clone is possible,
/// `read_write` goes first: see [`READ_WRITE_UP_TO`]; from 1 to 64 MiB on ext4 and tmpfs,
/// `splice`: see [`SPLICE_FIRST`]). To a blocking socket's loopback TCP peer, a hot source of
/// 1 MiB or more goes by `mmap_write` first (see [`MMAP_TO_LOOPBACK`]). To a socket or a pipe: `sendfile` (one syscall per
/// chunk, the least sender CPU), then `splice`. From a pipe or socket: `splice`. `read_write`
/// serves every pair and closes every list.
///
/// File → pipe stays `sendfile` first at 64 KiB: a full bench (15 rounds) had Auto (sendfile)
/// at 0.80× splice's GB/s there, but 21 interleaved rounds of that cell alone gave Auto ÷ splice
/// 1.01× [0.29–6.81] with the same 11 syscalls per op and the same CPU per GB (0.120 against
/// 0.120 s/GB, medians): the wall time of a pipe whose reader is another thread on 2 shared
/// cores swings 3–15×, the work done does not.
pub(crate) fn auto_order(src: &Endpoint<'_>, dst: &Endpoint<'_>) -> &'static [Strategy] {
    use Strategy::*;
    match (src.kind, dst.kind) {
        (Kind::File, Kind::File) => &[CopyFileRange, Sendfile, Splice, ReadWrite],
        (Kind::File | Kind::BlockDevice, _) => &[Sendfile, Splice, ReadWrite],
        (Kind::Pipe | Kind::Socket, _) => &[Splice, ReadWrite],
        _ => &[ReadWrite],
    }
}

/// The sizes at which Auto copies file → file with `splice` through its 1 MiB pipe rather
/// than `copy_file_range`, where the filesystem cannot clone (ext4, tmpfs). There the kernel's
/// copy_file_range is a splice through its own 64 KiB pipe; zcopy's 1 MiB pipe takes 16 times
/// fewer trips. Measured on this project's machines (ext4, source hot, medians of 5 rounds):
/// splice ÷ copy_file_range = 0.64× at 64 KiB, 0.84× at 256 KiB, 1.14× at 1 MiB, 1.31× at
/// 4 MiB, 1.28× at 16 MiB, 1.19× at 64 MiB, and well below 1 at 256 MiB; a tie (0.98–1.01×)
/// with a cold source. (A cold 1 MiB cell of a full bench once showed Auto, splicing, at 0.89×
/// copy_file_range; 21 interleaved rounds of that cell alone: splice ÷ copy_file_range 1.04×
/// [0.39–2.14] GB/s, below 1 in 10 of 21 rounds, CPU per GB 1.03×; Auto ÷ copy_file_range
/// 1.07×, CPU 0.97×: the disk, not the technique, bounds a cold copy.) Above 64 MiB splice goes first only when the destination's blocks are
/// reserved before the copy (see [`splice_first`]).
const SPLICE_FIRST: std::ops::RangeInclusive<u64> = (1 << 20)..=(64 << 20);

/// The most a transfer from a regular file can move, known without a syscall: the source's
/// size from `src_offset` (from byte 0 when the fd's position is used, which is not asked
/// for), capped by `len`.
fn most_to_move(src: &Endpoint<'_>, opts: &Options<'_>) -> u64 {
    src.size
        .saturating_sub(opts.src_offset.unwrap_or(0))
        .min(opts.len.unwrap_or(u64::MAX))
}

/// Whether Auto should try `splice` before `copy_file_range` for this file → file transfer:
/// its length is in [`SPLICE_FIRST`], or larger with the destination's blocks reserved first
/// ([`prealloc`](crate::prealloc): then the copy, not the allocation, is the bound, and
/// splice's pipe, 512 KiB at these sizes (see
/// [`BIG_FILE_PIPE`](crate::strategy::splice::BIG_FILE_PIPE)), beats copy_file_range's 64 KiB
/// one), and both files are on filesystems
/// that cannot share extents (so copy_file_range would copy, not clone). Two `fstatfs` calls,
/// made only for transfers of 1 MiB or more.
fn splice_first(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if opts.strategy != Strategy::Auto || (src.kind, dst.kind) != (Kind::File, Kind::File) {
        return false;
    }
    let len = most_to_move(src, opts);
    let reserved = len > *SPLICE_FIRST.end() && crate::prealloc::applies(src, dst, opts);
    if !(SPLICE_FIRST.contains(&len) || reserved) || dst.append() {
        return false;
    }
    let copies = |ep: &Endpoint<'_>| {
        fs_type_of(ep).is_some_and(|t| [magic::EXT4, magic::TMPFS].contains(&t))
    };
    copies(src) && copies(dst)
}

/// Filesystems whose `copy_file_range` can clone (share extents) instead of copying.
const CLONING: &[i64] = &[magic::XFS, magic::BTRFS, magic::BCACHEFS, magic::OCFS2];

/// The length up to which Auto copies file → file with `read_write` first, on filesystems that
/// cannot clone (ext4, tmpfs, ...: see [`CLONING`]). Below a few pages the
/// fixed cost of a call dominates, and `copy_file_range` (the kernel's splice through its own
/// pipe, or a clone) costs a little more per call than a read and a write through a buffer.
/// Measured on this project's machines (source hot, `zcopy bench`, medians of 7 rounds,
/// copy_file_range ÷ read_write): 4 KiB 0.96× on ext4 and 0.97× on tmpfs, 8 KiB 0.97× and
/// 1.00×, 16 KiB 1.03× and 1.06×, 32 KiB 1.10× and 1.08×. The length is known without a
/// syscall (the source's size from its first byte is an upper bound).
const READ_WRITE_UP_TO: u64 = 8 << 10;

/// Whether Auto should try `read_write` first for this file → file transfer: at most
/// [`READ_WRITE_UP_TO`] bytes can be moved, and neither file is on a filesystem that clones
/// (asked once per mount: [`fs_type_of`]).
fn read_write_first(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if opts.strategy != Strategy::Auto || (src.kind, dst.kind) != (Kind::File, Kind::File) {
        return false;
    }
    let len = most_to_move(src, opts);
    // A size of 0 may be a procfs or sysfs file whose bytes fstat does not count: read_write is
    // what serves those too. Where copy_file_range would clone, it goes first at every size (a
    // clone shares the blocks); an unknown filesystem type counts as one that cannot.
    len <= READ_WRITE_UP_TO
        && ![src, dst]
            .iter()
            .any(|ep| fs_type_of(ep).is_some_and(|t| CLONING.contains(&t)))
}

/// The length from which Auto sends a file already in the page cache to a loopback TCP peer
/// with `mmap_write`. With no NIC to DMA from page-cache pages, the kernel copies anyway; big
/// writes from a mapping (4 MiB windows) become big socket buffers, where `sendfile` hands the
/// stack one 4 KiB page fragment at a time. Measured on this project's machines (loopback TCP,
/// medians of 5 rounds, against read_write): mmap_write 1.48×, 1.29×, 1.67× at 1, 16, 64 MiB hot
/// where sendfile gave 0.96–0.99×; with a cold source mmap_write fell to 0.86–0.95× and
/// sendfile stays first.
///
/// Not to a non-blocking socket: that is an event loop's (asyncio, uvloop, a reactor), which
/// serves many peers from one thread and pays for the sender's CPU, not one stream's speed.
/// mmap_write copies the bytes in the sender where sendfile leaves the copy to the reader's
/// `recv`, and a write the socket takes in part maps and faults the window again on the next
/// call. Measured (1 MiB hot, loopback, sender CPU per transfer, mmap_write ÷ sendfile,
/// medians of 9 interleaved rounds with the spread): to a non-blocking socket drained by
/// another process 1.27× [1.08–1.65] (1.09× to a blocking one); in
/// `examples/python/async_static.py` under `wrk` (asyncio, `zcopy.atransfer`), server CPU per
/// request 1.29× [1.02–1.93] and requests/s 0.91×.
const MMAP_TO_LOOPBACK: u64 = 1 << 20;

/// Whether Auto should try `mmap_write` first: file → blocking TCP socket whose peer is a
/// loopback address, at least [`MMAP_TO_LOOPBACK`] bytes, all of them in the page cache. Costs
/// `SO_DOMAIN`, `getpeername` and `cachestat` (and an `lseek` from the fd's position), made only
/// for transfers of that size to a socket.
fn mmap_first(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if opts.strategy != Strategy::Auto
        || (src.kind, dst.kind) != (Kind::File, Kind::Socket)
        || dst.flags & libc::O_NONBLOCK != 0
    {
        return false;
    }
    let start = match opts.src_offset {
        Some(o) => o,
        None => match crate::strategy::position(src) {
            Ok(p) => p,
            Err(_) => return false,
        },
    };
    let len = src
        .size
        .saturating_sub(start)
        .min(opts.len.unwrap_or(u64::MAX));
    if len < MMAP_TO_LOOPBACK
        || !dst.has_device()
        || !sys::net::peer_is_loopback(dst.fd).unwrap_or(false)
    {
        return false;
    }
    let pages = len.div_ceil(sys::mm::page_size());
    sys::fs::cachestat(src.fd, start, len).is_ok_and(|cs| cs.nr_cache >= pages)
}

/// The rule that ordered Auto's list for a transfer (see [`auto_rule`]), told by
/// [`auto_choice`](crate::auto_choice) as a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// At or above `direct_threshold`: io_uring in direct mode, then direct.
    Direct { len: u64, threshold: u64 },
    /// A hot file of 1 MiB or more to a blocking socket's loopback TCP peer: mmap_write
    /// ([`mmap_first`]).
    MmapLoopback { len: u64 },
    /// A file → file transfer of at most 8 KiB where no clone is possible ([`read_write_first`]).
    ReadWriteSmall { len: u64 },
    /// A file → file transfer of 1 to 64 MiB on ext4 or tmpfs ([`splice_first`]).
    SpliceMid { len: u64 },
    /// The `dontcache` cache policy: only read_write passes `RWF_DONTCACHE`.
    DontCache,
    /// The pair's own order ([`auto_order`]).
    Pair,
}

/// Auto's buffered order for the pair (the direct threshold aside) and the rule that chose it.
/// The special rules apply only when `opts.strategy` is Auto (each checks).
fn auto_rule(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> (&'static [Strategy], Rule) {
    if opts.cache == crate::CachePolicy::DontCache {
        (&[Strategy::ReadWrite], Rule::DontCache)
    } else if mmap_first(src, dst, opts) {
        let len = most_to_move(src, opts);
        (
            &[
                Strategy::MmapWrite,
                Strategy::Sendfile,
                Strategy::Splice,
                Strategy::ReadWrite,
            ],
            Rule::MmapLoopback { len },
        )
    } else if read_write_first(src, dst, opts) {
        (
            &[
                Strategy::ReadWrite,
                Strategy::CopyFileRange,
                Strategy::Sendfile,
                Strategy::Splice,
            ],
            Rule::ReadWriteSmall {
                len: most_to_move(src, opts),
            },
        )
    } else if splice_first(src, dst, opts) {
        (
            &[
                Strategy::Splice,
                Strategy::CopyFileRange,
                Strategy::Sendfile,
                Strategy::ReadWrite,
            ],
            Rule::SpliceMid {
                len: most_to_move(src, opts),
            },
        )
    } else {
        (auto_order(src, dst), Rule::Pair)
    }
}

/// The bytes a transfer from a file will move, from the source's start (its position for a
/// `None` offset) to its end or `len`, and whether that reaches `direct_threshold` (for Auto
/// and io_uring only, as nginx's `directio`).
fn direct_len(src: &Endpoint<'_>, opts: &Options<'_>) -> Result<Option<(u64, u64)>> {
    match opts.direct_threshold {
        Some(t)
            if matches!(opts.strategy, Strategy::Auto | Strategy::IoUring)
                && src.kind == Kind::File =>
        {
            let start = match opts.src_offset {
                Some(o) => o,
                None => crate::strategy::position(src)?,
            };
            let len = opts.len.unwrap_or(src.size.saturating_sub(start));
            Ok((len >= t).then_some((len, t)))
        }
        _ => Ok(None),
    }
}

/// The techniques to try, in order, and whether the transfer reached the direct threshold.
fn candidates(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<(Vec<Strategy>, bool)> {
    let auto = auto_order(src, dst);
    let big = direct_len(src, opts)?.is_some();
    if big && opts.strategy == Strategy::Auto {
        // nginx's rule (`aio on; directio N;`): at or above the threshold, bypass the page
        // cache, asynchronously where io_uring is available.
        let list = [Strategy::IoUring, Strategy::Direct]
            .into_iter()
            .chain(auto.iter().copied());
        let list = if opts.fallback {
            list.collect()
        } else {
            list.take(1).collect()
        };
        return Ok((list, true));
    }
    let (auto, _) = auto_rule(src, dst, opts);
    let list = match opts.strategy {
        Strategy::Auto if opts.fallback => auto.to_vec(),
        Strategy::Auto => auto.iter().take(1).copied().collect(),
        named if opts.fallback => std::iter::once(named)
            .chain(auto.iter().copied().filter(|&s| s != named))
            .collect(),
        named => vec![named],
    };
    Ok((list, big))
}

/// What Auto would do for a pair, as [`auto_choice`](crate::auto_choice) tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AutoChoice {
    /// The techniques Auto tries, in order (it falls back along this list).
    pub order: Vec<Strategy>,
    /// The first of them the pair supports, as [`probe`](crate::probe) judges it: what Auto
    /// runs first. `None` when none does.
    pub first: Option<Strategy>,
    /// Why this order, in one sentence: the rule that chose it, with the size, the kinds of
    /// file and the filesystems that decided; and, when the head of the order cannot serve
    /// the pair, why Auto starts further down.
    pub why: String,
}

/// Auto's order for `src` → `dst` under `opts` (its strategy taken as Auto), the first
/// technique the pair supports, and why. Moves nothing.
pub(crate) fn auto_choice(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
) -> Result<AutoChoice> {
    let opts = Options {
        strategy: Strategy::Auto,
        fallback: true,
        progress: None,
        cancel: None,
        ..opts.clone()
    };
    let verdicts = probe(src, dst)?;
    let (order, _) = candidates(src, dst, &opts)?;
    let rule = match direct_len(src, &opts)? {
        Some((len, threshold)) => Rule::Direct { len, threshold },
        None => auto_rule(src, dst, &opts).1,
    };
    let verdict = |s: Strategy| verdicts.iter().find(|v| v.strategy == s);
    let first = order
        .iter()
        .copied()
        .find(|&s| verdict(s).is_some_and(|v| v.supported));
    let mut why = rule_text(rule, src, dst);
    let skipped: Vec<String> = order
        .iter()
        .take_while(|&&s| Some(s) != first)
        .filter_map(|&s| verdict(s).map(|v| format!("{s}: {}", v.reason)))
        .collect();
    if !skipped.is_empty() {
        why += &format!(
            "; {} cannot serve this pair ({})",
            if skipped.len() == 1 {
                "the head of the order"
            } else {
                "the first ones"
            },
            skipped.join("; ")
        );
        if let Some(f) = first {
            why += &format!(", so Auto starts with {f}");
        }
    }
    Ok(AutoChoice { order, first, why })
}

/// The sentence for a rule.
fn rule_text(rule: Rule, src: &Endpoint<'_>, dst: &Endpoint<'_>) -> String {
    let fss = || format!("{} → {}", fs_name(src), fs_name(dst));
    match rule {
        Rule::Direct { len, threshold } => format!(
            "{len} bytes to move reach direct_threshold ({threshold}): io_uring in direct mode, then direct, read with O_DIRECT and leave the page cache alone (nginx's directio), before the usual order"
        ),
        Rule::MmapLoopback { len } => format!(
            "a file of {len} bytes, all in the page cache, to a blocking socket's loopback TCP peer: no NIC to DMA from the cache, so the kernel copies anyway, and big writes from a mapping beat sendfile's 4 KiB fragments"
        ),
        Rule::ReadWriteSmall { len } => format!(
            "file → file of {len} bytes (at most 8 KiB) on {} (no clone possible): a call's fixed cost dominates, so a read and a write through a buffer go first",
            fss()
        ),
        Rule::SpliceMid { len } if len > *SPLICE_FIRST.end() => format!(
            "file → file of {len} bytes on {}, the destination's blocks reserved first (fallocate): the copy, not the allocation, is then the bound, and splice through zcopy's 512 KiB pipe (1 MiB up to 64 MiB: bigger new page-cache folios land on memory a VM's host took back) beats copy_file_range's 64 KiB one",
            fss()
        ),
        Rule::SpliceMid { len } => format!(
            "file → file of {len} bytes (1 to 64 MiB) on {}: there copy_file_range is the kernel's splice through a 64 KiB pipe; splice through zcopy's 1 MiB pipe takes 16 times fewer trips",
            fss()
        ),
        Rule::DontCache => "cache=dontcache: read_write reads and writes the files with preadv2 and pwritev2 and RWF_DONTCACHE (uncached buffered I/O), which no other technique can pass; where the kernel or filesystem refuses it, the copy runs with drop_after".to_string(),
        Rule::Pair => match (src.kind, dst.kind) {
            (Kind::File, Kind::File) => format!(
                "file → file of {} bytes on {}: copy_file_range moves up to 1 GiB per syscall in the kernel, and clones where the filesystem shares extents (read_write goes first only up to 8 KiB, splice only from 1 to 64 MiB on ext4 or tmpfs)",
                src.size,
                fss()
            ),
            (Kind::File | Kind::BlockDevice, k) => format!(
                "{} → {k}: sendfile moves the pages in the kernel, one syscall per chunk, with the least CPU for the sender",
                src.kind
            ),
            (Kind::Pipe | Kind::Socket, _) => format!(
                "from {}: splice moves the pages by reference, without copying them",
                src.kind
            ),
            (s, d) => format!("{s} → {d}: only read_write serves this pair"),
        },
    }
}

/// The name of the filesystem `ep` lives on, for messages: the type `/proc/self/mountinfo`
/// gives its device (`ext4`, `xfs`, `overlay`), else the name of its magic number, else the
/// number itself.
fn fs_name(ep: &Endpoint<'_>) -> String {
    if let Some(name) = sys::fs::mount_fstype(ep.dev) {
        return name;
    }
    match ep.fs_type() {
        Some(t) => magic::name(t).map_or_else(|| format!("statfs type {t:#x}"), str::to_string),
        None => "an unknown filesystem".to_string(),
    }
}

/// Runs a transfer between two classified endpoints. The counters of the report are left to the
/// caller's [`Meter`](crate::report::Meter).
pub(crate) fn run(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<Report> {
    let result = run_policy(src, dst, opts);
    match result {
        // cache=dontcache where the kernel or filesystem refuses RWF_DONTCACHE: Auto (or a
        // named technique with fallback) copies with drop_after instead, and says so.
        Err(e)
            if opts.cache == crate::CachePolicy::DontCache
                && e.kind() == ErrorKind::Unsupported
                && e.bytes_moved() == 0
                && (opts.strategy == Strategy::Auto || opts.fallback) =>
        {
            let again = Options {
                cache: crate::CachePolicy::DropAfter,
                ..opts.clone()
            };
            let mut tried: Vec<Fallback> =
                e.report().map_or_else(Vec::new, |r| r.fallbacks.clone());
            tried.push(Fallback {
                strategy: Strategy::ReadWrite,
                reason: format!("{}; cache=drop_after instead", e.message()),
            });
            let mut prefix = |mut r: Report| {
                tried.append(&mut r.fallbacks);
                r.fallbacks = std::mem::take(&mut tried);
                r
            };
            match run_policy(src, dst, &again) {
                Ok(r) => Ok(prefix(r)),
                Err(mut e2) => {
                    if let Some(r) = e2.report_mut() {
                        *r = prefix(std::mem::take(r));
                    }
                    Err(e2)
                }
            }
        }
        other => other,
    }
}

/// [`run`] under one cache policy.
fn run_policy(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<Report> {
    validate(src, dst, opts)?;
    let policy = crate::cache::Policy::before(src, dst, opts)?;
    // Writing to a pipe or socket whose reader is gone raises SIGPIPE; block it for this thread
    // (never process-wide), and consume one our EPIPE left pending. Not when a prepared
    // transfer saw SIGPIPE ignored: the kernel then discards it.
    let guard_sigpipe = matches!(dst.kind, Kind::Pipe | Kind::Socket) && !dst.sigpipe_ignored;
    let mask = guard_sigpipe
        .then(sys::process::block_sigpipe)
        .and_then(|m| m.ok());
    let already_blocked = guard_sigpipe && mask.is_none_or(|m| m.blocks(libc::SIGPIPE));
    // The mask just read tells whether the thread blocks the signal that would stop the waits.
    let decided = strategy::decide_wait_ticks(opts, Some((src, dst)), mask.as_ref());
    let opts = decided.as_ref().unwrap_or(opts);
    let mut report = Report::default();
    let reserved = crate::prealloc::reserve(src, dst, opts)?;
    let mut result = strategy::with_stop_hook(opts, || run_techniques(src, dst, opts, &mut report));
    if let Some(r) = reserved {
        r.release_unwritten(dst, report.bytes);
    }
    let after = policy.after(src, dst, report.bytes, result.is_ok());
    if let (Ok(()), Err(e)) = (&result, after) {
        result = Err(e);
    }
    if guard_sigpipe && !already_blocked {
        if matches!(&result, Err(e) if e.errno() == Some(libc::EPIPE)) {
            sys::process::consume_sigpipe();
        }
        sys::process::unblock_sigpipe();
    }
    match result {
        Ok(()) => Ok(report),
        Err(e) => Err(e.with_report(report)),
    }
}

fn run_techniques(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    report: &mut Report,
) -> Result<()> {
    let (list, direct) = candidates(src, dst, opts)?;
    if let Some(done) = crate::parallel::run(src, dst, opts, (&list, direct), run_list, report) {
        return done;
    }
    run_list(src, dst, opts, &list, direct, report)
}

/// Runs the techniques of `list` in order on one thread, falling back as `opts` allows;
/// `direct`: the transfer reached the direct threshold.
pub(crate) fn run_list(
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    opts: &Options<'_>,
    list: &[Strategy],
    direct: bool,
    report: &mut Report,
) -> Result<()> {
    let mut job = Job::new(src, dst, opts);
    job.direct = direct;
    let ticks = strategy::DstTicks::arm(dst);
    job.dst_ticks = ticks.on;
    let mut last: Option<Error> = None;
    for (i, &strategy) in list.iter().enumerate() {
        let Some(tech) = strategy::technique(strategy) else {
            continue;
        };
        report.strategy = strategy;
        let (before, holes_before) = (job.moved, job.holes);
        let outcome = try_one(tech, &mut job);
        // Holes skipped cost no copies.
        let moved_here = (job.moved - before) - (job.holes - holes_before);
        let model = (tech.model)(&job);
        report.cpu_copies_bytes += moved_here * model.cpu;
        report.dma_copies_bytes += moved_here * model.dma;
        report.cpu_copies_bytes += std::mem::take(&mut job.extra_cpu_copies);
        report.zerocopy_sends = job.zerocopy_sends;
        report.zerocopy_copied = job.zerocopy_copied;
        report.bytes = job.moved;
        match outcome {
            Ok(()) => {
                job.settle_positions()?;
                // The last progress call; a stop asked now is moot: everything moved.
                let _ = job.checkpoint();
                return Ok(());
            }
            // A stop (progress callback or cancel flag) seen after the last byte moved: the copy
            // is whole, so it stands (the callback was told the final count already).
            Err(e) if e.kind() == ErrorKind::Cancelled && job.complete() => {
                job.settle_positions()?;
                report.bytes = job.moved;
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Unsupported && opts.fallback && i + 1 < list.len() => {
                report.fallbacks.push(Fallback {
                    strategy,
                    reason: e.message().to_string(),
                });
                last = Some(e);
            }
            Err(e) => {
                let settled = job.settle_positions();
                report.bytes = job.moved;
                settled?;
                return Err(e);
            }
        }
    }
    let _ = job.settle_positions();
    Err(last.unwrap_or_else(|| Error::unsupported("no technique can serve this pair")))
}

fn try_one(tech: &Technique, job: &mut Job<'_, '_>) -> Result<()> {
    if let Some(e) = tech.family.and_then(|f| f.blocked()) {
        return Err(e);
    }
    (tech.supports)(job).map_err(|why| Error::unsupported(format!("{}: {why}", tech.strategy)))?;
    if job.dontcache && tech.strategy != Strategy::ReadWrite {
        return Err(Error::unsupported(format!(
            "{}: cannot pass RWF_DONTCACHE (cache=dontcache); read_write can",
            tech.strategy
        )));
    }
    if crate::sparse::eligible(job)? {
        return crate::sparse::run(tech, job);
    }
    (tech.run)(job)
}

/// Whether one technique can serve a pair, as [`probe`](crate::probe) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Support {
    /// The technique.
    pub strategy: Strategy,
    /// Whether it can serve the pair.
    pub supported: bool,
    /// Why not (empty when supported).
    pub reason: String,
}

/// The support of every technique for a pair, without moving a byte.
pub(crate) fn probe(src: &Endpoint<'_>, dst: &Endpoint<'_>) -> Result<Vec<Support>> {
    validate(
        src,
        dst,
        &Options {
            len: Some(0),
            ..Options::default()
        },
    )?;
    let opts = Options::default();
    let job = Job::new(src, dst, &opts);
    let (src_fs, dst_fs) = if src.kind == Kind::File && dst.kind == Kind::File {
        (
            sys::fs::fs_type(src.fd).ok().map(|t| (t, src)),
            sys::fs::fs_type(dst.fd).ok().map(|t| (t, dst)),
        )
    } else {
        (None, None)
    };
    Ok(Strategy::TECHNIQUES
        .iter()
        .filter_map(|&strategy| strategy::technique(strategy))
        .map(|tech| {
            let strategy = tech.strategy;
            let mut verdict = match tech.family.and_then(|f| f.blocked()) {
                Some(e) => Err(e.message().to_string()),
                None => (tech.supports)(&job),
            };
            if verdict.is_ok() {
                verdict = fs_refuses(strategy, src_fs, dst_fs, src.dev == dst.dev);
            }
            match verdict {
                Ok(()) => Support {
                    strategy,
                    supported: true,
                    reason: String::new(),
                },
                Err(reason) => Support {
                    strategy,
                    supported: false,
                    reason,
                },
            }
        })
        .collect())
}

/// What the filesystems alone rule out, for the probe: reflink needs one filesystem that shares
/// extents. (Files that report no true size are refused by the techniques' own checks.)
fn fs_refuses(
    strategy: Strategy,
    src_fs: Option<(i64, &Endpoint<'_>)>,
    dst_fs: Option<(i64, &Endpoint<'_>)>,
    same_dev: bool,
) -> std::result::Result<(), String> {
    let (Some((s, src)), Some(_)) = (src_fs, dst_fs) else {
        return Ok(());
    };
    match strategy {
        Strategy::Reflink => {
            if !same_dev {
                return Err("src and dst are on different filesystems; a clone needs one".into());
            }
            if ![magic::XFS, magic::BTRFS, magic::BCACHEFS, magic::OCFS2].contains(&s) {
                return Err(format!(
                    "the filesystem ({}) cannot share extents; XFS with reflink=1, btrfs, bcachefs and OCFS2 can",
                    fs_name(src)
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
