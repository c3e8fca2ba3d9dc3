"""The arguments of linear_cross_entropy: checked, converted, bundled into one call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _args, _linear_ce
from ._loss_args import (
    _is_real_floating,
    check_class_weight,
    check_ignore_index,
    check_index_range,
    check_label_smoothing,
    check_reduction,
    check_sample_mask,
    classify_target,
    ignore_in_range,
    loss_array,
    same_shape,
)
from .backends import Backend

LCE_IMPLS = ("auto", "portable")


@dataclass
class LceCall:
    """One validated call: arrays of one library in the compute dtype.

    ``x`` is (N, D) (a 1-D input became one row: ``unbatched``), ``w``
    (V, D), ``b`` (V,) or None, ``target`` (N,) integer indices or (N, V)
    probabilities (``probs``), ``class_weight`` (V,) or None, ``live`` (N,)
    bool or None (every sample counts).
    """

    backend: Backend
    xp: Any
    x: Any
    w: Any
    b: Any
    target: Any
    probs: bool
    class_weight: Any
    live: Any
    eps: float
    reduction: str
    ignore_index: int
    #: chunk_size as checked: None or (by, size); the plan itself is made
    #: from concrete sizes (:attr:`plan`), inside an operator's kernel under
    #: torch.compile, so no chunk count depends on a traced size
    chunk: Any
    compute_dtype: Any
    result_dtype: Any
    unbatched: bool
    #: where= as given (None or (N,) bool): for routes that apply it themselves
    where: Any

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def v(self) -> int:
        return int(self.w.shape[0])

    @property
    def plan(self) -> _linear_ce.Plan:
        return _linear_ce.plan(self.n, self.v, _itemsize(self.compute_dtype, self.xp), self.chunk)

    def problem(self) -> _linear_ce.Problem:
        xp = self.xp
        finite = None
        if self.eps and self.b is not None:
            finite = xp.isfinite(self.b)
        return _linear_ce.Problem(
            self.x, self.w, self.b, self.target, self.probs, self.class_weight, self.live,
            self.eps, finite, self.n, self.v, wide_rows(self.xp, self.x),
        )  # fmt: skip


def namespace(backend: Backend, x: Any) -> Any:
    """The array namespace of ``x``; for torch through an import statement,
    which torch.compile runs while tracing (it cannot trace the importlib
    call of :meth:`Backend.namespace` on a first use)."""
    if backend.name == "torch":
        import array_api_compat.torch as xp

        return xp
    return backend.namespace(x)


def wide_rows(xp: Any, x: Any) -> Any:
    """float64 for the per-row arithmetic of float32 input where the
    namespace has it on x's device (not JAX without x64, not MPS), else None."""
    if x.dtype != xp.float32:
        return None
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return None
    dev = getattr(x, "device", None)
    # kind= passed although the standard defaults it to None: ndonnx 0.23
    # makes it a required keyword
    try:
        names = info().dtypes(device=dev, kind="real floating")
    except (TypeError, ValueError):
        names = info().dtypes(kind="real floating")
    if "float64" not in names or getattr(dev, "type", None) == "mps":
        return None
    return xp.float64


def _float_dtype(name: str, a: Any, xp: Any) -> None:
    if not _is_real_floating(a.dtype, xp):
        raise TypeError(f"{name} must have a real floating dtype, got {a.dtype}")


def check_chunk_size(chunk_size: Any) -> Any:
    """None, a positive int (rows per chunk), or ("rows" | "vocab", positive int)."""
    if chunk_size is None:
        return None
    by, size = "rows", chunk_size
    if isinstance(chunk_size, tuple) and len(chunk_size) == 2:
        by, size = chunk_size
        if by not in ("rows", "vocab"):
            raise ValueError(f"chunk_size's first entry must be 'rows' or 'vocab', got {by!r}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(
            "chunk_size must be None, a positive int (rows per chunk) or a tuple "
            f"('rows' | 'vocab', positive int), got {chunk_size!r}"
        )
    if size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size!r}")
    return (by, size)


def check_impl(impl: Any) -> str:
    return _args.check_impl(impl, LCE_IMPLS)


class _LogitsShape:
    """The shape of the logits ``x @ linear_weight.T`` that are never formed:
    what the shared target checks of :mod:`._loss_args` look at."""

    def __init__(self, shape: tuple[Any, ...]) -> None:
        self.shape = shape
        self.ndim = len(shape)


