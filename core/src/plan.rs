//! The planner: classifies both fds once, checks the request, orders the techniques for the
//! pair, runs them, and falls back when one cannot serve it.

use std::fmt;
use std::os::fd::BorrowedFd;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, Strategy};
use crate::report::{Fallback, Report};
use crate::strategy::{self, Job, Technique};
use crate::sys;

/// What an fd refers to, as far as choosing a technique goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Pipe,
    Socket,
    CharDevice,
    BlockDevice,
    Directory,
    Other,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "a regular file",
            Kind::Pipe => "a pipe",
            Kind::Socket => "a socket",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Directory => "a directory",
            Kind::Other => "an unusual file",
        })
    }
}

/// How messages name an endpoint: "src fd 7", or "dst /tmp/out" for a path zcopy opened.
/// Formatted only when a message needs it, so a transfer allocates nothing for it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name<'a> {
    Fd(&'static str, i32),
    Path(&'static str, &'a std::path::Path),
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Fd("", fd) => write!(f, "fd {fd}"),
            Name::Fd(role, fd) => write!(f, "{role} fd {fd}"),
            Name::Path(role, p) => write!(f, "{role} {}", p.display()),
        }
    }
}

/// One side of a transfer, classified once (`fstat` + `F_GETFL`).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint<'fd> {
    pub fd: BorrowedFd<'fd>,
    /// How messages name it.
    pub name: Name<'fd>,
    pub kind: Kind,
    pub flags: i32,
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
    /// The preferred I/O size (`st_blksize`): the filesystem block for regular files.
    pub blksize: u64,
    /// The owner's uid.
    pub uid: u32,
    /// 512-byte blocks allocated (`st_blocks`): fewer than the size means holes.
    pub blocks: u64,
    /// The unique id of the mount it lives on (statx's `STATX_MNT_ID_UNIQUE`, never reused
    /// while the system runs); 0 when the kernel does not tell (before Linux 6.8).
    pub mnt: u64,
    /// For a socket: whether it is an IP one (see [`Endpoint::has_device`]).
    network: std::cell::OnceCell<bool>,
    /// For a regular file: the type of its filesystem (`statfs.f_type`), asked once when
    /// needed (see [`Endpoint::fs_type`]); `None` inside when `fstatfs` failed.
    fs: std::cell::OnceCell<Option<i64>>,
}

