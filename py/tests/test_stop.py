"""Every blocking wait can be stopped: Ctrl-C, a cancel event and a progress callback that
returns False each end a call blocked in the kernel within a second, with ``.bytes_moved``
exact. Blocking points: an idle pipe or socket source, a full pipe destination, a stalled
socket destination. (copy_file refuses FIFOs before opening them.)"""

from __future__ import annotations

import os
import signal
import socket
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

STOPS = ["ctrl_c", "cancel", "progress"]


@pytest.fixture(autouse=True)
def _sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """Python's own SIGINT handler (see test_threads.py: a background shell may have left
    SIGINT ignored)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stopped(stop: str, call: Callable[[dict[str, Any]], object], release: Callable[[], None]) -> int:
    """Runs ``call(options)`` on the main thread, asks ``stop`` 0.4 s later (the call must still
    be blocked), checks it raised the right exception within BOUND, and gives ``bytes_moved``.
    ``release`` frees a call that missed the stop, after 5 s."""
    assert threading.current_thread() is threading.main_thread()
    event = threading.Event()
    go_on = [True]
    asked = [0.0]
    options: dict[str, Any] = {}
    if stop == "cancel":
        options["cancel"] = event
    elif stop == "progress":
        options["progress"] = lambda moved: go_on[0]
    main = threading.main_thread().ident
    assert main is not None

    def ask() -> None:
        asked[0] = time.monotonic()
        if stop == "ctrl_c":
            signal.pthread_kill(main, signal.SIGINT)
        event.set()
        go_on[0] = False

    timer = threading.Timer(0.4, ask)
    watchdog = threading.Timer(5.0, release)
    timer.start()
    watchdog.start()
    expected: type[BaseException] = KeyboardInterrupt if stop == "ctrl_c" else zcopy.CancelledError
    try:
        with pytest.raises(expected) as info:
            call(options)
        ended = time.monotonic()
    finally:
        timer.cancel()
        watchdog.cancel()
    assert asked[0] > 0, "the call ended before the stop was asked"
    assert ended - asked[0] < BOUND, ended - asked[0]
    moved = info.value.bytes_moved  # type: ignore[attr-defined]
    assert isinstance(moved, int)
    if stop != "ctrl_c":
        assert info.value.errno == 125  # type: ignore[attr-defined]  # ECANCELED
    return moved


def _stream(kind: str) -> tuple[socket.socket, socket.socket]:
    if kind == "unix":
        return socket.socketpair()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


@pytest.mark.parametrize("stop", STOPS)
@pytest.mark.parametrize("strategy", ["read_write", "splice"])
@pytest.mark.parametrize("kind", ["pipe", "unix", "tcp"])
def test_idle_source(tmp_path: Path, kind: str, strategy: str, stop: str) -> None:
    """A pipe or socket whose writer wrote 1000 bytes and went quiet without closing."""
    first = data(1000, 1)
    if kind == "pipe":
        r, w = os.pipe()
        os.write(w, first)
        src: Any = r
        release = lambda: os.close(w)  # noqa: E731
    else:
        a, b = _stream(kind)
        a.sendall(first)
        src = b
        release = lambda: a.shutdown(socket.SHUT_RDWR)  # noqa: E731
    try:
        with open(tmp_path / "out", "wb") as dst:
            call = lambda o: zcopy.transfer(src, dst, strategy=strategy, fallback=False, **o)  # noqa: E731
            moved = _stopped(stop, call, release)
    finally:
        if kind == "pipe":
            os.close(r)
            try:
                os.close(w)
            except OSError:
                pass
        else:
            a.close()
            b.close()
    assert moved == 1000
    assert (tmp_path / "out").read_bytes() == first


@pytest.mark.parametrize("stop", STOPS)
@pytest.mark.parametrize("strategy", ["read_write", "splice", "sendfile", "io_uring"])
@pytest.mark.parametrize("kind", ["pipe", "unix", "tcp"])
def test_stalled_destination(tmp_path: Path, kind: str, strategy: str, stop: str) -> None:
    """A full pipe (nobody reads it) or a socket whose peer does not read: the source is larger
    than the buffers between, so the call blocks after filling them."""
    body = data(32 << 20, 2)
    src_path = tmp_path / "src"
    src_path.write_bytes(body)
    if kind == "pipe":
        far_fd, near_fd = os.pipe()
        far: Any = os.fdopen(far_fd, "rb", buffering=0)
        near: Any = os.fdopen(near_fd, "wb", buffering=0)
    else:
        near, far = _stream(kind)

    def release() -> None:
        threading.Thread(target=lambda: (far.read(1 << 30) if kind == "pipe" else far.recv(1 << 30)), daemon=True).start()

    with open(src_path, "rb") as src:
        call = lambda o: zcopy.transfer(src, near, strategy=strategy, fallback=False, **o)  # noqa: E731
        moved = _stopped(stop, call, release)
        assert src.tell() == moved
    near.close()
    got = bytearray()
    while True:
        piece = far.read(1 << 20) if kind == "pipe" else far.recv(1 << 20)
        if not piece:
            break
        got += piece
    far.close()
    assert moved > 0
    assert len(got) == moved
    assert bytes(got) == body[:moved]
