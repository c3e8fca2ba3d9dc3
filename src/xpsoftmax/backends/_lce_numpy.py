"""linear_cross_entropy on NumPy and CuPy: the portable algorithm, buffers reused in place.

One buffer holds a chunk of logits, then (overwritten step by step) its
shifted values, its exponentials and its gradient; the matrix products write
into preallocated results (``matmul(out=)``), and on NumPy the weight
gradient accumulates in place through BLAS's ``gemm`` with ``beta = 1``
(SciPy's wrappers, where SciPy is installed; else through one temporary of
the gradient's size per chunk).
"""

from __future__ import annotations

from typing import Any

from .. import _linear_ce as lce
from .._linear_ce_api import Route
from .._linear_ce_args import LceCall


class ArrayWriter(lce.RowsWriter):
    """Row blocks written into one preallocated array."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def set(self, start: int, stop: int, value: Any) -> None:
        if value is not self.out[start:stop]:
            self.out[start:stop] = value

    def result(self) -> Any:
        return self.out


class InPlaceOps(lce.ChunkOps):
    """NumPy-like in-place hooks (``out=``, fancy-index assignment); ``mod``
    is numpy or cupy."""

    def __init__(self, xp: Any, mod: Any) -> None:
        super().__init__(xp)
        self.mod = mod
        self._buf: Any = None

    def _chunk(self, rows: int, cols: int, dtype: Any) -> Any:
        size = rows * cols
        buf = self._buf
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._buf = self.mod.empty(max(size, 1), dtype=dtype)
        return buf[:size].reshape(rows, cols)

    def logits(self, x: Any, w: Any, b: Any) -> Any:
        z = self._chunk(x.shape[0], w.shape[0], x.dtype)
        self.mod.matmul(x, w.T, out=z)
        if b is not None:
            z += b
        return z

    def matmul(self, a: Any, b: Any) -> Any:
        return self.mod.matmul(a, b)

    def add_matmul(self, acc: Any, a: Any, b: Any) -> Any:
        if acc is None:
            return self.mod.matmul(a, b)
        acc += self.mod.matmul(a, b)
        return acc

    def add_colsum(self, acc: Any, a: Any) -> Any:
        if acc is None:
            return a.sum(axis=0)
        acc += a.sum(axis=0)
        return acc

    def row_amax(self, z: Any) -> Any:
        return z.max(axis=1)

    def row_max(self, z: Any) -> tuple[Any, Any]:
        k = z.argmax(axis=1)
        return z[self.mod.arange(z.shape[0]), k], k

    def sub_(self, z: Any, shift: Any) -> Any:
        return self.mod.subtract(z, shift[:, None], out=z)

    def exp_(self, z: Any) -> Any:
        return self.mod.exp(z, out=z)

    def sum_except_(self, e: Any, cols: Any) -> Any:
        rows = self.mod.arange(e.shape[0])
        kept = e[rows, cols]
        e[rows, cols] = 0
        t = e.sum(axis=1)
        e[rows, cols] = kept
        return t

    def _inside(self, a: Any, cols: Any) -> tuple[Any, Any, Any]:
        inside = (cols >= 0) & (cols < a.shape[1])
        rows = self.mod.arange(a.shape[0])
        return rows[inside], cols[inside], inside

    def take_cols(self, a: Any, cols: Any) -> Any:
        rows, c, inside = self._inside(a, cols)
        out = self.mod.zeros(a.shape[0], dtype=a.dtype)
        out[inside] = a[rows, c]
        return out

    def put_cols_(self, a: Any, cols: Any, values: Any) -> Any:
        rows, c, inside = self._inside(a, cols)
        a[rows, c] = values[inside]
        return a

    def scale_rows_(self, a: Any, s: Any) -> Any:
        return self.mod.multiply(a, s[:, None], out=a)

    def sub_outer_(self, a: Any, u: Any, v: Any) -> Any:
        # a row at a time: no temporary of the chunk's size
        for i in range(a.shape[0]):
            a[i] -= u[i] * v
        return a

    def weighted_row_sum(self, a: Any, w: Any, floor: float | None) -> Any:
        if floor is not None:
            # in place: the exp that follows turns the floor into 0, as -inf
            self.mod.maximum(a, floor, out=a)
        return a.sum(axis=1) if w is None else a @ w

    def rows_writer(self, shape: tuple[int, ...], dtype: Any, like: Any) -> lce.RowsWriter:
        return ArrayWriter(self.mod.empty(shape, dtype=dtype))


class NumpyOps(InPlaceOps):
    """NumPy: the accumulating products through BLAS gemm with beta = 1."""

    def __init__(self, xp: Any) -> None:
        import numpy as np

        super().__init__(xp, np)

    def _gemm(self, acc: Any, a: Any, b: Any) -> Any:
        """``acc += a @ b`` in place, or None where BLAS cannot take the arrays."""
        try:
            from scipy.linalg import blas
        except ImportError:  # pragma: no cover - scipy is in the test extras
            return None
        np = self.mod
        gemm = {"float32": blas.sgemm, "float64": blas.dgemm}.get(acc.dtype.name)
        if gemm is None or not (acc.flags.c_contiguous and a.dtype == b.dtype == acc.dtype):
            return None
        # row-major acc is column-major acc.T: acc.T += b.T @ a.T, each
        # factor handed over in column-major form (no copy) with its flag
        (fa, ta), (fb, tb) = _column_major(b.T), _column_major(a.T)
        out = gemm(1.0, fa, fb, beta=1.0, c=acc.T, trans_a=ta, trans_b=tb, overwrite_c=True)
        if not np.shares_memory(out, acc):  # pragma: no cover - BLAS copied c
            acc[...] = out.T
        return acc

    def add_matmul(self, acc: Any, a: Any, b: Any) -> Any:
        if acc is not None:
            done = self._gemm(acc, a, b)
            if done is not None:
                return done
        return super().add_matmul(acc, a, b)

    def add_tmatmul(self, acc: Any, a: Any, b: Any) -> Any:
        return self.add_matmul(acc, a.T, b)


def _column_major(m: Any) -> tuple[Any, int]:
    """(an F-ordered array f, flag t) with op_t(f) == m: BLAS's view of ``m``."""
    if m.flags.f_contiguous:
        return m, 0
    if m.T.flags.f_contiguous:
        return m.T, 1
    import numpy as np

    return np.asfortranarray(m), 0


class NumpyRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        return NumpyOps(call.xp)


class CupyRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        import cupy

        return InPlaceOps(call.xp, cupy)
