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

The parts, one file each:

* :mod:`.sizes` - the block size and the thresholds that pick a route (read at
  call time: set them there, not on this package);
* :mod:`.inplace_ops` - the core's hooks in place (``NumpyOps``) and into
  per-block buffers (``BlockOps``);
* :mod:`.ufunc_buffer` - the one-row ufunc buffer;
* :mod:`.thread_pool` - the fork-safe pool, ``share``, ``serial``;
* :mod:`.planner` - ``run_blocked``: which plan serves a large input, and
  the plain blocks of whole slices;
* :mod:`.row_rounds`, :mod:`.column_slabs`, :mod:`.log_softmax_rows` - the
  other plans;
* :mod:`.small_calls` - the small-call fast path;
* :mod:`.backend` - ``NumpyBackend``, the adapter that uses them.
"""

from __future__ import annotations

from .backend import NumpyBackend
from .inplace_ops import BlockOps, NumpyOps
from .log_softmax_rows import _log_softmax_rows, _rows_serve
from .planner import run_blocked
from .sizes import BLOCK_BYTES, MIN_BLOCKED_BYTES
from .thread_pool import n_threads, serial, share

__all__ = [
    "BLOCK_BYTES",
    "MIN_BLOCKED_BYTES",
    "BlockOps",
    "NumpyBackend",
    "NumpyOps",
    "_log_softmax_rows",
    "_rows_serve",
    "n_threads",
    "run_blocked",
    "serial",
    "share",
]
