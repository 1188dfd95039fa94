"""`scones up` end to end, in processes of its own as a user runs it: a warm stack that
`scones run`, `scones logs`, boto3 with an endpoint URL and `scones down` reach."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCONES = [sys.executable, "-m", "scones.cli"]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def up(brightness_model, tmp_path_factory):
    """`scones up` running in a folder of its own (its state file is runs/local-stack.json)."""
    home = tmp_path_factory.mktemp("home")
    process = subprocess.Popen(
        [*SCONES, "up", "--model", str(brightness_model), "--port", str(free_port()),
         "--endpoint-port", str(free_port()), "--capture", str(home / "captures")],
        cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state_file = home / "runs/local-stack.json"
    deadline = time.monotonic() + 120
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"scones up did not start:\n{process.stdout.read()}")
        time.sleep(0.2)
    yield home, json.loads(state_file.read_text()), process, banner(process)
    if process.poll() is None:
        process.kill()


def banner(process: subprocess.Popen, timeout_s: float = 30.0) -> str:
    """What `scones up` printed up to its banner's last line (it prints it once the state file
    is written)."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return "".join(lines)


def scones(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SCONES, *args], cwd=home, capture_output=True, text=True,
                          timeout=120)


def test_run_uses_the_warm_stack_and_logs_read_its_functions(up, tmp_path):
    home, state, _, _ = up
    # GIVEN a bright (confident) and a dark (below-threshold) real PNG
    for name, value in (("bright.png", 230), ("dark.png", 20)):
        Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(tmp_path / name)
    # WHEN `scones run` runs while the stack is up
    done = scones(home, "run", str(tmp_path), "--json", str(tmp_path / "records.json"))
    # THEN it used that stack (no endpoint or stack of its own) and both got their answer
    assert done.returncode == 0, done.stderr
    assert f"using the local stack of `scones up` at {state['aws_endpoint_url']}" in done.stderr
    records = {Path(r["image"]).name: r for r in json.loads((tmp_path / "records.json")
                                                            .read_text())}
    assert records["bright.png"]["status"] == "SUCCEEDED"
    assert records["dark.png"]["error"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    # AND the functions' log lines are in their log groups, read by `scones logs`
    logs = scones(home, "logs", "ClassifyImageFunction", "--filter", "image classified")
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("ClassifyImageFunction  ") for line in lines)
    assert scones(home, "logs", "NoSuchFunction").returncode == 2


def test_the_banner_says_why_retraining_is_not_prepared_for_an_unpacked_model(up):
    # GIVEN `scones up` serving an unpacked test model (no split.json: no training data known)
    # THEN its banner says the retraining workflow was not prepared, and why
    lines = [line for line in up[3].splitlines() if line.startswith("retraining")]
    assert lines == [f"retraining    not prepared: {up[2].args[5]} is an unpacked model, not a "
                     f"model.tar.gz that `scones train` wrote"]


def test_boto3_reaches_the_stack_with_an_endpoint_url(up):
    import boto3

    _, state, _, _ = up
    sfn = boto3.client("stepfunctions", region_name="us-east-1",
                       endpoint_url=state["aws_endpoint_url"],
                       aws_access_key_id="local", aws_secret_access_key="local")
    arns = {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert arns == set(state["state_machines"].values())


def test_invoke_runs_a_function_of_the_warm_stack_with_an_uploaded_image(up, tmp_path):
    home, state, _, _ = up
    image = tmp_path / "bright.png"
    Image.fromarray(np.full((32, 32, 3), 230, np.uint8)).save(image)
    event = REPO / "events/serialize_image_data.json"
    key = json.loads(event.read_text())["s3_key"]
    # WHEN a function is invoked while the stack is up, with the event's image uploaded
    done = scones(home, "invoke", "SerializeImageDataFunction", "-e", str(event),
                  "--upload", f"{image}={key}")
    # THEN the warm stack's function answered (no stack of its own) with the image's S3 reference
    assert done.returncode == 0, done.stderr
    assert f"using the local stack of `scones up` at {state['aws_endpoint_url']}" in done.stderr
    answer = json.loads(done.stdout)
    assert (answer["key"], answer["content_type"], answer["width"]) == (key, "image/png", 32)


def test_monitor_reads_the_warm_stacks_captures_by_default(up, tmp_path):
    home, state, _, _ = up
    # GIVEN a photo run through the warm stack (its endpoint captures every inference)
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    assert scones(home, "run", str(tmp_path / "photo.png")).returncode == 0
    # WHEN `scones monitor` runs without --captures
    done = scones(home, "monitor", "--out", str(tmp_path / "report"), "--json", "-")
    # THEN it reported on the running stack's captures
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["captures"] == state["capture"] and summary["n_records"] >= 1
    assert (tmp_path / "report/report.html").exists()


def test_down_stops_it_and_removes_the_state_file(up):
    home, _, process, _ = up
    done = scones(home, "down")
    assert done.returncode == 0, done.stderr
    assert process.wait(timeout=30) == 0
    assert not (home / "runs/local-stack.json").exists()
    # AND without a stack, logs says how to start one
    again = scones(home, "logs")
    assert again.returncode == 1 and "scones up" in again.stderr
