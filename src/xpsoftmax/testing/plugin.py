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

import os

import pytest

from . import JAX_X64_MODES, Target, targets

__all__ = ["is_active", "selected_targets"]

_FIXTURES_PLUGIN = "xpsoftmax.testing.fixtures"
_ENV = {
    "backends": "XPSOFTMAX_BACKENDS",
    "devices": "XPSOFTMAX_DEVICES",
    "jax_x64": "XPSOFTMAX_JAX_X64",
}


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


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"--xp-{name.replace('_', '-')}")
    if value is None:
        value = os.environ.get(_ENV[name]) or None
    if value is None:
        value = str(config.getini(f"xp_{name}")).strip() or None
    return value


def is_active(config: pytest.Config) -> bool:
    """Whether the fixtures are on for this run (see the module docstring)."""
    if config.getoption("--xp") or config.getini("xp_fixtures"):
        return True
    if any(config.getoption(f"--xp-{n.replace('_', '-')}") is not None for n in _ENV):
        return True
    return any(os.environ.get(v) for v in _ENV.values())


def selected_targets(config: pytest.Config) -> list[Target]:
    """The targets this run's options, environment and ini settings select."""
    raw = _setting(config, "backends")
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw else None
    jax_x64 = _setting(config, "jax_x64") or "on"
    try:
        return targets(names, _setting(config, "devices") or "default", jax_x64)
    except ValueError as exc:
        raise pytest.UsageError(f"xpsoftmax: {exc}") from None


def _check_settings(config: pytest.Config) -> None:
    # fail at start-up, not at collection, and without importing any framework
    from ..backends import BACKENDS

    raw = _setting(config, "backends")
    known = {b.name for b in BACKENDS}
    unknown = [n.strip() for n in (raw or "").split(",") if n.strip() and n.strip() not in known]
    if unknown:
        raise pytest.UsageError(f"xpsoftmax: unknown backend(s) {unknown}; known: {sorted(known)}")
    mode = _setting(config, "jax_x64")
    if mode is not None and mode not in JAX_X64_MODES:
        raise pytest.UsageError(f"xpsoftmax: jax_x64 must be one of {JAX_X64_MODES}, got {mode!r}")


def pytest_configure(config: pytest.Config) -> None:
    if not is_active(config):
        return
    _check_settings(config)
    from . import fixtures

    if not config.pluginmanager.is_registered(fixtures) and not config.pluginmanager.has_plugin(
        _FIXTURES_PLUGIN
    ):
        config.pluginmanager.register(fixtures, _FIXTURES_PLUGIN)
