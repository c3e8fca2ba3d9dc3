"""The speed and memory goals, judged on one run's results.

Each goal records its direction where it is added (``le``: at most the
limit; else at least).  A goal is listed only where its rows were measured,
so a ``--shapes`` run judges what it timed.  A timed goal names the two rows
its value divides (or subtracts), and is judged on their paired repetitions
(:mod:`.verdicts`): it holds, misses, or is "not judged" where the
repetitions cannot tell; a ``--quick`` run judges none (it reports timings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cases import (
    CE_LARGE,
    CE_SMALL,
    DASK_CASE,
    FUNCS,
    GPU_LARGE,
    GRAD_SMALL,
    LARGE,
    LARGE_3D,
    SMALL,
    TINY,
)
from .subjects import LAST_AXIS
from .timing import Result, ratio_group
from .verdicts import judge, paired

#: why a ``--quick`` run judges no goal (its repetitions are too few and too short)
QUICK = "--quick run"

_GPUS = ("torch:cuda", "jax:gpu", "cupy")
_SHORT = {"float32": "f32", "float64": "f64"}


def _is(r: Result, **kw: Any) -> bool:
    return all(getattr(r, k) == v for k, v in kw.items())


def _find(results: list[Result], **kw: Any) -> Result | None:
    return next((r for r in results if _is(r, **kw)), None)


def _get(r: Result | None, attr: str) -> float | None:
    return None if r is None else getattr(r, attr)


def _where(r: Result) -> str:
    return "x".join(map(str, r.shape)) + " " + _SHORT.get(r.dtype, r.dtype)


def goals(results: list[Result], quick: bool = False) -> list[dict[str, Any]]:
    """The issues' goals, each with the measured value and whether it holds
    (True, False, or None: not judged, with ``why``), only those whose rows
    were measured."""
    out: list[dict[str, Any]] = []

    def add(
        goal: str,
        value: float | None,
        limit: float,
        le: bool = True,
        unit: str = "x",
        rows: tuple[Result | None, Result | None] | None = None,
        overhead: bool = False,
        samples: list[float] | None = None,
    ) -> None:
        """``rows``: the two timed rows whose paired repetitions give the value
        (their ratio, or their difference for an ``overhead`` in us); None for
        a measurement that does not scatter (memory); ``samples``: the value's own
        repetitions, for a goal on one row's time (no pairing)."""
        if value is None:
            return
        pairs = samples
        if rows is not None:
            a, b = rows
            pairs = [] if a is None or b is None else paired(a.times_s, b.times_s, overhead)
        verdict = judge(value, limit, le, pairs, 1e6 if overhead else 1.0, overhead)
        if quick:
            verdict = {**verdict, "holds": None, "why": QUICK}
        out.append({"goal": goal, "value": value, "limit": limit, "unit": unit, "le": le,
                    "overhead": overhead, **verdict})  # fmt: skip

    _numpy_goals(results, add)
    for backend in ("torch", "torch:cuda"):
        _torch_goals(results, add, backend)
    _jax_goals(results, add)
    _dask_goals(results, add)
    _gpu_goals(results, add)
    _loss_goals(results, add)
    return out


def _loss_goals(results: list[Result], add: Callable[..., None]) -> None:
    """cross_entropy forward + backward against the framework's own (issue #25)."""
    for shape in (CE_LARGE, CE_SMALL):
        at = {"func": "cross_entropy", "mode": "loss", "role": "xpsoftmax", "shape": shape}
        r = _find(results, backend="torch", **at)
        if r is not None:
            add(f"torch cross_entropy fwd+bwd auto / F.cross_entropy ({_where(r)})",
                r.vs_anchor, 1.10, rows=_vs(results, r))  # fmt: skip
        r = _find(results, backend="jax", **at)
        if r is not None:
            add(f"jax jit(grad(cross_entropy)) / jit(grad(optax)) ({_where(r)})", r.vs_anchor,
                1.10, rows=_vs(results, r))  # fmt: skip


