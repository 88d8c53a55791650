"""Long calls are good citizens: the GIL is released, Ctrl-C stops them, a cancel event set
from another thread stops them."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import zcopy

from conftest import slow_feeder


def test_gil_is_released_during_a_transfer(tmp_path: Path) -> None:
    """A counter thread keeps counting while the main thread is inside a transfer from a pipe
    fed slowly by a child process (about half a second)."""
    feeder = slow_feeder(chunk=16384, pause=0.01, seconds=0.5)
    assert feeder.stdout is not None
    count = [0]
    inside = threading.Event()
    stop = threading.Event()

    def counter() -> None:
        inside.wait()
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        with open(tmp_path / "out", "wb") as dst:
            at_start = count[0]
            inside.set()
            r = zcopy.transfer(feeder.stdout, dst)
            during = count[0] - at_start
    finally:
        stop.set()
        t.join()
        feeder.wait()
        feeder.stdout.close()
    assert r.bytes > 0
    # Held GIL: the counter could not run at all (well under a thousand steps); released: it
    # counts for the whole half second (millions of steps).
    assert during > 10_000, during


@pytest.fixture(autouse=True)
def _sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """Python's own SIGINT handler for each test. A program started in the background by a
    non-interactive shell (``cmd &``, as some CI runners do) inherits SIGINT ignored, and then
    Python never installs it: Ctrl-C would be ignored before zcopy could see it."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _interrupt_main_after(seconds: float) -> threading.Timer:
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_a_long_transfer_with_bytes_moved(tmp_path: Path) -> None:
    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    feeder = slow_feeder(chunk=4096, pause=0.005, seconds=30)
    assert feeder.stdout is not None
    timer = _interrupt_main_after(0.3)
    start = time.monotonic()
    try:
        with open(tmp_path / "out", "wb") as dst:
            with pytest.raises(KeyboardInterrupt) as info:
                zcopy.transfer(feeder.stdout, dst)
            took = time.monotonic() - start
    finally:
        timer.cancel()
        feeder.kill()
        feeder.wait()
        feeder.stdout.close()
    moved = info.value.bytes_moved  # type: ignore[attr-defined]
    assert moved > 0
    assert took < 5, took
    # The destination holds exactly the bytes reported.
    assert (tmp_path / "out").read_bytes() == b"z" * moved


def test_ctrl_c_during_a_blocked_write(src_file: Path) -> None:
    """File -> pipe with nobody reading: the first chunk fills the pipe, the next blocks; a
    reader thread drains one byte per 50 ms, so chunks keep ending and Ctrl-C is seen."""
    r, w = os.pipe()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                os.read(r, 4096)
            except OSError:
                return
            time.sleep(0.05)

    t = threading.Thread(target=trickle)
    t.start()
    timer = _interrupt_main_after(0.3)
    try:
        with open(src_file, "rb") as src:
            with pytest.raises(KeyboardInterrupt) as info:
                zcopy.transfer(src, w, strategy="read_write", chunk_size=4096)
            moved = info.value.bytes_moved  # type: ignore[attr-defined]
            assert 0 < moved < (1 << 20)
            assert src.tell() == moved
    finally:
        timer.cancel()
        stop.set()
        os.close(w)
        t.join()
        os.close(r)


def test_ctrl_c_while_the_source_is_idle(tmp_path: Path) -> None:
    """A pipe whose writer wrote 1000 bytes and went quiet without closing: the engine waits in
    poll slices, not in a read only more bytes could end, so Ctrl-C is seen at once."""
    r, w = os.pipe()
    os.write(w, b"q" * 1000)
    closed = threading.Lock()

    def close_writer() -> None:  # also the watchdog: end of file ends a transfer that missed it
        if closed.acquire(blocking=False):
            os.close(w)

    watchdog = threading.Timer(5.0, close_writer)
    watchdog.start()
    timer = _interrupt_main_after(0.3)
    start = time.monotonic()
    try:
        with open(tmp_path / "out", "wb") as dst:
            with pytest.raises(KeyboardInterrupt) as info:
                zcopy.transfer(r, dst)
            took = time.monotonic() - start
    finally:
        timer.cancel()
        watchdog.cancel()
        close_writer()
        os.close(r)
    assert info.value.bytes_moved == 1000  # type: ignore[attr-defined]
    assert took < 2, took
    assert (tmp_path / "out").read_bytes() == b"q" * 1000


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    feeder = slow_feeder(chunk=4096, pause=0.005, seconds=30)
    assert feeder.stdout is not None
    ev = threading.Event()
    timer = threading.Timer(0.2, ev.set)
    timer.start()
    try:
        with open(tmp_path / "out", "wb") as dst:
            with pytest.raises(zcopy.CancelledError) as info:
                zcopy.transfer(feeder.stdout, dst, cancel=ev)
    finally:
        timer.cancel()
        feeder.kill()
        feeder.wait()
        feeder.stdout.close()
    assert info.value.bytes_moved > 0


