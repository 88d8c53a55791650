"""asyncio: :func:`atransfer` and :func:`acopy_file`, the awaitable forms of
:func:`zcopy.transfer` and :func:`zcopy.copy_file`. They never block the event loop.

How, end by end:

- A pipe, FIFO or stream socket is driven through the loop's readiness callbacks
  (``add_reader``/``add_writer``) on an fd of zcopy's own that is non-blocking: a socket that is
  already non-blocking (every socket asyncio, aiohttp or uvicorn hand out) is duplicated before
  the first wait (a transfer done in one call on the loop's thread, the usual small response,
  needs no duplicate); a pipe or FIFO is opened again through ``/proc/self/fd``, which gives a
  new open file description whose ``O_NONBLOCK`` is zcopy's alone. The caller's fd, and its
  flags, are never changed.
  The engine moves what the ends take without waiting, stops with ``BlockingIOError`` and
  ``.bytes_moved``, and the transfer goes on from there once the loop says the end that was not
  ready is ready.
- Where a regular file or block device is one end, the engine calls run in a worker thread
  (``loop.run_in_executor``): a page-cache miss, a page allocation or writeback waits there, not
  on the loop. The exception is a small read from a file (at most :data:`CHUNK` bytes: a small
  file, or a small ``src_offset``/``length`` range of a big one) wholly in the page cache
  (``residency``) to a pipe or socket, sent on the loop's thread as ``loop.sendfile`` sends
  every file: nothing there waits for the disk, and a thread hop would cost more than the send.
- Two stream ends (socket -> pipe, ...) run on the loop's thread, at most :data:`CHUNK` bytes
  per engine call.
- ``acopy_file``, and the ends that cannot be given a non-blocking fd of their own (a blocking
  socket: ``O_NONBLOCK`` belongs to the open file description, which every duplicate shares; a
  pipe read through a buffered file object) run in the worker thread too.

A call in the thread is stopped on ``task.cancel()`` by the engine's own cancel flag (seen
between chunks, and every 100 ms in a wait).

``task.cancel()`` stops the transfer between chunks (or within the engine's 100 ms tick in a
thread) and raises ``asyncio.CancelledError`` with ``.bytes_moved`` (bytes that reached ``dst``)
and ``.report`` (what the calls made until then cost, or None). The Report of a transfer made
in several engine calls is their sum (``Report.__add__``): bytes, syscalls, time and CPU summed,
``elapsed_ns`` being the time spent in the engine (not the waits between its calls).
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import re
import select
import socket
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from ._zcopy import CancelledError as _EngineCancelled
from ._zcopy import Report, ZcopyError, copy_file, residency, transfer

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    from ._zcopy import _Cache, _Event, _Fd, _Path, _Progress, _Strategy, _Sync

    class _Options(TypedDict, total=False):
        """The keyword options of ``transfer`` and ``copy_file`` (see there)."""

        strategy: _Strategy | str | None
        src_offset: int | None
        dst_offset: int | None
        length: int | None
        chunk_size: int | None
        fallback: bool
        progress: _Progress
        cancel: _Event | None
        cache: _Cache | None
        sync: _Sync | None
        direct_threshold: int | None
        sparse: bool
        queue_depth: int | None
        parallelism: int | None

__all__ = ["atransfer", "acopy_file", "CHUNK"]

#: The most bytes one engine call on the loop's thread may move (between two calls the loop
#: runs its other callbacks; a non-blocking end usually stops a call sooner); and the most bytes
#: read from a file on the loop's thread (when wholly in the page cache).
CHUNK = 1 << 20


class _Stop:
    """The cancel event given to the engine: set by ``task.cancel()`` (:meth:`set`), or the
    caller's own ``cancel=`` event. (A flag, not a ``threading.Event``: the engine reads it
    between chunks with the GIL held, and an Event would cost a lock per transfer.)"""

    def __init__(self, theirs: Any) -> None:
        self.ours = False
        self.theirs = theirs

    def set(self) -> None:
        self.ours = True

    def is_set(self) -> bool:
        return self.ours or (self.theirs is not None and bool(self.theirs.is_set()))


class _End:
    """One end of a transfer as the engine gets it: ``arg`` (what to pass), ``fd`` (zcopy's own
    non-blocking fd for a stream end, else None), ``theirs`` (the caller's fd number, for
    messages), ``stream`` and ``blocking`` (whether the engine may wait on it: thread then)."""

    def __init__(self, obj: Any, role: str, write: bool) -> None:
        self.arg: Any = obj
        self.fd: Optional[int] = None
        self.theirs: Optional[int] = None
        self.stream = False
        self.file = False
        self.size = 0
        self.blocking = True
        self.write = write
        self.role = role
        try:
            theirs = obj if isinstance(obj, int) and not isinstance(obj, bool) else obj.fileno()
            st = os.fstat(theirs)
        except Exception:
            # Not an fd zcopy can look at: the engine call (in a thread) raises what
            # zcopy.transfer raises for it.
            return
        self.theirs = theirs
        if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode):
            self.blocking = False
            self.file = True
            self.size = st.st_size
            return
        if not (stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)):
            return  # a character device: a thread
        if isinstance(obj, (io.BufferedIOBase, io.TextIOBase)):
            return  # its buffer is the face's to handle: a thread
        self.stream = True
        if not os.get_blocking(theirs):
            # Non-blocking already: the engine may use the caller's fd while the loop's thread
            # is in the call; :meth:`own` duplicates it before the first wait or thread.
            self.arg = theirs
            self.blocking = False
            return
        if stat.S_ISFIFO(st.st_mode):
            import fcntl

            access = fcntl.fcntl(theirs, fcntl.F_GETFL) & os.O_ACCMODE
            try:
                self.fd = os.open(f"/proc/self/fd/{theirs}", access | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                return  # (a pipe whose other end is closed): a thread, with sync's error
        else:
            return  # a blocking socket: its O_NONBLOCK is shared with every duplicate
        self.arg = self.fd
        self.blocking = False

    def own(self) -> None:
        """Before a wait or a call in a thread, a non-blocking stream end gets an fd of zcopy's
        own, a duplicate: the loop watches zcopy's fd (the caller's may be a transport's, watched
        already), and the caller may close theirs meanwhile. (Not needed, and not made, for a
        transfer that ends in one call on the loop's thread: the usual small response.)"""
        if self.fd is None and self.stream and not self.blocking and self.theirs is not None:
            self.fd = os.dup(self.theirs)
            self.arg = self.fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def rename(self, message: str) -> str:
        """``message`` naming the caller's fd where the engine named zcopy's."""
        if self.fd is None or self.theirs is None or self.fd == self.theirs:
            return message
        return re.sub(rf"\b{self.role} fd {self.fd}(?!\d)", f"{self.role} fd {self.theirs}", message)


def _small_and_cached(src: _End, offset: Optional[int], length: Optional[int]) -> bool:
    """Whether the bytes to send from the file ``src`` (from ``offset``, or the fd's position;
    ``length`` of them, or to its end) are at most :data:`CHUNK` and all in the page cache. With
    the fd's position, the whole file is judged (no ``lseek`` for it)."""
    if src.theirs is None:
        return False
    if offset is None:
        start, span = 0, src.size
    else:
        start = offset
        span = src.size - offset if length is None else min(length, src.size - offset)
    if span <= 0:
        return True  # nothing to read: the call ends at once
    if span > CHUNK:
        return False
    try:
        r = residency(src.theirs, start, span)
    except Exception:
        return False
    # (A page whose read is still in flight counts in ``resident`` but is 0 in the bitmap: the
    # send would wait for it.)
    return r.resident == r.pages and 0 not in r.bitmap


def _add(a: Optional[Report], b: Optional[Report]) -> Optional[Report]:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _cancelled(moved: int, report: Optional[Report]) -> asyncio.CancelledError:
    e = asyncio.CancelledError(f"transfer cancelled after {moved} bytes")
    e.bytes_moved = moved  # type: ignore[attr-defined]
    e.report = report  # type: ignore[attr-defined]
    return e


def _progress(arg: Any, total: Optional[int]) -> Any:
    """The caller's ``progress=``: a callable, kept; True, a tqdm bar of the whole transfer (one
    for all the engine calls); anything else is left to the engine to judge."""
    if arg is True:
        from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024)
        seen = [0]

        def tick(n: int) -> bool:
            bar.update(n - seen[0])
            seen[0] = n
            return True

        tick.close = bar.close  # type: ignore[attr-defined]
        return tick
    return arg


