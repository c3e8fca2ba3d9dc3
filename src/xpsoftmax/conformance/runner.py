"""Run cases on subjects: values in ulps against the references, plus the contract.

Every call is also checked for the contract (the input is not modified, the
result is an array of the same library, with the expected dtype, on the same
device); contract findings are kept apart from the values so a matrix cell
says which one went wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..backends import backend_of
from . import checks
from .cases import Case
from .results import STATUSES, Result, ResultKey
from .subjects import Subject
from .values import compare_complex, compare_sign, compare_values, to_numpy

__all__ = [
    "STATUSES",
    "Result",
    "ResultKey",
    "compare_values",
    "contract_issues",
    "expected_dtype",
    "failures",
    "run",
    "run_case",
    "to_numpy",
]


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
        ok, detail = compare_sign(np.asarray(sign, dtype=np.float64), case.sign)
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
