"""The losses group's calls: xpsoftmax's losses and each framework's own.

Every subject of :mod:`.subjects` that has losses merges a dict of these
:class:`~.subjects.Call` s into its ``funcs`` (``"cross_entropy"``,
``"binary_cross_entropy"``, ``"log_sigmoid"``) and names in ``lacks`` what its
losses cannot express, per function: ``"cross_entropy:weight"``,
``"cross_entropy:ignore_index"``, ``"cross_entropy:label_smoothing"`` (and
``":index"`` after it: with class indices),
``"cross_entropy:probs"`` (probability targets), ``"cross_entropy:axis"`` (a
class axis other than the last), ``"binary_cross_entropy:pos_weight"``,
``"<func>:<reduction>"``; :func:`loss_gap` turns those into the "n/a" reason.
A framework's loss that returns one value per sample is reduced the way its
users write it (``mean``/``sum`` of the result).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cases import Case

LOSS_FUNCS = ("cross_entropy", "binary_cross_entropy", "log_sigmoid")


def features(case: Case) -> list[str]:
    """What a loss case asks of a subject, as ``lacks`` names."""
    f = case.func
    kw = case.loss
    out = [f"{f}:{kw.get('reduction', 'none')}"] if f != "log_sigmoid" else []
    for name in ("weight", "pos_weight"):
        if kw.get(name) is not None:
            out.append(f"{f}:{name}")
    if kw.get("label_smoothing"):
        out.append(f"{f}:label_smoothing")
        if case.labels is not None and case.labels.dtype.kind == "i":
            out.append(f"{f}:label_smoothing:index")
    if f == "cross_entropy" and case.labels is not None:
        if case.labels.dtype.kind != "i":
            out.append(f"{f}:probs")
        elif np.any(case.labels == kw.get("ignore_index", -100)):
            out.append(f"{f}:ignore_index")
        if case.axis not in (-1, case.x.ndim - 1):
            out.append(f"{f}:axis")
    return out


def loss_gap(case: Case, lacks: frozenset[str]) -> str | None:
    missing = [f for f in features(case) if f in lacks]
    return f"no {missing[0].replace(':', ' ')}" if missing else None


#: the converted arrays of recent cases, so a timed call (bench) converts
#: nothing: (id(case), backend, x's dtype, device) -> (case, labels, kw); the
#: case is held, so its id is not reused while the entry lives
_CONVERTED: dict[tuple[Any, ...], tuple[Case, Any, dict[str, Any]]] = {}


def inputs(x: Any, case: Case) -> tuple[Any, dict[str, Any]]:
    """(labels as an array of x's library, the keyword arrays in x's dtype)."""
    from ..backends import backend_of

    be = backend_of(x)
    assert be is not None
    key = (id(case), be.name, str(x.dtype), str(getattr(x, "device", "")))
    hit = _CONVERTED.get(key)
    if hit is not None:
        return hit[1], dict(hit[2])
    labels, kw = _convert(x, case, be)
    if _traced(x, be):  # converted inside a trace: constants of that trace only
        return labels, kw
    if len(_CONVERTED) >= 64:
        _CONVERTED.pop(next(iter(_CONVERTED)))
    _CONVERTED[key] = (case, labels, kw)
    return labels, dict(kw)


def _traced(x: Any, be: Any) -> bool:
    if be.name != "jax":
        return False
    import jax

    return isinstance(x, jax.core.Tracer)


def _convert(x: Any, case: Case, be: Any) -> tuple[Any, dict[str, Any]]:
    from .subjects import _dtype_of

    dtype = _dtype_of(x) if case.dtype != "bfloat16" else np.dtype("float32")
    device = getattr(x, "device", None)
    labels = None
    if case.labels is not None:
        lab = case.labels if case.labels.dtype.kind == "i" else case.labels.astype(dtype)
        labels = _like(be.from_numpy(lab, device), x, case)
    kw = {
        k: (_like(be.from_numpy(v.astype(dtype), device), x, case)
            if isinstance(v, np.ndarray) else v)
        for k, v in case.loss.items()
    }  # fmt: skip
    return labels, kw


def _like(a: Any, x: Any, case: Case) -> Any:
    """A floating array in x's dtype where that is bfloat16 (no NumPy dtype)."""
    if case.dtype != "bfloat16" or "int" in str(a.dtype):
        return a
    return a.astype(x.dtype) if hasattr(a, "astype") else a.to(x.dtype)


def _reduce(per: Any, reduction: str, mean: Any, total: Any) -> Any:
    return {"none": lambda: per, "mean": lambda: mean(per), "sum": lambda: total(per)}[reduction]()


# -- xpsoftmax ---------------------------------------------------------------------------
def xpsoftmax_losses(impl: str) -> dict[str, Any]:
    import xpsoftmax

    def make(func: str) -> Any:
        fn = getattr(xpsoftmax, func)

        def call(x: Any, case: Case, where: Any = None) -> Any:
            labels, kw = inputs(x, case)
            if where is not None:
                kw["where"] = where
            if func == "log_sigmoid":
                return fn(x)
            if func == "cross_entropy" and case.axis != "default":
                kw["axis"] = case.axis
            return fn(x, labels, impl=impl, **kw)

        return call

    return {f: make(f) for f in LOSS_FUNCS}


