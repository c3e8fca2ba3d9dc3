"""logsumexp's weights (b=), return_sign= and complex input, and logmeanexp,
on every CPU backend, against mpmath.

Error bound (absolute, u the unit roundoff, t_i = b_i exp(x_i), S = sum t_i,
n the slice length): each term carries relative error (|x_i| + |log|b_i|| + n + 2) u
from the shift, exp and the sum, so
``|err(log|S|)| <= 4 u (sum |t_i| (|x_i| + |log|b_i|| + n + 2) / |S| + |log|S||)``
(the factor 4 for the library's exp/log1p/atan2); for complex input the same
bound holds for the imaginary part (the phase) and the real part.  The
bound is small exactly where the problem is well conditioned (no
cancellation in S), so the cases that discriminate the log1p form
(``logsumexp([0, -40], b=[1, 1e-3])`` is 4.25e-21, naive 0) are held to it.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import mpmath
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax import backends

mpmath.mp.dps = 60
BACKENDS = ["numpy", "torch", "jax", "dask", "strict"]
INF, NAN = math.inf, math.nan


@contextlib.contextmanager
def _context(name):
    if name == "jax":
        from xpsoftmax.backends.jax import enable_x64

        with enable_x64(True):
            yield
    else:
        yield


def _backend(name):
    be = backends.by_name(name)
    why = be.available()
    if why is not None:
        pytest.skip(why)
    return be


def _np(be, a):
    if isinstance(a, tuple):
        return tuple(_np(be, v) for v in a)
    return np.asarray(be.to_numpy(a))


def mp_lse(x, b=None, return_sign=False):
    """mpmath log(sum(b exp(x))) of one 1-d slice (zero weights skipped)."""
    x = np.asarray(x)
    b = np.ones(x.shape) if b is None else np.broadcast_to(np.asarray(b), x.shape)
    cplx = np.iscomplexobj(x) or np.iscomplexobj(b)
    terms = []
    for xi, bi in zip(x.tolist(), b.tolist(), strict=True):
        if bi == 0:
            continue
        if cplx:
            terms.append(mpmath.mpc(bi) * mpmath.exp(mpmath.mpc(xi)))
        else:
            terms.append(mpmath.mpf(bi) * mpmath.exp(mpmath.mpf(xi)))
    s = mpmath.fsum(terms) if terms else mpmath.mpf(0)
    scale = (
        mpmath.fsum(
            abs(t) * (abs(mpmath.mpf(abs(complex(xi)))) + abs(mpmath.log(abs(bi))) + len(x) + 2)
            for t, xi, bi in zip(
                terms,
                [v for v, w in zip(x.tolist(), b.tolist(), strict=True) if w != 0],
                [w for w in b.tolist() if w != 0],
                strict=True,
            )
        )
        if terms
        else mpmath.mpf(0)
    )
    if s == 0:
        return (-INF, 0.0, 0.0) if return_sign or not cplx else (complex(-INF, 0), 0.0)
    cond = float(scale / abs(s))
    if cplx:
        lg = mpmath.log(s)
        if return_sign:
            return float(lg.real), complex(s / abs(s)), cond
        return complex(lg), cond
    if return_sign:
        return float(mpmath.log(abs(s))), float(mpmath.sign(s)), cond
    return (float(mpmath.log(s)) if s > 0 else NAN), cond


def _close(got, want, cond):
    eps = np.finfo(np.float64).eps / 2
    got, want = complex(got), complex(want)
    for g, w in ((got.real, want.real), (got.imag, want.imag)):
        if not math.isfinite(w):
            assert g == w or (math.isnan(g) and math.isnan(w)), (got, want)
            continue
        tol = 4 * eps * (cond + abs(w))
        assert abs(g - w) <= tol, f"got {got!r}, want {want!r} (tol {tol:.3g})"


# (x, b) slices with a well-conditioned or exactly known result
REAL_CASES = [
    ([0.0, -40.0], [1.0, 1e-3]),  # log1p form: 4.2484e-21, naive 0
    ([0.0, 0.5], [1.0, 1e-10]),  # the weight decides the pivot; scipy loses 5 digits
    ([1.0, 2.0], [1.0, -1.0]),  # negative total
    ([1.0, 2.0, 3.0], [2.0, -0.5, 0.25]),
    ([1000.0, 999.0], [-1.0, 3.0]),  # shifted, positive total
    ([-1000.0, -1001.0], [1.0, 1.0]),
    ([0.0, 0.0, 0.0], [1.0, 1.0, -1.0]),  # ties, partial cancellation
    ([3.0, 3.0], [1.0, -1.0]),  # exact cancellation: (-inf, 0)
    ([INF, 1.0], [0.0, 1.0]),  # zero weight at inf: contributes nothing
    ([NAN, 1.0], [0.0, 2.0]),  # zero weight at NaN
    ([-INF, -INF], [1.0, -1.0]),
    ([5.0, 7.0], [0.0, 0.0]),  # all weights zero: -inf
    ([0.0, -30.0, -60.0], [1.0, 1.0, 1.0]),
]
SPECIAL = {  # (x, b) -> (log|s|, sign): the IEEE / SciPy direct-sum results
    ((INF, 1.0), (1.0, 1.0)): (INF, 1.0),
    ((INF, 1.0), (-1.0, 1.0)): (INF, -1.0),
    ((INF, INF), (1.0, -1.0)): (NAN, NAN),
    ((NAN, 1.0), (1.0, 1.0)): (NAN, NAN),
    ((INF, INF), (0.0, 1.0)): (INF, 1.0),  # scipy: NaN (0 * inf in its direct sum)
    ((0.0, 1.0), (INF, 1.0)): (INF, 1.0),
}


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", REAL_CASES + [(list(k[0]), list(k[1])) for k in SPECIAL])
def test_weights_and_sign(name, case):
    be = _backend(name)
    x, b = (np.array(v) for v in case)
    key = (tuple(case[0]), tuple(case[1]))
    with _context(name), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xa, ba = be.from_numpy(x), be.from_numpy(b)
        val, sgn = _np(be, xs.logsumexp(xa, b=ba, return_sign=True))
        plain = _np(be, xs.logsumexp(xa, b=ba))
    if key in SPECIAL:
        want_v, want_s = SPECIAL[key]
        cond = 0.0
    else:
        want_v, want_s, cond = mp_lse(x, b, return_sign=True)
    _close(val, want_v, cond)
    assert (sgn == want_s) or (math.isnan(sgn) and math.isnan(want_s)), (sgn, want_s)
    want_plain = want_v if want_s > 0 or want_s == 0 else NAN
    _close(plain, want_plain, cond)


def test_issue_examples():
    assert xs.logsumexp([INF, 1.0], b=[0, 1]) == 1.0
    assert math.isnan(xs.logsumexp([1.0, 2.0], b=[1, -1]))
    v, s = xs.logsumexp([1.0, 2.0], b=[1, -1], return_sign=True)
    assert (float(v), float(s)) == (float(mpmath.log(mpmath.e**2 - mpmath.e)), -1.0)
    assert xs.logsumexp([1.0, 1.0], b=[1, -1], return_sign=True) == (-INF, 0.0)
    assert float(xs.logsumexp([0.0, -40.0], b=[1, 1e-3])) == pytest.approx(
        float(mpmath.log1p(mpmath.mpf(1e-3) * mpmath.exp(-40))), rel=1e-14
    )


@pytest.mark.parametrize("name", BACKENDS)
def test_weights_broadcast_axes_keepdims(name):
    be = _backend(name)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5)) * 5
    b = rng.normal(size=(4, 1))  # broadcast along the first and last axes
    bb = np.broadcast_to(b, x.shape)
    with _context(name):
        got = _np(
            be,
            xs.logsumexp(
                be.from_numpy(x), axis=(0, 2), b=be.from_numpy(b), keepdims=True, return_sign=True
            ),
        )
    assert got[0].shape == (1, 4, 1) and got[1].shape == (1, 4, 1)
    for j in range(4):
        want = mp_lse(x[:, j, :].ravel(), bb[:, j, :].ravel(), return_sign=True)
        _close(got[0][0, j, 0], want[0], want[2])
        assert got[1][0, j, 0] == want[1]


@pytest.mark.parametrize("name", BACKENDS)
def test_weights_with_where(name):
    be = _backend(name)
    x = np.array([[1.0, NAN, 3.0], [INF, 0.0, 0.5]])
    b = np.array([[2.0, 1.0, -1.0], [1.0, 1.0, 1.0]])
    w = np.array([[True, False, True], [False, True, True]])
    with _context(name), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = _np(
            be,
            xs.logsumexp(
                be.from_numpy(x), b=be.from_numpy(b), where=be.from_numpy(w), return_sign=True
            ),
        )
    for r in range(2):
        want = mp_lse(x[r][w[r]], b[r][w[r]], return_sign=True)
        _close(got[0][r], want[0], want[2])
        assert got[1][r] == want[1]


def test_dtype_promotion_as_scipy():
    x32 = np.array([1.0, 2.0], np.float32)
    assert xs.logsumexp(x32, b=np.array([1, 2])).dtype == np.float64  # int weights: default float
    assert xs.logsumexp(x32, b=np.array([1, 2], np.float32)).dtype == np.float32
    assert xs.logsumexp(x32, b=np.array([1.0, 2.0])).dtype == np.float64
    assert xs.logsumexp(x32, b=np.array([1, 1j], np.complex64)).dtype == np.complex64
    v, s = xs.logsumexp(np.array([1j, 2.0]), return_sign=True)
    assert v.dtype == np.float64 and s.dtype == np.complex128
    h = xs.logsumexp(
        np.array([1.0, 2.0], np.float16), b=np.array([1, -1], np.float16), return_sign=True
    )
    assert h[0].dtype == np.float16 and h[1].dtype == np.float16


def test_weights_errors():
    torch = pytest.importorskip("torch")

    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TypeError, match=r"^b must be an array of x's library \(torch\)"):
        xs.logsumexp(torch.ones(3), b=jnp.ones(3))
    with pytest.raises(
        ValueError, match=r"^b of shape \(2,\) and x of shape \(3,\) do not broadcast"
    ):
        xs.logsumexp(np.ones(3), b=np.ones(2))
    with pytest.raises(TypeError, match="return_sign must be a bool"):
        xs.logsumexp(np.ones(3), return_sign="yes")
    with pytest.raises(TypeError, match="b must have a numeric dtype"):
        xs.logsumexp(np.ones(3), b=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"impl='native' cannot serve this call: torch\.logsumexp"):
        xs.logsumexp(torch.ones(3), b=torch.ones(3), impl="native")


def test_input_not_mutated():
    x, b = np.array([1.0, np.inf, 2.0]), np.array([1.0, 0.0, -3.0])
    xc, bc = x.copy(), b.copy()
    xs.logsumexp(x, b=b, return_sign=True)
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(b, bc)


def test_numpy_large_input_with_weights_runs_unblocked_and_right():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 1000))  # above the blocked path's threshold
    b = rng.uniform(-1, 2, size=(1000,))
    got = xs.logsumexp(x, b=b, return_sign=True)
    for r in (0, 299, 599):
        want = mp_lse(x[r], b, return_sign=True)
        _close(got[0][r], want[0], want[2])
        assert got[1][r] == want[1]


# -- complex ------------------------------------------------------------------------
COMPLEX_CASES = [
    ([1j * math.pi, 1j * math.pi], None),  # imaginary part pi, not -pi
    ([0, 2.2e-17j], None),  # tiny imaginary part to full relative accuracy
    ([1 + 2j, -3 + 0.5j, 0.25 - 3j], None),  # every quadrant
    ([-1 - 2j, -0.5 + 2.5j, 2 - 1j, 1.5 + 1e-3j], None),
    ([1000 + 1j, 999 - 2j], None),
    ([0.0 + 0j, -40 + 0j], [1.0, 1e-3]),
    ([1 + 1j, 2 - 1j], [1.0, -1.0]),  # real negative weight: phase pi
    ([0.3 + 0j, -0.2 + 0j], [1 + 1j, -2 - 0.5j]),  # complex weights
    ([1e-20j, -1e-20j, 3e-20j], None),
]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", COMPLEX_CASES)
def test_complex(name, case):
    be = _backend(name)
    x = np.array(case[0], dtype=np.complex128)
    b = None if case[1] is None else np.array(case[1])
    if b is not None and not np.iscomplexobj(b):
        b = b.astype(np.float64)
    want, cond = mp_lse(x, b)
    want_abs, want_sign, _ = mp_lse(x, b, return_sign=True)
    with _context(name):
        kw = {} if b is None else {"b": be.from_numpy(b)}
        got = complex(_np(be, xs.logsumexp(be.from_numpy(x), **kw)))
        gv, gs = _np(be, xs.logsumexp(be.from_numpy(x), return_sign=True, **kw))
    _close(got, want, cond)
    assert -math.pi < got.imag <= math.pi
    _close(float(gv), want_abs, cond)
    _close(complex(gs), want_sign, cond)


def test_complex_tiny_imaginary_relative():
    got = complex(xs.logsumexp([0, 2.2e-17j]))
    assert got.imag == pytest.approx(1.1e-17, rel=1e-15)


@pytest.mark.parametrize(
    "x",
    [
        [complex(INF, 0), 1],
        [complex(INF, 1), 1],
        [complex(-INF, 1)],
        [complex(INF, INF)],
        [complex(1, INF)],
        [complex(-INF, -INF)],
        [complex(INF, 2), complex(INF, -2)],
        [complex(NAN, 0), 1],
    ],
)
@pytest.mark.skipif(
    tuple(int(p) for p in __import__("scipy").__version__.split(".")[:2]) < (1, 17),
    reason="the infinities are compared with SciPy 1.17's results (older SciPy differs)",
)
def test_complex_infinities_as_scipy(x):
    scipy_special = pytest.importorskip("scipy.special")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = complex(scipy_special.logsumexp(np.array(x, complex)))
        got = complex(xs.logsumexp(np.array(x, complex)))
    for g, w in ((got.real, want.real), (got.imag, want.imag)):
        assert g == w or (math.isnan(g) and math.isnan(w)), (got, want)


def test_complex_rejected_by_softmax_with_a_pointer():
    for f in (xs.softmax, xs.log_softmax, xs.logmeanexp):
        with pytest.raises(TypeError, match="logsumexp accepts complex input"):
            f(np.array([1 + 2j, 3j]))


class _FloorNamespace:
    """NumPy's standard namespace with two operations as the declared floors
    compute them: array-api-strict 2.2's complex sign is x/abs(x) (NaN at 0)
    and JAX 0.4.31's complex exp is exp(re)*(cos(im) + i sin(im)) by parts
    (exp(inf + 0j) is inf + nan j).  The core must not depend on either."""

    def __init__(self):
        import array_api_compat.numpy as cnp

        self._xp = cnp

    def __getattr__(self, name):
        return getattr(self._xp, name)

    def sign(self, x):
        if np.iscomplexobj(x):
            with np.errstate(invalid="ignore"):
                return x / np.abs(x)
        return self._xp.sign(x)

    def exp(self, x):
        if np.iscomplexobj(x):
            with np.errstate(invalid="ignore"):
                m = np.exp(x.real)
                return m * np.cos(x.imag) + 1j * (m * np.sin(x.imag))
        return self._xp.exp(x)


@pytest.mark.parametrize(
    ("x", "b", "want", "want_sign"),
    [
        # a zero total: sign 0 (strict 2.2's sign gave nan + nan j)
        ([1 + 1j, 1 + 1j], [1.0 + 0j, -1.0 + 0j], complex(-INF, 0), 0j),
        ([complex(-INF, 1)], None, complex(-INF, 0), 0j),
        ([complex(-INF, -INF)], None, complex(-INF, 0), 0j),
        # exp(inf + 0j) is inf + 0j (JAX 0.4.31's gave nan + nan j)
        ([complex(INF, 0), 1], None, complex(INF, 0), complex(NAN, NAN)),
        # inf + (-inf + inf j) is nan + inf j: log|s| inf, not NaN
        ([complex(INF, 0), complex(INF, math.pi)], None, complex(NAN, NAN), complex(NAN, NAN)),
    ],
)
def test_complex_specials_without_the_floors_sign_and_exp(x, b, want, want_sign):
    from xpsoftmax import _core

    ops = _core.Ops(_FloorNamespace())
    xa = np.array(x, dtype=np.complex128)
    ba = None if b is None else np.array(b, dtype=np.complex128)
    with np.errstate(all="ignore"):
        got = complex(_core.logsumexp_complex(xa, ba, (0,), None, False, False, ops))
        lm, sg = _core.logsumexp_complex(xa, ba, (0,), None, False, True, ops)
    want_abs = math.inf if math.isnan(want.real) else want.real
    for g, w in (
        (got.real, want.real),
        (got.imag, want.imag),
        (float(lm), want_abs),
        (complex(sg).real, want_sign.real),
        (complex(sg).imag, want_sign.imag),
    ):
        assert g == w or (math.isnan(g) and math.isnan(w)), (x, got, complex(lm), complex(sg))


# -- logmeanexp -----------------------------------------------------------------------
def mp_lme(row):
    row = [mpmath.mpf(float(v)) for v in row]
    if not row:
        return NAN
    return float(mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row) / len(row)))


LME_CASES = [
    [1e-10, -1e-10, 3e-10],  # naive logsumexp - log(n) keeps 7 digits
    [1e-300, -2e-300],
    [0.0, 0.0],
    [0.5, -1.0464, 0.1],
    [1e-3, 2e-3, -5e-3, 4e-3],
    [1000.0, 999.0],
    [-1000.0, -1000.0, -999.0],
    [3.0, -2.0, 0.0],
    [-INF, 0.0],
]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("row", LME_CASES)
def test_logmeanexp(name, row):
    be = _backend(name)
    x = np.array(row)
    want = mp_lme(row)
    with _context(name):
        got = float(_np(be, xs.logmeanexp(be.from_numpy(x))))
    # each term's relative error (|x_i| + n + 2) u enters the mean with weight exp(x_i)/(n e^y)
    u = np.finfo(np.float64).eps / 2
    weights = [math.exp(v - want) / len(row) if math.isfinite(v) else 0.0 for v in row]
    cond = sum(w * (abs(v) + len(row) + 2) for w, v in zip(weights, row, strict=True) if w)
    assert abs(got - want) <= 4 * u * (cond + abs(want)), (got, want)


@pytest.mark.parametrize("name", BACKENDS)
def test_logmeanexp_where_counts_live_entries(name):
    be = _backend(name)
    x = np.array([[1e-9, 500.0, -1e-9, 2e-9], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    w = np.array([[True, False, True, True], [False, True, False, True], [False] * 4])
    with _context(name):
        got = _np(be, xs.logmeanexp(be.from_numpy(x), where=be.from_numpy(w)))
    for r in range(2):
        assert got[r] == pytest.approx(mp_lme(x[r][w[r]]), rel=1e-15)
    assert math.isnan(got[2])  # no live entry: 0/0


def test_logmeanexp_specials_and_empty():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert xs.logmeanexp([INF, 0.0]) == INF
        assert math.isnan(xs.logmeanexp([NAN, 0.0]))
        assert xs.logmeanexp([-INF, -INF]) == -INF
        assert math.isnan(xs.logmeanexp(np.zeros((2, 0)))[0])
    with pytest.raises(ValueError, match="impl='native' cannot serve"):
        xs.logmeanexp(np.ones(3), impl="native")


# -- x and b broadcast together (SciPy >= 1.15, jax.nn.logsumexp) ----------------------
_BROADCAST = [
    # (x shape, b shape, axis, keepdims): b larger than x, both larger, scalar b
    ((3,), (2, 3), -1, False),
    ((3,), (2, 3), 0, False),
    ((2, 1, 4), (3, 1), (0, 2), False),
    ((4,), (5, 1, 4), None, False),
    ((2, 1), (1, 3), -1, True),
    ((1, 4), (3, 1), 1, False),
    ((2, 3), (), -1, False),
]


def _lse_rows(x, b, axis, keepdims, return_sign=False):
    """mpmath reference on the broadcast arrays, slice by slice."""
    xb, bb = np.broadcast_arrays(x, b)
    nd = xb.ndim
    axes = tuple(range(nd)) if axis is None else tuple(a % nd for a in np.atleast_1d(axis))
    rest = tuple(i for i in range(nd) if i not in axes)
    xm = np.transpose(xb, rest + axes).reshape(*(xb.shape[i] for i in rest), -1)
    bm = np.transpose(bb, rest + axes).reshape(xm.shape)
    lead = xm.shape[:-1]
    vals, signs, conds = (np.empty(lead) for _ in range(3))
    for idx in np.ndindex(*lead):
        vals[idx], signs[idx], conds[idx] = mp_lse(xm[idx], bm[idx], return_sign=True)
    shape = tuple(1 if i in axes else n for i, n in enumerate(xb.shape)) if keepdims else lead
    return vals.reshape(shape), signs.reshape(shape), conds.reshape(shape)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("spec", _BROADCAST, ids=[str(s) for s in _BROADCAST])
def test_x_and_b_broadcast_together(name, spec):
    be = _backend(name)
    xshape, bshape, axis, keepdims = spec
    rng = np.random.default_rng(5)
    x = rng.normal(size=xshape) * 3
    b = rng.uniform(-1.0, 2.0, size=bshape)
    want, want_sign, cond = _lse_rows(x, b, axis, keepdims)
    with _context(name):
        xa, ba = be.from_numpy(x), be.from_numpy(b)
        got_v, got_s = (_np(be, v) for v in xs.logsumexp(xa, axis=axis, b=ba, keepdims=keepdims,
                                                         return_sign=True))  # fmt: skip
    assert got_v.shape == want.shape and got_s.shape == want.shape
    for i in np.ndindex(*want.shape):
        _close(got_v[i], want[i], cond[i])
    np.testing.assert_array_equal(got_s, want_sign)


@pytest.mark.parametrize("spec", _BROADCAST, ids=[str(s) for s in _BROADCAST])
def test_x_and_b_broadcast_as_scipy_and_jax(spec):
    """The same shapes and values as scipy.special.logsumexp and jax.nn.logsumexp
    (positive weights: all three are accurate there, within both bounds)."""
    scipy_special = pytest.importorskip("scipy.special")
    jax = pytest.importorskip("jax")
    from xpsoftmax.backends.jax import enable_x64

    xshape, bshape, axis, keepdims = spec
    rng = np.random.default_rng(6)
    x = rng.normal(size=xshape) * 3
    b = rng.uniform(0.5, 2.0, size=bshape)
    want, _, cond = _lse_rows(x, b, axis, keepdims)
    got = np.asarray(xs.logsumexp(x, axis=axis, b=b, keepdims=keepdims))
    ref_sp = np.asarray(scipy_special.logsumexp(x, axis=axis, b=b, keepdims=keepdims))
    with enable_x64(True):
        ref_jax = np.asarray(
            jax.nn.logsumexp(jax.numpy.asarray(x), axis=axis, b=jax.numpy.asarray(b),
                             keepdims=keepdims)
        )  # fmt: skip
    assert got.shape == ref_sp.shape == ref_jax.shape == want.shape
    eps = np.finfo(np.float64).eps / 2
    tol = 8 * eps * (cond + np.abs(want))  # both sides' bounds
    assert np.all(np.abs(got - ref_sp) <= tol) and np.all(np.abs(got - ref_jax) <= tol)


def test_x_and_b_broadcast_dask_lazy_and_chunked():
    da = pytest.importorskip("dask.array")
    from dask.callbacks import Callback

    rng = np.random.default_rng(7)
    x = rng.normal(size=(6,)) * 3
    b = rng.uniform(-1.0, 2.0, size=(4, 6))
    xd = da.from_array(x, chunks=4)
    bd = da.from_array(b, chunks=(3, 2))  # chunked differently from x
    runs = []
    with Callback(start=lambda dsk: runs.append(1)):
        out = xs.logsumexp(xd, b=bd, return_sign=True)
    assert not runs, "computed during the call"
    want, want_sign, cond = _lse_rows(x, b, -1, False)
    got_v, got_s = (np.asarray(v.compute()) for v in out)
    for i in range(4):
        _close(got_v[i], want[i], cond[i])
    np.testing.assert_array_equal(got_s, want_sign)


@pytest.mark.parametrize("name", BACKENDS)
def test_x_and_b_not_broadcastable_names_both_shapes(name):
    be = _backend(name)
    with _context(name):
        xa, ba = be.from_numpy(np.ones((2, 3))), be.from_numpy(np.ones((4, 1)))
        with pytest.raises(ValueError, match=r"^b of shape \(4, 1\) and x of shape \(2, 3\) do "):
            xs.logsumexp(xa, b=ba)


def test_x_and_b_broadcast_with_where_and_masked_arrays():
    x = np.array([1.0, 2.0, 3.0])
    b = np.array([[1.0, 1.0, 1.0], [2.0, -1.0, 0.5]])
    w = np.array([True, False, True])  # broadcast to the common (2, 3)
    got = xs.logsumexp(x, b=b, where=w, return_sign=True)
    for r in range(2):
        want = mp_lse(x[w], b[r][w], return_sign=True)
        _close(got[0][r], want[0], want[2])
        assert got[1][r] == want[1]
    xm = np.ma.MaskedArray(x, mask=[False, True, False])
    gm = xs.logsumexp(xm, b=b)
    assert isinstance(gm, np.ma.MaskedArray) and gm.shape == (2,)
    np.testing.assert_array_equal(np.ma.getdata(gm), xs.logsumexp(x, b=b, where=w))
    assert not np.any(np.ma.getmaskarray(gm))


# -- gradients: complex input, logmeanexp ------------------------------------------------
# logsumexp is holomorphic in x: d lse / d x_i = s_i = b_i exp(x_i) / sum(b exp(x)).
# For the real L = Re(w * lse(x)), dL/dRe(x_i) = Re(w s_i) and dL/dIm(x_i) = -Im(w s_i);
# torch's .grad is dL/dRe + i dL/dIm = conj(w s_i), jax.grad gives dL/dRe - i dL/dIm = w s_i.
# Error bound: s_i carries relative error (|x_i - m| + |log|b_i|| + n + 2) u from its
# term and the condition number of the sum from the denominator.
_GRAD_CASES = [
    ([1 + 2j, -3 + 0.5j, 0.25 - 3j], None),
    ([0.5 + 0j, 2.2e-17j, -1 + 1j], None),
    ([1 + 4j, 2 - 7j], [1.0, -0.5]),
    ([0.3 + 0j, -0.2 + 0j], [1 + 1j, -2 - 0.5j]),
]
_W = 0.7 - 1.3j


def _mp_holomorphic_grad(x, b):
    xs_ = [mpmath.mpc(complex(v)) for v in x]
    bs = [mpmath.mpc(1)] * len(xs_) if b is None else [mpmath.mpc(complex(v)) for v in b]
    terms = [w * mpmath.exp(v) for v, w in zip(xs_, bs, strict=True)]
    s = mpmath.fsum(terms)
    cond = float(mpmath.fsum(abs(t) for t in terms) / abs(s))
    g = [complex(mpmath.mpc(_W) * t / s) for t in terms]
    ks = [abs(v.real) + abs(v.imag) + abs(float(mpmath.log(abs(w)))) + len(x) + 2 + cond
          for v, w in zip(x, bs, strict=True)]  # fmt: skip
    return np.array(g), np.array(ks)


def _assert_grad(got, want, ks):
    u = np.finfo(np.float64).eps / 2
    tol = 8 * u * ks * np.abs(want) + 8 * u * abs(_W) * 1e-300
    err = np.abs(np.asarray(got) - want)
    assert np.all(err <= np.maximum(tol, 8 * u * np.abs(want))), (got, want, tol)


@pytest.mark.parametrize("case", _GRAD_CASES)
def test_complex_grad_torch(case):
    torch = pytest.importorskip("torch")
    x = np.array(case[0], dtype=np.complex128)
    b = None if case[1] is None else np.array(case[1], dtype=np.complex128)
    want, ks = _mp_holomorphic_grad(x, b)
    xt = torch.tensor(x, requires_grad=True)
    bt = None if b is None else torch.tensor(b)
    (torch.tensor(_W, dtype=torch.complex128) * xs.logsumexp(xt, b=bt)).real.backward()
    _assert_grad(xt.grad.numpy(), np.conj(want), ks)
    # autograd's own finite differences (Wirtinger), the result and both outputs of return_sign
    xg = torch.tensor(x, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: xs.logsumexp(a, b=bt), (xg,))
    assert torch.autograd.gradcheck(lambda a: xs.logsumexp(a, b=bt, return_sign=True), (xg,))


@pytest.mark.parametrize("case", _GRAD_CASES)
def test_complex_grad_jax(case):
    jax = pytest.importorskip("jax")
    from jax.test_util import check_grads

    from xpsoftmax.backends.jax import enable_x64

    x = np.array(case[0], dtype=np.complex128)
    b = None if case[1] is None else np.array(case[1], dtype=np.complex128)
    want, ks = _mp_holomorphic_grad(x, b)
    with enable_x64(True):
        jnp = jax.numpy
        bj = None if b is None else jnp.asarray(b)

        def loss(a):
            return jnp.real(_W * xs.logsumexp(a, b=bj))

        got = np.asarray(jax.grad(loss)(jnp.asarray(x)))
        _assert_grad(got, want, ks)
        check_grads(
            lambda a: xs.logsumexp(jnp.asarray(a), b=bj), (jnp.asarray(x),), order=1, modes=["rev"]
        )
        check_grads(lambda a: xs.logsumexp(jnp.asarray(a), b=bj, return_sign=True), (jnp.asarray(x),),
                    order=1, modes=["rev"])  # fmt: skip


# logmeanexp's gradient is softmax over the live entries (the 1/n cancels), in
# either of its forms; masked entries get 0.
_LME_GRAD_X = np.array([[1e-9, -2e-9, 3e-9, 0.0],  # near zero: the expm1 form
                        [5.0, -3.0, 0.5, 2.0],  # the shifted form
                        [0.4, -0.6, 0.2, 0.1],  # near zero again, |result| < 1
                        [1000.0, 999.0, -1.0, 0.0]])  # fmt: skip
_LME_GRAD_W = np.array([[True, True, False, True], [True, False, True, True],
                        [True, True, True, True], [False, True, True, True]])  # fmt: skip
_ROW_W = np.array([0.5, -2.0, 1.5, 1.0])


def _mp_lme_grad(x, where):
    g = np.zeros(x.shape)
    ks = np.ones(x.shape)
    for r in range(x.shape[0]):
        live = [mpmath.mpf(float(v)) for v, k in zip(x[r], where[r], strict=True) if k]
        s = mpmath.fsum(mpmath.exp(v) for v in live)
        m = max(live)
        big_z = float(max(abs(v - m) for v in live))
        for j in range(x.shape[1]):
            if where[r, j]:
                g[r, j] = float(_ROW_W[r] * mpmath.exp(mpmath.mpf(float(x[r, j]))) / s)
                ks[r, j] = abs(float(x[r, j]) - float(m)) + big_z + len(live) + 2
    return g, ks


def _assert_lme_grad(got, want, ks):
    u = np.finfo(np.float64).eps / 2
    assert np.all(np.abs(got - want) <= 8 * u * ks * np.abs(want)), (got, want)


@pytest.mark.parametrize("masked", [False, True])
def test_logmeanexp_grad_torch(masked):
    torch = pytest.importorskip("torch")
    where = _LME_GRAD_W if masked else np.ones_like(_LME_GRAD_W)
    want, ks = _mp_lme_grad(_LME_GRAD_X, where)
    xt = torch.tensor(_LME_GRAD_X, requires_grad=True)
    wt = torch.tensor(where) if masked else None
    (torch.tensor(_ROW_W) * xs.logmeanexp(xt, where=wt)).sum().backward()
    _assert_lme_grad(xt.grad.numpy(), want, ks)
    xg = torch.tensor(_LME_GRAD_X, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: xs.logmeanexp(a, where=wt), (xg,))


@pytest.mark.parametrize("masked", [False, True])
def test_logmeanexp_grad_jax(masked):
    jax = pytest.importorskip("jax")
    from jax.test_util import check_grads

    from xpsoftmax.backends.jax import enable_x64

    where = _LME_GRAD_W if masked else np.ones_like(_LME_GRAD_W)
    want, ks = _mp_lme_grad(_LME_GRAD_X, where)
    with enable_x64(True):
        jnp = jax.numpy
        wj = jnp.asarray(where) if masked else None
        rw = jnp.asarray(_ROW_W)
        got = jax.grad(lambda a: jnp.sum(rw * xs.logmeanexp(a, where=wj)))(jnp.asarray(_LME_GRAD_X))
        _assert_lme_grad(np.asarray(got), want, ks)
        check_grads(lambda a: xs.logmeanexp(jnp.asarray(a), where=wj), (jnp.asarray(_LME_GRAD_X),), order=1,
                    modes=["rev"], eps=1e-6)  # fmt: skip


# -- logmeanexp's switch between its two forms ----------------------------------------
# _core.logmeanexp uses log1p(mean(expm1(x))) where the shifted m + log1p(t) - log(n)
# is below 1 in magnitude, the shifted form elsewhere: the switch is at |result| = 1.
# Both forms are accurate there (the result is far from 0), so values on both sides
# must meet the bound of test_logmeanexp, and the function must stay continuous and
# increasing across it.
_LME_THRESHOLD = 1.0
_SPREAD = np.array([-0.1, 0.0, 0.1])


def _lme_bound(row, want):
    u = np.finfo(np.float64).eps / 2
    weights = [math.exp(v - want) / len(row) for v in row]
    cond = sum(w * (abs(v) + len(row) + 2) for w, v in zip(weights, row, strict=True))
    return 4 * u * (cond + abs(want))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("impl", ["portable", "auto"])
@pytest.mark.parametrize("side", [1.0, -1.0])
def test_logmeanexp_switch_over(name, impl, side):
    be = _backend(name)
    mean_spread = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in _SPREAD) / 3
    t_star = float(side * _LME_THRESHOLD - mpmath.log(mean_spread))  # result = +-1 there
    step = 2.0**-40  # 9.1e-13: far above the bound (~1e-15), so the order is exact
    ts = t_star + step * np.arange(-20, 21)
    rows = ts[:, None] + _SPREAD[None, :]
    single = np.array([[np.nextafter(side, 0.0)], [side], [np.nextafter(side, 2 * side)]])
    with _context(name):
        got = _np(be, xs.logmeanexp(be.from_numpy(rows), impl=impl))
        got1 = _np(be, xs.logmeanexp(be.from_numpy(single), impl=impl))
    want = np.array([mp_lme(r) for r in rows])
    for g, w, r in zip(got, want, rows, strict=True):
        assert abs(g - w) <= _lme_bound(r, w), (g, w)
    assert np.any(np.abs(want) < _LME_THRESHOLD) and np.any(np.abs(want) > _LME_THRESHOLD)
    # continuous and increasing: each step moves the result by ~step (d lme / dt = 1)
    d = np.diff(got)
    tol = 2 * max(_lme_bound(r, w) for r, w in zip(rows, want, strict=True))
    assert np.all(d > 0)
    assert np.all(np.abs(d - np.diff(want)) <= tol), d
    # one entry: log(mean(exp(t))) is t, on either side of the switch (the expm1
    # form rounds through expm1 and log1p: within the same bound, not exactly)
    for g, t in zip(got1, single[:, 0], strict=True):
        assert abs(g - t) <= _lme_bound([t], t), (g, t)
