"""The monitoring block of template.yaml against what MonitorCapturesFunction really emits:
alarms (created in moto CloudWatch) find the function's metrics, the dashboard is valid JSON
naming only real metrics, and the function's build artifact is self-contained and small."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from monitor_fixtures import T0, make_baseline, traffic
from monitor_lambda_fixtures import (
    BUCKET,
    EVENT_TIME,
    emf_blobs,
    invoke,
    load_function,
    put_items,
    scheduled_event,
)
from moto import mock_aws

from scones.local.deploy import read_template

OPERATORS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@pytest.fixture(scope="module")
def template(repo_root):
    return read_template(repo_root / "template.yaml")


def _param_default(template, value):
    if isinstance(value, dict) and "Ref" in value:
        return float(template["Parameters"][value["Ref"]]["Default"])
    return float(value)


def _period(template, value) -> int:
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, key, attr = value["Fn::FindInMap"]
        key = template["Parameters"][key["Ref"]]["Default"] if isinstance(key, dict) else key
        return int(template["Mappings"][mapping][key][attr])
    return int(value)


# Alarms that are not monitoring's: always on (tests/template/test_alert_channel.py)
OPERATIONS_ALARMS = {"OperationsDeadLetterQueueAlarm", "EndpointErrorsAlarm"}


def model_alarms(template) -> dict[str, dict]:
    """The alarms on the function's own metrics, with defaults resolved."""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    out = {}
    for logical_id, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] != "AWS::CloudWatch::Alarm" or logical_id in OPERATIONS_ALARMS:
            continue
        assert res.get("Condition") == "MonitoringEnabled", logical_id
        if props["Namespace"] != env["POWERTOOLS_METRICS_NAMESPACE"]:
            continue
        out[logical_id] = {
            "AlarmName": logical_id,
            "Namespace": props["Namespace"],
            "MetricName": props["MetricName"],
            "Dimensions": props["Dimensions"],
            "Statistic": props["Statistic"],
            "Period": _period(template, props["Period"]),
            "EvaluationPeriods": int(props["EvaluationPeriods"]),
            "Threshold": _param_default(template, props["Threshold"]),
            "ComparisonOperator": props["ComparisonOperator"],
            "TreatMissingData": props["TreatMissingData"],
        }
    return out


def emf_to_cloudwatch(cloudwatch, blobs) -> None:
    """Play CloudWatch's part: turn each EMF blob into put_metric_data."""
    for blob in blobs:
        when = datetime.fromtimestamp(blob["_aws"]["Timestamp"] / 1000, tz=UTC)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    cloudwatch.put_metric_data(Namespace=directive["Namespace"], MetricData=[{
                        "MetricName": metric["Name"],
                        "Dimensions": [{"Name": d, "Value": blob[d]} for d in dims],
                        "Timestamp": when,
                        "Value": value[0] if isinstance(value, list) else value,
                        "Unit": metric.get("Unit", "None"),
                    }])


def test_alarms_watch_the_metrics_the_function_publishes(template, repo_root, capsys,
                                                         tmp_path):
    # GIVEN the template's alarms on the model metrics, resolved with their defaults
    alarms = model_alarms(template)
    assert set(alarms) == {"LowConfidenceShareAlarm", "ModelDriftAlarm"}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="models/baseline.json",
                      Body=json.dumps(make_baseline()).encode())
        # AND a window of unconfident, drifted traffic run through the real function
        put_items(s3, traffic(60, T0 + timedelta(minutes=1), rng=random.Random(4), step_s=20,
                              confident=0.2, motorcycle_share=0.9))
        function = load_function(repo_root, baseline_uri=f"s3://{BUCKET}/models/baseline.json")
        invoke(function, scheduled_event(EVENT_TIME))
        blobs = emf_blobs(capsys.readouterr().out)
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        emf_to_cloudwatch(cloudwatch, blobs)

        for name, alarm in alarms.items():
            # WHEN the alarm is created as the template declares it
            cloudwatch.put_metric_alarm(**alarm, ActionsEnabled=False)
            # THEN exactly one published metric matches its namespace, name and dimensions
            found = cloudwatch.list_metrics(Namespace=alarm["Namespace"],
                                            MetricName=alarm["MetricName"],
                                            Dimensions=alarm["Dimensions"])["Metrics"]
            assert len(found) == 1, (name, found)
            stats = cloudwatch.get_metric_statistics(
                Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
                Dimensions=alarm["Dimensions"], Statistics=[alarm["Statistic"]],
                StartTime=datetime.now(UTC) - timedelta(hours=1),
                EndTime=datetime.now(UTC) + timedelta(hours=1), Period=alarm["Period"],
            )["Datapoints"]
            value = stats[0][alarm["Statistic"]]
            # AND with this traffic the datapoint breaches the alarm's threshold
            assert OPERATORS[alarm["ComparisonOperator"]](value, alarm["Threshold"]), (
                name, value, alarm["Threshold"])
        assert {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]} == set(
            alarms)


