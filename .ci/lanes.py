#!/usr/bin/env python3
"""The CI matrix, built from the lane files ``backends/*.txt``: one job per lane.

A lane whose requirements (followed through ``-r`` includes) name CuPy needs a CUDA
GPU and goes to the self-hosted GPU job; every other lane runs on a hosted CPU
runner.  The backends a lane tests (``XPSOFTMAX_BACKENDS``) are those of its
``# backends: a,b`` line, else its own name where that is a backend, else every
backend (empty: ``all-cpu`` tests them all in one process; a lane named after a
backend this tuple does not know yet also gets every backend installed in it).

A lane runs on the Python of its ``# python: 3.x`` line, else on ``DEFAULT_PYTHON``
(the workflow's ``setup-python`` takes it from the matrix; ``.ci/run`` builds the lane's
venv with that interpreter), and runs ``pytest`` with the arguments of its
``# pytest: <args>`` line (a lane that checks a Python version runs ``tests`` only: the
conformance suite's numbers do not depend on it), else every test path.  A lane file with
the line ``# ci-local: yes`` is also run by ``.ci/run`` on this machine, in its own virtual
environment, after the all-cpu lane.

    python .ci/lanes.py            # GitHub output lines: cpu=<json>, gpu=<json>, has_gpu=
    python .ci/lanes.py --pretty   # the same, readable
    python .ci/lanes.py --local    # "<lane>|<python>|<backends>|<pytest args>" per ci-local
                                   # lane, for .ci/run
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANES = ROOT / "backends"
BACKENDS = (
    "numpy",
    "torch",
    "jax",
    "cupy",
    "dask",
    "strict",
    "sparse",
    "ndonnx",
    "marray",
    "mlx",
    "tensorflow",
)
CI_LOCAL = re.compile(r"^#\s*ci-local:\s*yes\s*$", re.M | re.I)
BACKENDS_LINE = re.compile(r"^#\s*backends:\s*(\S+)\s*$", re.M)
PYTHON_LINE = re.compile(r"^#\s*python:\s*(\S+)\s*$", re.M)
PYTEST_LINE = re.compile(r"^#\s*pytest:[ \t]*(.*?)\s*$", re.M)
#: what a ``# pytest:`` line may hold: test paths and options, nothing the shell would expand
PYTEST_ARGS = re.compile(r"[\w./:=,-]+( [\w./:=,-]+)*")
PYTHON_VERSION = re.compile(r"3\.\d+")
#: the Python of a lane without a ``# python:`` line (and of the lint and lanes jobs)
DEFAULT_PYTHON = "3.11"


def requirements(path: Path) -> list[str]:
    """Requirement lines of a lane file, ``-r`` includes followed."""
    out: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            out += requirements(path.parent / line[2:].strip())
        else:
            out.append(line)
    return out


def lane_backends(path: Path) -> str:
    """The ``XPSOFTMAX_BACKENDS`` value of a lane ("" is every backend)."""
    m = BACKENDS_LINE.search(path.read_text(encoding="utf-8"))
    if m is not None:
        return m.group(1)
    return path.stem if path.stem in BACKENDS else ""


def lane_python(path: Path) -> str:
    """The ``major.minor`` Python a lane runs on (its own line, not an include's)."""
    m = PYTHON_LINE.search(path.read_text(encoding="utf-8"))
    if m is None:
        return DEFAULT_PYTHON
    if not PYTHON_VERSION.fullmatch(m.group(1)):
        raise ValueError(f"{path.name}: '# python: {m.group(1)}' is not a version like 3.12")
    return m.group(1)


def lane_pytest(path: Path) -> str:
    """The arguments a lane adds to ``python -m pytest`` ("" runs every test path)."""
    m = PYTEST_LINE.search(path.read_text(encoding="utf-8"))
    if m is None:
        return ""
    if not PYTEST_ARGS.fullmatch(m.group(1)):
        raise ValueError(f"{path.name}: '# pytest: {m.group(1)}' holds more than paths and options")
    return m.group(1)


def ci_local(path: Path) -> bool:
    """Whether ``.ci/run`` runs this lane here (its own line, not an include's)."""
    return CI_LOCAL.search(path.read_text(encoding="utf-8")) is not None


def lanes() -> dict[str, list[dict[str, str]]]:
    matrix: dict[str, list[dict[str, str]]] = {"cpu": [], "gpu": []}
    for path in sorted(LANES.glob("*.txt")):
        reqs = requirements(path)
        gpu = any(re.match(r"cupy\b", r, re.I) for r in reqs)
        matrix["gpu" if gpu else "cpu"].append(
            {
                "lane": path.stem,
                "backends": lane_backends(path),
                "python": lane_python(path),
                "pytest": lane_pytest(path),
            }
        )
    return matrix


def local_lanes() -> list[dict[str, str]]:
    """The matrix entries of the ci-local CPU lanes, in file-name order."""
    cpu = {e["lane"]: e for e in lanes()["cpu"]}
    return [cpu[p.stem] for p in sorted(LANES.glob("*.txt")) if p.stem in cpu and ci_local(p)]


def main(argv: list[str]) -> int:
    if "--local" in argv:
        # "|": bash's read keeps an empty field between two (it folds runs of blanks)
        for e in local_lanes():
            print("|".join((e["lane"], e["python"], e["backends"], e["pytest"])))
        return 0
    matrix = lanes()
    if not matrix["cpu"]:
        print(f"no CPU lane files in {LANES}", file=sys.stderr)
        return 1
    indent = 2 if "--pretty" in argv else None
    for kind in ("cpu", "gpu"):
        print(f"{kind}={json.dumps({'include': matrix[kind]}, indent=indent)}")
    # GitHub rejects an empty matrix: the GPU job runs only when there is a GPU lane
    print(f"has_gpu={'true' if matrix['gpu'] else 'false'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
