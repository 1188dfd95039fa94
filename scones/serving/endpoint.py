"""A local SageMaker endpoint over real HTTP, serving a ``model.tar.gz`` through its own code.

The artifact's ``code/inference.py`` is loaded by path (as SageMaker's PyTorch serving
container does) and driven through its four handlers::

    model_fn(model_dir) -> model
    input_fn(body, content_type) -> batch of one (1, ...); errors carry ``status_code``
    predict_fn(batch, model) -> (N, C) probabilities
    output_fn(prediction_of_one_request, accept) -> JSON text

Two HTTP contracts on one port:

- the model container's: ``GET /ping``, ``POST /invocations``, answered as the SageMaker
  PyTorch container (sagemaker-inference toolkit on TorchServe) answers them:
  ``application/json`` and ``text/csv`` bodies are decoded as UTF-8 before ``input_fn``
  (undecodable: 500); an exception that is a ``sagemaker_inference.errors.
  BaseInferenceToolkitError`` (or an artifact's stand-in of that name) is answered with its
  ``status_code``, any other with 500; an error body is the message, a newline and the
  traceback, with the phrase as the status line's reason and no Content-Type; a body over
  TorchServe's ``max_request_size`` is 413 with an empty body. tests/serving runs one
  contract table against this endpoint and the real toolkit;
- the SageMaker Runtime API's: ``POST /endpoints/{EndpointName}/invocations``, so an unmodified
  boto3 ``sagemaker-runtime`` client works with ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``. Errors
  take the service's shapes (botocore ``sagemaker-runtime`` service-2.json): an unknown endpoint
  is ``ValidationError`` (400); a container 4xx/5xx is ``ModelError`` (424) carrying
  ``OriginalStatusCode``, ``OriginalMessage`` and ``LogStreamArn``.

Concurrent requests are micro-batched: request threads decode their own input (``input_fn``),
one predictor thread concatenates whatever is waiting, runs ``predict_fn`` once and hands each
request its row. Every successful response is captured (see :mod:`scones.serving.capture`)
before it is sent.

A third, local-only route swaps the model (``scones retrain`` promotes through it; not part of
any SageMaker contract, answered only to loopback clients): ``POST /local/model`` with
``{"model": "/abs/path/model.tar.gz"}`` loads the new artifact fully, then swaps it in under a
lock (:meth:`LocalEndpoint.swap`); requests in flight finish on the old model, the next ones get
the new. ``GET /local/model`` says which model serves.

Fault injection: an optional :class:`scones.serving.faults.FaultPlan` (``LocalEndpoint.faults``)
is consulted once per SageMaker Runtime request, before the model runs (throttling, 5xx,
model-not-ready, delays, dropped connections).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import sys
import tarfile
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

from scones.serving.capture import CaptureConfig, CaptureEvent, CaptureWriter
from scones.serving.faults import FaultPlan

DEFAULT_ENDPOINT_NAME = "scones-vehicle-classifier"
DEFAULT_VARIANT_NAME = "AllTraffic"
DEFAULT_ACCEPT = "application/json"
# our own answer with the labels (scones serve only; the default stays SageMaker's list)
LABELS_ACCEPT = "application/vnd.scones.labels+json"
DEFAULT_CONTENT_TYPE = "application/json"  # what SageMaker containers assume when none is sent
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs look like the ones moto hands out
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request limit
CONTAINER_MAX_REQUEST_BYTES = 6_553_500  # TorchServe's default max_request_size (413 above)
UTF8_CONTENT_TYPES = ("application/json", "text/csv")  # the toolkit decodes these bodies first
RUNTIME_PATH_PREFIX = "/endpoints/"
LOCAL_MODEL_PATH = "/local/model"  # the local-only model swap (scones retrain), loopback only


class ArtifactError(Exception):
    """The model artifact is missing, not a tar.gz, or lacks code/inference.py / a handler."""


class ModelServerError(Exception):
    """An error raised by the artifact's handlers, as the serving container answers it."""

    def __init__(self, status_code: int, error_type: str, message: str, phrase: str = "",
                 trace: str = ""):
        super().__init__(message)
        self.status_code, self.error_type, self.message = status_code, error_type, message
        self.phrase = " ".join((phrase or message).splitlines())  # the toolkit's remove_crlf
        self.trace = trace

    def container_body(self) -> bytes:
        """The body the SageMaker inference toolkit sends: the message, then the traceback."""
        return f"{self.message}\n{self.trace}".encode()


