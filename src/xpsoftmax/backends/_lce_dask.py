"""linear_cross_entropy on Dask: lazily, one task per row block of ``x``.

Each block of rows (all of ``x``'s columns, the whole ``linear_weight``)
runs the NumPy route (:mod:`._lce_numpy`: chunked within the block, buffers
reused); the per-row losses and the mean's weights stay lazy Dask arrays,
reduced by Dask.  For :func:`~xpsoftmax.linear_cross_entropy_grad` the
blocks' weight and bias gradients are summed by Dask's tree reduction, and
the mean's division happens lazily after it.  Nothing is computed at call
time: a class index out of range is reported when the graph runs.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .. import _linear_ce as lce
from .._linear_ce_api import Route
from .._linear_ce_args import LceCall


def _one(a: Any) -> Any:
    """A block handed over as a list of blocks along a contracted index."""
    while isinstance(a, list):
        a = np.concatenate([_one(b) for b in a], axis=-1) if len(a) > 1 else a[0]
    return a


def _numpy_kw(b: Any, cw: Any, live: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of the public functions for one block."""
    return {
        "linear_bias": None if b is None else _one(b),
        "weight": None if cw is None else _one(cw),
        "where": None if live is None else _one(live),
        "label_smoothing": kw["eps"],
        "chunk_size": kw["chunk"],
        "ignore_index": kw["ignore"],
    }


def _block_losses(x: Any, w: Any, target: Any, b: Any, cw: Any, live: Any, **kw: Any) -> Any:
    """Each row's loss (0 where it does not count)."""
    from .._linear_ce_api import linear_cross_entropy

    args = _numpy_kw(b, cw, live, kw)
    return linear_cross_entropy(_one(x), _one(w), _one(target), reduction="none", **args)


def _block_weights(target: Any, cw: Any, live: Any, **kw: Any) -> Any:
    """Each row's weight in the mean: its target class's weight (index
    targets) or 1 (probabilities), 0 where it does not count."""
    target = _one(target)
    n = target.shape[0]
    ok = np.ones(n, dtype=bool) if live is None else np.asarray(_one(live), dtype=bool)
    if target.dtype.kind == "f":
        return ok.astype(kw["compute"])
    ok = ok & (target != kw["ignore"])
    w = np.ones(n) if cw is None else _one(cw)[np.where(ok, target, 0)]
    return np.where(ok, w, 0).astype(kw["compute"])


def _block_grads(x: Any, w: Any, target: Any, b: Any, cw: Any, live: Any, g: Any, **kw: Any) -> Any:
    """One block's (losses or their sum, dx, dw, db) of sum(g * loss) (g None: 1)."""
    from .._linear_ce_api import linear_cross_entropy_grad

    args = _numpy_kw(b, cw, live, kw)
    red: Literal["sum", "none"] = "sum" if g is None else "none"
    return linear_cross_entropy_grad(_one(x), _one(w), _one(target), reduction=red,
                                     grad_output=g, **args)  # fmt: skip


class DaskRoute(Route):
    def _prepared(self, call: LceCall) -> tuple[Any, ...]:
        """x in row blocks of whole rows; the per-row arguments in the same
        blocks; the per-class ones in one block."""
        import dask.array as da

        x = call.x.rechunk({1: -1})
        rows = x.chunks[0]
        tgt = call.target.rechunk({0: rows, 1: -1} if call.probs else {0: rows})
        live = call.where
        if live is not None:
            live = (da.reshape(live, (1,)) if call.unbatched else live).rechunk({0: rows})
        one = [None if a is None else a.rechunk(-1) for a in (call.w, call.b, call.class_weight)]
        return x, tgt, live, *one

    def _kw(self, call: LceCall) -> dict[str, Any]:
        return {"eps": call.eps, "chunk": call.chunk, "ignore": call.ignore_index,
                "compute": np.dtype(call.compute_dtype)}  # fmt: skip

    def _mean_scale(self, call: LceCall, tgt: Any, cw: Any, live: Any) -> Any:
        """1 / (the mean's divisor), 0 where nothing counts: lazy."""
        import dask.array as da

        weights = da.blockwise(
            _block_weights, "i", tgt, "ik" if call.probs else "i",
            cw, None if cw is None else "k", live, None if live is None else "i",
            dtype=call.compute_dtype, concatenate=True, **self._kw(call),
        )  # fmt: skip
        den = weights.sum()
        return da.where(den != 0, 1 / da.where(den != 0, den, 1), 0).astype(call.compute_dtype)

    def loss(self, call: LceCall) -> Any:
        import dask.array as da

        x, tgt, live, w, b, cw = self._prepared(call)
        losses = da.blockwise(
            _block_losses, "i", x, "ij", w, "kj", tgt, "ik" if call.probs else "i",
            b, None if b is None else "k", cw, None if cw is None else "k",
            live, None if live is None else "i",
            dtype=call.compute_dtype, concatenate=True, **self._kw(call),
        )  # fmt: skip
        if call.reduction == "none":
            return losses
        total = losses.sum()
        if call.reduction == "sum":
            return total
        return total * self._mean_scale(call, tgt, cw, live)

    def value_and_grad(
        self, call: LceCall, grad_output: Any, needs: lce.Needs
    ) -> tuple[Any, lce.Grads]:
        import dask
        import dask.array as da

        x, tgt, live, w, b, cw = self._prepared(call)
        per_row = call.reduction == "none"
        rows = x.chunks[0]

        def blocks(a: Any) -> list[Any]:
            return [None] * len(rows) if a is None else list(a.to_delayed().ravel())

        g = da.asarray(grad_output).rechunk({0: rows}) if per_row else None
        whole = [None if a is None else a.to_delayed().ravel()[0] for a in (w, b, cw)]
        parts = [
            dask.delayed(_block_grads, nout=4)(xi, whole[0], ti, whole[1], whole[2], li, gi,
                                               **self._kw(call))
            for xi, ti, li, gi in zip(blocks(x), blocks(tgt), blocks(live), blocks(g), strict=True)
        ]  # fmt: skip
        dt = call.compute_dtype

        def lazy(i: int, shape: Any) -> list[Any]:
            return [da.from_delayed(p[i], shape(k), dt) for k, p in enumerate(parts)]

        dx = da.concatenate(lazy(1, lambda k: (rows[k], x.shape[1])), axis=0)
        dw = da.stack(lazy(2, lambda k: tuple(w.shape))).sum(axis=0)
        db = None if b is None else da.stack(lazy(3, lambda k: tuple(b.shape))).sum(axis=0)
        if per_row:
            return da.concatenate(lazy(0, lambda k: (rows[k],))), lce.Grads(dx, dw, db)
        total = da.stack(lazy(0, lambda k: ())).sum()
        scale = grad_output
        if call.reduction == "mean":
            inv = self._mean_scale(call, tgt, cw, live)
            total, scale = total * inv, inv * grad_output
        return total, lce.Grads(dx * scale, dw * scale, None if db is None else db * scale)
