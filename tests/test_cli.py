"""The ``xpsoftmax`` command line: version, usage errors, what fits the terminal,
and a NumPy-only install (optional packages blocked in a subprocess).

Run in-process through ``main([...])`` where possible, on small selections
(``--backends numpy``, a few case groups): each test takes about a second.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import xpsoftmax
from xpsoftmax.cli import main
from xpsoftmax.conformance.terminal import clip, column_chunks, print_matrix

#: a few case groups with native differences, and the properties (mpmath's sigmoid)
SMALL = ["--backends", "numpy", "--no-progress"]
GROUPS = ["--groups", "examples,special,shapes,dtypes,axes,masks,properties"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"xpsoftmax {xpsoftmax.__version__}\n"


@pytest.mark.parametrize(
    "argv, said",
    [
        (["compare", "--backends", "foo"], "argument --backends: unknown backend foo"),
        (["conformance", "--backends", "numpy,foo"], "unknown backend foo"),
        (["bench", "--backends", "foo"], "unknown backend foo"),
        (["compare", "--dtypes", "float99"], "unknown dtype float99"),
        (["conformance", "--dtypes", "float32,float99"], "unknown dtype float99"),
        (["bench", "--dtypes", "float99"], "unknown dtype float99"),
        (["conformance", "--groups", "nosuch"], "unknown group nosuch"),
        (["compare", "--kinds", "natives"], "unknown kind natives"),
        (["compare", "--logits", "1,x"], "argument --logits: not a number: 'x'"),
        (["compare", "--logits", "1,inf"], "not a finite number: 'inf'"),
        (["compare", "--max-differences", "-1"], "must be at least 0, got -1"),
        (["bench", "--funcs", "softmaxx"], "unknown function softmaxx"),
        (["bench", "--shapes", "4x0"], "every length of a shape is 1 or more"),
        (["bench", "--shapes", "4xa"], "a shape is like 4096x4096"),
        (["bench", "--repeat", "0"], "must be at least 1, got 0"),
        (["bench", "--min-time", "nan"], "must be a finite number >= 0"),
        (["bench", "--json", "/nonexistent-folder/r.json"], "no folder /nonexistent-folder"),
        (["info", "--bogus"], "unrecognized arguments: --bogus"),
        (["compare", "--bogus"], "unrecognized arguments: --bogus"),
        # found once the installed devices and subjects are known
        (["conformance", "--backends", "numpy", "--devices", "nosuch"], "no device nosuch here"),
        (["compare", "--backends", "numpy", "--subjects", "zzz"], "no subject id contains zzz"),
    ],
)
def test_a_bad_option_is_a_one_line_usage_error(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    usage, error = err.splitlines()  # no traceback: the usage line and the error
    assert usage.startswith(f"usage: xpsoftmax {argv[0]}")
    assert error.startswith(f"xpsoftmax {argv[0]}: error: ") and said in error


def test_compare_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "report"
    f.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["compare", *SMALL, "--out", str(f)])
    assert exc.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err


def test_compare_fits_a_100_column_terminal_and_marks_what_it_cuts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xpsoftmax.conformance import compare

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(compare, "DIFFERENCE_CHARS", 60)
    assert main(["compare", *SMALL, *GROUPS, "--max-differences", "3"]) == 0
    out = capsys.readouterr().out
    table, _, rest = out.partition("devices covered:")
    assert re.search(r"\(in \d+ tables, to fit the terminal\)", table)
    assert max(map(len, table.splitlines())) <= 100
    for group in ("examples", "special", "masks", "properties", "contract"):
        assert group in table
    shown = [ln for ln in rest.splitlines() if ln.startswith("  - ") and "contract:" not in ln]
    assert len(shown) == 3
    long_one = next(ln for ln in shown if "…" in ln)
    assert long_one.endswith("more characters; full text in compare.md: add --out DIR)")
    assert long_one.index("…") == len("  - ") + 59
    assert "more (all of them in compare.md: add --out DIR)" in rest


def test_matrix_columns_wrap_to_the_width() -> None:
    # 14 groups of 21-character cells beside a 39-character subject column:
    # rich's table takes 4 + 39 and 3 + 21 per group
    for width, per_table in ((100, 2), (200, 6)):
        chunks = column_chunks(39, [21] * 14, width, per_column=3, edge=4)
        assert [len(c) for c in chunks[:-1]] == [per_table] * (len(chunks) - 1)
        assert [j for c in chunks for j in c] == list(range(14))
        assert all(4 + 39 + 24 * len(c) <= width for c in chunks)
    assert column_chunks(39, [21] * 14, None, 3, 4) == [list(range(14))]  # no terminal
    assert column_chunks(99, [21] * 3, 100, 3, 4) == [[0], [1], [2]]  # one group at least


def test_plain_matrix_without_rich_fits(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    monkeypatch.setitem(sys.modules, "rich.console", None)
    cells = [["FAIL 12/345 (1.2e+15)"] * 14]
    print_matrix("title", ["scipy.special@numpy:cpu"], [f"g{i}" for i in range(14)], cells, 100)
    lines = capsys.readouterr().out.splitlines()
    # 23 + 4 x (2 + 21) = 115 > 100: three groups a table
    assert lines[0] == "title (in 5 tables, to fit the terminal)"
    assert max(map(len, lines)) <= 100


def test_a_group_without_cases_for_a_subject_reads_n_a() -> None:
    from xpsoftmax.conformance.report import cell_text

    none = {"pass": 0, "fail": 0, "error": 0, "na": 0, "skip": 0, "worst": None}
    assert cell_text(None) == "n/a"
    assert cell_text({**none, "na": 3}) == "n/a"
    assert cell_text({**none, "skip": 2}) == "skip"
    assert cell_text({**none, "pass": 3, "fail": 1, "worst": 7.0}) == "FAIL 1/4 (7)"


def test_clip() -> None:
    assert clip("short", 10, "x.md") == "short"
    assert (
        clip("a" * 12, 10, "r/compare.md")
        == "a" * 9 + "… (3 more characters; full text in r/compare.md)"
    )


def test_progress_bar_has_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    import argparse

    from rich import progress

    from xpsoftmax.conformance import run

    columns: list[object] = []
    real = progress.Progress

    class Spy(real):  # type: ignore[misc,valid-type]
        def __init__(self, *cols: object, **kw: object) -> None:
            columns.extend(cols)
            super().__init__(*cols, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(progress, "Progress", Spy)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = argparse.Namespace(backends=["numpy"], devices="default", kinds=["xpsoftmax"],
                              subjects=None, dtypes=["float64"], groups=["examples"],
                              compile_backend="aot_eager", no_progress=False)  # fmt: skip
    assert run.execute(args)
    assert any(isinstance(c, progress.TimeRemainingColumn) for c in columns)


def test_plain_progress_says_the_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", *SMALL, "--groups", "examples", "--kinds", "xpsoftmax"]) == 0
    err = capsys.readouterr().err
    assert "[1/2] xpsoftmax[portable]@numpy:cpu: done" in err and "s left)" in err


def test_info_names_the_report_extras(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xpsoftmax import testing

    real = testing.targets
    # NumPy's row alone: the others import their frameworks (seconds)
    monkeypatch.setattr(testing, "targets", lambda devices: real(["numpy"], devices))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"xpsoftmax {xpsoftmax.__version__} on Python")
    assert "report extras: rich " in out and "matplotlib " in out
    assert "numpy:cpu" in out and "[[0.090031, 0.244728, 0.665241]" in out


#: what ``pip install xpsoftmax`` does not bring (the ``test`` and ``report``
#: extras, every other array library): blocked as if absent
def _numpy_only(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the command line as ``pip install xpsoftmax`` leaves it: NumPy and
    array-api-compat beside the package, nothing else (``python -S``: no
    site-packages; the two are linked into a folder of their own).  Blocking
    imports in ``sys.modules`` instead is not the same: array-api-compat 1.11
    reads a ``None`` there as an imported framework and imports it."""
    import array_api_compat
    import numpy as np

    site = tmp_path / "site"
    site.mkdir(exist_ok=True)  # a second command of the same test reuses it
    for where in {Path(m.__file__).resolve().parent.parent for m in (np, array_api_compat)}:
        for entry in where.iterdir():  # the package, its dist-info, numpy.libs
            keep = entry.name.split("-")[0].split(".")[0] in ("numpy", "array_api_compat")
            if keep and not (site / entry.name).exists():
                (site / entry.name).symlink_to(entry)
    src = Path(xpsoftmax.__file__).resolve().parent.parent
    code = f"import sys; from xpsoftmax.cli import main; sys.exit(main({list(argv)!r}))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(src)]), "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip


