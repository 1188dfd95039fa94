"""The local stack itself, on a small fixture app (fixtures/flaky_app): the moto version the
adapter is written for, the functions CloudFormation created, environments, retries and
failures read from the history, timeouts."""

from __future__ import annotations

import inspect
import json
import time

import pytest

from scones.local import moto_adapter
from scones.local.moto_adapter import MotoChangedError, check_moto
from scones.local.stack import ExecutionTimeoutError, UnknownFunctionError


def test_moto_seam_is_the_one_we_patch():
    # GIVEN the installed moto WHEN its non-Docker Lambda invoke is inspected
    import moto
    from moto.awslambda.responses import LambdaResponse
    from moto.awslambda_simple.models import LambdaSimpleBackend

    # THEN version and signature are exactly what the adapter patches (fails loudly on upgrade)
    assert moto.__version__ == "5.2.5"
    params = tuple(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    assert params == moto_adapter.INVOKE_PARAMETERS
    # AND moto's Invoke API still calls it with those five arguments
    assert ("self.backend.invoke(\n            function_name, qualifier, self.body, self.headers, "
            "response_headers\n        )") in inspect.getsource(LambdaResponse.invoke)
    check_moto()


def test_a_changed_seam_is_refused(monkeypatch):
    # GIVEN a moto whose version differs WHEN the stack checks the seam THEN it refuses loudly
    import moto

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(MotoChangedError, match="Pin moto==5.2.5"):
        check_moto()


def test_functions_are_real_moto_functions_with_merged_environment(flaky_stack):
    # GIVEN the fixture stack WHEN moto's Lambda API lists the functions
    functions = {f["FunctionName"]: f for f in
                 flaky_stack.client("lambda").list_functions()["Functions"]}
    # THEN each was created by CloudFormation from the transformed template, named as
    # CloudFormation names it, Globals env merged with its own
    names = {f.logical_id: f.name for f in flaky_stack.deployment.functions.values()}
    assert set(functions) == set(names.values())
    assert names["FlakyFunction"].startswith("scones-local-FlakyFunction-")
    flaky = functions[names["FlakyFunction"]]
    assert flaky["Runtime"] == "python3.13" and flaky["Handler"] == "app.lambda_handler"
    assert flaky["Environment"]["Variables"]["GREETING"] == "hello"
    assert flaky["Environment"]["Variables"]["FAIL_TIMES"] == "1"
    assert "FAIL_TIMES" not in functions[names["ShoutFunction"]]["Environment"]["Variables"]


def test_retries_and_output_are_read_from_the_history(flaky_stack):
    # GIVEN Flaky fails its first call with TransientError (retried by the ASL)
    # WHEN the workflow runs
    result = flaky_stack.run({"word": "bike"})
    # THEN it succeeds after one retry, with the handlers' output and the env they saw
    assert result.status == "SUCCEEDED"
    assert result.output == {"word": "BIKE", "greeting": "hello", "calls": 2,
                             "function": flaky_stack.deployment.functions["ShoutFunction"].name}
    assert result.retries == {"Flaky": 1}
    assert result.states == ["Flaky", "Shout"]
    assert result.error is None and result.failed_state is None
    failures = [e for e in result.history if e["type"] == "TaskFailed"]
    assert failures[0]["taskFailedEventDetails"]["error"] == "TransientError"


def test_execution_history_is_paged_as_aws_pages_it(flaky_stack):
    # GIVEN a finished execution with a retry (more than a handful of events)
    result = flaky_stack.run({"word": "bike"})
    sfn, arn = flaky_stack.client("stepfunctions"), result.execution_arn
    everything = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    assert len(everything) > 6 and "nextToken" not in sfn.get_execution_history(
        executionArn=arn, maxResults=1000)
    # WHEN it is read four events a page THEN the pages, in turn, are the whole history
    pages, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=4,
                                         **({"nextToken": token} if token else {}))
        pages.append(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    assert all(len(p) == 4 for p in pages[:-1]) and [e for p in pages for e in p] == everything
    # AND newest first with reverseOrder
    newest = sfn.get_execution_history(executionArn=arn, maxResults=3, reverseOrder=True)
    assert newest["events"] == everything[::-1][:3]
    assert newest["events"][0]["type"] == "ExecutionSucceeded"
    # AND without inputs and outputs when includeExecutionData is false
    bare = sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
    assert [e["type"] for e in bare] == [e["type"] for e in everything]
    assert "output" not in json.dumps([e for e in bare if e["type"].endswith("StateExited")],
                                      default=str).replace("outputDetails", "")
    # AND a token that was never given is refused
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")


def test_a_failed_runs_inference_comes_from_its_last_events(flaky_stack):
    # GIVEN an execution whose last state outputs carry inferences before it fails
    result = flaky_stack.run({"word": "warmup"})
    events = flaky_stack.history(result.execution_arn)
    exited = [e for e in events if e["type"].endswith("StateExited")]
    # WHEN the newest output with inferences is searched among the events, newest first
    from scones.local.client import newest_inference

    detail = {"name": "Shout", "output": json.dumps({"label": "bicycle", "inferences": [1, 0]})}
    extra = {"type": "TaskStateExited", "stateExitedEventDetails": detail}
    # THEN it is found where it is, and not where there is none
    assert newest_inference([extra, *exited[::-1]]) == {"label": "bicycle", "inferences": [1, 0]}
    assert newest_inference(exited[::-1]) is None


def test_a_failed_runs_label_confidence_and_inferences_read_its_events_once():
    from scones.local.client import ExecutionResult

    # GIVEN a failed execution whose newest events carry the classifier's answer
    answer = {"label": "motorcycle", "confidence": 0.61, "inferences": [0.39, 0.61]}
    exited = {"type": "TaskStateExited",
              "stateExitedEventDetails": {"name": "StartReview", "output": json.dumps(answer)}}
    pages = []

    def fetch_recent(n):
        pages.append(n)
        return [{"type": "ExecutionFailed", "executionFailedEventDetails": {}}, exited]

    result = ExecutionResult(name="x", execution_arn="arn", input={}, status="FAILED",
                             error="THRESHOLD_CONFIDENCE_NOT_MET", fetch_recent=fetch_recent)
    # WHEN all three are read, twice
    read = [(result.label, result.confidence, result.inferences) for _ in range(2)]
    # THEN they are the answer, from one page of events
    assert read == [("motorcycle", 0.61, [0.39, 0.61])] * 2
    assert len(pages) == 1


def test_a_handler_exception_fails_the_execution_with_its_name(flaky_stack):
    # GIVEN a word Shout rejects WHEN the workflow runs
    flaky_stack.run({"word": "warmup"})  # spend Flaky's planned failure
    result = flaky_stack.run({"word": "velocipedes!"})
    # THEN the execution FAILED in Shout with the exception's class name and message
    assert result.status == "FAILED"
    assert result.failed_state == "Shout"
    assert result.error == "WordTooLongError"
    assert json.loads(result.cause)["errorMessage"] == "'velocipedes!' is longer than 10 letters"
    assert result.retries == {}


def test_execution_names_are_unique(flaky_stack):
    # GIVEN two runs of the same input WHEN both finish THEN each had its own name
    first, second = flaky_stack.run({"word": "a"}), flaky_stack.run({"word": "a"})
    assert first.name != second.name and first.name.startswith("local-")


def test_a_slow_execution_times_out_with_what_is_known(flaky_stack):
    # GIVEN an execution that needs a 1 s retry interval WHEN we wait only 0.2 s
    with pytest.raises(ExecutionTimeoutError) as raised:
        flaky_stack.run({"word": "bike"}, timeout=0.2)
    # THEN the error says so and carries the partial result (still RUNNING, Flaky entered)
    assert raised.value.result.status == "RUNNING"
    assert raised.value.result.states == ["Flaky"]


def test_invoke_function_goes_through_the_lambda_api(flaky_stack):
    # GIVEN the stack WHEN a function is invoked like `sam local invoke`
    ok = flaky_stack.invoke_function("ShoutFunction", {"word": "moped"})
    failed = flaky_stack.invoke_function("ShoutFunction", {"word": "motorcycles!"})
    # THEN its response, or the Lambda error shape with failed=True, comes back
    shout = flaky_stack.deployment.functions["ShoutFunction"].name
    assert ok == (False, {"word": "MOPED", "function": shout})
    assert failed[0] is True and failed[1]["errorType"] == "WordTooLongError"
    with pytest.raises(UnknownFunctionError, match="ShoutFunction"):
        flaky_stack.invoke_function("NoSuchFunction", {})


def test_upload_puts_the_file_in_the_stacks_bucket(flaky_stack, tmp_path):
    # GIVEN a file WHEN it is uploaded THEN moto's S3 holds it in the stack's bucket
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    flaky_stack.upload(path, "in/x.bin")
    body = flaky_stack.client("s3").get_object(Bucket="flaky-bucket", Key="in/x.bin")["Body"]
    assert body.read() == b"abc"


def test_tables_queues_and_topics_are_created_and_referenced(flaky_stack):
    # GIVEN the fixture template's table, queue and topic
    env = flaky_stack.client("lambda").get_function_configuration(
        FunctionName=flaky_stack.deployment.functions["ShoutFunction"].name)["Environment"]["Variables"]
    # WHEN the stack started THEN each exists in moto under the name !Ref gave the function
    assert flaky_stack.client("dynamodb").describe_table(
        TableName=env["WORDS_TABLE"])["Table"]["TableArn"] == env["WORDS_TABLE_ARN"]
    assert env["QUEUE_URL"] in flaky_stack.client("sqs").list_queues()["QueueUrls"]
    topics = [t["TopicArn"] for t in flaky_stack.client("sns").list_topics()["Topics"]]
    assert env["TOPIC_ARN"] in topics
    # AND a handler writes to the table through moto
    failed, _ = flaky_stack.invoke_function("ShoutFunction", {"word": "moped", "record": True})
    assert failed is False
    item = flaky_stack.client("dynamodb").get_item(TableName=env["WORDS_TABLE"],
                                                   Key={"word": {"S": "MOPED"}})
    assert item["Item"]["word"]["S"] == "MOPED"


def test_a_stopped_stack_leaves_nothing_running(fixtures_dir):
    import threading

    from scones.local.stack import LocalStack

    stack = LocalStack(template=fixtures_dir / "flaky_app/template.yaml",
                       state_machine="FlowStateMachine", bucket="flaky-bucket").start()
    shout = stack.function_names["ShoutFunction"]
    ended: list[float] = []

    class Slow:  # the real function, one second late
        def __init__(self, inner):
            self.inner = inner

        def invoke(self, event):
            time.sleep(1.0)
            result = self.inner.invoke(event)
            ended.append(time.monotonic())
            return result

    stack._handlers[shout] = Slow(stack._handlers[shout])
    # GIVEN an invocation under way (as a workflow's Task would make it)
    call = threading.Thread(target=stack._run_function, args=(shout, {"word": "a"}))
    call.start()
    time.sleep(0.2)
    # WHEN the stack stops
    stack.stop()
    stopped = time.monotonic()
    call.join()
    # THEN the invocation ended before the stop returned (it ran against this stack's AWS,
    # not the next one's)
    assert ended and ended[0] <= stopped
    # AND a function invoked after the stop is refused, not run
    failed, payload = stack._run_function(shout, {"word": "b"})
    assert failed and payload["errorType"] == "StackStopped" and len(ended) == 1
