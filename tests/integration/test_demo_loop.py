"""`scones demo`'s turn of the continuous-improvement loop, on tiny colour-coded data: the
held-out images cut in an evaluation half and a review half, the review half's photos below the
threshold labeled (by the true labels), a challenger retrained on them, the gate's decision,
the registry, both models side by side (slow: two tiny trainings and the whole local stack)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pytest
from retraining_data import TINY, write_color_folder

from model.pipeline import train_and_package
from model.train import TrainConfig
from scones.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.integration]

METRICS = ("accuracy", "coverage", "covered_accuracy", "ece", "n")


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> tuple[Path, Path]:
    """(data, model): red bicycles and blue motorcycles the tiny recipe tells apart, and green
    photos in both classes it cannot (those fall below the threshold)."""
    root = tmp_path_factory.mktemp("loop")
    data = write_color_folder(root / "data", per_class=20)
    write_color_folder(data, per_class=20, seed=1, prefix="green",
                       colors_of={"bicycle": "scooter", "motorcycle": "scooter"})
    train_and_package(data, root / "model", TrainConfig(**TINY), progress=False)
    return data, root / "model" / "model.tar.gz"


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png"))


def test_the_demo_reviews_retrains_gates_and_registers(champion, tmp_path, capsys):
    data, model = champion
    out = tmp_path / "demo"
    # WHEN the demo runs with a two-epoch retraining
    code = main(["demo", "--data", str(data), "--model", str(model), "--out", str(out),
                 "--retrain-epochs", "2"])
    printed = capsys.readouterr().out
    # THEN it ran the workflow and the loop
    assert code == 0
    summary = json.loads((out / "demo.json").read_text())
    loop = summary["loop"]
    results = json.loads((out / "results.json").read_text())
    held_out = {r["image"] for r in results}
    # AND the evaluation half and the review half split the held-out images between them
    evaluation = {os.path.realpath(p) for p in files(out / "loop" / "evaluation")}
    review_half = {image for image in held_out if os.path.realpath(image) not in evaluation}
    assert len(evaluation) == loop["evaluation"]["n"] == len(held_out) // 2
    assert len(review_half) == loop["review_half"]["n"] == len(held_out) - len(evaluation)
    # AND every photo of the review half below the threshold was reviewed with its true label
    below = [r for r in results if r["image"] in review_half
             and r["error"] == "THRESHOLD_CONFIDENCE_NOT_MET"]
    assert below, "the green photos fall below the threshold"
    reviewed = files(out / "loop" / "reviewed")
    assert len(reviewed) == loop["reviewed"]["n"] == len(below)
    assert sorted(os.path.realpath(p) for p in reviewed) == sorted(
        os.path.realpath(r["image"]) for r in below)
    assert all(p.parent.name == Path(os.path.realpath(p)).parent.name for p in reviewed)
    assert sum(loop["reviewed"]["per_class"].values()) == len(below)
    assert "the demo's reviewer is the dataset's true labels" in printed
    assert "reviewed per class: " + ", ".join(
        f"{label} {n}" for label, n in loop["reviewed"]["per_class"].items()) in printed
    # AND the gate decided, with a reason, on both models' metrics of the evaluation half
    assert isinstance(loop["promoted"], bool) and loop["reason"]
    assert ("PROMOTED: " if loop["promoted"] else "REJECTED: ") + loop["reason"] in printed
    for role in ("champion", "challenger"):
        assert set(METRICS) <= set(loop[role])
        assert loop[role]["n"] == len(evaluation)
    assert loop["champion"]["evaluation_sha256"] == loop["challenger"]["evaluation_sha256"]
    # AND the registry holds the challenger with that decision
    [entry] = json.loads(Path(loop["registry_file"]).read_text())
    assert loop["registry_file"] == str(out / "loop" / "registry.json")
    assert entry["approval_status"] == ("Approved" if loop["promoted"] else "Rejected")
    assert entry["reason"] == loop["reason"] and entry["metrics"] == loop["challenger"]
    assert Path(entry["artifact"]).is_file()
    assert loop["new_model"] == (entry["artifact"] if loop["promoted"] else None)
    # AND the side-by-side page names the decision
    page = Path(loop["models_html"]).read_text()
    assert "champion" in page and "challenger" in page and html.escape(loop["reason"]) in page
    # AND where the challenger disagrees with the champion on the captured requests
    shadow = loop["shadow"]
    assert shadow["n"] > 0
    assert (f"On {shadow['n']} captured requests the challenger answered "
            f"{shadow['disagreements']} differently") in page
    for example in shadow["examples"]:
        assert html.escape(str(example["event_id"])) in page


def test_no_loop_skips_the_loop(champion, tmp_path, capsys):
    data, model = champion
    out = tmp_path / "demo"
    code = main(["demo", "--data", str(data), "--model", str(model), "--out", str(out),
                 "--no-loop"])
    capsys.readouterr()
    assert code == 0
    assert json.loads((out / "demo.json").read_text())["loop"] is None
    assert not (out / "loop").exists()
