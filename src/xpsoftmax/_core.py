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

    def count(self, x: Array, axes: tuple[int, ...]) -> Array:
        """The number of entries of each slice over ``axes``, as an array like
        ``x``.  A length not known as an int (a symbolic ``jax.export``
        dimension, Dask after boolean indexing) is counted from the array; an
        override keeps a size that a tracer holds symbolic (torch's) symbolic:
        ``float()`` of it would fix the graph to one size."""
        sizes = [x.shape[a] for a in axes]
        if all(isinstance(k, int) for k in sizes):
            return self.scalar(float(math.prod(sizes)), x)
        xp = self.xp
        return xp.sum(xp.ones_like(x), axis=axes, keepdims=True)

    def where_nan(self, cond: Array, a: Array) -> Array:
        """``where(cond, NaN, a)`` for real ``a``: IEEE propagation's NaN where
        the rules above ask for one.  JAX's override makes no NaN where
        ``cond`` is nowhere true (``jax.debug_nans``)."""
        return self.xp.where(cond, self.scalar(math.nan, a), a)


def _device(a: Array) -> Any:
    # the standard's ``.device`` attribute; array-api-compat adds it where a
    # library lacks it, but the core may be handed a bare standard namespace
    return getattr(a, "device", None)


def _log1p(t: Array, ops: Ops) -> Array:
    """``log1p(t)`` for ``t >= -1``, within 3 ulps on every library measured.

    XLA's float64 log1p (JAX 0.10.2 on CPU) is up to 127 ulps off on about
    [-0.45, -0.35] (NumPy's and torch's are within 1 ulp), where weighted,
    signed, complex and logmeanexp results land (``logmeanexp([-0.531,
    -0.521, -0.551])`` was 126 ulps off on JAX).  Below -0.25, ``1 + t``
    is exact (Sterbenz, t <= -0.5) or one rounding of relative size u,
    which ``|log(1 + t)| > 0.28`` turns into at most 1.74 ulps, plus the
    log's own, so ``log(1 + t)`` serves there; above, the library's log1p
    (within 2 ulps on JAX; tests/test_log1p.py).  Each
    branch gets a harmless argument where the other is taken, so neither
    makes a NaN or an infinite gradient.  (The log1p of the unweighted
    log-sum, whose argument is >= 0, stays the library's: see log_norm.)
    """
    xp = ops.xp
    low = t < -0.25
    direct = xp.log(1.0 + xp.where(low, t, ops.scalar(-0.5, t)))
    return xp.where(low, direct, xp.log1p(xp.where(low, ops.scalar(0.0, t), t)))


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
    # a slice holding +inf: IEEE propagation makes the whole slice NaN
    return ops.where_nan(mx == math.inf, total)


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
    norm = log_softmax_norm(norm, mx, ops)
    if mask is None:
        return ops.sub_(z, norm)
    # a fully masked slice is all fill: subtract 0 there, not its -inf
    # log-sum, so that -inf - -inf makes no NaN on the way (jax.debug_nans)
    xp = ops.xp
    live = xp.any(mask, axis=axes, keepdims=True)
    norm = xp.where(live, norm, ops.scalar(0.0, norm))
    return ops.fill_where_not_(ops.sub_(z, norm), mask, -math.inf)


def log_softmax_norm(norm: Array, mx: Array, ops: Ops) -> Array:
    """What log_softmax subtracts from ``x - shift``, from :func:`log_norm`."""
    # IEEE propagation for a slice holding +inf (inf - inf), as for softmax
    return ops.where_nan(mx == math.inf, norm)


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


