"""``python -m xpsoftmax.bench.lce_run``: the fused linear cross-entropy bench.

For each case (:mod:`.lce_cases`) and backend: first every subject's peak
memory, each in its own process (:mod:`.lce_memory`), then their times in
this process, interleaved: one warm-up call each, then ``--repeat`` rounds
in which every subject runs once, in an order rotated from round to round;
the medians' ratios are the goals' time figures.  A subject whose warm-up
took longer than :data:`SLOW_S` is timed in the first round only (torch's
default options at V = 131072 take minutes a call).

``--cases accuracy`` adds the float32 accuracy against mpmath
(:mod:`.lce_accuracy`; needs mpmath).  Writes ``PREFIX.json`` (the rows and
the goals), ``PREFIX.md`` (the goal table and every row) and ``PREFIX.png``
(peak memory and time against V); ``--update PREFIX`` adds this run's rows
to a stored report (replacing those of the same case, backend and subject)
and judges the goals again.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from . import lce_accuracy
from .lce_cases import GOAL_CASES, LARGE_CASE, SWEEP, LceCase, goals
from .lce_memory import measure
from .lce_subjects import BACKENDS, subjects

#: a warm-up slower than this: timed once more only
SLOW_S = 60.0


def time_rounds(
    subs: dict[str, Callable[[], Any]], repeat: int, collect: bool = True
) -> dict[str, list[float]]:
    """Seconds per call of each subject over interleaved rounds (see the
    module docstring); ``collect``: a garbage collection before each call,
    so none pays for another's garbage."""
    times: dict[str, list[float]] = {k: [] for k in subs}
    slow = set()
    for name, fn in subs.items():
        t0 = time.perf_counter()
        fn()
        if time.perf_counter() - t0 > SLOW_S:
            slow.add(name)
    names = list(subs)
    for r in range(repeat):
        for k in range(len(names)):
            name = names[(k + r) % len(names)]
            if name in slow and r > 0:
                continue
            if collect:
                gc.collect()
            t0 = time.perf_counter()
            subs[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def run(
    cases: tuple[LceCase, ...],
    backends: tuple[str, ...],
    repeat: int,
    log: Callable[[str], None],
    done: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
) -> list[dict[str, Any]]:
    """Every case's rows; ``done(rows so far)`` after each case and backend
    (the report is written as it grows: a long run keeps what it measured)."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        for backend in backends:
            if case.backends is not None and backend not in case.backends:
                continue
            names = tuple(subjects(backend, LceCase("names", 8, 4, 16), None))
            names = tuple(n for n in names if n not in case.skip)
            mem = {}
            for name in names:
                log(f"{case.name} {backend} {name}: peak memory")
                mem[name] = measure(backend, name, case)
            log(f"{case.name} {backend}: timing {', '.join(names)}")
            subs = subjects(backend, case)
            times = time_rounds(subs, repeat)
            del subs
            gc.collect()
            for name in names:
                t = times[name]
                m = mem[name]
                rows.append({
                    "case": case.name, "shape": list(case.shape), "backend": backend,
                    "subject": name, "median_s": statistics.median(t) if t else None,
                    "times_s": t, "peak_bytes": m.get("peak_bytes"),
                    "jax_analysis_bytes": m.get("jax_analysis_bytes"), "error": m.get("error"),
                })  # fmt: skip
            done(rows)
    return rows


def _fmt_mib(b: Any) -> str:
    return "" if b is None else f"{b / 2**20:.0f}"


def markdown(report: dict[str, Any]) -> str:
    from .report import markdown_table

    m = report["machine"]
    held = [g for g in report["goals"] if g["holds"] is not None]
    lines = [
        f"Measured {report['date']} on: {', '.join(f'{k} {v}' for k, v in m.items())}.",
        f"Command: `{report['command']}`.",
        "",
        "Method: float32, forward + backward of a mean cross-entropy over class indices "
        "(x and the weight both need their gradient, no bias).  Times: medians of "
        "interleaved rounds in one process (a warm-up call each first; a subject whose "
        "warm-up took over a minute is timed once).  Peak memory: each subject in a fresh "
        "process, after a full-size warm-up call and malloc_trim, the peak resident set "
        "(VmHWM, reset through /proc/self/clear_refs) minus the resident set just before "
        "the call: every byte the call touched beyond its inputs, gradients included.  "
        "JAX also: its compiled program's memory_analysis (temporaries + outputs).",
        "",
        f"Goals ({sum(g['holds'] for g in held)} of {len(held)} judged hold; "
        f"{len(report['goals']) - len(held)} not judged):",
        "",
        goal_table(report["goals"]),
        "",
        *_accuracy_table(report.get("accuracy", [])),
        "All rows:",
        "",
        markdown_table(
            [
                "case",
                "(N, D, V)",
                "backend",
                "subject",
                "median",
                "times (s)",
                "peak MiB",
                "JAX analysis MiB",
            ],
            [
                [
                    r["case"],
                    str(tuple(r["shape"])),
                    r["backend"],
                    r["subject"],
                    "" if r["median_s"] is None else f"{r['median_s']:.2f} s",
                    " ".join(f"{t:.2f}" for t in r["times_s"]),
                    _fmt_mib(r["peak_bytes"]),
                    _fmt_mib(r["jax_analysis_bytes"]),
                ]
                for r in report["results"]
            ],
        ),
    ]
    return "\n".join(lines) + "\n"


def goal_table(goals: list[dict[str, Any]]) -> str:
    """The goals as a Markdown table (the report's and the docs page's)."""
    from .report import markdown_table

    verdict = {True: "yes", False: "NO", None: "not judged"}
    rows = [[g["goal"], "" if g["value"] is None else f"{g['value']:.3f}",
             f"<= {g['limit']:g}", verdict[g["holds"]], g.get("note", "")]
            for g in goals]  # fmt: skip
    return markdown_table(["goal", "measured", "limit", "holds", "note"], rows)


def _accuracy_table(rows: list[dict[str, Any]]) -> list[str]:
    from .report import markdown_table

    if not rows:
        return []
    head = ["case", "backend", "chunks", "loss", "grad_x", "grad_w", "grad_b",
            "float32 product floor (x, w, b)"]  # fmt: skip
    body = [
        [r["case"], r["backend"], r["chunk"], f"{r['loss_ulps']:.2f}",
         *(f"{r[f'grad_{k}_ulps']:.2f}" for k in "xwb"),
         ", ".join(f"{r[f'grad_{k}_floor_ulps']:.2f}" for k in "xwb")]
        for r in rows
    ]  # fmt: skip
    return [
        "Accuracy, float32, against mpmath (ulps; gradients normwise, in units of 2**-23): "
        "inputs of few bits, so the logits are exact and the error is the fused "
        "computation's own; the floor is the float32 product of the exact logit gradient.",
        "",
        markdown_table(head, body),
        "",
    ]


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Peak memory and time against V at N = 2048, D = 512 (the sweep)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    series: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for r in rows:
        n, d, v = r["shape"]
        if (n, d) != (2048, 512) or r["median_s"] is None:
            continue
        peak = r["peak_bytes"] / 2**20 if r["peak_bytes"] else float("nan")
        series.setdefault((r["backend"], r["subject"]), []).append((v, peak, r["median_s"]))
    for (backend, subject), pts in sorted(series.items()):
        pts.sort()
        vs = [p[0] for p in pts]
        style = "-" if subject == "xpsoftmax" else "--"
        label = f"{backend} {subject}"
        axes[0].plot(vs, [p[1] for p in pts], style, marker="o", label=label)
        axes[1].plot(vs, [p[2] for p in pts], style, marker="o", label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="V (classes)",
                ylabel="peak memory above the inputs (MiB)", title="N=2048, D=512, f32 fwd+bwd")  # fmt: skip
    axes[1].set(xscale="log", yscale="log", xlabel="V (classes)", ylabel="median time (s)",
                title="N=2048, D=512, f32 fwd+bwd")  # fmt: skip
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(r.get(k) for k in ("case", "backend", "subject", "chunk"))

    fresh = {key(r) for r in new}
    return [r for r in old if key(r) not in fresh] + new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xpsoftmax.bench.lce_run")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="accuracy,goals,sweep,large",
                        help="comma list of accuracy, goals, sweep, large (default: all)")  # fmt: skip
    parser.add_argument("--out", metavar="PREFIX", help="write PREFIX.json, PREFIX.md, PREFIX.png")
    parser.add_argument("--update", metavar="PREFIX",
                        help="add this run's rows to PREFIX.json and write all three again")  # fmt: skip
    parser.add_argument("--rejudge", metavar="PREFIX",
                        help="judge PREFIX.json's goals again from its rows (nothing is run) "
                        "and write PREFIX.json and PREFIX.md")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rejudge:
        return rejudge(args.rejudge)
    pick = {"goals": GOAL_CASES, "sweep": SWEEP, "large": (LARGE_CASE,), "accuracy": ()}
    groups = args.cases.split(",")
    cases = tuple(c for name in groups for c in pick[name])
    backends = tuple(b for b in args.backends.split(",") if b)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - t0:7.1f} s  {msg}", file=sys.stderr, flush=True)

    accuracy: list[dict[str, Any]] = []
    if "accuracy" in groups:
        log("accuracy against mpmath")
        accuracy = lce_accuracy.measure(backends)
    from .report import machine

    command = "python -m xpsoftmax.bench.lce_run " + " ".join(argv or sys.argv[1:])
    prefix = args.update or args.out
    stored: dict[str, Any] = {"results": [], "accuracy": []}
    if args.update:
        with open(args.update + ".json") as f:
            stored = json.load(f)
        command = f"{stored['command']}; then {command}"
    info = machine()

    def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
        results = _merge(stored["results"], rows)
        acc = _merge(stored.get("accuracy", []), accuracy)
        return {"date": time.strftime("%Y-%m-%d"), "command": command, "machine": info,
                "goals": lce_accuracy.goals(acc) + goals(results), "accuracy": acc,
                "results": results}  # fmt: skip

    def write(rows: list[dict[str, Any]]) -> None:
        if prefix:
            rep = report(rows)
            with open(prefix + ".json", "w") as f:
                json.dump(rep, f, indent=1)
            with open(prefix + ".md", "w") as f:
                f.write(markdown(rep))
            plot(rep["results"], prefix + ".png")

    rows = run(cases, backends, args.repeat, log, write)
    write(rows)
    print(markdown(report(rows)))
    return 0


def rejudge(prefix: str) -> int:
    """The goals of a stored report judged again by today's rules, from its rows."""
    with open(prefix + ".json") as f:
        rep = json.load(f)
    rep["goals"] = lce_accuracy.goals(rep.get("accuracy", [])) + goals(rep["results"])
    with open(prefix + ".json", "w") as f:
        json.dump(rep, f, indent=1)
    with open(prefix + ".md", "w") as f:
        f.write(markdown(rep))
    print(markdown(rep))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
