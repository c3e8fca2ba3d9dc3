"""Argument checking: every bad input becomes a TypeError/ValueError that names it."""

from __future__ import annotations

import math
import operator
import sys
from typing import Any, cast

from .backends import NUMPY, Backend, backend_of

IMPLS = ("auto", "portable", "native")
_PY_INPUTS = (bool, int, float, list, tuple)


def keras_value(a: Any) -> Any:
    """A Keras 3 ``keras.Variable``'s backend tensor (its ``.value``), else ``a``.

    A Keras variable is no array of its backend (JAX, PyTorch, TensorFlow) but
    holds one; ``.value`` is that tensor (within a stateless scope, the
    scope's value), so gradients reach the variable as in ``keras.ops``.
    Asked only when the caller has imported keras: this never imports it.
    """
    keras = sys.modules.get("keras")
    variable = getattr(keras, "Variable", None) if keras is not None else None
    if isinstance(variable, type) and isinstance(a, variable):
        return cast(Any, a).value
    return a


def as_array(x: Any, *beside: Any) -> tuple[Any, Backend]:
    """Return (array, its backend); Python scalars and lists, and pandas
    objects, become NumPy arrays, a Keras variable its backend's tensor.

    ``beside`` holds the call's other arrays (``b``, ``where``): where ``x``
    is NumPy (or becomes NumPy) and one of them is an array of another
    library, ``x`` is converted to that library, on that array's device, as
    ``jax.nn`` takes a NumPy ``x`` beside a JAX ``b``.
    """
    backend = backend_of(x)
    if backend is None:
        x = keras_value(x)
        backend = backend_of(x)
    if backend is not None and backend is not NUMPY:
        return x, backend
    if backend is None:
        if type(x).__name__ == "KerasTensor":
            raise TypeError(
                "x is a symbolic KerasTensor (the functional API's placeholder), not an array: "
                "call xpsoftmax inside a layer's call(), where Keras passes backend tensors"
            )
        x = _to_numpy(x)
    other = next((a for a in beside if a is not None and backend_of(a) not in (None, NUMPY)), None)
    if other is None or type(x) is not _numpy().ndarray:  # NumPy's subclasses stay NumPy
        return x, NUMPY
    ob = backend_of(other)
    assert ob is not None
    return ob.namespace(other).asarray(x, device=getattr(other, "device", None)), ob


def _numpy() -> Any:
    import numpy as np

    return np


def _to_numpy(x: Any) -> Any:
    """A Python scalar or nested list, or a pandas object, as a NumPy array."""
    np = _numpy()
    if _is_pandas(x):
        return _from_pandas(x, "x")
    if isinstance(x, _PY_INPUTS):
        try:
            return np.asarray(x)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"x={x!r} is not a rectangular nested list: {exc}") from None
        except (TypeError, RuntimeError) as exc:  # e.g. tensors that require grad
            raise TypeError(
                f"x is a {type(x).__name__} that NumPy cannot convert ({exc}); a sequence of "
                "arrays of another library should be stacked into one array of that library "
                "(torch.stack, jnp.stack) first"
            ) from None
    raise TypeError(
        f"x must be an array of a supported library (NumPy, PyTorch, JAX, CuPy, Dask, or any "
        f"array with __array_namespace__), a pandas Series or DataFrame, a Python scalar or a "
        f"nested list; got {type(x).__name__}"
    )


def _is_pandas(a: Any) -> bool:
    # by the type's module: pandas is never imported here
    return type(a).__module__.partition(".")[0] == "pandas" and hasattr(a, "to_numpy")


def _from_pandas(a: Any, name: str) -> Any:
    """A pandas Series or DataFrame as ``np.asarray`` gives it (what SciPy
    computes on: the result is a NumPy array, index and columns dropped)."""
    arr = _numpy().asarray(a)
    if arr.dtype == object:
        raise TypeError(
            f"{name} is a pandas {type(a).__name__} whose values NumPy holds as Python objects "
            f"(strings, mixed types, an object dtype): convert it to numbers first, e.g. "
            f"{name}.to_numpy(dtype=float)"
        )
    return arr


