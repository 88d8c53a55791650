//! Directory-tree syscalls for [`crate::copy_tree`]: listing a directory, `lstat`, creating
//! directories, links, symlinks and special files, and copying metadata (owner, mode, times,
//! extended attributes). Each wrapper is counted like the others ([`super::cvt`]).
//!
//! Through `nix` where it has the call (as the rest of `sys`); `libc` for `getdents64` (nix
//! reads directories through libc's `opendir`, which buffers and allocates) and the extended
//! attributes (nix has no xattr calls). Each is one call.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::fcntl::AtFlags;
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use super::{cvt, cvt_len, retry};

/// `fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW)` — what `path` names; a symlink is
/// described itself (`follow = false`) or the file it points to (`follow = true`).
///
/// # References
/// [man7 fstatat(2)](https://man7.org/linux/man-pages/man2/fstatat.2.html)
pub(crate) fn stat_at(path: &CStr, follow: bool) -> io::Result<libc::stat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::AT_SYMLINK_NOFOLLOW
    };
    retry(|| nix::sys::stat::fstatat(AT_FDCWD, path, flags))
}

/// One directory entry: its name.
pub(crate) struct DirEntry {
    pub(crate) name: CString,
}

/// `getdents64(fd, buf, 64 KiB)` until it returns 0 — every entry of the directory open on
/// `fd` but `.` and `..`, in the filesystem's order. One call per 64 KiB of entries.
///
/// # References
/// [man7 getdents64(2)](https://man7.org/linux/man-pages/man2/getdents64.2.html)
pub(crate) fn read_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<DirEntry>> {
    /// `struct linux_dirent64`'s header: d_ino (8), d_off (8), d_reclen (2), d_type (1).
    const HEADER: usize = 19;
    let mut buf = vec![0u64; 8192]; // 64 KiB, 8-byte aligned as the records are.
    let mut out = Vec::new();
    loop {
        let len = std::mem::size_of_val(buf.as_slice());
        // SAFETY: `buf` is valid for writes of `len` bytes for the whole call.
        let n = cvt_len(|| unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                libc::c_long::from(fd.as_raw_fd()),
                buf.as_mut_ptr(),
                len,
            ) as libc::ssize_t
        })?;
        if n == 0 {
            return Ok(out);
        }
        // SAFETY: `buf` owns `len` initialised bytes (u64s); `n <= len` were written.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let mut at = 0;
        while at + HEADER <= n {
            let reclen = usize::from(u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]));
            if reclen < HEADER || at + reclen > n {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            let name = &bytes[at + HEADER..at + reclen];
            let name = CStr::from_bytes_until_nul(name)
                .map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                out.push(DirEntry {
                    name: name.to_owned(),
                });
            }
            at += reclen;
        }
    }
}

/// `mkdirat(AT_FDCWD, path, mode)` — creates a directory (the umask applies).
///
/// # References
/// [man7 mkdir(2)](https://man7.org/linux/man-pages/man2/mkdir.2.html)
pub(crate) fn mkdirat(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    retry(|| nix::sys::stat::mkdirat(AT_FDCWD, path, Mode::from_bits_retain(mode)))
}

/// `symlinkat(target, AT_FDCWD, path)` — creates the symlink `path` pointing to `target`.
///
/// # References
/// [man7 symlink(2)](https://man7.org/linux/man-pages/man2/symlink.2.html)
pub(crate) fn symlinkat(target: &CStr, path: &CStr) -> io::Result<()> {
    retry(|| nix::unistd::symlinkat(target, AT_FDCWD, path))
}

/// `linkat(AT_FDCWD, existing, AT_FDCWD, new, 0)` — gives the file `existing` the second name
/// `new` (a hard link; a symlink `existing` is linked itself).
///
/// # References
/// [man7 link(2)](https://man7.org/linux/man-pages/man2/link.2.html)
pub(crate) fn linkat(existing: &CStr, new: &CStr) -> io::Result<()> {
    retry(|| nix::unistd::linkat(AT_FDCWD, existing, AT_FDCWD, new, AtFlags::empty()))
}

