"""Fixtures of the property-based (hypothesis) tests: a fixed number of examples, bounded memory.

Each property runs a fixed number of examples (``FUZZ`` in fuzzing.py), so the whole folder
stays at a few seconds in CI. The functions' layer package
(scones_domain) is installed with the project; model/inference.py is imported as the
artifact's code is.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from scones.local.deploy import describe
from scones.local.lambdas import load_handler
from scones.workflow.runner import function_stdout_to

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = describe(REPO_ROOT / "template.yaml")


@pytest.fixture(scope="session")
def fuzz_function():
    """fuzz_function("FilterLowConfidenceFunction") -> the real handler, template environment."""
    cache = {}

    def load(logical_id: str):
        if logical_id not in cache:
            # imported with stdout routed like `scones run` does, so Powertools binds its log
            # handler to that router and never to a test's (later closed) capture stream
            with function_stdout_to(io.StringIO()):
                cache[logical_id] = load_handler(APP.functions[logical_id])
        return cache[logical_id]

    return load
