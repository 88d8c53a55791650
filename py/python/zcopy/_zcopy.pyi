"""Type stubs of the extension module behind the ``zcopy`` package (checked by mypy.stubtest)."""

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypedDict, final

__all__ = [
    "__version__",
    "transfer",
    "copy_file",
    "copytree",
    "probe",
    "prepare",
    "prepare_to",
    "strategies",
    "_inject_panic",
    "_inject_worker_panic",
    "residency",
    "advise",
    "readahead",
    "evict",
    "warm",
    "lock",
    "lock_limit",
    "files",
    "auto_choice",
    "Locked",
    "Files",
    "AutoChoice",
    "Report",
    "TreeReport",
    "Support",
    "Residency",
    "Log",
    "Prepared",
    "Server",
    "ZcopyError",
    "UnsupportedError",
    "CancelledError",
    "ZcopyBlockingIOError",
    "ZcopyChildProcessError",
    "ZcopyConnectionError",
    "ZcopyBrokenPipeError",
    "ZcopyConnectionAbortedError",
    "ZcopyConnectionRefusedError",
    "ZcopyConnectionResetError",
    "ZcopyFileExistsError",
    "ZcopyFileNotFoundError",
    "ZcopyInterruptedError",
    "ZcopyIsADirectoryError",
    "ZcopyNotADirectoryError",
    "ZcopyPermissionError",
    "ZcopyProcessLookupError",
    "ZcopyTimeoutError",
    "ZcopyValueError",
]
__version__: str

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

class _Event(Protocol):
    def is_set(self) -> bool: ...

#: An endpoint of ``transfer`` and ``probe``: an int fd, or a file, socket or pipe object.
_Fd = int | _HasFileno
#: A path for ``copy_file``.
_Path = str | bytes | PathLike[str] | PathLike[bytes]
#: ``progress=``: a callable given the bytes moved so far (False stops), or True for a tqdm bar;
#: called at least every 32 MiB. A stop after the last byte moved does not fail the transfer.
_Progress = Callable[[int], object] | bool | None
#: Strategy names (``strategies()`` lists those this build has).
_Strategy = Literal[
    "auto",
    "read_write",
    "mmap_write",
    "sendfile",
    "splice",
    "copy_file_range",
    "reflink",
    "direct",
    "io_uring",
    "msg_zerocopy",
]
_Cache = Literal["keep", "drop_after", "noreuse", "dontcache"]
_Sync = Literal["none", "data", "full"]
_Advice = Literal["normal", "sequential", "random", "willneed", "dontneed", "noreuse"]
#: The file of a page-cache function: an fd, a file object, or a path.
_File = _Fd | _Path

