//! Arguments as Python users pass them: fds, file objects and paths for the endpoints; keyword
//! arguments for the options.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Seek;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString};

use crate::errors;

/// One side of a transfer: a duplicate of the caller's fd, held for the duration of the call,
/// so a file another thread closes meanwhile never receives bytes meant for it (its number may
/// be reused at once); the caller's fd is never closed.
pub(crate) struct End<'py> {
    /// The duplicate the engine works on (`F_DUPFD_CLOEXEC`; it shares the caller's file
    /// description, so the position and flags are the caller's).
    pub fd: File,
    /// How the caller knows it, which the engine's messages use after the role ("src fd 5",
    /// "dst fd 5"; bare for the file of a page-cache function): `fd 5` (the caller's fd number,
    /// not the duplicate's), or the path zcopy opened for the caller. Every engine call a face
    /// makes takes it (`transfer_named`, `Log::send_rest_named`, ...), so no message is
    /// rewritten afterwards.
    label: PathBuf,
    /// A file object, when one was passed and it can seek: its position is kept in step with
    /// the bytes moved.
    seekable_obj: Option<Bound<'py, PyAny>>,
    /// A source file object that cannot seek but reads ahead into a buffer it can show and give
    /// up (`peek`, `read1`: a pipe or socket wrapped by `open()` or `makefile()`): what it holds
    /// goes out before what its fd holds.
    pub buffered_reader: Option<Bound<'py, PyAny>>,
}

/// `io::Error`'s text without its " (os error N)" suffix (the errno travels separately).
fn strip_os_suffix(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .fully_qualified_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Whether `obj` is a path: `str`, `bytes`, or an `os.PathLike`.
fn is_path(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.hasattr(pyo3::intern!(obj.py(), "__fspath__"))?)
}

/// `F_DUPFD_CLOEXEC`: a duplicate of `fd` that the caller's `close` cannot affect. The one
/// `libc` call of this face: it owns the duplicate (not engine work), and std cannot duplicate an
/// fd number it has not been shown to be open.
fn duplicate(py: Python<'_>, fd: RawFd, role: &str) -> PyResult<File> {
    // SAFETY: fcntl with F_DUPFD_CLOEXEC reads no memory; on a bad fd it fails with EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EBADF);
        let message = if errno == libc::EBADF {
            format!("{role} fd {fd} is not an open file descriptor")
        } else {
            format!(
                "cannot duplicate {role} fd {fd}: {}",
                std::io::Error::from_raw_os_error(errno)
            )
        };
        return Err(errors::os_error(py, errno, &message));
    }
    // SAFETY: fcntl just returned this fd, newly made and owned by nobody else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// A file object's position (`tell()`, which counts what a buffered reader has read ahead) as
/// a byte offset.
fn tell(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let cookie = obj.call_method0(pyo3::intern!(obj.py(), "tell"))?;
    // A text file's tell() is a cookie: a byte offset only while its decoder holds no
    // state (then it is below 2**64).
    cookie.extract().map_err(|_| {
        PyValueError::new_err(format!(
            "src is a text file whose position ({cookie}) is not a byte offset (its decoder is \
             part way through a character); read it in binary mode"
        ))
    })
}

/// Seeks file object `obj` to the position of `fd` (its duplicate; `label` names it).
fn seek_to_fd(obj: &Bound<'_, PyAny>, mut fd: &File, label: &Path) -> PyResult<()> {
    let py = obj.py();
    let pos = fd.stream_position().map_err(|e| {
        errors::os_error(
            py,
            e.raw_os_error().unwrap_or(libc::EIO),
            &format!("lseek on dst {}: {}", label.display(), strip_os_suffix(&e)),
        )
    })?;
    obj.call_method1(pyo3::intern!(py, "seek"), (pos,))?;
    Ok(())
}

/// One end of a prepared transfer, kept between its calls: the duplicate fd (which keeps the
/// caller's file open and its bytes going to it even if the caller's fd number is closed and
/// reused), how messages name it, and the file objects that each call keeps in step.
pub(crate) struct Kept {
    pub fd: File,
    /// As [`End`]'s.
    pub label: PathBuf,
    /// As [`End`]'s: its position follows the bytes moved.
    seekable_obj: Option<Py<PyAny>>,
    /// An object with `flush()` (a buffered writer): flushed before each call, so what the
    /// caller wrote through it goes first.
    flush_obj: Option<Py<PyAny>>,
}

