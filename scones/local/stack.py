"""The SAM application deployed into moto in this process, and its executions.

:class:`LocalStack` starts moto's in-process ``mock_aws`` with the patches of
:mod:`scones.local.moto_adapter`, deploys ``template.yaml`` with :func:`scones.local.deploy.deploy`
(``sam package`` + the SAM transform + CloudFormation ``create_stack``), loads each function's
real handler (:mod:`scones.local.lambdas`) and starts event delivery (:mod:`scones.local.events`).
Executions run the real ASL in moto's Step Functions interpreter; every Lambda invoke runs our
handler with the environment the stack gave the function; ``sagemaker-runtime`` passes through
moto to the local HTTP endpoint (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``).

moto patches botocore for the whole process: one LocalStack at a time. What a client of any
stack does (upload, start, wait, the execution's result) is :mod:`scones.local.client`; its
names are importable from here too.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from scones.local import moto_adapter
from scones.local.client import (  # noqa: F401 (re-exported: the stack's clients import them)
    BATCH_STATE_MACHINE,
    DEFAULT_STATE_MACHINE,
    TERMINAL,
    ExecutionResult,
    ExecutionTimeoutError,
    RemoteStack,
    Stack,
    StackError,
    UnknownFunctionError,
    summarize_history,
)
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
END_CHECK_S = 1.0  # while waiting for an execution's end, DescribeExecution this often
STOP_WAIT_S = 30.0  # stop() waits this long at most for the function invocations under way


class LocalStack(Stack):
    """The template deployed in moto; ``with LocalStack(endpoint_url) as stack: stack.run(...)``.

    ``bucket``: where :meth:`upload` writes; the stack's ``ImageBucket`` unless given (a
    bucket the stack does not define is created, e.g. the one an event file names).
    """

    region = REGION

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
        self.ends = moto_adapter.ExecutionEnds()  # the executions moto ended
        self._running = threading.Condition()  # guards the two below
        self._in_flight = 0  # function invocations under way
        self._stopping = False  # set by stop(): no new invocation starts

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LocalStack:
        from moto import mock_aws

        self._stopping = False
        self.events = LocalEvents(self)
        self._patches = moto_adapter.all_patches(self._run_function, self.events.execution_ended,
                                                 self.events.deliver,
                                                 self.sagemaker.run_training_job,
                                                 self.sagemaker.swap_model, self.ends)
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
        """Stop the events, the executions still running and (waiting up to
        ``STOP_WAIT_S`` for those under way) the functions, then the emulated AWS. Nothing of
        this stack runs on after it: a leftover invocation would write into the next stack of
        the same process, whose resources have the same names."""
        if self.events is not None:
            self.events.stop()
        with self._running:
            self._stopping = True
        if self._mock is not None and self.state_machine_arns:
            self._stop_executions()
        with self._running:
            self._running.wait_for(lambda: self._in_flight == 0, timeout=STOP_WAIT_S)
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

    # -- executions ---------------------------------------------------------------------
    def _until_end(self, execution_arn: str, deadline: float) -> None:
        """In this process the end is known when moto reaches it: :meth:`wait`'s first
        DescribeExecution comes then, instead of a poll every few milliseconds, each a whole
        API round trip through moto (the poll still reads the result, and ends the wait by the
        deadline if the end never comes; a check each second covers an end moto never
        reports)."""
        sfn = self.client("stepfunctions")
        while not self.ends.wait(execution_arn, min(END_CHECK_S, deadline - time.monotonic())):
            if (time.monotonic() >= deadline or sfn.describe_execution(
                    executionArn=execution_arn)["status"] in TERMINAL):
                break
        self.ends.forget(execution_arn)

    def _stop_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for arn in self.state_machine_arns.values():
            try:
                running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")
                for execution in running["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"],
                                       error="StackStopped", cause="the local stack stopped")
            except Exception:  # noqa: BLE001 - best effort: the stack goes away regardless
                continue

    def _run_function(self, name: str, event: Any) -> tuple[bool, Any]:
        function = self._handlers.get(name)
        if function is None:
            raise UnknownFunctionError(f"no local handler for Lambda function {name}")
        with self._running:
            if self._stopping:
                return True, {"errorType": "StackStopped",
                              "errorMessage": "the local stack stopped: not invoked"}
            self._in_flight += 1
        try:
            result = function.invoke(event)
        finally:
            with self._running:
                self._in_flight -= 1
                self._running.notify_all()
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
