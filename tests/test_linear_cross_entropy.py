"""linear_cross_entropy: values and gradients against mpmath, on every backend and chunking.

The inputs are dyadic numbers of few bits, so every logit ``x @ W.T + b`` is
exact in float32: the references are mpmath's cross-entropy of those exact
logits (``loss_reference.mp_cross_entropy``, torch's definitions, with its
error factors ``k``), and what is measured is the fused computation's own
error, not the product's rounding.  Gradients: the reference's gradient of
the logits ``G`` (float64), then ``G @ W``, ``G.T @ x`` and ``sum(G)``;
they are held to a normwise bound (below :func:`_grad_bound`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.testing import assert_close

from loss_reference import mp_cross_entropy

N, D, V = 7, 5, 11
#: row chunks of 1, of 3 (an uneven last chunk), vocabulary chunks of 1, of 4
#: (uneven), of 64 (V smaller than a chunk), and the automatic plan
CHUNKS = [None, 1, 3, ("vocab", 1), ("vocab", 4), ("vocab", 64)]


def _dyadic(
    rng: np.random.Generator, shape: tuple[int, ...], bits: int, scale: float
) -> np.ndarray:
    return (rng.integers(-(2**bits), 2**bits + 1, shape) / 2**bits * scale).astype(np.float32)


def _problem(seed: int, offset: float = 0.0, scale: float = 1.0) -> dict[str, np.ndarray]:
    """x, w, b with exact float32 logits, class indices with one ignored."""
    rng = np.random.default_rng(seed)
    x = _dyadic(rng, (N, D), 4, scale)
    w = _dyadic(rng, (V, D), 4, 1.0)
    b = (_dyadic(rng, (V,), 4, 1.0) + np.float32(offset)).astype(np.float32)
    y = rng.integers(0, V, N)
    y[2] = -100
    return {"x": x, "w": w, "b": b, "y": y}


def _logits(p: dict[str, np.ndarray]) -> np.ndarray:
    z = p["x"].astype(np.float64) @ p["w"].T.astype(np.float64) + p["b"]
    assert np.array_equal((p["x"] @ p["w"].T + p["b"]).astype(np.float64), z)  # exact
    return z


def _on(target, p, dtype="float32"):
    """The problem's arrays on ``target`` (class indices as int64)."""
    return (target.asarray(p["x"].astype(dtype)), target.asarray(p["w"].astype(dtype)),
            target.asarray(p["y"].astype(np.int64)), target.asarray(p["b"].astype(dtype)))  # fmt: skip


@pytest.mark.parametrize("chunk", CHUNKS, ids=str)
def test_values_against_mpmath(target, chunk):
    # per sample (the mean is checked with the gradients below)
    p = _problem(0)
    ref = mp_cross_entropy(_logits(p), p["y"], reduction="none")
    x, w, y, b = _on(target, p)
    out = xs.linear_cross_entropy(x, w, y, linear_bias=b, reduction="none", chunk_size=chunk)
    assert type(out) is type(x)
    assert_close(out, ref["value"], ulps=2, cond=ref["k"], dtype="float32", target=target)


@pytest.mark.parametrize(
    "case,chunk",
    [("dominant", None), ("offset 1e4", ("vocab", 4)), ("float64", 3), ("float64", ("vocab", 4))],
)
def test_values_hard_rows(target, case, chunk):
    # dominant rows (loss ~ 1e-7: the log1p form), logits near 1e4 (the
    # normaliser kept as (max, sum), never one rounded lse), float64 (over
    # vocabulary chunks too: their combination's exp, which on MLX must be
    # the backend's accurate one, not mx.exp)
    p = _problem(1, offset=1e4 if case == "offset 1e4" else 0.0,
                 scale=8.0 if case == "dominant" else 1.0)  # fmt: skip
    z = _logits(p)
    if case == "dominant":
        p["y"] = np.argmax(z, axis=1)
    dtype = "float64" if case == "float64" else "float32"
    ref = mp_cross_entropy(z, p["y"], reduction="none", weight=np.arange(1.0, V + 1))
    x, w, y, b = _on(target, p, dtype)
    cw = target.asarray(np.arange(1.0, V + 1).astype(dtype))
    out = xs.linear_cross_entropy(x, w, y, linear_bias=b, weight=cw, reduction="none",
                                  chunk_size=chunk)  # fmt: skip
    assert_close(out, ref["value"], ulps=2, cond=ref["k"], dtype=dtype, target=target)


