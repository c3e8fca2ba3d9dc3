"""Any namespace that implements the standard (array-api-strict, ...)."""

from __future__ import annotations

from typing import Any

from ._base import Backend


class GenericBackend(Backend):
    name = "generic"

    def owns(self, x: Any) -> bool:
        return hasattr(type(x), "__array_namespace__")

    def namespace(self, x: Any) -> Any:
        return x.__array_namespace__()

    def normalize_dtype(self, dtype: Any) -> Any:
        return dtype


class StrictBackend(GenericBackend):
    """array-api-strict goes through the generic path; named for reports."""

    name = "strict"
    module = "array_api_strict"

    def owns(self, x: Any) -> bool:
        return type(x).__module__.startswith("array_api_strict")

    def import_namespace(self) -> Any:
        import array_api_strict

        return array_api_strict

    def errstate(self) -> Any:
        import numpy as np

        # array-api-strict computes with NumPy: silence the documented 0/0 and inf - inf
        return np.errstate(all="ignore")

    def version(self) -> str:
        import importlib.metadata

        return importlib.metadata.version("array-api-strict")


class _ThirdParty(GenericBackend):
    """A library that implements the standard itself: the generic path, named
    for reports, test ids and ``XPSOFTMAX_BACKENDS`` (its CI lane)."""

    dist: str = ""

    def owns(self, x: Any) -> bool:
        mod = type(x).__module__
        return mod == self.module or mod.startswith(f"{self.module}.")

    def version(self) -> str:
        import importlib.metadata

        return importlib.metadata.version(self.dist or self.name)

    def errstate(self) -> Any:
        import numpy as np

        # these compute with NumPy (sparse, marray) or report 0/0 as NumPy does
        return np.errstate(all="ignore")


class SparseNamespace:
    """``sparse`` with the standard's ``arange``, ``take`` and ``matmul`` where 0.19 differs.

    sparse 0.19 has no ``arange``; its ``take`` (like its indexing) accepts
    NumPy index arrays but raises IndexError on its own (the standard's
    ``take`` takes an array of the same library); its ``matmul`` raises
    ValueError on an operand whose fill value (the value of the entries it
    does not store) is not 0, which elementwise arithmetic makes (``a + 1``
    has fill value 1), and its ``concat`` on arrays of different fill
    values.  Everything else is the module itself.
    """

    def __init__(self) -> None:
        import sparse

        self._sparse = sparse

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sparse, name)

    def arange(
        self,
        start: Any,
        /,
        stop: Any = None,
        step: Any = 1,
        *,
        dtype: Any = None,
        device: Any = None,
    ) -> Any:
        import numpy as np

        return self._sparse.asarray(np.arange(start, stop, step, dtype=dtype), device=device)

    def take(self, x: Any, indices: Any, /, *, axis: Any = None) -> Any:
        if isinstance(indices, self._sparse.SparseArray):
            # an index vector: O(its length), never a densified operand
            indices = indices.todense()
        return self._sparse.take(x, indices, axis=axis)

    def matmul(self, x1: Any, x2: Any, /) -> Any:
        return self._sparse.matmul(self._zero_fill(x1), self._zero_fill(x2))

    def concat(self, arrays: Any, /, *, axis: Any = 0) -> Any:
        arrays = list(arrays)
        if len({a.fill_value.item() for a in arrays}) > 1:
            arrays = [self._zero_fill(a) for a in arrays]
        return self._sparse.concat(arrays, axis=axis)

    def _zero_fill(self, a: Any) -> Any:
        """``a`` stored with fill value 0: every entry stored where it was not
        (the operands of the products that need this are dense data)."""
        if isinstance(a, self._sparse.SparseArray) and not a.fill_value == 0:
            return self._sparse.asarray(a.todense())
        return a


class SparseBackend(_ThirdParty):
    """pydata ``sparse`` (COO arrays): the result is a sparse array too."""

    name = "sparse"
    module = "sparse"

    def import_namespace(self) -> Any:
        ns = self.__dict__.get("_namespace")
        if ns is None:
            ns = self._namespace = SparseNamespace()
        return ns

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import sparse

        return sparse.asarray(a.copy(), device=device)

    def to_numpy(self, a: Any) -> Any:
        # sparse refuses np.asarray (densifying by accident could exhaust memory)
        return a.todense()

    def device_name(self, device: Any) -> str:
        return str(device)


class NdonnxBackend(_ThirdParty):
    """``ndonnx`` (ONNX graphs, evaluated eagerly with onnxruntime)."""

    name = "ndonnx"
    module = "ndonnx"

    def import_namespace(self) -> Any:
        import ndonnx

        return ndonnx

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        import ndonnx

        return ndonnx.asarray(a.copy(), device=device)

    def to_numpy(self, a: Any) -> Any:
        # np.asarray would wrap the ndonnx array in an object array
        return a.unwrap_numpy()


class MarrayBackend(_ThirdParty):
    """``marray`` masked arrays over NumPy: a masked entry takes no part in a
    reduction, and the result keeps the input's mask."""

    name = "marray"
    module = "marray"

    def import_namespace(self) -> Any:
        ns = self.__dict__.get("_namespace")
        if ns is None:
            import marray
            import numpy as np

            ns = self._namespace = marray.masked_namespace(np)
        return ns

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        return self.import_namespace().asarray(a.copy(), device=device)

    def to_numpy(self, a: Any) -> Any:
        # the data under the mask is unspecified: callers compare it only where
        # the mask is False (test_marray_mask_is_honoured checks the mask itself)
        import numpy as np

        return np.asarray(a.data)
