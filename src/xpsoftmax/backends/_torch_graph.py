"""torch graphs: the portable code as a tracer records it, and the operators'
decompositions.

Where a tracer records a graph (``torch.compile``, ``torch.export``,
``torch.jit.trace``, either ONNX exporter), the graph must hold for inputs of
any size, so the torch adapter takes routes that do not depend on one (see
:mod:`.torch`); the portable code then runs on :data:`GRAPH_XP`, the standard
namespace whose ``squeeze`` does not test sizes (array-api-compat's checks
each squeezed length, which ``jit.trace`` reports as a TracerWarning and a
symbolic length turns into a guard).

A graph that leaves torch (``torch.export``, ONNX) is evaluated by runtimes
whose ``log1p`` and ``expm1`` are not known to be accurate: ONNX has neither
operator, and torch.onnx translates ``log1p(t)`` as ``log(1 + t)``, which
loses the log1p form entirely (log_softmax([0, -30]) gives 0 at the top entry,
not -9.4e-14).  There the portable code runs on :data:`DEPLOY_XP`, whose
:func:`log1p` and :func:`expm1` are Kahan's formulations from ``exp``, ``log``
and exact arithmetic, accurate wherever ``exp`` and ``log`` are; and the
operators' decompositions (registered in ``torch._decomp``'s table, which
``torch.onnx.export`` applies to a program that holds the operators, and
``ExportedProgram.run_decompositions`` applies when given them) are the
portable code on it.
"""

from __future__ import annotations

import functools
import math
import types
from typing import Any

import array_api_compat.torch as compat_xp
import torch
from torch import Tensor

from ._base import Call, run_core
from .torch import TorchOps

_FLOAT = (torch.float32, torch.float64)


def _squeeze(x: Tensor, /, axis: int | tuple[int, ...]) -> Tensor:
    # the core squeezes only the axes it reduced with keepdims: each is 1 long
    return torch.squeeze(x, axis)


def log1p(t: Tensor) -> Tensor:
    """``log(1 + t)`` by Kahan's formulation: with ``u = 1 + t`` rounded,
    ``log(u) * t / (u - 1)``, and ``t`` itself where ``u`` rounds to 1.

    ``u - 1`` is exact, and ``t / (u - 1)`` corrects ``log(u)`` for the
    rounding of ``u``: the result's relative error is a few ulps wherever
    ``log`` is faithful (Goldberg 1991, theorem 4), for every ``t > -1``.
    ``t = +inf`` gives inf, ``t = -1`` -inf, ``t < -1`` and NaN give NaN, as
    ``log1p``.
    """
    u = 1.0 + t
    d = u - 1.0
    tiny = d == 0.0
    r = torch.log(u) * (t / torch.where(tiny, 1.0, d))
    r = torch.where(tiny, t, r)
    return torch.where(u == math.inf, u, r)


def expm1(x: Tensor) -> Tensor:
    """``exp(x) - 1`` by Kahan's formulation (Higham 2002, 1.14.1): with ``u =
    exp(x)`` rounded, ``(u - 1) * x / log(u)``; ``x`` itself where ``u``
    rounds to 1, -1 where ``u - 1`` does, ``+inf`` where ``u`` overflows."""
    u = torch.exp(x)
    d = u - 1.0
    tiny = d == 0.0
    edge = tiny | (d == -1.0) | (u == math.inf)
    r = d * (x / torch.where(edge, 1.0, torch.log(u)))
    r = torch.where(tiny, x, r)
    return torch.where(edge & ~tiny, d, r)


def _namespace(name: str, **overrides: Any) -> types.ModuleType:
    """array-api-compat's torch namespace with ``overrides``.  The rest is
    looked up in it on use (a module ``__getattr__``), not copied: this module
    may be imported while array-api-compat's is (torch's post-import hook
    runs inside whatever imported torch), its names not all defined yet."""
    ns = types.ModuleType(f"{__name__}.{name}")
    ns.__dict__.update(overrides)
    ns.__dict__["__getattr__"] = functools.partial(getattr, compat_xp)
    return ns


#: the standard namespace for a graph that torch runs (torch.compile, jit.trace)
GRAPH_XP = _namespace("GRAPH_XP", squeeze=_squeeze)
#: the standard namespace for a graph that leaves torch (torch.export, ONNX)
DEPLOY_XP = _namespace("DEPLOY_XP", squeeze=_squeeze, log1p=log1p, expm1=expm1)


class GraphOps(TorchOps):
    """The torch adapter's hooks for a graph: constants are ops of the graph,
    not tensors it must hold (a decomposition may not create those:
    ``run_decompositions`` rejects a lifted constant), and a slice's length
    stays what the tracer holds it as (a symbolic size, or under
    ``jit.trace`` a tensor)."""

    def scalar(self, value: float, like: Any) -> Any:
        return torch.full((), value, dtype=like.dtype, device=like.device)

    def count(self, x: Any, axes: tuple[int, ...]) -> Any:
        n: Any = 1
        for a in axes:  # not math.prod: torch.compile cannot trace it on symbolic sizes
            n = n * x.shape[a]
        if isinstance(n, Tensor):  # jit.trace records sizes as tensors
            return n.to(x.dtype)
        return torch.scalar_tensor(n, dtype=x.dtype, device=x.device)


def graph_ops(deploy: bool) -> GraphOps:
    return GraphOps(DEPLOY_XP if deploy else GRAPH_XP)


def decomposed(func: str, x: Tensor, dims: Any, keepdim: bool = False) -> Tensor:
    """``xpsoftmax::<func>`` in standard torch ops: the portable code on
    :data:`DEPLOY_XP` (16-bit floats in float32, as the operators compute them)."""
    xc = x if x.dtype in _FLOAT else x.to(torch.float32)
    axes = tuple(dims)
    if x.dim() == 0:  # one element, its own slice (as the operators' kernel)
        xc, axes = xc.reshape(1), (0,)
    out = run_core(Call(func, xc, axes, None, keepdim, xc.dtype, xc.dtype), graph_ops(True))
    if x.dim() == 0:
        out = out.reshape(())
    return out if out.dtype == x.dtype else out.to(x.dtype)


def _softmax(x: Tensor, dims: Any) -> Tensor:
    return decomposed("softmax", x, dims)


def _log_softmax(x: Tensor, dims: Any) -> Tensor:
    return decomposed("log_softmax", x, dims)


def _logsumexp(x: Tensor, dims: Any, keepdim: bool) -> Tensor:
    return decomposed("logsumexp", x, dims, keepdim)


DECOMPOSITIONS: dict[str, Any] = {
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
}


def register_decompositions(ops: dict[str, Any]) -> None:
    """Each operator's :func:`decomposed` in ``torch._decomp``'s table."""
    from torch._decomp import register_decomposition

    for func, op in ops.items():
        register_decomposition(op)(DECOMPOSITIONS[func])
