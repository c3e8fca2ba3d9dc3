"""Testing helpers for framework-neutral code: targets and ulp comparisons.

``Target`` names one backend on one device (``torch:cpu``, ``jax:cpu``,
``jax-x32:cpu`` for JAX with float64 off); :func:`targets` lists them;
:func:`assert_close` compares an array of any namespace with a reference (an
array of any namespace, a list or mpmath-derived floats) in units in the last
place.  The pytest plugin (:mod:`xpsoftmax.testing.plugin`) builds the
``xp``/``target``/``device`` fixtures on these.  Nothing here imports pytest.

>>> from xpsoftmax.testing import targets
>>> t = next(t for t in targets(["numpy"]) if t.skip is None)
>>> t.id
'numpy:cpu'
>>> t.to_numpy(t.asarray([1, 2], dtype="float32"))
array([1., 2.], dtype=float32)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..backends import BACKENDS, Backend, by_name

__all__ = ["JAX_X64_MODES", "Target", "as_numpy", "assert_close", "targets", "ulp_error"]


@dataclass(frozen=True)
class Target:
    """One backend on one device; ``skip`` is the reason it cannot run here.

    Attributes
    ----------
    backend_name : str
        The backend's name, as in ``XPSOFTMAX_BACKENDS`` (``"numpy"``,
        ``"torch"``, ...).
    device : object
        The backend's own device object (None where the target is skipped).
    device_label : str
        ``"cpu"``, ``"gpu"`` (the first CUDA device) or the device's name.
    skip : str or None
        Why this target cannot run here, or None.
    x64 : bool
        JAX only: True runs the test inside ``jax.enable_x64(True)`` (float64
        arrays stay float64), False inside ``jax.enable_x64(False)`` (JAX's
        default: float64 input becomes float32, integers go to float32); the
        id of the latter is ``jax-x32:<device>``.

    Examples
    --------
    >>> from xpsoftmax.testing import Target
    >>> t = Target("numpy", "cpu")
    >>> t.id, t.xp.__name__
    ('numpy:cpu', 'array_api_compat.numpy')
    """

    backend_name: str
    device: Any = None
    device_label: str = "cpu"
    skip: str | None = field(default=None, compare=False)
    x64: bool = True

    @property
    def id(self) -> str:
        """``backend:device`` as in test ids, e.g. ``numpy:cpu`` or ``jax-x32:cpu``."""
        name = self.backend_name
        if name == "jax" and not self.x64:
            name = "jax-x32"
        return f"{name}:{self.device_label}"

    @property
    def namespace_device(self) -> Any:
        """The device to pass as ``device=`` to the namespace's functions.

        The same as ``device``, except for Dask with CuPy chunks
        (``dask:gpu``): the chunk type is no device of Dask's namespace, so
        None (Dask follows the chunks it is given).
        """
        if self.backend_name == "dask" and self.device_label != "cpu":
            return None
        return self.device

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
        """A NumPy copy of an array of this target (from any device)."""
        return np.asarray(self.backend.to_numpy(a))

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """What a test on this target runs inside: JAX's x64 switch set explicitly.

        ``jax.enable_x64`` is a thread-local context manager, so nothing global
        changes for other tests; other backends need no context.
        """
        if self.backend_name == "jax":
            from ..backends.jax import enable_x64

            with enable_x64(self.x64):
                yield
        else:
            yield


#: the backends with a GPU device where CUDA is present (Dask: CuPy chunks)
_GPU_BACKENDS = {"torch", "jax", "cupy", "dask"}


def _device_label(backend: Backend, device: Any) -> str:
    if backend.name == "torch":
        return "gpu" if device.type == "cuda" and device.index in (0, None) else str(device)
    if backend.name == "jax":
        if device.id == 0 and device.platform in ("cpu", "gpu"):
            return str(device.platform)
        return f"{device.platform}:{device.id}"
    if backend.name == "cupy":
        return "gpu" if device.id == 0 else f"gpu:{device.id}"
    if backend.name == "mlx":
        # mx.Device(mx.cpu) prints as "Device(cpu, 0)"
        return "gpu" if device.type == device.type.gpu else "cpu"
    if backend.name == "tensorflow":
        # logical device names: "/device:CPU:0", "/device:GPU:1"
        kind, _, idx = device.rsplit("/device:", 1)[-1].partition(":")
        kind = kind.lower()
        return kind if idx in ("", "0") else f"{kind}:{idx}"
    if backend.name == "strict":
        name = getattr(device, "_device", str(device))
        return "cpu" if name == "CPU_DEVICE" else name
    if backend.name == "ndonnx":
        return "cpu"  # its one device (onnxruntime on the host) has no printable name
    return str(device)


JAX_X64_MODES = ("on", "off", "both")


def targets(
    backends: list[str] | None = None, devices: str = "default", jax_x64: str = "on"
) -> list[Target]:
    """Every backend x device known, each with a skip reason where it cannot run.

    Parameters
    ----------
    backends : list of str, optional
        Restrict to these backend names (default: every backend xpsoftmax
        knows, installed or not).
    devices : str, default "default"
        "default": each backend's CPU device, plus every GPU present, plus a
        skipped ``gpu`` placeholder where a GPU-capable backend has none, so
        the matrix always shows what was not covered; "all": every device a
        backend reports (e.g. array-api-strict's fake devices); or a comma
        list of device labels ("cpu,gpu").
    jax_x64 : {"on", "off", "both"}, default "on"
        "on": JAX targets run with float64 enabled; "off": JAX's default;
        "both": each JAX device twice.

    Returns
    -------
    list of Target
        In the backends' order; a backend that is not installed, or a device
        that is not present, is a target whose ``skip`` says why.

    Raises
    ------
    ValueError
        An unknown backend name, or an unknown ``jax_x64``.

    Examples
    --------
    >>> from xpsoftmax.testing import targets
    >>> [t.id for t in targets(["numpy"])]
    ['numpy:cpu']
    >>> targets(["paddle"])
    Traceback (most recent call last):
    ValueError: unknown backend(s) ['paddle']; known: [...]
    """
    if jax_x64 not in JAX_X64_MODES:
        raise ValueError(f"jax_x64 must be one of {JAX_X64_MODES}, got {jax_x64!r}")
    if backends is not None:
        known = {b.name for b in BACKENDS}
        unknown = [n for n in backends if n not in known]
        if unknown:
            raise ValueError(f"unknown backend(s) {unknown}; known: {sorted(known)}")
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
            found.append(
                Target(
                    backend.name,
                    None,
                    "gpu",
                    skip="Dask's GPU chunks need CuPy with a CUDA device"
                    if backend.name == "dask"
                    else f"no CUDA device for {backend.name}",
                )
            )
        out.extend(found)
    if devices not in ("default", "all"):
        wanted = {d.strip() for d in devices.split(",") if d.strip()}
        out = [t for t in out if t.device_label in wanted]
    if jax_x64 != "on":
        modes = [False] if jax_x64 == "off" else [True, False]
        out = [
            replace(t, x64=m) if t.backend_name == "jax" else t
            for t in out
            for m in (modes if t.backend_name == "jax" else [True])
        ]
    return out


def as_numpy(a: Any) -> np.ndarray:
    """A NumPy copy of an array of any supported library (or of an array-like).

    Parameters
    ----------
    a : array or array_like
        An array of any supported library, on any device, or anything
        ``numpy.asarray`` takes.

    Returns
    -------
    numpy.ndarray
        The values on the host, in a's dtype.

    Examples
    --------
    >>> from xpsoftmax.testing import as_numpy
    >>> as_numpy([1.0, 2.0])
    array([1., 2.])
    """
    from ..backends import backend_of

    backend = backend_of(a)
    if backend is None:
        return np.asarray(a)
    return np.asarray(backend.to_numpy(a))


def ulp_error(actual: Any, expected: Any, dtype: Any) -> np.ndarray:
    """Elementwise |actual - expected| in ulps of ``dtype`` at ``expected``.

    Parameters
    ----------
    actual : array_like
        The computed values (NumPy or anything ``numpy.asarray`` takes).
    expected : array_like
        The reference, broadcastable with ``actual``; it should be more
        accurate than ``dtype`` (float64 or mpmath values for float32
        results).
    dtype : numpy dtype
        The precision whose ulps (spacing at ``expected``) are counted.

    Returns
    -------
    numpy.ndarray
        float64 errors in ulps.  Positions where both are NaN, or both are the
        same infinity, count 0; a NaN or infinity on one side only counts inf.

    Examples
    --------
    >>> import numpy as np
    >>> from xpsoftmax.testing import ulp_error
    >>> ulp_error([1.0, np.nan], [1.0 + 2**-52, np.nan], np.float64)
    array([1., 0.])
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

    Parameters
    ----------
    actual : array
        An array of any supported library, on any device.
    expected : array or array_like
        The reference: an array of any library, or a list/float, best
        computed more accurately than ``dtype`` (e.g. with mpmath).
    ulps : float
        The allowed error in ulps for a perfectly conditioned value.
    cond : float or array_like, default 1.0
        The (elementwise or scalar) condition number of the computed
        quantity, so the tolerance is backward-error ulps times conditioning.
    dtype : numpy dtype, optional
        The precision the ulps are counted in (default: ``actual``'s dtype).
    target : Target, optional
        The target ``actual`` comes from (its NumPy copy is then made by the
        target's backend).

    Returns
    -------
    float
        The worst error in ulps (0.0 for empty arrays).  NaN matches NaN and
        an infinity the same infinity.

    Raises
    ------
    AssertionError
        The shapes differ, or some element is off by more than its tolerance
        (the message counts them and names the worst).

    Examples
    --------
    >>> import numpy as np
    >>> round(assert_close(np.float32(0.1), 0.1, ulps=1), 3)  # float32(0.1) is 0.2 ulps off
    0.2
    >>> assert_close(np.float32([1.0, 2.0]), [1.0, 2.0 + 5e-7], ulps=1)
    Traceback (most recent call last):
    AssertionError: 1 of 2 elements off by more than 1 ulps x max(cond, 1) in float32; worst at (1,): got 2.0, expected 2.0000005, 2.1 ulps > 1
    """
    arr = target.to_numpy(actual) if target is not None else as_numpy(actual)
    exp_np = as_numpy(expected)
    if dtype is None:
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
    dtype = np.dtype(dtype)
    exp = np.asarray(exp_np, dtype=np.float64)
    if arr.shape != exp.shape:
        raise AssertionError(f"shape {arr.shape} != expected shape {exp.shape}")
    err = ulp_error(arr, exp, dtype)
    tol = ulps * np.maximum(np.asarray(cond, dtype=np.float64), 1.0)
    bad = err > tol
    if np.any(bad):
        excess = np.where(bad, err - tol, -np.inf)
        i = tuple(int(k) for k in np.unravel_index(int(np.argmax(excess)), err.shape))
        tol_i = float(np.broadcast_to(tol, err.shape)[i])
        raise AssertionError(
            f"{int(bad.sum())} of {err.size} elements off by more than {ulps:g} ulps x max(cond, 1) "
            f"in {dtype}; worst at {i}: got {float(arr[i])!r}, expected {float(exp[i])!r}, "
            f"{float(err[i]):.3g} ulps > {tol_i:.3g}"
        )
    return float(err.max()) if err.size else 0.0
