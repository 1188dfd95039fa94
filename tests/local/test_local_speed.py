"""The local runtime's speed-only changes change no behaviour: a JSONPath parsed once finds what
a fresh parse finds, moto's serializer with its aliases worked out once writes the same bytes,
and a local wait reads the execution's end with one DescribeExecution instead of polling."""

from __future__ import annotations

import contextlib
import datetime
import time

import pytest

from scones.local import moto_adapter
from scones.local.stack import LocalStack


@contextlib.contextmanager
def started(patches: list):
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


def test_a_jsonpath_is_parsed_once_and_finds_what_a_fresh_parse_finds():
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    data = {"a": {"b": [7, 8]}, "label": "bicycle"}
    expected = [json_path.extract_json(p, data) for p in ("$.a.b[0]", "$.label", "$.a.b[*]")]
    # GIVEN the adapter's JSONPath patches
    with started(moto_adapter.jsonpath_parsed_once()):
        # WHEN a path is parsed twice THEN it is the same expression
        assert json_path.parse("$.a.b[0]") is json_path.parse("$.a.b[0]")
        assert result_path.parse("$.error") is result_path.parse("$.error")
        # AND it finds what moto's own parse finds, again and again
        for _ in range(2):
            assert [json_path.extract_json(p, data)
                    for p in ("$.a.b[0]", "$.label", "$.a.b[*]")] == expected
        written = result_path.parse("$.error").update_or_create({"x": 1}, {"Error": "E"})
        assert written == {"x": 1, "error": {"Error": "E"}}
        # AND a path that does not parse still fails every time
        for _ in range(2):
            with pytest.raises(Exception):  # noqa: B017 - jsonpath_ng's own parse error
                json_path.parse("$.[")
    # AND stopped, moto parses as before
    assert json_path.parse("$.label") is not json_path.parse("$.label")


def history() -> dict:
    """A GetExecutionHistory result as moto's interpreter keeps it: plain dicts, nested."""
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    return {"events": [
        {"timestamp": when, "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
         "executionStartedEventDetails": {"input": '{"s3_key": "k"}',
                                          "inputDetails": {"truncated": False},
                                          "roleArn": "arn:aws:iam::123456789012:role/r"}},
        {"timestamp": when, "type": "TaskStateEntered", "id": 2, "previousEventId": 1,
         "stateEnteredEventDetails": {"name": "ClassifyImage", "input": "{}",
                                      "inputDetails": {"truncated": False}}},
        {"timestamp": when, "type": "TaskFailed", "id": 3, "previousEventId": 2,
         "taskFailedEventDetails": {"resource": "invoke", "resourceType": "lambda",
                                    "error": "THRESHOLD_CONFIDENCE_NOT_MET", "cause": "low"}},
        {"timestamp": when, "type": "ExecutionFailed", "id": 4, "previousEventId": 3,
         "executionFailedEventDetails": {"error": "THRESHOLD_CONFIDENCE_NOT_MET"}},
    ]}


def serialized(result: object, service: str, operation: str) -> str:
    from moto.core.responses import get_service_model
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class

    model = get_service_model(service)
    serializer = get_serializer_class(model.service_name, model.protocol)(
        operation_model=model.operation_model(operation), value_picker=XFormedAttributePicker())
    return serializer.serialize(result)["body"]


def test_the_serializer_with_aliases_worked_out_once_writes_the_same_bytes():
    class Description:  # an object, not a dict: moto's own path, untouched
        execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"
        state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
        name, status = "e", "SUCCEEDED"
        start_date = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)

    cases = [(history(), "stepfunctions", "GetExecutionHistory"),
             (Description(), "stepfunctions", "DescribeExecution"),
             ({"Item": {"pk": {"S": "a"}}}, "dynamodb", "GetItem"),
             # a dict whose keys are found through an alias (snake_case) and one with none
             ({"execution_arn": Description.execution_arn, "status": "FAILED",
               "start_date": Description.start_date, "Name": "e"},
              "stepfunctions", "DescribeExecution"),
             ({}, "stepfunctions", "DescribeExecution")]
    expected = [serialized(*case) for case in cases]
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in expected[0] and '"status"' in expected[1]
    assert '"executionArn"' in expected[3]
    # GIVEN the adapter's patch WHEN the same results are serialized, twice
    with started(moto_adapter.alias_keys_once()):
        for _ in range(2):
            # THEN byte for byte what moto writes
            assert [serialized(*case) for case in cases] == expected


