"""mpmath references of the losses, with the error factors the tests hold results to.

Imported by the tests and by ``conformance/generate_references.py``; it
imports nothing from xpsoftmax.  Each function returns float64 values and a
factor ``k`` per value: the result must be within ``ulps * max(k, 1)`` ulps
(``assert_close``; the conformance suite allows ``2 k + 1``).

Error model (u the unit roundoff of the compute dtype).  A sample's loss is
``sum_j a_j l_j`` with entry weights ``a_j >= 0`` and ``l_j = -log p_j =
L - z_j`` (``z = x - max``, ``L = log1p(T)`` the log-normaliser, ``Z = max
|z_j|`` and ``n`` over the classes with a finite logit).  ``L`` carries an
absolute error ``<= L (Z + n + 2) u`` (the log1p form, see
``src/xpsoftmax/conformance/cases.py``) and ``z_j`` one of ``|z_j| u``, so
``l_j`` is off by ``u (L (Z + n + 2) + |z_j| + l_j)``; the weighted sum of
``n`` non-negative terms adds ``n u`` relative and ``a_j`` (a product of
rounded factors) 3 ``u`` relative:
``k = sum_j a_j (L (Z + n + 2) + |z_j| + 4 l_j) / loss + n + 1``.

The gradient of a sample's loss is ``g_j = A p_j - a_j`` (``A = sum_j a_j``).
``p_j`` is off by ``(|z_j| + Z + n + 3) u`` relative, so ``|error(g_j)| <= u
(Z + |z_j| + n + 4) (A p_j + a_j)``: proportional to ``|g_j|`` except where the
two terms cancel, which is the quantity's own conditioning, except at the
maximum ``k`` of a row whose target mass sits there (``2 a_k > A``), where
``p_k - 1`` would cancel for a confident prediction although ``g_k`` is
well-conditioned: there the bound is ``u (Z + n + 4) (sum_{j != k} a_j + A (1 -
p_k))``, which is ``|g_k|`` times a modest factor (for a class index:
``g_k = -(1 - p_k)`` with relative error ``(Z + n + 4) u``); the computed
``p_k - 1`` is off by ``u`` absolute and fails it wherever ``1 - p_k`` is
below about ``u / (Z + n)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

MP = mpmath.MPContext()
MP.dps = 50


def _row_weights(
    row: Sequence[float],
    target: Any,
    kind: str,
    weight: Sequence[float] | None,
    eps: float,
) -> list[Any]:
    """The entry weights ``a_j`` (mpf) of one live sample (see the module docstring)."""
    n = len(row)
    w = [MP.mpf(1)] * n if weight is None else [MP.mpf(float(v)) for v in weight]
    live = [v != -math.inf for v in row]
    c_eff = max(1, sum(live))
    share = [MP.mpf(eps) / c_eff if ok else MP.mpf(0) for ok in live]
    if kind == "index":
        t = int(target)
        return [w[j] * ((1 - MP.mpf(eps)) * (j == t) + share[j]) for j in range(n)]
    q = [MP.mpf(float(v)) for v in target]
    return [w[j] * ((1 - MP.mpf(eps)) * q[j] + share[j]) for j in range(n)]


def _row_loss(row: Sequence[float], a: list[Any]) -> dict[str, Any]:
    """Value, k, gradient and its k of ``sum_j a_j (-log softmax(row)_j)``."""
    n_all = len(row)
    nan = {"value": math.nan, "k": 1.0, "grad": [math.nan] * n_all, "kg": [1.0] * n_all}
    if any(math.isnan(v) or v == math.inf for v in row):
        return nan
    finite = [j for j in range(n_all) if row[j] != -math.inf]
    if not finite:
        return nan
    m = max(row[j] for j in finite)
    top = min(j for j in finite if row[j] == m)
    z = [MP.mpf(v) - MP.mpf(m) if v != -math.inf else None for v in row]
    big_t = MP.fsum(MP.exp(z[j]) for j in finite if j != top)
    norm = MP.log1p(big_t)
    big_z = max(float(abs(z[j])) for j in finite)
    n = len(finite)
    ell = [norm - z[j] if z[j] is not None else MP.inf for j in range(n_all)]
    live = [j for j in range(n_all) if a[j] != 0]
    value = MP.fsum(a[j] * ell[j] for j in live)
    fv = float(value)
    lf = float(norm)
    err = sum(
        float(a[j]) * (lf * (big_z + n + 2) + abs(float(z[j])) + 4 * float(ell[j]))
        for j in live
        if z[j] is not None
    )
    k = 1.0 if fv == 0 or math.isinf(fv) else err / abs(fv) + n + 1
    total_a = MP.fsum(a)
    p = [MP.exp(z[j] - norm) if z[j] is not None else MP.mpf(0) for j in range(n_all)]
    grad, kg = [], []
    pivot = 2 * a[top] > total_a
    for j in range(n_all):
        g = total_a * p[j] - a[j]
        zj = float(abs(z[j])) if z[j] is not None else 0.0
        if pivot and j == top:
            mag = (MP.fsum(abs(a[i]) for i in range(n_all) if i != top) + total_a * (1 - p[j])) * (
                big_z + n + 4
            )
        else:
            mag = (total_a * p[j] + abs(a[j])) * (big_z + zj + n + 4)
        fg = float(g)
        grad.append(fg)
        kg.append(1.0 if fg == 0 else float(mag / abs(g)) + 1)
    return {"value": fv, "k": k, "grad": grad, "kg": kg}


def mp_cross_entropy(
    x: Any,
    target: Any,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    where: Any = None,
) -> dict[str, np.ndarray]:
    """The mpmath cross-entropy (torch's definitions, smoothing over the finite
    classes, a mean over nothing 0): ``value`` and ``k`` (reduced as asked),
    ``grad`` (of the reduced loss, x's shape) and ``kg``.  An out-of-range class
    index gives NaN for its sample."""
    xa = np.asarray(x, dtype=np.float64)
    ax = axis % xa.ndim
    moved = np.moveaxis(xa, ax, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    tg = np.asarray(target)
    kind = "index" if tg.dtype.kind in "iu" else "probs"
    trows = tg.reshape(-1) if kind == "index" else np.moveaxis(tg, ax, -1).reshape(rows.shape)
    mask = np.ones(rows.shape[0], bool) if where is None else np.asarray(where).reshape(-1)
    wt = None if weight is None else [float(v) for v in np.asarray(weight).reshape(-1)]
    n_cls = rows.shape[1]
    vals, ks, dens = [], [], []
    grads = np.zeros(rows.shape)
    kgs = np.ones(rows.shape)
    for i, row in enumerate(rows.tolist()):
        t = trows[i]
        live = bool(mask[i]) and not (kind == "index" and int(t) == ignore_index)
        if not live:
            vals.append(0.0)
            ks.append(1.0)
            dens.append(0.0)
            continue
        if kind == "index" and not 0 <= int(t) < n_cls:
            vals.append(math.nan)
            ks.append(1.0)
            dens.append(1.0)
            grads[i] = math.nan
            continue
        a = _row_weights(row, t, kind, wt, label_smoothing)
        r = _row_loss(row, a)
        vals.append(r["value"])
        ks.append(r["k"])
        dens.append(1.0 if kind != "index" or wt is None else wt[int(t)])
        grads[i], kgs[i] = r["grad"], r["kg"]
    v, k = np.array(vals), np.array(ks)
    out_shape = moved.shape[:-1]
    if reduction == "none":
        value, kv = v.reshape(out_shape), k.reshape(out_shape)
        scale = np.ones(len(vals))
    else:
        finite = np.isfinite(v)
        total = float(MP.fsum(MP.mpf(s) for s in v)) if finite.all() else float(np.sum(v))
        den = float(MP.fsum(MP.mpf(d) for d in dens))
        acc = float(np.sum(np.where(finite, k * np.abs(v), 0.0)))
        if reduction == "sum":
            value, scale = total, np.ones(len(vals))
        else:
            value = total / den if den != 0 else 0.0
            scale = np.full(len(vals), 1.0 / den if den != 0 else 0.0)
        kv = (
            (acc / abs(total) if total not in (0.0,) and math.isfinite(total) else 0.0)
            + len(vals)
            + 2
        )
        value, kv = np.array(value), np.array(kv)
    g = grads * scale[:, None]
    g = np.moveaxis(g.reshape(moved.shape), -1, ax)
    kg = np.moveaxis(kgs.reshape(moved.shape), -1, ax)
    return {"value": value, "k": kv, "grad": g, "kg": kg}


# -- two classes ---------------------------------------------------------------------------
def _softplus(v: Any) -> Any:
    return MP.log1p(MP.exp(v))


def mp_log_sigmoid(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """(values, k): ``-softplus(-x)``; k: three roundings (exp, log1p, the add)."""
    xa = np.asarray(x, dtype=np.float64)
    vals = [float(-_softplus(-MP.mpf(v))) for v in xa.reshape(-1)]
    return np.array(vals).reshape(xa.shape), np.full(xa.shape, 3.0)


def mp_binary_cross_entropy(
    x: Any, y: Any, weight: Any = None, pos_weight: Any = None, reduction: str = "mean",
    where: Any = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """(value, k, grad, kg) of ``w (pw y softplus(-x) + (1 - y) softplus(x))``.

    Each softplus has relative error 3u, each product one rounding more: the
    value is off by ``6 u (|t1| + |t2|)``; the gradient ``w (-pw y s(-x) + (1
    - y) s(x))`` (``s`` the sigmoid) by ``5 u`` times its terms' magnitudes.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.broadcast_to(np.asarray(y, dtype=np.float64), xa.shape)
    wa = np.broadcast_to(np.asarray(1.0 if weight is None else weight, np.float64), xa.shape)
    pa = np.broadcast_to(
        np.asarray(1.0 if pos_weight is None else pos_weight, np.float64), xa.shape
    )
    ma = np.ones(xa.shape, bool) if where is None else np.asarray(where, bool)
    vals, ks, gs, kgs = [], [], [], []
    for xv, yv, wv, pv, mv in zip(
        xa.ravel(), ya.ravel(), wa.ravel(), pa.ravel(), ma.ravel(), strict=True
    ):
        if not mv:
            vals.append(0.0), ks.append(1.0), gs.append(0.0), kgs.append(1.0)
            continue
        xm, ym, wm, pm = MP.mpf(xv), MP.mpf(yv), MP.mpf(wv), MP.mpf(pv)
        # a zero coefficient contributes 0, also at an infinite logit
        t1 = 0 if ym == 0 else pm * ym * _softplus(-xm)
        t2 = 0 if ym == 1 else (1 - ym) * _softplus(xm)
        v = wm * (t1 + t2)
        s = 1 / (1 + MP.exp(-xm))
        g1, g2 = -pm * ym * (1 - s), (1 - ym) * s
        g = wm * (g1 + g2)
        vals.append(float(v))
        finite = MP.isfinite(v) and v != 0
        ks.append(float(6 * abs(wm) * (abs(t1) + abs(t2)) / abs(v)) + 1 if finite else 1.0)
        gs.append(float(g))
        kgs.append(1.0 if g == 0 else float(5 * abs(wm) * (abs(g1) + abs(g2)) / abs(g)) + 1)
    v, k = np.array(vals).reshape(xa.shape), np.array(ks).reshape(xa.shape)
    g, kg = np.array(gs).reshape(xa.shape), np.array(kgs).reshape(xa.shape)
    if reduction == "none":
        return {"value": v, "k": k, "grad": g, "kg": kg}
    total = float(MP.fsum(MP.mpf(float(e)) for e in v.ravel()))
    n = int(ma.sum())
    kv = (float(np.sum(k * np.abs(v))) / abs(total) if total != 0 else 0.0) + v.size + 2
    if reduction == "sum":
        return {"value": np.array(total), "k": np.array(kv), "grad": g, "kg": kg}
    scale = 1.0 / n if n else 0.0
    return {"value": np.array(total * scale), "k": np.array(kv), "grad": g * scale, "kg": kg}
