"""The `sam build` output (CI builds before testing): sizes, layer contents, and that each
function imports from its artifact plus the layer alone, as on Lambda. Skipped when not built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / ".aws-sam" / "build"
FUNCTIONS = ("SerializeImageDataFunction", "ClassifyImageFunction", "FilterLowConfidenceFunction")
MAX_FUNCTION_BYTES = 10_000_000

pytestmark = pytest.mark.skipif(
    not (BUILD / "SharedLayer").is_dir(), reason="run `sam build` first (make build)"
)

# The Lambda Python runtime's import path, emulated in a fresh interpreter: on Lambda the
# function's code (/var/task) comes first, then the layer's python/ folder (/opt/python), then
# the runtime's own packages (boto3 among them). sys.path[:0] puts the built artifact and the
# built layer in those two places; boto3 comes from this venv, as the runtime provides it.
# The probe runs the artifact as Lambda would; the tests themselves import nothing this way.
PROBE = """
import importlib.util, json, sys
sys.path[:0] = [{code!r}, {layer!r}]
spec = importlib.util.spec_from_file_location("app", {code!r} + "/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import aws_lambda_powertools, scones_domain
print(json.dumps({{"powertools": aws_lambda_powertools.__file__,
                   "shared": scones_domain.__file__,
                   "handler": callable(module.lambda_handler)}}))
"""


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_artifact_is_small(logical_id):
    assert directory_bytes(BUILD / logical_id) <= MAX_FUNCTION_BYTES


def test_layer_holds_shared_code_and_powertools_but_not_the_runtime_sdk():
    python = BUILD / "SharedLayer" / "python"
    for package in ("scones_domain", "aws_lambda_powertools", "aws_xray_sdk", "wrapt"):
        assert (python / package).is_dir(), package
    for package in ("boto3", "botocore", "s3transfer"):
        assert not (python / package).exists(), f"{package} is in the runtime: do not bundle it"


def test_monitor_function_artifact_is_its_handler_alone():
    # GIVEN the built MonitorCapturesFunction  THEN it holds app.py only: the monitoring code
    # is the layer's scones_domain.monitoring, not a copy of the CLI's package
    artifact = BUILD / "MonitorCapturesFunction"
    assert sorted(p.name for p in artifact.rglob("*") if p.is_file()) == ["app.py"]
    monitoring = BUILD / "SharedLayer" / "python" / "scones_domain" / "monitoring"
    assert {p.name for p in monitoring.glob("*.py")} >= {"captures.py", "stats.py", "drift.py"}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_imports_from_its_artifact_and_the_layer(deployment, logical_id):
    layer = BUILD / "SharedLayer" / "python"
    env = {**os.environ, **deployment.functions[logical_id].environment, "AWS_REGION": "us-east-1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=str(BUILD / logical_id), layer=str(layer))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["handler"]
    # THEN the shared code and Powertools come from the built layer, not from this checkout
    assert found["shared"].startswith(str(layer))
    assert found["powertools"].startswith(str(layer))
