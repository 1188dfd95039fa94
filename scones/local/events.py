"""Event-driven operation on this machine: EventBridge rules, the batch state machine, alerts.

:class:`LocalEvents` adds to a started :class:`~scones.local.stack.LocalStack` what the
template's issue-6 resources do on AWS:

* **EventBridge delivery, emulated.** moto 5.2.5's events backend matches patterns but cannot
  deliver to Step Functions, SNS or Lambda targets, and it never sees Step Functions status
  changes. So the template's ``AWS::Events::Rule`` resources (their real ``EventPattern`` and
  ``Targets``, resolved like CloudFormation would) are applied here: patterns are matched with
  moto's EventBridge pattern engine (:class:`moto.events.models.EventPattern`: prefix,
  anything-but, ``$or``, ...), each target's ``InputTransformer`` is applied with EventBridge's
  rules (:func:`transform_input`), and the result is delivered with the real API call
  (``states:StartExecution``, ``sns:Publish``, ``lambda:Invoke``: the real handler) against
  moto. A Lambda target is invoked synchronously (EventBridge invokes it asynchronously): an
  error surfaces at once in :attr:`LocalEvents.errors`.
* **Where the events come from.** S3 ``Object Created`` events are moto's own: the image bucket
  has EventBridge notifications on (as in the template), and a tap rule in moto's default bus
  forwards every ``aws.s3`` event to an SQS queue this module drains. ``Step Functions Execution
  Status Change`` events are built from ``DescribeExecution`` (AWS's event shape: status, error,
  cause, input, ...) for executions of the template's state machines that end FAILED,
  TIMED_OUT or ABORTED (the statuses an alert cares about; RUNNING/SUCCEEDED are not emitted);
  moto's execution worker tells us when one ends (its ``terminated`` hook), no polling.
* **The batch state machine** (``BatchClassificationStateMachine``), created beside the
  per-image one under the name its template ``Name`` gives it.
* **ResultWriter files.** moto writes only an empty ``manifest.json``; here the Distributed
  Map's results are written as AWS does (``SUCCEEDED_0.json`` with each item's ``Output``),
  so the summary function reads real files. A failed item is reported by moto as ``null``
  without its error: it is written to ``FAILED_0.json`` with error ``LocalItemFailureUnknown``.
* **Alerts you can read.** An SQS queue subscribed (raw delivery) to every SNS topic of the
  template: :meth:`LocalEvents.messages` returns what an e-mail subscriber would have received.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

from scones.local.stack import (
    DEFAULT_BUCKET,
    DEFAULT_STACK_NAME,
    REGION,
    LocalStack,
    local_resources,
)
from scones.local.template import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_PARTITION,
    SamApp,
    _Resolver,  # the template's own intrinsic-function evaluator
)

BATCH_STATE_MACHINE = "BatchClassificationStateMachine"
RULE_TYPE = "AWS::Events::Rule"
STATUS_CHANGE = "Step Functions Execution Status Change"
ALERT_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
POLL_S = 0.05
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
_PATH = re.compile(r"^\$(\.[A-Za-z0-9_-]+)*$")


class EventsError(Exception):
    """The template's rules cannot be emulated (unsupported target, path or transformer)."""


class UnsupportedTargetError(EventsError):
    """A rule target is not a state machine, an SNS topic or a Lambda function."""


class TargetFunctionError(EventsError):
    """A Lambda function target raised (on AWS: retried, then sent to its OnFailure queue)."""


class InvalidInputPathError(EventsError):
    """An InputPathsMap value is not a simple ``$.a.b`` path."""


# --------------------------------------------------------------------------- pure parts


def read_path(event: Any, path: str) -> Any:
    """The value at a ``$.a.b`` JSONPath, or None when absent (EventBridge's InputPathsMap)."""
    if not _PATH.match(path):
        raise InvalidInputPathError(f"InputPathsMap path {path!r} is not of the form $.a.b")
    value = event
    for part in path.split(".")[1:]:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def transform_input(event: dict, transformer: dict | None, rule_name: str = "") -> str:
    """The target input EventBridge builds from ``event`` with an ``InputTransformer``.

    Without a transformer the whole event. A placeholder inside a JSON string is replaced by
    the value's text (escaped); outside a string by the value as JSON (strings quoted, a
    missing path as ``null``), as EventBridge does.
    """
    if not transformer:
        return json.dumps(event)
    values = {name: read_path(event, path)
              for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values["aws.events.event.json"] = event
    values["aws.events.rule-name"] = rule_name
    template = transformer["InputTemplate"]
    out, in_string, i = [], False, 0
    while i < len(template):
        char = template[i]
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps("" if value is None else text)[1:-1])
            else:
                out.append(json.dumps(value))
            i = match.end()
            continue
        if char == '"' and (i == 0 or template[i - 1] != "\\"):
            in_string = not in_string
        out.append(char)
        i += 1
    return "".join(out)


