"""`scones monitor` on a running `scones up` stack measures accuracy on the photos people
reviewed there: an answered review names the classification execution, whose inference
ClassifyImage named after it, so the report finds the capture of each reviewed photo without
--reviewed-labels."""

from __future__ import annotations

import json
import time

from scones.cli import main
from scones_domain.items import from_item
from scones_domain.review import answer, review_id


def test_answered_reviews_of_the_running_stack_are_the_reports_reviewed_labels(
        capsys, tmp_path, monkeypatch, serve_stack, brightness_model, bright_and_dark):
    # GIVEN a stack served as `scones up` serves it, the state file in the working folder
    monkeypatch.chdir(tmp_path)
    bright, dark = bright_and_dark
    with serve_stack(brightness_model, tmp_path / "captures") as (endpoint, stack, _):
        # AND a confident photo, and an unsure one a person labels bicycle (the model said
        # motorcycle)
        assert stack.run_image(bright, "photos/bright.png").status == "SUCCEEDED"
        assert stack.run_image(dark, "photos/dark.png").error == "THRESHOLD_CONFIDENCE_NOT_MET"
        table = stack.deployment.resources["ReviewsTable"]
        key = {"review_id": {"S": review_id(stack.bucket, "photos/dark.png")}}

        def review() -> dict | None:
            item = stack.client("dynamodb").get_item(TableName=table, Key=key,
                                                     ConsistentRead=True).get("Item")
            return from_item(item) if item else None

        deadline = time.monotonic() + 30
        while review() is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pending = review()
        stack.client("stepfunctions").send_task_success(
            taskToken=pending["task_token"],
            output=answer("bicycle", "ana", pending["class_labels"]))
        while review()["status"] != "labeled" or endpoint.endpoint.capture.written < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # WHEN the report is written with neither --captures nor --reviewed-labels
        code = main(["monitor", "--out", str(tmp_path / "out"), "--json",
                     str(tmp_path / "summary.json")])
    summary = json.loads((tmp_path / "summary.json").read_text())
    # THEN the person's label is the reviewed label of that photo's inference: one reviewed
    # inference, below the threshold, which the model got wrong
    assert code == 0
    reviewed = summary["accuracy"]["reviewed"]
    assert reviewed["source"] == str(tmp_path / "out" / "reviewed-labels.jsonl")
    assert (reviewed["n_labels"], reviewed["n"], reviewed["correct"]) == (1, 1, 0)
    assert reviewed["below_threshold"]["n"] == 1
    assert reviewed["confusion"]["bicycle"]["motorcycle"] == 1
