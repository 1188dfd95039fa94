"""Shared settings of the property-based tests: bounded time and a heap-peak probe."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from hypothesis import HealthCheck, settings

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
