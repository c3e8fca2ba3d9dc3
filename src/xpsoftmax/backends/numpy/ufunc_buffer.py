"""The ufunc buffer size for rows of 1024-8191 elements (see :func:`_row_bufsize`)."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import Any

from . import sizes


@functools.cache
def _splits_rows() -> bool:
    import numpy as np

    major, minor = (int(p) for p in np.__version__.split(".", 2)[:2])
    return (major, minor) < (2, 3)


def _row_bufsize(x: Any, axes: tuple[int, ...]) -> int | None:
    """A ufunc buffer size (elements) for slices of ``x``, or None to keep NumPy's.

    When the slices are rows of a C-ordered array shorter than the ufunc buffer
    (8192 elements by default), NumPy's iterator fills the buffer with several
    rows at once and so copies the (rows, 1) operand of ``x - m``, ``e / s``,
    ``x == m`` into it: those run at half speed (float32 (64, 4096): 46 us
    against 21 us with a buffer of one row).  The reductions along the rows
    lose a little with a short buffer, so only rows of at least
    ``sizes.MIN_ROW_BUFSIZE`` elements get one.
    """
    import numpy as np

    if _splits_rows():
        # NumPy before 2.3 splits a row's sum at the buffer's end (the buffer is
        # a multiple of 16, the row need not be): other bits than the plain core
        # (seen on 2.2.6 in the py310 lane; 2.3.0 and 2.3.5 keep the row whole)
        return None
    n = math.prod([x.shape[i] for i in axes])
    if n < sizes.MIN_ROW_BUFSIZE or n >= np.getbufsize():
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
