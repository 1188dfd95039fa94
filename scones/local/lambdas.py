"""Run the real Lambda handlers in this process, the way the AWS Python runtime runs them.

Stable API (used by the local runtime, the CLI and the tests)::

    from scones.local.deploy import describe
    from scones.local.lambdas import load_handler

    spec = describe().functions["FilterLowConfidenceFunction"]   # a deployed Function
    invoke = load_handler(spec, extra_env={"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url})
    result = invoke({"bucket": ..., "label": ..., ...})   # -> InvokeResult
    result.failed      # True when the handler raised
    result.payload     # the handler's JSON-round-tripped return value, or on failure
                       # the runtime's error shape
                       # {"errorType", "errorMessage", "requestId", "stackTrace"}
    result.function_error  # None, or "Unhandled" (the X-Amz-Function-Error header value)

What ``load_handler`` does:

* imports ``<code_dir>/<module>.py`` under a unique module name (``_scones_lambda_<LogicalId>_<n>``)
  with ``importlib`` so the three ``app.py`` files never collide in ``sys.modules``, and each
  call gives a fresh module (a fresh "cold start": module-level clients and config re-read);
* makes the function's layer dirs importable (added once to ``sys.path``: the layer code is
  shared by all functions, exactly as ``/opt/python`` is on Lambda);
* lays the function's environment (the stack's, then ``extra_env``, plus the runtime's
  ``AWS_LAMBDA_FUNCTION_NAME`` / ``_MEMORY_SIZE`` / ``_VERSION``) over ``os.environ`` while the
  module is imported and while each invocation runs, in that thread only (:class:`ThreadEnviron`);
* runs the handler with a Lambda-like context (function name, ARN, memory, request id,
  remaining time) and converts an exception into the AWS Python runtime's error payload,
  ``errorType`` being the exception's class name (what Step Functions matches in
  Retry/Catch), and writes the runtime's ``[ERROR] <errorType>: <errorMessage>`` line to the
  function's stdout (its log).

Thread safety: other threads (moto's interpreter, botocore) never see a function's variables,
and the process environment is never changed under them. Imports and invocations still hold one
process-wide re-entrant lock (``ENV_LOCK``): it keeps Powertools' per-process state (one metric
set, the cold-start flag) belonging to one invocation at a time, so each invocation prints its
own EMF metrics.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from scones.local.deploy import Function

ENV_LOCK = threading.RLock()
_MODULE_COUNTER = itertools.count(1)


class ThreadEnviron(MutableMapping):
    """``os.environ`` as each thread sees it: while a function runs, its variables are laid
    over the process's environment in the thread that runs it, and only there.

    On Lambda each function has a process of its own. Here the handlers share one, and moto's
    interpreter threads read the environment (botocore does, for every client) while a handler
    runs: swapping the real ``os.environ`` in and out would let them see a function's variables
    and, worse, lose a key while they iterate it (``KeyError: 'RESULTS_TABLE'`` in the middle
    of a Step Functions task). An overlay per thread changes nothing for the other threads."""

    def __init__(self, real: MutableMapping):
        self.real = real
        self._local = threading.local()

    @property
    def overlay(self) -> dict[str, str] | None:
        return getattr(self._local, "overlay", None)

    @overlay.setter
    def overlay(self, value: dict[str, str] | None) -> None:
        self._local.overlay = value

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay
        return overlay[key] if overlay is not None and key in overlay else self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        if self.overlay is not None:
            self.overlay[key] = value
        else:
            self.real[key] = value

    def __delitem__(self, key: str) -> None:
        if self.overlay is not None and key in self.overlay:
            del self.overlay[key]
        else:
            del self.real[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay or {}
        return iter([*list(self.real), *(k for k in overlay if k not in self.real)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def _thread_environ() -> ThreadEnviron:
    """Install the per-thread view as ``os.environ`` (once; ``os.getenv`` reads it too)."""
    if not isinstance(os.environ, ThreadEnviron):
        os.environ = ThreadEnviron(os.environ)  # noqa: B003 - a view of it, not a replacement
    return os.environ


# Installed when this module is imported, before the local runtime creates any boto3 session:
# botocore keeps the mapping it finds as os.environ when a session is created.
_thread_environ()


@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Lay ``variables`` over the environment this thread sees (under ENV_LOCK), then restore."""
    environ = _thread_environ()
    with ENV_LOCK:
        previous = environ.overlay
        environ.overlay = {**(previous or {}), **{k: str(v) for k, v in variables.items()}}
        try:
            yield
        finally:
            environ.overlay = previous


def runtime_environment(
    spec: Function, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables a function sees: the template's, the runtime's, then ``extra_env``."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        **spec.environment,
        **(extra_env or {}),
    }