def _grad_bound(g: np.ndarray, kg: np.ndarray, a: np.ndarray, inner: int) -> float:
    """u times a normwise bound on the error of ``G @ a``: G's own (relative
    ``kg`` per entry) carried through, plus the product's ``inner`` roundings."""
    ga = np.abs(g)
    return float(np.linalg.norm((kg * ga) @ np.abs(a)) + inner * np.linalg.norm(ga @ np.abs(a)))


def _check_grads(got, ref, p, target, ulps=2.0):
    u = float(np.finfo(np.float32).eps) / 2
    g, kg = ref["grad"], ref["kg"]
    x, w = p["x"].astype(np.float64), p["w"].astype(np.float64)
    want = {"x": (g @ w, _grad_bound(g, kg, w, V)),
            "w": (g.T @ x, _grad_bound(g.T, kg.T, x, N)),
            "b": (g.sum(0), _grad_bound(g.T, kg.T, np.ones((N, 1)), N))}  # fmt: skip
    for name, actual in zip("xwb", got[1:], strict=True):
        exact, bound = want[name]
        err = np.linalg.norm(target.to_numpy(actual).reshape(exact.shape) - exact)
        assert err <= ulps * u * bound, (name, err / (u * bound))


@pytest.mark.parametrize("chunk", [3, ("vocab", 4)], ids=str)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_grad_helper_against_mpmath(target, chunk, smoothing):
    p = _problem(2)
    ref = mp_cross_entropy(_logits(p), p["y"], label_smoothing=smoothing)
    x, w, y, b = _on(target, p)
    got = xs.linear_cross_entropy_grad(x, w, y, linear_bias=b, label_smoothing=smoothing,
                                       chunk_size=chunk)  # fmt: skip
    assert_close(got.loss, ref["value"], ulps=2, cond=ref["k"], dtype="float32", target=target)
    _check_grads(got, ref, p, target)


def test_grad_of_confident_rows(target):
    # every target the dominant class by a wide margin: p_y - 1 would cancel
    # to a few ulps of 1 (absolute); expm1(-(lse - z_y)) keeps it relative
    p = _problem(12)
    p["b"][0] += 32.0  # class 0 above every other by at least 20
    p["y"][:] = 0
    z = _logits(p)
    ref = mp_cross_entropy(z, p["y"], reduction="sum")
    assert np.max(np.abs(ref["grad"])) < 1e-8  # confident indeed
    x, w, y, b = _on(target, p)
    for chunk in (None, ("vocab", 4)):
        got = xs.linear_cross_entropy_grad(x, w, y, linear_bias=b, reduction="sum",
                                           chunk_size=chunk)  # fmt: skip
        _check_grads(got, ref, p, target)


