"""``xpsoftmax info``: what is installed, on which devices, and a worked example on each."""

from __future__ import annotations

import argparse
import platform
from typing import Any

#: seed document 000's example: softmax([[1,2,3],[4,5,6]], dim=1)
EXAMPLE = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--all-devices", action="store_true", help="also list every device a backend reports"
    )


def collect(all_devices: bool = False) -> list[dict[str, Any]]:
    """One row per backend x device: version, device, and the example's result."""
    import numpy as np

    import xpsoftmax as xs

    from .testing import targets

    rows = []
    for t in targets(devices="all" if all_devices else "default"):
        row: dict[str, Any] = {"target": t.id, "backend": t.backend_name, "device": t.device_label}
        if t.skip:
            row.update(status="skipped", reason=t.skip)
            rows.append(row)
            continue
        row["version"] = t.backend.version()
        try:
            with t.context():
                x = t.asarray(np.asarray(EXAMPLE, dtype=np.float32))
                y = xs.softmax(x, axis=1)
                row.update(
                    status="ok",
                    result=np.array2string(t.to_numpy(y), precision=6, separator=", ").replace(
                        "\n", ""
                    ),
                    type=type(y).__name__,
                )
        except Exception as exc:  # report, don't hide: info is a diagnostic
            row.update(status="error", reason=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    return rows


def extras() -> str:
    """The optional packages of ``compare``'s report: each with its version, or
    "not installed" and what it would add."""
    import importlib.metadata as md

    from ._cli_options import REPORT_EXTRAS, missing

    parts = []
    for dist, adds in REPORT_EXTRAS.items():
        if missing(dist):
            parts.append(f"{dist} not installed (for {adds})")
        else:
            parts.append(f"{dist} {md.version(dist)}")
    return ", ".join(parts)


def main(args: argparse.Namespace) -> int:
    import xpsoftmax

    print(
        f"xpsoftmax {xpsoftmax.__version__} on Python {platform.python_version()} ({platform.machine()})"
    )
    print(f"report extras: {extras()}")
    print(f"example: softmax({EXAMPLE}, axis=1) in float32 on each backend x device\n")
    rows = collect(getattr(args, "all_devices", False))
    width = max(len(r["target"]) for r in rows)
    failed = False
    for r in rows:
        if r["status"] == "ok":
            print(
                f"{r['target']:<{width}}  {r['backend']:<7} {r['version']:<17} {r['type']:<10} {r['result']}"
            )
        else:
            failed |= r["status"] == "error"
            print(f"{r['target']:<{width}}  {r['status']}: {r['reason']}")
    return 1 if failed else 0
