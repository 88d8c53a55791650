//! Endpoints: what each fd of a transfer is (its kind, status flags, size, filesystem),
//! classified once (`statx` + `F_GETFL`) and read by the planner and every technique. It sits
//! below both: it imports only `sys` and `error`.

use std::fmt;
use std::os::fd::BorrowedFd;

use crate::error::{Error, ErrorKind, Result};
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
    /// The bytes a buffered reader of the end named so read ahead of its fd ("src fd 7's read
    /// buffer"): see [`crate::transfer_buffered`].
    ReadAhead(&'a Name<'a>),
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Fd("", fd) => write!(f, "fd {fd}"),
            Name::Fd(role, fd) => write!(f, "{role} fd {fd}"),
            Name::Path("", p) => write!(f, "{}", p.display()),
            Name::Path(role, p) => write!(f, "{role} {}", p.display()),
            Name::ReadAhead(of) => write!(f, "{of}'s read buffer"),
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
    /// As a pipe or socket destination: SIGPIPE's disposition was `SIG_IGN` when a
    /// [`Prepared`](crate::Prepared) transfer was made (read once, there), so its runs need not
    /// block SIGPIPE around their writes. Always false for a plain transfer.
    pub sigpipe_ignored: bool,
    /// As a [`Prepared`](crate::Prepared) transfer's destination, made with
    /// [`WaitTicks::UnlessInterruptedBy`](crate::WaitTicks::UnlessInterruptedBy)`(sig)`:
    /// `(sig, whether it interrupted the preparing thread's waits)`, read once there. `None`
    /// for a plain transfer (each call reads it).
    pub signal_checked: Option<(i32, bool)>,
    /// As the source a [`Prepared`](crate::Prepared) transfer was made with: the slot where
    /// mmap_write keeps its last window mapped between runs (see `mmap_write::KeptMapping`).
    /// `None` for a plain transfer and a run's own source (each window is unmapped when
    /// written).
    pub kept_mapping: Option<std::sync::Arc<crate::strategy::mmap_write::KeptMapping>>,
    /// For a socket: whether it is an IP one (see [`Endpoint::has_device`]).
    network: std::sync::OnceLock<bool>,
    /// For a regular file: the type of its filesystem (`statfs.f_type`), asked once when
    /// needed (see [`Endpoint::fs_type`]); `None` inside when `fstatfs` failed.
    fs: std::sync::OnceLock<Option<i64>>,
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
            sigpipe_ignored: false,
            signal_checked: None,
            kept_mapping: None,
            network: std::sync::OnceLock::new(),
            fs: std::sync::OnceLock::new(),
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

    pub(crate) fn access(&self) -> i32 {
        self.flags & libc::O_ACCMODE
    }

    /// A character device that never reaches end of file when read (/dev/zero, /dev/full,
    /// /dev/random, /dev/urandom).
    pub(crate) fn endless(&self) -> Option<&'static str> {
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

pub(crate) fn bad_fd(e: std::io::Error, name: Name<'_>) -> Error {
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
pub(crate) fn fs_type_of(ep: &Endpoint<'_>) -> Option<i64> {
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

/// `lseek(fd, 0, SEEK_CUR)`: an endpoint's position.
pub(crate) fn position(ep: &Endpoint<'_>) -> Result<u64> {
    sys::fs::lseek(ep.fd, 0, libc::SEEK_CUR)
        .map_err(|e| Error::os(e, format_args!("lseek on {}", ep.name)))
}

/// `lseek(fd, off, SEEK_SET)`.
pub(crate) fn seek_to(ep: &Endpoint<'_>, off: u64) -> Result<()> {
    let off = i64::try_from(off)
        .map_err(|_| Error::invalid(format!("offset {off} on {} is past 2^63 - 1", ep.name)))?;
    sys::fs::lseek(ep.fd, off, libc::SEEK_SET)
        .map(drop)
        .map_err(|e| Error::os(e, format_args!("lseek on {}", ep.name)))
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
