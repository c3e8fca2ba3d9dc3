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
  each, so the peak memory is the output plus a few blocks; a reduction over
  leading or middle axes whose slices are a few long rows (axis 0 of
  (64, 256, 1024)) runs on column slabs holding whole slices (``_run_slabs``),
  one with many rows (axis 0 of (4096, 4096)) in rounds over row blocks
  (``_run_rows``);
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
import dataclasses
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
                if e.ndim == 2 and ax == 1:  # the blocked path's rows: less Python
                    e[np.arange(e.shape[0]), np.argmax(at_one, axis=1)] = 0
                else:  # argmax off the last axis copies the mask: a masked store
                    np.copyto(e, 0, where=at_one)
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

    def scratch(self, name: str, shape: tuple[int, ...]) -> Any:
        """A scratch buffer of ``shape`` (within the block shape), reused."""
        return self._fit(name, shape)

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
#: small 2-D arrays from this size on find their row maxima by argmax (see fast_path)
MIN_ARGMAX_SIZE = 512
#: rows at least this long run their ufuncs with a buffer of one row (see below)
MIN_ROW_BUFSIZE = 1024


@functools.cache
def _numpy1() -> bool:
    import numpy as np

    return int(np.__version__.split(".", 1)[0]) < 2


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

    if _numpy1():
        # NumPy 1.x splits a row's sum at the buffer's end (the buffer is a
        # multiple of 16, the row need not be): other bits than the plain core
        return None
    n = math.prod([x.shape[i] for i in axes])
    if n < MIN_ROW_BUFSIZE or n >= np.getbufsize():
        return None
    if axes != tuple(range(x.ndim - len(axes), x.ndim)) or not x.flags.c_contiguous:
        return None
    return n // 16 * 16  # NumPy wants a multiple of 16


@contextlib.contextmanager
def _ufunc_bufsize(size: int) -> Iterator[None]:
    """Run the block under ufunc buffer ``size``, then put the thread's own back.

    ``np.errstate`` scopes ``setbufsize`` on NumPy >= 2.0 only; on NumPy 1.x the
    buffer size is per-thread state that errstate leaves alone, so without the
    explicit restore the caller's thread would keep our size after the call."""
    import numpy as np

    with np.errstate():
        old = np.setbufsize(size)
        try:
            yield
        finally:
            np.setbufsize(old)


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
def _lead_shape(call: Call) -> tuple[int, int, int] | None:
    """(K1, R, K2) for a C-ordered input reduced over one run of axes that is
    followed by kept axes (axis 0 of a matrix, a middle axis), else None."""
    x, axes = call.x, call.axes
    if call.mask is not None or not x.flags.c_contiguous:
        return None
    a0, a1 = axes[0], axes[-1]
    if axes != tuple(range(a0, a1 + 1)) or a1 == x.ndim - 1:
        return None  # trailing axes (the 2-D row view) or several runs
    k2 = math.prod(x.shape[a1 + 1 :])
    if k2 < 2:
        return None  # one column: NumPy sums it pairwise, not row by row
    return math.prod(x.shape[:a0]), math.prod(x.shape[a0 : a1 + 1]), k2


