"""``xpsoftmax bench``: xpsoftmax against the installed anchors, interleaved.

For every (shape, dtype, function) of the grid, the subjects (xpsoftmax with
each distinct ``impl`` on each backend, the backend's own kernel, scipy, a
plain copy of the input: the memory-bandwidth floor) are timed in turn within
each repetition, so that a machine shared with other work slows them alike;
the report gives medians and ratios to anchors measured in the same process.
Peak allocation of the NumPy subjects is measured with :mod:`tracemalloc`
(which sees NumPy's allocations), as a multiple of the output's size; Dask's
working memory beyond the result it keeps, in chunks.  The default grid ends
with the Dask throughput case (1 GiB float32, Dask against the NumPy path).

Heavy libraries are imported inside functions: ``xpsoftmax --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

FUNCS = ("softmax", "log_softmax", "logsumexp")
#: the Dask throughput case, where only NumPy's path and Dask are timed:
#: 1 GiB of float32 in row chunks of Dask's own default chunk size
#: (``array.chunk-size``, 128 MiB), the sizes Dask is made for; on 64 MiB in
#: 16 MiB chunks Dask's fixed cost per graph and per task (4.3 ms for a
#: trivial 16-task persist here) is a large part of the time
DASK_CASE, DASK_LARGE = "dask throughput", (16384, 16384)
#: row chunks of smaller inputs (at least 4 chunks for the cores to share)
DASK_SMALL_CHUNK = 16 << 20
#: name -> shape; the axis is -1 throughout (rows of the last axis)
GRID = {
    "tiny": (4, 8),
    "medium": (256, 1024),
    "long rows": (8, 1 << 20),
    "many short rows": (1 << 19, 16),
    "large 2-D": (4096, 4096),
    "large 3-D": (64, 256, 1024),
    DASK_CASE: DASK_LARGE,
}
QUICK_GRID = {"tiny": (4, 8), "medium": (256, 1024), "large 2-D": (2048, 2048)}
#: the shapes the goals are stated for
TINY, LARGE = (4, 8), (4096, 4096)
#: a GPU's large input (1 GiB in float32): 64 MiB passes in tens of microseconds
#: there, where launch latency still counts; GPU goals prefer this shape
GPU_LARGE = (16384, 16384)
DEVICES = ("all", "cpu", "gpu")


@dataclass
class Subject:
    backend: str
    label: str
    role: str  # "xpsoftmax", "anchor" (the backend's own kernel), "scipy", "copy"
    fn: Callable[[], Any]
    impl: str | None = None
    #: Dask subjects: the bytes of one chunk (working memory is measured in chunks)
    chunk_bytes: int | None = None


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


# -- the machine --------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import importlib.metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from .backends.numpy import n_threads

    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": n_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    for dist in ("numpy", "scipy", "torch", "jax", "dask", "cupy-cuda13x", "cupy-cuda12x"):
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


# -- subjects -----------------------------------------------------------------------
def _impls(backend: Any, func: str) -> list[str]:
    """The impls that run different code for this function (auto always)."""
    out = ["auto"]
    if func in backend.auto_native_funcs:
        out.append("portable")  # auto is the native kernel: time ours too
    elif func in backend.native_funcs:
        out.append("native")
    return out


def _xs(func: str) -> Callable[..., Any]:
    import xpsoftmax as xs

    funcs: dict[str, Callable[..., Any]] = {
        "softmax": xs.softmax,
        "log_softmax": xs.log_softmax,
        "logsumexp": xs.logsumexp,
    }
    return funcs[func]


def _with_impl(f: Callable[..., Any], a: Any, impl: str) -> Callable[[], Any]:
    """``f(a, impl=impl)`` as a call without arguments (a closure per impl)."""
    return lambda: f(a, impl=impl)


def numpy_subjects(x: Any, func: str) -> list[Subject]:
    import numpy as np

    from .backends import NUMPY

    f = _xs(func)
    subs = [
        Subject("numpy", f"xpsoftmax[{i}]", "xpsoftmax", _with_impl(f, x, i), i)
        for i in _impls(NUMPY, func)
    ]
    try:
        import scipy.special as sp

        g = getattr(sp, func)
        subs.append(Subject("numpy", f"scipy.special.{func}", "scipy", lambda: g(x, axis=-1)))
    except ImportError:
        pass
    subs.append(Subject("numpy", "copy", "copy", lambda: np.copy(x)))
    return subs


def torch_subjects(x: Any, func: str, device: Any) -> list[Subject]:
    import torch

    from .backends import by_name

    t = torch.from_numpy(x).to(device)
    sync = torch.cuda.synchronize if t.is_cuda else None
    f = _xs(func)
    g = {"softmax": torch.softmax, "log_softmax": torch.log_softmax}.get(func)
    anchor = (lambda: g(t, -1)) if g else (lambda: torch.logsumexp(t, -1))
    name = "torch" if device == "cpu" else f"torch:{device}"

    subs = [
        Subject(name, f"xpsoftmax[{i}]", "xpsoftmax", _synced(sync, _with_impl(f, t, i)), i)
        for i in _impls(by_name("torch"), func)
    ]
    subs.append(Subject(name, f"torch.{func}", "anchor", _synced(sync, anchor)))
    subs.append(Subject(name, "copy", "copy", _synced(sync, t.clone)))
    return subs


def _synced(sync: Callable[[], Any] | None, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` followed by ``sync()`` (a device synchronize): GPU work is timed,
    not its launch; ``sync`` None for a CPU."""
    if sync is None:
        return fn

    def run() -> Any:
        out = fn()
        sync()
        return out

    return run


