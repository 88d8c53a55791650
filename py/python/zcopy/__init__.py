"""zcopy: move bytes between file descriptors by every technique Linux offers, and report what
it cost.

>>> import zcopy
>>> with open("big.iso", "rb") as src, open("copy.iso", "wb") as dst:  # doctest: +SKIP
...     report = zcopy.transfer(src, dst)
>>> report.strategy, report.bytes, report.syscalls  # doctest: +SKIP
('copy_file_range', 67108864, 11)

Functions: :func:`transfer` (fds and file objects), :func:`atransfer` and :func:`acopy_file`
(the same for asyncio: they never block the event loop), :func:`prepare` (a transfer classified
once and run many times: :class:`Prepared`; :func:`prepare_to` for a destination alone, each
call naming its source), :func:`copy_file` (paths), :func:`copytree` (whole trees, like
``cp -a``: :class:`TreeReport`), :func:`probe`
(which techniques can serve a pair, and why not), :func:`strategies` (the technique names); for
the page cache, :func:`residency` (what of a file is cached), :func:`advise` (posix_fadvise),
:func:`readahead` (start reading, without waiting), :func:`evict` and :func:`warm`, :func:`lock`
(mlock a file's pages: :class:`Locked`) and :func:`lock_limit`, :func:`files` (the files under
directories, as vmtouch walks them); :func:`auto_choice` (what auto would run first for a pair,
and why); :class:`Log`, a Kafka-style append-only segment log
(appends through mmap'd segments, consumers served with sendfile, crash recovery);
:class:`Server`, the engine's nginx-style HTTP file server on background threads (sendfile
below a ``directio`` size, O_DIRECT through io_uring above it; four I/O models).
Every transfer returns a :class:`Report`. Errors are :class:`ZcopyError` (an ``OSError``; OS
failures are also the matching built-in such as ``FileNotFoundError``), :class:`UnsupportedError`
and :class:`CancelledError`; each carries ``.bytes_moved``.

The experiments of the zero-copy literature, run on this machine: ``from zcopy import
experiments`` (pandas and matplotlib optional).

The work is done by a Rust engine (the ``zcopy`` crate); this package translates arguments,
types and errors.
"""

from typing import TYPE_CHECKING, NoReturn

from ._zcopy import (
    AutoChoice,
    CancelledError,
    Files,
    Locked,
    Prepared,
    Report,
    Residency,
    Support,
    TreeReport,
    UnsupportedError,
    ZcopyError,
    __version__,
    advise,
    auto_choice,
    copy_file,
    copytree,
    evict,
    files,
    lock,
    lock_limit,
    prepare,
    prepare_to,
    probe,
    readahead,
    residency,
    strategies,
    transfer,
    warm,
)
from ._aio import acopy_file, atransfer

__all__ = [
    "AutoChoice",
    "CancelledError",
    "Files",
    "Locked",
    "Prepared",
    "Report",
    "Residency",
    "Support",
    "TreeReport",
    "UnsupportedError",
    "ZcopyError",
    "__version__",
    "acopy_file",
    "advise",
    "atransfer",
    "auto_choice",
    "copy_file",
    "copytree",
    "evict",
    "files",
    "lock",
    "lock_limit",
    "prepare",
    "prepare_to",
    "probe",
    "readahead",
    "residency",
    "strategies",
    "transfer",
    "warm",
]

# Log and Server are cargo features of the extension (`log`, `serve`), on by default. A build
# without one (maturin build --no-default-features) lacks its class: the name is then absent
# from the package, and using it raises an AttributeError that names the feature.
_WITHOUT: dict[str, str] = {}
try:
    from ._zcopy import Log
except ImportError:
    _WITHOUT["Log"] = "log"
else:
    __all__ += ["Log"]
try:
    from ._zcopy import Server
except ImportError:
    _WITHOUT["Server"] = "serve"
else:
    __all__ += ["Server"]

if not TYPE_CHECKING and _WITHOUT:

    def __getattr__(name: str) -> NoReturn:
        feature = _WITHOUT.get(name)
        if feature is None:
            raise AttributeError(f"module 'zcopy' has no attribute {name!r}")
        raise AttributeError(
            f"zcopy.{name} is not in this build of zcopy: its extension was built without the "
            f"cargo feature {feature!r} (rebuild with it, or with the default features)"
        )
