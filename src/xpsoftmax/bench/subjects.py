"""The bench's subjects, built from the conformance suite's subject registry.

For one (case, input, function), each target of the run (backend x device,
:func:`xpsoftmax.testing.targets`) contributes, from
:data:`xpsoftmax.conformance.subjects.REGISTRY`:

* xpsoftmax with each impl that runs different code for the function
  (``auto``, plus ``portable`` where auto is the native kernel, else
  ``native`` where the backend has one);
* its backend's anchor (the registry entry marked ``anchor=True``): JAX's is
  timed jitted, as a JAX user runs it;
* a plain copy (the memory-bandwidth floor), from :data:`COPIES`.

Every one is timed through its registry :class:`~xpsoftmax.conformance.subjects.Call`,
``call(x, case)``, xpsoftmax and anchor alike (that wrapper costs well under
0.1 us).  A backend the bench has no entry for in :data:`COPIES` /
:data:`WAITS` gets the standard's ``xp.asarray(x, copy=True)`` as its copy and
is taken to compute eagerly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conformance.cases import Case
from ..conformance.subjects import Subject as Registered
from ..conformance.subjects import registered, xpsoftmax_subject
from ..testing import Target, targets
from .cases import DASK_SMALL_CHUNK, BenchCase


@dataclass
class Subject:
    backend: str
    label: str
    #: "xpsoftmax", "anchor" (the backend's own kernel), "scipy", "copy", or
    #: "reference" (:data:`LAST_AXIS`)
    role: str
    fn: Callable[[], Any]
    impl: str | None = None
    #: Dask subjects: the bytes of one chunk (working memory is measured in chunks)
    chunk_bytes: int | None = None
    #: the input: peak memory is measured on torch tensors
    x: Any = None
    #: the axis it reduces over where that is not its case's (the reference)
    axis: Any = None


#: the label of the reference subject of NumPy's cases off the last axis:
#: xpsoftmax over the last axis of the same array, timed in the same
#: repetitions, so the layout goal ("at most 1.3x the last-axis time") is a
#: ratio of interleaved times like every other (the last-axis case runs
#: minutes earlier, and this machine's speed drifts by up to 2x in that time)
LAST_AXIS = "xpsoftmax[auto] axis=-1"


def bench_case(func: str, dtype: str, axis: Any) -> Case:
    """The conformance :class:`Case` of one timed call (no values: the input is given)."""
    empty = np.empty(0)
    return Case(id=f"bench/{func}", group="bench", func=func, dtype=dtype, x=empty, axis=axis,
                where=None, keepdims=False, expected=empty, k=empty)  # fmt: skip


def loss_case(func: str, x: np.ndarray) -> Case:
    """The :class:`Case` of a "loss" case: class indices drawn from a fixed seed
    (one per row of ``x``, classes on the last axis), reduction "mean"."""
    labels = np.random.default_rng(1).integers(0, x.shape[-1], size=x.shape[:-1])
    empty = np.empty(0)
    return Case(id=f"bench/{func}", group="bench", func=func, dtype=str(x.dtype), x=x, axis=-1,
                where=None, keepdims=False, expected=empty, k=empty, labels=labels,
                loss={"reduction": "mean"})  # fmt: skip


# -- per backend: the copy and the wait ------------------------------------------------------
def _np_copy(a: Any) -> Callable[[], Any]:
    return lambda: np.copy(a)


def _torch_copy(a: Any) -> Callable[[], Any]:
    return a.clone


def _jax_copy(a: Any) -> Callable[[], Any]:
    import jax

    copy = jax.jit(lambda v: v + 0)  # one pass over memory, XLA's own floor
    return lambda: copy(a)


def _cupy_copy(c: Any) -> Callable[[], Any]:
    import cupy as cp

    def d2d_copy() -> Any:
        # cudaMemcpyAsync device to device: the bandwidth limit (ndarray.copy
        # runs an elementwise kernel, measured 1.8x slower on an H100)
        out = cp.empty_like(c)
        out.data.copy_from_device_async(c.data, c.nbytes)
        return out

    return d2d_copy


#: backend -> (input -> its copy as a call without arguments, its label)
COPIES: dict[str, tuple[Callable[[Any], Callable[[], Any]], str]] = {
    "numpy": (_np_copy, "copy"),
    "torch": (_torch_copy, "copy"),
    "jax": (_jax_copy, "copy (jit x+0)"),
    "cupy": (_cupy_copy, "copy (cudaMemcpy)"),
}


def _torch_wait(target: Target) -> Callable[[Any], Any] | None:
    import torch

    return (lambda out: torch.cuda.synchronize()) if target.device_label != "cpu" else None


def _cupy_wait(target: Target) -> Callable[[Any], Any] | None:
    import cupy as cp

    sync = cp.cuda.Device().synchronize
    return lambda out: sync()


def _jax_wait(target: Target) -> Callable[[Any], Any] | None:
    import jax

    # JAX dispatches asynchronously: wait for every array of the result
    return lambda out: jax.block_until_ready(out)


#: backend -> what waits for a call's device work (None: the call is synchronous)
WAITS: dict[str, Callable[[Target], Callable[[Any], Any] | None]] = {
    "torch": _torch_wait,
    "cupy": _cupy_wait,
    "jax": _jax_wait,
}


def _waited(wait: Callable[[Any], Any] | None, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` followed by ``wait(out)``: device work is timed, not its launch."""
    if wait is None:
        return fn

    def run() -> Any:
        out = fn()
        wait(out)
        return out

    return run


