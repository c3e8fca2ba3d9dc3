"""The subjects: every implementation the suite runs the same cases on.

* ``xpsoftmax[portable]`` and ``xpsoftmax[auto]`` on every backend x device
  (:func:`xpsoftmax.testing.targets`): a failing case is a *failure*;
* the frameworks' own functions (``scipy.special``, ``torch``, ``jax.nn``,
  ``cupyx.scipy.special``): reference points, their failures are *findings*;
* seed 000's alternatives: its ``my_softmax`` (re-implemented faithfully
  below: no max shift, no transpose back), and its ``np.softmax`` /
  ``jnp.softmax``, reported "not available" when the library lacks them.

A subject maps each function name to ``call(x, case, where=None) -> array``
(a :class:`Call`) where ``x`` is already an array of its library;
:meth:`Subject.gap` says why a case cannot be expressed with it at all (e.g.
torch.softmax has no ``where=``).

The registry
------------
:data:`REGISTRY` is the one list of subjects that both the conformance suite
(:func:`all_subjects`) and ``xpsoftmax bench`` (:mod:`xpsoftmax.bench.subjects`)
read.  Adding a framework's own functions (or a backend's) is one
:class:`Entry`: a factory ``make(target) -> Subject`` whose ``funcs`` are
:class:`Call` s, and the backend whose targets it runs on::

    def _mlx_subject(target: Target) -> Subject:
        import mlx.core as mx

        def soft(fn: Any) -> Call:
            def call(x: Any, case: Case, where: Any = None) -> Any:
                return fn(x, **_axis_kw(case))

            return call

        return Subject(id=f"mlx.core@{target.id}", kind="native", target=target,
                       funcs={"softmax": soft(mx.softmax), ...},
                       lacks=frozenset({"where"}), library="mlx")

    REGISTRY = (..., Entry("mlx", _mlx_subject, anchor=True))

``anchor=True`` makes it the bench's anchor of that backend (the first such
entry of a backend; its ratios are to it); the conformance suite runs every
entry.  A Call receives the case, so it is cheap enough to time as it is
(bench times xpsoftmax and the anchor through their Calls alike).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..testing import Target, targets
from . import loss_subjects
from .cases import Case


class Call(Protocol):
    """``call(x, case, where=None)``; ``x`` and ``where`` are arrays of the subject's library."""

    def __call__(self, x: Any, case: Case, where: Any = None, /) -> Any: ...


KINDS = ("xpsoftmax", "native", "seed")


@dataclass
class Subject:
    """One implementation on one backend x device."""

    id: str
    kind: str  # "xpsoftmax" (must pass), "native" or "seed" (findings)
    target: Target | None
    funcs: dict[str, Call] = field(default_factory=dict)
    #: why the subject does not exist here (skip), e.g. "numpy has no softmax"
    unavailable: str | None = None
    #: features the subject cannot express: "where", "tuple-axis", "bfloat16",
    #: "transforms" (a route of another subject, whose transforms are checked)
    lacks: frozenset[str] = frozenset()
    #: the library the arrays belong to, for the report
    library: str = ""

    @property
    def must_pass(self) -> bool:
        return self.kind == "xpsoftmax"

    def gap(self, case: Case) -> str | None:
        """None if this subject can run ``case``, else why not ("n/a")."""
        if case.func not in self.funcs:
            return f"{self.id} has no {case.func}"
        if case.where is not None and "where" in self.lacks:
            return "no where= argument"
        if isinstance(case.axis, tuple) and "tuple-axis" in self.lacks and case.func != "logsumexp":
            return "takes one axis, not a tuple"
        if (case.b is not None or case.return_sign) and "weights" in self.lacks:
            return "no b=/return_sign= arguments"
        if case.dtype == "bfloat16" and "bfloat16" in self.lacks:
            return f"{self.library} has no bfloat16"
        if case.dtype == "complex128" and "complex128" in self.lacks:
            return f"{self.library} has no complex128 (complex64 only)"
        if case.group == "losses":
            return loss_subjects.loss_gap(case, self.lacks)
        return None

    def make_input(self, case: Case) -> Any:
        assert self.target is not None
        return make_array(self.target, case.x, case.dtype)

    def make_mask(self, case: Case) -> Any:
        assert self.target is not None and case.where is not None
        return self.target.asarray(case.where)


