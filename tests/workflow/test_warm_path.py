"""What a `scones run` on a warm stack loads: its own command module, the stack client and
botocore; not moto, the SAM transform, the endpoint or the other commands (benchmarks/up_bench.py
measures the time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scones.cli import COMMANDS, build_parser, command_modules
from scones.local.client import RemoteStack

REPO = Path(__file__).resolve().parents[2]


def test_a_named_command_registers_its_own_module_only():
    assert command_modules(["run", "photo.png"]) == ["scones.workflow.cli"]
    assert command_modules(["--debug", "logs", "--tail"]) == ["scones.workflow.up"]
    # help, a mistyped command or no arguments: every command, so argparse can list them
    everything = list(dict.fromkeys(COMMANDS.values()))
    for argv in ([], ["--help"], ["-h", "run"], ["runn"], None):
        assert command_modules(argv) == everything
    argv = ["run", str(REPO / "README.md"), "--threshold", "0.5"]
    args = build_parser(argv).parse_args(argv)
    assert args.threshold == 0.5 and args.func.__module__ == "scones.workflow.cli"


def test_the_warm_run_path_imports_no_moto_endpoint_or_other_command():
    # the modules `scones run` imports before it knows whether a stack is running
    code = ("import sys, scones.cli; scones.cli.build_parser(['run', 'x.png']); "
            "import scones.workflow.runner, scones.local.client, scones.local.server; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'moto', 'samtranslator', 'torch', 'numpy', 'PIL', 'matplotlib', 'boto3', 'model'} "
            "or m in {'scones.local.stack', 'scones.local.moto_adapter', 'scones.local.deploy', "
            "'scones.serving.endpoint', 'scones.demo', 'scones.monitor.cli', "
            "'scones.scale.cli', 'scones.workflow.up', 'unittest.mock'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_the_remote_stacks_clients_share_one_botocore_session(monkeypatch):
    import botocore.session

    sessions = []
    get_session = botocore.session.get_session
    monkeypatch.setattr(botocore.session, "get_session",
                        lambda: sessions.append(get_session()) or sessions[-1])
    stack = RemoteStack({"aws_endpoint_url": "http://127.0.0.1:9", "region": "eu-west-1",
                         "bucket": "b", "state_machines": {"ImageClassificationStateMachine":
                                                           "arn:sm"}, "functions": {}})
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    assert stack.client("s3") is s3
    assert s3.meta.region_name == sfn.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == sfn.meta.endpoint_url == "http://127.0.0.1:9"
    assert len(sessions) == 1  # the second client reuses what the first one loaded
