"""The endpoint's fault switch as an unmodified boto3 client sees it (no workflow involved)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from scones.serving.endpoint import start_endpoint
from scones.serving.faults import FaultPlan

REPO = Path(__file__).resolve().parents[2]
NAME = "fault-endpoint"


@pytest.fixture
def served(brightness_model, tmp_path):
    plan = FaultPlan()
    server = start_endpoint(brightness_model, endpoint_name=NAME, faults=plan,
                            capture=str(tmp_path / "captures"))
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url, config=Config(
        retries={"total_max_attempts": 1}, read_timeout=1, connect_timeout=1))
    yield plan, server, client
    server.stop()


def invoke(client, body: bytes):
    return client.invoke_endpoint(EndpointName=NAME, Body=body, ContentType="image/png")


@pytest.mark.parametrize("kind, code, status", [
    ("throttle", "ThrottlingException", 400),
    ("server_error", "ServiceUnavailable", 503),
    ("model_not_ready", "ModelNotReadyException", 429),
])
def test_error_faults_use_the_services_error_shapes(served, bright_images, kind, code, status):
    plan, server, client = served
    body = bright_images[0].read_bytes()
    # GIVEN one injected fault  WHEN boto3 invokes the endpoint twice
    plan.add(kind, 1)
    with pytest.raises(ClientError) as caught:
        invoke(client, body)
    # THEN the first call fails with the service's error code and status, the second is served
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert invoke(client, body)["Body"].read()
    assert server.endpoint.served == 1 and plan.injected[kind] == 1


def test_a_response_past_the_read_timeout_times_the_client_out(served, bright_images):
    plan, server, client = served
    plan.add("delay", 1, delay_s=1.5)
    with pytest.raises(ReadTimeoutError):
        invoke(client, bright_images[0].read_bytes())


def test_a_refused_request_drops_the_connection(served, bright_images):
    plan, server, client = served
    plan.add("refuse", 1)
    with pytest.raises(ConnectionClosedError):
        invoke(client, bright_images[0].read_bytes())
    assert server.endpoint.served == 0


def test_scones_serve_fault_switch(brightness_model, bright_images):
    # GIVEN `scones serve --fault throttle:1`
    proc = subprocess.Popen(
        [sys.executable, "-m", "scones.cli", "serve", "--model", str(brightness_model),
         "--port", "0", "--endpoint-name", NAME, "--fault", "throttle:1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            assert line, "scones serve exited"
            match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        client = boto3.client("sagemaker-runtime", endpoint_url=url,
                              config=Config(retries={"total_max_attempts": 1}))
        # WHEN invoked twice  THEN throttled once, then served
        with pytest.raises(ClientError, match="ThrottlingException"):
            invoke(client, bright_images[0].read_bytes())
        assert invoke(client, bright_images[0].read_bytes())["Body"].read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
