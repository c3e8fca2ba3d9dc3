"""cross_entropy, binary_cross_entropy, log_sigmoid: mpmath references on every backend,
torch's definitions, the documented departures, and bad input."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.conformance.runner import _dtype_name
from xpsoftmax.testing import assert_close

from loss_reference import mp_binary_cross_entropy, mp_cross_entropy, mp_log_sigmoid

INF = math.inf
RNG = np.random.default_rng(20260225)
ROWS = RNG.normal(0.0, 3.0, size=(6, 5))
PROBS = RNG.dirichlet(np.ones(5), size=6)
PROBS[0, 1] = PROBS[1, :2] = 0.0  # zero entries, rows no longer normalised

#: (id, logits, labels, kwargs): the confident case, ties, large offsets, -inf
#: logits with smoothing, weights with ignore_index, probabilities with zeros
#: (also on a -inf logit), a 3-d input over its middle axis
CE_CASES = [
    ("confident", [[30.0, 0.0, 0.0], [0.0, -20.0, -25.0]], [0, 0], {}),
    ("ordinary", ROWS, [0, 1, 2, 3, 4, 0], {}),
    ("ties", [[3.0, 3.0, -1.0], [2.0, 2.0, 2.0]], [1, 2], {}),
    ("offset-1e4", ROWS + 1e4, [4, 3, 2, 1, 0, 1], {"label_smoothing": 0.25}),
    ("masked-smoothing", [[0.0, -INF, 1.0, 2.0], [-INF, 5.0, -INF, 4.0]], [2, 1],
     {"label_smoothing": 0.2}),
    ("weights-ignore", ROWS, [0, -100, 2, 4, -100, 1],
     {"weight": [0.5, 2.0, 1.0, 3.0, 0.25], "label_smoothing": 0.1}),
    ("probs", ROWS, PROBS, {"label_smoothing": 0.05}),
    ("probs-masked", [[0.0, -INF, 1.0], [30.0, 0.0, -INF]], [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0]], {}),
    ("axis-1", ROWS.reshape(2, 5, 3), [[0, 1, 2], [4, 3, 2]], {"axis": 1}),
    ("where", ROWS, [0, 1, 2, 3, 4, 0],
     {"where": [True, False, True, True, False, True], "weight": [1.0, 2.0, 3.0, 4.0, 5.0]}),
]  # fmt: skip
REDUCTIONS = ("none", "mean", "sum")
#: (case, dtype, reduction): every case per sample in float32, some in float64,
#: each reduction where it has something to decide (JAX compiles per
#: combination, so the list is kept short)
CE_RUNS = [
    *((c[0], "float32", "none") for c in CE_CASES),
    *((cid, "float64", "none") for cid in ("confident", "offset-1e4")),
    *((cid, "float32", "mean") for cid in ("weights-ignore", "where", "probs-masked")),
    ("axis-1", "float64", "sum"),
]


@functools.cache
def _ce_reference(cid: str, dtype: str, reduction: str) -> dict:
    _, x, labels, kw = next(c for c in CE_CASES if c[0] == cid)
    xr, lab, kwr = _inputs(x, labels, kw, dtype)
    return mp_cross_entropy(xr, lab, reduction=reduction, **kwr)


def _inputs(x, labels, kw, dtype):
    """The case's arrays as NumPy, rounded to ``dtype`` (what every backend receives)."""
    xr = np.asarray(x, dtype=dtype)
    lab = np.asarray(labels)
    lab = lab.astype(dtype) if lab.dtype.kind == "f" else lab.astype(np.int64)
    kwr = {k: (np.asarray(v, dtype=dtype) if k == "weight" else v) for k, v in kw.items()}
    if "where" in kwr:
        kwr["where"] = np.asarray(kwr["where"])
    return xr, lab, kwr


def _dtypes_of(target) -> tuple[str, ...]:
    if target.backend_name == "jax" and not target.x64:
        return ("float32",)
    return ("float32", "float64")


