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

from .._cli_options import UsageError, finite_floats, note_missing, whole_number
from .run import add_common, execute, say_unchecked
from .terminal import DIFFERENCE_CHARS, clip, print_matrix, terminal_width


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
        type=finite_floats,
        default=[1.5, 0.8, -0.2],
        help="logits of the bar chart (default: seed 001's 1.5,0.8,-0.2)",
    )
    parser.add_argument("--max-differences", type=whole_number(0), default=15,
                        help="how many notable differences to print (all go to the files)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    from .cases import GROUPS
    from .report import cell_text, contract_findings, covered, differences, matrix, write
    from .runner import failures

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder")
    results = execute(args)
    m = matrix(results)
    ran, skipped = covered(results)
    groups = [g for g in GROUPS if any(g in m[s] for s in ran)]
    note_missing(["rich"], "a plain table")
    print_matrix(
        "xpsoftmax compare: worst error in ulps per case group",
        ran,
        groups,
        [[cell_text(m[s].get(g)) for g in groups] for s in ran],
        terminal_width(),
    )
    devices = sorted({s.split("@")[-1] for s in ran})
    print(f"devices covered: {', '.join(devices)}")
    for s, why in skipped.items():
        print(f"not covered: {s}: {why}")
    say_unchecked(args)
    diffs = differences(results)
    full = str(args.out / "compare.md") if args.out is not None else "compare.md: add --out DIR"
    print(f"\nnotable differences ({len(diffs)} cases; native and seed subjects vs mpmath):")
    for d in diffs[: args.max_differences]:
        print(f"  - {clip(d, DIFFERENCE_CHARS, full)}")
    if len(diffs) > args.max_differences:
        print(f"  ... and {len(diffs) - args.max_differences} more (all of them in {full})")
    for c in contract_findings(results):
        print(f"  - contract: {c}")
    if args.out is not None:
        command = "xpsoftmax compare " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        for p in write(results, args.out, args.logits, command.strip()):
            print(f"wrote {p}")
        note_missing(["matplotlib"], "no PNG plots written")
    bad = failures(results)
    if bad:
        print(
            f"\n{len(bad)} xpsoftmax failures, e.g. {bad[0].subject} {bad[0].case}: {bad[0].detail}"
        )
        return 1
    return 0