async def _in_thread(call: Callable[[], Report], stop: _Stop) -> Report:
    """Runs ``call`` in the loop's default executor; on ``task.cancel()`` sets ``stop`` (the
    engine's cancel flag) and waits for the call to end, then raises CancelledError."""
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, call)
    cancelled = False
    while not fut.done():
        try:
            await asyncio.wait({fut})
        except asyncio.CancelledError:
            # The engine sees its cancel flag between chunks, and every 100 ms in a wait.
            cancelled = True
            stop.set()
    if not cancelled:
        return fut.result()
    # Ended by our stop (an engine CancelledError), or done before the stop was seen: either
    # way the task was cancelled.
    exc = fut.exception()
    if exc is None:
        r = fut.result()
        raise _cancelled(r.bytes, r)
    ours = isinstance(exc, _EngineCancelled) and not (stop.theirs is not None and stop.theirs.is_set())
    if ours or isinstance(exc, BlockingIOError):
        # (A call that ended waiting for an end as the cancel came: cancelled all the same.)
        raise _cancelled(getattr(exc, "bytes_moved", 0), getattr(exc, "report", None))
    raise exc


class _Waiter:
    """Waits with the loop's ``add_reader``/``add_writer`` for the stream ends a call found not
    ready. With ``keep`` (the calls run on the loop's thread), a registration stays from one wait
    to the next while the same ends are waited for: two ``epoll_ctl`` fewer per wait. (Not for
    calls in a thread: a writable fd left registered would wake the loop on every turn while the
    thread writes.)"""

    def __init__(self, src: _End, dst: _End, keep: bool) -> None:
        self.loop = asyncio.get_running_loop()
        for end in (src, dst):
            end.own()
        self.ends = [e for e in (src, dst) if e.fd is not None]
        self.keep = keep
        self.fut: Optional[asyncio.Future[None]] = None
        self.registered: list[_End] = []

    def _wake(self) -> None:
        if self.fut is not None and not self.fut.done():
            self.fut.set_result(None)

    def _watch(self, ends: list[_End]) -> None:
        for end in [e for e in self.registered if e not in ends]:
            assert end.fd is not None
            (self.loop.remove_writer if end.write else self.loop.remove_reader)(end.fd)
            self.registered.remove(end)
        for end in [e for e in ends if e not in self.registered]:
            assert end.fd is not None
            (self.loop.add_writer if end.write else self.loop.add_reader)(end.fd, self._wake)
            self.registered.append(end)

    async def wait(self) -> None:
        """Until the end that is not ready (src readable, dst writable) is ready."""
        waiting = self.ends
        if len(self.ends) == 2:
            # Two streams: which one stopped the call? (One stream end: that one.)
            poll = select.poll()
            for end in self.ends:
                assert end.fd is not None
                poll.register(end.fd, select.POLLOUT if end.write else select.POLLIN)
            ready = set()
            for fd, events in poll.poll(0):
                if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    return  # the next call meets the error, or the end of the data
                ready.add(fd)
            waiting = [e for e in self.ends if e.fd not in ready]
            if not waiting:
                await asyncio.sleep(0.001)  # ready by poll, yet the call said EAGAIN: shortly
                return
        self._watch(waiting)
        self.fut = self.loop.create_future()
        try:
            await self.fut
        finally:
            self.fut = None
            if not self.keep:
                self._watch([])

    def close(self) -> None:
        self._watch([])


