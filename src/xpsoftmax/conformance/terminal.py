"""``compare``'s matrix and notable differences on a terminal of a given width.

The matrix (subjects x case groups) is split into several tables of a few
groups each, the subject column repeated, so that no line is wider than the
terminal: nothing wraps.  Text cut to fit says how much was cut and where the
whole of it is.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

#: characters of one notable difference printed on the terminal (the files have all)
DIFFERENCE_CHARS = 240


def terminal_width() -> int | None:
    """The columns of the terminal (``COLUMNS`` wins), or None where the output
    is no terminal (a pipe, a file): then nothing needs to fit."""
    cols = shutil.get_terminal_size(fallback=(0, 0)).columns
    return cols if cols > 0 else None


def column_chunks(first: int, widths: Sequence[int], total: int | None, per_column: int,
                  edge: int) -> list[list[int]]:  # fmt: skip
    """The indices of ``widths`` in runs that fit ``total`` characters: a table
    takes ``edge + first`` (its first column, with what surrounds it) plus
    ``width + per_column`` for each column; every run holds at least one."""
    if total is None:
        return [list(range(len(widths)))] if widths else []
    chunks: list[list[int]] = []
    used = 0
    for i, w in enumerate(widths):
        cost = w + per_column
        if chunks and used + cost <= total:
            chunks[-1].append(i)
            used += cost
        else:
            chunks.append([i])
            used = edge + first + cost
    return chunks


def clip(text: str, limit: int, full_text_in: str) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with "…" and how
    many characters are left out and where they are."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text) - limit + 1} more characters; full text in {full_text_in})"


def print_matrix(
    title: str, subjects: Sequence[str], groups: Sequence[str], cells: Sequence[Sequence[str]],
    width: int | None,
) -> None:  # fmt: skip
    """subjects x groups (``cells[i][j]``: subject i, group j), in as many
    tables as ``width`` needs; with rich where installed ("FAIL" cells red)."""
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        _print_plain(title, subjects, groups, cells, width)
        return
    first = max([len("subject"), *map(len, subjects)])
    widths = [max([len(g), *(len(row[j]) for row in cells)]) for j, g in enumerate(groups)]
    # rich's default table: a rule at the left edge, and each column padded by
    # a space on each side with a rule at its right
    chunks = column_chunks(first, widths, width, per_column=3, edge=4)
    console = Console(width=width or (4 + first + sum(w + 3 for w in widths)))
    console.print(_title(title, len(chunks)), markup=False, highlight=False)
    for chunk in chunks:
        table = Table(show_lines=False)
        table.add_column("subject", no_wrap=True)
        for j in chunk:
            table.add_column(groups[j], justify="right", no_wrap=True)
        for s, row in zip(subjects, cells, strict=True):
            shown = [f"[red]{escape(row[j])}[/red]" if row[j].startswith("FAIL") else
                     escape(row[j]) for j in chunk]  # fmt: skip
            table.add_row(escape(s), *shown)
        console.print(table)


def _print_plain(
    title: str, subjects: Sequence[str], groups: Sequence[str], cells: Sequence[Sequence[str]],
    width: int | None,
) -> None:  # fmt: skip
    first = max([len("subject"), *map(len, subjects)])
    widths = [max([len(g), *(len(row[j]) for row in cells)]) for j, g in enumerate(groups)]
    chunks = column_chunks(first, widths, width, per_column=2, edge=0)
    print(_title(title, len(chunks)))
    for chunk in chunks:
        print("subject".ljust(first), *(groups[j].rjust(widths[j]) for j in chunk), sep="  ")
        for s, row in zip(subjects, cells, strict=True):
            print(s.ljust(first), *(row[j].rjust(widths[j]) for j in chunk), sep="  ")
        print()


def _title(title: str, tables: int) -> str:
    return title if tables < 2 else f"{title} (in {tables} tables, to fit the terminal)"
