"""Run a function once a framework is imported, without importing it.

xpsoftmax must not import a framework the caller has not imported, yet some
adapters have to act as soon as theirs is there: torch's operators
``torch.ops.xpsoftmax.*`` must exist before ``torch.export.load`` reads a saved
program that names them, even in a process that has not called xpsoftmax yet.
:func:`when_imported` runs the function at once if the module is already in
``sys.modules``, else right after its import finishes, through a finder at the
front of ``sys.meta_path`` that wraps the module's loader for that one import
(the module's ``__loader__`` and ``__spec__.loader`` are the original loader
again once it has run).  A function that raises is reported as a warning: it
must never break the caller's import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

_lock = threading.RLock()
#: module name -> the functions waiting for its import
_waiting: dict[str, list[Callable[[], None]]] = {}


def when_imported(name: str, fn: Callable[[], None]) -> None:
    """Call ``fn()`` now if top-level module ``name`` is imported, else right after it is.

    Not at all where ``name`` is being imported now (this is called from
    inside its import): its import began before any finder could wrap it, and
    the module is half made; the adapter's first call does the work then.
    """
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(fn)
            if not any(isinstance(f, _Finder) for f in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    if not getattr(getattr(module, "__spec__", None), "_initializing", False):
        _call(name, fn)


def _call(name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # never break the caller's import
        warnings.warn(
            f"xpsoftmax could not prepare for {name}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )


def _run_waiting(name: str) -> None:
    with _lock:
        fns = _waiting.pop(name, [])
        if not _waiting:
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
    for fn in fns:
        _call(name, fn)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a waited-for module it asks the finders after
    it and hands back their spec with the loader wrapped."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self or isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            spec = None if find is None else find(fullname, path, target)
            if spec is not None:
                if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                    return spec  # a namespace package or an old-style loader: left alone
                spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # the module's own loader again, before its code runs (importlib.resources,
        # inspect and pkgutil ask the loader)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _run_waiting(self.name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.loader, attr)
