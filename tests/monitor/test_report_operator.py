"""The report answers an operator's questions: which model, endpoint and window; traffic,
latency and rejected requests; the share sent to review; accuracy (estimated, and measured on
reviewed labels); drift explained; no line drawn across a time without traffic."""

from __future__ import annotations

import io
import json
import math
import random
import tarfile
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import boto3
import pytest
import report_scenario as scenario
from monitor_fixtures import (
    T0,
    capture_record,
    capture_relpath,
    image_bytes,
    jsonl,
    make_baseline,
    traffic,
    write_tree,
)
from moto import mock_aws

from scones.cli import main
from scones.monitor import context, report
from scones.monitor.report import time_buckets, write_report
from scones.monitor.reviewed import ReviewedLabelsNotFound, load_reviewed
from scones_domain.monitoring import drift as drift_mod


@pytest.fixture(scope="module")
def day(tmp_path_factory, request):
    """The realistic day of report_scenario, reported with its model and reviewed labels."""
    root = tmp_path_factory.mktemp("operator-day")
    built = scenario.build(root, scenario.shared_data_or_none(request))
    summary = write_report(str(built.captures), root / "out", baseline=str(built.model),
                           reviewed_labels=built.reviewed, now=scenario.GENERATED)
    return built, summary, (root / "out" / "report.html").read_text()


# ----------------------------------------------------------------------------- header


def test_header_names_model_endpoint_window_and_generation_time(day):
    built, summary, html = day
    times = [t for *_, t, _ in built.items]
    # THEN the model version comes from the artifact, the endpoint from the capture paths
    assert summary["model"]["version"] == scenario.MODEL_VERSION
    assert summary["model"]["source"].endswith("model.tar.gz:metadata.json")
    assert summary["endpoints"] == [{"endpoint": scenario.ENDPOINT, "variant": "AllTraffic",
                                     "n": len(built.items)}]
    assert summary["generated_at"] == scenario.GENERATED.isoformat()
    # AND the header shows all four with the capture window's first and last capture
    header = html[html.index("<table class='header'>"):html.index("</table>")]
    assert scenario.MODEL_VERSION in header and scenario.ENDPOINT in header
    assert f"{min(times):%Y-%m-%d %H:%M:%S} to {max(times):%Y-%m-%d %H:%M:%S} UTC" in header
    assert f"{scenario.GENERATED:%Y-%m-%d %H:%M:%S} UTC" in header


def test_without_baseline_the_model_version_is_unknown(tmp_path):
    write_tree(tmp_path / "c", traffic(20, T0, rng=random.Random(1)))
    summary = write_report(str(tmp_path / "c"), tmp_path / "out")
    assert summary["model"]["version"] is None
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<th>model version</th><td>unknown (captures do not record it" in html


def _tar(path: Path, members: dict) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in members.items():
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_model_version_from_the_artifact_or_beside_the_baseline(tmp_path):
    meta = {"model_version": "20261126-abc", "created": "2026-11-26T00:00:00Z",
            "metrics": {"accuracy": 0.95, "n": 200, "evaluated_on": "held-out validation split"}}
    base = make_baseline()
    # a model.tar.gz
    art = _tar(tmp_path / "model.tar.gz", {"metadata.json": meta, "baseline.json": base})
    info = context.model_info(str(art))
    assert info["version"] == "20261126-abc" and info["validation"]["accuracy"] == 0.95
    # a baseline.json beside the model.tar.gz scones train wrote with it
    (tmp_path / "baseline.json").write_text(json.dumps(base))
    assert context.model_info(str(tmp_path / "baseline.json"))["version"] == "20261126-abc"
    # a baseline.json that names its model itself
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "baseline.json").write_text(json.dumps({**base, "model_version": "v7"}))
    assert context.model_info(str(tmp_path / "own" / "baseline.json"))["version"] == "v7"
    # nothing to go by, or unreadable: unknown, never an error
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "baseline.json").write_text(json.dumps(base))
    assert context.model_info(str(tmp_path / "alone" / "baseline.json"))["version"] is None
    assert context.model_info(str(tmp_path / "missing.tar.gz"))["version"] is None
    assert context.model_info(None)["version"] is None


