"""The core's log1p: within 3 ulps of mpmath on every library, where XLA's is not.

XLA's float64 log1p (JAX 0.10.2 on CPU) is up to 127 ulps off on about
[-0.45, -0.35]; the core takes log(1 + t) below -0.25.  Bound there: 1 + t
is exact (Sterbenz) for t <= -0.5 and one rounding of relative size u above,
which |log(1 + t)| >= log(4/3) = 0.288 turns into at most 1.74 ulps, plus the
library's log (1 ulp): 3 ulps.  Above -0.25 it is the library's log1p (2 ulps
measured on JAX, 1 on NumPy and torch).  The results that hit XLA's range,
logsumexp([2, 0], b=[1, -3]) and logmeanexp([-0.531, -0.521, -0.551]), are
in tests/test_weights.py with their own bounds.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from test_weights import _backend, _context
from xpsoftmax import _core

T = np.concatenate(
    [
        np.linspace(-0.999, 2.0, 601),
        np.linspace(-0.46, -0.34, 241),  # XLA's bad range, densely
        -np.geomspace(1e-300, 0.2, 40),
        [0.0, -0.25, np.nextafter(-0.25, 0.0), -0.5, -1.0],
    ]
)


def _reference(t: np.ndarray, dtype) -> np.ndarray:
    t = t.astype(dtype).astype(np.float64)  # the values the library sees
    with mpmath.workdps(40):
        return np.array([float(mpmath.log1p(mpmath.mpf(v))) for v in t])


@pytest.mark.parametrize("name", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_within_3_ulps(name, dtype):
    be = _backend(name)
    with _context(name), np.errstate(divide="ignore"):  # log1p(-1) = -inf
        t = be.from_numpy(T.astype(dtype))
        got = np.asarray(be.to_numpy(_core._log1p(t, be.ops(be.namespace(t))))).astype(np.float64)
    want = _reference(T, dtype)
    assert np.array_equal(got == -np.inf, want == -np.inf)
    finite = np.isfinite(want)
    spacing = np.spacing(np.abs(want[finite]).astype(dtype)).astype(np.float64)
    # below the smallest normal the unit is that normal: XLA flushes subnormals
    err = np.abs(got[finite] - want[finite]) / np.maximum(spacing, np.finfo(dtype).smallest_normal)
    assert err.max() <= 3, (T[finite][err.argmax()], err.max())
