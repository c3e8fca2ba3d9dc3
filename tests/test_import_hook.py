"""when_imported: a function run once a framework is imported, without importing it.

The frameworks here are throwaway top-level modules written to ``tmp_path``
(torch's own case runs in tests/test_deploy_torch.py, in a fresh process).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from xpsoftmax.backends import _import_hook, when_imported


@pytest.fixture
def framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A fresh top-level module name whose import records itself."""
    names: list[str] = []

    def make(name: str, body: str = "") -> str:
        (tmp_path / f"{name}.py").write_text(f"import sys\nLOADED = True\n{body}\n")
        names.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    meta_path = list(sys.meta_path)  # the finder stays where torch is still waited for
    yield make
    for name in names:
        sys.modules.pop(name, None)
        _import_hook._waiting.pop(name, None)
    sys.meta_path[:] = meta_path


def test_runs_after_a_later_import_and_leaves_no_trace(framework) -> None:  # type: ignore[no-untyped-def]
    name = framework("xps_fake_fw1")
    seen: list[bool] = []
    when_imported(name, lambda: seen.append(sys.modules[name].LOADED))
    when_imported(name, lambda: seen.append(True))
    assert name not in sys.modules and seen == []  # not imported by asking
    module = importlib.import_module(name)
    assert seen == [True, True]  # both, after the module's code ran
    # the module's own loader again; nothing waits for it any more (the
    # finder goes once nothing waits: torch may still be waited for here)
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__.loader is module.__loader__
    assert name not in _import_hook._waiting
    if not _import_hook._waiting:
        assert not any(isinstance(f, _import_hook._Finder) for f in sys.meta_path)


def test_runs_at_once_when_already_imported(framework) -> None:  # type: ignore[no-untyped-def]
    name = framework("xps_fake_fw2")
    importlib.import_module(name)
    seen: list[int] = []
    when_imported(name, lambda: seen.append(1))
    assert seen == [1] and name not in _import_hook._waiting


def test_a_failing_function_warns_and_the_import_succeeds(framework) -> None:  # type: ignore[no-untyped-def]
    name = framework("xps_fake_fw3")

    def broken() -> None:
        raise OSError("no disk")

    when_imported(name, broken)
    with pytest.warns(RuntimeWarning, match=rf"could not prepare for {name}: OSError: no disk"):
        module = importlib.import_module(name)
    assert module.LOADED


def test_a_failing_import_keeps_waiting(framework, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = framework("xps_fake_fw4", "raise ImportError('not yet')")
    seen: list[int] = []
    when_imported(name, lambda: seen.append(1))
    with pytest.raises(ImportError, match="not yet"):
        importlib.import_module(name)
    assert seen == [] and name not in sys.modules
    (tmp_path / f"{name}.py").write_text("LOADED = True\n")
    importlib.invalidate_caches()
    importlib.import_module(name)
    assert seen == [1]


def test_not_from_inside_the_modules_own_import(framework) -> None:  # type: ignore[no-untyped-def]
    # xpsoftmax imported by the framework's own import: the module is half made,
    # nothing runs (the adapter's first call does the work)
    body = (
        "SEEN = []\n"
        "from xpsoftmax.backends import when_imported\n"
        "when_imported(__name__, lambda: SEEN.append(1))\n"
    )
    name = framework("xps_fake_fw5", body)
    module = importlib.import_module(name)
    assert module.SEEN == [] and name not in _import_hook._waiting
