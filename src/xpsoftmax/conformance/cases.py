"""The case catalogue (``data/cases.json``), the accuracy sets, and the error bound.

Every stored case holds its input exactly as the subjects receive it, the
mpmath reference (50 digits, rounded to float64) and the factor ``k`` of the
error bound below; ``conformance/generate_references.py`` writes them.  The
accuracy sets are generated here from fixed seeds and checked against float64
(16- and 32-bit inputs) or ``np.longdouble`` (float64 inputs) references.

Error bound
-----------
With ``u`` the unit roundoff of the compute dtype, ``z = x - m`` (``m`` the
slice maximum), ``Z = max |z_j|``, ``n`` the number of live entries and
``L = log(sum(exp(z))) >= 0``:

* ``z_i = fl(x_i - m)`` is off by at most ``u |z_i|`` and ``exp`` adds one
  rounding, so ``exp(z_i)`` has relative error ``<= (|z_i| + 1) u``;
* a sum of ``n`` positive terms, in any order, adds relative error
  ``<= (n - 1) u`` (pairwise summation gets ``log2(n)``, but the suite does
  not assume the order), and each term brings at most ``(Z + 1) u``;
* softmax ``y_i = e_i / s``: relative error ``<= (|z_i| + Z + n + 2) u``;
* log-sum ``L = log1p(t)`` with ``t`` the sum of the non-maximal terms: its
  absolute error is ``<= L (Z + n + 2) u`` (proportional to ``L``, which is the
  point of the log1p form: the naive ``log(1 + t)`` is off by ``u`` absolute);
* log_softmax ``y_i = z_i - L``: absolute error
  ``<= u (|z_i| + L (Z + n + 2) + |y_i|)``, i.e. ``k u`` relative with
  ``k = (|z_i| + L (Z + n + 2)) / |y_i| + 1``;
* logsumexp ``y = m + L``: ``k = (|m| + L (Z + n + 2)) / |y| + 1``.

A relative error of ``k u`` is at most ``k`` ulps; the suite allows
``2 k + 1`` ulps (a factor 2 for the libm's ``exp``/``log1p``, which are
within 1-2 ulps, and 1 ulp for the float64 rounding of the mpmath reference).
16-bit results are computed in float32 and rounded once: ``0.5`` ulp of the
output dtype plus the float32 bound scaled by ``u32/u16``.  Below the smallest
normal number the unit is the smallest normal itself: XLA on CPU flushes
subnormal results to zero, and a subnormal result has no relative accuracy to
keep anyway.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

#: every case group, in report order
GROUPS = (
    "examples",
    "large-logits",
    "special",
    "shapes",
    "dtypes",
    "axes",
    "masks",
    "weights",
    "complex",
    "losses",
    "adversarial",
    "accuracy",
    "properties",
    "transforms",
    "contract",
)
FUNCS = ("softmax", "log_softmax", "logsumexp")
#: the ulps allowed per unit of k, and the reference's own rounding
ULPS_PER_K = 2.0
REFERENCE_ULPS = 1.0


def _dec(v: Any) -> Any:
    if isinstance(v, list):
        return [_dec(e) for e in v]
    if isinstance(v, str):
        return float(v)
    return v


@dataclass(frozen=True)
class Case:
    """One call with its exact input and reference (see the module docstring)."""

    id: str
    group: str
    func: str
    dtype: str
    x: np.ndarray  # float64 (or bool) values, exactly representable in ``dtype``
    axis: Any  # int, tuple, None, or "default" (call without axis)
    where: np.ndarray | None
    keepdims: bool
    expected: np.ndarray
    k: np.ndarray
    note: str = ""
    printed: Any = None
    #: accuracy sets: the reference's precision, for the report
    reference: str = "mpmath (50 digits)"
    extra: dict = field(default_factory=dict, compare=False)
    #: logsumexp's weights ``b`` (same shape as ``x``), ``return_sign`` and the
    #: expected sign (compared exactly; NaN matches NaN)
    b: np.ndarray | None = None
    return_sign: bool = False
    sign: np.ndarray | None = None
    #: complex cases (dtype "complex128"): ``x``, ``b``, ``expected`` and
    #: ``sign`` are complex; ``k`` bounds the real part, ``k_imag`` the
    #: imaginary part; the phase ``sign`` is compared within ``sign_k`` (real
    #: part) and ``sign_k_imag``, not exactly
    k_imag: np.ndarray | None = None
    sign_k: np.ndarray | None = None
    sign_k_imag: np.ndarray | None = None
    #: the losses group: cross_entropy's class indices (int64) or probabilities,
    #: binary_cross_entropy's labels (None for log_sigmoid), and the loss's
    #: keyword arguments (``reduction``, ``weight``/``pos_weight`` as float64
    #: arrays, ``label_smoothing``, ``ignore_index``)
    labels: np.ndarray | None = None
    loss: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_complex(self) -> bool:
        return self.dtype.startswith("complex")

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the call (``axis`` left out for "default")."""
        kw: dict[str, Any] = {}
        if self.axis != "default":
            kw["axis"] = self.axis
        if self.where is not None:
            kw["where"] = self.where
        if self.keepdims:
            kw["keepdims"] = True
        return kw


