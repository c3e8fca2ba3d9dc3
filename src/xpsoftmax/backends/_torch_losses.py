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


# -- the common call on a small tensor, ahead of the general checks -------------------------
REDUCTIONS = ("mean", "sum", "none")


def index_fast_path() -> Any:
    """``fast(x, target, axis, ignore_index, reduction)`` for
    :func:`xpsoftmax.cross_entropy`'s common call (class indices, no
    weight, smoothing, mask or dtype, impl "auto"), ahead of its general
    checks, or NotImplemented where the call must take the general route.

    It serves float32/float64 logits of shape (N, C) with the classes last,
    below ``_torch_ops.SMALL_TORCH_BYTES``, an int64 target of shape (N,),
    both plain eager CPU tensors, an ``ignore_index`` outside [0, C) (so no
    valid class equals it): there the general route's checks pass exactly
    when every target is in [0, C), and the gather at the targets raises
    for any other (``ignore_index`` included), which then takes the general
    route and its ignoring or its error message.  The log-probabilities are
    :func:`._torch_ops.log1p_small`'s (the log1p form in eight torch ops),
    the loss ``-log p_t`` reduced; with autograd an ``autograd.Function``
    whose backward is ``g (p - onehot)`` with ``p_t - 1`` as ``expm1(log
    p_t)`` (the general route's pivot: accurate for a confident prediction).

    Measured here (1 torch thread, float32 (64, 10) of normal(0, 3),
    forward and backward interleaved with ``F.cross_entropy``'s, medians,
    2026-12-05): 72 us against 39 (1.83x), where the general route (its
    argument checks, the index range check through NumPy, the NumPy path, a
    Python backward of ~15 torch ops) took 362 us (9.5x).  What is left is
    the log1p form's eight small torch ops (~18 us between torch's calls;
    torch's fused log_softmax and nll_loss are two) and the
    ``autograd.Function``'s Python forward and backward (~10 us).
    """
    from . import _torch_ops as ops
    from .torch import eager_mode

    Tensor, long, floats = torch.Tensor, torch.int64, (torch.float32, torch.float64)

    def fast(x: Any, target: Any, axis: int, ignore_index: int, reduction: str) -> Any:
        if (
            type(target) is not Tensor
            or target.dtype is not long
            or x.dtype not in floats
            or x.dim() != 2
            or target.dim() != 1
            or (axis != 1 and axis != -1)
            or not (x.is_cpu and target.is_cpu)
        ):
            return NotImplemented
        n, c = x.shape
        if (
            target.shape[0] != n
            or n == 0
            or c == 0
            or 0 <= ignore_index < c
            or n * c * x.element_size() >= ops.SMALL_TORCH_BYTES
        ):
            return NotImplemented
        # a tracer, a torch.func transform, a mode or a subclass: the general route
        mode = eager_mode(x)
        try:
            if mode == "grad":
                return _apply_small(x, target, reduction)
            if mode == "plain":
                return _reduced(_log_probs_at(x, target)[1], reduction)
        except RuntimeError:  # an index outside [0, C): the general route names it
            pass
        return NotImplemented

    return fast


def _log_probs_at(x: Any, target: Any) -> tuple[Any, Any]:
    """(log_softmax of x's rows in the log1p form, its entries at the targets:
    (N, 1)); the gather raises RuntimeError for an index outside [0, C)."""
    from ._torch_ops import log1p_small

    y = log1p_small("log_softmax", x, 1)
    return y, y.gather(1, target[:, None])


def _reduced(y_t: Any, reduction: str) -> Any:
    """The loss ``-log p_t`` of each sample (``y_t``: (N, 1)), reduced."""
    if reduction == "none":
        return torch.neg(y_t.view(-1))
    return (y_t.sum() if reduction == "sum" else y_t.mean()).neg_()


