"""`scones retrain` end to end on tiny colour-coded data: the gate promotes a better model,
never one trained on wrong labels, registers every challenger, and a promoted one is served by
the running local endpoint (slow: tiny real training runs)."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest
from monitor_fixtures import T0, write_tree
from retraining_data import COLORS, color_png, write_color_folder

from model.package import write_untrained_artifact
from scones.cli import main
from scones.serving.endpoint import LOCAL_MODEL_PATH, start_endpoint

pytestmark = pytest.mark.slow


def run_json(capsys, argv: list[str]) -> tuple[int, dict, str]:
    code = main([*argv, "--json", "-"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def registry(tmp_path) -> list[dict]:
    return json.loads((tmp_path / "registry" / "registry.json").read_text())


def test_the_first_model_is_promoted_then_one_that_beats_a_worse_champion(
        tmp_path, capsys, retrain_args):
    reviewed = write_color_folder(tmp_path / "reviewed", per_class=8, seed=5, prefix="review")
    # WHEN there is no champion
    code, result, err = run_json(capsys, retrain_args(reviewed))
    # THEN the challenger is promoted, registered as version 1, Approved
    assert code == 0 and result["promoted"] is True
    assert result["reason"] == "no champion to beat" and result["champion"] is None
    assert "none (no --model" in result["champion_source"]
    assert result["evaluation"]["n"] == 12 and "held out from" in result["evaluation"]["source"]
    [first] = registry(tmp_path)
    assert first["version"] == 1 and first["approval_status"] == "Approved"
    assert first["artifact"] == result["artifact"] == result["registry"]["artifact"]
    assert first["metrics"] == result["challenger"]
    assert (tmp_path / "registry" / "v1" / "challenge.json").exists()
    assert "training" in err  # the progress bar
    # WHEN the champion is a worse model (random weights)
    worse = write_untrained_artifact(tmp_path / "worse" / "model.tar.gz", widths=(8, 8, 16))
    code, result, _ = run_json(capsys, retrain_args(reviewed, "--model", str(worse.parent)))
    # THEN the challenger beats it on the same evaluation set and is promoted
    assert code == 0 and result["promoted"] is True, result["reason"]
    assert result["champion"]["accuracy"] < result["challenger"]["accuracy"]
    assert result["champion"]["evaluation_sha256"] == result["challenger"]["evaluation_sha256"]
    assert result["champion_source"] == "--model"
    assert [p["version"] for p in registry(tmp_path)] == [1, 2]
    assert registry(tmp_path)[1]["champion"]["artifact"] == str(worse.resolve())


def test_reviewed_images_with_swapped_labels_are_never_promoted(tmp_path, capsys,
                                                                retrain_args):
    # GIVEN a champion trained on the original data (red bicycles, blue motorcycles)
    right = write_color_folder(tmp_path / "right", per_class=4, seed=5, prefix="review")
    assert run_json(capsys, retrain_args(right))[1]["promoted"] is True
    champion = registry(tmp_path)[0]
    # AND many reviewed images whose labels are wrong: blue "bicycles", red "motorcycles"
    wrong = write_color_folder(tmp_path / "wrong", per_class=60, seed=6, prefix="review",
                               colors_of={"bicycle": "motorcycle", "motorcycle": "bicycle"})
    # WHEN a challenger trains on them (the champion: the registry's Approved package)
    code, result, _ = run_json(capsys, retrain_args(wrong, "--fail-if-rejected"))
    # THEN the gate rejects it: exit 3 with --fail-if-rejected, and the reason names the drop
    assert code == 3
    assert result["promoted"] is False
    assert result["champion_source"] == "registry version 1 (Approved)"
    assert result["checks"]["accuracy"] is False
    assert f"< champion {result['champion']['accuracy']:.3f}" in result["reason"]
    # AND the registry records it as Rejected, with that reason; the champion stays Approved
    first, second = registry(tmp_path)
    assert first == champion
    assert second["approval_status"] == "Rejected" and second["reason"] == result["reason"]
    assert second["champion"]["model_version"] == champion["model_version"]
    # AND without --fail-if-rejected a rejection is still a finished job: exit 0, a table
    assert main(retrain_args(wrong)) == 0
    out = capsys.readouterr().out
    assert "REJECTED: accuracy" in out and "version 3 Rejected" in out


@pytest.mark.parametrize("found_by", ["a scones up stack", "--endpoint-url"])
def test_a_promoted_model_is_served_by_the_running_endpoint(tmp_path, capsys, retrain_args,
                                                            monkeypatch, found_by):
    # GIVEN a local endpoint serving a worse model, whose captures hold two requests
    worse = write_untrained_artifact(tmp_path / "worse.tar.gz", widths=(8, 8, 16))
    rng = np.random.default_rng(3)
    requests = [(color_png(COLORS["bicycle"], rng), [0.3, 0.7], T0),
                (color_png(COLORS["motorcycle"], rng), [0.2, 0.8], T0)]
    captures = tmp_path / "captures"
    write_tree(captures, requests)
    reviewed = write_color_folder(tmp_path / "reviewed", per_class=8, seed=5, prefix="review")
    server = start_endpoint(worse)
    state = {"endpoint_url": server.url, "capture": str(captures), "model": str(worse)}
    if found_by == "a scones up stack":  # the stack's state names model, captures, endpoint
        monkeypatch.setattr("scones.retrain.cli.running_stack", lambda: state)
        extra = []
    else:  # `scones serve`: no state file
        extra = ["--model", str(worse), "--captures", str(captures), "--endpoint-url",
                 server.url]
    try:
        # WHEN the retraining promotes its challenger
        code, result, _ = run_json(capsys, retrain_args(reviewed, *extra))
        assert code == 0 and result["promoted"] is True, result["reason"]
        # THEN the endpoint serves the new artifact
        assert result["serving"]["model"] == result["artifact"]
        assert result["serving"]["model_version"] == result["registry"]["model_version"]
        with urllib.request.urlopen(server.url + LOCAL_MODEL_PATH, timeout=10) as response:
            assert json.loads(response.read())["model"] == result["artifact"]
    finally:
        server.stop()
    if found_by == "a scones up stack":
        assert result["champion_source"] == "the model the running stack serves"
        # AND the stack's state file names the model it serves now
        written = json.loads((tmp_path / "runs" / "local-stack.json").read_text())
        assert written == {**state, "model": result["artifact"]}
    # AND the shadow check scored both captured requests: the red one was answered
    # "motorcycle" by the champion, the challenger says bicycle
    shadow = result["shadow"]
    assert shadow["n"] == 2 and shadow["disagreements"] >= 1
    assert {"champion_label": "motorcycle", "challenger_label": "bicycle"}.items() <= \
        shadow["examples"][0].items()
    assert result["registry"]["shadow"] == {k: shadow[k] for k in ("n", "disagreements", "rate")}


def test_a_new_class_from_reviewed_labels_is_a_retraining(tmp_path, capsys, retrain_args):
    # GIVEN reviewed images of a class the original data lacks, and an evaluation set of all
    reviewed = write_color_folder(tmp_path / "reviewed", ["scooter"], per_class=20, seed=5,
                                  prefix="review")
    evaluation = write_color_folder(tmp_path / "evaluation", ["bicycle", "motorcycle",
                                                              "scooter"], per_class=4, seed=7)
    code, result, _ = run_json(capsys, retrain_args(reviewed, "--evaluation", str(evaluation)))
    # THEN the challenger answers three classes, measured on the given evaluation set
    assert code == 0
    assert result["challenger"]["class_labels"] == ["bicycle", "motorcycle", "scooter"]
    assert result["evaluation"]["source"] == f"evaluation set {evaluation}"
    assert result["evaluation"]["n"] == 12
