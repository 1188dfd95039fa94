"""Uploads start the workflow through the template's EventBridge rule; failures alert SNS."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

UPLOAD_PREFIX = "incoming/"  # the template's UploadPrefix default


def executions_for(events, key: str) -> list[dict]:
    """Per-image executions whose input names this key, described."""
    sfn = events.stack.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=events.stack.state_machine_arn)["executions"]:
        description = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(description["input"]).get("s3_key") == key:
            found.append(description)
    return found


def finished(events, key: str) -> list[dict]:
    runs = executions_for(events, key)
    return runs if runs and all(r["status"] != "RUNNING" for r in runs) else []


def test_an_upload_under_the_prefix_starts_one_execution_with_the_workflow_input(
        events, batch_images):
    # GIVEN the stack with the template's ImageUploadedRule
    image = next(p for p in batch_images if p.name.startswith("bicycle"))
    key = f"{UPLOAD_PREFIX}trigger/{image.name}"
    # WHEN an image is uploaded under the upload prefix
    events.stack.upload(image, key)
    runs = events.wait_for(lambda: finished(events, key))
    # THEN exactly one execution started, its input in the workflow's format
    assert len(runs) == 1
    assert json.loads(runs[0]["input"]) == {
        "image_data": "", "s3_bucket": events.stack.bucket, "s3_key": key}
    # AND the delivery came from the upload rule (real pattern + input transformer)
    assert [d.rule for d in events.deliveries if key in d.input][:1] == ["ImageUploadedRule"]


def test_an_upload_elsewhere_starts_nothing(events, batch_images):
    # WHEN an image is uploaded outside the upload prefix
    key = f"elsewhere/{batch_images[0].name}"
    events.stack.upload(batch_images[0], key)
    events.pump()
    # THEN no execution names it
    assert executions_for(events, key) == []


def test_a_non_image_fails_cleanly_once_and_alerts_once(events, tmp_path):
    events.messages()  # drop earlier alerts
    # GIVEN a text file with an image name under the upload prefix
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    key = f"{UPLOAD_PREFIX}bad/{text.name}"
    # WHEN it is uploaded
    events.stack.upload(text, key)
    (run,) = events.wait_for(lambda: finished(events, key))
    # THEN its execution failed with the named error, without retrying the bad input
    assert run["status"] == "FAILED" and run["error"] == "NotAnImage"
    history = events.stack.history(run["executionArn"])
    assert sum(e["type"] == "TaskScheduled" for e in history) == 1
    # AND exactly one SNS message names the image, the execution, the error and the cause,
    # without the execution's input
    messages = events.wait_for(lambda: [m for m in events.messages() if key in m], timeout=10)
    assert len(messages) == 1
    alert = json.loads(messages[0])
    assert set(alert) == {"alert", "bucket", "key", "execution", "error", "cause"}
    assert alert["error"] == "NotAnImage" and "signature" in alert["cause"]
    assert (alert["bucket"], alert["key"]) == (events.stack.bucket, key)
    assert alert["execution"] == run["executionArn"]
    assert events.errors == []


def test_a_below_threshold_image_goes_to_review_and_does_not_page(events, batch_images,
                                                                  verdict):
    events.messages()
    # GIVEN a real image the model is not confident about
    image = next(p for p in batch_images if not verdict(p))
    key = f"{UPLOAD_PREFIX}unsure/{image.name}"
    # WHEN it is uploaded
    events.stack.upload(image, key)
    (run,) = events.wait_for(lambda: finished(events, key))
    # THEN the execution still fails loudly with the threshold error
    assert run["status"] == "FAILED" and run["error"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    # AND the image and its inferences are under the review prefix (written by the review
    # workflow the execution started, which runs on after the execution has ended)
    s3 = events.stack.client("s3")
    assert events.wait_for(lambda: s3.list_objects_v2(
        Bucket=events.stack.bucket, Prefix=f"review/{key}.json").get("KeyCount"))
    copy = s3.get_object(Bucket=events.stack.bucket, Key=f"review/{key}")
    assert copy["Body"].read() == image.read_bytes()
    sidecar = json.loads(s3.get_object(Bucket=events.stack.bucket,
                                       Key=f"review/{key}.json")["Body"].read())
    assert sidecar["inferences"] == {"bicycle": 0.4, "motorcycle": 0.6}
    assert sidecar["execution_arn"] == run["executionArn"]
    # AND the expected verdict pages nobody (it is the reviewers' work, not an incident)
    events.pump()
    assert [m for m in events.messages() if key in m] == []
