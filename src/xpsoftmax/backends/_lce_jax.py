"""linear_cross_entropy on JAX: the portable algorithm behind a ``jax.custom_vjp``.

Chunks run as ``lax.scan`` loops (the portable per-chunk steps as their
bodies, rows or classes padded to whole chunks): XLA then holds one chunk
at a time, where a Python loop over static slices let it keep nearly every
chunk's buffers (measured, (4096, 512, 32768) float32 value and gradient:
967 MiB of temporaries unrolled, 1024 MiB unfused).  XLA gives a scan's
carried accumulator a second buffer, so where the weight gradient is large
against the logits the default is vocabulary chunks, whose weight-gradient
slices are per-chunk outputs (:func:`jax_plan`).

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

import dataclasses
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
    return jax_plan(p.n, p.v, int(p.x.shape[1]), p.x.dtype.itemsize, s.chunk)


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


#: the weight gradient is updated in slices of this many bytes (see row_scan)
W_SLAB_BYTES = 8 << 20


def row_scan(
    p: lce.Problem, g: Any, rows: int, needs: lce.Needs | None, ops: JaxOps
) -> tuple[Any, lce.Grads]:
    """Per-row losses and (``needs`` not None) the gradients of sum(g * loss)
    over row chunks of ``rows``, as one ``lax.scan``."""
    import jax
    import jax.numpy as jnp

    n, v, d = p.n, p.v, p.x.shape[1]
    count = -(-n // rows)
    pad = count * rows - n

    def cut(a: Any, fill: Any) -> Any:
        if pad:
            a = jnp.concatenate([a, jnp.full((pad, *a.shape[1:]), fill, a.dtype)])
        return a.reshape((count, rows, *a.shape[1:]))

    live = p.live if p.live is not None else jnp.ones((n,), dtype=bool)
    gs = cut(g, 0) if g is not None else cut(jnp.zeros((n,), p.x.dtype), 0)
    inputs = (cut(p.x, 0), cut(p.target, 0), cut(live, False), gs)
    span, whole = (0, rows), (0, v)
    wslab = max(1, min(v, W_SLAB_BYTES // max(1, d * p.x.dtype.itemsize)))

    def body(carry: Any, chunk: Any) -> Any:
        x_r, t_r, live_r, g_r = chunk
        pr = dataclasses.replace(p, x=x_r, target=t_r, live=live_r, n=rows)
        cr = lce.constants(pr, ops)
        st, e = lce.chunk_stats(pr, cr, span, whole, ops)
        loss_r = lce.row_losses(pr, cr, st, span, ops)
        if needs is None:
            return carry, (loss_r, None)
        dw, db = carry
        dz = lce.grad_chunk_(e, pr, cr, st, g_r, span, whole, ops)
        dx_r = dz @ p.w if needs.x else None
        if needs.w:
            # slice by slice: XLA makes the whole product dz.T @ x_r a
            # temporary of the gradient's size before adding it (measured:
            # +64 MiB at V = 32768, D = 512); a slice's product is added in place
            for c0 in range(0, v, wslab):
                c1 = min(v, c0 + wslab)
                dw = dw.at[c0:c1].add(dz[:, c0:c1].T @ x_r)
        if db is not None:
            db = db + jnp.sum(dz, axis=0)
        return (dw, db), (loss_r, dx_r)

    zero_w = jnp.zeros((v, d), p.x.dtype) if needs is not None and needs.w else None
    zero_b = (
        jnp.zeros((v,), p.x.dtype) if needs is not None and needs.b and p.b is not None else None
    )
    (dw, db), (losses, dx) = jax.lax.scan(body, (zero_w, zero_b), inputs)
    losses = losses.reshape(-1)[:n]
    if dx is not None:
        dx = dx.reshape(-1, d)[:n]
    return losses, lce.Grads(dx, dw, db)


def vocab_scan(
    p: lce.Problem, c: lce.Consts, g: Any, cols: int, needs: lce.Needs | None, ops: JaxOps
) -> tuple[Any, lce.Grads]:
    """Per-row losses and (``needs`` not None) the gradients over vocabulary
    chunks of ``cols`` classes, as two ``lax.scan``: the rows' statistics,
    then each chunk's logits again for its gradients.  The classes are padded
    to whole chunks with zero weights and a -inf bias (no class, no mass);
    the weight gradient's slices are the second scan's per-chunk outputs,
    which XLA writes into the result (a carried accumulator gets a copy)."""
    import jax
    import jax.numpy as jnp

    n, v, d = p.n, p.v, p.x.shape[1]
    count = -(-v // cols)
    pad = count * cols - v
    dt = p.x.dtype

    def cut(a: Any, fill: Any, axis: int = 0) -> Any:
        if pad:
            shape = list(a.shape)
            shape[axis] = pad
            a = jnp.concatenate([a, jnp.full(shape, fill, a.dtype)], axis=axis)
        if axis == 0:
            return a.reshape((count, cols, *a.shape[1:]))
        return jnp.moveaxis(a.reshape((a.shape[0], count, cols)), 1, 0)

    b = p.b if p.b is not None else jnp.zeros((v,), dt)
    chunks = {"w": cut(p.w, 0), "b": cut(b, -jnp.inf), "c0": jnp.arange(count) * cols}
    if p.class_weight is not None:
        chunks["cw"] = cut(p.class_weight, 0)
    # the smoothing weights: a padded class has none, also without a bias
    wfin = c.wfin if c.wfin is not None or not p.eps else jnp.ones((v,), dt)
    if wfin is not None:
        chunks["wfin"] = cut(wfin, 0)
    if p.probs:
        chunks["tau"] = cut(p.target, 0, axis=1)
    span = (0, cols)

    def local(ch: Any) -> tuple[lce.Problem, lce.Consts]:
        """The problem and constants of one chunk, in the chunk's columns
        (v stays V: a chunk never covers every class)."""
        pr = dataclasses.replace(
            p, w=ch["w"], b=ch["b"], class_weight=ch.get("cw"),
            target=ch["tau"] if p.probs else p.target,
        )  # fmt: skip
        y = None if c.y is None else c.y - ch["c0"]
        return pr, dataclasses.replace(c, y=y, wfin=ch.get("wfin"))

    def stats_body(carry: Any, ch: Any) -> Any:
        total, wf_total = carry
        pr, cr = local(ch)
        st, _ = lce.chunk_stats(pr, cr, (0, n), span, ops)
        wf = jnp.sum(ch["wfin"]) if "wfin" in ch else jnp.asarray(0.0, dt)
        merged = lce.combine(lce.Stats(*total), st, wf_total, wf, ops)
        return (_stats_tuple(merged), wf_total + wf), None

    zeros = jnp.zeros((n,), dt)
    start = lce.Stats(jnp.full((n,), -jnp.inf, dt), zeros,
                      None if c.y is None else zeros, zeros if p.eps else None,
                      zeros if p.probs else None, zeros if p.probs else None)  # fmt: skip
    (final, _), _ = jax.lax.scan(stats_body, (_stats_tuple(start), jnp.asarray(0.0, dt)), chunks)
    st = lce.Stats(*final)
    losses = lce.row_losses(p, c, st, (0, n), ops)
    if needs is None:
        return losses, lce.Grads(None, None, None)
    shift = jnp.where(jnp.isfinite(st.m), st.m, 0)

    def grad_body(dx: Any, ch: Any) -> Any:
        pr, cr = local(ch)
        e = jnp.exp(ops.logits(p.x, ch["w"], ch["b"]) - shift[:, None])
        dz = lce.grad_chunk_(e, pr, cr, st, g, (0, n), span, ops)
        dw_c = dz.T @ p.x if needs.w else None
        db_c = jnp.sum(dz, axis=0) if needs.b and p.b is not None else None
        if needs.x:
            dx = dx + dz @ ch["w"]
        return dx, (dw_c, db_c)

    dx, (dw, db) = jax.lax.scan(grad_body, jnp.zeros((n, d), dt), chunks)
    dw = None if dw is None else dw.reshape(count * cols, d)[:v]
    db = None if db is None else db.reshape(-1)[:v]
    return losses, lce.Grads(dx if needs.x else None, dw, db)


def _stats_tuple(st: lce.Stats) -> tuple[Any, ...]:
    return (st.m, st.t, st.zy, st.s, st.h, st.tw)


def _losses_and_grads(
    p: lce.Problem, c: lce.Consts, g: Any, pl: lce.Plan, ops: JaxOps, needs: lce.Needs | None
) -> tuple[Any, lce.Grads | None]:
    """Row plans through :func:`row_scan`, vocabulary plans through
    :func:`vocab_scan` (``needs`` None: the losses only)."""
    if pl.by == "rows":
        losses, gr = row_scan(p, g, pl.size, needs, ops)
    else:
        losses, gr = vocab_scan(p, c, g, pl.size, needs, ops)
    return losses, (gr if needs is not None else None)


def jax_plan(n: int, v: int, d: int, itemsize: int, chunk: Any) -> lce.Plan:
    """The portable plan at half the chunk bytes (XLA keeps a chunk's logits
    and their exponentials apart); by default vocabulary chunks where the
    weight gradient exceeds an eighth of the logits, since a row scan's
    carried weight gradient gets a second buffer on XLA."""
    if chunk is not None:
        return lce.plan(n, v, itemsize, chunk)
    pl = lce.plan(n, v, 2 * itemsize)
    if pl.by == "rows" and v * d * lce.CHUNK_SHARE > n * v:
        budget = pl.size * v * 2 * itemsize
        return lce.Plan("vocab", max(1, min(v, budget // max(1, n * 2 * itemsize))))
    return pl


def _run(
    s: _Static, arrays: tuple[Any, ...], g_out: Any, needs: lce.Needs | None
) -> tuple[Any, lce.Consts, lce.Grads | None]:
    """(per-row losses, the constants, the gradients of sum(g * loss) where
    ``needs``), ``g`` the row weights of the cotangent ``g_out``."""
    p = _problem(s, *arrays)
    ops = _ops()
    c = lce.constants(p, ops)
    g = None if g_out is None else lce.row_weights(c, s.reduction, g_out, ops)
    losses, gr = _losses_and_grads(p, c, g, _plan(p, s), ops, needs)
    return losses, c, gr


def _all_grads(b: Any) -> lce.Needs:
    return lce.Needs(True, True, b is not None)


@functools.lru_cache(maxsize=1)
def _lce() -> Any:
    import jax

    @functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
    def lce_loss(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any) -> Any:
        losses, c, _ = _run(s, (x, w, b, target, cw, live), None, None)
        return lce.reduce(losses, c, s.reduction, x.dtype, _ops())

    def fwd(s: _Static, x: Any, w: Any, b: Any, target: Any, cw: Any, live: Any) -> Any:
        inputs = (x, w, b, target, cw, live)
        res: Any
        if s.reduction != "none":
            losses, c, gr = _run(s, inputs, 1.0, _all_grads(b))
            assert gr is not None
            res = ((gr.x, gr.w, gr.b), inputs)
        else:  # the backward recomputes every chunk
            losses, c, _ = _run(s, inputs, None, None)
            res = (None, inputs)
        return lce.reduce(losses, c, s.reduction, x.dtype, _ops()), res

    def bwd(s: _Static, res: Any, g_out: Any) -> Any:
        pre, inputs = res
        rest = tuple(_zero_cotangent(a) for a in inputs[3:])
        if pre is not None:
            dx, dw, db = pre
            return (dx * g_out, dw * g_out, None if db is None else db * g_out, *rest)
        _, _, gr = _run(s, inputs, g_out, _all_grads(inputs[2]))
        assert gr is not None
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
        losses, c, gr = _run(s, (x, w, b, target, cw, live), g_out, _all_grads(b))
        assert gr is not None
        return lce.reduce(losses, c, s.reduction, x.dtype, _ops()), (gr.x, gr.w, gr.b)

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