def test_probability_targets_and_masked_classes(target):
    # a -inf bias masks a class: smoothing spreads over the finite classes
    # only, and a probability of 0 on the -inf logit contributes 0 (torch: NaN)
    p = _problem(3)
    p["b"][[1, 6]] = -np.inf
    rng = np.random.default_rng(3)
    probs = rng.random((N, V))
    probs[:, [1, 6]] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    where = np.ones(N, bool)
    where[4] = False
    z = p["x"].astype(np.float64) @ p["w"].T.astype(np.float64) + p["b"]
    x, w, _, b = _on(target, p)
    for tgt, chunk in ((p["y"], None), (probs, ("vocab", 4))):
        ref = mp_cross_entropy(z, tgt, label_smoothing=0.3, where=where)
        t = target.asarray(tgt.astype(np.int64 if tgt.dtype.kind == "i" else np.float32))
        got = xs.linear_cross_entropy_grad(x, w, t, linear_bias=b, label_smoothing=0.3,
                                           where=target.asarray(where), chunk_size=chunk)  # fmt: skip
        assert_close(got.loss, ref["value"], ulps=2, cond=ref["k"], dtype="float32", target=target)
        assert np.all(np.isfinite(target.to_numpy(got.grad_linear_weight)))
        assert np.all(target.to_numpy(got.grad_linear_bias)[[1, 6]] == 0)


def test_every_target_ignored_gives_zero(target):
    p = _problem(4)
    p["y"][:] = -100
    x, w, y, b = _on(target, p)
    for reduction in ("mean", "sum"):
        got = xs.linear_cross_entropy_grad(x, w, y, linear_bias=b, reduction=reduction)
        assert float(target.to_numpy(got.loss)) == 0.0
        for g in got[1:]:
            assert np.array_equal(target.to_numpy(g), np.zeros(g.shape))


def test_unbatched_input(target):
    p = _problem(5)
    ref = mp_cross_entropy(_logits(p)[:1], p["y"][:1])
    x, w, y, b = _on(target, p)
    # y[0, ...]: the standard's 0-d array (sparse gives a NumPy scalar for y[0])
    out = xs.linear_cross_entropy(x[0, ...], w, y[0, ...], linear_bias=b)
    assert tuple(out.shape) == ()
    assert_close(out, ref["value"], ulps=2, cond=ref["k"], dtype="float32", target=target)


# -- 16-bit inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16bit_within_one_ulp(target, dtype):
    if target.backend_name not in ("torch", "jax"):
        pytest.skip("16-bit floats are tested on torch and JAX")
    xp = target.xp
    p = _problem(6)
    z = _logits(p)
    # float16: logits far past its largest finite value (65504), computed in float32
    big = dtype == "float16"
    scale = 128.0 if big else 1.0
    ref = mp_cross_entropy(z * scale, p["y"])
    cast = getattr(xp, dtype)
    # the dyadic inputs are exact in both 16-bit formats
    x = xp.astype(target.asarray(p["x"] * np.float32(scale)), cast)
    w, y, b = (xp.astype(target.asarray(p["w"]), cast), target.asarray(p["y"]),
               xp.astype(target.asarray(p["b"] * np.float32(scale)), cast))  # fmt: skip
    out = xs.linear_cross_entropy(x, w, y, linear_bias=b)
    assert str(out.dtype).endswith(dtype)
    value = float(target.to_numpy(xp.astype(out, xp.float32)))
    assert math.isfinite(value)
    # one rounding to the storage dtype on top of a float32 error far below it
    step = {"float16": 2.0**-10, "bfloat16": 2.0**-7} [dtype] * 2.0 ** math.floor(
        math.log2(abs(float(ref["value"]))))  # fmt: skip
    assert abs(value - float(ref["value"])) <= step


# -- errors -----------------------------------------------------------------------------------
def _args() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = _problem(7)
    return p["x"], p["w"], p["y"]


