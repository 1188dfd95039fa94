"""Shared settings of the property-based tests: a fixed example count and a heap-peak probe."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, settings

# Bounded by a fixed example count (the same examples every run), not by the clock: how long
# an input takes is measured in benchmarks/input_checks_bench.py, and pytest-timeout
# (pyproject.toml) still ends a test that hangs.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
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
