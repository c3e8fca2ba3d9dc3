"""linear_cross_entropy and linear_cross_entropy_grad: checks, then one route per backend."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from . import _linear_ce as lce
from ._linear_ce_args import LceCall, check_impl, lce_call

Reduction = Literal["mean", "sum", "none"]


class LinearCrossEntropyGrad(NamedTuple):
    """What :func:`linear_cross_entropy_grad` returns: the loss and the
    gradients of ``grad_output * loss`` (summed) with respect to ``x``,
    ``linear_weight`` and ``linear_bias`` (None without a bias)."""

    loss: Any
    grad_x: Any
    grad_linear_weight: Any
    grad_linear_bias: Any


class Route:
    """The array-API route: the portable algorithm with the standard's
    operations only (new arrays for every step).  Backends subclass it
    (:data:`ROUTES`) to reuse buffers in place or to add autograd."""

    def ops(self, call: LceCall) -> lce.ChunkOps:
        # the backend's exp: the portable core's (MLX: an accurate one)
        return lce.ChunkOps(call.xp, call.backend.ops(call.xp).exp)

    def plan(self, call: LceCall) -> lce.Plan:
        return call.plan

    def loss(self, call: LceCall) -> Any:
        ops = self.ops(call)
        p = call.problem()
        with call.backend.errstate():  # documented NaN/inf of special inputs
            c = lce.constants(p, ops)
            losses, _ = lce.forward(p, c, self.plan(call), ops)
            return lce.reduce(losses, c, call.reduction, call.compute_dtype, ops)

    def value_and_grad(
        self, call: LceCall, grad_output: Any, needs: lce.Needs
    ) -> tuple[Any, lce.Grads]:
        ops = self.ops(call)
        p = call.problem()
        with call.backend.errstate():
            c = lce.constants(p, ops)
            g = lce.row_weights(c, call.reduction, grad_output, ops)
            losses, grads = lce.value_and_grad(p, c, g, self.plan(call), ops, needs)
            return lce.reduce(losses, c, call.reduction, call.compute_dtype, ops), grads


_routes: dict[str, Route] = {}
PORTABLE = Route()


def _backend_route(name: str) -> Route:
    """The route of backend ``name`` (plain import statements: torch.compile
    runs those while tracing, not importlib's)."""
    if name in ("numpy", "cupy"):
        from .backends import _lce_numpy

        return _lce_numpy.NumpyRoute() if name == "numpy" else _lce_numpy.CupyRoute()
    if name == "torch":
        from .backends import _lce_torch

        return _lce_torch.TorchRoute()
    if name == "jax":
        from .backends import _lce_jax

        return _lce_jax.JaxRoute()
    if name == "dask":
        from .backends import _lce_dask

        return _lce_dask.DaskRoute()
    if name == "tensorflow":
        from .backends import _lce_tf

        return _lce_tf.TfRoute()
    return PORTABLE


def route_for(call: LceCall, impl: str) -> Route:
    if impl == "portable":
        return PORTABLE
    name = call.backend.name
    found = _routes.get(name)
    if found is None:
        found = _routes[name] = _backend_route(name)
    return found


def _finish_loss(out: Any, call: LceCall) -> Any:
    xp = call.xp
    if call.unbatched and call.reduction == "none":
        out = xp.reshape(out, ())
    if out.dtype != call.result_dtype:
        out = xp.astype(out, call.result_dtype)
    return call.backend.finish(out)


def linear_cross_entropy(
    x: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    where: Any = None,
    chunk_size: int | tuple[str, int] | None = None,
    impl: Literal["auto", "portable"] = "auto",
) -> Any:
    """Cross-entropy of the logits ``x @ linear_weight.T + linear_bias``,
    without ever holding them.

    The same value as ``cross_entropy(x @ linear_weight.T + linear_bias,
    target, ...)`` (torch's definitions of ``weight``, ``ignore_index``,
    ``label_smoothing`` and ``reduction``), computed over chunks of rows or
    of classes so that neither the (N, V) logits nor their gradient exists
    at once: peak memory is a chunk of logits plus the gradients.  The
    backward pass recomputes what it needs chunk by chunk.  torch's
    argument names: a drop-in for ``torch.nn.functional.linear_cross_entropy``.

    Parameters
    ----------
    x : array, shape (N, D) or (D,)
        The inputs of the output layer (hidden states); NumPy, PyTorch, JAX,
        CuPy, Dask or any array-API library.  16-bit floats are computed in
        float32 (the weight gradient and the normalisers accumulate there).
    linear_weight : array, shape (V, D)
        The layer's weight, one row per class (torch's ``Linear.weight``).
    target : array
        Class indices, integer of shape (N,) (or () for 1-D ``x``), or class
        probabilities, floating of shape (N, V) (or (V,)).
    linear_bias : array of shape (V,), optional
        The layer's bias.  A ``-inf`` entry masks its class out.
    weight : array of shape (V,), optional
        A weight per class (torch's ``weight``).
    ignore_index : int
        Samples whose index target equals it do not count (default -100).
    label_smoothing : float in [0, 1]
        Mixes the target with the uniform distribution over the classes
        whose logits are finite (torch spreads it over all V: with a
        ``-inf`` bias entry torch's loss is inf).
    reduction : {"mean", "sum", "none"}
        "mean" divides the sum by the summed weights of the counted samples'
        target classes (index targets) or by the number of counted samples
        (probabilities), as torch; with none counted it is 0.0 with zero
        gradients (torch gives NaN).
    where : boolean array of shape (N,), optional
        Samples where it is False do not count (as if ignored).
    chunk_size : int or ("rows" | "vocab", int), optional
        Rows per chunk (an int), or the cut and its size.  By default the
        shapes decide: chunks of at most 64 MiB and an eighth of the logits
        (not cut below 16 MiB), of rows while at least 64 fit, else of
        classes (JAX: half that, and classes where the weight gradient
        exceeds an eighth of the logits; NumPy: at most 128 MiB and a
        fourth of the logits, rows while at least 256 fit).
    impl : {"auto", "portable"}
        "auto" takes the backend's route (torch: an operator with an
        analytic backward; JAX: a ``custom_vjp``; NumPy/CuPy: buffers reused
        in place; Dask: lazy row blocks); "portable" the array-API code
        alone, which the framework's own autograd differentiates (keeping
        every chunk for its backward).

    Returns
    -------
    array
        The loss: a 0-d array, or shape (N,) for ``reduction="none"``, in the
        dtype of the inputs (their promotion).

    Raises
    ------
    TypeError
        An argument of the wrong kind (another library, an integer ``x``, a
        target that is neither integer nor floating, ...).
    ValueError
        Shapes that do not fit (``linear_weight``'s second dimension is not
        ``x``'s last, a ``target`` or ``weight`` of the wrong length, ...),
        a class index outside ``[0, V)`` (checked where the values can be
        read), a bad ``reduction``, ``label_smoothing`` or ``chunk_size``.

    See Also
    --------
    linear_cross_entropy_grad : the loss and its gradients in one call.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((4, 3))
    >>> w = rng.standard_normal((5, 3))
    >>> y = np.array([0, 4, 2, 2])
    >>> loss = xs.linear_cross_entropy(x, w, y)
    >>> z = x @ w.T  # the logits it never forms
    >>> lse = np.log(np.exp(z).sum(axis=1))
    >>> bool(np.isclose(loss, np.mean(lse - z[np.arange(4), y])))
    True
    >>> xs.linear_cross_entropy(x, w, np.array([-100, -100, -100, -100]))  # nothing counts
    array(0.)
    """
    which = check_impl(impl)
    call = lce_call(x, linear_weight, target, linear_bias, weight, ignore_index,
                    label_smoothing, reduction, where, chunk_size)  # fmt: skip
    return _finish_loss(route_for(call, which).loss(call), call)


def linear_cross_entropy_grad(
    x: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    where: Any = None,
    chunk_size: int | tuple[str, int] | None = None,
    grad_output: Any = None,
    impl: Literal["auto", "portable"] = "auto",
) -> LinearCrossEntropyGrad:
    """:func:`linear_cross_entropy` and its gradients, chunk by chunk, in one call.

    For libraries without autograd (NumPy, CuPy, Dask) and for hand-written
    training steps: over row chunks the loss and every gradient come from
    one pass (three matrix products, as the unfused forward and backward),
    over vocabulary chunks from two.  Arguments as for
    :func:`linear_cross_entropy`, plus ``grad_output``.

    Parameters
    ----------
    grad_output : scalar or array, optional
        The cotangent of the loss: the gradients are those of
        ``sum(grad_output * loss)``.  Default 1 (for ``reduction="none"``:
        one per sample, the gradient of the summed losses).

    Returns
    -------
    LinearCrossEntropyGrad
        A named tuple ``(loss, grad_x, grad_linear_weight,
        grad_linear_bias)``, each gradient of its input's shape and dtype
        (``grad_linear_bias`` None without a bias).

    Raises
    ------
    TypeError, ValueError
        As :func:`linear_cross_entropy`.

    Examples
    --------
    >>> import numpy as np, xpsoftmax as xs
    >>> rng = np.random.default_rng(0)
    >>> x, w = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    >>> y = np.array([0, 4, 2, 2])
    >>> loss, gx, gw, gb = xs.linear_cross_entropy_grad(x, w, y)
    >>> gx.shape, gw.shape, gb is None
    ((4, 3), (5, 3), True)
    >>> z = x @ w.T
    >>> p = np.exp(z - z.max(1, keepdims=True))
    >>> p /= p.sum(1, keepdims=True)
    >>> p[np.arange(4), y] -= 1
    >>> bool(np.allclose(gw, p.T @ x / 4))
    True
    """
    which = check_impl(impl)
    call = lce_call(x, linear_weight, target, linear_bias, weight, ignore_index,
                    label_smoothing, reduction, where, chunk_size)  # fmt: skip
    xp = call.xp
    g = _grad_output(grad_output, call)
    needs = lce.Needs(True, True, call.b is not None)
    loss, grads = route_for(call, which).value_and_grad(call, g, needs)

    def back(a: Any, like: Any) -> Any:
        if a is None:
            return None
        a = xp.reshape(a, tuple(like.shape))
        return a if a.dtype == like.dtype else xp.astype(a, like.dtype)

    return LinearCrossEntropyGrad(
        _finish_loss(loss, call),
        call.backend.finish(back(grads.x, x)),
        call.backend.finish(back(grads.w, linear_weight)),
        None if linear_bias is None else call.backend.finish(back(grads.b, linear_bias)),
    )


def _grad_output(grad_output: Any, call: LceCall) -> Any:
    """The cotangent as a number (scalar reductions) or an (N,) array of the
    compute dtype ("none")."""
    xp = call.xp
    dev = getattr(call.x, "device", None)
    if call.reduction != "none":
        if grad_output is None:
            return 1.0
        g = xp.asarray(grad_output, dtype=call.compute_dtype, device=dev)
        if g.ndim != 0:
            raise ValueError(
                f"grad_output must be a scalar for reduction={call.reduction!r}, got shape "
                f"{tuple(g.shape)}"
            )
        return g
    if grad_output is None:
        return xp.ones((call.n,), dtype=call.compute_dtype, device=dev)
    g = xp.asarray(grad_output, dtype=call.compute_dtype, device=dev)
    want = () if call.unbatched else (call.n,)
    if tuple(g.shape) != want:
        raise ValueError(
            f"grad_output must have the loss's shape {want} for reduction='none', got "
            f"{tuple(g.shape)}"
        )
    return xp.reshape(g, (call.n,))
