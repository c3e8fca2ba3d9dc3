"""The NumPy adapter: the core run in place, blocked and threaded (see the package)."""

from __future__ import annotations

from typing import Any

from ... import _core
from .._base import Backend, Call, run_core
from . import planner, small_calls
from .inplace_ops import NumpyOps
from .ufunc_buffer import _row_buffer


class NumpyBackend(Backend):
    name = "numpy"
    module = "numpy"
    compat_predicate = "is_numpy_array"
    namespace_module = "array_api_compat.numpy"

    def devices(self) -> list[Any]:
        return ["cpu"]

    def ops(self, xp: Any) -> _core.Ops:
        return NumpyOps(xp)

    def run_portable(self, call: Call, xp: Any) -> Any:
        # weights, signs, complex input and logmeanexp run the core unblocked:
        # correctness first, the blocked path serves the plain reductions
        out = None if call.extended else planner.run_blocked(call, xp, self.errstate)
        if out is None:
            with _row_buffer(call.x, call.axes):
                return run_core(call, self.ops(xp))
        return out

    def fast_path(self, t: type) -> Any:
        """``fast(func, x, axis)`` for the common call on a plain ndarray (see
        :func:`.small_calls.fast_path`)."""
        return small_calls.fast_path(t, self.errstate)

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