def _peer(results: list[Result], r: Result | None, role: str) -> Result | None:
    """The row that ``r``'s ``vs_anchor`` (role "anchor") or ``vs_copy`` (role
    "copy") divides by: timed in the same repetitions (see ``timing._ratios``)."""
    if r is None:
        return None
    # (cases may share a name: "fwd+bwd small" is timed at two shapes)
    same = {"case": r.case, "shape": r.shape, "func": r.func, "dtype": r.dtype}
    if role == "copy":
        return _find(results, backend=r.backend, role="copy", **same)
    if r.backend.startswith("dask"):
        return _find(results, backend=ratio_group(r.backend), subject="xpsoftmax[auto]", **same)
    return next((a for a in results if _is(a, backend=r.backend, **same)
                 and a.role in ("anchor", "scipy")), None)  # fmt: skip


def _vs(results: list[Result], r: Result | None, role: str = "anchor") -> tuple[Any, Any]:
    """The rows of ``r``'s ratio to its anchor (or copy)."""
    return r, _peer(results, r, role)


def _numpy_goals(results: list[Result], add: Callable[..., None]) -> None:
    auto = {"backend": "numpy", "subject": "xpsoftmax[auto]", "mode": "call"}
    large = {"shape": LARGE, "dtype": "float32", "axis": -1}
    for func in FUNCS:
        r = _find(results, func=func, **auto, **large)
        if r is not None:
            add(f"numpy {func} / scipy (4096x4096 f32)", r.vs_anchor, 0.50,
                rows=_vs(results, r))  # fmt: skip
            add(f"numpy {func} / copy (4096x4096 f32)", r.vs_copy, 3.0,
                rows=_vs(results, r, "copy"))  # fmt: skip
            if func != "logsumexp":
                add(f"numpy {func} peak alloc / output", r.peak_vs_output, 1.10)
    # layout independence: off the last axis against the last axis of the same
    # array, and against scipy on the same layout
    for r in results:
        if not (_is(r, **auto) and r.axis != -1 and r.shape in (LARGE, LARGE_3D)):
            continue
        # the last-axis reference timed in the same repetitions (not the
        # last-axis case, timed minutes apart)
        last = _find(results, backend="numpy", subject=LAST_AXIS, case=r.case, func=r.func,
                     dtype=r.dtype)  # fmt: skip
        where = f"{_where(r)}, axis={r.axis}"
        if last is not None:
            add(f"numpy {r.func} {where} / axis=-1", r.median_s / last.median_s, 1.30,
                rows=(r, last))  # fmt: skip
        add(f"numpy {r.func} {where} / scipy", r.vs_anchor, 0.50, rows=_vs(results, r))
    for shape, dtype in ((TINY, "float32"), (SMALL, "float64")):
        for func in FUNCS:
            r = _find(results, func=func, shape=shape, dtype=dtype, axis=-1, **auto)
            if r is not None:
                add(f"numpy {func} / scipy on ({_where(r)})", r.vs_anchor, 1.00,
                    rows=_vs(results, r))  # fmt: skip


