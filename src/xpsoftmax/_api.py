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
        if issubclass(t, (np.ma.MaskedArray, np.matrix)):
            fast = None  # see _numpy_subclass
        _fast_by_type[t] = fast
    return fast


def _dispatch(
    func: str,
    x: Any,
    axis: Any,
    keepdims: bool,
    where: Any,
    dtype: Any,
    impl: str,
    b: Any = None,
    return_sign: Any = False,
) -> Any:
    # The common call (int axis, no mask, no dtype, "auto") on a backend with a
    # fast path skips the general checks; the fast path answers NotImplemented
    # for anything it does not fully check (out-of-range axis, empty or 16-bit
    # input, ...), which then takes the general route and its error messages.
    if (
        where is None
        and dtype is None
        and b is None
        and return_sign is False
        and type(axis) is int
        and keepdims is False
        and type(impl) is str
        and impl == "auto"
        and func != "logmeanexp"
    ):
        fast = _fast_path(x)
        if fast is not None:
            out = fast(func, x, axis)
            if out is not NotImplemented:
                return out
    impl = _args.check_impl(impl)
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x, where, masked = _numpy_subclass(x, where)
        if masked is not None:
            out = _dispatch(func, x, axis, keepdims, where, dtype, impl, b, return_sign)
            if b is not None and masked is not np.ma.nomask:
                # b may have broadcast x up: the result's slices are the broadcast's
                masked = np.broadcast_to(masked, np.broadcast_shapes(masked.shape, np.shape(b)))
            if isinstance(out, tuple):
                return tuple(_remask(func, o, masked, axis, keepdims) for o in out)
            return _remask(func, out, masked, axis, keepdims)
    elif isinstance(where, np.ndarray) and type(where) is not np.ndarray:
        where = _plain_where(where)
    x, backend = _args.as_array(x, b, where)
    xp = backend.namespace(x)
    if return_sign not in (True, False):
        raise TypeError(f"return_sign must be a bool, got {return_sign!r}")
    return_sign = bool(return_sign)
    x, b = _args.normalize_weights(b, x, xp, backend)
    compute, result = _args.dtypes(x, dtype, xp, backend, func, b)
    shape = tuple(x.shape)
    axes = _args.normalize_axes(axis, len(shape))
    mask = _args.normalize_mask(where, x, xp, backend)
    if not (
        isinstance(keepdims, (bool, np.bool_)) or (type(keepdims) is int and keepdims in (0, 1))
    ):
        raise TypeError(f"keepdims must be a bool, got {keepdims!r}")
    keepdims = bool(keepdims)
    complex_input = bool(xp.isdtype(compute, "complex floating"))
    signed = return_sign and func == "logsumexp"

    # no element at all (an empty reduction, or zero slices such as shape
    # (0, 3)): Dask's tree reductions fail on empty chunks, and there is
    # nothing to compute anyway
    if (
        _args.reduced_size(shape, axes) == 0
        or _args.reduced_size(shape, tuple(range(len(shape)))) == 0
    ):
        out = _empty_reduction(func, x, shape, axes, keepdims, result, xp, backend, impl)
        if signed:
            sign_dtype = result
            out = xp.real(out) if complex_input else out
            return out, backend.finish(xp.zeros_like(out, dtype=sign_dtype))
        return out

    if x.dtype != compute:
        x = xp.astype(x, compute)
    if b is not None and b.dtype != compute:
        b = xp.astype(b, compute)
    squeeze_back = not axes
    # a lazy Dask array after boolean indexing has unknown (nan) lengths,
    # which reshape (and Dask's expand_dims) cannot take; indexing can
    known = all(isinstance(n, int) for n in shape)
    if squeeze_back:
        # axis=() or a 0-d array: every element is its own slice; give the
        # core a trailing axis of length 1 to reduce over
        if known:
            x = xp.reshape(x, (*shape, 1))
            mask = None if mask is None else xp.reshape(mask, (*shape, 1))
            b = None if b is None else xp.reshape(b, (*shape, 1))
        else:
            x = x[..., None]
            mask = None if mask is None else mask[..., None]
            b = None if b is None else b[..., None]
        axes = (len(shape),)

    call = Call(func, x, axes, mask, keepdims, compute, result, b, signed, complex_input)
    with backend.errstate():
        out = _run(call, backend, xp, impl)
    outs = out if signed else (out,)
    done = []
    for i, o in enumerate(outs):
        if squeeze_back:
            if known:
                o = xp.reshape(o, shape)
            elif o.ndim > len(shape):
                o = o[..., 0]
        want = result
        if signed and i == 0 and complex_input:
            want = xp.real(xp.zeros((), dtype=result)).dtype  # log|sum| is real
        if o.dtype != want:
            o = xp.astype(o, want)
        done.append(backend.finish(o))
    return tuple(done) if signed else done[0]