def test_timestamps_read_fast_serialize_as_moto_serializes_them():
    from moto.core.serialize import TimestampSerializer

    texts = ["2026-12-02T12:15:58.366Z", "2026-12-02T12:15:58Z", "2026-12-02T12:15:58.000001Z",
             "2026-01-02T03:04:05.123456Z",
             # not UTC ISO 8601 as moto keeps it: moto's own parser
             "2026-12-02", "2026-12-02T12:15:58+02:00", "1767323045", "2026-12-02 12:15:58"]
    formats = ["iso8601", "iso8601_zeroed", "unixtimestamp", "rfc822"]

    def written() -> list:
        return [TimestampSerializer("iso8601")._convert_timestamp_to_str(text, fmt)
                for text in texts for fmt in formats]

    expected = written()
    assert "2026-12-02T12:15:58.366000Z" in expected
    # GIVEN the adapter's patch WHEN the same timestamps are written THEN the same text
    with started(moto_adapter.timestamps_read_fast()):
        assert written() == expected
        # AND text that is not a timestamp still fails as it did
        with pytest.raises(ValueError):
            TimestampSerializer("iso8601")._convert_timestamp_to_str("soon", "iso8601")


def test_routes_worked_out_once_are_the_tables_moto_works_out(monkeypatch):
    from moto.core.base_backend import BaseBackend
    from moto.s3.models import s3_backends
    from moto.stepfunctions.models import stepfunctions_backends

    backends = [s3_backends["123456789012"]["aws"],
                stepfunctions_backends["123456789012"]["us-east-1"]]
    expected = [dict(backend.urls) for backend in backends]
    # GIVEN the adapter's patch WHEN a backend's URL table is asked for, twice
    with started(moto_adapter.routes_once()):
        tables = [backend.urls for backend in backends]
        # THEN it is moto's table, worked out once
        assert tables == expected
        assert [backend.urls for backend in backends] == tables
        assert all(again is table for again, table in
                   zip([backend.urls for backend in backends], tables, strict=True))
        # AND a setting moto reads again for every request is still seen
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", "http://custom.internal.endpoint")
        assert any("custom.internal.endpoint" in url for url in backends[0].urls)
        monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS")
        assert backends[0].urls == expected[0]
    assert isinstance(BaseBackend.__dict__["urls"], property)


def test_requests_are_signed_as_on_lambda_without_the_crt():
    import boto3
    from botocore import auth
    from moto import mock_aws

    # GIVEN the adapter's patch (the Lambda runtime has no awscrt)
    signers: list = []
    with started(moto_adapter.signed_as_on_lambda()), mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        client.meta.events.register("before-send.s3", lambda request, **kw: signers.append(
            request.headers["Authorization"]))
        # WHEN a request is made THEN it is signed with botocore's own SigV4 and moto answers
        assert auth.AUTH_TYPE_MAPS["s3v4"] is auth.S3SigV4Auth
        assert auth.AUTH_TYPE_MAPS["v4"] is auth.SigV4Auth
        client.create_bucket(Bucket="signed-bucket")
        client.put_object(Bucket="signed-bucket", Key="k", Body=b"photo")
        assert client.get_object(Bucket="signed-bucket", Key="k")["Body"].read() == b"photo"
        assert signers and all(str(s).lstrip("b'").startswith("AWS4-HMAC-SHA256")
                               for s in signers)
        # AND a presigned URL is still signed
        assert "Signature=" in client.generate_presigned_url(
            "get_object", Params={"Bucket": "signed-bucket", "Key": "k"})
    # AND stopped, botocore signs as it did before
    from botocore.compat import HAS_CRT
    if HAS_CRT:
        from botocore.crt.auth import CRT_AUTH_TYPE_MAPS
        assert auth.AUTH_TYPE_MAPS["v4"] is CRT_AUTH_TYPE_MAPS["v4"]


