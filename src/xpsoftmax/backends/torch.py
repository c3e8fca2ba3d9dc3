"""PyTorch: torch.softmax, xpsoftmax's own torch operators, detach() as stop-gradient.

``impl="auto"`` sends softmax over one dim to ``torch.softmax`` (the same
max-shifted algorithm, as accurate), except over a long leading or middle dim
of a large CPU tensor, where torch's kernel walks the tensor in strides
(:func:`softmax_op_serves`); that, log_softmax, logsumexp and softmax over
several dims go to the operators ``torch.ops.xpsoftmax.*``
(:mod:`._torch_ops`: the NumPy run path on a CPU tensor's memory, the fused
CUDA kernel), which autograd, ``torch.compile`` and ``torch.func`` see as
operators with an analytic backward.  A plain eager call that records no
graph calls the operator's kernel directly: the operator's Python dispatch
costs ~10 us a call.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _core
from .._losses import LossCall
from ._base import Backend, Call

_torch_ops: Any = None


def torch_ops() -> Any:
    """The module defining ``torch.ops.xpsoftmax.*`` (imported, and the operators
    defined, on first use)."""
    global _torch_ops
    if _torch_ops is None:
        from . import _torch_ops as mod

        _torch_ops = mod
    return _torch_ops


def plain_eager(x: Any) -> bool:
    """True where calling the kernel directly is what the operator would do.

    That is: eager (no ``torch.compile``, ``jit.trace``, ``torch.func``
    transform or dispatch/function mode that must see the operator), a plain
    tensor (subclasses dispatch through the operator), and no graph to record.
    """
    import torch

    C = torch._C
    return (
        not torch.compiler.is_compiling()
        and type(x) is torch.Tensor
        and not (x.requires_grad and torch.is_grad_enabled())
        and not C._are_functorch_transforms_active()
        and C._len_torch_dispatch_stack() == 0
        and not C._is_torch_function_mode_enabled()
        and C._get_tracing_state() is None
    )


#: softmax over a dim other than the last of a contiguous CPU float32/float64
#: tensor of at least SOFTMAX_OP_MIN_BYTES, that dim at least SOFTMAX_OP_MIN_DIM
#: long and its slices (that dim and the ones after it) at least
#: SOFTMAX_OP_MIN_SLICE_BYTES, goes to the operator (the NumPy path's column
#: slabs and row rounds) instead of torch.softmax.  torch's kernel for such a
#: dim reads the whole slice three times in strides once it outgrows the
#: cache; measured here (2 cores, 8 MiB L3, medians of 9 interleaved runs,
#: 2026-12-02): float32 (4096, 4096) over dim 0 85-103 ms against 213-299 ms,
#: float64 0.40-0.42x, (2048, 2048) 0.43-0.76x, (1024, 64, 256) dim 0 0.39x,
#: (4, 2048, 2048) dim 1 0.39-0.50x, (16, 1024, 1024) dim 1 0.63-0.66x; outside
#: these bounds torch's was as fast or faster ((1024, 1024) dim 0 2.1x, (256,
#: 256, 256) dim 1 1.2-1.5x, (512, 8192) dim 0 1.2-1.3x, (64, 64, 4096) dim 1
#: 0.9-1.0x).  The operator's backward is torch's own softmax backward.
SOFTMAX_OP_MIN_BYTES = 16 << 20
SOFTMAX_OP_MIN_DIM = 1024
SOFTMAX_OP_MIN_SLICE_BYTES = 4 << 20


def softmax_op_serves(x: Any, dim: int) -> bool:
    """Whether "auto" sends softmax of ``x`` over ``dim`` (non-negative) to the
    operator rather than ``torch.softmax`` (see :data:`SOFTMAX_OP_MIN_BYTES`).

    Only eager CPU calls: under ``torch.compile`` torch.softmax is what
    Inductor fuses, and under ``torch.func`` transforms it composes as is.
    """
    size = x.element_size()
    if x.numel() * size < SOFTMAX_OP_MIN_BYTES or dim == x.dim() - 1:
        return False  # the size first: small calls ask on every call
    import torch

    n = x.shape[dim]
    return (
        n >= SOFTMAX_OP_MIN_DIM
        and n * math.prod(x.shape[dim + 1 :]) * size >= SOFTMAX_OP_MIN_SLICE_BYTES
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.is_contiguous()
        and not torch.compiler.is_compiling()
        and not torch._C._are_functorch_transforms_active()
    )


def func_transform_gap() -> str | None:
    """Why the operators cannot serve a call under the active ``torch.func``
    transforms, or None: ``custom_op``'s autograd does not compose with
    ``torch.func.grad``/``vjp``/``jvp`` (torch raises), so under those the
    portable code runs (its gradient is the same); vmap alone has the
    operators' vmap rules."""
    import torch

    if torch.compiler.is_compiling() or not torch._C._are_functorch_transforms_active():
        return None
    F = torch._C._functorch
    stack = F.get_interpreter_stack() or []
    if all(ci.key() == F.TransformType.Vmap for ci in stack):
        return None
    return "a torch.func transform other than vmap is active"


