"""The report (charts, report.html, summary.json), the `scones monitor` command, and the
HTML rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import report_scenario
from monitor_fixtures import (
    T0,
    capture_record,
    capture_relpath,
    csv_record,
    image_bytes,
    jsonl,
    make_baseline,
    traffic,
    write_tree,
)
from moto import mock_aws
from PIL import Image

from scones.cli import main
from scones.monitor.report import write_report

BASE_CHARTS = {"traffic", "low_confidence_share", "expected_accuracy", "confidence_over_time",
               "confidence_histogram", "label_mix_over_time", "image_sizes"}
DRIFT_CHARTS = {"drift_confidence", "drift_windows", "drift_inputs"}


@pytest.fixture
def normal_then_shifted(tmp_path) -> tuple[Path, list]:
    """90 inferences like the baseline, then 90 unconfident, mostly-motorcycle, dark ones;
    plus other endpoints' csv lines and a truncated line."""
    rng = random.Random(21)
    items = traffic(90, T0, rng=rng) + traffic(
        90, T0 + timedelta(seconds=900), rng=rng, confident=0.1, motorcycle_share=0.9, gray=50)
    root = tmp_path / "captures"
    write_tree(root, items)
    extra = root / capture_relpath(T0 + timedelta(minutes=40), endpoint="tabular-ep")
    extra.parent.mkdir(parents=True)
    extra.write_text(jsonl([csv_record(T0)] * 3, tail='{"captureData": '))
    return root, items


def check_png(path: Path) -> None:
    assert 8_000 < path.stat().st_size < 1_500_000, path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 250


def test_report_files_and_summary_match_the_records(normal_then_shifted, tmp_path):
    # GIVEN the captures above
    root, items = normal_then_shifted
    out = tmp_path / "report"

    # WHEN the report is written without a baseline
    summary = write_report(str(root), out)

    # THEN the summary numbers are those of the records
    n_above = sum(max(p) >= 0.93 for _, p, _ in items)
    n_moto = sum(p[1] > p[0] for _, p, _ in items)
    assert summary["n_records"] == 180
    assert summary["n_above_threshold"] == n_above
    assert summary["share_above_threshold"] == pytest.approx(n_above / 180)
    assert summary["label_counts"] == {"bicycle": 180 - n_moto, "motorcycle": n_moto}
    assert summary["n_skipped"] == {"non_image_input": 3, "not_json": 1}
    assert summary["image_sizes"] == {"32x32": 180}
    assert summary["drift"] is None
    # AND every chart is a sane PNG, summary.json is the returned summary
    assert set(summary["charts"]) == BASE_CHARTS
    for name in summary["charts"].values():
        check_png(out / name)
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    # AND report.html is self-contained: every chart inline, nothing fetched from elsewhere
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(BASE_CHARTS)
    assert "http://" not in html and "https://" not in html
    assert "<td>non_image_input</td><td>3</td>" in html


def test_drift_marks_the_shifted_windows(normal_then_shifted, tmp_path):
    # GIVEN the captures and a baseline drawn like the first half
    root, _ = normal_then_shifted
    (tmp_path / "baseline.json").write_text(json.dumps(make_baseline()))

    # WHEN the report is written with 5-minute windows
    summary = write_report(str(root), tmp_path / "out", baseline=str(tmp_path / "baseline.json"),
                           window=timedelta(minutes=5))

    # THEN the whole period fails, the three normal windows pass, the three shifted ones fail
    drift = summary["drift"]
    assert drift["status"] == "fail" and drift["drift_detected"]
    assert [w["status"] == "fail" for w in drift["windows"]] == [False] * 3 + [True] * 3
    assert drift["n_windows_failed"] == 3
    failed = {c["check"] for c in drift["windows"][-1]["checks"] if c["status"] == "fail"}
    assert {"confidence_ks", "label_mix_chi2", "input_brightness_ks"} <= failed
    assert set(summary["charts"]) == BASE_CHARTS | DRIFT_CHARTS
    for name in summary["charts"].values():
        check_png(tmp_path / "out" / name)
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count('<tr class="fail">') >= 3 and "Drift against the training baseline" in html


def test_unshifted_traffic_passes_drift(tmp_path):
    # GIVEN 150 inferences drawn like the baseline (another seed)
    write_tree(tmp_path / "c", traffic(150, T0, rng=random.Random(99)))
    (tmp_path / "baseline.json").write_text(json.dumps(make_baseline()))
    # WHEN reported against it
    summary = write_report(str(tmp_path / "c"), tmp_path / "out",
                           baseline=str(tmp_path / "baseline.json"))
    # THEN no check and no window fails
    assert summary["drift"]["status"] in ("pass", "warn")
    assert summary["drift"]["n_windows_failed"] == 0