def bench_name(t: Target) -> str:
    """The backend column of the report: the backend on the CPU, else with its device."""
    if t.device_label == "cpu":
        return t.backend_name
    return {"torch": "torch:cuda", "cupy": "cupy"}.get(t.backend_name, t.id)


def bench_targets(backends: dict[str, str | None], devices: str = "all") -> list[Target]:
    """The targets that run here among ``backends`` (name -> None or why not);
    ``devices`` "cpu" or "gpu" keeps those devices only.  JAX runs with its
    float64 switch as configured (float64 inputs are skipped where it is off)."""
    import importlib.util

    names = [n for n, why in backends.items() if why is None and n != "dask"]
    x64 = "off"
    if "jax" in names and importlib.util.find_spec("jax") is not None:
        import jax

        x64 = "on" if getattr(jax.config, "jax_enable_x64") else "off"  # noqa: B009
    out = []
    for t in targets(names, jax_x64=x64) if names else []:
        gpu = t.device_label != "cpu"
        if t.skip is None and (devices == "all" or (devices == "gpu") == gpu):
            out.append(t)
    return out


def _impls(t: Target, func: str) -> list[str]:
    """The impls that run different code for this function (auto always)."""
    backend = t.backend
    out = ["auto"]
    if func in backend.auto_native_funcs:
        out.append("portable")  # auto is the native kernel: time ours too
    elif func in backend.native_funcs:
        out.append("native")
    return out


def _prefix(s: Registered) -> str:
    """``torch@torch:cpu`` -> ``torch``: the anchor's name in the report."""
    return s.id.split("@", 1)[0]


def target_subjects(t: Target, case: BenchCase, x: np.ndarray, func: str) -> list[Subject]:
    """The subjects of one target on one (case, input, function)."""
    name = bench_name(t)
    c = bench_case(func, str(x.dtype), case.axis)
    wait = WAITS[t.backend_name](t) if t.backend_name in WAITS else None
    a = t.asarray(x)
    if case.mode == "loss":
        # the backend's own loss: the first native subject that has it
        # (JAX's anchor, jax.nn, has none: optax's is the one)
        c = loss_case(func, x)
        own = next((s for s in registered(t) if s.kind == "native" and func in s.funcs), None)
        return _grad_subjects(t, name, a, c, func, xpsoftmax_subject(t, "auto"), own, wait)
    impls = _impls(t, func)
    xps = [xpsoftmax_subject(t, i) for i in impls]
    anchor = next(iter(registered(t, anchor_only=True)), None)
    if anchor is not None and anchor.gap(c) is not None:
        anchor = None  # e.g. torch.softmax over a tuple of axes
    if case.mode == "grad":
        return _grad_subjects(t, name, a, c, func, xps[0], anchor, wait)
    subs = [
        Subject(name, f"xpsoftmax[{i}]", "xpsoftmax", _waited(wait, _bound(s, func, a, c)), i, x=a)
        for i, s in zip(impls, xps, strict=True)
    ]
    if t.backend_name == "numpy" and case.axis != -1:
        last = _bound(xps[0], func, a, bench_case(func, str(x.dtype), -1))
        subs.append(Subject(name, LAST_AXIS, "reference", _waited(wait, last), "auto", axis=-1))
    if t.backend_name == "jax":
        import jax

        in_jit = jax.jit(lambda v: xps[0].funcs[func](v, c))
        subs.append(Subject(name, "xpsoftmax[auto] in jit", "xpsoftmax",
                            _waited(wait, lambda: in_jit(a))))  # fmt: skip
    if anchor is not None:
        fn = anchor.funcs[func]
        label = f"{_prefix(anchor)}.{func}"
        role = "scipy" if t.backend_name == "numpy" else "anchor"
        if t.backend_name == "jax":
            import jax

            jitted = jax.jit(lambda v: fn(v, c))
            subs.append(Subject(name, f"jit({label})", role, _waited(wait, lambda: jitted(a))))
        else:
            subs.append(Subject(name, label, role, _waited(wait, lambda: fn(a, c)), x=a))
    make_copy, copy_label = COPIES.get(t.backend_name, (_standard_copy(t), "copy"))
    subs.append(Subject(name, copy_label, "copy", _waited(wait, make_copy(a))))
    return subs


