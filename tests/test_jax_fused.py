"""impl="auto" sends unmasked logsumexp and log_softmax on JAX to fused kernels
(backends/jax.py, _fused_logsumexp and _fused_log_softmax) where the input has
at least FUSED_MIN_SLICES slices, else to the core (fused_pays): the kernels
must keep the core's accuracy (log1p form, checked against mpmath), its special
values, and compose with jit/vmap/grad/jacfwd/hessian.  The small inputs here
take the core under "auto", so each check also calls the kernels directly
(lse_k, ls_k); test_routes checks both sides of the threshold."""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.backends.jax import (
    FUSED_MIN_SLICES,
    _fused_log_softmax,
    _fused_logsumexp,
    enable_x64,
    fused_pays,
)
from xpsoftmax.testing import assert_close

from reference import cond as ls_cond
from reference import mp_log_softmax

jax = pytest.importorskip("jax")
jnp = jax.numpy
from jax.test_util import check_grads  # noqa: E402

INF, NAN = np.inf, np.nan
HARD = [
    [0.0, -30.0],  # single dominant entry: log1p(e^-30), not 0
    [0.0, 0.0, -40.0],  # tie at the max plus a tiny term
    [1.0, 1.0 - 1e-7, -5.0],  # near-tie
    [-1000.0, -1000.0],  # large negative shift
    [3e4, -3e4, 2.5e4],  # far apart
    list(np.linspace(-5.0, 5.0, 37)),
]


def _axes(x: object, axis: object) -> tuple[int, ...]:
    nd = len(x.shape)  # type: ignore[attr-defined]
    if axis is None:
        return tuple(range(nd))
    return tuple(a % nd for a in ((axis,) if isinstance(axis, int) else axis))  # type: ignore[union-attr]


def lse_k(x: object, axis: object = None, keepdims: bool = False) -> object:
    """The fused logsumexp kernel itself (its one-pass primal), whatever the shape."""
    return _fused_logsumexp()(x, _axes(x, axis), keepdims, True)


def ls_k(x: object, axis: object = -1) -> object:
    """The fused log_softmax kernel itself (its one-pass primal), whatever the shape."""
    return _fused_log_softmax()(x, _axes(x, axis), True)


def mp_lse(row: list[float]) -> float:
    with mpmath.workdps(60):
        return float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in row)))


def cond(row: list[float], ref: float) -> float:
    # condition number of logsumexp: sum(|x_i| softmax_i) / |lse|
    w = np.exp(np.asarray(row) - ref)
    return float(np.sum(np.abs(row) * w) / max(abs(ref), np.finfo(np.float64).tiny))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", HARD)
def test_values_vs_mpmath(row: list[float], dtype: str) -> None:
    with enable_x64(dtype == "float64"):
        x = jnp.asarray(row, dtype=dtype)
        row_as = [float(v) for v in np.asarray(x)]  # the inputs as rounded to dtype
        ref = mp_lse(row_as)
        eps = float(np.finfo(dtype).eps)
        bound = 4 * eps * (1 + cond(row_as, ref)) * abs(ref) + float(np.finfo(dtype).tiny)
        for got in (xs.logsumexp(x), jax.jit(xs.logsumexp)(x), lse_k(x), jax.jit(lse_k)(x)):
            assert abs(float(got) - ref) <= bound, (row, dtype, float(got), ref)


def test_log1p_form() -> None:
    x = jnp.asarray([0.0, -30.0], dtype="float32")
    for got in (float(xs.logsumexp(x)), float(lse_k(x))):
        assert got != 0.0 and abs(got - 9.357622968839737e-14) <= 1e-19


@pytest.mark.parametrize(
    ("row", "want"),
    [
        ([0.0, NAN], NAN),
        ([INF, 0.0], INF),
        ([INF, NAN], NAN),
        ([-INF, -INF], -INF),
        ([-INF, 1.0], 1.0),
        ([INF, -INF], INF),
    ],
)
def test_special_values(row: list[float], want: float) -> None:
    x = jnp.asarray([row, [1.0, 2.0]], dtype="float32")
    calls = (
        xs.logsumexp(x, axis=-1),
        jax.jit(lambda a: xs.logsumexp(a, axis=-1))(x),
        lse_k(x, -1),
        jax.jit(lambda a: lse_k(a, -1))(x),
    )
    for got in calls:
        np.testing.assert_equal(np.asarray(got)[0], np.float32(want))
        np.testing.assert_allclose(np.asarray(got)[1], np.logaddexp(1.0, 2.0), rtol=1e-6)