def test_labels_that_contradict_the_baseline_are_a_named_error(tmp_path, baseline_file):
    # GIVEN a baseline for bicycle/motorcycle WHEN monitored as other labels THEN refused
    from scones_domain.monitoring.drift import BaselineLabelMismatch

    write_tree(tmp_path / "c", traffic(5, T0, rng=random.Random(1)))
    with pytest.raises(BaselineLabelMismatch):
        write_report(str(tmp_path / "c"), tmp_path / "o", labels=["motorcycle", "bicycle"],
                     baseline=str(baseline_file))


def test_labels_come_from_the_baseline_unless_given(tmp_path):
    # GIVEN a baseline whose labels are not the defaults
    doc = make_baseline()
    doc["labels"] = ["scooter", "motorbike"]
    doc["label_mix"] = {"scooter": 0.5, "motorbike": 0.5}
    (tmp_path / "baseline.json").write_text(json.dumps(doc))
    write_tree(tmp_path / "c", traffic(40, T0, rng=random.Random(1)))
    # WHEN reported with the baseline, then with --labels
    from_baseline = write_report(str(tmp_path / "c"), tmp_path / "a",
                                 baseline=str(tmp_path / "baseline.json"))
    given = write_report(str(tmp_path / "c"), tmp_path / "b", labels=["x", "y"])
    # THEN the label names follow
    assert set(from_baseline["label_counts"]) == {"scooter", "motorbike"}
    assert set(given["label_counts"]) == {"x", "y"}


def test_threshold_changes_the_decision(tmp_path):
    write_tree(tmp_path / "c", traffic(50, T0, rng=random.Random(2)))
    low = write_report(str(tmp_path / "c"), tmp_path / "a", threshold=0.5)
    high = write_report(str(tmp_path / "c"), tmp_path / "b", threshold=0.999)
    assert low["share_above_threshold"] == 1.0
    assert high["share_above_threshold"] < 0.5


def test_empty_captures_still_write_a_report(tmp_path):
    (tmp_path / "c").mkdir()
    summary = write_report(str(tmp_path / "c"), tmp_path / "out")
    assert summary["n_records"] == 0 and summary["share_above_threshold"] is None
    assert (tmp_path / "out" / "report.html").exists()
    assert "No image inferences in these captures" in (tmp_path / "out" / "report.html").read_text()
    assert summary["charts"] == {"empty": "no_inferences.png"}


def test_report_over_captures_written_by_the_local_endpoint_writer(tmp_path, shared_data):
    # GIVEN real CIFAR PNGs captured by scones.local's CaptureWriter (the format `scones serve`
    # writes during `scones demo`), with JSON outputs as the model returns them
    from scones.serving.capture import CaptureConfig, CaptureEvent, CaptureWriter

    pngs = sorted((shared_data / "train").glob("*.png"))[:40]
    config = CaptureConfig(destination=str(tmp_path / "captures"), endpoint_name="scones-local")
    rng = random.Random(3)
    now = datetime.now(UTC)
    with CaptureWriter(config) as writer:
        for i, png in enumerate(pngs):
            p = rng.uniform(0.5, 1.0)
            writer.submit(CaptureEvent(
                input_data=png.read_bytes(), input_content_type="image/png",
                output_data=json.dumps([p, 1 - p]).encode(),
                output_content_type="application/json",
                inference_time=now + timedelta(seconds=i)))
    # WHEN the monitor reads them
    summary = write_report(str(tmp_path / "captures"), tmp_path / "out")
    # THEN every capture is a row with the real image size, all predicted bicycle
    assert summary["n_records"] == 40 and summary["n_skipped_total"] == 0
    assert summary["image_sizes"] == {"32x32": 40}
    assert summary["label_counts"] == {"bicycle": 40, "motorcycle": 0}


# ----------------------------------------------------------------------------- CLI


