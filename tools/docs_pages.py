#!/usr/bin/env python3
"""Write the documentation's result tables from the committed result files, never by hand.

A page holds generated regions between two marker lines::

    <!-- BEGIN generated: bench cpu -->
    ...
    <!-- END generated: bench cpu -->

and this script rewrites what lies between them:

* ``bench cpu`` / ``bench gpu``: the newest ``xpsoftmax bench --json`` report in
  ``benchmarks/results`` / ``benchmarks/results/gpu`` (its machine, the goals and how many
  hold, the large inputs' timings);
* ``bench lce``: the newest ``benchmarks/results/lce-*.json`` (the fused linear
  cross-entropy's goals, peak memory and times);
* ``conformance cpu``: the newest ``benchmarks/results/compare-*.json`` (the matrix of
  ``xpsoftmax compare``, what was not covered, the frameworks' contract findings);
* ``errata``: the seed documents' printed values against mpmath (from the conformance
  catalogue).

    python tools/docs_pages.py            # rewrite the regions of docs/*.md
    python tools/docs_pages.py --check    # exit 1 if a page differs from what it would write
    python tools/docs_pages.py --store-compare report/compare.json [--command "..."]
                                          # keep a compare run as compare-<date>.json

``tests/test_docs_pages.py`` runs the check, so a page cannot drift from its result file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "benchmarks" / "results"
#: where a page links to a result file: its address in the repository's public home
BLOB = "https://github.com/xpsoftmax/xpsoftmax/blob/main/"
REGION = re.compile(
    r"(?P<begin>^<!-- BEGIN generated: (?P<name>[^>]*?) -->\n)(?P<body>.*?)"
    r"(?P<end>^<!-- END generated: (?P=name) -->$)",
    re.M | re.S,
)
FUNCS = ("softmax", "log_softmax", "logsumexp")


def _src() -> None:
    # the tables reuse the package's own formatting (this checkout's, not an installed copy)
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)


def newest(pattern: str, folder: Path) -> Path:
    """The newest result file: by the report's date, then by name (``-02f`` after ``-02e``)."""
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no {pattern} in {folder.relative_to(ROOT)}")
    return max(paths, key=lambda p: (json.loads(p.read_text(encoding="utf-8"))["date"], p.name))


def _link(path: Path, text: str | None = None) -> str:
    rel = path.relative_to(ROOT).as_posix()
    return f"[{text or path.name}]({BLOB}{rel})"


# -- bench ------------------------------------------------------------------------------
def _machine(m: dict[str, Any]) -> str:
    parts = [m.get("gpu", ""), f"{m['cpu']}, {m['cores']} cores"]
    if "memory_gib" in m:
        parts.append(f"{m['memory_gib']} GiB")
    parts.append(f"Python {m['python']}")
    skip = {"gpu", "cpu", "cores", "memory_gib", "python", "platform"}
    parts += [f"{k} {v}" for k, v in m.items() if k not in skip]
    return ", ".join(p for p in parts if p)


def _held_by_backend(goals: list[dict[str, Any]]) -> str:
    from xpsoftmax.bench.report import markdown_table

    by: dict[str, list[bool]] = {}
    for g in goals:
        by.setdefault(g["goal"].split()[0], []).append(bool(g["holds"]))
    rows = [[b, f"{sum(h)} of {len(h)}"] for b, h in by.items()]
    return markdown_table(["backend", "goals held"], rows)


def _timings(results: list[dict[str, Any]], case: str, dtype: str) -> str:
    """Subjects x functions: the median time and, where there is one, the ratio to the anchor."""
    from xpsoftmax.bench.report import _fmt_time, markdown_table

    rows: dict[tuple[str, str], dict[str, str]] = {}
    backends: list[str] = []
    for r in results:
        if r["case"] != case or r["dtype"] != dtype or r.get("axis", -1) != -1:
            continue
        cell = _fmt_time(r["median_s"])
        if r.get("vs_anchor") is not None:
            cell += f" ({r['vs_anchor']:.2f}x)"
        rows.setdefault((r["backend"], r["subject"]), {})[r["func"]] = cell
        if r["backend"] not in backends:
            backends.append(r["backend"])
    # each backend's rows together, in the order the run met them
    order = sorted(rows, key=lambda k: backends.index(k[0]))
    body = [[b, f"`{s}`", *(rows[b, s].get(f, "") for f in FUNCS)] for b, s in order]
    return markdown_table(["backend", "subject", *FUNCS], body)


