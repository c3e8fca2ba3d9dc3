"""The ``xpsoftmax`` command: info, compare, conformance, bench.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``; this file only wires them, importing a module when its
subcommand runs so that ``xpsoftmax info`` stays fast.  A bad option is a
usage error (exit status 2) for every subcommand (see :mod:`._cli_options`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from ._cli_options import run

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "compare": (
        "xpsoftmax.conformance.compare",
        "run the conformance cases over every installed subject and write a report (the main job)",
    ),
    "conformance": (
        "xpsoftmax.conformance.run",
        "run the conformance suite; non-zero exit if an xpsoftmax subject fails",
    ),
    "bench": ("xpsoftmax.bench", "time xpsoftmax against the installed native kernels"),
    "info": ("xpsoftmax._info", "installed backends, versions, devices, and an example on each"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xpsoftmax",
        description="softmax, log_softmax and logsumexp on every array library, and a suite that compares them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        # a short usage line: an error then takes two lines, not a screenful
        p = sub.add_parser(
            name, help=help_, description=help_, usage="%(prog)s [options]  (--help lists them)"
        )
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # a subcommand whose extras are missing
            p.set_defaults(_missing=str(exc))
            continue
        mod.add_arguments(p)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.print_help()
        return 2
    if extra:  # said by the subcommand's parser, with its own usage line
        _subparser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    missing = getattr(args, "_missing", None)
    if missing:
        print(f"xpsoftmax {args.command}: unavailable here: {missing}", file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    return run(_subparser(parser, args.command), module.main, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
