"""Which calls the fused CUDA kernel takes, decided without a GPU.

The kernel itself runs only on a CUDA device (tests/test_cuda_kernels.py); its
dispatch rules are plain Python and are checked here, on every machine.
"""

from __future__ import annotations

import pytest

from xpsoftmax.backends import _cuda_kernels as ck


@pytest.fixture(autouse=True)
def _h100_sm_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # the multiprocessor count comes from the device; pretend an H100's 132
    monkeypatch.setattr(ck, "_sm_count", lambda device_id: 132)


def gap(shape, axes=(-1,), dtype="float32", contiguous=True, masked=False, func="softmax"):  # type: ignore[no-untyped-def]
    nd = len(shape)
    axes = tuple(sorted(a % nd for a in axes))
    return ck.gap(func, shape, axes, dtype, contiguous, masked, 0)


@pytest.mark.parametrize("func", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_common_calls_take_the_kernel(func: str, dtype: str) -> None:
    assert gap((4, 8), func=func, dtype=dtype) is None  # warp kernel, few rows are fine
    assert gap((300, 4096), func=func, dtype=dtype) is None  # block kernel
    assert gap((2, 3, 50), axes=(1, 2), func=func, dtype=dtype) is None  # trailing axes


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"masked": True}, "mask"),
        ({"axes": (0,)}, "trailing"),
        ({"shape": (4, 5, 6), "axes": (0, 2)}, "trailing"),
        ({"contiguous": False}, "contiguous"),
        ({"dtype": "float16"}, "float16"),
        ({"shape": (8, 1 << 20)}, "too few"),
    ],
)
def test_the_rest_takes_the_portable_code(kwargs: dict, reason: str) -> None:  # type: ignore[type-arg]
    shape = kwargs.pop("shape", (300, 64))
    why = gap(shape, **kwargs)
    assert why is not None and reason in why


def test_row_index_limit() -> None:
    assert "32-bit" in (gap((300, 2**31)) or "")
    assert gap((300, 2**31 - 1)) is None


def test_few_long_rows_threshold_is_two_per_multiprocessor() -> None:
    assert gap((263, 2048)) is not None
    assert gap((264, 2048)) is None
    assert gap((1, 1024)) is None  # up to 1024 a row is a warp's: any count


@pytest.mark.parametrize(("n", "items"), [(1, 1), (32, 1), (33, 2), (64, 2), (65, 4), (1024, 32)])
def test_values_per_lane(n: int, items: int) -> None:
    assert ck._items(n) == items


def test_rows_view_shapes() -> None:
    assert ck.rows_view("softmax", (2, 3, 4), 2, False) == (2, 12, (2, 3, 4))
    assert ck.rows_view("logsumexp", (2, 3, 4), 2, False) == (2, 12, (2,))
    assert ck.rows_view("logsumexp", (2, 3, 4), 2, True) == (2, 12, (2, 1, 1))
    assert ck.rows_view("logsumexp", (5,), 1, False) == (1, 5, ())


def test_torch_cpu_tensors_never_reach_the_kernel() -> None:
    import subprocess
    import sys

    pytest.importorskip("torch")
    # in a fresh interpreter: no CuPy import (and no CUDA probe) for CPU tensors
    code = (
        "import sys, torch, xpsoftmax as xs\n"
        "t = torch.randn(300, 2048)\n"
        "xs.log_softmax(t); xs.logsumexp(t)\n"
        "assert 'cupy' not in sys.modules, 'cupy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "extra",
    [{"b": "weights"}, {"return_sign": True}, {"complex_input": True}, {"func": "logmeanexp"}],
)
def test_weights_signs_complex_and_logmeanexp_decline_the_kernel(extra: dict) -> None:  # type: ignore[type-arg]
    # a call the kernel would take, but for the extension: CuPy's adapter must
    # decline before asking the kernel (which knows nothing of b or signs)
    from xpsoftmax.backends import Call
    from xpsoftmax.backends.cupy import CupyBackend

    class FakeCupyArray:
        shape = (4, 8)
        dtype = type("D", (), {"name": "float32"})()
        flags = type("F", (), {"c_contiguous": True})()
        device = type("Dev", (), {"id": 0})()

    x = FakeCupyArray()
    func = extra.pop("func", "logsumexp")
    base = Call(func, x, (1,), None, False, "float32", "float32")
    assert CupyBackend().fused_gap(base) is None or func == "logmeanexp"
    call = Call(func, x, (1,), None, False, "float32", "float32", **extra)
    assert call.extended
    assert "fused kernel takes no weights" in (CupyBackend().fused_gap(call) or "")
    assert CupyBackend()._native_gap(call) is not None or func == "logmeanexp"
