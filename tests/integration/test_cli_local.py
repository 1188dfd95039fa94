"""`scones run` and `scones invoke` as a user types them (in-process, real stack)."""

from __future__ import annotations

import json
import shutil

import pytest

from scones.cli import main
from scones_domain.review import review_id

pytestmark = pytest.mark.integration

RECORD_KEYS = {"image", "status", "error", "cause", "label", "confidence", "inferences"}
EVENT_FUNCTIONS = {  # events/<stem>.json -> the function it is written for
    "serialize_image_data": "SerializeImageDataFunction",
    "serialize_image_data_s3_object_created": "SerializeImageDataFunction",
    "classify_image": "ClassifyImageFunction",
    "filter_low_confidence": "FilterLowConfidenceFunction",
    "record_result": "RecordResultFunction",
    "send_to_review": "SendToReviewFunction",
    "record_review": "RecordReviewFunction",
}  # not here: workflow_input / batch_input (state machine inputs), batch_summary (needs the
#    Distributed Map's result manifest in the bucket), the retraining functions (need a
#    deployed endpoint and a training job's artifact: tests/integration/test_retraining_loop.py)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:  # argparse refused an argument (a missing path, a bad value)
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_scones_run_on_real_images_reports_both_outcomes(capsys, tmp_path, brightness_model,
                                                         bright_and_dark):
    # GIVEN a folder with one confident and one unconfident real PNG, plus a file given directly
    bright, dark = bright_and_dark
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(bright, folder / bright.name)
    shutil.copy(dark, folder / "sub" / dark.name)
    out_json = tmp_path / "records.json"
    # WHEN `scones run` classifies the folder and the file
    code, out, err = run_cli(capsys, "run", folder, bright, "--model", brightness_model,
                             "--json", out_json, "--capture", tmp_path / "cap",
                             "--lambda-log", tmp_path / "lambda.log")
    # THEN every image has a record with exactly the documented fields, in order found
    records = json.loads(out_json.read_text())
    assert [set(r) for r in records] == [RECORD_KEYS] * 3
    assert [r["image"] for r in records] == [
        str(folder / bright.name), str(folder / "sub" / dark.name), str(bright)]
    assert [r["status"] for r in records] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    failed = records[1]
    assert failed["error"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert (failed["label"], failed["confidence"], failed["inferences"]) == (
        "motorcycle", 0.6, [0.4, 0.6])
    assert records[0]["error"] is None and records[0]["cause"] is None
    # AND the table, the summary and the progress bar were shown; all answered -> exit 0
    assert code == 0
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in out and "2 SUCCEEDED, 1 FAILED" in out
    assert "workflow" in err
    # AND the functions' logs went to the log file, the inferences to the capture folder
    assert "image classified" in (tmp_path / "lambda.log").read_text()
    assert len(list((tmp_path / "cap").rglob("*.jsonl"))) >= 1


def test_scones_run_with_a_lower_threshold_lets_more_through(capsys, tmp_path, brightness_model,
                                                             bright_and_dark):
    # GIVEN the unconfident image WHEN run with --threshold 0.5 THEN it SUCCEEDS
    out_json = tmp_path / "r.json"
    code, _, _ = run_cli(capsys, "run", bright_and_dark[1], "--model", brightness_model,
                         "--threshold", "0.5", "--json", out_json, "--capture", tmp_path / "c",
                         "--lambda-log", tmp_path / "l.log")
    (record,) = json.loads(out_json.read_text())
    assert code == 0 and record["status"] == "SUCCEEDED" and record["confidence"] == 0.6


def test_scones_run_exit_code_is_1_when_an_image_errors(capsys, tmp_path, brightness_model):
    # GIVEN a .png that is not an image WHEN run THEN it FAILED with a named error and exit 1
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"GIF? no.")
    out_json = tmp_path / "r.json"
    code, _, _ = run_cli(capsys, "run", fake, "--model", brightness_model, "--json", out_json,
                         "--capture", tmp_path / "c", "--lambda-log", tmp_path / "l.log")
    (record,) = json.loads(out_json.read_text())
    assert code == 1 and record["status"] == "FAILED"
    assert record["error"] and record["label"] is None


@pytest.mark.parametrize("argv, message", [
    (["run", "does/not/exist.png"], "no such file or folder"),
    (["run", "{tmp}"], "holds no .png"),
    (["run", "{image}", "--model", "{tmp}/missing.tar.gz"], "no such file"),
])
def test_scones_run_bad_paths_are_named_errors(capsys, tmp_path, bright_and_dark, argv, message):
    # GIVEN a missing path, an empty folder or a missing model WHEN run THEN exit 2, named
    argv = [a.format(tmp=tmp_path, image=bright_and_dark[0]) for a in argv]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


@pytest.mark.parametrize("stem", sorted(EVENT_FUNCTIONS))
def test_scones_invoke_runs_each_shipped_event(capsys, repo_root, brightness_model,
                                               bright_and_dark, stem):
    # GIVEN a shipped event and, where it names an S3 object, a real PNG uploaded there
    event_path = repo_root / "events" / f"{stem}.json"
    function = EVENT_FUNCTIONS[stem]
    # WHEN `scones invoke FUNCTION -e events/<stem>.json` runs it
    code, out, _ = run_cli(capsys, "invoke", function, "-e", event_path, "--upload",
                           bright_and_dark[0], "--model", brightness_model)
    # THEN the function's response is printed as JSON and the exit code is 0
    response = json.loads(out)
    assert code == 0, response
    if function == "SerializeImageDataFunction":
        assert response["content_type"] == "image/png" and response["transport"] == "inline"
    elif function == "ClassifyImageFunction":
        assert response["label"] in ("bicycle", "motorcycle") and len(response["inferences"]) == 2
    elif function == "FilterLowConfidenceFunction":
        event = json.loads(event_path.read_text())
        assert response["label"] == event["label"] and response["threshold"] == 0.93
    elif function == "SendToReviewFunction":  # the pending review, keyed by the image
        result = json.loads(event_path.read_text())["result"]
        assert response["review_copy"].endswith(f"/review/{result['key']}")
        assert response["review_id"] == review_id(result["bucket"], result["key"])
    elif function == "RecordReviewFunction":  # the reviewer's label, the first one counted
        assert response == {"label": "motorcycle", "new_labels": 1, "retrain": False}
    else:  # RecordResult passes the state's result on unchanged
        assert response == json.loads(event_path.read_text())["result"]


def test_scones_invoke_prints_the_error_shape_and_exits_1(capsys, repo_root):
    # GIVEN the serialize event but no object uploaded WHEN invoked
    code, out, _ = run_cli(capsys, "invoke", "SerializeImageDataFunction", "-e",
                           repo_root / "events/serialize_image_data.json")
    # THEN Lambda's error shape is printed and the exit code is 1
    response = json.loads(out)
    assert code == 1 and response["errorType"] == "ImageNotFound"
    assert set(response) >= {"errorType", "errorMessage", "requestId", "stackTrace"}


def test_scones_invoke_unknown_function_is_a_named_error(capsys, repo_root):
    code, _, err = run_cli(capsys, "invoke", "NoSuchFunction", "-e",
                           repo_root / "events/workflow_input.json")
    assert code == 2 and "SerializeImageDataFunction" in err
