"""Ctrl-C alone, on the main thread, in a call of a ``length`` of at most 1 MiB: where SIGINT
interrupts the thread's waits (Python's own handler, installed without SA_RESTART, and SIGINT not
blocked in the thread), the engine cuts no wait into ticks
(``WaitTicks::UnlessInterruptedBy(SIGINT)``): a transfer to a socket sets no SO_SNDTIMEO, and the
signal itself ends a stalled wait. A longer call, or one to end of file, keeps the ticks (a look
at the signals after every chunk would take the GIL each 128 KiB). After ``signal.siginterrupt(SIGINT,
False)`` (SA_RESTART), or with SIGINT blocked in the main thread, the waits are cut into ticks
again, and Ctrl-C still stops the call.

The ticks are seen without strace: while the call is blocked, the socket's SO_SNDTIMEO is 100 ms
with ticks and 0 without; and a Report's ``syscalls`` counts the getsockopt and two setsockopt
a tick costs."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import zcopy

from conftest import data

#: The stop must end the call within this (a tick is 100 ms; the rest is slack for a busy machine).
BOUND = 1.5

#: SO_SNDTIMEO while the engine cuts a socket's waits into ticks: 100 ms.
TICK = (0, 100_000)

#: The longest call Python runs without ticks (1 MiB: a socketpair's buffer fills long before).
SMALL = 1 << 20


@pytest.fixture(autouse=True)
def _python_sigint_handler() -> Iterator[None]:
    """Python's own SIGINT handler (installed without SA_RESTART), and SIGINT unblocked; both
    as they were after the test."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, [])
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # signal.signal installs without SA_RESTART: this also undoes siginterrupt(..., False).
        signal.signal(signal.SIGINT, old)


def send_timeout(sock: socket.socket) -> tuple[int, int]:
    sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
    return sec, usec


def stalled(
    tmp_path: Path, call: Callable[[Any, socket.socket], object], before: Callable[[], None] = lambda: None
) -> tuple[tuple[int, int], int]:
    """Runs ``call(src_file, sock)`` on the main thread, to a socket whose peer does not read,
    with 32 MiB to send; 0.4 s in (the call must still be blocked) a thread reads the socket's
    SO_SNDTIMEO and sends SIGINT to the process (as a terminal's Ctrl-C does). ``before`` runs on
    the main thread once that thread started. Checks the call raised KeyboardInterrupt within
    BOUND, that the peer then reads exactly ``.bytes_moved`` bytes of the source, and gives the
    SO_SNDTIMEO seen and the bytes moved."""
    assert threading.current_thread() is threading.main_thread()
    body = data(32 << 20, 11)
    (tmp_path / "src").write_bytes(body)
    near, far = socket.socketpair()
    seen: list[Any] = []

    def ctrl_c() -> None:
        time.sleep(0.4)
        seen.append(send_timeout(near))
        seen.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    def release() -> None:
        far.shutdown(socket.SHUT_RDWR)

    timer = threading.Thread(target=ctrl_c, daemon=True)
    watchdog = threading.Timer(5.0, release)
    timer.start()
    watchdog.start()
    try:
        before()
        with open(tmp_path / "src", "rb") as src:
            with pytest.raises(KeyboardInterrupt) as info:
                call(src, near)
            ended = time.monotonic()
        timer.join()
    finally:
        watchdog.cancel()
    assert len(seen) == 2, "the call ended before Ctrl-C"
    assert ended - seen[1] < BOUND, ended - seen[1]
    moved = info.value.bytes_moved  # type: ignore[attr-defined]
    assert isinstance(moved, int) and moved > 0
    near.close()
    got = bytearray()
    while piece := far.recv(1 << 20):
        got += piece
    far.close()
    assert bytes(got) == body[:moved]
    return seen[0], moved


def by_transfer(src: Any, dst: socket.socket) -> object:
    return zcopy.transfer(src, dst, length=SMALL)


def by_prepared(src: Any, dst: socket.socket) -> object:
    with zcopy.prepare(src, dst) as p:
        r = p.transfer(SMALL)
    return r


CALLS = {"transfer": by_transfer, "prepared": by_prepared}


def to_eof_by_transfer(src: Any, dst: socket.socket) -> object:
    return zcopy.transfer(src, dst)


def to_eof_by_prepared(src: Any, dst: socket.socket) -> object:
    with zcopy.prepare(src, dst) as p:
        r = p.transfer()
    return r


def longer_by_transfer(src: Any, dst: socket.socket) -> object:
    return zcopy.transfer(src, dst, length=SMALL + 1)


