"""Properties and transformations, checked on every subject that can express them.

Properties use fixed random data (the pytest suite adds hypothesis on top for
the xpsoftmax subjects).  Bounds reuse the ``k`` factors of
:mod:`xpsoftmax.conformance.cases`; where a property compares two computed
values, both carry an error, so the allowance is the sum of both bounds.
Gradients are checked against the analytic derivatives evaluated on float64
references (softmax: ``y (w - <w, y>)``; log_softmax: ``w - y sum(w)``;
logsumexp: ``w_r y``), with ``k`` scaled by the derivative's conditioning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..testing import Target
from .cases import Case, _high_reference, property_references, tolerance, ulps
from .results import Result, ResultKey
from .subjects import Call, Subject
from .values import compare_values, to_numpy

_U64 = 2.0**-53


def _case(func: str, x: np.ndarray, dtype: str = "float64", **kw: Any) -> Case:
    y, k = _high_reference(x, func, np.longdouble)
    return Case(id=f"adhoc/{func}", group="properties", func=func, dtype=dtype, x=x,
                axis=kw.get("axis", -1), where=kw.get("where"), keepdims=kw.get("keepdims", False),
                expected=y, k=k)  # fmt: skip


def _call(subject: Subject, case: Case, where: Any = None) -> np.ndarray:
    assert subject.target is not None
    x = subject.make_input(case)
    out = subject.funcs[case.func](x, case, where)
    return np.asarray(to_numpy(subject, out), dtype=np.float64)


def _result(
    subject: Subject, name: str, group: str, func: str, fn: Callable[[], tuple[bool, float, str]]
) -> Result:
    base: ResultKey = {"subject": subject.id, "kind": subject.kind, "case": f"{group}/{name}",
                       "group": group, "func": func}  # fmt: skip
    if subject.unavailable is not None:
        return Result(**base, status="skip", detail=subject.unavailable)
    if func not in subject.funcs:
        return Result(**base, status="n/a", detail=f"no {func}")
    assert subject.target is not None
    try:
        with subject.target.context(), np.errstate(all="ignore"):
            ok, worst, detail = fn()
    except Exception as exc:
        msg = (str(exc).strip().splitlines() or [""])[0]
        return Result(**base, status="error", detail=f"{type(exc).__name__}: {msg}"[:300])
    return Result(**base, status="pass" if ok else "fail", worst_ulps=worst, p999_ulps=None,
                  detail=detail)  # fmt: skip


def _verdict(err: np.ndarray, tol: np.ndarray, what: str) -> tuple[bool, float, str]:
    bad = err > tol
    worst = float(np.max(err)) if err.size else 0.0
    if not np.any(bad):
        return True, worst, ""
    i = int(np.argmax(np.where(bad, err - tol, -np.inf)))
    return False, worst, (f"{int(bad.sum())}/{err.size} off: {what} "
                          f"{float(err.flat[i]):.3g} > {float(np.broadcast_to(tol, err.shape).flat[i]):.3g}")  # fmt: skip


def properties(subject: Subject) -> list[Result]:
    rng = np.random.Generator(np.random.PCG64(7))
    x = rng.normal(0.0, 5.0, size=(64, 16))

    def sums_to_one() -> tuple[bool, float, str]:
        c = _case("softmax", x)
        s = _call(subject, c).sum(axis=-1)
        k = np.max(c.k, axis=-1) + x.shape[-1]
        return _verdict(
            ulps(s, np.ones_like(s), "float64"), tolerance(k, "float64"), "|sum - 1| ulps"
        )

    def shift_invariance() -> tuple[bool, float, str]:
        g = np.round(x * 8) / 8  # multiples of 1/8: x + 64 is exact
        a, b = _case("softmax", g), _case("softmax", g + 64.0)
        ya, yb = _call(subject, a), _call(subject, b)
        return _verdict(
            ulps(ya, yb, "float64"), 2 * tolerance(a.k, "float64"), "ulps between shifts"
        )

    def log_of_softmax() -> tuple[bool, float, str]:
        cs, cl = _case("softmax", x), _case("log_softmax", x)
        y, ls = _call(subject, cs), _call(subject, cl)
        keep = cs.expected > 1e-300  # softmax must not underflow
        # absolute error in units of u: log(fl(y)) is off by relerr(y); ls by k |ls| u
        err = np.abs(ls - np.log(y)) / _U64
        tol = 2 * (cs.k + (cl.k + 1) * np.abs(cl.expected) + 1) + 1
        return _verdict(err[keep], tol[keep], "|log_softmax - log(softmax)|/u")

    def lse_consistency() -> tuple[bool, float, str]:
        cl, ce = _case("log_softmax", x), _case("logsumexp", x)
        ls = _call(subject, cl)
        lse = _call(subject, ce)[:, None]
        err = np.abs(ls - (x - lse)) / _U64
        tol = 2 * (np.abs(x) + np.abs(cl.expected) * cl.k + np.abs(lse) * ce.k[:, None] + 1) + 1
        return _verdict(err, tol, "|log_softmax - (x - logsumexp)|/u")

    def sigmoid() -> tuple[bool, float, str]:
        # 1 / (1 + exp(-t)) from mpmath, shipped as package data
        ref = property_references()["sigmoid"]
        t = np.asarray(ref["t"], dtype=np.float64)
        c = _case("softmax", np.stack([t, np.zeros_like(t)], axis=-1))
        y = _call(subject, c)[:, 0]
        want = np.asarray(ref["expected"], dtype=np.float64)
        return _verdict(
            ulps(y, want, "float64"), tolerance(c.k[:, 0], "float64"), "ulps vs sigmoid"
        )

    def where_drop(func: str) -> Callable[[], tuple[bool, float, str]]:
        def check() -> tuple[bool, float, str]:
            if "where" in subject.lacks:
                raise _NA("no where= argument")
            xs = x[:8, :10]
            w = rng.random(xs.shape) < 0.6
            w[:, 0] = True
            c = _case(func, xs)
            c = Case(c.id, c.group, func, "float64", xs, -1, w, False, c.expected, c.k)
            assert subject.target is not None
            out = _call(subject, c, subject.make_mask(c))
            errs, tols = [], []
            for r in range(xs.shape[0]):
                cr = _case(func, xs[r][w[r]])
                ref = _call(subject, cr)
                got = out[r] if func == "logsumexp" else out[r][w[r]]
                errs.append(np.atleast_1d(ulps(got, ref, "float64")))
                tols.append(np.atleast_1d(2 * tolerance(cr.k, "float64")))
                if func != "logsumexp":
                    fill = 0.0 if func == "softmax" else -math.inf
                    if not np.all(out[r][~w[r]] == fill):
                        return False, math.inf, f"masked entries are not {fill}"
            return _verdict(np.concatenate(errs), np.concatenate(tols), "ulps vs dropped entries")

        return check

    out = [
        _result(subject, "sums-to-1", "properties", "softmax", sums_to_one),
        _result(subject, "shift-invariance", "properties", "softmax", shift_invariance),
        _result(subject, "sigmoid", "properties", "softmax", sigmoid),
    ]
    if "log_softmax" in subject.funcs and "softmax" in subject.funcs:
        out.append(_result(subject, "log-of-softmax", "properties", "log_softmax", log_of_softmax))
    if "log_softmax" in subject.funcs and "logsumexp" in subject.funcs:
        out.append(
            _result(subject, "logsumexp-consistency", "properties", "logsumexp", lse_consistency)
        )
    for f in ("softmax", "log_softmax", "logsumexp"):
        r = _result(subject, f"where-drops-entries-{f}", "properties", f, where_drop(f))
        if r.status == "error" and r.detail.startswith("_NA"):
            r.status, r.detail = "n/a", "no where= argument"
        out.append(r)
    return out


class _NA(Exception):
    pass


# -- transformations ------------------------------------------------------------------
def _grad_reference(func: str, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/dx sum(w * f(x)), k) from float64-rounded longdouble references."""
    y, ks = _high_reference(x, "softmax", np.longdouble)
    with np.errstate(divide="ignore", invalid="ignore"):
        if func == "softmax":
            wy = np.sum(w * y, axis=-1, keepdims=True)
            g = y * (w - wy)
            scale = y * (np.abs(w) + np.sum(np.abs(w) * y, axis=-1, keepdims=True))
        elif func == "log_softmax":
            sw = np.sum(w, axis=-1, keepdims=True)
            g = w - y * sw
            scale = np.abs(w) + y * np.abs(sw)
        else:  # w has one weight per row
            g = w[:, None] * y
            scale = np.abs(g)
        k = np.where(g == 0, 1.0, ks * scale / np.abs(g) + 1)
    return g, k


