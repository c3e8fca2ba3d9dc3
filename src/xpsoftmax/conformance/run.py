"""``xpsoftmax conformance``: run the suite; exit 1 if any xpsoftmax subject fails.

Native and seed subjects are reference points: their failures are printed as
findings and never change the exit status.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any


def _csv(s: str) -> list[str]:
    return [p.strip() for p in s.split(",") if p.strip()]


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options ``conformance`` and ``compare`` share."""
    parser.add_argument(
        "--backends",
        type=_csv,
        default=None,
        help="comma list: numpy,torch,jax,cupy,dask,strict (default: all installed)",
    )
    parser.add_argument(
        "--devices",
        default="default",
        help="'default' (CPU + every GPU), 'all', or device labels such as cpu,gpu",
    )
    parser.add_argument(
        "--dtypes",
        type=_csv,
        default=None,
        help="comma list of input dtypes to keep, e.g. float32,float64",
    )
    parser.add_argument(
        "--subjects",
        type=_csv,
        default=None,
        help="keep subjects whose id contains one of these, e.g. xpsoftmax,torch@",
    )
    parser.add_argument(
        "--kinds",
        type=_csv,
        default=None,
        help="comma list of subject kinds: xpsoftmax,native,seed",
    )
    parser.add_argument(
        "--groups",
        type=_csv,
        default=None,
        help="comma list of case groups (default: all), e.g. examples,accuracy",
    )
    parser.add_argument(
        "--compile-backend",
        default="aot_eager",
        help="torch.compile backend for the fullgraph check (inductor needs a C++ "
        "compiler and ~15 s per function here)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="list every native finding")


def execute(args: argparse.Namespace) -> list[Any]:
    """Select subjects and cases from ``args`` and run them with a progress bar."""
    from .cases import GROUPS, all_cases
    from .runner import run
    from .subjects import all_subjects

    subjects = all_subjects(args.backends, args.devices, args.kinds, args.subjects)
    groups = args.groups
    if groups is not None:
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise SystemExit(f"unknown group(s) {unknown}; known: {list(GROUPS)}")
    cases = all_cases(args.dtypes, groups)
    extra = groups is None or bool({"properties", "transforms"} & set(groups))
    total = len(subjects) * (len(cases) + (1 if extra else 0))
    if args.no_progress or not sys.stderr.isatty():
        try:
            from rich.progress import Progress
        except ImportError:
            Progress = None  # type: ignore[assignment,misc]
        if Progress is None or args.no_progress:
            return _run_plain(subjects, cases, extra, args)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=False) as bar:  # fmt: skip
        task = bar.add_task("conformance", total=total)

        def tick(subject: str) -> None:
            bar.update(task, advance=1, description=subject[:36])

        results = run(subjects, cases, extra, args.compile_backend, tick)
        groups_run = [g for g in (groups or GROUPS) if g not in ("properties", "transforms")]
        results = [r for r in results if r.group in groups_run or extra]
    return results


def _run_plain(
    subjects: list[Any], cases: list[Any], extra: bool, args: argparse.Namespace
) -> list[Any]:
    from .runner import run

    start = time.perf_counter()
    results = []
    for s in subjects:
        results += run([s], cases, extra, args.compile_backend)
        print(f"  {s.id}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return results


def main(args: argparse.Namespace) -> int:
    from .report import contract_findings, covered, differences
    from .runner import failures

    results = execute(args)
    ran, skipped = covered(results)
    bad = failures(results)
    print(f"{len(results)} results over {len(ran)} subjects ({len(skipped)} skipped)")
    for s, why in skipped.items():
        print(f"  skipped {s}: {why}")
    diffs = differences(results)
    print(f"{len(diffs)} cases where native or seed subjects differ (findings, not failures)")
    for d in diffs if args.verbose else diffs[:10]:
        print("  " + d)
    for c in contract_findings(results):
        print("  contract: " + c)
    if bad:
        print(f"\n{len(bad)} xpsoftmax FAILURES:")
        for r in bad:
            print(f"  {r.subject} {r.case}: {r.status} {r.detail} {'; '.join(r.contract)}")
        return 1
    print("every xpsoftmax subject passed every case")
    return 0
