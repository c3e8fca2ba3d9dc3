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