class _SmallCrossEntropy(torch.autograd.Function):
    """Cross-entropy with class indices of (N, C) logits (see :func:`index_fast_path`)."""

    @staticmethod
    def forward(ctx: Any, x: Any, target: Any, reduction: str) -> Any:
        y, y_t = _log_probs_at(x, target)
        ctx.save_for_backward(x, target)
        ctx.y, ctx.y_t, ctx.reduction = y, y_t, reduction
        return _reduced(y_t, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        y, y_t = ctx.y, ctx.y_t
        if ctx.reduction == "mean":
            grad = grad / y.shape[0]
        if torch.is_grad_enabled():  # create_graph: the portable code's differentiable form
            x, target = ctx.saved_tensors
            g = grad.expand(y.shape[0]) if grad.dim() == 0 else grad
            parts = {"safe": target, "target": torch.ones_like(g)}
            return _differentiable_grad(x, g, parts, None, 0.0), None, None
        # g (p - onehot), with p_t - 1 = expm1(log p_t): no cancellation
        # where p_t is near 1
        _, target = ctx.saved_tensors
        gx = y.exp().scatter_(1, target[:, None], y_t.expm1())
        return gx.mul_(grad[:, None] if grad.dim() else grad), None, None


#: ``Function.apply`` without its Python prelude (see ``_torch_ops._apply``)
_apply_small = super(torch.autograd.Function, _SmallCrossEntropy).apply


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
    weights: target, smoothing, class weights), which gives ``A p - a``; where
    the target is the maximum and holds most of the mass its entry is then
    replaced by ``(A - a_t) + A expm1(-L)`` (:func:`_pivot_fix`).
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


#: the rows to recompute are gathered in pieces of at most this many bytes: a
#: few of these are the temporaries (the checked log_softmax operator's 1 MiB
#: pieces cost 9 rounds of small ops for 72 rows of 32768 classes, most of the
#: forward's time on 2 busy cores)
REDO_BYTES = 16 << 20


def _entry_parts(y: Any, t: Any, live: Any, w: Any, eps: float) -> dict[str, Any]:
    """The entry weights of each row (see :mod:`xpsoftmax._losses`) in pieces:
    the target's ``(1 - eps) w_t`` and, with smoothing, ``eps w_j / C'`` over the
    classes with a finite logit (``total`` is their sum ``A``, ``a_t`` the
    target's entry)."""
    safe = t if live is None else torch.where(live, t, 0)
    w_t = torch.ones(t.shape, dtype=y.dtype) if w is None else w[safe]
    if live is not None:
        w_t = w_t * live
    target = (1.0 - eps) * w_t
    parts: dict[str, Any] = {"safe": safe, "w_t": w_t, "target": target}
    parts["a_t"] = parts["total"] = target
    if eps > 0.0:
        finite = y != -math.inf
        count = finite.sum(1, dtype=y.dtype).clamp_(min=1.0)
        share = eps / count
        if live is not None:
            share = share * live
        w_all = count if w is None else (finite * w).sum(1)
        parts.update(finite=finite, share=share, w_all=w_all, a_t=target + share * w_t,
                     total=target + share * w_all)  # fmt: skip
    return parts


def _neg_logp(y: Any, p: dict[str, Any], w: Any, eps: float) -> tuple[Any, Any]:
    """(-log p_t, and with smoothing sum_j w_j (-log p_j) over the finite classes)."""
    y_t = y.gather(1, p["safe"][:, None])[:, 0]
    if eps == 0.0:
        return -y_t, None
    neg = torch.where(p["finite"], y, 0.0).neg_()
    return -y_t, ((neg * w).sum(1) if w is not None else neg.sum(1))


