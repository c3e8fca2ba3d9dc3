"""Bad input: a TypeError or ValueError that names the problem and the value."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import xpsoftmax as xs

X = np.array([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"axis": 2}, ValueError, "axis 2 is out of range for an array of 2 dimensions"),
        ({"axis": -3}, ValueError, "axis -3 is out of range"),
        ({"axis": (0, 0)}, ValueError, "repeated axis"),
        ({"axis": (1, -1)}, ValueError, "repeated axis"),
        ({"axis": 1.0}, TypeError, "axis must be an int"),
        ({"axis": True}, TypeError, "bool"),
        ({"impl": "fast"}, ValueError, r"impl must be one of .* got 'fast'"),
        ({"dtype": np.int32}, TypeError, "floating dtype, got"),
        ({"dtype": "nonsense"}, TypeError, "dtype='nonsense' is not a dtype of numpy"),
        ({"where": np.array([1, 0])}, TypeError, "boolean dtype, got int"),
        (
            {"where": np.array([True, False, True])},
            ValueError,
            r"shape \(3,\) does not broadcast to x's shape \(2, 2\)",
        ),
        ({"where": np.ones((3, 2, 2), dtype=bool)}, ValueError, "does not broadcast"),
        ({"impl": "native"}, ValueError, "numpy has no native"),
    ],
)
@pytest.mark.parametrize("func", [xs.softmax, xs.log_softmax, xs.logsumexp])
def test_bad_arguments(func, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        func(X, **kwargs)


def test_complex_input():
    # logsumexp takes complex input (tests/test_weights.py); the others have no
    # ordering to shift by, and say where to go
    for f in (xs.softmax, xs.log_softmax):
        with pytest.raises(TypeError, match=r"complex input .*complex128.*logsumexp accepts"):
            f(np.array([1 + 2j, 3j]))
        with pytest.raises(TypeError, match="must be a real floating dtype"):
            f(np.ones(2), dtype=np.complex64)


@pytest.mark.parametrize("bad", [object(), "abc", {"a": 1}, None])
def test_not_an_array(bad):
    with pytest.raises(TypeError, match="x must be an array of a supported library"):
        xs.softmax(bad)


def test_string_array():
    with pytest.raises(TypeError, match="not a real number type"):
        xs.softmax(np.array(["a", "b"]))


def test_ragged_list():
    with pytest.raises(ValueError, match="not a rectangular nested list"):
        xs.softmax([[1.0, 2.0], [3.0]])


def test_zero_d_axis():
    with pytest.raises(ValueError, match="axis 1 is out of range for a 0-d array"):
        xs.softmax(np.float64(1.0), axis=1)


def test_keepdims_must_be_bool():
    with pytest.raises(TypeError, match="keepdims must be a bool"):
        xs.logsumexp(X, keepdims="yes")


def test_where_from_another_library():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    # two libraries other than NumPy: nothing to convert to
    with pytest.raises(TypeError, match=r"of x's library \(torch\), a NumPy array or a Python"):
        xs.softmax(torch.tensor(X), where=jnp.asarray([True, False]))


def test_native_not_covering_the_call():
    torch = pytest.importorskip("torch")
    t = torch.tensor(X)
    with pytest.raises(ValueError, match=r"reduces over one dim, not the axes \(0, 1\)"):
        xs.softmax(t, axis=None, impl="native")
    with pytest.raises(ValueError, match="take no where= mask"):
        xs.log_softmax(t, where=torch.tensor([True, False]), impl="native")


def test_python_inputs_become_numpy():
    out = xs.softmax([1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert isinstance(xs.logsumexp(3.0), np.ndarray)


def test_detection_imports_no_framework():
    # nothing the caller did not import gets imported by a call on NumPy data
    code = (
        "import sys, numpy as np, xpsoftmax as xs\n"
        "xs.softmax(np.ones(3)); xs.log_softmax([1.0, 2.0]); xs.logsumexp(np.ones((2, 2)), axis=None)\n"
        "bad = [m for m in ('torch', 'jax', 'cupy', 'dask', 'array_api_strict') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ragged_where_names_where():
    with pytest.raises(
        ValueError, match=r"where=\[\[True\], \[True, False\]\] is not a rectangular"
    ):
        xs.softmax(X, where=[[True], [True, False]])


@pytest.mark.parametrize("bad", [np.array([True, False]), "yes", 2, None])
def test_keepdims_array_or_other_is_a_type_error(bad):
    with pytest.raises(TypeError, match="keepdims must be a bool"):
        xs.logsumexp(X, keepdims=bad)


def test_keepdims_numpy_bool_accepted():
    assert xs.logsumexp(X, keepdims=np.True_).shape == (2, 1)


@pytest.mark.parametrize("axis", [(0, 0), (0, -1), [-1, -1]])
def test_zero_d_repeated_axis(axis):
    with pytest.raises(ValueError, match="repeated axis"):
        xs.softmax(np.float64(1.0), axis=axis)


@pytest.mark.parametrize("lib", ["torch", "array_api_strict"])
def test_dtype_string_on_every_library(lib):
    mod = pytest.importorskip(lib)
    x = mod.asarray([1.0, 2.0, 3.0], dtype=mod.float64)
    got = xs.softmax(x, dtype="float32")
    assert got.dtype == mod.float32
    np.testing.assert_allclose(np.asarray(got), [0.09003057, 0.24472847, 0.66524096], rtol=1e-6)
    with pytest.raises(TypeError, match="real floating dtype"):
        xs.softmax(x, dtype="int32")
    with pytest.raises(TypeError, match="dtype='nonsense' is not a dtype of"):
        xs.softmax(x, dtype="nonsense")


def test_numpy_bool_where_for_torch():
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0])
    assert torch.equal(xs.softmax(t, where=np.bool_(True)), xs.softmax(t, where=True))
    assert torch.equal(xs.softmax(t, where=np.bool_(False)), torch.zeros(2))


def test_list_of_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    ts = [torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)]
    with pytest.raises(TypeError, match=r"x is a list that NumPy cannot convert.*torch.stack"):
        xs.softmax(ts)