def bench(folder: Path, case: str) -> str:
    from xpsoftmax.bench.report import goal_rows, held_line, markdown_table

    path = newest("bench-*.json", folder)
    report = json.loads(path.read_text(encoding="utf-8"))
    # reports before goals recorded their direction (2026-11-23) read it from the goal's name
    goals = [
        {"le": not any(w in g["goal"] for w in ("bandwidth", "throughput")), **g}
        for g in report["goals"]
    ]
    shapes = {tuple(r["shape"]) for r in report["results"] if r["case"] == case}
    shape = "x".join(map(str, max(shapes))) if shapes else case
    full = path.with_suffix(".md")
    out = [
        f"Measured {report['date']} on {_machine(report['machine'])}.",
        f"Command: `{report['command']}`.",
        f"Full report: {_link(full) if full.exists() else ''} ({_link(path, 'JSON')}).",
        "",
        f"**Goals: {held_line(goals)}.**",
        "",
        _held_by_backend(goals),
        "",
        f"Median time per call on the `{case}` case"
        + ("" if shape == case else f" ({shape})")
        + " in float32 over the last axis, and in brackets the ratio to the backend's anchor "
        "timed in the same repetitions:",
        "",
        _timings(report["results"], case, "float32"),
        "",
        "Every goal of the run:",
        "",
        markdown_table(["goal", "measured", "target", "holds"], goal_rows(goals)),
    ]
    return "\n".join(out) + "\n"


# -- the fused linear cross-entropy bench ------------------------------------------------
def bench_lce(folder: Path) -> str:
    """The newest ``python -m xpsoftmax.bench.lce_run`` report: its goals, and each
    subject's peak memory and time, the time as a ratio to the unfused computation
    of the same case and backend (timed in the same interleaved rounds)."""
    from xpsoftmax.bench.lce_run import goal_table
    from xpsoftmax.bench.report import markdown_table

    path = newest("lce-*.json", folder)
    report = json.loads(path.read_text(encoding="utf-8"))
    results = report["results"]
    unfused = {(r["case"], r["backend"]): r["median_s"] for r in results
               if r["subject"] == "unfused"}  # fmt: skip

    def mib(r: dict[str, Any]) -> str:
        if r["peak_bytes"] is None:
            return ""
        out = f"{r['peak_bytes'] / 2**20:.0f}"
        if r.get("jax_analysis_bytes") is not None:
            out += f" ({r['jax_analysis_bytes'] / 2**20:.0f})"
        return out

    def vs(r: dict[str, Any]) -> str:
        base = unfused.get((r["case"], r["backend"]))
        if not base or r["median_s"] is None:
            return ""
        return f"{r['median_s'] / base:.2f}x"

    rows = [[str(tuple(r["shape"])), r["backend"], r["subject"], mib(r),
             "" if r["median_s"] is None else f"{r['median_s']:.2f}",
             str(len(r["times_s"])), vs(r)]
            for r in results if not r["case"].startswith("sweep")]  # fmt: skip
    goals = report["goals"]
    held = sum(1 for g in goals if g["holds"])
    missed = sum(1 for g in goals if g["holds"] is False)
    out = [
        f"Measured {report['date']} on {_machine(report['machine'])}.",
        f"Command: `{report['command']}`.",
        f"Full report: {_link(path.with_suffix('.md'))} ({_link(path, 'JSON')}, "
        f"{_link(path.with_suffix('.png'), 'plot against V')}).",
        "",
        markdown_table(
            [
                "(N, D, V)",
                "backend",
                "subject",
                "peak MiB (XLA's analysis)",
                "median s",
                "rounds",
                "time / unfused",
            ],
            rows,
        ),
        "",
        f"**Goals: {held} of {len(goals)} hold, {missed} miss, "
        f"{len(goals) - held - missed} not judged.** A time goal is judged on the paired "
        "rounds (at least five, the limit outside the 90% interval of the median), a memory "
        "goal on the peaks (each subject in a fresh process):",
        "",
        goal_table(goals),
    ]
    return "\n".join(out) + "\n"