def lce_call(
    x: Any,
    linear_weight: Any,
    target: Any,
    linear_bias: Any,
    weight: Any,
    ignore_index: Any,
    label_smoothing: Any,
    reduction: Any,
    where: Any,
    chunk_size: Any,
) -> LceCall:
    """Check every argument (TypeError/ValueError naming it) and bundle them.

    The checks shared with cross_entropy are :mod:`._loss_args`'; shapes
    are compared only where both lengths are concrete ints (no guard on a
    symbolic size).
    """
    x, backend = _args.as_array(x)
    xp = namespace(backend, x)
    reduction = check_reduction(reduction)
    eps = check_label_smoothing(label_smoothing)
    ignore_index = check_ignore_index(ignore_index)
    chunk = check_chunk_size(chunk_size)
    _float_dtype("x", x, xp)
    if len(x.shape) not in (1, 2):
        raise ValueError(
            f"x must have 1 or 2 dimensions ((D,) or (N, D)), got shape {tuple(x.shape)}"
        )
    linear_weight = loss_array(linear_weight, "linear_weight", x, xp, backend)
    _float_dtype("linear_weight", linear_weight, xp)
    if len(linear_weight.shape) != 2:
        raise ValueError(
            f"linear_weight must have 2 dimensions (V, D), got shape {tuple(linear_weight.shape)}"
        )
    d = x.shape[-1]
    v = linear_weight.shape[0]
    if not same_shape((linear_weight.shape[1],), (d,)):
        raise ValueError(
            f"linear_weight's second dimension ({linear_weight.shape[1]}) must equal x's last "
            f"({d}): linear_weight is (V, D) = {tuple(linear_weight.shape)}, x is "
            f"{tuple(x.shape)}"
        )
    if type(v) is int and v == 0:
        raise ValueError("linear_weight has no rows: there must be at least one class")
    if linear_bias is not None:
        linear_bias = loss_array(linear_bias, "linear_bias", x, xp, backend)
        _float_dtype("linear_bias", linear_bias, xp)
        if not same_shape(tuple(linear_bias.shape), (v,)):
            raise ValueError(
                f"linear_bias must have shape (V,) = ({v},), got {tuple(linear_bias.shape)}"
            )
    weight = check_class_weight(weight, v, x, xp, backend)
    unbatched = len(x.shape) == 1
    batch = () if unbatched else (x.shape[0],)
    target = loss_array(target, "target", x, xp, backend)
    probs = classify_target(target, _LogitsShape((*batch, v)), len(x.shape) - 1, xp) == "probs"
    where = check_sample_mask(where, batch, x, xp, backend)
    dtypes = [x.dtype, linear_weight.dtype]
    dtypes += [
        a.dtype for a in (linear_bias, weight) if a is not None and _is_real_floating(a.dtype, xp)
    ]
    if probs:
        dtypes.append(target.dtype)
    result = _result_dtype(dtypes, xp)
    compute = xp.float32 if _narrow(result, xp) else result

    def cast(a: Any) -> Any:
        return a if a is None or a.dtype == compute else xp.astype(a, compute)

    x2 = cast(xp.reshape(x, (1, d)) if unbatched else x)
    tgt = target
    if unbatched:
        tgt = xp.reshape(target, (1, v) if probs else (1,))
    if probs:
        tgt = cast(tgt)
    live = None
    if where is not None:
        live = xp.reshape(where, (1,)) if unbatched else where
    if not probs:
        check_index_range(tgt, v, ignore_index, backend)
        if ignore_in_range(ignore_index, tgt.dtype, xp):
            hit = tgt != ignore_index
            live = hit if live is None else (live & hit)
    return LceCall(
        backend, xp, x2, cast(linear_weight), cast(linear_bias), tgt, probs, cast(weight),
        live, eps, reduction, ignore_index, chunk, compute, result, unbatched, where,
    )  # fmt: skip


def _itemsize(dtype: Any, xp: Any) -> int:
    return max(1, int(xp.finfo(dtype).bits) // 8)


def _narrow(dtype: Any, xp: Any) -> bool:
    return bool(_args._small_float(dtype) or xp.finfo(dtype).bits < 32)


def _result_dtype(dtypes: list[Any], xp: Any) -> Any:
    # ml_dtypes' floats (bfloat16 on NumPy) do not promote through the
    # standard's tables: the first of them decides, as torch.promote would
    small = [d for d in dtypes if _args._small_float(d)]
    if small:
        return (
            small[0] if all(d == small[0] or _args._small_float(d) for d in dtypes) else xp.float32
        )
    return xp.result_type(*dtypes)