/// `readlinkat(AT_FDCWD, path, buf, PATH_MAX)` — the target a symlink holds.
///
/// # References
/// [man7 readlink(2)](https://man7.org/linux/man-pages/man2/readlink.2.html)
pub(crate) fn readlinkat(path: &CStr) -> io::Result<CString> {
    let target = retry(|| nix::fcntl::readlinkat(AT_FDCWD, path))?;
    CString::new(std::os::unix::ffi::OsStringExt::into_vec(target))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `mknodat(AT_FDCWD, path, mode, dev)` — creates a FIFO, a socket or a device node
/// (`mode` carries the type bits).
///
/// # References
/// [man7 mknod(2)](https://man7.org/linux/man-pages/man2/mknod.2.html)
pub(crate) fn mknodat(path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(mode & !libc::S_IFMT);
    retry(|| nix::sys::stat::mknodat(AT_FDCWD, path, kind, perm, dev))
}

/// `utimensat(AT_FDCWD, path, [atime, mtime], AT_SYMLINK_NOFOLLOW)` — sets the access and
/// modification times of `path` (a symlink's own), to the nanosecond.
///
/// # References
/// [man7 utimensat(2)](https://man7.org/linux/man-pages/man2/utimensat.2.html)
pub(crate) fn utimensat(path: &CStr, times: &[libc::timespec; 2]) -> io::Result<()> {
    let (a, m) = (TimeSpec::from(times[0]), TimeSpec::from(times[1]));
    let flag = nix::sys::stat::UtimensatFlags::NoFollowSymlink;
    retry(|| nix::sys::stat::utimensat(AT_FDCWD, path, &a, &m, flag))
}

/// `futimens(fd, [atime, mtime])` (`utimensat(fd, NULL, ...)`) — sets the times of the file
/// open on `fd`.
///
/// # References
/// [man7 utimensat(2)](https://man7.org/linux/man-pages/man2/utimensat.2.html)
pub(crate) fn futimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> io::Result<()> {
    let (a, m) = (TimeSpec::from(times[0]), TimeSpec::from(times[1]));
    retry(|| nix::sys::stat::futimens(fd, &a, &m))
}

/// `fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW)` — sets the owner of `path` (a
/// symlink's own); `u32::MAX` leaves one unchanged.
///
/// # References
/// [man7 chown(2)](https://man7.org/linux/man-pages/man2/chown.2.html)
pub(crate) fn lchown(path: &CStr, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    let (u, g) = owner(uid, gid);
    retry(|| nix::unistd::fchownat(AT_FDCWD, path, u, g, AtFlags::AT_SYMLINK_NOFOLLOW))
}

/// An owner pair as nix takes it: `u32::MAX` (-1) leaves one unchanged (`None`).
fn owner(uid: libc::uid_t, gid: libc::gid_t) -> (Option<Uid>, Option<Gid>) {
    (
        (uid != libc::uid_t::MAX).then(|| Uid::from_raw(uid)),
        (gid != libc::gid_t::MAX).then(|| Gid::from_raw(gid)),
    )
}

/// `fchown(fd, uid, gid)` — sets the owner of the file open on `fd`.
///
/// # References
/// [man7 chown(2)](https://man7.org/linux/man-pages/man2/chown.2.html)
pub(crate) fn fchown(fd: BorrowedFd<'_>, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    let (u, g) = owner(uid, gid);
    retry(|| nix::unistd::fchown(fd, u, g))
}

/// `fchmodat(AT_FDCWD, path, mode, 0)` — sets the permission bits (setuid, setgid and sticky
/// included) of `path`, following a symlink.
///
/// # References
/// [man7 chmod(2)](https://man7.org/linux/man-pages/man2/chmod.2.html)
pub(crate) fn fchmodat(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    let flag = nix::sys::stat::FchmodatFlags::FollowSymlink;
    retry(|| nix::sys::stat::fchmodat(AT_FDCWD, path, Mode::from_bits_retain(mode), flag))
}

/// `fchmod(fd, mode)` — sets the permission bits of the file open on `fd`.
///
/// # References
/// [man7 chmod(2)](https://man7.org/linux/man-pages/man2/chmod.2.html)
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: libc::mode_t) -> io::Result<()> {
    retry(|| nix::sys::stat::fchmod(fd, Mode::from_bits_retain(mode)))
}

