"""linear_cross_entropy on NumPy and CuPy: the portable algorithm, buffers reused in place.

One buffer holds a chunk of logits, then (overwritten step by step) its
shifted values, its exponentials and its gradient; on NumPy the weight
gradient accumulates slab by slab through ``matmul(out=)`` into a small
buffer added in place (no temporary of the gradient's size).
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


#: the most bytes of one of NumPy's chunks (see NumpyRoute.plan)
NUMPY_CHUNK_BYTES = 128 << 20
#: fewer rows than this per chunk: NumPy chunks the vocabulary (see NumpyRoute.plan)
NUMPY_MIN_ROWS = 256
#: NumPy's ``dz @ W`` over this many classes at a time (see NumpyOps.matmul)
K_BLOCK = 8192
#: an accumulating product is computed into a buffer of this many bytes,
#: then added in place, slab by slab of the accumulator's rows
SLAB_BYTES = 16 << 20


class NumpyOps(InPlaceOps):
    """NumPy: products through ``matmul`` (its BLAS), accumulated slab by slab."""

    def __init__(self, xp: Any) -> None:
        import numpy as np

        super().__init__(xp, np)

    def add_matmul(self, acc: Any, a: Any, b: Any) -> Any:
        # NumPy has no beta = 1 product; SciPy's BLAS gemm with beta = 1 ran
        # 4-20x slower than NumPy's matmul on these shapes here, and a
        # whole-size temporary would double the weight gradient's memory
        if acc is None:
            return self.mod.matmul(a, b)
        n, d = acc.shape
        rows = max(1, SLAB_BYTES // max(1, d * acc.itemsize))
        tmp = self.mod.empty((min(rows, n), d), dtype=acc.dtype)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            part = tmp[: r1 - r0]
            self.mod.matmul(a[r0:r1], b, out=part)
            acc[r0:r1] += part
        return acc

    def matmul(self, a: Any, b: Any) -> Any:
        # a few rows times a long inner dimension (a chunk's dz @ W: 128 x
        # 131072 by 131072 x 512) ran at 15 GFLOP/s in OpenBLAS; in blocks
        # of K_BLOCK classes accumulated, 6x faster (measured 0.40 s -> 0.068 s)
        k = a.shape[1]
        if k <= 2 * K_BLOCK:
            return self.mod.matmul(a, b)
        acc = self.mod.matmul(a[:, :K_BLOCK], b[:K_BLOCK])
        for k0 in range(K_BLOCK, k, K_BLOCK):
            acc = self.add_matmul(acc, a[:, k0 : k0 + K_BLOCK], b[k0 : k0 + K_BLOCK])
        return acc


class NumpyRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        return NumpyOps(call.xp)

    def plan(self, call: LceCall) -> lce.Plan:
        """Larger chunks than the default, and rows only where at least
        :data:`NUMPY_MIN_ROWS` fit: NumPy's BLAS (OpenBLAS) runs short products
        slowly, and the weight gradient's read-modify-write per row chunk
        costs it more than torch's MKL.  Measured on 2 cores, quiet
        (2026-12-05, 3 interleaved rounds, time / the unfused NumPy
        computation): (4096, 512, 32768) float32, 1024-row chunks (the plan)
        0.85x, 512 rows 0.90x, 256 rows 0.96x; (2048, 512, 131072), 256 rows
        (the plan, 128 MiB) 0.87-0.88x, 128 rows 1.03x, vocabulary chunks of
        the same 128 MiB 1.06-1.10x.  (An earlier measurement on a machine
        busy with other jobs had put 256 rows at 1.7-2.4x: the vocabulary
        chunks it chose then were the slower plan.)"""
        if call.chunk is not None:
            return call.plan
        if call.n * call.v * call.x.dtype.itemsize <= NUMPY_CHUNK_BYTES:
            return lce.Plan("rows", call.n)  # one chunk: no product cut short
        return lce.plan(call.n, call.v, call.x.dtype.itemsize, None, most=NUMPY_CHUNK_BYTES,
                        share=4, min_rows=NUMPY_MIN_ROWS)  # fmt: skip


class CupyRoute(Route):
    def ops(self, call: LceCall) -> lce.ChunkOps:
        import cupy

        return InPlaceOps(call.xp, cupy)
