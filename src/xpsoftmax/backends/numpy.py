"""NumPy: the portable code, run in place, block by block, on threads.

The arithmetic is :mod:`xpsoftmax._core`'s, unchanged.  What this adapter adds
is *how* the core runs on NumPy:

* in place: every ``*_`` hook writes into the buffer the core allocated, and the
  hooks that "allocate" (``sub``, ``exp``, ``equal_as``, the boolean mask of
  ``sum_except_max``) may be pointed at a buffer given in advance, so the result
  is written once into the output;
* in fewer passes: ``sum_except_max`` finds the maxima by one scalar comparison
  (e == 1) where each slice has a single one, and rows of 1024-8191 elements
  run their ufuncs with a one-row buffer (see ``_row_bufsize``);
* in blocks: on a large input the core runs on cache-sized blocks of slices
  (a block spans whole slices, so the reductions are the same), each block
  writing into its part of one preallocated output; temporaries are one block
  each, so the peak memory is the output plus a few blocks;
* on threads: NumPy releases the GIL inside its loops, so the blocks are shared
  among ``len(os.sched_getaffinity(0))`` threads (the caller and helpers from a
  pool made once, lazily), each taking the next block when it is free.  Small
  inputs take the plain in-place path and never touch the pool.  The caller
  never waits for a helper that has not started (helpers are an optimisation:
  the caller alone finishes the blocks), so a call neither waits behind other
  calls' queued helpers nor hangs where the pool runs nothing: a forked child
  makes a pool of its own, and at interpreter shutdown the caller works alone.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .. import _core
from ._base import Backend, Call, run_core

#: bytes of input per block.  Measured on a 2-core EPYC (1 MiB L2 per core, 32 MiB
#: L3, float32 (4096, 4096)): 128 KiB blocks pay ~40 us of Python per block too
#: often; 512 KiB is slower again since the one-row ufunc buffer; 1-2 MiB are
#: within noise of each other; 1 MiB keeps log_softmax's block-sized arrays
#: (input, output, one float scratch, a bool mask) well inside L3 and the peak
#: allocation at 1.04x the output with two threads
BLOCK_BYTES = 1024 * 1024
#: inputs below this run unblocked in the calling thread (no pool, no split)
MIN_BLOCKED_BYTES = 2 * BLOCK_BYTES
#: arrays below this many elements find their maxima by the plain comparison
#: (fewer NumPy calls) rather than by the scan for e == 1 in sum_except_max
MIN_SCAN_SIZE = 1024


@functools.cache
def _exact_ones(dtype: Any) -> int:
    """The most ones that a float sum in ``dtype`` counts exactly."""
    import numpy as np

    return 2 ** (np.finfo(dtype).nmant + 1)


class NumpyOps(_core.Ops):
    # NumPy arrays are mutable: every ``*_`` hook writes into the buffer the
    # core allocated instead of allocating another full-size temporary.
    def sub(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.subtract(a, b)

    def sub_(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.subtract(a, b, out=a)

    def exp_(self, a: Any) -> Any:
        import numpy as np

        return np.exp(a, out=a)

    def equal_as(self, a: Any, b: Any, dtype: Any) -> Any:
        import numpy as np

        # straight into the float buffer: no boolean temporary
        out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=dtype)
        return np.equal(a, b, out=out, casting="unsafe")

    def bools(self, shape: tuple[int, ...]) -> Any:
        """A boolean buffer of ``shape`` for the core's masks of the maxima."""
        import numpy as np

        return np.empty(shape, dtype=np.bool_)

    def sum_except_max(self, e: Any, xm: Any, mx: Any, axes: tuple[int, ...]) -> Any:
        import numpy as np

        if math.prod(e.shape[i] for i in axes) > _exact_ones(e.dtype):
            # a float sum of that many ones may round: count as the core does
            return super().sum_except_max(e, xm, mx, axes)
        one = e.dtype.type(1)
        if len(axes) == 1 and e.size >= MIN_SCAN_SIZE and np.isfinite(mx).all():
            # With a finite max m, e = exp(x - m) is exactly 1 at the maxima
            # (and perhaps at entries so close to m that exp rounds to 1).  If
            # e == 1 once per slice, that entry is the slice's only maximum:
            # the core's e - is_max zeroes it and nothing else, and its count
            # is 1.  One scalar comparison and a count find that, with no pass
            # of x == m, no masked subtraction and no per-slice count.
            at_one = np.equal(e, one, out=self.bools(e.shape))
            if np.count_nonzero(at_one) == mx.size:
                ax = axes[0]
                first = np.argmax(at_one, axis=ax)
                if e.ndim == 2 and ax == 1:  # the blocked path's rows: less Python
                    e[np.arange(e.shape[0]), first] = 0
                else:
                    np.put_along_axis(e, np.expand_dims(first, ax), 0, axis=ax)
                total = np.add.reduce(e, axis=axes, keepdims=True)
                return total, np.ones(mx.shape, dtype=e.dtype)
        # ties, or slices that are not finite: the maxima where xm == m
        is_max = np.equal(xm, mx, out=self.bools(xm.shape))
        # e is exactly 1 where is_max in a finite slice: subtracting 1 there is
        # the core's e - is_max (e - 0 == e elsewhere), without a float mask
        np.subtract(e, one, out=e, where=is_max)
        total = np.add.reduce(e, axis=axes, keepdims=True)
        # a float sum of 0/1 below 2**(nmant+1) terms is exact: the core's count
        count = np.add.reduce(is_max.view(np.uint8), axis=axes, keepdims=True, dtype=e.dtype)
        return total, count

    def div_(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.divide(a, b, out=a)

    def fill_where_not_(self, a: Any, mask: Any, value: float) -> Any:
        import numpy as np

        np.copyto(a, value, where=np.logical_not(mask))
        return a

    def scalar(self, value: float, like: Any) -> Any:
        import numpy as np

        # the compat layer's asarray checks devices: a measurable cost per block
        return np.asarray(value, dtype=like.dtype)


class BlockOps(NumpyOps):
    """NumpyOps whose allocating hooks write into buffers given in advance.

    ``target`` (the block's part of the output, or None) receives ``sub``: in
    softmax and log_softmax that is the buffer the core returns.  Scratch
    buffers of one block each, reused from block to block, receive ``exp``
    (and ``sub`` when there is no target: logsumexp, whose core then
    exponentiates in place and never calls ``exp``), ``equal_as`` and the
    boolean mask of the maxima.
    """

    def __init__(self, xp: Any, block_shape: tuple[int, ...], dtype: Any) -> None:
        super().__init__(xp)
        self.target: Any = None
        self._shape, self._dtype = block_shape, dtype
        # made on first use: softmax with a target needs no scratch at all
        self._bufs: dict[str, Any] = {}

    def _fit(self, name: str, shape: tuple[int, ...], dtype: Any = None) -> Any:
        import numpy as np

        buf = self._bufs.get(name)
        if buf is None:
            dtype = self._dtype if dtype is None else dtype
            buf = self._bufs[name] = np.empty(self._shape, dtype=dtype)
        # blocks differ only in the length along the split axis (the last is
        # shorter): a leading corner of the scratch buffer has the right shape
        return buf[tuple(slice(0, n) for n in shape)]

    def sub(self, a: Any, b: Any) -> Any:
        import numpy as np

        out = self.target if self.target is not None else self._fit("a", a.shape)
        return np.subtract(a, b, out=out)

    def exp(self, a: Any) -> Any:
        import numpy as np

        return np.exp(a, out=self._fit("a", a.shape))

    def equal_as(self, a: Any, b: Any, dtype: Any) -> Any:
        import numpy as np

        out = self._fit("b", a.shape)
        return np.equal(a, b, out=out, casting="unsafe")

    def bools(self, shape: tuple[int, ...]) -> Any:
        import numpy as np

        return self._fit("m", shape, np.bool_)


# -- ufunc buffer size ----------------------------------------------------------------
#: rows at least this long run their ufuncs with a buffer of one row (see below)
MIN_ROW_BUFSIZE = 1024


def _row_bufsize(x: Any, axes: tuple[int, ...]) -> int | None:
    """A ufunc buffer size (elements) for slices of ``x``, or None to keep NumPy's.

    When the slices are rows of a C-ordered array shorter than the ufunc buffer
    (8192 elements by default), NumPy's iterator fills the buffer with several
    rows at once and so copies the (rows, 1) operand of ``x - m``, ``e / s``,
    ``x == m`` into it: those run at half speed (float32 (64, 4096): 46 us
    against 21 us with a buffer of one row).  The reductions along the rows
    lose a little with a short buffer, so only rows of at least
    ``MIN_ROW_BUFSIZE`` elements get one.
    """
    import numpy as np

    n = math.prod([x.shape[i] for i in axes])
    if n < MIN_ROW_BUFSIZE or n >= np.getbufsize():
        return None
    if axes != tuple(range(x.ndim - len(axes), x.ndim)) or not x.flags.c_contiguous:
        return None
    return n // 16 * 16  # NumPy wants a multiple of 16


@contextlib.contextmanager
def _ufunc_bufsize(size: int) -> Iterator[None]:
    """Run the block under ufunc buffer ``size``: ``np.errstate`` scopes
    ``setbufsize`` (NumPy >= 2.0), per thread."""
    import numpy as np

    with np.errstate():
        np.setbufsize(size)
        yield


def _row_buffer(x: Any, axes: tuple[int, ...]) -> contextlib.AbstractContextManager[None]:
    """The ufunc buffer of :func:`_row_bufsize` for this input, as a scope
    (NumPy's own where that gives None)."""
    size = _row_bufsize(x, axes)
    return contextlib.nullcontext() if size is None else _ufunc_bufsize(size)


# -- the thread pool ------------------------------------------------------------------
_pool: Any = None
_pool_lock = threading.Lock()
_local = threading.local()


@contextlib.contextmanager
def serial() -> Iterator[None]:
    """Blocked runs started in this thread stay in it.

    For callers that already run one task per core (a Dask task): a second
    level of threads oversubscribes the cores (4 row chunks on 2 threads:
    logsumexp 10.6 ms nested, 9.8 ms serial, measured here).
    """
    prev = getattr(_local, "serial", False)
    _local.serial = True
    try:
        yield
    finally:
        _local.serial = prev


def n_threads() -> int:
    """Threads for blocked runs: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _get_pool() -> Any:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                from concurrent.futures import ThreadPoolExecutor

                _pool = ThreadPoolExecutor(n_threads(), thread_name_prefix="xpsoftmax")
    return _pool


def _after_fork_in_child() -> None:
    # A forked child (os.fork, multiprocessing's "fork", DataLoader workers)
    # inherits the pool object but none of its threads: the pool would take
    # helpers that no thread ever runs.  The child makes its own on first use.
    # The lock is new too: another thread may have held it at the fork.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _submit(fn: Callable[[], None], n: int) -> list[Any]:
    """Up to ``n`` futures of ``fn`` on the pool; fewer (none) where the pool
    takes no more work: at interpreter shutdown (an ``atexit`` handler, a
    non-daemon thread still running after the main thread returned) the
    executor refuses new work with RuntimeError."""
    futures: list[Any] = []
    try:
        pool = _get_pool()
        for _ in range(n):
            futures.append(pool.submit(fn))
    except RuntimeError:
        pass  # helpers are an optimisation: the caller does the rest itself
    return futures


def share(work: Callable[[], None], helpers: int) -> None:
    """Run ``work`` in this thread and in up to ``helpers`` pool threads.

    ``work`` takes its tasks from a queue it shares with its copies and
    returns when the queue is empty, so the caller alone always finishes the
    job.  A helper that has not started when the caller's copy returns does
    nothing (it may be queued behind other calls' helpers, or never run at
    all): the caller waits only for helpers that started, each of which is
    working on this call's own tasks.  The first error of any copy is raised.
    """
    if helpers <= 0:
        work()
        return
    cond = threading.Condition()
    active = 0
    closed = False
    errors: list[BaseException] = []

    def helper() -> None:
        nonlocal active
        with cond:
            if closed:
                return
            active += 1
        try:
            work()
        except BaseException as exc:  # raised in the caller, below
            errors.append(exc)
        finally:
            with cond:
                active -= 1
                cond.notify_all()

    futures = _submit(helper, helpers)
    try:
        work()
    finally:
        with cond:
            closed = True
            # no task may still be running after we return or raise
            while active:
                cond.wait()
        for f in futures:
            f.cancel()  # a queued helper would only find ``closed``
    if errors:
        raise errors[0]


# -- blocked execution ----------------------------------------------------------------
def _split_plan(call: Call) -> tuple[Any, Any, int, int] | None:
    """(x view, mask view, split axis, block length) or None to run unblocked.

    A contiguous input reduced over its trailing axes is viewed as 2-D (rows,
    slice) so blocks are contiguous rows; otherwise the longest non-reduced
    axis is split (each block then spans every other axis).
    """
    x, axes, mask = call.x, call.axes, call.mask
    if x.nbytes < MIN_BLOCKED_BYTES:
        return None
    ndim = x.ndim
    keep = [i for i in range(ndim) if i not in axes]
    if not keep:
        return None  # one slice: nothing to split
    trailing = axes == tuple(range(ndim - len(axes), ndim))
    if trailing and x.flags.c_contiguous and mask is None:
        rows = math.prod(x.shape[: ndim - len(axes)])
        x = x.reshape(rows, -1)
        split = 0
    else:
        split = max(keep, key=lambda i: x.shape[i])
    per_index = x.nbytes // x.shape[split]
    length = max(1, BLOCK_BYTES // max(per_index, 1))
    if length >= x.shape[split]:
        return None
    return x, mask, split, length


def run_blocked(call: Call, xp: Any, errstate: Any) -> Any:
    """Run the core block by block into one output; None if not worth it."""
    import numpy as np

    plan = _split_plan(call)
    if plan is None:
        return None
    x, mask, split, length = plan
    n = x.shape[split]
    reduce_out = call.func == "logsumexp"
    axes = call.axes if x.ndim == call.x.ndim else (1,)
    out_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
    out = np.empty(out_shape if reduce_out else x.shape, dtype=x.dtype)
    block_shape = tuple(length if i == split else s for i, s in enumerate(x.shape))
    starts = range(0, n, length)
    # Blocks are handed out one at a time to whichever thread is free, so a
    # thread slowed by other work on its core (a shared machine) takes fewer
    # of them instead of holding up the call with a fixed half.
    queue = iter(starts)
    lock = threading.Lock()

    def take() -> Iterator[int]:
        while True:
            with lock:
                start = next(queue, None)
            if start is None:
                return
            yield start

    def index(start: int) -> tuple[slice, ...]:
        return (slice(None),) * split + (slice(start, min(start + length, n)),)

    def work() -> None:
        ops = BlockOps(xp, block_shape, x.dtype)  # scratch reused across its blocks
        # NumPy's error state and buffer size are per thread
        with errstate(), _row_buffer(x, axes):
            for start in take():
                sl = index(start)
                xb = x[sl]
                mb = None if mask is None else mask[sl]
                ob = out[sl]
                if reduce_out:
                    ob[...] = _core.logsumexp(xb, axes, mb, True, ops)
                    continue
                ops.target = ob
                fn = _core.softmax if call.func == "softmax" else _core.log_softmax
                res = fn(xb, axes, mb, ops)
                if res is not ob:  # pragma: no cover - every path returns the target
                    ob[...] = res

    workers = 1 if getattr(_local, "serial", False) else min(n_threads(), len(starts))
    # the calling thread works too: workers - 1 helpers from the pool
    share(work, workers - 1)
    if not reduce_out:
        return out.reshape(call.x.shape)
    kept = tuple(1 if i in call.axes else s for i, s in enumerate(call.x.shape))
    out = out.reshape(kept)
    return out if call.keepdims else np.squeeze(out, axis=call.axes)


class NumpyBackend(Backend):
    name = "numpy"
    module = "numpy"
    compat_predicate = "is_numpy_array"
    namespace_module = "array_api_compat.numpy"

    def devices(self) -> list[Any]:
        return ["cpu"]

    def ops(self, xp: Any) -> _core.Ops:
        return NumpyOps(xp)

    def run_portable(self, call: Call, xp: Any) -> Any:
        out = run_blocked(call, xp, self.errstate)
        if out is None:
            with _row_buffer(call.x, call.axes):
                return run_core(call, self.ops(xp))
        return out

    def errstate(self) -> Any:
        import numpy as np

        # 0/0 and inf-inf are the documented results for NaN/inf slices
        return np.errstate(all="ignore")

    def finish(self, out: Any) -> Any:
        import numpy as np

        # NumPy reductions return scalars for 0-d results; we promise arrays
        return np.asarray(out)

    def normalize_dtype(self, dtype: Any) -> Any:
        import numpy as np

        return np.dtype(dtype)
