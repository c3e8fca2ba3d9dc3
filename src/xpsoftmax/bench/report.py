"""The report: the machine, the text and Markdown tables, the plot.

The stored report (``--json``) is ``{"date", "command", "machine", "goals",
"results"}``, each result a :class:`~xpsoftmax.bench.timing.Result` as a dict;
:func:`markdown` renders a stored report (older reports, without the
``axis``/``mode`` fields, read as calls over the last axis).
"""

from __future__ import annotations

import math
import platform
from typing import Any

from .cases import FUNCS
from .timing import Result


# -- the machine --------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import importlib.metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from ..backends.numpy import n_threads

    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": n_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    for dist in ("numpy", "scipy", "torch", "jax", "dask", "cupy-cuda13x", "cupy-cuda12x"):
        try:
            info[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


# -- output -------------------------------------------------------------------------
def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt(v: float | None, nd: int = 2) -> str:
    return "" if v is None else f"{v:.{nd}f}"


HEADER = [
    "case",
    "shape",
    "dtype",
    "axis",
    "func",
    "backend",
    "subject",
    "median",
    "/anchor",
    "/copy",
    "peak/out",
    "extra/chunk",
]


def _axis(axis: Any) -> str:
    return ",".join(map(str, axis)) if isinstance(axis, (list, tuple)) else str(axis)


def table_rows(results: list[Result]) -> list[list[str]]:
    return [
        [
            r.case,
            "x".join(map(str, r.shape)),
            r.dtype,
            _axis(r.axis),
            r.func,
            r.backend,
            r.subject,
            _fmt_time(r.median_s),
            _fmt(r.vs_anchor),
            _fmt(r.vs_copy),
            _fmt(r.peak_vs_output),
            _fmt(r.extra_vs_chunk),
        ]
        for r in results
    ]


def _amount(v: float, overhead: bool) -> str:
    # an overhead below 0 is noise (the call includes the one it is compared with)
    return "below 0" if overhead and v <= 0 else f"{v:.2f}"


def goal_rows(gs: list[dict[str, Any]]) -> list[list[str]]:
    """goal, measured (with the interval its repetitions give), target, verdict.

    A verdict is "yes", "NO" or "not judged: why" (reports stored before goals
    could go unjudged hold only True or False)."""
    op = {True: "<=", False: ">="}
    rows = []
    for g in gs:
        unit, overhead = g["unit"], g.get("overhead", False)
        measured = f"{_amount(g['value'], overhead)} {unit}"
        if g.get("range"):
            lo, hi = g["range"]
            measured += f" ({_amount(lo, overhead)} to {_amount(hi, overhead)})"
        holds = g["holds"]
        verdict = "yes" if holds else "NO" if holds is False else f"not judged: {g['why']}"
        rows.append([g["goal"], measured, f"{op[g['le']]} {g['limit']:g} {unit}", verdict])
    return rows


def held_line(gs: list[dict[str, Any]]) -> str:
    """``"12 of 20 hold, 5 miss, 3 not judged"``."""
    held = sum(1 for g in gs if g["holds"])
    missed = sum(1 for g in gs if g["holds"] is False)
    line = f"{held} of {len(gs)} hold, {missed} miss"
    unjudged = len(gs) - held - missed
    return line + (f", {unjudged} not judged" if unjudged else "")


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    desc = ", ".join(f"{k} {v}" for k, v in m.items())
    results = [Result(**{**r, "shape": tuple(r["shape"])}) for r in report["results"]]
    parts = [
        f"Measured {report['date']} on: {desc}.",
        f"Command: `{report['command']}`; medians of interleaved repetitions; ratios are to "
        "the anchor measured in the same repetitions (scipy for NumPy, the backend's own kernel "
        "for torch/JAX, the NumPy path for Dask) and to a plain copy of the input.",
        "",
        f"Goals ({held_line(report['goals'])}; the range after a value holds the median of "
        "its paired repetitions with at least 90% confidence):",
        "",
        markdown_table(["goal", "measured", "target", "holds"], goal_rows(report["goals"])),
        "",
        "All timings:",
        "",
        markdown_table(HEADER, table_rows(results)),
    ]
    return "\n".join(parts) + "\n"


def plot(results: list[Result], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    funcs = [f for f in FUNCS if any(r.func == f for r in results)]
    fig, axes = plt.subplots(1, len(funcs), figsize=(6 * len(funcs), 5), squeeze=False)
    for ax, func in zip(axes[0], funcs, strict=True):
        lines: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
        for r in results:
            if r.func == func and r.mode == "call" and _axis(r.axis) == "-1":
                key = (r.backend, r.subject, r.dtype)
                lines.setdefault(key, []).append((math.prod(r.shape), r.median_s))
        for (backend, subject, dtype), pts in sorted(lines.items()):
            pts.sort()
            style = (
                "--" if subject.startswith(("copy", "scipy", "torch.", "jit(jax", "cupyx")) else "-"
            )
            ax.plot(
                *zip(*pts, strict=True),
                style,
                marker="o",
                ms=3,
                label=f"{backend} {subject} {dtype}",
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="elements",
            ylabel="median time per call (s)",
            title=func,
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