def transfer(
    src: _Fd,
    dst: _Fd,
    *,
    strategy: _Strategy | str | None = "auto",
    src_offset: int | None = None,
    dst_offset: int | None = None,
    length: int | None = None,
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: _Progress = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> Report:
    """Move bytes from ``src`` to ``dst`` and report what it cost. Ctrl-C stops it with
    KeyboardInterrupt; on the main thread without ``progress`` or ``cancel``, for a ``length``
    of at most 1 MiB, where SIGINT interrupts the call's waits (Python's handler, no
    SA_RESTART, not blocked), by the signal itself, without cutting waits into 100 ms ticks."""

def copy_file(
    src: _Path,
    dst: _Path,
    *,
    strategy: _Strategy | str | None = "auto",
    src_offset: int | None = None,
    dst_offset: int | None = None,
    length: int | None = None,
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: _Progress = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> Report:
    """Copy the file at ``src`` to ``dst`` (created or truncated) and report what it cost.

    A new ``dst`` gets the source's permission bits minus the umask, without setuid, setgid
    and sticky (as ``cp``); an existing ``dst`` keeps its mode (as ``shutil.copyfile``).

    Raises what ``open()`` and ``shutil`` raise (``FileNotFoundError``, ``NotADirectoryError``,
    ``PermissionError``, ``IsADirectoryError``), each also a ``ZcopyError``; a ``ValueError``
    (``ZcopyValueError``) for a ``src`` that is a named pipe, socket or device, or a ``dst``
    that is a named pipe or socket: pass those to ``transfer`` as open files or fds."""

def copytree(
    src: _Path,
    dst: _Path,
    *,
    dirs_exist_ok: bool = False,
    symlinks: bool = True,
    workers: int | None = None,
    errors: Literal["raise", "collect"] = "raise",
    specials: Literal["recreate", "error"] = "recreate",
    strategy: _Strategy | str | None = "auto",
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: Callable[[int, int], object] | bool | None = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> TreeReport:
    """Copy the tree at ``src`` to ``dst`` like ``cp -a`` (and ``shutil.copytree``).

    Regular files go through the engine (auto per file: reflink or copy_file_range, holes kept,
    the page-cache policy), copied by ``workers`` threads (None: the CPUs, at least 4), each
    into a temporary name renamed into place; symlinks are kept as links (``symlinks=False``
    follows them); FIFOs, sockets and devices are recreated (``specials="error"`` refuses
    them); hard links are made again; modes, ns times, extended attributes and owners (as
    root) are copied. ``progress`` gets ``(bytes, files)`` so far (False stops the copy).
    ``errors="collect"`` goes on and raises one error listing every failed path. Errors carry
    ``.bytes_moved`` and ``.tree_report``; ``FileExistsError`` when ``dst`` exists without
    ``dirs_exist_ok``."""

def prepare(
    src: _Fd,
    dst: _Fd,
    *,
    strategy: _Strategy | str | None = "auto",
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: _Progress = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> Prepared:
    """Prepare a transfer from ``src`` to ``dst``, classified once and run many times by
    ``Prepared.transfer()``; ``length``, ``src_offset`` and ``dst_offset`` go to each call.
    On the main thread without ``progress`` or ``cancel``, whether SIGINT interrupts waits is
    read once, here: change SIGINT's handler or flags, or block it, and prepare again. Calls
    that use mmap_write (Auto's choice for 1 MiB and more of a file to a socket) keep their
    last window of the file mapped until ``close()``: a call over bytes it covers makes no
    ``mmap``, no ``munmap`` and no page faults for pages an earlier call touched. Until then the
    file stays open through it and its mapped pages resist ``evict()``."""

def prepare_to(
    dst: _Fd,
    *,
    strategy: _Strategy | str | None = "auto",
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: _Progress = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> Prepared:
    """Prepare a transfer to ``dst`` alone, classified once; each ``Prepared.transfer_from(src)``
    names its source (classified for that call)."""

@final
class Prepared:
    """A transfer prepared by :func:`prepare`: each ``transfer()`` costs the technique's own
    syscalls, not a new classification of both ends. Holds duplicates of the fds until
    ``close()``; a context manager."""

    def transfer(
        self,
        length: int | None = None,
        src_offset: int | None = None,
        dst_offset: int | None = None,
    ) -> Report:
        """Move ``length`` bytes (None: to end of file) from ``src_offset`` to ``dst_offset``
        (None: at and advancing the position) and report what this call cost."""
    def transfer_from(
        self,
        src: _Fd,
        length: int | None = None,
        src_offset: int | None = None,
        dst_offset: int | None = None,
    ) -> Report:
        """As ``transfer()``, from ``src`` (used for this call only) in place of the prepared
        source."""
    def set_cpu_meter(self, on: bool) -> None:
        """Turn the CPU meter on or off (on when prepared); off, a call makes 4 syscalls fewer
        and its Report's CPU time and context switches are 0 (not measured)."""
    def close(self) -> None:
        """Release the duplicates of the fds (the caller's stay open)."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def __enter__(self) -> Prepared: ...
    def __exit__(self, *exc: object) -> bool: ...

def probe(src: _Fd, dst: _Fd) -> list[Support]:
    """Which techniques can serve ``src`` -> ``dst``, and for the others why not."""

def strategies() -> list[str]:
    """The names ``strategy=`` accepts, "auto" first."""

def _inject_panic(after_bytes: int) -> None:
    """Test-only: the next transfer on this thread panics inside the engine once it has moved
    ``after_bytes`` bytes (it comes back as a ``ZcopyError``). Not part of the API, and only in
    a build with the ``testing`` feature (scripts/test-py.sh makes one): no released wheel has
    it."""

def _inject_worker_panic() -> None:
    """Test-only: the first worker thread of the next server started panics as it starts
    (``Server.close()`` then raises a ``ZcopyError``). Not part of the API, and only in a build
    with the ``testing`` feature."""


def residency(f: _File, offset: int = 0, length: int | None = None) -> Residency:
    """How much of ``f`` is in the page cache."""

def advise(f: _File, advice: _Advice | str, offset: int = 0, length: int = 0) -> bool:
    """posix_fadvise: True when the kernel took the hint, False when ``f`` has no page cache."""

def readahead(f: _File, offset: int = 0, length: int | None = None) -> bool:
    """Start reading ``f`` into the page cache without waiting (readahead(2)): True when the
    reads were started, False when ``f`` has no page cache."""

def evict(f: _File, offset: int = 0, length: int | None = None) -> Residency:
    """Drop ``f`` from the page cache (dirty pages written back first); what stays resident.

    ``method`` is ``"unknown"`` where this process may not see ``f``'s page cache (the pages
    are dropped all the same)."""

def warm(f: _File, offset: int = 0, length: int | None = None) -> Residency:
    """Bring ``f`` into the page cache and wait for it; its residency afterwards.

    ``method`` is ``"unknown"`` where this process may not see ``f``'s page cache (the pages
    are read all the same)."""

def lock(f: _File, offset: int = 0, length: int | None = None) -> Locked:
    """Map ``f`` and mlock its pages (``vmtouch -l``): every page resident until the Locked is
    closed. Past RLIMIT_MEMLOCK, ZcopyError with errno ENOMEM (EPERM for a limit of 0)."""

def lock_limit() -> int | None:
    """The soft RLIMIT_MEMLOCK in bytes, or None when nothing binds (unlimited, or
    CAP_IPC_LOCK)."""

@final
class Locked:
    """Pages of a file locked in memory by :func:`lock`, until ``close()``; a context
    manager."""

    @property
    def pages(self) -> int:
        """Pages locked; 0 once closed."""
    @property
    def bytes(self) -> int:
        """Bytes locked, from the page boundary at or below the offset; 0 once closed."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> None:
        """Unlock and unmap the pages."""
    def __enter__(self) -> Locked: ...
    def __exit__(self, *exc: object) -> bool: ...

def files(*paths: _Path) -> Files:
    """The files under ``paths`` as vmtouch walks them (directories recursively, in name order;
    symlinks, pipes, sockets and devices inside skipped; a file met before taken once)."""

@final
class Files:
    """What :func:`files` found."""

    @property
    def files(self) -> list[str]:
        """The files, in the order met."""
    @property
    def directories(self) -> int:
        """Directories walked."""
    @property
    def any_directory(self) -> bool:
        """Whether a path given was a directory."""
    @property
    def errors(self) -> list[tuple[str, ZcopyError]]:
        """What could not be read, as ``(path, error)``; the rest was walked."""

def auto_choice(
    src: _Fd,
    dst: _Fd,
    *,
    strategy: _Strategy | str | None = "auto",
    src_offset: int | None = None,
    dst_offset: int | None = None,
    length: int | None = None,
    chunk_size: int | None = None,
    fallback: bool = True,
    progress: _Progress = None,
    cancel: _Event | None = None,
    cache: _Cache | None = "keep",
    sync: _Sync | None = "none",
    direct_threshold: int | None = None,
    sparse: bool = True,
    queue_depth: int | None = None,
    parallelism: int | None = None,
) -> AutoChoice:
    """What ``strategy="auto"`` would do for ``src`` -> ``dst`` with these options, without
    moving a byte: the order it tries, the first technique the pair supports, and why."""

@final
class AutoChoice:
    """What auto would do for a pair (from :func:`auto_choice`)."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def order(self) -> list[str]:
        """The techniques auto tries, in order."""
    @property
    def first(self) -> str | None:
        """The first of them the pair supports: what auto runs first."""
    @property
    def why(self) -> str:
        """Why this order, in one sentence."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class TreeReport:
    """What one ``copytree`` did."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def files(self) -> int:
        """Regular files copied (hard links made again not counted)."""
    @property
    def directories(self) -> int:
        """Directories created (or found, with ``dirs_exist_ok``)."""
    @property
    def symlinks(self) -> int:
        """Symlinks made."""
    @property
    def specials(self) -> int:
        """FIFOs, sockets and devices made."""
    @property
    def hard_links(self) -> int:
        """Hard links made again."""
    @property
    def bytes(self) -> int:
        """Bytes copied: the regular files' lengths, each file once."""
    @property
    def elapsed_ns(self) -> int:
        """Wall-clock time of the whole copy, in nanoseconds."""
    @property
    def syscalls(self) -> int:
        """Syscalls made by the calling thread and the workers."""
    @property
    def errors(self) -> list[tuple[str, str]]:
        """The entries that failed, as ``(source path, message)``."""

@final
class Report:
    """What one transfer did and cost."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def bytes(self) -> int:
        """Bytes moved to the destination."""
    @property
    def strategy(self) -> str:
        """The technique that moved them."""
    @property
    def fallbacks(self) -> list[tuple[str, str]]:
        """Techniques tried before ``strategy``, as ``(strategy, reason)``."""
    @property
    def elapsed_ns(self) -> int:
        """Wall-clock time of the call, in nanoseconds."""
    @property
    def syscalls(self) -> int:
        """Syscalls the engine made for the call."""
    @property
    def mode_switches(self) -> int:
        """User/kernel mode switches: two per syscall."""
    @property
    def user_cpu_ns(self) -> int:
        """User CPU time of the calling thread, in nanoseconds."""
    @property
    def sys_cpu_ns(self) -> int:
        """Kernel CPU time of the calling thread, in nanoseconds."""
    @property
    def voluntary_ctx_switches(self) -> int:
        """Times the calling thread gave up the CPU waiting."""
    @property
    def involuntary_ctx_switches(self) -> int:
        """Times the scheduler took the CPU from the calling thread."""
    @property
    def cpu_copies_bytes(self) -> int:
        """Modelled bytes copied by a CPU."""
    @property
    def dma_copies_bytes(self) -> int:
        """Modelled bytes copied by DMA (disk or NIC; none at an end on tmpfs, procfs or sysfs)."""
    @property
    def zerocopy_sends(self) -> int:
        """``send(MSG_ZEROCOPY)`` calls made (msg_zerocopy only)."""
    @property
    def zerocopy_copied(self) -> int:
        """Of those, the ones the kernel copied after all."""
    def __add__(self, other: Report, /) -> Report:
        """The report of one transfer made in two calls, ``self`` then ``other`` (as
        ``atransfer`` adds up its calls): bytes, time and counters summed; the technique and
        fallbacks of the call that moved the last bytes."""
    def __radd__(self, other: Report, /) -> Report: ...
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, in DESIGN.md's order."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class Support:
    """Whether one technique can serve a pair of fds (from ``probe``)."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def strategy(self) -> str:
        """The technique's name."""
    @property
    def supported(self) -> bool:
        """Whether it can serve the pair."""
    @property
    def reason(self) -> str:
        """Why not (empty when supported)."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
    def __eq__(self, value: object, /) -> bool: ...

@final
class Residency:
    """How much of a range of a file is in the page cache."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    @property
    def pages(self) -> int:
        """Pages in the range."""
    @property
    def resident(self) -> int:
        """Pages of the range in the page cache."""
    @property
    def ratio(self) -> float:
        """``resident / pages`` (0.0 for an empty range)."""
    @property
    def bitmap(self) -> bytes:
        """One byte per page, 1 = resident."""
    @property
    def method(self) -> str:
        """``"cachestat"``, ``"mincore"``, ``"none"`` (no page cache) or ``"unknown"`` (from
        ``evict``/``warm`` on a file whose page cache this process may not see)."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
    def __eq__(self, value: object, /) -> bool: ...

#: A record for ``Log.append``, and what ``Log.decode`` parses.
_Bytes = bytes | bytearray | memoryview

class _LogOptions(TypedDict):
    """``Log.options``: ``Log``'s keyword arguments, as the log was opened."""

    segment_bytes: int
    flush: Literal["sync", "async", "manual"]
    flush_bytes: int | None
    flush_interval: float | None
    index_interval_bytes: int

@final
class Log:
    """An append-only log of records in a directory, Kafka-style (mmap'd segments, sendfile to
    consumers, crash recovery). One writer per directory; a context manager."""

    def __new__(
        cls,
        dir: _Path,
        *,
        segment_bytes: int = 67108864,
        flush: Literal["sync", "async", "manual"] = "sync",
        flush_bytes: int | None = None,
        flush_interval: float | None = 1.0,
        index_interval_bytes: int = 4096,
    ) -> Log: ...
    def append(self, record: _Bytes) -> int:
        """Appends ``record`` and returns its offset (durable on return under ``"sync"``)."""
    def flush(self) -> None:
        """Makes every record appended so far durable."""
    @property
    def next_offset(self) -> int:
        """The offset the next append will get."""
    @property
    def segments(self) -> list[int]:
        """The base offsets of the segment files, oldest first."""
    @property
    def options(self) -> _LogOptions:
        """The options the log was opened with, as ``Log``'s keyword arguments."""
    @property
    def background_flushes(self) -> int:
        """How many times the ``"async"`` flush thread has synced something (0 otherwise)."""
    @property
    def dir(self) -> Path:
        """The directory of the log."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def send(
        self,
        dst: _Fd,
        offset: int = 0,
        max_bytes: int | None = None,
        *,
        skip: int = 0,
        strategy: _Strategy | None = ...,
        fallback: bool = ...,
        progress: _Progress = ...,
        cancel: _Event | None = ...,
        cache: Literal["keep", "drop_after", "noreuse", "dontcache"] | None = ...,
        sync: Literal["none", "data", "full"] | None = ...,
        chunk_size: int | None = ...,
        dst_offset: int | None = ...,
    ) -> tuple[Report, int]:
        """Sends whole records from ``offset`` to ``dst`` with sendfile; returns the Report
        and the next offset to send from. ``skip``: bytes of these frames already sent by a
        call a non-blocking ``dst`` cut (its BlockingIOError's ``.bytes_moved``, summed).
        Messages name ``dst`` by your fd number (``dst fd 5``), the source by its segment's path."""
    def send_prepared(
        self, prepared: Prepared, offset: int = 0, max_bytes: int | None = None, *, skip: int = 0
    ) -> tuple[Report, int]:
        """``send`` through a transfer prepared once to the consumer's destination
        (``zcopy.prepare_to(sock)``): each send classifies only the segment. The options are
        the Prepared's (``strategy="sendfile"`` is what ``send`` runs); ``set_cpu_meter(False)``
        takes 4 syscalls off each send."""
    def read(self, offset: int = 0, max_records: int | None = None) -> list[bytes]:
        """Up to ``max_records`` records from ``offset`` on, each checked."""
    def close(self) -> None:
        """Syncs, stops the flush thread, truncates the active segment, releases the dir."""
    def __enter__(self) -> Log: ...
    def __exit__(self, *_exc: object) -> bool: ...
    @staticmethod
    def decode(data: _Bytes) -> list[tuple[int, bytes]]:
        """Parses frames as ``send`` writes them: ``(offset, payload)`` pairs."""
    @staticmethod
    def decode_prefix(data: _Bytes) -> tuple[list[tuple[int, bytes]], int]:
        """As ``decode``, leaving a frame cut short at the end: ``(records, used)``."""

@final
class Server:
    """An HTTP/1.1 static file server (GET and HEAD, ranges, keep-alive) serving ``root`` on
    background threads of this process until ``close()``; a context manager. A ``root`` that
    cannot be opened raises ``FileNotFoundError``, ``NotADirectoryError`` or
    ``PermissionError`` (each also a ``ZcopyError``).

    Limits, nginx's defaults: ``header_timeout`` seconds for a request head (60),
    ``keepalive_timeout`` seconds an idle kept-alive connection is kept (75),
    ``max_connections`` held at once per worker (512; more wait in the listen backlog). A
    second server on an address already served raises ``OSError`` (errno ``EADDRINUSE``).

    It answers as nginx: ``/dir`` is redirected (301) to ``/dir/``, which serves its
    ``index.html`` or 403; file responses carry ``Date``, ``Last-Modified`` and ``ETag``
    (``"<mtime hex>-<size hex>"``); ``If-None-Match`` and ``If-Modified-Since`` get 304 and
    ``If-Range`` is honoured. ``access_log`` is a path (appended to), ``"-"`` for standard
    output (fd 1) or ``None``/``"off"`` (the default): one line per response in nginx's
    combined format, buffered per worker and all written by the time ``close()`` returns."""

    def __new__(
        cls,
        root: _Path,
        *,
        listen: str = "127.0.0.1:0",
        workers: int | None = None,
        directio: int | None = None,
        model: Literal["threads", "poll", "epoll", "uring"] = "epoll",
        header_timeout: float = 60.0,
        keepalive_timeout: float = 75.0,
        max_connections: int = 512,
        access_log: _Path | None = None,
    ) -> Server: ...
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on."""
    @property
    def port(self) -> int:
        """The port the server listens on."""
    @property
    def url(self) -> str:
        """``http://HOST:PORT``, to which a file's path is appended."""
    @property
    def model(self) -> str:
        """The I/O model's name."""
    @property
    def running(self) -> bool:
        """Whether the server is still serving."""
    def close(self) -> None:
        """Stops the server and waits for its threads; raises a worker's error, if any."""
    def __enter__(self) -> Server: ...
    def __exit__(self, *_exc: object) -> bool: ...

class ZcopyError(OSError):
    """A zcopy call failed; ``.bytes_moved`` tells how far it got."""

    bytes_moved: int
    report: Report | None

class UnsupportedError(ZcopyError):
    """The technique asked for cannot serve this pair (fallback=False), or none can."""

class CancelledError(ZcopyError):
    """Stopped by the progress callback or the cancel event (errno ECANCELED)."""

class ZcopyValueError(ZcopyError, ValueError):
    """A bad argument found by the engine: a ValueError and a ZcopyError."""

class ZcopyBlockingIOError(ZcopyError, BlockingIOError):
    """A zcopy failure that is also a BlockingIOError (EAGAIN: a non-blocking fd would block)."""

class ZcopyChildProcessError(ZcopyError, ChildProcessError):
    """A zcopy failure that is also a ChildProcessError."""

class ZcopyConnectionError(ZcopyError, ConnectionError):
    """A zcopy failure that is also a ConnectionError."""

class ZcopyBrokenPipeError(ZcopyError, BrokenPipeError):
    """A zcopy failure that is also a BrokenPipeError (EPIPE: the reader is gone)."""

class ZcopyConnectionAbortedError(ZcopyError, ConnectionAbortedError):
    """A zcopy failure that is also a ConnectionAbortedError."""

class ZcopyConnectionRefusedError(ZcopyError, ConnectionRefusedError):
    """A zcopy failure that is also a ConnectionRefusedError."""

class ZcopyConnectionResetError(ZcopyError, ConnectionResetError):
    """A zcopy failure that is also a ConnectionResetError."""

class ZcopyFileExistsError(ZcopyError, FileExistsError):
    """A zcopy failure that is also a FileExistsError."""

class ZcopyFileNotFoundError(ZcopyError, FileNotFoundError):
    """A zcopy failure that is also a FileNotFoundError (ENOENT)."""

class ZcopyInterruptedError(ZcopyError, InterruptedError):
    """A zcopy failure that is also an InterruptedError."""

class ZcopyIsADirectoryError(ZcopyError, IsADirectoryError):
    """A zcopy failure that is also an IsADirectoryError."""

class ZcopyNotADirectoryError(ZcopyError, NotADirectoryError):
    """A zcopy failure that is also a NotADirectoryError."""

class ZcopyPermissionError(ZcopyError, PermissionError):
    """A zcopy failure that is also a PermissionError (EACCES, EPERM)."""

class ZcopyProcessLookupError(ZcopyError, ProcessLookupError):
    """A zcopy failure that is also a ProcessLookupError."""

class ZcopyTimeoutError(ZcopyError, TimeoutError):
    """A zcopy failure that is also a TimeoutError."""
