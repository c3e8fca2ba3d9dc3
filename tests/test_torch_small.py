"""Small eager torch calls: the routes that keep their fixed cost low (issues 25, 28).

* log_softmax and logsumexp below ``SMALL_TORCH_BYTES`` in eight torch ops
  (``log1p_small``), the same bits on every route (plain, autograd, operator);
* log_softmax with autograd in the checked kernel's window as torch's own
  ``log_softmax`` node whose result is overwritten with the log1p form's
  values (its C++ backward); the ``autograd.Function`` elsewhere and under
  saved-tensor hooks;
* ``cross_entropy``'s fast path for the common call on small tensors.

Values are held to mpmath with tests/reference.py's error model, gradients to
gradcheck in float64, to the operators' own backward (the same formula on the
same values: bit for bit) and, for the loss, to the general route.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.testing import assert_close

from reference import REFERENCES, cond

torch = pytest.importorskip("torch")
from xpsoftmax.backends import _torch_ops  # noqa: E402  (needs torch)

INF = math.inf
#: rows: dominant (torch's log(1 + t) is 0 there), a tie at the maximum,
#: log-normaliser below 1, -inf entries, ordinary
ROWS = [
    [0.0, -30.0, -30.0, -30.0, -30.0, -30.0],
    [2.0, 2.0, -1.0, 0.5, -3.0, 1.0],
    [5.0, 1.0, 0.5, -2.0, 0.0, -1.0],
    [0.0, -INF, 3.0, -INF, 1.0, 2.5],
    [0.3, -0.7, 1.1, 0.2, -0.1, 0.9],
]
#: rows whose log-normaliser is not finite: the core's rules (all NaN for
#: log_softmax; NaN, +inf, -inf for logsumexp)
SPECIAL = [
    [1.0, INF, 0.0, 0.0, 0.0, 0.0],
    [INF, INF, 0.0, 0.0, 0.0, 0.0],
    [-INF] * 6,
    [0.0, math.nan, 1.0, 0.0, 0.0, 0.0],
]


def _node(out) -> str:  # type: ignore[no-untyped-def]
    return type(out.grad_fn).__name__


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
@pytest.mark.parametrize("axis", [1, 0])
def test_small_routes_against_mpmath(func: str, dtype: str, axis: int) -> None:
    # plain, autograd and operator: the same bits, within the error model of mpmath
    x = np.array(ROWS, dtype=dtype)
    x = x if axis == 1 else np.ascontiguousarray(x.T)
    t = torch.from_numpy(x)
    assert t.numel() * t.element_size() < _torch_ops.SMALL_TORCH_BYTES
    plain = getattr(xs, func)(t, axis=axis)
    grad = getattr(xs, func)(t.clone().requires_grad_(), axis=axis)
    assert _node(grad) == "_KernelWithGradBackward"
    op = getattr(torch.ops.xpsoftmax, func)
    oper = op(t, [axis], False) if func == "logsumexp" else op(t, [axis])
    for got in (grad.detach(), oper):
        torch.testing.assert_close(got, plain, rtol=0, atol=0)
    assert_close(plain, REFERENCES[func](x, axis), ulps=2, cond=cond(func, x, axis), dtype=dtype)
    if func == "log_softmax":
        # the dominant row's top entry is -log1p(t), t = 5 exp(-30) (torch's
        # own kernel gives 0): five exp roundings, four additions and log1p's
        # make at most 10 u
        want = -float(mpmath.log1p(5 * mpmath.exp(-30)))
        u = np.finfo(dtype).eps / 2
        assert abs(float(plain[0, 0]) / want - 1) <= 10 * u


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
def test_small_special_rows_follow_the_core(
    func: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both ways to the maximum: torch.max with one torch thread, argmax and a
    # gather with more
    monkeypatch.setattr(_torch_ops, "_threads", lambda: threads)
    x = np.array(SPECIAL + ROWS, dtype=np.float32)
    want = getattr(xs, func)(x, impl="portable")  # the core itself, in NumPy
    for t in (torch.from_numpy(x), torch.from_numpy(x).requires_grad_()):
        got = getattr(xs, func)(t).detach().numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        fin = ~np.isnan(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=4 * np.finfo(np.float32).eps)
        if func == "logsumexp":
            assert got[0] == INF and got[1] == INF and got[2] == -INF


def test_small_keepdim_and_layouts() -> None:
    x = torch.from_numpy(np.array(ROWS[:4], dtype=np.float64))
    y = torch.ops.xpsoftmax.logsumexp(x, [1], True)
    assert y.shape == (4, 1)
    torch.testing.assert_close(y[:, 0], xs.logsumexp(x), rtol=0, atol=0)
    t3 = torch.from_numpy(np.random.default_rng(1).normal(0, 3, (3, 4, 5)))
    for axis in (0, 1, 2):
        got = xs.log_softmax(t3, axis=axis)
        assert got.is_contiguous()
        np.testing.assert_allclose(got.numpy(), xs.log_softmax(t3.numpy(), axis=axis), rtol=1e-15)
    tr = torch.from_numpy(np.array(ROWS, dtype=np.float32)).t()  # a transposed view
    for f in (xs.log_softmax, xs.logsumexp):
        assert f(tr, axis=0).is_contiguous() and f(tr, axis=1).is_contiguous()


def test_small_calls_take_log1p_small(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = _torch_ops.log1p_small
    monkeypatch.setattr(_torch_ops, "log1p_small", lambda f, *a: calls.append(f) or real(f, *a))
    x = torch.from_numpy(np.array(ROWS[:3], dtype=np.float64))
    xs.log_softmax(x)
    xs.logsumexp(x.clone().requires_grad_(), axis=0).sum().backward()
    torch.ops.xpsoftmax.logsumexp(x, [1], True)
    xs.log_softmax(torch.zeros(64, 64))  # 16 KiB: NumPy's small-call path
    xs.softmax(x, axis=(0, 1))  # softmax is never log1p_small's
    assert calls == ["log_softmax", "logsumexp", "logsumexp"]
    # threads > 1: the maximum from argmax and a gather (the same values)
    one = xs.log_softmax(x)
    n = torch.get_num_threads()
    monkeypatch.setattr(_torch_ops, "_threads", lambda: 2 if n == 1 else n)
    torch.testing.assert_close(xs.log_softmax(x), one, rtol=0, atol=0)


def _weights(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def _window_input(dtype=torch.float32):  # type: ignore[no-untyped-def]
    x = _weights((256, 1024), 2) * 3
    x[0, 0] = 40.0  # a dominant row: recomputed in the log1p form
    return x.to(dtype)


def test_checked_window_node_gradient_is_the_operators() -> None:
    # torch's node on the checked kernel's values and the operator's backward
    # through the autograd.Function: one formula on the same values
    x = _window_input()
    assert _torch_ops._native_serves("log_softmax", x, (1,))
    w = _weights(x.shape, 3).to(torch.float32)
    a = x.clone().requires_grad_()
    out = xs.log_softmax(a)
    assert _node(out) == "LogSoftmaxBackward0"
    (out * w).sum().backward()
    b = x.clone().requires_grad_()
    ref = _torch_ops._apply("log_softmax", b, (1,), False)
    assert _node(ref) == "_KernelWithGradBackward"
    (ref * w).sum().backward()
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=0, atol=0)
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    assert out[0, 0] < 0 and torch.log_softmax(x, 1)[0, 0] == 0  # torch alone gives 0
    # the general route (a tuple of one axis) takes the same node
    assert _node(xs.log_softmax(x.clone().requires_grad_(), axis=(1,))) == "LogSoftmaxBackward0"


def test_checked_window_node_routes_double_backward_and_forward_ad() -> None:
    def node(x, axis=-1):  # type: ignore[no-untyped-def]
        return _node(xs.log_softmax(x.requires_grad_(), axis=axis))

    assert node(torch.zeros(64, 10)) == "_KernelWithGradBackward"  # below the window
    assert node(torch.zeros(256, 1024), axis=0) == "_KernelWithGradBackward"  # off the last dim
    assert node(torch.zeros(1024, 256).t()) == "_KernelWithGradBackward"  # not contiguous
    assert _node(xs.logsumexp(torch.zeros(256, 1024).requires_grad_())) == (
        "_KernelWithGradBackward"
    )
    # saved-tensor hooks see the result when it is saved, before it would be
    # overwritten: the autograd.Function, whose saved result is its own
    x = _window_input()
    plain = x.clone().requires_grad_()
    xs.log_softmax(plain).sum().backward()
    hooked = x.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        out = xs.log_softmax(hooked)
    assert _node(out) == "_KernelWithGradBackward"
    out.sum().backward()
    torch.testing.assert_close(hooked.grad, plain.grad, rtol=0, atol=0)
    # double backward through torch's node, in float64
    x64 = _window_input(torch.float64).requires_grad_()
    w = _weights(x64.shape, 7)
    (g,) = torch.autograd.grad((xs.log_softmax(x64) * w).sum(), x64, create_graph=True)
    (gg,) = torch.autograd.grad((g * w).sum(), x64)
    x2 = x64.detach().clone().requires_grad_()
    (g2,) = torch.autograd.grad((_torch_ops._apply("log_softmax", x2, (1,), False) * w).sum(),
                                x2, create_graph=True)  # fmt: skip
    (gg2,) = torch.autograd.grad((g2 * w).sum(), x2)
    torch.testing.assert_close(gg, gg2, rtol=1e-12, atol=1e-15)
    # forward-mode AD works too (the Function has no jvp): torch's tangent,
    # v - sum(p v), from torch's own result, computed before the values are
    # overwritten, so within rounding of the sum's terms (p's error a few u,
    # the sum's n u), not relative to a tiny tangent (a dominant row's)
    import torch.autograd.forward_ad as fwad

    v = _weights(x64.shape, 4)
    with fwad.dual_level():
        out = xs.log_softmax(fwad.make_dual(x64.detach(), v).requires_grad_())
        tangent = fwad.unpack_dual(out).tangent
    p = out.detach().exp()
    n, u = x64.shape[1], np.finfo(np.float64).eps / 2
    bound = u * (v.abs() + (n + 4) * (p * v.abs()).sum(1, keepdim=True))
    assert bool(((tangent - (v - (p * v).sum(1, keepdim=True))).abs() <= bound).all())


def test_small_calls_are_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    xs_ = [_weights((64, 10), i).to(torch.float32) * 3 for i in range(8)]

    def both(a):  # type: ignore[no-untyped-def]
        g = a.clone().requires_grad_()
        xs.log_softmax(g).sum().backward()
        return xs.logsumexp(a), g.grad

    want = [both(a) for a in xs_]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(both, xs_ * 4))
    for (lse, g), (lse0, g0) in zip(got, want * 4, strict=True):
        assert torch.equal(lse, lse0) and torch.equal(g, g0)


# -- cross_entropy's fast path ----------------------------------------------------------
def _ce_inputs(dtype=torch.float32):  # type: ignore[no-untyped-def]
    x = torch.tensor([[30.0, 0.0, 0.0, -5.0], [2.0, 2.0, -1.0, 0.5], [0.0, -INF, 5.0, -INF],
                      [4.0, 1.0, 3.5, -2.0]], dtype=dtype)  # fmt: skip
    return x, torch.tensor([0, 1, 2, 2])


@pytest.fixture
def general_route(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the general route's index range checks (the fast path makes none)."""
    from xpsoftmax import _loss_args

    calls: list[int] = []
    real = _loss_args.check_index_range
    monkeypatch.setattr(_loss_args, "check_index_range", lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_fast_path_is_the_general_routes(reduction: str, general_route) -> None:  # type: ignore[no-untyped-def]
    x, t = _ce_inputs(torch.float64)
    a = x.clone().requires_grad_()
    out = xs.cross_entropy(a, t, reduction=reduction)
    assert not general_route and _node(out) == "_SmallCrossEntropyBackward"
    w = _weights(out.shape, 6) if reduction == "none" else torch.tensor(1.5, dtype=x.dtype)
    (out * w).sum().backward()
    b = x.clone().requires_grad_()
    # a weight of ones: the same loss through the general route
    ref = xs.cross_entropy(b, t, reduction=reduction, weight=torch.ones(4, dtype=x.dtype))
    assert general_route
    (ref * w).sum().backward()
    # the same log1p form, each -log p_t and each gradient entry within an ulp or two
    torch.testing.assert_close(out, ref, rtol=4e-16, atol=0)
    torch.testing.assert_close(a.grad, b.grad, rtol=4e-16, atol=1e-300)
    # the confident row's target derivative: expm1(-loss), not 0
    assert a.grad[0, 0] < 0
    with torch.no_grad():
        assert _node(xs.cross_entropy(a, t)) == "NoneType"


def test_cross_entropy_fast_path_hands_over(general_route) -> None:  # type: ignore[no-untyped-def]
    x, t = _ce_inputs()
    with pytest.raises(ValueError, match=r"class index 4 at \(2,\), outside \[0, 4\)"):
        xs.cross_entropy(x, torch.tensor([0, 1, 4, 2]))
    ignored = xs.cross_entropy(x, torch.tensor([0, -100, 2, 2]))  # ignore_index: general
    kept = xs.cross_entropy(x[[0, 2, 3]], torch.tensor([0, 2, 2]))
    torch.testing.assert_close(ignored, kept, rtol=2e-7, atol=0)
    n = len(general_route)
    assert n == 2
    xs.cross_entropy(x, t, ignore_index=1)  # a valid class as ignore_index: general
    xs.cross_entropy(x, t.to(torch.int32))  # another index dtype: general
    xs.cross_entropy(x.t(), t, axis=0)  # classes on another axis: general
    assert len(general_route) == n + 3


def test_cross_entropy_fast_path_gradcheck() -> None:
    x, t = _ce_inputs(torch.float64)
    x = x[[0, 1, 3]].clone().requires_grad_()
    t = t[[0, 1, 3]]
    for red in ("mean", "none"):
        fn = lambda v, red=red: xs.cross_entropy(v, t, reduction=red)  # noqa: E731
        assert _node(fn(x)) == "_SmallCrossEntropyBackward"
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))
