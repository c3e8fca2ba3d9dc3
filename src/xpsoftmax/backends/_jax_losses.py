"""The losses on JAX: the portable code, jitted once per static arguments.

Eager JAX compiles every operation on first use per shape and dtype (about 50
for a cross-entropy: seconds); one jitted function compiles them as one
program, as the softmax family's ``_compiled`` does.  Inside the caller's own
transformation (a tracer among the arrays) the code is traced through.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from .._losses import LossCall, run_loss_core

_ARRAYS = ("x", "target", "mask", "weight", "pos_weight")


@functools.lru_cache(maxsize=256)
def _compiled(static: tuple[tuple[str, Any], ...]) -> Any:
    import jax
    import jax.numpy as jnp

    from .jax import JaxOps

    def fn(x: Any, target: Any, mask: Any, weight: Any, pos_weight: Any) -> Any:
        call = LossCall(x=x, target=target, mask=mask, weight=weight, pos_weight=pos_weight,
                        compute_dtype=x.dtype, result_dtype=x.dtype, **dict(static))  # fmt: skip
        return run_loss_core(call, JaxOps(jnp))

    return jax.jit(fn)


def run_portable(call: LossCall, ops: Any) -> Any:
    import jax

    arrays = [getattr(call, name) for name in _ARRAYS]
    if any(isinstance(a, jax.core.Tracer) for a in arrays):
        return run_loss_core(call, ops)
    static = tuple(
        (f.name, getattr(call, f.name))
        for f in dataclasses.fields(call)
        if f.name not in _ARRAYS and f.name not in ("compute_dtype", "result_dtype")
    )
    return _compiled(static)(*arrays)