def status_change_event(description: dict, *, account: str, region: str) -> dict:
    """A "Step Functions Execution Status Change" event as EventBridge receives it."""

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    stop = description.get("stopDate")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "account": account,
        "time": (stop or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [description["executionArn"]],
        "detail": {
            "executionArn": description["executionArn"],
            "stateMachineArn": description["stateMachineArn"],
            "name": description["name"],
            "status": description["status"],
            "startDate": millis(description.get("startDate")),
            "stopDate": millis(stop),
            "input": description.get("input"),
            "output": description.get("output"),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if description.get("output") else None,
            "error": description.get("error"),
            "cause": description.get("cause"),
        },
    }


@dataclass(frozen=True)
class Rule:
    """One AWS::Events::Rule of the template, resolved."""

    logical_id: str
    pattern: dict
    targets: list[dict]

    def matches(self, event: dict) -> bool:
        from moto.events.models import EventPattern

        return EventPattern.load(json.dumps(self.pattern)).matches_event(event)


@dataclass
class Delivery:
    """What one rule target received."""

    rule: str
    target: str
    input: str
    result: str  # execution ARN or SNS message id


def template_resolver(app: SamApp, *, bucket: str = DEFAULT_BUCKET,
                      stack_name: str = DEFAULT_STACK_NAME) -> _Resolver:
    """The template's evaluator with the names and ARNs the local stack deploys."""
    resources = local_resources(app.template, bucket=bucket, stack_name=stack_name)
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": DEFAULT_ACCOUNT_ID,
              "AWS::Partition": DEFAULT_PARTITION, "AWS::StackName": stack_name,
              "AWS::URLSuffix": "amazonaws.com"}
    return _Resolver(app.template, app.parameters, pseudo,
                     {r.logical_id: r.ref for r in resources},
                     {r.logical_id: r.arn for r in resources})


def load_rules(app: SamApp, resolver: _Resolver) -> list[Rule]:
    """The template's rules (Condition honoured) with patterns and targets resolved."""
    rules = []
    for logical_id, resource in app.template["Resources"].items():
        if resource.get("Type") != RULE_TYPE:
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        props = resource.get("Properties") or {}
        # What delivery needs; RoleArn, RetryPolicy and DeadLetterConfig only matter on AWS.
        targets = [{key: resolver.resolve(target[key]) for key in ("Id", "Arn", "InputTransformer")
                    if key in target} for target in props.get("Targets") or []]
        rules.append(Rule(logical_id, resolver.resolve(props.get("EventPattern") or {}), targets))
    return rules


# --------------------------------------------------------------------------- ResultWriter