def _progress(message: str, show: bool = True) -> None:
    if show:
        print(f"[endpoint] {message}", file=sys.stderr, flush=True)


@dataclass
class LoadedModel:
    """An artifact extracted and loaded through its own ``code/inference.py``."""

    model_dir: Path
    handlers: ModuleType
    model: object
    metadata: dict
    load_seconds: float
    artifact: Path | None = None  # the model.tar.gz (or folder) it was loaded from

    @property
    def labels(self) -> list[str]:
        return list(self.metadata.get("labels", []))

    def describe(self) -> dict:
        return {"model": None if self.artifact is None else str(self.artifact),
                "model_version": self.metadata.get("model_version"), "labels": self.labels}


def _extract(artifact: Path, workdir: Path) -> Path:
    if artifact.is_dir():
        return artifact
    if not artifact.exists():
        raise ArtifactError(f"model artifact not found: {artifact}")
    try:
        with tarfile.open(artifact, "r:gz") as tar:
            tar.extractall(workdir, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(f"{artifact} is not a readable model.tar.gz: {exc}") from exc
    return workdir


def _import_inference(model_dir: Path) -> ModuleType:
    path = model_dir / "code" / "inference.py"
    if not path.exists():
        raise ArtifactError(f"{path} missing: the artifact must ship code/inference.py")
    name = f"scones_artifact_inference_{uuid.uuid4().hex}"  # never clash with another model
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    code_dir = str(path.parent)
    sys.path.insert(0, code_dir)  # the container puts code/ on the path for helper modules
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(code_dir)
    missing = [fn for fn in ("model_fn", "input_fn", "predict_fn", "output_fn")
               if not callable(getattr(module, fn, None))]
    if missing:
        raise ArtifactError(f"{path} lacks handler(s): {', '.join(missing)}")
    return module


def configure_torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads when asked (and the artifact's code uses torch); by
    default the artifact's own choice stands (ours reads SCONES_TORCH_THREADS)."""
    torch = sys.modules.get("torch")
    if torch is not None and threads:
        torch.set_num_threads(threads)


def torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def load_model(
    artifact: str | Path, workdir: str | Path | None = None, *, threads: int | None = None,
    progress: bool = True,
) -> LoadedModel:
    """Extract ``model.tar.gz`` (or use a directory) and call its ``model_fn``; with
    ``progress``, each step on stderr."""
    start = time.perf_counter()
    artifact = Path(artifact)
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="scones-model-"))
    _progress(f"extracting {artifact}", progress)
    model_dir = _extract(artifact, workdir)
    _progress("importing code/inference.py", progress)
    handlers = _import_inference(model_dir)
    _progress("model_fn: loading weights", progress)
    model = handlers.model_fn(str(model_dir))
    configure_torch_threads(threads)  # after model_fn: an explicit choice beats the artifact's
    metadata_path = model_dir / "metadata.json"
    metadata = json.loads(metadata_path.read_text()) if metadata_path.exists() else {}
    seconds = time.perf_counter() - start
    _progress(f"model ready in {seconds:.2f} s (labels: {metadata.get('labels', '?')}, "
              f"torch threads: {torch_threads() or 'n/a'})", progress)
    return LoadedModel(model_dir, handlers, model, metadata, seconds, artifact)


TOOLKIT_ERROR = "BaseInferenceToolkitError"  # sagemaker_inference.errors: answered with its status


def toolkit_error(exc: BaseException) -> ModelServerError:
    """How the toolkit's Transformer answers an exception from a handler: a
    ``BaseInferenceToolkitError`` (the toolkit's, or an artifact's stand-in of that name when
    the toolkit is not installed) keeps its ``status_code`` and ``phrase``; any other exception
    is 500 with ``str(exc)`` as the message."""
    trace = "".join(traceback.format_exception(exc))
    if any(cls.__name__ == TOOLKIT_ERROR for cls in type(exc).__mro__):
        return ModelServerError(exc.status_code, type(exc).__name__, exc.message, exc.phrase,
                                trace)
    return ModelServerError(500, type(exc).__name__, str(exc), str(exc), trace)


