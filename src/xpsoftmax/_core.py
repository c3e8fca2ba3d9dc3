"""The one portable implementation of softmax, log_softmax and logsumexp.

Everything here is written against the Python array API standard: it receives
the array namespace ``xp`` and imports no array library.  Backend adapters pass
an :class:`Ops` object that may add what the standard lacks (a stop-gradient,
in-place updates of buffers this module allocated); the arithmetic is the same
for every backend.

Algorithm (Blanchard, Higham & Higham, "Accurately computing the log-sum-exp
and softmax functions", IMA J. Numer. Anal. 41(4), 2021):

* shift every slice by its maximum ``m`` so no exponential overflows;
* softmax divides ``exp(x - m)`` by its sum;
* log_softmax and logsumexp use ``log1p(s)`` where ``s`` is the sum of the
  exponentials *other than* those of the maximal entries, so that a slice with
  one dominant entry keeps full relative accuracy (``log_softmax([0, -30])``
  gives ``-9.36e-14`` at the top entry, not ``0``).

Special values follow IEEE propagation, as every framework does: a NaN makes
its slice NaN; a slice that holds ``+inf`` gives NaN for softmax/log_softmax
and ``+inf`` for logsumexp; a slice of only ``-inf`` gives NaN for
softmax/log_softmax (0/0) and ``-inf`` for logsumexp.  With a ``mask``, masked
entries take no part, their output is the fill value (0, or -inf for
log_softmax), and a fully masked slice gives 0 / -inf / -inf with zero
gradients.

There is no Python control flow on array *values* anywhere in this module,
only on shapes and arguments, so it traces under ``jax.jit``/``vmap``/``grad``,
``torch.compile`` and keeps Dask arrays lazy.
"""

from __future__ import annotations

import math
from typing import Any

Array = Any
Namespace = Any


class Ops:
    """The hooks an adapter may override; the defaults use the standard only.

    Methods whose names end in ``_`` receive a buffer allocated by this module
    (never the caller's input) and may overwrite it; the defaults return a new
    array, which is what immutable backends (JAX) need.
    """

    def __init__(self, xp: Namespace) -> None:
        self.xp = xp

    def stop_gradient(self, a: Array) -> Array:
        # Softmax is invariant to the shift, so its gradient through the max is
        # zero in exact arithmetic: cutting it is cheaper and avoids the
        # max's tie-splitting rules.
        return a

    def sub(self, a: Array, b: Array) -> Array:
        """``a - b`` into a new buffer that the caller then owns."""
        return a - b

    def sub_(self, a: Array, b: Array) -> Array:
        return a - b

    def exp_(self, a: Array) -> Array:
        return self.xp.exp(a)

    def exp(self, a: Array) -> Array:
        """``exp(a)`` into a new buffer that the caller then owns."""
        return self.xp.exp(a)

    def equal_as(self, a: Array, b: Array, dtype: Any) -> Array:
        """``astype(a == b, dtype)`` into a new buffer that the caller then owns."""
        return self.xp.astype(a == b, dtype)

    def sum_except_max(
        self, e: Array, xm: Array, mx: Array, axes: tuple[int, ...]
    ) -> tuple[Array, Array]:
        """``(sum(e - is_max), sum(is_max))`` over ``axes`` (kept), in e's dtype.

        ``is_max = astype(xm == mx, e.dtype)`` marks the maximal entries.
        ``e`` is a buffer this module allocated and may be overwritten.  An
        override must return the same values (NumPy's counts the maxima
        without a float temporary).
        """
        xp = self.xp
        is_max = self.equal_as(xm, mx, e.dtype)
        total = xp.sum(self.sub_(e, is_max), axis=axes, keepdims=True)
        return total, xp.sum(is_max, axis=axes, keepdims=True)

    def div_(self, a: Array, b: Array) -> Array:
        return a / b

    def fill_where_not_(self, a: Array, mask: Array, value: float) -> Array:
        """``where(mask, a, value)``."""
        return self.xp.where(mask, a, self.scalar(value, a))

    def scalar(self, value: float, like: Array) -> Array:
        xp = self.xp
        return xp.asarray(value, dtype=like.dtype, device=_device(like))


def _device(a: Array) -> Any:
    # the standard's ``.device`` attribute; array-api-compat adds it where a
    # library lacks it, but the core may be handed a bare standard namespace
    return getattr(a, "device", None)


def _masked_input(x: Array, mask: Array | None, ops: Ops) -> Array:
    if mask is None:
        return x
    return ops.xp.where(mask, x, ops.scalar(-math.inf, x))