def _parts(d: dict, key: str) -> np.ndarray | None:
    """``d[key]`` (with ``d[key + "_imag"]`` where stored) as float64 or complex128."""
    if d.get(key) is None:
        return None
    re = np.asarray(_dec(d[key]), dtype=np.float64)
    if d.get(key + "_imag") is None:
        return re
    return _complex_parts(re, np.asarray(_dec(d[key + "_imag"]), dtype=np.float64))


def _real(d: dict, key: str) -> np.ndarray | None:
    return None if d.get(key) is None else np.asarray(_dec(d[key]), dtype=np.float64)


def _complex_parts(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    # re + 1j * im would turn an infinite imaginary part into a NaN real one
    out = np.empty(re.shape, dtype=np.complex128)
    out.real, out.imag = re, im
    return out


def _case(d: dict) -> Case:
    shape = tuple(d["shape"])
    if d["dtype"] == "bool":
        x = np.asarray(d["x"], dtype=bool).reshape(shape)
    else:
        x = _parts(d, "x").reshape(shape)  # type: ignore[union-attr]
    axis = d["axis"]
    if isinstance(axis, list):
        axis = tuple(axis)
    exp = _parts(d, "expected")
    assert exp is not None
    k = np.asarray(_dec(d["k"]), dtype=np.float64)
    where = None if d["where"] is None else np.asarray(d["where"], dtype=bool)
    if exp.size == 0:
        # an empty expected list loses its shape: rebuild it from the input
        exp = exp.reshape(_out_shape(shape, axis, d["func"], d["keepdims"]))
        k = k.reshape(exp.shape)
    return Case(
        id=d["id"], group=d["group"], func=d["func"], dtype=d["dtype"], x=x, axis=axis,
        where=where, keepdims=d["keepdims"], expected=exp, k=k, note=d.get("note", ""),
        printed=d.get("printed"),
        b=_parts(d, "b"), return_sign=d.get("return_sign", False), sign=_parts(d, "sign"),
        k_imag=_real(d, "k_imag"), sign_k=_real(d, "sign_k"), sign_k_imag=_real(d, "sign_k_imag"),
        labels=_labels(d), loss=_loss_kw(d),
    )  # fmt: skip


def _labels(d: dict) -> np.ndarray | None:
    if d.get("labels") is None:
        return None
    dtype = np.int64 if d["labels_kind"] == "index" else np.float64
    return np.asarray(_dec(d["labels"]), dtype=dtype).reshape(tuple(d["labels_shape"]))


def _loss_kw(d: dict) -> dict[str, Any]:
    return {k: (np.asarray(_dec(v), dtype=np.float64) if isinstance(v, list) else v)
            for k, v in d.get("loss", {}).items()}  # fmt: skip


def _out_shape(shape: tuple[int, ...], axis: Any, func: str, keepdims: bool) -> tuple[int, ...]:
    if func not in ("logsumexp", "logmeanexp"):
        return shape
    nd = len(shape)
    if axis == "default":
        axis = -1
    if axis is None:
        axes = set(range(nd))
    elif isinstance(axis, tuple):
        axes = {a % nd for a in axis}
    else:
        axes = {axis % nd} if nd else set()
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


@functools.lru_cache(maxsize=1)
def catalogue() -> dict:
    """The raw catalogue (shipped in the wheel as package data)."""
    text = resources.files("xpsoftmax.conformance").joinpath("data", "cases.json").read_text()
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def stored_cases() -> tuple[Case, ...]:
    """Every case of the catalogue with an mpmath reference."""
    return tuple(_case(d) for d in catalogue()["cases"])


@functools.lru_cache(maxsize=1)
def property_references() -> dict:
    """The mpmath references of the property checks (``data/properties.json``,
    written beside the catalogue by the same generator): no mpmath at run time."""
    text = resources.files("xpsoftmax.conformance").joinpath("data", "properties.json").read_text()
    return dict(json.loads(text))


def errata() -> list[dict]:
    """The seed documents' printed values checked against mpmath by the generator."""
    return list(catalogue()["errata"])


# -- accuracy sets --------------------------------------------------------------------
def accuracy_sets() -> list[dict]:
    return list(catalogue()["accuracy"]["sets"])


def accuracy_dtypes() -> list[str]:
    return list(catalogue()["accuracy"]["dtypes"])


def round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` rounded to ``dtype`` and back to float64 (bfloat16 via ml_dtypes)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return values.astype(ml_dtypes.bfloat16).astype(np.float64)
    return values.astype(dtype).astype(np.float64)


def has_dtype(dtype: str) -> bool:
    if dtype != "bfloat16":
        return True
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def accuracy_input(name: str, dtype: str) -> np.ndarray:
    spec = next(s for s in accuracy_sets() if s["name"] == name)
    rng = np.random.Generator(np.random.PCG64(spec["seed"]))
    shape = tuple(spec["shape"])
    if spec["dist"] == "normal":
        raw = rng.normal(0.0, spec["scale"], size=shape)
    else:
        raw = rng.uniform(-spec["scale"], spec["scale"], size=shape)
    return round_to(raw, dtype)


def _high_reference(x: np.ndarray, func: str, wide: Any) -> tuple[np.ndarray, np.ndarray]:
    """(expected, k) over the last axis, computed in ``wide`` (float64 or longdouble).

    Uses the log1p form too, so the reference keeps the tiny log-probability
    deficit of dominant rows (plain ``log`` of the sum would lose it).
    """
    xw = x.astype(wide)
    m = np.max(xw, axis=-1, keepdims=True)
    z = xw - m
    e = np.exp(z)
    top = z == 0
    t = np.sum(np.where(top, 0, e), axis=-1, keepdims=True) + (np.sum(top, -1, keepdims=True) - 1)
    big_l = np.log1p(t)
    n = x.shape[-1]
    # -inf entries contribute an exact 0: the bound's Z is over the others
    big_z = np.max(np.where(np.isfinite(z), np.abs(z), 0), axis=-1, keepdims=True)
    zf = np.abs(z).astype(np.float64)
    lf = big_l.astype(np.float64)
    bz = big_z.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if func == "softmax":
            y = e / (1 + t)
            k = zf + bz + n + 2
        elif func == "log_softmax":
            y = z - big_l
            yf = np.abs(y.astype(np.float64))
            k = np.where(yf == 0, 1.0, (zf + lf * (bz + n + 2)) / yf + 1)
        else:
            y = m + big_l
            yf = np.abs(y.astype(np.float64))
            k = np.where(yf == 0, 1.0, (np.abs(m).astype(np.float64) + lf * (bz + n + 2)) / yf + 1)
            y, k = y[..., 0], k[..., 0]
    return y.astype(np.float64), np.broadcast_to(k, y.shape).astype(np.float64)


def _wide_dtype(dtype: str) -> tuple[Any, str]:
    if dtype != "float64":
        return np.float64, "float64"
    if np.finfo(np.longdouble).nmant >= 63:
        return np.longdouble, f"np.longdouble ({np.finfo(np.longdouble).nmant + 1}-bit significand)"
    return None, "mpmath (longdouble is not wider than float64 here)"


@functools.lru_cache(maxsize=64)
def accuracy_case(name: str, dtype: str, func: str) -> Case:
    x = accuracy_input(name, dtype)
    wide, label = _wide_dtype(dtype)
    if wide is None:  # pragma: no cover - platforms without extended precision
        x = x[: max(1, 4096 // x.shape[-1])]
        import mpmath

        with mpmath.workdps(40):
            rows = [[mpmath.mpf(float(v)) for v in r] for r in x]
            lse = [mpmath.log(mpmath.fsum(mpmath.exp(v) for v in r)) for r in rows]
        y, k = _high_reference(x, func, np.float64)
        if func == "logsumexp":
            y = np.array([float(v) for v in lse])
        elif func == "softmax":
            y = np.array(
                [[float(mpmath.exp(v - s)) for v in r] for r, s in zip(rows, lse, strict=True)]
            )
        else:
            y = np.array([[float(v - s) for v in r] for r, s in zip(rows, lse, strict=True)])
    else:
        y, k = _high_reference(x, func, wide)
    return Case(
        id=f"{name} {dtype}/{func}", group="accuracy", func=func, dtype=dtype, x=x, axis=-1,
        where=None, keepdims=False, expected=y, k=k, reference=label,
    )  # fmt: skip


def _has_mpmath() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpmath") is not None


def unchecked_accuracy(dtypes: list[str] | None = None) -> dict[str, str]:
    """dtype -> why its accuracy sets cannot run here (they are left out, and
    the commands say so): bfloat16 needs ml_dtypes; float64 needs a wider
    ``np.longdouble`` or, where there is none, mpmath for its references."""
    out = {}
    for d in accuracy_dtypes():
        if dtypes is not None and d not in dtypes:
            continue
        if not has_dtype(d):
            out[d] = "ml_dtypes is not installed (it gives NumPy a bfloat16)"
        elif _wide_dtype(d)[0] is None and not _has_mpmath():
            out[d] = "np.longdouble is not wider than float64 here and mpmath is not installed"
    return out


def accuracy_cases(dtypes: list[str] | None = None) -> list[Case]:
    chosen = [d for d in accuracy_dtypes() if dtypes is None or d in dtypes]
    skipped = unchecked_accuracy(dtypes)
    return [
        accuracy_case(s["name"], d, f)
        for d in chosen
        if d not in skipped
        for s in accuracy_sets()
        for f in FUNCS
    ]


def all_cases(dtypes: list[str] | None = None, groups: list[str] | None = None) -> list[Case]:
    """Stored and accuracy cases, optionally only some dtypes/groups."""
    out = [c for c in stored_cases() if dtypes is None or c.dtype in dtypes]
    if groups is None or "accuracy" in groups:
        out += accuracy_cases(dtypes)
    if groups is not None:
        out = [c for c in out if c.group in groups]
    return out


# -- the comparison -------------------------------------------------------------------
_UNIT = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def numpy_dtype(name: str) -> Any:
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def ulps(actual: np.ndarray, expected: np.ndarray, out_dtype: str) -> np.ndarray:
    """|actual - expected| in ulps of ``out_dtype`` (units of the smallest normal below it).

    NaN matches NaN and an infinity the same infinity (0 ulps); a special
    value on one side only is ``inf`` ulps.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    with np.errstate(over="ignore"):
        # beyond the output dtype's range the correctly rounded answer is +-inf
        rounded = e.astype(numpy_dtype(out_dtype)).astype(np.float64)
    e = np.where(np.isinf(rounded), rounded, e)
    u = _UNIT[out_dtype]
    tiny = float(np.finfo(np.float32 if out_dtype == "bfloat16" else out_dtype).tiny)
    # ulp of a binary float at |e|: 2^floor(log2|e|) * 2u (one spacing)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.maximum(np.abs(e), tiny)
        spacing = np.exp2(np.floor(np.log2(mag))) * (2 * u)
        # below the smallest normal the unit is the smallest normal itself:
        # a subnormal flushed to zero (XLA on CPU) counts at most 1
        spacing = np.where(np.abs(e) < tiny, tiny, spacing)
        err = np.abs(a - e) / spacing
    same = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def tolerance(k: np.ndarray, out_dtype: str) -> np.ndarray:
    """Allowed ulps of ``out_dtype`` for bound factor ``k`` (see the module docstring)."""
    # k is finite by construction except at special values, compared exactly
    k = np.minimum(np.where(np.isfinite(k), k, 1.0), 1e300)
    if out_dtype in ("float16", "bfloat16"):
        return 0.5 + REFERENCE_ULPS + ULPS_PER_K * k * (_UNIT["float32"] / _UNIT[out_dtype])
    return REFERENCE_ULPS + ULPS_PER_K * k


def describe_reference() -> str:
    return (
        "stored cases: mpmath at 50 digits; accuracy sets: float64 for 16/32-bit inputs, "
        + _wide_dtype("float64")[1]
        + " for float64 inputs"
    )


__all__ = [
    "FUNCS",
    "GROUPS",
    "Case",
    "accuracy_cases",
    "all_cases",
    "errata",
    "stored_cases",
    "tolerance",
    "ulps",
]
