"""Shared fixtures: real files, pipes and sockets (no mocks)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def data(n: int, seed: int = 0) -> bytes:
    """``n`` reproducible pseudo-random bytes (random enough that a misplaced byte shows)."""
    return random.Random(seed).randbytes(n) if n else b""


def open_fds() -> int:
    """How many fds this process has open."""
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def src_file(tmp_path: Path) -> Path:
    """A 1 MiB file of known bytes (``data(1 << 20)``)."""
    p = tmp_path / "src.bin"
    p.write_bytes(data(1 << 20))
    return p


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """An ``os.pipe()``; both ends closed afterwards unless the test closed them."""
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected loopback TCP pair (client, server side)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def slow_feeder(chunk: int = 65536, pause: float = 0.01, seconds: float = 20.0) -> subprocess.Popen[bytes]:
    """A child process writing ``chunk`` bytes every ``pause`` seconds to its stdout (a pipe),
    for up to ``seconds``: a source that keeps a transfer busy for as long as a test needs."""
    code = (
        "import os, sys, time\n"
        f"end = time.monotonic() + {seconds}\n"
        f"block = b'z' * {chunk}\n"
        "while time.monotonic() < end:\n"
        "    try:\n"
        "        os.write(1, block)\n"
        "    except BrokenPipeError:\n"
        "        break\n"
        f"    time.sleep({pause})\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
