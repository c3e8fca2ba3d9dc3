"""Autodiff and tracing: jax.jit/vmap/grad, torch autograd, Dask laziness."""

from __future__ import annotations

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.backends.jax import enable_x64

X = np.array([[1.0, 2.0, 3.0, 3.0], [-1.0, 0.5, 30.0, -20.0]])
MASK = np.array([[True, True, False, True], [False, False, False, False]])


@pytest.fixture
def jax64():
    jax = pytest.importorskip("jax")
    with enable_x64(True):
        yield jax


@pytest.mark.parametrize("impl", ["portable", "auto"])
def test_jax_jit_vmap_match_eager(jax64, impl):
    jnp = jax64.numpy
    x = jnp.asarray(X)
    for f in (xs.softmax, xs.log_softmax, xs.logsumexp):
        eager = f(x, impl=impl)
        jitted = jax64.jit(lambda a, f=f: f(a, impl=impl))(x)
        mapped = jax64.vmap(lambda a, f=f: f(a, impl=impl))(x)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=4e-16, atol=0)
        np.testing.assert_allclose(np.asarray(mapped), np.asarray(eager), rtol=4e-16, atol=0)


def _jax_grads(jax, fn, x, w):
    return jax.grad(lambda a: (fn(a) * w).sum())(x)


@pytest.mark.parametrize("impl", ["portable", "auto"])
def test_jax_grad_matches_jax_nn(jax64, impl):
    jax, jnp = jax64, jax64.numpy
    x = jnp.asarray(X)
    w = jnp.asarray(np.random.default_rng(0).normal(size=X.shape))
    pairs = [
        (lambda a: xs.softmax(a, impl=impl), jax.nn.softmax),
        (lambda a: xs.log_softmax(a, impl=impl), jax.nn.log_softmax),
        (
            lambda a: xs.logsumexp(a, keepdims=True, impl=impl),
            lambda a: jax.nn.logsumexp(a, axis=-1, keepdims=True),
        ),
    ]
    for ours, theirs in pairs:
        g1 = _jax_grads(jax, ours, x, w)
        g2 = _jax_grads(jax, theirs, x, w)
        # the gradients are O(1) sums of a handful of products: a few ulps of float64
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-14, atol=1e-15)


def test_jax_grad_fully_masked_is_finite_zero(jax64):
    jax, jnp = jax64, jax64.numpy
    x, m = jnp.asarray(X), jnp.asarray(MASK)
    for f in (xs.softmax, xs.log_softmax, xs.logsumexp):

        def loss(a, f=f):
            out = f(a, where=m)
            # only the finite outputs can enter a loss; masked log-probs are -inf by design
            return jnp.where(jnp.isfinite(out), out, 0.0).sum()

        g = np.asarray(jax.grad(loss)(x))
        assert np.isfinite(g).all()
        assert (g[1] == 0).all() and (g[0][~MASK[0]] == 0).all()


def test_jax_grad_with_ties_in_the_max(jax64):
    jax, jnp = jax64, jax64.numpy
    x = jnp.asarray([2.0, 2.0, 0.0])
    g = np.asarray(jax.grad(lambda a: xs.logsumexp(a))(x))
    # d logsumexp / dx = softmax(x), tied entries included
    np.testing.assert_allclose(g, np.asarray(jax.nn.softmax(x)), rtol=1e-15)


@pytest.mark.parametrize("impl", ["portable", "auto"])
def test_torch_autograd_matches_torch(impl):
    torch = pytest.importorskip("torch")
    w = torch.tensor(np.random.default_rng(0).normal(size=X.shape))
    pairs = [
        (lambda a: xs.softmax(a, impl=impl), lambda a: torch.softmax(a, -1)),
        (lambda a: xs.log_softmax(a, impl=impl), lambda a: torch.log_softmax(a, -1)),
        (
            lambda a: xs.logsumexp(a, keepdims=True, impl=impl),
            lambda a: torch.logsumexp(a, -1, keepdim=True),
        ),
    ]
    for ours, theirs in pairs:
        grads = []
        for fn in (ours, theirs):
            x = torch.tensor(X, requires_grad=True)
            (fn(x) * w).sum().backward()
            grads.append(x.grad.numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-14, atol=1e-15)


def test_torch_autograd_fully_masked_is_finite_zero():
    torch = pytest.importorskip("torch")
    m = torch.tensor(MASK)
    for f in (xs.softmax, xs.log_softmax, xs.logsumexp):
        x = torch.tensor(X, requires_grad=True)
        out = f(x, where=m)
        torch.where(torch.isfinite(out), out, 0.0).sum().backward()
        g = x.grad.numpy()
        assert np.isfinite(g).all() and (g[1] == 0).all()


