"""NumPy: the portable code with in-place updates of the buffers it allocated."""

from __future__ import annotations

from typing import Any

from .. import _core
from ._base import Backend


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

    def div_(self, a: Any, b: Any) -> Any:
        import numpy as np

        return np.divide(a, b, out=a)

    def fill_where_not_(self, a: Any, mask: Any, value: float) -> Any:
        import numpy as np

        np.copyto(a, value, where=np.logical_not(mask))
        return a


class NumpyBackend(Backend):
    name = "numpy"
    module = "numpy"

    def owns(self, x: Any) -> bool:
        from array_api_compat import is_numpy_array

        return is_numpy_array(x)

    def import_namespace(self) -> Any:
        import array_api_compat.numpy

        return array_api_compat.numpy

    def namespace(self, x: Any) -> Any:
        return self.import_namespace()

    def devices(self) -> list[Any]:
        return ["cpu"]

    def ops(self, xp: Any) -> _core.Ops:
        return NumpyOps(xp)

    def errstate(self) -> Any:
        import numpy as np

        # 0/0 and inf-inf are the documented results for NaN/inf slices
        return np.errstate(all="ignore")

    def finish(self, out: Any) -> Any:
        import numpy as np

        # NumPy reductions return scalars for 0-d results; we promise arrays
        return np.asarray(out)

    def normalize_dtype(self, dtype: Any) -> Any:
        import numpy as np

        return np.dtype(dtype)