def _write_result_files(env, resource_runtime_part, state_credentials) -> None:
    """moto's ResultWriter ``s3:putObject`` handler, writing the result files AWS writes."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    parameters = env.stack.pop()
    results = env.stack.pop()
    s3 = boto_client_for(service="s3", region=resource_runtime_part.region,
                         state_credentials=state_credentials)
    map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
    map_run_id = map_run_arn.split(":")[-1]
    prefix = parameters["Prefix"]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    bucket, base = parameters["Bucket"], f"{prefix}{map_run_id}/"
    now = datetime.now(UTC).isoformat()
    files: dict[str, list] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for index, output in enumerate(results or []):
        entry = {"ExecutionArn": f"{map_run_arn}:{index}", "Name": str(index),
                 "StartDate": now, "StopDate": now, "Input": None}
        if output is None:
            files["FAILED"].append({**entry, "Status": "FAILED",
                                    "Error": "LocalItemFailureUnknown",
                                    "Cause": "moto 5.2.5 reports a failed Map item as null, "
                                             "without its error and cause"})
        else:
            files["SUCCEEDED"].append({**entry, "Status": "SUCCEEDED",
                                       "Output": json.dumps(output)})
    manifest: dict[str, Any] = {"DestinationBucket": bucket, "MapRunArn": map_run_arn,
                                "ResultFiles": {status: [] for status in files}}
    for status, entries in files.items():
        if entries:
            body = json.dumps(entries).encode()
            key = f"{base}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
    key = f"{base}manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append({"MapRunArn": map_run_arn,
                      "ResultWriterDetails": {"Bucket": bucket, "Key": key}})


# --------------------------------------------------------------------------- states:startExecution


def _sfn_cased(data: dict) -> None:
    """Top-level keys as Step Functions shows them (``executionArn`` -> ``ExecutionArn``)."""
    for key in list(data):
        data[key[:1].upper() + key[1:]] = data.pop(key)


def _boto_cased(data: dict) -> None:
    """Top-level keys as boto3's stepfunctions client takes them (``StateMachineArn`` ->
    ``stateMachineArn``)."""
    for key in list(data):
        data[key[:1].lower() + key[1:]] = data.pop(key)


def sfn_integration_patches() -> list:
    """moto 5.2.5's ``states:startExecution`` integration hands the ASL's parameters to boto3
    unconverted (``KeyError: 'StateMachineArn'``), the responses back unconverted (its
    ``_normalise_*`` hooks are empty) and names every child ``None``. These patches convert
    both ways and name a child with a UUID, as Step Functions does, so ``.sync``/``.sync:2``
    child executions run."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )

    cls = state_task_service_sfn.StateTaskServiceSfn
    original_parameters, original_task = cls._normalise_parameters, cls._eval_service_task

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        original_parameters(self, parameters, boto_service_name, service_action_name)
        _boto_cased(parameters)
        if self._get_boto_service_action() == "start_execution":
            parameters.setdefault("name", str(uuid.uuid4()))  # AWS names it when Name is absent

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if isinstance(response, dict):
            _sfn_cased(response)

    def eval_service_task(self, env, *args, **kwargs):
        original_task(self, env, *args, **kwargs)
        _sfn_cased(env.stack[-1])

    return [mock.patch.object(cls, "_normalise_parameters", normalise_parameters),
            mock.patch.object(cls, "_normalise_response", normalise_response),
            mock.patch.object(cls, "_eval_service_task", eval_service_task)]


# --------------------------------------------------------------------------- the runtime


