"""Turn results into the matrix, the notable differences, JSON, Markdown and PNG plots."""

from __future__ import annotations

import json
import math
import platform
from collections import defaultdict
from pathlib import Path
from typing import Any

from .cases import GROUPS, describe_reference, errata
from .results import Result


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.3g}"


def matrix(results: list[Result]) -> dict[str, dict[str, dict[str, Any]]]:
    """subject -> group -> {pass, fail, error, na, worst (ulps of passes and fails), contract}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        cell = out.setdefault(r.subject, {}).setdefault(
            r.group, {"pass": 0, "fail": 0, "error": 0, "na": 0, "skip": 0, "worst": None}
        )
        key = {"n/a": "na"}.get(r.status, r.status)
        cell[key] += 1
        if r.worst_ulps is not None and r.status in ("pass", "fail"):
            cell["worst"] = (
                r.worst_ulps if cell["worst"] is None else max(cell["worst"], r.worst_ulps)
            )
        if r.contract:
            c = out[r.subject].setdefault(
                "contract", {"pass": 0, "fail": 0, "error": 0, "na": 0, "skip": 0, "worst": None}
            )
            c["fail"] += 1
    for groups in out.values():
        ran = sum(g["pass"] + g["fail"] for k, g in groups.items() if k != "contract")
        c = groups.setdefault(
            "contract", {"pass": 0, "fail": 0, "error": 0, "na": 0, "skip": 0, "worst": None}
        )
        c["pass"] = ran - c["fail"]
    return out


def cell_text(cell: dict[str, Any] | None) -> str:
    # a group that offered a subject no case at all (optax has no transforms) is as
    # inapplicable as one whose cases all said n/a: an empty cell read as a missing result
    if cell is None:
        return "n/a"
    ran = cell["pass"] + cell["fail"] + cell["error"]
    if ran == 0:
        return "skip" if cell["skip"] else "n/a"
    bad = cell["fail"] + cell["error"]
    worst = f" ({_fmt(cell['worst'])})" if cell["worst"] is not None else ""
    if bad == 0:
        return f"pass {ran}{worst}"
    return f"FAIL {bad}/{ran}{worst}"


def _subject_order(results: list[Result]) -> list[str]:
    seen: dict[str, None] = {}
    for r in results:
        seen.setdefault(r.subject, None)
    return list(seen)


def covered(results: list[Result]) -> tuple[list[str], dict[str, str]]:
    """(subjects that ran, subjects skipped -> reason)."""
    ran, skipped = [], {}
    by: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by[r.subject].append(r)
    for s, rs in by.items():
        if all(r.status == "skip" for r in rs):
            skipped[s] = rs[0].detail
        else:
            ran.append(s)
    return ran, skipped


def differences(results: list[Result], limit: int | None = None) -> list[str]:
    """Cases where a native or seed subject differs from the reference, grouped by case."""
    by_case: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.kind != "xpsoftmax" and r.status in ("fail", "error"):
            by_case[r.case].append(r)
    lines = []
    for case, rs in by_case.items():
        parts = [f"{r.subject.split('@')[0]}: {r.status} ({r.detail})" for r in rs]
        lines.append(f"{case}: " + "; ".join(parts))
    return lines if limit is None else lines[:limit]


def contract_findings(results: list[Result]) -> list[str]:
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in results:
        for issue in r.contract:
            seen[(r.subject, issue)].append(r.case)
    return [
        f"{s}: {issue} (in {len(cases)} cases, e.g. {cases[0]})"
        for (s, issue), cases in seen.items()
    ]


def environment() -> dict[str, str]:
    import importlib.metadata as md

    env = {"python": platform.python_version(), "machine": platform.machine()}
    for dist in ("numpy", "scipy", "torch", "jax", "dask", "array-api-strict", "cupy", "xpsoftmax"):
        try:
            env[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return env


def _clean(obj: Any) -> Any:
    """JSON has no inf/nan: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def to_json(results: list[Result]) -> dict[str, Any]:
    ran, skipped = covered(results)
    return {
        "environment": environment(),
        "reference": describe_reference(),
        "groups": list(GROUPS),
        "subjects_run": ran,
        "subjects_skipped": skipped,
        "matrix": matrix(results),
        "differences": differences(results),
        "contract_findings": contract_findings(results),
        "errata": errata(),
        "results": [r.to_dict() for r in results],
    }


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_matrix(results: list[Result]) -> str:
    m = matrix(results)
    ran, _ = covered(results)
    groups = [g for g in GROUPS if any(g in m[s] for s in ran)]
    lines = ["| subject | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for s in ran:
        lines.append(
            f"| {_md_escape(s)} | " + " | ".join(cell_text(m[s].get(g)) for g in groups) + " |"
        )
    return "\n".join(lines)


def errata_markdown() -> str:
    lines = ["| document | printed | mpmath (rounded as printed) | max abs error | wrong entries |",
             "|---|---|---|---|---|"]  # fmt: skip
    for e in errata():
        lines.append(
            f"| {e['document']} ({e['case']}) | {e['printed']} | {e['correct_rounded']} | "
            f"{e['max_abs_error']:.3g} | {e['wrong_entries']} |"
        )
    return "\n".join(lines)


def to_markdown(results: list[Result], command: str = "xpsoftmax compare") -> str:
    ran, skipped = covered(results)
    env = environment()
    out = [
        "# xpsoftmax compare",
        "",
        f"Command: `{command}`  ",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        "Cells: `pass N (worst)` / `FAIL bad/N (worst)`, worst error in ulps of the result dtype "
        "(inf: a special value or a wrong shape where a number was due). References: "
        + describe_reference()
        + ".",
        "",
        markdown_matrix(results),
        "",
        "## Devices covered",
        "",
        "Ran: " + ", ".join(sorted({s.split("@")[-1] for s in ran})) + ".",
        "",
    ]
    if skipped:
        out += (
            ["Not covered here:", ""]
            + [f"- {_md_escape(s)}: {why}" for s, why in skipped.items()]
            + [""]
        )
    out += ["## Notable differences (native and seed subjects)", ""]
    out += [f"- {_md_escape(d)}" for d in differences(results)] or ["- none"]
    out += ["", "## Contract findings (input modified, type/dtype/device of the result)", ""]
    out += [f"- {_md_escape(c)}" for c in contract_findings(results)] or ["- none"]
    out += ["", "## The documents' printed values (checked with mpmath)", "", errata_markdown(), ""]
    return "\n".join(out)


# -- plots ----------------------------------------------------------------------------
def plot_logits(logits: list[float], path: Path) -> None:
    """Seed 001's "Logits vs. Softmax Probabilities" bar chart, with xpsoftmax's values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import xpsoftmax

    probs = xpsoftmax.softmax(np.asarray(logits, dtype=np.float64))
    idx = np.arange(len(logits))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(logits) + 2), 4))
    b1 = ax.bar(
        idx - 0.2,
        logits,
        0.4,
        label="Logits",
        color=(75 / 255, 192 / 255, 192 / 255, 0.6),
        edgecolor=(75 / 255, 192 / 255, 192 / 255),
    )
    b2 = ax.bar(idx + 0.2, probs, 0.4, label="Softmax Probabilities",
                color=(1.0, 99 / 255, 132 / 255, 0.6), edgecolor=(1.0, 99 / 255, 132 / 255))  # fmt: skip
    ax.bar_label(b1, [f"{v:g}" for v in logits], fontsize=8)
    ax.bar_label(b2, [f"{v:.3f}" for v in probs], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(idx, [f"Class {i + 1}" for i in idx])
    ax.set_xlabel("Classes")
    ax.set_ylabel("Value")
    ax.set_title("Logits vs. Softmax Probabilities (xpsoftmax.softmax)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_heatmap(results: list[Result], path: Path) -> None:
    """Subjects x case groups: log10 of the worst error in ulps; failures outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = matrix(results)
    ran, _ = covered(results)
    groups = [g for g in GROUPS if g != "contract" and any(g in m[s] for s in ran)]
    data = np.full((len(ran), len(groups)), np.nan)
    text = [["" for _ in groups] for _ in ran]
    for i, s in enumerate(ran):
        for j, g in enumerate(groups):
            cell = m[s].get(g)
            if cell is None:
                continue
            t = cell_text(cell)
            if cell["worst"] is not None:
                data[i, j] = np.log10(max(min(cell["worst"], 1e20), 1e-3))
            text[i][j] = "n/a" if t in ("n/a", "skip") else (
                ("✗ " if t.startswith("FAIL") else "") + _fmt(cell["worst"]))  # fmt: skip
    fig, ax = plt.subplots(figsize=(1.1 * len(groups) + 4, 0.38 * len(ran) + 2))
    cmap = matplotlib.colormaps["viridis"].copy()
    cmap.set_bad("#dddddd")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto", vmin=-1, vmax=6)
    for i in range(len(ran)):
        for j in range(len(groups)):
            fail = text[i][j].startswith("✗")
            ax.text(j, i, text[i][j].replace("✗ ", "x "), ha="center", va="center", fontsize=7,
                    color="red" if fail else ("black" if not np.isfinite(data[i, j]) or data[i, j] > 2.5 else "white"),
                    fontweight="bold" if fail else "normal")  # fmt: skip
            if fail:
                ax.add_patch(
                    plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.5)
                )
    ax.set_xticks(range(len(groups)), groups, rotation=35, ha="right")
    ax.set_yticks(range(len(ran)), ran, fontsize=8)
    fig.colorbar(im, ax=ax, label="log10(worst error in ulps)")
    ax.set_title("Worst error per case group (x: some case failed its bound)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: list[Result], out: Path, logits: list[float], command: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compare.json", out / "compare.md"]
    paths[0].write_text(
        json.dumps(_clean(to_json(results)), indent=1, allow_nan=False, default=str) + "\n"
    )
    paths[1].write_text(to_markdown(results, command))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return paths
    plot_logits(logits, out / "logits_vs_softmax.png")
    plot_heatmap(results, out / "error_heatmap.png")
    return [*paths, out / "logits_vs_softmax.png", out / "error_heatmap.png"]
