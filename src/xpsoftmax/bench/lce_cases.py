"""The fused linear cross-entropy bench: its cases and its goals (issue #25).

Every case is one forward + backward of a mean cross-entropy over class
indices, float32, ``x`` (N, D) and ``linear_weight`` (V, D) both needing
their gradient, no bias (the configuration of the issue's measurements).
The subjects (:mod:`.lce_subjects`) are xpsoftmax's fused function and, per
backend, the unfused ``x @ W.T`` then cross-entropy, and torch's own
``F.linear_cross_entropy`` with its default ``LinearCrossEntropyOptions()``
and with a hand-tuned ``batch_chunk_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .verdicts import judge, paired


@dataclass(frozen=True)
class LceCase:
    name: str
    n: int
    d: int
    v: int
    #: backends timed and measured (None: every backend of the run)
    backends: tuple[str, ...] | None = None
    #: subjects left out (the unfused 12 GiB of the largest case)
    skip: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n, self.d, self.v)


#: the goals' shapes; the largest is timed once, without the unfused subject
#: (its 12 GiB of logits, gradient and softmax would not fit beside the
#: other work on a 24 GiB machine) and without torch's default options (16
#: rows a chunk there: tens of minutes a call; the issue lists none either)
GOAL_CASES = (
    LceCase("32k vocabulary", 4096, 512, 32768),
    LceCase("128k vocabulary", 2048, 512, 131072),
)
LARGE_CASE = LceCase(
    "128k vocabulary, 8k rows", 8192, 512, 131072, ("torch",), ("unfused", "torch LCE default")
)
#: the sweep over V of the plot (torch; the 128k point is a goal case)
SWEEP = tuple(
    LceCase(f"sweep V={v}", 2048, 512, v, ("torch",), ("torch LCE default",)) for v in (8192, 32768)
)
#: the hand-tuned batch_chunk_size of torch's chunked path (the issue's best)
TUNED_ROWS = 1024

#: subject labels
XPS = "xpsoftmax"
UNFUSED = "unfused"
TORCH_DEFAULT = "torch LCE default"
TORCH_TUNED = f"torch LCE batch_chunk_size={TUNED_ROWS}"


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every goal of the issue with its measured value where its rows exist.

    ``rows``: one dict per (case, backend, subject) with ``median_s`` and
    ``peak_bytes`` (either may be None).  Time ratios are of medians of the
    same interleaved rounds; memory ratios of peaks measured the same way.
    """
    out: list[dict[str, Any]] = []

    def find(case: str, backend: str, subject: str) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if (r["case"], r["backend"], r["subject"]) == (case, backend, subject)
            ),
            None,
        )

    def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
        if a is None or b is None or a.get(key) is None or not b.get(key):
            return None
        return float(a[key]) / float(b[key])

    def add(goal: str, value: float | None, limit: float, why: str = "") -> None:
        """A memory goal: one peak per subject, each in a fresh process, which
        does not scatter as times do: judged on the value."""
        out.append({"goal": goal, "value": value, "limit": limit,
                    "holds": None if value is None else value <= limit, "note": why})  # fmt: skip

    def add_time(goal: str, a: dict[str, Any] | None, b: dict[str, Any] | None,
                 limit: float) -> None:  # fmt: skip
        """A time goal: judged on the paired rounds, as the main bench's goals
        are (:mod:`.verdicts`): fewer than five rounds, or a limit inside the
        median's interval, is "not judged"."""
        value = ratio(a, b, "median_s")
        if value is None or a is None or b is None:
            add(goal, value, limit)
            return
        v = judge(value, limit, True, paired(a["times_s"], b["times_s"], False))
        out.append({"goal": goal, "value": value, "limit": limit, "holds": v["holds"],
                    "note": v["why"]})  # fmt: skip

    for case in GOAL_CASES:
        where = f"({case.n}, {case.d}, {case.v}) f32 fwd+bwd"
        for backend, mem_limit in (("torch", 0.10), ("numpy", 0.10), ("jax", 0.15)):
            xs_row = find(case.name, backend, XPS)
            unf = find(case.name, backend, UNFUSED)
            add(f"{backend} peak memory / unfused {where}", ratio(xs_row, unf, "peak_bytes"),
                mem_limit)  # fmt: skip
            limit = {"torch": 1.05, "numpy": 1.10, "jax": 1.25}[backend]
            add_time(f"{backend} time / unfused {where}", xs_row, unf, limit)
        xs_row = find(case.name, "torch", XPS)
        for subject, limit in ((TORCH_DEFAULT, 1.0), (TORCH_TUNED, 1.25)):
            other = find(case.name, "torch", subject)
            add_time(f"torch time / {subject} {where}", xs_row, other, limit)
            add(f"torch peak memory / {subject} {where}", ratio(xs_row, other, "peak_bytes"), 1.0)
    big = LARGE_CASE
    where = f"({big.n}, {big.d}, {big.v}) f32 fwd+bwd"
    xs_row = find(big.name, "torch", XPS)
    tuned = find(big.name, "torch", TORCH_TUNED)
    add(f"torch peak memory / {TORCH_TUNED} {where}", ratio(xs_row, tuned, "peak_bytes"), 1.0)
    add_time(f"torch time / {TORCH_TUNED} {where}", xs_row, tuned, 1.25)
    return out