def _log_softmax_and_terms(
    x2: Any, t: Any, live: Any, w: Any, eps: float
) -> tuple[Any, dict[str, Any], Any, Any]:
    """(log_softmax of the rows, the entry weights' parts, -log p_t, the smoothing sums).

    torch's kernel rounds ``L`` to a few eps absolute, so each ``-log p_j = L
    - z_j`` of at least 1 is good to a few eps relative; the rows where the
    target's (or the smoothing's mean) term is below 1 are recomputed in the
    log1p form (:func:`._torch_ops._log1p_rows`).  That is read off the
    loss's own terms: no pass over the logits beyond torch's.  A row holding
    NaN or ``+inf``, or only ``-inf``, is NaN in torch's result, as in the
    core's.  Small inputs go to the eager kernels (:func:`._torch_ops.eager_kernel`:
    torch ops or NumPy's small-call path), which are the log1p form.
    """
    from . import _torch_ops as ops

    if x2.numel() * x2.element_size() < ops.NATIVE_WINDOW["log_softmax"][0]:
        y = ops.eager_kernel("log_softmax", x2.detach(), (1,), False)
        p = _entry_parts(y, t, live, w, eps)
        return (y, p, *_neg_logp(y, p, w, eps))
    y = torch.ops.aten._log_softmax(x2, 1, False)
    p = _entry_parts(y, t, live, w, eps)
    nt, smooth = _neg_logp(y, p, w, eps)
    redo = nt < 1.0  # (a NaN row is left as it is)
    if smooth is not None:
        redo |= smooth < p["w_all"]  # the mean term below 1
    if live is not None:
        redo &= live
    n = int(redo.sum())
    if n > ops.NATIVE_MAX_REDO * redo.numel():
        y = ops._numpy_kernel("log_softmax", x2, (1,), False)
        p = _entry_parts(y, t, live, w, eps)
        return (y, p, *_neg_logp(y, p, w, eps))
    if n:
        step = max(1, REDO_BYTES // (x2.shape[1] * x2.element_size()))
        for rows in redo.nonzero().squeeze(1).split(step):
            y.index_copy_(0, rows, ops._log1p_rows("log_softmax", x2.index_select(0, rows)))
        nt, smooth = _neg_logp(y, p, w, eps)
    return y, p, nt, smooth


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x2: Any, t: Any, live: Any, w: Any, eps: float, reduction: str) -> Any:
        y, p, nt, smooth = _log_softmax_and_terms(x2, t, live, w, eps)
        loss = p["target"] * nt
        if smooth is not None:
            loss = loss + p["share"] * smooth
        if live is not None:
            loss = torch.where(live, loss, 0.0)  # NaN logits of an ignored sample
        ctx.save_for_backward(x2, y, t, live, w)
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
        x2, y, t, live, w = ctx.saved_tensors
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
        _pivot_fix(gx, y, g, p)
        return gx, None, None, None, None, None


#: log(1/2): where p_t is above 1/2 (and the target holds most of the mass)
#: the derivative at the target is taken in the pivot form
_LOG_HALF = -math.log(2.0)


def _pivot_fix(gx: Any, y: Any, g: Any, p: dict[str, Any]) -> None:
    """Where ``p_t > 1/2`` and the target holds most of the mass (``2 a_t >
    A``), the derivative at the target as ``(A - a_t) + A expm1(log p_t)``:
    like-signed terms, where ``A p_t - a_t`` cancels for a confident
    prediction (``log p_t`` is accurate there: such a row's ``-log p_t`` is
    below 1, so it was recomputed in the log1p form)."""
    safe, a_t, total = p["safe"], p["a_t"], p["total"]
    y_t = y.gather(1, safe[:, None])[:, 0]
    rows = ((y_t > _LOG_HALF) & (a_t + a_t > total)).nonzero().squeeze(1)
    if rows.numel() == 0:
        return
    kk = safe[rows]
    gx[rows, kk] = g[rows] * ((total - a_t)[rows] + total[rows] * torch.expm1(y_t[rows]))


def _differentiable_grad(x2: Any, g: Any, p: dict[str, Any], w: Any, eps: float) -> Any:
    """``g (A softmax(x) - a)`` in differentiable ops of ``x2`` (double backward)."""
    a = torch.zeros_like(x2).scatter(1, p["safe"][:, None], p["target"][:, None])
    if eps > 0.0:
        s = p["share"][:, None] * p["finite"]
        a = a + (s * w if w is not None else s)
    total = a.sum(1, keepdim=True)
    return g[:, None] * (total * torch.softmax(x2, 1) - a)