def describe_calls(stack: LocalStack) -> list:
    calls: list = []
    stack.client("stepfunctions").meta.events.register(
        "before-call.sfn.DescribeExecution", lambda **kwargs: calls.append(kwargs))
    return calls


def test_a_local_wait_reads_the_end_with_one_describe(flaky_stack):
    flaky_stack.run({"word": "warmup"})  # spend Flaky's planned failure (a 1 s retry)
    calls = describe_calls(flaky_stack)
    # GIVEN a quick execution WHEN the stack runs it and waits
    result = flaky_stack.run({"word": "moped"})
    # THEN the result is read once, when moto ended it
    assert result.status == "SUCCEEDED" and result.output["word"] == "MOPED"
    assert len(calls) == 1


def test_a_wait_that_starts_after_the_end_returns_at_once(flaky_stack):
    flaky_stack.run({"word": "warmup"})
    machine = flaky_stack.state_machine_arn
    ended = flaky_stack.events.ended[machine]
    # GIVEN an execution that ended before anyone waits for it
    arn = flaky_stack.start_execution({"word": "late"})
    deadline = time.monotonic() + 10
    while flaky_stack.events.ended[machine] == ended and time.monotonic() < deadline:
        time.sleep(0.01)
    calls = describe_calls(flaky_stack)
    # WHEN the wait comes THEN it reads the end at once, with one DescribeExecution
    started_at = time.monotonic()
    result = flaky_stack.wait(arn, {"word": "late"}, timeout=5)
    assert result.status == "SUCCEEDED" and time.monotonic() - started_at < 1
    assert len(calls) == 1


def test_a_lambda_task_in_process_gets_what_the_lambda_api_answers(flaky_stack):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    # GIVEN the interpreter's invoke (in process) and moto's own, through boto3 and the API
    in_process = lambda_eval_utils._invoke_lambda_function
    through_api = next(patch for patch in flaky_stack._patches
                       if getattr(patch, "attribute", "") == "_invoke_lambda_function"
                       ).temp_original
    function = flaky_stack.deployment.functions["ShoutFunction"]

    def both(parameters: dict) -> list:
        answers = [lambda_eval_utils.select_from_typed_dict(  # what the Task keeps of it
            typed_dict=lambda_eval_utils.InvocationResponse,
            obj=invoke(dict(parameters), flaky_stack.region, None))
            for invoke in (in_process, through_api)]
        for answer in answers:  # the error payload names its own request
            if isinstance(answer["Payload"], dict):
                answer["Payload"].pop("requestId", None)
        return answers

    # WHEN a handler answers, raises, or is asked with another parameter
    for parameters in ({"FunctionName": function.arn, "Payload": b'{"word": "moped"}'},
                       {"FunctionName": function.name, "Payload": '{"word": "moped"}'},
                       {"FunctionName": function.arn, "Payload": b'{"word": "motorcycles!"}'},
                       {"FunctionName": function.arn, "Payload": b'{"word": "a"}',
                        "InvocationType": "RequestResponse"}):
        # THEN both ways give the same response
        in_process_answer, api_answer = both(parameters)
        assert in_process_answer == api_answer
    assert api_answer["Payload"]["word"] == "A"
    assert both({"FunctionName": function.arn, "Payload": b'{"word": "motorcycles!"}'}
                )[0]["FunctionError"] == "Unhandled"
    # AND a function moto does not know fails the same way, either way
    errors = []
    for invoke in (in_process, through_api):
        with pytest.raises(Exception) as raised:  # noqa: B017 - whatever the API's way raises
            invoke({"FunctionName": "no-such-function", "Payload": b"{}"}, flaky_stack.region,
                   None)
        errors.append((type(raised.value), str(raised.value)))
    assert errors[0] == errors[1]