@dataclass
class LambdaContext:
    """The attributes of the AWS Lambda Python context object that handlers and Powertools use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    timeout_s: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or (
            f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class InvokeResult:
    """What one invocation returned: the payload, and whether it is an error payload."""

    payload: Any
    failed: bool
    request_id: str
    duration_ms: float

    @property
    def function_error(self) -> str | None:
        """The ``X-Amz-Function-Error`` value Lambda sets on a failed invocation."""
        return "Unhandled" if self.failed else None

    @property
    def error_type(self) -> str | None:
        return self.payload.get("errorType") if self.failed else None


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The AWS Python runtime's shape for an unhandled exception."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


class LocalFunction:
    """A loaded handler; call it with an event to get an :class:`InvokeResult`."""

    def __init__(self, spec: Function, module: ModuleType, env: dict[str, str]):
        self.spec = spec
        self.module = module
        self.env = env
        self.handler: Callable[[Any, Any], Any] = getattr(module, spec.handler_name)

    def __call__(self, event: Any) -> InvokeResult:
        return self.invoke(event)

    def invoke(self, event: Any) -> InvokeResult:
        request_id = str(uuid.uuid4())
        context = LambdaContext(
            function_name=self.spec.name,
            invoked_function_arn=self.spec.arn,
            memory_limit_in_mb=self.spec.memory_size,
            aws_request_id=request_id,
            timeout_s=self.spec.timeout,
        )
        # The runtime hands the handler a freshly decoded copy of the JSON payload.
        event = json.loads(json.dumps(event))
        started = time.perf_counter()
        trace_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        with environment({**self.env, "_X_AMZN_TRACE_ID": trace_id}):
            try:
                response = self.handler(event, context)
            except Exception as exc:  # noqa: BLE001 - every error becomes the runtime's payload
                payload, failed = error_payload(exc, request_id), True
            else:
                try:
                    payload, failed = json.loads(json.dumps(response)), False
                except (TypeError, ValueError) as exc:
                    payload, failed = marshal_error_payload(exc, request_id), True
            if failed:  # in the function's log, as the runtime writes it there
                print(error_log_line(payload), flush=True)
        duration_ms = (time.perf_counter() - started) * 1000
        return InvokeResult(
            payload=payload, failed=failed, request_id=request_id, duration_ms=duration_ms
        )


def error_log_line(payload: dict[str, Any]) -> str:
    """The line the AWS Python runtime writes to the function's log for a failed invocation
    (text log format): ``[ERROR] <errorType>: <errorMessage>``, on one line here (Lambda
    follows it with the traceback, which the error payload carries)."""
    line = f"[ERROR] {payload['errorType']}"
    message = " ".join(str(payload.get("errorMessage") or "").split())
    return f"{line}: {message}" if message else line


def marshal_error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """What the runtime returns when a handler's response is not JSON-serializable."""
    return {
        "errorType": "Runtime.MarshalError",
        "errorMessage": f"Unable to marshal response: {exc}",
        "requestId": request_id,
        "stackTrace": [],
    }


def make_layers_importable(layer_dirs: tuple[Path, ...]) -> None:
    """Append layer dirs to sys.path once (Lambda's /opt/python); idempotent."""
    for layer_dir in layer_dirs:
        text = str(layer_dir)
        if text not in sys.path:
            sys.path.append(text)


def load_handler(spec: Function, extra_env: Mapping[str, str] | None = None) -> LocalFunction:
    """Import the function's module fresh (a cold start) and return a callable invoker."""
    if not spec.module_path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler module {spec.module_path} not found")
    env = runtime_environment(spec, extra_env)
    module_name = f"_scones_lambda_{spec.logical_id}_{next(_MODULE_COUNTER)}"
    with ENV_LOCK:
        make_layers_importable(spec.layer_dirs)
        module_spec = importlib.util.spec_from_file_location(module_name, spec.module_path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot import {spec.module_path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            with environment(env):
                module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
    if not hasattr(module, spec.handler_name):
        raise AttributeError(f"{spec.module_path} has no handler {spec.handler_name!r}")
    return LocalFunction(spec, module, env)


class FunctionLogs(io.TextIOBase):
    """Where a function's stdout goes on Lambda: its log group ``/aws/lambda/<name>``, one
    stream per cold start (``YYYY/MM/DD/[$LATEST]<id>``). Text written while a function runs
    (its name in ``AWS_LAMBDA_FUNCTION_NAME``) is put there line by line through ``logs`` (a
    CloudWatch Logs client); other text goes to ``fallback``."""

    def __init__(self, logs: Any, fallback: Any):
        self.logs = logs
        self.fallback = fallback
        self._pending: dict[str, str] = {}
        self._streams: dict[str, tuple[str, str]] = {}

    def write(self, text: str) -> int:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not name:
            return self.fallback.write(text)
        *lines, self._pending[name] = (self._pending.get(name, "") + text).split("\n")
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in lines if line.strip()]
        if events:
            group, stream = self._stream(name)
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        return len(text)

    def flush(self) -> None:
        self.fallback.flush()

    def _stream(self, name: str) -> tuple[str, str]:
        if name not in self._streams:
            group = f"/aws/lambda/{name}"
            stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
            with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
                self.logs.create_log_group(logGroupName=group)
            self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[name] = (group, stream)
        return self._streams[name]