def test_matches_portable_axes_keepdims() -> None:
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 4, 5)) * 10, dtype="float32")
    for axis in (0, -1, (0, 2), None):
        for keepdims in (False, True):
            a = xs.logsumexp(x, axis=axis, keepdims=keepdims)
            p = xs.logsumexp(x, axis=axis, keepdims=keepdims, impl="portable")
            assert a.shape == p.shape
            np.testing.assert_allclose(np.asarray(a), np.asarray(p), rtol=4e-7, atol=0)


def test_masked_gradients_unchanged() -> None:
    # masked calls take the core: fully masked slice -inf with zero gradients
    x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
    mask = jnp.asarray([[True, False], [False, False]])
    out = xs.logsumexp(x, axis=-1, where=mask)
    np.testing.assert_equal(np.asarray(out), [1.0, -INF])
    g = jax.grad(lambda a: xs.logsumexp(a, axis=-1, where=mask)[0])(x)
    np.testing.assert_equal(np.asarray(g), [[1.0, 0.0], [0.0, 0.0]])


def test_gradients_float64() -> None:
    with enable_x64(True):
        x = jnp.asarray(np.random.default_rng(2).standard_normal((3, 4)), dtype="float64")
        s = np.asarray(jax.nn.softmax(x[0]))
        for f in (xs.logsumexp, lse_k):
            check_grads(lambda a: f(a, axis=-1), (x,), order=2, modes=("fwd", "rev"))  # noqa: B023
            h = jax.hessian(f)(x[0])
            np.testing.assert_allclose(np.asarray(h), np.diag(s) - np.outer(s, s), atol=1e-14)