impl<'fd> Endpoint<'fd> {
    /// Classifies `fd` with `statx` (or `fstat`) and `fcntl(F_GETFL)`.
    pub(crate) fn classify(fd: BorrowedFd<'fd>, role: &'static str) -> Result<Endpoint<'fd>> {
        use std::os::fd::AsRawFd;
        Endpoint::classify_as(fd, Name::Fd(role, fd.as_raw_fd()))
    }

    /// Classifies `fd` as [`Endpoint::classify`] does, with messages naming it `name` (the
    /// path the caller opened it from).
    pub(crate) fn classify_as(fd: BorrowedFd<'fd>, name: Name<'fd>) -> Result<Endpoint<'fd>> {
        let (st, mnt) = sys::fs::fstat_mount(fd).map_err(|e| bad_fd(e, name))?;
        let flags = sys::fs::getfl(fd).map_err(|e| bad_fd(e, name))?;
        Ok(Endpoint::from_stat(fd, name, &st, mnt, flags))
    }

    /// An endpoint from a `stat`, its mount's unique id (0: unknown) and flags already known
    /// (no syscall).
    pub(crate) fn from_stat(
        fd: BorrowedFd<'fd>,
        name: Name<'fd>,
        st: &libc::stat,
        mnt: u64,
        flags: i32,
    ) -> Endpoint<'fd> {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFIFO => Kind::Pipe,
            libc::S_IFSOCK => Kind::Socket,
            libc::S_IFCHR => Kind::CharDevice,
            libc::S_IFBLK => Kind::BlockDevice,
            libc::S_IFDIR => Kind::Directory,
            _ => Kind::Other,
        };
        Endpoint {
            fd,
            name,
            kind,
            flags,
            size: st.st_size.max(0) as u64,
            dev: st.st_dev,
            ino: st.st_ino,
            rdev: st.st_rdev,
            blksize: st.st_blksize.max(0) as u64,
            uid: st.st_uid,
            blocks: st.st_blocks.max(0) as u64,
            mnt,
            network: std::cell::OnceCell::new(),
            fs: std::cell::OnceCell::new(),
        }
    }

    /// Refuses what no call can use: an `O_PATH` descriptor, a directory.
    pub(crate) fn usable(&self) -> Result<()> {
        if self.flags & libc::O_PATH != 0 {
            return Err(Error::invalid(format!(
                "{} is an O_PATH descriptor, which can be neither read nor written",
                self.name
            )));
        }
        if self.kind == Kind::Directory {
            // What read(2) and write(2) say of a directory: an OS error, as open() raises it.
            return Err(Error::new(
                ErrorKind::Io,
                Some(libc::EISDIR),
                format!("{} is a directory", self.name),
            ));
        }
        Ok(())
    }

    /// Whether the fd has offsets (a regular file or block device).
    pub(crate) fn seekable(&self) -> bool {
        matches!(self.kind, Kind::File | Kind::BlockDevice)
    }

    /// The type (`statfs.f_type`) of the filesystem this end lives on, asked once per endpoint
    /// (and once per mount and thread: [`fs_type_of`]); `None` when `fstatfs` fails.
    pub(crate) fn fs_type(&self) -> Option<i64> {
        *self.fs.get_or_init(|| fs_type_of(self))
    }

    /// For a regular file on a filesystem whose files do not report their true size (procfs,
    /// sysfs, ...: see [`magic::SIZELESS`]), the filesystem's name. Only a size of 0 or of one
    /// page (what those filesystems report) costs an `fstatfs`, asked once per mount and
    /// thread; every other size is trusted without a syscall.
    pub(crate) fn sizeless_fs(&self) -> Option<&'static str> {
        if self.kind != Kind::File || (self.size != 0 && self.size != sys::mm::page_size()) {
            return None;
        }
        let t = self.fs_type()?;
        magic::SIZELESS
            .iter()
            .find(|&&(m, _)| m == t)
            .map(|&(_, name)| name)
    }

    /// Whether the copy model puts a device behind this end: a disk behind a file or block
    /// device, a NIC behind an IP socket (asked once, when a report needs it: `SO_DOMAIN`). A
    /// file on a filesystem that lives in memory (tmpfs, ramfs, procfs, sysfs, ...: see
    /// [`magic::IN_MEMORY`]) has none (its type asked once: [`Endpoint::fs_type`]).
    pub(crate) fn has_device(&self) -> bool {
        match self.kind {
            Kind::File => !self
                .fs_type()
                .is_some_and(|t| magic::IN_MEMORY.contains(&t)),
            Kind::BlockDevice => true,
            Kind::Socket => *self.network.get_or_init(|| {
                matches!(
                    sys::net::socket_domain(self.fd),
                    Ok(libc::AF_INET | libc::AF_INET6)
                )
            }),
            _ => false,
        }
    }

    /// Whether writes go to the end whatever the offset (`O_APPEND`).
    pub(crate) fn append(&self) -> bool {
        self.flags & libc::O_APPEND != 0
    }

    fn access(&self) -> i32 {
        self.flags & libc::O_ACCMODE
    }

    /// A character device that never reaches end of file when read (/dev/zero, /dev/full,
    /// /dev/random, /dev/urandom).
    fn endless(&self) -> Option<&'static str> {
        if self.kind != Kind::CharDevice {
            return None;
        }
        match (libc::major(self.rdev), libc::minor(self.rdev)) {
            (1, 5) => Some("/dev/zero"),
            (1, 7) => Some("/dev/full"),
            (1, 8) => Some("/dev/random"),
            (1, 9) => Some("/dev/urandom"),
            _ => None,
        }
    }
}

fn bad_fd(e: std::io::Error, name: Name<'_>) -> Error {
    if e.raw_os_error() == Some(libc::EBADF) {
        Error::new(
            ErrorKind::Io,
            Some(libc::EBADF),
            format!("{name} is not an open file descriptor"),
        )
    } else {
        Error::os(e, format_args!("fstat on {name}"))
    }
}

/// The largest `chunk_size`: a buffer, window or pipe of 1 GiB per syscall (io_uring holds
/// `queue_depth` of them). Larger sizes gain nothing and overflow the buffer arithmetic.
pub(crate) const MAX_CHUNK: u64 = 1 << 30;

