"""Data safety: no image bytes in logs, trace metadata or execution outputs; no secrets in the
functions' environment; capture files hold only whole lines, even after kill -9.

The workflow runs on real images (inline and by S3 reference, confident and not, and a file
that is not an image) with every function's stdout (Powertools JSON logs + EMF metrics) sent to
a file; the test then searches that log, every execution's output, error and cause, and every
history event after ClassifyImage for the images' bytes: base64 (whole, or any 64-character
stretch of it) or raw PNG markers.

Step Functions history by design carries an inline image (<= INLINE_IMAGE_MAX_BYTES) from
SerializeImageData's output to ClassifyImage's input: that hop is the only place it may appear
(docs/reliability.md, "Data safety").
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scones.local.deploy import describe
from scones.local.stack import LocalStack
from scones.serving.capture import CaptureConfig, CaptureWriter
from scones.serving.endpoint import start_endpoint
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

REPO = Path(__file__).resolve().parents[2]
INLINE_HOP = {("TaskSucceeded", "SerializeImageData"), ("TaskStateExited", "SerializeImageData"),
              ("TaskStateEntered", "ClassifyImage"), ("TaskScheduled", "ClassifyImage")}

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def fingerprints(data: bytes) -> list[str]:
    """Strings whose presence means the image leaked: 64-char windows of its base64."""
    encoded = base64.b64encode(data).decode()
    step = 64
    return [encoded[i:i + step] for i in range(0, max(1, len(encoded) - step), step * 4)]


def leaks(text: str, images: dict[str, bytes]) -> list[str]:
    return [name for name, data in images.items()
            if any(f in text for f in fingerprints(data))]


def noise_png(size=(400, 300)) -> bytes:
    """Incompressible: over the inline limit, so it travels by S3 reference."""
    pixels = np.random.default_rng(3).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.integration
def test_no_image_bytes_in_logs_outputs_or_history_after_the_inline_hop(
        brightness_model, bright_images, dark_image, tmp_path):
    # GIVEN real images: confident, unconfident, one sent by S3 reference, and a fake PNG
    images = {"bright.png": bright_images[0].read_bytes(), "dark.png": dark_image.read_bytes(),
              "large.png": noise_png(), "fake.png": b"hello, not an image " * 40}
    log = tmp_path / "lambda.log"
    quiet_interpreter_logs()
    server = start_endpoint(brightness_model, capture=str(tmp_path / "captures"))
    try:
        with function_stdout_to(log), LocalStack(server.url) as stack:
            results = {}
            for name, data in images.items():
                stack.client("s3").put_object(Bucket=stack.bucket, Key=f"safety/{name}",
                                              Body=data)
                results[name] = stack.run({"image_data": "", "s3_bucket": stack.bucket,
                                           "s3_key": f"safety/{name}"}, timeout=60)
                assert results[name].history  # fetched while the stack is up
    finally:
        server.stop()
    # WHEN every log line, output, error, cause and history event is searched
    outcomes = {name: (r.status, r.error) for name, r in results.items()}
    assert outcomes == {"bright.png": ("SUCCEEDED", None),
                        "dark.png": ("FAILED", "THRESHOLD_CONFIDENCE_NOT_MET"),
                        "large.png": outcomes["large.png"],  # either verdict; it was classified
                        "fake.png": ("FAILED", "NotAnImage")}
    assert results["large.png"].inferences is not None
    log_text = log.read_text()
    assert "image serialized" in log_text and "image classified" in log_text  # it did log
    # THEN no image appears in the functions' logs ...
    assert leaks(log_text, images) == []
    assert "IHDR" not in log_text and "\\x89PNG" not in log_text
    hop_events = 0
    for name, result in results.items():
        # ... nor in any execution's output, error or cause ...
        assert leaks(json.dumps([result.output, result.error, result.cause]), images) == [], name
        # ... nor in any history event but the one inline hop SerializeImageData -> Classify
        state = None
        for event in result.history:
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            state = details.get("name", state) if event["type"].endswith("StateEntered") \
                else state
            found = leaks(json.dumps(event, default=str), images)
            if (event["type"], state) in INLINE_HOP or event["type"] == "ExecutionStarted":
                hop_events += bool(found)
                continue
            assert found == [], (name, event["type"], state)
    assert hop_events > 0  # the search does find inline images where they are by design


def _decorator_kwargs(path: Path) -> list[tuple[str, dict]]:
    """(decorator source, its keyword arguments) of every tracer.capture_* / logger decorator."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                name = ast.unparse(target)
                if name.startswith(("tracer.capture_", "logger.inject_lambda_context")):
                    keywords = getattr(deco, "keywords", [])
                    kwargs = {k.arg: ast.literal_eval(k.value) for k in keywords}
                    out.append((f"{path.parent.name}.{node.name}: {name}", kwargs))
    return out