# -- weights, signs and complex input (scipy.special.logsumexp's b=/return_sign=) --------
#
# Each term is b_i * exp(x_i).  Its log-magnitude is rho_i = Re(x_i) + log|b_i| and
# its phase phi_i = Im(x_i) + arg(b_i) (for real input: its sign).  The term of
# the largest magnitude, rho = m (the pivot), is taken out exactly, as in the
# unweighted case, together with the entries that share its x (the group):
# their terms are exp(x_k) times their weights, so relative to the pivot they
# are sum(b)/b_k, 1 exactly for the pivot alone and 0 exactly where the
# weights cancel (exp(log|b_i| - log|b_k|) would round).  The sum of the
# others, divided by it, goes through log1p without cancellation
# (logsumexp([0, -40], b=[1, 1e-3]) keeps its 4.25e-21).  SciPy pivots on the
# largest Re(x) alone, which loses the result when the weights decide which
# term dominates.
#
# An entry whose weight is 0 is dead: it contributes nothing even where x is inf
# or NaN (scipy's rule).  Where the result of the shifted form is +inf or NaN
# (an infinite entry or weight, NaN), the direct log(sum(b * exp(x))) decides,
# as in SciPy, so the infinities follow the library's complex exp/log (C99 on
# NumPy).  An exactly zero total is the shifted form's -inf: its group sum
# cancels exactly where the direct sum's rounded products may not.


def _nonfinite_slices(out: Array, xp: Namespace) -> Array:
    return xp.logical_not(xp.isfinite(out))


def _direct_sum(
    x: Array, b: Array | None, dead: Array, use: Array, ops: Ops, is_complex: bool = False
) -> Array:
    """sum(b * exp(x)) over the live entries, where ``use`` (per slice) says it is needed.

    Elsewhere x is replaced by 0 so that its exp cannot overflow and poison the
    gradient through the unselected branch of the final ``where``.
    """
    xp = ops.xp
    zero = ops.scalar(0.0, x)
    xs = xp.where(xp.logical_and(use, xp.logical_not(dead)), x, zero)
    ex = _cexp(xs, ops) if is_complex else ops.exp(xs)
    term = ex if b is None else b * ex
    return xp.where(dead, ops.scalar(0.0, term), term)


def _cexp(z: Array, ops: Ops) -> Array:
    """exp(z) for complex z, with C99's exp(+inf +- 0j) = +inf +- 0j.

    JAX 0.4.31 (our floor) computes exp(inf)*sin(0) there and gives
    inf + nan j, which turns logsumexp([inf, 1]) into NaN (newer JAX, NumPy and
    torch follow C99).  That value is z itself, so it is taken from z.
    """
    xp = ops.xp
    on_axis = xp.logical_and(xp.real(z) == math.inf, xp.imag(z) == 0)
    return xp.where(on_axis, z, ops.exp(z))


def _csign(z: Array, ops: Ops) -> Array:
    """z/|z| for complex z: 0 for z == 0 and nan + nan j where a part is not finite.

    Built here rather than with ``sign``: array-api-strict 2.2 (our floor)
    computes sign as x/abs(x), NaN at 0 (2.3 and later give 0), and the
    libraries disagree at infinities (JAX: sign(inf + 0j) is nan + 0j, NumPy
    and torch nan + nan j).
    """
    xp = ops.xp
    re, im = xp.real(z), xp.imag(z)
    is_zero = z == 0
    finite = xp.logical_and(xp.isfinite(re), xp.isfinite(im))
    regular = xp.logical_and(finite, xp.logical_not(is_zero))
    safe = xp.where(regular, z, xp.ones_like(z))
    unit = safe / xp.astype(xp.abs(safe), z.dtype)
    odd = xp.logical_not(xp.logical_or(regular, is_zero))
    nan = ops.where_nan(odd, xp.zeros_like(re))
    return xp.where(regular, unit, _complex(nan, nan, z.dtype, xp))


def _weights_dead(
    x: Array, b: Array | None, mask: Array | None, ops: Ops
) -> tuple[Array, Array | None]:
    """(dead entries, b with its zeros replaced by 1 for the logs' sake)."""
    xp = ops.xp
    dead = xp.zeros(x.shape, dtype=xp.bool, device=_device(x))
    b_safe = None
    if b is not None:
        zero_w = b == 0
        dead = xp.logical_or(dead, zero_w)
        b_safe = xp.where(zero_w, ops.scalar(1.0, b), b)
    if mask is not None:
        dead = xp.logical_or(dead, xp.logical_not(mask))
    return dead, b_safe


