"""Dask: the portable code, lazily, chunk by chunk.

Two ways to execute the one algorithm of :mod:`xpsoftmax._core`, chosen from
the chunk structure alone (never from values, never by computing anything):

* every reduced axis lies within one chunk: each chunk holds whole slices, so
  ``map_blocks`` runs the NumPy adapter's code on each chunk: one task per
  chunk, no cross-chunk reduction, and NumPy's in-place updates inside it;
* a reduced axis spans several chunks: the core runs on the Dask namespace,
  so its ``max``/``sum``/``any`` with ``keepdims`` become Dask's tree
  reductions and the elementwise steps become one task per chunk each.

Either way the graph has O(chunks) tasks, the result stays lazy, and the
per-chunk NumPy calls run under ``np.errstate(all="ignore")`` where the
documented results of NaN/inf slices are 0/0 or inf - inf (Dask computes
later, outside any errstate the caller could have set at call time).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from ._base import Backend, Call


# -- per-chunk functions: module level so distributed workers unpickle them by name --
def _quiet_exp(a: Any) -> Any:
    with np.errstate(all="ignore"):
        return np.exp(a)


def _quiet_subtract(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):
        return np.subtract(a, b)


def _quiet_divide(a: Any, b: Any) -> Any:
    with np.errstate(all="ignore"):
        return np.divide(a, b)


def _max_or_neg_inf(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``max`` of a chunk, ``-inf`` over no element: an empty chunk (a filter
    that kept no row, chunks like (10, 0, 10)) has no maximum for NumPy, and
    -inf is the identity of max (a slice's maximum is unchanged by it)."""
    axes = tuple(range(a.ndim)) if axis is None else axis
    axes = tuple(i % a.ndim for i in ((axes,) if isinstance(axes, int) else axes))
    if a.size:
        return a.max(axis=axes, keepdims=keepdims)
    if keepdims:
        shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    else:
        shape = tuple(n for i, n in enumerate(a.shape) if i not in axes)
    return np.full_like(a, -np.inf, shape=shape)  # CuPy chunks: a CuPy array


def _one_block(a: Any) -> Any:
    # blockwise(concatenate=False) hands a task a list of its blocks per
    # contracted (reduced) axis; each reduced axis is one chunk here
    while isinstance(a, list):
        (a,) = a
    return a


def _numpy_block(
    x: Any, mask: Any, *, which: str, axes: tuple[int, ...], keepdims: bool, compute: Any
) -> Any:
    """The NumPy adapter's portable code on one chunk that holds whole slices."""
    from . import NUMPY
    from .numpy import serial

    call = Call(which, _one_block(x), axes, _one_block(mask), keepdims, compute, compute)
    # the scheduler already runs a task per core: no second level of threads
    with NUMPY.errstate(), serial():
        # a 0-d logsumexp comes back as a NumPy scalar; chunks are arrays
        return np.asarray(NUMPY.run_portable(call, NUMPY.import_namespace()))


def _cupy_block(
    x: Any, mask: Any, *, which: str, axes: tuple[int, ...], keepdims: bool, compute: Any
) -> Any:
    """The CuPy adapter's "auto" (its fused kernel) on one chunk that holds whole slices."""
    from . import by_name

    cupy_backend = by_name("cupy")
    call = Call(which, _one_block(x), axes, _one_block(mask), keepdims, compute, compute)
    return cupy_backend.run_auto(call, cupy_backend.import_namespace())


def _chunk_kind(x: Any) -> str | None:
    """The chunk types run chunk by chunk ("numpy" or "cupy"), else None."""
    meta = getattr(x, "_meta", None)
    if type(meta) is np.ndarray:
        return "numpy"
    if type(meta).__module__.startswith("cupy"):
        return "cupy"
    return None


