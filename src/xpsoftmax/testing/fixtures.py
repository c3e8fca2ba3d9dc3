"""The fixtures behind :mod:`xpsoftmax.testing.plugin` (registered only when it is on).

A project can also load them unconditionally with
``pytest_plugins = ["xpsoftmax.testing.fixtures"]`` in its root conftest.py.

* ``target``: a :class:`~xpsoftmax.testing.Target` (backend x device), with the
  test running inside its context (JAX's x64 switch set explicitly);
* ``xp``: that backend's array namespace;
* ``device``: that device (pass it as ``device=`` when creating arrays).

``@pytest.mark.xp_backends("numpy", "torch")`` limits one test to some backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from . import Target
from .settings import selected_targets

__all__ = ["device", "target", "xp"]

_FIXTURES = ("target", "xp", "device")
_TARGETS_KEY = pytest.StashKey[list[Target]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xp_backends(*names): run this test's xp/target/device cases only on these backends",
    )


def _all_targets(config: pytest.Config) -> list[Target]:
    if _TARGETS_KEY not in config.stash:
        config.stash[_TARGETS_KEY] = selected_targets(config)
    return config.stash[_TARGETS_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not any(f in metafunc.fixturenames for f in _FIXTURES):
        return
    chosen = _all_targets(metafunc.config)
    marker = metafunc.definition.get_closest_marker("xp_backends")
    if marker is not None:
        chosen = [t for t in chosen if t.backend_name in marker.args]
    params = [
        pytest.param(t, id=t.id, marks=[pytest.mark.skip(reason=t.skip)] if t.skip else [])
        for t in chosen
    ]
    if not params:
        params = [
            pytest.param(None, id="no-target", marks=pytest.mark.skip(reason="no backend selected"))
        ]
    metafunc.parametrize("target", params, indirect=True)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The backend x device under test (the test runs inside its context)."""
    t: Target = request.param
    with t.context():
        yield t


@pytest.fixture
def xp(target: Target) -> Any:
    """The array namespace of the target backend."""
    return target.xp


@pytest.fixture
def device(target: Target) -> Any:
    """The target device (pass it as ``device=`` when creating arrays)."""
    return target.namespace_device
