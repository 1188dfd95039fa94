"""The local SageMaker endpoint: both HTTP contracts, error shapes, batching, artifact loading."""

from __future__ import annotations

import json
import tarfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from scones.serving.endpoint import ArtifactError, load_model

ENDPOINT_NAME = "local-test-endpoint"  # the name the endpoint_server fixture serves



def http_reason(server, method, path, body=None, headers=None):
    """(status, headers, body, reason phrase) of one request."""
    request = urllib.request.Request(server.url + path, data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read(), response.reason
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read(), exc.reason


def http(server, method, path, body=None, headers=None):
    return http_reason(server, method, path, body, headers)[:3]


# ---------------------------------------------------------------- the container contract


def test_ping_answers_200(endpoint_server):
    # GIVEN a running endpoint WHEN the platform health-checks it THEN it answers 200
    status, _, _ = http(endpoint_server, "GET", "/ping")
    assert status == 200


def test_container_invocations_returns_the_artifacts_answer(endpoint_server,
                                                            bright_and_dark_pngs):
    # GIVEN a bright and a dark real PNG
    bright, dark = bright_and_dark_pngs
    # WHEN each is posted to /invocations
    answers = [
        http(endpoint_server, "POST", "/invocations", p.read_bytes(),
             {"Content-Type": "image/png", "Accept": "application/json"})
        for p in (bright, dark)
    ]
    # THEN the artifact's own code answered: bright -> [0.99, 0.01], dark -> [0.4, 0.6]
    assert [a[0] for a in answers] == [200, 200]
    assert json.loads(answers[0][2]) == [0.99, 0.01]
    assert json.loads(answers[1][2]) == [0.4, 0.6]
    assert answers[0][1]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "error_type"),
    [
        (b"hello", "text/plain", "application/json", 415, "UnsupportedContentTypeError"),
        (b"\x89PNG not really", "image/png", "application/json", 400, "InvalidImageError"),
        (None, "image/png", "text/csv", 406, "UnsupportedAcceptError"),
    ],
)
def test_container_errors_keep_the_handlers_status(endpoint_server, bright_and_dark_pngs, body,
                                                   content_type, accept, status, error_type):
    # GIVEN a request the artifact rejects
    body = body if body is not None else bright_and_dark_pngs[0].read_bytes()
    # WHEN it is posted to the container path
    code, headers, payload, reason = http_reason(
        endpoint_server, "POST", "/invocations", body,
        {"Content-Type": content_type, "Accept": accept})
    # THEN it answers as the serving toolkit does: the handler's status, the message as the
    # reason and first line, then the traceback naming the error, and no content type
    assert code == status
    message, trace = payload.decode().split("\n", 1)
    assert reason == message and message
    assert trace.startswith("Traceback") and f"{error_type}: " in trace
    assert "Content-Type" not in headers


def test_container_body_over_torchserves_limit_is_413_without_a_body(endpoint_server):
    # GIVEN a body one byte over TorchServe's default max_request_size (6553500 bytes)
    # WHEN it is posted to the container path  THEN 413 with an empty body, as TorchServe does
    status, _, payload, reason = http_reason(endpoint_server, "POST", "/invocations",
                                             bytes(6_553_501), {"Content-Type": "image/png"})
    assert (status, payload, reason) == (413, b"", "Request Entity Too Large")


def test_unknown_paths_are_404(endpoint_server):
    # GIVEN a running endpoint WHEN an unknown path is requested THEN 404, for GET and POST
    assert http(endpoint_server, "GET", "/nope")[0] == 404
    assert http(endpoint_server, "POST", "/endpoints/x/other", b"")[0] == 404


# ---------------------------------------------------------------- the SageMaker Runtime API


def test_boto3_invoke_endpoint_succeeds(runtime_client, bright_and_dark_pngs):
    # GIVEN an unmodified boto3 sagemaker-runtime client
    # WHEN it invokes the endpoint by name with a real PNG
    response = runtime_client.invoke_endpoint(
        EndpointName=ENDPOINT_NAME, Body=bright_and_dark_pngs[0].read_bytes(),
        ContentType="image/png", Accept="application/json",
    )
    # THEN it parses the service's response: body, content type, invoked variant
    assert json.loads(response["Body"].read()) == [0.99, 0.01]
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_boto3_reaches_the_endpoint_through_the_environment_variable(
        endpoint_server, bright_and_dark_pngs, monkeypatch):
    # GIVEN only AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (what the classify Lambda gets)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", endpoint_server.url)
    client = boto3.client("sagemaker-runtime")
    # WHEN a client built without endpoint_url invokes the endpoint
    response = client.invoke_endpoint(EndpointName=ENDPOINT_NAME, ContentType="image/png",
                                      Body=bright_and_dark_pngs[1].read_bytes())
    # THEN the local endpoint answered
    assert json.loads(response["Body"].read()) == [0.4, 0.6]