LONG_CALLS = {"to end of file": to_eof_by_transfer, "prepared, to end of file": to_eof_by_prepared,
              "a length over 1 MiB": longer_by_transfer}


@pytest.mark.parametrize("how", CALLS)
def test_ctrl_c_ends_a_stalled_wait_without_ticks(tmp_path: Path, how: str) -> None:
    timeout, _ = stalled(tmp_path, CALLS[how])
    assert timeout == (0, 0), "no tick: the socket's SO_SNDTIMEO stays 0"


@pytest.mark.parametrize("strategy", ["read_write", "splice", "sendfile", "io_uring"])
def test_each_technique_is_ended_by_the_signal(tmp_path: Path, strategy: str) -> None:
    def call(src: Any, dst: socket.socket) -> object:
        return zcopy.transfer(src, dst, strategy=strategy, fallback=False, length=SMALL)

    timeout, _ = stalled(tmp_path, call)
    assert timeout == (0, 0)


@pytest.mark.parametrize("how", LONG_CALLS)
def test_a_longer_call_keeps_the_ticks(tmp_path: Path, how: str) -> None:
    timeout, _ = stalled(tmp_path, LONG_CALLS[how])
    assert timeout == TICK, "a call over 1 MiB or to end of file cuts its waits into ticks"


@pytest.mark.parametrize("how", CALLS)
def test_with_sa_restart_the_waits_are_cut_into_ticks(tmp_path: Path, how: str) -> None:
    # SA_RESTART: the kernel resumes the wait after Python's handler, so only a tick asks.
    signal.siginterrupt(signal.SIGINT, False)
    timeout, _ = stalled(tmp_path, CALLS[how])
    assert timeout == TICK


@pytest.mark.parametrize("how", CALLS)
def test_with_sigint_blocked_in_the_main_thread_the_waits_are_cut_into_ticks(tmp_path: Path, how: str) -> None:
    # The main thread blocks SIGINT; the thread that sends it (started first, so it does not
    # inherit the mask) receives it: Python's C handler notes it there, and the main thread's
    # next tick runs the Python handler, which raises KeyboardInterrupt.
    def block() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])

    timeout, _ = stalled(tmp_path, CALLS[how], before=block)
    assert timeout == TICK


def four_kib(tmp_path: Path) -> tuple[Any, socket.socket, socket.socket]:
    body = data(4096, 12)
    (tmp_path / "small").write_bytes(body)
    near, far = socket.socketpair()
    return open(tmp_path / "small", "rb"), near, far


def test_the_syscalls_a_tick_costs(tmp_path: Path) -> None:
    """A 4 KiB transfer to a socket with room, from the main thread: with SA_RESTART it makes the
    tick's getsockopt and two setsockopt more (3 syscalls) than with Python's own handler; the
    same for a prepared transfer, prepared under each."""
    src, near, far = four_kib(tmp_path)
    with src, near, far:

        def once() -> int:
            r = zcopy.transfer(src, near, src_offset=0, length=4096)
            assert r.bytes == 4096 and far.recv(8192) == data(4096, 12)
            return r.syscalls

        def prepared() -> list[int]:
            with zcopy.prepare(src, near) as p:
                p.set_cpu_meter(False)
                counts = []
                for _ in range(2):
                    r = p.transfer(4096, 0)
                    assert r.bytes == 4096 and far.recv(8192) == data(4096, 12)
                    counts.append(r.syscalls)
            return counts

        once()  # the first call of a thread asks the source's filesystem type (cached after)
        without, prep_without = once(), prepared()
        signal.siginterrupt(signal.SIGINT, False)
        with_ticks, prep_with = once(), prepared()
    assert with_ticks == without + 3
    assert prep_with == [n + 3 for n in prep_without]


def test_a_prepared_transfer_keeps_what_it_saw_when_prepared(tmp_path: Path) -> None:
    """Prepared under Python's own handler, then SA_RESTART set: the calls still cut no wait
    (the docs: a host that changes SIGINT's flags after preparing prepares again)."""
    src, near, far = four_kib(tmp_path)
    with src, near, far, zcopy.prepare(src, near) as p:
        p.set_cpu_meter(False)
        # The first call asks once what later ones know (the socket's family, the filesystem's type).
        p.transfer(4096, 0)
        before = p.transfer(4096, 0).syscalls
        signal.siginterrupt(signal.SIGINT, False)
        after = p.transfer(4096, 0).syscalls
        got = b""
        while len(got) < 3 * 4096:
            got += far.recv(1 << 16)
        assert got == data(4096, 12) * 3
    assert after == before
