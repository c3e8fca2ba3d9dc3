"""The MLX adapter: same type/dtype back, mx.compile/mx.grad/mx.vmap, natives, the accurate exp."""

from __future__ import annotations

import math

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core", reason="mlx is not installed (lane mlx)")

import xpsoftmax as xs  # noqa: E402
from xpsoftmax.backends import backend_of  # noqa: E402
from xpsoftmax.backends.mlx import accurate_exp  # noqa: E402

X = np.array([[0.0, -30.0, 1.0], [1000.0, 1.0, -2.0]])


def _a(x, dtype=mx.float64):
    return mx.array(np.asarray(x), dtype=dtype)


def _ref_log_softmax(x: np.ndarray) -> np.ndarray:
    xl = x.astype(np.longdouble)
    m = xl.max(-1, keepdims=True)
    return (xl - m - np.log(np.exp(xl - m).sum(-1, keepdims=True))).astype(np.float64)


def test_detected_by_its_own_adapter():
    assert backend_of(_a(X)).name == "mlx"


@pytest.mark.parametrize("impl", ["auto", "portable", "native"])
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
def test_type_dtype_and_values(impl, dtype):
    t = _a(X, dtype)
    for fn in (xs.softmax, xs.log_softmax, xs.logsumexp):
        y = fn(t, impl=impl)
        assert type(y) is mx.array and y.dtype == dtype
    if impl == "native":
        return  # mx.exp is float32-accurate on float64: the natives are findings
    eps = float(np.finfo(np.float32 if dtype == mx.float32 else np.float64).eps)
    np.testing.assert_allclose(
        np.array(xs.log_softmax(t, impl=impl)), _ref_log_softmax(X), rtol=8 * eps, atol=0
    )


def test_accurate_exp_ulps():
    x = np.linspace(-740.0, 709.0, 200_001)
    got = np.array(accurate_exp(_a(x)))
    ref = np.exp(x.astype(np.longdouble)).astype(np.float64)
    normal = ref >= np.finfo(np.float64).tiny
    err = np.abs(got - ref)[normal] / np.spacing(ref[normal])
    assert err.max() <= 1.5
    xf = np.linspace(-87.0, 88.5, 200_001).astype(np.float32)
    gotf = np.array(accurate_exp(_a(xf, mx.float32))).astype(np.float64)
    reff = np.exp(xf.astype(np.float64))
    ok = reff >= np.finfo(np.float32).tiny
    assert (np.abs(gotf - reff)[ok] / np.spacing(reff[ok].astype(np.float32))).max() <= 1.5
    sp = np.array(accurate_exp(_a([-np.inf, np.inf, np.nan, 0.0])))
    assert sp[0] == 0.0 and sp[1] == np.inf and np.isnan(sp[2]) and sp[3] == 1.0


def test_log1p_form():
    y = xs.log_softmax(_a([0.0, -30.0], mx.float32))
    assert float(y[0].item()) == pytest.approx(-math.exp(-30.0), rel=1e-6)


def test_special_values_empty_mask_and_dtypes():
    t = _a([[np.inf, 1.0], [-np.inf, -np.inf]])
    assert np.isnan(np.array(xs.softmax(t))).all()
    np.testing.assert_array_equal(np.array(xs.logsumexp(t)), [np.inf, -np.inf])
    assert np.array(xs.logsumexp(mx.zeros((2, 0)))).tolist() == [-np.inf, -np.inf]
    w = mx.array([[True, False], [False, False]])
    assert np.array(xs.softmax(_a([[1.0, 2.0], [3.0, 4.0]]), where=w)).tolist() == [
        [1.0, 0.0],
        [0.0, 0.0],
    ]
    assert xs.softmax(mx.array([1, 2, 3])).dtype == mx.float32
    assert xs.softmax(mx.array([1.0, 2.0], dtype=mx.float16)).dtype == mx.float16
    assert xs.softmax(mx.array([1.0, 2.0], dtype=mx.bfloat16)).dtype == mx.bfloat16
    assert xs.softmax(_a(X), dtype="float32").dtype == mx.float32
    with pytest.raises(TypeError, match="dtype"):
        xs.softmax(_a(X), dtype="int32")
    with pytest.raises(ValueError, match="axis 5"):
        xs.softmax(_a(X), axis=5)


def test_compile_grad_vmap():
    t = _a(X)
    f = mx.compile(lambda a: xs.log_softmax(a, axis=(0, 1)))
    np.testing.assert_allclose(np.array(f(t)), np.array(xs.log_softmax(t, axis=(0, 1))), rtol=1e-15)
    w = _a([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    g = np.array(mx.grad(lambda a: mx.sum(w * xs.log_softmax(a)))(t))
    y = np.exp(_ref_log_softmax(X))
    wn = np.array(w)
    np.testing.assert_allclose(g, wn - y * wn.sum(-1, keepdims=True), atol=1e-15)
    v = np.array(mx.vmap(xs.logsumexp)(t))
    np.testing.assert_allclose(v, np.array(xs.logsumexp(t)), rtol=1e-15)


def test_native_log_softmax_length_one_axis_does_not_crash():
    # mlx.nn.log_softmax (mx.compile shapeless) segfaults here; our native path must not
    y = xs.log_softmax(_a([[5.0], [1.0]]), impl="native")
    assert np.array(y).tolist() == [[0.0], [0.0]]


def test_info_lists_mlx():
    from xpsoftmax._info import collect

    rows = [r for r in collect() if r["backend"] == "mlx"]
    assert rows and rows[0]["status"] == "ok" and rows[0]["target"] == "mlx:cpu"
