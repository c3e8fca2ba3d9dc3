"""The pytest plugin as a downstream project sees it: run through pytester."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from xpsoftmax.testing import Target, as_numpy, assert_close, targets, ulp_error

pytest_plugins = ["pytester"]

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None

DOWNSTREAM = """
import xpsoftmax as xs

def test_sums_to_one(xp, device, target):
    x = xp.asarray([[1.0, 2.0, 3.0]], device=device)
    y = xs.softmax(x)
    assert type(y) is type(x)
    assert abs(float(target.to_numpy(xp.sum(y))) - 1.0) < 1e-12

def test_plain():
    pass
"""


@pytest.fixture(scope="module", autouse=True)
def _import_backends_first():
    # pytester's in-process runs drop the modules a run imported when it ends;
    # torch and jax abort when imported a second time, so import them (and
    # what a softmax call on them pulls in) here, before any inner run
    import xpsoftmax as xs

    for t in targets(devices="cpu"):
        if t.skip is None:
            with t.context():
                xs.softmax(t.asarray([1.0, 2.0]))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # a CI lane may set these for the outer run; each case here sets its own
    for name in ("XPSOFTMAX_BACKENDS", "XPSOFTMAX_DEVICES", "XPSOFTMAX_JAX_X64"):
        monkeypatch.delenv(name, raising=False)


def _ids(result) -> dict[str, str]:
    """test id -> outcome word, from ``-v`` output."""
    out = {}
    for line in result.outlines:
        m = re.match(r"^\S+::(\S+) (PASSED|FAILED|SKIPPED|ERROR)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_off_unless_asked_for(pytester):
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v")
    # the downstream project's own fixtures named xp/device are not shadowed
    result.stdout.fnmatch_lines(["*fixture 'xp' not found*"])
    assert _ids(result) == {"test_plain": "PASSED", "test_sums_to_one": "ERROR"}


def test_option_turns_it_on_with_readable_ids(pytester):
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v", "--xp-backends=numpy")
    assert _ids(result) == {"test_sums_to_one[numpy:cpu]": "PASSED", "test_plain": "PASSED"}
    result.assert_outcomes(passed=2)


def test_ini_setting_turns_it_on_for_every_target(pytester):
    pytester.makeini("[pytest]\nxp_fixtures = true\n")
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v", "-rs")
    ids = _ids(result)
    expected = {f"test_sums_to_one[{t.id}]": "SKIPPED" if t.skip else "PASSED" for t in targets()}
    expected["test_plain"] = "PASSED"
    assert ids == expected
    # every skipped target says why in the summary
    for t in targets():
        if t.skip:
            result.stdout.fnmatch_lines([f"SKIPPED *{t.skip}*"])
    assert "test_sums_to_one[numpy:cpu]" in ids


def test_env_var_selects_backends_for_ci(pytester, monkeypatch):
    monkeypatch.setenv("XPSOFTMAX_BACKENDS", "numpy,strict")
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v")
    assert set(_ids(result)) == {
        "test_sums_to_one[numpy:cpu]",
        "test_sums_to_one[strict:cpu]",
        "test_plain",
    }


def test_command_line_wins_over_env(pytester, monkeypatch):
    monkeypatch.setenv("XPSOFTMAX_BACKENDS", "strict")
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v", "--xp-backends=numpy")
    assert "test_sums_to_one[numpy:cpu]" in _ids(result)
    assert not any("strict" in i for i in _ids(result))


def test_missing_device_is_a_skip_with_a_reason(pytester):
    gpus = [t for t in targets(["numpy", "torch", "jax", "cupy"], "gpu")]
    if any(t.skip is None for t in gpus):
        pytest.skip("a GPU is present here: nothing to skip")
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("-v", "-rs", "--xp-devices=gpu")
    ids = _ids(result)
    assert ids.pop("test_plain") == "PASSED"
    assert ids and set(ids.values()) == {"SKIPPED"}
    assert all(i.endswith(":gpu]") for i in ids)
    result.stdout.fnmatch_lines(
        ["SKIPPED *no CUDA device for torch*"] if HAS_TORCH else ["SKIPPED*"]
    )


def test_unknown_backend_is_a_usage_error(pytester):
    pytester.makepyfile(DOWNSTREAM)
    result = pytester.runpytest("--xp-backends=numpy,paddle")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown backend(s) ['paddle']" in result.stdout.str() + result.stderr.str()


def test_marker_limits_backends(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_backends("strict")
        def test_only_strict(target):
            assert target.backend_name == "strict"
        """
    )
    result = pytester.runpytest("-v", "--strict-markers", "--xp-backends=numpy,strict")
    # the numpy, sparse, ndonnx and marray lanes have no array-api-strict: still one id, skipped
    status = "SKIPPED" if targets(["strict"])[0].skip else "PASSED"
    assert _ids(result) == {"test_only_strict[strict:cpu]": status}


