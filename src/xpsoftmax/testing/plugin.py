"""pytest plugin: ``target``, ``xp`` and ``device`` fixtures over every backend x device.

Registered through the ``pytest11`` entry point, it adds options and fixtures
but parametrizes only the tests that ask for ``xp``, ``target`` or ``device``.
Options: ``--xp-backends=numpy,torch`` and ``--xp-devices=default|all|cpu,gpu``;
the environment variables ``XPSOFTMAX_BACKENDS`` / ``XPSOFTMAX_DEVICES`` set the
same for CI lanes.  Backends or devices missing here are SKIPPED with the reason.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from . import Target, targets

_FIXTURES = ("target", "xp", "device")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xpsoftmax", "array backends (xpsoftmax)")
    group.addoption(
        "--xp-backends",
        default=os.environ.get("XPSOFTMAX_BACKENDS"),
        help="comma list of backends for the xp fixture (default: all known; "
        "env XPSOFTMAX_BACKENDS)",
    )
    group.addoption(
        "--xp-devices",
        default=os.environ.get("XPSOFTMAX_DEVICES", "default"),
        help="'default', 'all' or a comma list of device labels such as 'cpu,gpu' "
        "(env XPSOFTMAX_DEVICES)",
    )


def selected_targets(config: pytest.Config) -> list[Target]:
    raw = config.getoption("--xp-backends")
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw else None
    return targets(names, config.getoption("--xp-devices"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not any(f in metafunc.fixturenames for f in _FIXTURES):
        return
    cache = metafunc.config.stash.setdefault(_TARGETS_KEY, {})
    if "all" not in cache:
        cache["all"] = selected_targets(metafunc.config)
    params = [
        pytest.param(t, id=t.id, marks=[pytest.mark.skip(reason=t.skip)] if t.skip else [])
        for t in cache["all"]
    ]
    metafunc.parametrize("target", params, indirect=True)


_TARGETS_KEY = pytest.StashKey[dict]()


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Any:
    """The backend x device under test (inside its context: JAX float64 on)."""
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
    return target.device
