"""Fixtures of the function unit tests.

Each handler is loaded from functions/<name>/app.py through scones.local (the template's real
environment and layer), inside moto's ``mock_aws`` for S3. The SageMaker endpoint is a tiny
real HTTP server on 127.0.0.1 (random port) reached through
AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, with moto passing sagemaker-runtime through.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics.provider import cold_start
from moto import mock_aws

from scones.local.deploy import Deployment, describe, read_template
from scones.local.lambdas import LocalFunction, load_handler

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
MOTO_CONFIG = {"core": {"passthrough": {"services": ["sagemaker-runtime"]}}}


def app_for(**parameters) -> Deployment:
    """The template deployed (in a moto of its own) with these parameter overrides."""
    return describe(REPO_ROOT / "template.yaml", parameters=parameters)


# the stack's ImageBucket: the name CloudFormation gives it, which the functions' IMAGE_BUCKET holds
BUCKET = app_for().resources["ImageBucket"]
TEMPLATE_RESOURCES = read_template(REPO_ROOT / "template.yaml")["Resources"]
TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")


def _load_event(name: str) -> dict:
    return json.loads((EVENTS_DIR / name).read_text())


@pytest.fixture(scope="session")
def load_event() -> Callable[[str], dict]:
    """load_event("classify_image.json"): an event file from events/ (`sam local invoke -e`)."""
    return _load_event


# --------------------------------------------------------------------------- images
# (make_image and real_png are in tests/conftest.py: the domain's tests use them too)


@pytest.fixture(scope="session")
def large_png(make_image) -> bytes:
    """A 400x300 noise PNG (~360 KB): over the inline limit, so it must go by S3 reference."""
    return make_image("PNG", (400, 300), noise=True)


# --------------------------------------------------------------------------- endpoint


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | list | dict = field(default_factory=lambda: [0.97, 0.03])
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def aws_error(status: int, code: str, message: str, **fields) -> Reply:
    """An error reply in the rest-json shape botocore parses (x-amzn-ErrorType + JSON body)."""
    return Reply(status, {"message": message, **fields}, {"x-amzn-ErrorType": f"{code}:http://"})


@dataclass
class Request:
    path: str
    content_type: str
    accept: str
    body: bytes


class EndpointServer:
    """A real HTTP server playing the SageMaker runtime's InvokeEndpoint."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(
                    Request(
                        path=self.path,
                        content_type=self.headers.get("Content-Type", ""),
                        accept=self.headers.get("Accept", ""),
                        body=self.rfile.read(length),
                    )
                )
                reply = server.replies.popleft() if server.replies else server.default
                time.sleep(reply.delay_s)
                body = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def respond(self, body=None, *, status: int = 200, delay_s: float = 0.0) -> None:
        """Answer every request with ``body`` (JSON unless bytes/str) and ``status``."""
        self.default = Reply(status, [0.97, 0.03] if body is None else body, {}, delay_s)

    def fail(self, status: int, code: str, message: str = "error", *, times=None, **fields):
        """Answer with an AWS error ``code`` (e.g. ThrottlingException): every request, or
        only the next ``times`` requests (then the default answer again)."""
        if times is None:
            self.default = aws_error(status, code, message, **fields)
        else:
            self.replies.extend(aws_error(status, code, message, **fields) for _ in range(times))

    def start(self) -> EndpointServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def endpoint():
    server = EndpointServer().start()
    yield server
    server.stop()


# --------------------------------------------------------------------------- AWS + handlers


def pytest_collection_modifyitems(items):
    """A handler that fails before adding a metric makes Powertools warn "No application
    metrics to publish": expected on every error path tested here, so not shown."""
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics:UserWarning"))


@pytest.fixture(autouse=True)
def reset_metrics():
    """Powertools keeps metrics and the cold-start flag per process: start each test clean."""
    metrics = Metrics()
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    cold_start.is_cold_start = True
    yield
    metrics.clear_metrics()


@pytest.fixture
def aws():
    with mock_aws(config=MOTO_CONFIG):
        yield


@pytest.fixture(scope="session")
def bucket() -> str:
    """Name of the moto bucket standing in for the template's ImageBucket."""
    return BUCKET


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def create_table(logical_id: str) -> str:
    """The template's DynamoDB table ``logical_id`` in moto (its keys and indexes), named as
    the functions' environment names it."""
    properties = TEMPLATE_RESOURCES[logical_id]["Properties"]
    name = app_for().resources[logical_id]
    boto3.client("dynamodb").create_table(
        TableName=name, **{key: properties[key] for key in TABLE_PROPERTIES if key in properties})
    return name


@pytest.fixture
def stack(s3) -> SimpleNamespace:
    """What the review and retraining functions find in the stack, in moto: the image bucket,
    the reviews and results tables, and the model-version parameter (``model_version``)."""
    parameter = app_for().resources["ModelVersionParameter"]
    boto3.client("ssm").put_parameter(Name=parameter, Value="champion-1", Type="String")
    return SimpleNamespace(bucket=BUCKET, reviews_table=create_table("ReviewsTable"),
                           results_table=create_table("ResultsTable"),
                           model_version="champion-1", s3=s3,
                           dynamodb=boto3.client("dynamodb"))


@pytest.fixture
def load_function(aws, endpoint) -> Callable[..., LocalFunction]:
    """load_function("ClassifyImageFunction", MaxImageBytes=1000) -> a fresh (cold) handler.

    Keyword arguments override template parameters; the environment is the template's.
    """

    def load(logical_id: str, **parameters) -> LocalFunction:
        spec = app_for(**parameters).functions[logical_id]
        return load_handler(spec, extra_env={"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url})

    return load


@pytest.fixture
def handler_module() -> Callable[[str], object]:
    """handler_module("RecordResultFunction"): the function's app.py imported as Lambda would
    (its environment from the deployed template), for the tests of its pure functions."""
    return lambda logical_id: load_handler(app_for().functions[logical_id]).module


@pytest.fixture(scope="session")
def b64() -> Callable[[bytes], str]:
    return lambda data: base64.b64encode(data).decode("ascii")
