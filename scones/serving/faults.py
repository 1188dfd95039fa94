"""Fault injection for the local runtime: the endpoint and S3 misbehave on purpose.

Two switches, neither of which touches our own code paths:

- :class:`FaultPlan` is consulted by the local endpoint (:mod:`scones.serving.endpoint`) once per
  SageMaker Runtime request (``POST /endpoints/NAME/invocations``), before the model runs. It
  answers with the service's own error shapes (what botocore parses on AWS) or misbehaves at
  the transport level::

      throttle         400 ThrottlingException          (classify: EndpointThrottled)
      server_error     503 ServiceUnavailable           (classify: EndpointUnavailable)
      model_not_ready  429 ModelNotReadyException       (classify: EndpointModelNotReady)
      delay            sleeps delay_s, then serves      (past the client's read timeout:
                                                         EndpointUnavailable)
      refuse           closes the connection unanswered (classify: EndpointUnavailable)

  Each fault fires ``times`` times (or for every request when ``times`` is None), optionally
  only for one request body (``body=``: so concurrent executions can each get their own fault).

- :class:`S3FaultPlan` is a botocore ``before-send`` hook on ``s3.GetObject``: it answers
  ``SlowDown`` (503) or ``InternalError`` (500) instead of sending the request to moto, for
  one bucket/key or all. It is installed in ``botocore.handlers.BUILTIN_HANDLERS`` so every
  botocore session created afterwards (moto's ``mock_aws`` makes a fresh default session; the
  handlers create their clients when the local stack loads them) carries it: install it
  before :class:`scones.local.stack.LocalStack` starts. A missing object needs no hook: it is
  simply not in the moto bucket.

``scones serve --fault throttle:2`` (see :meth:`FaultPlan.from_spec`) switches the endpoint
faults on from the command line.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlparse

# kind -> (HTTP status, x-amzn-ErrorType, message): the SageMaker Runtime error shapes
ENDPOINT_ERROR_FAULTS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "server_error": (503, "ServiceUnavailable", "The service is unavailable. Try again later."),
    "model_not_ready": (429, "ModelNotReadyException",
                        "Model is not ready to serve inference requests yet."),
}
ENDPOINT_TRANSPORT_FAULTS = ("delay", "refuse")
ENDPOINT_FAULTS = (*ENDPOINT_ERROR_FAULTS, *ENDPOINT_TRANSPORT_FAULTS)
DEFAULT_DELAY_S = 25.0  # past the classifier's 20 s read timeout

# kind -> (HTTP status, S3 error code, message)
S3_FAULTS = {
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "server_error": (500, "InternalError", "We encountered an internal error. Please try again."),
}


class FaultSpecError(ValueError):
    """A fault specification (``KIND[:TIMES[:DELAY_S]]``) names an unknown kind or bad number."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def consume_first(faults: list, injected: Counter, matches) -> Any:
    """The first fault with uses left that ``matches``; one use spent and counted (caller holds
    the plan's lock). None when no fault applies."""
    for fault in faults:
        if fault.remaining == 0 or not matches(fault):
            continue
        if fault.remaining is not None:
            fault.remaining -= 1
        injected[fault.kind] += 1
        return fault
    return None


@dataclass
class EndpointFault:
    kind: str
    remaining: int | None  # None: every matching request
    delay_s: float = 0.0
    body_sha256: str | None = None  # None: any request


