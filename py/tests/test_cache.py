"""The page-cache functions (residency, advise, readahead, evict, warm) and the transfer options
that touch the cache and durability (cache, sync, direct_threshold, sparse)."""

from __future__ import annotations

import errno
import inspect
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import zcopy

from conftest import data

N = 1 << 20
PAGES = N // os.sysconf("SC_PAGE_SIZE")


def test_evict_warm_residency_on_a_path(src_file: Path) -> None:
    r = zcopy.evict(src_file)
    assert isinstance(r, zcopy.Residency)
    assert (r.pages, r.resident, r.ratio) == (PAGES, 0, 0.0)
    assert r.method in ("cachestat", "mincore")
    assert zcopy.residency(src_file).resident == 0
    w = zcopy.warm(src_file)
    assert (w.pages, w.resident, w.ratio) == (PAGES, PAGES, 1.0)
    r = zcopy.residency(src_file)
    assert r.bitmap == b"\x01" * PAGES
    assert r.to_dict() == {"pages": PAGES, "resident": PAGES, "ratio": 1.0, "bitmap": r.bitmap, "method": r.method}
    assert repr(r) == f"Residency(pages={PAGES}, resident={PAGES}, ratio=1.0, method='{r.method}')"


def test_ranges_and_argument_kinds(src_file: Path) -> None:
    zcopy.evict(src_file)
    with open(src_file, "rb") as f:
        zcopy.warm(f, offset=8192, length=8192)
        r = zcopy.residency(f.fileno(), offset=0, length=4 * 4096)
        assert r.pages == 4 and r.bitmap[2:4] == b"\x01\x01"
        assert zcopy.residency(f, offset=N).pages == 0


def test_evict_flushes_a_writer_first(tmp_path: Path) -> None:
    with open(tmp_path / "w", "wb") as f:
        f.write(data(N))  # in the object's buffer, then the page cache (dirty)
        r = zcopy.evict(f)
        assert r.resident == 0
    assert (tmp_path / "w").read_bytes() == data(N)


def test_advise(src_file: Path, pipe: tuple[int, int]) -> None:
    for advice in ("normal", "sequential", "random", "willneed", "dontneed", "noreuse"):
        assert zcopy.advise(src_file, advice) is True
    assert zcopy.advise(src_file, "willneed", offset=4096, length=4096) is True
    r, _ = pipe
    assert zcopy.advise(r, "random") is False  # a pipe has no page cache
    assert zcopy.residency(r).method == "none"
    with pytest.raises(ValueError, match="unknown advice \"fast\""):
        zcopy.advise(src_file, "fast")
    with pytest.raises(TypeError, match="advice must be a str"):
        zcopy.advise(src_file, 3)  # type: ignore[arg-type]


def _resident_pages(path: Path, want: set[int]) -> set[int]:
    """The pages of ``path`` the bitmap shows resident (a page counts there once its read has
    completed), polled until ``want`` are or 10 s have passed."""
    end = time.monotonic() + 10
    while True:
        now = {i for i, b in enumerate(zcopy.residency(path).bitmap) if b}
        if want <= now or time.monotonic() > end:
            return now
        time.sleep(0.002)


def test_readahead(src_file: Path) -> None:
    # What C's zc_readahead and Go's Readahead do: readahead(2) over the range, not waiting.
    assert str(inspect.signature(zcopy.readahead)) == "(f, offset=0, length=None)"
    assert zcopy.evict(src_file).resident == 0
    assert zcopy.readahead(src_file) is True
    # The reads were started: every page of the evicted file comes in.
    assert _resident_pages(src_file, set(range(PAGES))) == set(range(PAGES))
    assert zcopy.residency(src_file).resident == PAGES

    # A range, on a file object part way through: its position does not move; the pages asked
    # for come in (the kernel may bring whole folios around them).
    zcopy.evict(src_file)
    with open(src_file, "rb") as f:
        f.read(10)
        assert zcopy.readahead(f, offset=N - 8192, length=8192) is True
        assert f.tell() == 10
        assert {PAGES - 2, PAGES - 1} <= _resident_pages(src_file, {PAGES - 2, PAGES - 1})

    # An empty range starts nothing, and is not an error (as C and Go): length=0 reads nothing
    # (unlike advise's length=0, posix_fadvise's "to end of file"), nor does an offset at or past
    # the end, however long the length.
    zcopy.evict(src_file)
    assert zcopy.readahead(src_file, length=0) is True
    assert zcopy.readahead(src_file, offset=N) is True
    assert zcopy.readahead(src_file, offset=8 * N, length=N) is True
    time.sleep(0.05)
    assert zcopy.residency(src_file).resident == 0


