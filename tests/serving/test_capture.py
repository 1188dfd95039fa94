"""Data capture: SageMaker's record format field by field, file layout, sampling, S3, and
exactly-once under concurrent load, including a stop in the middle of it."""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from scones.serving.capture import (
    CaptureClosedError,
    CaptureConfig,
    CaptureError,
    CaptureEvent,
    CaptureWriter,
)
from scones.serving.endpoint import EndpointServer, LocalEndpoint

ENDPOINT_NAME = "local-test-endpoint"  # the name the endpoint_server fixture serves
FILE_NAME = re.compile(r"^\d{2}-\d{2}-\d{3}-[0-9a-f]{32}\.jsonl$")


def captured_lines(root: Path) -> list[dict]:
    """Every capture record under root; fails on any partial (unparseable) line."""
    records = []
    for path in sorted(root.rglob("*.jsonl")):
        text = path.read_text()
        assert text.endswith("\n"), f"{path} ends with a partial line"
        records.extend(json.loads(line) for line in text.splitlines())
    return records


def event(at: datetime | None = None, body: bytes = b"\x89PNG...") -> CaptureEvent:
    return CaptureEvent(body, "image/png", b"[0.9, 0.1]", "application/json",
                        at or datetime.now(UTC))


def test_record_is_sagemakers_format_field_by_field(endpoint_server, runtime_client,
                                                    bright_and_dark_pngs, capture_dir):
    # GIVEN a real PNG
    png = bright_and_dark_pngs[0].read_bytes()
    before = datetime.now(UTC).replace(microsecond=0)
    # WHEN it is classified through the runtime API and the endpoint stops
    response = runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=png,
                                              ContentType="image/png", Accept="application/json")
    body = response["Body"].read()
    endpoint_server.stop()
    after = datetime.now(UTC)
    # THEN exactly one record exists, in SageMaker's exact shape
    (record,) = captured_lines(capture_dir)
    assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
    assert record["eventVersion"] == "0"
    assert set(record["captureData"]) == {"endpointInput", "endpointOutput"}
    endpoint_input = record["captureData"]["endpointInput"]
    assert endpoint_input == {"observedContentType": "image/png", "mode": "INPUT",
                              "data": endpoint_input["data"], "encoding": "BASE64"}
    assert base64.b64decode(endpoint_input["data"]) == png
    assert record["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json", "mode": "OUTPUT",
        "data": body.decode(), "encoding": "JSON",
    }
    metadata = record["eventMetadata"]
    assert set(metadata) == {"eventId", "inferenceTime"}
    assert str(uuid.UUID(metadata["eventId"])) == metadata["eventId"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", metadata["inferenceTime"])
    inference_time = datetime.strptime(metadata["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert before <= inference_time.replace(tzinfo=UTC) <= after


def test_files_follow_sagemakers_path_layout(endpoint_server, runtime_client,
                                             bright_and_dark_pngs, capture_dir):
    # GIVEN one request served WHEN the endpoint stops
    runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="image/png",
                                   Body=bright_and_dark_pngs[0].read_bytes())
    endpoint_server.stop()
    # THEN the file is <EndpointName>/<VariantName>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl
    (path,) = list(capture_dir.rglob("*.jsonl"))
    parts = path.relative_to(capture_dir).parts
    assert parts[:2] == (ENDPOINT_NAME, "AllTraffic")
    record = captured_lines(capture_dir)[0]
    t = datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert parts[2:6] == (f"{t:%Y}", f"{t:%m}", f"{t:%d}", f"{t:%H}")
    assert FILE_NAME.match(parts[6])
    assert parts[6][:5] == f"{t:%M-%S}"


def test_inference_id_is_recorded_when_the_caller_sets_one(endpoint_server, runtime_client,
                                                           bright_and_dark_pngs, capture_dir):
    # GIVEN a caller that sets InferenceId
    runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="image/png",
                                   Body=bright_and_dark_pngs[0].read_bytes(), InferenceId="req-7")
    endpoint_server.stop()
    # THEN eventMetadata carries it
    assert captured_lines(capture_dir)[0]["eventMetadata"]["inferenceId"] == "req-7"


def test_failed_requests_are_not_captured(endpoint_server, runtime_client, capture_dir):
    # GIVEN a request the model rejects
    with pytest.raises(runtime_client.exceptions.ModelError):
        runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="text/plain",
                                       Body=b"hello")
    endpoint_server.stop()
    # THEN nothing was captured (SageMaker captures served inferences)
    assert captured_lines(capture_dir) == []


