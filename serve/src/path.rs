//! From a request target to an open file below the served directory: percent-decoding,
//! normalising, and opening with `openat2(RESOLVE_BENEATH)` so that neither `..` nor a symlink
//! can leave the directory.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::notice::{NoticeKind, Notices};
use crate::os;
use crate::os::fs::Fd;

/// Why a target does not name a servable file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Malformed (bad escape, NUL byte, `..` above the root): 400.
    BadRequest,
    /// Not there (or leaves the directory through a symlink, or not a regular file): 404.
    NotFound,
    /// Exists but may not be read, or a directory without `index.html`: 403.
    Forbidden,
    /// A directory named without its trailing slash: 301 to the name with it.
    Directory,
}

/// Decodes the path part of `target` (the query dropped) and normalises it to a path relative
/// to the served directory: `.` and empty segments dropped, `..` taking one segment back;
/// a `..` above the root, a bad `%` escape or a NUL byte is [`Refused::BadRequest`]. The
/// result is `"."` for the root. Whether it ended in `/` is returned too.
pub(crate) fn normalise(target: &[u8]) -> Result<(Vec<u8>, bool), Refused> {
    let path = match target.iter().position(|&c| c == b'?' || c == b'#') {
        Some(i) => &target[..i],
        None => target,
    };
    let mut decoded = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        if c == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            let (Some(h), Some(l)) = (
                path.get(i + 1).and_then(|&b| hex(b)),
                path.get(i + 2).and_then(|&b| hex(b)),
            ) else {
                return Err(Refused::BadRequest);
            };
            decoded.push((h * 16 + l) as u8);
            i += 3;
        } else {
            decoded.push(c);
            i += 1;
        }
    }
    if decoded.contains(&0) {
        return Err(Refused::BadRequest);
    }
    let dir = decoded.last() == Some(&b'/');
    let mut segments: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&c| c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(Refused::BadRequest);
                }
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Ok((b".".to_vec(), true));
    }
    Ok((segments.join(&b'/'), dir))
}

/// Whether `openat2` is missing (seccomp, kernel < 5.6): then the path (from which
/// [`normalise`] removed every `..` and `.`) is walked one segment at a time with
/// `openat(O_NOFOLLOW)`, so no symlink is followed at all.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (from [`normalise`]) below `root` read-only, with `extra` flags.
pub(crate) fn open_beneath(
    root: BorrowedFd<'_>,
    rel: &[u8],
    extra: i32,
    notices: &Notices,
) -> Result<Fd, Refused> {
    let c = CString::new(rel).map_err(|_| Refused::BadRequest)?;
    let flags = open_flags(extra);
    // (Callers pass O_NONBLOCK for the first open, so a FIFO cannot hang the worker; not for
    // the O_DIRECT reopen, which io_uring would then answer with EAGAIN instead of reading.)
    let r = if NO_OPENAT2.load(Ordering::Relaxed) {
        walk(root, rel, flags)
    } else {
        match os::fs::openat2(
            root,
            &c,
            flags,
            os::fs::RESOLVE_BENEATH | os::fs::RESOLVE_NO_MAGICLINKS,
        ) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                notices.once(NoticeKind::NoOpenat2, || {
                    format!("openat2 is unavailable ({e}); opening with openat after normalising the path")
                });
                walk(root, rel, flags)
            }
            r => r,
        }
    };
    r.map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Refused::Forbidden,
        _ => Refused::NotFound,
    })
}

/// The flags [`open_beneath`] opens a file with, given its `extra` ones.
fn open_flags(extra: i32) -> i32 {
    libc::O_RDONLY | libc::O_NOCTTY | extra
}

