"""Bounded load on the whole local workflow, with the endpoint stopped while executions fly.

The endpoint-level exactly-once test under load (drained and stopped mid-load) lives in
tests/serving/test_capture.py; benchmarks/load_bench.py measures the levels. Here: the
workflow keeps its promise when its endpoint goes away under load: every execution ends (none
hangs), as a verdict or as the named EndpointUnavailable after the ASL's retries, and the
capture holds exactly the requests the endpoint served.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from scones.workflow.runner import local_runtime, run_images

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")]


def stop_after(server, served: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while server.endpoint.served < served and time.monotonic() < deadline:
        time.sleep(0.002)
    server.stop()


def test_workflow_under_load_survives_its_endpoint_stopping(brightness_model, bright_images,
                                                            dark_image, tmp_path):
    # GIVEN 12 real images (confident and not), executions 4 at a time
    images = [str(p) for p in bright_images[:9]] + [str(dark_image)] * 3
    with local_runtime(brightness_model, capture=str(tmp_path / "captures"),
                       lambda_log=tmp_path / "lambda.log") as (server, stack):
        run_images(stack, images[:4], concurrency=4, progress=False)  # all answered
        # WHEN the endpoint is stopped once it has served 3 of the next 12 executions
        stopper = threading.Thread(target=stop_after, args=(server, server.endpoint.served + 3))
        stopper.start()
        records = run_images(stack, images, concurrency=4, progress=False, timeout=90)
        stopper.join()
    # THEN every execution ended, with a verdict or the one named error of a dead endpoint
    outcomes = Counter(r.error or r.status for r in records)
    assert len(records) == len(images)
    assert set(outcomes) <= {"SUCCEEDED", "THRESHOLD_CONFIDENCE_NOT_MET", "EndpointUnavailable"}
    assert outcomes["EndpointUnavailable"] > 0
    # AND the capture holds exactly the requests served, each once
    lines = [line for f in (tmp_path / "captures").rglob("*.jsonl")
             for line in f.read_text().splitlines()]
    assert len(lines) == server.endpoint.served == server.endpoint.capture.written