def test_compare_and_conformance_pass_with_numpy_alone(tmp_path: Path) -> None:
    """The sigmoid property's mpmath references ship as package data; missing
    matplotlib, rich and ml_dtypes are said, not silent."""
    out = tmp_path / "report"
    done = _numpy_only(tmp_path, "compare", "--out", str(out), "--groups", "examples,properties")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pass" in done.stdout and "FAIL" not in done.stdout.split("devices covered:")[0]
    assert "note: rich not installed" in done.stderr
    assert "note: matplotlib not installed" in done.stderr and "no PNG plots" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md"]
    done = _numpy_only(
        tmp_path, "conformance", "--groups", "properties,accuracy", "--dtypes", "bfloat16"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every xpsoftmax subject passed every case" in done.stdout
    assert "not checked here: the bfloat16 accuracy sets: ml_dtypes is not installed" in done.stdout


def test_the_docs_info_sample_lists_what_info_lists() -> None:
    """docs/index.md shows an ``xpsoftmax info`` run: its header lines and its
    backend x device rows are those of today's command (the sample went stale
    once, when the command gained its header and rows)."""
    from xpsoftmax import testing

    page = (Path(__file__).resolve().parent.parent / "docs" / "index.md").read_text("utf-8")
    sample = page.split("$ xpsoftmax info\n", 1)[1].split("```", 1)[0].splitlines()
    assert sample[0].startswith(f"xpsoftmax {xpsoftmax.__version__} on Python ")
    assert sample[1].startswith("report extras: ") and sample[2].startswith("example: softmax(")
    rows = [line.split()[0] for line in sample[3:] if line.strip()]
    # the backends, in order: a GPU row's presence depends on what is installed
    shown = list(dict.fromkeys(r.split(":")[0] for r in rows))
    assert shown == list(dict.fromkeys(t.backend_name for t in testing.targets()))
