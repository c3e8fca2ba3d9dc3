"""``xpsoftmax bench``'s command line: the flags, the run, the printed and written report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from .cases import FUNCS, GRID, QUICK_GRID
from .goals import goals
from .report import HEADER, goal_rows, held_line, machine, markdown, plot, table_rows, text_table
from .timing import available, run_grid

DEVICES = ("all", "cpu", "gpu")


# -- command ------------------------------------------------------------------------
def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is like 4096x4096, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shapes",
        type=lambda s: [_shape(t) for t in s.split(",")],
        help="comma-separated shapes such as 4x8,4096x4096, timed over the last axis (default: "
        "the built-in cases: axis 0 and tuple axes, fwd+bwd, ending with the 1 GiB Dask "
        "throughput case)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid (tiny, small, 2048x2048 over both axes, a small 3-D over a "
        "tuple of axes, fwd+bwd on 256x1024 and 64x10, a first fwd+bwd call; no Dask "
        "throughput case)",
    )
    parser.add_argument(
        "--dtypes", default="float32,float64", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--funcs", default=",".join(FUNCS), help="comma-separated (default: all three)"
    )
    parser.add_argument(
        "--backends",
        default="numpy,torch,jax,cupy,dask",
        help="comma-separated; those not installed are skipped (default: %(default)s)",
    )
    parser.add_argument(
        "--devices",
        choices=DEVICES,
        default="all",
        help="time the CPU subjects, the GPU ones, or all (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="repetitions on large shapes (default: 5)"
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.01,
        help="seconds per measurement; small calls loop (default: 0.01)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--markdown", metavar="PATH", help="write the goals and the table as Markdown"
    )
    parser.add_argument(
        "--plot", metavar="PATH", help="write a PNG of time against size per subject"
    )


def main(args: argparse.Namespace) -> int:
    if args.shapes:
        grid: dict[str, tuple[int, ...]] | tuple = {"x".join(map(str, s)): s for s in args.shapes}
    else:
        grid = QUICK_GRID if args.quick else GRID
    funcs = [f for f in args.funcs.split(",") if f]
    bad = [f for f in funcs if f not in FUNCS]
    if bad:
        print(f"xpsoftmax bench: unknown function(s) {bad}; known: {list(FUNCS)}", file=sys.stderr)
        return 2
    dtypes = [d for d in args.dtypes.split(",") if d]
    backends = available([b for b in args.backends.split(",") if b])
    for name, why in backends.items():
        if why is not None:
            print(f"skipping {name}: {why}", file=sys.stderr)
    report_cmd = (
        "xpsoftmax bench " + " ".join(sys.argv[2:])
        if sys.argv[1:2] == ["bench"]
        else "xpsoftmax bench"
    )
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
    gs = goals(results)
    wall = time.perf_counter() - t0
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": report_cmd.strip(),
        "machine": machine(),
        "goals": gs,
        "results": [asdict(r) for r in results],
    }
    print(text_table(HEADER, table_rows(results)))
    if gs:
        print()
        print(text_table(["goal", "measured", "target", "holds"], goal_rows(gs)))
        print(f"goals: {held_line(gs)}")
    print(f"timed in {wall / 60:.1f} min", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(report))
    if args.plot:
        plot(results, args.plot)
    return 0
