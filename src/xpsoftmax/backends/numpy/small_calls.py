"""The small-call fast path: the common call on a small ndarray, in few NumPy calls.

For tiny arrays the per-call cost is the work, so :func:`fast_path` binds
NumPy's ufuncs once and skips the general route's checks for what that route
would run unblocked in the calling thread anyway (the tests compare both bit
for bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ... import _core
from . import sizes
from .inplace_ops import NumpyOps
from .ufunc_buffer import _row_buffer


class _SmallNamespace:
    """The few namespace functions the core calls, as NumPy's ufuncs.

    For tiny arrays the per-call cost is the work: ``np.max``/``np.sum`` (and
    array-api-compat's wrappers around them) spend ~1-2 us in Python before
    the ufunc's reduce, which is the whole difference to scipy.special.  Same
    functions, same results (the fast path's tests compare it with the general
    route bit for bit).
    """

    def __init__(self) -> None:
        import numpy as np

        self.where, self.isfinite, self.exp = np.where, np.isfinite, np.exp
        self.log1p, self.logical_not = np.log1p, np.logical_not
        self._max: Any = np.maximum.reduce
        self._sum: Any = np.add.reduce

    def max(self, a: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
        return self._max(a, axis=axis, keepdims=keepdims)

    def sum(self, a: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
        return self._sum(a, axis=axis, keepdims=keepdims)

    def squeeze(self, a: Any, axis: tuple[int, ...]) -> Any:
        return a.squeeze(axis=axis)

    def astype(self, a: Any, dtype: Any) -> Any:
        return a.astype(dtype)


class _SmallOps(NumpyOps):
    def sum_except_max(self, e: Any, xm: Any, mx: Any, axes: tuple[int, ...]) -> Any:
        if e.size >= sizes.MIN_SCAN_SIZE:
            return super().sum_except_max(e, xm, mx, axes)
        # The core's own e - is_max and float count: on a tiny array NumpyOps'
        # masked subtraction and cast count cost more than they save (the same
        # values: see NumpyOps.sum_except_max; counts below 2 MiB are exact)
        return _core.Ops.sum_except_max(self, e, xm, mx, axes)

    def __init__(self, xp: Any) -> None:
        super().__init__(xp)
        self._scalars: dict[tuple[float, Any], Any] = {}

    def scalar(self, value: float, like: Any) -> Any:
        # made once per (value, dtype), read-only: np.where takes a 0-d array
        # faster than a scalar (0.6 us against 0.9 us)
        key = (value, like.dtype)
        s = self._scalars.get(key)
        if s is None:
            import numpy as np

            s = self._scalars[key] = np.asarray(value, dtype=like.dtype)
            s.flags.writeable = False
        return s


def fast_path(t: type, errstate: Callable[[], Any]) -> Any:
    """``fast(func, x, axis)`` for the common call (int axis, no mask/dtype,
    impl="auto") on a plain ndarray of type ``t`` (None for any other type),
    each call under ``errstate()``; ``fast`` returns NotImplemented where the
    call must take the general route.

    It serves only what the general route would run unblocked in the
    calling thread, unchanged: float32/float64 in native byte order, at
    least one dimension, an in-range axis, no empty array, below
    ``sizes.MIN_BLOCKED_BYTES``.  Everything else (subclasses, every error) goes
    through the general checks.
    """
    import numpy as np

    if t is not np.ndarray:
        return None
    # NumPy's builtin float32/float64 descriptors are singletons: an identity
    # test is the cheapest check (another descriptor, byte-swapped say,
    # takes the general route)
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    ops = _SmallOps(_SmallNamespace())
    funcs = {"softmax": _core.softmax, "log_softmax": _core.log_softmax}
    logsumexp = _core.logsumexp

    def fast(func: str, x: Any, axis: int) -> Any:
        dt, nd = x.dtype, x.ndim
        if (
            (dt is not f32 and dt is not f64)
            or nd == 0
            or not -nd <= axis < nd
            or x.size == 0
            or x.nbytes >= sizes.MIN_BLOCKED_BYTES
        ):
            return NotImplemented
        axes = (axis % nd,)
        if x.size >= sizes.MIN_ROW_BUFSIZE:
            with errstate(), _row_buffer(x, axes):
                return _small(func, x, axes)
        with errstate():
            return _small(func, x, axes)

    def _small(func: str, x: Any, axes: tuple[int, ...]) -> Any:
        if func == "logsumexp":
            return np.asarray(logsumexp(x, axes, None, False, ops))
        return funcs[func](x, axes, None, ops)

    amax, add, isfinite = np.maximum.reduce, np.add.reduce, np.isfinite
    subtract, exp, equal, divide, log1p = np.subtract, np.exp, np.equal, np.divide, np.log1p
    count_nonzero, copyto, arange = np.count_nonzero, np.copyto, np.arange
    py_finite = math.isfinite

    def finite(func: str, x: Any, axis: int) -> Any:
        # Where every slice maximum is finite, the core's selects (the shift
        # where(isfinite(m), m, 0), the +inf and no-mass overrides) all
        # pick their first operand: the same arithmetic in fewer calls.
        # Other slices take the core itself (the tests compare both bit
        # for bit).
        rows = None
        if x.ndim == 2 and axis % 2 == 1 and x.size >= sizes.MIN_ARGMAX_SIZE:
            # argmax and a gather find the row maxima in about half the
            # time of the max reduction (float64 (64, 100): 2.6 us against
            # 4.8): the same values, but for the sign of a zero maximum
            # that also occurs as -0.0, which a tie then makes irrelevant
            # (exp(+-0) = 1, and log1p(t >= 1) > 0 is subtracted or added)
            rows = arange(x.shape[0])
            first = x.argmax(axis=1)
            m = x[rows, first].reshape(-1, 1)
        else:
            m = amax(x, axis=axis, keepdims=True)
        if m.size <= 64:
            # a few maxima: their Python sum is finite iff each one is
            # (inf - inf is NaN; an overflow only sends the call on to the
            # general route) and costs a third of isfinite(m).all()
            if not py_finite(sum(m.ravel().tolist())):
                return NotImplemented
        elif not isfinite(m).all():
            return NotImplemented
        z = subtract(x, m)
        if func == "softmax":
            exp(z, out=z)
            return divide(z, add(z, axis=axis, keepdims=True), out=z)
        # log_softmax and logsumexp: the core's sum_except_max for a small
        # array (logsumexp needs no z: its exp goes into z's buffer)
        if func == "logsumexp":
            e = exp(z, out=z)
        else:
            e = exp(z)
        is_max = equal(x, m)
        if count_nonzero(is_max) == m.size:  # one maximum per slice, e == 1 there
            if rows is None:
                copyto(e, 0, where=is_max)
            else:
                e[rows, first] = 0
            t = add(e, axis=axis, keepdims=True)
        else:  # ties: put count - 1 back
            subtract(e, 1, out=e, where=is_max)
            t = add(e, axis=axis, keepdims=True)
            t += add(is_max, axis=axis, keepdims=True, dtype=x.dtype) - 1
        if func == "logsumexp":
            return (m + log1p(t)).squeeze(axis)
        return subtract(z, log1p(t), out=z)

    def fast_small(func: str, x: Any, axis: int) -> Any:
        dt, nd = x.dtype, x.ndim
        if (
            (dt is f32 or dt is f64)
            and nd
            and -nd <= axis < nd
            and x.size
            and x.shape[axis] < sizes.MIN_ROW_BUFSIZE  # no one-row ufunc buffer
            and x.nbytes < sizes.MIN_BLOCKED_BYTES
        ):
            with errstate():  # exp underflows: a user's np.seterr must not see it
                out = finite(func, x, axis)
            if out is not NotImplemented:
                return out
        return fast(func, x, axis)

    return fast_small
