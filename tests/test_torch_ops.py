"""The torch operators torch.ops.xpsoftmax.* behind impl="auto" on torch tensors.

opcheck (schema, fake kernel, autograd registration, aot dispatch), gradcheck
and gradgradcheck in float64, torch.compile(fullgraph=True), torch.func
grad/vmap, and the values against the mpmath references of the conformance
catalogue (the reference of ``log_softmax([0, -30])`` is computed there, not here).
"""

from __future__ import annotations

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.conformance.cases import all_cases
from xpsoftmax.conformance.checks import compare_values

torch = pytest.importorskip("torch")
from xpsoftmax.backends import _torch_ops  # noqa: E402  (needs torch)

OPS = torch.ops.xpsoftmax
FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}


def _call(func: str, x, dims, keepdim=False):  # type: ignore[no-untyped-def]
    op = getattr(OPS, func)
    return op(x, dims, keepdim) if func == "logsumexp" else op(x, dims)


def _x(shape=(3, 5), dtype=None, requires_grad=False, seed=0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    t = torch.tensor(rng.normal(0, 3, size=shape), dtype=dtype or torch.float64)
    return t.requires_grad_(requires_grad)


@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("dims", [[1], [0], [0, 1]])
def test_opcheck(func: str, dims: list[int]) -> None:
    args = (_x(requires_grad=True), dims) + ((True,) if func == "logsumexp" else ())
    torch.library.opcheck(getattr(OPS, func).default, args)
    if func == "logsumexp":
        torch.library.opcheck(OPS.logsumexp.default, (_x(requires_grad=True), dims, False))


@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("dims", [[1], [0, 1]])
def test_gradcheck_and_double_backward(func: str, dims: list[int]) -> None:
    x = _x((3, 4), requires_grad=True)
    fn = lambda a: _call(func, a, dims)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("func", list(FUNCS))
def test_eager_autograd_gradcheck_and_double_backward(func: str) -> None:
    # the eager route's autograd.Function: the operator's backward, differentiable
    x = _x((3, 4), requires_grad=True)
    kw = {"axis": (0, 1)} if func == "softmax" else {}  # softmax over one dim is torch's
    fn = lambda a: FUNCS[func](a, **kw)  # noqa: E731
    assert type(fn(x).grad_fn).__name__ == "_KernelWithGradBackward"
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("func", list(FUNCS))
def test_auto_records_the_operators_backward(func: str) -> None:
    # an eager call that autograd records runs the operator's kernel and
    # backward through an autograd.Function (not the operator's dispatch)
    x = _x(requires_grad=True)
    out = FUNCS[func](x) if func != "softmax" else xs.softmax(x, axis=(0, 1))
    assert out.requires_grad and type(out.grad_fn).__name__ == "_KernelWithGradBackward"
    out.sum().backward()
    ref = _x(requires_grad=True)
    native = {
        "softmax": lambda a: torch.softmax(a.reshape(-1), 0).reshape(a.shape),
        "log_softmax": lambda a: torch.log_softmax(a, -1),
        "logsumexp": lambda a: torch.logsumexp(a, -1),
    }[func]
    native(ref).sum().backward()
    # O(1) sums of a few products: a few float64 ulps
    np.testing.assert_allclose(x.grad.numpy(), ref.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_dtype_device_requires_grad_like_torch() -> None:
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        x = _x(dtype=dtype)
        for func, f in FUNCS.items():
            ours, theirs = f(x), getattr(torch, func)(x, -1)
            assert (ours.dtype, ours.device, ours.shape) == (
                theirs.dtype,
                theirs.device,
                theirs.shape,
            )
            assert not ours.requires_grad
            with torch.no_grad():
                assert not f(_x(dtype=dtype, requires_grad=True)).requires_grad
    # 16-bit input straight to the operator: computed in float32, cast back
    y = OPS.log_softmax(torch.tensor([0.0, -30.0], dtype=torch.bfloat16), [0])
    assert y.dtype == torch.bfloat16 and y[0].item() < 0


def test_input_not_mutated_and_no_alias() -> None:
    x = _x((600, 700), dtype=torch.float32)  # the blocked (threaded) path
    before = x.clone()
    for f in FUNCS.values():
        out = f(x)
        assert torch.equal(x, before)
        assert out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    # a strided view reaches the NumPy path as a view (no copy) and stays intact
    xt = x.t()
    np.testing.assert_allclose(
        xs.log_softmax(xt).numpy(), xs.log_softmax(xt.contiguous()).numpy(), rtol=1e-6, atol=0
    )
    assert torch.equal(x, before)


def test_operator_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dims"):
        OPS.log_softmax(_x(), [2])
    with pytest.raises(ValueError, match="dims"):
        OPS.logsumexp(_x(), [1, 0], False)
    with pytest.raises(TypeError, match="floating"):
        OPS.softmax(torch.ones(3, dtype=torch.int64), [0])


@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_small_eager_calls_equal_the_operator(func: str, dtype) -> None:  # type: ignore[no-untyped-def]
    # eager calls on small tensors take log1p_small (torch ops) or NumPy's
    # fast path on the tensor's memory: the operator's bits, contiguous, the
    # input untouched
    for shape, axis in (((4, 8), -1), ((4, 8), 0), ((3, 4, 5), 1), ((7,), 0)):
        x = _x(shape, dtype=dtype, seed=5)
        x[0] = x.max()  # a tie
        before = x.clone()
        got = FUNCS[func](x, axis=axis)
        want = (
            _call(func, x, [axis % x.dim()])
            if func != "logsumexp"
            else OPS.logsumexp(x, [axis % x.dim()], False)
        )
        assert got.is_contiguous() and got.dtype == dtype
        assert torch.equal(got, want) and torch.equal(x, before)
    t = _x((8, 4), dtype=dtype).t()  # a transposed view: still a contiguous result
    assert FUNCS[func](t, axis=-1).is_contiguous()
    with torch.no_grad():  # requires_grad without a graph to record
        r = _x((4, 8), dtype=dtype, requires_grad=True)
        assert torch.equal(FUNCS[func](r, axis=-1), FUNCS[func](r.detach(), axis=-1))


def test_errors_unchanged_by_the_fast_path() -> None:
    x = _x(dtype=torch.float32)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        xs.log_softmax(x, axis=2)
    with pytest.raises(ValueError, match="axis -3 is out of range"):
        xs.logsumexp(x, axis=-3)
    # logsumexp accepts complex input (issue 15); log_softmax rejects it
    with pytest.raises(TypeError, match="complex"):
        xs.log_softmax(torch.ones(3, dtype=torch.complex64))
    assert xs.logsumexp(torch.ones(3, dtype=torch.complex64)).dtype == torch.complex64


@pytest.mark.parametrize("func", list(FUNCS))
def test_torch_compile_fullgraph(func: str) -> None:
    import torch._dynamo

    torch._dynamo.reset()
    x = _x()
    f = FUNCS[func]
    # axis=(0, 1) sends softmax through its operator too
    kw = {"axis": (0, 1)} if func == "softmax" else {}
    compiled = torch.compile(lambda a: f(a, **kw), fullgraph=True, backend="aot_eager")
    np.testing.assert_allclose(compiled(x).numpy(), f(x, **kw).numpy(), rtol=1e-15, atol=0)
    xr = x.clone().requires_grad_(True)
    compiled(xr).sum().backward()
    assert xr.grad is not None and torch.isfinite(xr.grad).all()


@pytest.mark.parametrize("func", list(FUNCS))
def test_torch_func_grad_and_vmap(func: str) -> None:
    import torch.func as F

    x = _x()
    f = FUNCS[func]
    g = F.grad(lambda a: f(a).sum())(x)
    xr = x.clone().requires_grad_(True)
    f(xr).sum().backward()
    np.testing.assert_allclose(g.numpy(), xr.grad.numpy(), rtol=1e-13, atol=1e-15)
    mapped = F.vmap(lambda a: f(a, axis=0))(x)  # rows, each over its only axis
    np.testing.assert_allclose(mapped.numpy(), f(x, axis=-1).numpy(), rtol=1e-15, atol=0)
    # vmap of the operators directly, batch dim not first
    out = F.vmap(lambda a: _call(func, a, [0]), in_dims=1)(x)
    np.testing.assert_allclose(out.numpy(), f(x.t(), axis=-1).numpy(), rtol=1e-15, atol=0)
    jac = F.vmap(F.grad(lambda a: f(a, axis=(0,)).sum()))(x)
    assert jac.shape == x.shape


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "error::torch.jit.TracerWarning")
def test_jit_trace_records_the_operator() -> None:
    # and no TracerWarning: no size is read while tracing (a trace holds for any size)
    traced = torch.jit.trace(lambda a: xs.log_softmax(a), _x())
    assert "xpsoftmax::log_softmax" in str(traced.graph)
    y = _x(seed=1)
    np.testing.assert_allclose(traced(y).numpy(), xs.log_softmax(y).numpy(), rtol=0, atol=0)


def test_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    xs_ = [_x((700, 800), dtype=torch.float32, seed=i) for i in range(6)]
    want = [xs.log_softmax(a) for a in xs_]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(xs.log_softmax, xs_))
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)


