"""zcopy.Server: the engine's file server from Python, byte-exact over a plain socket client
for every I/O model; ranges, HEAD, 404; argument errors; close()."""

from __future__ import annotations

import errno
import resource
import socket
import time
from pathlib import Path
from typing import Literal

import pytest

import zcopy
from zcopy import _zcopy
from conftest import data

_Model = Literal["threads", "poll", "epoll", "uring"]
MODELS: list[_Model] = ["threads", "poll", "epoll", "uring"]


def get(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Sends one request on a fresh connection (closed by the request) and returns the head and
    body of the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(request)
        got = b""
        while chunk := c.recv(1 << 20):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    return head, body


@pytest.fixture
def www(tmp_path: Path) -> Path:
    (tmp_path / "small.bin").write_bytes(data(4096, 60))
    (tmp_path / "big.bin").write_bytes(data((3 << 20) + 5, 61))
    (tmp_path / "empty").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("model", MODELS)
def test_every_model_serves_exact_bytes(model: _Model, www: Path) -> None:
    with zcopy.Server(www, workers=1, model=model) as srv:
        assert srv.model == model and srv.running
        assert srv.url == f"http://127.0.0.1:{srv.port}" and srv.address == ("127.0.0.1", srv.port)
        for name in ("small.bin", "big.bin", "empty"):
            head, body = get(srv.port, f"GET /{name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert head.startswith(b"HTTP/1.1 200"), head
            assert body == (www / name).read_bytes(), name
        head, body = get(srv.port, b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206"), head
        assert body == (www / "big.bin").read_bytes()[100:200]
        head, body = get(srv.port, b"HEAD /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 4096" in head and body == b""
        head, _ = get(srv.port, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404"), head
    assert not srv.running
    srv.close()  # a second close does nothing
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def test_directio_serves_exact_bytes_and_leaves_the_cache(www: Path) -> None:
    zcopy.evict(www / "big.bin")
    with zcopy.Server(www, workers=1, directio=1 << 20) as srv:
        head, body = get(srv.port, b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    left = zcopy.residency(www / "big.bin")
    if left.method == "none":
        pytest.skip("this kernel cannot tell page-cache residency; the bytes were checked")
    assert left.resident == 0, f"directio left {left.resident} of {left.pages} pages in the cache"
    assert body == (www / "big.bin").read_bytes()


def test_bad_arguments_name_what_was_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="I/O model"):
        zcopy.Server(tmp_path, model="select")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="listen"):
        zcopy.Server(tmp_path, listen="localhost")
    with pytest.raises(ValueError, match="workers"):
        zcopy.Server(tmp_path, workers=0)
    with pytest.raises(zcopy.ZcopyError, match="nope"):
        zcopy.Server(tmp_path / "nope")
    with pytest.raises(ValueError, match="header_timeout"):
        zcopy.Server(tmp_path, header_timeout=0)
    with pytest.raises(ValueError, match="keepalive_timeout"):
        zcopy.Server(tmp_path, keepalive_timeout=-1)
    with pytest.raises(ValueError, match="max_connections"):
        zcopy.Server(tmp_path, max_connections=0)


@pytest.mark.parametrize("model", MODELS)
def test_a_second_server_on_a_served_address_gets_eaddrinuse(model: _Model, tmp_path: Path) -> None:
    # Issue 14, case 8: with SO_REUSEPORT the second one started and took half the connections.
    with zcopy.Server(tmp_path, model=model, workers=2) as a:
        for second in MODELS:
            with pytest.raises(OSError) as info:
                zcopy.Server(tmp_path, listen=f"127.0.0.1:{a.port}", model=second)
            assert info.value.errno == errno.EADDRINUSE, info.value
            assert isinstance(info.value, zcopy.ZcopyError)
            assert f"127.0.0.1:{a.port}" in str(info.value)


def until_closed(c: socket.socket, trickle: bool) -> float:
    """Seconds until the server closes `c` (end of file or reset), sending a byte every 0.1 s
    when `trickle`."""
    t0 = time.monotonic()
    c.settimeout(0.1)
    while time.monotonic() - t0 < 20:
        try:
            got = c.recv(4096)
        except socket.timeout:
            got = None
        except ConnectionResetError:
            return time.monotonic() - t0
        if got == b"":
            return time.monotonic() - t0
        assert got is None, got
        if trickle:
            try:
                c.send(b"x")
            except OSError:
                return time.monotonic() - t0
    raise AssertionError("the server kept the connection for 20 s")


@pytest.mark.parametrize("model", MODELS)
def test_timeouts_close_slow_and_idle_clients(model: _Model, www: Path) -> None:
    with zcopy.Server(www, model=model, header_timeout=1, keepalive_timeout=1) as srv:
        # A head trickled one byte per 0.1 s: closed after the header timeout.
        with socket.create_connection(("127.0.0.1", srv.port)) as c:
            c.sendall(b"GET /small.bin HTTP/1.1\r\nX-Slow: ")
            assert until_closed(c, trickle=True) >= 0.9
        # A kept-alive connection idle after its response: closed after the keep-alive timeout.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
            c.sendall(b"GET /small.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith((www / "small.bin").read_bytes()):
                got += c.recv(1 << 16)
            assert got.startswith(b"HTTP/1.1 200")
            assert until_closed(c, trickle=False) >= 0.9


@pytest.mark.parametrize("model", MODELS)
def test_a_thousand_idle_connections_do_not_stop_a_new_client(model: _Model, www: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        if hard != resource.RLIM_INFINITY and hard < 4096:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < 4096 (2,000 sockets in this process)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    with zcopy.Server(www, model=model, workers=2, max_connections=2000) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(1000)]
        try:
            head, body = get(srv.port, b"GET /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and body == (www / "small.bin").read_bytes()
        finally:
            for c in idle:
                c.close()


@pytest.mark.parametrize("model", MODELS)
def test_nginx_answers_and_the_access_log(model: _Model, www: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """ETag and Last-Modified from the file's stat, 304 for If-None-Match and
    If-Modified-Since, 301 for a directory, and one combined log line per response, written by
    close()."""
    import email.utils
    import os

    small = www / "small.bin"
    os.utime(small, (784111777, 784111777))
    (www / "sub").mkdir()
    log = tmp_path_factory.mktemp("logs") / "access.log"
    with zcopy.Server(www, workers=2, model=model, access_log=log) as srv:
        head, body = get(srv.port, b"GET /small.bin HTTP/1.1\r\nUser-Agent: py-test\r\nConnection: close\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        etag = f'"{784111777:x}-{4096:x}"'
        assert headers["ETag"] == etag and body == small.read_bytes()
        assert headers["Last-Modified"] == "Sun, 06 Nov 1994 08:49:37 GMT"
        assert abs(email.utils.parsedate_to_datetime(headers["Date"]).timestamp() - time.time()) < 5
        head, body = get(srv.port, f"GET /small.bin HTTP/1.1\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 304") and body == b"", head
        ims = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"
        head, _ = get(srv.port, f"GET /small.bin HTTP/1.1\r\n{ims}\r\nConnection: close\r\n\r\n".encode())
        assert head.startswith(b"HTTP/1.1 304"), head
        head, _ = get(srv.port, b"GET /sub?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 301") and b"\r\nLocation: /sub/?x=1" in head, head
        head, _ = get(srv.port, b"GET /sub/ HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 403"), head
    lines = log.read_text().splitlines()
    assert len(lines) == 5, lines
    parsed = {}
    for line in lines:
        addr, rest = line.split(" - - [", 1)
        _time, rest = rest.split('] "', 1)
        request, rest = rest.split('" ', 1)
        status, size, quoted = rest.split(" ", 2)
        referer, agent = quoted[1:-1].split('" "')
        assert addr == "127.0.0.1"
        parsed[(request, int(status))] = (int(size), referer, agent)
    assert parsed[("GET /small.bin HTTP/1.1", 200)] == (4096, "-", "py-test")
    assert parsed[("GET /small.bin HTTP/1.1", 304)] == (0, "-", "-")
    assert ("GET /sub?x=1 HTTP/1.1", 301) in parsed and ("GET /sub/ HTTP/1.1", 403) in parsed


def test_access_log_errors(www: Path) -> None:
    with pytest.raises(FileNotFoundError, match="access log"):
        zcopy.Server(www, access_log="/nonexistent/dir/access.log")
    with pytest.raises(ValueError, match="access_log"):
        zcopy.Server(www, access_log="")
    with zcopy.Server(www, access_log="off") as srv:
        get(srv.port, b"GET /small.bin HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert not (www / "off").exists() and not Path("off").exists()


@pytest.mark.skipif(
    not hasattr(_zcopy, "_inject_worker_panic"),
    reason="zcopy was built without the testing feature: no _inject_worker_panic "
    "(pip install ./py with MATURIN_PEP517_ARGS=--features=testing, as scripts/test-py.sh does)",
)
@pytest.mark.parametrize("model", MODELS)
def test_a_worker_panic_is_a_zcopy_error(model: _Model, www: Path) -> None:
    # Issue 15: a panic in a worker thread (a bug) was an invalid-argument error; it is the
    # ZcopyError of a panic, and the other worker stops with it.
    _zcopy._inject_worker_panic()
    srv = zcopy.Server(www, workers=2, model=model)
    with pytest.raises(zcopy.ZcopyError) as info:
        srv.close()
    assert type(info.value) is zcopy.ZcopyError  # the base class itself, as for any panic
    assert "injected panic in a server worker" in str(info.value)
    assert "a bug" in str(info.value)
    assert not srv.running
    # The library still serves.
    with zcopy.Server(www, workers=1, model=model) as again:
        head, body = get(again.port, b"GET /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and body == (www / "small.bin").read_bytes()
