"""The one portable implementation of the losses: cross-entropy, binary cross-entropy, log-sigmoid.

Like :mod:`xpsoftmax._core` it receives the array namespace (through an
:class:`~xpsoftmax._core.Ops`) and imports no array library; inputs arrive
checked (:mod:`xpsoftmax._loss_args`) and in the compute dtype.  There is no
Python control flow on array values or on shapes, only on arguments, so it
traces under ``jax.jit``/``vmap``/``grad``/``jax.export``, ``torch.compile``
(dynamic shapes included), ``tf.function`` and keeps Dask arrays lazy.

Cross-entropy as a weighted sum of negative log-probabilities
--------------------------------------------------------------
Every form of the loss (class indices, class probabilities, label smoothing,
class weights) is, per sample, ``sum_j a_j * (-log p_j)`` with non-negative
*entry weights* ``a`` (:func:`index_entry_weights`, :func:`probs_entry_weights`):
class indices with smoothing ``eps`` give ``a = (1 - eps) w_t [j = t] +
eps w_j / C'`` (torch's definition, ``C'`` the classes with a finite logit),
probabilities ``a = w_j ((1 - eps) q_j + eps / C')``.

:func:`weighted_nll` computes it from the slice maximum ``m`` at index ``k``
(the first maximum), ``z = x - m`` and ``T = sum_{j != k} exp(z_j)``:
``-log p_j = log1p(T) - z_j``, a sum of two non-negative numbers, so every
term and the weighted sum are accurate to a few ulps; ``[30, 0, 0]`` with
target 0 gives ``log1p(2 exp(-30)) = 1.8715e-13`` where ``log(sum(exp))``
gives 0 (torch, optax, TensorFlow).

The gradient is ``A p - a`` (``A = sum a``).  Plain autodiff of the shifted
form computes ``p_k - 1`` at the maximum, which cancels when ``p_k`` is near
1 (a confident prediction: the exact ``-2 exp(-30)`` comes out as 0 or as
rounding noise).  Where the target's mass sits mostly at the maximum
(``2 a_k > A``), the row is differentiated through a *pivot*: the shift
carries the gradient of ``x_k`` and the maximum's own term is left out of
``T``, so the derivative at ``k`` comes out as ``sum_{j != k} a_j - A T / (1
+ T)``, sums of like-signed terms (for class indices: ``-T / (1 + T)``, i.e.
``expm1(-loss)``), and every other derivative as ``A p_j - a_j``.  Elsewhere
(``p_k`` then matters less than the target's own mass) the plain shifted form
is kept: through the pivot, ``p_k`` itself would come out as ``1 - T/(1+T)``,
which cancels when ``p_k`` is small.  The choice is a ``where`` on values
already computed (no branch), and both forms have the same value.

Special values: a slice holding NaN or ``+inf``, or only ``-inf``, gives NaN
(as log_softmax does); ``-inf`` logits elsewhere (a masked vocabulary) are
exact zeros of probability: an entry with ``a_j = 0`` contributes 0 to the
value and to every gradient, so neither is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._core import Ops

Array = Any

LOSS_FUNCS = ("cross_entropy", "binary_cross_entropy", "log_sigmoid")


@dataclass(frozen=True)
class LossCall:
    """One checked call of a loss (:mod:`xpsoftmax._loss_args`), arrays in the compute dtype.

    ``target`` is class indices (``kind`` "index", any integer dtype) or
    probabilities ("probs"), or binary_cross_entropy's target; ``mask`` the
    samples (cross_entropy) or elements (binary_cross_entropy) that count;
    ``ignore_index`` None where the target's dtype cannot hold it.
    """

    func: str
    x: Array
    target: Array | None
    compute_dtype: Any
    result_dtype: Any
    reduction: str
    mask: Array | None
    kind: str = ""
    axis: int = -1
    weight: Array | None = None
    pos_weight: Array | None = None
    ignore_index: int | None = None
    label_smoothing: float = 0.0


def run_loss_core(call: LossCall, ops: Ops) -> Array:
    """The portable implementation of ``call``."""
    if call.func == "log_sigmoid":
        return log_sigmoid(call.x, ops)
    if call.func == "binary_cross_entropy":
        return binary_cross_entropy(
            call.x, call.target, call.weight, call.pos_weight, call.reduction, call.mask, ops
        )
    return cross_entropy(
        call.x, call.target, call.kind, call.axis, call.weight, call.ignore_index,
        call.label_smoothing, call.reduction, call.mask, ops,
    )  # fmt: skip


def _squeeze(a: Array, axis: int, ops: Ops) -> Array:
    return ops.xp.squeeze(a, axis=axis)


def class_positions(x: Array, axis: int, idx_dtype: Any, ops: Ops) -> Array:
    """``arange(C)`` in ``idx_dtype``, shaped to broadcast along ``axis`` of ``x``."""
    xp = ops.xp
    n = x.shape[axis]
    if hasattr(xp, "arange"):
        pos = xp.arange(n, dtype=idx_dtype, device=getattr(x, "device", None))
    else:  # pydata sparse 0.19 has no arange
        pos = xp.asarray(list(range(n)), dtype=idx_dtype, device=getattr(x, "device", None))
    shape = tuple(-1 if i == axis else 1 for i in range(len(x.shape)))
    return xp.reshape(pos, shape)


def live_classes(x: Array, axis: int, ops: Ops) -> tuple[Array, Array]:
    """(the entries with a logit other than -inf, their number per sample as a float
    of x's dtype (kept dims), at least 1)."""
    xp = ops.xp
    live = x != -math.inf
    count = xp.sum(xp.astype(live, x.dtype), axis=axis, keepdims=True)
    return live, xp.where(count > 0, count, ops.scalar(1.0, count))


def _along(v: Array, axis: int, ndim: int, ops: Ops) -> Array:
    """A 1-D per-class array shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    shape = tuple(-1 if i == axis else 1 for i in range(ndim))
    return ops.xp.reshape(v, shape)


def index_dtype(x: Array, ops: Ops) -> Any:
    """The namespace's default index dtype (int64; int32 under JAX without x64)."""
    xp = ops.xp
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        try:
            return info().default_dtypes(device=getattr(x, "device", None))["indexing"]
        except (TypeError, ValueError, KeyError):
            return info().default_dtypes()["indexing"]
    return xp.int64


def index_entry_weights(
    x: Array,
    target: Array,
    live: Array | None,
    axis: int,
    weight: Array | None,
    label_smoothing: float,
    ops: Ops,
) -> tuple[Array, Array, Array]:
    """(a, w_t, in_range) for class indices ``target`` (x's shape without ``axis``).

    ``live`` (the samples' shape, None: all) marks the samples that count; an
    index outside [0, C) makes ``in_range`` False there.  ``a`` is zero on the
    samples that are not live; ``w_t`` is the target class's weight (1 without
    ``weight``; 0 where not live), the mean's denominator.
    """
    xp = ops.xp
    n_classes = x.shape[axis]
    idx = index_dtype(x, ops)
    # positions are compared in the index dtype: a narrow target dtype (uint8)
    # would wrap arange(C) around onto real indices
    safe = xp.astype(target, idx)
    if live is not None:
        safe = xp.where(live, safe, xp.zeros_like(safe))
    is_t = class_positions(x, axis, idx, ops) == xp.expand_dims(safe, axis=axis)
    if isinstance(n_classes, int) or _is_symbolic(n_classes):
        in_range = xp.logical_and(safe >= 0, safe < n_classes)
    else:  # an unknown (Dask nan) or unset (TF None) length: no class matched
        in_range = xp.any(is_t, axis=axis)
    zero = ops.scalar(0.0, x)
    keep = ops.scalar(1.0 - label_smoothing, x)
    w_b = None if weight is None else _along(weight, axis, len(x.shape), ops)
    if w_b is None:
        a = xp.where(is_t, keep, zero)
        w_t = xp.ones_like(xp.astype(safe, x.dtype)) if live is None else xp.astype(live, x.dtype)
    else:
        a = xp.where(is_t, keep * w_b, zero)
        w_t = _squeeze(xp.sum(xp.where(is_t, w_b, zero), axis=axis, keepdims=True), axis, ops)
        if live is not None:
            w_t = xp.where(live, w_t, xp.zeros_like(w_t))
    if label_smoothing > 0.0:
        a = a + _smoothing_weights(x, axis, w_b, label_smoothing, ops)
    if live is not None:
        a = a * xp.expand_dims(xp.astype(live, x.dtype), axis=axis)
    return a, w_t, in_range


def _is_symbolic(n: Any) -> bool:
    # torch SymInt, jax.export's symbolic dimensions: not a Python int, not
    # Dask's nan, not TF's None
    return n is not None and not isinstance(n, float)


def _smoothing_weights(
    x: Array, axis: int, w_b: Array | None, label_smoothing: float, ops: Ops
) -> Array:
    """``eps w_j / C'`` on the classes with a finite logit, 0 on the -inf ones."""
    xp = ops.xp
    live_cls, count = live_classes(x, axis, ops)
    share = ops.scalar(label_smoothing, x) / count
    s = xp.where(live_cls, share, ops.scalar(0.0, x))
    return s if w_b is None else s * w_b


def probs_entry_weights(
    x: Array,
    probs: Array,
    live: Array | None,
    axis: int,
    weight: Array | None,
    label_smoothing: float,
    ops: Ops,
) -> Array:
    """``a`` for class probabilities ``probs`` (x's shape), zero on samples not
    ``live`` (None: all)."""
    xp = ops.xp
    q = probs
    if label_smoothing > 0.0:
        q = ops.scalar(1.0 - label_smoothing, x) * q + _smoothing_weights(
            x, axis, None, label_smoothing, ops
        )
    if weight is not None:
        q = q * _along(weight, axis, len(x.shape), ops)
    if live is not None:
        q = q * xp.expand_dims(xp.astype(live, x.dtype), axis=axis)
    return q


def weighted_nll(x: Array, a: Array, axis: int, ops: Ops) -> Array:
    """Per sample ``sum_j a_j * (-log softmax(x)_j)`` over ``axis`` (kept, length 1).

    See the module docstring for the pivot that keeps the gradient accurate.
    An entry with ``a_j == 0`` contributes exactly 0 (also at a -inf logit).
    """
    xp = ops.xp
    zero = ops.scalar(0.0, x)
    mx = xp.max(x, axis=axis, keepdims=True)
    finite_row = xp.isfinite(mx)
    shift = ops.stop_gradient(xp.where(finite_row, mx, zero))
    z = x - shift
    k = xp.argmax(x, axis=axis, keepdims=True)
    is_k = class_positions(x, axis, k.dtype, ops) == k
    total_a = xp.sum(a, axis=axis, keepdims=True)
    a_k = xp.sum(xp.where(is_k, a, zero), axis=axis, keepdims=True)
    pivot_row = xp.logical_and(a_k + a_k > total_a, finite_row)
    # z_k is 0 in value; through it the shift carries x_k's gradient in pivot rows
    z_k = xp.sum(xp.where(is_k, z, zero), axis=axis, keepdims=True)
    pivot = xp.where(pivot_row, z_k, xp.zeros_like(z_k))
    d = z - pivot
    e = ops.exp(d)
    # the maximum's own term: left out in pivot rows, else e_k - 1 = 0
    # exactly, which still carries the gradient p_k
    k_term = xp.where(pivot_row, zero, e - ops.scalar(1.0, e))
    t = xp.sum(xp.where(is_k, k_term, e), axis=axis, keepdims=True)
    has_mass = mx != -math.inf
    t = xp.where(has_mass, t, xp.zeros_like(t))
    norm = xp.log1p(t)
    # -log p_k is the norm alone in pivot rows (d_k is 0 there): were d_k
    # kept, its cotangent would join the pivot's sum and cancel against it
    # (ops.sub: inf - inf in a row holding +inf is NaN, quietly, as documented)
    neg_logp = ops.sub(norm, xp.where(xp.logical_and(is_k, pivot_row), zero, d))
    # a_j == 0 on a -inf logit contributes 0 (not 0 * inf), and so do its
    # gradients (elsewhere d/da_j = -log p_j stays, also at a_j == 0)
    neg_logp = xp.where(xp.logical_and(a == 0, d == -math.inf), zero, neg_logp)
    loss = xp.sum(a * neg_logp, axis=axis, keepdims=True)
    bad = xp.logical_or(xp.logical_not(has_mass), xp.logical_not(mx < math.inf))
    return xp.where(bad, ops.scalar(math.nan, loss), loss)


def reduce_loss(per_sample: Array, denominator: Array, reduction: str, ops: Ops) -> Array:
    """``none``: ``per_sample``; ``sum``: its sum; ``mean``: its sum over the sum of
    ``denominator`` (the live samples' weights), 0 where that is 0 (no live
    sample: torch gives NaN), with zero gradients there."""
    xp = ops.xp
    if reduction == "none":
        return per_sample
    total = xp.sum(per_sample)
    if reduction == "sum":
        return total
    den = xp.sum(denominator)
    nonzero = den != 0
    safe = xp.where(nonzero, den, ops.scalar(1.0, den))
    return xp.where(nonzero, total / safe, ops.scalar(0.0, total))


def cross_entropy(
    x: Array,
    target: Array,
    kind: str,
    axis: int,
    weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    reduction: str,
    mask: Array | None,
    ops: Ops,
) -> Array:
    """Cross-entropy of logits ``x`` (compute dtype) with ``target`` over ``axis``.

    ``kind`` is "index" (``target`` integer class indices, x's shape without
    ``axis``; ``ignore_index`` None where the target's dtype cannot hold it) or
    "probs" (``target`` class probabilities in x's dtype, x's shape).
    ``mask`` (the samples' shape) False leaves a sample out, as an ignored
    target does.  A class index out of range gives NaN for its sample.
    """
    xp = ops.xp
    live = mask
    in_range = None
    if kind == "index":
        if ignore_index is not None:
            kept = target != ignore_index
            live = kept if live is None else xp.logical_and(live, kept)
        a, den, in_range = index_entry_weights(x, target, live, axis, weight, label_smoothing, ops)
    else:
        a = probs_entry_weights(x, target, live, axis, weight, label_smoothing, ops)
    per = _squeeze(weighted_nll(x, a, axis, ops), axis, ops)
    if live is not None:
        # a sample left out counts 0, even where its logits are NaN
        per = xp.where(live, per, ops.scalar(0.0, per))
    if in_range is not None:
        out_of_range = xp.logical_not(in_range)
        if live is not None:
            out_of_range = xp.logical_and(live, out_of_range)
        per = xp.where(out_of_range, ops.scalar(math.nan, per), per)
    if kind != "index":
        den = xp.ones_like(per) if live is None else xp.astype(live, per.dtype)
    return reduce_loss(per, den, reduction, ops)


# -- two classes ---------------------------------------------------------------------------
def softplus(x: Array, ops: Ops) -> Array:
    """``log(1 + exp(x))`` without overflow or cancellation: ``max(x, 0) +
    log1p(exp(-|x|))``, a sum of non-negative terms.  Written with ``where``
    rather than ``maximum``/``abs`` so the derivative at 0 is 1/2 on every
    backend (their subgradients of max and abs at 0 differ)."""
    xp = ops.xp
    zero = ops.scalar(0.0, x)
    pos = x > 0
    neg_abs = xp.where(pos, -x, x)
    return xp.where(pos, x, zero) + xp.log1p(ops.exp(neg_abs))


def log_sigmoid(x: Array, ops: Ops) -> Array:
    """``log(1 / (1 + exp(-x))) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))``."""
    return -softplus(-x, ops)


def binary_cross_entropy(
    x: Array,
    y: Array,
    weight: Array | None,
    pos_weight: Array | None,
    reduction: str,
    mask: Array | None,
    ops: Ops,
) -> Array:
    """``pos_weight y softplus(-x) + (1 - y) softplus(x)``, times ``weight``.

    torch's ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)`` is the same
    function, but its ``x + softplus(-x)`` cancels for a confident negative
    (``x = -30, y = 0``: 0 in float32 instead of 9.4e-14); this form is two
    non-negative terms for ``y`` in [0, 1].  ``mask`` False leaves an element
    out (0, and not counted by the mean); the mean of nothing is 0.
    """
    xp = ops.xp
    zero = ops.scalar(0.0, x)
    one = ops.scalar(1.0, x)
    # a term whose coefficient is 0 contributes 0 also at an infinite logit
    # (softplus(inf) is inf: torch gives NaN for x = -inf, y = 0), and so do
    # its gradients
    pos_term = y * xp.where(xp.logical_and(y == 0, x == -math.inf), zero, softplus(-x, ops))
    if pos_weight is not None:
        pos_term = pos_weight * pos_term
    neg_term = (one - y) * xp.where(xp.logical_and(y == 1, x == math.inf), zero, softplus(x, ops))
    loss = pos_term + neg_term
    if weight is not None:
        loss = loss * weight
    if mask is None:
        count = xp.ones_like(loss)
    else:
        loss = xp.where(mask, loss, ops.scalar(0.0, loss))
        count = xp.astype(mask, loss.dtype)
    return reduce_loss(loss, count, reduction, ops)
