"""The NumPy fast path (in place, blocked, threaded) against the plain portable core.

The fast path runs the same core on blocks of whole slices, so every slice sees
the same operations in the same order: results must agree bit for bit with the
core run unblocked through the standard-only ``_core.Ops`` (NaN where it has
NaN).  Block sizes are shrunk so that small arrays take the blocked path, and
the thread count is raised so that the pool is used even on one core.
"""

from __future__ import annotations

import math

import array_api_compat.numpy as anp
import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax import _core
from xpsoftmax.backends import numpy as npb
from xpsoftmax.backends._base import Call, run_core
from xpsoftmax.backends.numpy import (
    column_slabs,
    planner,
    row_rounds,
    sizes,
    thread_pool,
    ufunc_buffer,
)

FUNCS = {"softmax": xs.softmax, "log_softmax": xs.log_softmax, "logsumexp": xs.logsumexp}


@pytest.fixture
def blocked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tiny blocks, three threads; returns a list that counts blocked runs."""
    monkeypatch.setattr(sizes, "BLOCK_BYTES", 256)
    monkeypatch.setattr(sizes, "MIN_BLOCKED_BYTES", 512)
    monkeypatch.setattr(sizes, "ROWS_MIN_BYTES", 512)  # log_softmax rows take the row kernel
    monkeypatch.setattr(sizes, "MIN_SCAN_SIZE", 0)  # tiny blocks take the e == 1 scan too
    monkeypatch.setattr(thread_pool, "n_threads", lambda: 3)
    runs: list[int] = []
    real = planner.run_blocked

    def spy(call: Call, xp: object, errstate: object) -> object:
        out = real(call, xp, errstate)
        runs.append(out is not None)
        return out

    monkeypatch.setattr(planner, "run_blocked", spy)
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
    monkeypatch.setattr(thread_pool, "_pool", None)
    out = xs.softmax(np.ones((4, 8), np.float32))
    assert thread_pool._pool is None
    np.testing.assert_array_equal(out, np.full((4, 8), 0.125, np.float32))


def test_full_size_blocked_run_matches_core() -> None:
    """One input above the real threshold, default block size and threads."""
    x = _data((600, 1000), np.float32, seed=5)
    assert x.nbytes >= sizes.MIN_BLOCKED_BYTES
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
    monkeypatch.setattr(sizes, "MIN_SCAN_SIZE", 0)
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
    if ufunc_buffer._splits_rows():
        pytest.skip("the one-row buffer is NumPy >= 2.3 only (older NumPy changes the sum's bits)")
    x = _data(shape, np.float32, seed=9)
    assert ufunc_buffer._row_bufsize(x, (x.ndim - 1,)) is not None
    before = np.getbufsize()
    want = _plain(func, x, -1, None, False)
    np.testing.assert_array_equal(FUNCS[func](x), want, strict=True)
    assert blocked and all(blocked)
    blocked.clear()
    monkeypatch.setattr(sizes, "MIN_BLOCKED_BYTES", x.nbytes + 1)  # unblocked, in this thread
    # a tuple axis takes the general route, an int one the fast path
    np.testing.assert_array_equal(FUNCS[func](x, axis=(x.ndim - 1,)), want, strict=True)
    assert blocked == [False]
    np.testing.assert_array_equal(FUNCS[func](x), want, strict=True)
    assert blocked == [False]
    assert np.getbufsize() == before


# -- the per-type fast path for the common call (torch, JAX) --------------------------
@pytest.mark.parametrize("lib", ["torch", "jax", "numpy"])
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


@pytest.mark.parametrize("lib", ["torch", "jax", "numpy"])
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


@pytest.mark.parametrize("func", sorted(FUNCS))
@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((4, 8), np.float32),
        ((6, 8), np.float64),  # special rows, below MIN_SCAN_SIZE
        ((64, 100), np.float64),
        ((3, 5, 1100), np.float32),
    ],
)
@pytest.mark.parametrize("ties", [False, True])
def test_numpy_fast_path_bits(func: str, shape: tuple[int, ...], dtype: type, ties: bool) -> None:
    """The NumPy fast path (ufunc reductions, cached 0-d scalars, the core's own
    count of the maxima on tiny arrays) gives the general route's bits, special
    slices, tied maxima and entries whose exp rounds to 1 included, for every
    int axis; the input is left as it was."""
    from xpsoftmax import _api

    x = _ties_and_near_max(shape, dtype) if ties else _data(shape, dtype, seed=11)
    before = x.copy()
    fast = _api._fast_path(x)
    for axis in range(-x.ndim, x.ndim):
        got = fast(func, x, axis)
        assert got is not NotImplemented
        want = FUNCS[func](x, axis=(axis,))  # a tuple axis: the general route
        np.testing.assert_array_equal(got, want, strict=True)
        assert type(got) is np.ndarray
    np.testing.assert_array_equal(x, before, strict=True)


@pytest.mark.parametrize("func", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_signed_zero_maxima(func: str, dtype: type) -> None:
    """Rows whose maximum is a zero held as -0.0 and +0.0 (argmax may pick the
    other sign than the max reduction), alone or with one of each: the
    general route's bits, signs of zeros included."""
    from xpsoftmax import _api

    x = np.full((64, 16), -3.0, dtype=dtype)
    x[::2, 3], x[::2, 9] = -0.0, 0.0  # both signs tied
    x[1::4, 0] = -0.0  # a lone -0.0 maximum
    x[3::4, 5] = 0.0  # a lone +0.0 maximum
    x[3::4, 6] = -1e4  # whose others underflow: log_softmax gives exactly -0.0 or 0.0
    x[3::4, 7:] = -1e4
    assert x.size >= sizes.MIN_ARGMAX_SIZE
    got = _api._fast_path(x)(func, x, -1)
    want = FUNCS[func](x, axis=(-1,))
    np.testing.assert_array_equal(got, want, strict=True)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # == ignores signs of 0


