"""What the subcommands of ``xpsoftmax`` share: option types that check their
values, :class:`UsageError`, and the notes about missing optional packages.

A bad option is a usage error (argparse's ``parser.error``: the usage line,
one line that names the option and the value, exit status 2), never a
traceback and never silently accepted.  Values that can be checked alone are
checked by the option's ``type`` while parsing; those that need what is
installed (a device label, a subject name) raise :class:`UsageError` from the
subcommand, which :func:`run` turns into the same usage error.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from collections.abc import Callable, Iterable, Sequence

#: the optional packages of the ``report`` extra, and what each one adds
REPORT_EXTRAS = {
    "rich": "coloured tables and a progress bar with an ETA",
    "matplotlib": "the PNG plots",
}


class UsageError(Exception):
    """A bad option found after parsing; reported as ``parser.error(message)``."""


def run(
    parser: argparse.ArgumentParser,
    main: Callable[[argparse.Namespace], int | None],
    args: argparse.Namespace,
) -> int:
    """``main(args)``, with a :class:`UsageError` reported by ``parser.error`` (exit 2)."""
    try:
        return int(main(args) or 0)
    except UsageError as exc:
        parser.error(str(exc))


def csv(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


def one_of(what: str, known: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    """An option type: a comma list whose every item is in ``known()`` (called
    only when the option is given: it may load something)."""

    def parse(text: str) -> list[str]:
        items = csv(text)
        if not items:
            raise argparse.ArgumentTypeError(f"an empty list of {what}s")
        allowed = list(known())
        unknown = [i for i in items if i not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {what}{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                f"(known: {', '.join(allowed)})"
            )
        return items

    parse.__name__ = f"{what} list"  # argparse names the type in some messages
    return parse


def backend_names() -> list[str]:
    """Every backend name ``--backends`` accepts (no framework is imported)."""
    from .backends import BACKENDS

    return [b.name for b in BACKENDS]


def whole_number(least: int) -> Callable[[str], int]:
    """An option type: a whole number of at least ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def finite_floats(text: str) -> list[float]:
    """A comma list of at least one finite number."""
    items = csv(text)
    out = []
    for item in items:
        try:
            v = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {item!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"not a finite number: {item!r}")
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("an empty list of numbers")
    return out


def check_unmatched(what: str, wanted: Sequence[str], found: Iterable[str]) -> None:
    """:class:`UsageError` naming the items of ``wanted`` that are not in ``found``."""
    have = sorted(set(found))
    missing = [w for w in wanted if w not in have]
    if missing:
        raise UsageError(
            f"no {what} {', '.join(missing)} here (known here: {', '.join(have) or 'none'})"
        )


def missing(package: str) -> bool:
    """Whether ``package`` cannot be imported here (found without importing it)."""
    return importlib.util.find_spec(package) is None


def note_missing(packages: Iterable[str], doing_without: str) -> None:
    """One line on stderr for the optional packages that are not installed:
    what they would add, what this run does instead, and how to get them."""
    absent = [p for p in packages if missing(p)]
    if absent:
        adds = "; ".join(f"{p}: {REPORT_EXTRAS.get(p, p)}" for p in absent)
        print(
            f"note: {' and '.join(absent)} not installed ({adds}): {doing_without}; "
            "pip install 'xpsoftmax[report]' adds them",
            file=sys.stderr,
        )