def _weights_kw(x: Any, case: Case) -> dict[str, Any]:
    """``b=`` (an array of ``x``'s library, dtype and device) and ``return_sign=``."""
    from ..backends import backend_of

    kw: dict[str, Any] = {}
    if case.b is not None:
        be = backend_of(x)
        assert be is not None
        kw["b"] = be.from_numpy(case.b.astype(_dtype_of(x)))
    if case.return_sign:
        kw["return_sign"] = True
    return kw


def _dtype_of(x: Any) -> Any:
    # NumPy's name of x's dtype (the weights cases are float32/float64)
    # (TensorFlow's dtypes print as <dtype: 'float32'> but have a .name)
    name = getattr(x.dtype, "name", None)
    return np.dtype(name if isinstance(name, str) else str(x.dtype).rsplit(".", 1)[-1])


def make_array(target: Target, values: np.ndarray, dtype: str) -> Any:
    """``values`` (exact in ``dtype``) as an array of ``target`` with that dtype."""
    if dtype == "bfloat16":
        name = target.backend_name
        if name == "torch":
            import torch

            return target.asarray(values.astype(np.float32)).to(torch.bfloat16)
        if name == "jax":
            import jax.numpy as jnp

            return jnp.asarray(target.asarray(values.astype(np.float32)), dtype=jnp.bfloat16)
        if name == "mlx":
            import mlx.core as mx

            return target.asarray(values.astype(np.float32)).astype(mx.bfloat16)
        if name == "tensorflow":
            import tensorflow as tf

            return tf.cast(target.asarray(values.astype(np.float32)), tf.bfloat16)
        raise TypeError(f"{name} has no bfloat16")
    return target.asarray(np.asarray(values).astype(dtype))


# -- xpsoftmax -------------------------------------------------------------------------
def _xps(func: str, impl: str) -> Call:
    import xpsoftmax

    fn = getattr(xpsoftmax, func)

    def call(x: Any, case: Case, where: Any = None) -> Any:
        kw = case.kwargs
        if where is not None:
            kw["where"] = where
        if func == "logsumexp":
            kw.update(_weights_kw(x, case))
        return fn(x, impl=impl, **kw)

    return call


#: one forced route at a time: the switches below are module globals of the adapters
_ROUTE_LOCK = threading.Lock()


@contextlib.contextmanager
def _jax_one_pass_everywhere() -> Iterator[None]:
    """JAX's slice-count rule at 0: "auto" takes the one-pass kernels at every size."""
    from ..backends import jax as jb

    saved, jb.FUSED_MIN_SLICES = jb.FUSED_MIN_SLICES, 0
    try:
        yield
    finally:
        jb.FUSED_MIN_SLICES = saved


@contextlib.contextmanager
def _torch_windows_open() -> Iterator[None]:
    """The size windows of torch's checked native kernels opened to every size."""
    from ..backends import _torch_ops as to

    saved = dict(to.NATIVE_WINDOW)
    to.NATIVE_WINDOW.update({f: (0, 1 << 62) for f in saved})
    try:
        yield
    finally:
        to.NATIVE_WINDOW.update(saved)


def _xps_forced(func: str, route: Callable[[], Any], jit: bool) -> Call:
    """``impl="auto"`` with an adapter's route switch set by ``route()`` (a
    context manager), under a fresh ``jax.jit`` each call where ``jit`` (the
    switch is read at trace time, and a cached trace would keep the other
    route)."""
    inner = _xps(func, "auto")

    def call(x: Any, case: Case, where: Any = None) -> Any:
        with _ROUTE_LOCK, route():
            if jit:
                import jax

                return jax.jit(lambda a: inner(a, case, where))(x)
            return inner(x, case, where)

    return call


def _forced_subject(
    target: Target, tag: str, route: Callable[[], Any], jit: bool = False, **kw: Any
) -> Subject:
    return Subject(
        id=f"xpsoftmax[auto,{tag}]@{target.id}",
        kind="xpsoftmax",
        target=target,
        funcs={f: _xps_forced(f, route, jit) for f in ("log_softmax", "logsumexp")},
        unavailable=target.skip,
        library=target.backend_name,
        **kw,
    )


