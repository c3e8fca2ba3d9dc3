#!/usr/bin/env python3
"""Build the sdist and the wheel into a temporary folder and check what a release would ship.

* ``twine check --strict``: the metadata and the README as PyPI would render them;
* the version in both is ``xpsoftmax.__version__`` (the one place it is written);
* the README shown on the package page links only to absolute URLs (relative links and
  images break off the repository);
* the sdist holds what building, testing and the docs need and no benchmark results, and stays
  under ``MAX_SDIST_BYTES`` (it was 6.2 MB with eleven bench runs in it).

    python .ci/check_package.py     # from any directory; exit status 1 on a problem

Uses hatchling from the environment (``--no-isolation``) where it is installed, so it needs no
network; about 5 s.
"""

from __future__ import annotations

import email
import importlib.util
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_SDIST_BYTES = 1_500_000
#: paths every sdist must hold (relative to its top folder)
REQUIRED = (
    "pyproject.toml",
    "README.md",
    "CHANGELOG.md",
    "LICENSE",
    "mkdocs.yml",
    "src/xpsoftmax/__init__.py",
    "src/xpsoftmax/py.typed",
    "tests/test_docs.py",
    "conformance/test_conformance.py",
    "docs/index.md",
    "backends/all-cpu.txt",
    "tools/docs_pages.py",
)
FORBIDDEN = re.compile(r"^(benchmarks/results/|\.venv|report/|dist/|site/)")
#: a Markdown link or image target: [text](target) / ![alt](target)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def version() -> str:
    text = (ROOT / "src" / "xpsoftmax" / "__init__.py").read_text(encoding="utf-8")
    m = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if m is None:
        raise SystemExit("no __version__ line in src/xpsoftmax/__init__.py")
    return m.group(1)


def relative_links(markdown: str) -> list[str]:
    """Link targets a package page cannot resolve (anything but http(s) and mailto)."""
    return [t for t in LINK.findall(markdown) if not re.match(r"(https?:|mailto:)", t)]


def build(out: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-isolation")
    subprocess.run([*cmd, str(ROOT)], check=True, capture_output=True, text=True)
    return sorted(out.iterdir())


def check(dists: list[Path]) -> list[str]:
    problems: list[str] = []
    want = version()
    sdist = next(p for p in dists if p.name.endswith(".tar.gz"))
    wheel = next(p for p in dists if p.suffix == ".whl")
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
        capture_output=True,
        text=True,
    )
    if twine.returncode != 0:
        problems.append(f"twine check failed:\n{twine.stdout}{twine.stderr}")
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(name))
    if meta["Version"] != want:
        problems.append(f"wheel version {meta['Version']} is not __version__ {want}")
    if not sdist.name.startswith(f"xpsoftmax-{want}."):
        problems.append(f"sdist {sdist.name} is not version {want}")
    links = relative_links(meta.get_payload())
    if links:
        problems.append(f"the package page's README has relative links: {links}")
    if not meta.get_all("Project-URL"):
        problems.append("no Project-URL in the metadata")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    top = f"xpsoftmax-{want}/"
    names = [m.name.removeprefix(top) for m in members]
    missing = [r for r in REQUIRED if r not in names]
    if missing:
        problems.append(f"the sdist lacks {missing}")
    stray = [n for n in names if FORBIDDEN.match(n)]
    if stray:
        problems.append(f"the sdist holds {len(stray)} files it should not, e.g. {stray[:3]}")
    size = sdist.stat().st_size
    if size > MAX_SDIST_BYTES:
        problems.append(f"the sdist is {size} bytes, over {MAX_SDIST_BYTES}")
    print(
        f"sdist {sdist.name}: {len(names)} files, {size / 1e6:.2f} MB; "
        f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB; version {want}"
    )
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="xpsoftmax-dist-") as tmp:
        try:
            dists = build(Path(tmp))
        except subprocess.CalledProcessError as exc:
            print(f"build failed:\n{exc.stdout}{exc.stderr}", file=sys.stderr)
            return 1
        problems = check(dists)
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