def _squeeze(a: Array, axes: tuple[int, ...], keepdims: bool, xp: Namespace) -> Array:
    return a if keepdims else xp.squeeze(a, axis=axes)


def _pivot_scale(bk: Array, ops: Ops) -> Array:
    """A power of two that brings the pivot's weight ``bk`` (> 0) below
    2**(emax/2), so that the sum of the group's weights cannot overflow; 1
    for every weight short of that (multiplying by it is exact)."""
    xp = ops.xp
    half = int(math.log2(xp.finfo(bk.dtype).max)) // 2
    big = 2.0**half
    return xp.where(bk > big, ops.scalar(1.0 / big, bk), ops.scalar(1.0, bk))


def _log_abs_sum(bn: Array, rest: Array, ops: Ops) -> tuple[Array, Array]:
    """(log|bn + rest|, sign(bn + rest)) for real ``bn`` (exact) and ``rest``.

    With bn != 0 this is log|bn| + log|1 + rest/bn| in log1p form, so that
    a dominant group (bn = 1: one pivot) keeps full relative accuracy for
    small corrections; with bn == 0 (the group cancels exactly) the rest is
    the total, and an exactly zero total is (-inf, 0).
    """
    xp = ops.xp
    one, zero = ops.scalar(1.0, rest), ops.scalar(0.0, rest)
    nz = bn != 0
    bn_s = xp.where(nz, bn, one)
    v = rest / bn_s
    # |1 + v| is -(1 + v) below -1; a NaN goes through log1p and stays NaN
    below = v < -1.0
    v_pos = xp.where(below, zero, v)
    v_neg = xp.where(below, v, -2.0 * one)
    log_a = xp.log(xp.abs(bn_s)) + xp.where(below, xp.log(-1.0 - v_neg), _log1p(v_pos, ops))
    sign_a = xp.sign(bn_s) * xp.where(v > -1.0, one, xp.where(v < -1.0, -one, zero))
    rest_nz = xp.where(rest == 0, one, rest)
    log_b = xp.where(rest == 0, ops.scalar(-math.inf, rest), xp.log(xp.abs(rest_nz)))
    return xp.where(nz, log_a, log_b), xp.where(nz, sign_a, xp.sign(rest))


