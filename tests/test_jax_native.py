"""impl="auto" sends masked softmax on JAX to jax.nn.softmax(where=): it must
give the portable core's documented results (values and gradients), fully
masked and NaN/+inf/-inf slices included, eager and under jit/vmap, with either
of jax's softmax gradient rules (``jax_softmax_custom_jvp`` off or on)."""

from __future__ import annotations

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.backends.jax import enable_x64

jax = pytest.importorskip("jax")
jnp = jax.numpy

INF, NAN = np.inf, np.nan
# one slice per row (axis -1); True = takes part
ROWS = [
    ([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1]),  # finite, partly masked
    ([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0]),  # fully masked
    ([INF, NAN, -INF, 4.0], [0, 0, 0, 0]),  # fully masked over special values
    ([INF, 2.0, 3.0, 4.0], [1, 1, 0, 1]),  # +inf takes part: NaN slice, masked 0
    ([INF, 2.0, 3.0, 4.0], [0, 1, 1, 1]),  # +inf masked away: finite slice
    ([NAN, 2.0, 3.0, 4.0], [1, 1, 0, 1]),  # NaN takes part: NaN slice
    ([NAN, 2.0, 3.0, 4.0], [0, 1, 1, 1]),  # NaN masked away
    ([-INF, -INF, 3.0, 4.0], [1, 1, 0, 0]),  # only -inf takes part: 0/0 = NaN
    ([-INF, 1.0, 3.0, 4.0], [1, 1, 0, 1]),  # -inf next to finite entries
    ([-INF, INF, 3.0, 4.0], [1, 1, 0, 0]),  # -inf and +inf
    ([1e30, -1e30, 3e38, 0.0], [1, 1, 0, 1]),  # far apart, exp underflows
]
X = np.array([r[0] for r in ROWS])
MASK = np.array([r[1] for r in ROWS], dtype=bool)
W = np.random.default_rng(0).standard_normal(X.shape)


@pytest.fixture(params=[False, True], ids=["custom_jvp-off", "custom_jvp-on"])
def jvp_rule(request):
    # jax's two gradient rules for jax.nn.softmax (off is the 0.10 default);
    # the context manager is scoped, never a global config update
    with jax.softmax_custom_jvp(request.param):
        yield request.param


def _auto(x, m):
    return xs.softmax(x, axis=-1, where=m)


def _portable(x, m):
    return xs.softmax(x, axis=-1, where=m, impl="portable")


def _wrapped(fn, mode):
    if mode == "jit":
        return jax.jit(fn)
    if mode == "vmap":
        return jax.vmap(fn)
    return fn


def _value_and_grad(fn, x, m, w):
    y = fn(x, m)
    g = jax.grad(lambda a: (fn(a, m) * w).sum())(x)
    return np.asarray(y), np.asarray(g)


def _assert_close(ours, ref, y, w, eps, what):
    """Same NaN pattern; elsewhere within the rounding bound of the two orders.

    Both compute y = exp(x - m) / S with the same exp; only the order of the
    n-term sum S may differ, so |dy| <= 2 n u y + 2 u y <= n eps y (u = eps/2).
    The gradient y_i (w_i - sum_j y_j w_j) is computed by different formulas
    (jax's rule vs autodiff through the core): each rounds its few terms, so
    |dg_i| <= 4 n eps y_i (|w_i| + sum_j y_j |w_j|).
    """
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=what)
    n = y.shape[-1]
    ok = ~np.isnan(ref)
    if what == "values":
        bound = n * eps * np.abs(ref)
    else:
        yy = np.where(np.isnan(y), 0.0, y)
        scale = np.abs(w) + (yy * np.abs(w)).sum(axis=-1, keepdims=True)
        bound = 4 * n * eps * yy * scale
    err, bound = np.abs(ours[ok] - ref[ok]), bound[ok]
    assert (err <= bound).all(), (what, err[err > bound], bound[err > bound])


def _check(auto, portable, eps):
    ya, ga = auto
    yp, gp = portable
    # the documented fills, exactly: masked entries 0, fully masked slices all 0
    # with zero gradient
    assert (ya[~MASK] == 0).all() and (ga[~MASK] == 0).all()
    dead = ~MASK.any(axis=-1)
    assert (ya[dead] == 0).all() and (ga[dead] == 0).all()
    _assert_close(ya, yp, yp, W, eps, "values")
    _assert_close(ga, gp, yp, W, eps, "gradients")