def test_gradient_special_slices() -> None:
    x = jnp.asarray([[-INF, -INF], [0.0, 0.0], [-INF, 0.0]])
    for f in (xs.logsumexp, lse_k):
        g = jax.grad(lambda a: f(a, axis=-1).sum())(x)  # noqa: B023
        np.testing.assert_equal(np.asarray(g), [[0.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


@pytest.mark.parametrize("func", ["logsumexp", "log_softmax"])
def test_vmap(func: str) -> None:
    # the public function (whose rule sees one row) and the fused kernel itself
    f_pub, kernel = (xs.logsumexp, lse_k) if func == "logsumexp" else (xs.log_softmax, ls_k)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((6, 7)), dtype="float32")
    want = np.asarray(f_pub(x, axis=-1, impl="portable"))
    for f in (f_pub, kernel):
        got = jax.vmap(lambda r: f(r))(x)  # noqa: B023
        np.testing.assert_allclose(np.asarray(got), want, rtol=4e-7)


# -- log_softmax ----------------------------------------------------------------------------
def _log_softmax_calls(x: object) -> list[object]:
    """The routes "auto" takes (the eager fast path, the general route with the
    axis as a tuple, a trace under the caller's jit: the core for these small
    inputs), and the fused kernel itself, eager and jitted."""
    return [
        xs.log_softmax(x, axis=-1),
        xs.log_softmax(x, axis=(-1,)),
        jax.jit(lambda a: xs.log_softmax(a, axis=-1))(x),
        ls_k(x),
        jax.jit(ls_k)(x),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", HARD)
def test_log_softmax_vs_mpmath(row: list[float], dtype: str) -> None:
    with enable_x64(dtype == "float64"):
        x = jnp.asarray(row, dtype=dtype)
        row_as = np.asarray(x).astype(np.float64)  # the inputs as rounded to dtype
        ref = mp_log_softmax(row_as)
        for got in _log_softmax_calls(x):
            # the unit tests' bound: ulps x the error model's factor (tests/reference.py)
            assert_close(got, ref, ulps=2, cond=ls_cond("log_softmax", row_as), dtype=dtype)


@pytest.mark.parametrize(
    ("row", "top"),
    [
        ([0.0, -40.0], -4.248354255291589e-18),  # -log1p(e^-40): the naive form gives 0
        ([0.0, -30.0], -9.357622968840175e-14),
        ([5.0, 5.0, -35.0], -0.6931471805599453),  # tied maxima: -log(2 + e^-40)
    ],
)
def test_log_softmax_log1p_form_float64(row: list[float], top: float) -> None:
    with enable_x64(True):
        x = jnp.asarray(row, dtype="float64")
        ref = mp_log_softmax(np.asarray(row))
        assert ref[0] == pytest.approx(top, rel=1e-15)
        for got in _log_softmax_calls(x):
            assert np.asarray(got).dtype == np.float64
            assert_close(got, ref, ulps=2, cond=ls_cond("log_softmax", np.asarray(row)))


def test_log_softmax_repeated_maxima() -> None:
    # three tied maxima and one tiny term: t = (3 - 1) + e^-50, no 1 summed with e^-50
    x = jnp.asarray([[2.0, 2.0, -48.0, 2.0], [7.0, -1.0, 7.0, 7.0]], dtype="float32")
    ref = mp_log_softmax(np.asarray(x, dtype=np.float64))
    for got in _log_softmax_calls(x):
        assert_close(got, ref, ulps=2, cond=ls_cond("log_softmax", np.asarray(x)), dtype="float32")


@pytest.mark.parametrize(
    "row",
    [
        [0.0, NAN, 1.0],
        [INF, 0.0, 1.0],
        [INF, INF, 0.0],
        [INF, NAN, 0.0],
        [-INF, -INF, -INF],
        [-INF, 0.0, 1.0],
        [INF, -INF, 0.0],
        [NAN, -INF, -INF],
    ],
)
def test_log_softmax_special_values_match_core(row: list[float]) -> None:
    x = jnp.asarray([row, [1.0, 2.0, 3.0]], dtype="float32")
    core = np.asarray(xs.log_softmax(x, axis=-1, impl="portable"))
    for got in _log_softmax_calls(x):
        np.testing.assert_array_equal(np.asarray(got)[0], core[0])  # NaN/inf positions exact
        np.testing.assert_allclose(np.asarray(got)[1], core[1], rtol=4e-7, atol=0)


def test_log_softmax_empty_and_masked_route_to_core() -> None:
    empty = jnp.zeros((0, 3), dtype="float32")
    assert xs.log_softmax(empty).shape == (0, 3)
    assert xs.log_softmax(jnp.zeros((2, 0), dtype="float32")).shape == (2, 0)
    # masked: the fill value -inf, and a fully masked slice -inf with zero gradients
    x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]])
    mask = jnp.asarray([[True, False], [False, False]])
    out = xs.log_softmax(x, where=mask)
    np.testing.assert_array_equal(np.asarray(out), [[0.0, -INF], [-INF, -INF]])
    g = jax.grad(lambda a: jnp.sum(jnp.where(mask, xs.log_softmax(a, where=mask), 0.0)))(x)
    np.testing.assert_array_equal(np.asarray(g), [[0.0, 0.0], [0.0, 0.0]])


def test_fused_pays_rule() -> None:
    n = FUSED_MIN_SLICES
    assert fused_pays((n, 16), (1,)) and fused_pays((n, 8192), (1,))
    assert not fused_pays((n - 1, 16), (1,)) and not fused_pays((8, 1 << 20), (1,))
    assert fused_pays((64, 64, 1024), (2,)) and not fused_pays((64, 64, 1024), (1, 2))
    # any axis: the count of slices decides, not which axis
    assert fused_pays((16, n), (0,)) and not fused_pays((n, 16), (0,))


