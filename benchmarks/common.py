"""Helpers the benchmarks share: a percentile, one timed request to a local endpoint, the
check that a model exists, and the from-scratch recipes the model benchmarks compare with."""

from __future__ import annotations

import http.client
import sys
import time
from pathlib import Path

# TrainConfig overrides (on top of FROM_SCRATCH) naming from-scratch recipes the docs measure,
# kept reproducible. No TrivialAugment, label smoothing 0.1, 200 epochs, float32: model_bench.py
# and recipe_sweep.py build their smaller variations on it
NO_TA_200 = {"trivial_augment": False, "label_smoothing": 0.1, "epochs": 200,
             "precision": "float32"}
# TrivialAugment, label smoothing 0.05, 200 epochs, float32
TA_200 = {"epochs": 200, "precision": "float32"}
# the same for 250 epochs in float32 (FROM_SCRATCH itself: 350 epochs, bfloat16 where native)
FLOAT32_250 = {"epochs": 250, "precision": "float32"}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def post_image(host: str, port: int, endpoint: str | None, body: bytes) -> tuple[float, str]:
    """POST one PNG to ``/endpoints/<endpoint>/invocations`` (the SageMaker Runtime API), or
    with ``endpoint=None`` to the model container's ``/invocations``: (seconds, "ok" | what
    failed)."""
    path = "/invocations" if endpoint is None else f"/endpoints/{endpoint}/invocations"
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", path, body,
                     {"Content-Type": "image/png", "Accept": "application/json"})
        response = conn.getresponse()
        response.read()
        conn.close()
        outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
    except OSError as exc:
        outcome = type(exc).__name__
    return time.perf_counter() - start, outcome


def missing_model(path: str) -> bool:
    """True (after saying how to make one) when there is no model artifact at ``path``."""
    if Path(path).exists():
        return False
    print(f"no model at {path}: run `scones train --data DATA --out runs/model` "
          "(or `scones demo`) first, or pass --model", file=sys.stderr)
    return True