/// Where an extended-attribute call acts: an open fd, or a path (a symlink's own attributes).
#[derive(Clone, Copy)]
pub(crate) enum XattrAt<'a> {
    /// `f*xattr(fd, ...)`.
    Fd(BorrowedFd<'a>),
    /// `l*xattr(path, ...)`.
    Path(&'a CStr),
}

/// `flistxattr(fd, buf, size)` / `llistxattr(path, buf, size)` — the names of the file's
/// extended attributes (each NUL-terminated). Asks the size first, then the list (two calls;
/// one when there are none).
///
/// # References
/// [man7 listxattr(2)](https://man7.org/linux/man-pages/man2/listxattr.2.html)
pub(crate) fn listxattr(at: XattrAt<'_>) -> io::Result<Vec<CString>> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let len = buf.len();
        let ptr = buf.as_mut_ptr().cast::<libc::c_char>();
        // SAFETY: `ptr` is valid for writes of `len` bytes (NULL-like and 0 on the first call).
        let n = cvt_len(|| unsafe {
            match at {
                XattrAt::Fd(fd) => libc::flistxattr(fd.as_raw_fd(), ptr, len),
                XattrAt::Path(p) => libc::llistxattr(p.as_ptr(), ptr, len),
            }
        });
        match n {
            Ok(0) => return Ok(Vec::new()),
            Ok(n) if len == 0 => buf = vec![0; n],
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| CString::new(s).ok())
                    .collect());
            }
            // The list grew between the two calls: ask again.
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => buf = Vec::new(),
            Err(e) => return Err(e),
        }
    }
}

/// `fgetxattr(fd, name, buf, size)` / `lgetxattr(path, ...)` — one extended attribute's value
/// (size first, then the value).
///
/// # References
/// [man7 getxattr(2)](https://man7.org/linux/man-pages/man2/getxattr.2.html)
pub(crate) fn getxattr(at: XattrAt<'_>, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let len = buf.len();
        let ptr = buf.as_mut_ptr().cast::<libc::c_void>();
        // SAFETY: `name` is NUL-terminated; `ptr` is valid for writes of `len` bytes.
        let n = cvt_len(|| unsafe {
            match at {
                XattrAt::Fd(fd) => libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len),
                XattrAt::Path(p) => libc::lgetxattr(p.as_ptr(), name.as_ptr(), ptr, len),
            }
        });
        match n {
            Ok(0) => return Ok(Vec::new()),
            Ok(n) if len == 0 => buf = vec![0; n],
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => buf = Vec::new(),
            Err(e) => return Err(e),
        }
    }
}

/// `fsetxattr(fd, name, value, size, 0)` / `lsetxattr(path, ...)` — sets one extended
/// attribute, creating or replacing it.
///
/// # References
/// [man7 setxattr(2)](https://man7.org/linux/man-pages/man2/setxattr.2.html)
pub(crate) fn setxattr(at: XattrAt<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    let ptr = value.as_ptr().cast::<libc::c_void>();
    // SAFETY: `name` is NUL-terminated; `value` is valid for reads of its length.
    cvt(|| unsafe {
        match at {
            XattrAt::Fd(fd) => libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, value.len(), 0),
            XattrAt::Path(p) => libc::lsetxattr(p.as_ptr(), name.as_ptr(), ptr, value.len(), 0),
        }
    })
    .map(drop)
}

/// `geteuid()` — the effective user id (whether owners can be copied). Cannot fail.
///
/// # References
/// [man7 geteuid(2)](https://man7.org/linux/man-pages/man2/geteuid.2.html)
pub(crate) fn geteuid() -> libc::uid_t {
    super::bump();
    nix::unistd::geteuid().as_raw()
}

/// `getegid()` — the effective group id (the group a new file gets, outside a setgid
/// directory). Cannot fail.
///
/// # References
/// [man7 getegid(2)](https://man7.org/linux/man-pages/man2/getegid.2.html)
pub(crate) fn getegid() -> libc::gid_t {
    super::bump();
    nix::unistd::getegid().as_raw()
}
