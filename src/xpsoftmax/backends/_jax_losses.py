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

    The loss is ``(1 - eps) w_t (L - z_t) + eps / C' sum_j w_j (L - z_j)`` over
    the ``C'`` classes with a finite logit, each term non-negative, with ``z =
    x - m`` and ``L = log(sum(exp(z)))``.  The sum leaves the target's own term
    out, ``S = sum_{j != t} exp(z_j)`` (one scatter into ``exp(z)``, which the
    tangent reuses): where the target is the maximum (``z_t = 0``) ``L =
    log1p(S)`` is the log1p form itself, so a confident prediction keeps its
    tiny loss; elsewhere ``L = log(S + exp(z_t))`` is a few eps off in absolute
    terms while the loss is at least ``log 2``.  No argmax, floor or mask over
    the logits: XLA:CPU runs those as scalar code (5-8x slower passes), and
    fuses this the way it fuses optax's ``log_softmax``.
    """
    import jax
    import jax.numpy as jnp

    axis = x.ndim - 1
    m = jnp.max(x, axis=axis, keepdims=True)
    ok = jnp.isfinite(m)
    shift = jnp.where(ok, m, 0)
    # the target's position in every row, from iotas (symbolic shapes allowed)
    idx = (*(jax.lax.broadcasted_iota(t.dtype, t.shape, d) for d in range(t.ndim)), t)
    e0 = jnp.exp(x - shift).at[idx].set(0, unique_indices=True)
    rest = jnp.sum(e0, axis=axis, keepdims=True)
    z_t = jnp.take_along_axis(x, t[..., None], axis=-1) - shift
    # log1p(rest) where z_t is 0, and a form whose derivative is right at ties
    norm = jnp.where(ok, jnp.log1p(rest + jnp.expm1(z_t)), 0)
    w_t = jnp.ones_like(z_t) if w is None else w[t][..., None]
    loss = (1 - eps) * w_t * (norm - z_t)
    parts: dict[str, Any] = {"ok": ok, "w_t": w_t, "z_t": z_t, "e0": e0, "norm": norm,
                             "idx": idx, "shift": shift}  # fmt: skip
    if eps > 0:
        live, count, wl, w_all, gap = _smoothing_sums(x, shift, w)
        share = eps / count
        loss = loss + share * (norm * w_all + gap)
        parts.update(share=share, w_all=w_all, live=live,
                     wl0=wl.at[idx].set(0, unique_indices=True))  # fmt: skip
    loss = jnp.where(ok, loss, jnp.nan)  # NaN, +inf or only -inf in the row
    return loss[..., 0], parts


def _smoothing_sums(x: Any, shift: Any, w: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(the classes with a finite logit, their number C' (at least 1), their
    weights, the weights' sum, ``sum_j w_j (m - x_j)`` over them): the
    smoothing term is ``eps / C' (L sum_j w_j + that)``, non-negative terms."""
    import jax.numpy as jnp

    live = x > -jnp.inf
    count = jnp.maximum(jnp.sum(live, axis=-1, keepdims=True, dtype=x.dtype), 1)
    wl = live.astype(x.dtype) if w is None else jnp.where(live, w, 0)
    w_all = jnp.sum(wl, axis=-1, keepdims=True)
    gap = jnp.sum(jnp.where(live, shift - x, 0) * (1 if w is None else w), axis=-1,
                  keepdims=True)  # fmt: skip
    return live, count, wl, w_all, gap


def _exact_loss(x: Any, t: Any, w: Any, eps: float) -> Any:
    return _per_sample(x, t, w, eps)[0]


