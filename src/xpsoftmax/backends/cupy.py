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
    compat_predicate = "is_cupy_array"
    namespace_module = "array_api_compat.cupy"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp"})
    # cupyx's kernels are not yet measured on a GPU by the conformance suite,
    # so "auto" keeps the portable code until the GPU lane says otherwise
    auto_native_funcs = frozenset()

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

        if call.extended:
            return "the fused kernel takes no weights, signs, complex input or logmeanexp"
        x = call.x
        return _cuda_kernels.gap(
            call.func,
            tuple(x.shape),
            call.axes,
            x.dtype.name,
            bool(x.flags.c_contiguous),
            call.mask is not None,
            x.device.id,
        )

    def run_auto(self, call: Call, xp: Any) -> Any:
        if self.fused_gap(call) is not None:
            return super().run_auto(call, xp)
        import cupy

        from . import _cuda_kernels

        x = call.x
        rows, n, out_shape = _cuda_kernels.rows_view(
            call.func, tuple(x.shape), len(call.axes), call.keepdims
        )
        with x.device:
            shape2 = (rows, n) if call.func != "logsumexp" else (rows,)
            out = cupy.empty(shape2, dtype=x.dtype)
            _cuda_kernels.run(call.func, x.reshape(rows, n), out)
            return out.reshape(out_shape)

    def _native_gap(self, call: Call) -> str | None:
        if call.b is not None or call.return_sign or call.complex_input:
            return "cupyx.scipy.special is not used for weights, signs or complex input"
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
