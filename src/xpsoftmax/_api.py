"""The public functions: argument handling, then one dispatch to an adapter."""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar, overload

import numpy as np

from . import _args, backends
from .backends import Backend, Call

ArrayT = TypeVar("ArrayT")
Impl = Literal["auto", "portable", "native"]
PyInput = float | int | bool | list[Any] | tuple[Any, ...]


#: per array type: the backend's fast path for the common call, or None
_fast_by_type: dict[type, Any] = {}
_NOT_LOOKED_UP = object()


def _fast_path(x: Any) -> Any:
    t = type(x)
    fast = _fast_by_type.get(t, _NOT_LOOKED_UP)
    if fast is _NOT_LOOKED_UP:
        backend = backends.backend_of(x)
        fast = None if backend is None else getattr(backend, "fast_path", lambda t: None)(t)
        _fast_by_type[t] = fast
    return fast


def _dispatch(
    func: str, x: Any, axis: Any, keepdims: bool, where: Any, dtype: Any, impl: str
) -> Any:
    # The common call (int axis, no mask, no dtype, "auto") on a backend with a
    # fast path skips the general checks; the fast path answers NotImplemented
    # for anything it does not fully check (out-of-range axis, empty or 16-bit
    # input, ...), which then takes the general route and its error messages.
    if (
        where is None
        and dtype is None
        and type(axis) is int
        and keepdims is False
        and type(impl) is str
        and impl == "auto"
    ):
        fast = _fast_path(x)
        if fast is not None:
            out = fast(func, x, axis)
            if out is not NotImplemented:
                return out
    impl = _args.check_impl(impl)
    x, backend = _args.as_array(x)
    xp = backend.namespace(x)
    compute, result = _args.dtypes(x, dtype, xp, backend)
    shape = tuple(x.shape)
    axes = _args.normalize_axes(axis, len(shape))
    mask = _args.normalize_mask(where, x, xp, backend)
    if keepdims not in (True, False):
        raise TypeError(f"keepdims must be a bool, got {keepdims!r}")

    # no element at all (an empty reduction, or zero slices such as shape
    # (0, 3)): Dask's tree reductions fail on empty chunks, and there is
    # nothing to compute anyway
    if (
        _args.reduced_size(shape, axes) == 0
        or _args.reduced_size(shape, tuple(range(len(shape)))) == 0
    ):
        return _empty_reduction(func, x, shape, axes, keepdims, result, xp, backend, impl)

    if x.dtype != compute:
        x = xp.astype(x, compute)
    squeeze_back = not axes
    if squeeze_back:
        # axis=() or a 0-d array: every element is its own slice; give the
        # core a trailing axis of length 1 to reduce over
        x = xp.reshape(x, (*shape, 1))
        mask = None if mask is None else xp.reshape(mask, (*shape, 1))
        axes = (len(shape),)

    call = Call(func, x, axes, mask, keepdims, compute, result)
    with backend.errstate():
        out = _run(call, backend, xp, impl)
    if squeeze_back:
        out = xp.reshape(out, shape)
    if out.dtype != result:
        out = xp.astype(out, result)
    return backend.finish(out)


def _run(call: Call, backend: Backend, xp: Any, impl: str) -> Any:
    if impl == "native":
        gap = backend.native_covers(call)
        if gap is not None:
            raise ValueError(f"impl='native' cannot serve this call: {gap}; use impl='auto'")
        return backend.run_native(call, xp)
    if impl == "auto":
        return backend.run_auto(call, xp)
    return backend.run_portable(call, xp)


def _empty_reduction(
    func: str,
    x: Any,
    shape: tuple[int, ...],
    axes: tuple[int, ...],
    keepdims: bool,
    result: Any,
    xp: Any,
    backend: Backend,
    impl: str,
) -> Any:
    if impl == "native" and func not in backend.native_funcs:
        raise ValueError(
            f"impl='native' cannot serve this call: {backend.name} has no native {func}"
        )
    device = getattr(x, "device", None)
    if func != "logsumexp":
        # an empty slice: nothing to normalize, same (empty) shape back;
        # zeros_like keeps x's device and Dask chunks (da.zeros((0, 65536))
        # with automatic chunks raises ZeroDivisionError in Dask 2026.8)
        return backend.finish(xp.zeros_like(x, dtype=result))
    out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape))
    if not keepdims:
        out_shape = tuple(n for i, n in enumerate(shape) if i not in axes)
    # log of an empty sum is log(0)
    return backend.finish(xp.full(out_shape, -math.inf, dtype=result, device=device))