def _standard_copy(t: Target) -> Callable[[Any], Callable[[], Any]]:
    xp = t.xp
    return lambda a: lambda: xp.asarray(a, copy=True)


def _bound(s: Registered, func: str, a: Any, c: Case) -> Callable[[], Any]:
    fn = s.funcs[func]
    return lambda: fn(a, c)


def _summed(fn: Any, c: Case) -> Callable[[Any], Any]:
    return lambda v: fn(v, c).sum()


def _bind1(g: Callable[[Any], Any], a: Any) -> Callable[[], Any]:
    return lambda: g(a)


def _grad_subjects(
    t: Target, name: str, a: Any, c: Case, func: str, xps: Registered,
    anchor: Registered | None, wait: Callable[[Any], Any] | None,
) -> list[Subject]:  # fmt: skip
    """Forward + backward of ``f(x).sum()`` (a loss: ``f(x)`` itself, 0-d):
    torch's ``.backward()`` on a leaf with ``requires_grad`` (its ``.grad``
    reset before each call, so no call pays an accumulation), JAX's
    ``jit(grad(...))``; other backends: none."""
    pairs = [(xps, "xpsoftmax[auto]", "xpsoftmax")]
    if anchor is not None:
        pairs.append((anchor, f"{_prefix(anchor)}.{func}", "anchor"))
    out = []
    if t.backend_name == "torch":
        for s, label, role in pairs:
            leaf = a.detach().clone().requires_grad_(True)
            fn = s.funcs[func]

            def fwd_bwd(fn: Any = fn, leaf: Any = leaf) -> Any:
                leaf.grad = None
                fn(leaf, c).sum().backward()
                return leaf.grad

            out.append(Subject(name, f"{label} fwd+bwd", role, _waited(wait, fwd_bwd),
                               "auto" if role == "xpsoftmax" else None, x=leaf))  # fmt: skip
    elif t.backend_name == "jax":
        import jax

        for s, label, role in pairs:
            fn = s.funcs[func]
            g = jax.jit(jax.grad(_summed(fn, c)))
            out.append(Subject(name, f"jit(grad({label}))", role, _waited(wait, _bind1(g, a)),
                               "auto" if role == "xpsoftmax" else None))  # fmt: skip
    return out


def subjects_for(case: BenchCase, x: np.ndarray, func: str, tgts: list[Target]) -> list[Subject]:
    """Every target's subjects of one (case, input, function)."""
    out: list[Subject] = []
    for t in tgts:
        if case.runs_on(t.backend_name):
            out += target_subjects(t, case, x, func)
    return out


# -- Dask ---------------------------------------------------------------------------------
def dask_chunk_bytes(nbytes: int) -> int:
    """Row-chunk size for an input of ``nbytes``: Dask's ``array.chunk-size``
    where the input holds at least 4 such chunks, else 16 MiB."""
    import dask
    from dask.utils import parse_bytes

    default = parse_bytes(dask.config.get("array.chunk-size"))
    return default if nbytes >= 4 * default else DASK_SMALL_CHUNK


def dask_subjects(
    x: Any, func: str, gpu: bool = False, compute: bool = True, axis: Any = -1
) -> list[Subject]:
    """xpsoftmax on Dask arrays of row chunks (every slice of the last axis in
    one chunk; Dask's own route is timed, not the conformance suite's split
    chunks)."""
    import dask
    import dask.array as da

    f = xpsoftmax_subject(Target("dask"), "auto").funcs[func]
    c = bench_case(func, str(x.dtype), axis)
    chunk_bytes = dask_chunk_bytes(x.nbytes)
    rows = max(1, chunk_bytes // max(1, x.nbytes // x.shape[0]))
    chunks = (rows,) + (-1,) * (x.ndim - 1)
    if gpu:  # CuPy chunks, already on the device
        import cupy as cp

        d = da.from_array(cp.asarray(x), chunks=chunks, asarray=False)
        sync: Callable[[Any], Any] | None = lambda out: cp.cuda.Device().synchronize()  # noqa: E731
    else:
        d = da.from_array(x, chunks=chunks)
        sync = None
    real_chunk = math.prod(d.chunksize) * x.itemsize

    def run(method: str) -> Callable[[], Any]:
        def go() -> Any:
            with dask.config.set(scheduler="threads"):
                return getattr(f(d, c), method)()

        return _waited(sync, go)

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
    c = bench_case(func, str(x.dtype), -1)
    f = xpsoftmax_subject(Target("numpy"), "auto").funcs[func]
    return [
        Subject("numpy", "xpsoftmax[auto]", "xpsoftmax", lambda: f(x, c), "auto"),
        *dask_subjects(x, func, compute=False),
    ]
