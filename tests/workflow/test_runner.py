"""The pure parts of `scones run` / `scones invoke`: finding images, records, table, summary,
exit codes, event locations."""

from __future__ import annotations

import pytest

from scones.workflow.cli import event_location
from scones.workflow.runner import (
    ImagePathError,
    ImageRecord,
    exit_code,
    find_images,
    format_summary,
    format_table,
    summarize,
)


def record(image="a.png", status="SUCCEEDED", error=None, label="bicycle", confidence=0.97):
    return ImageRecord(image, status, error, None, label, confidence,
                       [confidence, 1 - confidence] if confidence is not None else None, 0.05)


def test_find_images_keeps_files_as_given_and_walks_folders(tmp_path):
    # GIVEN a folder with nested images, a non-image file, and a file given directly
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.png", "d/sub/a.JPG", "d/notes.txt", "x.jpeg"):
        (tmp_path / name).write_bytes(b"x")
    # WHEN images are collected
    found = find_images([tmp_path / "d", str(tmp_path / "x.jpeg")])
    # THEN folder images come sorted (recursively, any case of suffix), files as given
    assert found == [str(tmp_path / "d/b.png"), str(tmp_path / "d/sub/a.JPG"),
                     str(tmp_path / "x.jpeg")]


def test_find_images_names_missing_and_empty_paths(tmp_path):
    with pytest.raises(ImagePathError, match="no such file"):
        find_images([tmp_path / "missing.png"])
    with pytest.raises(ImagePathError, match="holds no"):
        find_images([tmp_path])


def test_json_record_has_exactly_the_documented_keys():
    assert set(record().to_json()) == {"image", "status", "error", "cause", "label",
                                       "confidence", "inferences"}


def test_table_and_summary_show_every_image_and_the_counts():
    # GIVEN one confident, one unconfident and one broken image
    records = [record("a.png"),
               record("b.png", "FAILED", "THRESHOLD_CONFIDENCE_NOT_MET", "motorcycle", 0.6),
               record("c.png", "FAILED", "ImageFormatNotSupported", None, None)]
    # WHEN summarized
    table, summary = format_table(records), summarize(records, wall_seconds=0.5)
    # THEN the table lists each with its fields, the summary counts outcomes and speed
    lines = table.splitlines()
    assert lines[0].split() == ["image", "label", "confidence", "status", "error"]
    assert lines[2].split() == ["a.png", "bicycle", "0.9700", "SUCCEEDED"]
    assert lines[4].split() == ["c.png", "-", "-", "FAILED", "ImageFormatNotSupported"]
    assert summary["succeeded"] == 1 and summary["failed"] == 2
    assert summary["errors"] == {"THRESHOLD_CONFIDENCE_NOT_MET": 1, "ImageFormatNotSupported": 1}
    assert summary["images_per_second"] == 6.0 and summary["p50_ms"] == 50.0
    assert "1 SUCCEEDED, 2 FAILED" in format_summary(summary)


def test_exit_code_is_0_only_when_every_image_got_an_answer():
    answered = [record(), record(status="FAILED", error="THRESHOLD_CONFIDENCE_NOT_MET")]
    assert exit_code(answered) == 0
    assert exit_code(answered + [record(status="FAILED", error="ImageTooLarge")]) == 1


@pytest.mark.parametrize("event, expected", [
    ({"s3_bucket": "b", "s3_key": "k.png", "image_data": ""}, ("b", "k.png")),
    ({"bucket": "b", "key": "k.png", "inferences": [1, 0]}, ("b", "k.png")),
    ({"detail": {"bucket": {"name": "b"}, "object": {"key": "k.png"}}}, ("b", "k.png")),
    ({"result": {"bucket": "b", "key": "k.png"}, "execution_arn": "x"}, ("b", "k.png")),
    ({"anything": 1}, (None, None)),
    ([1, 2], (None, None)),
])
def test_event_location_reads_every_event_shape(event, expected):
    assert event_location(event) == expected