def logsumexp_signed(
    x: Array,
    b: Array | None,
    axes: tuple[int, ...],
    mask: Array | None,
    keepdims: bool,
    return_sign: bool,
    ops: Ops,
) -> Array | tuple[Array, Array]:
    """log|sum(b * exp(x))| and sign(sum) over ``axes`` for real ``x`` (and ``b``).

    Without ``return_sign`` a negative total gives NaN; an exactly cancelling
    (or empty, all-zero-weight) total gives -inf with sign 0.
    """
    xp = ops.xp
    if b is None and mask is None and not return_sign:  # pragma: no cover - api routes it
        return logsumexp(x, axes, mask, keepdims, ops)
    dead, b_safe = _weights_dead(x, b, mask, ops)
    live = xp.logical_not(dead)
    ninf = ops.scalar(-math.inf, x)
    one = ops.scalar(1.0, x)
    zero = ops.scalar(0.0, x)
    # a dead entry (zero weight, masked) may hold inf or NaN: it takes no part
    x0 = xp.where(dead, zero, x)
    abs_b = None if b_safe is None else xp.abs(b_safe)
    rho = x0 if abs_b is None else x0 + xp.log(abs_b)
    rho = xp.where(dead, ninf, rho)
    mx, shift = _shift(rho, axes, ops)
    finite = xp.isfinite(mx)
    is_max = xp.logical_and(rho == mx, live)
    # The group: the live entries that share the pivot's x (the largest x
    # among the largest terms).  Their terms are b_i * exp(x_k), exact
    # multiples of one exponential, so their sum is the sum of their weights,
    # which cancels exactly where the weights do (b = [2, -1, -1] at equal
    # x gives -inf, as SciPy does); log|b_i| - log|b_k| in exp would round.
    xk = xp.max(xp.where(is_max, x0, ninf), axis=axes, keepdims=True)
    xk = ops.stop_gradient(xp.where(finite, xk, zero))
    group = xp.logical_and(xp.logical_and(live, x0 == xk), finite)
    # one exp: exp(x - x_k), 1 exactly, in the group; exp(rho - m) elsewhere,
    # relative to the pivot's exp(m)
    ez = ops.exp(xp.where(group, x0 - xk, rho - shift))
    if b_safe is None:
        bn = xp.sum(xp.astype(group, x.dtype), axis=axes, keepdims=True)
        # the group's terms are 0 (ez - 1) but carry their gradients in x
        terms = ez - xp.astype(group, x.dtype)
    else:
        bk = xp.max(xp.where(group, abs_b, zero), axis=axes, keepdims=True)
        bk = ops.stop_gradient(xp.where(bk > 0, bk, one))
        h = _pivot_scale(bk, ops)
        bn = xp.sum(xp.where(group, b_safe * h, zero), axis=axes, keepdims=True) / (bk * h)
        # b / b_k in the group (finite elsewhere, for where's other gradient)
        ratio = xp.where(group, b_safe, bk) / bk
        terms = xp.where(group, ratio * (ez - 1.0), xp.sign(b_safe) * ez)
    if b is not None:
        # a zero weight's term is 0, but its derivative in b is exp(x - shift):
        # add it with value 0 so that grad wrt b is right there too
        zero_w = b == 0
        keep = xp.logical_and(zero_w, xp.isfinite(x))
        z0 = xp.where(keep, xp.minimum(xp.where(keep, x, zero) - shift, zero), ninf)
        terms = terms + xp.where(zero_w, b * ops.exp(z0), zero)
    rest = xp.sum(terms, axis=axes, keepdims=True)
    log_t, sgn = _log_abs_sum(bn, rest, ops)
    out = shift + log_t
    # +inf entries (or weights), NaN: the direct sum decides; an exactly
    # zero total (-inf) is the shifted form's, whose group sum cancels
    # exactly where the direct sum's rounded products may not
    bad = xp.logical_not(out < math.inf)
    total = xp.sum(_direct_sum(x, b, dead, bad, ops), axis=axes, keepdims=True)
    total = xp.where(bad, total, one)
    out = xp.where(bad, xp.log(xp.abs(total)), out)
    sgn = xp.where(bad, xp.sign(total), sgn)
    out = _squeeze(out, axes, keepdims, xp)
    sgn = _squeeze(sgn, axes, keepdims, xp)
    if return_sign:
        return out, sgn
    return ops.where_nan(sgn < 0, out)


def _wrap_phase(theta: Array, ops: Ops) -> Array:
    """theta wrapped to (-pi, pi]; unchanged (to full relative accuracy) inside."""
    xp = ops.xp
    k = xp.round(theta / math.tau)
    w = theta - k * math.tau
    w = xp.where(w > math.pi, w - math.tau, w)
    w = xp.where(w <= -math.pi, w + math.tau, w)
    return xp.where(xp.abs(theta) <= math.pi, theta, w)


def _complex(re: Array, im: Array, dtype: Any, xp: Namespace) -> Array:
    """``re + im * 1j`` in complex ``dtype``; the standard (array-api-strict
    2.2) promotes no Python complex scalar with a real array, so both parts
    are made complex first."""
    return xp.astype(re, dtype) + xp.astype(im, dtype) * 1j


