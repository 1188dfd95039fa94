"""The SAM application, deployed into moto in this process: S3 + Lambda + Step Functions.

:class:`LocalStack` reads ``template.yaml`` through :mod:`scones.local.template`, then inside
moto's in-process ``mock_aws`` creates the image bucket, the functions (real
``create_function`` calls: a zip of the code, a role, the template's environment) and the state
machine (the shipped ASL with its ``DefinitionSubstitutions`` resolved to the moto ARNs).
Executions run the real ASL with moto's Step Functions interpreter.

The Lambda seam: with ``{"lambda": {"use_docker": False}}`` moto sends every invoke to
``moto.awslambda_simple.models.LambdaSimpleBackend.invoke(self, function_name, qualifier, body,
headers, response_headers)``. We patch that one method to run our real handler
(:func:`scones.local.lambdas.load_handler`, with the function's environment) and return its
JSON; a raised exception sets ``x-amz-function-error: Unhandled`` and returns the runtime's
error shape, so Step Functions sees ``errorType`` as the error name, as on AWS.
``sagemaker-runtime`` passes through moto to the local HTTP endpoint
(``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` in each function's environment).

moto patches botocore for the whole process: one LocalStack at a time.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from scones.local.template import DEFAULT_TEMPLATE, SamApp, load_app

MOTO_VERSION = "5.2.5"  # the seam below is checked against this version (tests/local)
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "core": {"passthrough": {"services": ["sagemaker-runtime"]}},
}
SEAM_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")
DEFAULT_BUCKET = "scones-local-images"
DEFAULT_STACK_NAME = "scones-local"
DEFAULT_STATE_MACHINE = "ImageClassificationStateMachine"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
POLL_FIRST_S, POLL_BACKOFF, POLL_MAX_S = 0.004, 1.25, 0.05  # describe_execution polling


class StackError(Exception):
    """The local stack cannot be created or used (bad template, moto seam changed, ...)."""


class MotoSeamChangedError(StackError):
    """moto's non-Docker Lambda invoke no longer has the signature this module patches."""


class ExecutionTimeoutError(StackError):
    """An execution did not reach a terminal status in time; carries what is known so far."""

    def __init__(self, message: str, result: ExecutionResult):
        super().__init__(message)
        self.result = result


class UnknownFunctionError(StackError):
    """An invoke named a function this stack does not define."""


def _cached_client_factory(original: Callable) -> Callable:
    """moto's Step Functions builds a new boto3 Lambda client (~5 ms) for every Task. Its
    clients ignore the state's credentials (fixed fake keys) and are thread-safe, so one per
    (region, service) serves every Task."""
    cache: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None):
        with lock:
            if (region, service) not in cache:
                cache[(region, service)] = original(region, service, state_credentials)
            return cache[(region, service)]

    return boto_client_for


def _prime_heap_keys(root: Any) -> None:
    """Give every evaluable component of a parsed ASL program its heap key now.

    moto keeps per-execution state in each execution's own heap, keyed by the component's
    lazily created ``heap_key``; setting every key up front makes a parsed program safe to
    share between concurrent executions (nothing is written to it afterwards)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending = [root]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            _ = item.heap_key
        if isinstance(item, Component):
            pending.extend(vars(item).values())
        elif isinstance(item, (list, tuple, set)):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())


def _cached_program_factory(original: Callable) -> Callable:
    """moto re-parses the ASL (ANTLR, ~10 ms) for every execution; parse each definition once."""
    cache: dict[str, Any] = {}
    lock = threading.Lock()

    def get_evaluation_entrypoint(worker):
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in cache:
                program = original(worker)
                _prime_heap_keys(program)
                cache[definition] = program
            return cache[definition]

    return get_evaluation_entrypoint


_EXECUTION_RECORD_LOCK = threading.Lock()


def _execution_record_patches() -> list:
    """Make an execution's end visible all at once to other threads.

    moto 5.2.5 publishes an execution's end field by field on its worker thread
    (``BaseExecutionWorkerCommunication._reflect_execution_status``: ``exec_status`` first,
    then ``output``, or ``error`` and ``cause``), and ``DescribeExecution`` reads the record
    unlocked from any thread (``StepFunctionResponse.describe_execution`` reads the fields one
    by one). A read in between sees ``SUCCEEDED`` with output ``null`` or
    ``FAILED`` without error: the batch's ``startExecution.sync:2`` poller then hands its
    Map item ``$.Output = null`` (or a Cause with no Error), the item fails and the batch
    reports it as ``LocalItemFailureUnknown``. On AWS DescribeExecution is consistent; here
    one lock makes writing the end and describing an execution mutually exclusive."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.responses import StepFunctionResponse

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status
    describe = StepFunctionResponse.describe_execution

    def reflect_execution_status(communication) -> None:
        with _EXECUTION_RECORD_LOCK:
            reflect(communication)

    def describe_execution(response):
        with _EXECUTION_RECORD_LOCK:
            return describe(response)

    return [mock.patch.object(BaseExecutionWorkerCommunication, "_reflect_execution_status",
                              reflect_execution_status),
            mock.patch.object(StepFunctionResponse, "describe_execution", describe_execution)]


