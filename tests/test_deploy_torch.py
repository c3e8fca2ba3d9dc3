"""Taking a torch model that uses xpsoftmax to production (issue 28).

One small model computes all four functions with ``impl="auto"``; it goes
through each deployment path once (module-scoped fixtures: exports are slow)
and every path's numbers are held to the mpmath references with the error
model of tests/reference.py, on rows that tell the log1p and expm1 forms
apart from their naive formulas (the top entry of log_softmax([0, -30, ...])
is -5 exp(-30), not 0; logmeanexp of small positive entries keeps its
relative accuracy):

* ``torch.export`` with a dynamic batch: no guard on it, the program saved,
  loaded in a fresh process that imports xpsoftmax before torch, run at
  another batch size; its decompositions to standard ops;
* ``torch.onnx.export``, both exporters, run by onnxruntime at another batch
  size; the exported program (holding the operators) through torch.onnx too;
* ``torch.compile(dynamic=True, fullgraph=True)`` at three batch sizes with
  backward, and as a fresh process's first xpsoftmax call.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import xpsoftmax as xs
from xpsoftmax.testing import assert_close

from reference import REFERENCES, cond, mp_logmeanexp

torch = pytest.importorskip("torch", reason="the torch deployment paths need torch")

FUNCS = ("softmax", "log_softmax", "logsumexp", "logmeanexp")
#: float32 rows of 6: a dominant one, small positive ones (logmeanexp's expm1
#: form), a tie at the maximum, then normal(0, 3)
N = 6
DOMINANT = [0.0, -30.0, -30.0, -30.0, -30.0, -30.0]
SMALL = [1e-3, 2e-3, 3e-3, 1e-3, 2e-3, 4e-3]


def _rows(batch: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 3, (batch, N)).astype(np.float32)
    x[0], x[1] = DOMINANT, SMALL
    x[2, :2] = x[2].max() + 1  # a tie at the maximum
    return x


class Model(torch.nn.Module):
    def forward(self, x):  # type: ignore[no-untyped-def]
        return tuple(getattr(xs, f)(x) for f in FUNCS)


def _check(outs, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Each output against mpmath, within the error model (2 ulps x condition)."""
    outs = [np.asarray(o.detach().numpy() if hasattr(o, "detach") else o) for o in outs]
    for func, out in zip(FUNCS[:3], outs[:3], strict=True):
        want = REFERENCES[func](x)
        assert_close(out, want, ulps=2, cond=cond(func, x), dtype=np.float32)
    # the dominant row's top log-probability is -t, t = 5 exp(-30), where
    # log(1 + t) gives 0: five exp roundings, four additions and log1p's
    # make at most 10 u (u = 2**-24) of relative error
    top = outs[1][0, 0]
    assert abs(top / -(5 * math.exp(-30)) - 1) <= 10 * 2.0**-24
    lme, want = outs[3], mp_logmeanexp(x)
    # each term's relative error (|x_i| + n + 2) u enters the mean with weight
    # exp(x_i - y) / n (tests/test_weights.py's bound)
    w = np.exp(x.astype(np.float64) - want[:, None]) / N
    bound = 4 * np.finfo(np.float32).eps / 2 * ((w * (np.abs(x) + N + 2)).sum(1) + np.abs(want))
    assert np.all(np.abs(lme - want) <= bound), (lme, want)
    # small positive entries: each expm1 and the sum within ulps, relative
    assert_close(lme[1], want[1], ulps=2, cond=N + 4, dtype=np.float32)


