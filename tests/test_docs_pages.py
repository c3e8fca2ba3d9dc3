"""The documentation's result tables are what tools/docs_pages.py writes from the result files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

spec = importlib.util.spec_from_file_location("docs_pages", ROOT / "tools" / "docs_pages.py")
assert spec is not None and spec.loader is not None
docs_pages = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_pages)

# an sdist ships no results (git keeps them): there is nothing to compare the pages with
pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no benchmarks/results here")


def test_generated_regions_match_the_result_files():
    pages = docs_pages.pages()
    names = {m.group("name") for p in pages for m in docs_pages.REGION.finditer(p.read_text())}
    assert names == set(docs_pages.GENERATORS)  # every generator has its page, and only those
    stale = [p.name for p in pages if docs_pages.render(p.read_text()) != p.read_text()]
    assert stale == [], "run: python tools/docs_pages.py"


def test_one_current_run_per_device():
    # history belongs to git: a new run replaces the previous one
    for folder, pattern in ((RESULTS, "bench-*.json"), (RESULTS / "gpu", "bench-*.json"),
                            (RESULTS, "compare-*.json")):  # fmt: skip
        assert len(list(folder.glob(pattern))) == 1, f"{folder.name}/{pattern}"


def test_a_region_is_rewritten_and_an_unknown_one_refused(tmp_path, monkeypatch):
    run = {"date": "2026-01-02", "command": "xpsoftmax bench", "machine": {"cpu": "c", "cores": 2,
           "python": "3.11"}, "goals": [{"goal": "numpy softmax / scipy", "value": 0.4,
           "limit": 0.5, "unit": "x", "le": True, "holds": True}], "results": []}  # fmt: skip
    (tmp_path / "bench-2026-01-02.json").write_text(json.dumps(run))
    monkeypatch.setattr(docs_pages, "RESULTS", tmp_path)
    monkeypatch.setattr(docs_pages, "ROOT", tmp_path)
    page = "intro\n<!-- BEGIN generated: bench cpu -->\nSTALE\n<!-- END generated: bench cpu -->\nend\n"
    out = docs_pages.render(page)
    assert out.startswith("intro\n<!-- BEGIN generated: bench cpu -->\n") and out.endswith(
        "<!-- END generated: bench cpu -->\nend\n"
    )
    assert "STALE" not in out and "**Goals: 1 of 1 hold, 0 miss.**" in out
    assert "| numpy softmax / scipy | 0.40 x | <= 0.5 x | yes |" in out
    with pytest.raises(KeyError, match="unknown generated region"):
        docs_pages.render("<!-- BEGIN generated: nope -->\n<!-- END generated: nope -->\n")
