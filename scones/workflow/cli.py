"""`scones serve`, `scones run`, `scones invoke`: the local runtime on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scones_domain.arguments import (
    STDOUT,
    endpoint_name,
    existing_path,
    model_artifact,
    output_file,
    percentage,
    port,
    positive_int,
    probability,
    readable_file,
)
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD

DEFAULT_MODEL = "runs/model/model.tar.gz"
# A Path, not a string: argparse runs type= on string defaults only, and a missing default model
# is named when the command needs it (require_model; `scones run` may use a running stack).
DEFAULT_MODEL_PATH = Path(DEFAULT_MODEL)
DEFAULT_CAPTURE = "runs/captures"
DEFAULT_LAMBDA_LOG = "runs/lambda.log"


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve a model.tar.gz as a local SageMaker endpoint (real HTTP)",
        description="Serve a model artifact through its code/inference.py on 127.0.0.1: "
        "GET /ping, POST /invocations and POST /endpoints/NAME/invocations (boto3 "
        "sagemaker-runtime with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME). Ctrl-C stops it after "
        "writing every captured request.",
    )
    serve.add_argument("--model", type=model_artifact, default=DEFAULT_MODEL_PATH,
                       help=f"model.tar.gz or its unpacked folder (default {DEFAULT_MODEL})")
    serve.add_argument("--port", type=port, default=8080,
                       help="default 8080; 0 picks a free port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--capture", default=None, metavar="DIR|s3://BUCKET/PREFIX",
                       help="write SageMaker data capture here (off when omitted)")
    serve.add_argument("--sampling", type=percentage, default=100.0, metavar="PERCENT",
                       help="capture sampling percentage, 0-100 (default 100)")
    serve.add_argument("--endpoint-name", type=endpoint_name, default=None,
                       help="name served on /endpoints/NAME/invocations "
                       "(default: the template's EndpointName)")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.add_argument("--fault", default=None, metavar="KIND[:TIMES[:DELAY_S]],...",
                       help="inject faults into /endpoints/NAME/invocations: throttle, "
                       "server_error, model_not_ready, delay, refuse (docs/reliability.md)")
    serve.set_defaults(func=serve_command)

    run = subparsers.add_parser(
        "run", help="run the workflow locally over images or folders",
        description="Start the endpoint and the SAM stack in moto, upload each image, execute "
        "the state machine once per image and print a table and a summary. Exit code 0 when "
        "every image got an answer (SUCCEEDED or THRESHOLD_CONFIDENCE_NOT_MET), 1 otherwise.",
    )
    run.add_argument("paths", nargs="*", type=existing_path, metavar="PATH",
                     help="image files or folders")
    run.add_argument("--batch", metavar="DIR", type=existing_path, default=None,
                     help="run the batch state machine (Distributed Map) once over every image "
                     "of DIR instead of one execution per image")
    run.add_argument("--max-concurrency", type=positive_int, default=20, metavar="N",
                     help="with --batch: the Distributed Map's MaxConcurrency (default 20)")
    run.add_argument("--model", type=model_artifact, default=DEFAULT_MODEL_PATH,
                     help=f"model.tar.gz or its unpacked folder (default {DEFAULT_MODEL})")
    run.add_argument("--threshold", type=probability, default=None,
                     help="ConfidenceThreshold, 0-1 (default: the template's, "
                     f"{DEFAULT_CONFIDENCE_THRESHOLD})")
    run.add_argument("--json", dest="json_out", type=output_file, default=None, metavar="FILE|-",
                     help="write the records, one per image, as a JSON list to FILE ('-': "
                     "stdout, the table then goes to stderr)")
    run.add_argument("--capture", default=DEFAULT_CAPTURE, metavar="DIR|s3://...",
                     help=f"data capture destination (default {DEFAULT_CAPTURE})")
    run.add_argument("--concurrency", type=positive_int, default=2,
                     help="executions in flight (default 2: most images/s within p50 100 ms)")
    run.add_argument("--lambda-log", default=DEFAULT_LAMBDA_LOG,
                     help="the functions' log lines and EMF metrics "
                     f"(default {DEFAULT_LAMBDA_LOG})")
    run.set_defaults(func=run_command)

    invoke = subparsers.add_parser(
        "invoke", help="Docker-free `sam local invoke`: one function with an event",
        description="Invoke one function of template.yaml (its logical id) with an event, "
        "inside the local stack, and print its response (or the Lambda error shape, exit 1). "
        "The stack's bucket is named after the event's s3_bucket/bucket; put images in it "
        "with --upload FILE=KEY (or just FILE: the event's key).",
    )
    invoke.add_argument("function", metavar="FUNCTION",
                        help="logical id, e.g. SerializeImageDataFunction")
    invoke.add_argument("-e", "--event", required=True, type=readable_file,
                        help="event JSON file ('-' for stdin)")
    invoke.add_argument("--upload", action="append", default=[], metavar="FILE[=KEY]",
                        help="put FILE into the bucket as KEY (default: the event's key)")
    invoke.add_argument("--bucket", default=None,
                        help="local bucket name (default: the event's, else ImageBucket)")
    invoke.add_argument("--model", type=model_artifact, default=DEFAULT_MODEL_PATH,
                        help=f"served for functions that call the endpoint (default "
                        f"{DEFAULT_MODEL})")
    invoke.set_defaults(func=invoke_command)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def port_problem(host: str, port: int) -> str | None:
    """Why the endpoint could not listen on host:port (in use, not allowed, no such host), found
    before the model loads; None when it can. Binds as http.server does (SO_REUSEADDR)."""
    import errno
    import socket

    if port == 0:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            return f"--host {host}: {exc.strerror}"
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is in use: stop what listens there, or pass "
                        f"another --port (0 picks a free one)")
            if exc.errno == errno.EACCES:
                return f"port {port} on {host}: permission denied; pass --port 8080 or above"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def _template_endpoint_name() -> str:
    from scones.local.deploy import parameter_defaults

    return parameter_defaults()["EndpointName"]


def serve_command(args: argparse.Namespace) -> int:
    import signal
    import threading

    from scones.serving.endpoint import ArtifactError, start_endpoint
    from scones.serving.faults import FaultPlan, FaultSpecError
    from scones.workflow.runner import ModelNotFoundError, require_model

    name = args.endpoint_name or _template_endpoint_name()
    problem = port_problem(args.host, args.port)
    if problem:
        return _fail(problem)
    try:
        faults = FaultPlan.from_spec(args.fault) if args.fault else None
        server = start_endpoint(require_model(args.model), endpoint_name=name,
                                capture=args.capture, sampling_percentage=args.sampling,
                                host=args.host, port=args.port, verbose=args.verbose,
                                faults=faults, progress=True)
    except (ModelNotFoundError, ArtifactError, FaultSpecError, OSError) as exc:
        return _fail(str(exc))
    print(f"serving {args.model} as endpoint {name!r} on {server.url}")
    print(f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={server.url}")
    print(f"  curl -s -X POST -H 'Content-Type: image/png' --data-binary @IMAGE.png "
          f"{server.url}/endpoints/{name}/invocations")
    if args.capture:
        print(f"  capturing {args.sampling:g}% of requests to {args.capture}")
    print("Ctrl-C to stop", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop()
    capture = server.endpoint.capture
    print(f"stopped after {server.endpoint.served} requests"
          + (f"; {capture.written} captured in {len(capture.files)} file(s)" if capture else ""))
    return 0


def _startup_errors() -> tuple[type[Exception], ...]:
    """What `scones run` reports as a usage error (exit 2): a bad path, a missing model or one
    that is no model. Called by its ``except`` only when an error is raised, so a run on a warm
    stack never imports the endpoint's module."""
    from scones.serving.endpoint import ArtifactError
    from scones.workflow.runner import ImagePathError, ModelNotFoundError

    return ImagePathError, ModelNotFoundError, ArtifactError