impl Kept {
    /// Before a call: flushes the object, and as a source (`src_offset` given) read from its
    /// position, gives its position to read from explicitly (see [`End::src_start`]).
    pub(crate) fn before(
        &self,
        py: Python<'_>,
        src_offset: Option<&mut Option<u64>>,
    ) -> PyResult<Option<u64>> {
        if let Some(obj) = &self.flush_obj {
            obj.bind(py).call_method0(pyo3::intern!(py, "flush"))?;
        }
        let (Some(obj), Some(src_offset)) = (&self.seekable_obj, src_offset) else {
            return Ok(None);
        };
        if src_offset.is_some() {
            return Ok(None);
        }
        let start = tell(obj.bind(py))?;
        *src_offset = Some(start);
        Ok(Some(start))
    }

    /// After a call, as a source: seeks the object to `start + moved`.
    pub(crate) fn settle_src(
        &self,
        py: Python<'_>,
        start: Option<u64>,
        moved: u64,
    ) -> PyResult<()> {
        if let (Some(obj), Some(start)) = (&self.seekable_obj, start) {
            obj.bind(py)
                .call_method1(pyo3::intern!(py, "seek"), (start + moved,))?;
        }
        Ok(())
    }

    /// After a call, as a destination: seeks the object to the fd's position.
    pub(crate) fn settle_dst(&self, py: Python<'_>) -> PyResult<()> {
        match &self.seekable_obj {
            Some(obj) => seek_to_fd(obj.bind(py), &self.fd, &self.label),
            None => Ok(()),
        }
    }
}

/// What a `src` or `dst` object is, once it showed a file descriptor.
struct Traits {
    seekable: bool,
    /// A binary reader that cannot seek and can show and give up its buffer.
    buffered: bool,
}