@mock_aws
def test_model_version_from_an_s3_artifact(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    art = _tar(tmp_path / "m.tar.gz", {"metadata.json": {"model_version": "s3-v1"},
                                       "baseline.json": make_baseline()})
    s3.put_object(Bucket="models", Key="ep/model.tar.gz", Body=art.read_bytes())
    assert context.model_info("s3://models/ep/model.tar.gz")["version"] == "s3-v1"


# ----------------------------------------------------------------------------- time buckets


def _gap_rows(tmp_path):
    """30 inferences a minute apart, 45 minutes of nothing, 30 more."""
    rng = random.Random(4)
    items = traffic(30, T0, rng=rng, step_s=60) + traffic(
        30, T0 + timedelta(minutes=75), rng=rng, step_s=60)
    write_tree(tmp_path / "c", items)
    return items


def test_buckets_keep_the_time_without_traffic_as_gaps(tmp_path):
    from scones_domain.monitoring.captures import read_captures

    _gap_rows(tmp_path)
    rows = read_captures(str(tmp_path / "c")).rows
    buckets = time_buckets(rows)
    # THEN the grid is round, covers every row once, and the quiet buckets are empty
    assert buckets.seconds == 300  # 104 minutes: 2-minute buckets would be more than 48
    assert sum(len(g) for g in buckets.groups) == 60 and len(buckets.groups) == 21
    empty = [s for s, g in zip(buckets.starts, buckets.groups, strict=True) if not g]
    assert empty == [T0 + timedelta(minutes=m) for m in range(30, 75, 5)]
    # AND a per-bucket series is NaN there, a number elsewhere
    series = buckets.per_bucket(len)
    assert [math.isnan(v) for v in series] == [not g for g in buckets.groups]


def test_no_line_is_drawn_across_a_time_without_traffic(tmp_path, monkeypatch):
    # GIVEN captures with a 45-minute gap, and the figures kept as they are drawn
    _gap_rows(tmp_path)
    figures = {}
    save = report._save

    def keep(fig, path):
        figures[Path(path).stem] = [list(line.get_ydata()) for ax in fig.axes
                                    for line in ax.lines if len(line.get_ydata()) > 2]
        return save(fig, path)

    monkeypatch.setattr(report, "_save", keep)
    summary = write_report(str(tmp_path / "c"), tmp_path / "out")
    # THEN the time lines hold NaN for the empty buckets (matplotlib breaks the line there)
    n_empty = summary["traffic"]["n_empty_buckets"]
    assert n_empty == 9
    for chart in ("low_confidence_share", "expected_accuracy"):
        (line,) = figures[chart]
        assert sum(1 for v in line if isinstance(v, float) and math.isnan(v)) == n_empty


# ----------------------------------------------------------------------------- traffic


def test_traffic_and_review_share_per_bucket_match_the_records(day):
    built, summary, html = day
    t = summary["traffic"]
    width = t["bucket_seconds"]
    slots = slots_of(built.items, width)
    first, last = min(slots), max(slots)
    # THEN buckets without traffic are the slots between the first and last without a capture
    assert t["n_buckets"] == int((last - first) // width) + 1
    assert t["n_empty_buckets"] == t["n_buckets"] - len(slots) >= 3  # the outage
    assert t["peak_per_minute"] == pytest.approx(max(len(v) for v in slots.values())
                                                 * 60 / width)
    # AND the worst bucket for the review queue is the one with the largest share below 0.93
    shares = {s: sum(max(p) < 0.93 for p in v) / len(v) for s, v in slots.items()
              if len(v) >= report.MIN_BUCKET_N}
    assert t["worst_low_confidence_bucket"]["share_below_threshold"] == pytest.approx(
        max(shares.values()))
    # AND the page says that captures hold neither latency nor rejected requests
    assert "<b>Latency</b> is not in the captures" in html
    assert "<b>Rejected requests (4xx)</b> are not in the captures" in html
    assert f"these {len(built.items)} records are all successful inferences" in html
    assert summary["endpoint_metrics"] is None  # local captures: CloudWatch not asked


def slots_of(items, width) -> dict[float, list]:
    """Probabilities of the scenario's items by the start of their bucket (epoch grid)."""
    slots = {}
    for *_, probs, when, _night in items:
        slots.setdefault(when.timestamp() - when.timestamp() % width, []).append(probs)
    return slots


def test_every_chart_says_what_to_do_when_it_is_bad(day):
    _, summary, html = day
    assert set(summary["charts"]) >= {"traffic", "low_confidence_share", "expected_accuracy",
                                      "drift_windows", "drift_confidence", "drift_inputs"}
    assert html.count("<b>When it is bad:</b>") == len(summary["charts"])
    text = unescape(html)
    assert "check the endpoint's instance count and autoscaling" in text
    assert "look at the review queue" in text and "retrain" in text


@mock_aws
def test_latency_and_errors_come_from_cloudwatch_for_s3_captures(tmp_path):
    # GIVEN captures of an endpoint in S3, and its AWS/SageMaker metrics in CloudWatch
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="caps")
    items = traffic(40, start, rng=random.Random(8), step_s=60)
    body = jsonl([capture_record(img, p, t) for img, p, t in items])
    s3.put_object(Bucket="caps", Key=f"dc/{capture_relpath(start, endpoint='ep')}",
                  Body=body.encode())
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    dims = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    for minute in range(0, 40, 5):
        when = start + timedelta(minutes=minute, seconds=5)
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": when,
             "Value": 40_000.0, "Unit": "Microseconds"},
            {"MetricName": "Invocation4XXErrors", "Dimensions": dims, "Timestamp": when,
             "Value": 2.0}])
    # WHEN the report reads them
    summary = write_report("s3://caps/dc", tmp_path / "out")
    # THEN latency (in ms) and 4xx counts are in the summary and on the page
    metrics = summary["endpoint_metrics"]
    assert metrics["error"] is None and metrics["endpoint"] == "ep"
    assert {v for _, v in metrics["series"]["ModelLatency"]} == {40.0}
    assert sum(v for _, v in metrics["series"]["Invocation4XXErrors"]) == 16
    html = (tmp_path / "out" / "report.html").read_text()
    assert "model latency 40.0 ms on average" in html and "16 in CloudWatch" in html


