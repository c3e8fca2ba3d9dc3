"""mpmath references and the error bounds the unit tests hold results to.

Error model (u = unit roundoff of the result dtype, z = x - max, n = slice
length, Z = max |z| over the slice, L = log-sum of exp(z) >= 0):

* softmax: each exp(z_j) carries relative error (|z_j| + 1) u (rounding of
  the shift, then exp), the sum adds at most n u, the division u/2, so
  relative error of y_i <= (|z_i| + Z + n + 3) u.
* log_softmax: y_i = z_i - L with L = log1p(t), t the sum of the non-maximal
  terms (the maxima contribute exactly), so relerr(L) <= (Z + n + 2) u and
  |error(y_i)| <= u (|z_i| + L (Z + n + 2) + |y_i|).
* logsumexp: y = m + L, |error| <= u (|m| + L (Z + n + 2) + |y|).

A relative error of k u is at most k ulps, so ``assert_close(..., ulps=2,
cond=k)`` allows a factor 2 for the library's exp/log1p (<= 1-2 ulps).  The
naive ``log(sum(exp))`` fails these bounds on dominant slices (its top
log_softmax entry is 0 where the reference is -9.36e-14), so they discriminate.
"""

from __future__ import annotations

import mpmath
import numpy as np

mpmath.mp.dps = 60


def _slices(x: np.ndarray, axis: int):
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return moved, moved.reshape(-1, moved.shape[-1])


def _lse_row(row) -> mpmath.mpf:
    return mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))


def mp_logsumexp(x, axis: int = -1) -> np.ndarray:
    moved, rows = _slices(x, axis)
    return np.array([float(_lse_row(r)) for r in rows]).reshape(moved.shape[:-1])


def mp_log_softmax(x, axis: int = -1) -> np.ndarray:
    moved, rows = _slices(x, axis)
    out = []
    for r in rows:
        lse = _lse_row(r)
        out.append([float(mpmath.mpf(float(v)) - lse) for v in r])
    return np.moveaxis(np.array(out).reshape(moved.shape), -1, axis)


def mp_softmax(x, axis: int = -1) -> np.ndarray:
    moved, rows = _slices(x, axis)
    out = []
    for r in rows:
        lse = _lse_row(r)
        out.append([float(mpmath.exp(mpmath.mpf(float(v)) - lse)) for v in r])
    return np.moveaxis(np.array(out).reshape(moved.shape), -1, axis)


def mp_logmeanexp(x, axis: int = -1) -> np.ndarray:
    moved, rows = _slices(x, axis)
    return np.array([float(_lse_row(r) - mpmath.log(len(r))) for r in rows]).reshape(
        moved.shape[:-1]
    )


def cond(func: str, x, axis: int = -1) -> np.ndarray:
    """The factor k of the bound above, per output element."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _cond(func, np.asarray(x, dtype=np.float64), axis)


def _cond(func: str, x: np.ndarray, axis: int) -> np.ndarray:
    # special values give nan/inf factors: assert_close compares those positions exactly
    m = np.max(x, axis=axis, keepdims=True)
    z = x - m
    zmax = np.max(np.abs(z), axis=axis, keepdims=True)
    n = x.shape[axis]
    lse = mp_logsumexp(x, axis)
    L = np.expand_dims(lse, axis) - m
    if func == "softmax":
        return np.abs(z) + zmax + n + 3
    if func == "log_softmax":
        y = z - L
        return (np.abs(z) + L * (zmax + n + 2)) / np.abs(y) + 1
    y = np.expand_dims(lse, axis)
    k = (np.abs(m) + L * (zmax + n + 2)) / np.abs(y) + 1
    return np.squeeze(k, axis=axis)


REFERENCES = {"softmax": mp_softmax, "log_softmax": mp_log_softmax, "logsumexp": mp_logsumexp}