def toolkit_input(body: bytes, content_type: str | None):
    """The request body as the toolkit hands it to ``input_fn``: text for its UTF-8 types."""
    if content_type in UTF8_CONTENT_TYPES:
        return body.decode("utf-8")
    return body


class MicroBatcher:
    """One predictor thread: concatenates waiting inputs, calls predict_fn once, splits rows."""

    def __init__(self, loaded: LoadedModel, max_batch: int = 64):
        self.loaded, self.max_batch = loaded, max_batch
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="predictor", daemon=True)
        self.batches = 0
        self.items = 0
        self._thread.start()

    def predict(self, batch_of_one) -> object:
        future: Future = Future()
        self._queue.put((batch_of_one, future))
        return future.result()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pending, stop = [first], False
            while len(pending) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                pending.append(item)
            self._predict(pending)
            if stop:
                return

    def _predict(self, pending: list) -> None:
        try:
            batch = _concat([x for x, _ in pending])
            probabilities = self.loaded.handlers.predict_fn(batch, self.loaded.model)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            for _, future in pending:
                future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(pending)
        for row, (_, future) in enumerate(pending):
            future.set_result(probabilities[row : row + 1])  # keeps the (1, C) shape of one


def _concat(parts: list):
    if len(parts) == 1:
        return parts[0]
    if type(parts[0]).__module__.startswith("torch"):
        import torch

        return torch.cat(parts, dim=0)
    import numpy as np

    return np.concatenate(parts, axis=0)


@dataclass(frozen=True)
class InvocationResult:
    body: bytes
    content_type: str


class _Serving:
    """One loaded model with its predictor thread, and how many requests are using it."""

    def __init__(self, loaded: LoadedModel, max_batch: int):
        self.loaded = loaded
        self.batcher = MicroBatcher(loaded, max_batch=max_batch)
        self.in_flight = 0


class LocalEndpoint:
    """The serving logic (no HTTP): input_fn -> batched predict_fn -> output_fn -> capture.
    ``swap`` replaces the model while it serves."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        endpoint_name: str = DEFAULT_ENDPOINT_NAME,
        variant_name: str = DEFAULT_VARIANT_NAME,
        capture: CaptureWriter | None = None,
        max_batch: int = 64,
        faults: FaultPlan | None = None,
    ):
        self.faults = faults
        self.endpoint_name, self.variant_name = endpoint_name, variant_name
        self.capture = capture
        self.max_batch = max_batch
        self._serving = _Serving(loaded, max_batch)
        self._swap_lock = threading.Condition()  # guards _serving and its in_flight counts
        self.served = 0
        self._count_lock = threading.Lock()

    @property
    def loaded(self) -> LoadedModel:
        return self._serving.loaded

    @property
    def batcher(self) -> MicroBatcher:
        return self._serving.batcher

    def swap(self, loaded: LoadedModel) -> LoadedModel:
        """Serve ``loaded`` (already loaded in full) from the next request on; requests in
        flight finish on the old model, whose predictor then stops. Returns the old model."""
        new = _Serving(loaded, self.max_batch)
        with self._swap_lock:
            old, self._serving = self._serving, new
            while old.in_flight:
                self._swap_lock.wait()
        old.batcher.stop()
        return old.loaded

    def _enter(self) -> _Serving:
        with self._swap_lock:
            serving = self._serving
            serving.in_flight += 1
            return serving

    def _leave(self, serving: _Serving) -> None:
        with self._swap_lock:
            serving.in_flight -= 1
            self._swap_lock.notify_all()

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        inference_id: str | None = None,
    ) -> InvocationResult:
        """Run one request through the artifact's handlers; raises ModelServerError."""
        accept = DEFAULT_ACCEPT if not accept or accept == "*/*" else accept
        labelled = accept.split(";")[0].strip().lower() == LABELS_ACCEPT
        inference_time = datetime.now(UTC)
        serving = self._enter()  # one model for the whole request, even across a swap
        handlers = serving.loaded.handlers
        try:
            batch_of_one = handlers.input_fn(toolkit_input(body, content_type), content_type)
            prediction = serving.batcher.predict(batch_of_one)
            output = handlers.output_fn(prediction, DEFAULT_ACCEPT if labelled else accept)
            if labelled:
                output = with_labels(output, serving.loaded.labels)
        except Exception as exc:  # noqa: BLE001 - mapped to the container's status code
            raise toolkit_error(exc) from exc
        finally:
            self._leave(serving)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        output_bytes = output.encode() if isinstance(output, str) else bytes(output)
        if self.capture is not None and self.capture.sampled():
            self.capture.submit(
                CaptureEvent(body, content_type, output_bytes, accept, inference_time,
                             inference_id=inference_id)
            )
        with self._count_lock:
            self.served += 1
        return InvocationResult(output_bytes, accept)

    def close(self) -> None:
        self.batcher.stop()
        if self.capture is not None:
            self.capture.close()


