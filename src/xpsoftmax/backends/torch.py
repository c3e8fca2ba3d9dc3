"""PyTorch: torch.softmax as the native kernel, detach() as stop-gradient."""

from __future__ import annotations

from typing import Any

from .. import _core
from ._base import Backend, Call


class TorchOps(_core.Ops):
    # no in-place hooks: autograd needs the intermediates it saved
    def stop_gradient(self, a: Any) -> Any:
        return a.detach()


class TorchBackend(Backend):
    name = "torch"
    module = "torch"
    compat_predicate = "is_torch_array"
    namespace_module = "array_api_compat.torch"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp"})
    # torch.softmax is the same max-shifted algorithm as ours; torch's
    # log_softmax and logsumexp lack the log1p form, so "auto" keeps ours
    auto_native_funcs = frozenset({"softmax"})

    def ops(self, xp: Any) -> _core.Ops:
        return TorchOps(xp)

    def devices(self) -> list[Any]:
        import torch

        devs: list[Any] = [torch.device("cpu")]
        if torch.cuda.is_available():
            devs += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devs.append(torch.device("mps"))
        return devs

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import torch

        return torch.asarray(a.copy(), device=device)

    def to_numpy(self, a: Any) -> Any:
        return a.detach().cpu().numpy()

    def normalize_dtype(self, dtype: Any) -> Any:
        return dtype

    def _native_gap(self, call: Call) -> str | None:
        if call.b is not None or call.return_sign:
            return "torch.logsumexp takes no weights (b=) and returns no sign"
        if call.complex_input:
            return "torch's kernels are not used for complex input"
        if call.mask is not None:
            return "torch's kernels take no where= mask"
        if call.func != "logsumexp" and len(call.axes) != 1:
            return f"torch.{call.func} reduces over one dim, not the axes {call.axes}"
        return None

    def fast_path(self, t: type) -> Any:
        """``fast(func, x, axis)`` for the common call (int axis, no mask/dtype,
        impl="auto"), or NotImplemented where it must take the general route.

        It serves only what "auto" would send to ``torch.softmax`` unchanged:
        float32/float64 (16-bit floats are computed in float32), at least one
        dimension, an in-range axis and no empty slice; the rest (including
        every error) goes through the general checks.
        """
        import torch

        ok = (torch.float32, torch.float64)
        softmax = torch.softmax

        def fast(func: str, x: Any, axis: int) -> Any:
            if func != "softmax" or x.dtype not in ok:
                return NotImplemented
            nd = x.ndim
            if nd == 0 or not -nd <= axis < nd or x.numel() == 0:
                return NotImplemented
            return softmax(x, axis)

        return fast

    def fused_gap(self, call: Call) -> str | None:
        """None if xpsoftmax's fused CUDA kernel (run through CuPy) serves
        ``call``: torch's own log_softmax/logsumexp kernels lack the log1p
        form, and the portable code takes eight passes over memory on a GPU."""
        x = call.x
        if not x.is_cuda:
            return "not a CUDA tensor"
        if call.extended:
            return "the fused kernel takes no weights, signs, complex input or logmeanexp"
        if call.func == "softmax":
            return "torch.softmax is as accurate"
        import torch

        if torch.is_grad_enabled() and x.requires_grad:
            return "autograd needs the portable code's graph"
        if torch.compiler.is_compiling():
            return "inside torch.compile"
        from . import _cuda_kernels

        if not _cuda_kernels.cupy_sees_a_device():
            return "CuPy is not installed"
        return _cuda_kernels.gap(
            call.func,
            tuple(x.shape),
            call.axes,
            str(x.dtype).removeprefix("torch."),
            x.is_contiguous(),
            call.mask is not None,
            x.device.index or 0,
        )

    def run_auto(self, call: Call, xp: Any) -> Any:
        if self.fused_gap(call) is None:
            from . import _cuda_kernels

            return _cuda_kernels.run_torch(call.func, call.x, len(call.axes), call.keepdims)
        return super().run_auto(call, xp)

    def run_native(self, call: Call, xp: Any) -> Any:
        import torch

        if call.func == "logsumexp":
            return torch.logsumexp(call.x, dim=call.axes, keepdim=call.keepdims)
        fn = torch.softmax if call.func == "softmax" else torch.log_softmax
        return fn(call.x, call.axes[0])
