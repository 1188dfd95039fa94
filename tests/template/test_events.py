"""events/: one event per function and each state machine's input, each accepted by its parser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scones_domain import events, images

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "events"
PARSERS = {
    "workflow_input.json": events.parse_image_request,
    "serialize_image_data.json": events.parse_image_request,
    "serialize_image_data_s3_object_created.json": events.parse_image_request,
    "classify_image.json": events.parse_serialized_image,
    "filter_low_confidence.json": events.parse_classification,
}


# Events whose parser is the function's own, in its app.py, not scones_domain's: parse_result
# (RecordResultFunction), review_record (SendToReviewFunction), summarize_map_run
# (BatchSummaryFunction), alert_message (AlertMessageFunction), parse_review
# (RecordReviewFunction), the retraining functions' handlers; and the batch state machine's
# input.
PARSED_BY_THEIR_FUNCTION = {"record_result.json", "send_to_review.json", "batch_summary.json",
                            "alert_message.json", "record_review.json",
                            "prepare_retraining.json", "register_challenger.json",
                            "promote_challenger.json"}
BATCH_INPUT = "batch_input.json"


def test_every_event_file_is_accounted_for():
    # GIVEN every event shipped in events/
    shipped = {p.name for p in EVENTS.glob("*.json")}
    # THEN each is parsed here, parsed by its function's own code, or the batch input: a new
    # event file must be added to one of them
    assert shipped == set(PARSERS) | PARSED_BY_THEIR_FUNCTION | {BATCH_INPUT}


def test_batch_input_holds_exactly_what_the_batch_state_machine_reads():
    # GIVEN the batch ASL's ItemReader (placeholders blanked: only its JSONPaths matter here)
    asl = (REPO_ROOT / "statemachine" / "batch_classification.asl.json").read_text()
    definition = json.loads(re.sub(r"\$\{\w+\}", "0", asl))
    (listing,) = [s["ItemReader"] for s in definition["States"].values() if s["Type"] == "Map"]
    read = {path.removeprefix("$.") for path in listing["Parameters"].values()}
    # THEN the shipped batch input has those fields and nothing else, the prefix a folder
    event = json.loads((EVENTS / BATCH_INPUT).read_text())
    assert set(event) == read == {"s3_bucket", "prefix"}
    assert event["prefix"].endswith("/")


def test_workflow_input_is_the_seed_format():
    event = json.loads((EVENTS / "workflow_input.json").read_text())
    assert set(event) == {"image_data", "s3_bucket", "s3_key"}
    assert event["image_data"] == "" and event["s3_key"] == "test/bicycle_s_001789.png"


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_event_is_accepted_by_its_function(name):
    parsed = PARSERS[name](json.loads((EVENTS / name).read_text()))
    assert parsed.location.key


def test_classify_event_carries_a_real_png():
    image = events.parse_serialized_image(json.loads((EVENTS / "classify_image.json").read_text()))
    info = images.check_image(image.image_data, max_bytes=10**6, max_pixels=10**6)
    assert info.content_type == image.content_type == "image/png"
    assert image.size_bytes == len(image.image_data)
