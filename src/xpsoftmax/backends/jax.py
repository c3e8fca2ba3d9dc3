"""JAX: jax.nn as the native kernels, lax.stop_gradient, and jit caching."""

from __future__ import annotations

import functools
from typing import Any

from .. import _core
from .._losses import LossCall
from ._base import Backend, Call, run_core


def enable_x64(enabled: bool = True) -> Any:
    """JAX's thread-local float64 switch as a context manager, on every JAX we support.

    ``jax.enable_x64`` is public in recent JAX (0.10 here); older releases
    (0.4.31, our floor) have the same switch only as ``jax.experimental.enable_x64``.  Used as
    ``with enable_x64(True): ...`` (no doctest here: the module is imported on
    lanes without JAX).
    """
    import jax

    switch: Any = getattr(jax, "enable_x64", None)
    if switch is None:  # older JAX
        import importlib

        switch = importlib.import_module("jax.experimental").enable_x64
    return switch(enabled)


class JaxOps(_core.Ops):
    def stop_gradient(self, a: Any) -> Any:
        import jax

        return jax.lax.stop_gradient(a)

    def where_nan(self, cond: Any, a: Any) -> Any:
        # inf - inf of an array that is inf only where cond holds, not a NaN
        # constant: jax.debug_nans stops at the first operation whose output
        # holds a NaN, so a constant would stop every call, also those whose
        # result has none (JAX's regression test for its issue 7634,
        # logsumexp(1.0, b=1.0) under debug_nans)
        xp = self.xp
        inf = xp.where(cond, self.scalar(float("inf"), a), self.scalar(0.0, a))
        return xp.where(cond, inf - inf, a)


def _log1p_parts(x: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    """(m, t) with m the slice max (kept dims) and t = sum(exp(x - m)) - 1.

    With e = exp(x - m), e == 1 exactly at the maxima and e < 1 elsewhere, so
    floor(e) marks the maxima without an equality mask (full-array compares
    and selects break XLA:CPU's fusion, ~5x slower): t = sum(e - floor(e)) +
    (sum(floor(e)) - 1) sums the non-maximal terms apart from the ones, so
    log1p(t) keeps the core's accuracy (log_softmax([0, -30]) is -9.36e-14,
    not 0), ties at the max included.  XLA fuses the two sums into one pass.
    A NaN, +inf or all -inf slice makes m, and so t, NaN or inf: the callers
    fix those per slice after the reductions.  Not differentiated (floor has
    no useful derivative): the callers' custom_jvp rules give the tangents.
    """
    import jax.numpy as jnp

    m = jnp.max(x, axis=axes, keepdims=True)
    e = jnp.exp(x - m)
    whole = jnp.floor(e)
    t = jnp.sum(e - whole, axis=axes, keepdims=True) + (
        jnp.sum(whole, axis=axes, keepdims=True) - 1
    )
    return m, t


def _tangent_softmax(x: Any, axes: tuple[int, ...]) -> Any:
    """softmax(x) for the fused kernels' tangents, from the plain sum of exp(x - m).

    The tangents need softmax to a few ulps only, which the plain sum gives
    (no log1p form): one reduction, which XLA:CPU fuses with the exp at every
    size, where the log1p form's two sums of one exp stay one pass only from
    about 4096x4096 up (below, exp and floor are written out to memory).
    Under grad the fused primal is then dead code whenever only the gradient
    is asked for: jit(grad(f)) is two passes over x plus the output, as for
    jax.nn.  A slice whose max is not finite is shifted by +inf: all -inf
    gives exp 0 and a zero softmax (zero gradient for logsumexp's -inf, the
    core's), a NaN or +inf entry gives NaN.  Plain jnp, so hessian
    differentiates it again (the shift is cut: softmax does not depend on it).
    """
    import jax
    import jax.numpy as jnp

    m = jnp.max(x, axis=axes, keepdims=True)
    shift = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.inf))
    e = jnp.exp(x - shift)
    total = jnp.sum(e, axis=axes, keepdims=True)
    return e / jnp.where(total > 0, total, 1)


