"""CuPy: the portable code on CUDA arrays; cupyx.scipy.special as native."""

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