def test_transfers_in_parallel_threads(src_file: Path, tmp_path: Path) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results.append(zcopy.copy_file(src_file, tmp_path / f"o{i}", strategy="read_write").bytes)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [1 << 20] * 8


def test_a_stop_after_the_last_byte_returns_the_report(tmp_path: Path) -> None:
    # A progress callback that says stop, or sets the cancel event, only when told the total:
    # every byte had moved, so the copy stands and the Report comes back.
    total = 3 << 20
    src = tmp_path / "src"
    payload = os.urandom(total)
    src.write_bytes(payload)
    for strategy in ("auto", "copy_file_range", "sendfile", "read_write"):
        dst = tmp_path / f"stop-{strategy}"
        r = zcopy.copy_file(src, dst, strategy=strategy, progress=lambda n: n < total)
        assert r.bytes == total
        assert dst.read_bytes() == payload
        cancel = threading.Event()

        def set_at_total(n: int) -> None:
            if n == total:
                cancel.set()

        dst = tmp_path / f"cancel-{strategy}"
        r = zcopy.copy_file(src, dst, strategy=strategy, progress=set_at_total, cancel=cancel)
        assert r.bytes == total
        assert cancel.is_set()
        assert dst.read_bytes() == payload
    # One chunk before the end, a stop still fails with the exact count.
    dst = tmp_path / "early"
    with pytest.raises(zcopy.CancelledError) as info:
        zcopy.copy_file(src, dst, chunk_size=1 << 20, progress=lambda n: n < total - (1 << 20))
    assert info.value.bytes_moved == total - (1 << 20)
    assert dst.read_bytes() == payload[: total - (1 << 20)]


def test_progress_is_called_at_least_every_32_mib(tmp_path: Path) -> None:
    # Auto's copy_file_range moves up to 1 GiB a call; with a callback it moves at most 32 MiB,
    # so a tqdm bar moves and a cancel is seen at least every 100 ms of copying.
    bound = 32 << 20
    total = 256 << 20
    src = tmp_path / "src"
    with open(src, "wb") as f:
        f.write(b"head" * 1024)
        f.truncate(total)  # sparse, copied with sparse=False: every byte moves
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)

    dst = tmp_path / "dst"
    r = zcopy.copy_file(src, dst, sparse=False, progress=progress)
    assert r.bytes == total
    assert seen[-1] == total
    gaps = [b - a for a, b in zip([0] + seen, seen)]
    assert max(gaps) <= bound, gaps
    assert len(seen) >= total // bound
    assert os.path.getsize(dst) == total
    with open(dst, "rb") as out:
        assert out.read(4096) == b"head" * 1024


def test_off_the_main_thread_without_hooks_no_wait_is_cut(tmp_path: Path) -> None:
    """Signals reach Python's main thread only: elsewhere, a transfer without a progress
    callback or a cancel event has nothing to stop it, and the engine arms no stop hook, so it
    does not cut a socket's waits into ticks (a getsockopt and two setsockopt fewer). The same
    transfer with a cancel event still does. On the main thread Ctrl-C can stop it: a call to end
    of file cuts the waits into ticks, as with the event; a call of a length of at most 1 MiB
    reads SIGINT's handler instead (one sigaction), and cuts no wait where SIGINT interrupts them
    (test_stop_signals.py)."""
    src = tmp_path / "src"
    src.write_bytes(os.urandom(4096))
    tx, rx = socket.socketpair()
    got: dict[str, int] = {}
    try:
        with open(src, "rb") as f:

            def run(name: str, **options: object) -> None:
                # The first call of a thread asks the source's filesystem type (cached after).
                zcopy.transfer(f, tx, src_offset=0, **options)  # type: ignore[arg-type]
                got[name] = zcopy.transfer(f, tx, src_offset=0, **options).syscalls  # type: ignore[arg-type]

            run("main")
            run("main_small", length=4096)
            t = threading.Thread(target=run, args=("thread",))
            t.start()
            t.join()
            t = threading.Thread(target=run, args=("thread_small",), kwargs={"length": 4096})
            t.start()
            t.join()
            t = threading.Thread(target=run, args=("thread_cancel",), kwargs={"cancel": threading.Event()})
            t.start()
            t.join()
        assert len(rx.recv(10 * 4096, socket.MSG_WAITALL)) == 10 * 4096
    finally:
        tx.close()
        rx.close()
    assert got["thread"] == got["thread_cancel"] - 3, got
    # On the main thread: to end of file, the ticks; of a small length, SIGINT's handler is read
    # (Python's own, or SIG_IGN left by a background shell: either interrupts, so no tick).
    assert got["main"] == got["thread_cancel"], got
    assert got["main_small"] == got["thread_small"] + 1, got
