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
