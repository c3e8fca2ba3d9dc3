"""Argument checks of the losses: every bad input is a TypeError/ValueError naming it.

Shared by :func:`xpsoftmax.cross_entropy`, :func:`xpsoftmax.binary_cross_entropy`
and any other loss over class scores (``linear_cross_entropy`` reuses
:func:`check_reduction`, :func:`check_label_smoothing`, :func:`check_ignore_index`,
:func:`loss_array`, :func:`classify_target`, :func:`check_class_weight`,
:func:`check_sample_mask` and :func:`check_index_range`).

Nothing is broadcast silently: a target, a sample mask and class weights must
have exactly the shape the call implies.  Shapes are compared only where both
lengths are concrete Python ints, so symbolic dimensions (``torch.export``
dynamic dims, ``jax.export`` shapes, Dask's unknown lengths) are never guarded
on; the operations themselves reject what does not fit there.
"""

from __future__ import annotations

import numbers
from typing import Any

from .backends import Backend, backend_of

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_label_smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"label_smoothing must be a real number in [0, 1], got {value!r} "
            f"({type(value).__name__})"
        )
    v = float(value)
    if not 0.0 <= v <= 1.0:  # NaN fails too
        raise ValueError(f"label_smoothing must be in [0, 1], got {value!r}")
    return v


def check_ignore_index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ignore_index must be an int, got {value!r} ({type(value).__name__})")
    return int(value)


def class_axis(axis: Any, ndim: int) -> int:
    """The class axis as a non-negative int (one axis: the classes)."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(
            f"axis must be an int (the class axis), got {axis!r} ({type(axis).__name__})"
        )
    if ndim == 0:
        raise ValueError("logits must have at least one dimension (the classes), got a 0-d array")
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"axis {a} is out of range for logits of {ndim} dimensions")
    return a % ndim


def _concrete(n: Any) -> bool:
    return type(n) is int


def _shape_str(shape: tuple[Any, ...]) -> str:
    return str(tuple(shape))


def same_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal shapes, where lengths that are not concrete ints count as equal."""
    if len(a) != len(b):
        return False
    return all(p == q for p, q in zip(a, b, strict=True) if _concrete(p) and _concrete(q))


def loss_array(value: Any, name: str, x: Any, xp: Any, backend: Backend) -> Any:
    """``value`` as an array of x's library and device: arrays of another library are
    a TypeError; Python numbers and nested lists are converted."""
    if isinstance(value, (bool, int, float, list, tuple)):
        try:
            value = xp.asarray(value, device=getattr(x, "device", None))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}={value!r} is not a rectangular array of numbers: {exc}"
            ) from None
    vb = backend_of(value)
    if vb is not backend:
        raise TypeError(
            f"{name} must be an array of the same library as the logits ({backend.name}), "
            f"got {type(value).__module__}.{type(value).__name__}"
        )
    # an unknown device (None; TF's "" for a symbolic tensor in tf.function) is not compared
    vdev, xdev = getattr(value, "device", None), getattr(x, "device", None)
    if vdev not in (None, "") and xdev not in (None, "") and str(vdev) != str(xdev):
        raise ValueError(f"{name} is on device {vdev} but the logits are on {xdev}")
    return value


def sample_shape(x: Any, axis: int) -> tuple[Any, ...]:
    return tuple(n for i, n in enumerate(x.shape) if i != axis)


def classify_target(target: Any, x: Any, axis: int, xp: Any) -> str:
    """ "index" (integer class indices, the logits' shape without ``axis``) or
    "probs" (floating class probabilities, the logits' shape)."""
    dt = target.dtype
    want_idx = sample_shape(x, axis)
    if _is_integer(dt, xp):
        if not same_shape(tuple(target.shape), want_idx):
            raise ValueError(
                f"target of class indices has shape {_shape_str(target.shape)}, but logits of "
                f"shape {_shape_str(x.shape)} with the classes on axis {axis} need "
                f"{_shape_str(want_idx)}"
            )
        return "index"
    if _is_real_floating(dt, xp):
        if not same_shape(tuple(target.shape), tuple(x.shape)):
            hint = ""
            if same_shape(tuple(target.shape), want_idx):
                hint = " (class indices must have an integer dtype)"
            raise ValueError(
                f"target of class probabilities has shape {_shape_str(target.shape)}, but must "
                f"have the logits' shape {_shape_str(x.shape)}{hint}"
            )
        return "probs"
    raise TypeError(
        "target must hold integer class indices or real floating class probabilities, "
        f"got dtype {dt}"
    )


def _is_integer(dt: Any, xp: Any) -> bool:
    try:
        return bool(xp.isdtype(dt, "integral"))
    except (TypeError, ValueError, AttributeError):
        return False


def _is_real_floating(dt: Any, xp: Any) -> bool:
    from ._args import _small_float

    if _small_float(dt):
        return True
    try:
        return bool(xp.isdtype(dt, "real floating"))
    except (TypeError, ValueError, AttributeError):
        return False