impl<'py> End<'py> {
    /// Resolves a `src` or `dst` argument of `func`: an int fd or an object with `fileno()`.
    /// A file object is flushed first (a writer's buffered bytes go out before zcopy's).
    pub(crate) fn resolve(
        obj: &Bound<'py, PyAny>,
        role: &'static str,
        func: &str,
    ) -> PyResult<End<'py>> {
        let py = obj.py();
        if obj.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err(format!(
                "{role} must be a file descriptor or a file object, not a bool"
            )));
        }
        if obj.is_instance_of::<PyInt>() {
            let fd: RawFd = obj.extract().map_err(|_| {
                PyOverflowError::new_err(format!(
                    "{role} fd {obj} is out of range for a file descriptor"
                ))
            })?;
            return End::of_fd(py, fd, role, None);
        }
        if is_path(obj)? {
            return Err(PyTypeError::new_err(format!(
                "{func}() takes open files or file descriptors, and {role} is a path ({}): open it \
                 first, or use zcopy.copy_file() to copy one path to another",
                obj.repr()?
            )));
        }
        let fd = fileno(obj, role)?;
        let traits = Traits::of(obj, role)?;
        let mut end = End::of_fd(py, fd, role, traits.seekable.then(|| obj.clone()))?;
        end.buffered_reader = traits.buffered.then(|| obj.clone());
        Ok(end)
    }

    /// An end on a duplicate of `fd`, labelled by the caller's number for it.
    fn of_fd(
        py: Python<'py>,
        fd: RawFd,
        role: &'static str,
        seekable_obj: Option<Bound<'py, PyAny>>,
    ) -> PyResult<End<'py>> {
        Ok(End {
            fd: duplicate(py, fd, role)?,
            label: PathBuf::from(format!("fd {fd}")),
            seekable_obj,
            buffered_reader: None,
        })
    }

    /// The file argument of a page-cache function (`func`): as [`End::resolve`], and a path
    /// too, opened read-only for the call.
    pub(crate) fn resolve_file(obj: &Bound<'py, PyAny>, func: &str) -> PyResult<End<'py>> {
        if !is_path(obj)? {
            return End::resolve(obj, "f", func);
        }
        let path = path(obj, "f", func)?;
        let file = File::open(&path).map_err(|e| {
            errors::os_error(
                obj.py(),
                e.raw_os_error().unwrap_or(libc::EIO),
                &format!("cannot open {}: {}", path.display(), strip_os_suffix(&e)),
            )
        })?;
        Ok(End {
            fd: file,
            label: path,
            seekable_obj: None,
            buffered_reader: None,
        })
    }

    /// How the engine's messages should name this end, after its role: `fd 5` or a path.
    pub(crate) fn label(&self) -> &Path {
        &self.label
    }

    /// For a seekable file object read from its position: the object's own idea of its
    /// position (`tell()`, which counts what a buffered reader has read ahead), to read from
    /// explicitly. The engine then never moves the fd's position under the object's buffer, and
    /// [`End::settle_src`] seeks the object to where the transfer ended.
    pub(crate) fn src_start(&self, src_offset: &mut Option<u64>) -> PyResult<Option<u64>> {
        let (Some(obj), None) = (&self.seekable_obj, *src_offset) else {
            return Ok(None);
        };
        let start = tell(obj)?;
        *src_offset = Some(start);
        Ok(Some(start))
    }

    /// After the transfer: seeks a source file object to `start + moved` (see
    /// [`End::src_start`]).
    pub(crate) fn settle_src(&self, start: Option<u64>, moved: u64) -> PyResult<()> {
        if let (Some(obj), Some(start)) = (&self.seekable_obj, start) {
            obj.call_method1(pyo3::intern!(obj.py(), "seek"), (start + moved,))?;
        }
        Ok(())
    }

    /// After the transfer: seeks a destination file object to the fd's position, so its idea of
    /// the position (and any read buffer it holds) agrees with what the engine wrote.
    pub(crate) fn settle_dst(&self) -> PyResult<()> {
        match &self.seekable_obj {
            Some(obj) => seek_to_fd(obj, &self.fd, &self.label),
            None => Ok(()),
        }
    }

    /// This end kept for later calls (a prepared transfer's): `None` for a buffered reader that
    /// cannot seek, whose read-ahead bytes each call must send first (see
    /// [`End::buffered_reader`]).
    pub(crate) fn keep(self, obj: &Bound<'py, PyAny>) -> PyResult<Option<Kept>> {
        if self.buffered_reader.is_some() {
            return Ok(None);
        }
        let flush = obj.hasattr(pyo3::intern!(obj.py(), "flush"))?;
        Ok(Some(Kept {
            fd: self.fd,
            label: self.label,
            seekable_obj: self.seekable_obj.map(Bound::unbind),
            flush_obj: flush.then(|| obj.clone().unbind()),
        }))
    }

    /// The bytes a buffered reader that cannot seek holds ahead of its fd (see
    /// [`End::buffered_reader`]), at most `length` of them; `None` when there are none. `peek()`
    /// shows them without consuming them; with an empty buffer it reads the fd once, as any read
    /// of the object would (and gives nothing at end of file, or on a non-blocking fd without
    /// data). The engine sends them first (`zcopy::transfer_buffered`); [`End::consume_head`]
    /// then takes from the object those that went out.
    pub(crate) fn read_ahead(&self, length: Option<u64>) -> PyResult<Option<Vec<u8>>> {
        let Some(obj) = &self.buffered_reader else {
            return Ok(None);
        };
        let py = obj.py();
        // Ctrl-C while it waits for the fd gives a KeyboardInterrupt that moved nothing.
        let peeked = obj
            .call_method0(pyo3::intern!(py, "peek"))
            .map_err(|e| errors::with_bytes_moved(py, e, 0))?;
        let buffered = peeked.cast::<PyBytes>()?.as_bytes();
        let n = length.map_or(buffered.len(), |l| {
            buffered.len().min(usize::try_from(l).unwrap_or(usize::MAX))
        });
        Ok((n > 0).then(|| buffered[..n].to_vec()))
    }

    /// Takes from a buffered reader the `n` bytes of its head that went out (`read1(n)`), so its
    /// next read gives what follows them.
    pub(crate) fn consume_head(&self, n: u64) -> PyResult<()> {
        let Some(obj) = self.buffered_reader.as_ref().filter(|_| n > 0) else {
            return Ok(());
        };
        let py = obj.py();
        let got = obj.call_method1(pyo3::intern!(py, "read1"), (n,))?.len()?;
        if got as u64 != n {
            return Err(errors::internal(
                py,
                &format!(
                    "src's buffer changed during the transfer (was it read meanwhile?): {n} of \
                     its bytes went out, and read1({n}) gave {got}"
                ),
                n,
            ));
        }
        Ok(())
    }

    /// The size still to read from a regular-file source from `offset` (or its position), for
    /// a progress bar's total; `None` for pipes, sockets and devices.
    pub(crate) fn remaining(&self, offset: Option<u64>) -> Option<u64> {
        let meta = self.fd.metadata().ok().filter(|m| m.is_file())?;
        let from = match offset {
            Some(o) => o,
            None => (&self.fd).stream_position().ok()?,
        };
        Some(meta.len().saturating_sub(from))
    }
}

