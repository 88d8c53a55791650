"""zcopy.prepare(): a transfer classified once and run many times — byte-exact runs, positions
as transfer() keeps them (file objects included), errors as transfer() raises them, a closed
object refused, and fds released by close()."""

from __future__ import annotations

import errno
import io
import os
import socket
from pathlib import Path

import pytest

import zcopy

from conftest import data, open_fds


def recv_exactly(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "peer closed early"
        out += chunk
    return bytes(out)


def test_file_to_tcp_runs_are_byte_exact(tmp_path: Path, tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = tcp_pair
    body = data(4096, 1)
    (tmp_path / "f").write_bytes(body)
    with open(tmp_path / "f", "rb") as f, zcopy.prepare(f, client) as p:
        for i in range(20):
            r = p.transfer(src_offset=0)
            assert (r.bytes, r.strategy) == (4096, "sendfile"), i
            assert recv_exactly(server, 4096) == body, i
        r = p.transfer(length=100, src_offset=4000)
        assert r.bytes == 96
        assert recv_exactly(server, 96) == body[4000:]
        assert f.tell() == 0, "explicit offsets leave the file object's position alone"
        # From the file object's position: it follows, as with transfer().
        f.seek(1000)
        assert p.transfer(length=500).bytes == 500
        assert recv_exactly(server, 500) == body[1000:1500]
        assert f.tell() == 1500
    assert p.closed


def test_file_object_destination_is_flushed_and_kept_in_step(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(data(10_000, 2))
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "wb") as dst:
        p = zcopy.prepare(src, dst)
        dst.write(b"head")  # buffered in the object: must go out before the first run
        assert p.transfer(length=3000).bytes == 3000
        assert dst.tell() == 3004 and src.tell() == 3000
        dst.write(b"mid")
        assert p.transfer().bytes == 7000
        assert dst.tell() == 10_007
        p.close()
    want = b"head" + data(10_000, 2)[:3000] + b"mid" + data(10_000, 2)[3000:]
    assert (tmp_path / "dst").read_bytes() == want


def test_errors_are_transfers_errors(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    (tmp_path / "src").write_bytes(b"abc")
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match="length"):
            zcopy.prepare(fd, w, length=3)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
            zcopy.prepare(fd, w, bogus=1)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="read-only"):
            zcopy.prepare(fd, fd)
        with pytest.raises(OSError) as bad:
            zcopy.prepare(999_999, w)
        assert bad.value.errno == errno.EBADF
        p = zcopy.prepare(fd, w)
        with pytest.raises(zcopy.ZcopyError, match=f"dst fd {w} is a pipe") as e:
            p.transfer(dst_offset=1)
        assert isinstance(e.value, ValueError) and e.value.errno == errno.ESPIPE
        with pytest.raises(ValueError, match="length must be >= 0"):
            p.transfer(length=-1)
        assert p.transfer(src_offset=0).bytes == 3
        assert os.read(r, 10) == b"abc"
        p.close()
        p.close()
        with pytest.raises(ValueError, match="closed"):
            p.transfer()
    finally:
        os.close(fd)


def test_the_bytes_follow_the_file_after_the_callers_fd_is_closed(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(data(2000, 3))
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT, 0o600)
    p = zcopy.prepare(src, dst)
    os.close(dst)
    # The number is reused by another file; the prepared transfer still writes to its own.
    other = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert p.transfer(src_offset=0, dst_offset=0).bytes == 2000
    finally:
        os.close(other)
        os.close(src)
        p.close()
    assert (tmp_path / "dst").read_bytes() == data(2000, 3)
    assert (tmp_path / "other").read_bytes() == b""


def test_close_releases_the_duplicates(tmp_path: Path, pipe: tuple[int, int]) -> None:
    (tmp_path / "src").write_bytes(b"x")
    r, w = pipe
    with open(tmp_path / "src", "rb") as f:
        before = open_fds()
        p = zcopy.prepare(f, w)
        assert open_fds() == before + 2
        p.close()
        assert open_fds() == before


def test_a_buffered_pipe_reader_sends_its_read_ahead_first(pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.write(w, b"0123456789")
    os.close(w)
    reader = io.open(r, "rb", closefd=False)
    assert reader.read(2) == b"01"  # the rest is now in the object's buffer
    out_r, out_w = os.pipe()
    try:
        with zcopy.prepare(reader, out_w) as p:
            assert "by transfer" in repr(p)
            assert p.transfer().bytes == 8
        assert os.read(out_r, 100) == b"23456789"
    finally:
        os.close(out_r)
        os.close(out_w)


def test_progress_and_cancel_work_per_run(tmp_path: Path) -> None:
    import threading

    (tmp_path / "src").write_bytes(data(1 << 20, 4))
    seen: list[int] = []
    ev = threading.Event()
    with open(tmp_path / "src", "rb") as src, open(tmp_path / "dst", "wb") as dst:
        p = zcopy.prepare(src, dst, chunk_size=65536, strategy="read_write", progress=seen.append, cancel=ev)
        assert p.transfer(src_offset=0, dst_offset=0).bytes == 1 << 20
        assert seen and seen[-1] == 1 << 20
        ev.set()
        with pytest.raises(zcopy.CancelledError) as e:
            p.transfer(src_offset=0, dst_offset=0)
        assert e.value.bytes_moved == 0
        p.close()
    assert (tmp_path / "dst").read_bytes() == data(1 << 20, 4)


def test_prepare_to_sends_each_file_named_per_call(
    tmp_path: Path, tcp_pair: tuple[socket.socket, socket.socket]
) -> None:
    client, server = tcp_pair
    one, two = data(5000, 31), data(70_000, 32)
    (tmp_path / "one").write_bytes(one)
    (tmp_path / "two").write_bytes(two)
    with zcopy.prepare_to(client) as p:
        with pytest.raises(ValueError, match="transfer_from"):
            p.transfer()
        with open(tmp_path / "one", "rb") as f:
            r = p.transfer_from(f)
            assert r.bytes == 5000 and r.user_cpu_ns + r.sys_cpu_ns > 0
            assert f.tell() == 5000, "a file object's position follows, as with transfer()"
        assert recv_exactly(server, 5000) == one
        p.set_cpu_meter(False)
        fd = os.open(tmp_path / "two", os.O_RDONLY)
        try:
            r = p.transfer_from(fd, src_offset=0)
            assert r.bytes == 70_000
            assert (r.user_cpu_ns, r.sys_cpu_ns, r.voluntary_ctx_switches) == (0, 0, 0)
            assert recv_exactly(server, 70_000) == two
            # Errors name the caller's fd; a write-only source cannot make sense.
            wo = os.open(tmp_path / "wo", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                with pytest.raises(ValueError, match=f"src fd {wo} is opened write-only"):
                    p.transfer_from(wo)
            finally:
                os.close(wo)
        finally:
            os.close(fd)
        with pytest.raises(TypeError):
            p.transfer_from("not an fd")  # type: ignore[arg-type]
    assert p.closed
    with pytest.raises(ValueError, match="closed"):
        p.transfer_from(0)
    with pytest.raises(ValueError, match="closed"):
        p.set_cpu_meter(True)
    with pytest.raises(TypeError, match="length"):
        zcopy.prepare_to(client, length=3)  # type: ignore[call-arg]
