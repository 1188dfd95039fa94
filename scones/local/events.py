"""Event-driven operation of the local stack: EventBridge deliveries and SNS alerts.

The template's ``AWS::Events::Rule`` resources are created by CloudFormation in moto and
matched by moto's EventBridge: S3 "Object Created" events of the image bucket arrive there as
on AWS. What moto does not do is done through :mod:`scones.local.moto_adapter`: a rule's state
machine, topic or function target is handed to :meth:`LocalEvents.deliver` with the input
EventBridge builds, and every execution's end is put on the default bus as the "Step Functions
Execution Status Change" event AWS sends. Deliveries run on a background thread, in order, as
EventBridge delivers asynchronously: a function target is invoked asynchronously on AWS, and an
error it raises is kept in :attr:`LocalEvents.errors` (on AWS: retried, then dead-lettered).

SNS: an SQS queue subscribed (raw delivery) to every topic of the stack;
:meth:`LocalEvents.messages` returns what an e-mail subscriber would have received.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scones.local.moto_adapter import STATUS_CHANGE, UnsupportedTargetError, put_service_events

POLL_S = 0.05


class TargetFunctionError(Exception):
    """A Lambda function target raised (on AWS: retried, then sent to its dead-letter queue)."""


@dataclass
class Delivery:
    """What one rule target received."""

    rule: str  # the rule's logical id in the template
    target: str
    input: str
    result: str  # execution ARN, SNS message id or the function's response


class LocalEvents:
    """Deliveries and alerts of one started :class:`~scones.local.stack.LocalStack`."""

    def __init__(self, stack: Any, poll_s: float = POLL_S):
        self.stack = stack
        self.poll_s = poll_s
        self.deliveries: list[Delivery] = []
        self.errors: list[str] = []
        self.ended: Counter = Counter()  # state machine ARN -> executions ended
        self._pending: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pump_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._alert_queue: str | None = None
        self._logical_ids: dict[str, str] = {}  # physical name -> logical id (rules)

    # -- lifecycle
    def start(self) -> LocalEvents:
        self._logical_ids = {name: key for key, name in self.stack.deployment.resources.items()}
        self._subscribe_to_topics()
        self._thread = threading.Thread(target=self._loop, name="local-events", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _subscribe_to_topics(self) -> None:
        sns, sqs = self.stack.client("sns"), self.stack.client("sqs")
        self._alert_queue = sqs.create_queue(QueueName="scones-local-sns-messages")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._alert_queue,
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic in sns.list_topics()["Topics"]:
            sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=queue_arn,
                          Attributes={"RawMessageDelivery": "true"})

    # -- what moto hands over (any thread)
    def deliver(self, rule: str, target: dict, text: str) -> None:
        """A matched rule's state machine, topic or function target, with its input."""
        self._pending.put(("target", rule, target, text))

    def execution_ended(self, detail: dict) -> None:
        """An execution ended: count it and put its status-change event on the bus."""
        with self._lock:
            self.ended[detail["stateMachineArn"]] += 1
        self._pending.put(("status", detail))

    # -- delivery
    def pump(self) -> int:
        """Deliver everything pending now; the number of items handled."""
        n = 0
        with self._pump_lock:
            while True:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    return n
                n += 1
                try:
                    if item[0] == "status":
                        self._put_status_change(item[1])
                    else:
                        self._deliver(*item[1:])
                except Exception as exc:  # keep delivering; surface the problem to callers
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _put_status_change(self, detail: dict) -> None:
        put_service_events(detail["executionArn"], [{
            "Source": "aws.states", "DetailType": STATUS_CHANGE, "Detail": json.dumps(detail),
            "Resources": [detail["executionArn"]]}])

    def _deliver(self, rule: str, target: dict, text: str) -> None:
        arn = target["Arn"]
        service = arn.split(":")[2]
        if service == "states":
            result = self.stack.client("stepfunctions").start_execution(
                stateMachineArn=arn, name=str(uuid.uuid4()), input=text)["executionArn"]
        elif service == "sns":
            result = self.stack.client("sns").publish(TopicArn=arn, Message=text)["MessageId"]
        elif service == "lambda":
            response = self.stack.client("lambda").invoke(FunctionName=arn, Payload=text.encode())
            result = response["Payload"].read().decode()
            if response.get("FunctionError"):
                raise TargetFunctionError(f"{rule}: {arn} failed: {result}")
        else:
            raise UnsupportedTargetError(f"{rule}: target {arn} is not delivered locally")
        with self._lock:
            self.deliveries.append(Delivery(rule=self._logical_ids.get(rule, rule), target=arn,
                                            input=text, result=result))

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.pump()

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
        """Poll ``predicate`` (delivering pending events) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = predicate()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(self.poll_s)