def _on(target, kw):
    return {k: (target.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize(("cid", "dtype", "reduction"), CE_RUNS, ids=["-".join(r) for r in CE_RUNS])
def test_cross_entropy_against_mpmath(target, cid, dtype, reduction):
    if dtype not in _dtypes_of(target):
        pytest.skip(f"{target.id} has no {dtype}")
    _, x, labels, kw = next(c for c in CE_CASES if c[0] == cid)
    xr, lab, kwr = _inputs(x, labels, kw, dtype)
    ref = _ce_reference(cid, dtype, reduction)
    out = xs.cross_entropy(target.asarray(xr), target.asarray(lab), reduction=reduction,
                           **_on(target, kwr))  # fmt: skip
    assert _dtype_name(out) == dtype
    assert_close(out, ref["value"], ulps=2, cond=ref["k"], dtype=dtype, target=target)


def test_confident_prediction_keeps_its_loss(target):
    # the case: torch, optax and tf.nn give exactly 0 here
    x = target.asarray(np.array([[30.0, 0.0, 0.0]], dtype=np.float32))
    out = target.to_numpy(xs.cross_entropy(x, target.asarray(np.array([0]))))
    assert out != 0.0
    assert abs(out - 1.8715245937680402e-13) <= 2 * np.spacing(np.float32(1.87e-13))


def test_mean_over_no_live_sample_is_zero(target):
    x = target.asarray(np.array([[1.0, 2.0], [3.0, 4.0]]))
    ignored = target.asarray(np.array([-100, -100]))
    assert target.to_numpy(xs.cross_entropy(x, ignored)) == 0.0
    assert target.to_numpy(xs.cross_entropy(x, ignored, reduction="sum")) == 0.0
    none = target.asarray(np.array([False, False]))
    assert target.to_numpy(xs.cross_entropy(x, target.asarray(np.array([0, 1])), where=none)) == 0
    assert target.to_numpy(xs.binary_cross_entropy(x, x, where=target.asarray(
        np.zeros((2, 2), bool)))) == 0.0  # fmt: skip


def test_ignored_sample_with_nan_logits_counts_zero(target):
    x = target.asarray(np.array([[math.nan, 1.0], [0.0, 1.0]]))
    out = target.to_numpy(
        xs.cross_entropy(x, target.asarray(np.array([-100, 1])), reduction="none")
    )
    assert out[0] == 0.0 and np.isfinite(out[1])


def test_special_rows_give_nan(target):
    # as log_softmax: NaN or +inf in the row, or only -inf, is NaN
    x = target.asarray(np.array([[math.nan, 1.0], [INF, 1.0], [-INF, -INF], [0.0, -INF]]))
    out = target.to_numpy(
        xs.cross_entropy(x, target.asarray(np.array([1, 1, 0, 1])), reduction="none")
    )
    assert np.isnan(out[:3]).all()
    assert out[3] == INF  # the target class's logit is -inf: probability 0


@pytest.mark.xp_backends("numpy", "torch", "jax", "tensorflow", "mlx")
def test_float16_smoothing_over_50000_classes(target):
    """torch's smoothing sums 50,000 float16 log-probabilities and gives inf; the sums
    here run in float32 and the result is float16 of the mpmath value."""
    n = 50_000
    x = np.zeros((1, n), dtype=np.float16)
    x[0, 7] = 8.0
    ref = _big_reference(n)
    xh = target.asarray(x)
    out = xs.cross_entropy(xh, target.asarray(np.array([7])), label_smoothing=0.1)
    assert _dtype_name(out) == "float16"
    # one rounding to float16 after a float32 computation within its bound
    assert abs(float(target.to_numpy(out)) - ref) <= np.spacing(np.float16(ref))


@functools.cache
def _big_reference(n: int) -> float:
    import mpmath

    with mpmath.workdps(30):
        lse = mpmath.log(mpmath.exp(8) + (n - 1))
        # (1 - eps) * (lse - 8) + eps * mean_j (lse - x_j)
        return float(mpmath.mpf("0.9") * (lse - 8) + mpmath.mpf("0.1") * (lse - mpmath.mpf(8) / n))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_against_mpmath(target, reduction):
    x = np.array([[-30.0, 30.0, 0.0, 2.5], [-1e4, 1e4, 17.0, -0.5]], dtype=np.float32)
    y = np.array([[0.0, 1.0, 1.0, 0.25], [0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    w = np.array([1.0, 0.5, 2.0, 1.0], dtype=np.float32)
    pw = np.array([3.0, 1.0, 0.5, 2.0], dtype=np.float32)
    ref = mp_binary_cross_entropy(x, y, w, pw, reduction)
    out = xs.binary_cross_entropy(target.asarray(x), target.asarray(y), weight=target.asarray(w),
                                  pos_weight=target.asarray(pw), reduction=reduction)  # fmt: skip
    assert_close(out, ref["value"], ulps=2, cond=ref["k"], dtype="float32", target=target)


def test_log_sigmoid_against_mpmath(target):
    x = np.array([-1e4, -800.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 17.0, 30.0, 800.0, 1e4])
    for dtype in _dtypes_of(target):
        xr = x.astype(dtype)
        ref, k = mp_log_sigmoid(xr)
        out = xs.log_sigmoid(target.asarray(xr))
        assert_close(out, ref, ulps=2, cond=k, dtype=dtype, target=target)


# -- torch's definitions --------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [{}, {"label_smoothing": 0.3}, {"reduction": "sum"}, {"reduction": "none"},
     {"weight": True, "ignore_index": 1}, {"weight": True, "label_smoothing": 0.2},
     {"probs": True}, {"probs": True, "weight": True, "label_smoothing": 0.1}],
    ids=lambda kw: ",".join(kw) or "plain",
)  # fmt: skip
def test_cross_entropy_is_torchs_on_ordinary_input(kw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    kw = dict(kw)
    x = torch.tensor(RNG.normal(0, 2, size=(4, 5, 3)))
    if kw.pop("probs", False):
        y = torch.tensor(RNG.dirichlet(np.ones(5), size=(4, 3))).movedim(2, 1)
    else:
        y = torch.tensor([[0, 1, 2], [4, 1, 3], [1, 1, 0], [2, 4, 1]])
    if kw.pop("weight", False):
        kw["weight"] = torch.tensor([0.5, 2.0, 1.0, 3.0, 0.25], dtype=torch.float64)
    want = F.cross_entropy(x, y, **kw)
    got = xs.cross_entropy(x, y, axis=1, **kw)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)
    native = xs.cross_entropy(x, y, axis=1, impl="native", **kw)
    torch.testing.assert_close(native, want, rtol=0, atol=0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_is_torchs_on_ordinary_input(reduction):
    torch = pytest.importorskip("torch")
    x = torch.tensor(RNG.normal(0, 2, size=(6, 4)))
    y = torch.tensor(RNG.random((6, 4)))
    w, pw = torch.tensor(RNG.random((6, 1))), torch.tensor(RNG.random(4) * 3)
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=pw, reduction=reduction
    )
    got = xs.binary_cross_entropy(x, y, weight=w, pos_weight=pw, reduction=reduction)
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)


# -- bad input -----------------------------------------------------------------------------
X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
Y = np.array([0, 2])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"target": np.array([0, 1, 2])}, ValueError,
         r"target of class indices has shape \(3,\), but .* need \(2,\)"),
        ({"target": np.array([[0.5, 0.5]])}, ValueError,
         r"target of class probabilities has shape \(1, 2\), but must have the logits' shape"),
        ({"target": np.array([0.0, 2.0])}, ValueError, "class indices must have an integer dtype"),
        ({"target": np.array([True, False])}, TypeError, "got dtype bool"),
        ({"target": np.array([0, 3])}, ValueError,
         r"class index 3 at \(1,\), outside \[0, 3\) and not ignore_index \(-100\)"),
        ({"target": np.array([-1, 0])}, ValueError, "class index -1"),
        ({"label_smoothing": 1.5}, ValueError, r"label_smoothing must be in \[0, 1\], got 1.5"),
        ({"label_smoothing": -0.1}, ValueError, "label_smoothing"),
        ({"label_smoothing": "0.1"}, TypeError, "label_smoothing must be a real number"),
        ({"reduction": "avg"}, ValueError, r"reduction must be one of .* got 'avg'"),
        ({"weight": np.ones(2)}, ValueError, r"one entry per class \(3\), got shape \(2,\)"),
        ({"weight": np.ones((3, 1))}, ValueError, r"got shape \(3, 1\)"),
        ({"where": np.array([1, 0])}, TypeError, "boolean dtype"),
        ({"where": np.array([True])}, ValueError, r"where has shape \(1,\).* \(2,\)"),
        ({"axis": (0, 1)}, TypeError, "axis must be an int"),
        ({"axis": 2}, ValueError, "axis 2 is out of range"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index must be an int"),
        ({"impl": "fast"}, ValueError, "impl must be one of"),
        ({"dtype": np.int32}, TypeError, "floating dtype"),
    ],
)  # fmt: skip
def test_cross_entropy_bad_arguments(kwargs, exc, match):
    kw = {"target": Y, **kwargs}
    with pytest.raises(exc, match=match):
        xs.cross_entropy(X, kw.pop("target"), **kw)