/// The fd of a file object (`fileno()`), or why it has none.
fn fileno(obj: &Bound<'_, PyAny>, role: &str) -> PyResult<RawFd> {
    let py = obj.py();
    let fileno = pyo3::intern!(py, "fileno");
    if !obj.hasattr(fileno)? {
        return Err(PyTypeError::new_err(format!(
            "{role} must be a file descriptor (int) or an object with fileno() (a file, a \
             socket), not {}",
            type_name(obj)
        )));
    }
    match obj.call_method0(fileno) {
        Ok(fd) => fd.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{role}.fileno() returned {}, not a file descriptor",
                fd.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        }),
        Err(e) => {
            let unsupported = py.import("io")?.getattr("UnsupportedOperation")?;
            if !e.matches(py, unsupported)? {
                return Err(e);
            }
            let err = PyTypeError::new_err(format!(
                "{role} is {}, which has no file descriptor: zcopy moves bytes between file \
                 descriptors (files, pipes, sockets); write in-memory data with its own methods",
                type_name(obj)
            ));
            err.set_cause(py, Some(e));
            Err(err)
        }
    }
}

impl Traits {
    /// Flushes file object `obj` (a writer's buffered bytes go out before zcopy's) and tells
    /// whether it can seek and, as a source, whether it is a buffered reader; refuses a text
    /// reader that cannot seek.
    fn of(obj: &Bound<'_, PyAny>, role: &str) -> PyResult<Traits> {
        let py = obj.py();
        if obj.hasattr(pyo3::intern!(py, "flush"))? {
            obj.call_method0(pyo3::intern!(py, "flush"))?;
        }
        let seekable = obj.hasattr(pyo3::intern!(py, "seekable"))?
            && obj.hasattr(pyo3::intern!(py, "tell"))?
            && obj.hasattr(pyo3::intern!(py, "seek"))?
            && obj
                .call_method0(pyo3::intern!(py, "seekable"))?
                .is_truthy()?;
        if role != "src" || seekable {
            return Ok(Traits {
                seekable,
                buffered: false,
            });
        }
        if obj.is_instance(&py.import("io")?.getattr("TextIOBase")?)? {
            // Its decoder may hold text read ahead from the fd: bytes nobody can send any more.
            return Err(PyTypeError::new_err(format!(
                "src is {}, a text-mode reader that cannot seek (a pipe, socket or terminal): \
                 text it has decoded ahead cannot be sent as bytes, so zcopy refuses it rather \
                 than skip it; pass src.buffer (its binary reader, whose read-ahead bytes go \
                 out first) or src.fileno()",
                type_name(obj)
            )));
        }
        let buffered =
            obj.hasattr(pyo3::intern!(py, "peek"))? && obj.hasattr(pyo3::intern!(py, "read1"))?;
        Ok(Traits { seekable, buffered })
    }
}

