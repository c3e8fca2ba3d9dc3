"""Cases ported from SciPy's own ``scipy/special/tests/test_logsumexp.py`` (1.17).

* ``test_gh22601_infinite_elements``: every pair of 18 real and complex
  infinities.  SciPy compares with the library's own ``log(sum(exp(x)))``;
  here the reference is C99's (NumPy's complex ``exp``/``log``), on every
  backend, and under ``jax.jit`` the same as eager.  JAX's own ``exp`` makes
  ``exp(-inf +- inf j)`` NaN where C99 says 0, so SciPy's suite run on JAX
  expects NaN at the 60 pairs holding such an entry next to a non-NaN one:
  there xpsoftmax keeps C99's value, the same on every backend
  (docs/semantics.md).
* ``test_dtypes_ab``: the result dtype of ``logsumexp(a, b=b)`` is SciPy's
  rule, the library's own promotion of a's and b's dtypes (an integer or
  bool result becomes the default floating dtype), so integer weights do
  not promote a float32 ``a`` to float64 on torch or JAX.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import xpsoftmax as xs
from test_weights import _backend, _context

INF = math.inf
VALUES = [
    -INF, INF, complex(-INF, 0.0), complex(-INF, -0.0), complex(-INF, INF),
    complex(-INF, -INF), complex(INF, 0.0), complex(INF, -0.0), complex(INF, INF),
    complex(INF, -INF),
    # a phase in each quadrant
    complex(-INF, 0.7533), complex(-INF, 2.3562), complex(-INF, 3.9270), complex(-INF, 5.4978),
    complex(INF, 0.7533), complex(INF, 2.3562), complex(INF, 3.9270), complex(INF, 5.4978),
]  # fmt: skip
PAIRS = np.array(list(itertools.product(VALUES, repeat=2)), dtype=np.complex128)


def _c99_reference() -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.log(np.sum(np.exp(PAIRS), axis=-1))


def _assert_same_complex(got: np.ndarray, want: np.ndarray) -> None:
    # a value with a NaN part is a complex NaN, whichever part (NumPy's rule,
    # which SciPy's xp_assert_equal follows): inf+nanj matches nan+nanj
    got_nan = np.isnan(got.real) | np.isnan(got.imag)
    want_nan = np.isnan(want.real) | np.isnan(want.imag)
    bad = (got_nan != want_nan) | (~want_nan & (got != want))
    assert not bad.any(), [(PAIRS[i].tolist(), got[i], want[i]) for i in np.flatnonzero(bad)[:5]]


@pytest.mark.parametrize("name", ["numpy", "torch"])
def test_gh22601_infinite_elements(name):
    be = _backend(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = np.asarray(be.to_numpy(xs.logsumexp(be.from_numpy(PAIRS))))
    _assert_same_complex(got, _c99_reference())


def test_gh22601_infinite_elements_jax_jit_and_eager():
    jax = pytest.importorskip("jax")
    from xpsoftmax.backends.jax import enable_x64

    want = _c99_reference()
    with enable_x64(True):
        x = jax.numpy.asarray(PAIRS)
        eager = np.asarray(xs.logsumexp(x))
        jitted = np.asarray(jax.jit(xs.logsumexp)(x))
        # JAX's own direct formula: exp(-inf +- inf j) is NaN in XLA, 0 in C99
        naive = np.asarray(jax.numpy.log(jax.numpy.sum(jax.numpy.exp(x), axis=-1)))
    _assert_same_complex(eager, want)
    _assert_same_complex(jitted, want)
    if tuple(int(p) for p in jax.__version__.split(".")[:2]) >= (0, 10):  # as measured
        naive_nan = np.isnan(naive.real) | np.isnan(naive.imag)
        want_nan = np.isnan(want.real) | np.isnan(want.imag)
        assert int(np.sum(naive_nan & ~want_nan)) == 60  # the pairs SciPy's suite flags on JAX


# (dtype of a, dtype of b) -> the result dtype per backend, from each library's
# promotion table (jax with float64 enabled; "default" is its default float)
DTYPES_AB = {
    ("float32", "int32"): {"numpy": "float64", "torch": "float32", "jax": "float32"},
    ("float32", "int64"): {"numpy": "float64", "torch": "float32", "jax": "float32"},
    ("int64", "float32"): {"numpy": "float64", "torch": "float32", "jax": "float32"},
    ("int32", "complex64"): {"numpy": "complex128", "torch": "complex64", "jax": "complex64"},
    ("int32", "int64"): {"numpy": "float64", "torch": "float32", "jax": "float64"},
    ("float32", "bool"): {"numpy": "float32", "torch": "float32", "jax": "float32"},
    ("float64", "float32"): {"numpy": "float64", "torch": "float64", "jax": "float64"},
}
# array-api-strict promotes no integer or bool with a float: SciPy counts the
# integer as the default floating dtype there (float64), and so do we the bool
STRICT = {("float32", "int32"): "float64", ("int32", "complex64"): "complex128",
          ("int32", "int64"): "float64", ("float32", "bool"): "float64"}  # fmt: skip


def _dtype_cases():
    for pair, per_backend in DTYPES_AB.items():
        for name, want in per_backend.items():
            yield name, pair, want
    for pair, want in STRICT.items():
        yield "strict", pair, want


@pytest.mark.parametrize(("name", "pair", "want"), list(_dtype_cases()))
def test_dtypes_ab(name, pair, want):
    be = _backend(name)
    a = np.array([2, 1]).astype(pair[0])
    b = np.array([1, -1]).astype(pair[1])  # bool: [True, True]
    with _context(name):
        out = xs.logsumexp(be.from_numpy(a), b=be.from_numpy(b))
        got = np.asarray(be.to_numpy(out))
        dtype = str(out.dtype).rsplit(".", 1)[-1]
    assert dtype == want, (name, pair, dtype)
    exact = math.log(math.exp(2) + float(np.real(b[1])) * math.exp(1))
    eps = np.finfo(np.dtype(want)).eps
    assert abs(complex(got) - exact) <= 4 * eps * abs(exact), (got, exact)