def transforms(subject: Subject, compile_backend: str = "aot_eager") -> list[Result]:
    name = subject.target.backend_name if subject.target else ""
    if subject.unavailable is not None:
        return [_result(subject, "all", "transforms", "softmax", lambda: (True, 0.0, ""))]
    if "transforms" in subject.lacks:
        return _no_transforms(
            subject, "a route of the auto subject's operators: their transforms are checked there"
        )
    if name == "jax":
        return _jax_transforms(subject)
    if name == "torch":
        return _torch_transforms(subject, compile_backend)
    if name == "dask":
        return _dask_transforms(subject)
    if name == "tensorflow":
        return _tf_transforms(subject)
    if name == "mlx":
        return _mlx_transforms(subject)
    return _no_transforms(subject, f"{name or 'this library'} has no transformations")


def _no_transforms(subject: Subject, why: str) -> list[Result]:
    base: ResultKey = {"subject": subject.id, "kind": subject.kind, "case": "transforms/none",
                       "group": "transforms", "func": "softmax"}  # fmt: skip
    return [Result(**base, status="n/a", detail=why)]


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(11))
    return rng.normal(0.0, 3.0, size=(4, 6)), rng.normal(0.0, 1.0, size=(4, 6))


def _transform_setup(
    subject: Subject,
) -> tuple[Target, np.ndarray, np.ndarray, list[tuple[str, Case, Call]]]:
    """What every library's transformation checks start from: the subject's target,
    the data ``x`` and weights ``w``, and (func, float64 case on ``x``, call) for
    each function the subject has."""
    t = subject.target
    assert t is not None
    x, w = _data()
    funcs: list[tuple[str, Case, Call]] = [
        (func, _case(func, x), subject.funcs[func])
        for func in ("softmax", "log_softmax", "logsumexp")
        if func in subject.funcs
    ]
    return t, x, w, funcs