@functools.lru_cache(maxsize=1)
def _fused_logsumexp() -> Any:
    """logsumexp for XLA:CPU's fused kernels: the core's log1p form, one pass.

    m + log1p(t) from :func:`_log1p_parts`.  Non-finite slices are fixed per
    slice after the reductions (a full-array select such as
    where(isfinite(m), m, 0) as the shift would break the fusion): a NaN in
    the slice makes m NaN, +inf makes it +inf, all -inf makes it -inf, and
    that m is the answer.  custom_jvp (not custom_vjp) so that
    jacfwd/hessian work; the tangent is sum(softmax(x) * dx) with the softmax
    of :func:`_tangent_softmax`.
    """
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
    def lse(x: Any, axes: tuple[int, ...], keepdims: bool, one_pass: bool) -> Any:
        if not one_pass:
            return _core_value("logsumexp", x, axes, keepdims)
        m, t = _log1p_parts(x, axes)
        out = jnp.where(jnp.isfinite(m), m + jnp.log1p(t), m)
        return out if keepdims else jnp.squeeze(out, axis=axes)

    @lse.defjvp
    def _lse_jvp(
        axes: tuple[int, ...], keepdims: bool, one_pass: bool, primals: Any, tangents: Any
    ) -> Any:
        (x,), (dx,) = primals, tangents
        out = lse(x, axes, True, one_pass)
        dout = jnp.sum(_tangent_softmax(x, axes) * dx, axis=axes, keepdims=True)
        if not keepdims:
            out, dout = jnp.squeeze(out, axis=axes), jnp.squeeze(dout, axis=axes)
        return out, dout

    return lse


@functools.lru_cache(maxsize=1)
def _fused_log_softmax() -> Any:
    """log_softmax for XLA:CPU's fused kernels: (x - m) - log1p(t), the core's log1p form.

    From :func:`_log1p_parts`; no select at all: the special slices come out
    as the core's by IEEE propagation alone (a NaN or +inf makes m NaN or
    +inf, so x - m, t and every output NaN; an all -inf slice gives
    -inf - -inf = NaN, the core's 0/0; a -inf entry of a finite slice gives
    -inf).  custom_jvp with the analytic tangent dy = dx - sum(softmax(x) * dx)
    (softmax = exp(y), taken from :func:`_tangent_softmax`), and
    jacfwd/hessian/vmap keep working (the rule differentiates again).
    """
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
    def log_softmax(x: Any, axes: tuple[int, ...], one_pass: bool) -> Any:
        if not one_pass:
            return _core_value("log_softmax", x, axes, False)
        m, t = _log1p_parts(x, axes)
        return (x - m) - jnp.log1p(t)

    @log_softmax.defjvp
    def _log_softmax_jvp(axes: tuple[int, ...], one_pass: bool, primals: Any, tangents: Any) -> Any:
        (x,), (dx,) = primals, tangents
        y = log_softmax(x, axes, one_pass)
        return y, dx - jnp.sum(_tangent_softmax(x, axes) * dx, axis=axes, keepdims=True)

    return log_softmax


#: the fewest slices for which impl="auto" takes the fused kernels (else the core)
FUSED_MIN_SLICES = 4096


def fused_pays(shape: tuple[int, ...], axes: tuple[int, ...]) -> bool:
    """Whether the fused kernels beat the core on an input of ``shape`` over ``axes``.

    The rule is the number of slices (the other axes' size), not the slice
    length or the element count: XLA:CPU emits the log1p form's two sums of one
    exp as a single fused pass only when the reduction has at least about 4096
    rows; with fewer it writes exp and floor out to memory and reads them twice,
    and the core's separate passes are faster.  Measured (jit, float32, ratio to
    jit(jax.nn.log_softmax / logsumexp), 2 shared cores): 2048 rows of 16, 64,
    1024, 2048 or 8192 are 1.4-10x for fused vs 1.4-4x for the core; 4096 rows
    of the same lengths 1.0-1.7x vs 2.0-3.5x; 8 rows of 2**20, 64x100 and
    1024x1024 favour the core too, 524288x16, 16384x256 and 64x256x1024 the
    fused form.  Static under jit (shapes are known at trace time), so each
    shape compiles to one of the two.

    A shape with a symbolic dimension (``jax.export.symbolic_shape``) has no
    slice count to compare at trace time (the comparison would raise
    InconclusiveDimensionOperation): it takes the core, which is valid and
    accurate at every size, so one exported function serves every batch size.

    >>> fused_pays((4096, 16), (1,)), fused_pays((2048, 2048), (1,))
    (True, False)
    """
    if not all(isinstance(n, int) for n in shape):
        return False
    slice_len = 1
    for a in axes:
        slice_len *= shape[a]
    total = 1
    for n in shape:
        total *= n
    return total // max(slice_len, 1) >= FUSED_MIN_SLICES


