"""The NumPy fast path (in place, blocked, threaded) against the plain portable core.

The fast path runs the same core on blocks of whole slices, so every slice sees
the same operations in the same order: results must agree bit for bit with the
core run unblocked through the standard-only ``_core.Ops`` (NaN where it has
NaN).  Block sizes are shrunk so that small arrays take the blocked path, and
the thread count is raised so that the pool is used even on one core.
"""

from __future__ import annotations

import array_api_compat.numpy as anp
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax import _core
from xpsoftmax.backends import numpy as npb
from xpsoftmax.backends._base import Call, run_core

FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tiny blocks, three threads; returns a list that counts blocked runs."""
    monkeypatch.setattr(npb, "BLOCK_BYTES", 256)
    monkeypatch.setattr(npb, "MIN_BLOCKED_BYTES", 512)
    monkeypatch.setattr(npb, "MIN_SCAN_SIZE", 0)  # tiny blocks take the e == 1 scan too
    monkeypatch.setattr(npb, "n_threads", lambda: 3)
    runs: list[int] = []
    real = npb.run_blocked

    def spy(call: Call, xp: object, errstate: object) -> object:
        out = real(call, xp, errstate)
        runs.append(out is not None)
        return out

    monkeypatch.setattr(npb, "run_blocked", spy)
    return runs


def _axes(axis: object, ndim: int) -> tuple[int, ...]:
    axes = tuple(range(ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))  # type: ignore[union-attr]


def _check(got: np.ndarray, want: np.ndarray, x: np.ndarray, axis: object) -> None:
    """Bit for bit where each slice is a contiguous run of a C-ordered input (the
    reductions then run the same loop on a block as on the whole array);
    otherwise NumPy may order a reduction differently on a block: _agree's bound.
    """
    axes = _axes(axis, x.ndim)
    exact = x.flags.c_contiguous and axes == tuple(range(x.ndim - len(axes), x.ndim))
    n = int(np.prod([x.shape[a] for a in axes]))
    _agree(got, want, n, exact)


def _plain(func: str, x: np.ndarray, axis: object, mask: np.ndarray | None, keepdims: bool):
    """The core, unblocked, with the standard-only Ops (no NumPy hooks)."""
    axes = _axes(axis, x.ndim)
    if mask is not None:
        mask = np.broadcast_to(mask, x.shape)
    call = Call(func, x, axes, mask, keepdims, x.dtype, x.dtype)
    with np.errstate(all="ignore"):
        return np.asarray(run_core(call, _core.Ops(anp)))


def _agree(got: np.ndarray, want: np.ndarray, n: int, exact: bool) -> None:
    """Bit for bit if ``exact``; else the same special values and finite values
    within what a change of summation order can make of a sum of ``n`` terms:
    each order is within (n - 1) eps of the exact sum (relative, for positive
    terms), so two orders differ by at most 2 n eps; the log1p/subtraction/
    division after it add an ulp of the result (the ``|want|`` term).
    """
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact:
        np.testing.assert_array_equal(got, want, strict=True)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(want) * np.sign(want))
    fin = np.isfinite(want)
    eps = np.finfo(want.dtype).eps
    bound = 2 * n * eps * (1 + np.abs(want[fin]))
    assert (np.abs(got[fin] - want[fin]) <= bound).all()


def _special_rows(x: np.ndarray) -> np.ndarray:
    """Plant NaN, +inf, all -inf, mixed -inf and dominant rows along the last axis."""
    x = x.copy()
    flat = x.reshape(-1, x.shape[-1])
    flat[0, 3] = np.nan
    flat[1, 2] = np.inf
    flat[2, :] = -np.inf
    flat[3, ::2] = -np.inf
    flat[4, :] = 0.0
    flat[4, 1] = 80.0
    flat[5, 0] = np.inf
    flat[5, 1] = -np.inf
    return x


def _data(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    return _special_rows(x) if x.ndim and x.shape[-1] >= 4 and x.size >= 6 * x.shape[-1] else x


# (shape, axis): trailing axes (2-D view), leading axes, several axes, a 3-D middle axis
LAYOUTS = [
    ((64, 33), -1),
    ((33, 64), 0),
    ((6, 7, 9), (1, 2)),
    ((6, 7, 9), 1),
    ((8, 5, 6), (0, 2)),
    ((60, 3), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), LAYOUTS)
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_blocked_equals_plain_core(
    blocked: list[int], func: str, shape: tuple[int, ...], axis: object, dtype: type
) -> None:
    x = _data(shape, dtype)
    before = x.copy()
    got = FUNCS[func](x, axis=axis, impl="portable")
    want = _plain(func, x, axis, None, False)
    assert blocked and all(blocked), "the blocked path was not taken"
    _check(got, want, x, axis)
    np.testing.assert_array_equal(x, before)  # the input is never modified


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(("shape", "axis"), LAYOUTS)
def test_blocked_logsumexp_keepdims(
    blocked: list[int], shape: tuple[int, ...], axis: object, keepdims: bool
) -> None:
    x = _data(shape, np.float64, seed=1)
    got = xs.logsumexp(x, axis=axis, keepdims=keepdims)
    assert blocked and all(blocked)
    _check(got, _plain("logsumexp", x, axis, None, keepdims), x, axis)


@pytest.mark.parametrize(("shape", "axis"), LAYOUTS)
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_blocked_mask(blocked: list[int], func: str, shape: tuple[int, ...], axis: object) -> None:
    rng = np.random.default_rng(2)
    x = _data(shape, np.float32, seed=3)
    mask = rng.random(shape) < 0.6
    # a fully masked slice along the last axis, and a broadcast (1, ..., n) mask
    mask.reshape(-1, shape[-1])[7, :] = False
    got = FUNCS[func](x, axis=axis, where=mask)
    assert blocked and all(blocked)
    _check(got, _plain(func, x, axis, mask, False), x, axis)
    row = rng.random((1,) * (len(shape) - 1) + (shape[-1],)) < 0.5
    got = FUNCS[func](x, axis=axis, where=row)
    _check(got, _plain(func, x, axis, row, False), x, axis)


@pytest.mark.parametrize("func", sorted(FUNCS))
def test_blocked_non_contiguous_and_float16(blocked: list[int], func: str) -> None:
    x = _data((48, 40), np.float32, seed=4)
    xt = x.T  # Fortran-ordered view: the longest-axis split, not the 2-D view
    _check(FUNCS[func](xt, axis=-1), _plain(func, xt, -1, None, False), xt, -1)
    h = x.astype(np.float16)
    want = _plain(func, h.astype(np.float32), -1, None, False).astype(np.float16)
    np.testing.assert_array_equal(FUNCS[func](h), want, strict=True)
    assert blocked and all(blocked)


def test_special_slices_follow_the_rules(blocked: list[int]) -> None:
    """Spot-check the documented special-value rules on the blocked path itself."""
    x = _data((64, 33), np.float32)
    sm, lsm, lse = xs.softmax(x), xs.log_softmax(x), xs.logsumexp(x)
    assert all(blocked)
    assert np.isnan(sm[0]).all() and np.isnan(lsm[0]).all() and np.isnan(lse[0])  # NaN
    assert np.isnan(sm[1]).all() and np.isnan(lsm[1]).all() and lse[1] == np.inf  # +inf
    assert np.isnan(sm[2]).all() and np.isnan(lsm[2]).all() and lse[2] == -np.inf  # all -inf
    assert (sm[3, ::2] == 0).all() and (lsm[3, ::2] == -np.inf).all()  # some -inf
    assert np.isfinite(sm[6:]).all() and np.allclose(sm[6:].sum(axis=-1), 1, rtol=1e-5)


def test_error_in_a_block_propagates(blocked: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in any block (caller's or a helper's) reaches the caller, after
    every thread has stopped writing into the output."""
    real = _core.softmax
    calls: list[int] = []

    def flaky(x: object, axes: object, mask: object, ops: object) -> object:
        calls.append(1)
        if len(calls) == 5:
            raise FloatingPointError("block 5")
        return real(x, axes, mask, ops)  # type: ignore[arg-type]

    monkeypatch.setattr(_core, "softmax", flaky)
    with pytest.raises(FloatingPointError, match="block 5"):
        xs.softmax(_data((64, 33), np.float32))
    n = len(calls)
    monkeypatch.setattr(_core, "softmax", real)
    x = _data((64, 33), np.float32, seed=10)
    _check(xs.softmax(x), _plain("softmax", x, -1, None, False), x, -1)  # the pool still works
    assert len(calls) == n  # no thread went on calling the failing function


