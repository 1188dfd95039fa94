"""Rejected requests (4xx) by reason: read from the functions' logs (a running local stack's or
saved ones), counted with their first and last time, each with what to do when it is frequent."""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from html import unescape

import pytest
from monitor_fixtures import T0, traffic, write_tree

from scones.cli import main
from scones.monitor.rejections import REASONS, error_of, read_saved_logs
from scones_domain import errors


def saved_line(source: str, seconds: float, message: str) -> str:
    """One line as `scones logs` prints it: <function> <ISO time> <message>."""
    when = (T0 + timedelta(seconds=seconds)).isoformat(timespec="seconds")
    return f"{source}  {when}  {message}"


def monitor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["monitor", *args, "--json", "-"])
    return code, json.loads(capsys.readouterr().out)


def test_the_runtime_error_line_names_the_error_in_text_and_json_formats():
    assert error_of("[ERROR] ImageTooLarge: 6000000 bytes exceeds the limit") == (
        "ImageTooLarge", "6000000 bytes exceeds the limit")
    assert error_of('{"timestamp": "2026-11-27T03:00:00Z", "log_level": "ERROR", '
                    '"errorType": "NotAnImage", "errorMessage": "no signature"}') == (
        "NotAnImage", "no signature")
    # a Powertools log line, an INFO record with an errorType key, plain text: no error
    assert error_of('{"level": "INFO", "message": "image serialized"}') is None
    assert error_of('{"log_level": "INFO", "errorType": "NotAnImage"}') is None
    assert error_of("START RequestId: 1 Version: $LATEST") is None


def test_every_reason_is_a_named_error_of_the_workflow_with_advice():
    for name, reason in REASONS.items():
        assert getattr(errors, name) is reason.error
        assert 400 <= reason.status < 500 and len(reason.advice) > 40


def test_saved_logs_give_count_first_and_last_time_per_reason(tmp_path):
    # GIVEN `scones logs` output with three refusals of two kinds, a low-confidence failure
    # and ordinary log lines
    (tmp_path / "functions.log").write_text("\n".join([
        saved_line("SerializeImageDataFunction", 10, '{"level":"INFO","message":"image '
                   'serialized"}'),
        saved_line("SerializeImageDataFunction", 20, "[ERROR] NotAnImage: the first bytes 68 "
                   "65 match no PNG, JPEG, GIF, WebP or BMP signature"),
        saved_line("SerializeImageDataFunction", 80, "[ERROR] NotAnImage: the first bytes 00"),
        saved_line("SerializeImageDataFunction", 50, "[ERROR] ImageTooLarge: 7000000 bytes "
                   "exceeds the limit of 5242880 bytes"),
        saved_line("FilterLowConfidenceFunction", 60, "[ERROR] THRESHOLD_CONFIDENCE_NOT_MET: "
                   "below the confidence threshold 0.93"),
    ]) + "\n")
    # WHEN they are read
    found = read_saved_logs(tmp_path)
    # THEN each reason has its count, first and last time, example and advice, most first
    by_reason = {r["reason"]: r for r in found["reasons"]}
    assert [r["reason"] for r in found["reasons"]] == ["NotAnImage", "ImageTooLarge"]
    assert found["n_rejected"] == 3 and found["n_log_events"] == 5
    assert by_reason["NotAnImage"]["count"] == 2
    assert by_reason["NotAnImage"]["first"] == (T0 + timedelta(seconds=20)).isoformat()
    assert by_reason["NotAnImage"]["last"] == (T0 + timedelta(seconds=80)).isoformat()
    assert by_reason["ImageTooLarge"]["status"] == 413
    assert by_reason["ImageTooLarge"]["function"] == "SerializeImageDataFunction"
    assert by_reason["ImageTooLarge"]["example"].startswith("7000000 bytes")
    assert by_reason["ImageTooLarge"]["advice"] == REASONS["ImageTooLarge"].advice
    # AND the low-confidence failure is no refusal of the request
    assert found["other_errors"] == {"THRESHOLD_CONFIDENCE_NOT_MET": 1}


def test_cloudwatch_json_logs_are_read_and_the_window_applies(tmp_path):
    # GIVEN `aws logs filter-log-events` output: one refusal before the window, one inside
    millis = int(T0.timestamp() * 1000)
    (tmp_path / "classify.json").write_text(json.dumps({"events": [
        {"logGroupName": "/aws/lambda/classify", "timestamp": millis - 3_600_000,
         "message": "[ERROR] EndpointRejectedImage: could not decode"},
        {"logGroupName": "/aws/lambda/classify", "timestamp": millis + 1000,
         "message": "[ERROR] EndpointUnsupportedContentType: image/gif"},
    ]}))
    # WHEN only the window from T0 is read
    found = read_saved_logs(tmp_path / "classify.json", since=T0)
    # THEN the refusal before it is left out
    assert [(r["reason"], r["status"], r["count"]) for r in found["reasons"]] == [
        ("EndpointUnsupportedContentType", 415, 1)]