def test_routes() -> None:
    # which calls take the fused kernels (a custom_jvp in the trace) and which the
    # core, on both sides of the slice-count threshold
    n = FUSED_MIN_SLICES
    big, small = jnp.ones((n, 3), dtype="float32"), jnp.ones((n - 1, 3), dtype="float32")

    def jaxpr(f: object, x: object) -> str:
        return str(jax.make_jaxpr(f)(x))

    def fused(f: object, x: object = big) -> bool:
        # the fused primal is the only route with floor (the maxima's marks)
        return "floor" in jaxpr(f, x)

    def analytic(f: object, x: object = big) -> bool:
        # the custom_jvp rules (analytic tangents) wrap both primals
        return "custom_jvp_call" in jaxpr(f, x)

    assert fused(lambda a: xs.log_softmax(a))
    assert fused(lambda a: xs.logsumexp(a, axis=-1))
    assert fused(lambda a: xs.logsumexp(a, axis=(1,), keepdims=True))
    assert not fused(lambda a: xs.log_softmax(a), small)
    assert not fused(lambda a: xs.logsumexp(a, axis=-1), small)
    assert not fused(lambda a: xs.logsumexp(a, axis=(0, 1)))  # one slice
    for x in (big, small):
        assert analytic(lambda a: xs.log_softmax(a), x)
        assert analytic(lambda a: xs.logsumexp(a, axis=-1), x)
        # the kernels called directly (as the accuracy tests here do) run the one-pass form
        assert fused(ls_k, x) and fused(lambda a: lse_k(a, axis=-1), x)
    mask = jnp.ones((n, 3), dtype=bool)
    for f in (
        lambda a: xs.log_softmax(a, where=mask),
        lambda a: xs.log_softmax(a, impl="portable"),
        lambda a: xs.logsumexp(a, b=jnp.ones_like(a)),
    ):
        assert not fused(f) and not analytic(f)
    # the eager fast path and the general route give the same bits on each side
    rng = np.random.default_rng(7)
    for rows, is_fused in ((n, True), (n - 1, False)):
        x = jnp.asarray(rng.standard_normal((rows, 3)) * 10, dtype="float32")
        for f, k in ((xs.log_softmax, ls_k), (xs.logsumexp, lse_k)):
            fast, general = np.asarray(f(x, axis=-1)), np.asarray(f(x, axis=(-1,)))
            np.testing.assert_array_equal(fast, general)
            # the kernel jitted as "auto" runs it (eager op-by-op rounds differently)
            kernel = jax.jit(functools.partial(k, axis=-1))
            want = kernel(x) if is_fused else f(x, axis=-1, impl="portable")
            np.testing.assert_array_equal(fast, np.asarray(want))


def test_log_softmax_matches_portable_axes() -> None:
    x = jnp.asarray(np.random.default_rng(4).standard_normal((3, 4, 5)) * 10, dtype="float32")
    for axis in (0, 1, -1, (0, 2), None):
        a = xs.log_softmax(x, axis=axis)
        p = xs.log_softmax(x, axis=axis, impl="portable")
        assert a.shape == p.shape == x.shape
        # both within a few ulps of |z| + L (the error model's scale), not of |y|
        np.testing.assert_allclose(np.asarray(a), np.asarray(p), rtol=2e-6, atol=2e-6)


def test_log_softmax_gradients_float64() -> None:
    with enable_x64(True):
        x = jnp.asarray(np.random.default_rng(5).standard_normal((3, 4)), dtype="float64")
        s = np.asarray(jax.nn.softmax(x[0]))
        for f in (lambda a: xs.log_softmax(a, axis=-1), ls_k):
            check_grads(f, (x,), order=2, modes=("fwd", "rev"))
            # the analytic Jacobian: d y_i / d x_j = delta_ij - softmax_j
            want = np.eye(4) - s[None, :]
            for jac in (jax.jacfwd(f)(x[0]), jax.jacrev(f)(x[0])):
                np.testing.assert_allclose(np.asarray(jac), want, rtol=1e-14, atol=1e-15)
            # hessian of y_0: -(diag(s) - s s^T), through the rule's own derivative
            h = jax.hessian(lambda a: f(a)[0])(x[0])  # noqa: B023
            want_h = -(np.diag(s) - np.outer(s, s))
            np.testing.assert_allclose(np.asarray(h), want_h, atol=1e-14)


def test_log_softmax_gradient_finite_slices_match_core() -> None:
    x = jnp.asarray([[-INF, 0.0, 1.0], [0.0, 0.0, 1.0], [-1e4, 0.0, -1e4]], dtype="float32")
    ct = jnp.asarray(np.arange(9.0).reshape(3, 3) / 7, dtype="float32")
    want = jax.grad(lambda a: jnp.sum(xs.log_softmax(a, axis=-1, impl="portable") * ct))(x)
    for impl_grad in (jax.grad, lambda f: jax.jit(jax.grad(f))):
        for ls in (lambda a: xs.log_softmax(a, axis=-1), ls_k):
            got = impl_grad(lambda a: jnp.sum(ls(a) * ct))(x)  # noqa: B023
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
