"""One result against its reference, in ulps of the result dtype (real, complex, signs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .cases import Case, tolerance, ulps
from .subjects import Subject


def to_numpy(subject: Subject, a: Any) -> np.ndarray:
    """A float64-safe NumPy copy (torch's bfloat16 has no NumPy dtype: widen first)."""
    assert subject.target is not None
    if subject.target.backend_name == "torch" and str(getattr(a, "dtype", "")) == "torch.bfloat16":
        a = a.float()
    return subject.target.to_numpy(a)


def compare_values(out_np: np.ndarray, case: Case, want: str) -> tuple[bool, float, float, str]:
    """(passed, worst ulps, 99.9th percentile, detail) of one result."""
    exp = case.expected
    if out_np.shape != exp.shape:
        return False, math.inf, math.inf, f"shape {out_np.shape}, expected {exp.shape}"
    if exp.size == 0:
        return True, 0.0, 0.0, ""
    err = ulps(out_np, exp, want)
    tol = tolerance(case.k, want)
    bad = err > tol
    worst = float(np.max(err))
    with np.errstate(all="ignore"):
        p999 = float(np.quantile(err, 0.999, method="higher")) if err.size > 1 else worst
    if not np.any(bad):
        return True, worst, p999, ""
    i = np.unravel_index(int(np.argmax(np.where(bad, err - tol, -np.inf))), err.shape)
    tol_i = float(np.broadcast_to(tol, err.shape)[i])
    idx = tuple(int(v) for v in i)
    detail = (
        f"{int(bad.sum())}/{err.size} off; at {idx}: got {float(out_np[i])!r}, "
        f"expected {float(exp[i])!r} ({float(err[i]):.3g} ulps > {tol_i:.3g})"
    )
    return False, worst, p999, detail


def _real_part_case(case: Case, expected: np.ndarray, k: Any) -> Case:
    return Case(**{**case.__dict__, "expected": expected, "k": np.asarray(k, dtype=np.float64)})


def _complex_nan(a: np.ndarray) -> np.ndarray:
    """A complex NaN (either part NaN) as nan + nan j: libraries differ in which
    part they set (JAX gives nan + 0j where NumPy gives nan + nan j)."""
    a = np.asarray(a, dtype=np.complex128).copy()
    bad = np.isnan(a.real) | np.isnan(a.imag)
    a.real[bad] = np.nan
    a.imag[bad] = np.nan
    return a


def compare_complex(
    out_np: np.ndarray, case: Case, k: np.ndarray, k_imag: np.ndarray, expected: np.ndarray
) -> tuple[bool, float, float, str]:
    """compare_values on the real and imaginary parts, each with its own bound
    (ulps of float64 at each part's magnitude)."""
    got = _complex_nan(out_np)
    want = _complex_nan(expected)
    if got.shape != want.shape:
        return False, math.inf, math.inf, f"shape {got.shape}, expected {want.shape}"
    re = compare_values(got.real.copy(), _real_part_case(case, want.real.copy(), k), "float64")
    im = compare_values(got.imag.copy(), _real_part_case(case, want.imag.copy(), k_imag), "float64")
    ok = re[0] and im[0]
    detail = "; ".join(f"{part}: {r[3]}" for part, r in (("real", re), ("imag", im)) if not r[0])
    return ok, max(re[1], im[1]), max(re[2], im[2]), detail


def compare_sign(got: np.ndarray, want: np.ndarray) -> tuple[bool, str]:
    """return_sign's sign, exactly (NaN matches NaN)."""
    if got.shape != want.shape:
        return False, f"sign shape {got.shape}, expected {want.shape}"
    bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    if not np.any(bad):
        return True, ""
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    return False, (f"{int(bad.sum())}/{bad.size} signs off; at {i}: got sign "
                   f"{float(got[i])!r}, expected {float(want[i])!r}")  # fmt: skip
