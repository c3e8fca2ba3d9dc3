"""The sizes that pick the NumPy path's route: block bytes and the thresholds.

Every module of the path reads them from here at call time
(``sizes.BLOCK_BYTES``), so one assignment (a test's ``monkeypatch``) changes
them for the whole path.
"""

from __future__ import annotations

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
#: small 2-D arrays from this size on find their row maxima by argmax (see
#: :mod:`.small_calls`)
MIN_ARGMAX_SIZE = 512
#: rows at least this long run their ufuncs with a buffer of one row (see
#: :func:`.ufunc_buffer._row_bufsize`)
MIN_ROW_BUFSIZE = 1024
#: blocks of input per column slab (see :func:`.planner._slab_width`): with two, a whole slice of
#: float64 (256, 1024) runs as one contiguous unit (measured: 1.0x the last axis
#: against 1.6x in two 512-column halves)
SLAB_BLOCKS = 2
#: slabs narrower than this many columns (unless a slab is a whole slice) run
#: the row rounds instead: each slab row is a short strided run, and float32
#: (4096, 4096) over axis 0 in slabs of 64-256 columns took 1.7-2.4x the time of
#: the row rounds
MIN_SLAB_COLS = 1024
#: the row kernel serves inputs from this size on (below, the NumPy path runs
#: unblocked in the calling thread)
ROWS_MIN_BYTES = 2 << 20
