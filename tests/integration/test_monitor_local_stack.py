"""End to end on one machine: the workflow runs real PNGs through the local endpoint, which
captures them; `scones monitor`'s report and the scheduled MonitorCapturesFunction (invoked
through moto's Lambda, as EventBridge would) read the same captures and agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from monitor_lambda_fixtures import scheduled_event

from scones.local.stack import LocalStack
from scones.monitor.report import write_report
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

pytestmark = pytest.mark.integration

CAPTURE_BUCKET = "scones-captures"


def test_report_and_scheduled_function_agree_on_real_captures(shared_data, brightness_model,
                                                              tmp_path):
    # GIVEN 12 real CIFAR PNGs run through the whole local workflow, captured by the endpoint
    # (the brightness model: bright images -> bicycle 0.99, dark ones -> motorcycle 0.60)
    images = sorted((shared_data / "train").glob("*.png"))[:12]
    captures = tmp_path / "captures"
    endpoint = start_endpoint(brightness_model, capture=str(captures))
    quiet_interpreter_logs()
    params = {"CaptureS3Uri": f"s3://{CAPTURE_BUCKET}/datacapture"}
    try:
        with function_stdout_to(tmp_path / "lambda.log"), LocalStack(
            endpoint.url, parameters=params
        ) as stack:
            results = [stack.run_image(p, f"test/{p.name}") for p in images]
            endpoint.stop()  # flushes the capture files

            # WHEN the report reads the capture directory ...
            summary = write_report(str(captures), tmp_path / "report")
            # ... and the scheduled function reads the same files from S3
            s3 = stack.client("s3")
            s3.create_bucket(Bucket=CAPTURE_BUCKET)
            for path in captures.rglob("*.jsonl"):
                key = f"datacapture/{path.relative_to(captures).as_posix()}"
                s3.upload_file(str(path), CAPTURE_BUCKET, key)
            name = stack.deployment.functions["MonitorCapturesFunction"].name
            response = stack.client("lambda").invoke(
                FunctionName=name,
                Payload=json.dumps(scheduled_event(datetime.now(UTC))).encode())
            payload = json.loads(response["Payload"].read())
    finally:
        endpoint.stop()

    # THEN the report counts exactly the workflow's outcomes
    succeeded = sum(r.status == "SUCCEEDED" for r in results)
    assert 0 < succeeded < len(images), "the sample should hold both outcomes"
    assert summary["n_records"] == len(images) and summary["n_skipped_total"] == 0
    assert summary["n_above_threshold"] == succeeded
    assert summary["label_counts"]["bicycle"] == succeeded  # bright -> bicycle 0.99
    assert summary["image_sizes"] == {"32x32": len(images)}
    # AND the Lambda's metrics are the same numbers (one implementation, two users)
    assert "FunctionError" not in response, payload
    metrics = payload["metrics"]
    assert metrics["Inferences"] == summary["n_records"]
    assert metrics["ShareAboveThreshold"] == pytest.approx(
        100 * summary["share_above_threshold"])
    assert metrics["MeanConfidence"] == pytest.approx(summary["mean_confidence"])
    assert payload["label_counts"] == summary["label_counts"]
