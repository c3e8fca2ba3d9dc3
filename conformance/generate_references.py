"""Write the conformance catalogue: every stored case with its mpmath reference.

    python conformance/generate_references.py          # rewrites the catalogue
    python conformance/generate_references.py --check  # exit 1 if it would change

The output, ``src/xpsoftmax/conformance/data/cases.json`` (and
``properties.json``: the references of the property checks), ships inside the
wheel, so the suite needs no mpmath where it is installed.  It is deterministic (fixed seeds, mpmath at 50 digits, sorted keys), so
anyone can regenerate it and diff.  This script imports nothing from
xpsoftmax: the references are independent of the code under test.

Reference semantics (the project's, see README "semantics"): slices hold the
entries along the reduced axes that ``where`` keeps.  A NaN makes its slice
NaN; a ``+inf`` makes softmax/log_softmax NaN and logsumexp ``+inf``; a slice
of only ``-inf`` gives NaN/NaN/``-inf``; an empty or fully masked slice gives
0 / -inf / -inf; masked entries get 0 (softmax) or -inf (log_softmax).

Each expected value comes with ``k``, the error factor of the bound derived in
:mod:`xpsoftmax.conformance.cases` (``tolerance``): with ``z = x - max``,
``Z = max |z|`` over the finite live entries, ``n`` their number and
``L = log(sum(exp(z))) >= 0``:

* softmax:      k = |z_i| + Z + n + 2
* log_softmax:  k = (|z_i| + L (Z + n + 2)) / |y_i| + 1
* logsumexp:    k = (|m| + L (Z + n + 2)) / |y| + 1

(k = 1 where the exact result is 0 or a special value.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import mpmath
import numpy as np

OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "xpsoftmax"
    / "conformance"
    / "data"
    / "cases.json"
)
#: the references of ``xpsoftmax.conformance.checks.properties``, beside the catalogue
PROPERTIES_OUT = OUT.with_name("properties.json")
mp = mpmath.MPContext()
mp.dps = 50

FUNCS = ("softmax", "log_softmax", "logsumexp")


# -- dtype rounding of the inputs (the reference sees exactly what subjects get) ----
def _round(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        import ml_dtypes

        return np.asarray(values, dtype=np.float64).astype(ml_dtypes.bfloat16).astype(np.float64)
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    return np.asarray(values).astype(dtype)


def _enc(v: float) -> float | str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _enc_array(a: np.ndarray) -> list | float | str:
    if a.ndim == 0:
        return _enc(a.item()) if a.dtype.kind == "f" else a.item()
    return [_enc_array(s) for s in a]


def _log_sum(zs: list) -> mpmath.mpf:
    """log(sum(exp(z))) for z = x - max, as log1p of the non-maximal terms.

    1 + exp(-700) needs 304 digits to hold: log1p keeps the tiny deficit
    at 50 digits of *relative* precision.
    """
    t = mp.fsum(mp.exp(z) for z in zs if z != 0) + (sum(1 for z in zs if z == 0) - 1)
    return mp.log1p(t)


# -- the reference, one slice at a time -------------------------------------------
def _slice_ref(row: list[float], func: str) -> tuple[list[float], list[float]]:
    """(values, k) of func over one slice of live entries (Python floats)."""
    n_all = len(row)
    if func == "logsumexp":
        return _slice_lse(row)
    if any(math.isnan(v) for v in row) or any(v == math.inf for v in row):
        return [math.nan] * n_all, [1.0] * n_all
    finite = [v for v in row if v != -math.inf]
    if not finite:
        return [math.nan] * n_all, [1.0] * n_all
    m = max(finite)
    zs = [mp.mpf(v) - mp.mpf(m) for v in finite]
    big_z = float(max(abs(z) for z in zs))
    n = len(finite)
    lse = _log_sum(zs)  # L >= 0
    L = float(lse)
    vals, ks = [], []
    for v in row:
        if v == -math.inf:
            vals.append(0.0 if func == "softmax" else -math.inf)
            ks.append(1.0)
            continue
        z = mp.mpf(v) - mp.mpf(m)
        if func == "softmax":
            vals.append(float(mp.exp(z - lse)))
            ks.append(abs(float(z)) + big_z + n + 2)
        else:
            y = z - lse
            fy = float(y)  # may underflow to 0: then 0 is the answer to match
            vals.append(fy)
            num = abs(float(z)) + L * (big_z + n + 2)
            ks.append(1.0 if fy == 0 else num / abs(fy) + 1)
    return vals, ks


def _slice_lse(row: list[float]) -> tuple[list[float], list[float]]:
    if any(math.isnan(v) for v in row):
        return [math.nan], [1.0]
    if any(v == math.inf for v in row):
        return [math.inf], [1.0]
    finite = [v for v in row if v != -math.inf]
    if not finite:
        return [-math.inf], [1.0]
    m = max(finite)
    zs = [mp.mpf(v) - mp.mpf(m) for v in finite]
    lse = _log_sum(zs)
    y = mp.mpf(m) + lse
    big_z = float(max(abs(z) for z in zs))
    num = abs(m) + float(lse) * (big_z + len(finite) + 2)
    fy = float(y)
    return [fy], [1.0 if fy == 0 else num / abs(fy) + 1]


def _slice_weighted(row: list[float], bs: list[float]) -> tuple[float, float, float]:
    """(log|sum(b exp(x))|, sign(sum), k) of one slice: scipy.special.logsumexp's b=.

    A zero weight's entry is dead, even at inf or NaN.  Infinite entries
    follow the direct sum: their weighted signs agree (+-inf) or not (NaN).
    The bound: with ``rho_j = x_j + log|b_j|``, the pivot ``p`` of the largest
    ``rho`` (taken out exactly, as the unweighted log1p form does), ratios
    ``r_j = |b_j| exp(rho_j - rho_p)``, each off by
    ``(|x_j| + |log b_j| + |x_p| + |log b_p| + |rho_j - rho_p| + n + 3) u``
    relative, and ``S = |sum| / exp(rho_p)``: the absolute error is at most
    ``u (|x_p| + |log b_p| + sum_j r_j (...) / S + |y|)``, so
    ``k = (|x_p| + |log b_p| + sum_j r_j (...) / S) / |y| + 1``.  It is
    proportional to the result where the pivot alone does not round, which is
    what keeps ``log(1 + 1e-3 exp(-40))`` at 4.25e-21 instead of 0.
    """
    live = [(v, w) for v, w in zip(row, bs, strict=True) if w != 0]
    if any(math.isnan(v) or math.isnan(w) for v, w in live):
        return math.nan, math.nan, 1.0
    infs = {math.copysign(1.0, w) for v, w in live if v == math.inf}
    if infs:
        return (math.inf, infs.pop(), 1.0) if len(infs) == 1 else (math.nan, math.nan, 1.0)
    live = [(v, w) for v, w in live if v != -math.inf]
    if not live:
        return -math.inf, 0.0, 1.0
    s = mp.fsum(mp.mpf(w) * mp.exp(mp.mpf(v)) for v, w in live)
    if s == 0:
        return -math.inf, 0.0, 1.0
    y = float(mp.log(abs(s)))
    rho = [mp.mpf(v) + mp.log(abs(mp.mpf(w))) for v, w in live]
    p = max(range(len(live)), key=lambda j: rho[j])
    xp_, lbp = abs(live[p][0]), abs(float(mp.log(abs(mp.mpf(live[p][1])))))
    n = len(live)
    big_s = abs(s) / mp.exp(rho[p])
    acc = mp.mpf(0)
    for j, (v, w) in enumerate(live):
        if j != p:
            d = rho[j] - rho[p]
            acc += mp.exp(d) * (abs(v) + abs(mp.log(abs(mp.mpf(w)))) + xp_ + lbp + abs(d) + n + 3)
    num = xp_ + lbp + float(acc / big_s)
    return y, float(mp.sign(s)), 1.0 if y == 0 else num / abs(y) + 1


def _wrap(theta: float) -> float:
    """theta in (-pi, pi] (theta already within 2 pi of it)."""
    if theta > math.pi:
        return theta - 2 * math.pi
    if theta <= -math.pi:
        return theta + 2 * math.pi
    return theta


def _slice_complex_special(row: list[complex], bs: list[complex] | None) -> dict:
    """A slice with a non-finite live entry: the direct ``log(sum(b exp(x)))``
    in C99 complex arithmetic (NumPy's ``exp``/``log``), as SciPy computes it.

    An entry whose weight is 0 or whose real part is -inf is dead (an exact 0,
    whatever its imaginary part).  ``log|s|`` (return_sign's first output) is
    ``log(hypot(Re s, Im s))``: +inf when a part of ``s`` is infinite, even
    with the other NaN.  The plain result is a complex NaN (``nan+nanj``)
    wherever a part of ``log(s)`` is NaN.
    """
    ws = [1.0] * len(row) if bs is None else bs
    live = [(v, w) for v, w in zip(row, ws, strict=True) if w != 0 and v.real != -math.inf]
    with np.errstate(all="ignore"):
        # no weights: no product (1 * (inf + 0j) is inf + nan j in complex
        # arithmetic); a real weight scales both parts
        terms = [
            complex(np.exp(np.complex128(v))) if bs is None
            else complex(np.float64(w.real) * np.exp(np.complex128(v))) if w.imag == 0
            else complex(np.complex128(w) * np.exp(np.complex128(v)))
            for v, w in live
        ]  # fmt: skip
        total = np.complex128(sum(terms, 0j))
        mod = float(np.hypot(total.real, total.imag))
        log_mod = float(np.log(mod)) if mod != 0 else -math.inf
        lg = complex(np.log(total)) if total != 0 else complex(-math.inf, 0.0)
        sign = complex(total / mod) if mod != 0 else 0j
    if math.isnan(lg.real) or math.isnan(lg.imag):
        value = complex(math.nan, math.nan)
    else:
        value = complex(lg.real, _wrap(lg.imag) if math.isfinite(lg.imag) else lg.imag)
    if math.isnan(sign.real) or math.isnan(sign.imag):
        sign = complex(math.nan, math.nan)
    return {"value": value, "log_abs": log_mod, "sign": sign,
            "k": 1.0, "k_imag": 1.0, "sign_k": 1.0, "sign_k_imag": 1.0}  # fmt: skip


def _slice_complex(row: list[complex], bs: list[complex] | None) -> dict:
    """log(sum(b exp(x))) of one complex slice, with its phase wrapped to (-pi, pi].

    Returns the value, ``log|s|``, the phase ``s/|s|`` and the bound factors
    (k for the real and imaginary parts, and for the phase's two components).
    The bound, with ``rho_j = Re x_j + log|b_j|``, ``phi_j = Im x_j + arg b_j``,
    the pivot ``p`` (largest rho, then largest phi, taken out exactly),
    ``r_j = exp(rho_j - rho_p)``, ``S = |s| / exp(rho_p)`` and ``theta = arg s``:
    each term's modulus carries relative error
    ``e_j = |Re x_j| + |log|b_j|| + |Re x_p| + |log|b_p|| + |rho_j - rho_p| + n + 4``
    (the shift, exp, cos/sin, the sums) and its phase absolute error
    ``f_j = |Im x_j| + |arg b_j| + |Im x_p| + |arg b_p| + 2 |phi_j - phi_p|`` (in u),
    so the absolute errors (in u) are at most

    * real part: ``|Re x_p| + |log|b_p|| + sum_j r_j (e_j + f_j) / S``;
    * imaginary part: ``sum_j r_j (e_j |sin(phi_j - theta)| + f_j) / S
      + |theta - phi_p| + |theta|`` (atan2 and the final sum), plus the
      unwrapped phase where it is wrapped by 2 pi.

    The phase bound is proportional to theta where the phases are small
    (``logsumexp([0, 2.2e-17j])`` keeps 1.1e-17 to full relative accuracy).
    The phase components ``cos theta``, ``sin theta`` then carry
    ``A_im |sin theta|`` and ``A_im |cos theta|`` absolute plus their own
    rounding.  ``k`` = absolute bound / |value| + 1, as for the real cases.
    """
    weighted = bs is not None
    ws = [complex(1.0)] * len(row) if bs is None else bs
    live_all = [(v, w) for v, w in zip(row, ws, strict=True) if w != 0]
    if any(not (math.isfinite(v.real) or v.real == -math.inf) or not math.isfinite(v.imag)
           or not (math.isfinite(w.real) and math.isfinite(w.imag))
           for v, w in live_all if v.real != -math.inf) or any(
               math.isnan(v.imag) or math.isnan(v.real) for v, _ in live_all):  # fmt: skip
        return _slice_complex_special(row, bs)
    live = [(v, w) for v, w in live_all if v.real != -math.inf]
    if not live:
        return _slice_complex_special(row, bs)
    s = mp.fsum(mp.mpc(w) * mp.exp(mp.mpc(v)) for v, w in live)
    if s == 0:
        return _slice_complex_special(row, bs)
    lg = mp.log(s)  # principal branch: imaginary part in (-pi, pi]
    n = len(live)
    rho = [mp.mpf(v.real) + mp.log(abs(mp.mpc(w))) for v, w in live]
    phi = [mp.mpf(v.imag) + mp.arg(mp.mpc(w)) for v, w in live]
    p = max(range(n), key=lambda j: (rho[j], phi[j]))
    big_s = abs(s) / mp.exp(rho[p])
    theta = lg.imag
    lb = [abs(mp.log(abs(mp.mpc(w)))) for _, w in live]
    ab = [abs(mp.arg(mp.mpc(w))) for _, w in live]
    xp_re, xp_im = abs(live[p][0].real), abs(live[p][0].imag)
    acc_re = mp.mpf(0)
    acc_im = mp.mpf(0)
    for j, (v, _) in enumerate(live):
        if rho[j] == rho[p] and phi[j] == phi[p]:
            continue  # a pivot's term is 1 + 0j exactly
        r = mp.exp(rho[j] - rho[p])
        e = abs(rho[j] - rho[p]) + n + 4
        f = 2 * abs(phi[j] - phi[p])
        if weighted:  # rho and phi are rounded sums then
            e += abs(v.real) + lb[j] + xp_re + lb[p]
            f += abs(v.imag) + ab[j] + xp_im + ab[p]
        acc_re += r * (e + f)
        acc_im += r * (e * abs(mp.sin(phi[j] - theta)) + f)
    a_re = (xp_re + lb[p] if weighted else xp_re) + acc_re / big_s
    # the phase computed before wrapping: phi_p + arg(s / exp(i phi_p))
    unwrapped = phi[p] + mp.arg(s * mp.exp(-1j * phi[p]))
    a_im = acc_im / big_s + abs(theta - phi[p]) + abs(theta)
    if abs(unwrapped) > mp.pi:
        a_im += abs(unwrapped) + 2 * mp.pi
    value = complex(float(lg.real), float(theta))
    sign = complex(s / abs(s))

    def k(a: mpmath.mpf, y: float) -> float:
        return 1.0 if y == 0 else min(float(a) / abs(y) + 1, 1e300)

    sc, ss = abs(mp.cos(theta)), abs(mp.sin(theta))
    return {
        "value": value, "log_abs": value.real, "sign": sign,
        "k": k(a_re, value.real), "k_imag": k(a_im, value.imag),
        "sign_k": k(a_im * ss, sign.real) + 1, "sign_k_imag": k(a_im * sc, sign.imag) + 1,
    }  # fmt: skip


def _slice_lme(row: list[float]) -> tuple[float, float]:
    """(log(mean(exp(x))), k) of one slice.

    Two known forms, the bound is the better one's: shifted,
    ``m + L - log n`` (``|m| + L (Z + n + 2) + log n`` absolute, in u), and
    near zero ``log1p(mean(expm1(x)))`` (each expm1 and the mean of n terms:
    ``sum |expm1 x_i| (n + 1) / n / (1 + mean)``), whose error is
    proportional to the result where the shifted form cancels.
    """
    if not row:
        return math.nan, 1.0
    if any(math.isnan(v) for v in row) or any(v == math.inf for v in row):
        return (math.nan if any(math.isnan(v) for v in row) else math.inf), 1.0
    finite = [v for v in row if v != -math.inf]
    if not finite:
        return -math.inf, 1.0
    n = len(row)
    m = max(finite)
    zs = [mp.mpf(v) - mp.mpf(m) for v in finite]
    lse = _log_sum(zs)
    y = mp.mpf(m) + lse - mp.log(n)
    fy = float(y)
    big_z = float(max(abs(z) for z in zs))
    e_shift = abs(m) + float(lse) * (big_z + n + 2) + math.log(n)
    mean = mp.fsum(mp.expm1(mp.mpf(v)) for v in row) / n
    e_near = float(mp.fsum(abs(mp.expm1(mp.mpf(v))) for v in row) * (n + 1) / n / (1 + mean))
    return fy, 1.0 if fy == 0 else min(e_shift, e_near) / abs(fy) + 1


def reference(
    x: np.ndarray, func: str, axis, where: np.ndarray | None, keepdims: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(expected, k) for one call; ``axis`` as the case gives it ("default" = -1)."""
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim
    if axis == "default":
        axis = -1
    if axis is None:
        axes = tuple(range(nd))
    elif isinstance(axis, (list, tuple)):
        axes = tuple(sorted(a % nd for a in axis)) if nd else ()
    else:
        axes = (axis % nd,) if nd else ()
    mask = np.ones(x.shape, bool) if where is None else np.broadcast_to(where, x.shape)
    rest = tuple(i for i in range(nd) if i not in axes)
    moved = np.transpose(x, rest + axes)
    mmask = np.transpose(mask, rest + axes)
    lead = moved.shape[: len(rest)]
    n = int(np.prod(moved.shape[len(rest) :], dtype=np.int64))
    nrows = int(np.prod(lead, dtype=np.int64))
    rows = moved.reshape(nrows, n)
    mrows = mmask.reshape(nrows, n)
    if func in ("logsumexp", "logmeanexp"):
        vals = np.empty(rows.shape[0])
        ks = np.empty(rows.shape[0])
        for r in range(rows.shape[0]):
            live = [float(v) for v, keep in zip(rows[r], mrows[r], strict=True) if keep]
            if func == "logmeanexp":
                vals[r], ks[r] = _slice_lme(live)
            elif not live:
                vals[r], ks[r] = -math.inf, 1.0
            else:
                (vals[r],), (ks[r],) = _slice_lse(live)
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        if not keepdims:
            out_shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
        return vals.reshape(out_shape), ks.reshape(out_shape)
    vals = np.empty(rows.shape)
    ks = np.ones(rows.shape)
    fill = 0.0 if func == "softmax" else -math.inf
    for r in range(rows.shape[0]):
        idx = [j for j in range(n) if mrows[r, j]]
        vals[r] = fill
        if idx:
            v, k = _slice_ref([float(rows[r, j]) for j in idx], func)
            vals[r, idx] = v
            ks[r, idx] = k
    back = np.argsort(rest + axes)
    shaped = vals.reshape(lead + moved.shape[len(rest) :])
    kshaped = ks.reshape(lead + moved.shape[len(rest) :])
    return np.transpose(shaped, back), np.transpose(kshaped, back)


# -- the catalogue -------------------------------------------------------------------
CASES: list[dict] = []


def add(
    cid: str,
    group: str,
    x,
    dtype: str,
    *,
    axis=-1,
    where=None,
    keepdims: bool = False,
    funcs=FUNCS,
    note: str = "",
    printed=None,
    b=None,
    return_sign: bool = False,
) -> None:
    if b is not None:
        _add_weighted(cid, group, x, b, dtype, return_sign, note)
        return
    xr = _round(np.asarray(x, dtype=np.float64 if dtype not in ("bool",) else bool), dtype)
    w = None if where is None else np.asarray(where, dtype=bool)
    for func in funcs:
        exp, k = reference(xr.astype(np.float64), func, axis, w, keepdims)
        case = {
            "id": f"{cid}/{func}",
            "group": group,
            "func": func,
            "dtype": dtype,
            "shape": list(xr.shape),
            "x": _enc_array(xr.astype(np.float64)) if dtype != "bool" else xr.tolist(),
            "axis": list(axis) if isinstance(axis, tuple) else axis,
            "where": None if w is None else w.tolist(),
            "keepdims": keepdims,
            "expected": _enc_array(exp),
            "k": _enc_array(k),
        }
        if note:
            case["note"] = note
        if printed is not None and func == "softmax":
            case["printed"] = printed
        CASES.append(case)


def _add_weighted(cid: str, group: str, x, b, dtype: str, return_sign: bool, note: str) -> None:
    """A logsumexp(x, b=b[, return_sign=True]) case over the last axis of 2-d rows."""
    xr = np.asarray(x, dtype=np.float64)
    br = np.asarray(b, dtype=np.float64)
    assert xr.ndim == 2 and xr.shape == br.shape and dtype == "float64"
    vals, signs, ks = zip(
        *(_slice_weighted(r.tolist(), w.tolist()) for r, w in zip(xr, br, strict=True)),
        strict=True,
    )
    if not return_sign:  # a negative total has no real log
        vals = tuple(math.nan if sg < 0 else v for v, sg in zip(vals, signs, strict=True))
    case = {
        "id": f"{cid}/logsumexp", "group": group, "func": "logsumexp", "dtype": dtype,
        "shape": list(xr.shape), "x": _enc_array(xr), "b": _enc_array(br), "axis": -1,
        "where": None, "keepdims": False, "return_sign": return_sign,
        "expected": _enc_array(np.array(vals)), "k": _enc_array(np.array(ks)),
    }  # fmt: skip
    if return_sign:
        case["sign"] = _enc_array(np.array(signs))
    if note:
        case["note"] = note
    CASES.append(case)


def _enc_parts(values: list[complex]) -> tuple[list, list]:
    return [_enc(v.real) for v in values], [_enc(v.imag) for v in values]


def add_complex(cid: str, row: list, b=None, *, return_sign: bool = False, note: str = "") -> None:
    """A logsumexp case of one complex128 slice (x of shape (1, n), axis -1).

    ``b`` (real or complex weights, or None) is stored as complex where it is
    complex; subjects pass it in x's dtype.
    """
    xr = [complex(v) for v in row]
    br = None if b is None else [complex(v) for v in b]
    ref = _slice_complex(xr, br)
    xre, xim = _enc_parts(xr)
    case = {
        "id": f"{cid}/logsumexp", "group": "complex", "func": "logsumexp",
        "dtype": "complex128", "shape": [1, len(xr)], "x": [xre], "x_imag": [xim],
        "axis": -1, "where": None, "keepdims": False, "return_sign": return_sign,
    }  # fmt: skip
    if br is not None:
        bre, bim = _enc_parts(br)
        case["b"] = [bre]
        if any(v.imag != 0 for v in br):
            case["b_imag"] = [bim]
    if return_sign:
        case["expected"] = [_enc(ref["log_abs"])]
        case["k"] = [ref["k"]]
        case["sign"] = [_enc(ref["sign"].real)]
        case["sign_imag"] = [_enc(ref["sign"].imag)]
        case["sign_k"] = [ref["sign_k"]]
        case["sign_k_imag"] = [ref["sign_k_imag"]]
    else:
        case["expected"] = [_enc(ref["value"].real)]
        case["expected_imag"] = [_enc(ref["value"].imag)]
        case["k"] = [ref["k"]]
        case["k_imag"] = [ref["k_imag"]]
    if note:
        case["note"] = note
    CASES.append(case)


#: complex slices: (id, x, b, note); each becomes a plain and a return_sign case
_COMPLEX = [
    ("quadrants-3", [1 + 2j, -3 + 0.5j, 0.25 - 3j], None, "an entry in every quadrant"),
    ("quadrants-4", [-1 - 2j, -0.5 + 2.5j, 2 - 1j, 1.5 + 1e-3j], None, ""),
    ("wrap-pi", [1j * math.pi, 1j * math.pi], None, "imaginary part +pi, not -pi"),
    ("wrap-single", [1 + 4j], None, "4 wraps to 4 - 2 pi"),
    ("wrap-large", [2 + 10j, 1 - 7j], None, ""),
    ("wrap-negative", [-3j, -3j], None, ""),
    ("tiny-imag", [0j, 2.2e-17j], None, "1.1e-17 to full relative accuracy"),
    ("tiny-imag-3", [1e-20j, -1e-20j, 3e-20j], None, ""),
    ("large", [1000 + 1j, 999 - 2j], None, ""),
    ("small", [-1000 + 0.5j, -1000.5 - 0.5j], None, ""),
    ("log1p-weights", [0j, -40 + 0j], [1.0, 1e-3], "log1p form with weights: 4.2484e-21"),
    ("negative-weight", [1 + 1j, 2 - 1j], [1.0, -1.0], "a real negative weight: phase pi"),
    ("complex-weights", [0.3 + 0j, -0.2 + 0j], [1 + 1j, -2 - 0.5j], ""),
    ("cancel", [1 + 1j, 1 + 1j], [1.0, -1.0], "an exactly cancelling total: -inf + 0j, sign 0"),
    ("inf-real", [complex(math.inf, 0), 1], None, "real +inf: inf + 0j"),
    (
        "inf-phase",
        [complex(math.inf, 1), 1],
        None,
        "C99: exp(inf + 1j) + 1 is inf + inf j, its log inf + pi/4 j (the limit would be inf + 1j)",
    ),
    ("inf-negative-phase", [complex(math.inf, -1)], None, ""),
    ("ninf-dead", [complex(-math.inf, 1), 1], None, "Re x = -inf: an exact 0"),
    ("ninf-only", [complex(-math.inf, 1)], None, "no mass: -inf + 0j"),
    ("ninf-inf-imag", [complex(-math.inf, -math.inf)], None, "exp(-inf - inf j) is 0"),
    ("ninf-nan-imag", [complex(-math.inf, math.nan), 1], None, "exp(-inf + nan j) is 0"),
    (
        "inf-inf",
        [complex(math.inf, math.inf)],
        None,
        "exp is inf + nan j: log|s| inf, the phase NaN",
    ),
    ("inf-nan", [complex(math.inf, math.nan)], None, ""),
    ("finite-inf-imag", [complex(1, math.inf)], None, "exp(1 + inf j) is nan + nan j"),
    (
        "inf-opposed",
        [complex(math.inf, 2), complex(math.inf, -2)],
        None,
        "-inf + nan j: log|s| inf, the phase NaN",
    ),
    ("inf-pi", [complex(math.inf, 0), complex(math.inf, math.pi)], None, ""),
    ("nan-real", [complex(math.nan, 0), 1], None, ""),
    ("nan-imag", [complex(1, math.nan), 1], None, ""),
    ("zero-weight-at-inf", [complex(math.inf, 0), 1], [0.0, 1.0], "a zero weight is dead"),
]


def build() -> None:
    f32max = float(np.finfo(np.float32).max)
    f64max = float(np.finfo(np.float64).max)
    # the documents' worked examples
    p000 = [[0.24881134, 0.39762192, 0.35356674], [0.18263991, 0.26894142, 0.54841867]]
    add(
        "seed000-2x3-dim1",
        "examples",
        [[1, 2, 3], [4, 5, 6]],
        "float32",
        axis=1,
        note="seed 000: torch.softmax(input, dim=1)",
        printed=p000,
    )
    add(
        "seed000-2x2x3-dim2",
        "examples",
        [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]],
        "float32",
        axis=2,
        note="seed 000: torch.softmax(input, dim=2) (output not printed)",
    )
    add(
        "seed001-2,1,0.5",
        "examples",
        [2.0, 1.0, 0.5],
        "float64",
        note="seed 001: Softmax([2.0, 1.0, 0.5])",
        printed=[0.665, 0.245, 0.090],
    )
    add(
        "seed001-1.5,0.8,-0.2",
        "examples",
        [1.5, 0.8, -0.2],
        "float64",
        note="seed 001: worked example",
        printed=[0.596, 0.296, 0.109],
    )
    add(
        "seed001-1.5,0.8,-0.2-f32",
        "examples",
        [1.5, 0.8, -0.2],
        "float32",
        note="seed 001: worked example in float32",
    )

    # large and tiny logits, overflow/underflow of exp
    add("large-1000,0", "large-logits", [1000.0, 0.0], "float64")
    add("large-1000,0-f32", "large-logits", [1000.0, 0.0], "float32")
    add(
        "large-f32max",
        "large-logits",
        [[f32max, 0.0], [f32max, f32max], [f32max, -f32max], [-f32max, -f32max]],
        "float32",
    )
    add(
        "large-f64max",
        "large-logits",
        [[f64max, 0.0], [f64max, f64max], [-f64max, -f64max]],
        "float64",
    )
    add(
        "large-exp-overflow-f32",
        "large-logits",
        [[89.0, 88.5, 80.0], [100.0, 99.0, -5.0]],
        "float32",
        note="exp(89) overflows float32 without the max shift",
    )
    add("large-exp-overflow-f64", "large-logits", [[710.0, 709.5, 700.0]], "float64")
    add(
        "large-all-negative",
        "large-logits",
        [[-1000.0, -1000.5, -1001.0], [-1e5, -1e5, -1e5 - 1]],
        "float64",
        note="every exp underflows without the shift",
    )
    add("large-all-negative-f32", "large-logits", [[-200.0, -200.5, -201.0]], "float32")
    add("large-spread", "large-logits", [[1e4, -1e4, 0.0], [80.0, 0.0, -80.0]], "float32")
    add(
        "tiny-logits",
        "large-logits",
        [[1e-30, -1e-30, 0.0], [1e-45, 0.0, -1e-45]],
        "float32",
        note="tiny and subnormal logits",
    )
    add(
        "tiny-logits-f64",
        "large-logits",
        [[5e-324, 0.0, -5e-324], [1e-300, 2e-300, 3e-300]],
        "float64",
    )
    add(
        "underflow-row",
        "large-logits",
        [[0.0, -100.0], [0.0, -800.0]],
        "float64",
        note="exp(-800) underflows float64",
    )
    add(
        "underflow-row-f32",
        "large-logits",
        [[0.0, -100.0], [0.0, -110.0]],
        "float32",
        note="exp(-100) is subnormal in float32",
    )

    # special values: one slice per row
    special = [
        [math.inf, 1.0],
        [-math.inf, 1.0],
        [math.nan, 1.0],
        [-math.inf, -math.inf],
        [math.inf, math.inf],
        [math.inf, -math.inf],
        [math.nan, math.inf],
        [0.0, 0.0],
    ]
    add("special-rows", "special", special, "float64")
    add("special-rows-f32", "special", special, "float32")
    add(
        "special-cols",
        "special",
        np.array(special).T.tolist(),
        "float64",
        axis=0,
        note="the same slices along axis 0",
    )

    # shapes: empty axes, zero slices, 0-d
    add("empty-axis", "shapes", np.zeros((0,)), "float64")
    add("empty-axis-2d", "shapes", np.zeros((2, 0)), "float32")
    add("empty-batch", "shapes", np.zeros((0, 3)), "float64", note="no slices, non-empty axis")
    add(
        "empty-keepdims", "shapes", np.zeros((2, 0)), "float64", keepdims=True, funcs=("logsumexp",)
    )
    add("zero-d", "shapes", np.array(3.0), "float64", axis=-1)
    add("zero-d-none", "shapes", np.array(-2.5), "float32", axis=None)
    add("length-one", "shapes", [[5.0], [-1e308]], "float64")
    add(
        "keepdims",
        "shapes",
        [[1.0, 2.0], [3.0, 5.0]],
        "float64",
        keepdims=True,
        funcs=("logsumexp",),
    )

    # dtypes
    add("int64", "dtypes", [[1, 2, 3], [4, 5, 6]], "int64")
    add("int32", "dtypes", [[-3, 0, 7]], "int32")
    add("bool", "dtypes", [[True, False, True]], "bool")
    add("float16", "dtypes", [[0.5, 1.0, 2.0, 3.0], [1e-3, -2.0, 4.0, 8.0]], "float16")
    add(
        "float16-60000",
        "dtypes",
        [[60000.0, 0.0], [60000.0, 60000.0], [-60000.0, 0.0], [11.0, 11.0]],
        "float16",
        note="exp(11) and 60000 + log 2 overflow or round in float16 arithmetic",
    )
    add("float16-dominant", "dtypes", [[0.0, -8.0, -12.0]], "float16")
    add("bfloat16", "dtypes", [[1.0, 2.0, 3.0], [1e38, 0.0, -1e38]], "bfloat16")
    add("bfloat16-dominant", "dtypes", [[0.0, -10.0, -20.0]], "bfloat16")

    # axes
    rng = np.random.Generator(np.random.PCG64(20240001))
    a3 = rng.normal(0.0, 3.0, size=(2, 3, 4))
    for ax in (0, 1, 2, -1, -2, (0, 2), (1, 2), (0, 1, 2), None, (), "default"):
        name = (
            "default" if ax == "default" else ("none" if ax is None else str(ax).replace(" ", ""))
        )
        add(
            f"axis={name}",
            "axes",
            a3,
            "float64",
            axis=ax,
            note="axis omitted: each function's default" if ax == "default" else "",
        )

    # where masks
    add(
        "mask-partial",
        "masks",
        [[1.0, 2.0, 3.0, 4.0], [5.0, -1.0, 0.0, 9.0]],
        "float64",
        where=[[True, False, True, True], [False, True, True, False]],
    )
    add(
        "mask-full-slice",
        "masks",
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        "float64",
        where=[[False, False, False], [True, True, False]],
        note="a fully masked slice",
    )
    add(
        "mask-broadcast",
        "masks",
        [[1.0, 2.0, 3.0], [0.0, 0.0, 100.0]],
        "float32",
        where=[True, False, True],
        note="mask broadcast along the batch axis",
    )
    add(
        "mask-hides-special",
        "masks",
        [[math.inf, 1.0, 2.0], [math.nan, 0.0, 0.0]],
        "float64",
        where=[[False, True, True], [False, True, True]],
        note="masked +inf/NaN take no part",
    )
    add(
        "mask-axis0",
        "masks",
        a3[:, :, 0],
        "float64",
        axis=0,
        where=[[True, False, True], [True, False, False]],
    )

    # adversarial rows
    add(
        "dominant-f32",
        "adversarial",
        [[0.0, -30.0], [0.0, -20.0], [0.0, -25.0]],
        "float32",
        note="log_softmax top entry is -exp(-30), not 0",
    )
    add("dominant-f64", "adversarial", [[0.0, -40.0], [0.0, -700.0], [5.0, -50.0]], "float64")
    add("dominant-many", "adversarial", [[0.0] + [-20.0] * 63], "float32")
    ties = np.float32(1.0) + np.arange(8, dtype=np.float32) * np.spacing(np.float32(1.0))
    add("near-ties-f32", "adversarial", [ties.tolist(), [0.0] * 8], "float32")
    t64 = 1e3 + np.arange(8) * np.spacing(1e3)
    add("near-ties-f64", "adversarial", [t64.tolist()], "float64")
    add("tie-at-max", "adversarial", [[3.0, 3.0, -40.0], [0.0, 0.0, 0.0]], "float32")
    long32 = rng.normal(0.0, 4.0, size=(2, 2048))
    add("long-rows-f32", "adversarial", long32, "float32")
    add("long-rows-f64", "adversarial", rng.normal(0.0, 4.0, size=(1, 2048)), "float64")
    add(
        "long-dominant-f32",
        "adversarial",
        [[0.0] + [-18.0] * 2047],
        "float32",
        note="log_softmax top entry -2047 exp(-18)",
    )

    # weights (scipy.special.logsumexp's b=), signs, and logmeanexp
    inf, nan = math.inf, math.nan
    wx = [[0.0, -40.0], [0.0, 0.5], [1.0, 2.0, 3.0], [1000.0, 999.0], [-1000.0, -1001.0],
          [0.0, -30.0], [0.0, 0.0, 0.0]]  # fmt: skip
    wb = [[1.0, 1e-3], [1.0, 1e-10], [2.0, -0.5, 0.25], [-1.0, 3.0], [1.0, 1.0],
          [1.0, -1e-5], [1.0, 1.0, -1.0]]  # fmt: skip
    notes = "log1p form (4.2484e-21, not 0); the weight decides the pivot; both signs; cancelling"
    for i, (xv, bv) in enumerate(zip(wx, wb, strict=True)):
        add(f"weights-{i}", "weights", [xv], "float64", b=[bv], note=notes if i == 0 else "")
    sx = [[1.0, 2.0], [3.0, 3.0], [inf, 1.0], [nan, 1.0],
          [inf, inf], [-inf, -inf], [5.0, 7.0], [inf, 1.0], [inf, inf]]  # fmt: skip
    sb = [[1.0, -1.0], [1.0, -1.0], [0.0, 1.0], [0.0, 2.0], [0.0, 1.0],
          [1.0, -1.0], [0.0, 0.0], [-1.0, 1.0], [1.0, -1.0]]  # fmt: skip
    add("weights-signs", "weights", sx, "float64", b=sb, return_sign=True,
        note="negative and exactly cancelling totals, zero weights at inf/NaN, infinities")  # fmt: skip
    add("weights-signs-nosign", "weights", sx, "float64", b=sb,
        note="the same without return_sign: a negative total is NaN")  # fmt: skip
    add("logmeanexp-near-zero", "weights",
        [[1e-10, -1e-10, 2e-10], [1e-300, -1e-300, 0.0], [0.5, -0.5, 0.0], [1e-8, 0.0, 0.0]],
        "float64", funcs=("logmeanexp",),
        note="the shifted m + log1p(t) - log n cancels; log1p(mean(expm1 x)) does not")  # fmt: skip
    add("logmeanexp", "weights", [[1000.0, 999.0, 0.0], [-5.0, 3.0, 2.0], [-inf, 0.0, 1.0]],
        "float64", funcs=("logmeanexp",))  # fmt: skip

    # complex input: quadrants, the (-pi, pi] wrap, tiny phases, weights, infinities
    for cid, row, b, note in _COMPLEX:
        add_complex(f"complex-{cid}", row, b, note=note)
        add_complex(f"complex-{cid}-sign", row, b, return_sign=True)

    _losses()


def _losses() -> None:
    """The losses group: cross_entropy, binary_cross_entropy, log_sigmoid."""
    inf = math.inf
    rng = np.random.Generator(np.random.PCG64(20260225))
    rows = rng.normal(0.0, 3.0, size=(4, 6))
    ce = "cross_entropy"
    add_loss(
        "ce-confident",
        ce,
        "float32",
        [[30.0, 0.0, 0.0], [0.0, -20.0, -25.0]],
        [0, 0],
        note="log1p(2 exp(-30)) = 1.8715e-13: torch, optax, tf.nn give 0",
    )
    add_loss(
        "ce-confident-bf16",
        ce,
        "bfloat16",
        [[30.0, 0.0, 0.0]],
        [0],
        note="1.8715e-13 is a bfloat16 number too",
    )
    big = np.zeros((1, 8192))
    big[0, 7] = 8.0
    add_loss(
        "ce-smoothing-f16-8192",
        ce,
        "float16",
        big,
        [7],
        label_smoothing=0.1,
        reduction="mean",
        note="the smoothing sum of 8192 log-probabilities (-76600) overflows float16",
    )
    add_loss(
        "ce-ignored-all",
        ce,
        "float32",
        rows[:2],
        [-100, -100],
        reduction="mean",
        note="a mean over no live sample is 0 here (torch: NaN, pytorch#70348)",
    )
    add_loss(
        "ce-masked-vocab",
        ce,
        "float32",
        [[0.0, -inf, 1.0, 2.0], [-inf, 5.0, -inf, 4.0]],
        [2, 1],
        label_smoothing=0.2,
        note="smoothing over the finite classes (torch spreads onto -inf: inf)",
    )
    add_loss(
        "ce-weights-ignore",
        ce,
        "float64",
        rows,
        [0, -100, 5, 3],
        reduction="mean",
        weight=[0.5, 2.0, 1.0, 3.0, 0.25, 1.5],
        label_smoothing=0.1,
        note="torch's weighted mean: over the live targets' weights",
    )
    probs = [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]
    add_loss(
        "ce-probs-zeros",
        ce,
        "float32",
        [[0.0, -inf, 1.0], [30.0, 0.0, -inf], [1.0, 2.0, 3.0]],
        probs,
        note="a zero probability on a -inf logit contributes 0 (0 * inf elsewhere)",
    )
    add_loss(
        "ce-offset-1e4",
        ce,
        "float32",
        3 * rows + 1e4,
        np.argmax(rows, axis=1),
        note="1e4 offsets, the target the maximum: log(sum) - x_t loses the small loss",
    )
    add_loss(
        "ce-axis1-where",
        ce,
        "float64",
        rows.reshape(2, 4, 3),
        [[0, 1, 3], [3, 2, 1]],
        axis=1,
        where=[[True, False, True], [True, True, False]],
        reduction="sum",
    )
    add_loss("ce-ordinary", ce, "float64", rows, [5, 4, 3, 2], reduction="mean")
    bce = "binary_cross_entropy"
    add_loss(
        "bce-confident",
        bce,
        "float32",
        [[-30.0, 30.0, 0.0, 17.0, -17.0]],
        [[0.0, 1.0, 1.0, 0.0, 1.0]],
        note="softplus(-30) = 9.3576e-14: torch's (1 - y) x + softplus(-x) gives 0",
    )
    add_loss(
        "bce-weights",
        bce,
        "float64",
        rows,
        rng.random((4, 6)),
        reduction="mean",
        weight=rng.random((4, 1)),
        pos_weight=rng.random(6) * 3,
    )
    add_loss(
        "bce-infinite",
        bce,
        "float32",
        [[-inf, inf, 2.0]],
        [[0.0, 1.0, 0.5]],
        reduction="mean",
        note="a zero coefficient on an infinite logit contributes 0",
    )
    grid = [-1e4, -100.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 17.0, 30.0, 100.0, 1e4]
    add_loss("log-sigmoid", "log_sigmoid", "float32", [grid], None)
    add_loss("log-sigmoid-f64", "log_sigmoid", "float64", [[*grid, -800.0, 800.0]], None)


def _loss_reference():
    """tests/loss_reference.py: the mpmath references the unit tests use too."""
    import importlib

    here = str(Path(__file__).resolve().parents[1] / "tests")
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module("loss_reference")


def add_loss(
    cid: str, func: str, dtype: str, x, labels, *, axis: int = -1, where=None,
    reduction: str = "none", note: str = "", **kw,
) -> None:  # fmt: skip
    """A case of the losses group: ``x`` and probability labels rounded to ``dtype``."""
    ref = _loss_reference()
    xr = _round(np.asarray(x, dtype=np.float64), dtype)
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and lab.dtype.kind == "f":
        lab = _round(lab, dtype)
    kwr = {k: _round(np.asarray(v, dtype=np.float64), dtype) if not np.isscalar(v) else v
           for k, v in kw.items()}  # fmt: skip
    if func == "log_sigmoid":
        exp, k = ref.mp_log_sigmoid(xr)
    elif func == "binary_cross_entropy":
        r = ref.mp_binary_cross_entropy(xr, lab, kwr.get("weight"), kwr.get("pos_weight"),
                                        reduction, where)  # fmt: skip
        exp, k = r["value"], r["k"]
    else:
        r = ref.mp_cross_entropy(xr, lab, axis=axis, reduction=reduction, where=where, **kwr)
        exp, k = r["value"], r["k"]
    case = {
        "id": f"{cid}/{func}", "group": "losses", "func": func, "dtype": dtype,
        "shape": list(xr.shape), "x": _enc_array(xr.astype(np.float64)), "axis": axis,
        "where": None if where is None else np.asarray(where, dtype=bool).tolist(),
        "keepdims": False, "expected": _enc_array(np.asarray(exp, dtype=np.float64)),
        "k": _enc_array(np.asarray(k, dtype=np.float64)),
        "loss": {"reduction": reduction,
                 **{n: (_enc_array(v) if isinstance(v, np.ndarray) else v) for n, v in kwr.items()}},
    }  # fmt: skip
    if lab is not None:
        case["labels"] = lab.tolist() if lab.dtype.kind in "iu" else _enc_array(lab)
        case["labels_kind"] = "index" if lab.dtype.kind in "iu" else "probs"
        case["labels_shape"] = list(lab.shape)
    if note:
        case["note"] = note
    CASES.append(case)


# the generated accuracy sets: data made at run time from these seeds, identical
# for every subject; references in float64 (16/32-bit) or np.longdouble (float64)
ACCURACY = [
    {"name": "normal(0,1) 512x512", "dist": "normal", "scale": 1.0, "shape": [512, 512], "seed": 1},
    {
        "name": "normal(0,8) 2048x128",
        "dist": "normal",
        "scale": 8.0,
        "shape": [2048, 128],
        "seed": 2,
    },
    {
        "name": "uniform(-60,60) 16384x16",
        "dist": "uniform",
        "scale": 60.0,
        "shape": [16384, 16],
        "seed": 3,
    },
    {
        "name": "logits normal(0,3) 8x32768",
        "dist": "normal",
        "scale": 3.0,
        "shape": [8, 32768],
        "seed": 4,
    },
]
ACCURACY_DTYPES = ["float64", "float32", "float16", "bfloat16"]


def errata() -> list[dict]:
    """The documents' printed values against mpmath (checked here, not trusted)."""
    out = []
    for c in CASES:
        if "printed" not in c:
            continue
        exp = np.asarray(c["expected"], dtype=np.float64)
        printed = np.asarray(c["printed"], dtype=np.float64)
        digits = 8 if c["id"].startswith("seed000") else 3
        correct = np.round(exp, digits)
        out.append(
            {
                "case": c["id"],
                "document": c["note"],
                "input": c["x"],
                "printed": c["printed"],
                "mpmath": exp.tolist(),
                "correct_rounded": correct.tolist(),
                "max_abs_error": float(np.max(np.abs(printed - exp))),
                "wrong_entries": int(np.sum(np.abs(printed - correct) > 0.5 * 10.0**-digits)),
            }
        )
    # seed 001's intermediates: exps and their sum printed to 3 decimals
    xs = [1.5, 0.8, -0.2]
    exps = [mp.exp(mp.mpf(v)) for v in xs]
    for label, printed, true in (
        ("e^1.5", 4.482, exps[0]),
        ("e^0.8", 2.225, exps[1]),
        ("e^-0.2", 0.819, exps[2]),
        ("sum", 7.526, mp.fsum(exps)),
    ):
        out.append(
            {
                "case": f"seed001-intermediate {label}",
                "document": "seed 001: worked example, step 1-2",
                "printed": printed,
                "mpmath": float(true),
                "correct_rounded": round(float(true), 3),
                "max_abs_error": abs(printed - float(true)),
                "wrong_entries": int(round(float(true), 3) != printed),
            }
        )
    return out


def catalogue() -> dict:
    CASES.clear()
    build()
    return {
        "version": 1,
        "generator": f"conformance/generate_references.py (mpmath {mpmath.__version__}, {mp.dps} digits)",
        "cases": CASES,
        "accuracy": {"sets": ACCURACY, "dtypes": ACCURACY_DTYPES},
        "errata": errata(),
    }


#: the sigmoid property: softmax([t, 0])[0] = 1 / (1 + exp(-t)) on this grid
SIGMOID_T = np.arange(-40.0, 40.0, 0.37)


def properties() -> dict:
    """The references of the property checks that compare with a closed form."""
    sigmoid = [float(1 / (1 + mp.exp(-mp.mpf(float(t))))) for t in SIGMOID_T]
    return {
        "version": 1,
        "generator": f"conformance/generate_references.py (mpmath {mpmath.__version__}, {mp.dps} digits)",
        "sigmoid": {"t": [float(t) for t in SIGMOID_T], "expected": sigmoid},
    }


def _dumps(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True, indent=None, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file would change")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    files = {
        args.out: _dumps(catalogue()),
        args.out.with_name(PROPERTIES_OUT.name): _dumps(properties()),
    }
    if args.check:
        stale = [p for p, text in files.items() if not (p.exists() and p.read_text() == text)]
        for p in stale:
            print(f"{p} is stale: regenerate it")
        if not stale:
            print("up to date")
        return 1 if stale else 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for p, text in files.items():
        p.write_text(text)
    print(f"wrote {len(CASES)} cases to {args.out} and the property references beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
