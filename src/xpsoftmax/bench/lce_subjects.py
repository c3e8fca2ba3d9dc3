"""The fused linear cross-entropy bench's subjects: one forward + backward each.

Per backend, a dict ``label -> call without arguments`` on inputs made once
(:func:`subjects`): xpsoftmax's fused function, the unfused ``x @ W.T``
then the framework's cross-entropy, and on torch ``F.linear_cross_entropy``
with its default options and with a hand-tuned ``batch_chunk_size``.  The
logits are ``N(0, ~1.1)``: ``x`` standard normal, ``W`` normal of scale 0.05.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .lce_cases import TORCH_DEFAULT, TORCH_TUNED, TUNED_ROWS, UNFUSED, XPS, LceCase

BACKENDS = ("torch", "numpy", "jax")


def subjects(backend: str, case: LceCase, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """``label -> call`` of ``backend`` on the case's inputs (``names``: only those)."""
    build = {"torch": _torch, "numpy": _numpy, "jax": _jax}[backend]
    out = build(case)
    keep = [k for k in out if k not in case.skip and (names is None or k in names)]
    return {k: out[k] for k in keep}


def _torch(case: LceCase) -> dict[str, Callable[[], Any]]:
    import torch
    import torch.nn.functional as F
    from torch.nn import LinearCrossEntropyOptions

    import xpsoftmax as xs

    g = torch.Generator().manual_seed(0)
    x = torch.randn(case.n, case.d, generator=g).requires_grad_()
    w = torch.randn(case.v, case.d, generator=g).mul_(0.05).requires_grad_()
    y = torch.randint(0, case.v, (case.n,), generator=g)

    def clear() -> None:
        x.grad = w.grad = None

    def step(loss: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            clear()  # the previous call's gradients go first
            loss().backward()
            return x.grad, w.grad

        run.clear = clear  # type: ignore[attr-defined]
        return run

    default = LinearCrossEntropyOptions()
    tuned = LinearCrossEntropyOptions(batch_chunk_size=TUNED_ROWS)
    return {
        XPS: step(lambda: xs.linear_cross_entropy(x, w, y)),
        UNFUSED: step(lambda: F.cross_entropy(x @ w.T, y)),
        TORCH_DEFAULT: step(lambda: F.linear_cross_entropy(x, w, y, options=default)),
        TORCH_TUNED: step(lambda: F.linear_cross_entropy(x, w, y, options=tuned)),
    }


def _numpy(case: LceCase) -> dict[str, Callable[[], Any]]:
    import numpy as np

    import xpsoftmax as xs

    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.n, case.d), dtype=np.float32)
    w = rng.standard_normal((case.v, case.d), dtype=np.float32)
    w *= np.float32(0.05)
    y = rng.integers(0, case.v, case.n)
    rows = np.arange(case.n)

    def unfused() -> Any:
        # what a NumPy user writes: the logits, their softmax in place, the
        # two products of the backward
        z = x @ w.T
        m = z.max(axis=1, keepdims=True)
        z -= m
        zy = z[rows, y]
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - zy)
        z /= s * case.n
        z[rows, y] -= 1.0 / case.n
        return loss, z @ w, z.T @ x

    return {XPS: lambda: xs.linear_cross_entropy_grad(x, w, y), UNFUSED: unfused}


def _jax(case: LceCase) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import xpsoftmax as xs

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((case.n, case.d), dtype=np.float32))
    w = jnp.asarray(rng.standard_normal((case.v, case.d), dtype=np.float32) * np.float32(0.05))
    y = jnp.asarray(rng.integers(0, case.v, case.n))

    def unfused_loss(x: Any, w: Any) -> Any:
        z = x @ w.T
        lse = jax.nn.logsumexp(z, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(z, y[:, None], axis=1)[:, 0])

    def fused_loss(x: Any, w: Any) -> Any:
        return xs.linear_cross_entropy(x, w, y)

    out = {}
    for label, f in ((XPS, fused_loss), (UNFUSED, unfused_loss)):
        vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
        out[label] = _jax_call(vg, x, w)
    return out


def _jax_call(vg: Any, x: Any, w: Any) -> Callable[[], Any]:
    import jax

    def run() -> Any:
        return jax.block_until_ready(vg(x, w))

    run.lowered = lambda: vg.lower(x, w)  # type: ignore[attr-defined]
    return run
