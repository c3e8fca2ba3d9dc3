"""The fused CUDA kernels of the CuPy adapter (``impl="auto"`` on CuPy arrays).

Every row length class is covered: the warp kernel (row in registers, lengths
around multiples of 32 up to 1024), the block kernel with the row cached in
shared memory, and without (rows longer than the cache).  Each batch holds
ordinary, dominant and tied rows and the special rows (NaN, +inf, all -inf,
some -inf).  The reference is the log1p-form computation in a wider dtype
(float64 for float32 input, long double for float64), the bound the ulps x
condition factor of the conformance suite.  Skipped without a CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.conformance.cases import _high_reference, tolerance, ulps

cp = pytest.importorskip("cupy", reason="CuPy is not installed (the fused kernels need CUDA)")


@pytest.fixture(scope="module", autouse=True)
def _gpu() -> None:
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy without a driver
        pytest.skip(f"CuPy cannot reach a CUDA device: {exc}")
    if count == 0:
        pytest.skip("no CUDA device")


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (rows, n) of every fused launch, to prove the kernel ran."""
    from xpsoftmax.backends import _cuda_kernels

    seen: list[tuple[int, int]] = []
    real = _cuda_kernels.run

    def spy(func, x2, out):  # type: ignore[no-untyped-def]
        seen.append(tuple(x2.shape))
        return real(func, x2, out)

    monkeypatch.setattr(_cuda_kernels, "run", spy)
    return seen


def _batch(n: int, dtype: str, seed: int, rows: int | None = None) -> np.ndarray:
    """Nine special rows, then ordinary ones: long rows come 300 at a time, as
    a few long rows go to the portable code (they would not fill the device)."""
    rng = np.random.default_rng(seed)
    if rows is None:
        rows = 9 if n <= 1024 else 300
    x = rng.standard_normal((rows, n)) * 5
    x[1] = -30.0  # one dominant entry: the log1p form's case
    x[1, n // 2] = 0.0
    x[2] = 1.5  # every entry a tie of the maximum
    x[3, n - 1] = np.nan
    x[4, 0] = np.inf
    x[5] = -np.inf
    x[6, ::2] = -np.inf  # some -inf (row 6 keeps finite entries when n > 1)
    x[7] *= 40  # wide range: exponentials underflow to 0
    x[8] += 1e4  # a large shift
    return x.astype(dtype)


FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}
LENGTHS = [1, 2, 31, 33, 64, 100, 513, 1024, 1025, 4096, 11776, 11777, 30000]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", list(FUNCS))
@pytest.mark.parametrize("n", LENGTHS)
def test_gpu_fused_kernel_matches_reference(
    n: int, func: str, dtype: str, launches: list[tuple[int, int]]
) -> None:
    x = _batch(n, dtype, seed=n)
    got = cp.asnumpy(FUNCS[func](cp.asarray(x)))
    assert launches == [x.shape]
    _check(got, x, func, dtype)


def _check(got: np.ndarray, x: np.ndarray, func: str, dtype: str) -> None:
    wide = np.float64 if dtype == "float32" else np.longdouble
    expected, k = _high_reference(x, func, wide)
    if func == "logsumexp":
        # the wide reference says NaN where the documented answer is an infinity
        has_nan = np.isnan(x).any(-1)
        expected = np.where(~has_nan & (x == np.inf).any(-1), np.inf, expected)
        expected = np.where((x == -np.inf).all(-1), -np.inf, expected)
    err = ulps(got, expected, dtype)
    tol = tolerance(k, dtype)
    bad = ~(err <= tol)
    assert not bad.any(), (
        f"{int(bad.sum())} entries off; worst at {np.unravel_index(np.argmax(err - tol), err.shape)}"
    )


@pytest.mark.parametrize("func", list(FUNCS))
def test_gpu_fused_kernel_agrees_with_portable(func: str, launches: list[tuple[int, int]]) -> None:
    x = cp.asarray(_batch(700, "float32", seed=1))
    auto = cp.asnumpy(FUNCS[func](x))
    portable = cp.asnumpy(FUNCS[func](x, impl="portable"))
    assert launches == [(9, 700)]
    np.testing.assert_array_equal(np.isnan(auto), np.isnan(portable))
    finite = np.isfinite(portable)
    np.testing.assert_array_equal(np.isfinite(auto), finite)
    # both are within the reference bound; between them, twice it
    _, k = _high_reference(cp.asnumpy(x), func, np.float64)
    assert np.all(
        ulps(auto[finite], portable[finite], "float32") <= 2 * tolerance(k[finite], "float32")
    )


