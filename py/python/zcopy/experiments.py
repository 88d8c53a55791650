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
``time.thread_time_ns()`` (``CLOCK_THREAD_CPUTIME_ID``, precise to the nanosecond), the clock
whose delta the Report's ``user_cpu_ns + sys_cpu_ns`` also is (its user/system split is
getrusage's, sampled at scheduler ticks). Cold reads are made
cold with ``zcopy.evict`` (dirty pages written back, then dropped).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Callable

from ._zcopy import Report, UnsupportedError, advise, copy_file, evict, probe, residency, strategies, transfer, warm

__all__ = [
    "ENDPOINTS",
    "ZERO_COPY",
    "DESIGN_TABLE",
    "CROSSOVER_WAYS",
    "TRANSFORM_WAYS",
    "machine",
    "describe_machine",
    "compare_techniques",
    "zero_copy_speedup",
    "syscall_table",
    "copy_model_table",
    "mmap_vs_read",
    "readahead",
    "cache_pollution",
    "memory_cgroup_support",
    "memory_cgroup_kind",
    "POLLUTION_WAYS",
    "compare_cold",
    "direct_crossover",
    "crossover",
    "direct_alignment",
    "durability",
    "copy_on_write",
    "transform",
    "IO_MODELS",
    "io_models",
    "plot_techniques",
    "plot_mmap_vs_read",
    "plot_readahead",
    "plot_cache_pollution",
    "plot_direct_crossover",
    "plot_durability",
    "plot_copy_on_write",
    "plot_transform",
    "plot_io_models",
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
    """What the figures were measured on: CPU model, cores, whether the CPU reports a hypervisor
    (a virtual machine), memory, kernel, Python, the filesystem of ``directory`` (the temporary
    directory by default), the memory cgroups this process could make (see
    :func:`memory_cgroup_support`), and zcopy's version."""
    from . import __version__

    cpu, model, virtual = platform.processor() or "?", None, False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model is None:
                    cpu = model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    virtual = virtual or "hypervisor" in line.split(":", 1)[1].split()
    except OSError:
        pass
    memory = 0
    try:
        with open("/proc/meminfo") as f:
            memory = next((int(line.split()[1]) << 10 for line in f if line.startswith("MemTotal:")), 0)
    except OSError:
        pass
    directory = directory or tempfile.gettempdir()
    why = memory_cgroup_support(directory)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "virtual": virtual,
        "memory_gib": round(memory / (1 << 30), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "directory": directory,
        "filesystem": _fs_type(directory),
        "memory_cgroup": memory_cgroup_kind() if why is None else f"none ({why})",
        "zcopy": __version__,
    }


def describe_machine(m: dict[str, Any] | None = None) -> str:
    """:func:`machine` (or ``m``, a dict it returned) in one sentence, without any path, so a
    notebook's stored output names the machine kind and not the machine."""
    m = m or machine()
    kind = ", a virtual machine" if m["virtual"] else ""
    return (f"{m['cpu']}, {m['cores']} cores{kind}, {m['memory_gib']:g} GiB of memory; Linux {m['kernel']}; "
            f"temporary files on {m['filesystem']}; memory cgroups: {m['memory_cgroup']}; "
            f"Python {m['python']}, zcopy {m['zcopy']}")


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


def _cgroup_mounts() -> list[tuple[str, str, str]]:
    """The cgroup filesystems mounted here, as ``(type, mount point, options)`` from /proc/mounts."""
    mounts = []
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                    mounts.append((parts[2], parts[1].replace("\\040", " "), parts[3]))
    except OSError:
        pass
    return mounts


def _own_cgroup(version: int) -> str:
    """This process's cgroup path (``/`` for the root) in the v1 memory hierarchy or in v2."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                hier, controllers, path = line.rstrip("\n").split(":", 2)
                if (version == 2 and hier == "0" and controllers == "") or (
                    version == 1 and "memory" in controllers.split(",")
                ):
                    return path or "/"
    except (OSError, ValueError):
        pass
    return "/"


def _memory_cgroup_parent() -> tuple[str, str, str] | str:
    """Where a memory cgroup can be made here: ``(parent directory, limit file, description)``,
    or why none can.

    cgroup v1: the ``memory`` hierarchy, under this process's own memory cgroup when that exists
    and is writable (so whatever limits this process's group keeps applying), else at the mount
    point; the limit file is ``memory.limit_in_bytes``. cgroup v2: under this process's own
    cgroup when it already delegates ``memory`` to its children, else at the root, whose
    ``cgroup.subtree_control`` gets ``+memory``; the limit file is ``memory.max``."""
    if os.geteuid() != 0:
        return "a memory cgroup needs root"
    mounts = _cgroup_mounts()
    for kind, mnt, opts in mounts:
        if kind == "cgroup" and "memory" in opts.split(","):
            own = os.path.join(mnt, _own_cgroup(1).lstrip("/"))
            parent = own if os.path.isdir(own) and os.access(own, os.W_OK) else mnt
            return parent, "memory.limit_in_bytes", "cgroup v1 (memory.limit_in_bytes)"
    for kind, mnt, _ in mounts:
        if kind != "cgroup2":
            continue
        try:
            with open(os.path.join(mnt, "cgroup.controllers")) as f:
                if "memory" not in f.read().split():
                    continue
        except OSError:
            continue
        own = os.path.join(mnt, _own_cgroup(2).lstrip("/"))
        try:
            with open(os.path.join(own, "cgroup.subtree_control")) as f:
                delegated = "memory" in f.read().split()
        except OSError:
            delegated = False
        return (own if delegated else mnt), "memory.max", "cgroup v2 (memory.max)"
    if not mounts:
        return "no cgroup filesystem is mounted"
    return "no cgroup memory controller is mounted (" + ", ".join(f"{k} at {m}" for k, m, _ in mounts) + ")"


def memory_cgroup_support(directory: str | None = None) -> str | None:
    """Why :func:`cache_pollution` cannot run under a memory limit here, or None when it can: it
    needs to be root on a kernel with the memory controller (cgroup v1 ``memory``, or cgroup v2
    with ``memory`` in ``cgroup.controllers``), and files whose page cache can be dropped:
    ``directory`` (the temporary directory by default) must not be on tmpfs or ramfs, where the
    cache is the file itself."""
    where = _memory_cgroup_parent()
    if isinstance(where, str):
        return where
    fs = _fs_type(directory or tempfile.gettempdir())
    if fs in ("tmpfs", "ramfs"):
        return f"the files would be on {fs}, whose pages are the file itself and cannot be evicted"
    try:  # A container may show the files and still refuse: try (an empty group, made and removed).
        with _memory_cgroup(64 << 20):
            pass
    except OSError as e:
        return f"making a memory cgroup failed here ({where[2]}): {e.strerror or e}"
    return None


def memory_cgroup_kind() -> str | None:
    """Which memory cgroup :func:`cache_pollution` would make here: ``"cgroup v1
    (memory.limit_in_bytes)"`` or ``"cgroup v2 (memory.max)"``; None when it cannot (see
    :func:`memory_cgroup_support`)."""
    where = _memory_cgroup_parent()
    return None if isinstance(where, str) else where[2]


@contextmanager
def _memory_cgroup(limit: int) -> Iterator[str]:
    """A new memory cgroup of ``limit`` bytes (page cache included); yields its ``cgroup.procs``
    path, and removes the group afterwards (its pages are then charged to the parent)."""
    where = _memory_cgroup_parent()
    if isinstance(where, str):
        raise ValueError(f"no memory cgroup can be made here: {where}")
    parent, knob, _ = where
    if knob == "memory.max":
        with open(os.path.join(parent, "cgroup.subtree_control")) as f:
            delegated = "memory" in f.read().split()
        if not delegated:
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
    d = os.path.join(parent, f"zcopy-pollution-{os.getpid()}-{time.monotonic_ns()}")
    os.mkdir(d)
    try:
        with open(os.path.join(d, knob), "w") as f:
            f.write(str(limit))
        yield os.path.join(d, "cgroup.procs")
    finally:
        for _ in range(100):  # the child has exited; its group empties a moment later
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        else:
            warnings.warn(f"the memory cgroup {d} could not be removed; remove it with rmdir", RuntimeWarning, stacklevel=3)


#: The ways :func:`cache_pollution` copies a large file, with the options each passes to
#: ``zcopy.copy_file``: the cache policies, then O_DIRECT.
POLLUTION_WAYS: dict[str, dict[str, Any]] = {
    "keep": {},
    "drop_after": {"cache": "drop_after"},
    "noreuse": {"cache": "noreuse"},
    "dontcache": {"cache": "dontcache"},
    "direct": {"strategy": "direct"},
}


def _write_pattern(path: str, n: int, chunk: int = 1 << 20) -> None:
    """Writes ``n`` bytes of :func:`_pattern` to a new file at ``path``, a chunk at a time (real
    data blocks, no holes), and leaves it cold: written back and dropped from the cache."""
    block = _pattern(chunk)
    with open(path, "wb") as f:
        left = n
        while left > 0:
            left -= f.write(block[: min(left, chunk)])
    evict(path)


def _pollution_once(hot: str, big: str, dst: str, opts: dict[str, Any]) -> dict[str, Any]:
    """One way of :func:`cache_pollution`: both files dropped from the cache (so the pages read
    next are charged to this process's memory cgroup), the hot one read in whole, the big one
    copied to ``dst``; what stayed resident and what the copy's Report says."""
    evict(hot)
    evict(big)
    warm(hot)
    before = residency(hot).ratio
    report = copy_file(big, dst, **opts)
    hot_after, big_after, dst_after = residency(hot), residency(big), residency(dst)
    return {
        "hot_before": before,
        "hot_after": hot_after.ratio,
        "big": big_after.resident,
        "dst": dst_after.resident,
        "big_ratio": big_after.ratio,
        "dst_ratio": dst_after.ratio,
        "strategy": report.strategy,
        "fallbacks": [f"{s}: {why}" for s, why in report.fallbacks],
        "bytes": report.bytes,
        "elapsed_ns": report.elapsed_ns,
    }


#: What :func:`cache_pollution` runs for one way under a memory limit, in a process of its own
#: (started by a shell that first moves itself into the group): :func:`_pollution_once`.
_POLLUTION_CHILD = """
import json, sys
from zcopy import experiments
print(json.dumps(experiments._pollution_once(*sys.argv[1:4], json.loads(sys.argv[4]))))
"""


def cache_pollution(
    hot_size: int = 4 << 20,
    big_size: int = 64 << 20,
    directory: str | None = None,
    memory_limit: int | None = None,
    ways: Sequence[str] = tuple(POLLUTION_WAYS),
    rounds: int = 1,
) -> _Rows:
    """What copying a large file does to the page cache, with each way of keeping it out.

    A large file is written once (real data, no holes). Then, for each way, a small hot file is
    read whole into the page cache (``zcopy.warm``), the large file made cold (``zcopy.evict``)
    and copied to a new file with ``cache="keep"`` (the default), ``cache="drop_after"``,
    ``cache="noreuse"``, ``cache="dontcache"`` (uncached buffered I/O, ``RWF_DONTCACHE``; where
    the kernel refuses it the engine copies with drop_after and says so in the Report's
    fallbacks, shown here in ``fallback``), and ``strategy="direct"`` (O_DIRECT): the
    :data:`POLLUTION_WAYS`, or those named in ``ways``. Returns one row per way with the
    residency ratio of the hot file before and after the copy, of the large source and of the
    copy after it, the MiB of page cache the copy left behind, the copy's throughput (the
    engine's own elapsed time) and ``relative_speed``, its throughput over ``keep``'s. With
    ``rounds`` > 1 the ways run once per round in a rotating order and each figure is the
    median over the rounds.

    The claim is that large files pollute the cache and evict small hot files. Eviction needs
    memory pressure: on a machine with ample free memory the hot file stays whatever the copy
    does. ``memory_limit`` (bytes) makes the pressure: each way then runs in a child process
    (``python -c``, moved into the group before it starts, so the calling process is never
    limited) in a memory cgroup of that size that this function creates and removes (cgroup v1
    ``memory.limit_in_bytes`` or v2 ``memory.max``, whichever the machine has; page cache
    included), as a busy server's cache would be full. :func:`memory_cgroup_support` tells
    whether this machine can (root, a memory controller, a filesystem whose cache can be
    dropped), and ValueError says why not when it cannot. Rows carry ``memory_limit`` and
    ``cgroup`` (which kind was made).
    """
    unknown = [w for w in ways if w not in POLLUTION_WAYS]
    if unknown:
        raise ValueError(f"unknown way {unknown[0]!r}; known: {', '.join(POLLUTION_WAYS)}")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    kind = None
    if memory_limit is not None:
        why = memory_cgroup_support(directory)
        if why is not None:
            raise ValueError(f"cache_pollution(memory_limit=...) cannot run here: {why}")
        kind = memory_cgroup_kind()
    page = os.sysconf("SC_PAGE_SIZE")
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    used: dict[str, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-pollution-") as d:
        hot, big, dst = (os.path.join(d, n) for n in ("hot.bin", "big.bin", "copy.bin"))
        _write_pattern(hot, hot_size)
        _write_pattern(big, big_size)
        for rnd in range(rounds):
            for name in _rotated(list(ways), rnd):
                opts = POLLUTION_WAYS[name]
                if os.path.exists(dst):
                    os.unlink(dst)
                got: dict[str, Any]
                if memory_limit is None:
                    got = _pollution_once(hot, big, dst, opts)
                else:
                    with _memory_cgroup(memory_limit) as procs:
                        # The shell joins the group, then becomes Python: no fork of this process.
                        out = subprocess.run(
                            ["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, sys.executable, "-c", _POLLUTION_CHILD,
                             hot, big, dst, json.dumps(opts)],
                            capture_output=True, text=True, check=False,
                        )
                    if out.returncode != 0:
                        raise RuntimeError(f"the {name} copy under a {memory_limit >> 20} MiB memory limit failed "
                                           f"(status {out.returncode}): {out.stderr.strip()[-500:]}")
                    got = json.loads(out.stdout)
                used[name] = (got["strategy"], "; ".join(got["fallbacks"]))
                figs.setdefault((name,), []).append(
                    {
                        "hot_before": got["hot_before"],
                        "hot_after": got["hot_after"],
                        "big_after": got["big_ratio"],
                        "copy_after": got["dst_ratio"],
                        "cache_left_mib": (got["big"] + got["dst"]) * page / (1 << 20),
                        "throughput_gbs": got["bytes"] / max(got["elapsed_ns"], 1),
                    }
                )
        if os.path.exists(dst):
            os.unlink(dst)
    rows = []
    for row in _median_rows({k: figs[k] for k in ((w,) for w in ways)}, ("way",)):
        strategy, fallback = used[row["way"]]
        rows.append({"way": row["way"], "strategy_used": strategy, "memory_limit": memory_limit, "cgroup": kind,
                     "hot_size": hot_size, "big_size": big_size, **{k: v for k, v in row.items() if k != "way"},
                     "fallback": fallback})
    keep = next((r["throughput_gbs"] for r in rows if r["way"] == "keep"), None)
    for r in rows:
        r["relative_speed"] = r["throughput_gbs"] / keep if keep else float("nan")
    return _frame(rows)


def _median_rows(figs: dict[tuple[Any, ...], list[dict[str, float]]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per configuration: its key fields (named by ``keys``), ``rounds``, and the median
    of every figure over the rounds."""
    rows = []
    for key, fs in figs.items():
        row: dict[str, Any] = dict(zip(keys, key))
        row["rounds"] = len(fs)
        for name in fs[0]:
            row[name] = statistics.median(f[name] for f in fs)
        rows.append(row)
    return rows


def _rotated(items: Sequence[Any], rnd: int) -> list[Any]:
    """``items`` starting at ``rnd`` (mod its length): each round runs them in another order."""
    k = rnd % max(len(items), 1)
    return list(items[k:]) + list(items[:k])


def compare_cold(
    sizes: Sequence[int] = (65536, 1 << 20, 8 << 20),
    techniques: Sequence[str] | None = None,
    rounds: int = 5,
    directory: str | None = None,
    batch_bytes: int = 8 << 20,
) -> _Rows:
    """Every file-to-file technique on a source made cold (``zcopy.evict``) before each transfer.

    ``compare_techniques`` measures a source hot in the page cache, where a transfer is a memory
    copy; here each transfer reads the disk (or what the virtual disk's host caches). One sample
    is ``ops`` transfers of ``size`` bytes (about ``batch_bytes``, at most 256), each from a
    freshly evicted source into a freshly truncated file (no fsync: the copy stays in the page
    cache, so what is measured is reading a cold source). Techniques ``probe`` rules out are left
    out (reflink on a filesystem that cannot share extents; msg_zerocopy, sockets only).

    Returns one row per (size, technique), ``endpoint`` ``"file_file"`` and ``source``
    ``"cold"``, with medians over ``rounds`` interleaved rounds of ``throughput_gbs`` (the
    engine's elapsed time, evictions excluded), ``cpu_s_per_gb`` and ``us_per_op``, and
    ``strategy_used``: rows ``zero_copy_speedup`` and ``plot_techniques`` take.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(techniques) if techniques is not None else [t for t in strategies() if t != "msg_zerocopy"]
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    used: dict[tuple[Any, ...], str] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-cold-") as d:
        sources: dict[int, int] = {}
        dst = os.open(os.path.join(d, "dst"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in sizes:
                path = os.path.join(d, f"src-{size}")
                with open(path, "wb") as f:
                    f.write(_pattern(size))
                sources[size] = os.open(path, os.O_RDONLY)
            refused = {s.strategy for s in probe(sources[sizes[0]], dst) if not s.supported} if sizes else set()
            names = [t for t in names if t not in refused]
            for rnd in range(rounds):
                for size in sizes:
                    for tech in _rotated(names, rnd):
                        ops = _ops_for(size, batch_bytes)
                        moved = elapsed = cpu = 0
                        report: Report | None = None
                        try:
                            for _ in range(ops):
                                os.ftruncate(dst, 0)
                                evict(sources[size])
                                t0 = time.thread_time_ns()
                                report = transfer(
                                    sources[size],
                                    dst,
                                    strategy=tech,
                                    fallback=tech == "auto",
                                    src_offset=0,
                                    dst_offset=0,
                                    length=size,
                                )
                                cpu += time.thread_time_ns() - t0
                                moved += report.bytes
                                elapsed += report.elapsed_ns
                        except UnsupportedError:
                            continue
                        assert report is not None
                        moved = max(moved, 1)
                        used[(size, tech)] = report.strategy
                        figs.setdefault((size, tech), []).append(
                            {
                                "ops": ops,
                                "throughput_gbs": moved / max(elapsed, 1),
                                "cpu_s_per_gb": cpu / moved,
                                "us_per_op": elapsed / ops / 1000,
                            }
                        )
        finally:
            os.close(dst)
            for fd in sources.values():
                os.close(fd)
    rows = _median_rows(figs, ("size", "technique"))
    for r in rows:
        r["endpoint"], r["source"], r["ops"] = "file_file", "cold", int(r["ops"])
        r["strategy_used"] = used[(r["size"], r["technique"])]
    order_of = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (r["size"], order_of.get(r["technique"], 99)))
    first = ("endpoint", "source", "size", "technique", "strategy_used", "rounds", "ops")
    return _frame([{**{k: r[k] for k in first}, **{k: v for k, v in r.items() if k not in first}} for r in rows])


#: The ways ``direct_crossover`` reads a cold file: nginx's ``directio`` rule is the second.
CROSSOVER_WAYS: dict[str, dict[str, Any]] = {
    "buffered": {},
    "auto_direct_threshold": {"direct_threshold": 0},
    "direct": {"strategy": "direct", "fallback": False},
}


def direct_crossover(
    sizes: Sequence[int] = (65536, 1 << 20, 8 << 20, 32 << 20),
    rounds: int = 3,
    directory: str | None = None,
) -> _Rows:
    """nginx's rule (``sendfile on; aio on; directio N;``): files of at least N bytes are read
    with O_DIRECT (asynchronously), smaller ones through the page cache with sendfile.

    A file of each size, made cold (``zcopy.evict``) before each read, is sent to /dev/null (as
    nginx sends it to a socket: only the reading is measured) three ways: ``buffered``
    (``auto``: sendfile through the page cache, with readahead), ``auto_direct_threshold``
    (``auto`` with ``direct_threshold`` at or below the size: the engine's nginx rule, io_uring
    with O_DIRECT, else ``direct``) and ``direct`` (synchronous O_DIRECT reads).

    Returns one row per (size, way) with medians over ``rounds`` interleaved rounds of
    ``throughput_gbs``, and what the read left in the page cache: ``cached_mib`` and
    ``cached_ratio`` (``zcopy.residency`` of the file right after), and ``strategy_used``.
    ``crossover`` (below) reads the size from which direct beats buffered.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    page = os.sysconf("SC_PAGE_SIZE")
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    used: dict[tuple[Any, ...], str] = {}
    ways = list(CROSSOVER_WAYS)
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-directio-") as d:
        sources: dict[int, int] = {}
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for size in sizes:
                path = os.path.join(d, f"src-{size}")
                with open(path, "wb") as f:
                    f.write(_pattern(size))
                sources[size] = os.open(path, os.O_RDONLY)
            for rnd in range(rounds):
                for size in sizes:
                    for way in _rotated(ways, rnd):
                        fd = sources[size]
                        evict(fd)
                        r = transfer(fd, null, src_offset=0, **CROSSOVER_WAYS[way])
                        res = residency(fd)
                        used[(size, way)] = r.strategy
                        figs.setdefault((size, way), []).append(
                            {
                                "throughput_gbs": r.bytes / max(r.elapsed_ns, 1),
                                "cached_mib": res.resident * page / (1 << 20),
                                "cached_ratio": res.ratio,
                            }
                        )
        finally:
            os.close(null)
            for fd in sources.values():
                os.close(fd)
    rows = _median_rows(figs, ("size", "way"))
    for row in rows:
        row["strategy_used"] = used[(row["size"], row["way"])]
    rows.sort(key=lambda row: (row["size"], ways.index(row["way"])))
    return _frame(rows)


def crossover(rows: _Rows, way: str = "auto_direct_threshold") -> int | None:
    """From ``direct_crossover`` rows: the smallest size from which ``way`` is at least as fast
    as ``buffered`` at that size and every larger one (the threshold nginx's rule would want
    for speed), or ``None`` if buffered wins at the largest size."""
    recs = _records(rows)
    sizes = sorted({r["size"] for r in recs})
    speed = {(r["size"], r["way"]): r["throughput_gbs"] for r in recs}
    found: int | None = None
    for size in reversed(sizes):
        if (size, way) in speed and (size, "buffered") in speed and speed[(size, way)] >= speed[(size, "buffered")]:
            found = size
        else:
            break
    return found


def direct_alignment(directory: str | None = None, offset: int = 4097, length: int = 1 << 20) -> _Rows:
    """"Direct I/O needs the buffer, the file offset and the length aligned to the block size."

    First O_DIRECT itself, with ``os.preadv`` into a page-aligned buffer: at offset 0 for one
    block (accepted), at ``offset`` (odd), and for a length that is not a multiple of the block
    (``EINVAL`` where the filesystem enforces alignment). Then ``zcopy.transfer`` with
    ``strategy="direct"`` (strict) from ``offset`` for ``length`` bytes to an odd destination
    offset: the engine reads the aligned middle with O_DIRECT and the unaligned head and tail
    through the page cache, so the copy is byte-exact.

    Returns one row per case: ``case``, ``offset``, ``length``, ``result`` (``"ok"`` or the
    error's name), ``exact`` (for the zcopy copy: bytes equal to the source's), ``block``
    (the alignment: the filesystem's block size) and ``cached_pages`` (of the source, after:
    the head and tail pages the engine read through the cache).
    """
    import errno as _errno

    block = 4096
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-align-") as d:
        src = os.path.join(d, "src")
        data = _pattern(offset + length + 3 * 4096)
        with open(src, "wb") as f:
            f.write(data)
        block = os.statvfs(src).f_bsize
        buf = mmap.mmap(-1, 2 * block)  # page-aligned memory
        try:
            fd = os.open(src, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
        except OSError as e:
            fd = -1
            refused = _errno.errorcode.get(e.errno or 0, str(e))
            rows.append({"case": "open with O_DIRECT", "offset": 0, "length": 0, "result": refused, "exact": None})
        if fd >= 0:
            try:
                view = memoryview(buf)
                for case, off, n in (
                    ("O_DIRECT pread, aligned", 0, block),
                    ("O_DIRECT pread, odd offset", offset, block),
                    ("O_DIRECT pread, odd length", 0, block - 1),
                ):
                    try:
                        got = os.preadv(fd, [view[:n]], off)
                        result = "ok" if got == n else f"short ({got})"
                    except OSError as e:
                        result = _errno.errorcode.get(e.errno or 0, str(e))
                    rows.append({"case": case, "offset": off, "length": n, "result": result, "exact": None})
                view.release()
            finally:
                os.close(fd)
        buf.close()
        dst = os.path.join(d, "dst")
        dst_offset = 3
        evict(src)
        with open(src, "rb") as s, open(dst, "w+b") as t:
            try:
                r = transfer(s, t, strategy="direct", fallback=False, src_offset=offset, dst_offset=dst_offset, length=length)
                t.seek(dst_offset)
                exact = t.read() == data[offset : offset + length]
                result = f"ok ({r.strategy}, {r.bytes} bytes)"
            except (UnsupportedError, OSError) as e:
                exact, result = False, type(e).__name__
        rows.append(
            {
                "case": "zcopy strategy='direct', odd offsets and length",
                "offset": offset,
                "length": length,
                "result": result,
                "exact": exact,
                "cached_pages": residency(src).resident,
            }
        )
    for row in rows:
        row["block"] = block
        row.setdefault("cached_pages", None)
    return _frame(rows)


def durability(
    records: int = 200,
    record_size: int = 4096,
    syncs: Sequence[str] = ("none", "data", "full"),
    rounds: int = 3,
    directory: str | None = None,
) -> _Rows:
    """Kafka's producer modes: "sync" (flushed before it is acknowledged) against "async".

    ``records`` records of ``record_size`` bytes are appended to a log file, each with
    ``zcopy.transfer`` from a record file (the log's file position advances), with each
    ``sync`` option: ``"none"`` (the call returns when the bytes are in the page cache),
    ``"data"`` (``fdatasync`` before returning: the data, and the size that reaches it, on the
    device) and ``"full"`` (``fsync``: every piece of metadata too). A fresh log per sample;
    rounds interleaved.

    Returns one row per sync mode with medians of ``records_per_s`` and ``us_per_record`` (the
    engine's elapsed time, the flush included), ``slowdown`` against the first mode, and
    ``strategy_used``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    used: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-log-") as d:
        rec_path, log_path = os.path.join(d, "record"), os.path.join(d, "log")
        with open(rec_path, "wb") as f:
            f.write(_pattern(record_size))
        rec = os.open(rec_path, os.O_RDONLY)
        try:
            for rnd in range(rounds):
                for mode in _rotated(list(syncs), rnd):
                    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    try:
                        os.fsync(log)  # start each sample from a clean log
                        elapsed = 0
                        for _ in range(records):
                            r = transfer(rec, log, src_offset=0, sync=mode)
                            elapsed += r.elapsed_ns
                        used[mode] = r.strategy
                        if os.fstat(log).st_size != records * record_size:
                            raise AssertionError("the log did not grow by every record")
                    finally:
                        os.close(log)
                    figs.setdefault((mode,), []).append(
                        {"records_per_s": records / (elapsed / 1e9), "us_per_record": elapsed / records / 1000}
                    )
        finally:
            os.close(rec)
    rows = _median_rows(figs, ("sync",))
    rows.sort(key=lambda row: list(syncs).index(row["sync"]))
    for row in rows:
        row["records"], row["record_size"], row["strategy_used"] = records, record_size, used[row["sync"]]
        row["slowdown"] = rows[0]["records_per_s"] / row["records_per_s"]
    return _frame(rows)


def _smaps_of(address: int) -> dict[str, int]:
    """The kB figures of /proc/self/smaps for the mapping that holds ``address``."""
    out: dict[str, int] = {}
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if not head.endswith(":"):
                lo, _, hi = head.partition("-")
                inside = int(lo, 16) <= address < int(hi, 16)
                continue
            if inside:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "kB":
                    out[head[:-1]] = int(parts[1])
    return out


def _cow_child(m: mmap.mmap, address: int, pages: int, write_pages: int, page: int) -> dict[str, Any]:
    """In the forked child: read every page, then write ``write_pages``; smaps and faults after
    each."""
    out: dict[str, Any] = {}
    for stage, n in (("read", pages), ("write", write_pages)):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter_ns()
        if stage == "read":
            for i in range(n):
                m[i * page]
        else:
            for i in range(n):
                m[i * page] = 0xEE
        ns = time.perf_counter_ns() - t0
        out[stage] = {
            "ns_per_page": ns / max(n, 1),
            "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
            "smaps": _smaps_of(address),
        }
    return out


def copy_on_write(pages: int = 1024, write_pages: int = 256, directory: str | None = None) -> _Rows:
    """"Copy-on-write lets several processes share pages until one writes."

    Two private mappings of ``pages`` pages each: a file mapped ``MAP_PRIVATE`` (read by the
    parent, so its page-cache pages are mapped) and anonymous memory the parent has written.
    The process forks; the child reads every page, then writes ``write_pages`` of them, and
    reports its own ``/proc/self/smaps`` for the mapping and its minor page faults after each
    step. The parent then checks that its view (and the file) did not change.

    Returns one row per (mapping, step) with ``pages_touched``, ``rss_kib``, ``shared_kib``
    (Shared_Clean + Shared_Dirty: pages mapped by both processes), ``private_dirty_kib`` (pages
    only the child has: the copies its writes made), ``minor_faults`` and ``ns_per_page`` (a
    Python loop touching one byte per page: compare read with write), and ``parent_unchanged``.
    """
    if not 0 < write_pages <= pages:
        raise ValueError(f"write_pages must be in 1..pages, got {write_pages}")
    import ctypes

    page = mmap.PAGESIZE
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-cow-") as d:
        path = os.path.join(d, "mapped.bin")
        with open(path, "wb") as f:
            f.write(b"\x11" * (pages * page))
        for kind in ("file (MAP_PRIVATE)", "anonymous (written before fork)"):
            if kind.startswith("file"):
                with open(path, "r+b") as f:
                    m = mmap.mmap(f.fileno(), pages * page, flags=mmap.MAP_PRIVATE)
                for i in range(pages):
                    m[i * page]
                expect = 0x11
            else:
                m = mmap.mmap(-1, pages * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
                # Own flags, so the kernel cannot merge the mapping with the interpreter's
                # neighbouring anonymous memory (smaps would count that too), and no huge pages.
                if hasattr(mmap, "MADV_NOHUGEPAGE"):
                    m.madvise(mmap.MADV_NOHUGEPAGE)
                for i in range(pages):
                    m[i * page] = 0x22
                expect = 0x22
            anchor = ctypes.c_char.from_buffer(m)
            address = ctypes.addressof(anchor)
            del anchor
            r, w = os.pipe()
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork in a process with threads; the child only
                # touches its own memory, reads /proc and exits.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                code = 0
                try:
                    os.close(r)
                    payload = json.dumps(_cow_child(m, address, pages, write_pages, page)).encode()
                    while payload:
                        payload = payload[os.write(w, payload) :]
                except BaseException:  # noqa: BLE001 - the parent sees the empty answer
                    code = 1
                os._exit(code)
            os.close(w)
            chunks = []
            with os.fdopen(r, "rb") as answer:
                chunks.append(answer.read())
            _, status = os.waitpid(pid, 0)
            if status != 0 or not chunks[0]:
                raise RuntimeError(f"the copy-on-write child failed (status {status})")
            child = json.loads(b"".join(chunks))
            unchanged = all(m[i * page] == expect for i in range(pages))
            m.close()
            if kind.startswith("file"):
                with open(path, "rb") as f:
                    unchanged = unchanged and f.read() == b"\x11" * (pages * page)
            for stage, touched in (("read", pages), ("write", write_pages)):
                s = child[stage]["smaps"]
                rows.append(
                    {
                        "mapping": kind,
                        "step": f"child {'reads' if stage == 'read' else 'writes'} {touched} pages",
                        "pages_touched": touched,
                        "rss_kib": s.get("Rss", 0),
                        "shared_kib": s.get("Shared_Clean", 0) + s.get("Shared_Dirty", 0),
                        "private_dirty_kib": s.get("Private_Dirty", 0),
                        "minor_faults": child[stage]["minor_faults"],
                        "ns_per_page": child[stage]["ns_per_page"],
                        "parent_unchanged": unchanged,
                    }
                )
    return _frame(rows)


#: The ways ``transform`` copies a file; only the last two bring the bytes into user space.
TRANSFORM_WAYS = ("auto", "sendfile", "read_write_python", "read_sha256_write_python")


def transform(
    size: int = 32 << 20,
    rounds: int = 3,
    chunk: int = 1 << 20,
    directory: str | None = None,
) -> _Rows:
    """"Zero-copy paths cannot transform data in user space (compression, checksums)."

    A ``size``-byte file, hot in the page cache, copied to a file four ways: ``auto``
    (copy_file_range here) and ``sendfile`` (strict), where the bytes never reach user space,
    so nothing in the program can see or change them; ``read_write_python`` (``readinto`` a
    ``chunk``-byte buffer, ``write``), the user-space copy; and ``read_sha256_write_python``,
    the same with ``hashlib.sha256`` over every chunk: the least a checksum costs.

    Returns one row per way with medians over ``rounds`` interleaved rounds of
    ``throughput_gbs`` (wall time around the whole copy, the same clock for every way),
    ``cpu_s_per_gb`` (the thread's), ``user_space_bytes`` (bytes the program saw), and
    ``digest_ok`` (the SHA-256 computed on the way equals the source's; ``None`` where no
    digest could be computed).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    data = _pattern(size)
    want = hashlib.sha256(data).hexdigest()
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    digest_ok: dict[str, bool | None] = {}
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-transform-") as d:
        src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
        with open(src, "wb") as f:
            f.write(data)
        warm(src)
        buf = bytearray(chunk)
        view = memoryview(buf)
        for rnd in range(rounds):
            for way in _rotated(list(TRANSFORM_WAYS), rnd):
                with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as t:
                    seen = 0
                    h = hashlib.sha256() if way == "read_sha256_write_python" else None
                    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                    if way in ("auto", "sendfile"):
                        transfer(s, t, strategy=way, fallback=way == "auto")
                    else:
                        while True:
                            n = s.readinto(buf) or 0
                            if not n:
                                break
                            seen += n
                            if h is not None:
                                h.update(view[:n])
                            t.write(view[:n])
                    wall, cpu = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
                digest_ok[way] = None if h is None else h.hexdigest() == want
                if os.path.getsize(dst) != size:
                    raise AssertionError(f"{way} copied {os.path.getsize(dst)} of {size} bytes")
                figs.setdefault((way,), []).append(
                    {"throughput_gbs": size / max(wall, 1), "cpu_s_per_gb": cpu / max(size, 1), "user_space_bytes": seen}
                )
        view.release()
    rows = _median_rows(figs, ("way",))
    for r in rows:
        r["size"], r["user_space_bytes"], r["digest_ok"] = size, int(r["user_space_bytes"]), digest_ok[r["way"]]
    rows.sort(key=lambda r: TRANSFORM_WAYS.index(r["way"]))
    return _frame(rows)


#: The I/O models ``io_models`` compares (``zcopy.Server(model=...)``): a thread per connection
#: with blocking calls; non-blocking sockets polled in a spinning loop; an epoll reactor
#: (readiness, nginx's model); an io_uring proactor (completions).
IO_MODELS = ("threads", "poll", "epoll", "uring")


def _wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    """One wrk run (one client thread, keep-alive): requests/s and bytes/s as wrk reports them."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    figs: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figs["requests_per_s"] = float(parts[1])
        elif line.strip().startswith("Non-2xx"):
            raise AssertionError(f"wrk saw error responses from {url}: {line.strip()}")
        elif line.strip().startswith("Socket errors:"):
            figs["socket_errors"] = float(sum(int(x.rstrip(",")) for x in parts[2::2]))
    if "requests_per_s" not in figs:
        raise AssertionError(f"wrk printed no Requests/sec line:\n{out}")
    return figs


_CLIENT = r"""
import socket, sys, time
host, port, path, size, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
s = socket.create_connection((host, port))
req = ("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").encode()
n, end, buf = 0, time.monotonic() + seconds, bytearray(1 << 20)
while time.monotonic() < end:
    s.sendall(req)
    got, head = 0, b""
    while b"\r\n\r\n" not in head:
        head += s.recv(65536)
    hdr, _, body = head.partition(b"\r\n\r\n")
    if not hdr.startswith(b"HTTP/1.1 200"):
        raise SystemExit("bad response: " + hdr[:60].decode("latin-1"))
    got = len(body)
    while got < size:
        got += s.recv_into(buf)
    n += 1
print(n)
"""


def _python_clients(host: str, port: int, path: str, size: int, connections: int, seconds: float) -> dict[str, float]:
    """The load without wrk: ``connections`` Python processes, each a keep-alive GET loop."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, host, str(port), path, str(size), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(connections)
    ]
    total = 0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        if p.returncode != 0:
            raise AssertionError(f"a Python client failed (status {p.returncode})")
        total += int(out.strip() or 0)
    return {"requests_per_s": total / seconds}


def io_models(
    file_size: int = 4096,
    connections: Sequence[int] = (8, 64),
    models: Sequence[str] = IO_MODELS,
    seconds: float = 1.0,
    rounds: int = 3,
    workers: int = 1,
    idle_seconds: float = 0.3,
    directory: str | None = None,
) -> _Rows:
    """The notes' I/O models serving the same load: blocking threads, non-blocking polling,
    epoll (a reactor) and io_uring (a proactor).

    One file of ``file_size`` bytes is served over loopback HTTP/1.1 by ``zcopy.Server`` on
    ``workers`` worker threads of this process with each model in turn, while a client in
    another process keeps ``connections`` keep-alive connections busy for ``seconds``: wrk
    (``wrk -t1``) when it is installed, else that many Python client processes (much slower:
    the ``client`` column says which). The body of every response is checked once per model by
    a plain socket client first.

    Returns one row per (model, connections) with medians over ``rounds`` interleaved rounds of
    ``requests_per_s``, ``server_cpu_us_per_request`` (this process's user + system CPU over the
    run, from ``getrusage(RUSAGE_SELF)``: the server's threads, since the client is another
    process), ``ctx_switches_per_request`` (voluntary + involuntary, same source) and
    ``server_cpu_util`` (CPU seconds per second of run: 1.0 is one core kept busy), and
    ``idle_cpu_util``, the same over ``idle_seconds`` with the connections open and no request
    (what waiting costs: a polling loop keeps a core busy doing nothing).
    """
    from ._zcopy import Server  # the server needs the engine's serve module

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    unknown = [m for m in models if m not in IO_MODELS]
    if unknown:
        raise ValueError(f"unknown I/O model {unknown[0]!r}; expected one of {', '.join(IO_MODELS)}")
    import shutil

    have_wrk = shutil.which("wrk") is not None
    figs: dict[tuple[Any, ...], list[dict[str, float]]] = {}
    body = _pattern(file_size)
    with tempfile.TemporaryDirectory(dir=directory, prefix="zcopy-serve-") as d:
        with open(os.path.join(d, "f.bin"), "wb") as f:
            f.write(body)
        warm(os.path.join(d, "f.bin"))
        checked: set[str] = set()
        for rnd in range(rounds):
            for model in _rotated(list(models), rnd):
                for conns in connections:
                    with Server(d, workers=workers, model=model) as srv:
                        url = f"{srv.url}/f.bin"
                        if model not in checked:
                            with socket.create_connection(("127.0.0.1", srv.port)) as c:
                                c.sendall(b"GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                                got = b""
                                while chunk := c.recv(1 << 20):
                                    got += chunk
                            if got.partition(b"\r\n\r\n")[2] != body:
                                raise AssertionError(f"the {model} server sent a wrong body")
                            checked.add(model)
                        # Idle: the connections open, no request: what waiting costs.
                        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(conns)]
                        i0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                        time.sleep(idle_seconds)
                        i1, iw = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - w0
                        for c in idle:
                            c.close()
                        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                        if have_wrk:
                            load = _wrk(url, conns, seconds)
                        else:
                            load = _python_clients("127.0.0.1", srv.port, "/f.bin", file_size, conns, seconds)
                        wall = time.perf_counter() - t0
                        r1 = resource.getrusage(resource.RUSAGE_SELF)
                    requests = max(load["requests_per_s"] * wall, 1.0)
                    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                    ctx = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw)
                    figs.setdefault((model, conns), []).append(
                        {
                            "requests_per_s": load["requests_per_s"],
                            "server_cpu_us_per_request": cpu / requests * 1e6,
                            "ctx_switches_per_request": ctx / requests,
                            "server_cpu_util": cpu / wall,
                            "idle_cpu_util": ((i1.ru_utime - i0.ru_utime) + (i1.ru_stime - i0.ru_stime)) / iw,
                        }
                    )
    rows = _median_rows(figs, ("model", "connections"))
    for r in rows:
        r["file_size"], r["workers"], r["client"] = file_size, workers, "wrk" if have_wrk else "python"
    rows.sort(key=lambda r: (r["connections"], list(models).index(r["model"])))
    return _frame(rows)


def plot_io_models(rows: _Rows) -> Any:
    """Requests/s and server CPU per request by I/O model, one group of bars per connection count."""
    plt = _plt()
    recs = _records(rows)
    conns = sorted({r["connections"] for r in recs})
    models = [m for m in IO_MODELS if any(r["model"] == m for r in recs)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    width = 0.8 / max(len(models), 1)
    for k, (metric, label) in enumerate((("requests_per_s", "requests/s"), ("server_cpu_us_per_request", "server CPU µs per request"))):
        ax = axes[k]
        for i, m in enumerate(models):
            ys = [next((r[metric] for r in recs if r["model"] == m and r["connections"] == c), 0) for c in conns]
            ax.bar([j + i * width for j in range(len(conns))], ys, width, label=m)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(conns))])
        ax.set_xticklabels([f"{c} connections" for c in conns])
        ax.set_ylabel(label)
    axes[0].legend()
    fig.suptitle(f"I/O models serving a {_size_label(recs[0]['file_size']) if recs else ''} file")
    fig.tight_layout()
    return fig


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


def plot_techniques(rows: _Rows, metric: str = "throughput_gbs", logy: bool = False, title: str | None = None) -> Any:
    """One panel per endpoint: ``metric`` (a column of ``compare_techniques`` or
    ``compare_cold``) against size, one line per technique, under ``title`` if given. Returns the
    matplotlib figure."""
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
        ax.set_title(endpoint if title is None else f"{endpoint}: {title}")
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


def plot_cache_pollution(rows: _Rows, title: str | None = None) -> Any:
    """``cache_pollution`` rows: the page cache each way of copying a large file left behind,
    the hot file's residency after the copy, and the copy's speed relative to ``keep``."""
    plt = _plt()
    recs = _records(rows)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    names = [r["way"] for r in recs]
    axes[0].bar(names, [r["cache_left_mib"] for r in recs], color="C1")
    axes[0].set_ylabel("MiB of cache left by the copy")
    axes[1].bar(names, [r["hot_after"] for r in recs], color="C2")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("hot file resident after")
    axes[2].bar(names, [r["relative_speed"] for r in recs], color="C0")
    axes[2].axhline(1.0, color="grey", lw=0.8)
    axes[2].set_ylabel("speed / keep's")
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30)
    if title:
        fig.suptitle(title)
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



def plot_direct_crossover(rows: _Rows) -> Any:
    """Cold-read throughput (left) and page cache left behind (right) against file size, one
    line per way of ``direct_crossover`` rows."""
    plt = _plt()
    recs = _records(rows)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sizes = sorted({r["size"] for r in recs})
    for i, way in enumerate(w for w in CROSSOVER_WAYS if any(r["way"] == w for r in recs)):
        pts = sorted((r["size"], r["throughput_gbs"], r["cached_mib"]) for r in recs if r["way"] == way)
        for ax, col in zip(axes, (1, 2)):
            ax.plot([p[0] for p in pts], [p[col] for p in pts], marker="o", label=way, color=f"C{i}")
    for ax, label in zip(axes, ("cold read GB/s", "MiB left in the page cache")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([_size_label(s) for s in sizes], rotation=30)
        ax.set_xlabel("file size")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_durability(rows: _Rows) -> Any:
    """Records per second appended with each ``sync`` mode (``durability`` rows), log scale."""
    plt = _plt()
    recs = _records(rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar([f"sync={r['sync']}" for r in recs], [r["records_per_s"] for r in recs], color=[f"C{i}" for i in range(len(recs))])
    ax.set_yscale("log")
    ax.set_ylabel("records appended per second")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_copy_on_write(rows: _Rows) -> Any:
    """The child's shared and private-dirty KiB after reading, then after writing, one panel
    per mapping of ``copy_on_write`` rows."""
    plt = _plt()
    recs = _records(rows)
    kinds: list[str] = []
    for r in recs:
        if r["mapping"] not in kinds:
            kinds.append(r["mapping"])
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(4.5 * max(len(kinds), 1), 3.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        group = [r for r in recs if r["mapping"] == kind]
        xs = range(len(group))
        ax.bar([x - 0.2 for x in xs], [r["shared_kib"] for r in group], width=0.4, label="shared with the parent", color="C0")
        ax.bar([x + 0.2 for x in xs], [r["private_dirty_kib"] for r in group], width=0.4, label="private copies", color="C3")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r["step"] for r in group], fontsize="small")
        ax.set_title(kind, fontsize="medium")
        ax.set_ylabel("KiB in the child")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_transform(rows: _Rows) -> Any:
    """Throughput and CPU per GB of each way of ``transform`` rows."""
    plt = _plt()
    recs = _records(rows)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    names = [r["way"].replace("_python", "\n(Python)") for r in recs]
    colors = ["C2" if r["user_space_bytes"] == 0 else "C1" for r in recs]
    for ax, metric, label in zip(axes, ("throughput_gbs", "cpu_s_per_gb"), ("GB/s", "CPU s per GB")):
        ax.bar(names, [r[metric] for r in recs], color=colors)
        ax.set_ylabel(label)
        ax.tick_params(axis="x", labelsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