def test_one_torch_thread_keeps_the_numpy_path_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    from xpsoftmax.backends.numpy import thread_pool

    called: list[int] = []
    monkeypatch.setattr(thread_pool, "_get_pool", lambda: called.append(1))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xs.log_softmax(_x((1000, 1000), dtype=torch.float32))
    finally:
        torch.set_num_threads(n)
    assert called == []


@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
def test_opcheck_and_gradcheck_checked_native(func: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the operators with torch's checked native kernel behind them (its window
    # opened to this size), rows that it keeps and rows that it recomputes
    for f in ("log_softmax", "logsumexp"):
        monkeypatch.setitem(_torch_ops.NATIVE_WINDOW, f, (0, 1 << 62))
    x = _x((6, 5), requires_grad=True)
    with torch.no_grad():
        x[0, 0] = 40.0  # a dominant row: recomputed in the log1p form
    calls: list[int] = []
    real = _torch_ops._checked_native
    monkeypatch.setattr(_torch_ops, "_checked_native", lambda *a: calls.append(1) or real(*a))
    args = (x, [1]) + ((False,) if func == "logsumexp" else ())
    torch.library.opcheck(getattr(OPS, func).default, args)
    fn = (
        (lambda v: OPS.logsumexp(v, [1], False))
        if func == "logsumexp"
        else (lambda v: OPS.log_softmax(v, [1]))
    )
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))
    assert calls