def _plain_where(where: Any) -> Any:
    # a masked entry of a masked ``where`` is unknown: it takes no part
    if isinstance(where, np.ma.MaskedArray):
        return np.ma.filled(where, False)
    return np.asarray(where)


def _numpy_subclass(x: Any, where: Any) -> tuple[Any, Any, Any]:
    """(plain x, where, the input's mask or None) for NumPy's array subclasses.

    A ``np.matrix`` is computed as ``np.asarray`` (what SciPy does): its
    methods keep two dimensions, which the standard's reductions cannot.  A
    ``np.ma.MaskedArray`` is computed on its data with its mask as ``where=``
    (masked entries take no part), combined with any ``where`` given; the mask
    comes back for :func:`_remask`.
    """
    if isinstance(where, np.ndarray) and type(where) is not np.ndarray:
        where = _plain_where(where)
    if not isinstance(x, np.ma.MaskedArray):
        return np.asarray(x), where, None
    mask = np.ma.getmask(x)
    data = np.ma.getdata(x)
    if mask is np.ma.nomask:
        return data, where, mask
    if where is None:
        return data, ~mask, mask
    # a bad ``where`` goes on as given: the general checks name the problem
    if not isinstance(where, (np.ndarray, np.bool_, bool, list, tuple)):
        return data, where, mask
    try:
        w = np.asarray(where)
    except ValueError:
        return data, where, mask
    if w.dtype != np.bool_ or _args.broadcast_shapes(w.shape, data.shape) != data.shape:
        return data, where, mask
    return data, ~mask & w, mask


