"""PyTorch: torch.softmax, xpsoftmax's own torch operators, detach() as stop-gradient.

``impl="auto"`` sends softmax over one dim to ``torch.softmax`` (the same
max-shifted algorithm, as accurate), except over a long leading or middle dim
of a large CPU tensor, where torch's kernel walks the tensor in strides
(:func:`softmax_op_serves`); that, log_softmax, logsumexp and softmax over
several dims go to the operators ``torch.ops.xpsoftmax.*``
(:mod:`._torch_ops`: the NumPy run path on a CPU tensor's memory, the fused
CUDA kernel), which autograd, ``torch.compile`` and ``torch.func`` see as
operators with an analytic backward.  A plain eager call calls the
operator's kernel directly, through an ``autograd.Function`` with the
operator's backward where autograd records it: the operator's Python
dispatch costs ~10 us a call.

Where a tracer records a graph (:func:`capturing`: ``torch.compile``,
``torch.export``, ``jit.trace``, the ONNX exporters), no route depends on a
size: the graph must hold for every input size, and a size test on a
symbolic size would be a guard.  softmax over one dim is ``torch.softmax``,
the rest the operators, except under ONNX export (no ONNX translation of the
operators): the portable code, in the form of :mod:`._torch_graph` that ONNX
runtimes evaluate accurately.  :meth:`TorchBackend.prepare` defines the
operators as soon as torch is imported (``torch.export.load`` needs them).
"""

from __future__ import annotations

import math
import sys
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


def capturing() -> bool:
    """True while a tracer records a graph (``torch.compile``, ``torch.export``
    and torch.onnx's exporter on it, ``torch.jit.trace`` and the TorchScript
    ONNX exporter on it): a route chosen by size would fix the graph to
    that size."""
    import torch

    return torch.compiler.is_compiling() or torch._C._get_tracing_state() is not None


def onnx_exporting() -> bool:
    """True inside ``torch.onnx.export`` (either exporter)."""
    onnx = sys.modules.get("torch.onnx")
    return onnx is not None and bool(onnx.is_in_onnx_export())


def deploying() -> bool:
    """True where the graph leaves torch (``torch.export``, ONNX): its
    log1p and expm1 take :mod:`._torch_graph`'s accurate formulations."""
    import torch

    return torch.compiler.is_exporting() or onnx_exporting()


def eager_mode(x: Any) -> str | None:
    """How an operator's call on ``x`` runs: ``"plain"`` (its kernel: nothing
    to record), ``"grad"`` (its kernel with its backward, as an
    ``autograd.Function``: autograd records the call), or None (the operator
    itself, which a tracer, a ``torch.func`` transform, a dispatch or
    function mode, or a tensor subclass must see).
    """
    import torch

    C = torch._C
    if (
        torch.compiler.is_compiling()
        or type(x) is not torch.Tensor
        or C._are_functorch_transforms_active()
        or C._len_torch_dispatch_stack() != 0
        or C._is_torch_function_mode_enabled()
        or C._get_tracing_state() is not None
    ):
        return None
    return "grad" if x.requires_grad and torch.is_grad_enabled() else "plain"


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

    Only eager CPU calls: a graph holds torch.softmax for every size (it is
    what Inductor fuses), and under ``torch.func`` transforms it composes as is.
    """
    # the last dim first (the common call asks on every call), then no size
    # test where a tracer records (a symbolic size compared is a guard)
    if dim == x.dim() - 1 or capturing():
        return False
    size, numel = x.element_size(), x.numel()
    if type(numel) is not int or numel * size < SOFTMAX_OP_MIN_BYTES:
        return False
    import torch

    n = x.shape[dim]
    return (
        n >= SOFTMAX_OP_MIN_DIM
        and n * math.prod(x.shape[dim + 1 :]) * size >= SOFTMAX_OP_MIN_SLICE_BYTES
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.is_contiguous()
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


def run_op(func: str, x: Any, axes: tuple[int, ...], keepdims: bool, mode: str | None) -> Any:
    """``torch.ops.xpsoftmax.<func>`` on ``x``, or its kernel where ``mode``
    (:func:`eager_mode`) says so."""
    ops = torch_ops()
    if mode == "plain":
        return ops.kernel(func, x, axes, keepdims)
    if mode == "grad":
        return ops.kernel_with_grad(func, x, axes, keepdims)
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

    def prepare(self) -> tuple[Any, ...]:
        """Define the operators (and their decompositions) and import what a
        first call would: ``torch.export.load`` of a saved program needs the
        operators, and ``torch.compile`` must not trace a first call's
        imports (its fullgraph mode fails on them)."""
        import torch

        torch_ops()  # which imports ._torch_graph (the graph namespaces)
        self.import_namespace()
        empty = torch.empty(0)
        return empty, torch.nn.Parameter(empty)

    def ops(self, xp: Any) -> _core.Ops:
        if capturing():
            from . import _torch_graph

            return _torch_graph.graph_ops(deploying())
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
        import torch

        ok = (torch.float32, torch.float64)
        softmax = torch.softmax
        # NumPy's own fast path for small plain arrays on the tensor's memory
        # (the core's arithmetic, bit for bit, in a handful of ufunc calls):
        # on a (4, 8) tensor the operator's kernel spends ~30 us in the
        # general core, this ~5 us
        ops = torch_ops()
        small, with_grad, apply = ops.small_kernel, ops.kernel_with_grad, ops._apply
        window = ops.NATIVE_WINDOW
        op_serves = softmax_op_serves

        def fast(func: str, x: Any, axis: int) -> Any:
            if x.dtype not in ok:
                return NotImplemented
            nd, n = x.ndim, x.numel()
            # a size that is not an int is a tracer's (symbolic, or under
            # jit.trace a tensor): not compared, the routes below hold for any
            if nd == 0 or not -nd <= axis < nd or (type(n) is int and n == 0):
                return NotImplemented
            if func == "softmax" and not op_serves(x, axis % nd):
                return softmax(x, axis)
            if not x.is_cpu:  # (not x.device: it builds a device object, 0.4 us)
                return NotImplemented
            mode = eager_mode(x)
            if mode == "plain":
                out = small(func, x, axis % nd)
                if out is not NotImplemented:
                    return out
            elif mode == "grad":
                # log_softmax from its checked kernel's window on (at least
                # 8 n bytes) may be torch's own node (see kernel_with_grad);
                # below it, the autograd.Function at once
                if func == "log_softmax" and 8 * n >= window["log_softmax"][0]:
                    return with_grad(func, x, (axis % nd,), False)
                return apply(func, x, (axis % nd,), False)
            elif func_transform_gap() is not None or onnx_exporting():
                return NotImplemented
            return run_op(func, x, (axis % nd,), False, mode)

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
        if onnx_exporting():
            return "torch.onnx has no translation of the operators (the portable code has one)"
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
            return run_op(call.func, call.x, call.axes, call.keepdims, eager_mode(call.x))
        return super().run_auto(call, xp)

    # -- the losses: torch's own as impl="native" (see ._torch_losses) -----------------
    def cross_entropy_fast_path(self, t: type) -> Any:
        """:func:`._torch_losses.index_fast_path` for plain tensors, else None."""
        import torch

        if t is not torch.Tensor:
            return None
        from . import _torch_losses

        return _torch_losses.index_fast_path()

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
