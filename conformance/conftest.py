"""pytest entry of the conformance suite (``pytest conformance``).

The xpsoftmax subjects run through xpsoftmax's own pytest plugin: the
``target`` fixture gives one backend x device per test id (``[torch:cpu]``),
skipped with the reason where it cannot run (no CUDA device, not installed).
The native and seed subjects run in ``test_native.py`` and never fail the run:
a difference from the reference is recorded as an xfail with the measured error.
"""

from __future__ import annotations

import pytest

from xpsoftmax.conformance.cases import all_cases

CASES = all_cases()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a case of the conformance catalogue")
