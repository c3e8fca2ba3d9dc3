"""Column slabs: a reduction over leading axes, on slabs that hold whole slices."""

from __future__ import annotations

from typing import Any

from ... import _core
from .._base import Call
from .inplace_ops import BlockOps
from .thread_pool import share_units


def _run_slabs(call: Call, x3: Any, xp: Any, errstate: Any, width: int) -> Any:
    """The core over axis 1 of a C-ordered (K1, R, K2) array, on column slabs
    ``x3[a, :, c0:c1]`` of at most ``width`` columns, each written straight
    into its part of the output.

    A slab holds whole slices (all R rows of its columns), so the core runs on
    it unchanged and every pass after the first finds it in cache: one read of
    the input and one write of the output, against the row rounds' three reads
    and two writes.  NumPy reduces axis 0 of a slab row after row, elementwise
    along the columns, as it does on the whole array: the same bits.  Slab
    widths are balanced so that none is a single column (which NumPy would
    sum pairwise).
    """
    import numpy as np

    func = call.func
    k1, r, k2 = x3.shape
    dtype = x3.dtype
    n = -(-k2 // width)
    bounds = [k2 * i // n for i in range(n + 1)]
    units = [(a, bounds[i], bounds[i + 1]) for a in range(k1) for i in range(n)]
    width = max(bounds[i + 1] - bounds[i] for i in range(n))
    out3 = np.empty((k1, 1, k2) if func == "logsumexp" else x3.shape, dtype=dtype)
    fn = _core.softmax if func == "softmax" else _core.log_softmax

    def run_unit(u: tuple[int, int, int], ops: BlockOps) -> None:
        a, c0, c1 = u
        xb = x3[a, :, c0:c1]
        ob = out3[a, :, c0:c1]
        if func == "logsumexp":
            ob[...] = _core.logsumexp(xb, (0,), None, True, ops)
            return
        ops.target = ob
        fn(xb, (0,), None, ops)

    def new_ops() -> BlockOps:
        return BlockOps(xp, (r, width), dtype)

    share_units(units, run_unit, new_ops, errstate)
    return out3