def test_cli_json_prints_the_machine_summary(normal_then_shifted, tmp_path, capsys):
    root, _ = normal_then_shifted
    (tmp_path / "baseline.json").write_text(json.dumps(make_baseline()))
    rc = main(["monitor", "--captures", str(root), "--out", str(tmp_path / "out"),
               "--baseline", str(tmp_path / "baseline.json"), "--json", "-"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_records"] == 180
    assert data["n_skipped"] == {"non_image_input": 3, "not_json": 1}
    assert {"share_above_threshold", "label_counts", "drift"} <= set(data)
    assert data["drift"]["drift_detected"] is True


def test_cli_table_and_labels_and_time_range(normal_then_shifted, tmp_path, capsys):
    root, _ = normal_then_shifted
    rc = main(["monitor", "--captures", str(root), "--out", str(tmp_path / "out"),
               "--labels", "bicycle,motorcycle", "--threshold", "0.9",
               "--until", (T0 + timedelta(seconds=895)).strftime("%Y-%m-%dT%H:%M:%SZ")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "inferences    90 " in text and "threshold     0.9:" in text
    assert "report        " in text


def test_cli_named_errors(tmp_path, capsys):
    rc = main(["monitor", "--captures", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "CaptureSourceNotFound" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    rc = main(["monitor", "--captures", str(tmp_path / "c"), "--out", str(tmp_path / "o"),
               "--baseline", str(tmp_path / "nope.json")])
    assert rc == 2 and "BaselineNotFound" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["monitor", "--captures", "x", "--out", "y", "--since", "last tuesday"])
    with pytest.raises(SystemExit) as exit:
        main(["monitor", "--captures", str(tmp_path / "c"), "--out", "o", "--threshold", "7"])
    assert exit.value.code == 2


@mock_aws
def test_cli_reads_s3_captures(tmp_path, capsys):
    # GIVEN captures in a moto bucket
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="caps")
    for i in range(3):
        when = T0 + timedelta(minutes=i)
        body = jsonl([capture_record(image_bytes("JPEG", (64, 64)), [0.99, 0.01], when,
                                     content_type="image/jpeg")] * 5)
        s3.put_object(Bucket="caps", Key=f"dc/{capture_relpath(when)}", Body=body.encode())
    # WHEN monitored through s3://
    rc = main(["monitor", "--captures", "s3://caps/dc", "--out", str(tmp_path / "o"),
               "--json", "-"])
    # THEN all 15 inferences are in the summary
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["n_records"] == 15 and data["image_sizes"] == {"64x64": 15}


# ----------------------------------------------------------------------------- browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


SCREENSHOT = Path("docs") / "images" / "monitoring-report.png"  # shown in docs/monitoring.md
SCREENSHOT_SIZE = (1200, 2300)  # the header, "At a glance", traffic and the review share


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                    "(apt-get install -y chromium) - the HTML render check needs it")
def test_report_renders_in_headless_chromium(tmp_path, request, repo_root, monkeypatch):
    # GIVEN a day of captures as an operator meets them (report_scenario: an outage, a night
    # client that drifts), reported with its model artifact and reviewed labels, by relative
    # paths as an operator types them
    report_scenario.build(tmp_path, report_scenario.shared_data_or_none(request))
    monkeypatch.chdir(tmp_path)
    summary = write_report("captures", Path("out"), baseline="model/model.tar.gz",
                           reviewed_labels="reviewed", now=report_scenario.GENERATED)
    url = (tmp_path / "out" / "report.html").as_uri()
    n_charts = len(summary["charts"])
    assert summary["drift"]["status"] == "fail" and summary["accuracy"]["reviewed"]["n"]

    def chromium(*args):
        profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--enable-logging=stderr", "--v=0", *args, url],
                              capture_output=True, text=True, timeout=120, check=True)

    # WHEN Chromium loads it (DOM dump after the load event, then a screenshot)
    dom = chromium("--dump-dom")
    shot = tmp_path / "out" / "screenshot.png"
    width, height = SCREENSHOT_SIZE
    chromium(f"--window-size={width},{height}", "--hide-scrollbars", f"--screenshot={shot}")

    # THEN every chart decoded, no script error was logged, and the screenshot is not blank
    assert f'data-images-loaded="{n_charts}/{n_charts}"' in dom.stdout
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    with Image.open(shot) as image:
        assert image.size == SCREENSHOT_SIZE
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 100
        # AND with SCONES_UPDATE_SCREENSHOTS=1 it becomes the documented screenshot (256 colours)
        if os.environ.get("SCONES_UPDATE_SCREENSHOTS") == "1":
            target = repo_root / SCREENSHOT
            target.parent.mkdir(parents=True, exist_ok=True)
            image.convert("RGB").quantize(colors=256).save(target, optimize=True)