def test_small_inputs_stay_unblocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the threshold the pool is never started: no threads for tiny calls."""
    monkeypatch.setattr(npb, "_pool", None)
    out = xs.softmax(np.ones((4, 8), np.float32))
    assert npb._pool is None
    np.testing.assert_array_equal(out, np.full((4, 8), 0.125, np.float32))


def test_full_size_blocked_run_matches_core() -> None:
    """One input above the real threshold, default block size and threads."""
    x = _data((600, 1000), np.float32, seed=5)
    assert x.nbytes >= npb.MIN_BLOCKED_BYTES
    for func, f in FUNCS.items():
        np.testing.assert_array_equal(f(x), _plain(func, x, -1, None, False), strict=True)


def _ties_and_near_max(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Rows (along the last axis) with tied maxima, with an entry so close to the
    max that exp(x - max) rounds to 1 without being a maximum, and plain rows."""
    x = _data(shape, dtype, seed=7)
    flat = x.reshape(-1, x.shape[-1])
    tiny = np.finfo(dtype).eps / 8  # exp(-tiny) == 1 in dtype
    flat[1::5, 0] = flat[1::5, 1] = flat[1::5, 2] = 50.0  # three tied maxima
    flat[2::5] = np.minimum(flat[2::5], 0)
    flat[2::5, 3] = 2 * tiny  # the max ...
    flat[2::5, 4] = tiny  # ... and a smaller entry whose e is exactly 1 too
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axes", [(1,), (0,), (0, 1)])
def test_sum_except_max_equals_core(
    monkeypatch: pytest.MonkeyPatch, dtype: type, axes: tuple[int, ...]
) -> None:
    """NumpyOps.sum_except_max (a scan for e == 1 where each slice has one, the
    comparison with the max otherwise) gives the core's values bit for bit."""
    monkeypatch.setattr(npb, "MIN_SCAN_SIZE", 0)
    x = _data((30, 12), dtype, seed=8)[6:]  # finite rows: every slice max is finite
    for data in (x, _ties_and_near_max((30, 12), dtype)[6:], _data((30, 12), dtype)):
        mx = np.max(data, axis=axes, keepdims=True)
        with np.errstate(all="ignore"):
            e = np.exp(data - np.where(np.isfinite(mx), mx, 0))
            want = _core.Ops(anp).sum_except_max(e.copy(), data, mx, axes)
            got = npb.NumpyOps(anp).sum_except_max(e.copy(), data, mx, axes)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
