//! A transfer's source classified once and shown to its caller ([`Source`]): its kind, size and
//! modification time, from the one `statx` the engine needs anyway, so a caller that wants them
//! too (a file server's headers) does not `fstat` the file again, and runs of a
//! [`Prepared`](crate::Prepared) transfer from it ([`Prepared::run_source`](crate::Prepared::run_source))
//! classify nothing.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::endpoint::{bad_fd, Endpoint, Kind, Name};
use crate::error::Result;
use crate::sys;

/// A source fd classified once: what [`transfer`](crate::transfer) and
/// [`Prepared::run_from`](crate::Prepared::run_from) find out about a source on every call,
/// kept, with the file's size and modification time for the caller.
///
/// [`Source::classify`] costs a `statx` and a `fcntl(F_GETFL)`; [`Source::opened`], for an fd
/// the caller has just opened itself and whose flags it knows, the `statx` alone: as much as
/// the `fstat` a server makes for its headers. [`Prepared::run_source`](crate::Prepared::run_source)
/// then runs from it without a syscall of its own: the size, kind and flags are those seen
/// here (classify again to see a file that grew).
///
/// ```
/// use std::os::fd::AsFd;
/// let src = tempfile::tempfile()?;
/// std::io::Write::write_all(&mut &src, b"0123456789")?;
/// let source = zcopy::Source::classify(src.as_fd())?;
/// assert_eq!((source.size(), source.is_file(), source.is_dir()), (10, true, false));
///
/// let dst = tempfile::tempfile()?;
/// let mut p = zcopy::Prepared::to_dst(dst.as_fd(), &zcopy::Options::default())?;
/// let r = p.run_source(&source, Some(4), Some(6), None)?; // "6789"
/// assert_eq!(r.bytes, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Source<'fd> {
    ep: Endpoint<'fd>,
    mtime: i64,
}

impl<'fd> Source<'fd> {
    /// Classifies `fd` (a `statx` and a `fcntl(F_GETFL)`). Any fd is accepted, a directory
    /// included ([`Source::is_dir`]); whether it can be read from is checked by each run, as
    /// [`transfer`](crate::transfer) checks it.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io): `EBADF` for an fd that is not open, or the
    /// errno of the failed `statx`.
    pub fn classify(fd: BorrowedFd<'fd>) -> Result<Source<'fd>> {
        let name = Name::Fd("src", fd.as_raw_fd());
        let flags = sys::fs::getfl(fd).map_err(|e| bad_fd(e, name))?;
        Source::opened(fd, flags)
    }

    /// [`Source::classify`] for an fd the caller opened with the `open(2)` flags `flags`
    /// (`O_RDONLY | O_NONBLOCK`, say), which the engine then takes as its status flags instead
    /// of asking (one syscall fewer: a `statx` alone). Flags that are not the fd's make the
    /// engine's checks wrong, not its runs unsafe: the kernel still refuses what the fd cannot
    /// do (a write-only fd gives `EBADF`).
    ///
    /// # Errors
    /// As [`Source::classify`].
    pub fn opened(fd: BorrowedFd<'fd>, flags: i32) -> Result<Source<'fd>> {
        let name = Name::Fd("src", fd.as_raw_fd());
        let (st, mnt) = sys::fs::fstat_mount(fd).map_err(|e| bad_fd(e, name))?;
        Ok(Source {
            ep: Endpoint::from_stat(fd, name, &st, mnt, flags),
            mtime: st.st_mtime,
        })
    }

    /// The size in bytes when classified (`st_size`; 0 for a pipe or socket).
    pub fn size(&self) -> u64 {
        self.ep.size
    }

    /// The last modification, in seconds since the Unix epoch (`st_mtime`; negative before
    /// 1970).
    pub fn mtime(&self) -> i64 {
        self.mtime
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.ep.kind == Kind::File
    }

    /// Whether it is a directory (which a run refuses with `EISDIR`).
    pub fn is_dir(&self) -> bool {
        self.ep.kind == Kind::Directory
    }

    /// The classification, for the runs.
    pub(crate) fn endpoint(&self) -> &Endpoint<'fd> {
        &self.ep
    }
}
