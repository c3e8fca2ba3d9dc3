"""The CI workflow and its matrix stay in step with the lane files in backends/."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"

spec = importlib.util.spec_from_file_location("ci_lanes", ROOT / ".ci" / "lanes.py")
assert spec is not None and spec.loader is not None
lanes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lanes)


def test_every_lane_file_is_one_job():
    matrix = lanes.lanes()
    names = [e["lane"] for e in matrix["cpu"] + matrix["gpu"]]
    assert sorted(names) == sorted(p.stem for p in (ROOT / "backends").glob("*.txt"))
    assert len(names) == len(set(names))
    # CuPy needs CUDA: its lane, and only lanes that pull CuPy in, go to the GPU runner
    gpu = {e["lane"] for e in matrix["gpu"]}
    assert "cupy" in gpu and "numpy" not in gpu and "all-cpu" not in gpu
    for e in matrix["cpu"] + matrix["gpu"]:
        assert e["backends"] == lanes.lane_backends(ROOT / "backends" / f"{e['lane']}.txt")
        assert e["python"] == lanes.lane_python(ROOT / "backends" / f"{e['lane']}.txt")
        assert e["pytest"] == lanes.lane_pytest(ROOT / "backends" / f"{e['lane']}.txt")
    by_lane = {e["lane"]: e["backends"] for e in matrix["cpu"]}
    assert by_lane["all-cpu"] == "" and by_lane["numpy"] == "numpy"
    # the minimum lane tests every backend its floors cover, named in its file
    assert set(by_lane["minimum"].split(",")) == {"numpy", "torch", "jax", "dask", "strict"}


def test_lane_backends_and_ci_local(tmp_path):
    def lane(name, text):
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        return path

    assert lanes.lane_backends(lane("numpy", "numpy==2\n")) == "numpy"
    # a lane named after a backend lanes.py does not know yet: every backend
    assert lanes.lane_backends(lane("newlib", "newlib==1\n")) == ""
    assert lanes.lane_backends(lane("old", "# backends: numpy,jax\nnumpy==1\n")) == "numpy,jax"
    assert lanes.ci_local(lane("a", "# ci-local: yes\nnumpy\n"))
    assert not lanes.ci_local(lane("b", "# ci-local: no\nnumpy\n"))
    assert not lanes.ci_local(lane("c", "numpy  # ci-local: yes\n"))
    assert lanes.lane_python(lane("d", "numpy\n")) == lanes.DEFAULT_PYTHON
    assert lanes.lane_python(lane("e", "# python: 3.13\nnumpy\n")) == "3.13"
    with pytest.raises(ValueError, match="not a version"):
        lanes.lane_python(lane("f", "# python: latest\nnumpy\n"))
    assert lanes.lane_pytest(lane("g", "numpy\n")) == ""
    assert lanes.lane_pytest(lane("h", "# pytest: tests -k numpy\nnumpy\n")) == "tests -k numpy"
    with pytest.raises(ValueError, match="more than paths"):
        lanes.lane_pytest(lane("i", "# pytest: tests; rm -r src\nnumpy\n"))


def test_python_lanes_span_the_supported_versions():
    # requires-python >= 3.10 and the classifiers name 3.10-3.13: a lane runs each end
    matrix = lanes.lanes()["cpu"]
    pythons = {e["python"] for e in matrix}
    assert {"3.10", lanes.DEFAULT_PYTHON, "3.13"} <= pythons
    by_lane = {e["lane"]: e for e in matrix}
    for name in ("py310", "py313"):
        assert by_lane[name]["backends"].split(",")[0] == "numpy"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.10"' in pyproject
    for v in sorted(pythons):
        assert f'"Programming Language :: Python :: {v}"' in pyproject


def test_ci_local_lanes_are_the_marked_cpu_lanes():
    local = {e["lane"]: e for e in lanes.local_lanes()}
    assert {"minimum", "sparse", "ndonnx", "marray", "py310", "py313"} <= set(local)
    assert "all-cpu" not in local and "cupy" not in local  # all-cpu runs first, on its own
    cpu = {e["lane"]: e for e in lanes.lanes()["cpu"]}
    for name, entry in local.items():
        assert lanes.ci_local(ROOT / "backends" / f"{name}.txt")
        assert entry == cpu[name]
    # what .ci/run reads, one "|"-separated line per lane (an empty field survives)
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lanes.py"), "--local"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert "py313|3.13|numpy,jax|tests" in out and "marray|3.11|marray|" in out


def test_lane_includes_are_followed(tmp_path):
    (tmp_path / "base.txt").write_text("numpy==2.0  # pinned\n")
    (tmp_path / "gpu.txt").write_text("# a GPU lane\n-r base.txt\ncupy-cuda13x>=13\n")
    assert lanes.requirements(tmp_path / "gpu.txt") == ["numpy==2.0", "cupy-cuda13x>=13"]


def test_github_output_lines():
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lanes.py")], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split("=", 1)[0] for line in out] == ["cpu", "gpu", "has_gpu"]


def test_workflow_runs_tests_and_uploads_the_compare_report():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs = wf["jobs"]
    assert jobs["cpu"]["strategy"]["matrix"] == "${{ fromJSON(needs.lanes.outputs.cpu) }}"
    assert jobs["gpu"]["strategy"]["matrix"] == "${{ fromJSON(needs.lanes.outputs.gpu) }}"
    assert "self-hosted" in jobs["gpu"]["runs-on"] and "gpu" in jobs["gpu"]["runs-on"]
    for name in ("cpu", "gpu"):
        setup = [
            s for s in jobs[name]["steps"] if s.get("uses", "").startswith("actions/setup-python")
        ]
        assert setup[0]["with"]["python-version"] == "${{ matrix.python }}"
        runs = [s.get("run", "") for s in jobs[name]["steps"]]
        assert any("pytest" in r for r in runs)
        assert "xpsoftmax compare --out report/" in runs
        uploads = [
            s
            for s in jobs[name]["steps"]
            if s.get("uses", "").startswith("actions/upload-artifact")
        ]
        assert uploads and "report/" in uploads[0]["with"]["path"]
    lint_runs = [s.get("run", "") for s in jobs["lint"]["steps"]]
    wanted = {"ruff check .", "ruff format --check .", "mypy", "bash .ci/check_workflow.sh"}
    assert wanted <= set(lint_runs)
    # the docs site with warnings as errors, and the package check, as .ci/run does them
    assert any(r.startswith("mkdocs build --strict") for r in lint_runs)
    assert "python .ci/check_package.py" in lint_runs
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "mkdocs build --strict" in ci_run and "python .ci/check_package.py" in ci_run


def test_workflow_schema_check_catches_mistakes(tmp_path):
    pytest.importorskip(
        "check_jsonschema", reason="check-jsonschema is installed by .ci/check_workflow.sh"
    )

    def check(path):
        cmd = [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
        ]
        return subprocess.run([*cmd, str(path)], capture_output=True, text=True).returncode

    assert check(WORKFLOW) == 0
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "runs_on:"))
    assert check(broken) != 0