def test_sampling_percentage_is_honoured(tmp_path):
    # GIVEN 25% sampling with a seeded random source
    config = CaptureConfig(str(tmp_path), "ep", sampling_percentage=25.0)
    writer = CaptureWriter(config, rng=random.Random(7))
    expected = random.Random(7)
    # WHEN 2000 requests ask whether to capture
    draws = [writer.sampled() for _ in range(2000)]
    writer.close()
    # THEN each draw follows the rule: captured exactly when the draw is under 25%
    assert draws == [expected.random() * 100.0 < 25.0 for _ in range(2000)]
    never = CaptureWriter(CaptureConfig(str(tmp_path), "ep", sampling_percentage=0))
    assert never.sampled() is False
    never.close()


def test_sampling_zero_captures_nothing_through_the_endpoint(loaded_brightness_model, tmp_path,
                                                             bright_and_dark_pngs):
    # GIVEN an endpoint capturing 0% of requests
    writer = CaptureWriter(CaptureConfig(str(tmp_path), ENDPOINT_NAME, sampling_percentage=0))
    endpoint = LocalEndpoint(loaded_brightness_model, endpoint_name=ENDPOINT_NAME, capture=writer)
    # WHEN it serves 20 requests
    for _ in range(20):
        endpoint.invoke(bright_and_dark_pngs[0].read_bytes(), "image/png", None)
    endpoint.close()
    # THEN no record is written
    assert writer.accepted == 0 and captured_lines(tmp_path) == []


def test_invalid_sampling_percentage_is_refused(tmp_path):
    with pytest.raises(CaptureError, match="sampling_percentage"):
        CaptureConfig(str(tmp_path), "ep", sampling_percentage=101)


def test_rotation_by_count_and_hour_keeps_every_record(tmp_path):
    # GIVEN a writer rotating every 10 records, and events spanning an hour boundary
    writer = CaptureWriter(CaptureConfig(str(tmp_path), "ep", max_records_per_file=10))
    start = datetime(2026, 11, 27, 3, 59, 58, tzinfo=UTC)
    events = [event(start + timedelta(milliseconds=100 * i)) for i in range(35)]
    # WHEN they are submitted and the writer closes
    for e in events:
        writer.submit(e)
    writer.close()
    # THEN all 35 are written once, in files of <= 10 under the right hour folders
    records = captured_lines(tmp_path)
    assert sorted(r["eventMetadata"]["eventId"] for r in records) == sorted(
        e.event_id for e in events)
    hours = {p.parent.name for p in tmp_path.rglob("*.jsonl")}
    assert hours == {"03", "04"}
    assert all(len(p.read_text().splitlines()) <= 10 for p in tmp_path.rglob("*.jsonl"))
    assert len(writer.files) == len(list(tmp_path.rglob("*.jsonl")))


def test_submit_after_close_is_refused_not_lost(tmp_path):
    writer = CaptureWriter(CaptureConfig(str(tmp_path), "ep"))
    writer.close()
    with pytest.raises(CaptureClosedError):
        writer.submit(event())


@pytest.mark.parametrize("destination", ["ftp://host/x", "s3://"])
def test_bad_destinations_are_capture_errors(destination):
    with pytest.raises(CaptureError):
        CaptureWriter(CaptureConfig(destination, "ep"))