def test_numpy_fast_path_serves_only_plain_small_arrays() -> None:
    from xpsoftmax import _api

    fast = _api._fast_path(np.ones(3))
    for x in (
        np.ones((0, 3)),  # empty
        np.float64(2.0) * np.ones(()),  # 0-d
        np.ones((2, 3), np.float16),  # computed in float32 by the general route
        np.ones((2, 3), np.int64),
        np.ones((2, 3), ">f8"),  # not in native byte order
        np.ones(sizes.MIN_BLOCKED_BYTES // 4, np.float32),  # blocked, threaded
    ):
        assert fast("softmax", x, -1) is NotImplemented, x.dtype
    assert fast("softmax", np.ones((2, 3)), 2) is NotImplemented  # the general error
    assert _api._fast_path(np.ma.masked_array([1.0, 2.0])) is None  # subclasses: general route
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        xs.logsumexp(np.ones((2, 3)), axis=2)


# -- reductions over leading and middle axes: the row-block rounds -----------------------
@pytest.fixture
def rows(blocked: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The blocked fixture, counting the calls that take the row-block rounds."""
    seen: list[int] = []
    real = row_rounds._run_rows

    def spy(call: Call, x3: object, xp: object, errstate: object) -> object:
        seen.append(1)
        return real(call, x3, xp, errstate)

    monkeypatch.setattr(row_rounds, "_run_rows", spy)
    return seen


def _special_columns(shape: tuple[int, ...], dtype: type, seed: int) -> np.ndarray:
    """_data's special slices (NaN, +inf, all -inf, ...) along axis 0 too."""
    x = _data(shape, dtype, seed)
    cols = _data((shape[-1], math.prod(shape[:-1])), dtype, seed + 1).T
    return np.ascontiguousarray(np.where(np.arange(shape[-1]) % 2, x, cols.reshape(shape)))


# (shape, axis): axis 0 of a matrix, a middle axis, a leading run, two columns, a middle run
LEAD_LAYOUTS = [
    ((300, 70), 0),
    ((6, 200, 37), 1),
    ((5, 6, 700), (0, 1)),
    ((700, 2), 0),
    ((3, 4, 50, 9), (1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), LEAD_LAYOUTS)
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_rows_equal_plain_core(
    rows: list[int], func: str, shape: tuple[int, ...], axis: object, dtype: type
) -> None:
    """Blocks of rows, sums carried across blocks in order: each slice is summed
    row after row as NumPy sums the whole array, so the bits are the plain
    core's (unblocked), special slices included; the input is left as it was."""
    x = _special_columns(shape, dtype, seed=12)
    before = x.copy()
    got = FUNCS[func](x, axis=axis, impl="portable")
    assert rows, "the row-block rounds were not taken"
    np.testing.assert_array_equal(got, _plain(func, x, axis, None, False), strict=True)
    np.testing.assert_array_equal(x, before, strict=True)
    if func == "logsumexp":
        kept = FUNCS[func](x, axis=axis, keepdims=True)
        np.testing.assert_array_equal(kept, _plain(func, x, axis, None, True), strict=True)


@pytest.fixture
def slabs(blocked: list[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The blocked fixture with slabs of up to 64 blocks and 4 columns, counting
    the slabs of the calls that take the column-slab route."""
    monkeypatch.setattr(sizes, "SLAB_BLOCKS", 64)
    monkeypatch.setattr(sizes, "MIN_SLAB_COLS", 4)
    seen: list[int] = []
    real = column_slabs._run_slabs

    def spy(call: Call, x3: object, xp: object, errstate: object, width: int) -> object:
        seen.append(-(-x3.shape[2] // width))  # type: ignore[attr-defined]
        return real(call, x3, xp, errstate, width)

    monkeypatch.setattr(column_slabs, "_run_slabs", spy)
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "axis"), LEAD_LAYOUTS)
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_slabs_equal_plain_core(
    slabs: list[int], rows: list[int], func: str, shape: tuple[int, ...], axis: object, dtype: type
) -> None:
    """Column slabs holding whole slices, each reduced row after row as NumPy
    reduces the whole array: the plain core's bits, special slices included,
    the input left as it was, and no row rounds."""
    x = _special_columns(shape, dtype, seed=19)
    before = x.copy()
    got = FUNCS[func](x, axis=axis, impl="portable")
    assert slabs and not rows, "the slab route was not taken"
    np.testing.assert_array_equal(got, _plain(func, x, axis, None, False), strict=True)
    np.testing.assert_array_equal(x, before, strict=True)
    if func == "logsumexp":
        kept = FUNCS[func](x, axis=axis, keepdims=True)
        np.testing.assert_array_equal(kept, _plain(func, x, axis, None, True), strict=True)


def test_slabs_split_the_columns(slabs: list[int]) -> None:
    """A slice wider than a slab is cut into several balanced slabs."""
    x = _special_columns((300, 70), np.float64, seed=20)
    for func, f in FUNCS.items():
        np.testing.assert_array_equal(f(x, axis=0), _plain(func, x, 0, None, False), strict=True)
    assert slabs and min(slabs) > 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_slabs_against_mpmath(slabs: list[int], func: str, dtype: str) -> None:
    """The conformance bound on the slab route, with dominant, overflow-prone
    and tied columns along axis 0."""
    from xpsoftmax.testing import assert_close

    from reference import REFERENCES, cond

    rng = np.random.default_rng(21)
    x = rng.standard_normal((90, 12)) * 5
    x[:, 1] = -30.0
    x[7, 1] = 0.0  # one dominant entry
    x[:, 2] += 1000.0  # overflow-prone
    x[[3, 50], 3] = 20.0  # tied maxima
    x = x.astype(dtype)
    out = FUNCS[func](x, axis=0)
    assert slabs
    assert_close(out, REFERENCES[func](x, 0), ulps=2, cond=cond(func, x, 0), dtype=dtype)


@pytest.mark.parametrize("func", sorted(FUNCS))
def test_whole_slices_split_along_the_leading_kept_axis(
    blocked: list[int], rows: list[int], monkeypatch: pytest.MonkeyPatch, func: str
) -> None:
    """Slices that fit in a block run the core on contiguous blocks of whole
    slices (the leading kept axis split), not the row rounds: same bits."""
    monkeypatch.setattr(sizes, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(sizes, "MIN_BLOCKED_BYTES", 8192)
    x = _special_columns((40, 8, 16), np.float32, seed=13)
    got = FUNCS[func](x, axis=1)
    assert blocked and all(blocked) and not rows
    np.testing.assert_array_equal(got, _plain(func, x, 1, None, False), strict=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_rows_against_mpmath(rows: list[int], func: str, dtype: str) -> None:
    """The conformance bound (ulps x condition number) on the row rounds, with
    dominant, overflow-prone and tied columns along axis 0."""
    from xpsoftmax.testing import assert_close

    from reference import REFERENCES, cond

    rng = np.random.default_rng(14)
    x = rng.standard_normal((90, 12)) * 5
    x[:, 1] = -30.0
    x[7, 1] = 0.0  # one dominant entry
    x[:, 2] += 1000.0  # overflow-prone
    x[[3, 50], 3] = 20.0  # tied maxima in different blocks
    x = x.astype(dtype)
    out = FUNCS[func](x, axis=0)
    assert rows
    ref = REFERENCES[func](x, 0)
    assert_close(out, ref, ulps=2, cond=cond(func, x, 0), dtype=dtype)


@pytest.mark.parametrize("func", sorted(FUNCS))
def test_fortran_blocked_equals_unblocked(monkeypatch: pytest.MonkeyPatch, func: str) -> None:
    """Issue 14 item 10: a Fortran-ordered input gives the same bits on the
    blocked path (its C-ordered transpose, row rounds) as unblocked, and its
    output keeps the input's order as the unblocked path's does."""
    x = np.asfortranarray(_data((600, 1000), np.float64, seed=15))
    assert x.nbytes >= sizes.MIN_BLOCKED_BYTES
    for axis in (-1, 0):
        got = FUNCS[func](x, axis=axis)
        monkeypatch.setattr(sizes, "MIN_BLOCKED_BYTES", x.nbytes + 1)
        alone = FUNCS[func](x, axis=axis)
        monkeypatch.undo()
        np.testing.assert_array_equal(got, alone, strict=True)
        np.testing.assert_array_equal(got, _plain(func, x, axis, None, False), strict=True)
        if func != "logsumexp":
            assert got.flags.f_contiguous


def test_error_in_a_row_block_propagates(rows: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A block that fails while later blocks wait for its sums: the error
    reaches the caller, nobody hangs, and the next call works."""
    real = npb.BlockOps.scratch  # each block's exp buffer in round 2
    calls: list[int] = []

    def flaky(self: npb.BlockOps, name: str, shape: tuple[int, ...]) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise FloatingPointError("block 3")
        return real(self, name, shape)

    monkeypatch.setattr(npb.BlockOps, "scratch", flaky)
    x = _special_columns((300, 70), np.float64, seed=16)
    with pytest.raises(FloatingPointError, match="block 3"):
        xs.log_softmax(x, axis=0)
    assert len(calls) >= 3
    monkeypatch.setattr(npb.BlockOps, "scratch", real)
    np.testing.assert_array_equal(
        xs.log_softmax(x, axis=0), _plain("log_softmax", x, 0, None, False), strict=True
    )


def test_full_size_rows_match_core() -> None:
    """Axis 0 and a middle axis above the real threshold, default blocks and threads."""
    x = _data((1500, 600), np.float32, seed=17)
    y = _data((4, 700, 300), np.float64, seed=18)
    assert y[0].nbytes > sizes.BLOCK_BYTES  # each slice spans several row blocks
    for func, f in FUNCS.items():
        np.testing.assert_array_equal(f(x, axis=0), _plain(func, x, 0, None, False), strict=True)
        np.testing.assert_array_equal(f(y, axis=1), _plain(func, y, 1, None, False), strict=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("func", sorted(FUNCS))
def test_accuracy_sets_on_every_layout(
    monkeypatch: pytest.MonkeyPatch, func: str, dtype: str
) -> None:
    """The conformance suite's accuracy sets (over the last axis of C-ordered
    arrays) rearranged so that the same slices lie along axis 0, along a middle
    axis and along the last axis of a Fortran-ordered array, held to the
    suite's own bound on the blocked path (16 KiB blocks, three threads)."""
    from xpsoftmax.conformance import cases

    monkeypatch.setattr(sizes, "BLOCK_BYTES", 16384)
    monkeypatch.setattr(sizes, "MIN_BLOCKED_BYTES", 32768)
    monkeypatch.setattr(thread_pool, "n_threads", lambda: 3)
    seen: list[int] = []
    real = row_rounds._run_rows

    def spy(call: Call, x3: object, xp: object, errstate: object) -> object:
        seen.append(1)
        return real(call, x3, xp, errstate)

    monkeypatch.setattr(row_rounds, "_run_rows", spy)
    f = FUNCS[func]
    for spec in cases.accuracy_sets():
        case = cases.accuracy_case(spec["name"], dtype, func)
        x = case.x.astype(dtype)  # (slices, n): exactly representable in dtype
        ref, k = case.expected, case.k
        s, n = x.shape
        h = s // 2
        # (inputs, axis, how a result maps back to the reference's (slices, n) layout)
        layouts = [
            (np.ascontiguousarray(x.T), 0, lambda y: y.T),
            (np.asfortranarray(x), -1, lambda y: y),
            (
                np.ascontiguousarray(x.reshape(2, h, n).transpose(0, 2, 1)),
                1,
                lambda y, shape=ref.shape: (
                    y if func == "logsumexp" else y.transpose(0, 2, 1)
                ).reshape(shape),
            ),
        ]
        for xi, axis, back in layouts:
            seen.clear()
            got = np.asarray(back(f(xi, axis=axis)), dtype=np.float64)
            assert seen, (spec["name"], axis)  # the row rounds served it
            err = cases.ulps(got, ref, dtype)
            tol = cases.tolerance(k, dtype)
            assert (err <= tol).all(), (spec["name"], axis, float((err - tol).max()))


@pytest.mark.parametrize("func", sorted(FUNCS))
@pytest.mark.parametrize("shape", [(2,), (64, 100)])
def test_fast_path_ignores_the_callers_error_state(func: str, shape: tuple[int, ...]) -> None:
    """exp(x - m) underflows to 0 for far-below-max entries: that is the
    intended result, so a caller's np.seterr(all="raise") must not turn it into
    FloatingPointError on the fast path any more than on the general route."""
    x = np.zeros(shape)
    x[..., 1] = -1000.0
    want = FUNCS[func](x, axis=(-1,))  # the general route
    with np.errstate(all="raise"):
        got = FUNCS[func](x, axis=-1)
    np.testing.assert_array_equal(got, want, strict=True)
