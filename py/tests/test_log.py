"""zcopy.Log: appends and reads across segment rolls, send to pipes and sockets, reopening after
close and after kill -9 of a writer, the flush policies, and every refusal."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import zcopy

from conftest import data


def record(i: int) -> bytes:
    """Record ``i`` of these tests: 0 to 2999 bytes, different for each offset."""
    return data(i * 7919 % 3000, seed=i + 1)


def drain(fd: int, out: list[bytes]) -> threading.Thread:
    """A thread reading ``fd`` to EOF into ``out``."""

    def run() -> None:
        while chunk := os.read(fd, 1 << 16):
            out.append(chunk)

    t = threading.Thread(target=run)
    t.start()
    return t


def send_all(log: zcopy.Log, dst: int | socket.socket, max_bytes: int | None) -> int:
    """Sends the whole log to ``dst``; returns the bytes the reports counted."""
    offset, total = 0, 0
    while offset < log.next_offset:
        report, nxt = log.send(dst, offset, max_bytes)
        assert nxt > offset
        assert report.strategy == "sendfile"
        total += report.bytes
        offset = nxt
    return total


def check_frames(raw: bytes, n: int) -> None:
    records = zcopy.Log.decode(raw)
    assert [o for o, _ in records] == list(range(n))
    for o, payload in records:
        assert payload == record(o), f"record {o}"


def test_append_and_read_across_segment_rolls(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path / "log", segment_bytes=16384, flush="manual") as log:
        assert [log.append(record(i)) for i in range(300)] == list(range(300))
        assert log.next_offset == 300
        assert len(log.segments) > 10 and log.segments[0] == 0
        assert log.read() == [record(i) for i in range(300)]
        assert log.read(100, 3) == [record(i) for i in (100, 101, 102)]
        assert log.read(300) == []
        assert log.dir == tmp_path / "log"
    assert log.closed
    names = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert "00000000000000000000.log" in names and "00000000000000000000.index" in names


def test_records_may_be_any_bytes_like(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path) as log:
        log.append(b"bytes")
        log.append(bytearray(b"bytearray"))
        log.append(memoryview(b"a memoryview")[2:])
        log.append(b"")
        assert log.read() == [b"bytes", b"bytearray", b"memoryview", b""]
        with pytest.raises(TypeError, match="not str"):
            log.append("text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="bytes-like"):
            log.append(42)  # type: ignore[arg-type]


def test_send_to_a_pipe_is_byte_exact(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path, segment_bytes=65536, flush="manual") as log:
        for i in range(300):
            log.append(record(i))
        r, w = os.pipe()
        got: list[bytes] = []
        t = drain(r, got)
        total = send_all(log, w, 10_000)
        os.close(w)
        t.join()
        os.close(r)
        raw = b"".join(got)
        assert len(raw) == total
        check_frames(raw, 300)


def test_send_to_a_tcp_socket_is_byte_exact(
    tmp_path: Path, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    client, server = tcp_pair
    with zcopy.Log(tmp_path, segment_bytes=65536) as log:
        for i in range(200):
            log.append(record(i))
        got: list[bytes] = []
        t = drain(server.fileno(), got)
        total = send_all(log, client, None)
        client.shutdown(socket.SHUT_WR)
        t.join()
        raw = b"".join(got)
        assert len(raw) == total
        check_frames(raw, 200)


def test_send_budget_options_and_decoding(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path) as log:
        for i in range(10):
            log.append(bytes([i]) * 100)
        frame = 100 + 16
        out = tmp_path / "out.bin"
        with open(out, "wb") as f:
            report, nxt = log.send(f, 0, 1)
            assert (report.bytes, nxt) == (frame, 1)
            report, nxt = log.send(f, 1, frame * 3 + 5, strategy="read_write")
            assert (report.bytes, nxt, report.strategy) == (3 * frame, 4, "read_write")
            assert f.tell() == 4 * frame
            assert log.send(f, 10)[1] == 10
        raw = out.read_bytes()
        assert zcopy.Log.decode(raw) == [(i, bytes([i]) * 100) for i in range(4)]
        assert zcopy.Log.decode_prefix(raw[:-5]) == ([(i, bytes([i]) * 100) for i in range(3)], 3 * frame)
        with pytest.raises(ValueError, match="cut short"):
            zcopy.Log.decode(raw[:-5])
        bad = bytearray(raw)
        bad[20] ^= 1
        with pytest.raises(ValueError, match="CRC-32C") as info:
            zcopy.Log.decode(bad)
        assert isinstance(info.value, zcopy.ZcopyError)
        with pytest.raises(TypeError, match="src_offset"):
            log.send(f, 0, 10, src_offset=3)  # type: ignore[call-arg]
        with open(os.devnull, "wb") as null, pytest.raises(ValueError, match="past the end"):
            log.send(null, 11)
        with pytest.raises(ValueError, match="past the end"):
            log.read(11)


def only_fd_named(message: str, fd: int) -> None:
    """``message`` names fd ``fd`` and no other (not the duplicate Log.send works on)."""
    assert re.findall(r"\bfd (\d+)", message) == [str(fd)], message


def test_send_errors_name_the_callers_fd(tmp_path: Path) -> None:
    # Log.send works on a duplicate of dst (a number the caller never saw): the engine is given
    # the caller's name for it, so messages and fallback reasons name the caller's fd.
    with zcopy.Log(tmp_path / "log") as log:
        log.append(b"x" * 100)
        target = tmp_path / "out.bin"
        target.write_bytes(b"")
        fd = os.open(target, os.O_RDONLY)
        try:
            with pytest.raises(zcopy.ZcopyError) as info:
                log.send(fd)
            assert isinstance(info.value, ValueError)
            assert info.value.strerror == f"dst fd {fd} is opened read-only"
            assert info.value.errno == errno.EBADF
        finally:
            os.close(fd)
        with open(target, "rb") as f:
            with pytest.raises(zcopy.ZcopyError) as info:
                log.send(f)
            assert info.value.strerror == f"dst fd {f.fileno()} is opened read-only"

        r, w = os.pipe()
        os.close(r)
        try:
            with pytest.raises(BrokenPipeError) as broken:
                log.send(w)
            only_fd_named(str(broken.value), w)
            assert f"dst fd {w}" in str(broken.value)
        finally:
            os.close(w)

        with open(target, "wb") as f:
            report, nxt = log.send(f, strategy="msg_zerocopy")
            assert (report.bytes, nxt) == (116, 1)
            reasons = [reason for strategy, reason in report.fallbacks if strategy == "msg_zerocopy"]
            assert reasons, report.fallbacks
            for reason in reasons:
                only_fd_named(reason, f.fileno())
                assert f"dst fd {f.fileno()}" in reason
        assert zcopy.Log.decode(target.read_bytes()) == [(0, b"x" * 100)]


def test_reopen_after_close_continues_the_offsets(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path, segment_bytes=16384) as log:
        for i in range(100):
            log.append(record(i))
    with zcopy.Log(tmp_path, segment_bytes=16384) as log:
        assert log.next_offset == 100
        assert log.read() == [record(i) for i in range(100)]
        assert log.append(record(100)) == 100
    # Every segment file has its exact size after close.
    sizes = sum(p.stat().st_size for p in tmp_path.glob("*.log"))
    assert sizes == sum(len(record(i)) + 16 for i in range(101))


WRITER = """
import sys, random, zcopy
def record(i):
    n = i * 7919 % 3000
    return random.Random(i + 1).randbytes(n) if n else b""