def jax_one_pass_subject(target: Target) -> Subject:
    """JAX's one-pass log1p kernels on every case: the catalogue's inputs have
    fewer than 4096 slices, so plain "auto" checks the core there."""
    return _forced_subject(target, "one-pass", _jax_one_pass_everywhere, jit=True)


def torch_checked_native_subject(target: Target) -> Subject:
    """torch's checked native kernels on every case over the last dim: the
    catalogue's inputs are below 512 KiB, so plain "auto" checks the NumPy
    route there (other calls keep their route)."""
    # the switch is set around each call under a lock, which torch.compile
    # cannot trace; the operators' transforms are the auto subject's
    return _forced_subject(
        target, "torch-kernel", _torch_windows_open, lacks=frozenset({"transforms"})
    )


XPS_FUNCS = ("softmax", "log_softmax", "logsumexp", "logmeanexp")
_NO_BF16 = {"numpy", "dask", "strict", "cupy", "sparse", "ndonnx", "marray"}
#: libraries whose complex type is complex64 only: the catalogue's complex128 cases are n/a there
_NO_COMPLEX128 = {"mlx"}


def _xps_slice_chunks(func: str) -> Call:
    """``impl="auto"`` on the input rechunked so every reduced slice lies in
    one chunk (the other axes stay split): Dask's chunk-by-chunk path."""
    from .._args import normalize_axes

    inner = _xps(func, "auto")

    def call(x: Any, case: Case, where: Any = None) -> Any:
        try:
            axes = normalize_axes(-1 if case.axis == "default" else case.axis, x.ndim)
        except ValueError:  # a bad axis: the call itself must say so
            axes = ()
        return inner(x.rechunk({a: -1 for a in axes}) if axes else x, case, where)

    return call


def dask_slice_chunks_subject(target: Target) -> Subject:
    """xpsoftmax on Dask arrays whose chunks hold whole slices: the per-chunk
    path that the speed work built (the plain Dask subjects split every axis
    in two, so their reductions cross chunk borders)."""
    return Subject(
        id=f"xpsoftmax[auto,slice-chunks]@{target.id}",
        kind="xpsoftmax",
        target=target,
        funcs={f: _xps_slice_chunks(f) for f in XPS_FUNCS},
        unavailable=target.skip,
        lacks=frozenset({"bfloat16"}),
        library="dask",
    )


def xpsoftmax_subject(target: Target, impl: str) -> Subject:
    lacks = frozenset({"bfloat16"}) if target.backend_name in _NO_BF16 else frozenset()
    if target.backend_name in _NO_COMPLEX128:
        lacks |= {"complex128"}
    return Subject(
        id=f"xpsoftmax[{impl}]@{target.id}",
        kind="xpsoftmax",
        target=target,
        funcs={**{f: _xps(f, impl) for f in XPS_FUNCS}, **loss_subjects.xpsoftmax_losses(impl)},
        unavailable=target.skip,
        lacks=lacks,
        library=target.backend_name,
    )


# -- the frameworks' own functions ------------------------------------------------------
def _axis_kw(case: Case, name: str = "axis") -> dict[str, Any]:
    return {} if case.axis == "default" else {name: case.axis}


def _scipy_subject(target: Target) -> Subject:
    try:
        import scipy.special as sp
    except ImportError:
        return Subject(
            "scipy.special@numpy:cpu", "native", target, unavailable="scipy is not installed"
        )

    def soft(name: str) -> Call:
        fn = getattr(sp, name)

        def call(x: Any, case: Case, where: Any = None) -> Any:
            return fn(x, **_axis_kw(case))

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        return sp.logsumexp(x, keepdims=case.keepdims, **_axis_kw(case), **_weights_kw(x, case))

    return Subject(
        id=f"scipy.special@{target.id}",
        kind="native",
        target=target,
        funcs={
            "softmax": soft("softmax"),
            "log_softmax": soft("log_softmax"),
            "logsumexp": lse,
            "log_sigmoid": lambda x, case, where=None: sp.log_expit(x),
        },
        lacks=frozenset({"where", "bfloat16"}),
        library="numpy",
    )