def _split_plan(call: Call) -> tuple[Any, Any, int, int, tuple[int, ...]] | None:
    """(x view, mask view, split axis, block length, the view's reduced axes)
    or None to run unblocked.

    A contiguous input reduced over its trailing axes is viewed as 2-D (rows,
    slice) so blocks are contiguous rows; one reduced over a run of axes
    followed by kept ones, whose slices fit in a block, as (K1, R, K2) split
    along K1 (blocks of whole contiguous slices); otherwise the longest
    non-reduced axis is split (each block then spans every other axis).
    """
    x, axes, mask = call.x, call.axes, call.mask
    if x.nbytes < MIN_BLOCKED_BYTES:
        return None
    ndim = x.ndim
    keep = [i for i in range(ndim) if i not in axes]
    if not keep:
        return None  # one slice: nothing to split
    trailing = axes == tuple(range(ndim - len(axes), ndim))
    lead = _lead_shape(call)
    if trailing and x.flags.c_contiguous and mask is None:
        rows = math.prod(x.shape[: ndim - len(axes)])
        x = x.reshape(rows, -1)
        split, axes = 0, (1,)
    elif lead is not None and lead[1] * lead[2] * x.itemsize <= BLOCK_BYTES:
        x = x.reshape(lead)
        split, axes = 0, (1,)
    else:
        split = max(keep, key=lambda i: x.shape[i])
    per_index = x.nbytes // x.shape[split]
    length = max(1, BLOCK_BYTES // max(per_index, 1))
    if length >= x.shape[split]:
        return None
    return x, mask, split, length, axes


def _as_c_order(call: Call) -> Call | None:
    """``call`` on the transpose of a Fortran-ordered input (a C-ordered view),
    or None.  Blocks of the transpose are contiguous, and each slice's sums run
    in the memory order NumPy itself uses on the Fortran array, so the blocked
    path gives the unblocked path's bits; the caller transposes the result back
    (for logsumexp too: the kept axes come back reversed, as the transpose has them).
    """
    x, mask = call.x, call.mask
    if x.ndim < 2 or x.flags.c_contiguous or not x.flags.f_contiguous:
        return None
    if mask is not None:
        mask = mask.T
    axes = tuple(sorted(x.ndim - 1 - a for a in call.axes))
    return dataclasses.replace(call, x=x.T, axes=axes, mask=mask)


def _share(units: list[Any], run_unit: Any, new_ops: Any, scope: Any) -> None:
    """Run ``run_unit(unit, ops)`` for every unit on the calling thread and
    helpers from the pool; each thread makes its ``ops`` once (its scratch)
    and runs under ``scope()`` (NumPy's error state and buffer size are per
    thread)."""
    # Units are handed out one at a time, in order, to whichever thread is
    # free, so a thread slowed by other work on its core (a shared machine)
    # takes fewer of them instead of holding up the call with a fixed half.
    queue = iter(units)
    lock = threading.Lock()

    def take() -> Iterator[Any]:
        while True:
            with lock:
                unit = next(queue, None)
            if unit is None:
                return
            yield unit

    def work() -> None:
        ops = new_ops()  # scratch reused across its blocks
        with scope():
            for unit in take():
                run_unit(unit, ops)

    workers = 1 if getattr(_local, "serial", False) else min(n_threads(), len(units))
    # the calling thread works too: workers - 1 helpers from the pool
    share(work, workers - 1)


def _run_rows(call: Call, x3: Any, xp: Any, errstate: Any) -> Any:
    """The core's arithmetic over axis 1 of a C-ordered (K1, R, K2) array whose
    (R, K2) slices exceed a block, in blocks of whole rows of K2.

    Blocks of whole slices would be strided column strips, slow in every pass
    (float32 (4096, 4096) over axis 0: 1.6x the time over axis 1 with 1024
    columns, 2.9x with 128).  Rows are contiguous, so the work goes in three
    rounds over row blocks, each shared among the threads: the maxima of each
    block (combined by the core's ``_shift``); ``exp(x - shift)`` and the sums
    of ``sum_except_max``; the output.  The sums are carried from block to
    block in order (a block waits for the one before it, while its exp, the
    costly part, runs in parallel), so each slice is summed row after row as
    NumPy sums the whole array unblocked: the same bits as the unblocked path.
    Round 1 keeps each block's column maxima, so round 2 looks for the maxima
    (to take them out of the sums) only in the columns whose slice maximum
    lies in the block, about one in every (R / block rows): a gather of those
    columns instead of a mask and a masked store over the whole block
    (float32 (4096, 4096) over axis 0: 0.88-0.95x the time).
    """
    import numpy as np

    func = call.func
    k1, r, k2 = x3.shape
    dtype = x3.dtype
    rows = max(1, BLOCK_BYTES // (k2 * dtype.itemsize))
    units = [(a, s, min(s + rows, r)) for a in range(k1) for s in range(0, r, rows)]
    plain = NumpyOps(xp)

    def new_ops() -> BlockOps:
        return BlockOps(xp, (rows + 1, k2), dtype)

    def scope() -> Any:
        return errstate()

    # round 1: each block's maxima (kept: round 2 finds in them the columns
    # whose slice maximum lies in the block) and each thread's running maxima
    # over its blocks (one (K1, 1, K2) array per thread); their maximum is the
    # slice's, exactly, in any order
    parts: list[Any] = []
    masks = func != "softmax"
    bmax = np.empty((len(units), k2), dtype=dtype) if masks else None

    def max_unit(iu: tuple[int, tuple[int, int, int]], ops: BlockOps) -> None:
        i, (a, s, e) = iu
        part = getattr(ops, "part", None)
        if part is None:
            part = ops.part = np.full((k1, 1, k2), -np.inf, dtype=dtype)  # type: ignore[attr-defined]
            parts.append(part)
        if bmax is None:
            np.maximum(part[a], np.maximum.reduce(x3[a, s:e], axis=0, keepdims=True), out=part[a])
            return
        np.maximum.reduce(x3[a, s:e], axis=0, out=bmax[i])
        np.maximum(part[a, 0], bmax[i], out=part[a, 0])

    _share(list(enumerate(units)), max_unit, new_ops, scope)
    with errstate():
        mx, shift = _core._shift(np.concatenate(parts, axis=1), (1,), plain)
        finite = bool(np.isfinite(mx).all())

    # round 2: exp and the sums, carried in block order
    out3 = np.empty((k1, 1, k2) if func == "logsumexp" else x3.shape, dtype=dtype)
    tot = np.empty((k1, 1, k2), dtype=dtype)
    cnt = np.zeros((k1, 1, k2), dtype=dtype)
    done = [threading.Event() for _ in units]
    failed: list[bool] = []
    one = dtype.type(1)

    def carry(i: int, s: int) -> bool:
        """Wait for block i - 1 of the same slices; False if a block failed."""
        if s > 0:
            done[i - 1].wait()
        return not failed

    def sum_unit(iu: tuple[int, tuple[int, int, int]], ops: BlockOps) -> None:
        i, (a, s, e) = iu
        try:
            xb = x3[a, s:e]
            if func == "softmax":
                ob = out3[a, s:e]
                np.exp(np.subtract(xb, shift[a], out=ob), out=ob)
                if not carry(i, s):
                    return
                if s == 0:
                    np.add.reduce(ob, axis=0, keepdims=True, out=tot[a])
                    return
                # the running sum in the row before the block (restored after):
                # one reduction adds the block's rows to it in order
                prev = out3[a, s - 1].copy()
                out3[a, s - 1] = tot[a, 0]
                np.add.reduce(out3[a, s - 1 : e], axis=0, keepdims=True, out=tot[a])
                out3[a, s - 1] = prev
                return
            # row 0 of the scratch takes the running sum (as softmax's row before)
            acc = ops.scratch("a", (e - s + 1, k2))
            eb = acc[1:]
            if func == "log_softmax":
                np.exp(np.subtract(xb, shift[a], out=out3[a, s:e]), out=eb)
            else:
                np.exp(np.subtract(xb, shift[a], out=eb), out=eb)
            # NumpyOps.sum_except_max's e - is_max, on the few columns whose
            # slice maximum lies in this block (the others have no entry
            # equal to it): a gather of those columns instead of a full-block
            # mask and masked store
            assert bmax is not None
            cols = np.flatnonzero(bmax[i] == mx[a, 0])
            if cols.size:
                r_, c_ = np.nonzero(np.take(xb, cols, axis=1) == mx[a, 0, cols])
                at = (r_, cols[c_])  # every maximum of those columns in the block
                if finite:  # e is exactly 1 there: e - is_max is 0
                    eb[at] = 0
                else:
                    eb[at] -= one
                n_max.append(r_.size)
                col_counts.append((a, at[1]))
            if not carry(i, s):
                return
            if s == 0:
                np.add.reduce(eb, axis=0, keepdims=True, out=tot[a])
            else:
                acc[0] = tot[a, 0]
                np.add.reduce(acc, axis=0, keepdims=True, out=tot[a])
        except BaseException:
            failed.append(True)
            raise
        finally:
            done[i].set()

    n_max: list[int] = []  # list.append is atomic: one list for all threads
    col_counts: list[tuple[int, Any]] = []
    _share(list(enumerate(units)), sum_unit, new_ops, scope)
    if func != "softmax":
        if finite and sum(n_max) == k1 * k2:
            # each finite slice holds its maximum at least once: as many
            # maxima as slices is one in each (the common case, no ties)
            cnt = np.ones((k1, 1, k2), dtype=dtype)
        else:  # exact: counts up to _exact_ones
            for a, where in col_counts:
                np.add.at(cnt[a, 0], where, 1)
    with errstate():
        if func == "softmax":
            by = _core.softmax_total(tot, mx, plain)
        else:
            norm = _core.log_norm(tot, cnt, mx, plain)
            if func == "logsumexp":
                out3[...] = shift + norm
                return out3
            by = _core.log_softmax_norm(norm, mx, plain)

    # round 3: the output
    apply = np.divide if func == "softmax" else np.subtract

    def out_unit(u: tuple[int, int, int], ops: BlockOps) -> None:
        a, s, e = u
        ob = out3[a, s:e]
        apply(ob, by[a], out=ob)

    _share(units, out_unit, new_ops, scope)
    return out3


#: blocks of input per column slab (see _slab_width): with two, a whole slice of
#: float64 (256, 1024) runs as one contiguous unit (measured: 1.0x the last axis
#: against 1.6x in two 512-column halves)
SLAB_BLOCKS = 2
#: slabs narrower than this many columns (unless a slab is a whole slice) run
#: the row rounds instead: each slab row is a short strided run, and float32
#: (4096, 4096) over axis 0 in slabs of 64-256 columns took 1.7-2.4x the time of
#: the row rounds
MIN_SLAB_COLS = 1024


def _slab_width(lead: tuple[int, int, int], itemsize: int) -> int:
    """Columns per slab of a (K1, R, K2) input's (R, K2) slices, or 0 where the
    slabs would be too narrow (the row rounds then serve it)."""
    _, r, k2 = lead
    width = min(k2, SLAB_BLOCKS * BLOCK_BYTES // (r * itemsize))
    # balanced widths of at least 4 columns keep every slab 2 columns wide or more
    return width if width >= min(k2, MIN_SLAB_COLS) and (width == k2 or width >= 4) else 0


def _run_slabs(call: Call, x3: Any, xp: Any, errstate: Any, width: int) -> Any:
    """The core over axis 1 of a C-ordered (K1, R, K2) array, on column slabs
    ``x3[a, :, c0:c1]`` of at most ``width`` columns, each written straight
    into its part of the output.

    A slab holds whole slices (all R rows of its columns), so the core runs on
    it unchanged and every pass after the first finds it in cache: one read of
    the input and one write of the output, against the row rounds' three reads
    and two writes.  NumPy reduces axis 0 of a slab row after row, elementwise
    along the columns, as it does on the whole array: the same bits.  Slab
    widths are balanced so that none is a single column (which NumPy would
    sum pairwise).
    """
    import numpy as np

    func = call.func
    k1, r, k2 = x3.shape
    dtype = x3.dtype
    n = -(-k2 // width)
    bounds = [k2 * i // n for i in range(n + 1)]
    units = [(a, bounds[i], bounds[i + 1]) for a in range(k1) for i in range(n)]
    width = max(bounds[i + 1] - bounds[i] for i in range(n))
    out3 = np.empty((k1, 1, k2) if func == "logsumexp" else x3.shape, dtype=dtype)
    fn = _core.softmax if func == "softmax" else _core.log_softmax

    def run_unit(u: tuple[int, int, int], ops: BlockOps) -> None:
        a, c0, c1 = u
        xb = x3[a, :, c0:c1]
        ob = out3[a, :, c0:c1]
        if func == "logsumexp":
            ob[...] = _core.logsumexp(xb, (0,), None, True, ops)
            return
        ops.target = ob
        fn(xb, (0,), None, ops)

    def new_ops() -> BlockOps:
        return BlockOps(xp, (r, width), dtype)

    _share(units, run_unit, new_ops, errstate)
    return out3


#: the row kernel serves inputs from this size on (below, the NumPy path runs
#: unblocked in the calling thread)
ROWS_MIN_BYTES = 2 << 20


def _rows_serve(a: Any, dims: tuple[int, ...]) -> bool:
    """True where :func:`_log_softmax_rows` serves log_softmax of ``a`` over ``dims``."""
    return (
        a.nbytes >= ROWS_MIN_BYTES
        and a.flags.c_contiguous
        and dims == tuple(range(dims[0], a.ndim))
        and dims[0] > 0
    )


def _log_softmax_rows(x2: Any, out: Any) -> None:
    """log_softmax over axis 1 of a C-contiguous 2-D float array into ``out``
    (C-contiguous, the same shape and dtype): the core's
    log1p form with no scratch beyond a few numbers per row.

    The NumPy path's blocks need an exp buffer and a mask of the maxima per
    thread (2.5 MiB on two threads: 1.04x the output of a float32 (4096, 4096)
    call, where torch.log_softmax allocates only its output).  Here each block
    of rows is worked in its part of the output: the first maximum of each row
    by ``argmax`` (one pass, as fast as ``max``); ``exp(x - m)`` into the
    output; that row's first maximum set to 0, so the row sum is ``t``, the
    sum of every other term (ties included, each exactly 1), without the
    cancellation of ``sum - 1`` and without a mask or a count; then ``x - m``
    again into the output and ``log1p(t)`` subtracted: the core's
    ``(x - m) - log1p(t)``.  Measured here (2 cores, float32 (4096, 4096)):
    0.72x torch.log_softmax's time, against 0.88x for the blocked path on the
    tensor's memory; on NumPy arrays 0.81-0.87x the blocked path's time, bit-equal.

    A block with a non-finite row maximum (NaN, an infinity, a row of -inf)
    runs the core itself, for its special-value rules.
    """
    import numpy as np

    from . import NUMPY

    n, k = x2.shape
    rows = max(1, BLOCK_BYTES // (k * x2.itemsize))
    arange = np.arange(rows)

    def unit(start: int, ops: Any) -> None:
        xb, ob = x2[start : start + rows], out[start : start + rows]
        r = arange[: xb.shape[0]]
        first = np.argmax(xb, axis=1)
        m = xb[r, first][:, None]
        if not np.isfinite(m).all():
            ob[...] = _core.log_softmax(xb, (1,), None, NumpyOps(NUMPY.import_namespace()))
            return
        np.exp(np.subtract(xb, m, out=ob), out=ob)
        ob[r, first] = 0
        t = np.log1p(np.add.reduce(ob, axis=1, keepdims=True))
        np.subtract(np.subtract(xb, m, out=ob), t, out=ob)

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        with NUMPY.errstate(), _row_buffer(x2, (1,)):
            yield

    _share(list(range(0, n, rows)), unit, lambda: None, scope)


def run_blocked(call: Call, xp: Any, errstate: Any) -> Any:
    """Run the core block by block into one output; None if not worth it."""
    import numpy as np

    if call.x.nbytes < MIN_BLOCKED_BYTES:
        return None
    flipped = _as_c_order(call)
    if flipped is not None:
        res = run_blocked(flipped, xp, errstate)
        return None if res is None else res.T
    if call.func == "log_softmax" and call.mask is None and _rows_serve(call.x, call.axes):
        # rows over the trailing axes: the row kernel, no exp buffer or mask
        k = math.prod(call.x.shape[call.axes[0] :])
        res = np.empty(call.x.shape, dtype=call.x.dtype)
        _log_softmax_rows(call.x.reshape(-1, k), res.reshape(-1, k))
        return res
    reduce_out = call.func == "logsumexp"
    lead = _lead_shape(call)
    if (
        lead is not None
        and lead[1] * lead[2] * call.x.itemsize > BLOCK_BYTES
        and lead[1] <= _exact_ones(call.x.dtype)  # beyond, the core's count may round
    ):
        width = _slab_width(lead, call.x.itemsize)
        if width:
            out = _run_slabs(call, call.x.reshape(lead), xp, errstate, width)
        else:
            out = _run_rows(call, call.x.reshape(lead), xp, errstate)
    else:
        plan = _split_plan(call)
        if plan is None:
            return None
        x, mask, split, length, axes = plan
        n = x.shape[split]
        out_shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
        out = np.empty(out_shape if reduce_out else x.shape, dtype=x.dtype)
        block_shape = tuple(length if i == split else s for i, s in enumerate(x.shape))

        def run_unit(start: int, ops: BlockOps) -> None:
            sl = (slice(None),) * split + (slice(start, min(start + length, n)),)
            xb = x[sl]
            mb = None if mask is None else mask[sl]
            ob = out[sl]
            if reduce_out:
                ob[...] = _core.logsumexp(xb, axes, mb, True, ops)
                return
            ops.target = ob
            fn = _core.softmax if call.func == "softmax" else _core.log_softmax
            res = fn(xb, axes, mb, ops)
            if res is not ob:  # pragma: no cover - every path returns the target
                ob[...] = res

        def new_ops() -> BlockOps:
            return BlockOps(xp, block_shape, x.dtype)

        @contextlib.contextmanager
        def scope() -> Iterator[None]:
            with errstate(), _row_buffer(x, axes):
                yield

        _share(list(range(0, n, length)), run_unit, new_ops, scope)
    if not reduce_out:
        return out.reshape(call.x.shape)
    kept = tuple(1 if i in call.axes else s for i, s in enumerate(call.x.shape))
    out = out.reshape(kept)
    return out if call.keepdims else np.squeeze(out, axis=call.axes)


# -- the small-call fast path ---------------------------------------------------------
class _SmallNamespace:
    """The few namespace functions the core calls, as NumPy's ufuncs.

    For tiny arrays the per-call cost is the work: ``np.max``/``np.sum`` (and
    array-api-compat's wrappers around them) spend ~1-2 us in Python before
    the ufunc's reduce, which is the whole difference to scipy.special.  Same
    functions, same results (the fast path's tests compare it with the general
    route bit for bit).
    """

    def __init__(self) -> None:
        import numpy as np

        self.where, self.isfinite, self.exp = np.where, np.isfinite, np.exp
        self.log1p, self.logical_not = np.log1p, np.logical_not
        self._max: Any = np.maximum.reduce
        self._sum: Any = np.add.reduce

    def max(self, a: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
        return self._max(a, axis=axis, keepdims=keepdims)

    def sum(self, a: Any, axis: tuple[int, ...], keepdims: bool) -> Any:
        return self._sum(a, axis=axis, keepdims=keepdims)

    def squeeze(self, a: Any, axis: tuple[int, ...]) -> Any:
        return a.squeeze(axis=axis)

    def astype(self, a: Any, dtype: Any) -> Any:
        return a.astype(dtype)


class _SmallOps(NumpyOps):
    def sum_except_max(self, e: Any, xm: Any, mx: Any, axes: tuple[int, ...]) -> Any:
        if e.size >= MIN_SCAN_SIZE:
            return super().sum_except_max(e, xm, mx, axes)
        # The core's own e - is_max and float count: on a tiny array NumpyOps'
        # masked subtraction and cast count cost more than they save (the same
        # values: see NumpyOps.sum_except_max; counts below 2 MiB are exact)
        return _core.Ops.sum_except_max(self, e, xm, mx, axes)

    def __init__(self, xp: Any) -> None:
        super().__init__(xp)
        self._scalars: dict[tuple[float, Any], Any] = {}

    def scalar(self, value: float, like: Any) -> Any:
        # made once per (value, dtype), read-only: np.where takes a 0-d array
        # faster than a scalar (0.6 us against 0.9 us)
        key = (value, like.dtype)
        s = self._scalars.get(key)
        if s is None:
            import numpy as np

            s = self._scalars[key] = np.asarray(value, dtype=like.dtype)
            s.flags.writeable = False
        return s


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
        # weights, signs, complex input and logmeanexp run the core unblocked:
        # correctness first, the blocked path serves the plain reductions
        out = None if call.extended else run_blocked(call, xp, self.errstate)
        if out is None:
            with _row_buffer(call.x, call.axes):
                return run_core(call, self.ops(xp))
        return out

    def fast_path(self, t: type) -> Any:
        """``fast(func, x, axis)`` for the common call (int axis, no mask/dtype,
        impl="auto") on a plain ndarray, or NotImplemented where it must take
        the general route.

        It serves only what the general route would run unblocked in the
        calling thread, unchanged: float32/float64 in native byte order, at
        least one dimension, an in-range axis, no empty array, below
        ``MIN_BLOCKED_BYTES``.  Everything else (subclasses, every error) goes
        through the general checks.
        """
        import numpy as np

        if t is not np.ndarray:
            return None
        # NumPy's builtin float32/float64 descriptors are singletons: an identity
        # test is the cheapest check (another descriptor, byte-swapped say,
        # takes the general route)
        f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
        ops = _SmallOps(_SmallNamespace())
        errstate = self.errstate
        funcs = {"softmax": _core.softmax, "log_softmax": _core.log_softmax}
        logsumexp = _core.logsumexp

        def fast(func: str, x: Any, axis: int) -> Any:
            dt, nd = x.dtype, x.ndim
            if (
                (dt is not f32 and dt is not f64)
                or nd == 0
                or not -nd <= axis < nd
                or x.size == 0
                or x.nbytes >= MIN_BLOCKED_BYTES
            ):
                return NotImplemented
            axes = (axis % nd,)
            if x.size >= MIN_ROW_BUFSIZE:
                with errstate(), _row_buffer(x, axes):
                    return _small(func, x, axes)
            with errstate():
                return _small(func, x, axes)

        def _small(func: str, x: Any, axes: tuple[int, ...]) -> Any:
            if func == "logsumexp":
                return np.asarray(logsumexp(x, axes, None, False, ops))
            return funcs[func](x, axes, None, ops)

        amax, add, isfinite = np.maximum.reduce, np.add.reduce, np.isfinite
        subtract, exp, equal, divide, log1p = np.subtract, np.exp, np.equal, np.divide, np.log1p
        count_nonzero, copyto, arange = np.count_nonzero, np.copyto, np.arange
        py_finite = math.isfinite

        def finite(func: str, x: Any, axis: int) -> Any:
            # Where every slice maximum is finite, the core's selects (the shift
            # where(isfinite(m), m, 0), the +inf and no-mass overrides) all
            # pick their first operand: the same arithmetic in fewer calls.
            # Other slices take the core itself (the tests compare both bit
            # for bit).
            rows = None
            if x.ndim == 2 and axis % 2 == 1 and x.size >= MIN_ARGMAX_SIZE:
                # argmax and a gather find the row maxima in about half the
                # time of the max reduction (float64 (64, 100): 2.6 us against
                # 4.8): the same values, but for the sign of a zero maximum
                # that also occurs as -0.0, which a tie then makes irrelevant
                # (exp(+-0) = 1, and log1p(t >= 1) > 0 is subtracted or added)
                rows = arange(x.shape[0])
                first = x.argmax(axis=1)
                m = x[rows, first].reshape(-1, 1)
            else:
                m = amax(x, axis=axis, keepdims=True)
            if m.size <= 64:
                # a few maxima: their Python sum is finite iff each one is
                # (inf - inf is NaN; an overflow only sends the call on to the
                # general route) and costs a third of isfinite(m).all()
                if not py_finite(sum(m.ravel().tolist())):
                    return NotImplemented
            elif not isfinite(m).all():
                return NotImplemented
            z = subtract(x, m)
            if func == "softmax":
                exp(z, out=z)
                return divide(z, add(z, axis=axis, keepdims=True), out=z)
            # log_softmax and logsumexp: the core's sum_except_max for a small
            # array (logsumexp needs no z: its exp goes into z's buffer)
            if func == "logsumexp":
                e = exp(z, out=z)
            else:
                e = exp(z)
            is_max = equal(x, m)
            if count_nonzero(is_max) == m.size:  # one maximum per slice, e == 1 there
                if rows is None:
                    copyto(e, 0, where=is_max)
                else:
                    e[rows, first] = 0
                t = add(e, axis=axis, keepdims=True)
            else:  # ties: put count - 1 back
                subtract(e, 1, out=e, where=is_max)
                t = add(e, axis=axis, keepdims=True)
                t += add(is_max, axis=axis, keepdims=True, dtype=x.dtype) - 1
            if func == "logsumexp":
                return (m + log1p(t)).squeeze(axis)
            return subtract(z, log1p(t), out=z)

        def fast_small(func: str, x: Any, axis: int) -> Any:
            dt, nd = x.dtype, x.ndim
            if (
                (dt is f32 or dt is f64)
                and nd
                and -nd <= axis < nd
                and x.size
                and x.shape[axis] < MIN_ROW_BUFSIZE  # no one-row ufunc buffer
                and x.nbytes < MIN_BLOCKED_BYTES
            ):
                with errstate():  # exp underflows: a user's np.seterr must not see it
                    out = finite(func, x, axis)
                if out is not NotImplemented:
                    return out
            return fast(func, x, axis)

        return fast_small

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