def _core_value(func: str, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """The portable core's value, as the fused kernels' primal where the fused
    form does not pay (:func:`fused_pays`): their custom_jvp rules still give
    the tangents, so jit(grad(...)) costs what jax.nn's does at every size
    (the core's own autodiff is 2.6x on 2048x2048)."""
    import jax.numpy as jnp

    call = Call(func, x, axes, None, keepdims, x.dtype, x.dtype, None, False, False)
    return run_core(call, JaxOps(jnp))


def _fused(func: str, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """impl="auto"'s unmasked logsumexp or log_softmax on ``x``: the fused
    kernels' custom_jvp functions, whose primal is the log1p form in one fused
    pass where :func:`fused_pays` says so for the shape, else the core's value
    (both routes, eager and traced, come through here, so they agree)."""
    one_pass = fused_pays(tuple(x.shape), axes)
    if func == "log_softmax":
        return _fused_log_softmax()(x, axes, one_pass)
    return _fused_logsumexp()(x, axes, keepdims, one_pass)


#: the functions with a fused kernel (unmasked, unweighted, real float32/float64)
_FUSED_FUNCS = frozenset({"logsumexp", "log_softmax"})


def _fused_covers(call: Call) -> bool:
    """Whether impl="auto" may use the fused kernels for ``call`` (else the core)."""
    import jax.numpy as jnp

    x = call.x
    return (
        call.func in _FUSED_FUNCS
        and call.mask is None
        and call.b is None
        and not call.return_sign
        and not call.complex_input
        and x.dtype in (jnp.dtype("float32"), jnp.dtype("float64"))
        and x.size > 0
    )


@functools.lru_cache(maxsize=256)
def _compiled(
    func: str,
    axes: tuple[int, ...],
    keepdims: bool,
    native: bool,
    return_sign: bool = False,
    complex_input: bool = False,
    fused: bool = False,
) -> Any:
    """One jitted function per static arguments; jax caches per shape/dtype inside."""
    import jax
    import jax.numpy as jnp

    def fn(x: Any, mask: Any, b: Any = None) -> Any:
        if fused:
            return _fused(func, x, axes, keepdims)
        call = Call(func, x, axes, mask, keepdims, x.dtype, x.dtype, b, return_sign, complex_input)
        if native:
            return _native(call)
        return run_core(call, JaxOps(jnp))

    return jax.jit(fn)


def _native(call: Call) -> Any:
    import jax

    x, axes, mask = call.x, call.axes, call.mask
    if call.func == "softmax":
        return jax.nn.softmax(x, axis=axes, where=mask)
    if call.func == "log_softmax":
        return jax.nn.log_softmax(x, axis=axes, where=mask)
    if call.func == "logmeanexp":
        return jax.nn.logmeanexp(x, axis=axes, keepdims=call.keepdims, where=mask)
    return jax.nn.logsumexp(
        x,
        axis=axes,
        b=call.b,
        keepdims=call.keepdims,
        return_sign=call.return_sign,
        where=mask,
    )


class JaxBackend(Backend):
    name = "jax"
    module = "jax"
    compat_predicate = "is_jax_array"
    namespace_module = "jax.numpy"
    native_funcs = frozenset({"softmax", "log_softmax", "logsumexp", "logmeanexp"})
    # jax.nn.softmax is our algorithm, mask included: its where= fills masked
    # entries with 0, a fully masked slice is all 0 with zero (finite)
    # gradients, and NaN/+inf/only -inf slices give NaN like ours, under both
    # of its gradient rules (jax_softmax_custom_jvp off, the 0.10 default, or
    # on; checked against the core in tests/test_jax_native.py).  jax's
    # log_softmax/logsumexp lack the log1p form, so "auto" sends only softmax
    # (with or without where) to jax.nn.  Older JAX differs: on 0.4.31 its
    # softmax flushes float32 results near 1e-38 to 0 and gives 0 where ours
    # gives NaN (the minimum lane's conformance run), so "auto" uses jax.nn only
    # from the release it was checked on (see native_for_auto)
    auto_native_funcs = frozenset({"softmax"})
    #: the first JAX whose jax.nn.softmax "auto" may use (checked: 0.10.2; 0.4.31 fails)
    AUTO_NATIVE_FROM = (0, 10)

    @functools.cached_property
    def native_for_auto(self) -> bool:
        """Whether this JAX's jax.nn.softmax is the one checked as our algorithm."""
        import jax

        parts = jax.__version__.split(".")[:2]
        return tuple(int(p) for p in parts) >= self.AUTO_NATIVE_FROM

    def prefers_native(self, call: Call) -> bool:
        return self.native_for_auto and super().prefers_native(call)

    def ops(self, xp: Any) -> _core.Ops:
        return JaxOps(xp)

    def devices(self) -> list[Any]:
        import jax

        return list(jax.devices())

    def from_numpy(self, a: Any, device: Any = None) -> Any:
        # float64 stays float64 only where the caller enabled jax_enable_x64
        import jax

        return jax.device_put(a, device)

    def normalize_dtype(self, dtype: Any) -> Any:
        import jax.numpy as jnp

        return jnp.dtype(dtype)

    def fast_path(self, t: type) -> Any:
        """``fast(func, x, axis)`` for the common eager call (int axis, no
        mask/dtype, impl="auto"), or NotImplemented for the general route.

        It calls the same cached jitted function the general route would
        (jax.nn.softmax for softmax; for log_softmax and logsumexp
        :func:`_fused`, which picks the fused kernel or the core by shape), found by one dict lookup; tracers, 16-bit floats, 0-d or empty input, an out-of-range
        axis (and so every error) take the general route.
        """
        import jax
        import jax.numpy as jnp

        if issubclass(t, jax.core.Tracer):
            return None
        ok = (jnp.dtype("float32"), jnp.dtype("float64"))
        compiled: dict[tuple[str, int], Any] = {}

        def fast(func: str, x: Any, axis: int) -> Any:
            if x.dtype not in ok:
                return NotImplemented
            shape = x.shape
            nd = len(shape)
            if nd == 0 or not -nd <= axis < nd or 0 in shape:
                return NotImplemented
            key = (func, axis % nd)
            fn = compiled.get(key)
            if fn is None:
                native = func in self.auto_native_funcs and self.native_for_auto
                fused = func in _FUSED_FUNCS  # float32/64, non-empty: checked above
                # positional as in _run: one lru_cache entry, one jitted function
                # (and so one executable per shape) for both routes
                fn = compiled[key] = _compiled(func, (key[1],), False, native, False, False, fused)
            return fn(x, None)

        return fast

    def run_auto(self, call: Call, xp: Any) -> Any:
        if not self.prefers_native(call) and _fused_covers(call):
            return self._run(call, native=False, fused=True)
        return super().run_auto(call, xp)

    def _run(self, call: Call, native: bool, fused: bool = False) -> Any:
        import jax

        traced = (call.x, call.mask, call.b)
        if any(isinstance(a, jax.core.Tracer) for a in traced):
            # inside the caller's transformation: just trace through
            if fused:
                return _fused(call.func, call.x, call.axes, call.keepdims)
            return _native(call) if native else run_core(call, JaxOps(self.namespace(call.x)))
        fn = _compiled(
            call.func,
            call.axes,
            call.keepdims,
            native,
            call.return_sign,
            call.complex_input,
            fused,
        )
        if call.b is None:
            return fn(call.x, call.mask)
        return fn(call.x, call.mask, call.b)

    def run_portable(self, call: Call, xp: Any) -> Any:
        return self._run(call, native=False)

    def run_loss(self, call: LossCall, xp: Any, impl: str) -> Any:
        if impl == "native":  # no native loss: the base class's error
            return super().run_loss(call, xp, impl)
        from . import _jax_losses

        return _jax_losses.run_portable(call)

    def run_native(self, call: Call, xp: Any) -> Any:
        return self._run(call, native=True)
