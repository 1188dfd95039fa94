"""A third class is a retraining, not a code change: a tiny 3-class model (trained here on
colour-coded images) runs through the real workflow with ClassLabels=bicycle,motorcycle,scooter,
its answers are recorded with three inferences, and the monitor reports the three-way label mix
(slow: a tiny real training run)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from retraining_data import COLORS, TINY, color_png, write_color_folder

from model.pipeline import train_and_package
from model.train import TrainConfig
from scones.cli import main
from scones.local.stack import LocalStack
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLASSES = ("bicycle", "motorcycle", "scooter")


@pytest.fixture(scope="module")
def three_class_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("three")
    data = write_color_folder(root / "data", labels=CLASSES, per_class=24)
    summary = train_and_package(data, root / "model", TrainConfig(**TINY), progress=False)
    return root / "model" / "model.tar.gz", summary


def test_a_three_class_model_runs_end_to_end(three_class_model, tmp_path, capsys):
    artifact, summary = three_class_model
    # GIVEN the artifact's metadata lists the classes the data had, in folder order
    assert summary["metadata"]["labels"] == list(CLASSES)
    captures = tmp_path / "captures"
    server = start_endpoint(artifact, capture=str(captures))
    quiet_interpreter_logs()
    rng = np.random.default_rng(7)
    try:
        with function_stdout_to(tmp_path / "lambda.log"), LocalStack(
                server.url, parameters={"ClassLabels": ",".join(CLASSES),
                                        "ConfidenceThreshold": 0.5}) as stack:
            outcomes = {}
            for label in CLASSES:
                photo = tmp_path / f"{label}.png"
                photo.write_bytes(color_png(COLORS[label], rng))
                # (not under the upload prefix: that would start a second execution)
                outcomes[label] = stack.run_image(photo, f"photos/{label}.png")
            items = stack.client("dynamodb").scan(
                TableName=stack.deployment.resources["ResultsTable"])["Items"]
    finally:
        server.stop()
    # THEN each colour is classified as its class, with one probability per class
    for label, result in outcomes.items():
        assert result.status == "SUCCEEDED", (label, result.error, result.cause)
        assert result.label == label and len(result.inferences) == 3
    # AND the results table records three inferences per image, by the model
    assert sorted(i["label"]["S"] for i in items) == sorted(CLASSES)
    assert all(len(i["inferences"]["L"]) == 3 and i["source"]["S"] == "model" for i in items)
    # AND the monitor reads the three classes from the model's baseline and reports each
    code = main(["monitor", "--captures", str(captures), "--baseline", str(artifact),
                 "--out", str(tmp_path / "report"), "--threshold", "0.5",
                 "--json", str(tmp_path / "report.json")])
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0
    assert report["labels"] == list(CLASSES)
    assert report["label_counts"] == {label: 1 for label in CLASSES}
