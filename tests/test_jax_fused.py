"""impl="auto" sends unmasked logsumexp on JAX to a fused kernel (backends/jax.py,
_fused_logsumexp): it must keep the core's accuracy (log1p form, checked against
mpmath), its special values, and compose with jit/vmap/grad/jacfwd/hessian."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.backends.jax import enable_x64

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
        for got in (xs.logsumexp(x), jax.jit(xs.logsumexp)(x)):
            assert abs(float(got) - ref) <= bound, (row, dtype, float(got), ref)


def test_log1p_form() -> None:
    got = float(xs.logsumexp(jnp.asarray([0.0, -30.0], dtype="float32")))
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
    for got in (xs.logsumexp(x, axis=-1), jax.jit(lambda a: xs.logsumexp(a, axis=-1))(x)):
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
        check_grads(lambda a: xs.logsumexp(a, axis=-1), (x,), order=2, modes=("fwd", "rev"))
        h = jax.hessian(lambda a: xs.logsumexp(a))(x[0])
        s = np.asarray(jax.nn.softmax(x[0]))
        np.testing.assert_allclose(np.asarray(h), np.diag(s) - np.outer(s, s), atol=1e-14)


def test_gradient_special_slices() -> None:
    x = jnp.asarray([[-INF, -INF], [0.0, 0.0], [-INF, 0.0]])
    g = jax.grad(lambda a: xs.logsumexp(a, axis=-1).sum())(x)
    np.testing.assert_equal(np.asarray(g), [[0.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


def test_vmap() -> None:
    x = jnp.asarray(np.random.default_rng(3).standard_normal((6, 7)), dtype="float32")
    got = jax.vmap(lambda r: xs.logsumexp(r))(x)
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(xs.logsumexp(x, axis=-1, impl="portable")), rtol=4e-7
    )
