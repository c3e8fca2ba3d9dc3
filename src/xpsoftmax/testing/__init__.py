"""Testing helpers for framework-neutral code: targets and ulp comparisons.

``Target`` names one backend on one device (``torch:cpu``, ``jax:cpu:0``);
:func:`targets` lists them; :func:`assert_close` compares an array of any
namespace with a NumPy reference in units in the last place.  The pytest plugin
(:mod:`xpsoftmax.testing.plugin`) builds the ``xp``/``target``/``device``
fixtures on these.  Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends import BACKENDS, Backend, by_name

__all__ = ["Target", "assert_close", "targets", "ulp_error"]


@dataclass(frozen=True)
class Target:
    """One backend on one device; ``skip`` is the reason it cannot run here."""

    backend_name: str
    device: Any = None
    device_label: str = "cpu"
    skip: str | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.backend_name}:{self.device_label}"

    @property
    def backend(self) -> Backend:
        return by_name(self.backend_name)

    @property
    def xp(self) -> Any:
        return self.backend.import_namespace()

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """A copy of ``a`` (array-like) as this target's array, on its device."""
        arr = np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)
        return self.backend.from_numpy(arr, self.device)

    def to_numpy(self, a: Any) -> np.ndarray:
        return np.asarray(self.backend.to_numpy(a))

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """What a test on this target runs inside: float64 enabled on JAX.

        ``jax.enable_x64`` is a thread-local context manager, so nothing global
        changes for other tests.
        """
        if self.backend_name == "jax":
            import jax

            with jax.enable_x64(True):
                yield
        else:
            yield


_GPU_BACKENDS = {"torch", "jax", "cupy"}


def _device_label(backend: Backend, device: Any) -> str:
    if backend.name == "torch":
        return "gpu" if device.type == "cuda" and device.index in (0, None) else str(device)
    if backend.name == "jax":
        if device.id == 0 and device.platform in ("cpu", "gpu"):
            return str(device.platform)
        return f"{device.platform}:{device.id}"
    if backend.name == "cupy":
        return "gpu" if device.id == 0 else f"gpu:{device.id}"
    if backend.name == "strict":
        name = getattr(device, "_device", str(device))
        return "cpu" if name == "CPU_DEVICE" else name
    return str(device)


def targets(backends: list[str] | None = None, devices: str = "default") -> list[Target]:
    """Every backend x device known, each with a skip reason where it cannot run.

    ``devices`` is "default" (each backend's CPU device, plus every GPU present,
    plus a skipped ``gpu`` placeholder where a GPU-capable backend has none, so
    the matrix always shows what was not covered), "all" (every device a
    backend reports, e.g. array-api-strict's fake devices) or a comma list of
    device labels ("cpu,gpu").
    """
    out: list[Target] = []
    for backend in BACKENDS:
        if backends is not None and backend.name not in backends:
            continue
        reason = backend.available()
        if reason is not None:
            label = "gpu" if backend.name == "cupy" else "cpu"
            out.append(Target(backend.name, None, label, skip=reason))
            continue
        found = []
        for i, dev in enumerate(backend.devices()):
            if dev is None:
                continue
            label = _device_label(backend, dev)
            gpu = label.startswith(("gpu", "cuda", "mps"))
            if devices == "default" and i > 0 and not gpu:
                continue
            found.append(Target(backend.name, dev, label))
        if backend.name in _GPU_BACKENDS and not any(
            t.device_label.startswith(("gpu", "cuda")) for t in found
        ):
            found.append(Target(backend.name, None, "gpu", skip=f"no CUDA device for {backend.name}"))
        out.extend(found)
    if devices not in ("default", "all"):
        wanted = {d.strip() for d in devices.split(",") if d.strip()}
        out = [t for t in out if t.device_label in wanted]
    return out


def ulp_error(actual: Any, expected: Any, dtype: Any) -> np.ndarray:
    """Elementwise |actual - expected| in ulps of ``dtype`` at ``expected``.

    ``expected`` should be more accurate than ``dtype`` (float64 or mpmath
    values for float32 results).  Positions where both are NaN, or both are
    the same infinity, count 0; a NaN or infinity on one side only counts inf.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    a, e = np.broadcast_arrays(a, e)
    ulp = np.spacing(np.abs(e).astype(dtype)).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - e) / ulp
    same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    err = np.where(same_special, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def assert_close(
    actual: Any,
    expected: Any,
    *,
    ulps: float,
    cond: Any = 1.0,
    dtype: Any = None,
    target: Target | None = None,
) -> float:
    """Assert ``actual`` is within ``ulps * max(cond, 1)`` ulps of ``expected``.

    ``actual`` may be an array of any supported library; ``cond`` is the
    (elementwise or scalar) condition number of the computed quantity, so the
    tolerance is backward-error ulps times conditioning.  Returns the worst
    error in ulps.

    >>> import numpy as np
    >>> assert_close(np.float32(0.1), 0.1, ulps=1, dtype=np.float32)
    0.0
    """
    from ..backends import backend_of

    if target is not None:
        arr = target.to_numpy(actual)
    else:
        backend = backend_of(actual)
        arr = np.asarray(actual) if backend is None else np.asarray(backend.to_numpy(actual))
    dtype = np.dtype(dtype if dtype is not None else arr.dtype)
    exp = np.asarray(expected, dtype=np.float64)
    if arr.shape != exp.shape:
        raise AssertionError(f"shape {arr.shape} != expected shape {exp.shape}")
    err = ulp_error(arr, exp, dtype)
    tol = ulps * np.maximum(np.asarray(cond, dtype=np.float64), 1.0)
    bad = err > tol
    if np.any(bad):
        i = np.unravel_index(int(np.argmax(np.where(bad, err - tol, -np.inf))), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{int(bad.sum())} of {err.size} elements off by more than the tolerance; worst at "
            f"{i}: got {arr[i]!r}, expected {exp[i]!r}, {err[i]:.3g} ulps > {np.broadcast_to(tol, err.shape)[i]:.3g}"
        )
    return float(err.max()) if err.size else 0.0