@pytest.mark.parametrize("function", ["serialize_image_data", "classify_image"])
def test_functions_that_hold_image_bytes_never_put_them_in_traces(function):
    # GIVEN the functions whose events or return values carry image bytes
    decorators = _decorator_kwargs(REPO / "functions" / function / "app.py")
    # THEN every traced method/handler has capture_response=False
    traced = [(name, kw) for name, kw in decorators if name.split(": ")[1].startswith("tracer")]
    assert traced and all(kw.get("capture_response") is False for _, kw in traced), traced


def test_no_function_logs_its_event():
    for app in sorted((REPO / "functions").glob("*/app.py")):
        for name, kwargs in _decorator_kwargs(app):
            assert not kwargs.get("log_event"), name


SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|ACCESS_KEY|API_KEY",
                         re.I)
SECRET_VALUE = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN|[A-Za-z0-9/+]{40}")


def test_no_secrets_in_the_functions_environment():
    # GIVEN every function of the template with its resolved environment (Globals + own)
    app = describe(REPO / "template.yaml")
    # THEN no variable is named like a secret or holds a key-shaped value
    for spec in app.functions.values():
        for name, value in spec.environment.items():
            assert not SECRET_NAME.search(name), (spec.logical_id, name)
            assert not SECRET_VALUE.search(str(value)), (spec.logical_id, name)


# --------------------------------------------------------------------------- kill -9

def _hammer(url: str, body: bytes, stop: threading.Event, served: list) -> None:
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
            conn.request("POST", "/invocations", body, {"Content-Type": "image/png"})
            if conn.getresponse().status == 200:
                served.append(1)
            conn.close()
        except OSError:
            return  # the server is gone


@pytest.mark.integration
@pytest.mark.parametrize("round_", [1, 2])
def test_capture_files_hold_only_whole_lines_after_kill_9(brightness_model, bright_images,
                                                          tmp_path, round_):
    # GIVEN `scones serve` capturing every request, under load from 6 clients
    capture = tmp_path / "captures"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scones.cli", "serve", "--model", str(brightness_model),
         "--port", "0", "--capture", str(capture), "--endpoint-name", "kill-test"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url, "scones serve did not start"
        stop, served = threading.Event(), []
        body = bright_images[round_].read_bytes()
        clients = [threading.Thread(target=_hammer, args=(url, body, stop, served))
                   for _ in range(6)]
        for c in clients:
            c.start()
        time.sleep(1.5)
        # WHEN the server is killed with SIGKILL mid-load (no drain, no fsync)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for c in clients:
            c.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # THEN every line but a file's last is a whole record (the kill may cut the last one)
    files = sorted(capture.rglob("*.jsonl"))
    assert served and files
    for path in files:
        for line in path.read_bytes().split(b"\n")[:-1]:
            assert set(json.loads(line)) == {"captureData", "eventMetadata", "eventVersion"}
    # AND the next writer on the directory cuts any partial last line before it writes
    CaptureWriter(CaptureConfig(str(capture), "kill-test")).close()
    records = 0
    for path in files:
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path} ends mid-line"
        for line in data.splitlines():
            record = json.loads(line)
            assert set(record) == {"captureData", "eventMetadata", "eventVersion"}
            records += 1
    # AND nothing was invented: at most what clients were served (queued records died in
    # memory), plus the answers in flight to the 6 clients when the process died
    assert 0 < records <= len(served) + len(clients)