/// Checks the request against what the fds are; an error names what was wrong.
pub(crate) fn validate(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> Result<()> {
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
        if p > crate::parallel::MAX_THREADS {
            return Err(Error::invalid(format!(
                "parallelism {p} is out of range: 0 to {} threads",
                crate::parallel::MAX_THREADS
            )));
        }
    }
    if let (Some(dev), None) = (src.endless(), opts.len) {
        return Err(Error::invalid(format!(
            "{} is {dev}, which never ends: give a len",
            src.name
        )));
    }
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
/// `splice`: see [`SPLICE_FIRST`]). To a loopback TCP peer, a hot source of 1 MiB or more goes by
/// `mmap_write` first (see [`MMAP_TO_LOOPBACK`]). To a socket or a pipe: `sendfile` (one syscall per
/// chunk, the least sender CPU), then `splice`. From a pipe or socket: `splice`. `read_write`
/// serves every pair and closes every list.
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
/// with a cold source.
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
/// its length is in [`SPLICE_FIRST`] and both files are on filesystems that cannot share
/// extents (so copy_file_range would copy, not clone). Two `fstatfs` calls, made only for
/// transfers in that range.
fn splice_first(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if opts.strategy != Strategy::Auto || (src.kind, dst.kind) != (Kind::File, Kind::File) {
        return false;
    }
    let len = most_to_move(src, opts);
    if !SPLICE_FIRST.contains(&len) || dst.append() {
        return false;
    }
    let copies = |ep: &Endpoint<'_>| {
        fs_type_of(ep).is_some_and(|t| [magic::EXT4, magic::TMPFS].contains(&t))
    };
    copies(src) && copies(dst)
}

/// How many mounts' filesystem types a thread remembers.
const FS_TYPES_KEPT: usize = 16;

thread_local! {
    /// Filesystem types by unique mount id, learned by `fstatfs` (see [`fs_type_of`]).
    static FS_TYPES: std::cell::RefCell<Vec<(u64, i64)>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// The type (`f_type`) of the filesystem `ep` lives on: `fstatfs` once per mount and thread,
/// then remembered by the mount's unique id, which the kernel never reuses while it runs (so a
/// filesystem unmounted and another mounted on the same device is a new entry). Per thread, so
/// no lock is taken (and none can be held across a `fork`). Without a unique id (Linux < 6.8)
/// every call asks.
fn fs_type_of(ep: &Endpoint<'_>) -> Option<i64> {
    if ep.mnt == 0 {
        return sys::fs::fs_type(ep.fd).ok();
    }
    let known = FS_TYPES
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|v| v.iter().find(|(m, _)| *m == ep.mnt).map(|&(_, t)| t))
        })
        .ok()
        .flatten();
    if known.is_some() {
        return known;
    }
    let t = sys::fs::fs_type(ep.fd).ok()?;
    let _ = FS_TYPES.try_with(|c| {
        if let Ok(mut v) = c.try_borrow_mut() {
            if v.len() >= FS_TYPES_KEPT {
                v.remove(0);
            }
            v.push((ep.mnt, t));
        }
    });
    Some(t)
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
const MMAP_TO_LOOPBACK: u64 = 1 << 20;

