"""Every case of the catalogue on xpsoftmax (impl portable and auto), every backend x device.

A failure here is an xpsoftmax bug: values outside the ulps x condition bound
of :mod:`xpsoftmax.conformance.cases`, or a broken contract (input modified,
result of another library, dtype or device).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xpsoftmax
from conftest import CASES
from xpsoftmax.conformance import checks
from xpsoftmax.conformance.cases import _high_reference, tolerance, ulps
from xpsoftmax.conformance.runner import run_case
from xpsoftmax.conformance.subjects import (
    Subject,
    dask_slice_chunks_subject,
    jax_one_pass_subject,
    torch_checked_native_subject,
    xpsoftmax_subject,
)
from xpsoftmax.testing import Target

IMPLS = ("portable", "auto")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(target: Target, impl: str, case) -> None:
    _passes(xpsoftmax_subject(target, impl), case)


def _passes(subject: Subject, case) -> None:
    r = run_case(subject, case)
    if r.status == "n/a":
        pytest.skip(r.detail)
    assert r.status == "pass", f"{subject.id} {case.id}: {r.status}: {r.detail}"
    assert not r.contract, f"{subject.id} {case.id}: {'; '.join(r.contract)}"


@pytest.mark.xp_backends("dask")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_dask_slice_chunks(target: Target, case) -> None:
    """Dask's chunk-by-chunk path (the NumPy or CuPy path per chunk), which the
    default layout above (every axis split) never takes for its reductions."""
    _passes(dask_slice_chunks_subject(target), case)


@pytest.mark.xp_backends("jax")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_jax_one_pass(target: Target, case) -> None:
    """JAX's one-pass log1p kernels, which "auto" takes from 4096 slices up (the
    catalogue's inputs are smaller, so test_case checks the core's route there)."""
    _passes(jax_one_pass_subject(target), case)


@pytest.mark.xp_backends("torch")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_torch_checked_native(target: Target, case) -> None:
    """torch's own log_softmax kernel with the log1p recomputation of the slices
    it gets wrong, which "auto" takes for the last dim of contiguous tensors of
    512 KiB to 32 MiB (the catalogue's inputs are smaller: test_case checks the
    NumPy route there)."""
    _passes(torch_checked_native_subject(target), case)


@pytest.mark.parametrize("impl", IMPLS)
def test_properties_and_transforms(target: Target, impl: str) -> None:
    subject = xpsoftmax_subject(target, impl)
    results = checks.properties(subject) + checks.transforms(subject)
    bad = [f"{r.case}: {r.status} {r.detail}" for r in results if r.status in ("fail", "error")]
    assert not bad, "\n".join(bad)
    assert any(r.status == "pass" for r in results)


# -- hypothesis: the properties on random data, every xpsoftmax subject -----------------
_rows = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements=st.floats(-300, 300, allow_nan=False, allow_infinity=False),
)
_SETTINGS = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def _np(target: Target, a) -> np.ndarray:
    return np.asarray(target.to_numpy(a), dtype=np.float64)


@pytest.mark.parametrize("impl", IMPLS)
@_SETTINGS
@given(x=_rows, shift=st.integers(-64, 64))
def test_hypothesis_softmax(target: Target, impl: str, x: np.ndarray, shift: int) -> None:
    y_ref, k = _high_reference(x, "softmax", np.longdouble)
    y = _np(target, xpsoftmax.softmax(target.asarray(x), impl=impl))
    assert np.all(ulps(y, y_ref, "float64") <= tolerance(k, "float64"))
    # sums to 1: n terms each within k u, plus the sum's own n u
    kmax = np.max(k, axis=-1) + x.shape[-1]
    assert np.all(ulps(y.sum(-1), 1.0, "float64") <= tolerance(kmax, "float64"))
    # shift invariance, with an exact shift (x rounded to multiples of 1/8)
    g = np.round(x * 8) / 8
    a = _np(target, xpsoftmax.softmax(target.asarray(g), impl=impl))
    b = _np(target, xpsoftmax.softmax(target.asarray(g + shift), impl=impl))
    _, kg = _high_reference(g, "softmax", np.longdouble)
    assert np.all(ulps(a, b, "float64") <= 2 * tolerance(kg, "float64"))


@pytest.mark.parametrize("impl", IMPLS)
@_SETTINGS
@given(x=_rows)
def test_hypothesis_log_forms(target: Target, impl: str, x: np.ndarray) -> None:
    xt = target.asarray(x)
    ls = _np(target, xpsoftmax.log_softmax(xt, impl=impl))
    lse = _np(target, xpsoftmax.logsumexp(xt, keepdims=True, impl=impl))
    y = _np(target, xpsoftmax.softmax(xt, impl=impl))
    ref_ls, k_ls = _high_reference(x, "log_softmax", np.longdouble)
    ref_y, k_y = _high_reference(x, "softmax", np.longdouble)
    _, k_lse = _high_reference(x, "logsumexp", np.longdouble)
    assert np.all(ulps(ls, ref_ls, "float64") <= tolerance(k_ls, "float64"))
    u = 2.0**-53
    # log_softmax == log(softmax) where softmax does not underflow (absolute, in u)
    keep = ref_y > 1e-300
    tol = 2 * (k_y + (k_ls + 1) * np.abs(ref_ls) + 1) + 1
    assert np.all((np.abs(ls - np.log(y)) / u)[keep] <= tol[keep])
    # log_softmax == x - logsumexp
    tol = 2 * (np.abs(x) + np.abs(ref_ls) * k_ls + np.abs(lse) * k_lse[:, None] + 1) + 1
    assert np.all(np.abs(ls - (x - lse)) / u <= tol)


@pytest.mark.parametrize("impl", IMPLS)
@_SETTINGS
@given(t=st.floats(-700, 700))
def test_hypothesis_sigmoid(target: Target, impl: str, t: float) -> None:
    import mpmath

    x = np.array([[t, 0.0]])
    y = _np(target, xpsoftmax.softmax(target.asarray(x), impl=impl))[0, 0]
    with mpmath.workdps(40):
        ref = float(1 / (1 + mpmath.exp(-mpmath.mpf(t))))
    _, k = _high_reference(x, "softmax", np.longdouble)
    assert ulps(y, ref, "float64") <= tolerance(k[0, 0], "float64")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("func", ["softmax", "log_softmax", "logsumexp"])
@_SETTINGS
@given(data=st.data())
def test_hypothesis_where_drops_entries(target: Target, impl: str, func: str, data) -> None:
    x = data.draw(_rows)
    w = data.draw(hnp.arrays(bool, x.shape))
    fn = getattr(xpsoftmax, func)
    out = _np(target, fn(target.asarray(x), where=target.asarray(w), impl=impl))
    for r in range(x.shape[0]):
        live = x[r][w[r]]
        if live.size == 0:
            want = 0.0 if func == "softmax" else -np.inf
            got = out[r]
            assert np.all(got == want)
            continue
        alone = _np(target, fn(target.asarray(live), impl=impl))
        _, k = _high_reference(live[None], func, np.longdouble)
        got = out[r] if func == "logsumexp" else out[r][w[r]]
        assert np.all(ulps(got, alone, "float64") <= 2 * tolerance(k[0], "float64"))
        if func != "logsumexp":
            assert np.all(out[r][~w[r]] == (0.0 if func == "softmax" else -np.inf))