def test_dask_stays_lazy():
    da = pytest.importorskip("dask.array")
    import dask

    x = da.from_array(X, chunks=(1, 2))
    calls = []

    def forbid(*args, **kwargs):  # a scheduler that refuses to run
        calls.append(1)
        raise AssertionError("computed eagerly")

    with dask.config.set(scheduler=forbid):
        outs = [f(x) for f in (xs.softmax, xs.log_softmax, xs.logsumexp)]
        outs.append(xs.softmax(x, where=da.from_array(MASK, chunks=(2, 1))))
    assert not calls
    assert all(isinstance(o, da.Array) for o in outs)
    np.testing.assert_allclose(outs[0].compute(), xs.softmax(X), rtol=1e-15)


# -- weights and signs under the transformations ---------------------------------------
XW = np.array([[1.0, 2.0, 3.0, 0.5], [-1.0, 0.5, 30.0, -20.0]])
BW = np.array([0.5, 2.0, -0.25, 1.0])


def test_jax_weights_jit_vmap_grad(jax64):
    jax, jnp = jax64, jax64.numpy
    x, b = jnp.asarray(XW), jnp.asarray(BW)

    def ours(x, b):
        return xs.logsumexp(x, b=b, return_sign=True)

    def theirs(x, b):
        return jax.nn.logsumexp(x, axis=-1, b=b, return_sign=True)

    eager = ours(x, b)
    for got in (jax.jit(ours)(x, b), jax.vmap(ours, in_axes=(0, None))(x, b)):
        for g, e in zip(got, eager, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=4e-16)
    w = jnp.asarray([0.3, -1.7])
    gx, gb = jax.grad(lambda x, b: (ours(x, b)[0] * w).sum(), argnums=(0, 1))(x, b)
    tx, tb = jax.grad(lambda x, b: (theirs(x, b)[0] * w).sum(), argnums=(0, 1))(x, b)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(tx), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(tb), rtol=1e-13)
    # a zero weight still has its derivative exp(x_i) / s (jax.nn gives 0 there)
    b0 = np.array([0.0, 1, 1, 1])
    gz = jax.grad(lambda b: xs.logsumexp(x[0], b=b), argnums=0)(jnp.asarray(b0))
    want = np.exp(XW[0]) / np.sum(b0 * np.exp(XW[0]))
    np.testing.assert_allclose(np.asarray(gz), want, rtol=1e-13)


def test_torch_weights_autograd_and_compile():
    torch = pytest.importorskip("torch")
    x = torch.tensor(XW, requires_grad=True)
    b = torch.tensor(BW, requires_grad=True)
    val, sgn = xs.logsumexp(x, b=b, return_sign=True)
    val.sum().backward()
    # d log|s| / dx_i = b_i exp(x_i) / s, d / db_i = exp(x_i) / s, s = sgn * exp(val)
    s = (sgn * torch.exp(val)).detach()[:, None]
    xd, bd = x.detach(), b.detach()
    np.testing.assert_allclose(x.grad.numpy(), (bd * torch.exp(xd) / s).numpy(), rtol=1e-13)
    np.testing.assert_allclose(b.grad.numpy(), (torch.exp(xd) / s).sum(0).numpy(), rtol=1e-13)
    compiled = torch.compile(lambda x, b: xs.logsumexp(x, b=b, return_sign=True))
    for g, e in zip(compiled(xd, bd), (val, sgn), strict=True):
        np.testing.assert_allclose(g.numpy(), e.detach().numpy(), rtol=1e-15)


def test_dask_weights_stay_lazy_with_other_chunks():
    da = pytest.importorskip("dask.array")
    x = da.from_array(XW, chunks=(1, 2))
    b = da.from_array(BW, chunks=3)  # chunked differently from x
    val, sgn = xs.logsumexp(x, b=b, return_sign=True)
    assert isinstance(val, da.Array) and isinstance(sgn, da.Array)
    want = xs.logsumexp(XW, b=BW, return_sign=True)
    np.testing.assert_array_equal(val.compute(), want[0])
    np.testing.assert_array_equal(sgn.compute(), want[1])
    lme = xs.logmeanexp(x)
    assert isinstance(lme, da.Array)
    np.testing.assert_array_equal(lme.compute(), xs.logmeanexp(XW))