def _torch_goals(results: list[Result], add: Callable[..., None], backend: str) -> None:
    auto = {"backend": backend, "subject": "xpsoftmax[auto]"}
    for func in FUNCS:
        for dtype in ("float32", "float64"):
            for axis in (-1, 0):
                at = {"func": func, "shape": LARGE, "dtype": dtype, "axis": axis, "mode": "call"}
                r = _find(results, **at, **auto)
                a = _find(results, **at, backend=backend, role="anchor")
                if r is None:
                    continue
                where = f"{_where(r)}, axis={r.axis}"
                add(f"{backend} {func} auto / torch.{func} ({where})", r.vs_anchor, 1.00,
                    rows=(r, a))  # fmt: skip
                if r.peak_bytes is not None and a is not None and a.peak_bytes is not None:
                    add(f"{backend} {func} auto peak memory / torch's ({where})",
                        r.peak_bytes / max(1, a.peak_bytes), 1.00)  # fmt: skip
            r = _find(results, func=func, shape=TINY, dtype=dtype, mode="call", **auto)
            a = _find(results, func=func, shape=TINY, dtype=dtype, mode="call",
                      backend=backend, role="anchor")  # fmt: skip
            if r is not None and a is not None:
                add(f"{backend} {func} auto overhead on (4, 8) {_SHORT[dtype]}",
                    (r.median_s - a.median_s) * 1e6, 2.0, unit="us", rows=(r, a),
                    overhead=True)  # fmt: skip
    for r in results:
        if not _is(r, backend=backend, role="xpsoftmax"):
            continue
        if r.mode == "grad" and r.vs_anchor is not None:
            # small shapes: the fixed cost of a recorded call (issue 28)
            limit = 1.5 if r.shape in GRAD_SMALL else 1.20
            add(f"{backend} {r.func} fwd+bwd auto / torch ({_where(r)})", r.vs_anchor, limit,
                rows=_vs(results, r))  # fmt: skip
        if r.mode == "first":
            # each repetition a fresh process: judged on the repetitions themselves
            add(f"{backend} {r.func} first fwd+bwd call of a process ({_where(r)})",
                r.median_s * 1e3, 100.0, unit="ms",
                samples=[t * 1e3 for t in r.times_s])  # fmt: skip


def _jax_goals(results: list[Result], add: Callable[..., None]) -> None:
    large = {"backend": "jax", "shape": LARGE, "dtype": "float32", "axis": -1, "mode": "call"}
    for func in FUNCS:
        r = _find(results, subject="xpsoftmax[auto] in jit", func=func, **large)
        add(f"jax {func} in jit / jit(jax.nn.{func}) (4096x4096 f32)", _get(r, "vs_anchor"), 1.10,
            rows=_vs(results, r))  # fmt: skip
        r = _find(results, subject="xpsoftmax[auto]", func=func, **large)
        add(f"jax eager {func} / jit(jax.nn.{func}) (4096x4096 f32)", _get(r, "vs_anchor"), 1.15,
            rows=_vs(results, r))  # fmt: skip
        r = _find(results, backend="jax", subject="xpsoftmax[auto]", func=func, shape=TINY,
                  dtype="float32", mode="call")  # fmt: skip
        add(f"jax eager {func} / jit(jax.nn.{func}) on (4, 8)", _get(r, "vs_anchor"), 2.0,
            rows=_vs(results, r))  # fmt: skip
        r = _find(results, backend="jax", role="xpsoftmax", func=func, dtype="float32",
                  mode="grad")  # fmt: skip
        if r is not None:
            add(f"jax jit(grad({func})) / jit(grad(jax.nn.{func})) ({_where(r)})",
                r.vs_anchor, 1.20, rows=_vs(results, r))  # fmt: skip


def _dask_goals(results: list[Result], add: Callable[..., None]) -> None:
    # throughput on the throughput case where it was timed (else on the large
    # 2-D shape), working memory in chunks
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
            add(f"dask {func} throughput / numpy ({where})", 1 / r.vs_anchor, 0.8, le=False,
                rows=_vs(results, r)[::-1])  # fmt: skip
        add(
            f"dask {func} working memory beyond the result ({where})",
            r.extra_vs_chunk,
            1.0,
            unit="chunks",
        )


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
    big = {"shape": shape, "dtype": "float32", "mode": "call", "axis": -1}
    label = "x".join(map(str, shape)) + " f32"
    for backend in ("torch:cuda", "jax:gpu"):
        for func in FUNCS:
            r = _find(results, backend=backend, subject="xpsoftmax[auto]", func=func, **big)
            add(f"{backend} {func} auto / native ({label})", _get(r, "vs_anchor"), 1.05,
                rows=_vs(results, r))  # fmt: skip
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
            rows=_vs(results, r, "copy")[::-1],
        )
    for func in FUNCS:
        r = _find(results, backend="cupy", subject="xpsoftmax[auto]", func=func, **big)
        add(f"cupy {func} auto / cupyx.scipy.special ({label})", _get(r, "vs_anchor"), 1.0,
            rows=_vs(results, r))  # fmt: skip