def test_bad_inputs_of_every_loss():
    with pytest.raises(ValueError, match="have no class on axis 1"):
        xs.cross_entropy(np.zeros((2, 0)), np.array([0, 0]))
    with pytest.raises(ValueError, match="at least one dimension"):
        xs.cross_entropy(np.float64(1.0), np.array(0))
    with pytest.raises(TypeError, match="complex input is not supported by cross_entropy"):
        xs.cross_entropy(X + 0j, Y)
    with pytest.raises(ValueError, match=r"target has shape \(2,\), but must have the logits'"):
        xs.binary_cross_entropy(X, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast"):
        xs.binary_cross_entropy(X, X, pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 2, 3\) does not broadcast"):
        xs.binary_cross_entropy(X, X, weight=np.ones((2, 2, 3)))
    with pytest.raises(TypeError, match="target must hold real probabilities"):
        xs.binary_cross_entropy(X, X + 0j)
    with pytest.raises(TypeError, match="complex input is not supported by log_sigmoid"):
        xs.log_sigmoid(np.array([1j]))
    with pytest.raises(TypeError, match="masked array"):
        xs.cross_entropy(np.ma.masked_array(X), Y)
    with pytest.raises(ValueError, match="impl='native' cannot serve this call: numpy has no"):
        xs.cross_entropy(X, Y, impl="native")


def test_target_of_another_library():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"target must be an array of the same library .*numpy"):
        xs.cross_entropy(X, torch.tensor(Y))


