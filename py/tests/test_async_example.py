"""examples/python/async_static.py, the aiohttp static-file handler built on zcopy.atransfer:
started as a server, it answers a GET and Range requests with the file's exact bytes, 404 for
what is not a file under its root."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "async_static.py"


@pytest.fixture(params=["asyncio", "uvloop"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    for module in ("aiohttp", request.param):
        if module != "asyncio":
            try:
                __import__(module)
            except ImportError:
                pytest.skip(f"{module} is not installed (scripts/test-py.sh installs it)")
    body = data((1 << 20) + 123, 4)
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.bin").write_bytes(body)
    (tmp_path / "secret").write_bytes(b"not served")
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--root", str(root), "--port", "0", "--loop", str(request.param)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving "), line
        yield line.split(" on ")[1].split()[0], body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_get_and_ranges(server: tuple[str, bytes]) -> None:
    base, body = server
    status, headers, got = get(base + "f.bin")
    assert (status, got) == (200, body)
    assert int(headers["Content-Length"]) == len(body)
    status, headers, got = get(base + "f.bin", Range="bytes=100-65635")
    assert (status, got) == (206, body[100:65636])
    assert headers["Content-Range"] == f"bytes 100-65635/{len(body)}"
    status, _, got = get(base + "f.bin", Range="bytes=1000000-")
    assert (status, got) == (206, body[1000000:])
    status, _, got = get(base + "f.bin", Range="bytes=-7")
    assert (status, got) == (206, body[-7:])
    status, headers, _ = get(base + "f.bin", Range=f"bytes={len(body)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(body)}"
    # Keep-alive: many requests on one connection, each body exact.
    import http.client

    host, port = base.split("//")[1].rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for i in range(20):
            conn.request("GET", "/f.bin", headers={"Range": f"bytes={i * 1000}-{i * 1000 + 4095}"})
            r = conn.getresponse()
            assert (r.status, r.read()) == (206, body[i * 1000:i * 1000 + 4096])
    finally:
        conn.close()


def test_not_found(server: tuple[str, bytes]) -> None:
    base, _ = server
    assert get(base + "nope")[0] == 404
    assert get(base + "..%2Fsecret")[0] == 404
