"""BatchClassificationStateMachine over real images: counts, table exactly once, review, alerts."""

from __future__ import annotations

import json
import uuid

import pytest

from scones.local.stack import BATCH_STATE_MACHINE, ExecutionResult

pytestmark = pytest.mark.integration



def run_batch(events, prefix: str) -> ExecutionResult:
    batch_input = {"s3_bucket": events.stack.bucket, "prefix": prefix}
    arn = events.stack.client("stepfunctions").start_execution(
        stateMachineArn=events.stack.state_machine(BATCH_STATE_MACHINE),
        name=f"test-{uuid.uuid4()}",
        input=json.dumps(batch_input))["executionArn"]
    return events.stack.wait(arn, batch_input, timeout=300)


@pytest.fixture(scope="module")
def batch(events, batch_images, tmp_path_factory):
    """A prefix holding the real images and one non-image, batched twice."""
    prefix = f"batches/{uuid.uuid4().hex[:8]}/"
    for image in batch_images:
        events.stack.upload(image, prefix + image.name)
    junk = tmp_path_factory.mktemp("junk") / "junk.png"
    junk.write_bytes(b"GIF? no: plain bytes")
    events.stack.upload(junk, prefix + "junk.png")
    events.messages()  # only this batch's alerts from here on
    first = run_batch(events, prefix)
    second = run_batch(events, prefix)
    return prefix, first, second


def test_the_batch_summary_counts_what_the_model_says(batch, batch_images, verdict):
    prefix, first, _ = batch
    confident = [p for p in batch_images if verdict(p)]
    # THEN the batch succeeded with a summary of every object under the prefix
    assert first.status == "SUCCEEDED", (first.error, first.cause)
    summary = first.output
    assert summary["images"] == len(batch_images) + 1
    assert summary["confident"] == len(confident)
    assert summary["by_label"] == {"bicycle": len(confident)}  # the model's only confident label
    assert summary["below_threshold"] == len(batch_images) - len(confident)
    assert summary["failed"] == 1 and summary["failed_by_error"] == {"NotAnImage": 1}
    assert summary["source"] == f"s3://{first.input['s3_bucket']}/{prefix}"


def test_results_and_summary_are_written_to_s3(events, batch):
    _, first, _ = batch
    s3, bucket = events.stack.client("s3"), events.stack.bucket
    manifest_key = first.output["manifest"].removeprefix(f"s3://{bucket}/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    outcomes = [json.loads(e["Output"]) for e in
                json.loads(s3.get_object(Bucket=bucket, Key=succeeded["Key"])["Body"].read())]
    assert len(outcomes) == first.output["images"]
    assert {o["status"] for o in outcomes} == {"SUCCEEDED", "FAILED"}
    summary_key = first.output["summary"].removeprefix(f"s3://{bucket}/")
    stored = json.loads(s3.get_object(Bucket=bucket, Key=summary_key)["Body"].read())
    assert stored["confident"] == first.output["confident"]


def test_confident_results_are_in_the_table_exactly_once_after_a_rerun(
        events, batch, batch_images, verdict):
    prefix, first, second = batch
    assert second.status == "SUCCEEDED"
    assert second.output["confident"] == first.output["confident"], (first.output, second.output)
    items = events.stack.client("dynamodb").scan(
        TableName=events.stack.deployment.resources["ResultsTable"])["Items"]
    mine = [i for i in items if i["key"]["S"].startswith(prefix)]
    expected = {f"s3://{events.stack.bucket}/{prefix}{p.name}" for p in batch_images if verdict(p)}
    # THEN one item per confident image, none for the others
    assert sorted(i["image"]["S"] for i in mine) == sorted(expected)
    # AND each item still holds the first run's execution (the re-run wrote nothing)
    s3, bucket = events.stack.client("s3"), events.stack.bucket
    manifest_key = first.output["manifest"].removeprefix(f"s3://{bucket}/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    first_arns = {json.loads(e["Output"])["execution_arn"] for f in manifest["ResultFiles"]
                  ["SUCCEEDED"] for e in json.loads(
                      s3.get_object(Bucket=bucket, Key=f["Key"])["Body"].read())}
    assert {i["execution_arn"]["S"] for i in mine} <= first_arns
    for item in mine:
        assert item["label"]["S"] == "bicycle" and float(item["confidence"]["N"]) == 0.99
        assert item["model_version"]["S"] and item["recorded_at"]["S"]


def test_unconfident_images_are_under_the_review_prefix(events, batch, batch_images, verdict):
    prefix, _, _ = batch
    listing = events.stack.client("s3").list_objects_v2(
        Bucket=events.stack.bucket, Prefix=f"review/{prefix}")
    keys = {o["Key"] for o in listing.get("Contents", [])}
    unsure = [p for p in batch_images if not verdict(p)]
    expected = {f"review/{prefix}{p.name}" for p in unsure}
    expected |= {k + ".json" for k in expected}
    assert keys == expected


def test_the_batch_alerts_once_per_failed_image_and_not_for_the_threshold(events, batch):
    prefix, _, _ = batch
    events.pump()
    messages = [json.loads(m) for m in events.messages()]
    mine = [m for m in messages if (m.get("key") or "").startswith(prefix)]
    # THEN one alert per run for the non-image (two runs), none for below-threshold images
    assert [m["error"] for m in mine] == ["NotAnImage", "NotAnImage"]
    assert all(m["key"] == prefix + "junk.png" for m in mine)
    # AND no alert carries an execution's input
    assert all("input" not in m for m in messages)
