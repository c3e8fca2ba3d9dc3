"""The public losses: argument handling, then one dispatch to an adapter."""

from __future__ import annotations

from typing import Any, Literal, TypeVar, overload

import numpy as np

from . import _args, _loss_args, backends
from ._losses import LossCall
from .backends import Backend

ArrayT = TypeVar("ArrayT")
Impl = Literal["auto", "portable", "native"]
Reduction = Literal["none", "mean", "sum"]
PyInput = float | int | bool | list[Any] | tuple[Any, ...]


def _logits(x: Any) -> tuple[Any, Backend, Any]:
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            "logits is a NumPy masked array: leave classes out with -inf logits and samples "
            "with where= (or ignore_index) instead"
        )
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
        x = np.asarray(x)  # np.matrix: its methods keep two dimensions
    x, backend = _args.as_array(x)
    return x, backend, backend.namespace(x)


def _finish(out: Any, result: Any, xp: Any, backend: Backend) -> Any:
    if out.dtype != result:
        out = xp.astype(out, result)
    return backend.finish(out)


def _cast(a: Any, dtype: Any, xp: Any) -> Any:
    return a if a is None or a.dtype == dtype else xp.astype(a, dtype)


#: per array type: the backend's cross-entropy fast path, or None
_ce_fast_by_type: dict[type, Any] = {}


def _cross_entropy_fast_path(x: Any) -> Any:
    t = type(x)
    try:
        return _ce_fast_by_type[t]
    except KeyError:
        backend = backends.backend_of(x)
        fast = getattr(backend, "cross_entropy_fast_path", lambda t: None)(t)
        _ce_fast_by_type[t] = fast
        return fast


