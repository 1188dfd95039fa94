"""The shipped workflow, executed locally end to end: template.yaml, the real ASL in moto's
interpreter, the three real handlers, a real HTTP endpoint and real PNGs."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_confident_image_succeeds_with_its_inference(local_stack, bright_and_dark):
    # GIVEN a real PNG the model classifies at 0.99
    bright, _ = bright_and_dark
    # WHEN the workflow runs on it with the seed's input format
    result = local_stack.run_image(bright, f"test/{bright.name}")
    # THEN it SUCCEEDED through the three states, output without image bytes
    assert result.status == "SUCCEEDED", result.cause
    assert result.states[:3] == ["SerializeImageData", "ClassifyImage", "FilterLowConfidence"]
    expected = {"bucket": local_stack.bucket, "key": f"test/{bright.name}",
                "label": "bicycle", "confidence": 0.99, "inferences": [0.99, 0.01],
                "threshold": 0.93}
    assert {k: result.output.get(k) for k in expected} == expected
    assert "image_data" not in json.dumps(result.output)


def test_unconfident_image_fails_with_threshold_error(local_stack, bright_and_dark):
    # GIVEN a real PNG the model classifies at 0.60
    _, dark = bright_and_dark
    # WHEN the workflow runs on it
    result = local_stack.run_image(dark, f"test/{dark.name}")
    # THEN its label, confidence and inferences are read from its last events (one page of
    # the history, newest first), not from the whole history
    assert (result.label, result.confidence, result.inferences) == ("motorcycle", 0.6, [0.4, 0.6])
    assert result._history is None
    # AND the execution FAILED with THRESHOLD_CONFIDENCE_NOT_MET, raised by the filter,
    # caught into the Fail state, with a cause naming image, label and confidence
    assert result.status == "FAILED"
    assert result.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    assert result.failed_state == "FilterLowConfidence"
    assert result.states[-1] == "ConfidenceThresholdNotMet"
    assert f"test/{dark.name}" in result.cause and "motorcycle" in result.cause
    assert "0.6" in result.cause
    assert (result.label, result.confidence, result.inferences) == ("motorcycle", 0.6, [0.4, 0.6])
    assert result.retries == {}


def test_a_file_that_is_not_an_image_fails_in_serialize(local_stack, tmp_path):
    # GIVEN a text file named like a PNG
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    # WHEN the workflow runs on it
    result = local_stack.run_image(fake, "test/fake.png")
    # THEN the first state fails with a named error and nothing reached the endpoint
    assert result.status == "FAILED"
    assert result.failed_state == "SerializeImageData"
    assert result.error and result.error != "THRESHOLD_CONFIDENCE_NOT_MET"
    assert "ClassifyImage" not in result.states


def test_every_classified_image_is_captured_once(endpoint, local_stack, bright_and_dark,
                                                 captures):
    # GIVEN two executions (one confident, one not)
    for path in bright_and_dark:
        local_stack.run_image(path, f"test/{path.name}")
    # WHEN the endpoint stops
    endpoint.stop()
    # THEN both inferences were captured, once each, with the classify function's input
    lines = [json.loads(x) for f in captures.rglob("*.jsonl") for x in f.read_text().splitlines()]
    assert len(lines) == 2
    assert {x["captureData"]["endpointOutput"]["data"] for x in lines} == {
        "[0.99, 0.01]", "[0.4, 0.6]"}
    assert {x["captureData"]["endpointInput"]["observedContentType"] for x in lines} == {
        "image/png"}


def test_concurrent_executions_each_get_their_own_answer(local_stack, shared_data,
                                                         brightness):
    # GIVEN 16 real PNGs with known answers (bright -> SUCCEEDED, dark -> FAILED)
    from scones.workflow.runner import run_images

    images = sorted((shared_data / "train").glob("*.png"))[::60][:16]
    expected = ["SUCCEEDED" if brightness(p) >= 0.5 else "FAILED" for p in images]
    assert len(set(expected)) == 2, "the sample must hold both outcomes"
    # WHEN they run 4 at a time (sharing one parsed state machine and one Lambda client)
    records = run_images(local_stack, [str(p) for p in images], concurrency=4, progress=False)
    # THEN each execution ended with its own image's outcome and inference
    assert [r.status for r in records] == expected
    assert [r.image for r in records] == [str(p) for p in images]
    assert all(r.label == ("bicycle" if s == "SUCCEEDED" else "motorcycle")
               for r, s in zip(records, expected, strict=True))


def test_a_stuck_execution_is_recorded_and_the_run_goes_on(local_stack, bright_and_dark,
                                                           tmp_path):
    # GIVEN a timeout no execution can meet, an unreadable path, and one normal image
    from scones.workflow.runner import LOCAL_TIMEOUT_ERROR, run_images

    bright, _ = bright_and_dark
    unreadable = tmp_path / "gone.png"  # found earlier, deleted before the upload
    # WHEN run_images processes them
    stuck = run_images(local_stack, [str(bright)], timeout=0.001, progress=False)
    rest = run_images(local_stack, [str(unreadable), str(bright)], progress=False)
    # THEN each problem is a FAILED record with a named error, and the good image succeeds
    assert (stuck[0].status, stuck[0].error) == ("FAILED", LOCAL_TIMEOUT_ERROR)
    assert (rest[0].status, rest[0].error) == ("FAILED", "FileNotFoundError")
    assert rest[1].status == "SUCCEEDED"