def run_command(args: argparse.Namespace) -> int:
    from scones.workflow.runner import exit_code, format_summary, format_table, run_workflow

    if args.batch:
        if args.paths:
            return _fail("give either image PATHs or --batch DIR, not both")
        return batch_command(args)
    if not args.paths:
        return _fail("give image files or folders, or --batch DIR")
    try:
        outcome = run_workflow(args.paths, model=args.model, threshold=args.threshold,
                               capture=args.capture, concurrency=args.concurrency,
                               lambda_log=args.lambda_log, use_running=True)
    except _startup_errors() as exc:
        return _fail(str(exc))
    human = sys.stderr if args.json_out == STDOUT else sys.stdout
    print(format_table(outcome.records), file=human)
    print(file=human)
    print(format_summary(outcome.summary), file=human)
    if outcome.capture:
        print(f"captures: {outcome.capture} ({len(outcome.capture_files)} file(s))"
              if outcome.capture_files else f"captures: {outcome.capture}", file=human)
    if outcome.attached_to:
        print("function logs: scones logs [FUNCTION]", file=human)
    elif args.lambda_log:
        print(f"function logs: {args.lambda_log}", file=human)
    _write_records(outcome.records, args.json_out)
    return exit_code(outcome.records)


def _write_records(records, json_out: str | None) -> None:
    from scones.workflow.runner import write_json

    if json_out:
        write_json(records, json_out)
        if json_out != STDOUT:
            print(f"records: {json_out}")


