"""A real trained model through the local runtime (slow: trains a one-epoch model once).

The model comes from `scones demo`'s own training step (model package defaults, 1 epoch), so
these tests also cover the demo's train-if-missing path and the artifact contract end to end.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import boto3
import pytest

from model.data import Samples, load_images
from model.package import LoadedArtifact
from scones.cli import main
from scones.demo import ensure_model
from scones.serving.endpoint import start_endpoint

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="session")
def real_model(tmp_path_factory, shared_data):
    model = tmp_path_factory.mktemp("real") / "model" / "model.tar.gz"
    assert ensure_model(model, shared_data, epochs=1) is True
    assert (model.parent / "split.json").exists()
    return model


@pytest.fixture(scope="session")
def sample_images(shared_data):
    images = sorted((shared_data / "train").glob("*.png"))
    return images[::125]  # 8 images, both classes


def test_real_artifact_serves_probabilities_and_real_errors(real_model, sample_images, tmp_path):
    # GIVEN the endpoint serving the trained artifact through its own inference code
    server = start_endpoint(real_model, endpoint_name="real", capture=str(tmp_path / "c"))
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url)
    try:
        # WHEN real PNGs, a wrong content type and broken bytes are sent
        answers = [json.loads(client.invoke_endpoint(
            EndpointName="real", ContentType="image/png", Body=p.read_bytes())["Body"].read())
            for p in sample_images]
        with pytest.raises(client.exceptions.ModelError) as wrong_type:
            client.invoke_endpoint(EndpointName="real", ContentType="text/csv", Body=b"1,2")
        with pytest.raises(client.exceptions.ModelError) as broken:
            client.invoke_endpoint(EndpointName="real", ContentType="image/png",
                                   Body=sample_images[0].read_bytes()[:40])
    finally:
        server.stop()
    # THEN each answer is two probabilities summing to 1, errors keep the model's status codes
    assert all(len(a) == 2 and abs(sum(a) - 1) < 1e-5 for a in answers)
    assert wrong_type.value.response["OriginalStatusCode"] == 415
    assert broken.value.response["OriginalStatusCode"] == 400
    assert server.endpoint.capture.written == len(sample_images)


def test_scones_run_with_the_real_model_gives_both_outcomes(real_model, sample_images, tmp_path,
                                                            capsys):
    def run(threshold):
        out = tmp_path / f"r{threshold}.json"
        code = main(["run", *map(str, sample_images), "--model", str(real_model),
                     "--threshold", str(threshold), "--json", str(out),
                     "--capture", str(tmp_path / "cap"), "--lambda-log", str(tmp_path / "l")])
        capsys.readouterr()
        return code, json.loads(out.read_text())

    # GIVEN real images WHEN run at threshold 0.5 (two classes: the top one always passes)
    code, records = run(0.5)
    assert code == 0 and {r["status"] for r in records} == {"SUCCEEDED"}
    assert all(r["confidence"] == max(r["inferences"]) for r in records)
    # AND at their median confidence
    median = statistics.median(r["confidence"] for r in records)
    code, records = run(round(median, 6))
    # THEN both outcomes appear, each decided by the confidence against the threshold
    assert code == 0
    assert {r["status"] for r in records} == {"SUCCEEDED", "FAILED"}
    for r in records:
        passed = r["confidence"] >= round(median, 6)
        assert r["status"] == ("SUCCEEDED" if passed else "FAILED")
        assert r["error"] == (None if passed else "THRESHOLD_CONFIDENCE_NOT_MET")


def test_scones_demo_runs_the_held_out_images_and_writes_the_report(real_model, shared_data,
                                                                    tmp_path, capsys):
    # GIVEN a trained model with its split WHEN `scones demo` runs offline (its loop's
    # retraining one epoch long)
    code = main(["demo", "--data", str(shared_data), "--model", str(real_model),
                 "--out", str(tmp_path / "demo"), "--retrain-epochs", "1"])
    out = capsys.readouterr().out
    # THEN every held-out image went through the workflow and everything is where it says
    assert code == 0
    summary = json.loads((tmp_path / "demo" / "demo.json").read_text())
    split = json.loads((real_model.parent / "split.json").read_text())
    assert summary["summary"]["images"] == len(split["validation"])
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert {r["status"] for r in results} <= {"SUCCEEDED", "FAILED"}
    assert all(r["error"] in (None, "THRESHOLD_CONFIDENCE_NOT_MET") for r in results)
    assert summary["monitoring_report"] and (tmp_path / "demo/monitoring/report.html").exists()
    captured = sum(len(f.read_text().splitlines())
                   for f in (tmp_path / "demo" / "captures").rglob("*.jsonl"))
    assert captured == len(results)
    assert "where everything is" in out and "monitoring_report" in out
    # AND the loop ran on real photos: reviewed, retrained, decided, registered
    loop = summary["loop"]
    assert loop["reviewed"]["n"] > 0 and loop["reason"]
    assert loop["champion"]["n"] == loop["challenger"]["n"] == loop["evaluation"]["n"]
    assert (tmp_path / "demo" / "loop" / "registry.json").exists()
    # AND the workflow reproduces the served artifact's own offline predictions on the same
    # images (endpoint batching, handlers and threshold change nothing)
    data_root = Path(split["data_root"])
    images = load_images(Samples(
        data_root, [data_root / r["path"] for r in split["validation"]],
        [split["labels"].index(r["label"]) for r in split["validation"]], split["labels"]))
    with LoadedArtifact(real_model) as artifact:
        probabilities = artifact.predict_images(images.images)
    offline_coverage = float((probabilities.max(axis=1) >= 0.93).mean())
    assert summary["accuracy"]["coverage"] == pytest.approx(offline_coverage, abs=1e-4)
    # AND accuracy (which no temperature changes) equals training's metrics.json
    metrics = json.loads((real_model.parent / "metrics.json").read_text())
    assert summary["accuracy"]["accuracy_all"] == pytest.approx(metrics["accuracy"], abs=1e-4)