def _ready(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` waiting for JAX's asynchronous dispatch to finish."""
    return lambda: fn().block_until_ready()


def jax_subjects(x: Any, func: str, devices: str = "all") -> list[Subject]:
    import jax

    from .backends import by_name

    if x.dtype.itemsize > 4 and not getattr(jax.config, "jax_enable_x64"):  # noqa: B009
        return []  # JAX without x64 has no float64
    dev = jax.devices()[0]
    if devices == "cpu" and dev.platform != "cpu":
        dev = jax.devices("cpu")[0]
    elif devices == "gpu" and dev.platform == "cpu":
        return []
    name = "jax" if dev.platform == "cpu" else f"jax:{dev.platform}"
    a = jax.device_put(x, dev)
    f = _xs(func)
    natives: dict[str, Callable[..., Any]] = {
        "softmax": jax.nn.softmax,
        "log_softmax": jax.nn.log_softmax,
        "logsumexp": jax.nn.logsumexp,
    }
    native = natives[func]
    anchor = jax.jit(lambda v: native(v, axis=-1))
    in_jit = jax.jit(lambda v: f(v, axis=-1))
    copy = jax.jit(lambda v: v + 0)  # one pass over memory, XLA's own floor
    subs = [
        Subject(name, f"xpsoftmax[{i}]", "xpsoftmax", _ready(_with_impl(f, a, i)), i)
        for i in _impls(by_name("jax"), func)
    ]
    subs.append(Subject(name, "xpsoftmax[auto] in jit", "xpsoftmax", _ready(lambda: in_jit(a))))
    subs.append(Subject(name, f"jit(jax.nn.{func})", "anchor", _ready(lambda: anchor(a))))
    subs.append(Subject(name, "copy (jit x+0)", "copy", _ready(lambda: copy(a))))
    return subs


def dask_chunk_bytes(nbytes: int) -> int:
    """Row-chunk size for an input of ``nbytes``: Dask's ``array.chunk-size``
    where the input holds at least 4 such chunks, else 16 MiB."""
    import dask
    from dask.utils import parse_bytes

    default = parse_bytes(dask.config.get("array.chunk-size"))
    return default if nbytes >= 4 * default else DASK_SMALL_CHUNK


def dask_subjects(x: Any, func: str, gpu: bool = False, compute: bool = True) -> list[Subject]:
    import dask
    import dask.array as da

    f = _xs(func)
    # chunks of whole rows: every slice lies in one chunk
    chunk_bytes = dask_chunk_bytes(x.nbytes)
    rows = max(1, chunk_bytes // max(1, x.nbytes // x.shape[0]))
    chunks = (rows,) + (-1,) * (x.ndim - 1)
    if gpu:  # CuPy chunks, already on the device
        import cupy as cp

        d = da.from_array(cp.asarray(x), chunks=chunks, asarray=False)
        sync: Callable[[], Any] | None = cp.cuda.Device().synchronize
    else:
        d = da.from_array(x, chunks=chunks)
        sync = None
    real_chunk = math.prod(d.chunksize) * x.itemsize

    def run(method: str) -> Callable[[], Any]:
        def go() -> Any:
            with dask.config.set(scheduler="threads"):
                return getattr(f(d), method)()

        return _synced(sync, go)

    # .persist() computes every chunk and keeps the chunks (the result held
    # in memory, as NumPy's is): the throughput goal's subject.  .compute()
    # adds Dask's gather of the chunks into one array, a serial copy of the
    # whole result that any Dask computation pays (shown, not a goal)
    name = "dask:gpu" if gpu else "dask"
    return [
        Subject(name, f"xpsoftmax[auto] .{m}()", "xpsoftmax", run(m), "auto", real_chunk)
        for m in (("persist", "compute") if compute else ("persist",))
    ]


def dask_throughput_subjects(x: Any, func: str) -> list[Subject]:
    """The Dask throughput case: Dask's ``.persist()`` and its anchor, the
    NumPy path, alone in the rotation.  No scipy (slow at 1 GiB and beside the
    point) and no plain copy: the copy frees 1 GiB just before the next
    subject, and on the machine measured the next call then runs slowly for
    tens of milliseconds (Dask logsumexp 152-167 ms after a copy, 132-137 ms
    after the NumPy path): that would time the machine, not Dask."""
    return [
        *(s for s in numpy_subjects(x, func) if s.impl == "auto"),
        *dask_subjects(x, func, compute=False),
    ]


def dask_extra_chunks(fn: Callable[[], Any], chunk_bytes: int) -> float:
    """Peak bytes traced while a Dask ``.persist()`` runs, beyond the bytes of
    the result it keeps, in chunks: Dask's working memory."""
    out, peak = _traced_peak(fn)
    held = sum(getattr(v, "nbytes", 0) for v in dict(out.__dask_graph__()).values())
    return (peak - held) / chunk_bytes


def cupy_subjects(x: Any, func: str) -> list[Subject]:
    import cupy as cp

    f = _xs(func)
    c = cp.asarray(x)
    sync = cp.cuda.Device().synchronize

    subs = [Subject("cupy", "xpsoftmax[auto]", "xpsoftmax", _synced(sync, lambda: f(c)), "auto")]
    try:
        import cupyx.scipy.special as cs

        g = getattr(cs, func)
        subs.append(
            Subject(
                "cupy",
                f"cupyx.scipy.special.{func}",
                "anchor",
                _synced(sync, lambda: g(c, axis=-1)),
            )
        )
    except (ImportError, AttributeError):
        pass

    def d2d_copy() -> Any:
        # cudaMemcpyAsync device to device: the bandwidth limit (ndarray.copy
        # runs an elementwise kernel, measured 1.8x slower on an H100)
        out = cp.empty_like(c)
        out.data.copy_from_device_async(c.data, c.nbytes)
        return out

    subs.append(Subject("cupy", "copy (cudaMemcpy)", "copy", _synced(sync, d2d_copy)))
    return subs


def available(names: list[str]) -> dict[str, str | None]:
    """backend -> None if it runs here, else why not."""
    from .backends import by_name

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = by_name(name).available()
        except ValueError as exc:
            out[name] = str(exc)
    return out


def subjects_for(
    x: Any, func: str, backends: dict[str, str | None], devices: str = "all"
) -> list[Subject]:
    """The subjects of one (input, function) on the backends that run here;
    ``devices`` ("all", "cpu" or "gpu") keeps the CPU or the GPU ones only."""
    cpu, gpu = devices in ("all", "cpu"), devices in ("all", "gpu")
    has = lambda name: name in backends and backends[name] is None  # noqa: E731
    subs: list[Subject] = []
    if cpu and has("numpy"):
        subs += numpy_subjects(x, func)
    if has("torch"):
        import torch

        if cpu:
            subs += torch_subjects(x, func, "cpu")
        if gpu and torch.cuda.is_available():
            subs += torch_subjects(x, func, "cuda")
    if has("jax"):
        subs += jax_subjects(x, func, devices)
    if gpu and has("cupy"):
        subs += cupy_subjects(x, func)
    if has("dask"):
        if cpu:
            subs += dask_subjects(x, func)
        if gpu and has("cupy"):
            subs += dask_subjects(x, func, gpu=True)
    return subs


# -- timing -------------------------------------------------------------------------
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
            fn, m = subjects[i].fn, loops[i]
            t0 = time.perf_counter()
            for _ in range(m):
                fn()
            times[i].append((time.perf_counter() - t0) / m)
    return times


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


def run_grid(
    grid: dict[str, tuple[int, ...]],
    dtypes: list[str],
    funcs: list[str],
    backends: dict[str, str | None],
    repeat: int,
    min_s: float,
    log: Callable[[str], None],
    devices: str = "all",
) -> list[Result]:
    import numpy as np

    results: list[Result] = []
    rng = np.random.default_rng(0)
    for case, shape in grid.items():
        throughput = case == DASK_CASE
        if throughput and not _dask_case_runs(backends, devices):
            log(f"{case}: skipped (needs NumPy and Dask, and CPU subjects)")
            continue
        for dtype in ["float32"] if throughput else dtypes:
            x = (rng.standard_normal(shape) * 3).astype(dtype)
            # small shapes are cheap: more repetitions steady their medians
            reps = repeat if x.nbytes >= (1 << 24) else max(repeat, 15)
            for func in funcs:
                log(f"{case} {shape} {dtype} {func}")
                subs = (
                    dask_throughput_subjects(x, func)
                    if throughput
                    else subjects_for(x, func, backends, devices)
                )
                times = time_interleaved(subs, reps, min_s)
                rows = [
                    Result(
                        s.backend,
                        s.label,
                        s.role,
                        s.impl,
                        func,
                        case,
                        tuple(shape),
                        dtype,
                        statistics.median(t),
                        t,
                    )
                    for s, t in zip(subs, times, strict=True)
                ]
                _ratios(rows)
                for s, r in zip(subs, rows, strict=True):
                    if s.backend == "numpy" and s.role in ("xpsoftmax", "scipy"):
                        r.peak_vs_output = peak_ratio(s.fn)
                    if s.backend == "dask" and s.label.endswith(".persist()") and s.chunk_bytes:
                        r.chunk_bytes = s.chunk_bytes
                        r.extra_vs_chunk = dask_extra_chunks(s.fn, s.chunk_bytes)
                results += rows
                del subs
    return results


def _dask_case_runs(backends: dict[str, str | None], devices: str) -> bool:
    return devices in ("all", "cpu") and all(backends.get(b, "") is None for b in ("numpy", "dask"))


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
            anchor = auto_of("cupy" if backend == "dask:gpu" else "numpy")
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


# -- goals --------------------------------------------------------------------------
def _find(results: list[Result], **kw: Any) -> Result | None:
    for r in results:
        if all(getattr(r, k) == v for k, v in kw.items()):
            return r
    return None


def _get(r: Result | None, attr: str) -> float | None:
    return None if r is None else getattr(r, attr)


def goals(results: list[Result]) -> list[dict[str, Any]]:
    """The issue's goals, each with the measured value and whether it holds
    (only those whose shapes were in the grid)."""
    out: list[dict[str, Any]] = []

    def add(goal: str, value: float | None, limit: float, le: bool = True, unit: str = "x") -> None:
        if value is None:
            return
        holds = value <= limit if le else value >= limit
        out.append(
            {"goal": goal, "value": value, "limit": limit, "unit": unit, "le": le, "holds": holds}
        )

    large = {"shape": LARGE, "dtype": "float32"}
    tiny = {"shape": TINY, "dtype": "float32"}
    for func in FUNCS:
        r = _find(results, backend="numpy", subject="xpsoftmax[auto]", func=func, **large)
        if r is not None:
            add(f"numpy {func} / scipy (4096x4096 f32)", r.vs_anchor, 0.50)
            add(f"numpy {func} / copy (4096x4096 f32)", r.vs_copy, 3.0)
            if func != "logsumexp":
                add(f"numpy {func} peak alloc / output", r.peak_vs_output, 1.10)
    r = _find(results, backend="torch", subject="xpsoftmax[auto]", func="softmax", **large)
    add("torch softmax auto / torch.softmax (4096x4096 f32)", _get(r, "vs_anchor"), 1.10)
    r = _find(results, backend="torch", subject="xpsoftmax[auto]", func="softmax", **tiny)
    a = _find(results, backend="torch", role="anchor", func="softmax", **tiny)
    if r is not None and a is not None:
        add(
            "torch softmax auto overhead on (4, 8)", (r.median_s - a.median_s) * 1e6, 2.0, unit="us"
        )
    r = _find(results, backend="jax", subject="xpsoftmax[auto]", func="softmax", **tiny)
    add("jax eager softmax / jit(jax.nn.softmax) on (4, 8)", _get(r, "vs_anchor"), 2.0)
    r = _find(results, backend="jax", subject="xpsoftmax[auto] in jit", func="softmax", **large)
    add("jax softmax in jit / jit(jax.nn.softmax) (4096x4096 f32)", _get(r, "vs_anchor"), 1.10)
    # Dask: throughput on the throughput case where it was timed (else on
    # the large 2-D shape), working memory in chunks
    persist = {"backend": "dask", "subject": "xpsoftmax[auto] .persist()", "dtype": "float32"}
    for func in FUNCS:
        r = _find(results, func=func, case=DASK_CASE, **persist) or _find(
            results, func=func, shape=LARGE, **persist
        )
        if r is None:
            continue
        where = "x".join(map(str, r.shape)) + " f32"
        if r.chunk_bytes:
            where += f", {r.chunk_bytes / 2**20:g} MiB chunks"
        if r.vs_anchor:
            add(f"dask {func} throughput / numpy ({where})", 1 / r.vs_anchor, 0.8, le=False)
        add(
            f"dask {func} working memory beyond the result ({where})",
            r.extra_vs_chunk,
            1.0,
            unit="chunks",
        )
    _gpu_goals(results, add)
    return out


def _gpu_goals(results: list[Result], add: Callable[..., None]) -> None:
    """The GPU lane's goals, on the largest of GPU_LARGE / LARGE that was timed."""
    shape = next(
        (
            s
            for s in (GPU_LARGE, LARGE)
            if any(r.shape == s and r.backend in _GPUS for r in results)
        ),
        None,
    )
    if shape is None:
        return
    big = {"shape": shape, "dtype": "float32"}
    label = "x".join(map(str, shape)) + " f32"
    for backend in ("torch:cuda", "jax:gpu"):
        for func in FUNCS:
            r = _find(results, backend=backend, subject="xpsoftmax[auto]", func=func, **big)
            add(f"{backend} {func} auto / native ({label})", _get(r, "vs_anchor"), 1.05)
    for backend in _GPUS:
        # a copy reads and writes the array once, as an ideal softmax does:
        # the time ratio is the fraction of the copy's bandwidth reached
        r = _find(results, backend=backend, subject="xpsoftmax[auto]", func="softmax", **big)
        vs_copy = _get(r, "vs_copy")
        add(
            f"{backend} softmax bandwidth / device copy ({label})",
            vs_copy and 1 / vs_copy,
            0.8,
            le=False,
        )
    for func in FUNCS:
        r = _find(results, backend="cupy", subject="xpsoftmax[auto]", func=func, **big)
        add(f"cupy {func} auto / cupyx.scipy.special ({label})", _get(r, "vs_anchor"), 1.0)


_GPUS = ("torch:cuda", "jax:gpu", "cupy")


# -- output -------------------------------------------------------------------------
def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt(v: float | None, nd: int = 2) -> str:
    return "" if v is None else f"{v:.{nd}f}"


HEADER = [
    "case",
    "shape",
    "dtype",
    "func",
    "backend",
    "subject",
    "median",
    "/anchor",
    "/copy",
    "peak/out",
    "extra/chunk",
]


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.case,
            "x".join(map(str, r.shape)),
            r.dtype,
            r.func,
            r.backend,
            r.subject,
            _fmt_time(r.median_s),
            _fmt(r.vs_anchor),
            _fmt(r.vs_copy),
            _fmt(r.peak_vs_output),
            _fmt(r.extra_vs_chunk),
        ]
        for r in results
    ]


def goal_rows(gs: list[dict[str, Any]]) -> list[list[str]]:
    op = {True: "<=", False: ">="}
    rows = []
    for g in gs:
        rows.append(
            [
                g["goal"],
                f"{g['value']:.2f} {g['unit']}",
                f"{op[g['le']]} {g['limit']:g} {g['unit']}",
                "yes" if g["holds"] else "NO",
            ]
        )
    return rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    desc = ", ".join(f"{k} {v}" for k, v in m.items())
    results = [Result(**{**r, "shape": tuple(r["shape"])}) for r in report["results"]]
    parts = [
        f"Measured {report['date']} on: {desc}.",
        f"Command: `{report['command']}`; medians of interleaved repetitions; ratios are to "
        "the anchor measured in the same repetitions (scipy for NumPy, the backend's own kernel "
        "for torch/JAX, the NumPy path for Dask) and to a plain copy of the input.",
        "",
        "Goals:",
        "",
        markdown_table(["goal", "measured", "target", "holds"], goal_rows(report["goals"])),
        "",
        "All timings:",
        "",
        markdown_table(HEADER, table_rows(results)),
    ]
    return "\n".join(parts) + "\n"


def plot(results: list[Result], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    funcs = [f for f in FUNCS if any(r.func == f for r in results)]
    fig, axes = plt.subplots(1, len(funcs), figsize=(6 * len(funcs), 5), squeeze=False)
    for ax, func in zip(axes[0], funcs, strict=True):
        lines: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
        for r in results:
            if r.func == func:
                key = (r.backend, r.subject, r.dtype)
                lines.setdefault(key, []).append((math.prod(r.shape), r.median_s))
        for (backend, subject, dtype), pts in sorted(lines.items()):
            pts.sort()
            style = (
                "--" if subject.startswith(("copy", "scipy", "torch.", "jit(jax", "cupyx")) else "-"
            )
            ax.plot(
                *zip(*pts, strict=True),
                style,
                marker="o",
                ms=3,
                label=f"{backend} {subject} {dtype}",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="elements",
            ylabel="median time per call (s)",
            title=func,
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command ------------------------------------------------------------------------
def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is like 4096x4096, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shapes",
        type=lambda s: [_shape(t) for t in s.split(",")],
        help="comma-separated shapes such as 4x8,4096x4096 (default: the built-in grid, "
        "with the 1 GiB Dask throughput case)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid (tiny, medium, 2048x2048; no Dask throughput case)",
    )
    parser.add_argument(
        "--dtypes", default="float32,float64", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--funcs", default=",".join(FUNCS), help="comma-separated (default: all three)"
    )
    parser.add_argument(
        "--backends",
        default="numpy,torch,jax,cupy,dask",
        help="comma-separated; those not installed are skipped (default: %(default)s)",
    )
    parser.add_argument(
        "--devices",
        choices=DEVICES,
        default="all",
        help="time the CPU subjects, the GPU ones, or all (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="repetitions on large shapes (default: 5)"
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.01,
        help="seconds per measurement; small calls loop (default: 0.01)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--markdown", metavar="PATH", help="write the goals and the table as Markdown"
    )
    parser.add_argument(
        "--plot", metavar="PATH", help="write a PNG of time against size per subject"
    )


def main(args: argparse.Namespace) -> int:
    if args.shapes:
        grid = {"x".join(map(str, s)): s for s in args.shapes}
    else:
        grid = QUICK_GRID if args.quick else GRID
    funcs = [f for f in args.funcs.split(",") if f]
    bad = [f for f in funcs if f not in FUNCS]
    if bad:
        print(f"xpsoftmax bench: unknown function(s) {bad}; known: {list(FUNCS)}", file=sys.stderr)
        return 2
    dtypes = [d for d in args.dtypes.split(",") if d]
    backends = available([b for b in args.backends.split(",") if b])
    for name, why in backends.items():
        if why is not None:
            print(f"skipping {name}: {why}", file=sys.stderr)
    report_cmd = (
        "xpsoftmax bench " + " ".join(sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else "xpsoftmax bench"
    )
    results = run_grid(
        grid,
        dtypes,
        funcs,
        backends,
        args.repeat,
        args.min_time,
        lambda m: print(f"  timing {m}", file=sys.stderr, flush=True),
        args.devices,
    )
    gs = goals(results)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": report_cmd.strip(),
        "machine": machine(),
        "goals": gs,
        "results": [asdict(r) for r in results],
    }
    print(text_table(HEADER, table_rows(results)))
    if gs:
        print()
        print(text_table(["goal", "measured", "target", "holds"], goal_rows(gs)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(report))
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    ns = argparse.ArgumentParser()
    add_arguments(ns)
    sys.exit(main(ns.parse_args()))