def beside_x(a: Any, name: str, x: Any, xp: Any, backend: Backend) -> Any:
    """``a`` (``b`` or ``where``) as an array of x's library, on x's device,
    where it is a Python number or list, a pandas object or a plain NumPy
    array (scalar); an array of any other library is returned as it is, for
    the caller to refuse."""
    np = _numpy()
    if _is_pandas(a):
        a = _from_pandas(a, name)
    convert = isinstance(a, (bool, int, float, complex, list, tuple)) or (
        backend is not NUMPY and (type(a) is np.ndarray or isinstance(a, np.generic))
    )
    if not convert:
        return a
    try:
        return xp.asarray(a, device=getattr(x, "device", None))
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{name}={a!r} is not a rectangular array of numbers: {exc}") from None


def check_impl(impl: Any, allowed: tuple[str, ...] = IMPLS) -> str:
    if impl not in allowed:
        raise ValueError(f"impl must be one of {allowed}, got {impl!r}")
    return str(impl)


def _index(a: Any) -> int:
    if isinstance(a, bool):
        raise TypeError(f"axis entries must be integers, got the bool {a!r}")
    try:
        # int(): an axis is the graph's structure, so a symbolic integer (a
        # torch.compile(dynamic=True) argument) is fixed to its value here
        return int(operator.index(a))
    except TypeError:
        raise TypeError(
            f"axis must be an int, a tuple of ints or None, got {a!r} ({type(a).__name__})"
        ) from None


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Sorted non-negative axes.  ``()`` means each element is its own slice.

    A 0-d array has one element: axis None, 0 or -1 all mean "that element",
    as in ``torch.softmax`` (NumPy would reject 0 and -1).
    """
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    idx = [_index(a) for a in items]
    if ndim == 0:
        bad = [a for a in idx if a not in (0, -1)]
        if bad:
            raise ValueError(f"axis {bad[0]} is out of range for a 0-d array (use 0, -1 or None)")
        if len(idx) > 1:  # 0 and -1 are the same (only) axis
            raise ValueError(f"repeated axis in axis={axis!r} (for 0 dimensions)")
        return ()
    out = []
    for a in idx:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in axis={axis!r} (for {ndim} dimensions)")
    return tuple(sorted(out))


def dtypes(
    x: Any, dtype: Any, xp: Any, backend: Backend, func: str = "softmax", b: Any = None
) -> tuple[Any, Any]:
    """Return (compute dtype, result dtype).

    16-bit floats are computed in float32 and cast back; integers and bools go
    to the namespace's default real floating dtype.  Only logsumexp takes
    complex input; with weights ``b`` the result dtype is that of
    :func:`_weighted_result`, as in SciPy.
    """
    kinds = ("real floating", "complex floating") if func == "logsumexp" else "real floating"
    if dtype is not None:
        try:
            if isinstance(dtype, str):
                # the standard's names ("float32"), for libraries whose own
                # dtype constructor takes no strings (torch, array-api-strict)
                dtype = _named_dtype(xp, dtype)
            dtype = backend.normalize_dtype(dtype)
            floating = _small_float(dtype) or (not _ml_integer(dtype) and xp.isdtype(dtype, kinds))
        except (TypeError, ValueError, AttributeError):
            raise TypeError(f"dtype={dtype!r} is not a dtype of {backend.name}") from None
        if isinstance(dtype, str) and not floating:
            # a name neither the namespace nor the adapter knows (array-api-strict
            # 2.2's isdtype answers False for it instead of raising)
            raise TypeError(f"dtype={dtype!r} is not a dtype of {backend.name}")
        if not floating:
            what = "a real or complex" if func == "logsumexp" else "a real"
            raise TypeError(f"dtype must be {what} floating dtype, got {dtype!r}")
        result = dtype
    else:
        xdt = x.dtype
        if _small_float(xdt):
            return xp.float32, xdt
        if _ml_integer(xdt):
            return _default_float(x, xp), _default_float(x, xp)
        if xp.isdtype(xdt, "real floating"):
            result = xdt
        elif xp.isdtype(xdt, "complex floating"):
            if func != "logsumexp":
                raise TypeError(
                    f"complex input is not supported by {func} (got dtype {xdt}): complex "
                    "numbers have no ordering to shift by; logsumexp accepts complex input"
                )
            result = xdt
        elif xp.isdtype(xdt, ("integral", "bool")):
            result = _default_float(x, xp)
        else:
            raise TypeError(f"x has dtype {xdt!r}, which is not a real number type")
        if b is not None:
            result = _weighted_result(x, b, xp)
    if _small_float(result) or (xp.isdtype(result, "real floating") and xp.finfo(result).bits < 32):
        # float16 [60000, 0] would overflow its sum: compute in float32
        return xp.float32, result
    return result, result


def _weighted_result(x: Any, b: Any, xp: Any) -> Any:
    """The result dtype of logsumexp(x, b=b): SciPy's rule (1.15 and later).

    That is the library's own promotion of x's and b's dtypes, so integer
    weights do not widen a float32 ``x`` where the library does not (torch and
    JAX: float32; NumPy's table says float64 for float32 with int32 or
    int64), and an integer or bool result becomes the default real floating
    dtype.  A library that promotes no integer with a float (array-api-strict)
    counts the integer as the default floating dtype, as SciPy does there.
    """
    floating = ("real floating", "complex floating")
    try:
        out = xp.result_type(x.dtype, b.dtype)
    except TypeError:
        xdt = x.dtype if xp.isdtype(x.dtype, floating) else _default_float(x, xp)
        bdt = b.dtype if xp.isdtype(b.dtype, floating) else _default_float(x, xp)
        out = xp.result_type(xdt, bdt)
    if not xp.isdtype(out, floating):
        out = _default_float(x, xp)
    return out


def _named_dtype(xp: Any, name: str) -> Any:
    """The namespace's dtype called ``name``, else ``name`` for the adapter to parse."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        found = info().dtypes().get(name)
        if found is not None:
            return found
    return name