def _plain_loss(x: Any, t: Any, w: Any, eps: float) -> tuple[Any, Any]:
    """(the loss from the plain ``log(sum(exp(z)))``, the rows where that is not
    accurate enough: a target term, or the smoothing's mean term, below 1)."""
    import jax.numpy as jnp

    axis = x.ndim - 1
    m = jnp.max(x, axis=axis, keepdims=True)
    ok = jnp.isfinite(m)
    shift = jnp.where(ok, m, 0)
    norm = jnp.log(jnp.where(ok, jnp.sum(jnp.exp(x - shift), axis=axis, keepdims=True), 1))
    z_t = jnp.take_along_axis(x, t[..., None], axis=-1) - shift
    w_t = jnp.ones_like(z_t) if w is None else w[t][..., None]
    small = norm - z_t < 1
    loss = (1 - eps) * w_t * (norm - z_t)
    if eps > 0:
        _, count, _, w_all, gap = _smoothing_sums(x, shift, w)
        small = jnp.logical_or(small, norm * w_all + gap < w_all)
        loss = loss + eps / count * (norm * w_all + gap)
    loss = jnp.where(ok, loss, jnp.nan)
    return loss[..., 0], jnp.logical_and(small, ok)


def _tangent(x: Any, t: Any, w: Any, eps: float, parts: dict[str, Any], dx: Any) -> Any:
    """``sum_j G_j dx_j`` with ``G = A p - a`` (the per-sample loss's gradient),
    its entry at the target ``G_t`` apart: ``(A - a_t) + A expm1(z_t - L)``
    where the target is the maximum and holds most of the mass (``A p_t - a_t``
    would cancel there), else ``A p_t - a_t``.

    The dense part is 0 at the target (``exp(z)`` with the target's term left
    out), so the transpose (what ``grad`` runs) is one fused pass ``ct (A p -
    smoothing)`` and one scatter adding ``ct G_t`` into a 0: as optax's.
    """
    import jax.numpy as jnp

    norm, ok, w_t, z_t, idx = parts["norm"], parts["ok"], parts["w_t"], parts["z_t"], parts["idx"]
    target = (1 - eps) * w_t  # a_t without the smoothing share
    a_t = total = target
    scale = jnp.exp(-norm)
    if eps > 0:
        total = total + parts["share"] * parts["w_all"]
        a_t = a_t + parts["share"] * w_t
        g = total * scale * parts["e0"] - parts["share"] * parts["wl0"]
    else:
        g = total * scale * parts["e0"]
    g = jnp.where(ok, g, 0)  # a NaN or +inf row (perhaps not live): no NaN cotangents
    pivot = jnp.logical_and(z_t == 0, a_t + a_t > total)
    # expm1(z_t - L), not expm1(-L): the same value (z_t is 0 here), but its
    # derivative (hessian) also sees z_t move where the maximum is tied
    g_t = jnp.where(pivot, (total - a_t) + total * jnp.expm1(z_t - norm),
                    total * jnp.exp(z_t - norm) - a_t)  # fmt: skip
    g_t = jnp.where(ok, g_t, 0)[..., 0]
    return jnp.sum(g * dx, axis=-1) + g_t * dx[idx]


@functools.lru_cache(maxsize=1)
def _fused_index_loss() -> Any:
    """The per-sample loss as a ``custom_jvp`` (``jacfwd``/``hessian`` work; the
    tangent is ``sum_j G_j dx_j`` from :func:`_tangent`)."""
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
    def loss(x: Any, t: Any, w: Any, eps: float) -> Any:
        # the value alone (no derivative asked): the plain fused log-sum-exp,
        # optax's one pass, unless some row's target term is below 1 (then
        # the target-excluded sum, which materialises exp(z): 4x the time)
        plain, small = _plain_loss(x, t, w, eps)
        exact = functools.partial(_exact_loss, t=t, w=w, eps=eps)
        return jax.lax.cond(jnp.any(small), exact, lambda x: plain, x)

    @loss.defjvp
    def _jvp(eps: float, primals: Any, tangents: Any) -> Any:
        x, t, w = primals
        dx = tangents[0]
        out, parts = _per_sample(x, t, w, eps)
        dout = _tangent(x, t, w, eps, parts, dx)
        # d/dw: (1 - eps) (L - z_t) at t, eps / C' (L - z_j) on the live classes
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
