"""The fused linear cross-entropy bench's machinery (its numbers are the bench's, not tests')."""

from __future__ import annotations

import sys

import pytest

from xpsoftmax.bench import lce_cases, lce_memory, lce_run
from xpsoftmax.bench.lce_cases import GOAL_CASES, TORCH_DEFAULT, TORCH_TUNED, UNFUSED, XPS


def _row(case, backend, subject, median_s, peak, rounds=5):
    # rounds scattered by 1% around the median, the same pattern for every subject
    times = [median_s * (1 + 0.01 * (i - rounds // 2) / rounds) for i in range(rounds)]
    return {"case": case.name, "shape": list(case.shape), "backend": backend,
            "subject": subject, "median_s": median_s, "times_s": times,
            "peak_bytes": peak, "jax_analysis_bytes": None, "error": None}  # fmt: skip


def test_goals_are_ratios_to_the_rows_of_the_same_case():
    case = GOAL_CASES[0]
    rows = [
        _row(case, "torch", XPS, 10.0, 100),
        _row(case, "torch", UNFUSED, 10.0, 2000),
        _row(case, "torch", TORCH_DEFAULT, 20.0, 90),
        _row(case, "torch", TORCH_TUNED, 7.0, 200),
        _row(GOAL_CASES[1], "torch", UNFUSED, 1.0, 100),  # another case: not a divisor here
    ]
    got = {g["goal"]: g for g in lce_cases.goals(rows)}
    where = f"({case.n}, {case.d}, {case.v}) f32 fwd+bwd"
    assert got[f"torch peak memory / unfused {where}"]["value"] == pytest.approx(0.05)
    assert got[f"torch time / unfused {where}"]["holds"] is True
    assert got[f"torch time / {TORCH_DEFAULT} {where}"]["value"] == pytest.approx(0.5)
    assert got[f"torch peak memory / {TORCH_DEFAULT} {where}"]["holds"] is False  # 100 > 90
    assert got[f"torch time / {TORCH_TUNED} {where}"]["value"] == pytest.approx(10 / 7)
    assert got[f"torch time / {TORCH_TUNED} {where}"]["holds"] is False
    # unmeasured rows: listed, not judged
    assert got[f"numpy time / unfused {where}"]["holds"] is None
    md = lce_run.markdown({"date": "d", "command": "c", "machine": {"cpu": "x"},
                           "goals": list(got.values()), "results": rows})  # fmt: skip
    assert "| torch time / unfused" in md and "not judged" in md


def test_time_goals_need_five_rounds_and_a_margin_beyond_the_noise():
    case = GOAL_CASES[0]
    where = f"({case.n}, {case.d}, {case.v}) f32 fwd+bwd"
    goal = f"torch time / unfused {where}"
    # three rounds give no interval of the median: not judged, however clear
    three = [_row(case, "torch", XPS, 1.0, 1, rounds=3), _row(case, "torch", UNFUSED, 2.0, 1, 3)]
    g = {g["goal"]: g for g in lce_cases.goals(three)}[goal]
    assert g["holds"] is None and "at least 5" in g["note"]
    # five rounds whose ratios straddle the 1.05 limit: within noise
    xs_row, unf = _row(case, "torch", XPS, 1.0, 1), _row(case, "torch", UNFUSED, 1.0, 1)
    xs_row["times_s"] = [1.0, 1.2, 0.9, 1.1, 1.0]
    g = {g["goal"]: g for g in lce_cases.goals([xs_row, unf])}[goal]
    assert g["holds"] is None and g["note"].startswith("within noise")


def test_rounds_interleave_and_rotate():
    calls = []
    subs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = lce_run.time_rounds(subs, 2, collect=False)
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a"]
    assert all(len(t) == 2 for t in times.values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_memory_probe_counts_what_a_call_allocates():
    # the NumPy unfused step holds its (N, V) float32 logits: at least that much, less
    # what glibc may keep resident at the heap's top after the warm-up (M_TOP_PAD,
    # 128 KiB by default: 16 KiB under the logits measured with NumPy 1.26, 64 KiB with 2.2)
    case = lce_cases.LceCase("probe", 256, 8, 4096)
    got = lce_memory.measure("numpy", UNFUSED, case, timeout=300)
    assert "error" not in got
    assert got["peak_bytes"] >= 256 * 4096 * 4 - 128 * 1024
