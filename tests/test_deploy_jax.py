"""Deploying with JAX: ``jax.export`` with a symbolic batch size, serialized,
deserialized and run at several sizes (docs/deploying.md).

No route decision may compare a symbolic dimension (that raises
``InconclusiveDimensionOperation`` at export time): with a symbolic shape
log_softmax and logsumexp take the portable core, valid at every size, so
the exported values equal the eager core's bit for bit at every batch size,
and eager ``"auto"`` wherever it takes the core too (fewer than
``FUSED_MIN_SLICES`` slices; from there on it takes the fused one-pass
kernels, the same log1p form summed in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (lane jax)")
# JAX 0.4.31's jax.export imports absl, which it does not declare (lane minimum)
export = pytest.importorskip("jax.export", reason="jax.export cannot be imported here")

import xpsoftmax as xs  # noqa: E402
from xpsoftmax.backends.jax import FUSED_MIN_SLICES, fused_pays  # noqa: E402

jnp = jax.numpy
FUNCS = (xs.softmax, xs.log_softmax, xs.logsumexp, xs.logmeanexp)
# below, below and above the fused kernels' slice count (eager "auto" switches there)
SIZES = (1, 7, FUSED_MIN_SLICES + 3)
ROW = 8


def _all(x):
    return tuple(f(x) for f in FUNCS)


def _roundtrip(fn, *specs):
    exported = export.export(jax.jit(fn))(*specs)
    return export.deserialize(exported.serialize())


def _batch(n: int, seed: int = 0):
    rng = np.random.default_rng(seed + n)
    return jnp.asarray((rng.normal(size=(n, ROW)) * 10).astype(np.float32))


def test_route_rule_takes_no_symbolic_dimension():
    b, n = export.symbolic_shape("b, n")
    # a comparison of b with 4096 would raise InconclusiveDimensionOperation
    assert not fused_pays((b, 16), (1,))
    assert not fused_pays((4096, n), (1,))
    assert fused_pays((4096, 16), (1,))


def test_export_symbolic_batch_serialize_deserialize_run():
    (b,) = export.symbolic_shape("b")
    restored = _roundtrip(_all, jax.ShapeDtypeStruct((b, ROW), jnp.float32))
    for n in SIZES:
        x = _batch(n)
        got = [np.asarray(v) for v in restored.call(x)]
        auto = [np.asarray(f(x)) for f in FUNCS]
        assert [g.shape for g in got] == [(n, ROW), (n, ROW), (n,), (n,)]
        if not fused_pays((n, ROW), (1,)):
            for g, a in zip(got, auto, strict=True):
                np.testing.assert_array_equal(g, a)
            continue
        # softmax is jax.nn.softmax under "auto" at every size, exported or not
        np.testing.assert_array_equal(got[0], auto[0])
        for f, g, a in zip(FUNCS[1:], got[1:], auto[1:], strict=True):
            np.testing.assert_array_equal(g, np.asarray(f(x, impl="portable")))
            # the fused kernels: the same log1p form, summed in another order
            np.testing.assert_allclose(g, a, rtol=8 * np.finfo(np.float32).eps, atol=1e-6)


def test_export_symbolic_grad_and_vmap():
    (b,) = export.symbolic_shape("b")
    w = jnp.arange(1.0, ROW + 1.0)

    def grads(x):
        def loss(f):
            return lambda a: jnp.sum(f(a) * (w if f in FUNCS[:2] else 1.0))

        return tuple(jax.grad(loss(f))(x) for f in FUNCS)

    def per_row(x):  # vmap over the symbolic batch of a function of one row
        return jax.vmap(lambda r: jnp.stack([xs.logsumexp(r), xs.logmeanexp(r)]))(x)

    spec = jax.ShapeDtypeStruct((b, ROW), jnp.float32)
    restored_g, restored_v = _roundtrip(grads, spec), _roundtrip(per_row, spec)
    # a gradient here is a difference of terms up to sum(w) in size (w_i -
    # softmax . w): a few float32 eps of that apart between compilations
    atol = 8 * np.finfo(np.float32).eps * float(jnp.sum(w))
    # one size: each compiles the whole program (the sizes are the test above's);
    # jit: op by op, each of its primitives would compile on its own
    x = _batch(5, seed=1)
    for got, want in zip(restored_g.call(x), jax.jit(grads)(x), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=atol)
    np.testing.assert_array_equal(np.asarray(restored_v.call(x)), np.asarray(jax.jit(per_row)(x)))


def test_export_symbolic_reduced_length():
    # the reduced axis symbolic too: logmeanexp counts its entries from the array
    b, n = export.symbolic_shape("b, n")

    def fn(x):
        return xs.logmeanexp(x), xs.logsumexp(x, axis=0), xs.log_softmax(x, axis=None)

    restored = _roundtrip(fn, jax.ShapeDtypeStruct((b, n), jnp.float32))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 5)).astype(np.float32))
    for got, want in zip(restored.call(x), fn(x), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
