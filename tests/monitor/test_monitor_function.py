"""MonitorCapturesFunction (functions/monitor_captures/app.py) under moto: S3 captures in,
Powertools EMF metrics out, and the template's alarms watch exactly those metrics.

Why EMF (stdout) rather than put_metric_data: Powertools Metrics writes Embedded Metric Format
to the function's log, CloudWatch turns it into metrics asynchronously: no API call in the
handler, no cloudwatch:PutMetricData permission, no throttling, one flush per invocation. So the
handler is asserted on the EMF it prints; the alarm test then plays CloudWatch's part (EMF ->
put_metric_data in moto) and checks that each alarm in template.yaml finds its metric.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from dataclasses import dataclass
from datetime import timedelta

import boto3
import pytest
from monitor_fixtures import (
    T0,
    capture_record,
    capture_relpath,
    csv_record,
    image_bytes,
    jsonl,
    make_baseline,
    traffic,
)
from moto import mock_aws

BUCKET = "capture-bucket"
PREFIX = "datacapture"
NAMESPACE = "SconesUnlimited"
SERVICE = "scones-vehicle-classifier"
EVENT_TIME = T0 + timedelta(minutes=30)  # window [03:00, 03:30]


@dataclass
class LambdaContext:
    function_name: str = "MonitorCapturesFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:MonitorCapturesFunction"
    )
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


def scheduled_event(when) -> dict:
    """The event EventBridge Scheduler/Events sends to a Schedule target."""
    return {
        "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1", "resources": [], "detail": {},
    }


def emf_blobs(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()
            if line.startswith("{") and '"_aws"' in line]


def emf_values(blobs: list[dict]) -> dict[tuple[str, tuple], float]:
    """(metric name, sorted dimensions) -> value, as CloudWatch would extract them."""
    out = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for dims in directive["Dimensions"]:
                key_dims = tuple(sorted((d, blob[d]) for d in dims))
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    if isinstance(value, list):  # Powertools writes [value] per flush
                        assert len(value) == 1, value
                        value = value[0]
                    out[(metric["Name"], key_dims)] = value
    return out


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def load_app(monkeypatch, repo_root, *, baseline_uri: str = "", window_minutes: str = "30"):
    """Import the function's app.py fresh, with the shared layer on the path (as /opt/python)."""
    monkeypatch.syspath_prepend(str(repo_root / "functions" / "shared"))
    monkeypatch.setenv("CAPTURE_S3_URI", f"s3://{BUCKET}/{PREFIX}")
    monkeypatch.setenv("MONITOR_WINDOW_MINUTES", window_minutes)
    monkeypatch.setenv("CONFIDENCE_THRESHOLD", "0.93")
    monkeypatch.setenv("CLASS_LABELS", "bicycle,motorcycle")
    monkeypatch.setenv("BASELINE_S3_URI", baseline_uri)
    name = "monitor_captures_app"
    spec = importlib.util.spec_from_file_location(
        name, repo_root / "functions" / "monitor_captures" / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    module.metrics.clear_metrics()
    return module


def put_items(s3, items, per_file=10, extra_lines=""):
    for i in range(0, len(items), per_file):
        chunk = items[i : i + per_file]
        key = f"{PREFIX}/{capture_relpath(chunk[0][2])}"
        body = jsonl([capture_record(img, p, t) for img, p, t in chunk]) + extra_lines
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())


def test_handler_publishes_window_metrics_as_emf(aws, monkeypatch, repo_root, capsys):
    # GIVEN 40 image inferences inside the 30-minute window, 10 just before it, 10 hours
    # before it, plus a csv record and a truncated line in one in-window file
    rng = random.Random(7)
    inside = traffic(40, T0 + timedelta(minutes=1), rng=rng, step_s=30)
    put_items(aws, inside, extra_lines=json.dumps(csv_record(T0 + timedelta(minutes=2)))
              + "\n" + '{"captureData": {"endpointIn')
    put_items(aws, traffic(10, T0 - timedelta(minutes=8), rng=rng))
    put_items(aws, traffic(10, T0 - timedelta(hours=10), rng=rng))
    app = load_app(monkeypatch, repo_root)

    # WHEN the schedule fires at 03:30
    result = app.lambda_handler(scheduled_event(EVENT_TIME), LambdaContext())

    # THEN the metrics printed as EMF match the 40 in-window inferences exactly
    values = emf_values(emf_blobs(capsys.readouterr().out))
    svc = (("service", SERVICE),)
    n_above = sum(max(p) >= 0.93 for _, p, _ in inside)
    assert values[("Inferences", svc)] == 40
    assert values[("ShareAboveThreshold", svc)] == pytest.approx(100 * n_above / 40)
    assert values[("LowConfidenceShare", svc)] == pytest.approx(100 * (40 - n_above) / 40)
    assert values[("MeanConfidence", svc)] == pytest.approx(
        sum(max(p) for _, p, _ in inside) / 40)
    # 4 files x (csv + truncated) lines were skipped, by reason
    assert values[("SkippedRecords", svc)] == 8
    assert result["skipped"] == {"non_image_input": 4, "not_json": 4}
    n_moto = sum(p[1] > p[0] for _, p, _ in inside)
    assert values[("Predictions", (("Label", "motorcycle"), ("service", SERVICE)))] == n_moto
    assert values[("Predictions", (("Label", "bicycle"), ("service", SERVICE)))] == 40 - n_moto
    # no baseline configured: no drift metrics
    assert not any(name == "DriftDetected" for name, _ in values)
    # the file ten hours old was never downloaded; the one 8 minutes early was, and filtered
    assert result["files"] == 5


