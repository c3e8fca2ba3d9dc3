"""Under ``jax.debug_nans`` no call whose result holds no NaN may make one.

``jax.debug_nans`` raises FloatingPointError at the first operation whose
output holds a NaN (op by op under ``jax.disable_jit`` and under ``grad`` of
eager code; a jitted call is rerun op by op when its output has one).  The
core once built a NaN constant for the special-value rules on every call:
JAX's own regression test for its issue 7634, ``logsumexp(1.0, b=1.0)``
under debug_nans, raised.  A call whose result holds a NaN must still raise,
which shows the switch is on.
"""

from __future__ import annotations

import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (lane jax)")

import xpsoftmax as xs  # noqa: E402

jnp = jax.numpy
X = jnp.asarray([1.0, -3.0])
M = jnp.asarray([True, False])
NONE = jnp.asarray([False, False])
W = jnp.asarray([2.0, 3.0])

# few shapes and dtypes: op by op, each primitive compiles once per signature
CALLS = {
    "issue 7634": lambda: xs.logsumexp(jnp.asarray(1.0), b=jnp.asarray(1.0)),
    "signed": lambda: xs.logsumexp(X, b=jnp.asarray([1.0, -1.0]), return_sign=True),
    "cancelling": lambda: xs.logsumexp(X * 0, b=jnp.asarray([1.0, -1.0]), return_sign=True),
    "softmax, log_softmax, logmeanexp": lambda: [
        f(X, impl="portable") for f in (xs.softmax, xs.log_softmax, xs.logmeanexp)
    ],
    # fully masked: 0 / -inf; logmeanexp's is NaN (0/0) and jax.nn.softmax (softmax's
    # "auto") makes a NaN on its way to 0, so those two are left out
    "masked": lambda: [
        xs.log_softmax(X, where=M),
        xs.log_softmax(X, where=NONE),
        xs.logmeanexp(X, where=M),
        xs.softmax(X, where=NONE, impl="portable"),
    ],
    "complex": lambda: xs.logsumexp(X + 1j, return_sign=True),
    "grad": lambda: jax.grad(lambda a: xs.logsumexp(a, b=W))(X),
}


@pytest.fixture
def debug_nans():
    with jax.debug_nans(True), jax.disable_jit():
        yield


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_no_nan_made_where_the_result_has_none(call, debug_nans):
    CALLS[call]()


def test_a_nan_result_still_raises(debug_nans):
    with pytest.raises(FloatingPointError):
        xs.logsumexp(X, b=-W)  # negative total: NaN
