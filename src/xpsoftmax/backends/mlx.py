"""MLX: the portable core on ``mlx.core`` through a thin namespace shim,
``mx.stop_gradient``, and ``mx.softmax``/``mx.logsumexp`` as the natives.

``mlx.core`` is close to the array API standard but not there: its
``asarray``/``full``/``zeros_like`` take no ``device=`` (MLX arrays live in
unified memory; a *stream* on a device runs the operations), its boolean
dtype is ``bool_``, and ``mx.array(np_float64_array)`` silently gives
float32.  :class:`MlxNamespace` closes exactly those gaps for what the core
and the argument handling call; everything else is ``mlx.core`` itself, so
``mx.compile``, ``mx.grad`` and ``mx.vmap`` trace through it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from .. import _core
from ._base import Backend, Call


class MlxNamespace:
    """``mlx.core`` with the standard's signatures where they differ."""

    def __init__(self) -> None:
        import mlx.core as mx

        self._mx = mx
        self.bool = mx.bool_

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mx, name)

    def asarray(
        self, obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None
    ) -> Any:
        # device is accepted for the standard's sake: MLX arrays have none
        return self._mx.array(obj, dtype=dtype) if copy else self._mx.asarray(obj, dtype=dtype)

    def full(self, shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return self._mx.full(shape, fill_value, dtype=dtype)

    def zeros_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return self._mx.zeros(x.shape, dtype=x.dtype if dtype is None else dtype)

    def zeros(self, shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
        return self._mx.zeros(shape, dtype=self._mx.float32 if dtype is None else dtype)

    def sign(self, x: Any, /) -> Any:
        # mx.sign(nan) is 0; the standard's (and return_sign's) is NaN
        return self._mx.where(self._mx.isnan(x), x, self._mx.sign(x))

    def ones_like(self, x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return self._mx.ones(x.shape, dtype=x.dtype if dtype is None else dtype)

    def astype(self, x: Any, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Any:
        return x.astype(dtype)

    def arange(self, stop: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        return self._mx.arange(stop, dtype=dtype)


#: per dtype: fdlibm's split of ln 2 (k * hi is exact for the k that occur),
#: the Taylor degree for |r| <= ln2/2, the integer type, mantissa bits and
#: exponent bias of 2**k, and the clip range (exp is 0 / inf beyond it)
_EXP = {
    "float64": (6.93147180369123816490e-01, 1.90821492927058770002e-10, 13, "int64", 52, 1023,
                -746.0, 710.0),
    "float32": (0.693359375, -2.12194440e-4, 8, "int32", 23, 127, -104.0, 89.0),
}  # fmt: skip


def accurate_exp(a: Any) -> Any:
    """``exp(a)`` within 1.1 ulps for float32/float64 MLX arrays, in MLX ops.

    ``mx.exp`` is a fast approximation: on float64 it is only float32-accurate
    (1e8 ulps off), on float32 it is 17 ulps off at -30 and overflows to inf
    from 88.0 on (exp(88) = 1.65e38 is finite); measured with MLX 0.32.4 on
    CPU.  Here ``exp(x) = 2**k exp(r)`` with ``r = x - k ln2`` (Cody-Waite),
    ``exp(r)`` by its Taylor series in Horner form, and ``2**k`` built exactly
    from its bits in two factors (so subnormal results are right too); it
    differentiates as exp (the polynomial's derivative) and composes with
    ``mx.compile``/``mx.vmap``.  Other dtypes use ``mx.exp``.
    """
    import mlx.core as mx

    consts = _EXP.get(str(a.dtype).rsplit(".", 1)[-1])
    if consts is None:
        return mx.exp(a)
    hi, lo, degree, itype, mant, bias, low, high = consts
    dt = a.dtype
    xc = mx.clip(a, low, high)
    k = mx.round(xc * (1.0 / math.log(2.0)))
    r = (xc - k * hi) - k * lo
    p = mx.ones_like(r)
    for n in range(degree, 0, -1):
        p = 1.0 + p * r * (1.0 / n)
    k1 = mx.floor(k * 0.5)

    def pow2(j: Any) -> Any:
        # the bits view has no derivative, and needs none: k is piecewise constant
        bits = mx.left_shift(j.astype(getattr(mx, itype)) + bias, mant)
        return mx.stop_gradient(bits.view(dt))

    out = p * pow2(k1) * pow2(k - k1)
    return mx.where(mx.isnan(a), a, out)


class MlxOps(_core.Ops):
    def stop_gradient(self, a: Any) -> Any:
        import mlx.core as mx

        return mx.stop_gradient(a)

    def exp(self, a: Any) -> Any:
        return accurate_exp(a)

    def exp_(self, a: Any) -> Any:
        return accurate_exp(a)


_DTYPES = ("float16", "bfloat16", "float32", "float64", "bool", "int8", "int16", "int32",
           "int64", "uint8", "uint16", "uint32", "uint64", "complex64")  # fmt: skip


class MlxBackend(Backend):
    name = "mlx"
    module = "mlx"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp"})
    # none is as accurate, so "auto" is the portable code (measured with the
    # conformance suite, MLX 0.32.4 CPU): mx.softmax has mx.exp's error
    # (float64 results only float32-accurate) and flushes tiny results to 0;
    # mx.logsumexp and mlx.nn.log_softmax (x - logsumexp) lack the log1p form
    auto_native_funcs: ClassVar[frozenset[str]] = frozenset()

    def owns(self, x: Any) -> bool:
        return type(x).__module__ == "mlx.core" and type(x).__name__ == "array"

    def import_namespace(self) -> Any:
        ns = self.__dict__.get("_namespace")
        if ns is None:
            ns = self.__dict__["_namespace"] = MlxNamespace()
        return ns

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def ops(self, xp: Any) -> _core.Ops:
        return MlxOps(xp)

    def devices(self) -> list[Any]:
        import mlx.core as mx

        devs = [mx.Device(mx.cpu)]
        if mx.is_available(mx.gpu):
            devs.append(mx.Device(mx.gpu))
        return devs

    def device_name(self, device: Any) -> str:
        return "gpu" if "gpu" in str(device) else "cpu"

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import mlx.core as mx

        # mx.array(float64 ndarray) gives float32: name the dtype
        name = str(a.dtype)
        dtype = getattr(mx, "bool_" if name == "bool" else name) if name in _DTYPES else None
        return mx.array(a.copy(), dtype=dtype)

    def to_numpy(self, a: Any) -> Any:
        import mlx.core as mx
        import numpy as np

        if a.dtype == mx.bfloat16:  # NumPy has no bfloat16: widen exactly
            a = a.astype(mx.float32)
        return np.array(a, copy=True)

    def normalize_dtype(self, dtype: Any) -> Any:
        import mlx.core as mx

        if isinstance(dtype, mx.Dtype):
            return dtype
        name = getattr(dtype, "__name__", None) or str(dtype)
        name = {"bool": "bool_"}.get(name, name)
        found = getattr(mx, name, None) if isinstance(name, str) else None
        if not isinstance(found, mx.Dtype):
            raise TypeError(f"{dtype!r} is not an MLX dtype")
        return found

    def _native_gap(self, call: Call) -> str | None:
        if call.mask is not None:
            return "MLX's kernels take no where= mask"
        return None

    def run_native(self, call: Call, xp: Any) -> Any:
        import mlx.core as mx

        axes = list(call.axes)
        if call.func == "softmax":
            return mx.softmax(call.x, axis=axes)
        if call.func == "log_softmax":
            # mlx.nn.log_softmax's formula, not the function itself: it is
            # mx.compile(shapeless=True)'d and segfaults on a length-one axis
            # (MLX 0.32.4, CPU: shape (2, 1), axis -1)
            x = call.x - mx.stop_gradient(mx.max(call.x, axis=axes, keepdims=True))
            return x - mx.logsumexp(x, axis=axes, keepdims=True)
        return mx.logsumexp(call.x, axis=axes, keepdims=call.keepdims)