def _torch_subject(target: Target) -> Subject:
    import torch

    def soft(fn: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            # what a torch user writes: dim=axis; no dim at all for "default"
            return fn(x) if case.axis == "default" else fn(x, case.axis)

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        if case.axis == "default":
            # deliberately what a torch user would write: torch rejects it (dim is
            # required) and the report records that as a finding
            return torch.logsumexp(x)  # type: ignore[call-arg]
        return torch.logsumexp(x, case.axis, keepdim=case.keepdims)

    losses, loss_lacks = loss_subjects.torch_losses()
    return Subject(
        id=f"torch@{target.id}",
        kind="native",
        target=target,
        funcs={"softmax": soft(torch.softmax), "log_softmax": soft(torch.log_softmax),
               "logsumexp": lse, **losses},
        unavailable=target.skip,
        lacks=frozenset({"where", "tuple-axis", "weights"}) | loss_lacks,
        library="torch",
    )  # fmt: skip


def _jax_subject(target: Target) -> Subject:
    import jax

    def soft(fn: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            kw = _axis_kw(case)
            if where is not None:
                kw["where"] = where
            return fn(x, **kw)

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        kw = _axis_kw(case)
        if where is not None:
            kw["where"] = where
        return jax.nn.logsumexp(x, keepdims=case.keepdims, **kw, **_weights_kw(x, case))

    return Subject(
        id=f"jax.nn@{target.id}",
        kind="native",
        target=target,
        funcs={"softmax": soft(jax.nn.softmax), "log_softmax": soft(jax.nn.log_softmax),
               "logsumexp": lse, "log_sigmoid": lambda x, case, where=None: jax.nn.log_sigmoid(x)},
        unavailable=target.skip,
        library="jax",
    )  # fmt: skip


def _optax_subject(target: Target) -> Subject:
    sid = f"optax@{target.id}"
    try:
        losses, lacks = loss_subjects.optax_losses()
    except ImportError:
        return Subject(sid, "native", target, unavailable="optax is not installed")
    return Subject(sid, "native", target, losses, unavailable=target.skip, lacks=lacks,
                   library="jax")  # fmt: skip


def _cupy_subject(target: Target) -> Subject:
    sid = f"cupyx.scipy.special@{target.id}"
    if target.skip is not None:
        return Subject(sid, "native", target, unavailable=target.skip)
    import cupyx.scipy.special as sp

    def soft(fn: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            return fn(x, **_axis_kw(case))

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        return sp.logsumexp(x, keepdims=case.keepdims, **_axis_kw(case), **_weights_kw(x, case))

    funcs: dict[str, Call] = {}
    for name in ("softmax", "log_softmax"):
        fn = getattr(sp, name, None)
        if fn is not None:
            funcs[name] = soft(fn)
    if hasattr(sp, "logsumexp"):
        funcs["logsumexp"] = lse
    return Subject(sid, "native", target, funcs, lacks=frozenset({"where", "bfloat16"}),
                   library="cupy")  # fmt: skip


def _tf_subject(target: Target) -> Subject:
    import tensorflow as tf

    def soft(fn: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            return fn(x, **_axis_kw(case))  # tf.nn's default axis is -1

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        # no axis: reduce_logsumexp reduces every axis, what a TF user gets
        return tf.math.reduce_logsumexp(x, keepdims=case.keepdims, **_axis_kw(case))

    losses, loss_lacks = loss_subjects.tf_losses()
    return Subject(
        id=f"tf.nn@{target.id}",
        kind="native",
        target=target,
        funcs={"softmax": soft(tf.nn.softmax), "log_softmax": soft(tf.nn.log_softmax),
               "logsumexp": lse, **losses},
        unavailable=target.skip,
        lacks=frozenset({"where", "tuple-axis"}) | loss_lacks,
        library="tensorflow",
    )  # fmt: skip


#: the xpsoftmax backend whose arrays each Keras backend computes on
_KERAS_TARGETS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def keras_backend() -> str:
    """The Keras 3 backend in use (``KERAS_BACKEND``, else ~/.keras/keras.json, else TF),
    read without importing Keras where it is not installed."""
    import importlib.util
    import json
    import os
    from pathlib import Path

    if importlib.util.find_spec("keras") is not None:
        import keras

        return str(keras.backend.backend())
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    cfg = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        return str(json.loads(cfg.read_text()).get("backend", "tensorflow"))
    except (OSError, ValueError):
        return "tensorflow"


def _keras_subject(target: Target) -> Subject:
    backend = keras_backend()
    sid = f"keras.ops[{backend}]@{target.id}"
    if _KERAS_TARGETS.get(backend) != target.backend_name:
        return Subject(sid, "native", target, unavailable=f"Keras runs on its {backend} backend")
    try:
        import keras
    except ImportError:
        return Subject(sid, "native", target, unavailable="keras is not installed")
    ops = keras.ops

    def soft(fn: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            return fn(x, **_axis_kw(case))  # keras.ops' default axis is -1

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        return ops.logsumexp(x, keepdims=case.keepdims, **_axis_kw(case))

    losses, loss_lacks = loss_subjects.keras_losses()
    return Subject(
        id=sid,
        kind="native",
        target=target,
        funcs={"softmax": soft(ops.softmax), "log_softmax": soft(ops.log_softmax),
               "logsumexp": lse, **losses},
        unavailable=target.skip,
        lacks=frozenset({"where"}) | loss_lacks,
        library=target.backend_name,
    )  # fmt: skip


def _mlx_subjects(target: Target) -> list[Subject]:
    """``mx.softmax`` (and with ``precise=True``: 16-bit input accumulated in
    float32), ``mlx.nn.log_softmax``'s formula and ``mx.logsumexp``."""
    import mlx.core as mx

    def soft(fn: Any, **extra: Any) -> Call:
        def call(x: Any, case: Case, where: Any = None) -> Any:
            # no axis: mx.softmax normalizes over every axis, what an MLX user gets
            kw = _axis_kw(case)
            if isinstance(kw.get("axis"), tuple):
                kw["axis"] = list(kw["axis"])
            return fn(x, **kw, **extra)

        return call

    def lse(x: Any, case: Case, where: Any = None) -> Any:
        kw = _axis_kw(case)
        if isinstance(kw.get("axis"), tuple):
            kw["axis"] = list(kw["axis"])
        return mx.logsumexp(x, keepdims=case.keepdims, **kw)

    def log_soft(x: Any, case: Case, where: Any = None) -> Any:
        # mlx.nn.log_softmax's own formula, x - logsumexp(x), run uncompiled: the
        # function itself is mx.compile(shapeless=True)'d, which segfaults on a
        # length-one axis and hung in evaluation after many compiles in one
        # process (the full mlx lane, twice; MLX 0.32.4 CPU)
        axis = -1 if case.axis == "default" else case.axis  # mlx.nn's default
        axis = list(axis) if isinstance(axis, tuple) else axis
        return x - mx.logsumexp(x, axis=axis, keepdims=True)

    common: dict[str, Any] = {"kind": "native", "target": target, "unavailable": target.skip,
                              "lacks": frozenset({"where"}), "library": "mlx"}  # fmt: skip
    return [
        Subject(id=f"mx@{target.id}", funcs={"softmax": soft(mx.softmax),
                "log_softmax": log_soft, "logsumexp": lse}, **common),
        Subject(id=f"mx.softmax(precise=True)@{target.id}",
                funcs={"softmax": soft(mx.softmax, precise=True)}, **common),
    ]  # fmt: skip


def _mx_subject(target: Target) -> Subject:
    return _mlx_subjects(target)[0]


def _mx_precise_subject(target: Target) -> Subject:
    return _mlx_subjects(target)[1]


# -- seed 000's alternatives ----------------------------------------------------------
def seed000_my_softmax(input: Any, dim: Any = None) -> Any:
    """Seed 000's ``my_softmax``, line for line: no max shift, no transpose back."""
    import torch

    if dim is None:
        dim = -1
    transposed_input = input.transpose(dim, -1)
    output = torch.exp(transposed_input)
    output_sum = output.sum(dim=-1, keepdim=True)
    return output / output_sum


def _my_softmax_subject(target: Target) -> Subject:
    def call(x: Any, case: Case, where: Any = None) -> Any:
        return seed000_my_softmax(x) if case.axis == "default" else seed000_my_softmax(x, case.axis)

    return Subject(
        id=f"my_softmax(seed000)@{target.id}",
        kind="seed",
        target=target,
        funcs={"softmax": call},
        unavailable=target.skip,
        lacks=frozenset({"where", "tuple-axis"}),
        library="torch",
    )


def _seed_attr_subject(module: str, target: Target | None, reason_if_missing: str) -> Subject:
    """Seed 000's ``np.softmax`` / ``jnp.softmax``: used if the library ever grows one."""
    import importlib

    label = {"numpy": "np", "jax.numpy": "jnp"}[module]
    sid = f"{label}.softmax(seed000)" + (f"@{target.id}" if target is not None else "")
    if target is None or target.skip is not None:
        return Subject(sid, "seed", target, unavailable=f"{module} is not installed")
    mod = importlib.import_module(module)
    fn = getattr(mod, "softmax", None)
    if fn is None:
        return Subject(
            sid, "seed", target,
            unavailable=f"not available: {module} has no softmax (AttributeError); {reason_if_missing}",
        )  # fmt: skip

    def call(x: Any, case: Case, where: Any = None) -> Any:
        return fn(x, **_axis_kw(case))

    return Subject(
        sid, "seed", target,
        funcs={"softmax": call},
        lacks=frozenset({"where", "bfloat16"}), library=module,
    )  # fmt: skip


# -- the registry (see the module docstring) --------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One declaration of :data:`REGISTRY`: ``make(target)`` on every target of
    ``backend`` ("*": every backend)."""

    backend: str
    make: Callable[[Target], Subject]
    #: bench times it as its backend's anchor (the first such entry of a backend)
    anchor: bool = False
    #: made on skipped targets too, so the report says what did not run
    on_skipped: bool = False


def _impl(impl: str) -> Callable[[Target], Subject]:
    return lambda target: xpsoftmax_subject(target, impl)


#: every subject, in report order: xpsoftmax's impls, then each framework's own
REGISTRY: tuple[Entry, ...] = (
    Entry("*", _impl("portable"), on_skipped=True),
    Entry("*", _impl("auto"), on_skipped=True),
    Entry("dask", dask_slice_chunks_subject, on_skipped=True),
    Entry("jax", jax_one_pass_subject, on_skipped=True),
    Entry("torch", torch_checked_native_subject, on_skipped=True),
    Entry("numpy", _scipy_subject, anchor=True),
    Entry("torch", _torch_subject, anchor=True),
    Entry("torch", _my_softmax_subject),
    Entry("jax", _jax_subject, anchor=True),
    Entry("jax", _optax_subject),
    Entry("cupy", _cupy_subject, anchor=True, on_skipped=True),
    Entry("tensorflow", _tf_subject),
    # keras.ops on TensorFlow tensors (the Keras 3 default backend); where Keras
    # is missing or runs on another backend, the skipped subject says so
    Entry("tensorflow", _keras_subject),
    Entry("mlx", _mx_subject),
    Entry("mlx", _mx_precise_subject),
)


def registered(target: Target, anchor_only: bool = False) -> list[Subject]:
    """The registry's subjects on ``target`` (skipped targets: those marked
    ``on_skipped``); ``anchor_only``: its anchor alone (or nothing)."""
    out = []
    for e in REGISTRY:
        if e.backend not in ("*", target.backend_name) or (anchor_only and not e.anchor):
            continue
        if target.skip is None or e.on_skipped:
            out.append(e.make(target))
            if anchor_only:
                break
    return out


# -- everything -------------------------------------------------------------------------
def all_subjects(
    backends: list[str] | None = None,
    devices: str = "default",
    kinds: list[str] | None = None,
    names: list[str] | None = None,
) -> list[Subject]:
    """Every subject of the selected backends x devices, skipped ones included.

    ``kinds`` keeps some of "xpsoftmax", "native", "seed"; ``names`` keeps the
    subjects whose id contains one of the given substrings.
    """
    out: list[Subject] = []
    first: dict[str, Target] = {}
    for t in targets(backends, devices):
        out += registered(t)
        if t.skip is None:
            first.setdefault(t.backend_name, t)
    if backends is None or "numpy" in backends:
        out.append(_seed_attr_subject(
            "numpy", first.get("numpy"), "xpsoftmax.softmax on the NumPy array is the working version"))  # fmt: skip
    if backends is None or "jax" in backends:
        out.append(_seed_attr_subject(
            "jax.numpy", first.get("jax"),
            "jax.nn.softmax, or xpsoftmax.softmax on the JAX array, is the working version"))  # fmt: skip
    if kinds is not None:
        out = [s for s in out if s.kind in kinds]
    if names is not None:
        out = [s for s in out if any(n in s.id for n in names)]
    return out
