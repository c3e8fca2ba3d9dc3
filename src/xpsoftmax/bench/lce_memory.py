"""Peak memory of one forward + backward, each measured in a fresh process.

Method (the same for every backend): in a new Python process the subject's
inputs are made and the subject runs once at full size (code loaded,
one-time initialisation done, JAX compiled); its results are released,
``malloc_trim(0)`` hands freed heap pages back, and the peak resident set
size is reset by writing 5 to ``/proc/self/clear_refs``.  The subject then
runs once more; the peak is ``VmHWM`` minus the ``VmRSS`` just before, read
from ``/proc/self/status``: every byte the call touched beyond the inputs,
gradients and temporaries included, whatever allocator made it (torch's CPU
allocator is invisible to tracemalloc, XLA's too).  Linux only.

JAX also reports its compiled program's own figure (``memory_analysis``:
temporaries plus outputs, less what aliases an input).

``python -m xpsoftmax.bench.lce_memory BACKEND SUBJECT N D V`` prints the
figures as JSON; :func:`measure` runs that and reads them.
"""

from __future__ import annotations

import ctypes
import gc
import json
import subprocess
import sys
from typing import Any

from .lce_cases import LceCase


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, val = line.split(":")
                out[key] = int(val.split()[0]) * 1024
    return out


def _release() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def probe(backend: str, subject: str, case: LceCase) -> dict[str, Any]:
    """The figures of one subject on one case, in this process (see the module docstring)."""
    from .lce_subjects import subjects

    fn = subjects(backend, case, (subject,))[subject]
    out: dict[str, Any] = {}
    lowered = getattr(fn, "lowered", None)
    if lowered is not None:
        ma = lowered().compile().memory_analysis()
        out["jax_analysis_bytes"] = int(
            ma.temp_size_in_bytes + ma.output_size_in_bytes - ma.alias_size_in_bytes
        )
    res = fn()
    del res
    clear = getattr(fn, "clear", None)
    if clear is not None:
        clear()
    _release()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status()["VmRSS"]
    res = fn()
    out["peak_bytes"] = _status()["VmHWM"] - base
    del res
    return out


def measure(backend: str, subject: str, case: LceCase, timeout: float = 1800) -> dict[str, Any]:
    """:func:`probe` in a fresh process; ``{"error": ...}`` if it failed."""
    cmd = [sys.executable, "-m", "xpsoftmax.bench.lce_memory", backend, subject,
           str(case.n), str(case.d), str(case.v)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    backend, subject, n, d, v = argv
    case = LceCase("probe", int(n), int(d), int(v))
    print(json.dumps(probe(backend, subject, case)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
