"""Buffered readers that cannot seek (pipes, FIFOs and sockets wrapped by ``open()`` or
``makefile()``): the bytes they have read ahead go out first, and the object gives them up."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

import zcopy

from conftest import data, open_fds

PAYLOAD = data(200 * 1024, seed=3)
BUF = 8192  # the readers' buffer size: what read(3) pulls in, so the head is BUF - 3 bytes
FIRST = 65536  # written before the reader's first read, so that read fills its buffer


def _write_all(fd: int, b: bytes) -> None:
    view = memoryview(b)
    while view:
        view = view[os.write(fd, view) :]


@contextmanager
def fed_reader(kind: str, tmp_path: Path, payload: bytes = PAYLOAD) -> Iterator[BinaryIO]:
    """A buffered reader (``open(..., "rb")``) of a pipe or a FIFO that a thread fills with
    ``payload`` and then closes; its first ``FIRST`` bytes are in the pipe before it is returned."""
    ready = threading.Event()
    fifo = tmp_path / "fifo"
    pipe_w: list[int] = []

    def feed() -> None:
        w = pipe_w[0] if kind == "pipe" else os.open(fifo, os.O_WRONLY)
        try:
            _write_all(w, payload[:FIRST])
            ready.set()
            _write_all(w, payload[FIRST:])
        except BrokenPipeError:
            pass  # the test closed its reader early: what it read is what it checks
        finally:
            ready.set()
            os.close(w)

    if kind == "pipe":
        r, w = os.pipe()
        pipe_w.append(w)
    else:
        os.mkfifo(fifo)
    t = threading.Thread(target=feed)
    t.start()
    try:
        # A FIFO's open waits for the writer's.
        with open(r if kind == "pipe" else fifo, "rb", buffering=BUF) as f:
            ready.wait()
            yield f
    finally:
        t.join()


def _drain(fd: int) -> bytes:
    chunks: list[bytes] = []
    while b := os.read(fd, 1 << 16):
        chunks.append(b)
    return b"".join(chunks)


@pytest.mark.parametrize("kind", ["pipe", "fifo"])
def test_read_ahead_goes_out_first(kind: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with fed_reader(kind, tmp_path) as src, open(out, "wb") as dst:
        assert src.read(3) == PAYLOAD[:3]  # the object now holds BUF - 3 more bytes
        r = zcopy.transfer(src, dst)
        assert r.bytes == len(PAYLOAD) - 3
        assert src.read() == b""
    assert out.read_bytes() == PAYLOAD[3:]


@pytest.mark.parametrize("length", [0, 100, BUF - 3, BUF, 50_000])
def test_length_within_and_past_the_read_ahead(length: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with fed_reader("pipe", tmp_path) as src, open(out, "wb") as dst:
        src.read(3)
        r = zcopy.transfer(src, dst, length=length)
        assert r.bytes == length
        # The object gave up exactly what went out: reading on gives what follows.
        assert src.read() == PAYLOAD[3 + length :]
    assert out.read_bytes() == PAYLOAD[3 : 3 + length]


def test_dst_offset_places_the_read_ahead_then_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"#" * 10)
    dst = os.open(out, os.O_RDWR)
    try:
        with fed_reader("pipe", tmp_path) as src:
            src.read(3)
            r = zcopy.transfer(src, dst, dst_offset=10, length=20_000)
            assert r.bytes == 20_000
            assert os.lseek(dst, 0, os.SEEK_CUR) == 0  # an explicit offset leaves it alone
            assert src.read() == PAYLOAD[20_003:]
    finally:
        os.close(dst)
    assert out.read_bytes() == b"#" * 10 + PAYLOAD[3:20_003]


def test_append_mode_destination(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    with fed_reader("pipe", tmp_path) as src, open(out, "ab") as dst:
        src.read(3)
        zcopy.transfer(src, dst)
    assert out.read_bytes() == b"old" + PAYLOAD[3:]


def test_pipe_destination(tmp_path: Path) -> None:
    r2, w2 = os.pipe()
    got = bytearray()
    drainer = threading.Thread(target=lambda: got.extend(_drain(r2)))
    drainer.start()
    try:
        with fed_reader("pipe", tmp_path) as src:
            src.read(3)
            r = zcopy.transfer(src, w2)
    finally:
        os.close(w2)
        drainer.join()
        os.close(r2)
    assert r.bytes == len(PAYLOAD) - 3
    assert bytes(got) == PAYLOAD[3:]


def test_socket_makefile_after_readline(tmp_path: Path) -> None:
    header = b"HTTP/1.1 200 OK\r\n"
    out = tmp_path / "out"
    a, b = socket.socketpair()
    with a, b:
        b.sendall(header + PAYLOAD[:FIRST])

        def send_rest() -> None:
            b.sendall(PAYLOAD[FIRST:])
            b.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=send_rest)
        t.start()
        try:
            with a.makefile("rb", buffering=BUF) as f, open(out, "wb") as dst:
                assert f.readline() == header  # reads ahead into the payload
                r = zcopy.transfer(f, dst)
                assert f.read() == b""
        finally:
            t.join()
    assert r.bytes == len(PAYLOAD)
    assert out.read_bytes() == PAYLOAD


def test_everything_already_buffered(tmp_path: Path) -> None:
    payload = data(1000, seed=4)
    r, w = os.pipe()
    os.write(w, payload)
    os.close(w)
    out = tmp_path / "out"
    with open(r, "rb") as src, open(out, "wb") as dst:
        assert src.read(1) == payload[:1]  # the other 999 bytes and end of file are buffered
        rep = zcopy.transfer(src, dst)
        assert rep.bytes == 999
        assert rep.strategy in zcopy.strategies()
        assert rep.syscalls > 0 and rep.mode_switches == 2 * rep.syscalls
        assert src.read() == b""
    assert out.read_bytes() == payload[1:]


def test_callers_fd_stays_open_and_nothing_leaks(tmp_path: Path) -> None:
    payload = data(20_000, seed=7)
    r, w = os.pipe()
    os.write(w, payload)
    os.close(w)
    with open(r, "rb", buffering=BUF) as src, open(tmp_path / "out", "wb") as dst:
        src.read(3)
        before = open_fds()
        zcopy.transfer(src, dst)
        assert open_fds() == before  # the memfd that held the head is closed
        assert not src.closed
        os.fstat(src.fileno())
        assert os.get_blocking(src.fileno())
    assert (tmp_path / "out").read_bytes() == payload[3:]


def test_progress_counts_the_read_ahead(tmp_path: Path) -> None:
    seen: list[int] = []
    with fed_reader("pipe", tmp_path) as src, open(tmp_path / "out", "wb") as dst:
        src.read(3)
        zcopy.transfer(src, dst, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == len(PAYLOAD) - 3


def test_error_after_the_read_ahead_counts_it(tmp_path: Path) -> None:
    """A non-blocking pipe: the head goes out, then the fd would block."""
    payload = data(1000, seed=5)
    r, w = os.pipe()
    out = tmp_path / "out"
    try:
        os.write(w, payload)
        os.set_blocking(r, False)
        with open(r, "rb", buffering=BUF) as src, open(out, "wb") as dst:
            src.read(1)
            with pytest.raises(BlockingIOError) as e:
                zcopy.transfer(src, dst)
            assert isinstance(e.value, zcopy.ZcopyError)
            assert e.value.bytes_moved == 999
            # The partial report covers the head too.
            assert e.value.report is not None and e.value.report.bytes == 999
            dst.flush()
            assert out.read_bytes() == payload[1:]
            # Resuming is an ordinary call: nothing was lost or kept twice.
            os.write(w, b"more")
            assert zcopy.transfer(src, dst, length=4).bytes == 4
    finally:
        os.close(w)
    assert out.read_bytes() == payload[1:] + b"more"


def test_failing_read_ahead_keeps_what_did_not_go_out(tmp_path: Path) -> None:
    """A non-blocking destination pipe with room for one page: part of the head goes out, and
    the object gives up only that part."""
    payload = data(BUF + 1000, seed=6)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.write(w, payload)
        os.close(w)
        fcntl.fcntl(w2, fcntl.F_SETPIPE_SZ, 4096)
        os.set_blocking(w2, False)
        with open(r, "rb", buffering=BUF) as src:
            src.read(3)
            with pytest.raises(BlockingIOError) as e:
                zcopy.transfer(src, w2)
            assert isinstance(e.value, zcopy.ZcopyError)
            moved = e.value.bytes_moved
            assert 0 < moved < BUF - 3
            assert os.read(r2, 1 << 16) == payload[3 : 3 + moved]
            assert src.read() == payload[3 + moved :]
    finally:
        os.close(r2)
        os.close(w2)


def test_read_only_destination_consumes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"")
    ro = os.open(out, os.O_RDONLY)
    try:
        with fed_reader("pipe", tmp_path) as src:
            src.read(3)
            with pytest.raises(ValueError, match="read-only") as e:
                zcopy.transfer(src, ro)
            assert isinstance(e.value, zcopy.ZcopyError)
            assert e.value.bytes_moved == 0
            with open(out, "wb") as dst:
                zcopy.transfer(src, dst)
    finally:
        os.close(ro)
    assert out.read_bytes() == PAYLOAD[3:]


def test_broken_pipe_destination_consumes_nothing(tmp_path: Path) -> None:
    r2, w2 = os.pipe()
    os.close(r2)
    out = tmp_path / "out"
    try:
        with fed_reader("pipe", tmp_path) as src:
            src.read(3)
            with pytest.raises(BrokenPipeError) as e:
                zcopy.transfer(src, w2)
            assert isinstance(e.value, zcopy.ZcopyError)
            assert e.value.bytes_moved == 0
            with open(out, "wb") as dst:
                zcopy.transfer(src, dst)
    finally:
        os.close(w2)
    assert out.read_bytes() == PAYLOAD[3:]


def test_refusals_before_a_byte_moves_consume_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cancel = threading.Event()
    cancel.set()
    with fed_reader("pipe", tmp_path) as src, open(out, "wb") as dst:
        src.read(3)
        with pytest.raises(zcopy.UnsupportedError) as e:
            zcopy.transfer(src, dst, strategy="copy_file_range", fallback=False)
        assert e.value.bytes_moved == 0
        with pytest.raises(zcopy.CancelledError) as c:
            zcopy.transfer(src, dst, cancel=cancel)
        assert c.value.bytes_moved == 0
        zcopy.transfer(src, dst)
    assert out.read_bytes() == PAYLOAD[3:]


@pytest.mark.parametrize("how", ["returns False", "raises"])
def test_stopped_after_the_read_ahead_counts_it(how: str, tmp_path: Path) -> None:
    def stop_past_the_head(moved: int) -> bool:
        if moved <= BUF:
            return True
        if how == "raises":
            raise RuntimeError("enough")
        return False

    out = tmp_path / "out"
    with fed_reader("pipe", tmp_path) as src, open(out, "wb") as dst:
        src.read(3)
        with pytest.raises((zcopy.CancelledError, RuntimeError)) as e:
            zcopy.transfer(src, dst, progress=stop_past_the_head, chunk_size=4096)
        assert type(e.value) is (RuntimeError if how == "raises" else zcopy.CancelledError)
        moved = e.value.bytes_moved  # type: ignore[union-attr]
        assert BUF - 3 < moved < len(PAYLOAD) - 3
        src.read()  # let the writer finish
    assert out.read_bytes() == PAYLOAD[3 : 3 + moved]


def test_a_text_reader_of_a_pipe_is_refused_and_its_buffer_accepted(tmp_path: Path) -> None:
    # sys.stdin in a pipeline: a text reader whose decoder may hold text read ahead.
    r, w = os.pipe()
    _write_all(w, b"line one\nline two\n")
    os.close(w)
    with open(r, "r") as text, open(tmp_path / "out", "wb") as out:
        assert text.readline() == "line one\n"
        with pytest.raises(TypeError, match=r"text-mode reader that cannot seek.*pass src\.buffer"):
            zcopy.transfer(text, out)
        # Nothing moved, the fd is still the caller's, and the text is still there to read.
        assert out.tell() == 0 and os.fstat(out.fileno()).st_size == 0
        fcntl.fcntl(text.fileno(), fcntl.F_GETFD)
        assert text.read() == "line two\n"
    # A seekable text file is fine: its position is a byte offset.
    p = tmp_path / "t.txt"
    p.write_text("abc\ndef\n")
    with open(p) as text, open(tmp_path / "out2", "wb") as out:
        assert text.readline() == "abc\n"
        assert zcopy.transfer(text, out).bytes == 4
    assert (tmp_path / "out2").read_bytes() == b"def\n"