def test_readahead_without_a_page_cache_and_errors(tmp_path: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    assert zcopy.readahead(r) is False
    assert zcopy.readahead(w, offset=4096, length=4096) is False
    a, b = socket.socketpair()
    with a, b:
        assert zcopy.readahead(a) is False
    with pytest.raises(FileNotFoundError) as info:
        zcopy.readahead(tmp_path / "missing")
    assert isinstance(info.value, zcopy.ZcopyError) and info.value.errno == errno.ENOENT
    with pytest.raises(zcopy.ZcopyError, match="fd -1 is not an open file descriptor"):
        zcopy.readahead(-1)
    with pytest.raises(ValueError, match="length must be >= 0"):
        zcopy.readahead(r, length=-1)
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="overflows"):
        zcopy.readahead(tmp_path / "f", offset=2**63, length=2**63)
    with pytest.raises(OverflowError):
        zcopy.readahead(tmp_path / "f", offset=-1)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        zcopy.residency(tmp_path / "missing")
    assert isinstance(info.value, zcopy.ZcopyError) and info.value.errno == errno.ENOENT
    with pytest.raises(zcopy.ZcopyError, match="fd -1 is not an open file descriptor"):
        zcopy.warm(-1)
    with pytest.raises(ValueError, match="length must be >= 0"):
        zcopy.evict(tmp_path, length=-1)
    with pytest.raises(TypeError, match="io.BytesIO"):
        import io

        zcopy.residency(io.BytesIO(b"x"))


def test_cache_drop_after_leaves_the_source_cold(src_file: Path, tmp_path: Path) -> None:
    zcopy.evict(src_file)
    r = zcopy.copy_file(src_file, tmp_path / "o", cache="drop_after")
    assert r.bytes == N
    assert zcopy.residency(src_file).resident == 0
    assert zcopy.residency(tmp_path / "o").resident == 0
    assert (tmp_path / "o").read_bytes() == data(N)


def test_cache_dontcache_leaves_both_files_cold(src_file: Path, tmp_path: Path) -> None:
    zcopy.evict(src_file)
    r = zcopy.copy_file(src_file, tmp_path / "o", cache="dontcache", sync="data")
    assert r.bytes == N
    if r.strategy == "read_write" and not r.fallbacks:
        assert zcopy.residency(src_file).resident == 0
        assert zcopy.residency(tmp_path / "o").resident == 0
    else:  # a kernel or filesystem without RWF_DONTCACHE: drop_after, and the Report says why
        assert "RWF_DONTCACHE" in r.fallbacks[0][1], r.fallbacks
    assert (tmp_path / "o").read_bytes() == data(N)


def test_other_options(src_file: Path, tmp_path: Path) -> None:
    for opts in (
        {"cache": "noreuse"},
        {"cache": "keep", "sync": "data"},
        {"sync": "full"},
        {"sync": None, "cache": None},
        {"sparse": False},
        {"direct_threshold": 4096},
        {"direct_threshold": None},
    ):
        r = zcopy.copy_file(src_file, tmp_path / "o", **opts)
        assert r.bytes == N, opts
        assert (tmp_path / "o").read_bytes() == data(N)
    with pytest.raises(ValueError, match="unknown sync policy"):
        zcopy.copy_file(src_file, tmp_path / "o", sync="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sparse must be a bool"):
        zcopy.copy_file(src_file, tmp_path / "o", sparse="yes")  # type: ignore[arg-type]


def test_sparse_source_keeps_its_holes(tmp_path: Path) -> None:
    src = tmp_path / "sparse"
    with open(src, "wb") as f:
        f.seek(8 * N)
        f.write(b"end")
    zcopy.copy_file(src, tmp_path / "o")
    assert (tmp_path / "o").stat().st_size == 8 * N + 3
    assert (tmp_path / "o").stat().st_blocks * 512 < N
    zcopy.copy_file(src, tmp_path / "dense", sparse=False)
    assert (tmp_path / "dense").read_bytes() == b"\0" * (8 * N) + b"end"


# The child drops to nobody itself, after loading zcopy (the interpreter may live where nobody
# cannot reach, e.g. under /root).
_NOBODY_CHILD = """
import os, sys, zcopy
os.setgid(65534)
os.setuid(65534)
for op in (zcopy.evict, zcopy.warm):
    r = op(sys.argv[1])
    print(op.__name__, r.method, r.pages, r.resident, len(r.bitmap))
try:
    zcopy.residency(sys.argv[1])
except zcopy.UnsupportedError as e:
    print("residency refused:", e)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as another user (nobody)")
def test_evict_and_warm_succeed_where_the_cache_cannot_be_seen() -> None:
    # A user who neither owns nor may write a file cannot see its page cache (cachestat
    # refuses, mincore would say everything is resident): evict and warm still do their work,
    # and say the residency after is unknown instead of raising.
    d = tempfile.mkdtemp(prefix="zcopy-nobody.")
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "f")
        with open(path, "wb") as f:
            f.write(data(4 * N))
        os.chmod(path, 0o644)
        zcopy.warm(path)
        out = subprocess.run(
            [sys.executable, "-c", _NOBODY_CHILD, path],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        if "refused" not in out.stdout:
            pytest.skip(f"this kernel's cachestat answers anyone: {out.stdout!r}")
        assert lines[0] == f"evict unknown {4 * PAGES} 0 0"
        assert lines[1] == f"warm unknown {4 * PAGES} 0 0"
        assert "cannot see" in lines[2]
        # Root sees the pages were read back in by warm, after evict dropped them.
        assert zcopy.residency(path).resident == 4 * PAGES
        subprocess.run(
            [sys.executable, "-c", "import os, sys, zcopy; os.setuid(65534); zcopy.evict(sys.argv[1])", path],
            check=True,
        )
        assert zcopy.residency(path).resident == 0
    finally:
        shutil.rmtree(d)