def _run(code: str) -> str:
    """Python code in a fresh process (this one's path and environment)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_eager_meets_the_bounds() -> None:
    # the references the paths below are held to hold for eager "auto"
    x = _rows(5, seed=1)
    _check(Model()(torch.from_numpy(x)), x)


# -- torch.export ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported():  # type: ignore[no-untyped-def]
    batch = torch.export.Dim("batch")
    return torch.export.export(
        Model(), (torch.from_numpy(_rows(4, seed=0)),), dynamic_shapes={"x": {0: batch}}
    )


def test_export_holds_for_every_batch_size(exported) -> None:  # type: ignore[no-untyped-def]
    # no guard on the batch (a size test would be one): its range is export's default
    (rng,) = exported.range_constraints.values()
    assert rng.lower <= 2 and not math.isfinite(float(rng.upper))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert {"xpsoftmax.log_softmax.default", "xpsoftmax.logsumexp.default"} <= targets
    for batch in (3, 9):
        x = _rows(batch, seed=batch)
        _check(exported.module()(torch.from_numpy(x)), x)


@pytest.mark.parametrize(
    "func,axis,small,large",
    [
        # softmax over dim 0: torch.softmax, or the operator from 16 MiB eager
        ("softmax", 0, (8, 1024), (4096, 1024)),
        # log_softmax: NumPy's small path, or torch's checked kernel from 512 KiB eager
        ("log_softmax", -1, (8, 16), (256, 1024)),
    ],
)
def test_export_graph_does_not_depend_on_the_example_size(func, axis, small, large) -> None:  # type: ignore[no-untyped-def]
    class One(torch.nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return getattr(xs, func)(x, axis=axis)

    graphs = []
    for shape in (small, large):
        # a dynamic batch: a size test on it is a guard, which export rejects
        dims = {"x": {0: torch.export.Dim("batch")}}
        ep = torch.export.export(One(), (torch.zeros(shape),), dynamic_shapes=dims)
        graphs.append(ep.graph_module.code)
        (rng,) = ep.range_constraints.values()
        assert not math.isfinite(float(rng.upper))
    assert graphs[0] == graphs[1]


def test_export_saved_loads_in_a_fresh_process(exported, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, xin = tmp_path / "model.pt2", tmp_path / "x.npy"
    torch.export.save(exported, path)
    x = _rows(7, seed=7)
    np.save(xin, x)
    # xpsoftmax imported before torch, which comes in with another library's
    # import: xpsoftmax's operators are defined inside that import
    code = (
        "import sys, numpy as np, xpsoftmax\n"
        "assert 'torch' not in sys.modules\n"
        "import array_api_compat.torch\n"
        "import torch\n"
        f"ep = torch.export.load({str(path)!r})\n"
        f"outs = ep.module()(torch.from_numpy(np.load({str(xin)!r})))\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, *[o.numpy() for o in outs])\n"
    )
    _run(code)
    with np.load(tmp_path / "out.npz") as got:
        _check([got[f"arr_{i}"] for i in range(len(FUNCS))], x)


def test_export_decomposes_to_standard_ops(exported) -> None:  # type: ignore[no-untyped-def]
    ops = torch.ops.xpsoftmax
    table = torch._decomp.get_decompositions([ops.softmax, ops.log_softmax, ops.logsumexp])
    assert len(table) == 3
    ep = exported.run_decompositions(table)
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert not [t for t in targets if "xpsoftmax" in t], targets
    x = _rows(5, seed=5)
    _check(ep.module()(torch.from_numpy(x)), x)


# -- ONNX -----------------------------------------------------------------------------
def _onnx_runs(model_bytes: bytes, *inputs: np.ndarray) -> list[np.ndarray]:
    ort = pytest.importorskip("onnxruntime", reason="ONNX models are run by onnxruntime")
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, inputs, strict=True)))


@pytest.fixture(scope="module")
def onnx_models(exported):  # type: ignore[no-untyped-def]
    """The model through each ONNX exporter, and the exported program through torch.onnx."""
    pytest.importorskip("onnx", reason="torch.onnx needs onnx")
    pytest.importorskip("onnxscript", reason="torch.onnx's exporter needs onnxscript")
    import io

    x = torch.from_numpy(_rows(4, seed=0))
    batch = torch.export.Dim("batch")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's
        warnings.simplefilter("error", torch.jit.TracerWarning)  # a size read while tracing
        buf = io.BytesIO()
        torch.onnx.export(Model().eval(), (x,), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})  # fmt: skip
        out["torchscript"] = buf.getvalue()
    out["dynamo"] = torch.onnx.export(
        Model().eval(), (x,), dynamo=True, dynamic_shapes={"x": {0: batch}}, verbose=False
    ).model_proto.SerializeToString()
    # the operators, decomposed by torch.onnx with their registered decompositions
    out["exported program"] = torch.onnx.export(
        exported, dynamo=True, verbose=False
    ).model_proto.SerializeToString()
    return out


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo", "exported program"])
def test_onnx_runs_in_onnxruntime(onnx_models, exporter: str) -> None:  # type: ignore[no-untyped-def]
    x = _rows(7, seed=7)
    _check(_onnx_runs(onnx_models[exporter], x), x)


def test_onnx_log1p_and_expm1_against_mpmath() -> None:
    # Kahan's formulations, as onnxruntime evaluates them, over t from 1e-30
    # to 1e30 and x from -40 to 40: a few ulps (1 + t rounded loses all of
    # log1p below eps)
    pytest.importorskip("onnx", reason="torch.onnx needs onnx")
    import io

    import mpmath

    from xpsoftmax.backends import _torch_graph as g

    class Fns(torch.nn.Module):
        def forward(self, t, x):  # type: ignore[no-untyped-def]
            return g.log1p(t), g.expm1(x)

    t = np.concatenate([-np.geomspace(0.999, 1e-30, 200), np.geomspace(1e-30, 1e30, 400)])
    t = np.concatenate([t, [0.0, -1.0, np.inf]])
    xv = np.concatenate([np.linspace(-40, 40, 801), -np.geomspace(1e-30, 1, 100), [0.0, np.inf]])
    for dtype in (np.float32, np.float64):
        tt, xx = torch.from_numpy(t.astype(dtype)), torch.from_numpy(xv.astype(dtype))
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(Fns(), (tt, xx), buf, dynamo=False)
        got_l, got_e = _onnx_runs(buf.getvalue(), tt.numpy(), xx.numpy())
        tin, xin = t.astype(dtype), xv.astype(dtype)
        want_l = [float(mpmath.log1p(mpmath.mpf(float(v)))) if v > -1 else -np.inf for v in tin]
        want_e = [float(mpmath.expm1(mpmath.mpf(float(v)))) for v in xin]
        assert_close(got_l, want_l, ulps=4, dtype=dtype)
        assert_close(got_e, want_e, ulps=4, dtype=dtype)


# -- torch.compile --------------------------------------------------------------------
def test_compile_dynamic_fullgraph_with_backward() -> None:
    model = Model()
    compiled = torch.compile(model, dynamic=True, fullgraph=True, backend="aot_eager")
    # an axis passed in is a symbolic int under dynamic=True (it broke the
    # operators' argument check)
    by_axis = torch.compile(
        lambda a, axis: xs.log_softmax(a, axis=axis), dynamic=True, fullgraph=True,
        backend="aot_eager",
    )  # fmt: skip
    for batch in (3, 5, 9):
        x = _rows(batch, seed=batch)
        w = [torch.from_numpy(np.random.default_rng(batch).normal(size=s).astype(np.float32))
             for s in ((batch, N), (batch, N), (batch,), (batch,))]  # fmt: skip
        grads = []
        for fn in (compiled, model):
            xt = torch.from_numpy(x).requires_grad_()
            outs = fn(xt)
            _check(outs, x)
            sum((o * wi).sum() for o, wi in zip(outs, w, strict=True)).backward()
            grads.append(xt.grad)
        # the same kernels and the same backward formulas in both
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
        xt = torch.from_numpy(x)
        torch.testing.assert_close(by_axis(xt, 1), xs.log_softmax(xt, axis=1), rtol=0, atol=0)


def test_compile_as_a_fresh_processs_first_call() -> None:
    # torch imported first (xpsoftmax prepares at its own import); the compiled
    # call is the process's first xpsoftmax call on a tensor
    code = (
        "import torch, xpsoftmax as xs\n"
        "x = torch.randn(4, 6)\n"
        "for f in (xs.softmax, xs.log_softmax, xs.logsumexp, xs.logmeanexp):\n"
        "    for impl in ('auto', 'portable'):\n"
        "        c = torch.compile(lambda a: f(a, impl=impl), fullgraph=True, backend='eager')\n"
        "        torch.testing.assert_close(c(x), f(x, impl=impl), rtol=0, atol=0)\n"
    )
    _run(code)