def _shift(xm: Array, axes: tuple[int, ...], ops: Ops) -> tuple[Array, Array]:
    """Return (slice maximum, the shift actually subtracted).

    The shift is the maximum where that is finite and 0 elsewhere, so that
    ``inf - inf`` never manufactures a NaN the rules above do not ask for.
    """
    xp = ops.xp
    mx = xp.max(xm, axis=axes, keepdims=True)
    shift = xp.where(xp.isfinite(mx), mx, ops.scalar(0.0, mx))
    return mx, ops.stop_gradient(shift)


def softmax(x: Array, axes: tuple[int, ...], mask: Array | None, ops: Ops) -> Array:
    """Softmax of ``x`` over ``axes`` (a non-empty tuple of non-negative ints).

    ``x`` is a real floating array already in the compute dtype; ``mask`` is a
    boolean array of x's shape or None.
    """
    xp = ops.xp
    xm = _masked_input(x, mask, ops)
    mx, shift = _shift(xm, axes, ops)
    e = ops.exp_(ops.sub(xm, shift))
    total = softmax_total(xp.sum(e, axis=axes, keepdims=True), mx, ops)
    if mask is None:
        return ops.div_(e, total)
    # a fully masked slice has total 0: divide by 1 instead, so values are 0
    # and gradients stay finite
    live = xp.any(mask, axis=axes, keepdims=True)
    total = xp.where(live, total, ops.scalar(1.0, total))
    return ops.fill_where_not_(ops.div_(e, total), mask, 0.0)


def softmax_total(total: Array, mx: Array, ops: Ops) -> Array:
    """The divisor of softmax from the plain sum of ``exp(x - shift)``."""
    xp = ops.xp
    # a slice holding +inf: IEEE propagation makes the whole slice NaN
    return xp.where(mx == math.inf, ops.scalar(math.nan, total), total)


def log_norm(t: Array, count: Array, mx: Array, ops: Ops) -> Array:
    """log(sum(exp(x - shift))) in log1p form, from ``sum_except_max``'s pair.

    Adapters that accumulate ``(t, count)`` over pieces of a slice (NumPy's
    blocks along a reduced axis) finish here, so the formula stays this one.
    """
    xp = ops.xp
    # e == 1 exactly at the maximal entries of a finite slice, so e - is_max is
    # exactly the terms other than the maxima (the max's own term still carries
    # its gradient, exp(x_k - shift) = 1, through e).  Adding (count - 1) puts
    # the ties back: t = sum(exp(x - m)) - 1, computed without cancellation.
    t = t + (count - 1.0)
    # A slice of only -inf (or fully masked) has no mass: log-sum is -inf.
    # The inner where keeps log1p away from -1 so the gradient stays finite.
    has_mass = mx != -math.inf
    t = xp.where(has_mass, t, ops.scalar(0.0, t))
    return xp.where(has_mass, xp.log1p(t), ops.scalar(-math.inf, t))


def _log_normalizer(
    x: Array, axes: tuple[int, ...], mask: Array | None, ops: Ops, keep_z: bool
) -> tuple[Array | None, Array, Array, Array]:
    """Return (z = xm - shift if keep_z, slice max, shift, log(sum(exp(z)))).

    The log-sum is in log1p form.
    """
    xm = _masked_input(x, mask, ops)
    mx, shift = _shift(xm, axes, ops)
    z = ops.sub(xm, shift)
    e = ops.exp(z) if keep_z else ops.exp_(z)
    t, count = ops.sum_except_max(e, xm, mx, axes)
    return (z if keep_z else None), mx, shift, log_norm(t, count, mx, ops)


def log_softmax(x: Array, axes: tuple[int, ...], mask: Array | None, ops: Ops) -> Array:
    """log(softmax(x)) over ``axes``, with the log1p form of log-sum-exp."""
    z, mx, _, norm = _log_normalizer(x, axes, mask, ops, keep_z=True)
    out = ops.sub_(z, log_softmax_norm(norm, mx, ops))
    if mask is None:
        return out
    return ops.fill_where_not_(out, mask, -math.inf)


def log_softmax_norm(norm: Array, mx: Array, ops: Ops) -> Array:
    """What log_softmax subtracts from ``x - shift``, from :func:`log_norm`."""
    xp = ops.xp
    # IEEE propagation for a slice holding +inf (inf - inf), as for softmax
    return xp.where(mx == math.inf, ops.scalar(math.nan, norm), norm)


def logsumexp(
    x: Array, axes: tuple[int, ...], mask: Array | None, keepdims: bool, ops: Ops
) -> Array:
    """log(sum(exp(x))) over ``axes``, with the log1p form."""
    xp = ops.xp
    _, _, shift, norm = _log_normalizer(x, axes, mask, ops, keep_z=False)
    out = shift + norm
    if not keepdims:
        out = xp.squeeze(out, axis=axes)
    return out