@overload
def cross_entropy(
    logits: PyInput, target: Any, *, axis: int = ..., weight: Any = ..., ignore_index: int = ...,
    label_smoothing: float = ..., reduction: Reduction = ..., where: Any = ..., dtype: Any = ...,
    impl: Impl = ...,
) -> np.ndarray: ...  # fmt: skip
@overload
def cross_entropy(
    logits: ArrayT, target: Any, *, axis: int = ..., weight: Any = ..., ignore_index: int = ...,
    label_smoothing: float = ..., reduction: Reduction = ..., where: Any = ..., dtype: Any = ...,
    impl: Impl = ...,
) -> ArrayT: ...  # fmt: skip
def cross_entropy(
    logits: Any,
    target: Any,
    *,
    axis: int = -1,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    where: Any = None,
    dtype: Any = None,
    impl: Impl = "auto",
) -> Any:
    """Cross-entropy of ``softmax(logits)`` over ``axis`` against ``target``, accurately.

    torch's ``F.cross_entropy(x, y, ...)`` is ``cross_entropy(x, y, axis=1, ...)``
    (the classes on ``axis``, default -1 here), with the same ``weight``,
    ``ignore_index``, ``label_smoothing`` and ``reduction`` and equal results on
    ordinary inputs.  Each sample's loss is ``sum_j a_j (log1p(T) - z_j)``
    (``z = logits - max``, ``T`` the sum of the exponentials other than the
    maximum's), so a confident prediction keeps its tiny loss (float32
    ``[30, 0, 0]``, target 0: 1.8715e-13, where torch, optax and TensorFlow
    give 0), and its gradient ``softmax - target`` is accurate too (see
    docs/losses.md).

    Parameters
    ----------
    logits : array
        Class scores, any real floating dtype (16-bit floats are computed in
        float32, integers go to the default floating dtype), of any library
        xpsoftmax supports, on any device; the result is of that library.
        ``-inf`` marks a class that is not allowed (a masked vocabulary).
    target : array
        Either integer class indices, of the logits' shape without ``axis``,
        or real floating class probabilities, of the logits' shape (cast to
        the compute dtype).  Of the logits' library (or a Python list).
    axis : int
        The class axis (default -1; torch's is 1).
    weight : array, optional
        Per-class weights, 1-D of length C (torch's ``weight``).
    ignore_index : int
        Class indices equal to it are left out (loss 0, not counted by the
        mean); not used with probability targets.
    label_smoothing : float in [0, 1]
        Mixes the target with a uniform distribution over the classes with a
        finite logit: torch's definition, except that no mass goes to a -inf
        class (torch spreads it over all C and gives inf/NaN).
    reduction : {"mean", "sum", "none"}
        "none": one loss per sample (left-out samples 0); "sum"; "mean": the
        sum divided by the live samples' target weights (the number of live
        samples without ``weight`` and for probability targets), as torch;
        a mean over no live sample is 0 with zero gradients (torch: NaN).
    where : boolean array, optional
        Of the samples' shape: False leaves a sample out, as an ignored target.
    dtype : real floating dtype, optional
        Cast the logits to it first; the result has it.
    impl : {"auto", "portable", "native"}
        "native" is the framework's own loss (torch's ``F.cross_entropy``) where
        it covers the call (ValueError otherwise); "auto" and "portable" are
        xpsoftmax's.

    Returns
    -------
    array
        The loss, of the logits' dtype (or ``dtype``): 0-d for "mean" and
        "sum", the samples' shape for "none".

    Raises
    ------
    TypeError
        A target that is neither integer nor real floating, arrays of another
        library, a non-boolean ``where``, a non-int ``axis``/``ignore_index``.
    ValueError
        A target, ``where`` or ``weight`` of the wrong shape (nothing is
        broadcast), a class index outside [0, C) that is not ``ignore_index``
        (checked where the values are at hand: NumPy, eager CPU tensors; on a
        lazy Dask array, inside ``jit`` or ``torch.compile`` and on GPUs such a
        sample's loss is NaN instead), ``label_smoothing`` outside [0, 1], an
        unknown ``reduction``, logits with no class.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> x = np.array([[30.0, 0.0, 0.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    >>> xs.cross_entropy(x, np.array([0, 2]), reduction="none")
    array([1.8715246e-13, 4.0760598e-01], dtype=float32)
    >>> float(xs.cross_entropy(x, np.array([0, -100])))  # the ignored sample is not counted
    1.87152...e-13
    >>> q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    >>> xs.cross_entropy(x, q, reduction="none").round(4)
    array([15.    ,  0.4076], dtype=float32)
    >>> m = np.array([[0.0, -np.inf, 1.0]])  # a masked class takes no smoothing
    >>> round(float(xs.cross_entropy(m, np.array([2]), label_smoothing=0.2)), 6)
    0.413262
    """
    # The common call (class indices, no weight, smoothing, mask or dtype,
    # "auto") on a backend with a fast path skips the general checks; the
    # fast path answers NotImplemented for anything it does not fully check
    if (
        weight is None
        and where is None
        and dtype is None
        and type(axis) is int
        and type(ignore_index) is int
        and type(label_smoothing) in (float, int)
        and label_smoothing == 0
        and type(reduction) is str
        and reduction in ("mean", "sum", "none")
        and type(impl) is str
        and impl == "auto"
    ):
        fast = _cross_entropy_fast_path(logits)
        if fast is not None:
            out = fast(logits, target, axis, ignore_index, reduction)
            if out is not NotImplemented:
                return out
    x, backend, xp = _logits(logits)
    route = _args.check_impl(impl)
    how = _loss_args.check_reduction(reduction)
    eps = _loss_args.check_label_smoothing(label_smoothing)
    ignore = _loss_args.check_ignore_index(ignore_index)
    compute, result = _args.dtypes(x, dtype, xp, backend, "cross_entropy")
    ax = _loss_args.class_axis(axis, len(x.shape))
    n_classes = x.shape[ax]
    if type(n_classes) is int and n_classes == 0:
        raise ValueError(f"logits of shape {tuple(x.shape)} have no class on axis {ax}")
    target = _loss_args.loss_array(target, "target", x, xp, backend)
    kind = _loss_args.classify_target(target, x, ax, xp)
    weight = _loss_args.check_class_weight(weight, n_classes, x, xp, backend)
    mask = _loss_args.check_sample_mask(where, _loss_args.sample_shape(x, ax), x, xp, backend)
    ignore_at: int | None = None
    if kind == "index":
        _loss_args.check_index_range(target, n_classes, ignore, backend)
        if _loss_args.ignore_in_range(ignore, target.dtype, xp):
            ignore_at = ignore
    else:
        target = _cast(target, compute, xp)
    call = LossCall(
        "cross_entropy", _cast(x, compute, xp), target, compute, result, how, mask,
        kind=kind, axis=ax, weight=_cast(weight, compute, xp), ignore_index=ignore_at,
        label_smoothing=eps,
    )  # fmt: skip
    with backend.errstate():
        out = backend.run_loss(call, xp, route)
    return _finish(out, result, xp, backend)