@dataclass
class LocalEvents:
    """Rules, batch state machine, result files and alerts on top of a started LocalStack."""

    stack: LocalStack
    poll_s: float = POLL_S
    rules: list[Rule] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    batch_state_machine_arn: str | None = None
    errors: list[str] = field(default_factory=list)
    ended: Counter = field(default_factory=Counter)  # state machine ARN -> executions ended

    def __post_init__(self) -> None:
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._patches: list = []
        self._ended: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._tap_queue: str | None = None
        self._alert_queue: str | None = None
        self._machines: list[str] = []

    # -- lifecycle
    def start(self) -> LocalEvents:
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
            resource_eval_s3,
        )
        from moto.stepfunctions.parser.backend import execution as moto_execution

        communication = moto_execution.BaseExecutionWorkerCommunication
        original_terminated = communication.terminated

        def terminated(worker_communication) -> None:
            original_terminated(worker_communication)
            self._on_terminated(worker_communication.execution)

        self._patches = [mock.patch.object(resource_eval_s3.ResourceEvalS3, "_handle_put_object",
                                           staticmethod(_write_result_files)),
                         mock.patch.object(communication, "terminated", terminated),
                         *sfn_integration_patches()]
        for patch in self._patches:
            patch.start()
        self.rules = load_rules(self.stack.app, self._resolver())
        self._create_batch_state_machine()
        self._machines = [self.stack.state_machine_arn] + (
            [self.batch_state_machine_arn] if self.batch_state_machine_arn else [])
        self._tap_s3_events()
        self._subscribe_to_topics()
        self._thread = threading.Thread(target=self._loop, name="local-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        while self._patches:
            self._patches.pop().stop()

    def __enter__(self) -> LocalEvents:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- set-up
    def _resolver(self) -> _Resolver:
        return template_resolver(self.stack.app, bucket=self.stack.bucket,
                                 stack_name=self.stack.stack_name)

    def _create_batch_state_machine(self) -> None:
        machine = self.stack.app.state_machines.get(BATCH_STATE_MACHINE)
        if machine is None:
            return
        resolver = self._resolver()
        props = self.stack.app.template["Resources"][BATCH_STATE_MACHINE]["Properties"]
        name = resolver.resolve(props.get("Name")) or machine.name
        sfn = self.stack.client("stepfunctions")
        role = self.stack.client("iam").get_role(
            RoleName=f"{self.stack.stack_name}-role")["Role"]["Arn"]
        self.batch_state_machine_arn = sfn.create_state_machine(
            name=name, definition=machine.definition, roleArn=role, type=machine.type,
        )["stateMachineArn"]

    def _tap_s3_events(self) -> None:
        """Every aws.s3 event moto emits for the bucket -> an SQS queue this module drains."""
        s3, events, sqs = (self.stack.client(s) for s in ("s3", "events", "sqs"))
        s3.put_bucket_notification_configuration(
            Bucket=self.stack.bucket,
            NotificationConfiguration={"EventBridgeConfiguration": {}})
        self._tap_queue = sqs.create_queue(QueueName="scones-local-s3-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._tap_queue,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="scones-local-s3-tap",
                        EventPattern=json.dumps({"source": ["aws.s3"]}))
        events.put_targets(Rule="scones-local-s3-tap", Targets=[{"Id": "tap", "Arn": queue_arn}])

    def _subscribe_to_topics(self) -> None:
        sns, sqs = self.stack.client("sns"), self.stack.client("sqs")
        self._alert_queue = sqs.create_queue(QueueName="scones-local-sns-messages")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._alert_queue,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic in sns.list_topics()["Topics"]:
            sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=queue_arn,
                          Attributes={"RawMessageDelivery": "true"})

    # -- delivery
    def route(self, event: dict) -> list[Delivery]:
        """Apply every matching rule's targets to one event (what EventBridge does)."""
        delivered = []
        for rule in self.rules:
            if not rule.matches(event):
                continue
            for target in rule.targets:
                text = transform_input(event, target.get("InputTransformer"), rule.logical_id)
                delivered.append(self._deliver(rule.logical_id, target, text))
        with self._lock:
            self.deliveries.extend(delivered)
        return delivered

    def _deliver(self, rule: str, target: dict, text: str) -> Delivery:
        arn = target["Arn"]
        service = arn.split(":")[2]
        if service == "states":
            result = self.stack.client("stepfunctions").start_execution(
                stateMachineArn=arn, name=str(uuid.uuid4()), input=text)["executionArn"]
        elif service == "sns":
            result = self.stack.client("sns").publish(TopicArn=arn, Message=text)["MessageId"]
        elif service == "lambda":
            # EventBridge invokes asynchronously; here synchronously, so an error surfaces at once
            response = self.stack.client("lambda").invoke(FunctionName=arn, Payload=text.encode())
            body = response["Payload"].read().decode()
            if response.get("FunctionError"):
                raise TargetFunctionError(f"{rule}: {arn} failed: {body}")
            result = body
        else:
            raise UnsupportedTargetError(
                f"{rule}: target {arn} is not a state machine, topic or function")
        return Delivery(rule=rule, target=arn, input=text, result=result)

    # -- event sources
    def pump_s3_events(self) -> int:
        sqs, n = self.stack.client("sqs"), 0
        while True:
            messages = sqs.receive_message(QueueUrl=self._tap_queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return n
            for message in messages:
                self.route(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self._tap_queue,
                                   ReceiptHandle=message["ReceiptHandle"])
                n += 1

    def _on_terminated(self, execution: Any) -> None:
        """Called by moto when an execution ends (any state machine, any thread)."""
        status = getattr(execution.exec_status, "value", execution.exec_status)
        with self._lock:
            self.ended[execution.state_machine_arn] += 1
        if status in ALERT_STATUSES and execution.state_machine_arn in self._machines:
            self._ended.put(execution.execution_arn)

    def pump_status_changes(self) -> int:
        sfn, n = self.stack.client("stepfunctions"), 0
        while True:
            try:
                arn = self._ended.get_nowait()
            except queue.Empty:
                return n
            if arn in self._seen:
                continue
            self._seen.add(arn)
            description = sfn.describe_execution(executionArn=arn)
            self.route(status_change_event(description, account=DEFAULT_ACCOUNT_ID,
                                           region=sfn.meta.region_name))
            n += 1

    def pump(self) -> int:
        """Deliver everything pending now; the number of events handled."""
        with self._pump_lock:
            return self.pump_s3_events() + self.pump_status_changes()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.pump()
            except Exception as exc:  # keep delivering; surface the problem to callers
                self.errors.append(f"{type(exc).__name__}: {exc}")

    # -- reading what was sent
    def messages(self) -> list[str]:
        """SNS messages published since the last call (raw, as an e-mail would carry them)."""
        sqs, out = self.stack.client("sqs"), []
        while True:
            batch = sqs.receive_message(QueueUrl=self._alert_queue, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(message["Body"])
                sqs.delete_message(QueueUrl=self._alert_queue,
                                   ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Poll ``predicate`` (pumping events) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(self.poll_s)
