"""The losses on JAX: the portable code, jitted once per static arguments.

Eager JAX compiles every operation on first use per shape and dtype (about 50
for a cross-entropy: seconds, and again under an eager ``jax.grad``); one
jitted function compiles them as one program.  Inside the caller's own
``jit``, ``grad``, ``vmap`` or ``jax.export`` the inner jit is traced like any
other function (and inlined by an outer jit).
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


def run_portable(call: LossCall) -> Any:
    arrays = [getattr(call, name) for name in _ARRAYS]
    static = tuple(
        (f.name, getattr(call, f.name))
        for f in dataclasses.fields(call)
        if f.name not in _ARRAYS and f.name not in ("compute_dtype", "result_dtype")
    )
    return _compiled(static)(*arrays)