# -- the frameworks' own -------------------------------------------------------------------
def torch_losses() -> tuple[dict[str, Any], frozenset[str]]:
    """``F.cross_entropy`` (the classes moved to dim 1), ``F.binary_cross_entropy_with_logits``,
    ``F.logsigmoid``."""
    import torch
    import torch.nn.functional as F

    def ce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        if x.dim() > 1:
            x = torch.movedim(x, case.axis, 1)
            if labels.is_floating_point():
                labels = torch.movedim(labels, case.axis, 1)
        return F.cross_entropy(x, labels, **kw)

    def bce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        return F.binary_cross_entropy_with_logits(x, labels, **kw)

    funcs = {"cross_entropy": ce, "binary_cross_entropy": bce,
             "log_sigmoid": lambda x, case, where=None: F.logsigmoid(x)}  # fmt: skip
    return funcs, frozenset()


def optax_losses() -> tuple[dict[str, Any], frozenset[str]]:
    """optax's integer-label and probability cross-entropies (smoothing with
    ``optax.smooth_labels``, as its users write it) and
    ``sigmoid_binary_cross_entropy``; means and sums with jnp."""
    import jax
    import jax.numpy as jnp
    import optax

    def ce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        eps = kw.get("label_smoothing", 0.0)
        ax = case.axis
        if eps or labels.dtype.kind == "f":
            if labels.dtype.kind != "f":
                labels = jax.nn.one_hot(labels, x.shape[ax], axis=ax, dtype=x.dtype)
            if eps:
                labels = optax.smooth_labels(labels, eps, axis=ax)
            per = optax.softmax_cross_entropy(x, labels, axis=ax)
        else:
            per = optax.softmax_cross_entropy_with_integer_labels(x, labels, axis=ax)
        return _reduce(per, kw["reduction"], jnp.mean, jnp.sum)

    def bce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        return _reduce(optax.sigmoid_binary_cross_entropy(x, labels), kw["reduction"], jnp.mean,
                       jnp.sum)  # fmt: skip

    lacks = {"where", "cross_entropy:weight", "cross_entropy:ignore_index",
             "binary_cross_entropy:weight", "binary_cross_entropy:pos_weight"}  # fmt: skip
    return {"cross_entropy": ce, "binary_cross_entropy": bce}, frozenset(lacks)


def tf_losses() -> tuple[dict[str, Any], frozenset[str]]:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits`` (classes last),
    ``tf.nn.softmax_cross_entropy_with_logits``, ``sigmoid_cross_entropy_with_logits``
    (``weighted_cross_entropy_with_logits`` with ``pos_weight``), ``tf.math.log_sigmoid``."""
    import tensorflow as tf

    def ce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        if labels.dtype.is_floating:
            per = tf.nn.softmax_cross_entropy_with_logits(labels, x, axis=case.axis)
        else:
            per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, x)
        return _reduce(per, kw["reduction"], tf.reduce_mean, tf.reduce_sum)

    def bce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        if kw.get("pos_weight") is not None:
            per = tf.nn.weighted_cross_entropy_with_logits(labels, x, kw["pos_weight"])
        else:
            per = tf.nn.sigmoid_cross_entropy_with_logits(labels, x)
        return _reduce(per, kw["reduction"], tf.reduce_mean, tf.reduce_sum)

    funcs = {"cross_entropy": ce, "binary_cross_entropy": bce,
             "log_sigmoid": lambda x, case, where=None: tf.math.log_sigmoid(x)}  # fmt: skip
    lacks = {"cross_entropy:weight", "cross_entropy:ignore_index", "cross_entropy:label_smoothing",
             "cross_entropy:axis", "binary_cross_entropy:weight"}  # fmt: skip
    return funcs, frozenset(lacks)


def keras_losses() -> tuple[dict[str, Any], frozenset[str]]:
    """``keras.losses.sparse_categorical_crossentropy`` / ``categorical_crossentropy``
    (``from_logits=True``; smoothing for probabilities), ``binary_crossentropy``
    (which averages the last axis: only its mean is the elementwise mean),
    ``keras.ops.log_sigmoid``."""
    import keras

    ops = keras.ops

    def ce(x: Any, case: Case, where: Any = None) -> Any:
        labels, kw = inputs(x, case)
        if "float" in str(labels.dtype):
            per = keras.losses.categorical_crossentropy(
                labels, x, from_logits=True, label_smoothing=kw.get("label_smoothing", 0.0),
                axis=case.axis,
            )  # fmt: skip
        else:
            per = keras.losses.sparse_categorical_crossentropy(
                labels, x, from_logits=True, axis=case.axis
            )
        return _reduce(per, kw["reduction"], ops.mean, ops.sum)

    def bce(x: Any, case: Case, where: Any = None) -> Any:
        labels, _ = inputs(x, case)
        return ops.mean(keras.losses.binary_crossentropy(labels, x, from_logits=True))

    funcs = {"cross_entropy": ce, "binary_cross_entropy": bce,
             "log_sigmoid": lambda x, case, where=None: ops.log_sigmoid(x)}  # fmt: skip
    lacks = {"cross_entropy:weight", "cross_entropy:ignore_index",
             "cross_entropy:label_smoothing:index", "binary_cross_entropy:weight",
             "binary_cross_entropy:pos_weight", "binary_cross_entropy:none",
             "binary_cross_entropy:sum"}  # fmt: skip
    return funcs, frozenset(lacks)
