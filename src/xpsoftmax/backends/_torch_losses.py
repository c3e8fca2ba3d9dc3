"""The losses on torch tensors (imported by the torch adapter once torch is in use).

* ``impl="native"``: torch's own ``F.cross_entropy``,
  ``F.binary_cross_entropy_with_logits`` and ``F.logsigmoid``.  None is as
  accurate as the portable code (no log1p form: a confident prediction's
  loss is 0), so "auto" never takes them; they serve comparisons, with
  torch's answers.
* ``impl="auto"``: cross-entropy with class indices on eager CPU tensors
  through torch's own fused kernels, checked (:func:`fast_cross_entropy`);
  everything else is the portable code.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .._losses import LossCall


def native_gap(call: LossCall) -> str | None:
    if call.mask is not None:
        return f"torch's {call.func} takes no where= mask"
    return None


def run_native(call: LossCall) -> Any:
    if call.func == "log_sigmoid":
        return F.logsigmoid(call.x)
    target: Any = call.target
    if call.func == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(
            call.x, target, weight=call.weight, pos_weight=call.pos_weight,
            reduction=call.reduction,
        )  # fmt: skip
    x = call.x if call.x.dim() == 1 else torch.movedim(call.x, call.axis, 1)
    if call.kind == "index":
        target = target.long()
    elif x.dim() > 1:
        target = torch.movedim(target, call.axis, 1)
    return F.cross_entropy(
        x, target, weight=call.weight,
        ignore_index=-100 if call.ignore_index is None else call.ignore_index,
        reduction=call.reduction, label_smoothing=call.label_smoothing,
    )  # fmt: skip


# -- "auto": class indices on eager CPU tensors, through torch's own kernels ----------------
def fast_gap(call: LossCall) -> str | None:
    """None if :func:`fast_cross_entropy` serves ``call`` (else why not): class
    indices, eager autograd on a plain CPU float32/float64 tensor.  Under
    ``torch.compile`` (Inductor fuses the portable code), ``torch.func``
    transforms, tracing and dispatch modes the portable code runs."""
    C = torch._C
    x = call.x
    if call.func != "cross_entropy" or call.kind != "index":
        return "class indices only"
    if type(x) is not torch.Tensor or x.device.type != "cpu" or x.numel() == 0:
        return "a plain, non-empty CPU tensor only"
    if x.dtype not in (torch.float32, torch.float64):
        return "float32/float64 only"
    if (
        torch.compiler.is_compiling()
        or C._are_functorch_transforms_active()
        or C._len_torch_dispatch_stack() != 0
        or C._is_torch_function_mode_enabled()
        or C._get_tracing_state() is not None
    ):
        return "a transformation or mode that must see the portable code"
    return None


def fast_cross_entropy(call: LossCall) -> Any:
    """Cross-entropy with class indices from torch's fused log_softmax, checked.

    torch's ``log_softmax`` kernel is accurate where the log-normaliser ``L``
    is at least 1 (see ``_torch_ops._checked_native``); the rows below (a
    confident prediction) and those holding NaN or inf are recomputed in the
    log1p form, so every ``-log p_j`` is the portable code's within rounding.
    The backward is torch's ``_log_softmax_backward_data`` of ``-a`` (the entry
    weights: target, smoothing, class weights), which gives ``A p - a``; in
    the rows whose target mass sits at the maximum ``k`` the entry at ``k`` is
    then replaced by ``(A - a_k) + A expm1(-L)`` (``p_k - 1`` would cancel).
    """
    x = call.x
    moved = x.dim() > 1 and call.axis != x.dim() - 1
    x2 = torch.movedim(x, call.axis, -1) if moved else x
    shape = x2.shape[:-1]
    x2 = x2.reshape(-1, x2.shape[-1]) if x2.dim() != 2 else x2
    target: Any = call.target
    t = target.reshape(-1).to(torch.int64)
    live = None
    if call.ignore_index is not None:
        live = t != call.ignore_index
    if call.mask is not None:
        m = call.mask.reshape(-1)
        live = m if live is None else live & m
    out = _CrossEntropy.apply(
        x2.contiguous(), t, live, call.weight, call.label_smoothing, call.reduction
    )
    return out.reshape(shape) if call.reduction == "none" else out


def _accurate_log_softmax(x2: Any) -> tuple[Any, Any]:
    """(log_softmax over the rows of x2, each row's first maximum's index)."""
    from . import _torch_ops as ops

    y = torch.ops.aten._log_softmax(x2, 1, False)
    top, k = y.max(1)  # y at the maximum is -L
    redo = ~(top <= -ops.NATIVE_MIN_NORM)  # L below 1, or NaN
    n = int(redo.sum())
    if n > ops.NATIVE_MAX_REDO * redo.numel():
        y = ops._numpy_kernel("log_softmax", x2, (1,), False)
    elif n:
        step = max(1, ops.NATIVE_REDO_BYTES // (x2.shape[1] * x2.element_size()))
        for rows in redo.nonzero().squeeze(1).split(step):
            y.index_copy_(0, rows, ops._log1p_rows("log_softmax", x2.index_select(0, rows)))
    return y, k


def _entry_parts(y: Any, t: Any, live: Any, w: Any, eps: float) -> dict[str, Any]:
    """The entry weights of each row (see :mod:`xpsoftmax._losses`) in pieces:
    the target's ``(1 - eps) w_t`` and, with smoothing, ``eps w_j / C'`` over the
    classes with a finite logit."""
    safe = t if live is None else torch.where(live, t, 0)
    w_t = torch.ones(t.shape, dtype=y.dtype) if w is None else w[safe]
    if live is not None:
        w_t = w_t * live
    parts: dict[str, Any] = {"safe": safe, "w_t": w_t, "target": (1.0 - eps) * w_t}
    if eps > 0.0:
        finite = y != -math.inf
        count = finite.sum(1, dtype=y.dtype).clamp_(min=1.0)
        share = eps / count
        if live is not None:
            share = share * live
        parts.update(finite=finite, share=share)
    return parts


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x2: Any, t: Any, live: Any, w: Any, eps: float, reduction: str) -> Any:
        y, k = _accurate_log_softmax(x2)
        p = _entry_parts(y, t, live, w, eps)
        loss = -p["target"] * y.gather(1, p["safe"][:, None])[:, 0]
        if eps > 0.0:
            neg = torch.where(p["finite"], y, 0.0).neg_()
            smooth = (neg * w).sum(1) if w is not None else neg.sum(1)
            loss = loss + p["share"] * smooth
        if live is not None:
            loss = torch.where(live, loss, 0.0)  # NaN logits of an ignored sample
        ctx.save_for_backward(x2, y, k, t, live, w)
        ctx.eps, ctx.reduction = eps, reduction
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        den = p["w_t"].sum()
        ctx.den = den
        return torch.where(den != 0, total / torch.where(den != 0, den, 1.0), 0.0)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        x2, y, k, t, live, w = ctx.saved_tensors
        eps, reduction = ctx.eps, ctx.reduction
        if reduction == "mean":
            den = ctx.den
            grad = torch.where(den != 0, grad / torch.where(den != 0, den, 1.0), 0.0)
        g = grad.expand(y.shape[0]) if grad.dim() == 0 else grad
        p = _entry_parts(y, t, live, w, eps)
        if torch.is_grad_enabled():  # create_graph: the portable code's differentiable form
            return _differentiable_grad(x2, g, p, w, eps), None, None, None, None, None
        grad_y = torch.zeros_like(y)
        grad_y.scatter_(1, p["safe"][:, None], (-(p["target"] * g))[:, None])
        if eps > 0.0:
            smooth = (p["share"] * g)[:, None] * p["finite"]
            grad_y.sub_(smooth * w if w is not None else smooth)
        gx = torch.ops.aten._log_softmax_backward_data(grad_y, y, 1, y.dtype)
        _pivot_fix(gx, y, k, g, p, w, eps)
        return gx, None, None, None, None, None


def _pivot_fix(gx: Any, y: Any, k: Any, g: Any, p: dict[str, Any], w: Any, eps: float) -> None:
    """In the rows whose target mass sits at the maximum (``2 a_k > A``), the
    derivative at ``k`` as ``(A - a_k) + A expm1(-L)``, like-signed terms."""
    at_k = p["safe"] == k
    a_k = torch.where(at_k, p["target"], 0.0)
    rest = torch.where(at_k, 0.0, p["target"])  # sum_{j != k} a_j, the target part
    total = p["target"]
    if eps > 0.0:
        w_k = 1.0 if w is None else w[k]
        w_all = p["finite"].sum(1, dtype=y.dtype) if w is None else (p["finite"] * w).sum(1)
        a_k = a_k + p["share"] * w_k
        rest = rest + p["share"] * (w_all - w_k)
        total = total + p["share"] * w_all
    rows = (a_k + a_k > total).nonzero().squeeze(1)
    if rows.numel() == 0:
        return
    kk = k[rows]
    y_k = y[rows, kk]  # -L
    gx[rows, kk] = g[rows] * (rest[rows] + total[rows] * torch.expm1(y_k))


def _differentiable_grad(x2: Any, g: Any, p: dict[str, Any], w: Any, eps: float) -> Any:
    """``g (A softmax(x) - a)`` in differentiable ops of ``x2`` (double backward)."""
    a = torch.zeros_like(x2).scatter(1, p["safe"][:, None], p["target"][:, None])
    if eps > 0.0:
        s = p["share"][:, None] * p["finite"]
        a = a + (s * w if w is not None else s)
    total = a.sum(1, keepdim=True)
    return g[:, None] * (total * torch.softmax(x2, 1) - a)
