"""Timing and memory: interleaved repetitions, medians, ratios in one run.

Every subject of one (case, dtype, function) and one framework (Dask with the
NumPy path it is compared with) runs once per repetition, in an order rotated
from one repetition to the next, so a machine shared with other work slows
them alike; frameworks take turns, not calls (see :func:`time_grouped`).  A
call shorter than ``min_s`` is looped (the loop count calibrated after a
warm-up call).  Ratios are to the anchor and the copy timed
in the same repetitions.

Peak memory, on inputs of 16 MiB and more:

* NumPy subjects: :mod:`tracemalloc` (which sees NumPy's allocations), as a
  multiple of the output's size;
* torch CPU subjects: torch's own allocator is invisible to tracemalloc, so the
  call runs under ``torch.profiler`` with ``profile_memory=True``, which
  records every allocation and every free of torch's CPU allocator, each
  with its time; the running sum of those in time order gives the peak,
  temporaries that ops allocate and free inside them included (the ops' self
  memory would net those out: torch.logsumexp's full-size temporary);
  NumPy allocations made during the call (a route through NumPy on the
  tensor's memory) are traced with tracemalloc at the same time and added
  where they reach 1 MiB (below that they are the Python objects of the call):
  the sum of the two peaks bounds the joint peak from above;
* torch CUDA subjects: ``torch.cuda.max_memory_allocated`` (exact);
* Dask's ``.persist()``: the traced peak beyond the result's chunks, in chunks.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .cases import BenchCase, from_shapes
from .subjects import (
    Subject,
    bench_targets,
    dask_subjects,
    dask_throughput_subjects,
    subjects_for,
)

#: traced NumPy allocations below this are Python objects, not a NumPy route's buffers
NUMPY_BUFFERS = 1 << 20
#: inputs from this size on get the memory measurements (and fewer repetitions)
LARGE_BYTES = 1 << 24


@dataclass
class Result:
    backend: str
    subject: str
    role: str
    impl: str | None
    func: str
    case: str
    shape: tuple[int, ...]
    dtype: str
    median_s: float
    times_s: list[float] = field(default_factory=list)
    vs_anchor: float | None = None
    anchor: str | None = None
    vs_copy: float | None = None
    peak_vs_output: float | None = None
    #: Dask .persist(): peak bytes beyond the result kept, in chunks
    extra_vs_chunk: float | None = None
    chunk_bytes: int | None = None
    #: the reduced axis (or axes) of the case; "call", "grad" or "dask"
    axis: Any = -1
    mode: str = "call"
    #: torch: peak bytes allocated during the call (see the module docstring)
    peak_bytes: int | None = None


def _calibrate(fn: Callable[[], Any], min_s: float) -> int:
    """Calls per measurement so that one measurement lasts about ``min_s``."""
    fn()  # warm-up: compilation, caches, thread pool
    once = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        once = min(once, time.perf_counter() - t0)
    return max(1, min(100_000, math.ceil(min_s / max(once, 1e-9))))


def time_interleaved(subjects: list[Subject], repeat: int, min_s: float) -> list[list[float]]:
    """Seconds per call, per subject per repetition; subjects alternate within
    each repetition, in a rotated order so none always runs first."""
    loops = [_calibrate(s.fn, min_s) for s in subjects]
    times: list[list[float]] = [[] for _ in subjects]
    n = len(subjects)
    for r in range(repeat):
        for k in range(n):
            i = (k + r) % n
            times[i].append(_measure(subjects[i].fn, loops[i], min_s))
    return times


def ratio_group(backend: str) -> str:
    """The subjects whose times are compared (ratios are taken within a group):
    a backend's own, Dask's with the NumPy (CuPy) path that is its anchor."""
    return {"dask": "numpy", "dask:gpu": "cupy"}.get(backend, backend)


def time_grouped(subjects: list[Subject], repeat: int, min_s: float) -> list[list[float]]:
    """:func:`time_interleaved` within each ratio group, one group after another.

    Subjects of different frameworks are not interleaved: a framework's idle
    worker threads keep their cores for a while after its call (torch's
    OpenMP threads spin before they sleep), so the next framework's call
    would start on a busy machine.  Measured here: ``jit(grad(log_softmax))``
    of JAX on 2048x2048 took 4.3 ms right after a torch backward against 2.7
    ms after a JAX call; jax.nn's own took 2.6 ms either way, because the
    rotation had put it after a JAX subject.  No ratio compares two groups.
    """
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(subjects):
        groups.setdefault(ratio_group(s.backend), []).append(i)
    times: list[list[float]] = [[] for _ in subjects]
    for idx in groups.values():
        timed = time_interleaved([subjects[i] for i in idx], repeat, min_s)
        for i, t in zip(idx, timed, strict=True):
            times[i] = t
    return times


def _measure(fn: Callable[[], Any], m: int, min_s: float) -> float:
    """Seconds per call: the fastest of 8 runs of ``m / 8`` calls (the clock
    read between runs only), as ``timeit`` takes the best of its repeats.

    On a machine shared with other work a call sometimes waits for a core: a
    torch forward + backward of softmax on 256x1024 float32 took 0.4 ms alone
    and 20-77 ms in a loop here (2 cores, other processes running), so the
    mean of the loop, which this took before, was 30-100x a direct ``timeit``
    of the same call.  A run that such a wait hits is slower; the fastest of
    the runs is the call's own time.  A measurement also stops after 5
    ``min_s`` (a call that stalls must not make a 4000-call loop last 20 s).
    """
    chunk = max(1, m // 8)
    done = 0
    best = math.inf
    t0 = time.perf_counter()
    while done < m:
        start = time.perf_counter()
        for _ in range(chunk):
            fn()
        best = min(best, (time.perf_counter() - start) / chunk)
        done += chunk
        if time.perf_counter() - t0 > 5 * min_s:
            break
    return best


def _traced_peak(fn: Callable[[], Any]) -> tuple[Any, int]:
    """What ``fn`` returns and the peak bytes traced while it runs (after a
    warm-up call: pools and caches are not counted)."""
    import tracemalloc

    fn()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def peak_ratio(fn: Callable[[], Any]) -> float:
    """Peak bytes traced while ``fn`` runs, over the size of what it returns."""
    import numpy as np

    out, peak = _traced_peak(fn)
    return peak / max(1, np.asarray(out).nbytes)


#: the lines torch's profiler (kineto) writes to fd 2 on every start and stop
_KINETO_LINE = re.compile(r"^[A-Z]+:\d{4}-\d\d-\d\d [\d:]+ \d+:\d+ \w+\.cpp:\d+\] ")


@contextlib.contextmanager
def _profiler_lines_dropped() -> Iterator[None]:
    """File descriptor 2 goes to a temporary file while torch's profiler runs
    (it prints ``USDT: ... profiler_start`` there from C++, whatever
    ``KINETO_LOG_LEVEL`` says); afterwards every line that is not one of its
    own is written back to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                tmp.seek(0)
                text = tmp.read().decode(errors="replace")
                kept = [ln for ln in text.splitlines(keepends=True) if not _KINETO_LINE.match(ln)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()
    finally:
        os.close(saved)


@functools.cache
def _profiler_warmed() -> None:
    """One throwaway profiling session: the first one of a process counts
    allocations of its own (measured: +0.96x the output on a 64 MiB
    log_softmax, then none)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with _profiler_lines_dropped(), profile(activities=[ProfilerActivity.CPU], profile_memory=True):
        torch.ones(4096, 4096).sum()


def torch_peak(fn: Callable[[], Any], cuda: bool = False) -> tuple[Any, int]:
    """What ``fn`` returns and the peak bytes it allocates (see the module docstring)."""
    import torch

    fn()
    if cuda:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        return out, torch.cuda.max_memory_allocated() - base
    import tracemalloc

    from torch.profiler import ProfilerActivity, profile

    _profiler_warmed()
    tracemalloc.start()
    try:
        with (
            _profiler_lines_dropped(),
            profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
        ):
            tracemalloc.reset_peak()
            out = fn()
            _, np_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    peak = _allocator_peak(prof)
    # NumPy buffers only: the few KiB of Python objects any call makes are
    # left out, as torch's kernels' own scratch is by the profiler
    return out, peak + (np_peak if np_peak >= NUMPY_BUFFERS else 0)


def _allocator_peak(prof: Any) -> int:
    """The peak of the running sum of every allocation and free the profiler
    recorded, in time order.

    Each allocation and free is one ``[memory]`` record with its own time
    stamp, nested ops' included.  Summing the ops' self memory instead (what
    ``prof.events()`` offers) dates every free to the start of the op that
    made it: torch.logsumexp's full-size ``exp(x - max)`` temporary, freed
    inside ``aten::logsumexp``, then cancels its own allocation before it is
    made (measured: 1.0x the output, where the records give 4098x).
    """
    records = prof.profiler.kineto_results.events()
    now = peak = 0
    for rec in sorted((r for r in records if r.name() == "[memory]"), key=lambda r: r.start_ns()):
        now += rec.nbytes()
        peak = max(peak, now)
    return peak


def dask_extra_chunks(fn: Callable[[], Any], chunk_bytes: int) -> float:
    """Peak bytes traced while a Dask ``.persist()`` runs, beyond the bytes of
    the result it keeps, in chunks: Dask's working memory."""
    out, peak = _traced_peak(fn)
    held = sum(getattr(v, "nbytes", 0) for v in dict(out.__dask_graph__()).values())
    return (peak - held) / chunk_bytes


def available(names: list[str]) -> dict[str, str | None]:
    """backend -> None if it runs here, else why not."""
    from ..backends import by_name

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = by_name(name).available()
        except ValueError as exc:
            out[name] = str(exc)
    return out


def _dask_case_runs(backends: dict[str, str | None], devices: str) -> bool:
    return devices in ("all", "cpu") and all(backends.get(b, "") is None for b in ("numpy", "dask"))


def _dask_subjects(
    case: BenchCase, x: Any, func: str, backends: dict[str, str | None], devices: str
) -> list[Subject]:
    """The Dask rows of a plain call case (row chunks: the last axis only)."""
    if backends.get("dask", "") is not None or not case.runs_on("dask") or case.axis != -1:
        return []
    subs = []
    if devices in ("all", "cpu"):
        subs += dask_subjects(x, func)
    if devices in ("all", "gpu") and backends.get("cupy", "") is None:
        subs += dask_subjects(x, func, gpu=True)
    return subs


def run_grid(
    grid: dict[str, tuple[int, ...]] | tuple[BenchCase, ...] | list[BenchCase],
    dtypes: list[str],
    funcs: list[str],
    backends: dict[str, str | None],
    repeat: int,
    min_s: float,
    log: Callable[[str], None],
    devices: str = "all",
) -> list[Result]:
    """Time every case of ``grid`` (cases, or ``{name: shape}`` for calls over the last axis)."""
    import numpy as np

    results: list[Result] = []
    rng = np.random.default_rng(0)
    tgts = bench_targets(backends, devices)
    for case in from_shapes(grid):
        throughput = case.mode == "dask"
        if throughput and not _dask_case_runs(backends, devices):
            log(f"{case.name}: skipped (needs NumPy and Dask, and CPU subjects)")
            continue
        for dtype in [d for d in dtypes if case.dtypes is None or d in case.dtypes] or (
            list(case.dtypes or ())[:1] if throughput else []
        ):
            x = (rng.standard_normal(case.shape) * 3).astype(dtype)
            large = x.nbytes >= LARGE_BYTES
            # small shapes are cheap: more repetitions steady their medians
            reps = repeat if large else max(repeat, 15)
            for func in case.funcs_of(funcs):
                if throughput:
                    subs = dask_throughput_subjects(x, func)
                else:
                    subs = subjects_for(case, x, func, tgts)
                    if case.mode == "call":
                        subs += _dask_subjects(case, x, func, backends, devices)
                if not subs:
                    continue
                log(f"{case.name} {case.shape} {dtype} {func}")
                times = time_grouped(subs, reps, min_s)
                rows = [
                    Result(
                        s.backend,
                        s.label,
                        s.role,
                        s.impl,
                        func,
                        case.name,
                        tuple(case.shape),
                        dtype,
                        statistics.median(t),
                        t,
                        axis=case.axis if s.axis is None else s.axis,
                        mode=case.mode,
                    )
                    for s, t in zip(subs, times, strict=True)
                ]
                _ratios(rows)
                for s, r in zip(subs, rows, strict=True):
                    _memory(s, r, large, case)
                results += rows
                del subs
    return results


def _memory(s: Subject, r: Result, large: bool, case: BenchCase) -> None:
    if s.backend == "numpy" and s.role in ("xpsoftmax", "scipy") and case.mode == "call":
        r.peak_vs_output = peak_ratio(s.fn)
    if s.backend == "dask" and s.label.endswith(".persist()") and s.chunk_bytes:
        r.chunk_bytes = s.chunk_bytes
        r.extra_vs_chunk = dask_extra_chunks(s.fn, s.chunk_bytes)
    # torch: on the 2-D inputs of the peak-memory goal only (a profiled call
    # costs 0.1-1 s)
    if (
        s.backend.startswith("torch")
        and large
        and case.mode == "call"
        and case.name.startswith("large 2-D")
        and (s.impl == "auto" or s.role == "anchor")
    ):
        out, r.peak_bytes = torch_peak(s.fn, cuda=s.backend != "torch")
        r.peak_vs_output = r.peak_bytes / max(1, out.element_size() * out.nelement())


def _ratios(rows: list[Result]) -> None:
    by_backend: dict[str, list[Result]] = {}
    for r in rows:
        by_backend.setdefault(r.backend, []).append(r)

    def auto_of(name: str) -> Result | None:
        return next((r for r in rows if r.backend == name and r.subject == "xpsoftmax[auto]"), None)

    for backend, group in by_backend.items():
        anchor = next((r for r in group if r.role in ("anchor", "scipy")), None)
        copy = next((r for r in group if r.role == "copy"), None)
        if backend.startswith("dask"):
            # Dask's anchor: the path of its chunk type on the same data
            anchor = auto_of(ratio_group(backend))
        for r in group:
            if anchor is not None and r is not anchor:
                r.vs_anchor = r.median_s / anchor.median_s
                r.anchor = (
                    f"{anchor.backend}:{anchor.subject}"
                    if backend.startswith("dask")
                    else anchor.subject
                )
            if copy is not None and r is not copy:
                r.vs_copy = r.median_s / copy.median_s
