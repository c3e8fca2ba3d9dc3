"""The blocked run: which plan serves a large input, and the plain row blocks.

:func:`run_blocked` picks, for an input of at least ``sizes.MIN_BLOCKED_BYTES``:
the log_softmax row kernel (:mod:`.log_softmax_rows`); for a reduction over
leading or middle axes whose slices exceed a block, column slabs
(:mod:`.column_slabs`) or row rounds (:mod:`.row_rounds`); otherwise blocks of
whole slices along the longest kept axis, each written into its part of one
output.  Fortran-ordered inputs run on their (C-ordered) transpose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from typing import Any

from ... import _core
from .._base import Call
from . import column_slabs, log_softmax_rows, row_rounds, sizes
from .inplace_ops import BlockOps, _exact_ones
from .thread_pool import share_units
from .ufunc_buffer import _row_buffer


def _lead_shape(call: Call) -> tuple[int, int, int] | None:
    """(K1, R, K2) for a C-ordered input reduced over one run of axes that is
    followed by kept axes (axis 0 of a matrix, a middle axis), else None."""
    x, axes = call.x, call.axes
    if call.mask is not None or not x.flags.c_contiguous:
        return None
    a0, a1 = axes[0], axes[-1]
    if axes != tuple(range(a0, a1 + 1)) or a1 == x.ndim - 1:
        return None  # trailing axes (the 2-D row view) or several runs
    k2 = math.prod(x.shape[a1 + 1 :])
    if k2 < 2:
        return None  # one column: NumPy sums it pairwise, not row by row
    return math.prod(x.shape[:a0]), math.prod(x.shape[a0 : a1 + 1]), k2


def _split_plan(call: Call) -> tuple[Any, Any, int, int, tuple[int, ...]] | None:
    """(x view, mask view, split axis, block length, the view's reduced axes)
    or None to run unblocked.

    A contiguous input reduced over its trailing axes is viewed as 2-D (rows,
    slice) so blocks are contiguous rows; one reduced over a run of axes
    followed by kept ones, whose slices fit in a block, as (K1, R, K2) split
    along K1 (blocks of whole contiguous slices); otherwise the longest
    non-reduced axis is split (each block then spans every other axis).
    """
    x, axes, mask = call.x, call.axes, call.mask
    if x.nbytes < sizes.MIN_BLOCKED_BYTES:
        return None
    ndim = x.ndim
    keep = [i for i in range(ndim) if i not in axes]
    if not keep:
        return None  # one slice: nothing to split
    trailing = axes == tuple(range(ndim - len(axes), ndim))
    lead = _lead_shape(call)
    if trailing and x.flags.c_contiguous and mask is None:
        rows = math.prod(x.shape[: ndim - len(axes)])
        x = x.reshape(rows, -1)
        split, axes = 0, (1,)
    elif lead is not None and lead[1] * lead[2] * x.itemsize <= sizes.BLOCK_BYTES:
        x = x.reshape(lead)
        split, axes = 0, (1,)
    else:
        split = max(keep, key=lambda i: x.shape[i])
    per_index = x.nbytes // x.shape[split]
    length = max(1, sizes.BLOCK_BYTES // max(per_index, 1))
    if length >= x.shape[split]:
        return None
    return x, mask, split, length, axes


def _as_c_order(call: Call) -> Call | None:
    """``call`` on the transpose of a Fortran-ordered input (a C-ordered view),
    or None.  Blocks of the transpose are contiguous, and each slice's sums run
    in the memory order NumPy itself uses on the Fortran array, so the blocked
    path gives the unblocked path's bits; the caller transposes the result back
    (for logsumexp too: the kept axes come back reversed, as the transpose has them).
    """
    x, mask = call.x, call.mask
    if x.ndim < 2 or x.flags.c_contiguous or not x.flags.f_contiguous:
        return None
    if mask is not None:
        mask = mask.T
    axes = tuple(sorted(x.ndim - 1 - a for a in call.axes))
    return dataclasses.replace(call, x=x.T, axes=axes, mask=mask)


def _slab_width(lead: tuple[int, int, int], itemsize: int) -> int:
    """Columns per slab of a (K1, R, K2) input's (R, K2) slices, or 0 where the
    slabs would be too narrow (the row rounds then serve it)."""
    _, r, k2 = lead
    width = min(k2, sizes.SLAB_BLOCKS * sizes.BLOCK_BYTES // (r * itemsize))
    # balanced widths of at least 4 columns keep every slab 2 columns wide or more
    return width if width >= min(k2, sizes.MIN_SLAB_COLS) and (width == k2 or width >= 4) else 0


def run_blocked(call: Call, xp: Any, errstate: Any) -> Any:
    """Run the core block by block into one output; None if not worth it."""
    import numpy as np

    if call.x.nbytes < sizes.MIN_BLOCKED_BYTES:
        return None
    flipped = _as_c_order(call)
    if flipped is not None:
        res = run_blocked(flipped, xp, errstate)
        return None if res is None else res.T
    if (
        call.func == "log_softmax"
        and call.mask is None
        and log_softmax_rows._rows_serve(call.x, call.axes)
    ):
        # rows over the trailing axes: the row kernel, no exp buffer or mask
        k = math.prod(call.x.shape[call.axes[0] :])
        res = np.empty(call.x.shape, dtype=call.x.dtype)
        log_softmax_rows._log_softmax_rows(call.x.reshape(-1, k), res.reshape(-1, k))
        return res
    reduce_out = call.func == "logsumexp"
    lead = _lead_shape(call)
    if (
        lead is not None
        and lead[1] * lead[2] * call.x.itemsize > sizes.BLOCK_BYTES
        and lead[1] <= _exact_ones(call.x.dtype)  # beyond, the core's count may round
    ):
        width = _slab_width(lead, call.x.itemsize)
        if width:
            out = column_slabs._run_slabs(call, call.x.reshape(lead), xp, errstate, width)
        else:
            out = row_rounds._run_rows(call, call.x.reshape(lead), xp, errstate)
    else:
        plan = _split_plan(call)
        if plan is None:
            return None
        x, mask, split, length, axes = plan
        n = x.shape[split]
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        out = np.empty(out_shape if reduce_out else x.shape, dtype=x.dtype)
        block_shape = tuple(length if i == split else s for i, s in enumerate(x.shape))

        def run_unit(start: int, ops: BlockOps) -> None:
            sl = (slice(None),) * split + (slice(start, min(start + length, n)),)
            xb = x[sl]
            mb = None if mask is None else mask[sl]
            ob = out[sl]
            if reduce_out:
                ob[...] = _core.logsumexp(xb, axes, mb, True, ops)
                return
            ops.target = ob
            fn = _core.softmax if call.func == "softmax" else _core.log_softmax
            res = fn(xb, axes, mb, ops)
            if res is not ob:  # pragma: no cover - every path returns the target
                ob[...] = res

        def new_ops() -> BlockOps:
            return BlockOps(xp, block_shape, x.dtype)

        @contextlib.contextmanager
        def scope() -> Iterator[None]:
            with errstate(), _row_buffer(x, axes):
                yield

        share_units(list(range(0, n, length)), run_unit, new_ops, scope)
    if not reduce_out:
        return out.reshape(call.x.shape)
    kept = tuple(1 if i in call.axes else s for i, s in enumerate(call.x.shape))
    out = out.reshape(kept)
    return out if call.keepdims else np.squeeze(out, axis=call.axes)