/// A path argument of `func` (`str`, `bytes` or `os.PathLike`), as the OS sees it.
pub(crate) fn path(obj: &Bound<'_, PyAny>, role: &str, func: &str) -> PyResult<PathBuf> {
    let py = obj.py();
    if !is_path(obj)? {
        return Err(PyTypeError::new_err(format!(
            "{func}() takes paths (str, bytes or os.PathLike), and {role} is {}: use \
             zcopy.transfer() for open files and file descriptors",
            type_name(obj)
        )));
    }
    let encoded = py
        .import("os")?
        .call_method1(pyo3::intern!(py, "fsencode"), (obj,))?;
    let bytes = encoded.cast::<PyBytes>()?.as_bytes();
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// What `progress=` asked for.
pub(crate) enum ProgressArg {
    /// Nothing (`None` or `False`).
    Off,
    /// A tqdm bar (`True`).
    Bar,
    /// A callable given the bytes moved so far.
    Call(Py<PyAny>),
}

/// The options of `transfer` and `copy_file`, as keyword arguments. One field and one line in
/// [`Opts::parse`] per option.
pub(crate) struct Opts {
    pub strategy: zcopy::Strategy,
    pub src_offset: Option<u64>,
    pub dst_offset: Option<u64>,
    pub length: Option<u64>,
    pub chunk_size: Option<u64>,
    pub fallback: bool,
    pub progress: ProgressArg,
    pub cancel: Option<Py<PyAny>>,
    pub cache: zcopy::CachePolicy,
    pub sync: zcopy::SyncPolicy,
    pub direct_threshold: Option<u64>,
    pub sparse: bool,
    pub queue_depth: Option<u32>,
    pub parallelism: Option<u32>,
}

impl Opts {
    /// Parses `**options` of `func`; an unknown keyword is a TypeError, as for any Python
    /// function.
    pub(crate) fn parse(func: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Opts> {
        let mut o = Opts {
            strategy: zcopy::Strategy::Auto,
            src_offset: None,
            dst_offset: None,
            length: None,
            chunk_size: None,
            fallback: true,
            progress: ProgressArg::Off,
            cancel: None,
            cache: zcopy::CachePolicy::default(),
            sync: zcopy::SyncPolicy::default(),
            direct_threshold: None,
            sparse: true,
            queue_depth: None,
            parallelism: None,
        };
        let Some(kwargs) = kwargs else {
            return Ok(o);
        };
        for (key, v) in kwargs.iter() {
            let known = option_name(&key);
            let key: std::borrow::Cow<'_, str> = match known {
                Some(name) => name.into(),
                None => key.extract::<String>()?.into(),
            };
            match key.as_ref() {
                "strategy" => o.strategy = named(&v, "strategy", "zcopy.strategies()")?,
                "src_offset" => o.src_offset = count(&v, "src_offset")?,
                "dst_offset" => o.dst_offset = count(&v, "dst_offset")?,
                "length" => o.length = count(&v, "length")?,
                "chunk_size" => o.chunk_size = count(&v, "chunk_size")?,
                "fallback" => o.fallback = flag(&v, "fallback")?,
                "progress" => o.progress = progress(&v)?,
                "cancel" => o.cancel = cancel(&v)?,
                "cache" => o.cache = named(&v, "cache", "keep, drop_after, noreuse, dontcache")?,
                "sync" => o.sync = named(&v, "sync", "none, data, full")?,
                "direct_threshold" => o.direct_threshold = count(&v, "direct_threshold")?,
                "sparse" => o.sparse = flag(&v, "sparse")?,
                "queue_depth" => {
                    o.queue_depth =
                        count(&v, "queue_depth")?.map(|q| u32::try_from(q).unwrap_or(u32::MAX))
                }
                "parallelism" => {
                    o.parallelism =
                        count(&v, "parallelism")?.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                }
                "len" => {
                    return Err(PyTypeError::new_err(format!(
                        "{func}() got an unexpected keyword argument 'len': zcopy's Python \
                         spelling is length="
                    )))
                }
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "{func}() got an unexpected keyword argument '{other}'"
                    )))
                }
            }
        }
        Ok(o)
    }

    /// The engine's options, with the face's progress hook and cancel flag.
    pub(crate) fn engine<'a>(
        &self,
        progress: zcopy::Progress<'a>,
        cancel: &'a std::sync::atomic::AtomicBool,
    ) -> zcopy::Options<'a> {
        // Options the engine gains later keep their defaults until this face exposes them.
        #[allow(clippy::needless_update)]
        zcopy::Options {
            strategy: self.strategy,
            src_offset: self.src_offset,
            dst_offset: self.dst_offset,
            len: self.length,
            chunk_size: self.chunk_size,
            fallback: self.fallback,
            progress: Some(progress),
            cancel: Some(cancel),
            cache: self.cache,
            sync: self.sync,
            direct_threshold: self.direct_threshold,
            sparse: self.sparse,
            queue_depth: self.queue_depth,
            parallelism: self.parallelism,
            ..zcopy::Options::default()
        }
    }
}

