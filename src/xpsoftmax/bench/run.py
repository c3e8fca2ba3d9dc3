"""``xpsoftmax bench``'s command line: the flags, the run, the printed and written report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from .._cli_options import UsageError, backend_names, missing, one_of, seconds, whole_number
from .cases import FUNCS, GRID, LOSS_FUNCS, QUICK_GRID
from .goals import goals
from .report import HEADER, goal_rows, held_line, machine, markdown, plot, table_rows, text_table
from .timing import available, run_grid

DEVICES = ("all", "cpu", "gpu")


# -- command ------------------------------------------------------------------------
#: the dtypes the bench times (and its goals name)
DTYPES = ("float32", "float64")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is like 4096x4096, got {text!r}") from None
    if any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"every length of a shape is 1 or more, got {text!r}")
    return shape


def _shapes(text: str) -> list[tuple[int, ...]]:
    return [_shape(t) for t in text.split(",")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shapes",
        type=_shapes,
        help="comma-separated shapes such as 4x8,4096x4096, timed over the last axis (default: "
        "the built-in cases: axis 0 and tuple axes, fwd+bwd, ending with the 1 GiB Dask "
        "throughput case)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid (tiny, small, 2048x2048 over both axes, a small 3-D over a "
        "tuple of axes, fwd+bwd on 256x1024; no Dask throughput case); its timings judge "
        "no goal",
    )
    parser.add_argument(
        "--dtypes",
        type=one_of("dtype", lambda: DTYPES),
        default=list(DTYPES),
        help="comma-separated (default: float32,float64)",
    )
    parser.add_argument(
        "--funcs",
        type=one_of("function", lambda: FUNCS + LOSS_FUNCS),
        default=list(FUNCS + LOSS_FUNCS),
        help="comma-separated (default: all four); cross_entropy times the loss cases "
        "(forward + backward against torch's F.cross_entropy and optax) alone",
    )
    parser.add_argument(
        "--backends",
        type=one_of("backend", backend_names),
        default=["numpy", "torch", "jax", "cupy", "dask"],
        help="comma-separated; those not installed are skipped (default: numpy,torch,jax,cupy,dask)",
    )
    parser.add_argument(
        "--devices",
        choices=DEVICES,
        default="all",
        help="time the CPU subjects, the GPU ones, or all (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=whole_number(1),
        default=5,
        help="repetitions on large shapes (default: 5; a goal needs 5 to be judged)",
    )
    parser.add_argument(
        "--min-time",
        type=seconds,
        default=0.01,
        help="seconds per measurement; small calls loop (default: 0.01)",
    )
    parser.add_argument("--json", metavar="PATH", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--markdown", metavar="PATH", type=Path, help="write the goals and the table as Markdown"
    )
    parser.add_argument(
        "--plot", metavar="PATH", type=Path, help="write a PNG of time against size per subject"
    )


def _load() -> float | None:
    """The 1-minute load average (None where the OS has none: Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def check_outputs(args: argparse.Namespace) -> None:
    """:class:`UsageError` before a run of minutes, for an output it could not write."""
    for flag in ("json", "markdown", "plot"):
        path = getattr(args, flag)
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"--{flag} {path}: no folder {path.parent}")
    if args.plot is not None and missing("matplotlib"):
        raise UsageError("--plot needs matplotlib (pip install 'xpsoftmax[report]')")


def main(args: argparse.Namespace) -> int:
    check_outputs(args)
    if args.shapes:
        grid: dict[str, tuple[int, ...]] | tuple = {"x".join(map(str, s)): s for s in args.shapes}
    else:
        grid = QUICK_GRID if args.quick else GRID
    funcs, dtypes = args.funcs, args.dtypes
    backends = available(args.backends)
    for name, why in backends.items():
        if why is not None:
            print(f"skipping {name}: {why}", file=sys.stderr)
    report_cmd = (
        "xpsoftmax bench " + " ".join(sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else "xpsoftmax bench"
    )
    load_before = _load()
    t0 = time.perf_counter()
    results = run_grid(
        grid,
        dtypes,
        funcs,
        backends,
        args.repeat,
        args.min_time,
        lambda m: print(
            f"  {time.perf_counter() - t0:6.1f} s  timing {m}", file=sys.stderr, flush=True
        ),
        args.devices,
    )
    gs = goals(results, quick=args.quick)
    wall = time.perf_counter() - t0
    info = machine()
    load = [round(v, 2) for v in (load_before, _load()) if v is not None]
    if load:
        info["load_average"] = load  # before and after the run
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": report_cmd.strip(),
        "machine": info,
        "goals": gs,
        "results": [asdict(r) for r in results],
    }
    print(text_table(HEADER, table_rows(results)))
    if gs:
        print()
        print(text_table(["goal", "measured", "target", "holds"], goal_rows(gs)))
        print(f"goals: {held_line(gs)}")
        if args.quick:
            print("a --quick run judges no goal: its repetitions are too few and too short")
    print(f"timed in {wall / 60:.1f} min", file=sys.stderr)
    if load and max(load) > info["cores"]:
        print(
            f"note: the machine was busy (load average {max(load):.1f} on {info['cores']} cores): "
            "threaded calls wait for cores, and their timings scatter",
            file=sys.stderr,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(report))
    if args.plot:
        plot(results, args.plot)
    return 0
