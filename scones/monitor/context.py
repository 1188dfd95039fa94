"""What the captures do not say: the model version, and the endpoint's latency and errors.

- :func:`model_info`: the model behind ``--baseline``. A ``model.tar.gz`` carries
  ``metadata.json`` (``model_version``, ``created``, validation metrics); a ``baseline.json``
  gives its own ``model_version`` if it has one, else the ``model.tar.gz`` or ``metadata.json``
  beside it (``scones train`` writes them into one folder). SageMaker's capture records carry
  no model version, so without a baseline the version is unknown.
- :func:`endpoint_metrics`: ``ModelLatency``, ``OverheadLatency``, ``Invocations`` and
  ``Invocation4XXErrors``/``Invocation5XXErrors`` of the endpoint variant from CloudWatch
  (namespace ``AWS/SageMaker``) over the capture window. Captures hold neither latency nor
  rejected requests; the report asks CloudWatch for them when the captures come from S3 (a
  deployed endpoint) and says why when it cannot.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

SAGEMAKER_METRICS = (
    ("ModelLatency", "Average"),  # microseconds, the model container's time
    ("OverheadLatency", "Average"),  # microseconds, SageMaker's own overhead
    ("Invocations", "Sum"),
    ("Invocation4XXErrors", "Sum"),
    ("Invocation5XXErrors", "Sum"),
)


def _unknown() -> dict:
    return {"version": None, "source": None, "created": None, "validation": None}


def _from_metadata(meta: dict, source: str) -> dict:
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    validation = {k: metrics[k] for k in ("evaluated_on", "n", "accuracy", "coverage",
                                          "covered_accuracy", "ece") if k in metrics}
    return {"version": meta.get("model_version"), "source": source,
            "created": meta.get("created"), "validation": validation or None}


def _tar_metadata(blob: bytes) -> dict | None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        members = [m for m in tar.getmembers()
                   if m.isfile() and m.name.rsplit("/", 1)[-1] == "metadata.json"]
        if not members:
            return None
        member = min(members, key=lambda m: m.name.count("/"))
        return json.loads(tar.extractfile(member).read())


def _read(uri: str, s3_client=None) -> bytes:
    if uri.startswith("s3://"):
        from scones_domain.location import S3Location

        location = S3Location.parse(uri)
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    return Path(uri).read_bytes()


def model_info(baseline: str | None, s3_client=None) -> dict:
    """``{"version", "source", "created", "validation"}``; every value None when unknown.
    Never raises: the version is context, not a reason to fail a report."""
    if not baseline:
        return _unknown()
    baseline = str(baseline)
    try:
        blob = _read(baseline, s3_client)
        if blob[:2] == b"\x1f\x8b" or baseline.endswith((".tar.gz", ".tgz", ".tar")):
            meta = _tar_metadata(blob)
            return _from_metadata(meta, f"{baseline}:metadata.json") if meta else _unknown()
        doc = json.loads(blob)
        if isinstance(doc, dict) and doc.get("model_version"):
            return {**_unknown(), "version": doc["model_version"], "source": baseline}
        if baseline.startswith("s3://"):
            return _unknown()
        folder = Path(baseline).parent
        if (folder / "metadata.json").is_file():
            meta = json.loads((folder / "metadata.json").read_text())
            return _from_metadata(meta, str(folder / "metadata.json"))
        if (folder / "model.tar.gz").is_file():
            meta = _tar_metadata((folder / "model.tar.gz").read_bytes())
            if meta:
                return _from_metadata(meta, f"{folder / 'model.tar.gz'}:metadata.json")
    except Exception:  # noqa: BLE001 - unreadable metadata leaves the version unknown
        return _unknown()
    return _unknown()


def endpoint_metrics(endpoint: str, variant: str, start: datetime, end: datetime,
                     bucket_seconds: float, client=None) -> dict:
    """The variant's CloudWatch series over [start, end], one point per period (at least 60 s,
    CloudWatch's standard resolution); periods without data are absent (no traffic). Returns
    ``{"period_seconds", "series": {metric: [[iso time, value], ...]}, "error"}``; latency in
    milliseconds. Any failure (no permission, no credentials, no network) is ``error``."""
    period = max(60, int(math.ceil(bucket_seconds / 60.0)) * 60)
    out = {"endpoint": endpoint, "variant": variant, "period_seconds": period, "series": {},
           "error": None}
    begin = start - timedelta(seconds=start.timestamp() % period)
    queries = [
        {"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name,
                       "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                      {"Name": "VariantName", "Value": variant}]},
            "Period": period, "Stat": stat}}
        for i, (name, stat) in enumerate(SAGEMAKER_METRICS)
    ]
    try:
        if client is None:
            import boto3

            client = boto3.client("cloudwatch")
        results, token = {}, None
        while True:
            kwargs = {"MetricDataQueries": queries, "StartTime": begin,
                      "EndTime": end + timedelta(seconds=period), "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            page = client.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                results.setdefault(result["Id"], []).extend(
                    zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            token = page.get("NextToken")
            if not token:
                break
    except Exception as exc:  # noqa: BLE001 - reported in the page, never fatal
        out["error"] = f"{exc.__class__.__name__}: {exc}"
        return out
    for i, (name, _) in enumerate(SAGEMAKER_METRICS):
        scale = 1e-3 if name.endswith("Latency") else 1.0  # microseconds -> milliseconds
        points = sorted(results.get(f"m{i}", []))
        if points:
            out["series"][name] = [[t.isoformat(), v * scale] for t, v in points]
    return out