def test_conftest_can_load_the_fixtures_directly(pytester):
    pytester.makeconftest('pytest_plugins = ["xpsoftmax.testing.fixtures"]\n')
    pytester.makepyfile(DOWNSTREAM)
    # --xp as well: registering the fixtures twice must not fail
    for args in ([], ["--xp"]):
        result = pytester.runpytest("-v", *args)
        assert _ids(result).get("test_sums_to_one[numpy:cpu]") == "PASSED"


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_x64_is_explicit_and_scoped(pytester):
    pytester.makepyfile(
        """
        import jax
        import jax.numpy as jnp

        def test_dtype(target):
            x = jnp.asarray([1.0, 2.0], dtype=jnp.float64)
            assert str(x.dtype) == ("float64" if target.x64 else "float32")

        def test_global_state_untouched():
            # runs after the jax cases: the switch was scoped to them
            assert str(jnp.asarray(1.0, dtype=jnp.float64).dtype) == "float32"
        """
    )
    result = pytester.runpytest(
        "-v", "-p", "no:randomly", "--xp-backends=jax", "--xp-devices=cpu", "--xp-jax-x64=both"
    )
    assert _ids(result) == {
        "test_dtype[jax:cpu]": "PASSED",
        "test_dtype[jax-x32:cpu]": "PASSED",
        "test_global_state_untouched": "PASSED",
    }


def test_assert_close_failure_reads_well_in_a_report(pytester):
    pytester.makepyfile(
        """
        import numpy as np
        from xpsoftmax.testing import assert_close

        def test_off(target):
            x = target.asarray(np.array([1.0, 0.5], dtype=np.float32))
            assert_close(x, [1.0, 0.5 + 3 * 2.0**-24], ulps=2, dtype="float32")
        """
    )
    result = pytester.runpytest("--xp-backends=numpy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * 1 of 2 elements off by more than 2 ulps x max(cond, 1) in float32; worst at (1,): "
            "got 0.5, expected 0.5000001788139343, 3 ulps > 2"
        ]
    )


#: backends whose arrays have no array API of their own (xpsoftmax shims them)
NON_STANDARD = {"tensorflow", "mlx"}

DOWNSTREAM_DOCS = [
    Path(__file__).resolve().parent.parent / p for p in ("docs/testing.md", "README.md")
]


def _downstream_examples():
    for path in DOWNSTREAM_DOCS:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for m in re.finditer(
            r"<!-- downstream-test -->\s*\n```python\n(.*?)^```", text, re.M | re.S
        ):
            yield pytest.param(m.group(1), id=path.name)


@pytest.mark.parametrize("source", list(_downstream_examples()))
def test_documented_downstream_example_runs(pytester, monkeypatch, source):
    # The example asks array-api-compat for the namespace, as downstream
    # array-API code does: it runs on the array-API backends, which its users
    # select (docs/testing.md says so); TensorFlow and MLX targets hand out
    # xpsoftmax's own namespace shims, which array-api-compat does not know.
    from xpsoftmax.backends import BACKENDS

    names = [b.name for b in BACKENDS if b.name not in NON_STANDARD]
    monkeypatch.setenv("XPSOFTMAX_BACKENDS", ",".join(names))
    pytester.makeini("[pytest]\nxp_fixtures = true\n")
    pytester.makepyfile(test_normalize=source)
    result = pytester.runpytest("-v")
    ids = _ids(result)
    expected = {
        f"test_normalize[{t.id}]": "SKIPPED" if t.skip else "PASSED" for t in targets(names)
    }
    assert ids == expected


def test_downstream_example_is_documented():
    assert len(list(_downstream_examples())) >= 1


# -- the helpers themselves -----------------------------------------------------


def test_ulp_error_counts_spacing_at_the_reference():
    one_ulp = float(np.spacing(np.float32(1.0)))
    err = ulp_error(
        [1.0, 1.0 + 2 * one_ulp, np.nan, np.inf, 1.0],
        [1.0, 1.0, np.nan, np.inf, np.nan],
        np.float32,
    )
    assert err.tolist() == [0.0, 2.0, 0.0, 0.0, np.inf]


def test_assert_close_scales_tolerance_by_condition_number():
    # all float32 operands: NumPy 1.x would promote ``4 * float32`` to float64
    x = np.float32(1.0) + np.float32(4) * np.spacing(np.float32(1.0))
    with pytest.raises(AssertionError, match=r"4 ulps > 2"):
        assert_close(np.array([x]), [1.0], ulps=2)
    assert assert_close(np.array([x]), [1.0], ulps=2, cond=[2.0]) == 4.0


def test_assert_close_checks_shapes_and_one_sided_nan():
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros(2), np.zeros(3), ulps=1)
    with pytest.raises(AssertionError, match="got nan"):
        assert_close(np.array([np.nan, 0.0]), [0.5, 0.0], ulps=1e6)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_assert_close_takes_any_namespace_on_both_sides():
    import torch

    a = torch.tensor([0.25, 0.75], dtype=torch.float64)
    assert assert_close(a, torch.tensor([0.25, 0.75]), ulps=0) == 0.0
    assert as_numpy(a).tolist() == [0.25, 0.75]


def test_target_ids_and_conversions():
    t = Target("numpy")
    assert t.id == "numpy:cpu"
    assert Target("jax", x64=False, device_label="gpu").id == "jax-x32:gpu"
    arr = t.asarray([1, 2], dtype="float32")
    assert arr.dtype == np.float32 and t.to_numpy(arr).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="jax_x64"):
        targets(jax_x64="sometimes")
