"""Fixtures of the property-based (hypothesis) tests: bounded time, bounded memory.

Each property runs a fixed number of examples with a per-example deadline (see ``FUZZ``), so
the whole folder stays at a few seconds in CI. The functions' layer (scones_shared) is made
importable exactly as /opt/python is on Lambda; model/inference.py is imported as the
artifact's code is.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from scones.local.lambdas import load_handler, make_layers_importable
from scones.local.template import load_app

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = load_app(REPO_ROOT / "template.yaml", resource_names={"ImageBucket": "scones-fuzz-images"})
for _spec in APP.functions.values():
    make_layers_importable(_spec.layer_dirs)

# Bounded: a fixed example count, and any single example slower than the deadline fails.
FUZZ = settings(max_examples=150, deadline=timedelta(milliseconds=750), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@contextmanager
def peak_memory() -> Iterator[Callable[[], int]]:
    """Python-heap peak (bytes, numpy buffers included) of the block; call the result after."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    peak = [0]
    try:
        yield lambda: peak[0]
    finally:
        peak[0] = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()


@pytest.fixture(scope="session")
def fuzz_function():
    """fuzz_function("FilterLowConfidenceFunction") -> the real handler, template environment."""
    cache = {}

    def load(logical_id: str):
        if logical_id not in cache:
            cache[logical_id] = load_handler(APP.functions[logical_id])
        return cache[logical_id]

    return load
