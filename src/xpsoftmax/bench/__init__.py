"""``xpsoftmax bench``: xpsoftmax against the installed anchors, interleaved.

* :mod:`.cases` - what is timed: :class:`~.cases.BenchCase` (shape, axis,
  mode: a call, forward + backward, the Dask throughput case) and the grids;
* :mod:`.subjects` - who is timed, built from the conformance suite's subject
  registry (:data:`xpsoftmax.conformance.subjects.REGISTRY`): xpsoftmax's
  impls and each backend's anchor, plus a plain copy (the memory-bandwidth
  floor) and Dask's row-chunk route;
* :mod:`.timing` - interleaved repetitions, medians, ratios in one run, peak
  memory (tracemalloc for NumPy, torch's profiler for torch CPU tensors);
* :mod:`.goals` - the goals and whether they hold;
* :mod:`.report` - the machine, the tables, Markdown and the plot;
* :mod:`.run` - the command line (``add_arguments``, ``main``).

Heavy libraries are imported inside functions: ``xpsoftmax --help`` stays fast.
"""

from __future__ import annotations

from .cases import (
    DASK_CASE,
    DASK_LARGE,
    DASK_SMALL_CHUNK,
    FIRST_CALL,
    FUNCS,
    GPU_LARGE,
    GRAD,
    GRAD_SMALL,
    GRID,
    LARGE,
    QUICK_GRID,
    TINY,
    BenchCase,
)
from .goals import goals
from .report import machine, markdown
from .run import DEVICES, add_arguments, main
from .subjects import LAST_AXIS, Subject, dask_chunk_bytes, subjects_for
from .timing import Result, available, run_grid, time_interleaved

__all__ = [
    "DASK_CASE",
    "DASK_LARGE",
    "DASK_SMALL_CHUNK",
    "DEVICES",
    "FIRST_CALL",
    "FUNCS",
    "GPU_LARGE",
    "GRAD",
    "GRAD_SMALL",
    "GRID",
    "LARGE",
    "LAST_AXIS",
    "QUICK_GRID",
    "TINY",
    "BenchCase",
    "Result",
    "Subject",
    "add_arguments",
    "available",
    "dask_chunk_bytes",
    "goals",
    "machine",
    "main",
    "markdown",
    "run_grid",
    "subjects_for",
    "time_interleaved",
]