@pytest.mark.parametrize(
    "change,exc,match",
    [
        ({"linear_weight": np.ones((V, D + 1), np.float32)}, ValueError, "linear_weight's second"),
        ({"linear_weight": np.ones((V,), np.float32)}, ValueError, "linear_weight must have 2"),
        ({"x": np.ones((2, 3, D), np.float32)}, ValueError, "x must have 1 or 2"),
        ({"x": np.ones((N, D), np.int64)}, TypeError, "x must have a real floating"),
        ({"target": np.zeros((N + 1,), np.int64)}, ValueError, "target"),
        ({"target": np.zeros((N,), bool)}, TypeError, "target"),
        ({"target": np.full((N,), V, np.int64)}, ValueError, "class index"),
        ({"linear_bias": np.ones((V + 1,), np.float32)}, ValueError, "linear_bias"),
        ({"weight": np.ones((V - 1,), np.float32)}, ValueError, "weight"),
        ({"where": np.ones((N,), np.int64)}, TypeError, "where"),
        ({"reduction": "avg"}, ValueError, "reduction"),
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": ("cols", 4)}, ValueError, "chunk_size"),
        ({"chunk_size": 2.5}, TypeError, "chunk_size"),
        ({"impl": "fast"}, ValueError, "impl"),
    ],
)
def test_bad_input_names_the_argument(change, exc, match):
    x, w, y = _args()
    kw = {"x": x, "linear_weight": w, "target": y, **change}
    with pytest.raises(exc, match=match):
        xs.linear_cross_entropy(kw.pop("x"), kw.pop("linear_weight"), kw.pop("target"), **kw)


def test_another_library_is_a_type_error():
    torch = pytest.importorskip("torch")
    x, w, y = _args()
    with pytest.raises(TypeError, match="linear_weight"):
        xs.linear_cross_entropy(x, torch.asarray(w), y)


def test_inputs_are_not_mutated():
    x, w, y = _args()
    copies = [a.copy() for a in (x, w, y)]
    xs.linear_cross_entropy_grad(x, w, y, chunk_size=2)
    for a, c in zip((x, w, y), copies, strict=True):
        assert np.array_equal(a, c)


# -- torch: autograd, gradcheck, compile, export ------------------------------------------------
def _torch_problem(torch, dtype, seed=8, n=N):
    p = _problem(seed)
    x = torch.asarray(p["x"][:n], dtype=dtype).requires_grad_()
    w = torch.asarray(p["w"], dtype=dtype).requires_grad_()
    b = torch.asarray(p["b"], dtype=dtype).requires_grad_()
    return x, w, b, torch.asarray(p["y"][:n])


@pytest.mark.parametrize("reduction,chunk", [("mean", None), ("sum", 3), ("none", ("vocab", 4))])
def test_torch_autograd_against_mpmath(reduction, chunk):
    torch = pytest.importorskip("torch")
    from xpsoftmax.testing import Target

    p = _problem(8)
    x, w, b, y = _torch_problem(torch, torch.float32)
    loss = xs.linear_cross_entropy(x, w, y, linear_bias=b, reduction=reduction, chunk_size=chunk,
                                   label_smoothing=0.1)  # fmt: skip
    cot = np.linspace(0.5, 2.0, N) if reduction == "none" else np.float64(1.5)
    grads = torch.autograd.grad(loss, (x, w, b), torch.asarray(cot, dtype=torch.float32))
    ref = mp_cross_entropy(_logits(p), p["y"], reduction=reduction, label_smoothing=0.1)
    ref["grad"] = ref["grad"] * (cot[:, None] if reduction == "none" else cot)
    # the cotangent's product adds one rounding per entry
    _check_grads((loss, *grads), {**ref, "kg": ref["kg"] + 1}, p, Target("torch"))


def test_torch_gradcheck_float64():
    torch = pytest.importorskip("torch")
    x, w, b, y = _torch_problem(torch, torch.float64, n=4)
    for reduction, chunk in (("mean", None), ("none", ("vocab", 4))):

        def f(x, w, b, reduction=reduction, chunk=chunk):
            return xs.linear_cross_entropy(x, w, y[:4], linear_bias=b, reduction=reduction,
                                           chunk_size=chunk, label_smoothing=0.2)  # fmt: skip

        assert torch.autograd.gradcheck(f, (x, w, b))