def test_unknown_endpoint_name_is_a_validation_error(runtime_client, bright_and_dark_pngs):
    # GIVEN a name no endpoint has
    # WHEN the client invokes it
    with pytest.raises(runtime_client.exceptions.ValidationError) as raised:
        runtime_client.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="image/png",
                                       Body=bright_and_dark_pngs[0].read_bytes())
    # THEN boto3 raises ValidationError (400) with the service's message
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ValidationError"
    assert response["Error"]["Message"] == (
        "Endpoint no-such-endpoint of account 123456789012 not found."
    )


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "original_status", "error_type"),
    [
        (b"hello", "text/plain", "application/json", 415, "UnsupportedContentTypeError"),
        (b"GIF89a-broken", "image/png", "application/json", 400, "InvalidImageError"),
        (None, "image/png", "text/csv", 406, "UnsupportedAcceptError"),
    ],
)
def test_container_errors_become_model_errors(runtime_client, bright_and_dark_pngs, body,
                                              content_type, accept, original_status, error_type):
    # GIVEN a request the model container rejects
    body = body if body is not None else bright_and_dark_pngs[0].read_bytes()
    # WHEN it goes through the SageMaker Runtime API
    with pytest.raises(runtime_client.exceptions.ModelError) as raised:
        runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body,
                                       ContentType=content_type, Accept=accept)
    # THEN boto3 raises ModelError (424) with the container's status and message
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == original_status
    assert f"{error_type}: " in response["OriginalMessage"]  # the container's traceback
    assert response["LogStreamArn"] == (
        f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/{ENDPOINT_NAME}"
    )
    assert response["Error"]["Message"].startswith(
        f"Received client error ({original_status}) from primary with message"
    )


def test_concurrent_requests_are_batched_and_each_gets_its_own_row(
        endpoint_server, runtime_client, bright_and_dark_pngs):
    # GIVEN bright and dark images interleaved, sent by 16 concurrent clients
    bright, dark = (p.read_bytes() for p in bright_and_dark_pngs)
    bodies = [bright if i % 3 else dark for i in range(240)]

    def call(body):
        response = runtime_client.invoke_endpoint(EndpointName=ENDPOINT_NAME, Body=body,
                                                  ContentType="image/png")
        return json.loads(response["Body"].read())

    # WHEN they are all served
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, bodies))
    # THEN every request got the answer for its own image, and predict_fn ran on batches
    assert answers == [[0.99, 0.01] if b is bright else [0.4, 0.6] for b in bodies]
    batcher = endpoint_server.endpoint.batcher
    assert batcher.items == 240
    assert batcher.batches < 240


# ---------------------------------------------------------------- loading artifacts


def test_loading_shows_progress_and_metadata(brightness_artifact, tmp_path, capsys):
    # GIVEN a model.tar.gz WHEN it is loaded
    loaded = load_model(brightness_artifact, tmp_path)
    # THEN the progress is on stderr and the labels come from metadata.json
    err = capsys.readouterr().err
    assert "extracting" in err and "model ready" in err
    assert loaded.labels == ["bicycle", "motorcycle"]


def test_missing_artifact_is_an_artifact_error(tmp_path):
    # GIVEN a path with no file WHEN it is loaded THEN ArtifactError names it
    with pytest.raises(ArtifactError, match="not found"):
        load_model(tmp_path / "missing.tar.gz", tmp_path / "x")


def test_artifact_without_inference_code_is_an_artifact_error(tmp_path, fixtures_dir,
                                                              pack_artifact):
    # GIVEN a tar.gz with metadata only
    source = tmp_path / "src"
    source.mkdir()
    metadata = (fixtures_dir / "brightness_model/metadata.json").read_text()
    (source / "metadata.json").write_text(metadata)
    artifact = pack_artifact(source, tmp_path / "model.tar.gz")
    # WHEN it is loaded THEN ArtifactError says code/inference.py is missing
    with pytest.raises(ArtifactError, match="code/inference.py"):
        load_model(artifact, tmp_path / "x")


def test_corrupt_tarball_is_an_artifact_error(tmp_path):
    # GIVEN bytes that are not a gzip tarball WHEN loaded THEN ArtifactError
    artifact = tmp_path / "model.tar.gz"
    artifact.write_bytes(b"not a tarball")
    with pytest.raises(ArtifactError, match="not a readable"):
        load_model(artifact, tmp_path / "x")


def test_artifact_missing_a_handler_is_an_artifact_error(tmp_path):
    # GIVEN an inference.py without output_fn
    source = tmp_path / "src"
    (source / "code").mkdir(parents=True)
    (source / "code/inference.py").write_text(
        "def model_fn(d): return 1\ndef input_fn(b, c): return b\ndef predict_fn(x, m): return x\n"
    )
    with tarfile.open(tmp_path / "m.tar.gz", "w:gz") as tar:
        tar.add(source / "code", arcname="code")
    # WHEN loaded THEN the missing handler is named
    with pytest.raises(ArtifactError, match="output_fn"):
        load_model(tmp_path / "m.tar.gz", tmp_path / "x")
