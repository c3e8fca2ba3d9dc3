"""Every example in README.md and docs/*.md runs, so the documents cannot rot.

An example is a fenced ```python block holding ``>>>`` prompts; each runs as a
doctest with its own globals (so every block imports what it uses).  A block
that needs optional libraries says so on the line before its fence, e.g.
``<!-- requires: torch, jax>=0.10 -->``: it is skipped, with the reason, where one of
them is missing or older.  Fenced python blocks without prompts (signatures) are not
examples.  The docstring examples of the package's modules run here too.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import xpsoftmax

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"(?:<!--\s*requires:\s*(?P<req>[^\n]*?)\s*-->\s*\n)?^```python[^\n]*\n(?P<body>.*?)^```\s*$",
    re.M | re.S,
)
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _blocks():
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if ">>>" not in m.group("body"):
                continue
            line = text.count("\n", 0, m.start("body")) + 1
            req = [r.strip() for r in (m.group("req") or "").split(",") if r.strip()]
            yield pytest.param(path, line, m.group("body"), req, id=f"{path.name}:{line}")


BLOCKS = list(_blocks())


def _run(text: str, name: str, path: Path, line: int, globs: dict) -> None:
    test = doctest.DocTestParser().get_doctest(text, globs, name, str(path), line - 1)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=out.append)
    if runner.failures:
        pytest.fail("".join(out), pytrace=False)


@pytest.mark.parametrize("path,line,body,requires", BLOCKS)
def test_doc_example(path, line, body, requires):
    for req in requires:
        # "jax" or "jax>=0.10": an example that shows a framework's own behaviour
        # holds from the version it was measured with (the minimum lane has older)
        module, _, minversion = (part.strip() for part in req.partition(">="))
        pytest.importorskip(
            module, minversion=minversion or None, reason=f"the example needs {req}"
        )
    _run(body, f"{path.name}:{line}", path, line, {})


#: pages without a ``>>>`` example of their own, and why
NO_EXAMPLES = {
    "performance.md": "tables generated from the bench reports, and shell commands",
    "development.md": "shell commands for contributors",
    "changelog.md": "CHANGELOG.md, included",
}
#: the first line of a page that another branch is writing (it replaces the file)
STUB = "<!-- stub:"


def test_docs_have_examples_and_are_linked():
    # a page without a single executed example, or one nobody can reach, rots unseen
    # by path, not by folder name: a checkout may itself be a folder named "docs"
    pages = {p.name for p in DOCS if p.parent == ROOT / "docs"}
    assert {"index.md", "semantics.md", "accuracy.md", "backends.md", "errata.md"} <= pages
    with_examples = {b.values[0].name for b in BLOCKS}
    stubs = {p for p in pages if (ROOT / "docs" / p).read_text(encoding="utf-8").startswith(STUB)}
    assert pages - set(NO_EXAMPLES) - stubs <= with_examples
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert all(f"({name})" in index for name in pages - {"index.md"})


def _site() -> dict:
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may hold python tags (none today); read them as plain values
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def _nav_pages(nav) -> list[str]:
    out = []
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_site_navigation():
    # mkdocs --strict fails on a page missing from nav or a nav entry without a page, but
    # only CI builds the site; this says so in the test run
    nav = _nav_pages(_site()["nav"])
    assert len(nav) == len(set(nav))
    assert sorted(nav) == sorted(p.name for p in (ROOT / "docs").glob("*.md"))


#: a Markdown link or image target: [text](target) / ![alt](target)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def test_readme_links_are_absolute():
    # the README is also the package page (PyPI), where a relative link or image is broken
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = LINK.findall(readme) + re.findall(r"<(https?://[^>]+)>", readme)
    assert targets, "the README links to its documentation"
    assert [t for t in targets if not t.startswith("https://")] == []
    # the documentation's home, as mkdocs.yml defines it (read without yaml, which the
    # lanes with NumPy alone do not have)
    site = re.search(r"^site_url: (\S+)$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    assert site is not None and site.group(1) in readme


def _modules():
    for info in pkgutil.walk_packages(xpsoftmax.__path__, "xpsoftmax."):
        if not info.name.endswith("__main__"):  # runs the CLI on import
            yield info.name


@pytest.mark.parametrize("name", ["xpsoftmax", *_modules()])
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency of that module
        pytest.skip(f"{name}: {exc}")
    tests = doctest.DocTestFinder().find(module, name)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        if t.examples:
            runner.run(t, out=out.append)
    if runner.failures:
        pytest.fail("".join(out), pytrace=False)
