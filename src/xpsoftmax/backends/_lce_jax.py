"""linear_cross_entropy on JAX: the portable algorithm behind a ``jax.custom_vjp``.

Differentiated, the forward rule of a scalar reduction ("mean", "sum")
computes the loss and the gradients in one pass (row chunks: three matrix
products) and keeps the gradients as its residuals; the backward rule
scales them by the cotangent.  For ``reduction="none"`` the residuals are
the inputs (and, over vocabulary chunks, the rows' statistics) and the
backward rule recomputes each chunk's logits.  Undifferentiated, only the
loss is computed.  The chunks are a Python loop over static slices (the
shapes are static under ``jit``), so ``jit``, ``grad`` and ``vmap`` all
apply; class indices and probability targets get no gradient (zero
cotangents).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from .. import _linear_ce as lce
from .._linear_ce_api import Route
from .._linear_ce_args import LceCall


class JaxOps(lce.ChunkOps):
    """Gathers and scatters through ``take_along_axis`` and ``.at[]``."""

    def take_cols(self, a: Any, cols: Any) -> Any:
        jnp = self.xp
        v = a.shape[1]
        inside = (cols >= 0) & (cols < v)
        safe = jnp.where(inside, cols, 0)
        got = jnp.take_along_axis(a, safe[:, None], axis=1)[:, 0]
        return jnp.where(inside, got, jnp.zeros_like(got))

    def put_cols_(self, a: Any, cols: Any, values: Any) -> Any:
        jnp = self.xp
        v = a.shape[1]
        # a column outside the chunk becomes V: dropped (a negative one would wrap)
        safe = jnp.where((cols >= 0) & (cols < v), cols, v)
        rows = jnp.arange(a.shape[0])
        return a.at[rows, safe].set(values.astype(a.dtype), mode="drop")

    def sum_except_(self, e: Any, cols: Any) -> Any:
        rows = self.xp.arange(e.shape[0])
        return e.at[rows, cols].set(0, mode="drop").sum(axis=1)


@dataclass(frozen=True)
class _Static:
    """The call's static part (hashable: a custom_vjp's non-differentiable argument)."""

    probs: bool
    eps: float
    reduction: str
    chunk: Any
    row_dtype: Any
    has_finite: bool


def _problem(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any) -> Any:
    import jax.numpy as jnp

    finite = jnp.isfinite(b) if s.has_finite else None
    return lce.Problem(x, w, b, target, s.probs, cw, live, s.eps, finite, int(x.shape[0]),
                       int(w.shape[0]), s.row_dtype)  # fmt: skip


def _plan(p: lce.Problem, s: _Static) -> lce.Plan:
    return lce.plan(p.n, p.v, p.x.dtype.itemsize, s.chunk)


def _ops() -> JaxOps:
    import jax.numpy as jnp

    return JaxOps(jnp)


def _zero_cotangent(a: Any) -> Any:
    """The cotangent of an input that gets none (integer targets: float0)."""
    import jax
    import numpy as np

    if a is None:
        return None
    if jax.numpy.issubdtype(a.dtype, jax.numpy.inexact):
        return jax.numpy.zeros_like(a)
    return np.zeros(a.shape, dtype=jax.dtypes.float0)


@functools.lru_cache(maxsize=1)
def _lce() -> Any:
    import jax

    @functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
    def lce_loss(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any) -> Any:
        p = _problem(s, x, w, b, target, cw, live)
        ops = _ops()
        c = lce.constants(p, ops)
        losses, _ = lce.forward(p, c, _plan(p, s), ops)
        return lce.reduce(losses, c, s.reduction, x.dtype, ops)

    def fwd(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any) -> Any:
        p = _problem(s, x, w, b, target, cw, live)
        ops = _ops()
        c = lce.constants(p, ops)
        pl = _plan(p, s)
        inputs = (x, w, b, target, cw, live)
        res: Any
        if s.reduction != "none":
            g = lce.row_weights(c, s.reduction, 1.0, ops)
            needs = lce.Needs(True, True, b is not None)
            losses, gr = lce.value_and_grad(p, c, g, pl, ops, needs)
            res = ((gr.x, gr.w, gr.b), inputs, None)
        else:
            losses, st = lce.forward(p, c, pl, ops)
            # a residual must be a pytree: the statistics as a tuple
            res = (None, inputs, None if st is None else (st.m, st.t, st.zy, st.s, st.h, st.tw))
        return lce.reduce(losses, c, s.reduction, x.dtype, ops), res

    def bwd(s: _Static, res: Any, g_out: Any) -> Any:
        pre, inputs, st = res
        x, w, b, target, cw, live = inputs
        rest = tuple(_zero_cotangent(a) for a in (target, cw, live))
        if pre is not None:
            dx, dw, db = pre
            return (dx * g_out, dw * g_out, None if db is None else db * g_out, *rest)
        p = _problem(s, x, w, b, target, cw, live)
        ops = _ops()
        c = lce.constants(p, ops)
        g = lce.row_weights(c, s.reduction, g_out, ops)
        needs = lce.Needs(True, True, b is not None)
        stats = None if st is None else lce.Stats(*st)
        gr = lce.backward(p, c, stats, g, _plan(p, s), ops, needs)
        return (gr.x, gr.w, gr.b, *rest)

    lce_loss.defvjp(fwd, bwd)
    # one compiled program per static part and shapes: eager calls would
    # otherwise dispatch (and compile) every small operation of every chunk
    return jax.jit(lce_loss, static_argnums=(0,))


@functools.lru_cache(maxsize=1)
def _value_and_grad() -> Any:
    """The helper's one-pass loss and gradients, jitted like the loss."""
    import jax

    def run(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any, g_out: Any) -> Any:
        p = _problem(s, x, w, b, target, cw, live)
        ops = _ops()
        c = lce.constants(p, ops)
        g = lce.row_weights(c, s.reduction, g_out, ops)
        needs = lce.Needs(True, True, b is not None)
        losses, gr = lce.value_and_grad(p, c, g, _plan(p, s), ops, needs)
        return lce.reduce(losses, c, s.reduction, x.dtype, ops), (gr.x, gr.w, gr.b)

    return jax.jit(run, static_argnums=(0,))


class JaxRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        return JaxOps(call.xp)

    def _static(self, call: LceCall) -> _Static:
        p = call.problem()
        return _Static(call.probs, call.eps, call.reduction, call.chunk, p.row_dtype,
                       p.finite is not None)  # fmt: skip

    def loss(self, call: LceCall) -> Any:
        s = self._static(call)
        return _lce()(s, call.x, call.w, call.b, call.target, call.class_weight, call.live)

    def value_and_grad(
        self, call: LceCall, grad_output: Any, needs: lce.Needs
    ) -> tuple[Any, lce.Grads]:
        s = self._static(call)
        loss, (dx, dw, db) = _value_and_grad()(s, call.x, call.w, call.b, call.target,
                                                call.class_weight, call.live, grad_output)  # fmt: skip
        return loss, lce.Grads(dx, dw, db)
