"""Every adaptation of moto the local runtime makes, one small function per gap.

Checked against moto 5.2.5 (:func:`check_moto`). Where moto does the job it is used as it is:
CloudFormation ``create_stack`` (names, ``Ref``/``GetAtt``/``Sub``, conditions, functions,
tables, queues, topics, rules, roles), S3 "Object Created" events into EventBridge, rule
pattern matching, the Step Functions interpreter, ``.waitForTaskToken``. Each function below
names what moto lacks and the test that shows the adapted behaviour matches AWS. This is the
only module that imports moto's private modules.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import threading
import uuid
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

MOTO_VERSION = "5.2.5"
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "core": {"passthrough": {"services": ["sagemaker-runtime"]}},
}
INVOKE_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")
SUBSTITUTION_OUTPUT = "LocalSubstitution"  # prefix of the outputs added for DefinitionSubstitutions
STATUS_CHANGE = "Step Functions Execution Status Change"
_PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")
_INPUT_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")
_INPUT_PATH = re.compile(r"^\$(\.[A-Za-z0-9_-]+)*$")


class AdapterError(Exception):
    """moto or the template is not what this module adapts."""


class MotoChangedError(AdapterError):
    """moto is not the version, or its internals not the shape, this module was written for."""


class InvalidParameterValue(AdapterError):
    """A parameter value breaks the template's constraints or names no parameter."""


class UnresolvedSubstitution(AdapterError):
    """An ASL ``${Name}`` placeholder has no DefinitionSubstitutions entry."""


class UnsupportedTargetError(AdapterError):
    """A rule target is neither a state machine, a topic, a function nor what moto delivers."""


class InvalidInputPathError(AdapterError):
    """An InputPathsMap value is not a simple ``$.a.b`` path."""


