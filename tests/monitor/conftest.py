"""Fixtures of the report tests (scones/monitor; builders live in tests/monitor_fixtures.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from monitor_fixtures import make_baseline


@pytest.fixture
def baseline_file(tmp_path) -> Path:
    """baseline.json in the trainer's exact schema (200 validation-like inferences)."""
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(make_baseline()))
    return path


@contextmanager
def served_stack(model: Path, captures: Path) -> Iterator[tuple]:
    """(endpoint, stack, url): a stack served as `scones up` serves it, in the working folder:
    the functions' stdout in CloudWatch Logs, its AWS APIs on a loopback port, the state file at
    runs/local-stack.json naming ``captures``."""
    from scones.local.lambdas import FunctionLogs
    from scones.local.server import serve_aws, stack_state, write_state
    from scones.workflow.runner import function_stdout_to, local_runtime

    with local_runtime(model, capture=str(captures)) as (endpoint, stack):
        server, url = serve_aws(0)
        try:
            with function_stdout_to(FunctionLogs(stack.client("logs"), io.StringIO())):
                write_state(Path("runs/local-stack.json"), stack_state(
                    stack, url, endpoint_url=endpoint.url, capture=str(captures)))
                yield endpoint, stack, url
        finally:
            server.stop()


@pytest.fixture
def serve_stack():
    """serve_stack(model, captures): :func:`served_stack` (a context manager)."""
    return served_stack
