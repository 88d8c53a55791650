//! The crate's one error type.

use std::fmt;
use std::io;

use crate::report::Report;
use crate::tree::TreeReport;

/// What kind of failure an [`Error`] is. The same kinds exist in every face of zcopy
/// (C `zc_status`, Python exception classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused a call; [`Error::errno`] says why.
    Io,
    /// The technique asked for cannot serve this pair of fds (strict mode), or no technique can.
    Unsupported,
    /// The progress callback or the cancel flag stopped the transfer.
    Cancelled,
    /// An argument was wrong (a bad fd, an impossible offset, conflicting options).
    Invalid,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Invalid => "invalid argument",
        })
    }
}

/// A failed zcopy call: its kind, the errno behind it, a message naming what was wrong, and the
/// bytes already moved before it failed (never a silent short copy).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    errno: Option<i32>,
    message: String,
    bytes_moved: u64,
    report: Option<Box<Report>>,
    tree: Option<Box<TreeReport>>,
}

/// `Result<T, zcopy::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `errno` and a `message` naming what was wrong, no bytes moved:
    /// for crates built on the engine (`zcopy-log`, `zcopy-serve`) whose failures are the same
    /// `Error` every face already translates.
    ///
    /// ```
    /// let e = zcopy::Error::new(zcopy::ErrorKind::Io, Some(libc::EBADMSG), "segment 3 is corrupt");
    /// assert_eq!((e.kind(), e.errno(), e.message()), (zcopy::ErrorKind::Io, Some(libc::EBADMSG), "segment 3 is corrupt"));
    /// assert_eq!(e.bytes_moved(), 0);
    /// ```
    pub fn new(kind: ErrorKind, errno: Option<i32>, message: impl Into<String>) -> Error {
        Error {
            kind,
            errno,
            message: message.into(),
            bytes_moved: 0,
            report: None,
            tree: None,
        }
    }

    /// An OS failure: `what` says which call on which fd or file, the errno's text is appended
    /// (`"fsync of /x: Input/output error"`), the errno kept; [`ErrorKind::Io`]. A wait that
    /// the engine's stop hook ended is an [`ErrorKind::Cancelled`] error instead.
    pub fn os(err: io::Error, what: impl fmt::Display) -> Error {
        if let Some(why) = crate::sys::stop::reason(&err) {
            return Error::cancelled(format!("{what}: {why}"));
        }
        let errno = err.raw_os_error();
        Error::new(
            ErrorKind::Io,
            errno,
            format!("{what}: {}", strip_os_suffix(&err)),
        )
    }

    /// A bad argument: [`ErrorKind::Invalid`] with errno `EINVAL` and `message`.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid, Some(libc::EINVAL), message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, Some(libc::EOPNOTSUPP), message)
    }

    pub(crate) fn cancelled(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Cancelled, Some(libc::ECANCELED), message)
    }

    /// This error with the report of the transfer that failed: [`Error::bytes_moved`] becomes
    /// `report.bytes`, [`Error::report`] returns it.
    pub fn with_report(mut self, report: Report) -> Error {
        self.bytes_moved = report.bytes;
        self.report = Some(Box::new(report));
        self
    }

    pub(crate) fn with_tree_report(mut self, report: TreeReport) -> Error {
        self.bytes_moved = report.bytes;
        self.tree = Some(Box::new(report));
        self
    }

    pub(crate) fn report_mut(&mut self) -> Option<&mut Report> {
        self.report.as_deref_mut()
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno behind the failure: the OS's for [`ErrorKind::Io`]; for
    /// [`ErrorKind::Unsupported`] the kernel's refusal (`EINVAL`, `EXDEV`, `ENOSYS`, ...) when the
    /// kernel refused, else `EOPNOTSUPP`; `EINVAL` for [`ErrorKind::Invalid`] (or the more precise
    /// `EBADF`, `ESPIPE`, `EOVERFLOW`); `ECANCELED` for [`ErrorKind::Cancelled`].
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// The message alone, without kind or errno: it names what was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Bytes moved to the destination before the failure. The destination holds exactly these
    /// bytes from where the transfer began (a transfer split by
    /// [`parallelism`](crate::Options::parallelism) may have written some past them too).
    pub fn bytes_moved(&self) -> u64 {
        self.bytes_moved
    }

    /// The report of the failed transfer, when it got far enough to have one (what it cost, which
    /// techniques were tried).
    pub fn report(&self) -> Option<&Report> {
        self.report.as_deref()
    }

    /// The report of a failed [`copy_tree`](crate::copy_tree): what was copied before it
    /// stopped, and every failed path ([`TreeReport::errors`]).
    pub fn tree_report(&self) -> Option<&TreeReport> {
        self.tree.as_deref()
    }

    /// Whether this is a non-blocking fd that would have blocked (`EAGAIN`): call again when it
    /// is ready, from [`Error::bytes_moved`] further on.
    pub fn is_would_block(&self) -> bool {
        self.errno == Some(libc::EAGAIN)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match (e.kind, e.errno) {
            (ErrorKind::Io, Some(errno)) => io::Error::from_raw_os_error(errno).kind(),
            (ErrorKind::Invalid, _) => io::ErrorKind::InvalidInput,
            (ErrorKind::Unsupported, _) => io::ErrorKind::Unsupported,
            (ErrorKind::Cancelled, _) => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// `io::Error`'s Display appends " (os error N)"; our messages carry the errno separately.
fn strip_os_suffix(err: &io::Error) -> String {
    let s = err.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
