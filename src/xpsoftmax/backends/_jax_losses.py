"""The losses on JAX: the portable code, jitted once per static arguments.

Eager JAX compiles every operation on first use per shape and dtype (about 50
for a cross-entropy: seconds, and again under an eager ``jax.grad``); one
jitted function compiles them as one program.  Inside the caller's own
``jit``, ``grad``, ``vmap`` or ``jax.export`` the inner jit is traced like any
other function (and inlined by an outer jit).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from .._losses import LossCall, run_loss_core

_ARRAYS = ("x", "target", "mask", "weight", "pos_weight")
#: class indices over the last axis take :func:`fused_cross_entropy` (tests
#: switch it off to check the portable code on JAX too; read at trace time)
FUSED = True


@functools.lru_cache(maxsize=256)
def _compiled(static: tuple[tuple[str, Any], ...]) -> Any:
    import jax
    import jax.numpy as jnp

    from .jax import JaxOps

    def fn(x: Any, target: Any, mask: Any, weight: Any, pos_weight: Any) -> Any:
        call = LossCall(x=x, target=target, mask=mask, weight=weight, pos_weight=pos_weight,
                        compute_dtype=x.dtype, result_dtype=x.dtype, **dict(static))  # fmt: skip
        if FUSED and fused_gap(call) is None:
            return fused_cross_entropy(call)
        return run_loss_core(call, JaxOps(jnp))

    return jax.jit(fn)


def run_portable(call: LossCall) -> Any:
    arrays = [getattr(call, name) for name in _ARRAYS]
    static = tuple(
        (f.name, getattr(call, f.name))
        for f in dataclasses.fields(call)
        if f.name not in _ARRAYS and f.name not in ("compute_dtype", "result_dtype")
    )
    return _compiled(static)(*arrays)


# -- class indices over the last axis: one fused pass each way --------------------------------
def fused_gap(call: LossCall) -> str | None:
    """None if :func:`_fused_index_loss` serves ``call``: cross-entropy with class
    indices over the last axis.  The portable code's ``argmax``, masks and
    selects over the whole logits keep XLA:CPU from fusing its passes (4x
    optax's ``jit(grad(...))`` at (1024, 8192) float32); this is the same
    arithmetic in the fusion-friendly form of :func:`.jax._log1p_parts`."""
    if call.func != "cross_entropy" or call.kind != "index":
        return "class indices only"
    if call.axis != len(call.x.shape) - 1:
        return "the classes on the last axis only"
    return None


def _per_sample(x: Any, t: Any, w: Any, eps: float) -> tuple[Any, dict[str, Any]]:
    """(per-sample loss, the pieces its tangent needs); rows over the last axis.

    ``T`` is ``sum(e - floor(e)) + (sum(floor(e)) - 1)`` with ``e = exp(x - m)``
    (floor marks the maxima without a compare), ``L = log1p(T)``; the loss is
    ``(1 - eps) w_t (L - z_t) + eps / C' sum_j w_j (L - z_j)`` over the ``C'``
    classes with a finite logit, each term non-negative.
    """
    import jax.numpy as jnp

    from .jax import _log1p_parts

    m, big_t = _log1p_parts(x, (x.ndim - 1,))
    ok = jnp.isfinite(m)
    shift = jnp.where(ok, m, 0)
    norm = jnp.log1p(jnp.where(ok, big_t, 0))
    z_t = jnp.take_along_axis(x, t[..., None], axis=-1) - shift
    w_t = jnp.ones_like(z_t) if w is None else w[t][..., None]
    loss = (1 - eps) * w_t * (norm - z_t)
    parts = {"shift": shift, "norm": norm, "ok": ok, "w_t": w_t, "z_t": z_t}
    if eps > 0:
        live = x > -jnp.inf
        count = jnp.maximum(jnp.sum(live, axis=-1, keepdims=True, dtype=x.dtype), 1)
        wl = live if w is None else jnp.where(live, w, 0)
        w_all = jnp.sum(wl, axis=-1, keepdims=True, dtype=x.dtype)
        gap = jnp.sum(jnp.where(live, shift - x, 0) * (1 if w is None else w), axis=-1,
                      keepdims=True)  # fmt: skip
        share = eps / count
        loss = loss + share * (norm * w_all + gap)
        parts.update(live=live, share=share, w_all=w_all)
    loss = jnp.where(ok, loss, jnp.nan)  # NaN, +inf or only -inf in the row
    return loss[..., 0], parts


def _tangent_weights(x: Any, t: Any, w: Any, eps: float, parts: dict[str, Any]) -> Any:
    """``G = A p - a`` (the per-sample loss's gradient), with the entry at the
    target replaced by ``(A - a_t) + A expm1(z_t - L)`` where the target is the
    maximum and holds most of the mass (``p_t - 1`` would cancel there)."""
    import jax.numpy as jnp

    shift, norm, ok, w_t = parts["shift"], parts["norm"], parts["ok"], parts["w_t"]
    target = (1 - eps) * w_t  # a_t without the smoothing share (g has that)
    a_t = total = target
    p = jnp.exp(x - shift - norm)
    if eps > 0:
        smooth = parts["share"] * (parts["live"] if w is None else jnp.where(parts["live"], w, 0))
        total = total + parts["share"] * parts["w_all"]
        g = total * p - smooth
        a_t = a_t + parts["share"] * w_t
    else:
        g = total * p
    g = jnp.where(ok, g, 0)
    idx = (*jnp.indices(t.shape, sparse=True), t)
    pivot = jnp.logical_and(parts["z_t"] == 0, a_t + a_t > total)[..., 0]
    # expm1(z_t - L), not expm1(-L): the same value (z_t is 0 here), but its
    # derivative (hessian) also sees z_t move where the maximum is tied
    fixed = jnp.where(pivot, ((total - a_t) + total * jnp.expm1(parts["z_t"] - norm))[..., 0],
                      g[idx] - target[..., 0])  # fmt: skip
    return g.at[idx].set(jnp.where(ok[..., 0], fixed, 0))


@functools.lru_cache(maxsize=1)
def _fused_index_loss() -> Any:
    """The per-sample loss as a ``custom_jvp`` (``jacfwd``/``hessian`` work; the
    tangent is ``sum_j G_j dx_j`` with G from :func:`_tangent_weights`)."""
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
    def loss(x: Any, t: Any, w: Any, eps: float) -> Any:
        return _per_sample(x, t, w, eps)[0]

    @loss.defjvp
    def _jvp(eps: float, primals: Any, tangents: Any) -> Any:
        x, t, w = primals
        dx = tangents[0]
        out, parts = _per_sample(x, t, w, eps)
        g = _tangent_weights(x, t, w, eps, parts)
        # d/dw: (1 - eps) (L - z_t) at t, eps / C' (L - z_j) on the live classes
        dout = jnp.sum(g * dx, axis=-1)
        if w is not None and not isinstance(tangents[2], jax.custom_derivatives.SymbolicZero):
            dout = dout + _weight_tangent(x, t, eps, parts, tangents[2])
        return out, dout

    return loss


def _weight_tangent(x: Any, t: Any, eps: float, parts: dict[str, Any], dw: Any) -> Any:
    import jax.numpy as jnp

    shift, norm, z_t = parts["shift"], parts["norm"], parts["z_t"]
    out = (1 - eps) * (norm - z_t)[..., 0] * dw[t]
    if eps > 0:
        neg = jnp.where(parts["live"], norm - (x - shift), 0)
        out = out + parts["share"][..., 0] * jnp.sum(neg * dw, axis=-1)
    return jnp.where(parts["ok"][..., 0], out, jnp.nan)


def fused_cross_entropy(call: LossCall) -> Any:
    """Cross-entropy with class indices over the last axis through the fused loss."""
    import jax.numpy as jnp

    from .._losses import reduce_loss
    from .jax import JaxOps

    t: Any = call.target
    live = call.mask
    if call.ignore_index is not None:
        kept = t != call.ignore_index
        live = kept if live is None else jnp.logical_and(live, kept)
    n = call.x.shape[-1]
    in_range = jnp.logical_and(t >= 0, t < n)
    safe = jnp.where(in_range if live is None else jnp.logical_and(live, in_range), t, 0)
    per = _fused_index_loss()(call.x, safe.astype(jnp.int32 if n < 2**31 else t.dtype),
                              call.weight, call.label_smoothing)  # fmt: skip
    w_t = jnp.ones_like(per) if call.weight is None else call.weight[safe]
    if live is not None:
        per = jnp.where(live, per, 0)
        w_t = jnp.where(live, w_t, 0)
    bad = jnp.logical_not(in_range) if live is None else jnp.logical_and(live, ~in_range)
    per = jnp.where(bad, jnp.nan, per)
    return reduce_loss(per, w_t, call.reduction, JaxOps(jnp))