def _cabs(z: Array, ops: Ops) -> Array:
    """|z|, +inf where a part is infinite even if the other is NaN (C99's hypot;
    XLA's complex abs gives NaN there)."""
    xp = ops.xp
    re, im = xp.real(z), xp.imag(z)
    inf_part = xp.logical_or(xp.isinf(re), xp.isinf(im))
    return xp.where(inf_part, ops.scalar(math.inf, re), xp.abs(z))


def _log_complex_sum(bn: Array, p: Array, q: Array, ops: Ops) -> tuple[Array, Array]:
    """(log|bn + p + iq|, its phase) for complex ``bn`` (exact) and real p, q.

    With bn != 0: log(bn) + log(1 + w), w = (p + iq)/bn = a + ic, whose
    modulus is 0.5 log1p(a(2 + a) + c^2), without cancellation near 0 (so
    [0, 2.2e-17j] keeps its 1.1e-17 phase).  With bn == 0 (the group
    cancels) p + iq is the total; a zero total gives log -inf.
    """
    xp = ops.xp
    zero = ops.scalar(0.0, p)
    ninf = ops.scalar(-math.inf, p)
    nz = bn != 0
    bn_s = xp.where(nz, bn, xp.ones_like(bn))
    w = _complex(p, q, bn.dtype, xp) / bn_s
    a, c = xp.real(w), xp.imag(w)
    mod2m1 = a * (2.0 + a) + c * c
    # 1 + w rounds to 0 at -1 (and not below); a NaN stays NaN
    gone = mod2m1 <= -1.0
    log1 = 0.5 * _log1p(xp.where(gone, zero, mod2m1), ops)
    log_a = xp.log(xp.abs(bn_s)) + xp.where(gone, ninf, log1)
    ang_a = xp.atan2(xp.imag(bn_s), xp.real(bn_s)) + xp.atan2(c, 1.0 + a)
    rest = xp.logical_or(p != 0, q != 0)
    mod_b = _cabs(_complex(xp.where(rest, p, ops.scalar(1.0, p)), q, bn.dtype, xp), ops)
    log_b = xp.where(rest, xp.log(mod_b), ninf)
    ang_b = xp.atan2(q, p)
    log_t = xp.where(nz, log_a, log_b)
    return log_t, xp.where(nz, ang_a, ang_b)