async def atransfer(src: _Fd, dst: _Fd, **options: Unpack[_Options]) -> Report:
    """Move bytes from ``src`` to ``dst`` without blocking the event loop, and report what it
    cost: :func:`zcopy.transfer` for asyncio (the same options, Report and errors).

    >>> report = await zcopy.atransfer(open("big.iso", "rb"), writer.get_extra_info("socket"))  # doctest: +SKIP

    Pipes and sockets are waited for with the loop's ``add_reader``/``add_writer`` on a
    non-blocking fd of zcopy's own (the caller's fd and its flags are never changed); the engine
    calls that read or write a file run in a worker thread, but for a small read from a file
    (at most :data:`CHUNK` bytes) wholly in the page cache, sent on the loop's thread as
    ``loop.sendfile`` does; a blocking socket runs in the worker thread.

    ``task.cancel()`` stops it between chunks with ``asyncio.CancelledError`` carrying
    ``.bytes_moved`` and ``.report``. Errors are :func:`zcopy.transfer`'s, with ``.bytes_moved``
    and ``.report`` counting every chunk; the Report sums the engine calls it took
    (``elapsed_ns`` is their time, without the waits between them).
    """
    length: Optional[int] = options.pop("length", None)
    src_offset: Optional[int] = options.pop("src_offset", None)
    dst_offset: Optional[int] = options.pop("dst_offset", None)
    progress = _progress(options.pop("progress", None), length)
    stop = _Stop(options.pop("cancel", None))
    s = _End(src, "src", write=False)
    try:
        d = _End(dst, "dst", write=True)
    except BaseException:
        s.close()
        raise
    # (A blocking end, or a file that is not a small source to a stream: see the module's doc.)
    small = s.file and d.stream and not d.blocking and _small_and_cached(s, src_offset, length)
    threaded = s.blocking or d.blocking or d.file or (s.file and not small)
    if threaded:
        s.own()
        d.own()
    moved = 0
    report: Optional[Report] = None
    idle = 0
    waiter: Optional[_Waiter] = None
    try:
        while True:
            remaining = None if length is None else length - moved
            ask = remaining if threaded else min(CHUNK, CHUNK if remaining is None else remaining)
            base = moved
            kw: dict[str, Any] = dict(options)
            kw["length"] = ask
            kw["src_offset"] = None if src_offset is None else src_offset + moved
            kw["dst_offset"] = None if dst_offset is None else dst_offset + moved
            # (On the loop's thread, task.cancel() comes between calls: the engine needs only
            # the caller's own event.)
            kw["cancel"] = stop if threaded else stop.theirs
            if callable(progress):
                kw["progress"] = lambda n, base=base: progress(base + n)
            elif progress is not None:
                kw["progress"] = progress
            call = functools.partial(transfer, s.arg, d.arg, **kw)
            try:
                if threaded:
                    r = await _in_thread(call, stop)
                else:
                    r = call()
            except BlockingIOError as e:
                step = int(getattr(e, "bytes_moved", 0))
                idle = 0 if step else idle + 1
                if idle > 1000:
                    # A thousand calls in a row moved nothing though the loop said "ready": an
                    # end that is never ready for the engine's call; the caller sees why.
                    raise _renamed(e, s, d, moved, report) from None
                moved += step
                report = _add(report, getattr(e, "report", None))
                if waiter is None:
                    waiter = _Waiter(s, d, keep=not threaded)
                try:
                    await waiter.wait()
                except asyncio.CancelledError:
                    raise _cancelled(moved, report) from None
                continue
            except asyncio.CancelledError as e:
                e.bytes_moved = moved + getattr(e, "bytes_moved", 0)  # type: ignore[attr-defined]
                e.report = _add(report, getattr(e, "report", None))  # type: ignore[attr-defined]
                raise
            except ZcopyError as e:
                raise _renamed(e, s, d, moved, report) from None
            moved += r.bytes
            report = _add(report, r)
            idle = 0
            if ask is None or r.bytes < ask or moved == length:
                break
            # Between chunks the loop runs; a cancel arrives here.
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise _cancelled(moved, report) from None
    finally:
        if waiter is not None:
            waiter.close()
        s.close()
        d.close()
        close = getattr(progress, "close", None)
        if close is not None:
            close()
    assert report is not None
    return report


