"""The bench's cases: what is timed (shape, axis, mode, backends) and the grids.

A :class:`BenchCase` is one input layout in one mode; each is timed for every
dtype of the run (unless it names its own) and every function:

* ``"call"``: ``f(x, axis=...)`` on every backend of the run (xpsoftmax's
  impls, the backend's anchor from the subject registry, a plain copy; JAX
  also under the caller's ``jit``);
* ``"grad"``: forward + backward: torch's ``f(x).sum().backward()`` on an input
  with ``requires_grad``, JAX's ``jit(grad(lambda v: f(v).sum()))``;
* ``"dask"``: the Dask throughput case (Dask against the NumPy path alone);
* ``"loss"``: forward + backward of a loss with class indices (``mean``):
  xpsoftmax's against the backend's own (torch's ``F.cross_entropy``, optax's
  under ``jit``), timed like ``"grad"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FUNCS = ("softmax", "log_softmax", "logsumexp")
#: the losses the "loss" cases time (their own functions: never the softmax cases')
LOSS_FUNCS = ("cross_entropy",)
MODES = ("call", "grad", "dask", "loss")


@dataclass(frozen=True)
class BenchCase:
    name: str
    shape: tuple[int, ...]
    axis: int | tuple[int, ...] = -1
    mode: str = "call"
    #: the backends it is timed on (None: every backend of the run)
    backends: tuple[str, ...] | None = None
    #: its own dtypes (None: the run's ``--dtypes``)
    dtypes: tuple[str, ...] | None = None

    def runs_on(self, backend: str) -> bool:
        return self.backends is None or backend in self.backends

    def funcs_of(self, funcs: list[str]) -> list[str]:
        """The run's functions (``--funcs``) this case times: the losses for a
        "loss" case, the softmax family for the others."""
        own = LOSS_FUNCS if self.mode == "loss" else FUNCS
        return [f for f in funcs if f in own]


#: the Dask throughput case, where only NumPy's path and Dask are timed:
#: 1 GiB of float32 in row chunks of Dask's own default chunk size
#: (``array.chunk-size``, 128 MiB), the sizes Dask is made for; on 64 MiB in
#: 16 MiB chunks Dask's fixed cost per graph and per task (4.3 ms for a
#: trivial 16-task persist here) is a large part of the time
DASK_CASE, DASK_LARGE = "dask throughput", (16384, 16384)
#: row chunks of smaller inputs (at least 4 chunks for the cores to share)
DASK_SMALL_CHUNK = 16 << 20
#: the shapes the goals are stated for
TINY, SMALL, LARGE, LARGE_3D, GRAD = (4, 8), (64, 100), (4096, 4096), (64, 256, 1024), (2048, 2048)
#: cross-entropy: a language model's logits (8192 tokens, 32768 classes: 1 GiB
#: of float32) and a small classifier's batch
CE_LARGE, CE_SMALL = (8192, 32768), (64, 10)
CE_BACKENDS = ("torch", "jax")
#: a GPU's large input (1 GiB in float32): 64 MiB passes in tens of microseconds
#: there, where launch latency still counts; GPU goals prefer this shape
GPU_LARGE = (16384, 16384)
#: the axis layouts off the last axis, timed where their goals are (NumPy:
#: layout independence; torch: axis 0 of the large 2-D input)
NP_TORCH = ("numpy", "torch")


#: the name of a case over ``axis`` of the same array as ``base``
def off_axis(base: str, axis: int | tuple[int, ...]) -> str:
    return f"{base} axis {axis}" if isinstance(axis, int) else f"{base} axes {axis}"


LAYOUTS_3D: tuple[int | tuple[int, ...], ...] = (0, 1, (0, 1), (1, 2))

GRID: tuple[BenchCase, ...] = (
    BenchCase("tiny", TINY),
    BenchCase("small", SMALL),
    BenchCase("medium", (256, 1024)),
    BenchCase("long rows", (8, 1 << 20)),
    BenchCase("many short rows", (1 << 19, 16)),
    BenchCase("large 2-D", LARGE),
    BenchCase(off_axis("large 2-D", 0), LARGE, 0, backends=NP_TORCH),
    BenchCase("large 3-D", LARGE_3D),
    *(BenchCase(off_axis("large 3-D", a), LARGE_3D, a, backends=("numpy",)) for a in LAYOUTS_3D),
    BenchCase("fwd+bwd", GRAD, mode="grad", backends=("torch", "jax")),
    BenchCase("cross-entropy small", CE_SMALL, mode="loss", backends=CE_BACKENDS,
              dtypes=("float32",)),
    BenchCase("cross-entropy large", CE_LARGE, mode="loss", backends=CE_BACKENDS,
              dtypes=("float32",)),
    BenchCase(DASK_CASE, DASK_LARGE, mode="dask", dtypes=("float32",)),
)  # fmt: skip
QUICK_GRID: tuple[BenchCase, ...] = (
    BenchCase("tiny", TINY),
    BenchCase("small", SMALL),
    BenchCase("large 2-D", (2048, 2048)),
    BenchCase(off_axis("large 2-D", 0), (2048, 2048), 0, backends=NP_TORCH),
    BenchCase("3-D", (16, 64, 256), backends=("numpy",)),
    BenchCase(off_axis("3-D", (0, 1)), (16, 64, 256), (0, 1), backends=("numpy",)),
    BenchCase("fwd+bwd", (256, 1024), mode="grad", backends=("torch", "jax")),
    BenchCase("cross-entropy small", CE_SMALL, mode="loss", backends=CE_BACKENDS,
              dtypes=("float32",)),
    BenchCase("cross-entropy", (1024, 8192), mode="loss", backends=CE_BACKENDS,
              dtypes=("float32",)),
)  # fmt: skip


def from_shapes(grid: dict[str, tuple[int, ...]] | Any) -> tuple[BenchCase, ...]:
    """Cases from a ``{name: shape}`` grid (``--shapes``): calls over the last
    axis, the Dask throughput case where its name is used."""
    if not isinstance(grid, dict):
        return tuple(grid)
    return tuple(
        BenchCase(name, tuple(shape), mode="dask" if name == DASK_CASE else "call",
                  dtypes=("float32",) if name == DASK_CASE else None)
        for name, shape in grid.items()
    )  # fmt: skip
