"""linear_cross_entropy on torch: an operator with an analytic backward, buffers reused.

``torch.ops.xpsoftmax.linear_cross_entropy`` runs the portable chunked
algorithm (:mod:`xpsoftmax._linear_ce`) with in-place torch hooks: one
preallocated chunk buffer for the logits, their exponentials and their
gradient (``torch.mm(out=)``/``addmm(out=)``, ``sub_``, ``exp_``, ``mul_``),
the weight gradient accumulated with ``addmm_``.  The chunking is decided
inside the kernel from the concrete sizes, so ``torch.compile(dynamic=True)``
sees one operator whatever the sizes, and no chunk count guards a symbolic
size.

Autograd: for a scalar reduction ("mean", "sum") with a gradient asked for,
the forward computes the loss and the gradients in the same pass (row
chunks: three matrix products, as the unfused forward and backward; the
normaliser of "mean" is known before any logit), and the backward scales
them by the loss's cotangent, in place in eager mode (then the gradient
tensors go to ``.grad`` without a copy); a second backward through a
retained graph recomputes them.  For ``reduction="none"`` the backward
recomputes each chunk's logits (the operator
``torch.ops.xpsoftmax.linear_cross_entropy_backward``).
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch
from torch import Tensor

from .. import _linear_ce as lce
from .._linear_ce_api import PORTABLE, Route
from .._linear_ce_args import LceCall, wide_rows

#: the statistics rows an operator's ``stats`` output holds, in order
_STAT_NAMES = ("m", "t", "zy", "s", "h", "tw")


class TorchWriter(lce.RowsWriter):
    def __init__(self, out: Any) -> None:
        self.out = out

    def set(self, start: int, stop: int, value: Any) -> None:
        self.out[start:stop].copy_(value)

    def result(self) -> Any:
        return self.out


class TorchOps(lce.ChunkOps):
    """In-place torch hooks; one reused buffer for the chunk of logits."""

    def __init__(self, xp: Any) -> None:
        super().__init__(xp)
        self._buf: Any = None

    def logits(self, x: Any, w: Any, b: Any) -> Any:
        size = x.shape[0] * w.shape[0]
        buf = self._buf
        if buf is None or buf.numel() < size:
            buf = self._buf = x.new_empty(max(size, 1))
        z = buf[:size].view(x.shape[0], w.shape[0])
        if b is None:
            return torch.mm(x, w.t(), out=z)
        return torch.addmm(b, x, w.t(), out=z)

    def matmul(self, a: Any, b: Any) -> Any:
        return torch.mm(a, b)

    def add_matmul(self, acc: Any, a: Any, b: Any) -> Any:
        return torch.mm(a, b) if acc is None else acc.addmm_(a, b)

    def add_tmatmul(self, acc: Any, a: Any, b: Any) -> Any:
        return self.add_matmul(acc, a.t(), b)

    def add_colsum(self, acc: Any, a: Any) -> Any:
        s = a.sum(0)
        return s if acc is None else acc.add_(s)

    def row_amax(self, z: Any) -> Any:
        return z.amax(dim=1)

    def row_max(self, z: Any) -> tuple[Any, Any]:
        m, k = z.max(dim=1)
        return m, k

    def sub_(self, z: Any, shift: Any) -> Any:
        return z.sub_(shift[:, None])

    def exp_(self, z: Any) -> Any:
        return z.exp_()

    def sum_except_(self, e: Any, cols: Any) -> Any:
        idx = cols[:, None]
        kept = e.gather(1, idx)
        e.scatter_(1, idx, 0.0)
        t = e.sum(1)
        e.scatter_(1, idx, kept)
        return t

    def take_cols(self, a: Any, cols: Any) -> Any:
        inside = (cols >= 0) & (cols < a.shape[1])
        safe = cols.clamp(0, a.shape[1] - 1)
        got = a.gather(1, safe[:, None]).squeeze(1)
        return got.masked_fill_(~inside, 0.0)

    def put_cols_(self, a: Any, cols: Any, values: Any) -> Any:
        inside = (cols >= 0) & (cols < a.shape[1])
        rows = inside.nonzero().squeeze(1)
        a[rows, cols[rows]] = values[rows]
        return a

    def scale_rows_(self, a: Any, s: Any) -> Any:
        return a.mul_(s[:, None])

    def sub_outer_(self, a: Any, u: Any, v: Any) -> Any:
        return a.addr_(u, v, alpha=-1)

    def weighted_row_sum(self, a: Any, w: Any, floor: float | None) -> Any:
        if floor is not None:
            # in place: the exp that follows turns the floor into 0, as -inf
            a.clamp_(min=floor)
        return a.sum(1) if w is None else torch.mv(a, w)

    def rows_writer(self, shape: tuple[int, ...], dtype: Any, like: Any) -> lce.RowsWriter:
        return TorchWriter(like.new_empty(shape, dtype=dtype))


# -- the operators -------------------------------------------------------------------------
def _plan(n: int, v: int, x: Any, by: str, size: int) -> lce.Plan:
    return lce.plan(n, v, x.element_size(), None if by == "auto" else (by, size))


def _problem(x: Any, w: Any, b: Any, target: Any, weight: Any, live: Any, eps: float) -> Any:
    finite = torch.isfinite(b) if eps and b is not None else None
    probs = target.is_floating_point()
    return lce.Problem(x, w, b, target, probs, weight, live, eps, finite, x.shape[0], w.shape[0],
                       wide_rows(xp, x))  # fmt: skip


def _check_range(p: lce.Problem, c: lce.Consts) -> None:
    if p.probs:
        return
    live = c.livef != 0
    bad = live & ((p.target < 0) | (p.target >= p.v))
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"target holds class index {int(p.target[i])} at sample {i}, outside [0, {p.v}) "
            f"(and not ignore_index); there are {p.v} classes (rows of linear_weight)"
        )


def _empty(x: Tensor) -> Tensor:
    """A fresh empty tensor: an operator's outputs may not alias each other."""
    return x.new_empty((0,))


