"""`scones monitor` on a running `scones up` stack measures accuracy on the photos people
reviewed there: an answered review names the classification execution, whose inference
ClassifyImage named after it, so the report finds the capture of each reviewed photo without
--reviewed-labels."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from scones.cli import main
from scones_domain.review import answer, from_item, review_id


def test_answered_reviews_of_the_running_stack_are_the_reports_reviewed_labels(
        capsys, tmp_path, monkeypatch, brightness_model, bright_and_dark):
    from scones.local.lambdas import FunctionLogs
    from scones.local.server import serve_aws, stack_state, write_state
    from scones.workflow.runner import function_stdout_to, local_runtime

    # GIVEN a stack served as `scones up` serves it, the state file in the working folder
    monkeypatch.chdir(tmp_path)
    captures = tmp_path / "captures"
    bright, dark = bright_and_dark
    with local_runtime(brightness_model, capture=str(captures)) as (endpoint, stack):
        server, url = serve_aws(0)
        try:
            with function_stdout_to(FunctionLogs(stack.client("logs"), io.StringIO())):
                write_state(Path("runs/local-stack.json"), stack_state(
                    stack, url, endpoint_url=endpoint.url, capture=str(captures)))
                # AND a confident photo, and an unsure one a person labels bicycle (the model
                # said motorcycle)
                assert stack.run_image(bright, "photos/bright.png").status == "SUCCEEDED"
                assert stack.run_image(dark, "photos/dark.png").error == \
                    "THRESHOLD_CONFIDENCE_NOT_MET"
                table = stack.deployment.resources["ReviewsTable"]
                key = {"review_id": {"S": review_id(stack.bucket, "photos/dark.png")}}
                deadline = time.monotonic() + 30
                while not (item := stack.client("dynamodb").get_item(
                        TableName=table, Key=key, ConsistentRead=True).get("Item")):
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
                review = from_item(item)
                stack.client("stepfunctions").send_task_success(
                    taskToken=review["task_token"],
                    output=answer("bicycle", "ana", review["class_labels"]))
                while from_item(stack.client("dynamodb").get_item(
                        TableName=table, Key=key, ConsistentRead=True)["Item"])[
                            "status"] != "labeled":
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            deadline = time.monotonic() + 10
            while endpoint.endpoint.capture.written < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            # WHEN the report is written with neither --captures nor --reviewed-labels
            code = main(["monitor", "--out", str(tmp_path / "out"), "--json", "-"])
            summary = json.loads(capsys.readouterr().out)
        finally:
            server.stop()
    # THEN the person's label is the reviewed label of that photo's inference: one reviewed
    # inference, below the threshold, which the model got wrong
    assert code == 0
    reviewed = summary["accuracy"]["reviewed"]
    assert reviewed["source"] == str(tmp_path / "out" / "reviewed-labels.jsonl")
    assert (reviewed["n_labels"], reviewed["n"], reviewed["correct"]) == (1, 1, 0)
    assert reviewed["below_threshold"]["n"] == 1
    assert reviewed["confusion"]["bicycle"]["motorcycle"] == 1