def _ml_dtypes_kind(dtype: Any, info: str) -> bool:
    """Whether ``dtype`` is a NumPy dtype of ml_dtypes that ``ml_dtypes.<info>``
    ("finfo" or "iinfo") describes."""
    t = getattr(dtype, "type", None)  # a NumPy dtype's scalar type
    if not (isinstance(t, type) and t.__module__.startswith("ml_dtypes")):
        return False
    import ml_dtypes

    try:
        getattr(ml_dtypes, info)(dtype)
    except (TypeError, ValueError):
        return False
    return True


def _small_float(dtype: Any) -> bool:
    """A NumPy dtype of ml_dtypes' floats (bfloat16, float8_*, ...): every one
    is narrower than float32, which computes it (NumPy's isdtype rejects them)."""
    return _ml_dtypes_kind(dtype, "finfo")


def _ml_integer(dtype: Any) -> bool:
    """A NumPy dtype of ml_dtypes' narrow integers (int4, uint4, ...)."""
    return _ml_dtypes_kind(dtype, "iinfo")


def _default_float(x: Any, xp: Any) -> Any:
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        try:
            return info().default_dtypes(device=getattr(x, "device", None))["real floating"]
        except (TypeError, ValueError):
            return info().default_dtypes()["real floating"]
    # no inspection API (e.g. jax.numpy before 0.4.32): the standard has asarray
    # give a Python float the default real floating dtype (float32 under JAX's x32)
    return xp.asarray(0.0).dtype


