"""Dask at scale: any chunk layout, laziness, graph size, distributed workers.

Accuracy: a float32 Dask result is held to the error bound of
``tests/reference.py`` (generalized to tuple axes and masks: n and Z count the
slice's live entries) against the NumPy backend computing the same float32
input in float64, whose own error (~1e-16 k) is negligible at float32 ulps.
The NumPy backend itself is checked against mpmath in test_values.py.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings

import numpy as np
import pytest

import xpsoftmax as xs

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}
SHAPE = (12, 10, 8)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(SHAPE) * 8).astype(np.float32)
    mask = rng.random(SHAPE) > 0.3
    return x, mask


def _cond(func: str, x: np.ndarray, axes: tuple[int, ...], mask: np.ndarray | None) -> np.ndarray:
    """The factor k of reference.py's bounds, for tuple axes and masks."""
    x = x.astype(np.float64)
    live = np.ones(x.shape, bool) if mask is None else mask
    xm = np.where(live, x, -np.inf)
    m = np.max(xm, axis=axes, keepdims=True)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmax of a fully masked slice
        z = np.where(live, x - m, np.nan)
        zmax = np.nanmax(np.abs(z), axis=axes, keepdims=True)
        n = np.sum(live, axis=axes, keepdims=True)
        big_l = np.log(np.sum(np.where(live, np.exp(z), 0.0), axis=axes, keepdims=True))
        if func == "softmax":
            k = np.abs(z) + zmax + n + 3
        elif func == "log_softmax":
            k = (np.abs(z) + big_l * (zmax + n + 2)) / np.abs(z - big_l) + 1
        else:
            k = (np.abs(m) + big_l * (zmax + n + 2)) / np.abs(m + big_l) + 1
    # masked entries are exact fills (checked separately); nan -> no slack there
    return np.where(np.isnan(k), 1.0, k)


def _check(func: str, got: np.ndarray, x: np.ndarray, axes, mask) -> None:
    """got (float32, from Dask) against NumPy in float64, within 2 k ulps."""
    from xpsoftmax.testing import assert_close

    f = FUNCS[func]
    kw = {} if mask is None else {"where": mask}
    want = f(x, axis=axes, dtype=np.float64, **kw)
    assert got.dtype == np.float32 and got.shape == want.shape
    nax = tuple(range(x.ndim)) if axes is None else (axes if isinstance(axes, tuple) else (axes,))
    nax = tuple(a % x.ndim for a in nax)
    if nax:
        k = _cond(func, x, nax, mask)
        if func == "logsumexp":
            k = np.squeeze(k, axis=nax)
    else:
        k = 1.0
    assert_close(got, want, ulps=2, cond=k, dtype=np.float32)
    if mask is not None and func != "logsumexp":
        fill = 0.0 if func == "softmax" else -np.inf
        assert np.all(got[~mask] == fill)


# x chunks: slices within one chunk along -1 / spanning every axis / mixed
X_CHUNKS = [(4, 10, 8), (3, 4, 3), (12, 10, 8), (5, 3, 8)]
AXES = [-1, 0, (1, 2), (0, 2), None]


@pytest.mark.parametrize("xchunks", X_CHUNKS, ids=str)
@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("func", FUNCS)
def test_chunked_layouts_match_numpy(func, axes, xchunks):
    x, _ = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning at compute time either
        y = FUNCS[func](da.from_array(x, chunks=xchunks), axis=axes)
        got = y.compute(scheduler="threads")
    _check(func, got, x, axes, None)


@pytest.mark.parametrize("mchunks", [(6, 2, 3), (12, 10, 1), "same"], ids=str)
@pytest.mark.parametrize("xchunks", X_CHUNKS[:2], ids=str)
@pytest.mark.parametrize("axes", [-1, (0, 2)], ids=str)
@pytest.mark.parametrize("func", FUNCS)
def test_chunked_mask_chunked_differently(func, axes, xchunks, mchunks):
    x, mask = _data(1)
    mask[:, 0, :] = False  # fully masked slices for axis=-1
    mchunks = xchunks if mchunks == "same" else mchunks
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = FUNCS[func](
            da.from_array(x, chunks=xchunks), axis=axes, where=da.from_array(mask, chunks=mchunks)
        )
        got = y.compute(scheduler="threads")
    _check(func, got, x, axes, mask)


def test_broadcast_mask_and_keepdims():
    x, mask = _data(2)
    xd = da.from_array(x, chunks=(4, 5, 8))
    row = da.from_array(mask[0, 0], chunks=4)  # shape (8,), broadcast along the rest
    got = xs.softmax(xd, axis=-1, where=row).compute()
    _check("softmax", got, x, -1, np.broadcast_to(mask[0, 0], x.shape))
    for axes in [-1, (0, 1)]:
        got = xs.logsumexp(xd, axis=axes, keepdims=True).compute()
        want = xs.logsumexp(x, axis=axes, keepdims=True, dtype=np.float64)
        assert got.shape == want.shape
        k = _cond("logsumexp", x, tuple(a % 3 for a in np.atleast_1d(axes)), None)
        from xpsoftmax.testing import assert_close

        assert_close(got, want, ulps=2, cond=k, dtype=np.float32)


