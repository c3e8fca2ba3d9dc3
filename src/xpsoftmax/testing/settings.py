"""Which targets a run selects, and whether the fixtures are on at all.

The command line wins over the environment variables, which win over the ini
settings (see :mod:`xpsoftmax.testing.plugin`, which declares the options).
Both the plugin (at start-up) and the fixtures (at collection) read them here.
"""

from __future__ import annotations

import os

import pytest

from . import JAX_X64_MODES, Target, targets

__all__ = ["ENV", "check_settings", "is_active", "selected_targets"]

#: setting -> its environment variable
ENV = {
    "backends": "XPSOFTMAX_BACKENDS",
    "devices": "XPSOFTMAX_DEVICES",
    "jax_x64": "XPSOFTMAX_JAX_X64",
}


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"--xp-{name.replace('_', '-')}")
    if value is None:
        value = os.environ.get(ENV[name]) or None
    if value is None:
        value = str(config.getini(f"xp_{name}")).strip() or None
    return value


def is_active(config: pytest.Config) -> bool:
    """Whether the fixtures are on for this run (see the module docstring)."""
    if config.getoption("--xp") or config.getini("xp_fixtures"):
        return True
    if any(config.getoption(f"--xp-{n.replace('_', '-')}") is not None for n in ENV):
        return True
    return any(os.environ.get(v) for v in ENV.values())


def selected_targets(config: pytest.Config) -> list[Target]:
    """The targets this run's options, environment and ini settings select."""
    raw = _setting(config, "backends")
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw else None
    jax_x64 = _setting(config, "jax_x64") or "on"
    try:
        return targets(names, _setting(config, "devices") or "default", jax_x64)
    except ValueError as exc:
        raise pytest.UsageError(f"xpsoftmax: {exc}") from None


def check_settings(config: pytest.Config) -> None:
    """A usage error for an unknown backend or jax_x64 mode: at start-up, not at
    collection, and without importing any framework."""
    from ..backends import BACKENDS

    raw = _setting(config, "backends")
    known = {b.name for b in BACKENDS}
    unknown = [n.strip() for n in (raw or "").split(",") if n.strip() and n.strip() not in known]
    if unknown:
        raise pytest.UsageError(f"xpsoftmax: unknown backend(s) {unknown}; known: {sorted(known)}")
    mode = _setting(config, "jax_x64")
    if mode is not None and mode not in JAX_X64_MODES:
        raise pytest.UsageError(f"xpsoftmax: jax_x64 must be one of {JAX_X64_MODES}, got {mode!r}")
