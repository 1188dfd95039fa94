"""events/: one event per function and the workflow input, each accepted by its parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scones_domain import events, images

EVENTS = Path(__file__).resolve().parents[2] / "events"
PARSERS = {
    "workflow_input.json": events.parse_image_request,
    "serialize_image_data.json": events.parse_image_request,
    "serialize_image_data_s3_object_created.json": events.parse_image_request,
    "classify_image.json": events.parse_serialized_image,
    "filter_low_confidence.json": events.parse_classification,
}


def test_every_event_file_has_a_parser():
    # workflow input + one per function (monitoring events belong to their own function)
    ours = {p.name for p in EVENTS.glob("*.json")} & set(PARSERS)
    assert ours == set(PARSERS)


def test_workflow_input_is_the_seed_format():
    event = json.loads((EVENTS / "workflow_input.json").read_text())
    assert set(event) == {"image_data", "s3_bucket", "s3_key"}
    assert event["image_data"] == "" and event["s3_key"] == "test/bicycle_s_001789.png"


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_event_is_accepted_by_its_function(name):
    parsed = PARSERS[name](json.loads((EVENTS / name).read_text()))
    assert parsed.key


def test_classify_event_carries_a_real_png():
    image = events.parse_serialized_image(json.loads((EVENTS / "classify_image.json").read_text()))
    info = images.check_image(image.image_data, max_bytes=10**6, max_pixels=10**6)
    assert info.content_type == image.content_type == "image/png"
    assert image.size_bytes == len(image.image_data)