CASES = [
    c
    for c in all_cases()
    if c.group in ("accuracy", "large-logits", "special", "adversarial")
    and c.where is None
    and c.dtype in ("float32", "float64")
    and np.ndim(c.x) >= 1
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.id}/{c.func}/{c.dtype}")
def test_operator_values_against_mpmath(case) -> None:  # type: ignore[no-untyped-def]
    x = torch.tensor(np.asarray(case.x), dtype=getattr(torch, case.dtype))
    nd = x.dim()
    axis = case.axis
    dims = sorted(range(nd) if axis is None else [a % nd for a in np.atleast_1d(axis)])
    if x.numel() == 0 or not dims:
        pytest.skip("empty or 0-d: handled before the operator")
    out = _call(case.func, x, dims, case.keepdims)
    ok, _worst, _p, detail = compare_values(out.numpy().astype(np.float64), case, case.dtype)
    assert ok, detail


def test_kernel_is_the_numpy_path_without_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    from xpsoftmax.backends import NUMPY

    real = NUMPY.run_portable

    def spy(call, xp):  # type: ignore[no-untyped-def]
        seen.append(call.x.__array_interface__["data"][0])
        return real(call, xp)

    monkeypatch.setattr(NUMPY, "run_portable", spy)
    monkeypatch.setattr(_torch_ops, "NATIVE_WINDOW", {})  # no checked torch kernels
    monkeypatch.setattr(_torch_ops, "SMALL_TORCH_BYTES", 0)  # nor log1p_small
    # large enough for the blocked path (small eager calls take NumPy's fast path)
    x = _x((1024, 1024), dtype=torch.float32)
    xs.logsumexp(x)
    OPS.log_softmax(_x(requires_grad=True), [1])  # through the operator
    assert seen[0] == x.data_ptr() and len(seen) == 2
    assert _torch_ops.OPS["log_softmax"] is OPS.log_softmax.default


