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