def test_every_alarm_notifies_the_shared_encrypted_alert_topic(template):
    # GIVEN the template's alarms and the one operations alert topic (tests/template checks
    # the topic itself: its key and topic policies, its e-mail subscription)
    resources = template["Resources"]
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertTopicKey"}
    alarms = {k: r for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for logical_id, res in alarms.items():
        # THEN each alarm notifies AlertTopic; monitoring's exist with monitoring only
        if logical_id not in OPERATIONS_ALARMS:
            assert res["Condition"] == "MonitoringEnabled", logical_id
        assert res["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}], logical_id
        assert res["Properties"].get("OKActions", [{"Ref": "AlertTopic"}]) == [
            {"Ref": "AlertTopic"}], logical_id


def test_function_reads_only_the_capture_prefix_on_a_schedule(template):
    fn = template["Resources"]["MonitorCapturesFunction"]
    props = fn["Properties"]
    assert props["Events"]["Schedule"]["Type"] == "Schedule"
    statements = props["Policies"][0]["Statement"]
    actions = {s["Action"] for s in statements}
    assert actions == {"s3:ListBucket", "s3:GetObject"}
    get = next(s for s in statements if s["Action"] == "s3:GetObject")
    assert "CaptureS3Uri" in json.dumps(get["Resource"])
    assert "*" not in json.dumps([s["Resource"] for s in statements]).replace("/*", "")


def test_dashboard_is_valid_json_and_names_real_metrics(template, repo_root):
    # GIVEN the dashboard body with its ${...} placeholders filled
    body_template, _variables = template["Resources"]["MonitoringDashboard"]["Properties"][
        "DashboardBody"]["Fn::Sub"]
    body = re.sub(r"\$\{Period\}", "900", body_template)
    body = re.sub(r"\$\{LowConfidenceShareLimit\}", "50", body)
    body = re.sub(r"\$\{[A-Za-z:]+\}", "x", body)
    # WHEN parsed THEN it is JSON, and every SconesUnlimited metric is one the function emits
    dashboard = json.loads(body)
    app_source = (repo_root / "functions" / "monitor_captures" / "app.py").read_text()
    names = set()
    for widget in dashboard["widgets"]:
        namespace = None
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], str):
                namespace = row[0] if row[0] != "." else namespace
                if namespace == "SconesUnlimited":
                    names.add(row[1])
    assert names >= {"ShareAboveThreshold", "LowConfidenceShare", "DriftDetected"}
    for name in names:
        assert f'"{name}"' in app_source, name
    assert any(w["properties"]["metrics"][0][0] == "AWS/States" for w in dashboard["widgets"])


def test_build_target_makes_an_artifact_of_the_handler_alone(repo_root, tmp_path):
    # GIVEN a scratch copy of the CodeUri, as sam build makes it
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    scratch, artifact = tmp_path / "scratch", tmp_path / "artifact"
    shutil.copytree(repo_root / "functions" / "monitor_captures", scratch)
    artifact.mkdir()
    # WHEN the Makefile target runs there
    subprocess.run(["make", "-f", str(repo_root / "functions" / "Makefile"),
                    "build-MonitorCapturesFunction", f"ARTIFACTS_DIR={artifact}"],
                   cwd=scratch, check=True, capture_output=True)
    # THEN the artifact holds the handler only: the monitoring code comes from SharedLayer
    files = sorted(p.relative_to(artifact).as_posix() for p in artifact.rglob("*.py"))
    assert files == ["app.py"]
    # AND importing it (artifact + layer dir first on the path) takes scones_domain from the
    # layer and pulls in neither the CLI package nor numpy/matplotlib/PIL
    probe = (
        "import sys, app, scones_domain.monitoring.captures as c\n"
        "heavy = [m for m in ('scones', 'model', 'numpy', 'matplotlib', 'PIL')"
        " if m in sys.modules]\n"
        "print(c.__file__); print(heavy)\n"
    )
    layer = repo_root / "functions" / "shared"
    env = {**os.environ, "PYTHONPATH": f"{artifact}:{layer}",
           "CAPTURE_S3_URI": "s3://capture-bucket/datacapture", "BASELINE_S3_URI": "",
           "MONITOR_WINDOW_MINUTES": "60", "CONFIDENCE_THRESHOLD": "0.93",
           "CLASS_LABELS": "bicycle,motorcycle", "POWERTOOLS_TRACE_DISABLED": "true",
           "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(str(layer / "scones_domain"))
    assert out[1] == "[]"