/// Opens `rel` below `root` one segment at a time, refusing every symlink (`O_NOFOLLOW`):
/// without `..` (gone after [`normalise`]) nothing can lead out of `root`.
fn walk(root: BorrowedFd<'_>, rel: &[u8], flags: i32) -> std::io::Result<Fd> {
    let einval = || std::io::Error::from_raw_os_error(libc::EINVAL);
    let mut segs = rel.split(|&c| c == b'/').peekable();
    let mut dir: Option<Fd> = None;
    while let Some(seg) = segs.next() {
        let c = CString::new(seg).map_err(|_| einval())?;
        let at = dir.as_ref().map_or(root, |d| d.as_fd());
        if segs.peek().is_none() {
            return os::fs::openat(at, &c, flags | libc::O_NOFOLLOW);
        }
        let next = os::fs::openat(at, &c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
        dir = Some(next);
    }
    Err(einval())
}

/// An open file and the engine's classification of it ([`zcopy::Source`]: its kind, size and
/// modification time, from one `statx`), which the server reads for its headers and the
/// connection's prepared transfer sends from, without asking the kernel again.
pub(crate) struct Classified {
    /// Borrows `file`'s fd (see [`Classified::new`]); declared first, so dropped before `file`
    /// closes the fd.
    src: zcopy::Source<'static>,
    file: Fd,
}

impl Classified {
    /// Classifies `file`, opened by [`open_beneath`] with `extra` flags (so the engine takes its
    /// status flags from those instead of asking: the `statx` is the only syscall).
    fn new(file: Fd, extra: i32) -> zcopy::Result<Classified> {
        // SAFETY: the 'static borrow lives in `src`, which is kept next to `file` (moving an
        // OwnedFd keeps its fd number), dropped before it (field order; `into_file` drops it
        // first), and lent out only for as long as `self` is borrowed (`source`): it is never
        // used once `file` is closed.
        let fd = unsafe { BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&file)) };
        let src = zcopy::Source::opened(fd, open_flags(extra))?;
        Ok(Classified { src, file })
    }

    /// The classification, to read and to send from.
    pub(crate) fn source(&self) -> &zcopy::Source<'_> {
        &self.src
    }

    /// The open file alone (the classification dropped first).
    pub(crate) fn into_file(self) -> Fd {
        let Classified { src, file } = self;
        drop(src);
        file
    }
}

/// An open file to serve, classified, and its normalised path (for the content type).
pub(crate) struct Found {
    pub file: Classified,
    pub rel: Vec<u8>,
}

/// Resolves a request target to a regular file below `root`, as nginx's static and index
/// modules do: a directory named with a trailing slash serves its `index.html` (403 without
/// one: no listing); named without, it is [`Refused::Directory`] (a redirect to the name with
/// the slash); a file named with a trailing slash is not found. The file is classified by the
/// engine (one `statx`: its kind, size and modification time), once for the headers and the
/// body.
pub(crate) fn resolve(
    root: BorrowedFd<'_>,
    target: &[u8],
    notices: &Notices,
) -> Result<Found, Refused> {
    let (mut rel, slash) = normalise(target)?;
    let file = open_beneath(root, &rel, libc::O_NONBLOCK, notices)?;
    let mut file = Classified::new(file, libc::O_NONBLOCK).map_err(|_| Refused::NotFound)?;
    if file.source().is_dir() {
        if !slash {
            return Err(Refused::Directory);
        }
        rel.extend_from_slice(b"/index.html");
        let index =
            open_beneath(root, &rel, libc::O_NONBLOCK, notices).map_err(|_| Refused::Forbidden)?;
        file = Classified::new(index, libc::O_NONBLOCK).map_err(|_| Refused::Forbidden)?;
        if !file.source().is_file() {
            return Err(Refused::Forbidden);
        }
    } else if slash {
        return Err(Refused::NotFound);
    }
    if !file.source().is_file() {
        return Err(Refused::NotFound);
    }
    Ok(Found { file, rel })
}

/// Writes where a directory named without its trailing slash moved: its normalised path,
/// percent-encoded where a URI path needs it, with the slash, and the query of `target` as
/// sent (nginx's redirect keeps the arguments).
pub(crate) fn write_location(out: &mut Vec<u8>, target: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let query = target.iter().position(|&c| c == b'?').map(|i| &target[i..]);
    let query = query.map(|q| q.split(|&c| c == b'#').next().unwrap_or(q));
    out.push(b'/');
    if let Ok((rel, _)) = normalise(target) {
        if rel != b"." {
            for &c in &rel {
                // RFC 3986 pchar and '/': unreserved, sub-delims, ':' and '@'.
                if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c) {
                    out.push(c);
                } else {
                    out.extend_from_slice(&[
                        b'%',
                        HEX[usize::from(c >> 4)],
                        HEX[usize::from(c & 15)],
                    ]);
                }
            }
            out.push(b'/');
        }
    }
    if let Some(q) = query {
        out.extend_from_slice(q);
    }
}
