"""A local stack served as `scones up` serves it, for `scones review` to find and answer.

The real template, ASL and handlers in moto, the brightness model's endpoint (dark photos:
motorcycle at 0.60, below the threshold, so each one waits for a review), the stack's AWS APIs
on a loopback port and a state file that says where. One stack per test module: each test
sends photos of its own keys to review.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scones.local.server import serve_aws, stack_state, write_state
from scones.local.stack import LocalStack
from scones.review.queue import Review, ReviewQueue
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs
from scones_domain.review import review_id


@dataclass
class ReviewStack:
    stack: LocalStack
    state_file: Path
    queue: ReviewQueue

    def review(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `scones review ARGV` against this stack, in a
        process of its own as a person runs it (the stack's functions print in this one)."""
        done = subprocess.run(
            [sys.executable, "-m", "scones.cli", "review", *argv, "--state-file",
             str(self.state_file)], input=stdin, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    def send_to_review(self, image: Path, key: str, timeout_s: float = 30.0) -> Review:
        """Run ``image`` through the workflow as ``key``; its review once SendToReview put it
        in the table (pending, unless it expired since)."""
        result = self.stack.run_image(image, key)
        assert (result.status, result.error) == ("FAILED", "THRESHOLD_CONFIDENCE_NOT_MET")
        rid = review_id(self.stack.bucket, key)
        deadline = time.monotonic() + timeout_s
        while (item := self.item(rid)) is None:
            assert time.monotonic() < deadline, f"no review of {key} after {timeout_s} s"
            time.sleep(0.1)
        return Review.from_item(item)

    def execution_status(self, review: Review, until: set[str] | None = None,
                         timeout_s: float = 30.0) -> str:
        """The review execution's status (once it is one of ``until``, when given)."""
        client = self.stack.client("stepfunctions")
        deadline = time.monotonic() + timeout_s
        while True:
            status = client.describe_execution(executionArn=review.review_execution_arn)["status"]
            if until is None or status in until or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def item(self, review: Review | str) -> dict | None:
        """The review's item in the reviews table (None before SendToReview put it)."""
        rid = review if isinstance(review, str) else review.review_id
        return self.stack.client("dynamodb").get_item(
            TableName=self.queue.table, Key={"review_id": {"S": rid}},
            ConsistentRead=True).get("Item")


def serve_review_stack(endpoint_url: str, home: Path, **parameters: str):
    """(a generator) the stack deployed, served, its state file written; stopped after."""
    quiet_interpreter_logs()
    with function_stdout_to(home / "lambda.log"), LocalStack(
            endpoint_url, parameters=parameters or None) as stack:
        server, url = serve_aws(0)
        try:
            state_file = home / "local-stack.json"
            write_state(state_file, stack_state(stack, url, endpoint_url=endpoint_url))
            queue = ReviewQueue(stack.client, stack.deployment.resources["ReviewsTable"],
                                bucket=stack.bucket, where="the test stack")
            yield ReviewStack(stack, state_file, queue)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def review_endpoint(brightness_model):
    server = start_endpoint(brightness_model)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def review_stack(review_endpoint, tmp_path_factory):
    """The stack (reviews wait a day), served as `scones up` serves it."""
    yield from serve_review_stack(review_endpoint.url, tmp_path_factory.mktemp("review"))


@pytest.fixture
def dark_photo(bright_and_dark) -> Path:
    """A real PNG the brightness model is not sure of (motorcycle 0.60)."""
    return bright_and_dark[1]


@pytest.fixture(scope="module")
def expiring_stack(review_endpoint, tmp_path_factory):
    """The stack with ReviewTimeoutSeconds 1: a review expires before anyone answers it."""
    yield from serve_review_stack(review_endpoint.url, tmp_path_factory.mktemp("expiring"),
                                  ReviewTimeoutSeconds="1")


@pytest.fixture(scope="module")
def deadline_stack(review_endpoint, tmp_path_factory):
    """The stack with ReviewTimeoutSeconds 4: time to refuse a label before the deadline and
    another after it."""
    yield from serve_review_stack(review_endpoint.url, tmp_path_factory.mktemp("deadline"),
                                  ReviewTimeoutSeconds="4")