def test_handler_flags_drift_against_baseline_in_model_tarball(aws, monkeypatch, repo_root,
                                                               capsys, tmp_path):
    # GIVEN a model.tar.gz holding baseline.json, and a window of unconfident, mostly
    # "motorcycle" traffic (the baseline is 80% confident, balanced)
    import tarfile

    (tmp_path / "baseline.json").write_text(json.dumps(make_baseline()))
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "baseline.json", arcname="baseline.json")
    aws.upload_file(str(tmp_path / "model.tar.gz"), BUCKET, "models/model.tar.gz")
    rng = random.Random(11)
    put_items(aws, traffic(60, T0 + timedelta(minutes=1), rng=rng, step_s=20, confident=0.2,
                           motorcycle_share=0.9))
    app = load_app(monkeypatch, repo_root, baseline_uri=f"s3://{BUCKET}/models/model.tar.gz")

    # WHEN the schedule fires
    app.lambda_handler(scheduled_event(EVENT_TIME), LambdaContext())

    # THEN drift is detected and its statistics are published
    values = emf_values(emf_blobs(capsys.readouterr().out))
    svc = (("service", SERVICE),)
    assert values[("DriftDetected", svc)] == 1.0
    assert values[("ConfidencePSI", svc)] >= 0.25
    assert values[("LabelMixChiSquarePValue", svc)] < 0.01


def test_handler_unshifted_window_passes_drift(aws, monkeypatch, repo_root, capsys):
    # GIVEN a baseline.json and a window of traffic drawn like the baseline
    aws.put_object(Bucket=BUCKET, Key="models/baseline.json",
                   Body=json.dumps(make_baseline(seed=1)).encode())
    put_items(aws, traffic(60, T0 + timedelta(minutes=1), rng=random.Random(5), step_s=20))
    app = load_app(monkeypatch, repo_root, baseline_uri=f"s3://{BUCKET}/models/baseline.json")

    # WHEN the schedule fires
    app.lambda_handler(scheduled_event(EVENT_TIME), LambdaContext())

    # THEN no drift is reported
    values = emf_values(emf_blobs(capsys.readouterr().out))
    assert values[("DriftDetected", (("service", SERVICE),))] == 0.0


def test_handler_empty_window_publishes_zero_inferences(aws, monkeypatch, repo_root, capsys):
    # GIVEN no captures at all under the prefix
    app = load_app(monkeypatch, repo_root)

    # WHEN the schedule fires
    result = app.lambda_handler(scheduled_event(EVENT_TIME), LambdaContext())

    # THEN Inferences=0 is published and no share (alarms treat missing data as not breaching)
    values = emf_values(emf_blobs(capsys.readouterr().out))
    assert values[("Inferences", (("service", SERVICE),))] == 0
    assert ("LowConfidenceShare", (("service", SERVICE),)) not in values
    assert result["files"] == 0


def test_header_stats_reads_png_and_jpeg_with_the_shared_layer(monkeypatch, repo_root, aws):
    # GIVEN the function module and real PNG/JPEG bytes
    app = load_app(monkeypatch, repo_root)
    # WHEN/THEN dimensions come from the headers; non-images give no stats
    assert app.header_stats(image_bytes("PNG", (40, 30))) == {"width": 40, "height": 30}
    assert app.header_stats(image_bytes("JPEG", (64, 48))) == {"width": 64, "height": 48}
    assert app.header_stats(b"not an image") == {}


def test_capture_uri_must_be_s3(aws, monkeypatch, repo_root):
    # GIVEN a local path as CAPTURE_S3_URI WHEN the module loads THEN it fails by name
    monkeypatch.syspath_prepend(str(repo_root / "functions" / "shared"))
    from scones_shared.errors import MissingConfiguration

    monkeypatch.setenv("CAPTURE_S3_URI", "/tmp/captures")
    with pytest.raises(MissingConfiguration, match="s3://"):
        spec = importlib.util.spec_from_file_location(
            "monitor_captures_bad", repo_root / "functions" / "monitor_captures" / "app.py")
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
