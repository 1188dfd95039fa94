"""A tiny real training run through `scones train`, and SageMaker script mode (slow: seconds)."""

from __future__ import annotations

import json
import tarfile

import pytest
import torch

from model.inference import read_weights
from model.package import LoadedArtifact
from scones.cli import main

pytestmark = pytest.mark.slow


def test_tiny_training_run_writes_a_valid_artifact(image_folder, tmp_path, capsys):
    # GIVEN 24 easy images (plus a corrupt file) in an ImageFolder
    (image_folder / "motorcycle" / "corrupt.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "run"
    # WHEN `scones train` runs for 3 epochs with one ensemble member
    assert main(["train", "--data", str(image_folder), "--out", str(out), "--seed", "1",
                 "--epochs", "3", "--members", "1"]) == 0
    printed = capsys.readouterr()
    # THEN the artifact, metrics, baseline and split are written
    assert "corrupt.png" in printed.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == metrics["n_validation"] > 0 and 0 <= metrics["accuracy"] <= 1
    # AND the validation split fitted the temperature; its metrics are cross-fitted
    assert metrics["n_calibration"] == 0 and metrics["temperature_fitted_on"] == "validation"
    assert metrics["metrics_temperature"] == "cross-fitted"
    # AND the precision "auto" resolved to is recorded where it was used
    from model.train import training_precision

    assert metrics["precision"] == training_precision("auto") in ("float32", "bfloat16")
    assert [s["path"].endswith("corrupt.png") for s in metrics["skipped"]] == [True]
    baseline = json.loads((out / "baseline.json").read_text())
    assert set(baseline) == {"labels", "n", "threshold", "confidence", "label_mix", "input"}
    assert baseline["labels"] == ["bicycle", "motorcycle"] and baseline["threshold"] == 0.93
    assert len(baseline["confidence"]) == baseline["n"] == metrics["n_validation"]
    assert sum(baseline["label_mix"].values()) == pytest.approx(1.0)
    for key in ("brightness", "width", "height", "bytes"):
        assert len(baseline["input"][key]) == baseline["n"]
    assert baseline["input"]["width"][0] == 32 and 0 < baseline["input"]["brightness"][0] < 1
    split = json.loads((out / "split.json").read_text())
    assert split["data_root"] == str(image_folder.resolve())
    parts = [split[p] for p in ("train", "calibration", "validation")]
    paths = [row["path"] for part in parts for row in part]
    assert len(paths) == len(set(paths)) == 24
    assert all((image_folder / p).exists() for p in paths)
    # AND the artifact serves through its own code with the recorded metadata
    with tarfile.open(out / "model.tar.gz") as tar:
        assert json.loads(tar.extractfile("baseline.json").read()) == baseline
    with LoadedArtifact(out / "model.tar.gz") as artifact:
        meta = artifact.metadata
        assert meta["labels"] == ["bicycle", "motorcycle"] and meta["seed"] == 1
        assert meta["temperature"] > 0 and meta["model_version"]
        assert {"created", "training_seconds", "metrics", "input_size"} <= set(meta)
        assert meta["config"]["precision"] == metrics["precision"]
        # AND fine-tuned, it serves the image alone (one pass: no flip TTA) unless asked
        assert meta["tta_flip"] is False and artifact.model.tta_flip is False
        body = (image_folder / "bicycle" / "bicycle_000.png").read_bytes()
        probs = artifact.module.predict_fn(artifact.module.input_fn(body, "image/png"),
                                           artifact.model)
        assert json.loads(artifact.module.output_fn(probs, "application/json")) == \
            pytest.approx(probs[0].tolist())


def test_a_calibration_split_can_replace_the_validation_split(image_folder, tmp_path, capsys):
    # GIVEN `scones train` told to hold nothing out for evaluation, a quarter for calibration
    out = tmp_path / "run"
    assert main(["train", "--data", str(image_folder), "--out", str(out), "--epochs", "1",
                 "--members", "1", "--validation-fraction", "0",
                 "--calibration-fraction", "0.25", "--tta"]) == 0
    # (and asked for flip TTA, it serves the image and its mirror)
    with LoadedArtifact(out / "model.tar.gz") as artifact:
        assert artifact.metadata["tta_flip"] is True and artifact.model.tta_flip is True
    # THEN the temperature comes from the calibration images and no metrics are claimed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["temperature_fitted_on"] == "calibration" and metrics["n"] == 0
    assert metrics["n_calibration"] == 6 and metrics["n_train"] == 18
    # AND holding out nothing at all is refused before any training: one line, exit 1
    capsys.readouterr()
    assert main(["train", "--data", str(image_folder), "--out", str(tmp_path / "none"),
                 "--validation-fraction", "0"]) == 1
    err = capsys.readouterr().err
    assert "fit the temperature" in err and "Traceback" not in err
    assert not (tmp_path / "none" / "model.tar.gz").exists()


def test_training_is_deterministic_with_a_seed(image_folder, tmp_path):
    # GIVEN two runs with the same seed (float32 asked for: it is recorded as asked)
    for name in ("a", "b"):
        assert main(["train", "--data", str(image_folder), "--out", str(tmp_path / name),
                     "--epochs", "2", "--members", "1", "--seed", "5",
                     "--precision", "float32"]) == 0
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["precision"] == "float32"
    # THEN the weights are identical
    weights = []
    for name in ("a", "b"):
        with tarfile.open(tmp_path / name / "model.tar.gz") as tar:
            tar.extract("weights.npz", tmp_path / name, filter="data")
        weights.append(read_weights(tmp_path / name / "weights.npz"))
    for left, right in zip(weights[0][0].values(), weights[1][0].values(), strict=True):
        assert torch.equal(left, right)


def test_sagemaker_script_mode_reads_sm_environment(list_dataset, image_folder, tmp_path,
                                                    monkeypatch, capsys):
    # GIVEN SageMaker's environment: model dir and train/validation channels
    from model.pipeline import sagemaker_main

    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "sm_model"))
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(image_folder))
    monkeypatch.setenv("SM_CHANNEL_VALIDATION", str(list_dataset))
    # WHEN the entry point runs with hyperparameters as arguments
    assert sagemaker_main(["--epochs", "2", "--members", "1"]) == 0
    # THEN the model dir holds the serving layout unpacked (SageMaker tars it) + metrics
    model_dir = tmp_path / "sm_model"
    for name in ("weights.npz", "metadata.json", "code/inference.py", "metrics.json"):
        assert (model_dir / name).exists()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["evaluated_on"] == "validation channel" and metrics["n"] == 12


def test_train_offers_exactly_the_precisions_training_knows(image_folder, tmp_path, capsys):
    from model.train import PRECISIONS

    # an unknown precision is refused by the command line, before any data is read
    with pytest.raises(SystemExit):
        main(["train", "--data", str(image_folder), "--out", str(tmp_path), "--precision", "fp8"])
    assert f"choose from {', '.join(repr(p) for p in PRECISIONS)}" in capsys.readouterr().err
