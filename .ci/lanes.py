#!/usr/bin/env python3
"""The CI matrix, built from the lane files ``backends/*.txt``: one job per lane.

A lane whose requirements (followed through ``-r`` includes) name CuPy needs a CUDA
GPU and goes to the self-hosted GPU job; every other lane runs on a hosted CPU
runner.  A lane named after a backend tests that backend only
(``XPSOFTMAX_BACKENDS``); ``all-cpu`` tests every backend in one process.

    python .ci/lanes.py            # GitHub output lines: cpu=<json>, gpu=<json>, has_gpu=
    python .ci/lanes.py --pretty   # the same, readable
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANES = ROOT / "backends"
BACKENDS = ("numpy", "torch", "jax", "cupy", "dask", "strict", "mlx", "tensorflow")


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


def lanes() -> dict[str, list[dict[str, str]]]:
    matrix: dict[str, list[dict[str, str]]] = {"cpu": [], "gpu": []}
    for path in sorted(LANES.glob("*.txt")):
        lane = path.stem
        reqs = requirements(path)
        gpu = any(re.match(r"cupy\b", r, re.I) for r in reqs)
        matrix["gpu" if gpu else "cpu"].append(
            {"lane": lane, "backends": lane if lane in BACKENDS else ""}
        )
    return matrix


def main(argv: list[str]) -> int:
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