def broadcast_shapes(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The broadcast of two shapes, or None if they do not broadcast."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for p, q in zip(a, b, strict=True):
        if p == 1:
            out.append(q)
        elif q == 1 or p == q or (_unknown(p) and _unknown(q)):
            # two unknown lengths (Dask after boolean indexing) cannot be
            # compared here; Dask's elementwise step checks them per chunk
            out.append(p)
        else:
            return None
    return tuple(out)


def _unknown(n: Any) -> bool:
    return isinstance(n, float) and math.isnan(n)


def _same_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if len(a) != len(b):
        return False
    return all(p == q or (_unknown(p) and _unknown(q)) for p, q in zip(a, b, strict=True))


def normalize_mask(where: Any, x: Any, xp: Any, backend: Backend) -> Any:
    if where is None:
        return None
    where = beside_x(keras_value(where), "where", x, xp, backend)
    wb = backend_of(where)
    if wb is not backend:
        raise TypeError(
            f"where must be a boolean array of x's library ({backend.name}), a NumPy array or "
            f"a Python bool/list, got {type(where).__module__}.{type(where).__name__}"
        )
    if where.dtype != xp.bool:
        raise TypeError(f"where must have a boolean dtype, got {where.dtype}")
    b = broadcast_shapes(where.shape, x.shape)
    if b is None or not _same_shape(b, tuple(x.shape)):
        raise ValueError(
            f"where of shape {tuple(where.shape)} does not broadcast to x's shape {tuple(x.shape)}"
        )
    wdev, xdev = getattr(where, "device", None), getattr(x, "device", None)
    if wdev is not None and xdev is not None and wdev != xdev:
        raise ValueError(f"where is on device {wdev} but x is on {xdev}")
    if not _same_shape(tuple(where.shape), tuple(x.shape)):
        if any(_unknown(n) for n in x.shape):
            raise ValueError(
                f"where of shape {tuple(where.shape)} cannot be broadcast to x's shape "
                f"{tuple(x.shape)}, which has unknown chunk sizes; give where x's shape, or "
                "call x.compute_chunk_sizes() first"
            )
        where = xp.broadcast_to(where, tuple(x.shape))
    return where


def normalize_weights(b: Any, x: Any, xp: Any, backend: Backend) -> tuple[Any, Any]:
    """(x, b): ``b`` as an array of x's library and device, the two broadcast together.

    As in ``scipy.special.logsumexp`` (1.15+) and ``jax.nn.logsumexp``, ``b``
    may be the larger of the two: x of shape (3,) with b of shape (2, 3) is
    the (2, 3) problem, and ``axis`` counts in the broadcast shape.
    """
    if b is None:
        return x, None
    b = beside_x(keras_value(b), "b", x, xp, backend)
    bb = backend_of(b)
    if bb is not backend:
        raise TypeError(
            f"b must be an array of x's library ({backend.name}), a NumPy array or a Python "
            f"number/list, got {type(b).__module__}.{type(b).__name__}"
        )
    if not xp.isdtype(b.dtype, ("bool", "integral", "real floating", "complex floating")):
        raise TypeError(f"b must have a numeric dtype, got {b.dtype}")
    shape = broadcast_shapes(tuple(b.shape), tuple(x.shape))
    if shape is None:
        raise ValueError(
            f"b of shape {tuple(b.shape)} and x of shape {tuple(x.shape)} do not broadcast together"
        )
    bdev, xdev = getattr(b, "device", None), getattr(x, "device", None)
    if bdev is not None and xdev is not None and bdev != xdev:
        raise ValueError(f"b is on device {bdev} but x is on {xdev}")
    if not _same_shape(tuple(x.shape), shape):
        if any(_unknown(n) for n in (*b.shape, *x.shape)):
            raise ValueError(
                f"b of shape {tuple(b.shape)} would broadcast x of shape {tuple(x.shape)}, "
                "which has unknown lengths (Dask after boolean indexing); give b x's shape"
            )
        x = xp.broadcast_to(x, shape)
    if not _same_shape(tuple(b.shape), shape):
        b = xp.broadcast_to(b, shape)
    return x, b


def reduced_size(shape: tuple[Any, ...], axes: tuple[int, ...]) -> float:
    """Number of elements per slice; nan if a dimension is unknown (lazy Dask)."""
    sizes = [shape[a] for a in axes]
    if any(not isinstance(s, int) for s in sizes):
        return math.nan
    return math.prod(sizes)
