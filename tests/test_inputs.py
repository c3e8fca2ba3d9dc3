"""Inputs that ordinary programs pass: NumPy's array subclasses, ml_dtypes'
floats, empty tensors under autograd, Dask arrays of unknown or empty chunks.

Expected values come from SciPy on the plain float64 data (the entries that
take part only), never from xpsoftmax itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import xpsoftmax as xs

FUNCS = ["softmax", "log_softmax", "logsumexp"]
SCIPY = {"softmax": special.softmax, "log_softmax": special.log_softmax}


# -- np.ma.MaskedArray: the mask is where= --------------------------------------------------
def _masked_reference(func, data, mask, axis):
    """Per slice along ``axis`` (2-D, 1), SciPy on the unmasked entries only."""
    out = np.zeros(data.shape) if func == "softmax" else np.full(data.shape, -np.inf)
    if func == "logsumexp":
        out = np.full(data.shape[0], -np.inf)
    for i, (row, m) in enumerate(zip(data, mask, strict=True)):
        kept = row[~m]
        if func == "logsumexp":
            if kept.size:
                out[i] = special.logsumexp(kept)
        elif kept.size:
            out[i, ~m] = SCIPY[func](kept)
    return out


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("shape", [(1, 3), (4, 7), (1024, 1024)])  # the last is blocked
def test_masked_array_honours_its_mask(func, shape):
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape) * 10
    mask = rng.random(shape) < 0.3
    if shape == (1, 3):
        data, mask = np.array([[1.0, 2.0, 100.0]]), np.array([[False, False, True]])
    mask[0] = True  # a fully masked slice
    x = np.ma.masked_array(data, mask=mask)
    before = x.copy()
    got = getattr(xs, func)(x)
    want = _masked_reference(func, data, mask, -1)
    assert isinstance(got, np.ma.MaskedArray)
    expected_mask = mask.all(axis=-1) if func == "logsumexp" else mask
    np.testing.assert_array_equal(np.ma.getmaskarray(got), expected_mask)
    # the data under the mask is the documented fill (0 / -inf / -inf).  SciPy's
    # log_softmax loses the top entry's relative accuracy (it subtracts a
    # rounded log-sum-exp): compare the logs absolutely, eps x |x| (|x| < 60)
    atol = 1e-300 if func == "softmax" else 60 * 2.0**-52
    np.testing.assert_allclose(np.ma.getdata(got), want, rtol=1e-13, atol=atol)
    np.testing.assert_array_equal(x.data, before.data)  # input untouched
    np.testing.assert_array_equal(x.mask, before.mask)


def test_masked_array_combines_with_where_and_keepdims():
    data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = np.ma.masked_array(data, mask=[[0, 0, 1], [1, 1, 1]])
    where = np.array([False, True, True])
    got = xs.logsumexp(x, axis=1, keepdims=True, where=where)
    assert got.shape == (2, 1)
    np.testing.assert_array_equal(got.mask, [[False], [True]])
    np.testing.assert_allclose(got.data, [[2.0], [-np.inf]])  # only x[0, 1] takes part
    np.testing.assert_array_equal(xs.softmax(x, where=where).data, [[0, 1, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match="boolean dtype"):
        xs.softmax(x, where=np.array([1, 0, 1]))


def test_masked_array_without_mask_and_masked_where():
    x = np.ma.masked_array([1.0, 2.0])  # nomask
    got = xs.softmax(x)
    assert isinstance(got, np.ma.MaskedArray) and got.mask is np.ma.nomask
    np.testing.assert_allclose(got.data, special.softmax([1.0, 2.0]), rtol=1e-15)
    # a masked entry of a masked ``where`` is unknown: it takes no part
    where = np.ma.masked_array([True, True, True], mask=[0, 0, 1])
    got = xs.softmax(np.array([1.0, 2.0, 9.0]), where=where)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, [*special.softmax([1.0, 2.0]), 0.0], rtol=1e-15)


# -- np.matrix: as np.asarray -----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("func", FUNCS)
def test_matrix_is_computed_as_an_ndarray(func):
    data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]])
    got = getattr(xs, func)(np.matrix(data), axis=1)
    assert type(got) is np.ndarray
    want = special.logsumexp(data, axis=1) if func == "logsumexp" else SCIPY[func](data, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    w = np.matrix([[True, False, True]])
    assert type(xs.softmax(data, where=w)) is np.ndarray


# -- ml_dtypes' floats in NumPy arrays --------------------------------------------------------
@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("name", ["bfloat16", "float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("shape", [(3, 5), (1024, 1024)])
def test_ml_dtypes_floats(func, name, shape):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    dt = np.dtype(getattr(ml_dtypes, name))
    x = (np.random.default_rng(3).standard_normal(shape) * 3).astype(dt)
    got = getattr(xs, func)(x)
    assert got.dtype == dt
    x64 = x.astype(np.float64)
    want = special.logsumexp(x64, axis=-1) if func == "logsumexp" else SCIPY[func](x64, axis=-1)
    # computed in float32, rounded once to the narrow dtype: within one of its ulps
    eps = float(ml_dtypes.finfo(dt).eps)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=eps, atol=eps * 2)


def test_ml_dtypes_dtype_argument():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    got = xs.softmax(np.array([1.0, 2.0, 3.0]), dtype=ml_dtypes.bfloat16)
    assert got.dtype == np.dtype(ml_dtypes.bfloat16)
    want = special.softmax([1.0, 2.0, 3.0]).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(got, want)  # these round the same way
    # ml_dtypes' integers go to the default float, like NumPy's
    assert xs.softmax(np.array([1, 2], ml_dtypes.int4)).dtype == np.float64
    with pytest.raises(TypeError, match="real floating dtype"):
        xs.softmax(np.array([1.0, 2.0]), dtype=ml_dtypes.int4)


# -- empty torch inputs keep autograd ---------------------------------------------------------
@pytest.mark.parametrize(
    "func,shape,kwargs",
    [
        ("softmax", (0, 3), {}),
        ("log_softmax", (0, 3), {}),
        ("softmax", (3, 0), {}),
        ("logsumexp", (0, 3), {"axis": 0}),
        ("logsumexp", (3, 0), {}),
        ("logsumexp", (0, 3), {"axis": -1, "keepdims": True}),
    ],
)
def test_empty_torch_input_keeps_autograd(func, shape, kwargs):
    torch = pytest.importorskip("torch")
    x = torch.zeros(shape, requires_grad=True)
    got = getattr(xs, func)(x, **kwargs)
    native = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}
    if func == "logsumexp":
        want = torch.logsumexp(x, dim=kwargs.get("axis", -1), keepdim=kwargs.get("keepdims", False))
    else:
        want = native[func](x, -1)
    assert got.grad_fn is not None and got.shape == want.shape
    torch.testing.assert_close(got, want.detach())
    got.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


# -- Dask: unknown and empty chunks -----------------------------------------------------------
@pytest.fixture
def filtered():
    """(lazy Dask array of unknown row chunks, the same rows in NumPy)"""
    da = pytest.importorskip("dask.array")
    xn = np.random.default_rng(4).standard_normal((40, 6))
    x = da.from_array(xn, chunks=(10, 3))
    return x[x[:, 0] > 0], xn[xn[:, 0] > 0], x


def _ref(func, x, axis=-1, where=None, keepdims=False):
    x = np.where(where, x, -np.inf) if where is not None else x
    if func == "logsumexp":
        return special.logsumexp(x, axis=axis, keepdims=keepdims)
    out = SCIPY[func](x, axis=axis)
    return out if where is None else np.where(where, out, 0.0 if func == "softmax" else -np.inf)


@pytest.mark.parametrize("func", FUNCS)
def test_dask_unknown_chunks_with_where(filtered, func):
    u, un, _ = filtered
    for axis in (-1, 0):
        got = getattr(xs, func)(u, axis=axis, where=u > 0.5)
        assert np.isnan(got.shape[0]) or axis == 0  # still lazy, lengths unknown
        with np.errstate(all="ignore"):
            want = _ref(func, un, axis, where=un > 0.5)
        np.testing.assert_allclose(got.compute(), want, rtol=1e-13)


@pytest.mark.parametrize("func", FUNCS)
def test_dask_unknown_chunks_axis_empty_tuple(filtered, func):
    u, un, _ = filtered
    got = getattr(xs, func)(u, axis=())
    want = getattr(xs, func)(un, axis=())  # the NumPy path, itself checked elsewhere
    np.testing.assert_array_equal(got.compute(), want)
    np.testing.assert_array_equal(
        got.compute(),
        {"softmax": 1.0, "log_softmax": 0.0, "logsumexp": un}[func] * np.ones_like(un),
    )


def test_dask_unknown_chunks_where_that_cannot_broadcast(filtered):
    u, _, _ = filtered
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        xs.softmax(u, where=da.ones(6, dtype=bool))


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize("axis", [0, 1, None])
def test_dask_empty_chunks_in_a_reduction(filtered, func, axis):
    da = pytest.importorskip("dask.array")
    xn = np.random.default_rng(5).standard_normal((20, 6))
    for x, xr in [
        (da.from_array(xn, chunks=((10, 0, 10), (3, 3))), xn),
        # a filter that keeps rows of some chunks only: empty chunks of unknown size
        (filtered[2][filtered[2][:, 0] > 1.0], filtered[1][filtered[1][:, 0] > 1.0]),
        # one that keeps none
        (filtered[2][filtered[2][:, 0] > 100.0], np.zeros((0, 6))),
    ]:
        got = getattr(xs, func)(x, axis=axis)
        want = _ref(func, xr, axis) if xr.size else getattr(xs, func)(xr, axis=axis)
        np.testing.assert_allclose(np.asarray(got.compute()), want, rtol=1e-13)


# -- pandas objects, and NumPy beside another library -------------------------------------
def test_pandas_series_and_dataframe_compute_as_numpy():
    """As SciPy does: ``np.asarray`` of the pandas object, a NumPy result."""
    pd = pytest.importorskip("pandas")
    s = pd.Series([1.0, 2.0, 3.0], index=["a", "b", "c"])
    for f in (xs.softmax, xs.log_softmax, xs.logsumexp):
        got = f(s)
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, f(np.array([1.0, 2.0, 3.0])))
    df = pd.DataFrame({"p": [1.0, 4.0], "q": [2, 5]})  # float and int columns: float64
    got = xs.softmax(df, axis=1)
    assert type(got) is np.ndarray and got.dtype == np.float64
    np.testing.assert_array_equal(got, xs.softmax(np.array([[1.0, 2.0], [4.0, 5.0]]), axis=1))
    # weights and masks may be pandas objects beside a NumPy x too
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        xs.logsumexp(x, b=pd.Series([1.0, 0.5, 2.0])), xs.logsumexp(x, b=np.array([1.0, 0.5, 2.0]))
    )
    w = pd.Series([True, False, True])
    np.testing.assert_array_equal(xs.softmax(x, where=w), xs.softmax(x, where=w.to_numpy()))


def test_pandas_objects_that_are_not_numbers_are_a_clear_error():
    pd = pytest.importorskip("pandas")
    s = pd.Series([1.0, "two", 3.0])  # an object column
    with pytest.raises(TypeError, match=r"^x is a pandas Series whose values NumPy holds as Py"):
        xs.softmax(s)
    with pytest.raises(TypeError, match=r"^b is a pandas Series .* b\.to_numpy\(dtype=float\)"):
        xs.logsumexp(np.ones(3), b=s)
    # pandas' missing values in a nullable float column are NaN to NumPy: a NaN slice
    assert np.isnan(xs.softmax(pd.Series([1.0, None], dtype="Float64"))).all()


def test_numpy_weights_beside_a_jax_array():
    """jax.nn.logsumexp takes a NumPy ``b``: so does xpsoftmax, eagerly and in jit."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]], dtype=jnp.float32)
    b = np.array([1.0, 0.5, 2.0], dtype=np.float32)
    want = xs.logsumexp(x, axis=1, b=jnp.asarray(b))
    got = xs.logsumexp(x, axis=1, b=b)
    assert isinstance(got, jax.Array)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    jitted = jax.jit(lambda v: xs.logsumexp(v, axis=1, b=b))(x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(want), rtol=2e-7)
    # and the other way round: a NumPy x beside a JAX b is computed in JAX
    got = xs.logsumexp(np.asarray(x), axis=1, b=jnp.asarray(b))
    assert isinstance(got, jax.Array)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_numpy_mask_and_weights_beside_a_torch_tensor():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 0.0]], dtype=torch.float64)
    w = np.array([True, False, True])
    got = xs.softmax(x, axis=1, where=w)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, xs.softmax(x, axis=1, where=torch.from_numpy(w)),
                               rtol=0, atol=0)  # fmt: skip
    got = xs.logsumexp(x.numpy(), axis=1, b=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    torch.testing.assert_close(got, xs.logsumexp(x, axis=1, b=torch.tensor([1.0, 2.0, 0.5],
                               dtype=torch.float64)), rtol=0, atol=0)  # fmt: skip