def check_binary_target(target: Any, x: Any, xp: Any) -> None:
    """binary_cross_entropy's target: real (or integer/bool labels), the logits' shape."""
    dt = target.dtype
    if not (_is_real_floating(dt, xp) or _is_integer(dt, xp) or dt == xp.bool):
        raise TypeError(f"target must hold real probabilities or 0/1 labels, got dtype {dt}")
    if not same_shape(tuple(target.shape), tuple(x.shape)):
        raise ValueError(
            f"target has shape {_shape_str(target.shape)}, but must have the logits' shape "
            f"{_shape_str(x.shape)} (it is not broadcast)"
        )


def check_class_weight(
    weight: Any, n_classes: Any, x: Any, xp: Any, backend: Backend, name: str = "weight"
) -> Any:
    """Per-class weights: a 1-D real array of length ``n_classes``."""
    if weight is None:
        return None
    weight = loss_array(weight, name, x, xp, backend)
    if not (_is_real_floating(weight.dtype, xp) or _is_integer(weight.dtype, xp)):
        raise TypeError(f"{name} must have a real number dtype, got {weight.dtype}")
    shape = tuple(weight.shape)
    if len(shape) != 1 or not same_shape(shape, (n_classes,)):
        raise ValueError(
            f"{name} must be a 1-D array with one entry per class ({n_classes}), "
            f"got shape {_shape_str(shape)}"
        )
    return weight


def check_sample_mask(where: Any, shape: tuple[Any, ...], x: Any, xp: Any, backend: Backend) -> Any:
    """A boolean array of exactly ``shape`` (the samples), or None."""
    if where is None:
        return None
    where = loss_array(where, "where", x, xp, backend)
    if where.dtype != xp.bool:
        raise TypeError(f"where must have a boolean dtype, got {where.dtype}")
    if not same_shape(tuple(where.shape), tuple(shape)):
        raise ValueError(
            f"where has shape {_shape_str(where.shape)}, but must have the samples' shape "
            f"{_shape_str(shape)} (it is not broadcast)"
        )
    return where


def check_broadcast_weight(w: Any, name: str, x: Any, xp: Any, backend: Backend) -> Any:
    """Weights that broadcast to x's shape without enlarging it (torch's rule for
    binary_cross_entropy_with_logits' ``weight`` and ``pos_weight``)."""
    if w is None:
        return None
    w = loss_array(w, name, x, xp, backend)
    if not (_is_real_floating(w.dtype, xp) or _is_integer(w.dtype, xp)):
        raise TypeError(f"{name} must have a real number dtype, got {w.dtype}")
    from ._args import broadcast_shapes

    shape = tuple(w.shape)
    b = broadcast_shapes(shape, tuple(x.shape))
    if len(shape) > len(x.shape) or b is None or not same_shape(b, tuple(x.shape)):
        raise ValueError(
            f"{name} of shape {_shape_str(shape)} does not broadcast to the logits' shape "
            f"{_shape_str(x.shape)}"
        )
    return w


# -- the range of class indices --------------------------------------------------------------
def concrete_values(a: Any, backend: Backend) -> Any:
    """A NumPy copy of ``a`` where its values can be read now without tracing,
    a device sync or computing a lazy graph; else None.

    None for lazy Dask arrays, JAX tracers (inside ``jit``/``vmap``/``grad``),
    torch tensors under ``torch.compile``, a ``torch.func`` transform, or on a
    device other than the CPU (reading them would synchronise the device),
    and TensorFlow tensors inside ``tf.function``.
    """
    name = backend.name
    if name == "dask":
        return None
    if name == "torch":
        import torch

        if (
            torch.compiler.is_compiling()
            or torch._C._are_functorch_transforms_active()
            or a.device.type != "cpu"
            or type(a) is not torch.Tensor
        ):
            return None
        return a.detach().numpy()
    if name == "jax":
        import jax

        if isinstance(a, jax.core.Tracer):
            return None
    if name == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly() or not hasattr(a, "numpy"):
            return None
    try:
        import numpy as np

        return np.asarray(backend.to_numpy(a))
    except Exception:  # a library's traced or symbolic array (MLX under mx.compile)
        return None


def check_index_range(target: Any, n_classes: Any, ignore_index: int, backend: Backend) -> None:
    """ValueError for a class index outside [0, n_classes) that is not ``ignore_index``,
    where the target's values are concrete (:func:`concrete_values`); elsewhere the
    loss of such a sample is NaN (the check is then in the graph)."""
    if not _concrete(n_classes):
        return
    values = concrete_values(target, backend)
    if values is None or values.size == 0:
        return
    import numpy as np

    bad = ((values < 0) | (values >= n_classes)) & (values != ignore_index)
    if np.any(bad):
        first = values[bad].flat[0]
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"target holds the class index {int(first)} at {pos}, outside [0, {n_classes}) "
            f"and not ignore_index ({ignore_index})"
        )


def ignore_in_range(ignore_index: int, dtype: Any, xp: Any) -> bool:
    """Whether an index array of ``dtype`` can hold ``ignore_index`` at all (an
    unsigned target never equals -100)."""
    try:
        info = xp.iinfo(dtype)
    except (TypeError, ValueError, AttributeError):
        return True
    return bool(info.min <= ignore_index <= info.max)