def with_labels(output: str | bytes, labels: list[str]) -> str:
    """The artifact's JSON probabilities as ``{"label", "confidence", "probabilities"}`` (the
    answer under :data:`LABELS_ACCEPT`; the default answer stays SageMaker's list)."""
    from scones_domain.predictions import top_prediction

    probabilities = json.loads(output)
    if len(probabilities) != len(labels):
        raise ValueError(f"the model answered {len(probabilities)} probabilities for "
                         f"{len(labels)} labels {labels}")
    label, confidence = top_prediction(probabilities, labels)
    return json.dumps({"label": label, "confidence": confidence,
                       "probabilities": dict(zip(labels, probabilities, strict=True))})


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def log_group(endpoint_name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint_name}"


def model_error_body(endpoint_name: str, error: ModelServerError) -> dict:
    """The ModelError (424) document SageMaker Runtime returns for a container error."""
    region = _region()
    kind = "client" if error.status_code < 500 else "server"
    original = error.container_body().decode()
    message = (
        f'Received {kind} error ({error.status_code}) from primary with message "{original}". '
        f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group={log_group(endpoint_name)} in account {ACCOUNT_ID} "
        "for more information."
    )
    return {
        "message": message,
        "OriginalStatusCode": error.status_code,
        "OriginalMessage": original,
        "LogStreamArn": (
            f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{log_group(endpoint_name)}"
        ),
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "SconesLocalEndpoint/1.0"
    protocol_version = "HTTP/1.0"  # one request per connection: a clean stop never strands one

    @property
    def endpoint(self) -> LocalEndpoint:
        return self.server.endpoint  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - quiet: one line per request is noise
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str | None,
              headers: dict | None = None, reason: str | None = None):
        self.send_response(status, reason)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_aws_error(self, status: int, error_type: str, document: dict) -> None:
        self._send(status, json.dumps(document).encode(), "application/json",
                   {"x-amzn-ErrorType": error_type})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/ping":
            self._send(200, b"", "text/plain")
        elif self.path == LOCAL_MODEL_PATH and self._local_client():
            self._send_json(200, self.endpoint.loaded.describe())
        else:
            self._send(404, b'{"message": "not found"}', "application/json")

    def do_POST(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/invocations":
            self._container_invocation()
        elif path.startswith(RUNTIME_PATH_PREFIX) and path.endswith("/invocations"):
            name = unquote(path[len(RUNTIME_PATH_PREFIX) : -len("/invocations")])
            self._runtime_invocation(name)
        elif path == LOCAL_MODEL_PATH and self._local_client():
            self._swap_model()
        else:
            self._send(404, b'{"message": "not found"}', "application/json")

    def _send_json(self, status: int, document: dict) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _local_client(self) -> bool:
        """The local-only routes answer loopback clients only (403 to any other)."""
        if self.client_address[0] in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            return True
        self._read_body()
        self._send_json(403, {"message": f"{LOCAL_MODEL_PATH} is local-only"})
        return False

    def _swap_model(self) -> None:
        """``POST /local/model {"model": PATH}``: load PATH in full, then swap it in."""
        try:
            document = json.loads(self._read_body() or b"null")
            artifact = document["model"]
            if not isinstance(artifact, str) or not artifact:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._send_json(400, {"message": 'expected a JSON body {"model": "PATH"}'})
            return
        try:
            loaded = load_model(artifact, progress=False)
        except ArtifactError as exc:
            self._send_json(400, {"message": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - the artifact's model_fn failed
            self._send_json(500, {"message": f"model_fn failed: {type(exc).__name__}: {exc}"})
            return
        previous = self.endpoint.swap(loaded)
        _progress(f"now serving {artifact} (was {previous.artifact})",
                  self.server.verbose)  # type: ignore[attr-defined]
        self._send_json(200, {**loaded.describe(), "previous": previous.describe()})

    def _invoke(self, body: bytes) -> InvocationResult:
        return self.endpoint.invoke(
            body,
            self.headers.get("Content-Type"),
            self.headers.get("Accept"),
            self.headers.get("X-Amzn-SageMaker-Inference-Id"),
        )

    def _container_invocation(self) -> None:
        body = self._read_body()
        if len(body) > CONTAINER_MAX_REQUEST_BYTES:
            self._send(413, b"", None, reason="Request Entity Too Large")
            return
        try:
            result = self._invoke(body)
        except ModelServerError as exc:
            self._send(exc.status_code, exc.container_body(), None, reason=exc.phrase)
            return
        self._send(200, result.body, result.content_type)

    def _runtime_invocation(self, name: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if name != self.endpoint.endpoint_name:
            self._read_body()
            message = f"Endpoint {name} of account {ACCOUNT_ID} not found."
            self._send_aws_error(400, "ValidationError", {"message": message})
            return
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            message = f"Request payload of {length} bytes exceeds the {MAX_PAYLOAD_BYTES} limit."
            self._send_aws_error(400, "ValidationError", {"message": message})
            return
        body = self._read_body()
        if self.endpoint.faults is not None and self.endpoint.faults.apply(self, body):
            return
        try:
            result = self._invoke(body)
        except ModelServerError as exc:
            document = model_error_body(name, exc)
            self._send_aws_error(HTTPStatus.FAILED_DEPENDENCY, "ModelError", document)
            return
        self._send(200, result.body, result.content_type,
                   {"x-Amzn-Invoked-Production-Variant": self.endpoint.variant_name})


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
    block_on_close = True
    request_queue_size = 128
    allow_reuse_address = True


class EndpointServer:
    """The HTTP server around a :class:`LocalEndpoint`; ``with EndpointServer(...) as s:``."""

    def __init__(self, endpoint: LocalEndpoint, host: str = "127.0.0.1", port: int = 0,
                 *, verbose: bool = False):
        self.endpoint = endpoint
        self._server = _Server((host, port), _Handler)
        self._server.endpoint = endpoint
        self._server.verbose = verbose
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> EndpointServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="endpoint-http", daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, finish requests in flight, then drain predictor and capture."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()  # joins the request threads (block_on_close)
        self.endpoint.close()

    def __enter__(self) -> EndpointServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_endpoint(
    model: str | Path,
    *,
    endpoint_name: str = DEFAULT_ENDPOINT_NAME,
    variant_name: str = DEFAULT_VARIANT_NAME,
    capture: str | None = None,
    sampling_percentage: float = 100.0,
    host: str = "127.0.0.1",
    port: int = 0,
    threads: int | None = None,
    verbose: bool = False,
    faults: FaultPlan | None = None,
    progress: bool = False,
) -> EndpointServer:
    """Load ``model`` and start serving it in background threads; returns the running server.
    ``progress`` shows the loading steps (`scones serve`); the other commands stay quiet."""
    loaded = load_model(model, threads=threads, progress=progress)
    writer = None
    if capture:
        writer = CaptureWriter(CaptureConfig(
            destination=capture, endpoint_name=endpoint_name, variant_name=variant_name,
            sampling_percentage=sampling_percentage,
        ))
    endpoint = LocalEndpoint(loaded, endpoint_name=endpoint_name, variant_name=variant_name,
                             capture=writer, faults=faults)
    server = EndpointServer(endpoint, host, port, verbose=verbose)
    return server.start()
