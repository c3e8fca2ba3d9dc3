"""linear_cross_entropy on TensorFlow: the array-API route on TF ops.

TensorFlow has no array-API namespace; :class:`~.tensorflow.TfNamespace`
maps the functions the softmax core and the losses need (``arange``,
``argmax`` and ``ones`` among them), and :class:`LceTfNamespace` adds the
few more the chunked algorithm calls (matrix products, gathers, ``concat``).
Every step is a TF op, so the route runs eagerly, inside ``tf.function`` and
under ``tf.GradientTape`` (whose backward keeps every chunk's intermediates:
the memory of the unfused computation).
"""

from __future__ import annotations

from typing import Any

from .. import _linear_ce as lce
from .._linear_ce_api import Route
from .._linear_ce_args import LceCall


class LceTfNamespace:
    """:class:`~.tensorflow.TfNamespace` and the chunked algorithm's extra functions."""

    def __init__(self, base: Any) -> None:
        self._base = base
        self._tf = base._tf

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def matmul(self, a: Any, b: Any, /) -> Any:
        if len(b.shape) == 1:  # the standard's matrix @ vector
            return self._tf.linalg.matvec(a, b)
        return self._tf.linalg.matmul(a, b)

    def matrix_transpose(self, a: Any, /) -> Any:
        return self._tf.linalg.matrix_transpose(a)

    def take(self, a: Any, indices: Any, /, *, axis: Any = None) -> Any:
        return self._tf.gather(a, indices, axis=axis)

    def concat(self, arrays: Any, /, *, axis: Any = 0) -> Any:
        return self._tf.concat(list(arrays), axis=axis)

    def maximum(self, a: Any, b: Any, /) -> Any:
        return self._tf.maximum(a, b)

    def full_like(
        self, x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None
    ) -> Any:
        return self._tf.fill(self._tf.shape(x), self._tf.cast(fill_value, dtype or x.dtype))


class TfRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        return lce.ChunkOps(LceTfNamespace(call.xp))
