"""A client of a deployed stack: upload, invoke, start executions and wait for their end.

:class:`Stack` is what ``scones run``, ``invoke`` and ``logs`` do with a stack, wherever it is;
:class:`RemoteStack` reaches one that ``scones up`` serves, over HTTP with botocore clients.
:class:`ExecutionResult` is one finished execution and what its history says. Nothing here
imports moto or deploys anything (that is :mod:`scones.local.stack`), so a warm ``scones run``
imports only this module and botocore.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_MACHINE = "ImageClassificationStateMachine"
BATCH_STATE_MACHINE = "BatchClassificationStateMachine"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
POLL_FIRST_S, POLL_BACKOFF, POLL_MAX_S = 0.004, 1.25, 0.05  # describe_execution polling

class StackError(Exception):
    """The local stack cannot be created or used."""


class ExecutionTimeoutError(StackError):
    """An execution did not reach a terminal status in time; carries what is known so far."""

    def __init__(self, message: str, result: ExecutionResult):
        super().__init__(message)
        self.result = result


class UnknownFunctionError(StackError):
    """An invoke named a function this stack does not define."""


@dataclass
class ExecutionResult:
    """One finished (or timed-out) execution, and what its history says.

    ``describe_execution`` gives status, output, error and cause at once; the history
    (``get_execution_history``, costly in moto) is fetched on first use of ``history``,
    ``states``, ``retries``, ``failed_state`` or ``last_inference`` and then kept; ``label``,
    ``confidence`` and ``inferences`` of a failed execution come from one page of its newest
    events, read once.
    """

    name: str
    execution_arn: str
    input: dict
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    seconds: float = 0.0
    fetch_history: Callable[[], list[dict]] | None = field(default=None, repr=False)
    # the newest n events, newest first (one small GetExecutionHistory page)
    fetch_recent: Callable[[int], list[dict]] | None = field(default=None, repr=False)
    _history: list[dict] | None = field(default=None, repr=False)
    _summary: dict | None = field(default=None, repr=False)
    _recent_inference: dict | None = field(default=None, repr=False)

    @property
    def history(self) -> list[dict]:
        """Every history event, as get_execution_history returns them."""
        if self._history is None:
            self._history = self.fetch_history() if self.fetch_history else []
        return self._history

    @property
    def summary(self) -> dict:
        if self._summary is None:
            self._summary = summarize_history(self.history)
        return self._summary

    @property
    def states(self) -> list[str]:
        """States entered, in order."""
        return self.summary["states"]

    @property
    def retries(self) -> dict[str, int]:
        """State -> how many times its task was retried."""
        return self.summary["retries"]

    @property
    def failed_state(self) -> str | None:
        """The state whose task failed the execution (or the Fail state it reached)."""
        return self.summary["failed_state"]

    @property
    def last_inference(self) -> dict | None:
        """The newest state output that carries ``inferences`` (also for FAILED runs)."""
        return self.summary["last_inference"]

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def _inference(self) -> dict:
        """The classifier's answer: the output when it carries one, else the newest state
        output that does, read once."""
        if self._recent_inference is None:
            self._recent_inference = self._find_inference()
        return self._recent_inference

    def _find_inference(self) -> dict:
        if isinstance(self.output, dict) and "inferences" in self.output:
            return self.output
        if self._history is None and self.fetch_recent is not None:
            # a failed execution's inference is in one of its last states: read those only
            recent = newest_inference(self.fetch_recent(RECENT_EVENTS))
            if recent is not None:
                return recent
        return self.last_inference or {}

    @property
    def label(self) -> str | None:
        return self._inference().get("label")

    @property
    def confidence(self) -> float | None:
        return self._inference().get("confidence")

    @property
    def inferences(self) -> list[float] | None:
        return self._inference().get("inferences")


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


RECENT_EVENTS = 12  # events read back for a failed execution's inference (its last states)


def newest_inference(events_newest_first: list[dict]) -> dict | None:
    """The newest state output carrying ``inferences`` among events given newest first."""
    for event in events_newest_first:
        if event["type"].endswith("StateExited"):
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            output = _json_or_none(details.get("output"))
            if isinstance(output, dict) and "inferences" in output:
                return output
    return None


def summarize_history(events: list[dict]) -> dict:
    """Which states ran, which one failed the execution (and with what), how often each task
    was retried, and the newest state output that carries inferences.

    The failed state is the task whose error the execution ended with (also when a Catch
    routed it through other states to a Fail state), else the Fail state reached."""
    states: list[str] = []
    scheduled: Counter[str] = Counter()
    task_failures: list[tuple[str | None, str | None, str | None]] = []  # state, error, cause
    fail_state = execution_failed = last_inference = current = None
    for event in events:
        kind = event["type"]
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        if kind.endswith("StateEntered"):
            current = details["name"]
            states.append(current)
            if kind == "FailStateEntered":
                fail_state = current
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            scheduled[current] += 1
        elif kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut",
                      "LambdaFunctionTimedOut"):
            task_failures.append((current, details.get("error"), details.get("cause")))
        elif kind.endswith("StateExited"):
            output = _json_or_none(details.get("output"))
            if isinstance(output, dict) and "inferences" in output:
                last_inference = output
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            execution_failed = details
    failed_state = error = cause = None
    if execution_failed is not None:
        error, cause = execution_failed.get("error"), execution_failed.get("cause")
        matching = [f for f in task_failures if f[1] == error]
        if matching:
            failed_state, _, task_cause = matching[-1]
            cause = cause or task_cause
        else:
            failed_state = fail_state or current
    return {
        "states": states,
        "retries": {state: n - 1 for state, n in scheduled.items() if n > 1},
        "failed_state": failed_state,
        "error": error,
        "cause": cause,
        "last_inference": last_inference,
    }


class Stack:
    """What a client of a deployed stack does: upload, invoke, start and wait for executions.

    Subclasses say where the stack is: :class:`LocalStack` deploys it in this process,
    :class:`RemoteStack` reaches one that ``scones up`` serves.
    """

    region: str
    bucket: str | None = None
    state_machine_arn: str | None = None
    state_machine_arns: dict[str, str]  # logical id -> ARN
    function_names: dict[str, str]  # logical id -> name

    def client(self, service: str):
        raise NotImplementedError

    def state_machine(self, logical_id: str) -> str:
        """The ARN of one of the stack's state machines."""
        return self.state_machine_arns[logical_id]

    def upload(self, path: str | Path, key: str) -> str:
        """Put a file into the image bucket; returns its key."""
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=Path(path).read_bytes())
        return key

    def invoke_function(self, logical_id: str, event: Any) -> tuple[bool, Any]:
        """Invoke one function through moto's Lambda API; (failed, payload)."""
        if logical_id not in self.function_names:
            raise UnknownFunctionError(
                f"{logical_id!r} is not a function of the stack; "
                f"choose one of {sorted(self.function_names)}")
        response = self.client("lambda").invoke(
            FunctionName=self.function_names[logical_id],
            Payload=json.dumps(event).encode())
        return "FunctionError" in response, json.loads(response["Payload"].read())

    def start_execution(self, workflow_input: dict, name: str | None = None,
                        state_machine_arn: str | None = None) -> str:
        return self.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn or self.state_machine_arn,
            name=name or f"local-{uuid.uuid4()}", input=json.dumps(workflow_input),
        )["executionArn"]

    def history(self, execution_arn: str) -> list[dict]:
        sfn, events, token = self.client("stepfunctions"), [], None
        while True:
            kwargs = {"executionArn": execution_arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def recent_events(self, execution_arn: str, n: int) -> list[dict]:
        """The execution's newest ``n`` history events, newest first (one page)."""
        return self.client("stepfunctions").get_execution_history(
            executionArn=execution_arn, maxResults=n, reverseOrder=True)["events"]

    def wait(self, execution_arn: str, workflow_input: dict, *, timeout: float = 60.0,
             started: float | None = None) -> ExecutionResult:
        """Poll describe_execution until any terminal status or ``timeout`` (then raise)."""
        sfn = self.client("stepfunctions")
        started = started if started is not None else time.perf_counter()
        deadline = time.monotonic() + timeout
        self._until_end(execution_arn, deadline)
        interval = POLL_FIRST_S
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] in TERMINAL or time.monotonic() >= deadline:
                break
            time.sleep(interval)
            interval = min(interval * POLL_BACKOFF, POLL_MAX_S)
        result = ExecutionResult(
            name=description["name"], execution_arn=execution_arn, input=workflow_input,
            status=description["status"], output=_json_or_none(description.get("output")),
            error=description.get("error"), cause=description.get("cause"),
            seconds=time.perf_counter() - started,
            fetch_history=lambda: self.history(execution_arn),
            fetch_recent=lambda n: self.recent_events(execution_arn, n),
        )
        if result.status not in TERMINAL:
            raise ExecutionTimeoutError(
                f"execution {result.name} still {result.status} after {timeout} s "
                f"(states so far: {result.states})", result,
            )
        if result.status != "SUCCEEDED" and not result.error:
            result.error, result.cause = result.summary["error"], result.summary["cause"]
        return result

    def _until_end(self, execution_arn: str, deadline: float) -> None:
        """Block until the execution has probably ended, before :meth:`wait` polls; a stack
        reached over the network cannot know, so polling starts at once."""

    def run(self, workflow_input: dict, *, timeout: float = 60.0) -> ExecutionResult:
        """Start one execution with a unique name and wait for its result."""
        started = time.perf_counter()
        arn = self.start_execution(workflow_input)
        return self.wait(arn, workflow_input, timeout=timeout, started=started)

    def run_image(self, path: str | Path, key: str, *, timeout: float = 60.0) -> ExecutionResult:
        """Upload an image and run the workflow on it with the seed's input format."""
        self.upload(path, key)
        return self.run({"image_data": "", "s3_bucket": self.bucket, "s3_key": key},
                        timeout=timeout)


class RemoteStack(Stack):
    """A stack that ``scones up`` serves, reached over HTTP (its state file says where)."""

    def __init__(self, state: dict):
        self.state = state
        self.aws_endpoint_url = state["aws_endpoint_url"]
        self.region = state["region"]
        self.bucket = state["bucket"]
        self.state_machine_arns = dict(state["state_machines"])
        self.function_names = dict(state["functions"])
        self.state_machine_arn = self.state_machine_arns[DEFAULT_STATE_MACHINE]
        self._session = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str):
        """A botocore client of the stack's endpoint (boto3's own, without importing boto3);
        one session for all of them, so the second client reuses what the first loaded."""
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    import botocore.session

                    self._session = botocore.session.get_session()
                self._clients[service] = self._session.create_client(
                    service, region_name=self.region, endpoint_url=self.aws_endpoint_url,
                    aws_access_key_id="local", aws_secret_access_key="local")
            return self._clients[service]
