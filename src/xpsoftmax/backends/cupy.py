"""CuPy: fused CUDA kernels for "auto", the portable code, cupyx.scipy.special as native.

``impl="auto"`` runs the algorithm of the portable code as one fused kernel
(:mod:`._cuda_kernels`) when the reduced axes are the trailing ones of a
C-ordered float32/float64 array without a mask, the common case; anything
else (a mask, a leading axis, a strided view) takes the portable code.
"""

from __future__ import annotations

from typing import Any

from ._base import Backend, Call


class CupyBackend(Backend):
    name = "cupy"
    module = "cupy"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp"})
    # cupyx's kernels are not yet measured on a GPU by the conformance suite,
    # so "auto" keeps the portable code until the GPU lane says otherwise
    auto_native_funcs = frozenset()

    def owns(self, x: Any) -> bool:
        from array_api_compat import is_cupy_array

        return is_cupy_array(x)

    def import_namespace(self) -> Any:
        import array_api_compat.cupy

        return array_api_compat.cupy

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def devices(self) -> list[Any]:
        import cupy

        return [cupy.cuda.Device(i) for i in range(cupy.cuda.runtime.getDeviceCount())]

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import cupy

        if device is None:
            return cupy.asarray(a)
        with device:
            return cupy.asarray(a)

    def to_numpy(self, a: Any) -> Any:
        return a.get()

    def normalize_dtype(self, dtype: Any) -> Any:
        import cupy

        return cupy.dtype(dtype)

    def fused_gap(self, call: Call) -> str | None:
        """None if the fused kernel serves ``call``, else why not."""
        from . import _cuda_kernels

        x = call.x
        if call.mask is not None:
            return "a where= mask"
        nd = x.ndim
        if call.axes != tuple(range(nd - len(call.axes), nd)):
            return f"axes {call.axes} are not the trailing axes of a {nd}-d array"
        if not x.flags.c_contiguous:
            return "the input is not C-contiguous"
        if not _cuda_kernels.covers(call.func, x.dtype.name):
            return f"no fused kernel for {call.func} in {x.dtype.name}"
        return None

    def run_auto(self, call: Call, xp: Any) -> Any:
        if self.fused_gap(call) is not None:
            return super().run_auto(call, xp)
        import math

        import cupy

        from . import _cuda_kernels

        x = call.x
        k = len(call.axes)
        lead = tuple(x.shape[: x.ndim - k])
        rows, n = math.prod(lead), math.prod(x.shape[x.ndim - k :])
        with x.device:
            x2 = x.reshape(rows, n)
            if call.func == "logsumexp":
                out = cupy.empty((rows,), dtype=x.dtype)
                _cuda_kernels.run(call.func, x2, out)
                return out.reshape(lead + (1,) * k if call.keepdims else lead)
            out = cupy.empty((rows, n), dtype=x.dtype)
            _cuda_kernels.run(call.func, x2, out)
            return out.reshape(x.shape)

    def _native_gap(self, call: Call) -> str | None:
        if call.mask is not None:
            return "cupyx.scipy.special takes no where= mask"
        if call.func != "logsumexp" and len(call.axes) != 1:
            return f"cupyx.scipy.special.{call.func} is used over one axis only"
        return None

    def run_native(self, call: Call, xp: Any) -> Any:
        import cupyx.scipy.special as special

        if call.func == "logsumexp":
            return special.logsumexp(call.x, axis=call.axes, keepdims=call.keepdims)
        return getattr(special, call.func)(call.x, axis=call.axes[0])
