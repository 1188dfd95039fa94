"""A review's deadline counts from the review's start: labels that are not classes, sent
through the raw API (`scones review` refuses them before sending), cannot keep a review open
past it. Against a local stack whose reviews wait 4 seconds (its own module: one LocalStack per
process at a time)."""

from __future__ import annotations

import json
import time

import pytest

from scones.review.queue import Review
from scones_domain.items import from_item

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TIMEOUT_S = 4  # the deadline_stack fixture's ReviewTimeoutSeconds


def answer_raw(stack, token: str, label: str) -> None:
    stack.stack.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"label": label, "reviewer": "raw-api"}))


def wait_for_token(stack, review: Review, other_than: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        item = stack.item(review)
        token = from_item(item)["task_token"] if item else None
        if token and token != other_than:
            return token
        assert time.monotonic() < deadline, "the review was not sent again"
        time.sleep(0.05)


def test_refused_labels_do_not_extend_a_review_past_its_deadline(deadline_stack, dark_photo):
    # GIVEN a pending review (deadline: its start + 4 s)
    review = deadline_stack.send_to_review(dark_photo, "incoming/deadline/dark.png")
    sfn = deadline_stack.stack.client("stepfunctions")
    started = sfn.describe_execution(executionArn=review.review_execution_arn)["startDate"]
    # WHEN a label that is not a class comes before the deadline
    time.sleep(max(0.0, started.timestamp() + TIMEOUT_S - 1.5 - time.time()))
    answer_raw(deadline_stack, review.task_token, "scooter")
    # THEN the review is sent again with a new token (nothing lost)
    second = wait_for_token(deadline_stack, review, other_than=review.task_token)
    # WHEN another one comes after the deadline (before the second wait's own timeout)
    time.sleep(max(0.0, started.timestamp() + TIMEOUT_S + 0.5 - time.time()))
    answer_raw(deadline_stack, second, "scooter")
    # THEN the review ends as expired: SendToReview refused to wait again (ReviewExpired),
    # and the review execution failed REVIEW_TIMED_OUT
    assert deadline_stack.execution_status(review, until={"FAILED", "SUCCEEDED"}) == "FAILED"
    description = sfn.describe_execution(executionArn=review.review_execution_arn)
    assert description["error"] == "REVIEW_TIMED_OUT"
    history = deadline_stack.stack.history(review.review_execution_arn)
    errors = [e["taskFailedEventDetails"]["error"] for e in history
              if e["type"] == "TaskFailed"]
    assert errors == ["UnknownReviewLabel", "UnknownReviewLabel", "ReviewExpired"]
    assert from_item(deadline_stack.item(review))["status"] == "expired"