class _QuietNamespace:
    """The Dask namespace, with ``exp`` evaluated under ``np.errstate``.

    ``exp`` is the one elementwise *function* the core calls that can warn
    (``exp(1000)`` overflows in a slice that also holds +inf, whose result is
    NaN by the documented rules); the operators that can warn go through the
    :class:`DaskOps` hooks.
    """

    def __init__(self, xp: Any) -> None:
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def exp(self, a: Any) -> Any:
        import dask.array as da

        return da.map_blocks(_quiet_exp, a, dtype=a.dtype)

    def max(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        import dask.array as da

        return da.reduction(
            a, _max_or_neg_inf, _max_or_neg_inf, axis=axis, keepdims=keepdims, dtype=a.dtype
        )


class DaskOps(_core.Ops):
    # Dask chunks can feed several tasks, so nothing is updated in place; the
    # hooks only move 0/0 and inf - inf (documented NaN results) under errstate.
    def _binary(self, fn: Any, a: Any, b: Any) -> Any:
        import dask.array as da

        if getattr(a, "ndim", None) != getattr(b, "ndim", None):
            return None
        return da.map_blocks(fn, a, b, dtype=np.result_type(a.dtype, b.dtype))

    def sub(self, a: Any, b: Any) -> Any:
        out = self._binary(_quiet_subtract, a, b)
        return a - b if out is None else out

    def sub_(self, a: Any, b: Any) -> Any:
        return self.sub(a, b)

    def exp_(self, a: Any) -> Any:
        return self.xp.exp(a)

    def div_(self, a: Any, b: Any) -> Any:
        out = self._binary(_quiet_divide, a, b)
        return a / b if out is None else out

    def scalar(self, value: float, like: Any) -> Any:
        # a 0-d array with ``like``'s chunk type: CuPy chunks refuse to meet
        # a NumPy 0-d chunk in where() (what the standard's asarray would give)
        import dask.array as da

        meta = getattr(like, "_meta", None)
        arr = np.asarray(value, dtype=like.dtype)
        if meta is None or type(meta) is np.ndarray:
            return da.from_array(arr)
        return da.asarray(arr, like=meta)


def _known(chunks: tuple[tuple[Any, ...], ...]) -> bool:
    return all(not math.isnan(c) for dim in chunks for c in dim)


class DaskBackend(Backend):
    name = "dask"
    module = "dask"
    compat_predicate = "is_dask_array"
    namespace_module = "array_api_compat.dask.array"

    def devices(self) -> list[Any]:
        """The devices: "cpu" (NumPy chunks), and "gpu" (CuPy chunks) where CuPy sees one."""
        from ._cuda_kernels import cupy_sees_a_device

        return ["cpu", "gpu"] if cupy_sees_a_device() else ["cpu"]

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        # several chunks along every axis, so reductions cross chunk borders
        import dask.array as da

        chunks = tuple(max(1, (n + 1) // 2) for n in a.shape)
        if device == "gpu":
            import cupy

            return da.from_array(cupy.asarray(a), chunks=chunks, asarray=False)
        return da.from_array(a.copy(), chunks=chunks)

    def to_numpy(self, a: Any) -> Any:
        out = a.compute()
        # CuPy chunks compute to a CuPy array
        return np.asarray(out.get() if hasattr(out, "get") else out)

    def normalize_dtype(self, dtype: Any) -> Any:
        return np.dtype(dtype)

    def ops(self, xp: Any) -> _core.Ops:
        return DaskOps(_QuietNamespace(xp))

    def run_portable(self, call: Call, xp: Any) -> Any:
        x = call.x
        if call.extended or not self._slices_in_chunks(x, call.axes):
            # weights (chunked as they come: Dask's elementwise operations
            # unify the chunks), signs, complex input, logmeanexp: the core on
            # the Dask namespace, lazy
            return super().run_portable(call, xp)
        return self._map_blocks(call)

    @staticmethod
    def _slices_in_chunks(x: Any, axes: tuple[int, ...]) -> bool:
        # NumPy chunks run the NumPy adapter's code, CuPy chunks the CuPy
        # adapter's fused kernel; other chunk types (sparse) keep the
        # namespace path.
        return _chunk_kind(x) is not None and all(x.numblocks[a] == 1 for a in axes)

    def _map_blocks(self, call: Call) -> Any:
        import dask.array as da

        x, mask, axes = call.x, call.mask, call.axes
        args: list[Any] = [x]
        if mask is not None:
            # map_blocks would unify x's and mask's chunks by splitting both
            # at every border of either, which can cut a slice in two; give
            # the mask x's chunks instead (a cheap boolean rechunk)
            if mask.chunks != x.chunks:
                if not (_known(mask.chunks) and _known(x.chunks)):
                    return super().run_portable(call, self.import_namespace())
                mask = mask.rechunk(x.chunks)
            args.append(mask)
        else:
            args.append(None)
        kwargs: dict[str, Any] = {
            "which": call.func,
            "axes": axes,
            "keepdims": call.keepdims,
            "compute": call.compute_dtype,
        }
        block: Any = _cupy_block if _chunk_kind(x) == "cupy" else _numpy_block
        # the meta given, so Dask need not call the kernel on an empty chunk
        # to find it (a third of a millisecond per graph on NumPy chunks)
        from dask.array.utils import meta_from_array

        def meta(ndim: int) -> Any:
            return meta_from_array(x._meta, ndim=ndim, dtype=call.compute_dtype)

        if call.func != "logsumexp":
            return da.map_blocks(
                block, *args, dtype=call.compute_dtype, meta=meta(x.ndim), **kwargs
            )
        if call.keepdims:
            chunks = tuple((1,) if i in axes else c for i, c in enumerate(x.chunks))
            return da.map_blocks(
                block, *args, dtype=call.compute_dtype, chunks=chunks, meta=meta(x.ndim), **kwargs
            )
        # The reduced axes contracted, each task handed its (single) block
        # as is: map_blocks(drop_axis=...) would concatenate the blocks along
        # the dropped axes first, a copy of the whole chunk even when there is
        # one block (float32 (4096, 4096) in 16 MiB chunks: 18 ms against
        # NumPy's 10 ms; 13 ms without the copy)
        ind = tuple(range(x.ndim))
        out_ind = tuple(i for i in ind if i not in axes)
        return da.blockwise(
            block,
            out_ind,
            x,
            ind,
            args[1],
            None if args[1] is None else ind,
            dtype=call.compute_dtype,
            meta=meta(len(out_ind)),
            concatenate=False,
            **kwargs,
        )
