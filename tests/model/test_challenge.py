"""Retraining: N classes from the folders, the challenge of champion vs challenger on a fixed
evaluation set, the shadow check, and the training job's contract (slow: tiny real training)."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from monitor_fixtures import T0, write_tree
from retraining_data import COLORS, TINY, TINY_ARGS, color_png, write_color_folder

from model.challenge import (
    CHALLENGE_FILE,
    ChampionNotFoundError,
    EmptyReviewedLabelsError,
    ReviewedLabelsError,
    carve_evaluation,
    champion_artifact,
    load_evaluation,
    load_reviewed,
    training_images,
)
from model.data import DataNotFoundError, find_samples, load_images
from model.package import LoadedArtifact, write_untrained_artifact
from model.pipeline import sagemaker_main, train_and_package
from model.train import TrainConfig
from scones_domain.promotion import REQUIRED_KEYS

GATE_KEYS = {*REQUIRED_KEYS, "evaluation_sha256", "evaluation_class_labels"}
THREE = ["bicycle", "motorcycle", "scooter"]


@pytest.mark.slow
def test_a_three_class_model_trains_and_answers_three_probabilities(tmp_path):
    # GIVEN a folder with three classes
    data = write_color_folder(tmp_path / "data", THREE, per_class=10)
    # WHEN the pipeline trains on it
    summary = train_and_package(data, tmp_path / "out", TrainConfig(**TINY), progress=False)
    # THEN the artifact's metadata lists the three classes, in sorted order
    assert summary["metadata"]["labels"] == THREE
    with LoadedArtifact(tmp_path / "out" / "model.tar.gz") as artifact:
        assert artifact.labels == THREE
        body = (data / "scooter" / "img_scooter_000.png").read_bytes()
        prediction = artifact.module.predict_fn(artifact.module.input_fn(body, "image/png"),
                                                artifact.model)
        answer = json.loads(artifact.module.output_fn(prediction, "application/json"))
    # AND its code/inference.py answers three probabilities that sum to 1
    assert len(answer) == 3 and sum(answer) == pytest.approx(1.0)


@pytest.mark.slow
def test_the_training_job_challenges_the_champion(tmp_path, monkeypatch, capsys):
    # GIVEN the SageMaker channels of a retraining job: the original two classes, reviewed
    # labels that add a third, a fixed evaluation set of all three, the champion's artifact
    # (two classes, untrained) and a day of captured requests
    train = write_color_folder(tmp_path / "train", per_class=12, seed=1)
    labels = write_color_folder(tmp_path / "labels", THREE, per_class=8, seed=2,
                                prefix="reviewed")
    evaluation = write_color_folder(tmp_path / "evaluation", THREE, per_class=5, seed=3,
                                    prefix="eval")
    champion = tmp_path / "champion"
    write_untrained_artifact(champion / "model.tar.gz", widths=(8, 8, 16), members=1)
    rng = np.random.default_rng(4)
    requests = [(color_png(COLORS["bicycle"], rng), [0.9, 0.1], T0),
                (color_png(COLORS["scooter"], rng), [0.2, 0.8], T0)]
    write_tree(tmp_path / "captures", requests)
    model_dir = tmp_path / "model"
    for name, path in {"MODEL_DIR": model_dir, "CHANNEL_TRAIN": train,
                       "CHANNEL_LABELS": labels, "CHANNEL_EVALUATION": evaluation,
                       "CHANNEL_CHAMPION": champion,
                       "CHANNEL_CAPTURES": tmp_path / "captures"}.items():
        monkeypatch.setenv(f"SM_{name}", str(path))
    # WHEN the job's entry point runs
    assert sagemaker_main([*TINY_ARGS, "--threshold", "0.9"]) == 0
    # THEN challenge.json sits in the model dir (SageMaker tars it into model.tar.gz)
    document = json.loads((model_dir / CHALLENGE_FILE).read_text())
    assert json.loads(capsys.readouterr().out) == document
    assert document["class_labels"] == THREE and document["threshold"] == 0.9
    assert json.loads((model_dir / "metadata.json").read_text())["labels"] == THREE
    # AND the evaluation set is described by its size and digest
    described = document["evaluation"]
    assert described["n"] == 15 and len(described["sha256"]) == 64
    assert described["sha256"] == load_evaluation(evaluation).sha256
    assert described["excluded_from_training"] == 0
    # AND both models are measured on it, with the keys the gate reads
    challenger, old = document["challenger"], document["champion"]
    assert set(challenger) == set(old) == GATE_KEYS
    assert challenger["class_labels"] == THREE
    assert old["class_labels"] == ["bicycle", "motorcycle"]
    assert challenger["n"] == old["n"] == 15
    assert challenger["evaluation_sha256"] == old["evaluation_sha256"] == described["sha256"]
    assert old["evaluation_class_labels"] == THREE
    # the champion cannot answer scooter: at most 10 of 15 right
    assert old["accuracy"] <= 10 / 15
    assert document["models"]["champion"] == "20260101-untrained"
    # AND the shadow check re-scored both captured requests
    shadow = document["shadow"]
    assert shadow["n"] == 2 and 0 <= shadow["disagreements"] <= 2
    assert shadow["rate"] == shadow["disagreements"] / 2
    assert len(shadow["examples"]) == shadow["disagreements"]
    for example in shadow["examples"]:
        assert set(example) == {"event_id", "champion_label", "challenger_label",
                                "challenger_confidence"}
        assert example["champion_label"] != example["challenger_label"]


@pytest.mark.slow
def test_without_an_evaluation_channel_the_job_holds_out_part_of_the_original(
        tmp_path, monkeypatch):
    train = write_color_folder(tmp_path / "train", per_class=10, seed=1)
    labels = write_color_folder(tmp_path / "labels", per_class=3, seed=2, prefix="reviewed")
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    assert sagemaker_main([*TINY_ARGS, "--train", str(train), "--labels", str(labels)]) == 0
    document = json.loads((tmp_path / "model" / CHALLENGE_FILE).read_text())
    # 20% of each original class (scones train's validation split), no champion, no captures
    assert document["evaluation"]["n"] == 4 and "held out from" in document["evaluation"]["source"]
    assert document["champion"] is None and document["shadow"] is None
    split = json.loads((tmp_path / "model" / "split.json").read_text())
    trained = {row["path"] for part in ("train", "validation", "calibration")
               for row in split[part]}
    assert len(trained) == 16 + 6  # the 16 original images left, and the 6 reviewed ones


def test_evaluation_images_never_train(tmp_path):
    # GIVEN an evaluation set whose images also sit in the training data
    train = write_color_folder(tmp_path / "train", per_class=6, seed=1)
    evaluation = tmp_path / "evaluation"
    for label in ("bicycle", "motorcycle"):
        (evaluation / label).mkdir(parents=True)
        source = train / label / f"img_{label}_000.png"
        (evaluation / label / "copy.png").write_bytes(source.read_bytes())
    original = load_images(find_samples(train))
    images, dropped = training_images(original, load_evaluation(evaluation))
    # THEN those copies are dropped from training
    assert dropped == 2 and len(images.paths) == 10
    # AND a carved evaluation split is disjoint from what is left to train on
    rest, held_out = carve_evaluation(original, train)
    assert set(rest.paths).isdisjoint(held_out.images.paths)
    assert len(held_out.bodies) == 2 and len(rest.paths) == 10


def test_the_evaluation_digest_changes_with_a_label_or_an_image(tmp_path):
    folder = write_color_folder(tmp_path / "a", per_class=3)
    first = load_evaluation(folder).sha256
    assert load_evaluation(folder).sha256 == first
    moved = tmp_path / "a" / "motorcycle" / "img_bicycle_000.png"
    (tmp_path / "a" / "bicycle" / "img_bicycle_000.png").rename(moved)
    assert load_evaluation(folder).sha256 != first


def test_reviewed_labels_that_are_not_an_image_folder_are_named_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_reviewed(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyReviewedLabelsError, match="holds no reviewed image"):
        load_reviewed(tmp_path / "empty")
    (tmp_path / "empty" / "bicycle").mkdir()
    with pytest.raises(EmptyReviewedLabelsError):
        load_reviewed(tmp_path / "empty")
    loose = write_color_folder(tmp_path / "loose", per_class=1)
    (loose / "stray.png").write_bytes((loose / "bicycle" / "img_bicycle_000.png").read_bytes())
    with pytest.raises(ReviewedLabelsError, match="outside a class folder"):
        load_reviewed(loose)
    bad = write_color_folder(tmp_path / "bad", per_class=1)
    (bad / "bicycle").rename(bad / "push bike")
    with pytest.raises(ReviewedLabelsError, match="is not a class name"):
        load_reviewed(bad)
    # AND a class folder without images is no review of that class
    (loose / "stray.png").unlink()
    (loose / "scooter").mkdir()
    assert load_reviewed(loose).labels == ["bicycle", "motorcycle"]
    # AND a class the original data lacks is simply a new class
    assert load_reviewed(write_color_folder(tmp_path / "new", ["scooter", "bicycle"],
                                            per_class=1)).labels == ["bicycle", "scooter"]


def test_the_champion_is_a_tarball_or_a_folder_holding_one_or_its_contents(tmp_path):
    artifact = write_untrained_artifact(tmp_path / "c" / "model.tar.gz")
    assert champion_artifact(artifact) == artifact
    assert champion_artifact(tmp_path / "c") == artifact
    with tarfile.open(artifact) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    assert champion_artifact(tmp_path / "x") == tmp_path / "x"
    with LoadedArtifact(tmp_path / "x") as extracted:  # scored in place
        assert extracted.labels == ["bicycle", "motorcycle"]
    with pytest.raises(ChampionNotFoundError, match="no model.tar.gz"):
        champion_artifact(tmp_path / "nothing")