def check_moto() -> None:
    """Fail loudly when moto is not the version whose internals the patches below reach into."""
    import moto
    from moto.awslambda_simple.models import LambdaSimpleBackend

    params = tuple(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    if moto.__version__ != MOTO_VERSION or params != INVOKE_PARAMETERS:
        raise MotoChangedError(
            f"moto {moto.__version__} (LambdaSimpleBackend.invoke{params}): the local runtime "
            f"adapts moto {MOTO_VERSION}. Pin moto=={MOTO_VERSION} or update "
            "scones/local/moto_adapter.py.")


# --------------------------------------------------------------------------- deploying


def as_text(value: Any) -> str:
    """CloudFormation hands every parameter value over as text."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def check_parameters(template: dict, overrides: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter's value (defaults updated with ``overrides``), checked.

    moto's CloudFormation ignores AllowedValues, AllowedPattern, MinValue and MaxValue; AWS
    rejects the stack. Test: tests/template/test_batch_template.py (tolerated-failure bounds)."""
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise InvalidParameterValue(f"unknown parameter(s) {unknown}; declared: {sorted(declared)}")
    values = {}
    for name, rule in declared.items():
        if name not in overrides and "Default" not in rule:
            raise InvalidParameterValue(f"parameter {name} has no default: give it a value")
        value = values[name] = as_text(overrides[name] if name in overrides else rule["Default"])
        allowed = rule.get("AllowedValues")
        if allowed is not None and value not in [as_text(a) for a in allowed]:
            raise InvalidParameterValue(f"{name}={value!r} is not one of {allowed}")
        if "AllowedPattern" in rule and not re.fullmatch(rule["AllowedPattern"], value):
            raise InvalidParameterValue(f"{name}={value!r} does not match {rule['AllowedPattern']}")
        if rule.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise InvalidParameterValue(f"{name}={value!r} is not a number") from None
            if "MinValue" in rule and number < float(rule["MinValue"]):
                raise InvalidParameterValue(f"{name}={value} < MinValue {rule['MinValue']}")
            if "MaxValue" in rule and number > float(rule["MaxValue"]):
                raise InvalidParameterValue(f"{name}={value} > MaxValue {rule['MaxValue']}")
    return values


@contextlib.contextmanager
def create_stack_adapted() -> Iterator[None]:
    """Around moto's ``create_stack``: ``AWS::NoValue`` removed as AWS removes it
    (:func:`no_value_removed`), and the resources moto skips skipped quietly.

    moto's CloudFormation skips, with a warning each, the resources it does not model:
    ``AWS::CloudWatch::Alarm``, ``AWS::Lambda::EventInvokeConfig`` and the bucket, queue and
    topic policies. None of them changes what runs locally (alarms are evaluated by
    ``scones monitor``; policies are checked by cfn-lint and checkov in ``make lint``), so the
    warnings are silenced while the stack is created. Test: tests/local/test_local_deploy.py."""
    logger = logging.getLogger("moto")  # the logger moto's CloudFormation parsing warns on
    level = logger.level
    logger.setLevel(logging.ERROR)
    patches = no_value_removed()
    try:
        for patch in patches:
            patch.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        for patch in reversed(patches):
            patch.stop()
        logger.setLevel(level)


def no_value_removed() -> list:
    """``!Ref AWS::NoValue`` removes the list element or property it stands for; moto's
    CloudFormation leaves ``None`` in its place (a role's ``!If [HasBaseline, {...},
    !Ref AWS::NoValue]`` policy then crashes moto's IAM). Here what resolved to nothing from an
    intrinsic function is dropped, as CloudFormation drops it. Test:
    tests/functions/test_monitor_captures.py (monitoring on, no baseline)."""
    from moto.cloudformation import parsing

    clean = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        def gone(original: Any, cleaned: Any) -> bool:
            return cleaned is None and isinstance(original, dict)

        if isinstance(resource_json, list):
            pairs = [(item, clean_json(item, resources_map)) for item in resource_json]
            return [cleaned for item, cleaned in pairs if not gone(item, cleaned)]
        cleaned = clean(resource_json, resources_map)
        if isinstance(resource_json, dict) and isinstance(cleaned, dict):
            return {key: value for key, value in cleaned.items()
                    if not gone(resource_json.get(key), value)}
        return cleaned

    return [mock.patch.object(parsing, "clean_json", clean_json)]


def seed_physical_names(stack_name: str) -> None:
    """CloudFormation names unnamed resources ``<stack>-<LogicalId>-<random>``; moto draws the
    suffix from its own generator, seeded here per stack so a local stack's names repeat from
    run to run (printed URIs and records stay comparable).
    Test: tests/local/test_local_deploy.py."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(zlib.crc32(stack_name.encode()))


def with_substitution_outputs(cfn: dict) -> dict:
    """The transformed template plus one output per DefinitionSubstitutions value, state
    machine role and type, so that moto's CloudFormation resolves them (see
    create_state_machines)."""
    outputs = cfn.setdefault("Outputs", {})
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        properties = resource["Properties"]
        substitutions = properties.get("DefinitionSubstitutions") or {}
        values = {"RoleArn": properties["RoleArn"],
                  "Type": properties.get("StateMachineType", "STANDARD"),
                  **{f"_{key}": value for key, value in substitutions.items()}}
        for key, value in values.items():
            outputs[f"{SUBSTITUTION_OUTPUT}{logical_id}{key}"] = {"Value": value}
    return cfn


def is_substitution_output(key: str) -> bool:
    return key.startswith(SUBSTITUTION_OUTPUT)


def substitute_definition(definition: str, substitutions: Mapping[str, str]) -> str:
    """Fill ``${Name}`` placeholders as DefinitionSubstitutions does; a missing one raises."""
    missing = set(_PLACEHOLDER.findall(definition)) - set(substitutions)
    if missing:
        raise UnresolvedSubstitution(f"ASL placeholders without a substitution: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], definition)


def create_state_machines(cfn: dict, resources: Mapping[str, str], outputs: Mapping[str, str],
                          region: str) -> list[dict[str, Any]]:
    """Create the template's state machines where the ASL interpreter runs them.

    moto's CloudFormation ignores ``DefinitionS3Location``, ``DefinitionSubstitutions`` and
    ``StateMachineType`` and puts the machine in a backend the interpreter does not execute.
    Here each is created through the Step Functions API under the name and ARN the stack gave
    it, with its packaged ASL and the substitutions moto resolved as outputs. Test:
    tests/template/test_state_machine.py (placeholders), tests/integration (executions).
    Returns, for each machine: logical_id, name, arn, type, definition, substitutions."""
    import boto3

    sfn, s3 = (boto3.client(s, region_name=region) for s in ("stepfunctions", "s3"))
    created = []
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine" or logical_id not in resources:
            continue
        properties, prefix = resource["Properties"], f"{SUBSTITUTION_OUTPUT}{logical_id}"
        location = properties.get("DefinitionS3Location")
        if location:
            text = s3.get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read()
        else:
            text = json.dumps(properties["Definition"])
        substitutions = {key[len(prefix) + 1:]: value for key, value in outputs.items()
                         if key.startswith(prefix + "_")}
        definition = substitute_definition(
            text.decode() if isinstance(text, bytes) else text, substitutions)
        arn = resources[logical_id]
        kind = outputs[f"{prefix}Type"]  # a parameter (WorkflowType), resolved by the stack
        sfn.create_state_machine(name=arn.split(":")[-1], definition=definition, type=kind,
                                 roleArn=outputs[f"{prefix}RoleArn"])
        created.append({"logical_id": logical_id, "name": arn.split(":")[-1], "arn": arn,
                        "type": kind, "definition": definition, "substitutions": substitutions})
    return created


def text_environment(client: Any, config: dict) -> dict[str, str]:
    """A function's environment as Lambda keeps it: every value text. moto's CloudFormation
    stores a ``Number`` parameter's ``Ref`` as a number; here the function is updated with the
    text AWS would hold. Test: tests/local/test_local_stack.py (merged environment)."""
    variables = (config.get("Environment") or {}).get("Variables") or {}
    text = {key: as_text(value) for key, value in variables.items()}
    if text != variables:
        client.update_function_configuration(FunctionName=config["FunctionName"],
                                             Environment={"Variables": text})
    return text


def dropped_function_properties(cfn: dict, logical_id: str, artifacts: Mapping[str, Path]
                                ) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """A function's layer directories and architectures, which moto's CloudFormation drops:
    its ``Layers`` (``Ref``s to ``AWS::Lambda::LayerVersion`` resources of the stack, read back
    to the local directories they were packaged from) and ``Architectures``. Test:
    tests/local/test_local_deploy.py (every function deployed with its code)."""
    properties = cfn["Resources"][logical_id]["Properties"]
    dirs = []
    for layer in properties.get("Layers") or []:
        if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
            raise AdapterError(f"{logical_id}: only a layer of this template runs locally, "
                               f"not {layer!r}")
        content = cfn["Resources"][layer["Ref"]]["Properties"]["Content"]
        dirs.append(artifacts[f"s3://{content['S3Bucket']}/{content['S3Key']}"])
    return tuple(dirs), tuple(properties.get("Architectures") or ["x86_64"])


def enable_bucket_events(cfn: dict, resources: Mapping[str, str], region: str) -> None:
    """Turn on EventBridge notifications for the buckets that ask for them. moto's
    CloudFormation does not apply a bucket's ``NotificationConfiguration``. Test:
    tests/integration/test_batch_upload_trigger.py."""
    import boto3

    s3 = boto3.client("s3", region_name=region)
    for logical_id, resource in cfn["Resources"].items():
        config = (resource.get("Properties") or {}).get("NotificationConfiguration") or {}
        if resource["Type"] == "AWS::S3::Bucket" and config.get("EventBridgeConfiguration"):
            s3.put_bucket_notification_configuration(
                Bucket=resources[logical_id],
                NotificationConfiguration={"EventBridgeConfiguration": {}})


# --------------------------------------------------------------------------- Lambda


def lambda_invoke(run: Callable[[str, Any], tuple[bool, Any]]) -> list:
    """Run our handlers in this process. With ``use_docker: False`` moto's Lambda does not run
    code; its invoke is replaced by ``run(function_name, event) -> (failed, payload)``. A
    failure sets ``x-amz-function-error: Unhandled`` so Step Functions sees ``errorType`` as
    the error name, as on AWS. Test: tests/local/test_local_stack.py."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(backend, function_name, qualifier, body, headers, response_headers):
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        raw = body.decode() if isinstance(body, bytes) else body
        failed, payload = run(name, json.loads(raw) if raw else {})
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(payload).encode()

    return [mock.patch.object(LambdaSimpleBackend, "invoke", invoke)]