def test_torch_retained_graph_backward_twice():
    torch = pytest.importorskip("torch")
    x, w, b, y = _torch_problem(torch, torch.float64)
    loss = xs.linear_cross_entropy(x, w, y, linear_bias=b)
    first = torch.autograd.grad(loss, (x, w, b), retain_graph=True)
    # the first backward scaled the precomputed gradients in place; the
    # second recomputes them
    second = torch.autograd.grad(loss, (x, w, b))
    for a, c in zip(first, second, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-14, atol=0)


def test_torch_create_graph_is_refused_unless_portable():
    torch = pytest.importorskip("torch")
    x, w, b, y = _torch_problem(torch, torch.float64)
    loss = xs.linear_cross_entropy(x, w, y, linear_bias=b)
    with pytest.raises(RuntimeError, match="create_graph"):
        torch.autograd.grad(loss, x, create_graph=True)
    # the array-API route: a second derivative, checked against torch's own
    (gx,) = torch.autograd.grad(
        xs.linear_cross_entropy(x, w, y, linear_bias=b, impl="portable"), x, create_graph=True
    )
    (gx_ref,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(x @ w.T + b, y), x, create_graph=True
    )
    hv = torch.autograd.grad(gx.sum(), w)[0]
    hv_ref = torch.autograd.grad(gx_ref.sum(), w)[0]
    torch.testing.assert_close(hv, hv_ref, rtol=1e-12, atol=1e-14)


def test_torch_compile_dynamic_two_sizes_one_graph():
    torch = pytest.importorskip("torch")
    f = torch.compile(lambda x, w, b, y: xs.linear_cross_entropy(x, w, y, linear_bias=b),
                      fullgraph=True, dynamic=True, backend="aot_eager")  # fmt: skip
    x, w, b, y = _torch_problem(torch, torch.float32)
    loss = f(x, w, b, y)
    loss.backward()
    ref = xs.linear_cross_entropy_grad(x.detach(), w.detach(), y, linear_bias=b.detach())
    torch.testing.assert_close(loss.detach(), ref.loss, rtol=0, atol=0)
    torch.testing.assert_close(w.grad, ref.grad_linear_weight, rtol=0, atol=0)
    # another batch size: the same graph (no guard on the size), no recompile
    with torch.compiler.set_stance("fail_on_recompile"):
        x2, w2, b2, y2 = _torch_problem(torch, torch.float32, seed=9, n=N - 2)
        loss2 = f(x2, w2, b2, y2)
    ref2 = xs.linear_cross_entropy(x2.detach(), w2.detach(), y2, linear_bias=b2.detach())
    torch.testing.assert_close(loss2.detach(), ref2, rtol=0, atol=0)


def test_torch_export_dynamic_batch():
    torch = pytest.importorskip("torch")

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(D, V)

        def forward(self, h, y):
            return xs.linear_cross_entropy(h, self.lin.weight, y, linear_bias=self.lin.bias)

    m = Head()
    x, _, _, y = _torch_problem(torch, torch.float32)
    n = torch.export.Dim("n")
    ep = torch.export.export(m, (x.detach(), y), dynamic_shapes={"h": {0: n}, "y": {0: n}})
    assert "xpsoftmax.linear_cross_entropy" in str(ep.graph)
    for rows in (N, 3):
        got = ep.module()(x.detach()[:rows], y[:rows])
        torch.testing.assert_close(got, m(x.detach()[:rows], y[:rows]), rtol=0, atol=0)