def check_moto_seam() -> None:
    """Fail loudly if moto's version or the patched method's signature is not the expected one."""
    import inspect

    import moto
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.responses import StepFunctionResponse

    params = tuple(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    shims_present = all(callable(getattr(owner, name, None)) for owner, name in (
        (lambda_eval_utils, "boto_client_for"), (ExecutionWorker, "_get_evaluation_entrypoint"),
        (BaseExecutionWorkerCommunication, "_reflect_execution_status"),
        (StepFunctionResponse, "describe_execution")))
    if moto.__version__ != MOTO_VERSION or params != SEAM_PARAMETERS or not shims_present:
        raise MotoSeamChangedError(
            f"moto {moto.__version__}: LambdaSimpleBackend.invoke{params}; this runtime was "
            f"written for moto {MOTO_VERSION} with {SEAM_PARAMETERS}. Pin moto=={MOTO_VERSION} "
            "or update scones/local/stack.py."
        )


@dataclass(frozen=True)
class LocalResource:
    """A data resource of the template, named for moto, with how to create it there."""

    logical_id: str
    kind: str
    name: str  # the physical name
    ref: str  # what !Ref gives (name; URL for a queue; ARN for a topic)
    arn: str
    properties: dict


def _literal(value: Any, default: Any) -> Any:
    """A property value as written, or ``default`` when it is an intrinsic function."""
    return default if isinstance(value, dict) and len(value) == 1 and (
        "Ref" in value or next(iter(value)).startswith("Fn::")) else value


def local_resources(template: dict, *, bucket: str = DEFAULT_BUCKET,
                    stack_name: str = DEFAULT_STACK_NAME) -> list[LocalResource]:
    """The buckets, tables, queues and topics the local stack creates in moto."""
    out = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        default = f"{stack_name}-{logical_id}"
        if kind == "AWS::S3::Bucket":
            name = bucket if logical_id == "ImageBucket" else default.lower()[:63]
            out.append(LocalResource(logical_id, kind, name, name, f"arn:aws:s3:::{name}", props))
        elif kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            name = _literal(props.get("TableName"), None) or default
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            out.append(LocalResource(logical_id, kind, name, name, arn, props))
        elif kind == "AWS::SQS::Queue":
            fifo = _literal(props.get("FifoQueue"), False) in (True, "true")
            name = _literal(props.get("QueueName"), None) or default + (".fifo" if fifo else "")
            url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            out.append(LocalResource(logical_id, kind, name, url, arn, props))
        elif kind == "AWS::SNS::Topic":
            name = _literal(props.get("TopicName"), None) or default
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{name}"
            out.append(LocalResource(logical_id, kind, name, arn, arn, props))
    return out


def load_local_app(template: str | Path = DEFAULT_TEMPLATE, *, bucket: str = DEFAULT_BUCKET,
                   parameters: dict[str, Any] | None = None,
                   stack_name: str = DEFAULT_STACK_NAME) -> SamApp:
    """The template resolved the way the local stack deploys it (resource names, region)."""
    from scones.local.template import load_template

    resources = local_resources(load_template(template), bucket=bucket, stack_name=stack_name)
    return load_app(template, parameters=parameters, stack_name=stack_name, region=REGION,
                    resource_names={r.logical_id: r.ref for r in resources},
                    resource_arns={r.logical_id: r.arn for r in resources})


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


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


class LocalStack:
    """The template deployed in moto; ``with LocalStack(endpoint_url) as stack: stack.run(...)``."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        template: str | Path = DEFAULT_TEMPLATE,
        parameters: dict[str, Any] | None = None,
        bucket: str = DEFAULT_BUCKET,
        stack_name: str = DEFAULT_STACK_NAME,
        extra_env: dict[str, str] | None = None,
        state_machine: str = DEFAULT_STATE_MACHINE,
    ):
        self.template = Path(template)
        self.parameters = dict(parameters or {})
        self.bucket = bucket
        self.stack_name = stack_name
        self.state_machine_id = state_machine
        # what the Lambda runtime sets: handlers create boto3 clients at import
        self.extra_env = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                          **(extra_env or {})}
        if endpoint_url:
            self.extra_env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = endpoint_url
        self.app: SamApp | None = None
        self.state_machine_arn: str | None = None
        self._handlers: dict[str, Any] = {}  # function name -> LocalFunction
        self._mock = None
        self._patches: list = []
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalStack:
        check_moto_seam()
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        from scones.local.lambdas import load_handler

        self.app = load_local_app(self.template, bucket=self.bucket, parameters=self.parameters,
                                  stack_name=self.stack_name)
        if self.state_machine_id not in self.app.state_machines:
            raise StackError(f"{self.template} defines no {self.state_machine_id}")
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
            lambda_eval_utils,
        )
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        self._patches = [
            mock.patch.object(LambdaSimpleBackend, "invoke", self._seam()),
            mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint",
                              _cached_program_factory(ExecutionWorker._get_evaluation_entrypoint)),
            mock.patch.object(lambda_eval_utils, "boto_client_for",
                              _cached_client_factory(lambda_eval_utils.boto_client_for)),
            *_execution_record_patches(),
        ]
        for patch in self._patches:
            patch.start()
        try:
            self._create_resources()
            role = self._create_role()
            for spec in self.app.functions.values():
                self._handlers[spec.function_name] = load_handler(spec, self.extra_env)
                self._create_function(spec, role)
            machine = self.app.state_machines[self.state_machine_id]
            self.state_machine_arn = self.client("stepfunctions").create_state_machine(
                name=machine.name, definition=machine.definition, roleArn=role,
                type=machine.type,
            )["stateMachineArn"]
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
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

    # -- the Lambda seam --------------------------------------------------------------------
    def _seam(self):
        handlers = self._handlers

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            is_arn = function_name.startswith("arn:")
            name = function_name.split(":")[6] if is_arn else function_name
            function = handlers.get(name)
            if function is None:
                raise UnknownFunctionError(f"no local handler for Lambda function {function_name}")
            raw = body.decode() if isinstance(body, bytes) else body
            result = function.invoke(json.loads(raw) if raw else {})
            if result.failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result.payload).encode()

        return invoke

    # -- resources ------------------------------------------------------------------------
    def _create_resources(self) -> None:
        resources = local_resources(self.app.template, bucket=self.bucket,
                                    stack_name=self.stack_name)
        if self.bucket not in {r.name for r in resources}:  # the bucket `upload` writes to
            self.client("s3").create_bucket(Bucket=self.bucket)
        for resource in resources:
            props = resource.properties
            if resource.kind == "AWS::S3::Bucket":
                self.client("s3").create_bucket(Bucket=resource.name)
            elif resource.kind == "AWS::Serverless::SimpleTable":
                key = _literal(props.get("PrimaryKey"), None) or {"Name": "id", "Type": "String"}
                self.client("dynamodb").create_table(
                    TableName=resource.name, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": key["Name"], "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": key["Name"],
                                           "AttributeType": key["Type"][0].upper()}])
            elif resource.kind == "AWS::DynamoDB::Table":
                extra = {k: props[k] for k in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
                         if isinstance(props.get(k), list)}
                self.client("dynamodb").create_table(
                    TableName=resource.name, BillingMode="PAY_PER_REQUEST",
                    KeySchema=props["KeySchema"],
                    AttributeDefinitions=props["AttributeDefinitions"], **{
                        k: [{kk: vv for kk, vv in index.items() if kk != "ProvisionedThroughput"}
                            for index in v] for k, v in extra.items()})
            elif resource.kind == "AWS::SQS::Queue":
                attributes = {"FifoQueue": "true"} if resource.name.endswith(".fifo") else {}
                self.client("sqs").create_queue(QueueName=resource.name, Attributes=attributes)
            elif resource.kind == "AWS::SNS::Topic":
                self.client("sns").create_topic(Name=resource.name)

    def _create_role(self) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {
                "Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}],
        }
        return self.client("iam").create_role(
            RoleName=f"{self.stack_name}-role", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]

    def _create_function(self, spec, role: str) -> None:
        self.client("lambda").create_function(
            FunctionName=spec.function_name, Runtime=spec.runtime, Role=role,
            Handler=spec.handler, Code={"ZipFile": _zip_directory(spec.code_dir)},
            Timeout=spec.timeout, MemorySize=spec.memory_size,
            Architectures=list(spec.architectures),
            Environment={"Variables": {**spec.environment, **self.extra_env}},
        )

    # -- using the stack ------------------------------------------------------------------
    def upload(self, path: str | Path, key: str) -> str:
        """Put a file into the image bucket; returns its key."""
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=Path(path).read_bytes())
        return key

    def invoke_function(self, logical_id: str, event: Any) -> tuple[bool, Any]:
        """Invoke one function through moto's Lambda API (the seam); (failed, payload)."""
        if logical_id not in self.app.functions:
            raise UnknownFunctionError(
                f"{logical_id!r} is not a function of {self.template.name}; "
                f"choose one of {sorted(self.app.functions)}"
            )
        response = self.client("lambda").invoke(
            FunctionName=self.app.functions[logical_id].function_name,
            Payload=json.dumps(event).encode(),
        )
        return "FunctionError" in response, json.loads(response["Payload"].read())

    def start_execution(self, workflow_input: dict, name: str | None = None) -> str:
        name = name or f"local-{uuid.uuid4()}"
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(workflow_input)
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
