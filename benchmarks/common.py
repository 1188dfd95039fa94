"""Helpers the benchmarks share: a percentile and one timed request to a local endpoint."""

from __future__ import annotations

import http.client
import time


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def post_image(host: str, port: int, endpoint: str, body: bytes) -> tuple[float, str]:
    """POST one PNG to ``/endpoints/<endpoint>/invocations``: (seconds, "ok" | what failed)."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", f"/endpoints/{endpoint}/invocations", body,
                     {"Content-Type": "image/png", "Accept": "application/json"})
        response = conn.getresponse()
        response.read()
        conn.close()
        outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
    except OSError as exc:
        outcome = type(exc).__name__
    return time.perf_counter() - start, outcome