def test_gpu_trailing_axes_and_keepdims(launches: list[tuple[int, int]]) -> None:
    x = np.random.default_rng(3).standard_normal((3, 4, 50)).astype("float32")
    c = cp.asarray(x)
    lse = xs.logsumexp(c, axis=(1, 2), keepdims=True)
    assert lse.shape == (3, 1, 1)
    sm = xs.softmax(c, axis=(-2, -1))
    assert sm.shape == (3, 4, 50)
    assert launches == [(3, 200), (3, 200)]
    ref, k = _high_reference(x.reshape(3, 200), "logsumexp", np.float64)
    assert np.all(
        ulps(cp.asnumpy(lse).reshape(3), ref.reshape(3), "float32")
        <= tolerance(k, "float32").reshape(3)
    )


@pytest.mark.parametrize("func", list(FUNCS))
def test_gpu_few_long_rows_take_the_portable_code(
    func: str, launches: list[tuple[int, int]]
) -> None:
    x = _batch(5000, "float32", seed=8, rows=9)
    got = cp.asnumpy(FUNCS[func](cp.asarray(x)))
    assert launches == []
    _check(got, x, func, "float32")


def test_gpu_fused_kernel_not_used_where_it_does_not_apply(
    launches: list[tuple[int, int]],
) -> None:
    x = cp.asarray(np.random.default_rng(4).standard_normal((6, 40)).astype("float32"))
    ref = cp.asnumpy(xs.softmax(x, axis=0, impl="portable"))
    np.testing.assert_allclose(cp.asnumpy(xs.softmax(x, axis=0)), ref, rtol=1e-6)  # leading axis
    xs.softmax(x.T, axis=-1)  # a strided view
    mask = cp.asarray(np.arange(40) % 3 != 0)
    xs.softmax(x, where=mask)
    assert launches == []


def test_gpu_input_untouched_and_device_kept() -> None:
    x = cp.asarray(_batch(300, "float32", seed=5))
    before = x.copy()
    for f in FUNCS.values():
        out = f(x)
        assert out.device == x.device
    np.testing.assert_array_equal(cp.asnumpy(x), cp.asnumpy(before))


def _torch_cuda():  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    return torch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
@pytest.mark.parametrize("n", [33, 1025, 4096])
def test_gpu_torch_auto_runs_the_fused_kernel(
    n: int, func: str, dtype: str, launches: list[tuple[int, int]]
) -> None:
    torch = _torch_cuda()
    x = _batch(n, dtype, seed=n + 1)
    t = torch.asarray(x, device="cuda")
    out = FUNCS[func](t)
    assert isinstance(out, torch.Tensor) and out.device == t.device
    assert launches == [x.shape]
    _check(out.cpu().numpy(), x, func, dtype)
    np.testing.assert_array_equal(t.cpu().numpy(), x)


def test_gpu_torch_autograd_runs_the_kernel_behind_the_operator(
    launches: list[tuple[int, int]],
) -> None:
    torch = _torch_cuda()
    x = np.random.default_rng(6).standard_normal((5, 300))
    t = torch.asarray(x, device="cuda", requires_grad=True)
    out = xs.log_softmax(t)
    # the operator's kernel and analytic backward (an autograd.Function, eager)
    assert type(out.grad_fn).__name__ == "_KernelWithGradBackward"
    out.sum().backward()
    assert launches == [(5, 300)]
    launches.clear()
    # d/dx sum_j log_softmax(x)_j = 1 - n softmax(x)
    p = np.exp(x - np.log(np.sum(np.exp(x), -1, keepdims=True)))
    np.testing.assert_allclose(t.grad.cpu().numpy(), 1 - 300 * p, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        xs.log_softmax(t)
    assert launches == [(5, 300)]


def test_gpu_dask_cupy_chunks_run_the_kernel_per_chunk(launches: list[tuple[int, int]]) -> None:
    da = pytest.importorskip("dask.array")
    x = _batch(200, "float32", seed=7)
    d = da.from_array(cp.asarray(x), chunks=(3, -1), asarray=False)
    for func, f in FUNCS.items():
        launches.clear()
        out = f(d)
        assert isinstance(out, da.Array)
        got = out.compute()
        assert isinstance(got, cp.ndarray)
        assert sorted(launches) == [(3, 200)] * 3
        _check(cp.asnumpy(got), x, func, "float32")