/// Whether Auto should try `mmap_write` first: file → TCP socket whose peer is a loopback
/// address, at least [`MMAP_TO_LOOPBACK`] bytes, all of them in the page cache. Costs
/// `SO_DOMAIN`, `getpeername` and `cachestat` (and an `lseek` from the fd's position), made only
/// for transfers of that size to a socket.
fn mmap_first(src: &Endpoint<'_>, dst: &Endpoint<'_>, opts: &Options<'_>) -> bool {
    if opts.strategy != Strategy::Auto || (src.kind, dst.kind) != (Kind::File, Kind::Socket) {
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
    /// A hot file of 1 MiB or more to a loopback TCP peer: mmap_write ([`mmap_first`]).
    MmapLoopback { len: u64 },
    /// A file → file transfer of at most 8 KiB where no clone is possible ([`read_write_first`]).
    ReadWriteSmall { len: u64 },
    /// A file → file transfer of 1 to 64 MiB on ext4 or tmpfs ([`splice_first`]).
    SpliceMid { len: u64 },
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
    if mmap_first(src, dst, opts) {
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
            "a file of {len} bytes, all in the page cache, to a loopback TCP peer: no NIC to DMA from the cache, so the kernel copies anyway, and big writes from a mapping beat sendfile's 4 KiB fragments"
        ),
        Rule::ReadWriteSmall { len } => format!(
            "file → file of {len} bytes (at most 8 KiB) on {} (no clone possible): a call's fixed cost dominates, so a read and a write through a buffer go first",
            fss()
        ),
        Rule::SpliceMid { len } => format!(
            "file → file of {len} bytes (1 to 64 MiB) on {}: there copy_file_range is the kernel's splice through a 64 KiB pipe; splice through zcopy's 1 MiB pipe takes 16 times fewer trips",
            fss()
        ),
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
    validate(src, dst, opts)?;
    let policy = crate::cache::Policy::before(src, dst, opts)?;
    // Writing to a pipe or socket whose reader is gone raises SIGPIPE; block it for this thread
    // (never process-wide), and consume one our EPIPE left pending.
    let guard_sigpipe = matches!(dst.kind, Kind::Pipe | Kind::Socket);
    let already_blocked = guard_sigpipe && sys::process::block_sigpipe().unwrap_or(true);
    let mut report = Report::default();
    let mut result = strategy::with_stop_hook(opts, || run_techniques(src, dst, opts, &mut report));
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
    if let Some(done) = crate::parallel::run(src, dst, opts, &list, direct, report) {
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

/// Filesystem magic numbers (`statfs.f_type`) the engine knows.
pub(crate) mod magic {
    pub const PROC: i64 = 0x9fa0;
    pub const SYSFS: i64 = 0x6265_6572;
    pub const DEBUGFS: i64 = 0x6462_6720;
    pub const TRACEFS: i64 = 0x7472_6163;
    pub const SECURITYFS: i64 = 0x7363_6673;
    pub const CGROUP: i64 = 0x27e0eb;
    pub const CGROUP2: i64 = 0x6367_7270;
    pub const CONFIGFS: i64 = 0x6265_6570;
    pub const RAMFS: i64 = 0x8584_58f6;
    pub const DEVPTS: i64 = 0x1cd1;
    pub const HUGETLBFS: i64 = 0x9584_58f6;
    /// Filesystems whose files report size 0 (procfs, cgroup, ...) or one page (sysfs) while
    /// holding other bytes, with the name messages give them. Their files are generated when
    /// read: only a plain read sees the true content.
    pub const SIZELESS: &[(i64, &str)] = &[
        (PROC, "procfs"),
        (SYSFS, "sysfs"),
        (DEBUGFS, "debugfs"),
        (TRACEFS, "tracefs"),
        (SECURITYFS, "securityfs"),
        (CGROUP, "cgroupfs"),
        (CGROUP2, "cgroup2"),
        (CONFIGFS, "configfs"),
    ];
    /// Filesystems that live in memory: no device behind their files, so no DMA copy in the
    /// copy model.
    pub const IN_MEMORY: &[i64] = &[
        TMPFS, RAMFS, HUGETLBFS, PROC, SYSFS, DEBUGFS, TRACEFS, SECURITYFS, CGROUP, CGROUP2,
        CONFIGFS, DEVPTS,
    ];
    pub const XFS: i64 = 0x5846_5342;
    pub const BTRFS: i64 = 0x9123_683e;
    pub const BCACHEFS: i64 = 0xca45_1a4e;
    pub const OCFS2: i64 = 0x7461_636f;
    /// ext2, ext3 and ext4 share it.
    pub const EXT4: i64 = 0xef53;
    pub const TMPFS: i64 = 0x0102_1994;

    /// Names of filesystem magic numbers (those above and other common ones), for messages
    /// when `/proc/self/mountinfo` cannot tell (see `fs_name`).
    const NAMES: &[(i64, &str)] = &[
        (EXT4, "ext4"),
        (TMPFS, "tmpfs"),
        (XFS, "xfs"),
        (BTRFS, "btrfs"),
        (BCACHEFS, "bcachefs"),
        (OCFS2, "ocfs2"),
        (RAMFS, "ramfs"),
        (HUGETLBFS, "hugetlbfs"),
        (DEVPTS, "devpts"),
        (0x794c_7630, "overlay"),
        (0x6969, "nfs"),
        (0xff53_4d42, "cifs"),
        (0xfe53_4d42, "smb2"),
        (0x6573_5546, "fuse"),
        (0x2fc1_2fc1, "zfs"),
        (0xf2f5_2010, "f2fs"),
        (0x4d44, "vfat"),
        (0x5346_544e, "ntfs"),
        (0x2011_bab0, "exfat"),
        (0x0102_1997, "9p"),
        (0x6165_676c, "pstore"),
        (0x6264_6576, "bdev"),
        (0x0000_9660, "isofs"),
        (0x7371_7368, "squashfs"),
        (0xe0f5_e1e2, "erofs"),
    ];

    /// The name of a filesystem magic number, if known.
    pub fn name(t: i64) -> Option<&'static str> {
        NAMES
            .iter()
            .chain(SIZELESS)
            .find(|&&(m, _)| m == t)
            .map(|&(_, n)| n)
    }
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
