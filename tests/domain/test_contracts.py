"""Every state's input and output against its contract (scones_domain.contracts): the sample
events in events/, and what the functions' own code returns for them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from scones_domain import contracts as c
from scones_domain.batch import read_results
from scones_domain.contracts import contract_problems
from scones_domain.events import parse_classification, parse_image_request, parse_serialized_image

EVENTS = Path(__file__).resolve().parents[2] / "events"

# events/<file> -> the contract of the state input it is a sample of
SAMPLES = {
    "workflow_input.json": c.WorkflowInput,
    "serialize_image_data.json": c.WorkflowInput,
    "serialize_image_data_s3_object_created.json": c.S3ObjectCreatedEvent,
    "classify_image.json": c.ClassifyImageInput,
    "filter_low_confidence.json": c.ClassifyImageOutput,
    "record_result.json": c.RecordResultInput,
    "send_to_review.json": c.SendToReviewInput,
    "record_review.json": c.RecordReviewInput,
    "prepare_retraining.json": c.PrepareRetrainingInput,
    "register_challenger.json": c.RegisterChallengerInput,
    "promote_challenger.json": c.PromoteChallengerInput,
    "batch_input.json": c.BatchInput,
    "batch_summary.json": c.BatchSummaryInput,
    "alert_message.json": c.ExecutionStatusChangeEvent,
}
REQUIRED_KEYS = [(name, key) for name, contract in sorted(SAMPLES.items())
                 for key in sorted(contract.__required_keys__)]


def sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def fields(contract) -> set[str]:
    return set(contract.__required_keys__ | contract.__optional_keys__)


def test_every_sample_event_has_a_contract():
    assert {p.name for p in EVENTS.glob("*.json")} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_event_satisfies_its_contract(name):
    assert contract_problems(sample(name), SAMPLES[name]) == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_event_shows_every_field_of_its_contract(name):
    # optional fields included: a sample documents the whole shape
    assert fields(SAMPLES[name]) <= set(sample(name))


@pytest.mark.parametrize(("name", "key"), REQUIRED_KEYS)
def test_a_sample_without_a_required_key_breaks_its_contract(name, key):
    # GIVEN a sample event that has lost one required key  THEN the contract names it
    event = {k: v for k, v in sample(name).items() if k != key}
    assert f"$.{key}: missing" in contract_problems(event, SAMPLES[name])


@pytest.mark.parametrize(("value", "contract", "problem"), [
    ({"s3_key": 7}, c.WorkflowInput, "$.s3_key: expected str"),
    ({**sample("classify_image.json"), "transport": "ftp"}, c.SerializeImageDataOutput,
     "$.transport: 'ftp' is not one of"),
    ({**sample("filter_low_confidence.json"), "inferences": [0.5, True]}, c.ClassifyImageOutput,
     "$.inferences[1]: expected float"),
    ({**sample("record_result.json"), "result": {"bucket": "b"}}, c.RecordResultInput,
     "$.result.key: missing"),
    ([], c.BatchInput, "$: expected an object"),
])
def test_wrong_types_are_named_with_their_path(value, contract, problem):
    assert any(p.startswith(problem) for p in contract_problems(value, contract))


# --------------------------------------------------------------------------- outputs


def test_serialize_image_data_output(function_module):
    serialize = function_module("serialize_image_data")
    # GIVEN the workflow input and the PNG the next state's sample carries
    png = base64.b64decode(sample("classify_image.json")["image_data"])
    request = parse_image_request(sample("workflow_input.json"))
    # WHEN serialized
    output = serialize.serialize(request, png, from_s3=True, max_bytes=10**6, max_pixels=10**6,
                                 inline_max_bytes=10**5)
    # THEN the output is the contract, field for field the next state's sample (which the
    # ClassifyImage state adds the execution's ARN to)
    assert contract_problems(output, c.SerializeImageDataOutput) == []
    assert set(output) | {"execution_id"} == set(sample("classify_image.json"))


def test_classify_image_output(function_module):
    classify = function_module("classify_image")
    image = parse_serialized_image(sample("classify_image.json"))
    output = classify.classification(image, [0.9712, 0.0288], 41.7)
    assert contract_problems(output, c.ClassifyImageOutput) == []
    assert set(output) == set(sample("filter_low_confidence.json"))


def test_filter_low_confidence_output(function_module):
    filter_ = function_module("filter_low_confidence")
    output = filter_.final_output(parse_classification(sample("filter_low_confidence.json")),
                                  ("bicycle", "motorcycle"), 0.93)
    assert contract_problems(output, c.FilterLowConfidenceOutput) == []
    assert set(output) == set(sample("record_result.json")["result"])


def test_review_record(function_module):
    review = function_module("send_to_review")
    record = review.review_record(sample("send_to_review.json"), "v1")
    assert contract_problems(record, c.ReviewRecord) == []


def test_alert_message(function_module):
    alert = function_module("alert_message")
    message = alert.alert_message(sample("alert_message.json"))
    assert contract_problems(message, c.AlertMessage) == []
    assert message["key"] == "test/notes.png" and message["error"] == "NotAnImage"


OUTCOMES = [
    {"s3_key": "in/a.png", "status": "SUCCEEDED", "execution_arn": "arn:a", "label": "bicycle",
     "confidence": 0.97, "error": None, "cause": None},
    {"s3_key": "in/b.png", "status": "FAILED", "execution_arn": "arn:b", "label": None,
     "confidence": None, "error": "THRESHOLD_CONFIDENCE_NOT_MET", "cause": "below"},
]


def test_batch_summary_output(function_module):
    summary_function = function_module("batch_summary")
    event = sample("batch_summary.json")
    writer = event["result_writer"]
    folder = writer["Key"].rsplit("/", 1)[0]
    manifest = {"MapRunArn": "arn:map-run", "ResultFiles": {
        "SUCCEEDED": [{"Key": f"{folder}/SUCCEEDED_0.json"}],
        "FAILED": [{"Key": f"{folder}/FAILED_0.json"}], "PENDING": []}}
    files = {f"{folder}/SUCCEEDED_0.json": [{"Output": json.dumps(o)} for o in OUTCOMES],
             f"{folder}/FAILED_0.json": [{"Error": "States.Runtime", "Cause": "refused",
                                          "Input": "{}"}]}
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=writer["Bucket"])
        for key, body in {writer["Key"]: manifest, **files}.items():
            s3.put_object(Bucket=writer["Bucket"], Key=key, Body=json.dumps(body).encode())
        # WHEN the batch's result files are read and summarized
        outcomes, failures = read_results(manifest, lambda key: files[key])
        output = summary_function.summarize_map_run(s3, event)
    # THEN the outcomes, the item failures and the summary are their contracts
    assert [contract_problems(o, c.ImageOutcome) for o in outcomes] == [[], []]
    assert contract_problems(failures[0], c.ItemFailure) == []
    assert contract_problems(output, c.BatchSummaryOutput) == []
    assert (output["confident"], output["below_threshold"], output["failed"]) == (1, 1, 1)
