"""The SAM application deployed into moto in this process, and its executions.

:class:`LocalStack` starts moto's in-process ``mock_aws`` with the patches of
:mod:`scones.local.moto_adapter`, deploys ``template.yaml`` with :func:`scones.local.deploy.deploy`
(``sam package`` + the SAM transform + CloudFormation ``create_stack``), loads each function's
real handler (:mod:`scones.local.lambdas`) and starts event delivery (:mod:`scones.local.events`).
Executions run the real ASL in moto's Step Functions interpreter; every Lambda invoke runs our
handler with the environment the stack gave the function; ``sagemaker-runtime`` passes through
moto to the local HTTP endpoint (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``).

moto patches botocore for the whole process: one LocalStack at a time.
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

from scones.local import moto_adapter
from scones.local.deploy import (
    DEFAULT_STACK_NAME,
    DEFAULT_TEMPLATE,
    REGION,
    Deployment,
    deploy,
)
from scones.local.events import LocalEvents
from scones.local.lambdas import load_handler
from scones.local.sagemaker import LocalSageMaker

MOTO_CONFIG = moto_adapter.MOTO_CONFIG
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
    ``states``, ``retries``, ``failed_state`` or ``last_inference`` and then kept.
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
    _history: list[dict] | None = field(default=None, repr=False)
    _summary: dict | None = field(default=None, repr=False)

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
        if isinstance(self.output, dict) and "inferences" in self.output:
            return self.output
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

    region = REGION
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

    def wait(self, execution_arn: str, workflow_input: dict, *, timeout: float = 60.0,
             started: float | None = None) -> ExecutionResult:
        """Poll describe_execution until any terminal status or ``timeout`` (then raise)."""
        sfn = self.client("stepfunctions")
        started = started if started is not None else time.perf_counter()
        deadline = time.monotonic() + timeout
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
        )
        if result.status not in TERMINAL:
            raise ExecutionTimeoutError(
                f"execution {result.name} still {result.status} after {timeout} s "
                f"(states so far: {result.states})", result,
            )
        if result.status != "SUCCEEDED" and not result.error:
            result.error, result.cause = result.summary["error"], result.summary["cause"]
        return result

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
        self.bucket = state["bucket"]
        self.state_machine_arns = dict(state["state_machines"])
        self.function_names = dict(state["functions"])
        self.state_machine_arn = self.state_machine_arns[DEFAULT_STATE_MACHINE]
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                import botocore.session  # boto3's own client, without importing boto3

                self._clients[service] = botocore.session.get_session().create_client(
                    service, region_name=REGION, endpoint_url=self.aws_endpoint_url,
                    aws_access_key_id="local", aws_secret_access_key="local")
            return self._clients[service]


class LocalStack(Stack):
    """The template deployed in moto; ``with LocalStack(endpoint_url) as stack: stack.run(...)``.

    ``bucket``: where :meth:`upload` writes; the stack's ``ImageBucket`` unless given (a
    bucket the stack does not define is created, e.g. the one an event file names).
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        template: str | Path = DEFAULT_TEMPLATE,
        parameters: dict[str, Any] | None = None,
        bucket: str | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        extra_env: dict[str, str] | None = None,
        state_machine: str = DEFAULT_STATE_MACHINE,
        workdir: str | Path | None = None,
    ):
        self.template = Path(template)
        # training jobs and endpoint updates (the retraining workflow), in workdir or a temp dir
        self.sagemaker = LocalSageMaker(lambda: self.client("s3"), endpoint_url, workdir)
        self.parameters = dict(parameters or {})
        self.bucket = bucket
        self.stack_name = stack_name
        self.state_machine_id = state_machine
        # what the Lambda runtime sets: handlers create boto3 clients at import
        self.extra_env = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                          **(extra_env or {})}
        if endpoint_url:
            self.extra_env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = endpoint_url
        self.deployment: Deployment | None = None
        self.state_machine_arn: str | None = None
        self.state_machine_arns: dict[str, str] = {}
        self.function_names: dict[str, str] = {}
        self.events: LocalEvents | None = None
        self._handlers: dict[str, Any] = {}  # function name -> LocalFunction
        self._mock = None
        self._patches: list = []
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalStack:
        from moto import mock_aws

        self.events = LocalEvents(self)
        self._patches = moto_adapter.all_patches(self._run_function, self.events.execution_ended,
                                                 self.events.deliver,
                                                 self.sagemaker.run_training_job,
                                                 self.sagemaker.swap_model)
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        try:
            for patch in self._patches:
                patch.start()
            self.deployment = deploy(self.template, parameters=self.parameters,
                                     stack_name=self.stack_name)
            machine = self.deployment.state_machines.get(self.state_machine_id)
            if machine is None:
                raise StackError(f"{self.template} defines no {self.state_machine_id}")
            self.state_machine_arn = machine.arn
            self.state_machine_arns = {k: m.arn for k, m in self.deployment.state_machines.items()}
            self.function_names = {k: f.name for k, f in self.deployment.functions.items()}
            for function in self.deployment.functions.values():
                self._handlers[function.name] = load_handler(function, self.extra_env)
            self.bucket = self.bucket or self.deployment.resources.get("ImageBucket")
            if self.bucket and self.bucket not in self.deployment.resources.values():
                self.client("s3").create_bucket(Bucket=self.bucket)
            self.events.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.events is not None:
            self.events.stop()
        while self._patches:
            self._patches.pop().stop()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self._clients.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                import boto3

                self._clients[service] = boto3.client(service, region_name=REGION)
            return self._clients[service]

    def _run_function(self, name: str, event: Any) -> tuple[bool, Any]:
        function = self._handlers.get(name)
        if function is None:
            raise UnknownFunctionError(f"no local handler for Lambda function {name}")
        result = function.invoke(event)
        return result.failed, result.payload

    # -- changing the deployed code (what `sam sync` does) --------------------------------
    def reload_function(self, logical_id: str) -> None:
        """Import the function's handler again from its code (a fresh cold start)."""
        function = self.deployment.functions[logical_id]
        self._handlers[function.name] = load_handler(function, self.extra_env)

    def update_definition(self, logical_id: str, text: str) -> None:
        """Deploy a changed ASL file: the stack's substitutions filled in again."""
        machine = self.deployment.state_machines[logical_id]
        definition = moto_adapter.substitute_definition(text, machine.substitutions)
        self.client("stepfunctions").update_state_machine(stateMachineArn=machine.arn,
                                                          definition=definition)