log = zcopy.Log(sys.argv[1], segment_bytes=65536, flush="sync")
i = log.next_offset
while True:
    off = log.append(record(i))
    print(off, flush=True)
    i += 1
"""


def test_kill9_of_a_sync_writer_loses_no_acknowledged_record(tmp_path: Path) -> None:
    total = 0
    for round in range(2):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        acked: list[int] = []
        for line in child.stdout:
            acked.append(int(line))
            if len(acked) == 300:
                child.send_signal(signal.SIGKILL)
        child.stdout.close()
        assert child.wait() == -signal.SIGKILL
        assert acked[0] == total and acked == list(range(total, total + len(acked)))
        last = acked[-1]
        with zcopy.Log(tmp_path, segment_bytes=65536) as log:
            n = log.next_offset
            assert n in (last + 1, last + 2), f"round {round}: next {n}, last ack {last}"
            assert log.read() == [record(i) for i in range(n)]
            assert len(log.segments) > 2
            assert log.append(record(n)) == n
            total = n + 1
    assert not list(tmp_path.glob("*.tmp"))


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_async_flush_thread_is_joined_on_close(tmp_path: Path) -> None:
    before = threads()
    log = zcopy.Log(tmp_path, flush="async", flush_interval=0.01)
    assert threads() == before + 1
    for i in range(100):
        log.append(record(i))
    log.flush()
    log.close()
    assert threads() == before
    log = zcopy.Log(tmp_path, flush="async", flush_bytes=1 << 16, flush_interval=None)
    log.append(b"x")
    del log  # dropping closes too
    assert threads() == before
    with zcopy.Log(tmp_path) as again:
        assert again.next_offset == 101


def test_refusals(tmp_path: Path) -> None:
    for bad in (0, 100, 1 << 33):
        with pytest.raises(ValueError, match=f"segment_bytes {bad}"):
            zcopy.Log(tmp_path, segment_bytes=bad)
    with pytest.raises(ValueError, match='unknown flush policy "fast"'):
        zcopy.Log(tmp_path, flush="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="manual"):
        zcopy.Log(tmp_path, flush="async", flush_interval=None)
    with pytest.raises(ValueError, match="flush_interval"):
        zcopy.Log(tmp_path, flush="async", flush_interval=-1.0)
    with zcopy.Log(tmp_path, segment_bytes=4096) as log:
        with pytest.raises(BlockingIOError) as info:
            zcopy.Log(tmp_path)
        assert isinstance(info.value, zcopy.ZcopyError)
        assert info.value.errno == errno.EWOULDBLOCK
        assert str(tmp_path) in str(info.value) and "already open for writing" in str(info.value)
        with pytest.raises(ValueError, match="4081 bytes"):
            log.append(b"z" * 4081)
        assert log.append(b"z" * 4080) == 0
    for call in (lambda: log.append(b"x"), log.flush, lambda: log.next_offset, lambda: log.read()):
        with pytest.raises(ValueError, match="is closed"):
            call()
    r, w = os.pipe()
    with pytest.raises(ValueError, match="is closed"):
        log.send(w, 0)
    os.close(r)
    os.close(w)
    log.close()  # again: nothing


def test_send_to_a_closed_pipe_is_broken_pipe(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path) as log:
        log.append(b"hello")
        r, w = os.pipe()
        os.close(r)
        with pytest.raises(BrokenPipeError) as info:
            log.send(w, 0)
        e = info.value
        assert isinstance(e, zcopy.ZcopyError) and e.bytes_moved == 0
        os.close(w)


def test_a_blocked_send_does_not_block_the_other_threads(tmp_path: Path) -> None:
    """A send waiting on a full pipe holds the log; another thread asking about the log waits
    without the GIL, so the reader thread can drain the pipe and the send finish."""
    with zcopy.Log(tmp_path, flush="manual") as log:
        for i in range(2000):
            log.append(record(i))
        r, w = os.pipe()
        result: list[tuple[zcopy.Report, int]] = []
        sender = threading.Thread(target=lambda: result.append(log.send(w, 0)))
        sender.start()
        threading.Event().wait(0.2)  # let it fill the pipe (not checked: no timing)
        got: list[bytes] = []
        reader = drain(r, got)
        assert not log.closed
        assert "next_offset=2000" in repr(log)
        assert log.next_offset == 2000
        sender.join()
        os.close(w)
        reader.join()
        os.close(r)
        report, nxt = result[0]
        assert nxt == 2000 and report.bytes == len(b"".join(got))
        check_frames(b"".join(got), 2000)


def test_a_non_blocking_consumer_resumes_with_skip(tmp_path: Path) -> None:
    import fcntl
    import select

    with zcopy.Log(tmp_path, flush="manual") as log:
        for i in range(300):
            log.append(record(i))
        r, w = os.pipe()
        os.set_blocking(w, False)
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
        with pytest.raises(BlockingIOError) as info:
            log.send(w)
        e = info.value
        assert isinstance(e, zcopy.ZcopyError) and 0 < e.bytes_moved <= 4096
        skip = e.bytes_moved
        got: list[bytes] = []
        reader = drain(r, got)
        while True:
            select.select([], [w], [])
            try:
                report, nxt = log.send(w, skip=skip)
            except BlockingIOError as again:
                assert isinstance(again, zcopy.ZcopyError)
                skip += again.bytes_moved
                continue
            skip += report.bytes
            break
        os.close(w)
        reader.join()
        os.close(r)
        assert nxt == 300 and skip == sum(len(record(i)) + 16 for i in range(300))
        check_frames(b"".join(got), 300)
        with pytest.raises(ValueError, match="skip"):
            log.send(1, skip=1 << 40)


def test_options_and_background_flushes(tmp_path: Path) -> None:
    # The options as Log's keyword arguments, so the same log opens again from them.
    with zcopy.Log(tmp_path / "m", segment_bytes=8192, flush="manual", index_interval_bytes=0) as log:
        assert log.options == {
            "segment_bytes": 8192,
            "flush": "manual",
            "flush_bytes": None,
            "flush_interval": 1.0,
            "index_interval_bytes": 0,
        }
        assert log.background_flushes == 0
        opts = log.options
    with zcopy.Log(tmp_path / "m", **opts) as again:
        assert again.options == opts
    # Async with a byte threshold and no timer: the thread wakes once 4096 bytes are pending
    # (waited for: 10 s at most, no timing checked).
    with zcopy.Log(tmp_path / "a", flush="async", flush_bytes=4096, flush_interval=None) as log:
        assert log.options == {
            "segment_bytes": 64 << 20,
            "flush": "async",
            "flush_bytes": 4096,
            "flush_interval": None,
            "index_interval_bytes": 4096,
        }
        for i in range(20):
            log.append(record(i))
        for _ in range(1000):
            if log.background_flushes > 0:
                break
            threading.Event().wait(0.01)
        assert log.background_flushes > 0
    with zcopy.Log(tmp_path / "t", flush="async", flush_interval=0.25) as log:
        assert log.options["flush_interval"] == 0.25
        assert log.options["flush_bytes"] is None
    # A closed log refuses, as its other calls do.
    with pytest.raises(ValueError, match="is closed"):
        _ = log.options
    with pytest.raises(ValueError, match="is closed"):
        _ = log.background_flushes


def test_send_prepared_moves_the_same_frames_through_one_prepared_transfer(
    tmp_path: Path, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    client, server = tcp_pair
    with zcopy.Log(tmp_path, segment_bytes=65536, flush="manual") as log:
        for i in range(300):
            log.append(record(i))
        got: list[bytes] = []
        t = drain(server.fileno(), got)
        with zcopy.prepare_to(client, strategy="sendfile") as p:
            offset, total, calls = 0, 0, 0
            while offset < log.next_offset:
                report, nxt = log.send_prepared(p, offset, 10_000)
                assert nxt > offset and report.strategy == "sendfile"
                total += report.bytes
                offset, calls = nxt, calls + 1
            assert calls > 10
            # The meter off, a one-record send classifies the segment and sends: 3 syscalls.
            p.set_cpu_meter(False)
            small, nxt = log.send_prepared(p, 0, 1)
            assert (small.syscalls, nxt) == (3, 1), small
            # skip: the rest of the same frames.
            rest, nxt = log.send_prepared(p, 0, 1, skip=5)
            assert (rest.bytes, nxt) == (small.bytes - 5, 1)
            with pytest.raises(ValueError, match="skip 99999 is past the end"):
                log.send_prepared(p, 0, 1, skip=99_999)
        client.shutdown(socket.SHUT_WR)
        t.join()
        raw = b"".join(got)
        assert len(raw) == total + 2 * small.bytes - 5
        check_frames(raw[:total], 300)
        one = raw[total : total + small.bytes]
        assert zcopy.Log.decode(one) == [(0, record(0))]
        assert raw[total + small.bytes :] == one[5:]
        # A closed Prepared, a closed log.
        with pytest.raises(ValueError, match="closed zcopy.Prepared"):
            log.send_prepared(p, 0)
        with pytest.raises(TypeError):
            log.send_prepared(client, 0)  # type: ignore[arg-type]
    with zcopy.prepare_to(client) as p, pytest.raises(ValueError, match="is closed"):
        log.send_prepared(p, 0)


def test_send_prepared_names_the_callers_fd_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with zcopy.Log(tmp_path, flush="manual") as log:
        for i in range(2000):
            log.append(record(i))
        fd = os.open(tmp_path / "ro", os.O_RDONLY | os.O_CREAT, 0o600)
        with zcopy.prepare_to(fd) as p, pytest.raises(zcopy.ZcopyError) as info:
            log.send_prepared(p, 0)
        assert isinstance(info.value, ValueError) and info.value.errno == errno.EBADF
        assert info.value.strerror == f"dst fd {fd} is opened read-only", info.value
        os.close(fd)
        # A full pipe nobody reads: SIGINT from a timer ends the send with KeyboardInterrupt.
        r, w = os.pipe()
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        with zcopy.prepare_to(w, strategy="sendfile") as p, pytest.raises(KeyboardInterrupt):
            log.send_prepared(p, 0)
        timer.join()
        os.close(r)
        os.close(w)
        # A budget smaller than its first record (one record of 4 MiB, max_bytes 1): the send
        # may wait after moving its budget, and Ctrl-C still ends it. (A reader that drains the
        # pipe after 10 s turns a send that ignored it into a failure, not a hang.)
        log.append(b"x" * (4 << 20))
        r, w = os.pipe()
        drained: list[bytes] = []
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        rescue = threading.Timer(10, lambda: drain(r, drained))
        timer.start()
        rescue.start()
        with zcopy.prepare_to(w, strategy="sendfile") as p, pytest.raises(KeyboardInterrupt):
            log.send_prepared(p, 2000, 1)
        rescue.cancel()
        timer.join()
        assert not drained, "the send ran to its end: Ctrl-C was not seen"
        # The same through send, which takes its budget the same way.
        timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
        rescue = threading.Timer(10, lambda: drain(r, drained))
        timer.start()
        rescue.start()
        with pytest.raises(KeyboardInterrupt):
            log.send(w, 2000, 1)
        rescue.cancel()
        timer.join()
        assert not drained, "send ran to its end: Ctrl-C was not seen"
        os.close(w)
        os.close(r)
