"""``xpsoftmax compare``: the conformance cases over every installed subject, as a matrix.

Prints subjects x case groups (pass / FAIL with the worst error in ulps), the
notable differences between frameworks, and with ``--out DIR`` writes the same
as ``compare.json`` and ``compare.md`` plus two PNG plots: seed 001's "logits
vs softmax probabilities" bar chart (``--logits``) and the error heatmap.
Works with NumPy alone and grows with every backend installed.  Exit status 1
if an xpsoftmax subject fails.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .run import _csv, add_common, execute


def _floats(s: str) -> list[float]:
    return [float(v) for v in _csv(s)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write compare.json, compare.md and the PNG plots into this folder",
    )
    parser.add_argument(
        "--logits",
        type=_floats,
        default=[1.5, 0.8, -0.2],
        help="logits of the bar chart (default: seed 001's 1.5,0.8,-0.2)",
    )
    parser.add_argument("--max-differences", type=int, default=15,
                        help="how many notable differences to print (all go to the files)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    from .cases import GROUPS
    from .report import cell_text, contract_findings, covered, differences, matrix, write
    from .runner import failures

    results = execute(args)
    m = matrix(results)
    ran, skipped = covered(results)
    groups = [g for g in GROUPS if any(g in m[s] for s in ran)]
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        Console = None  # type: ignore[assignment,misc]
    if Console is not None:
        table = Table(
            title="xpsoftmax compare: worst error in ulps per case group", show_lines=False
        )
        table.add_column("subject", no_wrap=True)
        for g in groups:
            table.add_column(g, justify="right")
        for s in ran:
            cells = []
            for g in groups:
                t = cell_text(m[s].get(g))
                cells.append(f"[red]{t}[/red]" if t.startswith("FAIL") else t)
            table.add_row(escape(s), *cells)
        Console(width=max(200, 14 * len(groups) + 40)).print(table)
    else:
        for s in ran:
            print(s, *(f"{g}={cell_text(m[s].get(g))}" for g in groups))
    devices = sorted({s.split("@")[-1] for s in ran})
    print(f"devices covered: {', '.join(devices)}")
    for s, why in skipped.items():
        print(f"not covered: {s}: {why}")
    diffs = differences(results)
    print(f"\nnotable differences ({len(diffs)} cases; native and seed subjects vs mpmath):")
    for d in diffs[: args.max_differences]:
        print(f"  - {d[:240]}")
    for c in contract_findings(results):
        print(f"  - contract: {c}")
    if args.out is not None:
        command = "xpsoftmax compare " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        for p in write(results, args.out, args.logits, command.strip()):
            print(f"wrote {p}")
    bad = failures(results)
    if bad:
        print(
            f"\n{len(bad)} xpsoftmax failures, e.g. {bad[0].subject} {bad[0].case}: {bad[0].detail}"
        )
        return 1
    return 0