def run_op(func: str, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """``torch.ops.xpsoftmax.<func>`` on ``x`` (its kernel, where plain eager)."""
    ops = torch_ops()
    if plain_eager(x):
        return ops.kernel(func, x, axes, keepdims)
    op = ops.OPS[func]
    return op(x, list(axes), keepdims) if func == "logsumexp" else op(x, list(axes))


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
    # torch.softmax is the same max-shifted algorithm as ours (auto takes
    # it, except where softmax_op_serves); torch's log_softmax and logsumexp
    # lack the log1p form, so "auto" keeps ours (through the operators, see
    # op_gap)
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
        keepdims False, impl="auto"), or NotImplemented where it must take the
        general route.

        It serves only what "auto" would do with the call unchanged:
        float32/float64 (16-bit floats are computed in float32), at least one
        dimension, an in-range axis and no empty slice; softmax goes to
        ``torch.softmax`` (to the operator where :func:`softmax_op_serves`),
        log_softmax and logsumexp on CPU tensors to the operators (see
        :func:`run_op`); the rest (CUDA tensors, every error) goes through the
        general checks.
        """
        import numpy as np
        import torch

        from . import NUMPY
        from .numpy import MIN_BLOCKED_BYTES

        ok = (torch.float32, torch.float64)
        softmax = torch.softmax
        from_numpy = torch.from_numpy
        # NumPy's own fast path for small plain arrays (the core's arithmetic,
        # bit for bit, in a handful of ufunc calls): on a (4, 8) tensor the
        # operator's kernel spends ~30 us in the general core, this ~5 us
        np_small = NUMPY.fast_path(np.ndarray)
        native_serves = torch_ops()._native_serves  # torch's checked kernels
        op_serves = softmax_op_serves

        def fast(func: str, x: Any, axis: int) -> Any:
            if x.dtype not in ok:
                return NotImplemented
            nd = x.ndim
            if nd == 0 or not -nd <= axis < nd or x.numel() == 0:
                return NotImplemented
            if func == "softmax" and not op_serves(x, axis % nd):
                return softmax(x, axis)
            if x.device.type != "cpu":
                return NotImplemented
            if (
                x.numel() * x.element_size() < MIN_BLOCKED_BYTES
                and plain_eager(x)
                and not native_serves(func, x, (axis % nd,))
            ):
                # what the operator's kernel would compute, on the tensor's
                # memory (a view; the result is wrapped, not copied)
                a = x.detach().numpy() if x.requires_grad else x.numpy()
                out = np_small(func, a, axis)
                if out is not NotImplemented:
                    t = from_numpy(out)
                    # the operators promise contiguous results
                    return t if t.is_contiguous() else t.contiguous()
            if func_transform_gap() is not None:
                return NotImplemented
            return run_op(func, x, (axis % nd,), False)

        return fast

    def op_gap(self, call: Call) -> str | None:
        """None if "auto" sends ``call`` to ``torch.ops.xpsoftmax.<func>``."""
        if call.mask is not None:
            return "the operators take no where= mask"
        if call.extended:
            return "the operators take no weights, signs, complex input or logmeanexp"
        if call.func == "softmax" and len(call.axes) == 1:
            if not softmax_op_serves(call.x, call.axes[0]):
                return "torch.softmax is as accurate, and here as fast"
        gap = func_transform_gap()
        if gap is not None:
            return gap
        device = call.x.device.type
        if device == "cpu":
            return None
        if device == "cuda":
            return self.fused_gap(call)
        return f"no operator kernel for {device} tensors beyond the portable code"

    def fused_gap(self, call: Call) -> str | None:
        """None if xpsoftmax's fused CUDA kernel (run through CuPy, behind the
        operators) serves ``call``: torch's own log_softmax/logsumexp kernels
        lack the log1p form, and the portable code takes eight passes over
        memory on a GPU.  Autograd is the operator's analytic backward."""
        x = call.x
        if not x.is_cuda:
            return "not a CUDA tensor"
        if call.extended:
            return "the fused kernel takes no weights, signs, complex input or logmeanexp"
        if call.mask is not None:
            return "a where= mask"
        import torch

        if torch.compiler.is_compiling():
            # CuPy's device probe cannot be traced; the portable code can
            return "inside torch.compile"
        return torch_ops().cuda_gap(call.func, x, call.axes)

    def run_auto(self, call: Call, xp: Any) -> Any:
        if self.op_gap(call) is None:
            return run_op(call.func, call.x, call.axes, call.keepdims)
        return super().run_auto(call, xp)

    # -- the losses: torch's own as impl="native" (see ._torch_losses) -----------------
    def loss_native_gap(self, call: LossCall) -> str | None:
        from . import _torch_losses

        return _torch_losses.native_gap(call)

    def run_loss_native(self, call: LossCall, xp: Any) -> Any:
        from . import _torch_losses

        return _torch_losses.run_native(call)

    def run_loss(self, call: LossCall, xp: Any, impl: str) -> Any:
        # "auto": cross-entropy with class indices on eager CPU tensors from
        # torch's fused log_softmax, checked (as fast as F.cross_entropy)
        if impl == "auto":
            from . import _torch_losses

            if _torch_losses.fast_gap(call) is None:
                return _torch_losses.fast_cross_entropy(call)
        return super().run_loss(call, xp, impl)

    def run_native(self, call: Call, xp: Any) -> Any:
        import torch

        if call.func == "logsumexp":
            return torch.logsumexp(call.x, dim=call.axes, keepdim=call.keepdims)
        fn = torch.softmax if call.func == "softmax" else torch.log_softmax
        return fn(call.x, call.axes[0])