def _check_against(out: Any, c: Case, to_numpy: Callable[[Any], Any]) -> tuple[bool, float, str]:
    ok, worst, _p, detail = compare_values(
        np.asarray(to_numpy(out), dtype=np.float64), c, "float64"
    )
    return ok, worst, detail


def _jax_transforms(subject: Subject) -> list[Result]:
    import jax
    import jax.numpy as jnp

    t, x, w, funcs = _transform_setup(subject)
    out = []
    for func, c, f in funcs:

        def jit(f=f, c=c) -> tuple[bool, float, str]:
            return _check_against(jax.jit(lambda a: f(a, c))(jnp.asarray(x)), c, t.to_numpy)

        def vmap(f=f, c=c, func=func) -> tuple[bool, float, str]:
            row = Case(c.id, c.group, func, "float64", x[0], -1, None, False, c.expected[0], c.k[0])
            return _check_against(jax.vmap(lambda a: f(a, row))(jnp.asarray(x)), c, t.to_numpy)

        def grad(f=f, c=c, func=func) -> tuple[bool, float, str]:
            ww = w[:, 0] if func == "logsumexp" else w
            g_ref, k = _grad_reference(func, x, ww)
            g = jax.grad(lambda a: jnp.sum(jnp.asarray(ww) * f(a, c)))(jnp.asarray(x))
            gc = Case(c.id, c.group, func, "float64", x, -1, None, False, g_ref, k)
            return _check_against(g, gc, t.to_numpy)

        out.append(_result(subject, f"jit-{func}", "transforms", func, jit))
        out.append(_result(subject, f"vmap-{func}", "transforms", func, vmap))
        out.append(_result(subject, f"grad-{func}", "transforms", func, grad))
    return out