def _renamed(e: OSError, s: _End, d: _End, before: int, report: Optional[Report]) -> OSError:
    """``e``, from one engine call after ``before`` bytes moved by earlier ones, as the whole
    transfer raises it: the caller's fd numbers in its message, ``.bytes_moved`` and ``.report``
    over every call."""
    message = d.rename(s.rename(str(e.strerror))) if e.strerror is not None else None
    if message is not None and message != e.strerror:
        new = type(e)(e.errno, message) if e.errno is not None else type(e)(message)
    else:
        new = e
    new.bytes_moved = before + int(getattr(e, "bytes_moved", 0))  # type: ignore[attr-defined]
    new.report = _add(report, getattr(e, "report", None))  # type: ignore[attr-defined]
    return new


async def acopy_file(src: _Path, dst: _Path, **options: Unpack[_Options]) -> Report:
    """Copy the file at ``src`` to ``dst`` in a worker thread, without blocking the event loop:
    :func:`zcopy.copy_file` for asyncio (the same options, Report and errors).

    >>> report = await zcopy.acopy_file("big.iso", "copy.iso")  # doctest: +SKIP

    ``task.cancel()`` stops the copy (the engine's cancel flag, seen between chunks and every
    100 ms in a wait) with ``asyncio.CancelledError`` carrying ``.bytes_moved`` and ``.report``.
    """
    progress = _progress(options.pop("progress", None), options.get("length"))
    stop = _Stop(options.pop("cancel", None))
    kw: dict[str, Any] = dict(options)
    kw["cancel"] = stop
    if progress is not None:
        kw["progress"] = progress
    try:
        return await _in_thread(functools.partial(copy_file, src, dst, **kw), stop)
    finally:
        close = getattr(progress, "close", None)
        if close is not None:
            close()
