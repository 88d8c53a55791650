"""The claims of the zero-copy literature (DESIGN.md, "What the project is built from"), run as
experiments on this machine.

Each experiment returns rows: a pandas DataFrame when pandas is installed, a list of dicts
otherwise. Each ``plot_*`` helper draws the rows of its experiment with matplotlib (optional) and
returns the figure. Rounds are interleaved (every configuration once per round, in a rotating
order) and medians over rounds are reported, because shared machines swing 1.2-2.5x between
single timings: compare ratios measured in the same run, not absolute times across runs.

>>> from zcopy import experiments as ex
>>> rows = ex.compare_techniques(sizes=(65536, 1 << 20), rounds=3)  # doctest: +SKIP
>>> ex.zero_copy_speedup(rows)  # doctest: +SKIP

Times are the engine's own Report figure (``elapsed_ns``), so Python's per-call overhead is not
in them. CPU time is the sending thread's, measured around each call with
``time.thread_time_ns()`` (``CLOCK_THREAD_CPUTIME_ID``, precise to the nanosecond): the Report's
``user_cpu_ns`` and ``sys_cpu_ns`` come from getrusage, whose split the kernel updates at
scheduler-tick granularity, too coarse for one short transfer. Cold reads are made
cold with ``zcopy.evict`` (dirty pages written back, then dropped).
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable

from ._zcopy import Report, UnsupportedError, advise, copy_file, evict, probe, residency, strategies, transfer, warm

__all__ = [
    "ENDPOINTS",
    "ZERO_COPY",
    "DESIGN_TABLE",
    "machine",
    "compare_techniques",
    "zero_copy_speedup",
    "syscall_table",
    "copy_model_table",
    "mmap_vs_read",
    "readahead",
    "cache_pollution",
    "plot_techniques",
    "plot_mmap_vs_read",
    "plot_readahead",
    "plot_cache_pollution",
]

#: The endpoint pairs ``compare_techniques`` knows: file to file, to a pipe, to loopback TCP.
ENDPOINTS = ("file_file", "file_pipe", "file_tcp")

#: The zero-copy techniques: no byte through a user-space buffer the CPU copies (msg_zerocopy
#: sends from user pages the NIC reads; on loopback the kernel copies anyway).
ZERO_COPY = ("sendfile", "splice", "copy_file_range", "reflink", "msg_zerocopy")

#: DESIGN.md's table of the literature's claims per technique: syscalls per chunk, user/kernel
#: mode switches per chunk, CPU copies and DMA copies per byte (file to socket).
DESIGN_TABLE: dict[str, dict[str, Any]] = {
    "read_write": {"syscalls_per_chunk": "2", "mode_switches_per_chunk": 4, "cpu_copies": 2, "dma_copies": 2},
    "mmap_write": {"syscalls_per_chunk": "2 (+1 mmap per mapping)", "mode_switches_per_chunk": 4, "cpu_copies": 1, "dma_copies": 2},
    "sendfile": {"syscalls_per_chunk": "1", "mode_switches_per_chunk": 2, "cpu_copies": 1, "dma_copies": 2},
    "splice": {"syscalls_per_chunk": "2", "mode_switches_per_chunk": 4, "cpu_copies": 0, "dma_copies": 2},
}

_Rows = Any  # a pandas DataFrame, or a list of dicts


def _frame(rows: list[dict[str, Any]]) -> _Rows:
    """``rows`` as a DataFrame when pandas is installed, else as they are."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def _records(rows: _Rows) -> list[dict[str, Any]]:
    """The rows of a DataFrame or a list of dicts, as a list of dicts."""
    if hasattr(rows, "to_dict"):
        return list(rows.to_dict("records"))
    return list(rows)


