"""Run cases on subjects: values in ulps against the references, plus the contract.

Every call is also checked for the contract (the input is not modified, the
result is an array of the same library, with the expected dtype, on the same
device); contract findings are kept apart from the values so a matrix cell
says which one went wrong.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

import numpy as np

from ..backends import backend_of
from .cases import Case, tolerance, ulps
from .subjects import Subject

#: statuses, worst first
STATUSES = ("fail", "error", "pass", "n/a", "skip")


class ResultKey(TypedDict):
    """The fields that say which result is which (a :class:`Result` without its outcome)."""

    subject: str
    kind: str
    case: str
    group: str
    func: str


@dataclass
class Result:
    subject: str
    kind: str
    case: str
    group: str
    func: str
    status: str  # pass / fail / error / n/a / skip
    worst_ulps: float | None = None
    p999_ulps: float | None = None
    detail: str = ""
    contract: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("worst_ulps", "p999_ulps"):
            v = d[key]
            if v is not None and not math.isfinite(v):
                d[key] = str(v)
        return d


def _default_float(subject: Subject) -> str:
    name = subject.target.backend_name if subject.target else "numpy"
    if name in ("torch", "mlx", "tensorflow"):
        return "float32"
    if name == "jax":
        import jax.numpy as jnp

        return str(jnp.zeros(()).dtype)  # float64 under enable_x64, else float32
    return "float64"


def expected_dtype(subject: Subject, case: Case) -> str:
    if case.is_complex:
        real = expected_dtype(subject, Case(**{**case.__dict__, "dtype": "float64"}))
        if case.return_sign:
            return real  # log|s| is real; the phase is complex
        return {"float64": "complex128", "float32": "complex64"}.get(real, real)
    if case.dtype in ("float64", "float32", "float16", "bfloat16"):
        if case.dtype == "float64" and subject.target and subject.target.backend_name == "jax":
            return _default_float(subject)  # float32 when JAX runs without x64
        return case.dtype
    return _default_float(subject)


def _dtype_name(a: Any) -> str:
    dt = getattr(a, "dtype", None)
    name = getattr(dt, "name", None)
    if isinstance(name, str):  # NumPy's and TensorFlow's dtypes (TF prints <dtype: 'float32'>)
        return name
    return str(dt).rsplit(".", 1)[-1] if dt is not None else type(a).__name__


def _device(a: Any) -> Any:
    dev = getattr(a, "device", None)
    if callable(dev):  # older JAX: .device() method
        dev = dev()
    return dev


def to_numpy(subject: Subject, a: Any) -> np.ndarray:
    """A float64-safe NumPy copy (torch's bfloat16 has no NumPy dtype: widen first)."""
    assert subject.target is not None
    if subject.target.backend_name == "torch" and str(getattr(a, "dtype", "")) == "torch.bfloat16":
        a = a.float()
    return subject.target.to_numpy(a)


def contract_issues(subject: Subject, x: Any, before: np.ndarray, out: Any, want: str) -> list[str]:
    """The call's contract findings (empty when all is well)."""
    issues = []
    t = subject.target
    assert t is not None
    after = to_numpy(subject, x)
    if not np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"):
        issues.append("modified its input")
    if backend_of(out) is not backend_of(x) or type(out).__name__ != type(x).__name__:
        issues.append(
            f"returned {type(out).__module__}.{type(out).__name__}, not {type(x).__name__}"
        )
    got = _dtype_name(out)
    if got != want:
        issues.append(f"dtype {got}, expected {want}")
    dx, do = _device(x), _device(out)
    if dx is not None and do is not None and str(dx) != str(do):
        issues.append(f"device {do}, input on {dx}")
    return issues


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


def _compare_sign(got: np.ndarray, want: np.ndarray) -> tuple[bool, str]:
    """return_sign's sign, exactly (NaN matches NaN)."""
    if got.shape != want.shape:
        return False, f"sign shape {got.shape}, expected {want.shape}"
    bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    if not np.any(bad):
        return True, ""
    i = tuple(int(v) for v in np.argwhere(bad)[0])
    return False, (f"{int(bad.sum())}/{bad.size} signs off; at {i}: got sign "
                   f"{float(got[i])!r}, expected {float(want[i])!r}")  # fmt: skip


def run_case(subject: Subject, case: Case) -> Result:
    """Run one case on one subject (inside the target's context: JAX x64 on)."""
    base: ResultKey = {"subject": subject.id, "kind": subject.kind, "case": case.id,
                       "group": case.group, "func": case.func}  # fmt: skip
    if subject.unavailable is not None:
        return Result(**base, status="skip", detail=subject.unavailable)
    gap = subject.gap(case)
    if gap is not None:
        return Result(**base, status="n/a", detail=gap)
    assert subject.target is not None
    with subject.target.context():
        return _run_case(subject, case, base)


def _run_case(subject: Subject, case: Case, base: ResultKey) -> Result:
    t = subject.target
    assert t is not None
    try:
        x = subject.make_input(case)
        where = subject.make_mask(case) if case.where is not None else None
    except Exception as exc:  # the library cannot hold this input
        return Result(**base, status="n/a", detail=f"input: {type(exc).__name__}: {exc}")
    before = to_numpy(subject, x)
    want = expected_dtype(subject, case)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = subject.funcs[case.func](x, case, where)
            sign = None
            if case.return_sign:  # (log|sum|, sign)
                out, sign = out
                sign = to_numpy(subject, sign) if backend_of(sign) is not None else sign
            out_np = to_numpy(subject, out) if backend_of(out) is not None else np.asarray(out)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Result(**base, status="error", detail=f"{type(exc).__name__}: {msg}"[:300])
    issues = contract_issues(subject, x, before, out, want)
    if case.is_complex and not case.return_sign:
        assert case.k_imag is not None
        ok, worst, p999, detail = compare_complex(out_np, case, case.k, case.k_imag, case.expected)
    elif case.is_complex:  # (log|s|, the phase s/|s|)
        ok, worst, p999, detail = compare_values(np.real(out_np).copy(), case, "float64")
        if np.iscomplexobj(out_np) and not np.all(np.imag(out_np) == 0):
            ok, detail = False, "log|s| has a nonzero imaginary part"
        if ok:
            assert case.sign is not None and case.sign_k is not None
            assert case.sign_k_imag is not None
            ok, worst_s, _, detail = compare_complex(
                np.asarray(sign), case, case.sign_k, case.sign_k_imag, case.sign
            )
            detail = f"sign {detail}" if detail else ""
            worst = max(worst, worst_s)
    else:
        ok, worst, p999, detail = compare_values(np.asarray(out_np, dtype=np.float64), case, want)
    if case.sign is not None and ok and not case.is_complex:
        ok, detail = _compare_sign(np.asarray(sign, dtype=np.float64), case.sign)
    return Result(**base, status="pass" if ok else "fail", worst_ulps=worst, p999_ulps=p999,
                  detail=detail, contract=issues)  # fmt: skip


def run(
    subjects: list[Subject],
    cases: list[Case],
    extra_checks: bool = True,
    compile_backend: str = "aot_eager",
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Every case on every subject, then the properties and transformations."""
    from . import checks

    results: list[Result] = []
    for s in subjects:
        for c in cases:
            results.append(run_case(s, c))
            if progress:
                progress(s.id)
        if extra_checks:
            results.extend(checks.properties(s))
            results.extend(checks.transforms(s, compile_backend=compile_backend))
            if progress:
                progress(s.id)
    return results


def failures(results: Iterable[Result]) -> list[Result]:
    """The results that fail the run: an xpsoftmax subject failing, erring or breaking the contract."""
    return [
        r for r in results
        if r.kind == "xpsoftmax" and (r.status in ("fail", "error") or r.contract)
    ]  # fmt: skip