def batch_command(args: argparse.Namespace) -> int:
    """`scones run --batch DIR`: one BatchClassificationStateMachine execution over DIR."""
    from scones.serving.endpoint import ArtifactError
    from scones.workflow.batch import BatchFailedError, format_batch_summary, run_batch
    from scones.workflow.runner import (
        ImagePathError,
        ModelNotFoundError,
        exit_code,
        format_table,
    )

    try:
        outcome = run_batch(args.batch, model=args.model, threshold=args.threshold,
                            capture=args.capture, concurrency=args.max_concurrency,
                            lambda_log=args.lambda_log)
    except (ImagePathError, ModelNotFoundError, ArtifactError, BatchFailedError) as exc:
        return _fail(str(exc))
    human = sys.stderr if args.json_out == STDOUT else sys.stdout
    print(format_table(outcome.records), file=human)
    print(file=human)
    print(format_batch_summary(outcome.summary), file=human)
    _write_records(outcome.records, args.json_out)
    return exit_code(outcome.records)


def event_location(event) -> tuple[str | None, str | None]:
    """The bucket and key an event names: workflow input, a state's payload (also wrapped in
    ``result``) or S3 via EventBridge (``detail.bucket.name`` / ``detail.object.key``)."""
    if not isinstance(event, dict):
        return None, None
    if isinstance(event.get("result"), dict) and not (event.get("s3_bucket") or
                                                      event.get("bucket")):
        return event_location(event["result"])  # a state's payload wrapping the result
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    bucket = (event.get("s3_bucket") or event.get("bucket")
              or (detail.get("bucket") or {}).get("name"))
    key = event.get("s3_key") or event.get("key") or (detail.get("object") or {}).get("key")
    return bucket, key


def _parse_upload(spec: str, event_key: str | None) -> tuple[Path, str]:
    file, sep, key = spec.partition("=")
    return Path(file), key if sep else (event_key or Path(file).name)


def invoke_command(args: argparse.Namespace) -> int:
    from scones.local.deploy import describe
    from scones.local.stack import LocalStack, UnknownFunctionError
    from scones.serving.endpoint import ArtifactError, start_endpoint
    from scones.workflow.runner import (
        ModelNotFoundError,
        function_stdout_to,
        quiet_interpreter_logs,
        require_model,
    )

    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
        event = json.loads(text)
    except (OSError, ValueError) as exc:
        return _fail(f"cannot read event {args.event}: {exc}")
    attached = _invoke_on_running_stack(args, event)
    if attached is not None:
        return attached
    app = describe()
    if args.function not in app.functions:
        return _fail(f"{args.function!r} is not a function of template.yaml; "
                     f"choose one of {', '.join(sorted(app.functions))}")
    event_bucket, event_key = event_location(event)
    bucket = args.bucket or event_bucket
    uploads = [_parse_upload(spec, event_key) for spec in args.upload]
    for file, _ in uploads:
        if not file.is_file():
            return _fail(f"--upload {file}: no such file")
    quiet_interpreter_logs()
    server = None
    name = app.parameters["EndpointName"]
    if "ENDPOINT_NAME" in app.functions[args.function].environment:
        try:
            server = start_endpoint(require_model(args.model), endpoint_name=name)
        except (ModelNotFoundError, ArtifactError) as exc:
            return _fail(str(exc))
    try:
        with function_stdout_to(sys.stderr), LocalStack(
                server.url if server else None, bucket=bucket,
                parameters={"EndpointName": name}) as stack:
            for file, key in uploads:
                stack.upload(file, key)
                print(f"uploaded {file} to s3://{stack.bucket}/{key}", file=sys.stderr)
            failed, payload = stack.invoke_function(args.function, event)
    except UnknownFunctionError as exc:
        return _fail(str(exc))
    finally:
        if server is not None:
            server.stop()
    print(json.dumps(payload, indent=2))
    return 1 if failed else 0


def _invoke_on_running_stack(args: argparse.Namespace, event) -> int | None:
    """`scones invoke` against the stack `scones up` serves, if one answers; else None."""
    from scones.local.client import RemoteStack
    from scones.local.server import StackNotRunningError, read_state

    try:
        stack = RemoteStack(read_state())
    except StackNotRunningError:
        return None
    print(f"using the local stack of `scones up` at {stack.aws_endpoint_url} (its logs: "
          f"scones logs {args.function})", file=sys.stderr)
    if args.function not in stack.function_names:
        return _fail(f"{args.function!r} is not a function of the stack; "
                     f"choose one of {', '.join(sorted(stack.function_names))}")
    event_bucket, event_key = event_location(event)
    stack.bucket = args.bucket or event_bucket or stack.bucket
    s3 = stack.client("s3")
    for file, key in (_parse_upload(spec, event_key) for spec in args.upload):
        if not file.is_file():
            return _fail(f"--upload {file}: no such file")
        if stack.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=stack.bucket)
        stack.upload(file, key)
        print(f"uploaded {file} to s3://{stack.bucket}/{key}", file=sys.stderr)
    failed, payload = stack.invoke_function(args.function, event)
    print(json.dumps(payload, indent=2))
    return 1 if failed else 0