def logsumexp_complex(
    x: Array,
    b: Array | None,
    axes: tuple[int, ...],
    mask: Array | None,
    keepdims: bool,
    return_sign: bool,
    ops: Ops,
) -> Array | tuple[Array, Array]:
    """log(sum(b * exp(x))) for complex ``x`` (``b`` of x's complex dtype or None).

    The result's imaginary part is wrapped to (-pi, pi].  With
    ``return_sign``: (log|sum| (real), the phase sum/|sum| (complex)).
    """
    xp = ops.xp
    dead, b_safe = _weights_dead(x, b, mask, ops)
    xr, xi = xp.real(x), xp.imag(x)
    ninf = ops.scalar(-math.inf, xr)
    zero = ops.scalar(0.0, xr)
    if b_safe is None:
        rho, phi = xr, xi
    else:
        rho = xr + xp.log(xp.abs(b_safe))
        phi = xi + xp.atan2(xp.imag(b_safe), xp.real(b_safe))
    dead = xp.logical_or(dead, rho == -math.inf)
    live = xp.logical_not(dead)
    rho = xp.where(dead, ninf, rho)
    mx, shift = _shift(rho, axes, ops)
    is_max = xp.logical_and(rho == mx, live)
    # the pivot's phase: among the terms of maximal modulus, the largest phase
    phi_k = xp.max(xp.where(is_max, phi, ninf), axis=axes, keepdims=True)
    phi_k = ops.stop_gradient(xp.where(xp.isfinite(phi_k), phi_k, zero))
    dphi = xp.where(dead, zero, phi - phi_k)
    is_piv = xp.logical_and(is_max, dphi == 0)
    # The group: the live entries equal to the pivot's x (among the pivots,
    # the largest real, then imaginary part).  Their terms are b_i exp(x_k):
    # relative to the pivot's, the sum of their weights over its weight,
    # which cancels exactly where the weights do; the others' terms are
    # e (cos + i sin)(phase - the pivot's), the polar form relative to it.
    xr_k = xp.max(xp.where(is_piv, xr, ninf), axis=axes, keepdims=True)
    on_k = xp.logical_and(is_piv, xr == xr_k)
    xi_k = xp.max(xp.where(on_k, xi, ninf), axis=axes, keepdims=True)
    has_k = xp.logical_and(xp.isfinite(mx), xp.logical_and(xp.isfinite(xr_k), xp.isfinite(xi_k)))
    xr_k = ops.stop_gradient(xp.where(has_k, xr_k, zero))
    xi_k = ops.stop_gradient(xp.where(has_k, xi_k, zero))
    group = xp.logical_and(live, xp.logical_and(xr == xr_k, xi == xi_k))
    group = xp.logical_and(group, has_k)
    # one exp, cos and sin: of x - x_k, 0 exactly, in the group, so 1 + 0i
    # there; of the polar form relative to the pivot elsewhere.  A slice
    # holding +inf or NaN is the direct form's (below): no terms here, whose
    # inf * sin(0) would make a NaN the result may not have.
    hot = xp.logical_not(xp.logical_or(xp.isfinite(mx), mx == -math.inf))
    mod = xp.where(group, xp.where(group, xr, xr_k) - xr_k, rho - shift)
    e = ops.exp(xp.where(hot, ninf, mod))
    arg = xp.where(group, xp.where(group, xi, xi_k) - xi_k, dphi)
    ec, es = e * xp.cos(arg), e * xp.sin(arg)
    # the group's terms are 0 (e cos - 1, e sin) but carry their gradients in x
    if b_safe is None:
        bn = xp.astype(xp.sum(xp.astype(group, xr.dtype), axis=axes, keepdims=True), x.dtype)
        p = xp.sum(ec - xp.astype(group, xr.dtype), axis=axes, keepdims=True)
        q = xp.sum(es, axis=axes, keepdims=True)
    else:
        # the group's entries share x, and so the pivots among them b
        sel = xp.logical_and(group, is_piv)
        bk_r = xp.max(xp.where(sel, xp.real(b_safe), ninf), axis=axes, keepdims=True)
        bk_i = xp.max(xp.where(sel, xp.imag(b_safe), ninf), axis=axes, keepdims=True)
        bk_r = xp.where(has_k, bk_r, ops.scalar(1.0, xr))
        bk_i = xp.where(has_k, bk_i, zero)
        bk = ops.stop_gradient(_complex(bk_r, bk_i, x.dtype, xp))
        h = xp.astype(_pivot_scale(xp.abs(bk), ops), x.dtype)
        total_b = xp.sum(xp.where(group, b_safe * h, xp.zeros_like(x)), axis=axes, keepdims=True)
        # one pivot: 1 exactly (complex z/z is not 1 exactly on JAX or torch)
        bn = xp.where(total_b == bk * h, xp.ones_like(bk), total_b / (bk * h))
        # b / b_k in the group (finite elsewhere, for where's other gradient)
        ratio = xp.where(group, b_safe, bk) / bk
        rr, ri = xp.real(ratio), xp.imag(ratio)
        p_g = rr * (ec - 1.0) - ri * es
        q_g = rr * es + ri * (ec - 1.0)
        p = xp.sum(xp.where(group, p_g, ec), axis=axes, keepdims=True)
        q = xp.sum(xp.where(group, q_g, es), axis=axes, keepdims=True)
    log_abs, ang = _log_complex_sum(bn, p, q, ops)
    re = shift + log_abs
    # a zero total is -inf + 0j, log(0) as C99 has it
    im = xp.where(log_abs == -math.inf, zero, _wrap_phase(phi_k + ang, ops))
    # infinities, NaN: the direct form decides; an exactly zero total (-inf)
    # is the shifted form's, as for real weights
    bad = xp.logical_or(xp.logical_not(re < math.inf), _nonfinite_slices(im, xp))
    bad = xp.logical_or(bad, hot)
    total = xp.sum(_direct_sum(x, b, dead, bad, ops, is_complex=True), axis=axes, keepdims=True)
    total = xp.where(bad, total, xp.ones_like(total))
    if return_sign:
        # log|total| is +inf where a part is infinite, also where the phase is
        # NaN (as SciPy's return_sign; the plain result below is then a complex
        # NaN, nan+nanj, as SciPy's and JAX's)
        log_mod = xp.log(_cabs(total, ops))
        # one entry exp(+inf + i*(inf or NaN)) is C99's +-inf + i*NaN, modulus
        # inf; XLA's complex exp makes it NaN + i*NaN: say inf on every backend
        live = xp.logical_not(dead)
        hot = xp.logical_and(live, xp.logical_and(xr == math.inf, xp.logical_not(xp.isfinite(xi))))
        poison = xp.logical_or(
            xp.isnan(xr), xp.logical_and(xp.isfinite(xr), xp.logical_not(xp.isfinite(xi)))
        )
        poison = xp.logical_and(live, poison)
        n_hot = xp.sum(xp.astype(hot, xr.dtype), axis=axes, keepdims=True)
        one_hot = xp.logical_and(
            n_hot == 1.0, xp.logical_not(xp.any(poison, axis=axes, keepdims=True))
        )
        log_mod = xp.where(one_hot, ops.scalar(math.inf, log_mod), log_mod)
        re = xp.where(bad, log_mod, re)
        phase = _complex(xp.cos(im), xp.sin(im), x.dtype, xp)
        phase = xp.where(re == -math.inf, xp.zeros_like(phase), phase)
        sgn = xp.where(bad, _csign(total, ops), phase)
        return _squeeze(re, axes, keepdims, xp), _squeeze(sgn, axes, keepdims, xp)
    direct = xp.log(total)
    direct = _complex(xp.real(direct), _wrap_phase(xp.imag(direct), ops), x.dtype, xp)
    main = _complex(re, im, x.dtype, xp)
    out = xp.where(bad, direct, main)
    return _squeeze(out, axes, keepdims, xp)


