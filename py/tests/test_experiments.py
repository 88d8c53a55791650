"""zcopy.experiments runs and returns what it documents (tiny sizes: a smoke test; the
notebook is the full run)."""

from __future__ import annotations

from typing import Any

import pytest

from zcopy import experiments as ex


def _records(rows: Any) -> list[dict[str, Any]]:
    return list(rows.to_dict("records")) if hasattr(rows, "to_dict") else list(rows)


def test_compare_techniques_rows(tmp_path: Any) -> None:
    rows = ex.compare_techniques(sizes=(4096, 65536), rounds=2, directory=str(tmp_path), batch_bytes=1 << 18)
    recs = _records(rows)
    assert {r["endpoint"] for r in recs} == set(ex.ENDPOINTS)
    for r in recs:
        assert r["throughput_gbs"] > 0 and r["syscalls_per_op"] >= 1
        assert r["mode_switches_per_op"] == 2 * r["syscalls_per_op"]
        assert r["rounds"] == 2
    rw = next(r for r in recs if r["technique"] == "read_write" and r["endpoint"] == "file_file")
    assert rw["cpu_copies_per_byte"] == 2 and rw["dma_copies_per_byte"] == 2
    auto = [r for r in recs if r["technique"] == "auto"]
    assert auto and all(r["strategy_used"] != "auto" for r in auto)
    speed = _records(ex.zero_copy_speedup(rows))
    assert speed and all(r["speedup"] > 0 for r in speed)
    assert _records(ex.syscall_table(rows)) and _records(ex.copy_model_table(rows))


def test_mmap_vs_read(tmp_path: Any) -> None:
    recs = _records(ex.mmap_vs_read(sizes=(1 << 20,), rounds=1, directory=str(tmp_path)))
    assert {r["technique"] for r in recs} == {"read_write", "mmap_write"}
    mm = next(r for r in recs if r["technique"] == "mmap_write")
    assert mm["cpu_copies_per_byte"] == 1


def test_readahead(tmp_path: Any) -> None:
    recs = _records(ex.readahead(size=1 << 20, rounds=1, directory=str(tmp_path)))
    assert {(r["pattern"], r["advice"]) for r in recs} == {
        (p, a) for p in ("sequential", "random") for a in ("normal", "sequential", "random")
    }
    assert all(r["throughput_mbs"] > 0 for r in recs)


def test_cache_pollution(tmp_path: Any) -> None:
    recs = {r["way"]: r for r in _records(ex.cache_pollution(hot_size=1 << 20, big_size=4 << 20, directory=str(tmp_path)))}
    assert set(recs) == {"keep", "drop_after", "noreuse", "direct"}
    assert recs["keep"]["cache_left_mib"] == 8.0
    assert recs["drop_after"]["cache_left_mib"] == 0.0
    assert recs["direct"]["strategy_used"] == "direct"
    assert all(r["hot_before"] == 1.0 for r in recs.values())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown endpoint"):
        ex.compare_techniques(endpoints=("file_udp",))
    with pytest.raises(ValueError, match="rounds"):
        ex.compare_techniques(rounds=0)


def test_plots(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    rows = ex.compare_techniques(sizes=(4096,), rounds=1, endpoints=("file_file",), batch_bytes=1 << 16)
    fig = ex.plot_techniques(rows)
    fig.savefig(tmp_path / "t.png")
    fig2 = ex.plot_mmap_vs_read(ex.mmap_vs_read(sizes=(1 << 20,), rounds=1))
    fig2.savefig(tmp_path / "m.png")
    ex.plot_readahead(ex.readahead(size=1 << 18, rounds=1)).savefig(tmp_path / "r.png")
    ex.plot_cache_pollution(ex.cache_pollution(hot_size=1 << 16, big_size=1 << 20)).savefig(tmp_path / "c.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_machine() -> None:
    m = ex.machine()
    assert m["cores"] and m["kernel"] and m["filesystem"]
