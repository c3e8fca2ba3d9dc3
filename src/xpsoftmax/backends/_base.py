"""What every backend adapter provides; the defaults need only the standard."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _core
from .._losses import LossCall, run_loss_core

Array = Any

FUNCS = ("softmax", "log_softmax", "logsumexp", "logmeanexp")


@dataclass(frozen=True)
class Call:
    """One normalized call: everything an implementation needs, validated.

    ``x`` is already cast to ``compute_dtype``; ``axes`` is a non-empty tuple of
    sorted non-negative ints; ``mask`` is None or a boolean array of x's shape.
    """

    func: str
    x: Array
    axes: tuple[int, ...]
    mask: Array | None
    keepdims: bool
    compute_dtype: Any
    result_dtype: Any
    #: logsumexp's weights, None or an array of x's shape in ``compute_dtype``
    b: Array | None = None
    #: logsumexp returns (log|sum|, sign) instead of NaN for a negative sum
    return_sign: bool = False
    #: x is complex (logsumexp only)
    complex_input: bool = False

    @property
    def extended(self) -> bool:
        """Beyond the plain reductions the adapters' fast kernels serve:
        weights, signs, complex input, logmeanexp."""
        return (
            self.b is not None
            or self.return_sign
            or self.complex_input
            or self.func == "logmeanexp"
        )


class Backend:
    """Base adapter.  Subclasses set ``name``/``module`` and override hooks."""

    #: short name used on the command line, in reports and test ids
    name: ClassVar[str] = "generic"
    #: top-level module whose presence in sys.modules makes the adapter worth asking
    module: ClassVar[str | None] = None
    #: the functions that have a native kernel at all (impl="native")
    native_funcs: ClassVar[frozenset[str]] = frozenset()
    #: the natives "auto" uses because they are as accurate as the portable code
    auto_native_funcs: ClassVar[frozenset[str]] = frozenset()

    #: array-api-compat's predicate for this library's arrays, e.g. "is_torch_array"
    compat_predicate: ClassVar[str | None] = None
    #: the module of the standard namespace used for this library's arrays
    namespace_module: ClassVar[str | None] = None
    #: the namespace once imported (a module, or an adapter's stand-in such as sparse's)
    _namespace: Any

    # -- detection and namespaces -------------------------------------------------
    def owns(self, x: Any) -> bool:
        if self.compat_predicate is None:  # pragma: no cover - adapters set it or override
            raise NotImplementedError
        import array_api_compat

        return bool(getattr(array_api_compat, self.compat_predicate)(x))

    def namespace(self, x: Array) -> Any:
        if self.namespace_module is not None:
            return self.import_namespace()
        import array_api_compat

        return array_api_compat.array_namespace(x)

    def version(self) -> str:
        import importlib.metadata

        # CuPy's wheels are named after the CUDA they are built for
        names = {"cupy": ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x")}
        for dist in names.get(self.name, (self.name,)):
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
        return "?"

    def devices(self) -> list[Any]:
        """Every device this backend can place arrays on here."""
        xp = self.import_namespace()
        info = getattr(xp, "__array_namespace_info__", None)
        if info is None:
            return ["cpu"]
        return list(info().devices())

    def import_namespace(self) -> Any:
        """The namespace module (imported on first use: detection never imports it)."""
        ns = self.__dict__.get("_namespace")
        if ns is None:
            if self.namespace_module is None:  # pragma: no cover - adapters set it or override
                raise NotImplementedError
            import importlib

            ns = self._namespace = importlib.import_module(self.namespace_module)
        return ns

    def prepare(self) -> tuple[Array, ...]:
        """Run once this backend's module is imported, before any call (see
        :func:`.when_imported`; adapters with nothing to prepare keep this).
        Returns sample arrays, one of each common array type, for the
        dispatch caches to learn."""
        return ()

    def device_name(self, device: Any) -> str:
        return str(device)

    def available(self) -> str | None:
        """None if this backend can run here, else why not (for skip reasons)."""
        import importlib.util

        if self.module is not None and importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        try:
            self.import_namespace()
            if not self.devices():
                return f"{self.name} reports no device"
        except Exception as exc:  # e.g. CuPy installed without a CUDA device
            return f"{self.name} cannot start here: {type(exc).__name__}: {exc}"
        return None

    def from_numpy(self, a: Any, device: Any = None) -> Array:
        """A copy of NumPy array ``a`` in this backend (on ``device``)."""
        xp = self.import_namespace()
        return xp.asarray(a, device=device, copy=True)

    def to_numpy(self, a: Array) -> Any:
        import numpy as np

        try:
            return np.asarray(a)
        except (TypeError, ValueError, RuntimeError):
            return np.from_dlpack(a)

    # -- numerics ----------------------------------------------------------------------
    def normalize_dtype(self, dtype: Any) -> Any:
        """Turn what a user may pass as ``dtype`` (e.g. ``"float32"``) into a dtype."""
        return dtype

    def finish(self, out: Array) -> Array:
        """Last touch on a result (NumPy turns 0-d scalars back into arrays)."""
        return out

    def ops(self, xp: Any) -> _core.Ops:
        return _core.Ops(xp)

    def errstate(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def run_portable(self, call: Call, xp: Any) -> Array:
        return run_core(call, self.ops(xp))

    def native_covers(self, call: Call) -> str | None:
        """None if the native kernel covers ``call``, else why not (for the error)."""
        if call.func not in self.native_funcs:
            return f"{self.name} has no native {call.func} kernel"
        return self._native_gap(call)

    def _native_gap(self, call: Call) -> str | None:
        return None

    def run_native(self, call: Call, xp: Any) -> Array:  # pragma: no cover - overridden
        raise NotImplementedError

    def prefers_native(self, call: Call) -> bool:
        return call.func in self.auto_native_funcs and self.native_covers(call) is None

    def run_auto(self, call: Call, xp: Any) -> Array:
        """``impl="auto"``: the native kernel where it is as accurate, else the portable code."""
        if self.prefers_native(call):
            return self.run_native(call, xp)
        return self.run_portable(call, xp)

    # -- the losses (:mod:`xpsoftmax._losses`) ----------------------------------------
    def loss_native_gap(self, call: LossCall) -> str | None:
        """None if the backend's own loss covers ``call``, else why not."""
        return f"{self.name} has no native {call.func}"

    def run_loss_native(self, call: LossCall, xp: Any) -> Array:  # pragma: no cover
        raise NotImplementedError

    def run_loss(self, call: LossCall, xp: Any, impl: str) -> Array:
        """A loss: the portable code, or with ``impl="native"`` the backend's own
        (no native loss is as accurate, so "auto" is the portable code)."""
        if impl == "native":
            gap = self.loss_native_gap(call)
            if gap is not None:
                raise ValueError(f"impl='native' cannot serve this call: {gap}; use impl='auto'")
            return self.run_loss_native(call, xp)
        return run_loss_core(call, self.ops(xp))


def run_core(call: Call, ops: _core.Ops) -> Array:
    if call.func == "logmeanexp":
        return _core.logmeanexp(call.x, call.axes, call.mask, call.keepdims, ops)
    if call.func == "logsumexp" and call.complex_input:
        return _core.logsumexp_complex(
            call.x, call.b, call.axes, call.mask, call.keepdims, call.return_sign, ops
        )
    if call.func == "logsumexp" and (call.b is not None or call.return_sign):
        return _core.logsumexp_signed(
            call.x, call.b, call.axes, call.mask, call.keepdims, call.return_sign, ops
        )
    if call.func == "logsumexp":
        return _core.logsumexp(call.x, call.axes, call.mask, call.keepdims, ops)
    fn = _core.softmax if call.func == "softmax" else _core.log_softmax
    return fn(call.x, call.axes, call.mask, ops)