def _torch_transforms(subject: Subject, compile_backend: str) -> list[Result]:
    t, x, w, funcs = _transform_setup(subject)
    out = []
    for func, c, f in funcs:

        def autograd(f=f, c=c, func=func) -> tuple[bool, float, str]:
            ww = w[:, 0] if func == "logsumexp" else w
            g_ref, k = _grad_reference(func, x, ww)
            xt = t.asarray(x).requires_grad_(True)
            (t.asarray(ww) * f(xt, c)).sum().backward()
            gc = Case(c.id, c.group, func, "float64", x, -1, None, False, g_ref, k)
            return _check_against(xt.grad, gc, t.to_numpy)

        def compiled(f=f, c=c) -> tuple[bool, float, str]:
            import torch._dynamo

            torch._dynamo.reset()
            fn = torch.compile(lambda a: f(a, c), fullgraph=True, backend=compile_backend)
            return _check_against(fn(t.asarray(x)), c, t.to_numpy)

        out.append(_result(subject, f"autograd-{func}", "transforms", func, autograd))
        out.append(
            _result(subject, f"compile[{compile_backend}]-{func}", "transforms", func, compiled)
        )
    return out


def _dask_transforms(subject: Subject) -> list[Result]:
    from dask.callbacks import Callback

    t, x, _, funcs = _transform_setup(subject)
    out = []
    for func, c, f in funcs:

        def lazy(f=f, c=c) -> tuple[bool, float, str]:
            runs: list[int] = []
            xd = t.asarray(x)
            with Callback(start=lambda dsk: runs.append(1)):
                res = f(xd, c)
            if runs:
                return False, math.inf, f"computed {len(runs)} graph(s) during the call"
            return _check_against(res, c, t.to_numpy)

        out.append(_result(subject, f"lazy-{func}", "transforms", func, lazy))
    return out


def _tf_transforms(subject: Subject) -> list[Result]:
    import tensorflow as tf

    t, x, w, funcs = _transform_setup(subject)
    out = []
    for func, c, f in funcs:

        def function(f=f, c=c) -> tuple[bool, float, str]:
            # a fresh tf.function: traced once, on a symbolic tensor
            fn = tf.function(lambda a: f(a, c))
            return _check_against(fn(t.asarray(x)), c, t.to_numpy)

        def tape(f=f, c=c, func=func) -> tuple[bool, float, str]:
            ww = w[:, 0] if func == "logsumexp" else w
            g_ref, k = _grad_reference(func, x, ww)
            v = tf.Variable(t.asarray(x))
            with tf.GradientTape() as gt:
                loss = tf.reduce_sum(t.asarray(ww) * f(v, c))
            gc = Case(c.id, c.group, func, "float64", x, -1, None, False, g_ref, k)
            return _check_against(gt.gradient(loss, v), gc, t.to_numpy)

        out.append(_result(subject, f"tf.function-{func}", "transforms", func, function))
        out.append(_result(subject, f"GradientTape-{func}", "transforms", func, tape))
    return out


def _mlx_transforms(subject: Subject) -> list[Result]:
    import mlx.core as mx

    t, x, w, funcs = _transform_setup(subject)
    out = []
    for func, c, f in funcs:

        def compiled(f=f, c=c) -> tuple[bool, float, str]:
            return _check_against(mx.compile(lambda a: f(a, c))(t.asarray(x)), c, t.to_numpy)

        def vmap(f=f, c=c, func=func) -> tuple[bool, float, str]:
            row = Case(c.id, c.group, func, "float64", x[0], -1, None, False, c.expected[0], c.k[0])
            return _check_against(mx.vmap(lambda a: f(a, row))(t.asarray(x)), c, t.to_numpy)

        def grad(f=f, c=c, func=func) -> tuple[bool, float, str]:
            ww = w[:, 0] if func == "logsumexp" else w
            g_ref, k = _grad_reference(func, x, ww)
            wt = t.asarray(ww)
            g = mx.grad(lambda a: mx.sum(wt * f(a, c)))(t.asarray(x))
            gc = Case(c.id, c.group, func, "float64", x, -1, None, False, g_ref, k)
            return _check_against(g, gc, t.to_numpy)

        out.append(_result(subject, f"compile-{func}", "transforms", func, compiled))
        out.append(_result(subject, f"vmap-{func}", "transforms", func, vmap))
        out.append(_result(subject, f"grad-{func}", "transforms", func, grad))
    return out