INVOKE_RESPONSE_LIMIT = 6_000_000  # moto's Lambda API: a larger payload is an error


def lambda_task_in_process() -> list:
    """A ``lambda:invoke`` Task reaches the function through boto3 and moto's HTTP emulation:
    botocore serializes and signs the request, moto parses it, finds the route and the
    backend, and the answer goes back the same way (~2 ms of the interpreter's time for
    each Task, as much as the handler). Here a Task that names only ``FunctionName``,
    ``Payload`` and ``Qualifier`` of a function moto knows calls moto's Lambda backend in
    process, with the answer moto's Lambda API gives (``StatusCode`` 200, the payload, and
    ``FunctionError`` when the handler raised; a payload over moto's limit is its
    ``Function.ResponseSizeTooLarge`` error); anything else (another parameter, an unknown
    function: moto's error through the API) goes the API's way as before. Speed only
    (tests/local/test_local_speed.py: both ways give the same response)."""
    import io

    from moto.awslambda.utils import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    through_api = lambda_eval_utils._invoke_lambda_function

    def invoke_lambda_function(parameters: dict, region: str, state_credentials: Any):
        name, qualifier = parameters.get("FunctionName"), parameters.get("Qualifier")
        if not isinstance(name, str) or set(parameters) - {"FunctionName", "Payload",
                                                           "Qualifier"}:
            return through_api(parameters, region, state_credentials)
        parts = name.split(":")
        account, region = (parts[4], parts[3]) if name.startswith("arn:") else (
            DEFAULT_ACCOUNT_ID, region)
        backend = get_backend(account, region)  # the one moto's Lambda API would use
        try:
            backend.get_function(name, qualifier)
        except Exception:  # moto's error, as its API answers it
            return through_api(parameters, region, state_credentials)
        body = parameters.get("Payload")
        body = body.encode() if isinstance(body, str) else (body or b"")
        headers: dict[str, str] = {}
        payload = backend.invoke(name, qualifier, body, {}, headers)
        if len(payload) > INVOKE_RESPONSE_LIMIT:
            headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                                "(6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}).encode()
        payload = payload if isinstance(payload, bytes) else payload.encode()
        response: dict[str, Any] = {
            "StatusCode": 200, "Payload": lambda_eval_utils._from_payload(io.BytesIO(payload))}
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response

    return [mock.patch.object(lambda_eval_utils, "_invoke_lambda_function",
                              invoke_lambda_function)]


# --------------------------------------------------------------------------- Step Functions


def _prime_heap_keys(root: Any) -> None:
    """Give every evaluable component of a parsed program its heap key now, so the program
    is never written to again and concurrent executions can share it."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen, pending = set(), [root]
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


def parse_once() -> list:
    """moto re-parses the ASL (ANTLR, ~10 ms) for every execution and builds a boto3 client
    (~5 ms) for every Task (``lambda:invoke``, ``states:startExecution``, a Distributed Map's
    S3 reads and result files): one parsed program per definition and one client per (region,
    service) serve all. Speed only; behaviour unchanged (every workflow test)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval import (
        resource_eval_s3 as item_reader_s3,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
        resource_eval_s3 as result_writer_s3,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    programs, clients, lock = {}, {}, threading.Lock()
    parse = ExecutionWorker._get_evaluation_entrypoint
    client_for = boto_client.boto_client_for

    def get_evaluation_entrypoint(worker):
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in programs:
                programs[definition] = parse(worker)
                _prime_heap_keys(programs[definition])
            return programs[definition]

    def boto_client_for(region: str, service: str, state_credentials: Any = None):
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = client_for(region, service, state_credentials)
            return clients[(region, service)]

    users = (boto_client, lambda_eval_utils, state_task_service_sfn, item_reader_s3,
             result_writer_s3)
    return [mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint",
                              get_evaluation_entrypoint),
            *(mock.patch.object(user, "boto_client_for", boto_client_for) for user in users)]