def test_monitor_with_logs_reports_rejections_in_json_and_page(capsys, tmp_path):
    # GIVEN captures of 30 answered inferences and the saved logs of the same hour
    write_tree(tmp_path / "c", traffic(30, T0, rng=random.Random(5)))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "serialize.log").write_text("\n".join(
        saved_line("SerializeImageDataFunction", 30 * i, "[ERROR] UnsupportedContentType: "
                   "'image/gif' is not accepted by the classifier") for i in range(3)) + "\n")
    # WHEN the report is written with --logs
    code, summary = monitor(capsys, "--captures", str(tmp_path / "c"), "--out",
                            str(tmp_path / "out"), "--logs", str(tmp_path / "logs"))
    # THEN the JSON has the reason, count and advice, and the page shows them
    assert code == 0
    rejections = summary["rejections"]
    assert rejections["source"] == f"saved logs in {tmp_path / 'logs'}"
    assert [(r["reason"], r["count"]) for r in rejections["reasons"]] == [
        ("UnsupportedContentType", 3)]
    page = unescape((tmp_path / "out" / "report.html").read_text())
    assert "Rejected requests by reason" in page
    assert REASONS["UnsupportedContentType"].advice in page
    assert "3 in the saved logs" in page  # the at-a-glance answer


def test_monitor_without_logs_says_none_were_read(capsys, tmp_path):
    write_tree(tmp_path / "c", traffic(20, T0, rng=random.Random(6)))
    code, summary = monitor(capsys, "--captures", str(tmp_path / "c"), "--out",
                            str(tmp_path / "out"))
    assert code == 0 and summary["rejections"] is None
    assert "No function logs were read" in (tmp_path / "out" / "report.html").read_text()


def test_missing_logs_path_is_a_usage_error(capsys, tmp_path):
    write_tree(tmp_path / "c", traffic(10, T0, rng=random.Random(7)))
    code = main(["monitor", "--captures", str(tmp_path / "c"), "--out", str(tmp_path / "out"),
                 "--logs", str(tmp_path / "nowhere")])
    assert code == 2
    assert "argument --logs" in capsys.readouterr().err


# ------------------------------------------------------ bad images through a running local stack


def gif_bytes() -> bytes:
    """A 1x1 GIF: an image, but of a type the endpoint does not read."""
    return b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


@pytest.mark.slow
@pytest.mark.integration
def test_bad_images_through_the_running_stack_are_counted_by_reason(
        capsys, tmp_path, monkeypatch, serve_stack, brightness_model, real_png):
    # GIVEN a stack served as `scones up` serves it (function stdout in CloudWatch Logs, its
    # AWS APIs on a port, the state file in the working folder)
    monkeypatch.chdir(tmp_path)
    with serve_stack(brightness_model, tmp_path / "captures") as (endpoint, stack, url):
        # WHEN two texts saved as .png, one GIF, one image over MaxImageBytes and one good
        # photo go through the workflow
        bad = {"note.png": b"hello, not an image", "empty.png": b"\x00" * 64,
               "anim.png": gif_bytes(), "huge.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 5_300_000}
        for name, data in bad.items():
            (tmp_path / name).write_bytes(data)
            result = stack.run_image(tmp_path / name, f"uploads/{name}")
            assert result.status == "FAILED"
        (tmp_path / "good.png").write_bytes(real_png[1])
        assert stack.run_image(tmp_path / "good.png", "uploads/good.png").status in (
            "SUCCEEDED", "FAILED")
        deadline = time.monotonic() + 10
        while not endpoint.endpoint.capture.written and time.monotonic() < deadline:
            time.sleep(0.05)
        # AND the report is written with no --captures: the running stack's
        code = main(["monitor", "--out", str(tmp_path / "out"), "--json",
                     str(tmp_path / "summary.json")])
    summary = json.loads((tmp_path / "summary.json").read_text())
    # THEN the rejections come from the stack's function logs, by reason, with their counts
    assert code == 0
    rejections = summary["rejections"]
    assert rejections["source"] == f"function logs of the local stack at {url}"
    counts = {r["reason"]: r["count"] for r in rejections["reasons"]}
    assert counts == {"NotAnImage": 2, "UnsupportedContentType": 1, "ImageTooLarge": 1}
    for reason in rejections["reasons"]:
        assert reason["function"] == "SerializeImageDataFunction"
        assert reason["first"] <= reason["last"]
        assert reason["advice"] == REASONS[reason["reason"]].advice
    assert rejections["n_rejected"] == 4