/// The keywords [`Opts::parse`] knows.
const OPTION_NAMES: [&str; 14] = [
    "length",
    "src_offset",
    "dst_offset",
    "strategy",
    "chunk_size",
    "fallback",
    "progress",
    "cancel",
    "cache",
    "sync",
    "direct_threshold",
    "sparse",
    "queue_depth",
    "parallelism",
];

/// A keyword's name when it is the very string object of one [`OPTION_NAMES`] (a keyword
/// written in the call is interned, so it usually is): no UTF-8 copy of the key. `None`: not
/// known this way (the caller then reads the key's text).
fn option_name(key: &Bound<'_, PyAny>) -> Option<&'static str> {
    static INTERNED: pyo3::sync::PyOnceLock<Vec<Py<PyString>>> = pyo3::sync::PyOnceLock::new();
    let py = key.py();
    let names = INTERNED.get_or_init(py, || {
        OPTION_NAMES
            .iter()
            .map(|n| PyString::intern(py, n).unbind())
            .collect()
    });
    names
        .iter()
        .position(|n| n.bind(py).is(key))
        .map(|i| OPTION_NAMES[i])
}

/// A name option (`strategy`, `cache`, `sync`): `None` for the default, or one of the names
/// (`hint` lists them); the engine's parser names the valid ones in its error.
pub(crate) fn named<T>(v: &Bound<'_, PyAny>, name: &str, hint: &str) -> PyResult<T>
where
    T: std::str::FromStr<Err = zcopy::Error> + Default,
{
    if v.is_none() {
        return Ok(T::default());
    }
    let s: String = v.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a str ({hint}), not {}",
            type_name(v)
        ))
    })?;
    s.parse::<T>()
        .map_err(|e| PyErr::from(errors::EngineError::from(e)))
}

/// A byte count or offset: `None`, or an int from 0 to 2**64 - 1.
pub(crate) fn count(v: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<u64>> {
    if v.is_none() {
        return Ok(None);
    }
    // The common case first: a plain int that fits in an i64 (one PyLong_AsLongLong; the i128
    // conversion below goes through shifts under the stable ABI).
    if v.is_exact_instance_of::<pyo3::types::PyInt>() {
        if let Ok(n) = v.extract::<i64>() {
            if let Ok(n) = u64::try_from(n) {
                return Ok(Some(n));
            }
        }
    }
    if v.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int or None, not a bool"
        )));
    }
    let n: i128 = match v.extract() {
        Ok(n) => n,
        Err(e) if e.is_instance_of::<PyOverflowError>(v.py()) => {
            return Err(PyOverflowError::new_err(format!(
                "{name} {v} does not fit in 64 bits"
            )))
        }
        Err(_) => {
            return Err(PyTypeError::new_err(format!(
                "{name} must be an int or None, not {}",
                type_name(v)
            )))
        }
    };
    if n < 0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be >= 0, got {n}"
        )));
    }
    u64::try_from(n)
        .map(Some)
        .map_err(|_| PyOverflowError::new_err(format!("{name} {n} does not fit in 64 bits")))
}

fn flag(v: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    v.extract()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a bool, not {}", type_name(v))))
}

fn progress(v: &Bound<'_, PyAny>) -> PyResult<ProgressArg> {
    if v.is_none() {
        return Ok(ProgressArg::Off);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(if v.is_truthy()? {
            ProgressArg::Bar
        } else {
            ProgressArg::Off
        });
    }
    if v.is_callable() {
        return Ok(ProgressArg::Call(v.clone().unbind()));
    }
    Err(PyTypeError::new_err(format!(
        "progress must be a callable (given the bytes moved so far), True (a tqdm bar) or None, \
         not {}",
        type_name(v)
    )))
}

fn cancel(v: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
    if v.is_none() {
        return Ok(None);
    }
    if v.hasattr(pyo3::intern!(v.py(), "is_set"))? {
        return Ok(Some(v.clone().unbind()));
    }
    Err(PyTypeError::new_err(format!(
        "cancel must be a threading.Event or an object with is_set(), not {}",
        type_name(v)
    )))
}