def test_inputs_are_not_modified():
    x, y, w = X.copy(), Y.copy(), np.ones(3)
    xs.cross_entropy(x, y, weight=w, label_smoothing=0.5)
    assert np.array_equal(x, X) and np.array_equal(y, Y) and np.array_equal(w, np.ones(3))


@pytest.mark.xp_backends("dask")
def test_dask_stays_lazy_and_an_out_of_range_index_is_nan(target):
    from dask.callbacks import Callback

    x = target.asarray(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, 1.0, 2.0]]))
    labels = target.asarray(np.array([0, 7, 2]))  # 7 is no class: not checkable lazily
    runs: list[int] = []
    with Callback(start=lambda dsk: runs.append(1)):
        out = xs.cross_entropy(x, labels, reduction="none")
        mean = xs.cross_entropy(x, labels, label_smoothing=0.1)
    assert not runs, "the call computed its graph"
    got = target.to_numpy(out)
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()
    assert np.isnan(target.to_numpy(mean))


def test_jit_out_of_range_index_is_nan():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    fn = jax.jit(lambda v, t: xs.cross_entropy(v, t, reduction="none"))
    got = np.asarray(fn(jnp.zeros((2, 3)), jnp.asarray([1, -5])))
    assert np.isfinite(got[0]) and np.isnan(got[1])
    with pytest.raises(ValueError, match="class index -5"):  # eager: checked
        xs.cross_entropy(jnp.zeros((2, 3)), jnp.asarray([1, -5]))