def _or_empty(a: Tensor | None, x: Tensor) -> Tensor:
    return _empty(x) if a is None else a


def _pack(st: lce.Stats | None, x: Any) -> Any:
    if st is None:
        return x.new_empty((0, x.shape[0]))
    rows = [getattr(st, k) for k in _STAT_NAMES if getattr(st, k) is not None]
    return torch.stack(rows)


def _unpack(stats: Any, p: lce.Problem) -> lce.Stats | None:
    if stats.numel() == 0:
        return None
    present = ["m", "t", *(["h", "tw"] if p.probs else ["zy"])]
    if p.eps:
        present.append("s")
    rows = dict(zip([k for k in _STAT_NAMES if k in present], stats.unbind(0), strict=True))
    return lce.Stats(**rows)


def forward_kernel(
    x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
    live: Tensor | None, eps: float, reduction: str, by: str, size: int,
    grad_x: bool, grad_w: bool, grad_b: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """(loss, dx, dw, db, stats): the gradients where a scalar reduction
    asks for them (else empty), the vocabulary chunks' statistics where
    "none" will need them (else empty)."""
    p = _problem(x, w, b, target, weight, live, eps)
    ops = TorchOps(xp)
    c = lce.constants(p, ops)
    _check_range(p, c)
    pl = _plan(p.n, p.v, x, by, size)
    needs = lce.Needs(grad_x, grad_w, grad_b and b is not None)
    if needs.any and reduction != "none":
        g = lce.row_weights(c, reduction, 1.0, ops)
        losses, gr = lce.value_and_grad(p, c, g, pl, ops, needs)
        dx, dw, db = (_or_empty(a, x) for a in (gr.x, gr.w, gr.b))
        return lce.reduce(losses, c, reduction, x.dtype, ops), dx, dw, db, _empty(x)
    losses, st = lce.forward(p, c, pl, ops)
    # (k, N): k rows of statistics for the backward (0 where it recomputes
    # them, over row chunks); (0,) where no backward will come
    stats = _pack(st, x) if needs.any else _empty(x)
    return lce.reduce(losses, c, reduction, x.dtype, ops), _empty(x), _empty(x), _empty(x), stats


@torch.library.custom_op("xpsoftmax::linear_cross_entropy", mutates_args=())
def forward_op(
    x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
    live: Tensor | None, eps: float, reduction: str, by: str, size: int,
    grad_x: bool, grad_w: bool, grad_b: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """The fused loss as an operator (:func:`forward_kernel`)."""
    return forward_kernel(x, w, b, target, weight, live, eps, reduction, by, size,
                          grad_x, grad_w, grad_b)  # fmt: skip


@forward_op.register_fake
def _forward_fake(
    x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
    live: Tensor | None, eps: float, reduction: str, by: str, size: int,
    grad_x: bool, grad_w: bool, grad_b: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    n = x.shape[0]
    loss = x.new_empty((n,) if reduction == "none" else ())
    scalar = reduction != "none" and (grad_x or grad_w or (grad_b and b is not None))
    dx = x.new_empty(x.shape) if scalar and grad_x else _empty(x)
    dw = w.new_empty(w.shape) if scalar and grad_w else _empty(x)
    db = b.new_empty(b.shape) if scalar and grad_b and b is not None else _empty(x)
    # "none" keeps statistics only over vocabulary chunks: a count the kernel
    # decides from the concrete sizes, so the fake gives it an unbacked size
    stats = _empty(x)
    if reduction == "none" and (grad_x or grad_w or grad_b):
        ctx = torch.library.get_ctx()
        k = ctx.new_dynamic_size()
        stats = x.new_empty((k, n))
    return loss, dx, dw, db, stats


@torch.library.custom_op("xpsoftmax::linear_cross_entropy_backward", mutates_args=())
def backward_op(
    x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
    live: Tensor | None, stats: Tensor, grad_output: Tensor, eps: float, reduction: str,
    by: str, size: int, grad_x: bool, grad_w: bool, grad_b: bool,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """The gradients of sum(grad_output * loss), recomputing each chunk's logits."""
    p = _problem(x, w, b, target, weight, live, eps)
    ops = TorchOps(xp)
    c = lce.constants(p, ops)
    g = lce.row_weights(c, reduction, grad_output, ops)
    needs = lce.Needs(grad_x, grad_w, grad_b and b is not None)
    pl = _plan(p.n, p.v, x, by, size)
    gr = lce.backward(p, c, _unpack(stats, p), g, pl, ops, needs)
    return _or_empty(gr.x, x), _or_empty(gr.w, x), _or_empty(gr.b, x)


@backward_op.register_fake
def _backward_fake(
    x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
    live: Tensor | None, stats: Tensor, grad_output: Tensor, eps: float, reduction: str,
    by: str, size: int, grad_x: bool, grad_w: bool, grad_b: bool,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    return (
        x.new_empty(x.shape) if grad_x else _empty(x),
        w.new_empty(w.shape) if grad_w else _empty(x),
        b.new_empty(b.shape) if grad_b and b is not None else _empty(x),
    )


def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
    _, dx, dw, db, stats = output
    ctx.mark_non_differentiable(dx, dw, db, stats)
    _keep(ctx, inputs, output)


def _keep(ctx: Any, inputs: Any, output: Any) -> None:
    """What the backward needs: the inputs, the statistics, and the
    precomputed gradients as attributes (not saved tensors), so that the
    eager backward may scale them in place and hand them over."""
    x, w, b, target, weight, live, eps, reduction, by, size, gx, gw, gb = inputs
    _, dx, dw, db, stats = output
    ctx.save_for_backward(x, w, b, target, weight, live, stats)
    ctx.args = (eps, reduction, by, size)
    ctx.pre = (dx, dw, db) if reduction != "none" and (gx or gw or gb) else None


def backward(ctx: Any, g_loss: Any, *_: Any) -> Any:
    x, w, b, target, weight, live, stats = ctx.saved_tensors
    eps, reduction, by, size = ctx.args
    need = ctx.needs_input_grad
    pre, ctx.pre = ctx.pre, None  # a retained graph's second backward recomputes
    if pre is not None:
        eager = not torch.compiler.is_compiling()
        out: list[Any] = []
        for a, wanted in zip(pre, (need[0], need[1], need[2]), strict=True):
            if not wanted or a.numel() == 0:
                out.append(None)
            else:
                out.append(a.mul_(g_loss) if eager else a * g_loss)
        del pre
        return (*out, *([None] * 10))
    dx, dw, db = backward_op(x, w, b, target, weight, live, stats, g_loss, eps, reduction,
                             by, size, need[0], need[1], need[2] and b is not None)  # fmt: skip
    grads = [
        a if wanted and a.numel() else None
        for a, wanted in zip((dx, dw, db), need[:3], strict=True)
    ]
    return (*grads, *([None] * 10))


torch.library.register_autograd(
    "xpsoftmax::linear_cross_entropy", backward, setup_context=setup_context
)


class EagerFunction(torch.autograd.Function):
    """The kernel and the same backward as a plain autograd Function, for
    plain eager calls: autograd hands a gradient this returns to ``.grad``
    as it is, where it copies one that an operator's autograd returns
    (measured: a 64 MiB weight gradient peaked at 128 MiB through the
    operator, 64 MiB through this)."""

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> Any:
        output = forward_kernel(*inputs)
        _keep(ctx, inputs, output)
        return output[0]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        if torch.is_grad_enabled():  # backward(create_graph=True)
            # the chunked gradients are computed, not recorded: a second
            # derivative through them would silently be missing
            raise RuntimeError(
                "linear_cross_entropy: higher-order gradients (create_graph=True) are not "
                "supported by the fused operator; use impl='portable' (differentiated by "
                "autograd, holding every chunk) for them"
            )
        return backward(ctx, *grads)


def _plain_eager(x: Tensor) -> bool:
    """No compile, export, jit trace, functorch transform, dispatch or
    function mode, and a plain tensor: what the Function serves."""
    C = torch._C
    return (
        type(x) is torch.Tensor
        and not torch.compiler.is_compiling()
        and not C._are_functorch_transforms_active()
        and C._len_torch_dispatch_stack() == 0
        and not C._is_torch_function_mode_enabled()
        and C._get_tracing_state() is None
    )


class TorchRoute(Route):
    """The operator where compile and export must see it, its kernel
    through :class:`EagerFunction` in plain eager calls, and the array-API
    route where a gradient must reach ``target`` or ``weight`` or under a
    ``torch.func`` transform (the operator's autograd does not compose with
    ``grad``, and it has no ``vmap`` rule)."""

    def ops(self, call: LceCall) -> lce.ChunkOps:
        return TorchOps(call.xp)

    def loss(self, call: LceCall) -> Any:
        grad_on = torch.is_grad_enabled()
        # torch.func transforms (vmap too: the operator has no batching rule)
        if torch._C._are_functorch_transforms_active() or (
            grad_on
            and any(a is not None and a.requires_grad for a in (call.target, call.class_weight))
        ):
            # the array-API operations, which autograd and torch.func
            # differentiate (the in-place hooks would overwrite what they save)
            return PORTABLE.loss(call)
        by, size = call.chunk if call.chunk is not None else ("auto", 0)
        b = call.b
        gx = grad_on and call.x.requires_grad
        gw = grad_on and call.w.requires_grad
        gb = grad_on and b is not None and b.requires_grad
        args = (call.x, call.w, b, call.target, call.class_weight, call.live, call.eps,
                call.reduction, by, size, gx, gw, gb)  # fmt: skip
        if _plain_eager(call.x):
            return EagerFunction.apply(*args)
        return forward_op(*args)[0]

    def value_and_grad(
        self, call: LceCall, grad_output: Any, needs: lce.Needs
    ) -> tuple[Any, lce.Grads]:
        with torch.no_grad():
            return super().value_and_grad(call, grad_output, needs)