def test_cloudwatch_failure_is_a_note_not_an_error(tmp_path):
    class Denied:
        def get_metric_data(self, **_):
            raise PermissionError("AccessDenied: cloudwatch:GetMetricData")

    out = context.endpoint_metrics("ep", "AllTraffic", T0, T0 + timedelta(minutes=5), 60,
                                   client=Denied())
    assert out["series"] == {} and "AccessDenied" in out["error"]


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_is_estimated_and_measured_on_reviewed_labels(day):
    built, summary, html = day
    acc = summary["accuracy"]
    confidences = [max(p) for _, _, p, _, _ in built.items]
    # THEN the estimate is the mean max-probability, and the page says accuracy is unmeasurable
    assert acc["expected_accuracy"] == pytest.approx(sum(confidences) / len(confidences))
    assert "Accuracy cannot be measured from the captures" in html and "Caveat:" in html
    assert acc["validation_accuracy"] is not None
    # AND every reviewed image matched its capture by its bytes; accuracy counted on them
    rev = acc["reviewed"]
    assert rev["n_labels"] == rev["n"] == built.n_reviewed > 0
    labels = scenario.LABELS
    predicted = {png: labels[p.index(max(p))] for png, _, p, _, _ in built.items}
    files = [f for label in labels for f in (built.reviewed / label).iterdir()]
    truth = {f.read_bytes(): f.parent.name for f in files}
    assert rev["correct"] == sum(predicted[png] == t for png, t in truth.items())
    assert rev["below_threshold"]["n"] == rev["n"]  # the review queue: below 0.93 only
    # AND the night photos make the model over-confident: measured below expected
    assert rev["accuracy"] < rev["expected_accuracy"]