def logmeanexp(
    x: Array, axes: tuple[int, ...], mask: Array | None, keepdims: bool, ops: Ops
) -> Array:
    """log(mean(exp(x))) over ``axes``, the mean over the live entries.

    Shifted by the maximum this is m + log1p(t) - log(n), which cancels where
    the mean of exp is near 1.  There (|result| < 1) the unshifted
    log1p(mean(expm1(x))) is used instead: mean(exp(x)) - 1 = mean(expm1(x))
    with no cancellation, and no exp can overflow since the mean is below e.
    A slice with no live entry gives NaN (0/0).
    """
    xp = ops.xp
    _, _, shift, log_norm = _log_normalizer(x, axes, mask, ops, keep_z=False)
    if mask is None:
        n = ops.count(x, axes)
    else:
        n = xp.sum(xp.astype(mask, x.dtype), axis=axes, keepdims=True)
    n_safe = xp.where(n > 0, n, ops.scalar(1.0, x))
    shifted = shift + log_norm - xp.log(n_safe)
    near = xp.logical_and(xp.abs(shifted) < 1.0, n > 0)
    zero = ops.scalar(0.0, x)
    # elsewhere x is replaced by 0 so that no expm1 overflows into the gradient
    use = near if mask is None else xp.logical_and(near, mask)
    em1 = xp.where(use, xp.expm1(xp.where(use, x, zero)), zero)
    mean_em1 = xp.sum(em1, axis=axes, keepdims=True) / n_safe
    out = xp.where(near, _log1p(xp.where(near, mean_em1, zero), ops), shifted)
    out = ops.where_nan(n <= 0, out)
    return _squeeze(out, axes, keepdims, xp)