@overload
def softmax(
    x: PyInput, /, axis: Any = ..., *, where: Any = ..., dtype: Any = ..., impl: Impl = ...
) -> np.ndarray: ...
@overload
def softmax(
    x: ArrayT, /, axis: Any = ..., *, where: Any = ..., dtype: Any = ..., impl: Impl = ...
) -> ArrayT: ...
def softmax(
    x: Any,
    /,
    axis: int | tuple[int, ...] | None = -1,
    *,
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """Softmax ``exp(x) / sum(exp(x))`` over ``axis``, shifted by the maximum.

    Parameters
    ----------
    x : array
        An array of NumPy, PyTorch, JAX, CuPy, Dask or any library with
        ``__array_namespace__``; Python scalars and nested lists become NumPy
        arrays.  The result is an array of the same library, on the same device.
    axis : int, tuple of ints or None
        The axes each slice spans (default -1; ``None`` is all axes; scipy's
        default is None).
    where : boolean array, optional
        Broadcastable to ``x``; entries where it is False take no part and
        get 0.  A fully masked slice is all 0.
    dtype : real floating dtype, optional
        Cast ``x`` to it first.  By default floating input keeps its dtype
        (16-bit floats are computed in float32), integer and bool input go
        to the namespace's default floating dtype.
    impl : {"auto", "portable", "native"}
        "portable" is the array-API implementation, "native" the backend's own
        kernel (ValueError if none covers the call), "auto" the native kernel
        where it is as accurate, else the portable one.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> xs.softmax(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), axis=1).round(6)
    array([[0.090031, 0.244728, 0.665241],
           [0.090031, 0.244728, 0.665241]])
    >>> xs.softmax([1000.0, 0.0])
    array([1., 0.])
    >>> xs.softmax(np.array([2.0, 1.0, 5.0]), where=np.array([True, True, False])).round(6)
    array([0.731059, 0.268941, 0.      ])
    """
    return _dispatch("softmax", x, axis, False, where, dtype, impl)


@overload
def log_softmax(
    x: PyInput, /, axis: Any = ..., *, where: Any = ..., dtype: Any = ..., impl: Impl = ...
) -> np.ndarray: ...
@overload
def log_softmax(
    x: ArrayT, /, axis: Any = ..., *, where: Any = ..., dtype: Any = ..., impl: Impl = ...
) -> ArrayT: ...
def log_softmax(
    x: Any,
    /,
    axis: int | tuple[int, ...] | None = -1,
    *,
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """``log(softmax(x))`` over ``axis``, accurate where softmax saturates.

    Uses the log1p form of log-sum-exp (Blanchard, Higham & Higham 2021), so a
    slice with one dominant entry keeps its tiny log-probability deficit.
    Masked entries (``where`` False) get ``-inf``.  Arguments as for
    :func:`softmax`.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> y = xs.log_softmax(np.array([0.0, -30.0], dtype=np.float32))
    >>> float(y[0])  # torch, jax and scipy give 0.0 here
    -9.357622912219837e-14
    >>> xs.log_softmax([1000.0, 1.0])
    array([   0., -999.])
    """
    return _dispatch("log_softmax", x, axis, False, where, dtype, impl)


@overload
def logsumexp(
    x: PyInput,
    /,
    axis: Any = ...,
    *,
    keepdims: bool = ...,
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> np.ndarray: ...
@overload
def logsumexp(
    x: ArrayT,
    /,
    axis: Any = ...,
    *,
    keepdims: bool = ...,
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> ArrayT: ...
def logsumexp(
    x: Any,
    /,
    axis: int | tuple[int, ...] | None = -1,
    *,
    keepdims: bool = False,
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, without overflow, in log1p form.

    ``keepdims`` keeps the reduced axes with length 1.  An empty reduction or a
    slice of only ``-inf`` (or fully masked) gives ``-inf``; a slice holding
    ``+inf`` gives ``+inf``.  Other arguments as for :func:`softmax`; note the
    default axis is -1 (scipy's is None).

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> xs.logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]])).round(6).tolist()
    [0.693147, 1000.693147]
    >>> xs.logsumexp([np.inf, 1.0]), xs.logsumexp([-np.inf, -np.inf]), xs.logsumexp([])
    (array(inf), array(-inf), array(-inf))
    """
    return _dispatch("logsumexp", x, axis, keepdims, where, dtype, impl)


# Inside tf.function, AutoGraph would rewrite this package's Python (which
# branches only on shapes and arguments, never on values) and warn where it
# cannot; the attribute is the mark tf.autograph.experimental.do_not_convert
# sets, so AutoGraph calls these as they are.
for _public in (softmax, log_softmax, logsumexp):
    _public.autograph_info__ = frozenset()  # type: ignore[attr-defined]
