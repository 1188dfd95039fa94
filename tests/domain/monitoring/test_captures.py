"""The capture reader on every record variant SageMaker writes, local and s3://."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_fixtures import (
    T0,
    capture_record,
    capture_relpath,
    csv_record,
    image_bytes,
    jsonl,
)
from moto import mock_aws

from scones.monitor.report import pil_inspector
from scones_domain.monitoring.captures import (
    SKIP_BAD_INPUT,
    SKIP_BAD_OUTPUT,
    SKIP_BAD_TIME,
    SKIP_LABEL_MISMATCH,
    SKIP_MALFORMED,
    SKIP_NO_OUTPUT,
    SKIP_NON_IMAGE,
    SKIP_NOT_JSON,
    CaptureSourceNotFound,
    InvalidCaptureUri,
    parse_record,
    path_info,
    read_captures,
)

LABELS = ("bicycle", "motorcycle")


def write(root, when, records, tail=""):
    path = root / capture_relpath(when)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(jsonl(records, tail))
    return path


@pytest.mark.parametrize(
    ("content_type", "fmt", "size"),
    [("image/png", "PNG", (32, 32)), ("image/jpeg", "JPEG", (64, 48)),
     ("application/x-image", "PNG", (20, 10)), ("application/x-image", "JPEG", (33, 17))],
)
def test_image_input_variants_are_read_with_size(tmp_path, content_type, fmt, size):
    # GIVEN one capture of a real image sent with this content type
    img = image_bytes(fmt, size)
    write(tmp_path, T0, [capture_record(img, [0.2, 0.8], T0, content_type=content_type)])

    # WHEN the captures are read with the CLI's image inspector
    result = read_captures(str(tmp_path), labels=LABELS, inspect_image=pil_inspector)

    # THEN one row with the decoded size, byte count, label and confidence
    (row,) = result.rows
    assert (row.content_type, row.width, row.height) == (content_type, *size)
    assert row.input_bytes == len(img)
    assert (row.label, row.confidence, row.above_threshold) == ("motorcycle", 0.8, False)
    assert (row.endpoint, row.variant) == ("scones-endpoint", "AllTraffic")
    assert result.n_skipped == 0


def test_output_json_string_and_base64_output_decode_the_same(tmp_path):
    # GIVEN the same probabilities captured as a JSON string and as base64-encoded JSON
    img = image_bytes()
    write(tmp_path, T0, [
        capture_record(img, [0.97, 0.03], T0, output_encoding="JSON"),
        capture_record(img, [0.97, 0.03], T0 + timedelta(seconds=1), output_encoding="BASE64"),
    ])
    # WHEN read
    rows = read_captures(str(tmp_path), labels=LABELS).rows
    # THEN both give the same probabilities, label and threshold decision
    assert [r.probabilities for r in rows] == [(0.97, 0.03), (0.97, 0.03)]
    assert all(r.label == "bicycle" and r.above_threshold for r in rows)


def test_event_metadata_with_and_without_inference_id(tmp_path):
    # GIVEN one record with inferenceId and one without (whole-second Z timestamps)
    img = image_bytes()
    write(tmp_path, T0, [capture_record(img, [0.5, 0.5], T0, inference_id="req-42"),
                         capture_record(img, [0.5, 0.5], T0 + timedelta(seconds=3))])
    # WHEN read
    rows = read_captures(str(tmp_path), labels=LABELS).rows
    # THEN both are rows; inference ids kept where present; times parsed as UTC
    assert [r.inference_id for r in rows] == ["req-42", None]
    assert [r.time for r in rows] == [T0, T0 + timedelta(seconds=3)]
    assert all(r.event_id for r in rows)


def test_records_across_files_come_back_in_time_order(tmp_path):
    # GIVEN two files, the later-named one holding earlier inferences, several per file
    img = image_bytes()
    later = [capture_record(img, [0.9, 0.1], T0 + timedelta(minutes=m)) for m in (30, 31, 32)]
    earlier = [capture_record(img, [0.1, 0.9], T0 + timedelta(minutes=m)) for m in (5, 40)]
    write(tmp_path, T0, later)
    write(tmp_path, T0 + timedelta(hours=1), earlier)
    # WHEN read
    result = read_captures(str(tmp_path), labels=LABELS)
    # THEN all five rows, sorted by inference time
    minutes = [int((r.time - T0).total_seconds() // 60) for r in result.rows]
    assert minutes == [5, 30, 31, 32, 40]
    assert (result.n_files, result.n_lines) == (2, 5)


def test_other_endpoints_and_broken_lines_are_skipped_and_counted(tmp_path):
    # GIVEN a file mixing good image records, tabular text/csv traffic, a non-JSON line and a
    # truncated last line
    img = image_bytes()
    good = [capture_record(img, [0.99, 0.01], T0 + timedelta(seconds=s)) for s in range(3)]
    records = [good[0], csv_record(T0), good[1], csv_record(T0), good[2]]
    path = write(tmp_path, T0, records, tail="this is not json\n" + '{"captureData": {"endpo')
    assert path.read_text().count("\n") == 6  # the truncated line has no newline

    # WHEN read
    result = read_captures(str(tmp_path), labels=LABELS)

    # THEN the three image inferences are rows; the rest is counted by reason, with examples
    assert len(result.rows) == 3
    assert dict(result.skipped) == {SKIP_NON_IMAGE: 2, SKIP_NOT_JSON: 2}
    assert {e["line"] for e in result.skip_examples if e["reason"] == SKIP_NOT_JSON} == {6, 7}


def _line(**changes) -> str:
    record = capture_record(image_bytes(), [0.3, 0.7], T0)
    for dotted, value in changes.items():
        node = record
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(record)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"hello": "world"}', SKIP_MALFORMED),
        ("[1, 2, 3]", SKIP_MALFORMED),
        (_line(captureData__endpointInput__data="%%% not base64 %%%"), SKIP_BAD_INPUT),
        (_line(captureData__endpointOutput=KeyError), SKIP_NO_OUTPUT),
        (_line(captureData__endpointOutput__data='{"label": "bicycle"}'), SKIP_BAD_OUTPUT),
        (_line(captureData__endpointOutput__data="[0.3, 0.7"), SKIP_BAD_OUTPUT),
        (_line(captureData__endpointOutput__data='["a", "b"]'), SKIP_BAD_OUTPUT),
        (_line(captureData__endpointOutput__data="[0.2, 0.3, 0.5]"), SKIP_LABEL_MISMATCH),
        (_line(eventMetadata__inferenceTime="yesterday"), SKIP_BAD_TIME),
        (_line(eventMetadata__inferenceTime=KeyError), SKIP_BAD_TIME),
    ],
)
def test_each_bad_record_names_its_reason(line, reason):
    # GIVEN/WHEN one bad line is parsed THEN the SkippedRecord names why
    from scones_domain.monitoring.captures import SkippedRecord

    with pytest.raises(SkippedRecord) as info:
        parse_record(line, source="x.jsonl", labels=LABELS, threshold=0.93)
    assert info.value.reason == reason


def test_output_as_json_value_and_batch_of_one_are_accepted():
    # GIVEN outputs stored as a JSON value (not a string) and as a batch of one
    line_value = _line(captureData__endpointOutput__data=[0.1, 0.9])
    line_batch = _line(captureData__endpointOutput__data="[[0.96, 0.04]]")
    # WHEN parsed THEN both decode to probability lists
    assert parse_record(line_value, source="x", labels=LABELS, threshold=0.93).label == (
        "motorcycle")
    row = parse_record(line_batch, source="x", labels=LABELS, threshold=0.93)
    assert (row.label, row.above_threshold) == ("bicycle", True)


def test_since_until_filter_rows_and_prune_old_files(tmp_path):
    # GIVEN captures at 00:10, 03:10, 03:20, 05:10
    img = image_bytes()
    for hours, minutes in ((0, 10), (3, 10), (3, 20), (5, 10)):
        when = T0 - timedelta(hours=3) + timedelta(hours=hours, minutes=minutes)
        write(tmp_path, when, [capture_record(img, [0.5, 0.5], when)])
    # WHEN read for 03:15 .. 03:40
    result = read_captures(str(tmp_path), labels=LABELS, since=T0 + timedelta(minutes=15),
                           until=T0 + timedelta(minutes=40))
    # THEN only the 03:20 row; the 00:10 and 05:10 files (hour folders more than an hour
    # outside the range) are not even opened
    assert [r.time.strftime("%H:%M") for r in result.rows] == ["03:20"]
    assert (result.n_files, result.n_outside_window) == (2, 1)


def test_path_info_parses_sagemaker_layout():
    endpoint, variant, hour = path_info(
        "s3://b/capture/my-ep/AllTraffic/2026/11/27/03/05-09-123-4b0c2a.jsonl")
    assert (endpoint, variant, hour) == ("my-ep", "AllTraffic", T0)
    assert path_info("/tmp/loose.jsonl") == (None, None, None)


def test_missing_directory_is_a_named_error(tmp_path):
    with pytest.raises(CaptureSourceNotFound):
        read_captures(str(tmp_path / "nope"))


def test_invalid_s3_uri_is_a_named_error():
    with pytest.raises(InvalidCaptureUri):
        read_captures("s3:///prefix-without-bucket")


@mock_aws
def test_s3_source_reads_recursively_in_time_order():
    # GIVEN capture files under s3://captures/datacapture/ (two endpoints' folders, a
    # non-jsonl object, and another prefix that must not be read)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="captures")
    img = image_bytes("JPEG", (48, 40))
    for i, ep in enumerate(("ep-a", "ep-b")):
        when = T0 + timedelta(minutes=10 - i)
        body = jsonl([capture_record(img, [0.95, 0.05], when, content_type="image/jpeg"),
                      csv_record(when)])
        s3.put_object(Bucket="captures", Key=f"datacapture/{capture_relpath(when, ep)}",
                      Body=body.encode())
    s3.put_object(Bucket="captures", Key="datacapture/README.txt", Body=b"hello")
    s3.put_object(Bucket="captures", Key=f"elsewhere/{capture_relpath(T0)}",
                  Body=jsonl([capture_record(img, [0.5, 0.5], T0)]).encode())

    # WHEN read through s3://
    result = read_captures("s3://captures/datacapture", labels=LABELS,
                           inspect_image=pil_inspector)

    # THEN both image rows (ep-b first: earlier), the csv lines counted, nothing else read
    assert [r.endpoint for r in result.rows] == ["ep-b", "ep-a"]
    assert all((r.width, r.height) == (48, 40) for r in result.rows)
    assert result.rows[0].source.startswith("s3://captures/datacapture/ep-b/AllTraffic/")
    assert dict(result.skipped) == {SKIP_NON_IMAGE: 2}
    assert result.n_files == 2


@mock_aws
def test_s3_window_lists_only_the_hours_it_needs():
    # GIVEN two endpoints' captures every hour for three days, and a sibling prefix
    # "datacapture-old" that shares the prefix's first letters
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="captures")
    img = image_bytes()
    for ep in ("ep-a", "ep-b"):
        for h in range(72):
            when = T0 - timedelta(hours=h)
            body = jsonl([capture_record(img, [0.9, 0.1], when)])
            s3.put_object(Bucket="captures", Key=f"datacapture/{capture_relpath(when, ep)}",
                          Body=body.encode())
    s3.put_object(Bucket="captures", Key=f"datacapture-old/{capture_relpath(T0)}",
                  Body=jsonl([capture_record(img, [0.9, 0.1], T0)]).encode())
    listed: list[dict] = []
    s3.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                            lambda params, **_: listed.append(dict(params)))

    # WHEN the last 30 minutes are read (as the scheduled function does)
    result = read_captures("s3://captures/datacapture", labels=LABELS, s3_client=s3,
                           since=T0 - timedelta(minutes=30), until=T0)

    # THEN both endpoints' in-window records are found ...
    assert sorted(r.endpoint for r in result.rows) == ["ep-a", "ep-b"]
    # ... the whole history was never listed: only folders, and a few hour folders per variant
    assert all(p.get("Delimiter") == "/" or p["Prefix"].count("/") >= 7 for p in listed), listed
    # root, 2 endpoints, 2 variants; then hours 01..04 (an hour of slack each side) per variant
    assert len(listed) == 5 + 2 * 4
    assert result.n_files <= 2 * 3


@mock_aws
def test_s3_missing_bucket_is_a_named_error():
    with pytest.raises(CaptureSourceNotFound):
        read_captures("s3://no-such-bucket/prefix")


def test_base64_input_bytes_are_counted_decoded(tmp_path):
    # GIVEN a capture whose base64 payload is 4/3 the image size
    img = image_bytes(size=(50, 50))
    write(tmp_path, T0, [capture_record(img, [0.1, 0.9], T0)])
    record = json.loads((next(tmp_path.rglob("*.jsonl"))).read_text())
    assert len(record["captureData"]["endpointInput"]["data"]) == len(base64.b64encode(img))
    # WHEN read THEN input_bytes is the image size, not the base64 length
    assert read_captures(str(tmp_path), labels=LABELS).rows[0].input_bytes == len(img)


_json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["captureData", "endpointInput", "endpointOutput",
                                       "observedContentType", "data", "encoding",
                                       "eventMetadata", "inferenceTime", "eventId"]),
                      children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), _json_values.map(json.dumps)))
def test_no_line_crashes_the_reader(line):
    # GIVEN any text or JSON shaped like a capture record
    # WHEN parsed THEN it is a row or a SkippedRecord with a known reason, never a crash
    from scones_domain.monitoring.captures import SKIP_REASONS, SkippedRecord

    try:
        parse_record(line, source="x.jsonl", labels=LABELS, threshold=0.93)
    except SkippedRecord as skip:
        assert skip.reason in SKIP_REASONS


_RECORD_PATHS = [
    ("captureData",), ("captureData", "endpointInput"), ("captureData", "endpointOutput"),
    ("captureData", "endpointInput", "observedContentType"),
    ("captureData", "endpointInput", "data"), ("captureData", "endpointInput", "encoding"),
    ("captureData", "endpointOutput", "data"), ("captureData", "endpointOutput", "encoding"),
    ("eventMetadata",), ("eventMetadata", "inferenceTime"), ("eventMetadata", "eventId"),
    ("eventMetadata", "inferenceId"),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_RECORD_PATHS), _json_values)
def test_no_mutated_record_crashes_the_reader(path, value):
    # GIVEN a valid record with one field replaced by an arbitrary JSON value
    record = capture_record(image_bytes(), [0.3, 0.7], T0)
    node = record
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    # WHEN parsed THEN a row or a SkippedRecord with a known reason, never a crash
    from scones_domain.monitoring.captures import SKIP_REASONS, SkippedRecord

    try:
        parse_record(json.dumps(record), source="x.jsonl", labels=LABELS, threshold=0.93)
    except SkippedRecord as skip:
        assert skip.reason in SKIP_REASONS