# -- JAX: jit, grad, vmap --------------------------------------------------------------------------
def test_jax_grad_jit_and_vmap():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    p = _problem(10)
    x, w, b, y = (jnp.asarray(p[k]) for k in ("x", "w", "b", "y"))

    def f(x, w, b, chunk):
        return xs.linear_cross_entropy(x, w, y, linear_bias=b, chunk_size=chunk)

    ref = xs.linear_cross_entropy_grad(x, w, y, linear_bias=b)
    for chunk in (None, ("vocab", 4)):
        v, g = jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)), static_argnums=3)(x, w, b, chunk)
        assert abs(float(v) - float(ref.loss)) <= 2 * 2.0**-24 * abs(float(ref.loss))
        for a, r in zip(g, ref[1:], strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(r), rtol=1e-5, atol=1e-7)
    # vmap over a batch of problems sharing the layer
    xb = jnp.stack([x, x[::-1]])
    yb = jnp.stack([y, y[::-1]])
    per = jax.vmap(lambda xi, yi: xs.linear_cross_entropy(xi, w, yi, linear_bias=b))(xb, yb)
    np.testing.assert_allclose(np.asarray(per), [float(ref.loss)] * 2, rtol=1e-6)


# -- Dask: lazy ------------------------------------------------------------------------------------
def test_dask_stays_lazy_and_matches_numpy():
    da = pytest.importorskip("dask.array")
    p = _problem(11)
    ref = xs.linear_cross_entropy_grad(p["x"], p["w"], p["y"], linear_bias=p["b"])
    args = (
        da.from_array(p["x"], chunks=(3, 2)),
        da.from_array(p["w"]),
        da.from_array(p["y"], chunks=3),
    )
    loss = xs.linear_cross_entropy(*args, linear_bias=da.from_array(p["b"]))
    got = xs.linear_cross_entropy_grad(*args, linear_bias=da.from_array(p["b"]))
    assert isinstance(loss, da.Array) and all(isinstance(g, da.Array) for g in got)
    np.testing.assert_allclose(loss.compute(), ref.loss, rtol=4e-7)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g.compute(), r, rtol=4e-6, atol=1e-8)


def test_torch_func_and_probability_target_gradients():
    # torch.func and a gradient that must reach the target take the array-API
    # route, differentiated by torch itself
    torch = pytest.importorskip("torch")
    x, w, b, y = _torch_problem(torch, torch.float64)
    x, w, b = x.detach(), w.detach(), b.detach()

    def f(x):
        return xs.linear_cross_entropy(x, w, y, linear_bias=b)

    grad = torch.func.grad(f)(x)
    ref = xs.linear_cross_entropy_grad(x, w, y, linear_bias=b)
    torch.testing.assert_close(grad, ref.grad_x, rtol=1e-13, atol=1e-16)
    per = torch.func.vmap(f)(torch.stack([x, x]))
    torch.testing.assert_close(per, torch.stack([ref.loss, ref.loss]), rtol=1e-15, atol=0)
    probs = torch.softmax(x @ w.T, dim=1).requires_grad_()
    xs.linear_cross_entropy(x, w, probs, linear_bias=b).backward()
    # d/dq of -sum_c q_c log p_c / N is -log p / N
    logp = torch.log_softmax(x @ w.T + b, dim=1)
    torch.testing.assert_close(probs.grad, -logp / N, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize(
    ("n", "v", "plan"),
    [
        (4096, 32768, ("rows", 1024)),  # 128 MiB of 1024 rows
        (2048, 131072, ("rows", 256)),  # 256 rows still fit: rows, not vocabulary chunks
        (2048, 262144, ("vocab", 16384)),  # 128 rows would: the vocabulary is cut
        (64, 1000, ("rows", 64)),  # everything in one chunk
    ],
)
def test_numpy_plan_keeps_rows_while_256_fit(n, v, plan):
    # measured (see NumpyRoute.plan): on NumPy's BLAS, chunks of 256 rows and more beat
    # vocabulary chunks of the same bytes (0.87x against 1.06-1.10x the unfused time at
    # V = 131072); 128 rows do not (1.03x)
    from types import SimpleNamespace

    from xpsoftmax.backends._lce_numpy import NumpyRoute

    call = SimpleNamespace(chunk=None, n=n, v=v, x=np.empty((0, 1), np.float32))
    got = NumpyRoute().plan(call)
    assert (got.by, got.size) == plan