ROW_CASES = [
    c
    for c in CASES
    if c.func == "log_softmax" and np.ndim(c.x) >= 2 and c.axis in (-1, np.ndim(c.x) - 1)
]


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: f"{c.id}/{c.dtype}")
def test_row_kernel_values_against_mpmath(case, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # the row kernel (large C-ordered log_softmax over trailing dims) on the
    # catalogue's cases: served at every size here, in blocks of one row
    from xpsoftmax.backends import numpy as npb
    from xpsoftmax.backends.numpy import sizes

    monkeypatch.setattr(sizes, "ROWS_MIN_BYTES", 0)
    monkeypatch.setattr(sizes, "BLOCK_BYTES", 1)
    monkeypatch.setattr(_torch_ops, "NATIVE_WINDOW", {})  # not torch's checked kernels
    monkeypatch.setattr(_torch_ops, "SMALL_TORCH_BYTES", 0)  # nor log1p_small
    used: list[int] = []
    real = npb._log_softmax_rows
    monkeypatch.setattr(npb, "_log_softmax_rows", lambda *a: used.append(1) or real(*a))
    x = torch.tensor(np.asarray(case.x), dtype=getattr(torch, case.dtype))
    out = _call("log_softmax", x, [x.dim() - 1])
    assert used
    ok, _worst, _p, detail = compare_values(out.numpy().astype(np.float64), case, case.dtype)
    assert ok, detail


NATIVE_CASES = [
    c
    for c in CASES
    if c.func in ("log_softmax", "logsumexp") and c.axis in ("default", -1, np.ndim(c.x) - 1)
]


@pytest.mark.parametrize("redo_all", [False, True])
@pytest.mark.parametrize("case", NATIVE_CASES, ids=lambda c: f"{c.id}/{c.dtype}")
def test_checked_native_values_against_mpmath(case, redo_all, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # torch's own log_softmax/logsumexp with the slices of a small
    # log-normaliser (and the special ones) redone in the log1p form: served
    # at every size here;
    # redo_all sends every slice through the redo (the threshold at +inf)
    for f in ("log_softmax", "logsumexp"):
        monkeypatch.setitem(_torch_ops.NATIVE_WINDOW, f, (0, 1 << 62))
    monkeypatch.setattr(_torch_ops, "NATIVE_MAX_REDO", 1.0)
    monkeypatch.setattr(_torch_ops, "NATIVE_REDO_BYTES", 64)  # several pieces
    if redo_all:
        monkeypatch.setattr(_torch_ops, "NATIVE_MIN_NORM", np.inf)
    used: list[int] = []
    real = _torch_ops._checked_native
    monkeypatch.setattr(_torch_ops, "_checked_native", lambda *a: used.append(1) or real(*a))
    x = torch.tensor(np.asarray(case.x), dtype=getattr(torch, case.dtype))
    before = x.clone()
    axis = -1 if case.axis == "default" else case.axis
    extra = [case.keepdims] if case.func == "logsumexp" else []
    out = _call(case.func, x, [axis % x.dim()], *extra)
    assert used
    torch.testing.assert_close(x, before, rtol=0, atol=0, equal_nan=True)
    ok, _worst, _p, detail = compare_values(out.numpy().astype(np.float64), case, case.dtype)
    assert ok, detail


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_checked_native_redoes_what_torch_gets_wrong(dtype, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a large input (torch's kernel serves it) whose rows 0-2 have a dominant
    # maximum (torch gives exactly 0 there), row 3 a NaN, row 4 +inf, row 5
    # is all -inf, row 6 has -inf entries and a tie at the maximum
    x = _x((256, 1024), dtype=dtype, seed=4)
    x[0, 0] = 50.0  # t = sum(exp(x - 50)) ~ 1e-17: 1 + t rounds to 1
    x[1, 5], x[1, 6] = 60.0, 60.0  # a tie: log(2) for both
    x[2, 1023] = 1e4
    x[3, 7] = torch.nan
    x[4, 9] = torch.inf
    x[5] = -torch.inf
    x[6, ::3] = -torch.inf
    x[6, 10] = x[6, 11] = 30.0
    x[7], x[7, 0] = -40.0, 0.0  # logsumexp = log1p(1023 e^-40) ~ 4.3e-15
    assert _torch_ops._native_serves("log_softmax", x, (1,))
    assert _torch_ops._native_serves("logsumexp", x, (1,))
    calls: list[int] = []
    real = _torch_ops._checked_native
    monkeypatch.setattr(_torch_ops, "_checked_native", lambda *a: calls.append(1) or real(*a))
    got = xs.log_softmax(x, axis=1)
    assert calls
    assert torch.log_softmax(x, 1)[0, 0] == 0.0  # what torch alone gives
    from xpsoftmax.backends import NUMPY

    a = x.numpy()
    call = xs.backends.Call("log_softmax", a, (1,), None, False, a.dtype, a.dtype)
    with np.errstate(all="ignore"):  # NaN and inf rows: the core's results, quietly
        want = np.asarray(NUMPY.run_portable(call, NUMPY.import_namespace()))
    # the redone rows: the NumPy path's values (rows 0-2, 6 within an ulp or two,
    # the special rows exactly: the core's rules)
    np.testing.assert_array_equal(got[3:6].numpy(), want[3:6])
    rows = [0, 1, 2, 6, 7]
    np.testing.assert_allclose(got[rows].numpy(), want[rows], rtol=4 * torch.finfo(dtype).eps)
    assert got[0, 0] < 0  # -t, not torch's 0
    # rows whose log-normaliser is at least NATIVE_MIN_NORM keep torch's values
    # exactly; the others (about one in eight of these) are redone like rows 0-2
    native = torch.log_softmax(x, 1)
    keep = -native.amax(1) >= _torch_ops.NATIVE_MIN_NORM
    keep[:8] = False
    assert 0 < int(keep.sum()) < 248
    torch.testing.assert_close(got[keep], native[keep], rtol=0, atol=0)
    redone = ~keep
    redone[:8] = False
    assert int(redone.sum()) > 0
    np.testing.assert_allclose(
        got[redone].numpy(), want[redone.numpy()], rtol=4 * torch.finfo(dtype).eps
    )
    # logsumexp over the same rows: torch's m + log(1 + t) is m exactly on row 0
    lse = xs.logsumexp(x, axis=1)
    assert len(calls) == 2
    assert torch.logsumexp(x, 1)[0] == 50.0 and lse[0] == 50.0  # t ~ 1e-17 is below ulp(50)
    call = xs.backends.Call("logsumexp", a, (1,), None, False, a.dtype, a.dtype)
    with np.errstate(all="ignore"):
        want_lse = np.asarray(NUMPY.run_portable(call, NUMPY.import_namespace()))
    np.testing.assert_array_equal(lse[3:6].numpy(), want_lse[3:6])  # NaN, +inf, -inf: the core's
    assert abs(torch.logsumexp(x, 1)[7] / want_lse[7] - 1) > 1e-3  # torch's log(1 + t)
    assert abs(lse[7] / want_lse[7] - 1) < 4 * torch.finfo(dtype).eps
    np.testing.assert_allclose(lse.numpy(), want_lse, rtol=2 * torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_kernel_matches_the_numpy_path(dtype) -> None:  # type: ignore[no-untyped-def]
    # ties, -inf entries, and the rows the core itself runs (NaN, +inf, all -inf)
    x = _x((700, 1024), dtype=dtype, seed=3) * 10
    x[5, :7] = x.max() + 1
    x[7] = -torch.inf
    x[9, 3] = torch.nan
    x[11, 2] = torch.inf
    x[13, ::2] = -torch.inf
    x[15] = 0.0
    before = x.clone()
    from xpsoftmax.backends import numpy as npb

    assert npb._rows_serve(x.numpy(), (1,))
    got = xs.log_softmax(x)
    np.testing.assert_array_equal(x.numpy(), before.numpy())  # the input is not written
    from xpsoftmax.backends import NUMPY
    from xpsoftmax.backends._base import Call, run_core

    a = x.numpy()
    # the core itself, unblocked (the NumPy backend runs the row kernel too)
    with NUMPY.errstate():
        call = Call("log_softmax", a, (1,), None, False, a.dtype, a.dtype)
        want = run_core(call, npb.NumpyOps(NUMPY.import_namespace()))
    g = got.numpy()
    np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(g), np.isinf(want))
    fin = np.isfinite(want)
    # both are the log1p form: they differ at most in the order of a tie's sum
    eps = np.finfo(a.dtype).eps
    np.testing.assert_allclose(g[fin], want[fin], rtol=4 * eps, atol=4 * eps)


def test_checked_native_route_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    # log_softmax and logsumexp over the last dim of a contiguous tensor whose
    # size is in the function's window, eager calls and operator calls alike
    serves = _torch_ops._native_serves
    x = _x((256, 1024), dtype=torch.float32)  # 1 MiB
    assert serves("log_softmax", x, (1,)) and serves("logsumexp", x, (1,))
    assert not serves("softmax", x, (1,))  # torch.softmax is the accurate one
    assert not serves("log_softmax", x, (0,))  # the NumPy route off the last dim
    assert not serves("log_softmax", x.t(), (1,))  # not contiguous
    assert not serves("log_softmax", x, (0, 1))
    assert not serves("log_softmax", _x((64, 100), dtype=torch.float32), (1,))  # too small
    big = torch.empty((1024, 2048))  # 8 MiB: log_softmax's window, beyond logsumexp's
    assert serves("log_softmax", big, (1,)) and not serves("logsumexp", big, (1,))
    monkeypatch.setitem(_torch_ops.NATIVE_WINDOW, "log_softmax", (0, x.numel() * 4))
    assert not serves("log_softmax", x, (1,))  # the window's end is exclusive
    monkeypatch.undo()
    calls: list[str] = []
    real = _torch_ops._checked_native
    monkeypatch.setattr(_torch_ops, "_checked_native", lambda f, *a: calls.append(f) or real(f, *a))
    eager = xs.log_softmax(x, axis=-1)  # the adapter's fast path
    assert calls == ["log_softmax"]
    with torch.no_grad():
        op = OPS.log_softmax(x, [1])
    torch.testing.assert_close(eager, op, rtol=0, atol=0)
    lse = xs.logsumexp(x, axis=-1)
    assert calls == ["log_softmax"] * 2 + ["logsumexp"]
    torch.testing.assert_close(lse, torch.logsumexp(x, 1), rtol=1e-6, atol=0)
    xs.logsumexp(x, axis=0)
    xs.log_softmax(x, axis=(0, 1))
    xs.softmax(x, axis=1)
    assert len(calls) == 3  # dim 0, a tuple of dims: the NumPy route; softmax: torch.softmax
    g = x.clone().requires_grad_()
    xs.log_softmax(g, axis=-1).sum().backward()  # autograd through the operator
    assert calls[-1] == "log_softmax" and len(calls) == 4
    torch.testing.assert_close(g.grad, 1 - eager.exp() * 1024, rtol=1e-4, atol=1e-4)


def test_softmax_off_the_last_dim_of_a_large_tensor_takes_the_operator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # torch.softmax walks a long leading dim in strides; "auto" sends those
    # calls to the operator (the NumPy path) and keeps torch.softmax elsewhere
    from xpsoftmax.backends import torch as tb

    serves = tb.softmax_op_serves
    x = _x((4096, 1024), dtype=torch.float32, seed=3)  # 16 MiB
    assert serves(x, 0) and not serves(x, 1)  # the last dim stays torch's
    assert serves(torch.empty((2048, 1024), dtype=torch.float64), 0)  # 16 MiB
    assert not serves(torch.empty((2048, 1024)), 0)  # 8 MiB: torch's is as fast
    assert not serves(torch.empty((512, 8192)), 0)  # a short dim
    assert not serves(torch.empty((64, 64, 4096)), 1)  # slices of 1 MiB
    assert serves(torch.empty((4, 2048, 2048)), 1)  # a middle dim
    assert not serves(torch.empty((8192, 1024)).t(), 0)  # not contiguous
    assert not serves(torch.empty((4096, 2048), dtype=torch.float16), 0)
    assert not serves(torch.empty((4096, 1024), device="meta"), 0)
    assert not torch.func.vmap(lambda r: torch.tensor(serves(x, 0)), randomness="same")(
        torch.zeros(1)
    ).item()  # under torch.func transforms torch.softmax composes as is
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not serves(x, 0)  # Inductor fuses torch.softmax
    monkeypatch.undo()

    kernel = _torch_ops.kernel
    calls: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(
        _torch_ops, "kernel", lambda f, a, d, *k: calls.append((f, d)) or kernel(f, a, d, *k)
    )
    want = xs.softmax(x.numpy(), axis=0)  # the NumPy path, bit for bit
    for got in (xs.softmax(x, axis=0), xs.softmax(x, axis=(0,)), xs.softmax(x, axis=-2)):
        assert type(got) is torch.Tensor and got.is_contiguous()
        np.testing.assert_array_equal(got.numpy(), want)
    assert calls == [("softmax", (0,))] * 3  # the fast path and the general route
    xs.softmax(x, axis=1)
    assert len(calls) == 3  # torch.softmax
    # autograd through the operator: its backward is torch's softmax backward
    g = x.clone().requires_grad_()
    out = xs.softmax(g, axis=0)
    assert type(out.grad_fn).__name__ == "_KernelWithGradBackward" and len(calls) == 4
    w = torch.from_numpy(np.random.default_rng(4).normal(size=x.shape).astype(np.float32))
    out.backward(w)
    r = x.clone().requires_grad_()
    torch.softmax(r, 0).backward(w)
    # the same backward formula on outputs that differ by rounding
    torch.testing.assert_close(g.grad, r.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
def test_checked_native_redoes_finite_rows_in_torch_ops(func: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # finite rows below NATIVE_MIN_NORM are recomputed with torch's own ops
    # (no NumPy call); the values are the log1p form's, within rounding
    x = _x((512, 256), dtype=torch.float32, seed=8)
    x[:40, 0] = 40.0  # a dominant maximum: L ~ 1e-16, torch's log(1 + t) is 0
    y = torch.log_softmax(x, 1)
    redo = int((-y.amax(1) < _torch_ops.NATIVE_MIN_NORM).sum())
    assert 40 <= redo <= 0.5 * x.shape[0]
    want = FUNCS[func](x.numpy(), axis=1)  # the NumPy path
    monkeypatch.setattr(_torch_ops, "NATIVE_REDO_BYTES", 16 * 256 * 4)  # several pieces

    def no_numpy(*a: object) -> None:
        raise AssertionError("finite rows went to the NumPy route")

    monkeypatch.setattr(_torch_ops, "_numpy_kernel", no_numpy)
    got = _torch_ops._checked_native(func, x).numpy()
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(np.float32).eps, atol=0)
    if func == "log_softmax":
        assert (got[:40, 0] < 0).all() and (y[:40, 0] == 0).all()