@overload
def binary_cross_entropy(
    logits: PyInput, target: Any, *, weight: Any = ..., pos_weight: Any = ...,
    reduction: Reduction = ..., where: Any = ..., impl: Impl = ...,
) -> np.ndarray: ...  # fmt: skip
@overload
def binary_cross_entropy(
    logits: ArrayT, target: Any, *, weight: Any = ..., pos_weight: Any = ...,
    reduction: Reduction = ..., where: Any = ..., impl: Impl = ...,
) -> ArrayT: ...  # fmt: skip
def binary_cross_entropy(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
    where: Any = None,
    impl: Impl = "auto",
) -> Any:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``target``, accurate for large ``|logits|``.

    torch's ``F.binary_cross_entropy_with_logits`` with the same arguments:
    each element's loss is ``pos_weight y softplus(-x) + (1 - y) softplus(x)``,
    times ``weight``.  Written as two non-negative terms, so a confident
    prediction keeps its loss (float32 ``x = -30``, ``y = 0``: 9.3576e-14,
    where torch's ``(1 - y) x + ...`` gives 0).

    Parameters
    ----------
    logits : array
        Real scores (16-bit floats computed in float32), any supported library.
    target : array
        Of the logits' shape exactly: probabilities of the positive class
        (floating, or integer/bool 0/1 labels, cast to the compute dtype).
    weight : array, optional
        Broadcast to the logits' shape (it may not enlarge it).
    pos_weight : array, optional
        The positive examples' weight, broadcast along the last (class) dim
        (shape ``(C,)`` or broadcastable to the logits).
    reduction : {"mean", "sum", "none"}
        "mean" divides by the number of (live) elements; over none it is 0.
    where : boolean array, optional
        Of the logits' shape: False leaves an element out.
    impl : {"auto", "portable", "native"}
        "native" is torch's ``F.binary_cross_entropy_with_logits`` where it
        covers the call.

    Returns
    -------
    array
        The loss in the logits' dtype: 0-d, or the logits' shape for "none".

    Raises
    ------
    TypeError
        A complex target, arrays of another library, a non-boolean ``where``.
    ValueError
        A target or ``where`` whose shape differs from the logits', weights
        that do not broadcast to it, an unknown ``reduction``.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> x = np.array([-30.0, 30.0, 0.0], dtype=np.float32)
    >>> xs.binary_cross_entropy(x, np.array([0.0, 1.0, 1.0], dtype=np.float32), reduction="none")
    array([9.357623e-14, 9.357623e-14, 6.931472e-01], dtype=float32)
    >>> float(xs.binary_cross_entropy(x, np.array([0, 1, 1]), pos_weight=np.array([2.0])))
    0.462098...
    """
    x, backend, xp = _logits(logits)
    route = _args.check_impl(impl)
    how = _loss_args.check_reduction(reduction)
    compute, result = _args.dtypes(x, None, xp, backend, "binary_cross_entropy")
    target = _loss_args.loss_array(target, "target", x, xp, backend)
    _loss_args.check_binary_target(target, x, xp)
    weight = _loss_args.check_broadcast_weight(weight, "weight", x, xp, backend)
    pos_weight = _loss_args.check_broadcast_weight(pos_weight, "pos_weight", x, xp, backend)
    mask = _loss_args.check_sample_mask(where, tuple(x.shape), x, xp, backend)
    call = LossCall(
        "binary_cross_entropy", _cast(x, compute, xp), _cast(target, compute, xp), compute,
        result, how, mask, weight=_cast(weight, compute, xp),
        pos_weight=_cast(pos_weight, compute, xp),
    )  # fmt: skip
    with backend.errstate():
        out = backend.run_loss(call, xp, route)
    return _finish(out, result, xp, backend)


@overload
def log_sigmoid(x: PyInput, /) -> np.ndarray: ...
@overload
def log_sigmoid(x: ArrayT, /) -> ArrayT: ...
def log_sigmoid(x: Any, /) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``, accurate for every ``x``.

    Computed as ``min(x, 0) - log1p(exp(-|x|))``: no overflow for large
    ``-x``, and the tiny ``-exp(-x)`` for large ``x`` is kept (float32
    ``x = 30``: -9.3576e-14; ``log(sigmoid(30))`` is 0).  Elementwise, of the
    input's library, dtype (16-bit computed in float32) and device.

    Returns
    -------
    array
        ``log(sigmoid(x))``, of x's shape.

    Raises
    ------
    TypeError
        Complex input, or an object that is no array of a supported library.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> xs.log_sigmoid(np.array([-1000.0, 0.0, 30.0], dtype=np.float32))
    array([-1.000000e+03, -6.931472e-01, -9.357623e-14], dtype=float32)
    """
    x, backend, xp = _logits(x)
    compute, result = _args.dtypes(x, None, xp, backend, "log_sigmoid")
    call = LossCall("log_sigmoid", _cast(x, compute, xp), None, compute, result, "none", None)
    with backend.errstate():
        out = backend.run_loss(call, xp, "auto")
    return _finish(out, result, xp, backend)


for _public in (cross_entropy, binary_cross_entropy, log_sigmoid):
    # AutoGraph must not rewrite this Python (see _api.py)
    _public.autograph_info__ = frozenset()  # type: ignore[union-attr]
