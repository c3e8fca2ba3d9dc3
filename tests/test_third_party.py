"""Third-party array-API libraries (pydata sparse, ndonnx, marray) through the generic adapter.

The conformance suite and the value tests run on them through the ``target``
fixture (their CI lanes set ``XPSOFTMAX_BACKENDS``); these are the checks
specific to each: its own array type back, and marray's mask honoured.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.backends import backend_of

X = np.array([[1.0, 2.0, 30.0], [4.0, -5.0, 6.0]])


def test_marray_mask_is_honoured():
    marray = pytest.importorskip("marray")
    mxp = marray.masked_namespace(np)
    mask = np.array([[False, False, True], [False, False, False]])
    x = mxp.asarray(X, mask=mask)
    assert backend_of(x).name == "marray"
    for func in ("softmax", "log_softmax"):
        y = getattr(xs, func)(x, axis=1)
        assert type(y) is type(x)
        np.testing.assert_array_equal(y.mask, mask)  # masked entries stay masked
        # the unmasked entries are those of the call without the masked ones
        want = getattr(xs, func)(X, axis=1, where=~mask)
        np.testing.assert_allclose(y.data[~mask], want[~mask], rtol=4e-16, atol=0)
    lse = xs.logsumexp(x, axis=1)
    np.testing.assert_allclose(lse.data, xs.logsumexp(X, axis=1, where=~mask), rtol=4e-16)
    np.testing.assert_array_equal(lse.mask, [False, False])


@pytest.mark.parametrize("lib", ["sparse", "ndonnx", "marray"])
def test_same_type_back_and_values_as_on_numpy(lib):
    pytest.importorskip(lib)
    from xpsoftmax.backends import by_name

    backend = by_name(lib)
    x = backend.from_numpy(X)
    assert backend_of(x) is backend
    for func in ("softmax", "log_softmax", "logsumexp"):
        y = getattr(xs, func)(x, axis=1)
        assert type(y) is type(x), (func, type(y))
        np.testing.assert_allclose(
            backend.to_numpy(y), getattr(xs, func)(X, axis=1), rtol=8e-16, atol=0
        )