@pytest.mark.parametrize("chunks", [(1, 3), (2, 1)], ids=["in-chunk", "spanning"])
def test_special_slices_exact_and_silent(chunks):
    """NaN / +inf / only -inf / fully masked slices: the documented results, no warning."""
    inf, nan = np.inf, np.nan
    x = np.array(
        [[1.0, nan, 3.0], [inf, 1000.0, 1.0], [-inf, -inf, -inf], [2.0, 5.0, 1.0]], np.float32
    )
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0]], bool)
    xd = da.from_array(x, chunks=chunks)
    md = da.from_array(mask, chunks=(3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in FUNCS.values():
            for kw, npkw in [({}, {}), ({"where": md}, {"where": mask})]:
                got = f(xd, **kw).compute(scheduler="threads")
                np.testing.assert_array_equal(got, f(x, **npkw))


def _forbid(*args, **kwargs):  # a scheduler that refuses to run
    raise AssertionError("computed inside the library")


@pytest.mark.parametrize("xchunks", [(4, 10, 8), (3, 4, 3)], ids=["in-chunk", "spanning"])
def test_stays_lazy(xchunks):
    x, mask = _data()
    xd = da.from_array(x, chunks=xchunks)
    md = da.from_array(mask, chunks=(6, 2, 3))
    with dask.config.set(scheduler=_forbid):
        outs = [f(xd, where=md) for f in FUNCS.values()]
        outs += [f(xd, axis=(0, 2)) for f in FUNCS.values()]
        outs.append(xs.logsumexp(xd, axis=None, keepdims=True))
    assert all(isinstance(o, da.Array) for o in outs)


def _ntasks(a) -> int:
    return len(a.__dask_graph__())


@pytest.mark.parametrize("func", FUNCS)
def test_graph_size_follows_chunks_not_elements(func):
    f = FUNCS[func]
    sizes = {}
    for nchunks in (4, 16, 64):
        for per_chunk in (10, 1000):  # same chunk count, 100x the elements
            for name, chunks, axis in [
                ("in-chunk", (per_chunk, 32), -1),
                ("spanning", (per_chunk, 32), 0),
            ]:
                x = da.ones((nchunks * per_chunk, 32), chunks=chunks, dtype=np.float32)
                sizes[name, nchunks, per_chunk] = _ntasks(f(x, axis=axis)) - _ntasks(x)
    for name in ("in-chunk", "spanning"):
        for n in (4, 16, 64):
            assert sizes[name, n, 10] == sizes[name, n, 1000]
        # linear in the chunk count: 4x the chunks is at most 4x the tasks
        assert sizes[name, 16, 10] <= 4 * sizes[name, 4, 10]
        assert sizes[name, 64, 10] <= 4 * sizes[name, 16, 10]
    # slices within chunks: one task per chunk and nothing else
    for n in (4, 16, 64):
        assert sizes["in-chunk", n, 10] == n


@pytest.mark.parametrize(
    ("func", "keepdims"),
    [("softmax", False), ("log_softmax", False), ("logsumexp", False), ("logsumexp", True)],
)
def test_tasks_run_on_the_chunks_dask_holds(monkeypatch, func, keepdims):
    """Slices within chunks: building the graph runs no kernel (the meta is
    given), and each task runs on the chunk Dask holds, not on a copy (as
    map_blocks(drop_axis=...) made for logsumexp: one concatenated copy of
    every chunk, which made it 1.8x slower than NumPy on 16 MiB chunks)."""
    from xpsoftmax.backends import dask as dask_backend

    x, _ = _data(3)
    xd = da.from_array(x, chunks=(4, 10, 8))
    held = [v for v in dict(xd.__dask_graph__()).values() if isinstance(v, np.ndarray)]
    assert len(held) == xd.npartitions == 3
    seen: list[np.ndarray] = []
    real = dask_backend._numpy_block

    def spy(chunk, mask, **kwargs):
        seen.append(dask_backend._one_block(chunk))
        return real(chunk, mask, **kwargs)

    monkeypatch.setattr(dask_backend, "_numpy_block", spy)
    kw = {"keepdims": keepdims} if func == "logsumexp" else {}
    y = FUNCS[func](xd, axis=(1, 2), **kw)  # two reduced axes, each one chunk
    assert seen == []
    got = y.compute(scheduler="sync")
    assert len(seen) == 3
    assert all(any(np.shares_memory(c, h) for h in held) for c in seen)
    if keepdims:
        got = np.squeeze(got, axis=(1, 2))
    _check(func, got, x, (1, 2), None)


# -- dask.distributed: worker processes on this machine ------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=3,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit="1GiB",
        silence_logs=logging.CRITICAL,
    )
    try:
        c = distributed.Client(cluster, timeout="60s")
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()


def _random_input(shape, chunks):
    return da.random.default_rng(42).standard_normal(shape, dtype=np.float32, chunks=chunks) * 6


@pytest.mark.parametrize("axis", [0, 1, (0, 1)], ids=["spanning", "in-chunk", "tuple"])
def test_local_cluster_matches_numpy(client, axis):
    x = _random_input((600, 120), (100, 120))
    xn = x.compute(scheduler="threads")
    for func, f in FUNCS.items():
        fut = client.compute(f(x, axis=axis))
        got = fut.result(timeout=60)
        _check(func, np.asarray(got), xn, axis, None)


def test_worker_killed_mid_run_result_complete(client):
    """SIGKILL one worker process mid-computation: Dask's scheduler reruns its tasks."""
    x = _random_input((2400, 64), (100, 64))  # 24 chunks, softmax spans all of them
    xn = x.compute(scheduler="threads")

    def slow(block):  # nested, so cloudpickle ships it by value to the workers
        time.sleep(0.15)
        return block

    y = xs.softmax(x.map_blocks(slow, dtype=x.dtype), axis=0)
    pids = client.run(os.getpid)
    fut = client.compute(y)
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        # a worker holding finished pieces of this computation: killing it loses work
        held = {w: keys for w, keys in client.has_what().items() if keys and w in pids}
        if held:
            victim = next(iter(held))
        else:
            time.sleep(0.05)
    assert victim is not None, "the computation never started"
    assert not fut.done()
    os.kill(pids[victim], signal.SIGKILL)
    got = np.asarray(fut.result(timeout=120))
    assert pids[victim] not in client.run(os.getpid).values()  # the process really died
    _check("softmax", got, xn, 0, None)


def test_empty_slices_keep_chunks():
    # regression: the empty-reduction shortcut built da.zeros(shape), which
    # raises ZeroDivisionError for (0, 65536) with automatic chunks
    x = da.ones((0, 65536), chunks=(8192, 1024), dtype=np.float32)
    for f in (xs.softmax, xs.log_softmax):
        y = f(x, axis=0)
        assert y.chunks == x.chunks and y.dtype == np.float32
        assert y.compute().shape == (0, 65536)
    lse = xs.logsumexp(x, axis=0).compute()
    assert lse.shape == (65536,) and np.all(lse == -np.inf)


@pytest.mark.parametrize("func", ["softmax", "log_softmax", "logsumexp"])
def test_numpy_chunks_run_without_nested_threads(func, monkeypatch):
    # Dask's scheduler already runs one task per core; the NumPy path inside a
    # task must not start its own helper threads (oversubscription measured
    # 10-20% slower). The chunks are big enough for the blocked path.
    from xpsoftmax.backends.numpy import sizes, thread_pool

    x = np.random.default_rng(0).standard_normal((2048, 1024)).astype(np.float32)
    d = da.from_array(x, chunks=(1024, -1))
    assert x[:1024].nbytes >= sizes.MIN_BLOCKED_BYTES

    def no_pool():
        raise AssertionError("a Dask task asked the NumPy path for helper threads")

    monkeypatch.setattr(thread_pool, "_get_pool", no_pool)
    with dask.config.set(scheduler="threads"):
        got = getattr(xs, func)(d).compute()
    monkeypatch.undo()
    np.testing.assert_array_equal(got, getattr(xs, func)(x, impl="portable"))


def test_conformance_slice_chunks_subject_takes_the_chunk_path(monkeypatch):
    # the conformance suite's Dask subjects split every axis (tree reductions);
    # its slice-chunks subject exists to send the catalogue through the
    # per-chunk path instead: every non-empty case must reach _map_blocks
    from xpsoftmax.backends.dask import DaskBackend
    from xpsoftmax.conformance.cases import all_cases
    from xpsoftmax.conformance.runner import run_case
    from xpsoftmax.conformance.subjects import dask_slice_chunks_subject
    from xpsoftmax.testing import targets

    seen: list[int] = []
    original = DaskBackend._map_blocks

    def counted(self, call):
        seen.append(1)
        return original(self, call)

    monkeypatch.setattr(DaskBackend, "_map_blocks", counted)
    (target,) = (t for t in targets(["dask"], devices="cpu") if t.skip is None)
    subject = dask_slice_chunks_subject(target)
    cases = [c for c in all_cases(groups=["axes", "masks"]) if np.asarray(c.x).size > 0]
    assert cases
    with target.context():
        for case in cases:
            before = len(seen)
            r = run_case(subject, case)
            assert r.status == "pass", f"{case.id}: {r.status} {r.detail}"
            assert len(seen) > before, f"{case.id} did not take the per-chunk path"