def _remask(func: str, out: Any, mask: Any, axis: Any, keepdims: bool) -> Any:
    """The result of a masked input as a MaskedArray: softmax and log_softmax
    keep the input's mask; logsumexp masks the slices that were wholly masked
    (their value is -inf, an empty sum's log)."""
    if mask is not np.ma.nomask and func in ("logsumexp", "logmeanexp"):
        axes = _args.normalize_axes(axis, mask.ndim)
        if axes:  # axis=(): each entry its own slice, the mask as it is
            mask = np.all(mask, axis=axes, keepdims=keepdims)
    return np.ma.MaskedArray(out, mask=mask)


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
    if getattr(x, "requires_grad", False):
        # autograd: the result must hang off x's graph, as torch's own
        # functions' empty results do (a constant has no grad_fn to backpropagate)
        xr = x if x.dtype == result else xp.astype(x, result)
        if func not in ("logsumexp", "logmeanexp"):
            return backend.finish(xr * 0)
        fill = -math.inf if func == "logsumexp" else math.nan
        return backend.finish(xp.sum(xr, axis=axes, keepdims=keepdims) + fill)
    if func not in ("logsumexp", "logmeanexp"):
        # an empty slice: nothing to normalize, same (empty) shape back;
        # zeros_like keeps x's device and Dask chunks (da.zeros((0, 65536))
        # with automatic chunks raises ZeroDivisionError in Dask 2026.8)
        return backend.finish(xp.zeros_like(x, dtype=result))
    out_shape = tuple(1 if i in axes else n for i, n in enumerate(shape))
    if not keepdims:
        out_shape = tuple(n for i, n in enumerate(shape) if i not in axes)
    # log of an empty sum is log(0); the mean of nothing is 0/0
    fill = -math.inf if func == "logsumexp" else math.nan
    return backend.finish(xp.full(out_shape, fill, dtype=result, device=device))


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
    x : array or array_like
        An array of NumPy, PyTorch, JAX, CuPy, Dask or any library with
        ``__array_namespace__``; Python scalars and nested lists become NumPy
        arrays.  Real input only.
    axis : int, tuple of ints or None, default -1
        The axes each slice spans; ``None`` is all axes (SciPy's default is
        None), ``()`` makes every element its own slice.
    where : boolean array, optional
        Of x's library, broadcastable to ``x``; entries where it is False take
        no part and get 0.  A fully masked slice is all 0.
    dtype : real floating dtype, optional
        Cast ``x`` to it first (a dtype of x's library or the standard's name,
        ``"float32"``).  By default floating input keeps its dtype (16-bit
        floats are computed in float32), integer and bool input go to the
        library's default floating dtype.
    impl : {"auto", "portable", "native"}, default "auto"
        "portable" is the array-API implementation, "native" the backend's
        own kernel, "auto" the native kernel where it is as accurate, else the
        portable one.

    Returns
    -------
    array
        Of x's library, on x's device, with x's shape and the floating dtype
        above: each slice's probabilities, summing to 1 up to rounding.  A
        slice holding NaN or ``+inf``, or only ``-inf``, is all NaN.  The
        input is never modified.

    Raises
    ------
    TypeError
        ``x`` is not an array of a supported library or is complex; ``axis``
        is not an int, a tuple of ints or None; ``where`` is not boolean or
        of another library; ``dtype`` is not a real floating dtype.
    ValueError
        ``x`` or ``where`` is a ragged list; an ``axis`` is out of range or
        repeated; ``where`` does not broadcast to ``x``; ``impl`` is unknown,
        or "native" where no native kernel covers the call.

    See Also
    --------
    log_softmax : The logarithm, accurate where softmax rounds to 0 or 1.

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

    Parameters
    ----------
    x : array or array_like
        An array of any supported library (see `softmax`); real input only.
    axis : int, tuple of ints or None, default -1
        The axes each slice spans; ``None`` is all axes.
    where : boolean array, optional
        Of x's library, broadcastable to ``x``; entries where it is False take
        no part and get ``-inf``.  A fully masked slice is all ``-inf``.
    dtype : real floating dtype, optional
        Cast ``x`` to it first; by default as for `softmax`.
    impl : {"auto", "portable", "native"}, default "auto"
        As for `softmax`.

    Returns
    -------
    array
        Of x's library, on x's device, with x's shape and floating dtype: each
        entry's log-probability ``x - logsumexp(x)``.  A slice holding NaN or
        ``+inf``, or only ``-inf``, is all NaN.

    Raises
    ------
    TypeError
        As for `softmax` (complex input included).
    ValueError
        As for `softmax`.

    See Also
    --------
    softmax : The probabilities themselves.
    logsumexp : The normaliser subtracted here.

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
    b: Any = ...,
    keepdims: bool = ...,
    return_sign: Literal[False] = ...,
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
    b: Any = ...,
    keepdims: bool = ...,
    return_sign: Literal[False] = ...,
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> ArrayT: ...
@overload
def logsumexp(
    x: PyInput,
    /,
    axis: Any = ...,
    *,
    b: Any = ...,
    keepdims: bool = ...,
    return_sign: Literal[True],
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def logsumexp(
    x: ArrayT,
    /,
    axis: Any = ...,
    *,
    b: Any = ...,
    keepdims: bool = ...,
    return_sign: Literal[True],
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> tuple[ArrayT, ArrayT]: ...
def logsumexp(
    x: Any,
    /,
    axis: int | tuple[int, ...] | None = -1,
    *,
    b: Any = None,
    keepdims: bool = False,
    return_sign: bool = False,
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """``log(sum(b * exp(x)))`` over ``axis``, without overflow, in log1p form.

    The term of the largest ``|b| * exp(x)`` is taken out exactly, so small
    corrections keep their relative accuracy.

    Parameters
    ----------
    x : array or array_like
        An array of any supported library (see `softmax`); real or complex.
    axis : int, tuple of ints or None, default -1
        The axes reduced; ``None`` is all axes.  The default is -1 (SciPy's is
        None).  With ``b``, axes count in the broadcast shape of x and b.
    b : array or array_like, optional
        Weights of x's library (or Python numbers), zero or negative allowed,
        as ``scipy.special.logsumexp``'s ``b``.  ``x`` and ``b`` broadcast
        together.  An entry whose weight is 0 contributes nothing, even where
        ``x`` is inf or NaN.
    keepdims : bool, default False
        Keep the reduced axes, with length 1.
    return_sign : bool, default False
        Return ``(log|s|, sign(s))`` for ``s = sum(b * exp(x))``; without it
        a negative ``s`` gives NaN.
    where : boolean array, optional
        Of x's library, broadcastable to ``x``; entries where it is False take
        no part.
    dtype : real or complex floating dtype, optional
        Cast ``x`` to it first; by default as for `softmax`.
    impl : {"auto", "portable", "native"}, default "auto"
        As for `softmax`.

    Returns
    -------
    array or tuple of two arrays
        Of x's library, on x's device, with the reduced axes removed (or kept
        with ``keepdims``).  The dtype is x's floating dtype, promoted with
        b's (integer weights count as the default floating dtype, as in
        SciPy).  An empty reduction, a slice of only ``-inf`` or a fully
        masked one gives ``-inf``; a slice holding ``+inf`` gives ``+inf``;
        NaN gives NaN.  Complex input gives a complex result whose imaginary
        part is in ``(-pi, pi]``.  With ``return_sign``: ``(log|s|,
        sign(s))``, where an exactly cancelling ``s`` gives ``(-inf, 0.0)``
        and, for complex input, the sign is the phase ``s / |s|`` and
        ``log|s|`` is real.

    Raises
    ------
    TypeError
        As for `softmax`, and: ``b`` is of another library or not numeric;
        ``keepdims`` or ``return_sign`` is not a bool.
    ValueError
        As for `softmax`, and: ``b`` is a ragged list or does not broadcast
        with ``x``.

    See Also
    --------
    logmeanexp : ``log(mean(exp(x)))``, accurate near 0.
    log_softmax : ``x - logsumexp(x)``, in the same log1p form.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> xs.logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]])).round(6).tolist()
    [0.693147, 1000.693147]
    >>> xs.logsumexp([np.inf, 1.0]), xs.logsumexp([-np.inf, -np.inf]), xs.logsumexp([])
    (array(inf), array(-inf), array(-inf))
    >>> f"{float(xs.logsumexp([0.0, -40.0], b=[1.0, 1e-3])):.10e}"  # the naive form gives 0
    '4.2483542553e-21'
    >>> xs.logsumexp([np.inf, 1.0], b=[0, 1])
    array(1.)
    >>> [float(v) for v in xs.logsumexp([1.0, 2.0], b=[1, -1], return_sign=True)]
    [1.5413248546129181, -1.0]
    >>> complex(xs.logsumexp([0, 2.2e-17j]))
    (0.6931471805599453+1.1e-17j)
    """
    return _dispatch("logsumexp", x, axis, keepdims, where, dtype, impl, b, return_sign)


@overload
def logmeanexp(
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
def logmeanexp(
    x: ArrayT,
    /,
    axis: Any = ...,
    *,
    keepdims: bool = ...,
    where: Any = ...,
    dtype: Any = ...,
    impl: Impl = ...,
) -> ArrayT: ...
def logmeanexp(
    x: Any,
    /,
    axis: int | tuple[int, ...] | None = -1,
    *,
    keepdims: bool = False,
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """``log(mean(exp(x)))`` over ``axis``, accurate where the mean of exp is near 1.

    ``logsumexp(x) - log(n)`` cancels when the result is near 0 (x near 0);
    there this uses ``log1p(mean(expm1(x)))``, which does not.

    Parameters
    ----------
    x : array or array_like
        An array of any supported library (see `softmax`); real input only.
    axis : int, tuple of ints or None, default -1
        The axes reduced; ``None`` is all axes.
    keepdims : bool, default False
        Keep the reduced axes, with length 1.
    where : boolean array, optional
        Of x's library, broadcastable to ``x``; the mean is over the entries
        where it is True (n counts them).
    dtype : real floating dtype, optional
        Cast ``x`` to it first; by default as for `softmax`.
    impl : {"auto", "portable"}, default "auto"
        There is no native kernel: "native" is a ValueError.

    Returns
    -------
    array
        Of x's library, on x's device and floating dtype, with the reduced
        axes removed (or kept with ``keepdims``).  A slice with no live entry
        (or an empty one) gives NaN; a slice holding ``+inf`` gives ``+inf``.

    Raises
    ------
    TypeError
        As for `softmax` (complex input included), and: ``keepdims`` is not a
        bool.
    ValueError
        As for `softmax`, and ``impl="native"``.

    See Also
    --------
    logsumexp : ``log(sum(b * exp(x)))``.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> float(xs.logmeanexp([1e-10, -1e-10, 3e-10]))  # logsumexp(x) - log(3): 1.0000000827e-10
    1.0000000001333334e-10
    >>> round(float(xs.logmeanexp([0.0, 1000.0, 5.0], where=np.array([True, False, True]))), 6)
    4.313568
    """
    return _dispatch("logmeanexp", x, axis, keepdims, where, dtype, impl)


# Inside tf.function, AutoGraph would rewrite this package's Python (which
# branches only on shapes and arguments, never on values) and warn where it
# cannot; the attribute is the mark tf.autograph.experimental.do_not_convert
# sets, so AutoGraph calls these as they are.
for _public in (softmax, log_softmax, logsumexp, logmeanexp):
    _public.autograph_info__ = frozenset()  # type: ignore[attr-defined]
