"""Backend adapters and their detection.

Detection never imports a framework: an adapter is only asked about an object
when its top-level module is already in ``sys.modules`` (if the caller holds a
torch tensor, torch is imported).  The answer is cached per type, so a repeated
call costs one dict lookup.
"""

from __future__ import annotations

import sys
from typing import Any

from ._base import FUNCS, Backend, Call, run_core
from ._import_hook import when_imported
from .cupy import CupyBackend
from .dask import DaskBackend
from .generic import GenericBackend, MarrayBackend, NdonnxBackend, SparseBackend, StrictBackend
from .jax import JaxBackend
from .mlx import MlxBackend
from .numpy import NumpyBackend
from .tensorflow import TensorflowBackend
from .torch import TorchBackend

__all__ = [
    "BACKENDS",
    "FUNCS",
    "Backend",
    "Call",
    "available_backends",
    "backend_of",
    "by_name",
    "run_core",
    "when_imported",
]

NUMPY = NumpyBackend()
GENERIC = GenericBackend()
#: in detection order; the generic adapter comes last and takes any standard array
BACKENDS: tuple[Backend, ...] = (
    NUMPY,
    TorchBackend(),
    JaxBackend(),
    CupyBackend(),
    DaskBackend(),
    MlxBackend(),
    TensorflowBackend(),
    StrictBackend(),
    # third-party array-API libraries: the generic path, named for their CI lanes
    SparseBackend(),
    NdonnxBackend(),
    MarrayBackend(),
)

_by_type: dict[type, Backend] = {}


def backend_of(x: Any) -> Backend | None:
    """The adapter for array ``x``, or None if no supported library owns it."""
    t = type(x)
    found = _by_type.get(t)
    if found is not None:
        return found
    for backend in BACKENDS:
        if backend.module in sys.modules and backend.owns(x):
            found = backend
            break
    else:
        if not GENERIC.owns(x):
            return None
        found = GENERIC
    _by_type[t] = found
    return found


def by_name(name: str) -> Backend:
    for backend in (*BACKENDS, GENERIC):
        if backend.name == name:
            return backend
    raise ValueError(f"unknown backend {name!r}; known: {[b.name for b in BACKENDS]}")


def available_backends() -> list[Backend]:
    """The backends that run here (this imports them: not for dispatch)."""
    return [b for b in BACKENDS if b.available() is None]
