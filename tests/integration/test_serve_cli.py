"""`scones serve` as a process: prints where it listens, serves boto3, drains capture on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import boto3
import pytest

pytestmark = pytest.mark.integration


def test_scones_serve_serves_and_drains_capture_on_sigint(tmp_path, brightness_model,
                                                          bright_and_dark, repo_root):
    # GIVEN `scones serve` on a free port with capture on
    capture = tmp_path / "cap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scones.cli", "serve", "--model", str(brightness_model),
         "--port", "0", "--capture", str(capture), "--endpoint-name", "served"],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", first).group(1)
        for line in proc.stdout:
            if line.startswith("Ctrl-C"):
                break
        # WHEN boto3 invokes it three times and the process gets SIGINT
        client = boto3.client("sagemaker-runtime", endpoint_url=url)
        answers = [json.loads(client.invoke_endpoint(
            EndpointName="served", ContentType="image/png", Body=p.read_bytes())["Body"].read())
            for p in (*bright_and_dark, bright_and_dark[0])]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    # THEN it answered, stopped cleanly, and all three requests are captured
    assert answers == [[0.99, 0.01], [0.4, 0.6], [0.99, 0.01]]
    assert proc.returncode == 0
    assert "stopped after 3 requests; 3 captured" in out
    assert "model ready" in err
    lines = [x for f in capture.rglob("*.jsonl") for x in f.read_text().splitlines()]
    assert len(lines) == 3
    assert all(f.parts[-7:-5] == ("served", "AllTraffic") for f in capture.rglob("*.jsonl"))
