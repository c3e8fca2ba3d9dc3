"""Values on every backend x device: mpmath references, special values, masks, dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.conformance.runner import _dtype_name
from xpsoftmax.testing import assert_close

from reference import REFERENCES, cond

FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}
IMPLS = ["portable", "auto"]

# (name, values, axis): ordinary, dominant, overflow-prone, underflow-prone, ties, 3-d
CASES = [
    ("seed000_2x3", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 1),
    (
        "seed000_2x2x3",
        [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]],
        2,
    ),
    ("seed001_a", [2.0, 1.0, 0.5], -1),
    ("seed001_b", [1.5, 0.8, -0.2], -1),
    ("dominant", [[0.0, -30.0], [-30.0, 0.0], [5.0, -40.0]], -1),
    ("overflow", [[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -1003.0]], 1),
    ("ties", [[3.0, 3.0, 1.0], [2.0, 2.0, 2.0]], 1),
    ("columns", [[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]], 0),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("name,values,axis", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_against_mpmath(target, func, impl, name, values, axis, dtype):
    x_np = np.asarray(values, dtype=dtype)
    expected = REFERENCES[func](x_np, axis)
    out = FUNCS[func](target.asarray(x_np), axis=axis, impl=impl)
    assert type(out) is type(target.asarray(x_np))
    assert _dtype_name(out) == dtype
    assert_close(out, expected, ulps=2, cond=cond(func, x_np, axis), dtype=dtype, target=target)


def test_log1p_form_keeps_the_tiny_deficit(target):
    # the headline case: float32 log_softmax([0, -30]) top entry ~ -9.3576e-14
    x = target.asarray(np.array([0.0, -30.0], dtype=np.float32))
    out = target.to_numpy(xs.log_softmax(x))
    expected = REFERENCES["log_softmax"](np.array([0.0, -30.0]))
    assert out[0] != 0.0
    assert abs(out[0] - expected[0]) <= 2 * np.spacing(np.float32(abs(expected[0])))
    lse = target.to_numpy(xs.logsumexp(x))
    assert lse > 0 and abs(lse - (-expected[0])) <= 2 * np.spacing(np.float32(-expected[0]))


def _run(target, func, values, dtype="float64", **kw):
    x = target.asarray(np.asarray(values, dtype=dtype))
    return target.to_numpy(FUNCS[func](x, **kw))


INF, NAN = math.inf, math.nan


@pytest.mark.parametrize("impl", IMPLS)
def test_special_values(target, impl):
    rows = [
        [INF, 1.0, 2.0],
        [-INF, -INF, -INF],
        [NAN, 1.0, 2.0],
        [1.0, -INF, 0.0],
        [INF, INF, -INF],
    ]
    sm = _run(target, "softmax", rows, impl=impl)
    ls = _run(target, "log_softmax", rows, impl=impl)
    lse = _run(target, "logsumexp", rows, impl=impl)
    # +inf in a slice: softmax/log_softmax NaN throughout (IEEE), logsumexp +inf
    for r in (0, 4):
        assert np.isnan(sm[r]).all() and np.isnan(ls[r]).all() and lse[r] == INF
    # only -inf: 0/0 for softmax/log_softmax, log(0) for logsumexp
    assert np.isnan(sm[1]).all() and np.isnan(ls[1]).all() and lse[1] == -INF
    # NaN anywhere: the whole slice
    assert np.isnan(sm[2]).all() and np.isnan(ls[2]).all() and np.isnan(lse[2])
    # a -inf entry among finite ones is an exact zero / -inf
    ref = REFERENCES["softmax"]([1.0, 0.0])
    assert sm[3][1] == 0.0 and ls[3][1] == -INF
    assert_close(sm[3][[0, 2]], ref, ulps=2, cond=cond("softmax", [1.0, 0.0]), dtype="float64")


@pytest.mark.parametrize("impl", IMPLS)
def test_huge_and_tiny_logits(target, impl):
    for dtype in ("float32", "float64"):
        big = float(np.finfo(dtype).max)
        tiny = float(np.finfo(dtype).smallest_subnormal)
        sm = _run(target, "softmax", [big, -big, 0.0], dtype, impl=impl)
        np.testing.assert_array_equal(sm, [1.0, 0.0, 0.0])
        lse = _run(target, "logsumexp", [big, big], dtype, impl=impl)
        # log(2 * big) overflows the dtype: the mathematically right answer is inf only if
        # big + log 2 rounds past max; it does not (log 2 << ulp(big)), so it is big
        assert lse == np.asarray(big, dtype=dtype)
        sm = _run(target, "softmax", [tiny, 0.0, -tiny], dtype, impl=impl)
        assert_close(sm, [1 / 3] * 3, ulps=2, cond=6, dtype=dtype)


def test_float16_computed_in_float32(target):
    if not hasattr(target.xp, "float16"):
        pytest.skip(f"{target.backend_name} has no float16")
    x = target.asarray(np.array([60000.0, 0.0], dtype=np.float16))
    out = xs.softmax(x)
    assert _dtype_name(out) == "float16"
    np.testing.assert_array_equal(target.to_numpy(out), [1.0, 0.0])
    ls = target.to_numpy(xs.log_softmax(x))
    # the top entry's deficit exp(-60000) is far below float16's resolution; -60000 is representable
    assert ls[0] == 0.0 and ls[1] == -60000.0
    assert target.to_numpy(xs.logsumexp(x)) == np.float16(60000.0)


def test_bfloat16_where_available(target):
    xp = target.xp
    if not hasattr(xp, "bfloat16"):
        pytest.skip(f"{target.backend_name} has no bfloat16")
    x = xp.asarray([100.0, 0.0], dtype=xp.bfloat16, device=target.namespace_device)
    out = xs.softmax(x)
    assert out.dtype == xp.bfloat16
    assert target.to_numpy(xp.astype(out, xp.float32)).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("values", [[1, 2, 3], [True, False, True]], ids=["int", "bool"])
def test_integer_and_bool_input_go_to_default_float(target, values):
    xp = target.xp
    x = target.asarray(np.asarray(values))
    out = xs.softmax(x)
    if hasattr(xp, "__array_namespace_info__"):
        info = xp.__array_namespace_info__()
        default = info.default_dtypes(device=target.namespace_device)["real floating"]
    else:  # jax.numpy before 0.4.32: JAX's rule, float64 only under x64
        assert target.backend_name == "jax"
        default = xp.dtype("float64" if target.x64 else "float32")
    assert out.dtype == default
    ref = REFERENCES["softmax"](np.asarray(values, dtype=np.float64))
    dt = "float32" if "32" in str(default) else "float64"
    assert_close(
        out, ref, ulps=2, cond=cond("softmax", np.asarray(values, float)), dtype=dt, target=target
    )


def test_dtype_argument_casts_first(target):
    xp = target.xp
    x = target.asarray(np.array([1.0, 2.0, 3.0], dtype=np.float64))
    out = xs.log_softmax(x, dtype=xp.float32)
    assert out.dtype == xp.float32
    ref = REFERENCES["log_softmax"]([1.0, 2.0, 3.0])
    assert_close(
        out, ref, ulps=2, cond=cond("log_softmax", [1.0, 2.0, 3.0]), dtype="float32", target=target
    )


def test_empty_axis(target):
    x = target.asarray(np.zeros((3, 0)))
    for func in ("softmax", "log_softmax"):
        out = FUNCS[func](x)
        assert tuple(out.shape) == (3, 0)
    lse = FUNCS["logsumexp"](x)
    assert tuple(lse.shape) == (3,)
    assert (target.to_numpy(lse) == -INF).all()
    lse_keep = xs.logsumexp(x, keepdims=True)
    assert tuple(lse_keep.shape) == (3, 1)
    # reducing the non-empty axis of a (3, 0) array gives an empty result
    assert tuple(xs.logsumexp(x, axis=0).shape) == (0,)


def test_zero_d_and_empty_axes_tuple(target):
    x0 = target.asarray(np.array(2.5))
    for axis in (-1, 0, None, ()):
        assert target.to_numpy(xs.softmax(x0, axis=axis)) == 1.0
        assert target.to_numpy(xs.log_softmax(x0, axis=axis)) == 0.0
        assert target.to_numpy(xs.logsumexp(x0, axis=axis)) == 2.5
    x = target.asarray(np.array([[1.0, INF], [NAN, -3.0]]))
    sm = target.to_numpy(xs.softmax(x, axis=()))
    np.testing.assert_array_equal(sm, [[1.0, NAN], [NAN, 1.0]])
    np.testing.assert_array_equal(
        target.to_numpy(xs.logsumexp(x, axis=())), [[1.0, INF], [NAN, -3.0]]
    )


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (2, 0), None, (-1, -2)])
def test_axis_forms(target, axis):
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=(3, 4, 5)) * 3
    axes = (
        tuple(range(3))
        if axis is None
        else tuple(a % 3 for a in (axis if isinstance(axis, tuple) else (axis,)))
    )
    # reference: move the reduced axes last, flatten them, reduce the last axis
    keep = [a for a in range(3) if a not in axes]
    moved = np.transpose(x_np, keep + sorted(axes))
    flat = moved.reshape(*[x_np.shape[a] for a in keep], -1)
    x = target.asarray(x_np)
    for func in FUNCS:
        ref = REFERENCES[func](flat, -1)
        k = cond(func, flat, -1)
        if func != "logsumexp":
            inv = np.argsort(keep + sorted(axes))
            ref = np.transpose(ref.reshape(moved.shape), inv)
            k = np.transpose(k.reshape(moved.shape), inv)
        out = FUNCS[func](x, axis=axis)
        assert_close(out, ref, ulps=2, cond=k, dtype="float64", target=target)
    kept = xs.logsumexp(x, axis=axis, keepdims=True)
    assert tuple(kept.shape) == tuple(1 if a in axes else n for a, n in enumerate(x_np.shape))


@pytest.mark.parametrize("impl", IMPLS)
def test_where_mask(target, impl):
    xp = target.xp
    x_np = np.array([[1.0, 2.0, 30.0, -1.0], [5.0, NAN, INF, 0.5], [7.0, 8.0, 9.0, 10.0]])
    m_np = np.array([[True, True, False, True], [True, False, False, True], [False] * 4])
    x, m = target.asarray(x_np), xp.asarray(target.asarray(m_np), dtype=xp.bool)
    sm = target.to_numpy(xs.softmax(x, where=m, impl=impl))
    ls = target.to_numpy(xs.log_softmax(x, where=m, impl=impl))
    lse = target.to_numpy(xs.logsumexp(x, where=m, impl=impl))
    for r in range(2):
        kept = x_np[r][m_np[r]]
        # where= is the same as dropping the masked entries (NaN/inf there are ignored)
        ref_sm = REFERENCES["softmax"](kept)
        assert_close(sm[r][m_np[r]], ref_sm, ulps=2, cond=cond("softmax", kept), dtype="float64")
        assert_close(
            ls[r][m_np[r]],
            REFERENCES["log_softmax"](kept),
            ulps=2,
            cond=cond("log_softmax", kept),
            dtype="float64",
        )
        assert_close(
            lse[r],
            REFERENCES["logsumexp"](kept),
            ulps=2,
            cond=cond("logsumexp", kept),
            dtype="float64",
        )
        assert (sm[r][~m_np[r]] == 0).all() and (ls[r][~m_np[r]] == -INF).all()
    # fully masked slice
    assert (sm[2] == 0).all() and (ls[2] == -INF).all() and lse[2] == -INF


def test_where_broadcasts(target):
    xp = target.xp
    x = target.asarray(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    m = xp.asarray(target.asarray(np.array([True, False, True])), dtype=xp.bool)
    out = target.to_numpy(xs.softmax(x, where=m))
    ref = REFERENCES["softmax"](np.array([[1.0, 3.0], [4.0, 6.0]]))
    assert (out[:, 1] == 0).all()
    assert_close(
        out[:, [0, 2]], ref, ulps=2, cond=cond("softmax", [[1.0, 3.0], [4.0, 6.0]]), dtype="float64"
    )


@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("impl", IMPLS)
def test_input_not_mutated_and_output_kind(target, func, impl):
    x_np = np.array([[3.0, -1.0, 2.0], [0.0, 0.0, -50.0]], dtype=np.float32)
    x = target.asarray(x_np)
    m = target.xp.asarray(target.asarray(np.array([True, False, True])), dtype=target.xp.bool)
    for kw in ({}, {"where": m}):
        out = FUNCS[func](x, impl=impl, **kw)
        np.testing.assert_array_equal(target.to_numpy(x), x_np)
        assert type(out) is type(x)
        assert out.dtype == x.dtype
        if target.device is not None and hasattr(x, "device"):
            assert out.device == x.device


def test_native_and_auto_agree_with_portable(target):
    b = target.backend
    x_np = np.random.default_rng(1).normal(size=(4, 7)) * 5
    x = target.asarray(x_np)
    for func in FUNCS:
        portable = target.to_numpy(FUNCS[func](x, impl="portable"))
        auto = target.to_numpy(FUNCS[func](x, impl="auto"))
        ref = REFERENCES[func](x_np)
        k = cond(func, x_np)
        assert_close(portable, ref, ulps=2, cond=k, dtype="float64")
        assert_close(auto, ref, ulps=2, cond=k, dtype="float64")
        if func in b.native_funcs:
            native = target.to_numpy(FUNCS[func](x, impl="native"))
            # natives lack the log1p form: hold them to the plain-log bound (|L| + 1) u / |y|;
            # MLX's exp is float32-accurate on float64 (README backends table, measured), so
            # its natives are held to float32's unit roundoff
            acc = "float32" if b.name == "mlx" else "float64"
            assert_close(native, ref, ulps=4, cond=k + 8, dtype=acc)
        else:
            with pytest.raises(ValueError, match="impl='native'"):
                FUNCS[func](x, impl="native")
