"""Dask: the portable code, lazily, chunk by chunk."""

from __future__ import annotations

from typing import Any

from ._base import Backend


class DaskBackend(Backend):
    name = "dask"
    module = "dask"

    def owns(self, x: Any) -> bool:
        from array_api_compat import is_dask_array

        return is_dask_array(x)

    def import_namespace(self) -> Any:
        import array_api_compat.dask.array

        return array_api_compat.dask.array

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def devices(self) -> list[Any]:
        return ["cpu"]

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        # several chunks along every axis, so reductions cross chunk borders
        import dask.array as da

        chunks = tuple(max(1, (n + 1) // 2) for n in a.shape)
        return da.from_array(a.copy(), chunks=chunks)

    def to_numpy(self, a: Any) -> Any:
        import numpy as np

        return np.asarray(a.compute())

    def normalize_dtype(self, dtype: Any) -> Any:
        import numpy as np

        return np.dtype(dtype)