def test_reviewed_labels_as_json_lines_and_review_sidecars(tmp_path):
    # GIVEN four captures: one with an inference id, one known by its event id, two by bytes
    pngs = [image_bytes(gray=g) for g in (10, 60, 110, 160)]
    records = [capture_record(pngs[0], [0.9, 0.1], T0, inference_id="req-1"),
               capture_record(pngs[1], [0.2, 0.8], T0 + timedelta(seconds=1)),
               capture_record(pngs[2], [0.7, 0.3], T0 + timedelta(seconds=2)),
               capture_record(pngs[3], [0.6, 0.4], T0 + timedelta(seconds=3))]
    path = tmp_path / "c" / capture_relpath(T0)
    path.parent.mkdir(parents=True)
    path.write_text(jsonl(records))
    (tmp_path / "img.png").write_bytes(pngs[2])
    lines = [{"inference_id": "req-1", "label": "bicycle"},
             {"event_id": records[1]["eventMetadata"]["eventId"], "true_label": "bicycle"},
             {"image": "img.png", "label": "bicycle"},
             {"image": "gone.png", "label": "bicycle"},
             {"inference_id": "req-9", "label": "scooter"}]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines)
                                           + "not json\n")
    # WHEN reported with the JSON Lines file
    summary = write_report(str(tmp_path / "c"), tmp_path / "o",
                           reviewed_labels=tmp_path / "labels.jsonl")
    rev = summary["accuracy"]["reviewed"]
    # THEN three inferences matched (two right, one wrong), three entries left out by name
    assert (rev["n"], rev["correct"], rev["n_problems"]) == (3, 2, 3)
    assert any("gone.png" in p for p in rev["problems"])
    assert any("'scooter'" in p for p in rev["problems"])
    assert rev["confusion"] == {"bicycle": {"bicycle": 2, "motorcycle": 1},
                                "motorcycle": {"bicycle": 0, "motorcycle": 0}}

    # GIVEN the review queue's copies and sidecars, one labelled, one not yet
    queue = tmp_path / "review" / "uploads"
    queue.mkdir(parents=True)
    for i, label in ((3, "motorcycle"), (2, None)):
        (queue / f"p{i}.png").write_bytes(pngs[i])
        (queue / f"p{i}.png.json").write_text(json.dumps({"image": f"s3://b/uploads/p{i}.png",
                                                          "label": "bicycle",
                                                          "true_label": label}))
    loaded = load_reviewed(tmp_path / "review", ["bicycle", "motorcycle"])
    # THEN only the labelled sidecar counts (its image is not read as a folder label)
    assert loaded.n_entries == 1 and loaded.n_problems == 0
    summary = write_report(str(tmp_path / "c"), tmp_path / "o2",
                           reviewed_labels=tmp_path / "review")
    rev = summary["accuracy"]["reviewed"]
    assert (rev["n"], rev["correct"]) == (1, 0)  # answered bicycle 0.6, truly a motorcycle


def test_cli_takes_reviewed_labels_and_names_a_missing_path(day, tmp_path, capsys):
    built, _, _ = day
    rc = main(["monitor", "--captures", str(built.captures), "--out", str(tmp_path / "o"),
               "--reviewed-labels", str(built.reviewed)])
    assert rc == 0
    data = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert data["accuracy"]["reviewed"]["n"] == built.n_reviewed
    capsys.readouterr()
    with pytest.raises(ReviewedLabelsNotFound):
        load_reviewed(tmp_path / "nope", ["bicycle", "motorcycle"])
    rc = main(["monitor", "--captures", str(built.captures), "--out", str(tmp_path / "o"),
               "--reviewed-labels", str(tmp_path / "nope")])
    assert rc == 2 and "ReviewedLabelsNotFound" in capsys.readouterr().err


# ----------------------------------------------------------------------------- drift


def test_drift_numbers_are_explained_with_their_limits(day):
    _, summary, html = day
    assert summary["drift"]["status"] == "fail"
    # THEN each statistic is explained with the limits drift.py applies
    for text in ("population stability index", f"{drift_mod.PSI_WARN} to {drift_mod.PSI_FAIL}"
                 " is WARN", "Kolmogorov", f"p &lt; {drift_mod.P_VALUE_LIMIT} <i>and</i> D &ge; "
                 f"{drift_mod.KS_MIN_D}", "chi-square", f"Fewer than {drift_mod.MIN_WINDOW_N}",
                 "Why a window can differ from the whole period"):
        assert text in html, text
    # AND the night client's windows fail while the morning's pass
    windows = summary["drift"]["windows"]
    assert [w["status"] for w in windows if w["start"] < scenario.NIGHT_CLIENT_FROM.isoformat()
            ] == ["pass"] * 4
    assert windows[-1]["status"] == "fail"


def test_scenario_images_fall_back_to_generated_ones(tmp_path):
    built = scenario.build(tmp_path, shared_data=None)
    assert built.items and built.n_reviewed