# -- conformance --------------------------------------------------------------------------
def conformance(folder: Path) -> str:
    from xpsoftmax.conformance.report import cell_text

    path = newest("compare-*.json", folder)
    data = json.loads(path.read_text(encoding="utf-8"))
    # compare.json writes inf and nan as strings (JSON has neither)
    m = {
        s: {
            g: {**c, "worst": None if c["worst"] is None else float(c["worst"])}
            for g, c in row.items()
        }
        for s, row in data["matrix"].items()
    }
    ran = data["subjects_run"]
    groups = [g for g in data["groups"] if any(g in m[s] for s in ran)]
    env = ", ".join(f"{k} {v}" for k, v in data["environment"].items())
    out = [
        f"Run {data['date']}: `{data['command']}` ({env}; {_link(path, 'JSON')}).",
        "",
        "| subject | " + " | ".join(groups) + " |",
        "|---" * (len(groups) + 1) + "|",
    ]
    out += [f"| `{s}` | " + " | ".join(cell_text(m[s].get(g)) for g in groups) + " |" for s in ran]
    out += ["", "Not covered by this run:", ""]
    out += [f"- `{s}`: {why}" for s, why in data["subjects_skipped"].items()] or ["- nothing"]
    out += ["", "Contract findings (input modified; type, dtype or device of the result):", ""]
    out += [f"- {c}" for c in data["contract_findings"]] or ["- none"]
    return "\n".join(out) + "\n"


def errata() -> str:
    from xpsoftmax.conformance.report import errata_markdown

    return errata_markdown() + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "bench cpu": lambda: bench(RESULTS, "large 2-D"),
    "bench gpu": lambda: bench(RESULTS / "gpu", "16384x16384"),
    "bench lce": lambda: bench_lce(RESULTS),
    "conformance cpu": lambda: conformance(RESULTS),
    "errata": errata,
}


def render(text: str) -> str:
    """The page with each generated region rewritten (an unknown region name is an error)."""
    _src()

    def sub(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in GENERATORS:
            raise KeyError(f"unknown generated region {name!r}; known: {sorted(GENERATORS)}")
        return m.group("begin") + "\n" + GENERATORS[name]() + "\n" + m.group("end")

    return REGION.sub(sub, text)


def pages() -> list[Path]:
    return [p for p in sorted(DOCS.glob("*.md")) if REGION.search(p.read_text(encoding="utf-8"))]


def store_compare(src: Path, command: str) -> Path:
    """Keep a ``compare --out`` result without its per-case results (the matrix keeps them)."""
    data = json.loads(src.read_text(encoding="utf-8"))
    date = datetime.date.today().isoformat()
    kept = {"date": date, "command": command}
    kept |= {k: v for k, v in data.items() if k != "results"}
    dest = RESULTS / f"compare-{date}.json"
    dest.write_text(json.dumps(kept, indent=1) + "\n", encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/docs_pages.py", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 where a page is stale")
    parser.add_argument("--store-compare", type=Path, help="a compare.json to keep")
    parser.add_argument("--command", default="xpsoftmax compare", help="the compare command")
    args = parser.parse_args(argv)
    if args.store_compare is not None:
        print(f"wrote {store_compare(args.store_compare, args.command).relative_to(ROOT)}")
    stale = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            stale.append(page.relative_to(ROOT).as_posix())
            if not args.check:
                page.write_text(new, encoding="utf-8")
    verb = "stale" if args.check else "rewrote"
    print(f"{verb}: {', '.join(stale)}" if stale else "every generated region is up to date")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
