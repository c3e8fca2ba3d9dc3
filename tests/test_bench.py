"""Smoke test of ``xpsoftmax bench`` on a tiny grid (no timing assertions:
speed goals live in the benchmark itself, never in tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xpsoftmax import bench
from xpsoftmax.cli import main


def test_bench_writes_json_markdown_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = {k: tmp_path / f"bench.{k}" for k in ("json", "md", "png")}
    rc = main(
        [
            "bench",
            "--shapes", "4x8,3x5x7",
            "--dtypes", "float32",
            "--funcs", "softmax,logsumexp",
            "--backends", "numpy,torch",
            "--repeat", "1",
            "--min-time", "0",
            "--json", str(out["json"]),
            "--markdown", str(out["md"]),
            "--plot", str(out["png"]),
        ]
    )  # fmt: skip
    assert rc == 0
    report = json.loads(out["json"].read_text())
    assert report["machine"]["cores"] >= 1
    rows = report["results"]
    assert {tuple(r["shape"]) for r in rows} == {(4, 8), (3, 5, 7)}
    assert {r["func"] for r in rows} == {"softmax", "logsumexp"}
    subjects = {(r["backend"], r["subject"]) for r in rows}
    assert ("numpy", "xpsoftmax[auto]") in subjects and ("numpy", "copy") in subjects
    for r in rows:
        assert r["median_s"] > 0 and len(r["times_s"]) >= 1
        if r["backend"] == "numpy" and r["role"] == "xpsoftmax":
            assert r["peak_vs_output"] > 0 and r["vs_copy"] > 0
    md = out["md"].read_text()
    assert "| case | shape |" in md and "xpsoftmax[auto]" in md
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "xpsoftmax[auto]" in printed and "median" in printed


def test_bench_goals_only_for_measured_shapes() -> None:
    r = bench.Result("numpy", "xpsoftmax[auto]", "xpsoftmax", "auto", "softmax", "x", (4096, 4096),
                     "float32", 1.0, [1.0], vs_anchor=0.4, vs_copy=3.5, peak_vs_output=1.0)  # fmt: skip
    goals = {g["goal"]: g["holds"] for g in bench.goals([r])}
    assert goals == {
        "numpy softmax / scipy (4096x4096 f32)": True,
        "numpy softmax / copy (4096x4096 f32)": False,
        "numpy softmax peak alloc / output": True,
    }


def test_bench_rejects_unknown_function(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--shapes", "4x8", "--funcs", "softmaxx", "--backends", "numpy"]) == 2
    assert "unknown function" in capsys.readouterr().err


def _dask_row(case: str, shape: tuple[int, ...], vs_anchor: float, **kw: object) -> bench.Result:
    return bench.Result("dask", "xpsoftmax[auto] .persist()", "xpsoftmax", "auto", "softmax", case,
                        shape, "float32", 1.0, [1.0], vs_anchor=vs_anchor, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_bench_dask_goals_prefer_the_throughput_case() -> None:
    small = _dask_row("large 2-D", bench.LARGE, 1 / 0.6)
    big = _dask_row(bench.DASK_CASE, bench.DASK_LARGE, 1 / 0.9, chunk_bytes=128 << 20,
                    extra_vs_chunk=1.5)  # fmt: skip
    where = "16384x16384 f32, 128 MiB chunks"
    assert {g["goal"]: g["holds"] for g in bench.goals([small, big])} == {
        f"dask softmax throughput / numpy ({where})": True,
        f"dask softmax working memory beyond the result ({where})": False,
    }
    # without the throughput case, the large 2-D shape is judged
    assert {g["goal"]: g["holds"] for g in bench.goals([small])} == {
        "dask softmax throughput / numpy (4096x4096 f32)": False
    }


def test_dask_chunk_size_follows_dask_config() -> None:
    dask = pytest.importorskip("dask")
    with dask.config.set({"array.chunk-size": "128MiB"}):
        assert bench.dask_chunk_bytes(1 << 30) == 128 << 20
        assert bench.dask_chunk_bytes(64 << 20) == bench.DASK_SMALL_CHUNK
    with dask.config.set({"array.chunk-size": "32MiB"}):
        assert bench.dask_chunk_bytes(1 << 30) == 32 << 20


def test_dask_throughput_case_times_numpy_and_dask_only() -> None:
    pytest.importorskip("dask")
    rows = bench.run_grid(
        {bench.DASK_CASE: (256, 64)},
        ["float32", "float64"],
        ["logsumexp"],
        bench.available(["numpy", "dask"]),
        repeat=1,
        min_s=0,
        log=lambda m: None,
    )
    assert {(r.backend, r.subject, r.dtype) for r in rows} == {
        ("numpy", "xpsoftmax[auto]", "float32"),
        ("dask", "xpsoftmax[auto] .persist()", "float32"),
    }
    (d,) = (r for r in rows if r.backend == "dask")
    assert d.anchor == "numpy:xpsoftmax[auto]" and d.vs_anchor is not None and d.vs_anchor > 0
    # one chunk holds the whole 64 KiB input here
    assert d.chunk_bytes == 256 * 64 * 4
    assert d.extra_vs_chunk is not None and d.extra_vs_chunk >= 0


def test_dask_throughput_case_skipped_without_dask() -> None:
    logged: list[str] = []
    rows = bench.run_grid({bench.DASK_CASE: (8, 8)}, ["float32"], ["softmax"],
                          {"numpy": None, "dask": "not installed"}, 1, 0, logged.append)  # fmt: skip
    assert rows == [] and "skipped" in logged[0]
