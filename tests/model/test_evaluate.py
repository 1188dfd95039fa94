"""Metrics on a hand-computable case, and `scones evaluate` end to end on a real artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.metrics import classification_report
from scones.cli import main


def test_report_matches_a_hand_computed_case():
    # GIVEN 5 images: confidences .99 (right), .95 (wrong), .94 (right), .80 (right), .60 (wrong)
    probabilities = np.array([[0.99, 0.01], [0.95, 0.05], [0.06, 0.94], [0.2, 0.8],
                              [0.4, 0.6]])
    targets = np.array([0, 1, 1, 1, 0])
    # WHEN the report is computed at threshold 0.93
    report = classification_report(probabilities, targets, ["bicycle", "motorcycle"], 0.93)
    # THEN the numbers are the hand-computed ones
    assert report["n"] == 5
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["coverage"] == pytest.approx(3 / 5)  # .99, .95, .94
    assert report["covered_accuracy"] == pytest.approx(2 / 3)
    assert report["confusion_matrix"] == [[1, 1], [1, 2]]  # rows true, columns predicted
    assert report["per_class"]["bicycle"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                              "support": 2}
    assert report["per_class"]["motorcycle"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["motorcycle"]["recall"] == pytest.approx(2 / 3)
    # ECE, 10 bins: [.9,1]: 3 imgs conf .96 acc 2/3; [.7,.8]: .80 right; [.5,.6]: .60 wrong
    expected_ece = 3 / 5 * abs(2 / 3 - 0.96) + 1 / 5 * abs(1 - 0.8) + 1 / 5 * abs(0 - 0.6)
    assert report["ece"] == pytest.approx(expected_ece)
    curve = report["risk_coverage"]
    assert [p["coverage"] for p in curve] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [p["accuracy"] for p in curve] == pytest.approx([1.0, 0.5, 2 / 3, 0.75, 0.6])
    assert [p["threshold"] for p in curve] == pytest.approx([0.99, 0.95, 0.94, 0.8, 0.6])


def test_nothing_covered_gives_null_covered_accuracy():
    report = classification_report(np.array([[0.5, 0.5]]), np.array([0]), ["a", "b"], 0.93)
    assert report["coverage"] == 0.0 and report["covered_accuracy"] is None


def test_evaluate_json_is_consistent(untrained_artifact, image_folder, tmp_path, capsys):
    # GIVEN a real artifact and a labeled folder of 24 images (one of them corrupt)
    (image_folder / "bicycle" / "broken.png").write_bytes(b"broken")
    # WHEN `scones evaluate --json -` runs with plots written to --out
    assert main(["evaluate", "--model", str(untrained_artifact), "--data", str(image_folder),
                 "--json", "-", "--out", str(tmp_path / "plots")]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    # THEN the keys are there and the numbers agree with each other
    for key in ("n", "accuracy", "coverage", "covered_accuracy", "threshold", "per_class",
                "confusion_matrix", "ece", "risk_coverage", "reliability"):
        assert key in report
    confusion = np.array(report["confusion_matrix"])
    assert report["n"] == confusion.sum() == 24
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 24)
    assert report["threshold"] == 0.93
    assert [row["path"].endswith("broken.png") for row in report["skipped"]] == [True]
    assert "broken.png" in captured.err
    assert report["risk_coverage"][-1]["coverage"] == pytest.approx(1.0)
    assert report["risk_coverage"][-1]["accuracy"] == pytest.approx(report["accuracy"])
    for name in ("reliability.png", "risk_coverage.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_table_and_plots_in_evaluation_beside_the_model(untrained_artifact,
                                                                 list_dataset, capsys):
    assert main(["evaluate", "--model", str(untrained_artifact), "--data",
                 str(list_dataset / "train.lst"), "--threshold", "0.5"]) == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "coverage" in table and "motorcycle" in table
    # the plots go to a folder of their own: the model's folder keeps what training wrote
    assert (untrained_artifact.parent / "evaluation" / "risk_coverage.png").exists()
    assert not (untrained_artifact.parent / "risk_coverage.png").exists()