@pytest.mark.parametrize("func", ["log_softmax", "logsumexp"])
def test_ties_and_near_max_blocked_and_unblocked(
    blocked: list[int], func: str, axis: object, dtype: type
) -> None:
    """Tied maxima and entries whose e rounds to 1: both the blocked path and the
    unblocked NumpyOps agree with the plain core."""
    x = _ties_and_near_max((40, 24), dtype)
    want = _plain(func, x, axis, None, False)
    _check(FUNCS[func](x, axis=axis), want, x, axis)
    with np.errstate(all="ignore"):
        unblocked = run_core(
            Call(func, x, _axes(axis, 2), None, False, x.dtype, x.dtype), npb.NumpyOps(anp)
        )
    np.testing.assert_array_equal(np.asarray(unblocked), want, strict=True)


@pytest.mark.parametrize("shape", [(12, 1500), (6, 4, 1024)])
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_row_bufsize_blocked_and_unblocked(
    blocked: list[int], monkeypatch: pytest.MonkeyPatch, func: str, shape: tuple[int, ...]
) -> None:
    """Rows long enough for a one-row ufunc buffer: same bits as the plain core,
    blocked (worker threads) or not (the calling thread), and the caller's
    buffer size is left as it was."""
    x = _data(shape, np.float32, seed=9)
    assert npb._row_bufsize(x, (x.ndim - 1,)) is not None
    before = np.getbufsize()
    want = _plain(func, x, -1, None, False)
    np.testing.assert_array_equal(FUNCS[func](x), want, strict=True)
    assert blocked and all(blocked)
    blocked.clear()
    monkeypatch.setattr(npb, "MIN_BLOCKED_BYTES", x.nbytes + 1)  # unblocked, in this thread
    np.testing.assert_array_equal(FUNCS[func](x), want, strict=True)
    assert blocked == [False]
    assert np.getbufsize() == before


# -- the per-type fast path for the common call (torch, JAX) --------------------------
@pytest.mark.parametrize("lib", ["torch", "jax"])
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_fast_path_equals_general_route(lib: str, func: str) -> None:
    """An int axis takes the fast path, the same axis as a tuple the general one."""
    from xpsoftmax import _api
    from xpsoftmax.backends import by_name

    pytest.importorskip(lib)
    backend = by_name(lib)
    x = backend.from_numpy(_data((8, 6), np.float32, seed=6))
    fast = _api._fast_path(x)
    served = fast(func, x, -1) is not NotImplemented
    # torch's fast path serves every function on a CPU tensor (softmax through
    # torch.softmax, the others through the torch operators' kernel)
    assert served
    for axis in (0, 1, -1):
        got = backend.to_numpy(FUNCS[func](x, axis=axis))
        want = backend.to_numpy(FUNCS[func](x, axis=(axis,)))
        np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_fast_path_rejects_like_general_route(lib: str) -> None:
    from xpsoftmax.backends import by_name

    pytest.importorskip(lib)
    backend = by_name(lib)
    x = backend.from_numpy(np.ones((2, 3), np.float32))
    for axis in (2, -3):
        with pytest.raises(ValueError, match=f"axis {axis} is out of range"):
            xs.softmax(x, axis=axis)
    # 0-d and empty inputs and 16-bit floats fall back to the general route
    assert backend.to_numpy(xs.softmax(backend.from_numpy(np.float32(3.0)))) == 1.0
    assert backend.to_numpy(xs.softmax(backend.from_numpy(np.ones((0, 3), np.float32)))).shape == (
        0,
        3,
    )
    h = xs.softmax(backend.from_numpy(np.zeros((2, 4), np.float16)))
    np.testing.assert_array_equal(backend.to_numpy(h), np.full((2, 4), 0.25, np.float16))
