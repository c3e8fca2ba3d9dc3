"""torch's own losses as ``impl="native"``: ``F.cross_entropy``,
``F.binary_cross_entropy_with_logits`` and ``F.logsigmoid``.

None is as accurate as the portable code (no log1p form: a confident
prediction's loss is 0), so "auto" never takes them; they serve
``impl="native"`` for comparison, with torch's answers.
"""

from __future__ import annotations

from typing import Any

from .._losses import LossCall


def native_gap(call: LossCall) -> str | None:
    if call.mask is not None:
        return f"torch's {call.func} takes no where= mask"
    return None


def run_native(call: LossCall) -> Any:
    import torch
    import torch.nn.functional as F

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