def _parsed_once(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` remembering each path's expression (a failed parse is not remembered)."""
    parsed: dict[str, Any] = {}

    def parse_cached(path: str) -> Any:
        expression = parsed.get(path)
        if expression is None:
            expression = parsed[path] = parse(path)
        return expression

    return parse_cached


def jsonpath_parsed_once() -> list:
    """moto's interpreter parses every JSONPath (``InputPath``, ``Payload.$``, ``OutputPath``,
    ``ResultPath``, an intrinsic's argument) each time a state evaluates it, with a new
    jsonpath_ng parser each time (its grammar tables built again: ~0.5 ms a path, a dozen paths
    an execution). One expression per path text serves all: jsonpath_ng's expressions are not
    changed by ``find`` or ``update_or_create``. Speed only; behaviour unchanged (every
    workflow test; tests/local/test_local_speed.py: the same expression object)."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    return [mock.patch.object(json_path, "parse", _parsed_once(json_path.parse)),
            mock.patch.object(result_path, "parse", _parsed_once(result_path.parse))]


def alias_keys_once() -> list:
    """moto's response serializer looks for every member of a response shape in the object it
    serializes under each of its aliases, building a context and six alias providers per
    member and value: a history event (one shape of ~60 members, nearly all absent) costs
    ~1 ms, a photo's GetExecutionHistory ~25 ms. For a plain dict and moto's default picker
    (no response transformers) the aliases depend only on the member's name, its shape and
    that shape's parent, so they are worked out once per such triple and then looked up in
    the dict as the picker looks them up. Speed only; the same values (tests/local/
    test_local_speed.py: moto's serialized responses byte for byte)."""
    from moto.core.serialize import (
        AttributePickerContext,
        ResponseSerializer,
        XFormedAttributePicker,
    )
    from moto.core.utils import MISSING, get_value

    original = ResponseSerializer.get_value
    keys_for: dict[tuple, tuple] = {}

    def get_member_value(serializer, value: Any, key: str, shape: Any) -> Any:
        picker = serializer._value_picker
        if (type(value) is not dict or type(picker) is not XFormedAttributePicker
                or picker.response_transformers):
            return original(serializer, value, key, shape)
        parent = getattr(shape, "parent", None)
        cache_key = (tuple(picker.alias_providers), key, id(shape), id(parent))
        found = keys_for.get(cache_key)
        if found is None:  # the shapes kept with the keys, so that their ids stay theirs
            context = AttributePickerContext(
                obj=value, key=key, shape=shape, operation_model=serializer.operation_model,
                service_model=serializer.operation_model.service_model,
                key_path=".".join(serializer.path))
            found = keys_for[cache_key] = (tuple(picker.get_possible_keys(context)), shape,
                                           parent)
        for possible_key in found[0]:
            if "." in possible_key:  # a path, as the picker reads it
                member = get_value(value, possible_key, MISSING)
                if member is not MISSING:
                    return member
            elif possible_key in value:  # what the picker's value[key] finds in a dict
                return value[possible_key]
        return None

    return [mock.patch.object(ResponseSerializer, "get_value", get_member_value)]


def routes_once() -> list:
    """moto's in-process router works out a backend's URL table (every url base times every
    path) for every request it answers, S3's after reloading its ``urls`` module each time (so
    that ``MOTO_S3_CUSTOM_ENDPOINTS`` set since is seen): about 5% of the interpreter lock's
    samples in `scones run` (py-spy). The table depends only on the backend's class and the
    settings it reads, so it is worked out once per class and settings. Speed only; the same table
    (tests/local/test_local_speed.py)."""
    from moto import settings
    from moto.core.base_backend import BaseBackend

    work_out = BaseBackend.urls.fget
    tables: dict[tuple, dict] = {}

    def urls(backend: BaseBackend) -> dict:
        key = (type(backend), settings.enable_iso_regions(),
               tuple(settings.get_s3_custom_endpoints()))
        table = tables.get(key)
        if table is None:
            table = tables[key] = work_out(backend)
        return table

    return [mock.patch.object(BaseBackend, "urls", property(urls))]


UTC_ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def timestamps_read_fast() -> list:
    """moto's Step Functions keeps its timestamps as text (``2026-12-02T12:15:58.366Z``) and
    its serializer reads each back with dateutil's general parser before writing it out
    (about a third of a GetExecutionHistory page's time). Text in exactly that form (UTC, at
    most microseconds) is read by ``datetime.fromisoformat``; anything else goes to moto's
    parser as before. Speed only; the same serialized text (tests/local/test_local_speed.py)."""
    from moto.core import serialize

    parse = serialize.parse_to_aware_datetime

    def parse_to_aware_datetime(value: Any) -> datetime:
        if isinstance(value, str) and UTC_ISO_8601.fullmatch(value):
            return datetime.fromisoformat(value)
        return parse(value)

    return [mock.patch.object(serialize, "parse_to_aware_datetime", parse_to_aware_datetime)]


def signed_as_on_lambda() -> list:
    """botocore signs with the AWS Common Runtime when ``awscrt`` is installed (here it is:
    the SAM CLI needs it), and converting each request for it costs more than the signature.
    The Lambda Python runtime has boto3 without ``awscrt``, so the functions sign with
    botocore's own SigV4 there; locally every client in the stack's process does the same
    (SigV4A, which needs the CRT, is left as it is). Tests: tests/local/test_local_speed.py."""
    from botocore import auth

    return [mock.patch.dict(auth.AUTH_TYPE_MAPS, {
        "v4": auth.SigV4Auth, "v4-query": auth.SigV4QueryAuth,
        "s3v4": auth.S3SigV4Auth, "s3v4-query": auth.S3SigV4QueryAuth})]


class ExecutionEnds:
    """The executions moto ended, for whoever waits for one in this process: a client's wait
    (:meth:`scones.local.stack.LocalStack.wait`) and a parent's ``.sync`` task
    (:func:`sync_tasks_woken`). The latest ``kept`` are remembered, so a wait that comes after
    the end returns at once."""

    def __init__(self, kept: int = 10_000):
        self.kept = kept
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _event(self, execution_arn: str) -> threading.Event:
        with self._lock:
            event = self._events.get(execution_arn)
            if event is None:
                event = self._events[execution_arn] = threading.Event()
                while len(self._events) > self.kept:  # the oldest first (insertion order)
                    del self._events[next(iter(self._events))]
            return event

    def ended(self, execution_arn: str) -> None:
        self._event(execution_arn).set()

    def wait(self, execution_arn: str, timeout: float) -> bool:
        """True once the execution has ended; False after ``timeout`` seconds."""
        return self._event(execution_arn).wait(max(0.0, timeout))

    def forget(self, execution_arn: str) -> None:
        with self._lock:
            self._events.pop(execution_arn, None)


SYNC_WAIT_S = 5.0  # a .sync task waits this long for its child's end between two checks


def sync_tasks_woken(ends: ExecutionEnds) -> list:
    """A ``states:startExecution.sync``/``.sync:2`` task (the batch's items) checks its child
    with DescribeExecution every 0.5 s (moto's ``_DELAY_SECONDS_SYNC_CONDITION_CHECK``): each
    item ends up to half a second after its child, and a long child costs a poll each time.
    Here each check first waits for the child's end (``ends``, told by
    :func:`status_change_events`' hook), up to SYNC_WAIT_S; moto's check then reads the
    child as before. Speed only (tests/integration/test_batch_state_machine.py,
    tests/template/test_batch_child_outcomes.py: every child outcome, stopped ones too)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )

    cls = state_task_service_sfn.StateTaskServiceSfn

    def woken(build: Callable) -> Callable:
        def build_resolver(self, env, resource_runtime_part, normalised_parameters,
                           state_credentials):
            child = env.stack[-1].get("ExecutionArn") if env.stack and isinstance(
                env.stack[-1], dict) else None
            resolve = build(self, env, resource_runtime_part, normalised_parameters,
                            state_credentials)
            if child is None or resolve is None:
                return resolve

            def resolve_when_ended():
                ends.wait(child, SYNC_WAIT_S)
                return resolve()

            return resolve_when_ended

        return build_resolver

    return [mock.patch.object(cls, "_build_sync_resolver", woken(cls._build_sync_resolver)),
            mock.patch.object(cls, "_build_sync2_resolver", woken(cls._build_sync2_resolver))]


def consistent_execution_end() -> list:
    """moto publishes an execution's end field by field (status first, then output or error)
    while DescribeExecution reads them unlocked: a reader in between sees SUCCEEDED with no
    output. On AWS DescribeExecution is consistent; one lock makes it so here. Test:
    tests/integration/test_batch_execution_end.py."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.responses import StepFunctionResponse

    lock = threading.Lock()
    reflect = BaseExecutionWorkerCommunication._reflect_execution_status
    describe = StepFunctionResponse.describe_execution

    def reflect_execution_status(communication) -> None:
        with lock:
            reflect(communication)

    def describe_execution(response):
        with lock:
            return describe(response)

    return [mock.patch.object(BaseExecutionWorkerCommunication, "_reflect_execution_status",
                              reflect_execution_status),
            mock.patch.object(StepFunctionResponse, "describe_execution", describe_execution)]


HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX = 100, 1000  # GetExecutionHistory's maxResults


def execution_history_pages() -> list:
    """moto 5.2.5's GetExecutionHistory returns every event, always oldest first, with every
    input and output, whatever the request says. AWS pages it: ``maxResults`` events (100 by
    default, at most 1000) and a ``nextToken`` for the rest, newest first with
    ``reverseOrder``, inputs and outputs left out with ``includeExecutionData`` false. A client
    that reads only an execution's last events (``scones run``: a failed photo's label) asks
    for one small page, as it would on AWS. Test: tests/local/test_local_stack.py."""
    from moto.stepfunctions.exceptions import InvalidToken
    from moto.stepfunctions.responses import StepFunctionResponse

    def page_of(events: list[dict], params: Callable[[str], Any]) -> dict:
        # 0 means the default too; botocore refuses more than the maximum before sending
        size = min(int(params("maxResults") or HISTORY_PAGE_DEFAULT), HISTORY_PAGE_MAX)
        token = params("nextToken")
        if token is not None and not (str(token).isdigit() and int(token) < len(events)):
            raise InvalidToken(f"Invalid token: {token}")
        start = int(token or 0)
        ordered = events[::-1] if params("reverseOrder") else events
        page = ordered[start:start + size]
        if params("includeExecutionData") is False:
            page = [without_execution_data(event) for event in page]
        result = {"events": page}
        if start + size < len(events):
            result["nextToken"] = str(start + size)
        return result

    def get_execution_history(response):
        from moto.core.responses import ActionResult

        events = response.stepfunction_backend.get_execution_history(
            response._get_param("executionArn"))["events"]
        return ActionResult(page_of(list(events), response._get_param))

    return [mock.patch.object(StepFunctionResponse, "get_execution_history",
                              get_execution_history)]


def without_execution_data(event: dict) -> dict:
    """A history event as ``includeExecutionData: false`` returns it: no input or output."""
    copy = dict(event)
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            copy[key] = {k: v for k, v in details.items() if k not in ("input", "output")}
    return copy


def _write_result_files(env, resource_runtime_part, state_credentials) -> None:
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    parameters, results = env.stack.pop(), env.stack.pop()
    s3 = boto_client_for(service="s3", region=resource_runtime_part.region,
                         state_credentials=state_credentials)
    map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
    prefix = parameters["Prefix"]
    prefix += "/" if prefix and not prefix.endswith("/") else ""
    bucket, base = parameters["Bucket"], f"{prefix}{map_run_arn.split(':')[-1]}/"
    now = datetime.now(UTC).isoformat()
    files: dict[str, list] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for index, output in enumerate(results or []):
        entry = {"ExecutionArn": f"{map_run_arn}:{index}", "Name": str(index),
                 "StartDate": now, "StopDate": now, "Input": None}
        if output is None:
            files["FAILED"].append({**entry, "Status": "FAILED", "Error": "LocalItemFailureUnknown",
                                    "Cause": f"moto {MOTO_VERSION} reports a failed Map item as "
                                             "null, without its error and cause"})
        else:
            files["SUCCEEDED"].append({**entry, "Status": "SUCCEEDED",
                                       "Output": json.dumps(output)})
    manifest: dict[str, Any] = {"DestinationBucket": bucket, "MapRunArn": map_run_arn,
                                "ResultFiles": {status: [] for status in files}}
    for status, entries in files.items():
        if entries:
            body, key = json.dumps(entries).encode(), f"{base}{status}_0.json"
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
    key = f"{base}manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append({"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket,
                                                                        "Key": key}})


def result_writer_files() -> list:
    """moto's Distributed Map ``ResultWriter`` writes only an empty manifest; here the result
    files AWS writes (``SUCCEEDED_0.json`` with each item's Output, ``FAILED_0.json``).
    moto reports a failed item as ``null``: it is written as ``LocalItemFailureUnknown``.
    Test: tests/integration/test_batch_state_machine.py."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (  # noqa: E501
        resource_eval_s3,
    )

    return [mock.patch.object(resource_eval_s3.ResourceEvalS3, "_handle_put_object",
                              staticmethod(_write_result_files))]


def _recased(data: dict, upper: bool) -> None:
    for key in list(data):
        data[(key[:1].upper() if upper else key[:1].lower()) + key[1:]] = data.pop(key)


def start_execution_task() -> list:
    """moto's ``states:startExecution`` task hands the ASL's parameters to boto3 unconverted
    (``KeyError: 'StateMachineArn'``), returns boto3's casing and names every child ``None``.
    Converted both ways, children named with a UUID as Step Functions does, ``.sync:2``
    children run. Test: tests/template/test_batch_child_outcomes.py."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn,
    )

    cls = state_task_service_sfn.StateTaskServiceSfn
    parameters, task = cls._normalise_parameters, cls._eval_service_task

    def normalise_parameters(self, params, boto_service_name=None, service_action_name=None):
        parameters(self, params, boto_service_name, service_action_name)
        _recased(params, upper=False)
        if self._get_boto_service_action() == "start_execution":
            params.setdefault("name", str(uuid.uuid4()))

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if isinstance(response, dict):
            _recased(response, upper=True)

    def eval_service_task(self, env, *args, **kwargs):
        task(self, env, *args, **kwargs)
        _recased(env.stack[-1], upper=True)

    return [mock.patch.object(cls, "_normalise_parameters", normalise_parameters),
            mock.patch.object(cls, "_normalise_response", normalise_response),
            mock.patch.object(cls, "_eval_service_task", eval_service_task)]


def execution_names() -> list:
    """StartExecution without a name gets a UUID on AWS; moto names the execution ``None``
    (``$$.Execution.Name`` is then null, a second one collides). Named with a UUID. Test:
    tests/integration/test_retraining_loop.py (a retraining started with its input only)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, *args, **kwargs):
        return start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return [mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution)]


def status_change_events(on_end: Callable[[dict], None]) -> list:
    """moto's Step Functions emits no "Execution Status Change" events; ``on_end`` gets, for
    each execution that ends, the event AWS sends to EventBridge (status, error, cause,
    input, output), built from its DescribeExecution record. Test:
    tests/local/test_local_eventbridge.py (the event's fields),
    tests/integration/test_batch_upload_trigger.py (a failed execution alerts once)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    terminated = BaseExecutionWorkerCommunication.terminated

    def on_terminated(communication) -> None:
        terminated(communication)
        e = communication.execution
        description = {"executionArn": e.exec_arn, "stateMachineArn": e.state_machine_arn,
                       "name": e.name, "status": getattr(e.exec_status, "value", e.exec_status),
                       "startDate": e.start_date, "stopDate": e.stop_date,
                       "input": e.execution_input, "output": e.output,
                       "error": e.error, "cause": e.cause}
        on_end(status_change_event(description))

    return [mock.patch.object(BaseExecutionWorkerCommunication, "terminated", on_terminated)]


def put_service_events(execution_arn: str, entries: list[dict]) -> None:
    """Step Functions puts its status-change events on the default bus inside AWS, not through
    an API client: here they go to moto's EventBridge backend of the execution's account and
    region in process (the entries PutEvents would parse: rules matched, targets delivered as
    for a PutEvents call), without a botocore round trip per execution. Tests:
    tests/local/test_local_eventbridge.py, tests/integration/test_batch_upload_trigger.py."""
    from moto.events.models import events_backends

    _, _, _, region, account, *_ = execution_arn.split(":")
    events_backends[account][region].put_events(entries)


def status_change_event(description: dict) -> dict:
    """The "Step Functions Execution Status Change" detail for one execution record."""

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if isinstance(value, datetime) else None

    output = description.get("output")
    return {"executionArn": description["executionArn"],
            "stateMachineArn": description["stateMachineArn"], "name": description["name"],
            "status": description["status"], "startDate": millis(description.get("startDate")),
            "stopDate": millis(description.get("stopDate")), "input": description.get("input"),
            "output": output if output is None or isinstance(output, str) else json.dumps(output),
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if output else None,
            "error": description.get("error"), "cause": description.get("cause")}


# --------------------------------------------------------------------------- EventBridge


def read_path(event: Any, path: str) -> Any:
    """The value at a ``$.a.b`` path, or None when absent (EventBridge's InputPathsMap)."""
    if not _INPUT_PATH.match(path):
        raise InvalidInputPathError(f"InputPathsMap path {path!r} is not of the form $.a.b")
    value = event
    for part in path.split(".")[1:]:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def transform_input(event: dict, transformer: dict | None, rule_name: str = "") -> str:
    """The target input EventBridge builds with an ``InputTransformer``: a placeholder inside a
    JSON string is replaced by the value's text (escaped), outside one by the value as JSON
    (a missing path as ``null``). moto replaces placeholders as raw text, which makes
    ``"s3_bucket": <bucket>`` invalid JSON. Test: tests/local/test_local_eventbridge.py."""
    if not transformer:
        return json.dumps(event)
    values = {name: read_path(event, path)
              for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values.update({"aws.events.event.json": event, "aws.events.rule-name": rule_name})
    template, out, in_string, i = transformer["InputTemplate"], [], False, 0
    while i < len(template):
        char = template[i]
        match = _INPUT_PLACEHOLDER.match(template, i) if char == "<" else None
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


def pattern_matches(pattern: str, event: dict) -> bool:
    """EventBridge's TestEventPattern, which moto does not implement: moto's own pattern
    engine (the one its rules match with) applied to ``event``. Test:
    tests/template/test_batch_template.py (the upload and alert rules)."""
    from moto.events.models import EventPattern

    return EventPattern.load(pattern).matches_event(event)


def rule_targets(deliver: Callable[[str, dict, str], None]) -> list:
    """moto matches rules (its pattern engine is used as it is) but delivers only to SQS,
    logs and buses. For state machine, topic and function targets ``deliver(rule_name,
    target, input_text)`` is called with the input EventBridge builds (the target's constant
    ``Input``, else the event through its InputTransformer). Scheduled rules match no event.
    Test:
    tests/integration/test_batch_upload_trigger.py (the upload and alert rules' targets),
    tests/integration/test_batch_state_machine.py (the batch's alerts)."""
    import copy

    from moto.events.models import Rule

    send, input_for = Rule.send_to_targets, transform_input

    def send_to_targets(rule, event, transform_input: bool = True) -> None:  # noqa: F811
        # a scheduled rule has no pattern and takes no event (moto matches it to every one)
        if rule.scheduled_expression or not rule.event_pattern.matches_event(event):
            return
        ours = [t for t in rule.targets if t["Arn"].split(":")[2] in ("states", "sns", "lambda")]
        for target in ours:
            text = target.get("Input")  # a constant input replaces the event
            if text is None:
                text = input_for(event, target.get("InputTransformer"), rule.name)
            deliver(rule.name, target, text)
        native = copy.copy(rule)
        native.targets = [t for t in rule.targets if t not in ours]
        send(native, event, transform_input)

    return [mock.patch.object(Rule, "send_to_targets", send_to_targets)]


# --------------------------------------------------------------------------- SageMaker


def _json_ready(value: Any) -> Any:
    """DescribeTrainingJob as a state's output: times as epoch milliseconds, as Step Functions
    gives them."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


TRAINING_DONE = ("Completed", "Failed", "Stopped")


def training_jobs(run_job: Callable[[dict], str]) -> list:
    """moto accepts CreateTrainingJob and reports the job Completed at once, training nothing,
    and its interpreter has no SageMaker integration (``sagemaker:createTrainingJob.sync``
    fails). Here a created job runs ``run_job(request) -> model data S3 URI`` in a thread:
    InProgress until it returns, then Completed with those ModelArtifacts, or Failed with the
    error as FailureReason. The ``sagemaker`` integration calls the API as the state names it;
    ``.sync`` ends the task when the job ends, with DescribeTrainingJob's output, or fails it
    with States.TaskFailed and the description as the cause, as on AWS. Test:
    tests/integration/test_retraining_loop.py."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    create = SageMakerModelBackend.create_training_job

    def create_training_job(backend, training_job_name, *args, **kwargs):
        job = create(backend, training_job_name, *args, **kwargs)
        job.training_job_status, job.secondary_status = "InProgress", "Training"
        request = {"TrainingJobName": training_job_name,
                   "HyperParameters": dict(job.hyper_parameters or {}),
                   "AlgorithmSpecification": job.algorithm_specification,
                   "InputDataConfig": job.input_data_config,
                   "OutputDataConfig": job.output_data_config}

        def work() -> None:
            try:
                job.model_artifacts = {"S3ModelArtifacts": run_job(request)}
                job.training_job_status = job.secondary_status = "Completed"
            except Exception as exc:  # the job's failure, as SageMaker reports it
                job.failure_reason = f"{type(exc).__name__}: {exc}"[:1024]
                job.training_job_status = job.secondary_status = "Failed"

        threading.Thread(target=work, name=f"training-job-{training_job_name}",
                         daemon=True).start()
        return job

    class SageMakerIntegration(StateTaskServiceCallback):
        def __init__(self):
            # moto's callback base needs the task-token endpoint for .sync too (it interrupts
            # it when the task ends), so that pattern is declared as well
            super().__init__(supported_integration_patterns={ResourceCondition.Sync,
                                                             ResourceCondition.WaitForTaskToken})

        def _get_supported_parameters(self):
            """createTrainingJob takes what the API does; no other action is adapted."""
            if self.resource.api_action.lower() != "createtrainingjob":
                return None
            import botocore.session

            operation = botocore.session.get_session().get_service_model(
                "sagemaker").operation_model("CreateTrainingJob")
            return set(operation.input_shape.members)

        def _client(self, resource_runtime_part, state_credentials):
            return boto_client_for(region=resource_runtime_part.region, service="sagemaker",
                                   state_credentials=state_credentials)

        def _eval_service_task(self, env, resource_runtime_part, normalised_parameters,
                               state_credentials):
            client = self._client(resource_runtime_part, state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            response.pop("ResponseMetadata", None)
            env.stack.append(_json_ready(response))

        def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters,
                                 state_credentials):
            env.stack.pop()
            name = normalised_parameters["TrainingJobName"]
            client = self._client(resource_runtime_part, state_credentials)

            def resolve():
                job = client.describe_training_job(TrainingJobName=name)
                job.pop("ResponseMetadata", None)
                if job["TrainingJobStatus"] not in TRAINING_DONE:
                    return None
                job = _json_ready(job)
                if job["TrainingJobStatus"] == "Completed":
                    return job
                raise FailureEventException(FailureEvent(
                    env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=StatesErrorNameType.StatesTaskFailed.to_name(),
                        cause=json.dumps(job)))))

            return resolve

    service_for = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str):
        return SageMakerIntegration() if service_name == "sagemaker" else service_for(service_name)

    return [mock.patch.object(SageMakerModelBackend, "create_training_job", create_training_job),
            mock.patch.object(state_task_factory, "state_task_service_for",
                              state_task_service_for)]


def endpoint_updates(swap: Callable[[str, str], None]) -> list:
    """moto 5.2.5 has no UpdateEndpoint. Added: ``swap(endpoint_name, model_data_url)`` makes
    the local endpoint serve the new config's model, then the endpoint is InService on the new
    config (a local swap is one step; AWS shows Updating first). When ``swap`` raises, the
    endpoint stays on its config with the error as FailureReason: a blue/green update that
    rolled back. Test: tests/integration/test_retraining_loop.py."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(backend, endpoint_name: str, endpoint_config_name: str) -> str:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
        try:
            config = backend.describe_endpoint_config(endpoint_config_name)
        except KeyError:
            raise ValidationError(message=f"Could not find endpoint configuration "
                                          f"'{endpoint_config_name}'.") from None
        model = backend.describe_model(config["ProductionVariants"][0]["ModelName"])
        container = model.primary_container or model.containers[0]
        try:
            swap(endpoint_name, container["ModelDataUrl"])
        except Exception as exc:  # the new fleet failed: the endpoint keeps its config
            endpoint.failure_reason = f"update rolled back: {exc}"[:1024]
            return endpoint.arn
        endpoint.endpoint_config_name = endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config["ProductionVariants"])
        endpoint.data_capture_config = config["DataCaptureConfig"]
        endpoint.failure_reason = None
        endpoint.last_modified_time = utcnow()
        return endpoint.arn

    def respond(self) -> ActionResult:
        return ActionResult({"EndpointArn": self.sagemaker_backend.update_endpoint(
            self._get_param("EndpointName"), self._get_param("EndpointConfigName"))})

    return [mock.patch.object(SageMakerModelBackend, "update_endpoint", update_endpoint,
                              create=True),
            mock.patch.object(SageMakerResponse, "update_endpoint", respond, create=True)]


def all_patches(run_function: Callable[[str, Any], tuple[bool, Any]],
                on_execution_end: Callable[[dict], None],
                deliver: Callable[[str, dict, str], None],
                run_training_job: Callable[[dict], str],
                swap_endpoint_model: Callable[[str, str], None],
                ends: ExecutionEnds | None = None) -> list:
    """Every patch the local runtime starts with its moto mock. ``ends`` learns of every
    execution's end before ``on_execution_end`` is called."""
    check_moto()
    ends = ends if ends is not None else ExecutionEnds()

    def execution_ended(detail: dict) -> None:
        ends.ended(detail["executionArn"])
        on_execution_end(detail)

    return [*lambda_invoke(run_function), *lambda_task_in_process(), *parse_once(),
            *jsonpath_parsed_once(),
            *alias_keys_once(), *routes_once(), *timestamps_read_fast(),
            *signed_as_on_lambda(),
            *consistent_execution_end(), *execution_history_pages(),
            *result_writer_files(), *start_execution_task(), *execution_names(),
            *sync_tasks_woken(ends), *status_change_events(execution_ended),
            *rule_targets(deliver),
            *training_jobs(run_training_job), *endpoint_updates(swap_endpoint_model)]