def test_s3_destination_writes_the_same_layout(tmp_path):
    # GIVEN a bucket (moto) and a writer to s3://bucket/capture
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="captures")
        writer = CaptureWriter(CaptureConfig("s3://captures/datacapture", "ep"))
        events = [event() for _ in range(5)]
        # WHEN events are captured and the writer closes
        for e in events:
            writer.submit(e)
        writer.close()
        # THEN one object holds all 5 records under prefix/EndpointName/VariantName/YYYY/...
        (obj,) = s3.list_objects_v2(Bucket="captures")["Contents"]
        assert re.fullmatch(
            r"datacapture/ep/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f]{32}"
            r"\.jsonl", obj["Key"])
        lines = s3.get_object(Bucket="captures", Key=obj["Key"])["Body"].read().splitlines()
        assert [json.loads(x)["eventMetadata"]["eventId"] for x in lines] == [
            e.event_id for e in events]


def _hammer(client, body, stop: threading.Event, ok: list, failed: list):
    while not stop.is_set():
        try:
            client.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body, ContentType="image/png")
        except Exception as exc:  # noqa: BLE001 - connection refused once the server stops
            failed.append(type(exc).__name__)
            if len(failed) > 1000:
                return
        else:
            ok.append(1)


def _start_endpoint(loaded, capture_dir):
    writer = CaptureWriter(CaptureConfig(str(capture_dir), ENDPOINT_NAME,
                                         max_records_per_file=50))
    endpoint = LocalEndpoint(loaded, endpoint_name=ENDPOINT_NAME, capture=writer)
    server = EndpointServer(endpoint).start()
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url,
                          config=Config(retries={"max_attempts": 1}, max_pool_connections=16,
                                        connect_timeout=2, read_timeout=10))
    return server, client


@pytest.mark.parametrize("stop_mid_load", [False, True], ids=["drained", "stopped-mid-load"])
def test_every_served_request_is_captured_exactly_once(loaded_brightness_model, tmp_path,
                                                       bright_and_dark_pngs, stop_mid_load):
    # GIVEN an endpoint rotating files every 50 records and 8 clients hammering it
    server, client = _start_endpoint(loaded_brightness_model, tmp_path)
    body = bright_and_dark_pngs[0].read_bytes()
    stop, ok, failed = threading.Event(), [], []
    threads = [threading.Thread(target=_hammer, args=(client, body, stop, ok, failed))
               for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # WHEN the clients stop first (drained) or the server is stopped under load
    if stop_mid_load:
        server.stop()
        stop.set()
    else:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
    for t in threads:
        t.join()
    # THEN every served request (a 200 the client received) is one whole line, no more
    records = captured_lines(tmp_path)
    served = server.endpoint.served
    assert len(ok) > 100
    assert len(records) == served == server.endpoint.capture.written
    assert len({r["eventMetadata"]["eventId"] for r in records}) == len(records)
    if stop_mid_load:
        # a response in flight when the socket closed may be served but not received
        assert len(ok) <= served <= len(ok) + 8
    else:
        assert served == len(ok) and not failed


def test_a_new_writer_cuts_the_partial_line_a_killed_writer_left(tmp_path, capsys):
    # GIVEN capture files as a SIGKILL can leave them: one cut mid-record, one whole, one
    # holding only the start of its first record
    day = tmp_path / "ep" / "AllTraffic" / "2026" / "11" / "27" / "06"
    day.mkdir(parents=True)
    whole = b'{"a": 1}\n{"b": 2}\n'
    (day / "cut.jsonl").write_bytes(whole + b'{"captureData": {"endpointIn')
    (day / "whole.jsonl").write_bytes(whole)
    (day / "start.jsonl").write_bytes(b'{"captureDa')
    # WHEN a writer starts on the directory
    CaptureWriter(CaptureConfig(str(tmp_path), "ep")).close()
    # THEN only the partial last lines are gone, and each repair is reported
    assert (day / "cut.jsonl").read_bytes() == whole
    assert (day / "whole.jsonl").read_bytes() == whole
    assert (day / "start.jsonl").read_bytes() == b""
    err = capsys.readouterr().err
    assert "cut.jsonl" in err and "start.jsonl" in err and "whole.jsonl" not in err
