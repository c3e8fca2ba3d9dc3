"""TensorFlow: the portable core on TF ops through a namespace shim,
``tf.stop_gradient``, and ``tf.nn``/``tf.math`` as the natives.

``tf.Tensor`` has no ``__array_namespace__`` and array-api-compat does not
cover TensorFlow, so :class:`TfNamespace` maps the standard functions the
core and the argument handling call (``max``/``sum``/``any`` with
``keepdims``, ``where``, ``isfinite``, ``isinf``, ``isnan``, ``exp``, ``log1p``, ``astype``,
``asarray``, ``squeeze``, ``reshape``, ``broadcast_to``, ``zeros_like``,
``full``, ``isdtype``, ``finfo``) onto plain TF ops.  Plain ops (rather than
``tf.experimental.numpy``, whose type promotion depends on a global switch)
mean the same code runs eagerly, inside ``tf.function`` and under
``tf.GradientTape``.  Every operation runs under ``tf.device`` of the
input, so the result stays where the input was.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from .. import _core
from ._base import Backend, Call

_KINDS = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": ("uint8", "uint16", "uint32", "uint64"),
    "real floating": ("float16", "bfloat16", "float32", "float64"),
    "complex floating": ("complex64", "complex128"),
}
_KINDS["integral"] = _KINDS["signed integer"] + _KINDS["unsigned integer"]
_KINDS["numeric"] = _KINDS["integral"] + _KINDS["real floating"] + _KINDS["complex floating"]


class _Finfo:
    def __init__(self, dtype: Any) -> None:
        import ml_dtypes

        fi = ml_dtypes.finfo(dtype.as_numpy_dtype)
        self.bits, self.eps, self.max, self.min = (
            fi.bits,
            float(fi.eps),
            float(fi.max),
            float(fi.min),
        )
        self.smallest_normal = float(fi.smallest_normal)
        self.dtype = dtype


class _Info:
    def __init__(self, tf: Any) -> None:
        self._tf = tf

    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        tf = self._tf
        # what tf.constant(1.0) / tf.constant(1) give
        return {"real floating": tf.float32, "complex floating": tf.complex64,
                "integral": tf.int32, "indexing": tf.int64}  # fmt: skip

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict[str, Any]:
        # the standard's names, so dtype="float32" means tf.float32
        names = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "bfloat16", "float32", "float64", "complex64",
                 "complex128")  # fmt: skip
        return {n: getattr(self._tf, n) for n in names}

    def devices(self) -> list[str]:
        return [d.name for d in self._tf.config.list_logical_devices()]


def _axes(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


class TfNamespace:
    """The array API functions xpsoftmax uses, as TensorFlow ops."""

    def __init__(self) -> None:
        import tensorflow as tf

        self._tf = tf
        for name in ("float16", "bfloat16", "float32", "float64", "bool", "int32", "int64"):
            setattr(self, name, getattr(tf, name))

    def __array_namespace_info__(self) -> _Info:
        return _Info(self._tf)

    def isdtype(self, dtype: Any, kind: Any) -> bool:
        tf = self._tf
        dtype = tf.as_dtype(dtype)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        for k in kinds:
            if isinstance(k, str):
                if k not in _KINDS:
                    raise ValueError(f"unknown dtype kind {k!r}")
                if dtype.name in _KINDS[k]:
                    return True
            elif dtype == tf.as_dtype(k):
                return True
        return False

    def finfo(self, dtype: Any) -> _Finfo:
        return _Finfo(self._tf.as_dtype(dtype))

    def asarray(
        self, obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None
    ) -> Any:
        tf = self._tf
        with tf.device(device) if device else contextlib.nullcontext():
            if isinstance(obj, (tf.Tensor, tf.Variable)):
                out = tf.identity(obj) if copy else tf.convert_to_tensor(obj)
                return out if dtype is None else tf.cast(out, dtype)
            return tf.constant(obj, dtype=dtype)

    def astype(self, x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        return self._tf.cast(x, dtype)

    def max(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return self._tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims)

    def sum(self, x: Any, /, *, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
        return self._tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)

    def any(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        return self._tf.reduce_any(x, axis=_axes(axis), keepdims=keepdims)

    def where(self, condition: Any, x1: Any, x2: Any, /) -> Any:
        return self._tf.where(condition, x1, x2)

    def isfinite(self, x: Any, /) -> Any:
        return self._tf.math.is_finite(x)

    def isinf(self, x: Any, /) -> Any:
        return self._tf.math.is_inf(x)

    def isnan(self, x: Any, /) -> Any:
        return self._tf.math.is_nan(x)

    def exp(self, x: Any, /) -> Any:
        return self._tf.exp(x)

    def log1p(self, x: Any, /) -> Any:
        return self._tf.math.log1p(x)

    def logical_not(self, x: Any, /) -> Any:
        return self._tf.logical_not(x)

    def squeeze(self, x: Any, /, axis: Any) -> Any:
        return self._tf.squeeze(x, axis=_axes(axis))

    def reshape(self, x: Any, /, shape: Any, *, copy: Any = None) -> Any:
        return self._tf.reshape(x, shape)

    def broadcast_to(self, x: Any, /, shape: Any) -> Any:
        return self._tf.broadcast_to(x, shape)

    def zeros_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return self._tf.zeros_like(x, dtype=dtype)

    def full(self, shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
        tf = self._tf
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.fill(shape, tf.constant(fill_value, dtype=dtype))

    # -- what logsumexp's weights (b=, return_sign) and logmeanexp use ---------------
    def zeros(self, shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        tf = self._tf
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.zeros(shape, dtype=tf.float32 if dtype is None else dtype)

    def ones_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return self._tf.ones_like(x, dtype=dtype)

    def result_type(self, *dtypes: Any) -> Any:
        import numpy as np

        # the standard's promotion table, which NumPy's follows for these
        # dtypes; tf.experimental.numpy's depends on a global switch
        tf = self._tf
        return tf.as_dtype(np.result_type(*(tf.as_dtype(d).as_numpy_dtype for d in dtypes)))

    def log(self, x: Any, /) -> Any:
        return self._tf.math.log(x)

    def expm1(self, x: Any, /) -> Any:
        return self._tf.math.expm1(x)

    def abs(self, x: Any, /) -> Any:
        return self._tf.abs(x)

    def sign(self, x: Any, /) -> Any:
        return self._tf.sign(x)

    def minimum(self, x1: Any, x2: Any, /) -> Any:
        return self._tf.minimum(x1, x2)

    def round(self, x: Any, /) -> Any:
        return self._tf.round(x)

    def logical_and(self, x1: Any, x2: Any, /) -> Any:
        return self._tf.logical_and(x1, x2)

    def logical_or(self, x1: Any, x2: Any, /) -> Any:
        return self._tf.logical_or(x1, x2)

    def real(self, x: Any, /) -> Any:
        return self._tf.math.real(x)

    def imag(self, x: Any, /) -> Any:
        return self._tf.math.imag(x)

    def sin(self, x: Any, /) -> Any:
        return self._tf.sin(x)

    def cos(self, x: Any, /) -> Any:
        return self._tf.cos(x)

    def atan2(self, x1: Any, x2: Any, /) -> Any:
        return self._tf.math.atan2(x1, x2)

    # -- what the losses use (:mod:`xpsoftmax._losses`) ----------------------------------
    def arange(self, stop: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        tf = self._tf
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.range(stop, dtype=tf.int64 if dtype is None else dtype)

    def argmax(self, x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        out = self._tf.math.argmax(x, axis=axis)  # the first maximum, as the standard's
        return self._tf.expand_dims(out, axis) if keepdims else out

    def expand_dims(self, x: Any, /, *, axis: int = 0) -> Any:
        return self._tf.expand_dims(x, axis)

    def ones(self, shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        tf = self._tf
        with tf.device(device) if device else contextlib.nullcontext():
            return tf.ones(shape, dtype=tf.float32 if dtype is None else dtype)

    def iinfo(self, dtype: Any) -> Any:
        import numpy as np

        return np.iinfo(self._tf.as_dtype(dtype).as_numpy_dtype)


class TfOps(_core.Ops):
    def stop_gradient(self, a: Any) -> Any:
        import tensorflow as tf

        return tf.stop_gradient(a)


class TensorflowBackend(Backend):
    name = "tensorflow"
    module = "tensorflow"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp"})
    # none is as accurate, so "auto" is the portable code (measured with the
    # conformance suite, TF 2.21 CPU): tf.nn.softmax gives 0 instead of NaN
    # beside +inf and flushes results near the smallest normal to 0 (float32
    # 2.4e-38 -> 0); tf.nn.log_softmax and tf.math.reduce_logsumexp lack the
    # log1p form
    auto_native_funcs: ClassVar[frozenset[str]] = frozenset()

    def owns(self, x: Any) -> bool:
        import tensorflow as tf

        # tf.Variable is no tf.Tensor subclass; both read as tensors in ops
        return isinstance(x, (tf.Tensor, tf.Variable))

    def import_namespace(self) -> Any:
        ns = self.__dict__.get("_namespace")
        if ns is None:
            ns = self.__dict__["_namespace"] = TfNamespace()
        return ns

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def ops(self, xp: Any) -> _core.Ops:
        return TfOps(xp)

    def version(self) -> str:
        # the wheel is tensorflow, tensorflow-cpu or tf-nightly: ask the module
        import tensorflow as tf

        return str(tf.__version__)

    def devices(self) -> list[Any]:
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import tensorflow as tf

        with tf.device(device) if device else contextlib.nullcontext():
            return tf.identity(tf.constant(a))

    def to_numpy(self, a: Any) -> Any:
        import numpy as np

        return np.array(a.numpy(), copy=True)

    def normalize_dtype(self, dtype: Any) -> Any:
        import tensorflow as tf

        return tf.as_dtype(dtype)

    def finish(self, out: Any) -> Any:
        return out

    def _native_gap(self, call: Call) -> str | None:
        if call.mask is not None:
            return "TensorFlow's kernels take no where= mask"
        if call.func != "logsumexp" and len(call.axes) != 1:
            return f"tf.nn.{call.func} reduces over one axis, not the axes {call.axes}"
        return None

    @staticmethod
    def _on_device(call: Call) -> Any:
        import tensorflow as tf

        # eager TF places an op on a GPU when one exists, whatever the input's device
        dev = getattr(call.x, "device", "")
        return tf.device(dev) if dev else contextlib.nullcontext()

    def run_portable(self, call: Call, xp: Any) -> Any:
        with self._on_device(call):
            return super().run_portable(call, xp)

    def run_loss(self, call: Any, xp: Any, impl: str) -> Any:
        with self._on_device(call):
            return super().run_loss(call, xp, impl)

    def run_native(self, call: Call, xp: Any) -> Any:
        import tensorflow as tf

        with self._on_device(call):
            if call.func == "logsumexp":
                return tf.math.reduce_logsumexp(
                    call.x, axis=list(call.axes), keepdims=call.keepdims
                )
            fn = tf.nn.softmax if call.func == "softmax" else tf.nn.log_softmax
            return fn(call.x, axis=call.axes[0])