def _fs_type(path: str) -> str:
    """The filesystem type of ``path`` (the longest mount point above it in /proc/mounts)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    mnt = parts[1].replace("\\040", " ")
                    if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                        best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def machine(directory: str | None = None) -> dict[str, Any]:
    """What the figures were measured on: CPU model, cores, kernel, Python, the filesystem of
    ``directory`` (the temporary directory by default), and zcopy's version."""
    from . import __version__

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    directory = directory or tempfile.gettempdir()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "directory": directory,
        "filesystem": _fs_type(directory),
        "zcopy": __version__,
    }


def _pattern(n: int) -> bytes:
    block = bytes(range(256)) * 16
    return (block * (n // len(block) + 1))[:n]


def _ops_for(size: int, batch_bytes: int) -> int:
    """Small sizes are batched: enough transfers to move about ``batch_bytes``, at most 256."""
    return max(1, min(256, batch_bytes // max(size, 1)))


@contextmanager
def _sink(endpoint: str, directory: str) -> Iterator[tuple[Any, Callable[[], None]]]:
    """The destination of one sample: yields ``(dst, before_each_op)``. For a pipe or a TCP
    connection a thread drains it into /dev/null with zcopy itself (splice: no copy through
    Python), so the sender is what is measured."""
    if endpoint == "file_file":
        fd, path = tempfile.mkstemp(dir=directory, prefix="zcopy-dst-")
        try:
            yield fd, lambda: os.ftruncate(fd, 0)
        finally:
            os.close(fd)
            os.unlink(path)
        return
    if endpoint == "file_pipe":
        r, w = os.pipe()
        ends: list[Any] = [r, w]
        read_end: Any = r
        write_end: Any = w
    elif endpoint == "file_tcp":
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
        ends = [client, server]
        read_end, write_end = server, client
    else:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    failure: list[BaseException] = []

    def drain() -> None:
        try:
            with open(os.devnull, "wb") as devnull:
                transfer(read_end, devnull)
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller below
            failure.append(e)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        yield write_end, lambda: None
    finally:
        if isinstance(write_end, socket.socket):
            write_end.shutdown(socket.SHUT_WR)
        else:
            os.close(write_end)
            ends.remove(write_end)
        t.join()
        for e in ends:
            if isinstance(e, socket.socket):
                e.close()
            else:
                os.close(e)
    if failure:
        raise failure[0]


def _supported(src_fd: int, endpoint: str, directory: str) -> dict[str, str]:
    """``{technique: reason}`` for the techniques ``probe`` rules out for this endpoint."""
    with _sink(endpoint, directory) as (dst, _):
        return {s.strategy: s.reason for s in probe(src_fd, dst) if not s.supported}


def compare_techniques(
    sizes: Sequence[int] = (4096, 65536, 1 << 20, 16 << 20),
    endpoints: Sequence[str] = ENDPOINTS,
    techniques: Sequence[str] | None = None,
    rounds: int = 5,
    directory: str | None = None,
    batch_bytes: int = 8 << 20,
) -> _Rows:
    """Every technique on every endpoint pair and size, source hot in the page cache.

    One sample is ``ops`` transfers of ``size`` bytes (small sizes are batched to about
    ``batch_bytes``); each technique runs strictly (``fallback=False``), plus ``auto``, which
    reports what it picked. Techniques ``probe`` rules out for a pair are left out.

    Returns one row per (endpoint, size, technique) with medians over ``rounds`` interleaved
    rounds: ``throughput_gbs`` (GB/s, 1e9 bytes), ``cpu_s_per_gb`` (user + system CPU of the
    sending thread per GB), ``syscalls_per_op``, ``mode_switches_per_op``, ``ctx_switches_per_op``
    (the scheduler's, voluntary + involuntary), ``cpu_copies_per_byte`` and
    ``dma_copies_per_byte`` (the engine's copy model), ``us_per_op``, and ``strategy_used`` (what
    ``auto`` picked).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for e in endpoints:
        if e not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {e!r}; expected one of {', '.join(ENDPOINTS)}")
    names = list(techniques) if techniques is not None else strategies()
    samples: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    used: dict[tuple[str, int, str], str] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-exp-") as d:
        sources: dict[int, int] = {}
        try:
            for size in sizes:
                fd, path = tempfile.mkstemp(dir=d, prefix="zcopy-src-")
                os.write(fd, _pattern(size))
                os.unlink(path)
                sources[size] = fd
                os.pread(fd, max(size, 1), 0)  # hot: in the page cache
            refused = {e: _supported(sources[sizes[0]], e, d) for e in endpoints} if sizes else {}
            for rnd in range(rounds):
                for endpoint in endpoints:
                    for size in sizes:
                        k = len(names)
                        order = [names[(i + rnd) % k] for i in range(k)]
                        for tech in order:
                            if tech in refused[endpoint]:
                                continue
                            got = _sample(sources[size], size, endpoint, tech, d, _ops_for(size, batch_bytes))
                            if got is None:
                                continue
                            report_strategy, figures = got
                            samples.setdefault((endpoint, size, tech), []).append(figures)
                            used[(endpoint, size, tech)] = report_strategy
        finally:
            for fd in sources.values():
                os.close(fd)
    rows = []
    for (endpoint, size, tech), figs in samples.items():
        row: dict[str, Any] = {"endpoint": endpoint, "size": size, "technique": tech}
        row["strategy_used"] = used[(endpoint, size, tech)]
        row["rounds"] = len(figs)
        row["ops"] = int(figs[0]["ops"])
        for key in (
            "throughput_gbs",
            "cpu_s_per_gb",
            "syscalls_per_op",
            "mode_switches_per_op",
            "ctx_switches_per_op",
            "cpu_copies_per_byte",
            "dma_copies_per_byte",
            "us_per_op",
        ):
            row[key] = statistics.median(f[key] for f in figs)
        rows.append(row)
    order_of = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (endpoints.index(r["endpoint"]), r["size"], order_of.get(r["technique"], 99)))
    return _frame(rows)


def _sample(
    src_fd: int, size: int, endpoint: str, tech: str, directory: str, ops: int
) -> tuple[str, dict[str, float]] | None:
    """``ops`` transfers of ``size`` bytes with one technique; ``None`` if it refused."""
    reports: list[Report] = []
    cpu = 0
    with _sink(endpoint, directory) as (dst, before):
        for _ in range(ops):
            before()
            t0 = time.thread_time_ns()
            try:
                reports.append(
                    transfer(
                        src_fd,
                        dst,
                        strategy=tech,
                        fallback=tech == "auto",
                        src_offset=0,
                        length=size,
                    )
                )
            except UnsupportedError:
                return None
            cpu += time.thread_time_ns() - t0
    moved = sum(r.bytes for r in reports) or 1
    elapsed = sum(r.elapsed_ns for r in reports) or 1
    return reports[-1].strategy, {
        "ops": ops,
        "throughput_gbs": moved / elapsed,
        "cpu_s_per_gb": cpu / moved,
        "syscalls_per_op": sum(r.syscalls for r in reports) / ops,
        "mode_switches_per_op": sum(r.mode_switches for r in reports) / ops,
        "ctx_switches_per_op": sum(r.voluntary_ctx_switches + r.involuntary_ctx_switches for r in reports) / ops,
        "cpu_copies_per_byte": sum(r.cpu_copies_bytes for r in reports) / moved,
        "dma_copies_per_byte": sum(r.dma_copies_bytes for r in reports) / moved,
        "us_per_op": elapsed / ops / 1000,
    }


def zero_copy_speedup(rows: _Rows, baseline: str = "read_write") -> _Rows:
    """The claim "zero-copy transfers take ~65% less time than read+write" (and "at least 2x"),
    per endpoint and size, from ``compare_techniques`` rows.

    For each (endpoint, size): the fastest zero-copy technique (``ZERO_COPY``) against ``baseline``: ``speedup`` (baseline time / its time),
    ``time_saved`` (1 - its time / baseline time), ``holds_2x`` (speedup >= 2) and
    ``holds_65pct`` (time saved >= 65%, i.e. speedup >= 2.86).
    """
    recs = _records(rows)
    out = []
    keys = sorted({(r["endpoint"], r["size"]) for r in recs}, key=lambda k: (ENDPOINTS.index(k[0]) if k[0] in ENDPOINTS else 9, k[1]))
    for endpoint, size in keys:
        group = [r for r in recs if r["endpoint"] == endpoint and r["size"] == size]
        base = next((r for r in group if r["technique"] == baseline), None)
        zc = [r for r in group if r["technique"] in ZERO_COPY]
        if base is None or not zc:
            continue
        best = max(zc, key=lambda r: r["throughput_gbs"])
        speedup = best["throughput_gbs"] / base["throughput_gbs"]
        out.append(
            {
                "endpoint": endpoint,
                "size": size,
                f"{baseline}_gbs": base["throughput_gbs"],
                "best_zero_copy": best["technique"],
                "zero_copy_gbs": best["throughput_gbs"],
                "speedup": speedup,
                "time_saved": 1 - 1 / speedup,
                "cpu_ratio": (best["cpu_s_per_gb"] / base["cpu_s_per_gb"]) if base["cpu_s_per_gb"] else float("nan"),
                "holds_2x": speedup >= 2,
                "holds_65pct": 1 - 1 / speedup >= 0.65,
            }
        )
    return _frame(out)


def syscall_table(rows: _Rows, size: int | None = None) -> _Rows:
    """Syscalls and user/kernel mode switches per transfer, per technique and endpoint, at one
    ``size`` (the largest measured by default), beside the chunk size each implies and
    DESIGN.md's per-chunk claim. A transfer's count includes the engine's bookkeeping (fstat,
    fcntl, getrusage, lseek): compare techniques with each other, and with the claim per chunk
    at large sizes."""
    recs = _records(rows)
    if size is None:
        size = max(r["size"] for r in recs)
    out = []
    for r in recs:
        if r["size"] != size:
            continue
        claim = DESIGN_TABLE.get(r["technique"], {})
        out.append(
            {
                "endpoint": r["endpoint"],
                "technique": r["technique"],
                "strategy_used": r["strategy_used"],
                "size": size,
                "syscalls_per_op": r["syscalls_per_op"],
                "mode_switches_per_op": r["mode_switches_per_op"],
                "claim_syscalls_per_chunk": claim.get("syscalls_per_chunk", ""),
                "claim_mode_switches_per_chunk": claim.get("mode_switches_per_chunk", ""),
            }
        )
    return _frame(out)


def copy_model_table(rows: _Rows) -> _Rows:
    """The modelled copies per byte each technique reported, per endpoint, beside DESIGN.md's
    claim (stated for file to socket)."""
    recs = _records(rows)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in recs:
        key = (r["technique"], r["endpoint"])
        if key in seen:
            continue
        claim = DESIGN_TABLE.get(r["technique"], {})
        seen[key] = {
            "technique": r["technique"],
            "endpoint": r["endpoint"],
            "strategy_used": r["strategy_used"],
            "cpu_copies_per_byte": r["cpu_copies_per_byte"],
            "dma_copies_per_byte": r["dma_copies_per_byte"],
            "claim_cpu_copies": claim.get("cpu_copies", ""),
            "claim_dma_copies": claim.get("dma_copies", ""),
        }
    return _frame(list(seen.values()))


def mmap_vs_read(
    sizes: Sequence[int] = (1 << 20, 16 << 20),
    rounds: int = 5,
    directory: str | None = None,
    batch_bytes: int = 32 << 20,
) -> _Rows:
    """mmap+write against read+write, file to file, source hot: the claim is that mmap saves
    one CPU copy; the cost is page faults (one per page, or per batch of pages the kernel maps
    around a fault, touched through the mapping) and mmap/munmap per window.

    One sample is ``ops`` copies of ``size`` bytes (about ``batch_bytes``, at most 256). Returns
    one row per (size, technique): medians of ``throughput_gbs``, ``cpu_s_per_gb``,
    ``minor_faults_per_mib`` (the calling thread's minor page faults, getrusage), and the
    modelled ``cpu_copies_per_byte``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    techs = ("read_write", "mmap_write")
    figs: dict[tuple[int, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-mmap-") as d:
        for size in sizes:
            with open(os.path.join(d, f"src-{size}"), "wb") as f:
                f.write(_pattern(size))
        dst = os.path.join(d, "dst")
        # Warm both techniques once (read_write's buffer is made on first use).
        for tech in techs:
            _transfer_file(os.path.join(d, f"src-{sizes[0]}"), dst, tech)
        for rnd in range(rounds):
            for size in sizes:
                ops = _ops_for(size, batch_bytes)
                for tech in techs if rnd % 2 == 0 else techs[::-1]:
                    moved = elapsed = cpu = faults = 0
                    copies = 0
                    with open(os.path.join(d, f"src-{size}"), "rb") as s, open(dst, "wb") as t:
                        for _ in range(ops):
                            os.ftruncate(t.fileno(), 0)
                            before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
                            t0 = time.thread_time_ns()
                            r = transfer(s, t, strategy=tech, fallback=False, src_offset=0, dst_offset=0)
                            cpu += time.thread_time_ns() - t0
                            faults += resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
                            moved += r.bytes
                            elapsed += r.elapsed_ns
                            copies += r.cpu_copies_bytes
                    moved = max(moved, 1)
                    figs.setdefault((size, tech), []).append(
                        {
                            "ops": ops,
                            "throughput_gbs": moved / max(elapsed, 1),
                            "cpu_s_per_gb": cpu / moved,
                            "minor_faults_per_mib": faults / (moved / (1 << 20)),
                            "cpu_copies_per_byte": copies / moved,
                        }
                    )
    rows = []
    for (size, tech), fs in figs.items():
        row: dict[str, Any] = {"size": size, "technique": tech, "rounds": len(fs)}
        for key in fs[0]:
            row[key] = statistics.median(f[key] for f in fs)
        row["ops"] = int(row["ops"])
        rows.append(row)
    return _frame(rows)


def readahead(
    size: int = 16 << 20,
    block: int = 4096,
    rounds: int = 3,
    directory: str | None = None,
) -> _Rows:
    """Cold reads of a ``size``-byte file in ``block``-byte ``pread`` calls, in order
    (``sequential``) or in a shuffled order (``random``), after each ``posix_fadvise`` advice
    (``normal``, ``sequential``: a doubled readahead window, ``random``: no readahead).

    The claims: the kernel reads ahead, so sequential cold reads beat random ones; advice steers
    readahead. The file is evicted (``zcopy.evict``) before each read. Returns one row per
    (pattern, advice) with medians of ``throughput_mbs`` (MB/s, 1e6 bytes) and ``seconds``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    import random as _random

    blocks = max(size // block, 1)
    order = list(range(blocks))
    shuffled = order[:]
    _random.Random(7).shuffle(shuffled)
    configs = [(p, a) for p in ("sequential", "random") for a in ("normal", "sequential", "random")]
    figs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-ra-") as d:
        path = os.path.join(d, "cold.bin")
        with open(path, "wb") as f:
            f.write(_pattern(blocks * block))
        fd = os.open(path, os.O_RDONLY)
        try:
            for rnd in range(rounds):
                for pattern, adv in configs[rnd % len(configs) :] + configs[: rnd % len(configs)]:
                    evict(fd)
                    advise(fd, adv)
                    t0 = time.perf_counter()
                    for i in order if pattern == "sequential" else shuffled:
                        os.pread(fd, block, i * block)
                    figs.setdefault((pattern, adv), []).append(time.perf_counter() - t0)
            advise(fd, "normal")
        finally:
            os.close(fd)
    rows = []
    for (pattern, adv), times in figs.items():
        secs = statistics.median(times)
        rows.append(
            {
                "pattern": pattern,
                "advice": adv,
                "size": blocks * block,
                "block": block,
                "rounds": len(times),
                "seconds": secs,
                "throughput_mbs": blocks * block / secs / 1e6,
            }
        )
    rows.sort(key=lambda r: (r["pattern"] != "sequential", ("normal", "sequential", "random").index(r["advice"])))
    return _frame(rows)


def cache_pollution(
    hot_size: int = 4 << 20,
    big_size: int = 64 << 20,
    directory: str | None = None,
) -> _Rows:
    """What copying a large file does to the page cache, with each way of keeping it out.

    A small hot file is warmed (``zcopy.warm``) and a large file made cold (``zcopy.evict``);
    then the large file is copied to a new file with ``cache="keep"`` (the default),
    ``cache="drop_after"``, ``cache="noreuse"``, and ``strategy="direct"`` (O_DIRECT). Returns
    one row per way with the residency ratio of the hot file, the large source and the copy
    after it, the MiB of page cache the copy left behind, and the copy's throughput.

    The claim is that large files pollute the cache and evict small hot files. Eviction needs
    memory pressure: on a machine with ample free memory the hot file stays whatever the copy
    does, and what this measures is how much cache each way leaves behind.
    """
    ways: list[tuple[str, dict[str, Any]]] = [
        ("keep", {}),
        ("drop_after", {"cache": "drop_after"}),
        ("noreuse", {"cache": "noreuse"}),
        ("direct", {"strategy": "direct"}),
    ]
    rows = []
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-pollution-") as d:
        hot, big, dst = (os.path.join(d, n) for n in ("hot.bin", "big.bin", "copy.bin"))
        for path, n in ((hot, hot_size), (big, big_size)):
            with open(path, "wb") as f:
                f.write(_pattern(n))
        for name, opts in ways:
            if os.path.exists(dst):
                os.unlink(dst)
            warm(hot)
            evict(big)
            hot_before = residency(hot).ratio
            report = _copy_file(big, dst, **opts)
            big_after, dst_after = residency(big), residency(dst)
            page = os.sysconf("SC_PAGE_SIZE")
            rows.append(
                {
                    "way": name,
                    "strategy_used": report.strategy,
                    "hot_before": hot_before,
                    "hot_after": residency(hot).ratio,
                    "big_after": big_after.ratio,
                    "copy_after": dst_after.ratio,
                    "cache_left_mib": (big_after.resident + dst_after.resident) * page / (1 << 20),
                    "throughput_gbs": report.bytes / max(report.elapsed_ns, 1),
                }
            )
    return _frame(rows)


def _copy_file(src: str, dst: str, **options: Any) -> Report:
    """``zcopy.copy_file`` with ``options`` given as a dict."""
    return copy_file(src, dst, **options)


def _transfer_file(src: str, dst: str, technique: str) -> Report:
    """One file-to-file transfer with exactly ``technique``, into a freshly truncated ``dst``."""
    with open(src, "rb") as s, open(dst, "wb") as t:
        return transfer(s, t, strategy=technique, fallback=False)


def _plt() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the plot_* helpers need matplotlib: pip install matplotlib") from e
    return plt


def _color(technique: str) -> Any:
    """One colour per technique, the same in every panel and plot."""
    names = strategies()
    i = names.index(technique) if technique in names else len(names)
    return f"C{i % 10}"


def _size_label(n: float) -> str:
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n:g} B"


def plot_techniques(rows: _Rows, metric: str = "throughput_gbs", logy: bool = False) -> Any:
    """One panel per endpoint: ``metric`` (a column of ``compare_techniques``) against size, one
    line per technique. Returns the matplotlib figure."""
    plt = _plt()
    recs = _records(rows)
    endpoints = [e for e in ENDPOINTS if any(r["endpoint"] == e for r in recs)]
    fig, axes = plt.subplots(1, max(len(endpoints), 1), figsize=(4.5 * max(len(endpoints), 1), 3.6), squeeze=False)
    for ax, endpoint in zip(axes[0], endpoints):
        techs: list[str] = []
        for r in recs:
            if r["endpoint"] == endpoint and r["technique"] not in techs:
                techs.append(r["technique"])
        for tech in techs:
            pts = sorted((r["size"], r[metric]) for r in recs if r["endpoint"] == endpoint and r["technique"] == tech)
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker="o",
                label=tech,
                color=_color(tech),
                linestyle="--" if tech == "auto" else "-",
            )
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        sizes = sorted({r["size"] for r in recs})
        ax.set_xticks(sizes)
        ax.set_xticklabels([_size_label(s) for s in sizes], rotation=30)
        ax.set_title(endpoint)
        ax.set_xlabel("transfer size")
        ax.set_ylabel(metric)
        ax.grid(True, alpha=0.3)
    if endpoints:
        handles: dict[str, Any] = {}
        for ax in axes[0]:
            for h, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, h)
        fig.legend(list(handles.values()), list(handles), loc="center right", fontsize="small")
        fig.tight_layout(rect=(0, 0, 0.88, 1))
        return fig
    fig.tight_layout()
    return fig


def plot_readahead(rows: _Rows) -> Any:
    """Cold-read throughput of ``readahead`` rows: one bar group per access pattern, one bar
    per advice."""
    plt = _plt()
    recs = _records(rows)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    patterns = ["sequential", "random"]
    advices = ["normal", "sequential", "random"]
    width = 0.8 / len(advices)
    for i, adv in enumerate(advices):
        vals = [next((r["throughput_mbs"] for r in recs if r["pattern"] == p and r["advice"] == adv), 0) for p in patterns]
        ax.bar([j + i * width for j in range(len(patterns))], vals, width=width, label=f"advice {adv}")
    ax.set_xticks([j + width for j in range(len(patterns))])
    ax.set_xticklabels([f"{p} reads" for p in patterns])
    ax.set_ylabel("cold read MB/s")
    ax.set_yscale("log")
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cache_pollution(rows: _Rows) -> Any:
    """Page cache left behind by each way of copying a large file (``cache_pollution`` rows),
    and the hot file's residency after."""
    plt = _plt()
    recs = _records(rows)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [r["way"] for r in recs]
    axes[0].bar(names, [r["cache_left_mib"] for r in recs], color="C1")
    axes[0].set_ylabel("MiB of cache left by the copy")
    axes[1].bar(names, [r["hot_after"] for r in recs], color="C2")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("hot file resident after")
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_mmap_vs_read(rows: _Rows) -> Any:
    """Throughput and minor page faults per MiB of ``mmap_vs_read`` rows, side by side."""
    plt = _plt()
    recs = _records(rows)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sizes = sorted({r["size"] for r in recs})
    techs = sorted({r["technique"] for r in recs})
    width = 0.8 / max(len(techs), 1)
    for i, tech in enumerate(techs):
        for ax, metric in zip(axes, ("throughput_gbs", "minor_faults_per_mib")):
            vals = [next((r[metric] for r in recs if r["size"] == s and r["technique"] == tech), 0) for s in sizes]
            ax.bar([j + i * width for j in range(len(sizes))], vals, width=width, label=tech, color=_color(tech))
            ax.set_xticks([j + width * (len(techs) - 1) / 2 for j in range(len(sizes))])
            ax.set_xticklabels([_size_label(s) for s in sizes])
            ax.set_ylabel(metric)
            ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig

