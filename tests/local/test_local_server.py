"""What `scones up` adds to a LocalStack: code reloads without a restart, and the functions'
stdout in their CloudWatch Logs groups (on the fixture app, in this process)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from scones.local.lambdas import FunctionLogs, environment
from scones.local.server import CodeWatcher, StackNotRunningError, read_state
from scones.local.stack import LocalStack


@pytest.fixture
def app_copy(fixtures_dir, tmp_path):
    """A copy of the fixture app that a test may edit."""
    return shutil.copytree(fixtures_dir / "flaky_app", tmp_path / "app")


def touch_later(path) -> None:
    """Give an edited file an mtime the watcher cannot confuse with the old one."""
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_changed_handler_and_asl_are_reloaded_and_a_broken_one_is_kept_out(app_copy):
    with LocalStack(template=app_copy / "template.yaml", state_machine="FlowStateMachine",
                    bucket="edited-app-bucket") as stack:
        said: list[str] = []
        watcher = CodeWatcher(stack, on_reload=said.append)
        # GIVEN nothing changed WHEN checked THEN nothing is reloaded
        assert watcher.check() == []
        # WHEN Shout's handler is edited
        handler = app_copy / "functions/shout/app.py"
        handler.write_text(handler.read_text().replace(".upper()", ".lower()"))
        touch_later(handler)
        # THEN the next check reloads it and the next invoke runs the new code
        assert watcher.check() == ["ShoutFunction"]
        assert stack.invoke_function("ShoutFunction", {"word": "MoPeD"})[1]["word"] == "moped"
        # WHEN the edit is broken THEN it is reported and the last good code keeps running
        handler.write_text("def lambda_handler(event, context:\n")
        touch_later(handler)
        assert watcher.check() == []
        assert "ShoutFunction: not reloaded: SyntaxError" in said[-1]
        assert stack.invoke_function("ShoutFunction", {"word": "MoPeD"})[1]["word"] == "moped"
        # WHEN the ASL changes THEN the state machine is updated with the substitutions again
        asl = app_copy / "statemachine/flow.asl.json"
        asl.write_text(asl.read_text().replace('"StartAt"', '"Comment": "edited", "StartAt"', 1))
        touch_later(asl)
        assert watcher.check() == ["FlowStateMachine"]
        described = stack.client("stepfunctions").describe_state_machine(
            stateMachineArn=stack.state_machine_arn)
        assert "edited" in described["definition"] and "${" not in described["definition"]


def test_function_stdout_goes_to_its_log_group_and_other_text_to_the_fallback():
    import io

    from moto import mock_aws

    with mock_aws():
        import boto3

        logs, fallback = boto3.client("logs", region_name="us-east-1"), io.StringIO()
        sink = FunctionLogs(logs, fallback)
        # GIVEN a write while a function runs (its name in the environment), in two pieces
        with environment({"AWS_LAMBDA_FUNCTION_NAME": "fn-1"}):
            sink.write('{"level":"INFO","message":"one"}\n{"level":')
            sink.write('"ERROR","message":"two"}\n')
        sink.write("not a function's line\n")
        # THEN each complete line is one event of /aws/lambda/fn-1, the rest the fallback's
        events = logs.filter_log_events(logGroupName="/aws/lambda/fn-1")["events"]
        assert [e["message"] for e in events] == ['{"level":"INFO","message":"one"}',
                                                  '{"level":"ERROR","message":"two"}']
        assert fallback.getvalue() == "not a function's line\n"


def test_no_running_stack_is_a_named_error(tmp_path):
    with pytest.raises(StackNotRunningError, match="scones up"):
        read_state(tmp_path / "local-stack.json")
    (tmp_path / "local-stack.json").write_text('{"aws_endpoint_url": "http://127.0.0.1:9"}')
    with pytest.raises(StackNotRunningError, match="does not answer"):
        read_state(tmp_path / "local-stack.json")
