"""scones.local.lambdas: handlers run in-process the way the AWS Python runtime runs them."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from scones.local.deploy import Function
from scones.local.lambdas import load_handler

HANDLER = textwrap.dedent(
    """\
    import os

    COLOUR_AT_IMPORT = os.environ["COLOUR"]


    class ThingWentWrong(Exception):
        pass


    def lambda_handler(event, context):
        action = event.get("action")
        if action == "raise":
            raise ThingWentWrong(f"asked to fail by {context.function_name}")
        if action == "unserializable":
            return {"a set": {1, 2}}
        return {
            "at_import": COLOUR_AT_IMPORT,
            "at_call": os.environ["COLOUR"],
            "function_name": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "runtime_name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        }
    """
)


def make_spec(tmp_path: Path, name: str, colour: str) -> Function:
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER)
    return Function(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        code_dir=code_dir,
        handler="app.lambda_handler",
        environment={"COLOUR": colour},
        layer_dirs=(),
        timeout=3,
        memory_size=256,
        runtime="python3.13",
        architectures=("arm64",),
    )


def test_handler_runs_with_its_environment_and_a_lambda_context(tmp_path, monkeypatch):
    # GIVEN a function whose COLOUR differs from the process's
    monkeypatch.setenv("COLOUR", "process")
    invoke = load_handler(make_spec(tmp_path, "PaintFunction", "blue"))
    # WHEN invoked
    result = invoke({})
    # THEN it saw its own environment at import and at call, and a realistic context
    assert not result.failed and result.function_error is None
    out = result.payload
    assert (out["at_import"], out["at_call"], out["runtime_name"]) == (
        "blue",
        "blue",
        "PaintFunction",
    )
    assert out["arn"].endswith(":function:PaintFunction") and out["memory"] == 256
    assert out["request_id"] == result.request_id
    assert 0 < out["remaining_ms"] <= 3000
    # AND the process environment is restored afterwards
    assert os.environ["COLOUR"] == "process"
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_extra_env_overrides_the_template(tmp_path):
    invoke = load_handler(make_spec(tmp_path, "PaintFunction", "blue"), {"COLOUR": "red"})
    assert invoke({}).payload["at_call"] == "red"


def test_exception_becomes_the_runtime_error_payload(tmp_path):
    invoke = load_handler(make_spec(tmp_path, "PaintFunction", "blue"))
    # WHEN the handler raises
    result = invoke({"action": "raise"})
    # THEN errorType is the class name, as AWS reports it to Step Functions
    assert result.failed and result.function_error == "Unhandled"
    assert result.payload["errorType"] == "ThingWentWrong"
    assert result.payload["errorMessage"] == "asked to fail by PaintFunction"
    assert result.payload["requestId"] == result.request_id
    assert any("lambda_handler" in line for line in result.payload["stackTrace"])


def test_unserializable_response_is_a_marshal_error(tmp_path):
    result = load_handler(make_spec(tmp_path, "PaintFunction", "blue"))(
        {"action": "unserializable"}
    )
    assert result.failed and result.error_type == "Runtime.MarshalError"


def test_each_load_is_a_fresh_module(tmp_path):
    spec = make_spec(tmp_path, "PaintFunction", "blue")
    first, second = load_handler(spec), load_handler(spec)
    # THEN two cold starts: distinct modules, neither named plain "app"
    assert first.module is not second.module
    assert first.module.__name__ != second.module.__name__
    assert sys.modules[first.module.__name__] is first.module
    assert first.module.__name__.startswith("_scones_lambda_PaintFunction_")


def test_concurrent_invocations_never_see_each_others_environment(tmp_path):
    # GIVEN two functions with different environments
    blue = load_handler(make_spec(tmp_path, "BlueFunction", "blue"))
    green = load_handler(make_spec(tmp_path, "GreenFunction", "green"))
    seen: list[tuple[str, str]] = []

    def hammer(function, expected):
        for _ in range(200):
            seen.append((expected, function({}).payload["at_call"]))

    # WHEN invoked from several threads at once
    threads = [
        threading.Thread(target=hammer, args=(f, c))
        for f, c in [(blue, "blue"), (green, "green"), (blue, "blue"), (green, "green")]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every invocation saw its own function's value
    assert len(seen) == 800
    assert all(expected == got for expected, got in seen)


def test_missing_module_is_a_clear_error(tmp_path):
    spec = make_spec(tmp_path, "PaintFunction", "blue")
    (spec.code_dir / "app.py").unlink()
    with pytest.raises(FileNotFoundError, match="PaintFunction"):
        load_handler(spec)
