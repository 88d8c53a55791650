//! Copying an entry's metadata as `cp -a` does: owner (as root; otherwise the group where
//! allowed, failures ignored as cp ignores them), then the mode (after the owner, whose change
//! clears setuid and setgid), extended attributes (where the filesystem has them), and the
//! times last, to the nanosecond.

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::sys::tree::{self as sys, XattrAt};
use crate::{Error, Result};

/// The access and modification times of `st`, as `utimensat` takes them.
fn times(st: &libc::stat) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ]
}

/// The metadata of a regular file, on its open destination `dst` (named `name` in messages,
/// whose status after creation is `made`), from the open source `src` whose status is `st`.
/// The owner and mode are set only where they differ from what creating the file gave it (as
/// cp skips them): usually neither, since the file was created with the source's permission
/// bits by the same user.
pub(super) fn file(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    st: &libc::stat,
    made: &libc::stat,
    root: bool,
    name: &Path,
) -> Result<()> {
    let mut mode_set = made.st_mode & 0o7777 == st.st_mode & 0o7777;
    if (made.st_uid, made.st_gid) != (st.st_uid, st.st_gid) {
        if root {
            sys::fchown(dst, st.st_uid, st.st_gid).map_err(|e| {
                Error::os(
                    e,
                    format_args!("cannot set the owner of {}", name.display()),
                )
            })?;
        } else {
            // cp -a's fallback: keep at least the group, where the caller is in it.
            let _ = sys::fchown(dst, u32::MAX, st.st_gid);
        }
        // A change of owner clears setuid and setgid: the mode is set again after it.
        mode_set = false;
    }
    if !mode_set {
        sys::fchmod(dst, st.st_mode & 0o7777)
            .map_err(|e| Error::os(e, format_args!("cannot set the mode of {}", name.display())))?;
    }
    xattrs(XattrAt::Fd(src), XattrAt::Fd(dst), name)?;
    sys::futimens(dst, &times(st)).map_err(|e| {
        Error::os(
            e,
            format_args!("cannot set the times of {}", name.display()),
        )
    })
}

/// The metadata of a directory or special file at `dst` (named `name`), from `src` whose
/// status is `st`.
pub(super) fn path(src: &CStr, dst: &CStr, st: &libc::stat, root: bool, name: &Path) -> Result<()> {
    owner(dst, st, root, name)?;
    sys::fchmodat(dst, st.st_mode & 0o7777)
        .map_err(|e| Error::os(e, format_args!("cannot set the mode of {}", name.display())))?;
    xattrs(XattrAt::Path(src), XattrAt::Path(dst), name)?;
    sys::utimensat(dst, &times(st)).map_err(|e| {
        Error::os(
            e,
            format_args!("cannot set the times of {}", name.display()),
        )
    })
}

/// The metadata of a symlink at `dst` (its own owner and times; a link has no mode of its own,
/// and Linux allows no `user.*` attributes on it).
pub(super) fn symlink(dst: &CStr, st: &libc::stat, root: bool, name: &Path) -> Result<()> {
    owner(dst, st, root, name)?;
    sys::utimensat(dst, &times(st)).map_err(|e| {
        Error::os(
            e,
            format_args!("cannot set the times of {}", name.display()),
        )
    })
}

fn owner(dst: &CStr, st: &libc::stat, root: bool, name: &Path) -> Result<()> {
    if root {
        sys::lchown(dst, st.st_uid, st.st_gid).map_err(|e| {
            Error::os(
                e,
                format_args!("cannot set the owner of {}", name.display()),
            )
        })
    } else {
        let _ = sys::lchown(dst, u32::MAX, st.st_gid);
        Ok(())
    }
}

/// Whether an extended-attribute failure is one `cp -a` passes over silently: the filesystem
/// has none (`ENOTSUP`), or this process may not set that namespace (`EPERM`, `EACCES`:
/// `trusted.*`, `security.*` without the capability).
fn tolerated(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOTSUP | libc::EPERM | libc::EACCES)
    )
}

/// Copies every extended attribute of `src` to `dst`.
fn xattrs(src: XattrAt<'_>, dst: XattrAt<'_>, name: &Path) -> Result<()> {
    let names = match sys::listxattr(src) {
        Ok(names) => names,
        Err(e) if tolerated(&e) => return Ok(()),
        Err(e) => {
            return Err(Error::os(
                e,
                format_args!("cannot list the extended attributes for {}", name.display()),
            ))
        }
    };
    for attr in names {
        let value = match sys::getxattr(src, &attr) {
            Ok(v) => v,
            // Removed since it was listed, or unreadable here: nothing to copy.
            Err(e) if tolerated(&e) || e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => {
                return Err(Error::os(
                    e,
                    format_args!(
                        "cannot read extended attribute {} for {}",
                        attr.to_string_lossy(),
                        name.display()
                    ),
                ))
            }
        };
        match sys::setxattr(dst, &attr, &value) {
            Ok(()) => {}
            Err(e) if tolerated(&e) => {}
            Err(e) => {
                return Err(Error::os(
                    e,
                    format_args!(
                        "cannot set extended attribute {} on {}",
                        attr.to_string_lossy(),
                        name.display()
                    ),
                ))
            }
        }
    }
    Ok(())
}