@pytest.mark.parametrize(
    ("mode", "dtype"),
    [("eager", "float32"), ("jit", "float32"), ("vmap", "float32"), ("eager", "float64")],
)
def test_masked_auto_matches_portable(jvp_rule, mode, dtype):
    with enable_x64(dtype == "float64"):
        x = jnp.asarray(X.astype(dtype))
        m = jnp.asarray(MASK)
        w = jnp.asarray(W.astype(dtype))
        eps = float(np.finfo(dtype).eps)
        auto = _value_and_grad(_wrapped(_auto, mode), x, m, w)
        portable = _value_and_grad(_wrapped(_portable, mode), x, m, w)
        _check(auto, portable, eps)
        # the documented results themselves, not just agreement: NaN exactly
        # where a live entry is NaN/+inf or every live entry is -inf
        live = np.where(MASK, X, -INF)
        nan_rows = np.isnan(live).any(-1) | (live == INF).any(-1)
        nan_rows |= MASK.any(-1) & (live == -INF).all(-1)
        np.testing.assert_array_equal(np.isnan(auto[0]), nan_rows[:, None] & MASK)


def test_masked_auto_is_jax_nn(jvp_rule):
    """auto is jax.nn.softmax(where=) itself, bit for bit (the route, not a copy),
    on the JAX releases it was checked on; on older ones auto is the core."""
    from xpsoftmax.backends import by_name
    from xpsoftmax.backends._base import Call

    backend = by_name("jax")
    x, m = jnp.asarray(X.astype("float32")), jnp.asarray(MASK)
    if backend.native_for_auto:
        ours = np.asarray(xs.softmax(x, where=m))
        theirs = np.asarray(jax.jit(lambda a, b: jax.nn.softmax(a, axis=-1, where=b))(x, m))
        np.testing.assert_array_equal(ours, theirs)
    # log_softmax stays on the core (jax.nn lacks the log1p form)
    soft = backend.native_for_auto
    for func, native in (("softmax", soft), ("log_softmax", False), ("logsumexp", False)):
        call = Call(func, x, (1,), m, False, x.dtype, x.dtype)
        assert backend.prefers_native(call) is native


@pytest.mark.parametrize(("shape", "axis"), [((3, 4, 5), (0, 2)), ((2, 3, 4), None), ((6, 1), 0)])
def test_masked_auto_matches_portable_random(jvp_rule, shape, axis):
    rng = np.random.default_rng(sum(shape))
    with enable_x64(True):
        x = jnp.asarray(rng.standard_normal(shape) * 10)
        mask = rng.random(shape) < 0.5
        # a fully masked slice in every case
        red = tuple(range(len(shape))) if axis is None else np.atleast_1d(axis) % len(shape)
        first = tuple(0 if i not in red else slice(None) for i in range(len(shape)))
        mask[first] = False
        m = jnp.asarray(mask)
        w = jnp.asarray(rng.standard_normal(shape))
        ya = np.asarray(xs.softmax(x, axis, where=m))
        yp = np.asarray(xs.softmax(x, axis, where=m, impl="portable"))
        ga = np.asarray(jax.grad(lambda a: (xs.softmax(a, axis, where=m) * w).sum())(x))
        gp = np.asarray(
            jax.grad(lambda a: (xs.softmax(a, axis, where=m, impl="portable") * w).sum())(x)
        )
        assert np.isfinite(ga).all() and (ya[first] == 0).all() and (ga[first] == 0).all()
        n = int(np.prod([shape[i] for i in red]))
        eps = float(np.finfo(np.float64).eps)
        np.testing.assert_allclose(ya, yp, rtol=n * eps, atol=0)
        # the gradient bound of _assert_close, over the slice's axes
        ax = tuple(int(i) for i in red)
        scale = np.abs(w) + (yp * np.abs(w)).sum(axis=ax, keepdims=True)
        assert (np.abs(ga - gp) <= 4 * n * eps * yp * scale).all()
