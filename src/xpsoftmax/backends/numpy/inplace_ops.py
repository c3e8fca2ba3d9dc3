"""The core's hooks on NumPy: in place, and into buffers given in advance.

:class:`NumpyOps` writes every ``*_`` hook into the buffer the core allocated
and finds the maxima by one scalar comparison where it can;
:class:`BlockOps` points the hooks that allocate at per-block buffers, so a
blocked run writes its result once, into the output.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from ... import _core
from . import sizes


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
        if len(axes) == 1 and e.size >= sizes.MIN_SCAN_SIZE and np.isfinite(mx).all():
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
