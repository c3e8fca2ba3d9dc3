"""Whether a timed goal holds, misses, or cannot be judged from the repetitions.

Two subjects of one ratio group are timed in the same repetitions
(:func:`~xpsoftmax.bench.timing.time_interleaved`): repetition ``i`` of each
ran side by side, so the per-repetition ratios ``a_i / b_i`` (differences for
an overhead) cancel what the machine did between repetitions.  On a machine
shared with other work those pairs still scatter: a call that waits for a
descheduled thread takes 10-100x its time (measured here on 2 cores with
other processes running: torch's forward + backward of softmax on 256x1024,
0.4 ms alone, 20-77 ms in a loop), and one such repetition can decide a
median of a few.

So a goal is judged on the interval that holds the median of the paired
values with at least 90% confidence, whatever their distribution: the ``k``-th
smallest and the ``k``-th largest of ``n`` pairs, ``k`` the largest with
``2 P(Binomial(n, 1/2) < k) <= 0.10`` (n = 5: the smallest and largest, 93.8%;
n = 15: the 4th of each end, 96.5%).  The goal holds where the whole interval
meets it, misses where none of it does, and is not judged where the limit lies
inside the interval (the noise is larger than the margin), where fewer than
five repetitions give no such interval, or (for an overhead) where the
measured overhead is not positive: xpsoftmax's call includes the call it is
compared with, so a negative difference is noise, not speed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: the least confidence of the interval around the median of the paired values
CONFIDENCE = 0.90


def order_rank(n: int) -> int:
    """``k`` of the interval (1-based order statistics), or 0 where ``n`` pairs
    give no interval with :data:`CONFIDENCE`."""
    k = 0
    below = 0.0  # P(Binomial(n, 1/2) < k + 1), accumulated
    for j in range(n // 2 + 1):
        below += math.comb(n, j) / 2**n
        if 2 * below > 1 - CONFIDENCE:
            break
        k = j + 1
    return k


def paired(a: Sequence[float], b: Sequence[float], difference: bool) -> list[float]:
    """The per-repetition ratios ``a_i / b_i`` (or differences ``a_i - b_i``)."""
    n = min(len(a), len(b))
    if difference:
        return [a[i] - b[i] for i in range(n)]
    return [a[i] / b[i] for i in range(n) if b[i] > 0]


def median_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The distribution-free interval of the median of ``values`` (see the
    module docstring), or None where there are too few of them."""
    k = order_rank(len(values))
    if k == 0:
        return None
    s = sorted(values)
    return s[k - 1], s[len(s) - k]


def judge(
    value: float,
    limit: float,
    le: bool,
    pairs: list[float] | None,
    scale: float = 1.0,
    overhead: bool = False,
) -> dict[str, Any]:
    """``{"holds": True/False/None, "range": [lo, hi] or None, "why": reason}``
    for a goal measured as ``value`` (``pairs``: its paired per-repetition
    values, in the value's unit after ``scale``; None for a measurement that
    does not scatter, such as a traced peak of memory)."""

    def meets(v: float) -> bool:
        return v <= limit if le else v >= limit

    if overhead and value <= 0:
        return {"holds": None, "range": None,
                "why": "measured below 0: noise (the call includes the one it is compared with)"}  # fmt: skip
    if pairs is None:
        return {"holds": meets(value), "range": None, "why": ""}
    interval = median_interval([p * scale for p in pairs])
    if interval is None:
        return {"holds": None, "range": None,
                "why": f"{len(pairs)} repetitions: at least 5 are needed to judge"}  # fmt: skip
    lo, hi = interval
    if meets(lo) and meets(hi):
        return {"holds": True, "range": [lo, hi], "why": ""}
    if not meets(lo) and not meets(hi):
        return {"holds": False, "range": [lo, hi], "why": ""}
    return {"holds": None, "range": [lo, hi],
            "why": f"within noise: the repetitions put it at {lo:.3g}-{hi:.3g}"}  # fmt: skip
