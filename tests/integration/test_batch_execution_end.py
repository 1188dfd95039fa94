"""An execution's end is read whole: no "SUCCEEDED with no output" between moto's threads.

moto 5.2.5 writes an execution's end on its worker thread field by field (status first, then
output or error/cause) while DescribeExecution reads from other threads: the batch's
``startExecution.sync:2`` poller, ``LocalStack.wait``. A poll in between would make a batch
count a good image as failed (``LocalItemFailureUnknown``), at random and mostly under CPU
load. These tests widen that moment to 0.6 s (longer than moto's 0.5 s ``.sync`` poll), so a
torn read is certain unless the local stack makes the end atomic (scones.local.stack
``_execution_record_patches``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from unittest import mock

import pytest

from scones.local.stack import BATCH_STATE_MACHINE, TERMINAL

pytestmark = pytest.mark.integration

WIDENED_S = 0.6  # > moto's _DELAY_SECONDS_SYNC_CONDITION_CHECK (0.5 s)


@contextlib.contextmanager
def slow_execution_end(state_machine_arn: str, seconds: float = WIDENED_S) -> Iterator[None]:
    """Make moto take ``seconds`` between setting the terminal status of an execution of
    ``state_machine_arn`` and its output (the final state read in ``_reflect_execution_status``)."""
    from moto.stepfunctions.parser.asl.eval.states import States

    original = States.get_input

    def get_input(self, query=None):
        caller = sys._getframe(1)
        if (caller.f_code.co_name == "_reflect_execution_status" and caller.f_locals[
                "self"].execution.state_machine_arn == state_machine_arn):
            time.sleep(seconds)
        return original(self, query)

    with mock.patch.object(States, "get_input", get_input):
        yield


@pytest.fixture(scope="module")
def two_images(batch_images, verdict):
    """One image the brightness model is sure about, one below the threshold."""
    return (next(p for p in batch_images if verdict(p)),
            next(p for p in batch_images if not verdict(p)))


def test_describe_never_shows_a_succeeded_execution_without_its_output(events, two_images):
    # GIVEN an execution whose end moto writes slowly
    stack = events.stack
    key = f"end/{uuid.uuid4().hex[:8]}/{two_images[0].name}"
    stack.upload(two_images[0], key)
    sfn = stack.client("stepfunctions")
    with slow_execution_end(stack.state_machine_arn):
        arn = stack.start_execution({"image_data": "", "s3_bucket": stack.bucket, "s3_key": key})
        # WHEN another thread polls DescribeExecution as fast as it can
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            description = sfn.describe_execution(executionArn=arn)
            if description["status"] in TERMINAL:
                break
    # THEN the first terminal answer already carries the execution's output
    assert description["status"] == "SUCCEEDED", description
    assert json.loads(description.get("output") or "null") is not None, description


def test_a_batch_counts_every_image_when_executions_end_slowly(events, two_images):
    # GIVEN a prefix with one confident and one below-threshold image
    stack = events.stack
    prefix = f"batches/{uuid.uuid4().hex[:8]}/"
    for image in two_images:
        stack.upload(image, prefix + image.name)
    batch_input = {"s3_bucket": stack.bucket, "prefix": prefix}
    # WHEN the batch runs while each per-image execution's end is written slowly
    with slow_execution_end(stack.state_machine_arn):
        arn = stack.client("stepfunctions").start_execution(
            stateMachineArn=stack.state_machine(BATCH_STATE_MACHINE), name=f"end-{uuid.uuid4()}",
            input=json.dumps(batch_input))["executionArn"]
        result = stack.wait(arn, batch_input, timeout=120)
    # THEN each image is an outcome (none lost as LocalItemFailureUnknown)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    summary = result.output
    assert (summary["images"], summary["confident"], summary["below_threshold"],
            summary["failed"]) == (2, 1, 1, 0), summary
