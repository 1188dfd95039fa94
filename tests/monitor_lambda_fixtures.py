"""Helpers for the MonitorCapturesFunction tests: the scheduled event, EMF parsing, the
function loaded as template.yaml deploys it, captures put into a moto bucket.

Imported by bare name by tests/functions, tests/template and tests/integration (in tests/ for
the reason given in monitor_fixtures.py)."""

from __future__ import annotations

import json
from datetime import timedelta

from monitor_fixtures import T0, capture_record, capture_relpath, jsonl

from scones.local.deploy import Deployment, describe
from scones.local.lambdas import load_handler

BUCKET = "capture-bucket"
PREFIX = "datacapture"
NAMESPACE = "SconesUnlimited"
SERVICE = "scones-vehicle-classifier"
EVENT_TIME = T0 + timedelta(minutes=30)  # window [03:00, 03:30]


def deploy_template(repo_root, **parameters) -> Deployment:
    """template.yaml deployed with these parameter overrides (in a moto of its own)."""
    return describe(repo_root / "template.yaml", parameters=parameters)


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



def load_function(repo_root, *, baseline_uri: str = "", window_minutes: int = 30,
                  extra_env: dict | None = None):
    """The function as the stack deploys it (environment, Globals, layer), imported fresh."""
    deployment = deploy_template(repo_root, CaptureS3Uri=f"s3://{BUCKET}/{PREFIX}",
                                 BaselineS3Uri=baseline_uri, MonitorWindowMinutes=window_minutes)
    spec = deployment.functions["MonitorCapturesFunction"]
    function = load_handler(spec, extra_env={"POWERTOOLS_TRACE_DISABLED": "true",
                                             **(extra_env or {})})
    function.module.metrics.clear_metrics()
    return function


def invoke(function, event) -> dict:
    result = function.invoke(event)
    assert not result.failed, result.payload
    return result.payload


def put_items(s3, items, per_file=10, extra_lines=""):
    for i in range(0, len(items), per_file):
        chunk = items[i : i + per_file]
        key = f"{PREFIX}/{capture_relpath(chunk[0][2])}"
        body = jsonl([capture_record(img, p, t) for img, p, t in chunk]) + extra_lines
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
