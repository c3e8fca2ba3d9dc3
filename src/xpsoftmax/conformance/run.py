"""``xpsoftmax conformance``: run the suite; exit 1 if any xpsoftmax subject fails.

Native and seed subjects are reference points: their failures are printed as
findings and never change the exit status.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .._cli_options import (
    UsageError,
    backend_names,
    check_unmatched,
    csv,
    missing,
    note_missing,
    one_of,
)


def _catalogue_dtypes() -> list[str]:
    from .cases import accuracy_dtypes, stored_cases

    return sorted({c.dtype for c in stored_cases()} | set(accuracy_dtypes()))


def _groups() -> tuple[str, ...]:
    from .cases import GROUPS

    return GROUPS


KINDS = ("xpsoftmax", "native", "seed")


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options ``conformance`` and ``compare`` share."""
    parser.add_argument(
        "--backends",
        type=one_of("backend", backend_names),
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
        type=one_of("dtype", _catalogue_dtypes),
        default=None,
        help="comma list of input dtypes to keep, e.g. float32,float64",
    )
    parser.add_argument(
        "--subjects",
        type=csv,
        default=None,
        help="keep subjects whose id contains one of these, e.g. xpsoftmax,torch@",
    )
    parser.add_argument(
        "--kinds",
        type=one_of("kind", lambda: KINDS),
        default=None,
        help="comma list of subject kinds: xpsoftmax,native,seed",
    )
    parser.add_argument(
        "--groups",
        type=one_of("group", _groups),
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


def select(args: argparse.Namespace) -> list[Any]:
    """The subjects ``args`` select; :class:`UsageError` for a device label or
    a ``--subjects`` pattern that matches nothing here."""
    from ..testing import targets
    from .subjects import all_subjects

    subjects = all_subjects(args.backends, args.devices, args.kinds)
    if args.devices not in ("default", "all"):
        labels = {s.target.device_label for s in subjects if s.target is not None}
        if not set(csv(args.devices)) <= labels:  # name the devices there are
            labels = {t.device_label for t in targets(args.backends, "all")}
        check_unmatched("device", csv(args.devices), labels)
    if args.subjects is not None:
        unmatched = [n for n in args.subjects if not any(n in s.id for s in subjects)]
        if unmatched:
            raise UsageError(
                f"no subject id contains {', '.join(unmatched)} (ids here look like "
                f"{', '.join(s.id for s in subjects[:3])}, ...)"
            )
        subjects = [s for s in subjects if any(n in s.id for n in args.subjects)]
    if any(s.target is not None and s.target.backend_name == "torch" for s in subjects):
        _check_compile_backend(args.compile_backend)
    return subjects


def _check_compile_backend(name: str) -> None:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return
    import torch._dynamo

    known = torch._dynamo.list_backends(exclude_tags=())
    if name not in known:
        raise UsageError(f"unknown --compile-backend {name} (torch knows: {', '.join(known)})")


def execute(args: argparse.Namespace) -> list[Any]:
    """Select subjects and cases from ``args`` and run them with a progress bar."""
    from .cases import GROUPS, all_cases
    from .runner import run

    subjects = select(args)
    groups = args.groups
    cases = all_cases(args.dtypes, groups)
    extra = groups is None or bool({"properties", "transforms"} & set(groups))
    total = len(subjects) * (len(cases) + (1 if extra else 0))
    if args.no_progress or not sys.stderr.isatty() or missing("rich"):
        if not args.no_progress and sys.stderr.isatty():
            note_missing(["rich"], "a line per subject instead of a progress bar")
        return _run_plain(subjects, cases, extra, args)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  transient=False) as bar:  # fmt: skip
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
    """One line per subject on stderr, with the time so far and an estimate of
    the time left (subjects differ in cost: the estimate is the mean so far)."""
    from .runner import run

    start = time.perf_counter()
    results = []
    for i, s in enumerate(subjects, 1):
        results += run([s], cases, extra, args.compile_backend)
        spent = time.perf_counter() - start
        left = spent / i * (len(subjects) - i)
        print(f"  [{i}/{len(subjects)}] {s.id}: done ({spent:.0f} s, about {left:.0f} s left)",
              file=sys.stderr)  # fmt: skip
    return results


def say_unchecked(args: argparse.Namespace) -> None:
    """One line per accuracy set left out here, with why (never silently)."""
    from .cases import unchecked_accuracy

    groups = args.groups
    if groups is None or "accuracy" in groups:
        for dtype, why in unchecked_accuracy(args.dtypes).items():
            print(f"not checked here: the {dtype} accuracy sets: {why}")


def main(args: argparse.Namespace) -> int:
    from .report import contract_findings, covered, differences
    from .runner import failures

    results = execute(args)
    ran, skipped = covered(results)
    bad = failures(results)
    print(f"{len(results)} results over {len(ran)} subjects ({len(skipped)} skipped)")
    for s, why in skipped.items():
        print(f"  skipped {s}: {why}")
    say_unchecked(args)
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
