"""MonitorCapturesFunction (functions/monitor_captures/app.py) under moto: S3 captures in,
Powertools EMF metrics out, and the template's alarms watch exactly those metrics.

Why EMF (stdout) rather than put_metric_data: Powertools Metrics writes Embedded Metric Format
to the function's log, CloudWatch turns it into metrics asynchronously: no API call in the
handler, no cloudwatch:PutMetricData permission, no throttling, one flush per invocation. So the
handler is asserted on the EMF it prints; the alarm test then plays CloudWatch's part (EMF ->
put_metric_data in moto) and checks that each alarm in template.yaml finds its metric.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

import boto3
import pytest
from monitor_fixtures import T0, csv_record, image_bytes, make_baseline, traffic
from monitor_lambda_fixtures import (
    BUCKET,
    EVENT_TIME,
    NAMESPACE,
    SERVICE,
    deploy_template,
    emf_blobs,
    emf_values,
    invoke,
    load_function,
    put_items,
    scheduled_event,
)
from moto import mock_aws


@pytest.fixture
def aws():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_handler_publishes_window_metrics_as_emf(aws, repo_root, capsys):
    # GIVEN 40 image inferences inside the 30-minute window, 10 just before it, 10 hours
    # before it, plus a csv record and a truncated line in one in-window file
    rng = random.Random(7)
    inside = traffic(40, T0 + timedelta(minutes=1), rng=rng, step_s=30)
    put_items(aws, inside, extra_lines=json.dumps(csv_record(T0 + timedelta(minutes=2)))
              + "\n" + '{"captureData": {"endpointIn')
    put_items(aws, traffic(10, T0 - timedelta(minutes=8), rng=rng))
    put_items(aws, traffic(10, T0 - timedelta(hours=10), rng=rng))
    function = load_function(repo_root)

    # WHEN the schedule fires at 03:30
    result = invoke(function, scheduled_event(EVENT_TIME))

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


def test_handler_flags_drift_against_baseline_in_model_tarball(aws, repo_root,
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
    function = load_function(repo_root, baseline_uri=f"s3://{BUCKET}/models/model.tar.gz")

    # WHEN the schedule fires
    invoke(function, scheduled_event(EVENT_TIME))

    # THEN drift is detected and its statistics are published
    values = emf_values(emf_blobs(capsys.readouterr().out))
    svc = (("service", SERVICE),)
    assert values[("DriftDetected", svc)] == 1.0
    assert values[("ConfidencePSI", svc)] >= 0.25
    assert values[("LabelMixChiSquarePValue", svc)] < 0.01


def test_handler_unshifted_window_passes_drift(aws, repo_root, capsys):
    # GIVEN a baseline.json and a window of traffic drawn like the baseline
    aws.put_object(Bucket=BUCKET, Key="models/baseline.json",
                   Body=json.dumps(make_baseline(seed=1)).encode())
    put_items(aws, traffic(60, T0 + timedelta(minutes=1), rng=random.Random(5), step_s=20))
    function = load_function(repo_root, baseline_uri=f"s3://{BUCKET}/models/baseline.json")

    # WHEN the schedule fires
    invoke(function, scheduled_event(EVENT_TIME))

    # THEN no drift is reported
    values = emf_values(emf_blobs(capsys.readouterr().out))
    assert values[("DriftDetected", (("service", SERVICE),))] == 0.0


def test_handler_empty_window_publishes_zero_inferences(aws, repo_root, capsys):
    # GIVEN no captures at all under the prefix
    function = load_function(repo_root)

    # WHEN the schedule fires
    result = invoke(function, scheduled_event(EVENT_TIME))

    # THEN Inferences=0 is published and no share (alarms treat missing data as not breaching)
    values = emf_values(emf_blobs(capsys.readouterr().out))
    assert values[("Inferences", (("service", SERVICE),))] == 0
    assert ("LowConfidenceShare", (("service", SERVICE),)) not in values
    assert result["files"] == 0


def test_header_stats_reads_png_and_jpeg_with_the_shared_layer(repo_root, aws):
    # GIVEN the function module and real PNG/JPEG bytes
    app = load_function(repo_root).module
    # WHEN/THEN dimensions come from the headers; non-images give no stats
    assert app.header_stats(image_bytes("PNG", (40, 30))) == {"width": 40, "height": 30}
    assert app.header_stats(image_bytes("JPEG", (64, 48))) == {"width": 64, "height": 48}
    assert app.header_stats(b"not an image") == {}


def test_monitoring_is_off_with_the_default_empty_capture_uri(repo_root):
    # GIVEN the template's defaults (CaptureS3Uri empty) WHEN deployed
    deployment = deploy_template(repo_root)
    # THEN the MonitoringEnabled condition leaves the monitor out; the workflow is unchanged
    assert "MonitorCapturesFunction" not in deployment.functions
    assert "MonitorCapturesFunction" not in deployment.resources
    assert "ClassifyImageFunction" in deployment.functions


def test_monitor_fails_loudly_on_a_capture_uri_that_is_not_s3(repo_root, aws):
    # GIVEN CAPTURE_S3_URI overridden with a local path WHEN the module loads
    # THEN it fails by name instead of reading the wrong thing
    with pytest.raises(Exception, match="CAPTURE_S3_URI") as info:
        load_function(repo_root, extra_env={"CAPTURE_S3_URI": "/tmp/captures"})
    assert type(info.value).__name__ == "MissingConfiguration"


def test_template_gives_the_function_its_configuration(repo_root):
    # GIVEN the template deployed with a capture prefix and a baseline
    deployment = deploy_template(repo_root, CaptureS3Uri="s3://capture-bucket/datacapture",
                                 BaselineS3Uri="s3://models-bucket/model.tar.gz",
                                 MonitorWindowMinutes=45, ConfidenceThreshold=0.9)
    env = deployment.functions["MonitorCapturesFunction"].environment
    # THEN the variables the handler reads come from the stack parameters and Globals
    assert env["CAPTURE_S3_URI"] == "s3://capture-bucket/datacapture"
    assert env["BASELINE_S3_URI"] == "s3://models-bucket/model.tar.gz"
    assert env["MONITOR_WINDOW_MINUTES"] == "45"
    assert float(env["CONFIDENCE_THRESHOLD"]) == 0.9
    assert env["CLASS_LABELS"] == "bicycle,motorcycle"
    assert (env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]) == (
        NAMESPACE, SERVICE)


def test_warm_invocations_reuse_the_baseline_until_it_changes(aws, repo_root, capsys):
    # GIVEN a baseline in S3 and a function that has run once
    aws.put_object(Bucket=BUCKET, Key="models/baseline.json",
                   Body=json.dumps(make_baseline(seed=1)).encode())
    put_items(aws, traffic(40, T0 + timedelta(minutes=1), rng=random.Random(5), step_s=20))
    function = load_function(repo_root, baseline_uri=f"s3://{BUCKET}/models/baseline.json")
    gets: list[str] = []
    function.module.s3.meta.events.register(
        "before-parameter-build.s3.GetObject", lambda params, **_: gets.append(params["Key"]))
    invoke(function, scheduled_event(EVENT_TIME))
    assert gets.count("models/baseline.json") == 1

    # WHEN it runs again (warm), then after the baseline object is replaced
    invoke(function, scheduled_event(EVENT_TIME))
    unchanged = gets.count("models/baseline.json")
    aws.put_object(Bucket=BUCKET, Key="models/baseline.json",
                   Body=json.dumps(make_baseline(seed=2)).encode())
    invoke(function, scheduled_event(EVENT_TIME))

    # THEN the unchanged baseline was not downloaded again; the new one was
    assert unchanged == 1
    assert gets.count("models/baseline.json") == 2


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_baseline_object_is_a_named_error(aws, repo_root):
    # GIVEN a BaselineS3Uri that points at nothing WHEN the schedule fires
    function = load_function(repo_root, baseline_uri=f"s3://{BUCKET}/models/missing.json")
    result = function.invoke(scheduled_event(EVENT_TIME))
    # THEN the invocation fails by name (MonitorCapturesErrorsAlarm watches the Errors metric)
    assert result.failed and result.error_type == "BaselineNotFound"