class FaultPlan:
    """The endpoint's faults; thread-safe; ``injected`` counts what actually fired."""

    def __init__(self) -> None:
        self._faults: list[EndpointFault] = []
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def add(self, kind: str, times: int | None = None, *, delay_s: float | None = None,
            body: bytes | None = None) -> FaultPlan:
        """Inject ``kind`` for the next ``times`` matching requests (None: all of them)."""
        if kind not in ENDPOINT_FAULTS:
            raise FaultSpecError(f"unknown endpoint fault {kind!r}; use one of {ENDPOINT_FAULTS}")
        if times is not None and times < 0:
            raise FaultSpecError(f"times must be >= 0, got {times}")
        delay = DEFAULT_DELAY_S if delay_s is None else float(delay_s)
        with self._lock:
            self._faults.append(EndpointFault(kind, times, delay if kind == "delay" else 0.0,
                                              body_digest(body) if body is not None else None))
        return self

    @classmethod
    def from_spec(cls, spec: str) -> FaultPlan:
        """``"throttle:2,delay:1:25,refuse"``: KIND[:TIMES[:DELAY_S]], comma-separated."""
        plan = cls()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            kind, *numbers = item.split(":")
            try:
                times = int(numbers[0]) if numbers and numbers[0] else None
                delay = float(numbers[1]) if len(numbers) > 1 else None
            except ValueError:
                raise FaultSpecError(f"bad fault {item!r}: use KIND[:TIMES[:DELAY_S]]") from None
            plan.add(kind, times, delay_s=delay)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, body: bytes) -> EndpointFault | None:
        """The fault for this request (counted as used), or None to serve it normally."""
        digest = None

        def matches(fault: EndpointFault) -> bool:
            nonlocal digest
            if fault.body_sha256 is None:
                return True
            digest = digest or body_digest(body)
            return fault.body_sha256 == digest

        with self._lock:
            return consume_first(self._faults, self.injected, matches)

    def apply(self, handler: Any, body: bytes) -> bool:
        """Inject this request's fault through the endpoint's HTTP handler; True when the
        request is finished (an error answered or the connection dropped)."""
        fault = self.take(body)
        if fault is None:
            return False
        if fault.kind == "delay":
            time.sleep(fault.delay_s)
            return False  # then served: the late answer nobody reads is still captured
        if fault.kind == "refuse":
            # close at once with a reset (SO_LINGER 0), never answering
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
            handler.close_connection = True
            return True
        status, error_type, message = ENDPOINT_ERROR_FAULTS[fault.kind]
        handler.send_response(status)
        document = json.dumps({"message": message}).encode()
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(document)))
        handler.send_header("x-amzn-ErrorType", error_type)
        handler.end_headers()
        handler.wfile.write(document)
        return True


class _RawBody(BytesIO):
    """What botocore reads an HTTP body from (``stream()``)."""

    def stream(self, **_: Any):
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL, virtual-hosted or path style."""
    parsed = urlparse(url)
    host, path = parsed.hostname or "", unquote(parsed.path.lstrip("/"))
    if host.startswith("s3.") or host.startswith("s3-") or host == "s3.amazonaws.com" \
            or host in ("localhost", "127.0.0.1"):
        bucket, _, key = path.partition("/")
        return bucket, key
    return host.split(".s3", 1)[0], path


@dataclass
class S3Fault:
    kind: str
    remaining: int | None
    bucket: str | None
    key: str | None


class S3FaultPlan:
    """S3 GetObject faults as a botocore hook; ``with S3FaultPlan() as s3faults: ...``.

    ``attempts`` counts every GetObject request the SDK sent per (bucket, key), faulted or not:
    the SDK's own retries show there."""

    EVENT = "before-send.s3.GetObject"

    def __init__(self) -> None:
        self._faults: list[S3Fault] = []
        self._lock = threading.Lock()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.injected: Counter[str] = Counter()
        self._entry = (self.EVENT, self._hook)

    def add(self, kind: str, times: int | None = None, *, bucket: str | None = None,
            key: str | None = None) -> S3FaultPlan:
        if kind not in S3_FAULTS:
            raise FaultSpecError(f"unknown S3 fault {kind!r}; use one of {tuple(S3_FAULTS)}")
        with self._lock:
            self._faults.append(S3Fault(kind, times, bucket, key))
        return self

    def install(self) -> S3FaultPlan:
        from botocore.handlers import BUILTIN_HANDLERS

        if self._entry not in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.append(self._entry)
        return self

    def uninstall(self) -> None:
        from botocore.handlers import BUILTIN_HANDLERS

        while self._entry in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.remove(self._entry)
        self.clear()  # sessions created while installed keep the hook: make it inert

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __enter__(self) -> S3FaultPlan:
        return self.install()

    def __exit__(self, *exc_info) -> None:
        self.uninstall()

    def _take(self, bucket: str, key: str) -> S3Fault | None:
        with self._lock:
            self.attempts[(bucket, key)] += 1
            return consume_first(self._faults, self.injected,
                                 lambda f: f.bucket in (None, bucket) and f.key in (None, key))

    def _hook(self, request: Any, **_: Any):
        from botocore.awsrequest import AWSResponse

        bucket, key = s3_location(request.url)
        fault = self._take(bucket, key)
        if fault is None:
            return None  # on to moto (or AWS)
        status, code, message = S3_FAULTS[fault.kind]
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message><Key>{key}</Key></Error>").encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"},
                           _RawBody(body))
