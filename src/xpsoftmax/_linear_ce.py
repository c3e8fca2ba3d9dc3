"""Fused linear + cross-entropy, chunk by chunk, without the (N, V) logits.

The portable algorithm behind :func:`xpsoftmax.linear_cross_entropy`: written
against the Python array API standard, it receives the namespace ``xp``
through a :class:`ChunkOps` object (which adapters subclass to reuse buffers
in place) and imports no array library.

The loss of sample ``i`` with logits ``z = x_i @ W.T + b`` (``V`` classes) is
torch's ``cross_entropy`` with class weights ``w``, label smoothing ``eps``
and either a class index ``y`` or class probabilities ``tau``::

    loss_i = (1 - eps) * H_i + eps / K * S_i
    H_i    = w_y * (lse - z_y)                 (index target)
           = sum_c tau_c * w_c * (lse - z_c)   (probability target)
    S_i    = sum_{c in F} w_c * (lse - z_c)

where ``F`` are the classes with finite logits (in a linear layer with
finite ``x`` and ``W``: those whose bias is finite) and ``K = |F|``; a
probability of 0 on a ``-inf`` logit contributes 0.

Accuracy.  No rounded log-sum-exp is ever formed: a row keeps the pair
``(m, t)`` with ``m`` its largest logit and ``t`` the sum of
``exp(z_c - m)`` over every class but one maximal one, so
``lse - m = log1p(t)`` and ``lse - z_y = (m - z_y) + log1p(t)`` adds two
non-negative terms (Blanchard, Higham & Higham 2021).  The target's own
gradient ``p_y - 1`` is ``expm1(-(lse - z_y))``, exact where ``p_y`` is
near 1.  Vocabulary chunks combine their pairs with the online-softmax
rescaling, which keeps the form (every term stays non-negative).

Chunks.  Either rows of the batch (every class of a row in one chunk: the
loss and all gradients in one pass, three matrix products) or classes (the
row statistics first, then a second pass for the gradients: four matrix
products); :func:`plan` picks from the shapes only, so the chunk count
never depends on values and traced sizes never need a guard.  The weight
gradient accumulates in the compute dtype (float32 for 16-bit inputs).

There is no Python control flow on array values: the module traces under
``jax.jit`` and runs lazily on Dask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Array = Any

#: the most bytes of one chunk of logits (and of its gradient, computed in
#: place), and the share of all the logits' bytes a chunk may take: the
#: unfused computation holds the logits three times over (the logits, their
#: log-softmax, its gradient), so a chunk of an eighth keeps the peak under a
#: tenth of it.  Measured on torch, (2048, 512, 131072) float32: chunks of
#: 64 rows (32 MiB) took 1.45x the unfused time, 128 rows (64 MiB) 1.06x
#: (the weight gradient's read-modify-write per chunk), vocabulary chunks
#: 1.74x (a fourth product)
CHUNK_BYTES = 64 << 20
CHUNK_SHARE = 8
#: below this a chunk is not cut smaller (many small products cost more
#: in calls than the memory they save)
MIN_CHUNK_BYTES = 16 << 20
#: fewer rows than this per chunk make the weight gradient's product
#: (inner dimension = the rows) and its read-modify-write of the whole
#: (V, D) accumulator per chunk the bottleneck: chunk the vocabulary instead
MIN_ROWS = 64


@dataclass(frozen=True)
class Plan:
    """How the logits are cut: ``by`` "rows" or "vocab", ``size`` per chunk."""

    by: str
    size: int

    def spans(self, total: int) -> list[tuple[int, int]]:
        """``[(start, stop), ...]`` covering ``range(total)``, the last one shorter."""
        step = max(1, self.size)
        return [(s, min(s + step, total)) for s in range(0, total, step)] or [(0, 0)]


def plan(
    n: int,
    v: int,
    itemsize: int,
    chunk_size: Any = None,
    *,
    most: int = CHUNK_BYTES,
    share: int = CHUNK_SHARE,
    min_rows: int = MIN_ROWS,
) -> Plan:
    """The chunking of an (n, v) logits matrix of ``itemsize``-byte numbers.

    ``chunk_size`` None picks by shape: chunks of at most
    :data:`CHUNK_BYTES` and a :data:`CHUNK_SHARE`-th of the logits (but not
    under :data:`MIN_CHUNK_BYTES`); rows
    while that holds at least :data:`MIN_ROWS` (or every row), else
    vocabulary chunks (``most``, ``share``, ``min_rows``: a backend's own
    bounds).  An int is rows per chunk; ``("rows", k)`` or ``("vocab", k)``
    names the cut.
    """
    if chunk_size is not None:
        by, size = ("rows", chunk_size) if isinstance(chunk_size, int) else chunk_size
        return Plan(by, int(size))
    budget = max(MIN_CHUNK_BYTES, min(most, n * v * itemsize // share))
    rows = budget // max(1, v * itemsize)
    if rows >= min(n, min_rows):
        return Plan("rows", max(1, min(n, rows)))
    cols = budget // max(1, n * itemsize)
    return Plan("vocab", max(1, min(v, cols)))


class ChunkOps:
    """The hooks an adapter may override; the defaults use the standard only.

    Methods whose names end in ``_`` receive a buffer this module allocated
    (a chunk of logits, never the caller's input) and may overwrite it; the
    defaults return new arrays, as immutable backends (JAX) need.
    """

    def __init__(self, xp: Any, exp: Any = None) -> None:
        self.xp = xp
        #: the backend's exp (:meth:`Backend.ops`) where its namespace's is
        #: not accurate (MLX's ``mx.exp`` is float32-accurate on float64);
        #: None: ``xp.exp``
        self._exp = exp

    # -- products ----------------------------------------------------------------------
    def logits(self, x: Array, w: Array, b: Array | None) -> Array:
        """``x @ w.T + b``: a fresh chunk (an adapter may hand out a reused buffer)."""
        z = self.xp.matmul(x, self.xp.matrix_transpose(w))
        return z if b is None else z + b

    def matmul(self, a: Array, b: Array) -> Array:
        return self.xp.matmul(a, b)

    def add_matmul(self, acc: Array | None, a: Array, b: Array) -> Array:
        """``acc + a @ b`` (``a @ b`` where acc is None); may update acc in place."""
        p = self.xp.matmul(a, b)
        return p if acc is None else acc + p

    def add_tmatmul(self, acc: Array | None, a: Array, b: Array) -> Array:
        """``acc + a.T @ b`` (``a.T @ b`` where acc is None); may update acc in place."""
        return self.add_matmul(acc, self.xp.matrix_transpose(a), b)

    def add_colsum(self, acc: Array | None, a: Array) -> Array:
        s = self.xp.sum(a, axis=0)
        return s if acc is None else acc + s

    # -- rows of a chunk ---------------------------------------------------------------
    def row_amax(self, z: Array) -> Array:
        return self.xp.max(z, axis=1)

    def row_max(self, z: Array) -> tuple[Array, Array]:
        """(max, the column of one maximal entry) of every row."""
        xp = self.xp
        return xp.max(z, axis=1), xp.argmax(z, axis=1)

    def sub_(self, z: Array, shift: Array) -> Array:
        """``z - shift[:, None]``."""
        return z - shift[:, None]

    def exp(self, a: Array) -> Array:
        return self.xp.exp(a) if self._exp is None else self._exp(a)

    def exp_(self, z: Array) -> Array:
        return self.exp(z)

    def sum_except_(self, e: Array, cols: Array) -> Array:
        """Per row, the sum of ``e`` without its entry at ``cols``; e unchanged."""
        xp = self.xp
        grid = xp.arange(e.shape[1], dtype=cols.dtype, device=_device(e))
        hit = grid[None, :] == cols[:, None]
        return xp.sum(xp.where(hit, xp.zeros_like(e), e), axis=1)

    def take_cols(self, a: Array, cols: Array) -> Array:
        """``a[i, cols[i]]`` per row; a column outside the chunk gives 0."""
        xp = self.xp
        n, v = a.shape
        inside = (cols >= 0) & (cols < v)
        safe = xp.where(inside, cols, xp.zeros_like(cols))
        rows = xp.arange(n, dtype=safe.dtype, device=_device(a))
        got = xp.take(xp.reshape(a, (-1,)), rows * v + safe, axis=0)
        return xp.where(inside, got, xp.zeros_like(got))

    def put_cols_(self, a: Array, cols: Array, values: Array) -> Array:
        """``a[i, cols[i]] = values[i]`` where that column is in the chunk."""
        xp = self.xp
        grid = xp.arange(a.shape[1], dtype=cols.dtype, device=_device(a))
        hit = grid[None, :] == cols[:, None]
        return xp.where(hit, values[:, None], a)

    def scale_rows_(self, a: Array, s: Array) -> Array:
        return a * s[:, None]

    def sub_outer_(self, a: Array, u: Array, v: Array) -> Array:
        """``a - u[:, None] * v[None, :]``."""
        return a - u[:, None] * v[None, :]

    def weighted_row_sum(self, a: Array, w: Array | None, floor: float | None) -> Array:
        """``sum_c w_c * max(a_c, floor)`` per row (w None: ones; floor None:
        no clamp): a ``-inf`` logit of a class whose weight is 0 adds 0."""
        xp = self.xp
        if floor is not None:
            a = xp.maximum(a, xp.asarray(floor, dtype=a.dtype, device=_device(a)))
        if w is None:
            return xp.sum(a, axis=1)
        return xp.matmul(a, w)

    def guarded_row_sum(self, a: Array, tw: Array) -> Array:
        """``sum_c tw_c * a_c`` per row with 0 where ``tw_c`` is 0 (even if
        ``a_c`` is infinite): the probability-target term."""
        xp = self.xp
        return xp.sum(tw * xp.where(tw != 0, a, xp.zeros_like(a)), axis=1)

    # -- assembling results ------------------------------------------------------------
    def rows_writer(self, shape: tuple[int, ...], dtype: Any, like: Array) -> RowsWriter:
        """Where a result's row blocks go (an adapter preallocates and writes)."""
        return RowsWriter(self.xp)


class RowsWriter:
    """Collects row blocks ``[start:stop]`` of a result in order; the default
    concatenates them at the end, an adapter writes into one buffer."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.parts: list[Array] = []

    def set(self, start: int, stop: int, value: Array) -> None:
        self.parts.append(value)

    def result(self) -> Array:
        if len(self.parts) == 1:
            return self.parts[0]
        return self.xp.concat(self.parts, axis=0)


def _device(a: Array) -> Any:
    return getattr(a, "device", None)


# -- the problem -------------------------------------------------------------------------
@dataclass
class Problem:
    """One validated call, in the compute dtype.

    ``target`` holds class indices (int, shape (N,)) or, where ``probs``,
    probabilities of shape (N, V).  ``live`` (bool (N,) or None: all) are the
    samples that count (not masked by where=, not ignore_index).
    ``class_weight`` (V,) or None.  ``finite`` (bool (V,) or None: all) are
    the classes whose logits can be finite (the finite biases).
    """

    x: Array
    w: Array
    b: Array | None
    target: Array
    probs: bool
    class_weight: Array | None
    live: Array | None
    eps: float
    finite: Array | None
    #: ``int`` N, V of the problem (Dask blocks know theirs)
    n: int
    v: int
    #: the dtype of the per-row arithmetic (O(N) work: the losses from the
    #: statistics, the gradient's row coefficients, the reduction): float64
    #: for float32 input where the backend has it, so that the result takes
    #: one rounding there; None: the compute dtype
    row_dtype: Any = None


@dataclass
class Consts:
    """Per-sample and per-class constants of a problem (no logits needed),
    in the row dtype (``wfin``, used on chunks, in the compute dtype)."""

    #: index targets: the class index, 0 where the sample does not count
    y: Array
    #: index targets: the weight of the target class (0 for dead samples)
    wy: Array
    #: live samples as 0/1
    livef: Array
    #: index targets: counted samples whose class index is outside [0, V)
    #: (only traced or lazy calls get here unchecked): NaN loss and gradient
    bad: Array
    #: label smoothing: the weights of the classes in F (None: ones), K, sum of those
    wfin: Array
    k: Array
    wf: Array
    #: the mean's divisor: the summed target weights of the samples that
    #: count (index targets), their number (probability targets)
    denominator: Array


def constants(p: Problem, ops: ChunkOps) -> Consts:
    """The per-sample and per-class constants, and the mean's denominator."""
    xp = ops.xp
    rdt = row_dtype(p)
    dev = _device(p.x)
    n = p.n
    live = p.live if p.live is not None else xp.ones((n,), dtype=xp.bool, device=dev)
    livef = xp.astype(live, rdt)
    y = wy = bad = None
    if p.probs:
        denominator = xp.sum(livef)
    else:
        bad = live & ((p.target < 0) | (p.target >= p.v))
        live = live & ~bad
        y = xp.where(live, p.target, xp.zeros_like(p.target))
        if p.class_weight is None:
            wy = livef
        else:
            wt = xp.astype(xp.take(p.class_weight, y, axis=0), rdt)
            wy = xp.where(live, wt, xp.zeros_like(livef))
        denominator = xp.sum(wy)
    wfin = k = wf = None
    if p.eps:
        fin = p.finite
        if fin is None:
            wfin = p.class_weight
            k = xp.asarray(float(p.v), dtype=rdt, device=dev)
        else:
            finf = xp.astype(fin, p.x.dtype)
            k = xp.sum(xp.astype(fin, rdt))
            wfin = finf if p.class_weight is None else finf * p.class_weight
        wf = k if wfin is None else xp.sum(xp.astype(wfin, rdt))
    return Consts(y, wy, livef, bad, wfin, k, wf, denominator)


def row_dtype(p: Problem) -> Any:
    return p.x.dtype if p.row_dtype is None else p.row_dtype


def _rows(st: Stats, rdt: Any, ops: ChunkOps) -> Stats:
    """The statistics in the row dtype."""
    xp = ops.xp

    def up(a: Array | None) -> Array | None:
        return a if a is None or a.dtype == rdt else xp.astype(a, rdt)

    return Stats(up(st.m), up(st.t), up(st.zy), up(st.s), up(st.h), up(st.tw))


# -- per-row statistics ---------------------------------------------------------------------
@dataclass
class Stats:
    """Per-row statistics of (a column range of) the logits.

    ``m`` the largest logit, ``t`` the sum of exp(z - m) over the classes but
    one maximal one (so lse = m + log1p(t)); index targets: ``zy`` the
    target's logit (0 where the target is outside the range); smoothing:
    ``s`` = sum over F of w_c (m - z_c); probability targets: ``h`` = sum of
    tau_c w_c (m - z_c) and ``tw`` = sum of tau_c w_c.
    """

    m: Array
    t: Array
    zy: Array = None
    s: Array = None
    h: Array = None
    tw: Array = None


def _shift(m: Array, ops: ChunkOps) -> Array:
    """The row max where finite, else 0 (no inf - inf)."""
    xp = ops.xp
    return xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def _tau_w(p: Problem, rows: tuple[int, int], cols: tuple[int, int], ops: ChunkOps) -> Array:
    """tau * w of a chunk (probability targets), dead rows zeroed."""
    xp = ops.xp
    (r0, r1), (c0, c1) = rows, cols
    tau = p.target[r0:r1, c0:c1]
    if p.class_weight is not None:
        tau = tau * p.class_weight[c0:c1]
    if p.live is not None:
        tau = xp.where(p.live[r0:r1, None], tau, xp.zeros_like(tau))
    return tau


def _floor(p: Problem, ops: ChunkOps) -> float | None:
    """The clamp that keeps ``0 * -inf`` out of weighted sums: only a bias
    can make a logit -inf."""
    return None if p.b is None else -float(ops.xp.finfo(p.x.dtype).max)


def chunk_stats(
    p: Problem, c: Consts, rows: tuple[int, int], cols: tuple[int, int], ops: ChunkOps
) -> tuple[Stats, Array]:
    """The statistics of one chunk of logits, and ``exp(z - shift)`` of it
    (in the chunk's own buffer, an adapter's reused one)."""
    xp = ops.xp
    (r0, r1), (c0, c1) = rows, cols
    b = None if p.b is None else p.b[c0:c1]
    z = ops.logits(p.x[r0:r1, ...], p.w[c0:c1, ...], b)
    # index targets over whole rows leave out the target's term rather than
    # a maximal one's (no argmax pass): where the target is a maximum that is
    # the same; elsewhere lse - z_y >= log 2 - (its rounding), so t = (sum
    # without the target) - 1 + e_y, exact to a few ulps of 1 + t, is as good
    by_target = c.y is not None and (c0, c1) == (0, p.v)
    if by_target:
        m, kmax = ops.row_amax(z), c.y[r0:r1]
    else:
        m, kmax = ops.row_max(z)
    shift = _shift(m, ops)
    zy = None if c.y is None else ops.take_cols(z, c.y[r0:r1] - c0)
    zs = ops.sub_(z, shift)
    s = h = tw = None
    if p.eps:
        wfin = None if c.wfin is None else c.wfin[c0:c1]
        s = -ops.weighted_row_sum(zs, wfin, _floor(p, ops))
    if p.probs:
        tau_w = _tau_w(p, rows, cols, ops)
        h = -ops.guarded_row_sum(zs, tau_w)
        tw = xp.sum(tau_w, axis=1)
    e = ops.exp_(zs)
    t = ops.sum_except_(e, kmax)
    if by_target:
        assert zy is not None
        top = zy == m
        t = xp.where(top, t, (t - 1.0) + ops.exp(xp.where(top, xp.zeros_like(zy), zy - shift)))
    return Stats(m, t, zy, s, h, tw), e


def combine(a: Stats, b: Stats, wf_a: Any, wf_b: Any, ops: ChunkOps) -> Stats:
    """The statistics of two column ranges of the same rows (the
    online-softmax rescaling); ``wf_a``, ``wf_b``: each range's sum of the
    smoothing weights.  Every term added is non-negative."""
    xp = ops.xp
    m = xp.maximum(a.m, b.m)
    da, db = _gap(m, a.m, ops), _gap(m, b.m, ops)
    # the part holding the max keeps its t; the other's whole sum, scaled by
    # exp(-gap) <= 1, joins it (a tie adds that part's 1 for its max)
    t = xp.where(a.m >= b.m, a.t + (b.t + 1.0) * ops.exp(-db), b.t + (a.t + 1.0) * ops.exp(-da))
    zy = None if a.zy is None or b.zy is None else a.zy + b.zy
    s = h = tw = None
    if a.s is not None and b.s is not None:
        s = a.s + b.s + _weighted_gap(wf_a, da, ops) + _weighted_gap(wf_b, db, ops)
    if a.h is not None and b.h is not None and a.tw is not None and b.tw is not None:
        h = a.h + b.h + _weighted_gap(a.tw, da, ops) + _weighted_gap(b.tw, db, ops)
        tw = a.tw + b.tw
    return Stats(m, t, zy, s, h, tw)


def _gap(m: Array, part: Array, ops: ChunkOps) -> Array:
    """``m - part`` (>= 0): +inf where the part is all -inf and m is not, 0
    where both are (no inf - inf)."""
    xp = ops.xp
    return xp.where(part == m, xp.zeros_like(m), m - part)


def _weighted_gap(w: Any, gap: Array, ops: ChunkOps) -> Array:
    """``w * gap`` with 0 where the weight is 0 (an all -inf part's gap is inf)."""
    xp = ops.xp
    return w * xp.where(w != 0, gap, xp.zeros_like(gap))


# -- losses and gradients from the statistics ------------------------------------------------
def row_losses(p: Problem, c: Consts, st: Stats, rows: tuple[int, int], ops: ChunkOps) -> Array:
    """The loss of each row of ``rows``; 0 for samples that do not count."""
    xp = ops.xp
    r0, r1 = rows
    st = _rows(st, row_dtype(p), ops)
    lnorm = xp.log1p(st.t)  # lse - m
    if p.probs:
        h = st.h + st.tw * lnorm
    else:
        h = c.wy[r0:r1] * ((st.m - st.zy) + lnorm)
    loss = h
    if p.eps:
        smooth = (st.s + c.wf * lnorm) / xp.where(c.k > 0, c.k, xp.ones_like(c.k))
        loss = (1.0 - p.eps) * h + p.eps * smooth
    loss = xp.where(c.livef[r0:r1] != 0, loss, xp.zeros_like(loss))
    if c.bad is not None:
        loss = xp.where(c.bad[r0:r1], xp.full_like(loss, math.nan), loss)
    return loss


def grad_chunk_(
    e: Array,
    p: Problem,
    c: Consts,
    st: Stats,
    g: Array,
    rows: tuple[int, int],
    cols: tuple[int, int],
    ops: ChunkOps,
) -> Array:
    """d(sum_i g_i loss_i)/dz of one chunk, in place of its ``e = exp(z - m)``.

    ``st`` are the rows' statistics over *all* classes, ``g`` the rows'
    weights of their losses (0 for samples that do not count).
    """
    xp = ops.xp
    (r0, r1), (c0, c1) = rows, cols
    eps = p.eps
    cdt = e.dtype
    st = _rows(st, row_dtype(p), ops)
    lnorm = xp.log1p(st.t)
    weight = st.tw if p.probs else c.wy[r0:r1]
    a = (1.0 - eps) * weight
    ek = None
    if eps:
        ek = eps / xp.where(c.k > 0, c.k, xp.ones_like(c.k))
        a = a + ek * c.wf
    # p_c = e_c / (1 + t): every class's share of the coefficient a
    dz = ops.scale_rows_(e, xp.astype(g * a / (1.0 + st.t), cdt))
    if eps:
        wfin = None if c.wfin is None else c.wfin[c0:c1]
        if wfin is None:
            wfin = xp.ones((c1 - c0,), dtype=cdt, device=_device(e))
        dz = ops.sub_outer_(dz, xp.astype(g * ek, cdt), wfin)
    if p.probs:
        scale = xp.astype(g * (1.0 - eps), cdt)
        dz = dz - scale[:, None] * _tau_w(p, rows, cols, ops)
    else:
        # the target's own entry: (1 - eps) w_y (p_y - 1) with p_y - 1 =
        # expm1(-(lse - z_y)), exact where p_y is near 1
        nll = (st.m - st.zy) + lnorm
        val = (1.0 - eps) * weight * xp.expm1(-nll)
        if eps:
            val = val + ek * (c.wf * ops.exp(-nll) - weight)
        dz = ops.put_cols_(dz, c.y[r0:r1] - c0, xp.astype(g * val, cdt))
    return dz


# -- the drivers ------------------------------------------------------------------------------
@dataclass
class Needs:
    """Which gradients to compute."""

    x: bool = True
    w: bool = True
    b: bool = True

    @property
    def any(self) -> bool:
        return self.x or self.w or self.b


@dataclass
class Grads:
    x: Array | None
    w: Array | None
    b: Array | None


def _all(n: int) -> tuple[int, int]:
    return (0, n)


def forward(p: Problem, c: Consts, pl: Plan, ops: ChunkOps) -> tuple[Array, Stats | None]:
    """Per-row losses (0 for samples that do not count) and, for vocabulary
    chunks, the rows' statistics the gradient pass needs (row chunks
    recompute their own)."""
    if pl.by == "rows":
        losses = ops.rows_writer((p.n,), row_dtype(p), p.x)
        for rows in pl.spans(p.n):
            st, _ = chunk_stats(p, c, rows, _all(p.v), ops)
            losses.set(*rows, row_losses(p, c, st, rows, ops))
        return losses.result(), None
    st = vocab_stats(p, c, pl, ops)
    return row_losses(p, c, st, _all(p.n), ops), st


def vocab_stats(p: Problem, c: Consts, pl: Plan, ops: ChunkOps) -> Stats:
    """Every row's statistics, from vocabulary chunks combined in order."""
    xp = ops.xp
    total: Stats | None = None
    wf_total: Any = None
    for cols in pl.spans(p.v):
        st, _ = chunk_stats(p, c, _all(p.n), cols, ops)
        wf = None
        if p.eps:  # the chunk's share of the smoothing weights
            c0, c1 = cols
            if c.wfin is None:
                wf = xp.asarray(float(c1 - c0), dtype=p.x.dtype, device=_device(p.x))
            else:
                wf = xp.sum(c.wfin[c0:c1])
        if total is None:
            total, wf_total = st, wf
        else:
            total = combine(total, st, wf_total, wf, ops)
            wf_total = None if wf is None else wf_total + wf
    assert total is not None
    return total


def backward(
    p: Problem, c: Consts, st: Stats | None, g: Array, pl: Plan, ops: ChunkOps, needs: Needs
) -> Grads:
    """The gradients of sum_i g_i loss_i, recomputing each chunk's logits
    (``st``: the vocabulary chunks' saved statistics, None to recompute them
    too; row chunks recompute their own)."""
    if pl.by == "rows":
        return _row_pass(p, c, g, pl, ops, needs, with_losses=False)[1]
    if st is None:
        st = vocab_stats(p, c, pl, ops)
    return _vocab_grads(p, c, st, g, pl, ops, needs)


def value_and_grad(
    p: Problem, c: Consts, g: Array, pl: Plan, ops: ChunkOps, needs: Needs
) -> tuple[Array, Grads]:
    """Per-row losses and the gradients of sum_i g_i loss_i, ``g`` known up
    front (a scalar reduction's): one pass over row chunks (three matrix
    products), or the statistics pass then the gradient pass over
    vocabulary chunks (four)."""
    if pl.by == "rows":
        losses, grads = _row_pass(p, c, g, pl, ops, needs, with_losses=True)
        assert losses is not None
        return losses, grads
    losses, st = forward(p, c, pl, ops)
    assert st is not None
    return losses, _vocab_grads(p, c, st, g, pl, ops, needs)


def _row_pass(
    p: Problem, c: Consts, g: Array, pl: Plan, ops: ChunkOps, needs: Needs, with_losses: bool
) -> tuple[Array | None, Grads]:
    """Row chunks: each chunk's statistics, its losses (if asked) and its
    gradient contributions."""
    losses = ops.rows_writer((p.n,), row_dtype(p), p.x) if with_losses else None
    dx = ops.rows_writer((p.n, p.x.shape[1]), p.x.dtype, p.x) if needs.x else None
    dw = db = None
    for rows in pl.spans(p.n):
        r0, r1 = rows
        st, e = chunk_stats(p, c, rows, _all(p.v), ops)
        if losses is not None:
            losses.set(r0, r1, row_losses(p, c, st, rows, ops))
        dz = grad_chunk_(e, p, c, st, g[r0:r1], rows, _all(p.v), ops)
        if dx is not None:
            dx.set(r0, r1, ops.matmul(dz, p.w))
        if needs.w:
            dw = ops.add_tmatmul(dw, dz, p.x[r0:r1, ...])
        if needs.b and p.b is not None:
            db = ops.add_colsum(db, dz)
    dx_out = None if dx is None else dx.result()
    return (None if losses is None else losses.result()), Grads(dx_out, dw, db)


def _vocab_grads(
    p: Problem, c: Consts, st: Stats, g: Array, pl: Plan, ops: ChunkOps, needs: Needs
) -> Grads:
    """Vocabulary chunks: each chunk's logits again, shifted by the rows' max."""
    xp = ops.xp
    dx = None
    dw = ops.rows_writer((p.v, p.x.shape[1]), p.x.dtype, p.x) if needs.w else None
    db = ops.rows_writer((p.v,), p.x.dtype, p.x) if needs.b and p.b is not None else None
    shift = _shift(st.m, ops)
    for cols in pl.spans(p.v):
        c0, c1 = cols
        b = None if p.b is None else p.b[c0:c1]
        z = ops.logits(p.x, p.w[c0:c1, ...], b)
        e = ops.exp_(ops.sub_(z, shift))
        dz = grad_chunk_(e, p, c, st, g, _all(p.n), cols, ops)
        if needs.x:
            dx = ops.add_matmul(dx, dz, p.w[c0:c1, ...])
        if dw is not None:
            dw.set(c0, c1, ops.matmul(xp.matrix_transpose(dz), p.x))
        if db is not None:
            db.set(c0, c1, xp.sum(dz, axis=0))
    return Grads(dx, None if dw is None else dw.result(), None if db is None else db.result())


def reduce(losses: Array, c: Consts, reduction: str, dtype: Any, ops: ChunkOps) -> Array:
    """``none``: the per-row losses; ``sum``; ``mean``: over the summed
    weights of the samples that count, 0 where there are none; in ``dtype``."""
    xp = ops.xp
    out = losses
    if reduction != "none":
        out = xp.sum(losses)
    if reduction == "mean":
        den = c.denominator
        safe = xp.where(den != 0, den, xp.ones_like(den))
        out = xp.where(den != 0, out / safe, xp.zeros_like(den))
    return out if out.dtype == dtype else xp.astype(out, dtype)


def row_weights(c: Consts, reduction: str, grad_out: Any, ops: ChunkOps) -> Array:
    """``g``: d(result)/d(loss_i) times the result's cotangent ``grad_out``
    (a scalar, or per row for ``none``); 0 for samples that do not count."""
    xp = ops.xp
    live = c.livef
    if reduction == "none":
        g = xp.where(live != 0, grad_out * live, xp.zeros_like(live))
    else:
        scale = grad_out
        if reduction == "mean":
            den = c.denominator
            safe = xp.where(den != 0, den, xp.ones_like(den))
            scale = xp.where(den != 0, grad_out / safe, xp.zeros_like(den))
        g = live * scale
    if c.bad is not None:
        g = xp.where(c.bad, xp.full_like(g, math.nan), g)
    return g
