"""`scones up`, `scones down`, `scones logs`: a warm local stack, like `sam local start-*`.

    scones up [--model M] [--port 4566] [--endpoint-port 8080] [--capture DIR] [--threshold T]
    scones run photos/            # uses the running stack: the first photo in well under 1 s
    scones logs ClassifyImageFunction --tail --filter ERROR
    aws --endpoint-url http://127.0.0.1:4566 stepfunctions list-state-machines
    scones down

`up` deploys the template once (endpoint, state machines, functions, buckets, tables, rules),
serves its AWS APIs on one port and the model on another, writes runs/local-stack.json, and
reloads a changed handler, layer or ASL file by itself. The functions' stdout goes to their
CloudWatch Logs groups (``/aws/lambda/<name>``), which `logs` reads as `sam logs` does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from scones.local.server import DEFAULT_STATE_FILE
from scones_domain.arguments import model_artifact, port, probability

DEFAULT_AWS_PORT = 4566
DEFAULT_ENDPOINT_PORT = 8080


def register(subparsers) -> None:
    up = subparsers.add_parser(
        "up", help="start a warm local stack (AWS APIs + model endpoint) until Ctrl-C",
        description="Deploy the SAM application into moto once and keep it running: its AWS "
        "APIs on --port (boto3/AWS CLI with --endpoint-url), the model on --endpoint-port. "
        "`scones run` and `scones logs` use it; a changed handler or ASL file is reloaded "
        "without a restart. A model that `scones train` wrote (split.json beside it) is also "
        "deployed into the stack's SageMaker, with its training images, its held-out images "
        "as the evaluation set and the training code in the image bucket, so the retraining "
        "workflow runs here as on AWS.")
    up.add_argument("--model", default="runs/model/model.tar.gz", type=model_artifact,
                    help="model artifact to serve (default: runs/model/model.tar.gz)")
    up.add_argument("--port", type=port, default=DEFAULT_AWS_PORT,
                    help=f"port of the AWS APIs (default {DEFAULT_AWS_PORT})")
    up.add_argument("--endpoint-port", type=port, default=DEFAULT_ENDPOINT_PORT,
                    help=f"port of the model endpoint (default {DEFAULT_ENDPOINT_PORT})")
    up.add_argument("--capture", default="runs/captures",
                    help="data-capture directory or s3://bucket/prefix (default runs/captures)")
    up.add_argument("--threshold", type=probability, default=None,
                    help="ConfidenceThreshold (default: the template's)")
    up.add_argument("--state-file", default=str(DEFAULT_STATE_FILE), help=argparse.SUPPRESS)
    up.set_defaults(func=up_command)

    down = subparsers.add_parser("down", help="stop the stack `scones up` started")
    down.add_argument("--state-file", default=str(DEFAULT_STATE_FILE), help=argparse.SUPPRESS)
    down.set_defaults(func=down_command)

    logs = subparsers.add_parser(
        "logs", help="read the functions' logs of the running stack (like `sam logs`)",
        description="Print the log lines of the stack's functions (their CloudWatch Logs "
        "groups), oldest first: `<function> <time> <line>`.")
    logs.add_argument("function", nargs="?", default=None,
                      help="a function's logical id, e.g. ClassifyImageFunction (default: all)")
    logs.add_argument("--tail", action="store_true", help="keep printing new lines")
    logs.add_argument("--filter", default=None, help="only lines containing this text")
    logs.add_argument("--state-file", default=str(DEFAULT_STATE_FILE), help=argparse.SUPPRESS)
    logs.set_defaults(func=logs_command)


def _fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def up_command(args: argparse.Namespace) -> int:
    from scones.local.lambdas import FunctionLogs
    from scones.local.server import CodeWatcher, serve_aws, stack_state, write_state
    from scones.serving.endpoint import ArtifactError
    from scones.workflow.cli import port_problem
    from scones.workflow.runner import ModelNotFoundError, function_stdout_to, local_runtime

    for host_port in (args.port, args.endpoint_port):  # before the model loads
        problem = port_problem("127.0.0.1", host_port)
        if problem:
            return _fail(problem, 2)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        runtime = local_runtime(args.model, capture=args.capture, threshold=args.threshold,
                                endpoint_port=args.endpoint_port)
        endpoint, stack = runtime.__enter__()
    except (ModelNotFoundError, ArtifactError, OSError) as exc:
        return _fail(str(exc))
    state_file = Path(args.state_file)
    try:
        retraining = retraining_line(stack, args.model)
        server, url = serve_aws(args.port)
        watcher = CodeWatcher(stack, on_reload=lambda text: print(text, flush=True)).start()
        sink = FunctionLogs(stack.client("logs"), sys.stdout)
        with function_stdout_to(sink):
            write_state(state_file, stack_state(
                stack, url, endpoint_url=endpoint.url, model=str(args.model),
                capture=args.capture, template=str(stack.template)))
            print(f"AWS APIs      {url}   (aws --endpoint-url {url} ...)\n"
                  f"model         {endpoint.url}\n"
                  f"image bucket  {stack.bucket}\n"
                  f"state file    {state_file}\n"
                  f"retraining    {retraining}\n"
                  "Ctrl-C or `scones down` stops it; a changed handler or ASL file is reloaded.",
                  flush=True)
            while not stopped.wait(0.5):
                pass
        watcher.stop()
        server.stop()
    finally:
        state_file.unlink(missing_ok=True)
        runtime.__exit__(None, None, None)
    print("stopped", flush=True)
    return 0


def retraining_line(stack, model: str) -> str:
    """Prepare the stack's retraining workflow (scones.workflow.retraining); what was done, or
    why not, in one line."""
    from scones.workflow.retraining import RetrainingDataNotFound, prepare_retraining

    artifact = Path(model)
    if artifact.is_dir():
        artifact = artifact / "model.tar.gz"
    try:
        if not artifact.is_file():
            raise RetrainingDataNotFound(f"{model} is an unpacked model, not a model.tar.gz "
                                         f"that `scones train` wrote")
        setup = prepare_retraining(stack, artifact, stack.deployment.parameters["EndpointName"])
    except RetrainingDataNotFound as exc:
        return f"not prepared: {exc}"
    return setup.describe()


def down_command(args: argparse.Namespace) -> int:
    import json

    state_file = Path(args.state_file)
    try:
        pid = json.loads(state_file.read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return _fail(f"no local stack: {state_file} not found")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state_file.unlink(missing_ok=True)
        return _fail(f"the local stack (pid {pid}) had already stopped; removed {state_file}")
    deadline = time.monotonic() + 30
    while state_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"stopped the local stack (pid {pid})")
    return 0


def logs_command(args: argparse.Namespace) -> int:
    from scones.local.client import RemoteStack
    from scones.local.server import StackNotRunningError, read_state

    try:
        stack = RemoteStack(read_state(args.state_file))
    except StackNotRunningError as exc:
        return _fail(str(exc))
    functions = stack.function_names
    if args.function is not None and args.function not in functions:
        return _fail(f"{args.function!r} is not a function of the stack; choose one of "
                     f"{', '.join(sorted(functions))}", 2)
    chosen = [args.function] if args.function else sorted(functions)
    logs, since = stack.client("logs"), 0
    try:
        while True:
            lines = []
            for logical_id in chosen:
                for event in _events(logs, f"/aws/lambda/{functions[logical_id]}", since):
                    if args.filter is None or args.filter in event["message"]:
                        lines.append((event["timestamp"], logical_id, event["message"]))
            for timestamp, logical_id, message in sorted(lines):
                when = datetime.fromtimestamp(timestamp / 1000, UTC).isoformat(timespec="seconds")
                print(f"{logical_id}  {when}  {message}", flush=True)
            since = max([since, *[line[0] + 1 for line in lines]])
            if not args.tail:
                return 0
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0


def _events(logs, group: str, since: int) -> list[dict]:
    events, token = [], None
    while True:
        kwargs = {"logGroupName": group, "startTime": since}
        if token:
            kwargs["nextToken"] = token
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return events
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token or not page.get("events"):
            return events
