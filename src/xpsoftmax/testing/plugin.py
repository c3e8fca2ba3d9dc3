"""pytest plugin: ``target``, ``xp`` and ``device`` fixtures over every backend x device.

Registered through the ``pytest11`` entry point, so installing xpsoftmax makes
its options known to every pytest run, but it stays **off unless asked for**:
the fixtures (generic names such as ``xp`` and ``device`` that a project may
already define) exist only when one of these turns them on:

* the ini setting ``xp_fixtures = true`` (``[tool.pytest.ini_options]`` in
  pyproject.toml, or pytest.ini/tox.ini/setup.cfg);
* ``--xp``, or any of ``--xp-backends``/``--xp-devices``/``--xp-jax-x64``, on
  the command line;
* the environment variables ``XPSOFTMAX_BACKENDS`` / ``XPSOFTMAX_DEVICES`` /
  ``XPSOFTMAX_JAX_X64`` (meant for CI lanes);
* ``pytest_plugins = ["xpsoftmax.testing.fixtures"]`` in a root conftest.py.

Once on, a test that requests ``target``, ``xp`` or ``device`` runs once per
backend x device (ids such as ``[numpy:cpu]``, ``[torch:gpu]``); those that
cannot run here are SKIPPED with the reason (not installed, no CUDA device).
Command-line options win over environment variables, which win over the ini.
"""

from __future__ import annotations

import pytest

from . import JAX_X64_MODES
from .settings import check_settings, is_active, selected_targets

__all__ = ["is_active", "selected_targets"]

_FIXTURES_PLUGIN = "xpsoftmax.testing.fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xpsoftmax", "array backends (xpsoftmax)")
    group.addoption(
        "--xp",
        action="store_true",
        default=False,
        help="turn on the xp/target/device fixtures (same as the ini setting xp_fixtures = true)",
    )
    group.addoption(
        "--xp-backends",
        default=None,
        help="comma list of backends for the xp fixture, e.g. numpy,torch (default: every "
        "known backend; env XPSOFTMAX_BACKENDS; implies --xp)",
    )
    group.addoption(
        "--xp-devices",
        default=None,
        help="'default' (CPU + every GPU), 'all' (every device a backend reports) or a comma "
        "list of device labels such as cpu,gpu (env XPSOFTMAX_DEVICES; implies --xp)",
    )
    group.addoption(
        "--xp-jax-x64",
        default=None,
        choices=JAX_X64_MODES,
        help="run JAX targets with float64 enabled ('on', the default), disabled ('off', "
        "ids jax-x32:...) or both (env XPSOFTMAX_JAX_X64; implies --xp)",
    )
    parser.addini(
        "xp_fixtures",
        type="bool",
        default=False,
        help="turn on xpsoftmax's xp/target/device fixtures for this project",
    )
    parser.addini("xp_backends", default="", help="default for --xp-backends")
    parser.addini("xp_devices", default="", help="default for --xp-devices")
    parser.addini("xp_jax_x64", default="", help="default for --xp-jax-x64 (on/off/both)")


def pytest_configure(config: pytest.Config) -> None:
    if not is_active(config):
        return
    check_settings(config)
    from . import fixtures

    if not config.pluginmanager.is_registered(fixtures) and not config.pluginmanager.has_plugin(
        _FIXTURES_PLUGIN
    ):
        config.pluginmanager.register(fixtures, _FIXTURES_PLUGIN)
