"""The command line's errors and exit codes, every command: a user mistake is one line on stderr
that names it (and the fix, where there is one), no traceback; exit 2 for a usage error, 1 for
failed work, 3 for `scones monitor --fail-on drift` when drift fails. Plus what a script relies
on: `scones deploy --dry-run` without region or credentials and its quoted `sam deploy` line,
`--json -` (stdout holds only the JSON), and a quiet `scones invoke`.
"""

from __future__ import annotations

import io
import json
import random
import shlex
import socket
import subprocess
import sys
import tarfile

import pytest
from monitor_fixtures import (
    T0,
    capture_relpath,
    csv_record,
    jsonl,
    make_baseline,
    traffic,
    write_tree,
)
from PIL import Image

from scones.cli import main

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
DEPLOY = ["deploy", "--model", "{artifact}", "--role", ROLE, "--bucket", "scones-artifacts",
          "--endpoint-name", "scones-vehicles", "--dry-run"]


@pytest.fixture
def paths(tmp_path, brightness_model, repo_root) -> dict[str, str]:
    """What the table's argument lists name: {png}, {artifact}, {missing}, {dir}, ..."""
    png = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), (200, 200, 200)).save(png)
    artifact = tmp_path / "model" / "model.tar.gz"  # a model.tar.gz as deploy reads it
    artifact.parent.mkdir()
    with tarfile.open(artifact, "w:gz") as tar:
        for name, body in {"metadata.json": {"model_version": "20260101-abc123",
                                             "labels": ["bicycle", "motorcycle"]},
                           "baseline.json": {"labels": ["bicycle", "motorcycle"]}}.items():
            data = json.dumps(body).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (tmp_path / "data" / "bicycle").mkdir(parents=True)
    (tmp_path / "captures").mkdir()
    (tmp_path / "plain.txt").write_text("not a folder")
    return {"png": str(png), "artifact": str(artifact), "missing": str(tmp_path / "missing"),
            "dir": str(tmp_path / "data"), "captures": str(tmp_path / "captures"),
            "out": str(tmp_path / "out"), "file": str(tmp_path / "plain.txt"),
            "model_dir": str(brightness_model),
            "event": str(repo_root / "events" / "serialize_image_data.json")}


def run_main(capsys, argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `scones ARGV`, as the shell sees them."""
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse refused the arguments
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, message: str) -> None:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err  # exactly one line, and it names the problem
    assert "error: " in lines[0] and message in lines[0], err


# (mistake, scones ARGV, exit status, what the one line on stderr says)
MISTAKES = [
    # a missing or unreadable path
    ("missing model", ["evaluate", "--model", "{missing}", "--data", "{dir}"], 2,
     "argument --model: {missing}: no such file; train one"),
    ("missing data", ["train", "--data", "{missing}", "--out", "{out}"], 2,
     "argument --data: {missing}: no such file or folder"),
    ("missing corpus", ["pretrain", "--data", "{missing}", "--out", "{out}"], 2,
     "argument --data: {missing}: no such file or folder"),
    ("missing image", ["run", "{missing}"], 2, "argument PATH: {missing}: no such file"),
    ("missing batch folder", ["run", "--batch", "{missing}"], 2,
     "argument --batch: {missing}: no such file"),
    ("missing event", ["invoke", "SerializeImageDataFunction", "-e", "{missing}"], 2,
     "argument -e/--event: {missing}: no such file"),
    ("folder as event", ["invoke", "SerializeImageDataFunction", "-e", "{dir}"], 2,
     "{dir} is a folder, not a file"),
    ("missing demo data", ["demo", "--data", "{missing}"], 2, "{missing}: no such file"),
    ("missing captures", ["monitor", "--captures", "{missing}", "--out", "{out}"], 2,
     "CaptureSourceNotFound"),
    ("missing baseline", ["monitor", "--captures", "{captures}", "--out", "{out}",
                          "--baseline", "{missing}"], 2, "BaselineNotFound"),
    ("folder as --json", ["evaluate", "--model", "{artifact}", "--data", "{dir}", "--json",
                          "{dir}"], 2, "is a folder: give a file path, or - for standard output"),
    ("--json under a file", ["run", "{png}", "--json", "{file}/records.json"], 2,
     "{file} is a file, not a folder"),
    # a PNG (or a folder that is no model) where a model.tar.gz is expected
    ("PNG as evaluate --model", ["evaluate", "--model", "{png}", "--data", "{dir}"], 2,
     "{png} is a PNG image, not a model.tar.gz"),
    ("PNG as deploy --model", ["deploy", "--model", "{png}", *DEPLOY[3:]], 2,
     "{png} is a PNG image, not a model.tar.gz"),
    ("PNG as serve --model", ["serve", "--model", "{png}"], 2, "is a PNG image"),
    ("PNG as run --model", ["run", "{png}", "--model", "{png}"], 2, "is a PNG image"),
    ("PNG as invoke --model", ["invoke", "ClassifyImageFunction", "-e", "{event}", "--model",
                               "{png}"], 2, "is a PNG image"),
    ("PNG as demo --model", ["demo", "--model", "{png}"], 2, "is a PNG image"),
    ("PNG as up --model", ["up", "--model", "{png}"], 2, "is a PNG image"),
    ("folder without code", ["serve", "--model", "{dir}"], 2,
     "{dir} is a folder without code/inference.py"),
    # a role that is not an ARN, a bucket as s3://, endpoint names AWS or the stack refuse
    ("role not an ARN", ["deploy", *DEPLOY[1:3], "--role", "my-role", *DEPLOY[5:]], 2,
     "argument --role: 'my-role' is not an IAM role ARN: give arn:aws:iam::<account>:role/"),
    ("bucket as s3:// URI", [*DEPLOY[:5], "--bucket", "s3://scones-artifacts/models",
                             *DEPLOY[7:]], 2,
     "not an s3:// URI: --bucket scones-artifacts --prefix models"),
    ("bucket name invalid", [*DEPLOY[:5], "--bucket", "Scones_Artifacts", *DEPLOY[7:]], 2,
     "'Scones_Artifacts' is not an S3 bucket name"),
    ("endpoint name with _", [*DEPLOY[:7], "--endpoint-name", "scones_vehicles", "--dry-run"],
     2, "'scones_vehicles' is not a SageMaker endpoint name"),
    ("endpoint name too long", [*DEPLOY[:7], "--endpoint-name", "a" * 64, "--dry-run"], 2,
     "is not a SageMaker endpoint name"),
    ("endpoint name capitals", [*DEPLOY[:7], "--endpoint-name", "Scones-Vehicles", "--dry-run"],
     2, "use 'scones-vehicles'"),
    ("serve endpoint name", ["serve", "--endpoint-name=-scones"], 2,
     "argument --endpoint-name: '-scones' is not a SageMaker endpoint name"),
    # counts, shares and ports outside their range
    ("--instance-count 0", [*DEPLOY, "--instance-count", "0"], 2,
     "argument --instance-count: must be at least 1, got 0"),
    ("--max-instances below", [*DEPLOY, "--max-instances", "1"], 2,
     "--max-instances (1) must be at least --instance-count (2)"),
    ("--latency-alarm-ms 0", [*DEPLOY, "--latency-alarm-ms", "0"], 2,
     "argument --latency-alarm-ms: must be greater than 0"),
    ("region without image", [*DEPLOY, "--region", "moon-1"], 2,
     "no PyTorch 2.6 inference image for region 'moon-1'"),
    ("train --threshold 1.5", ["train", "--data", "{dir}", "--out", "{out}", "--threshold",
                               "1.5"], 2, "argument --threshold: must be between 0 and 1, got 1.5"),
    ("evaluate --threshold -0.1", ["evaluate", "--model", "{artifact}", "--data", "{dir}",
                                   "--threshold", "-0.1"], 2, "must be between 0 and 1, got -0.1"),
    ("run --threshold 1.5", ["run", "{png}", "--threshold", "1.5"], 2,
     "argument --threshold: must be between 0 and 1, got 1.5"),
    ("run --threshold abc", ["run", "{png}", "--threshold", "abc"], 2, "not a number: 'abc'"),
    ("demo --threshold 2", ["demo", "--threshold", "2"], 2, "must be between 0 and 1, got 2"),
    ("monitor --threshold 7", ["monitor", "--captures", "{captures}", "--out", "{out}",
                               "--threshold", "7"], 2, "must be between 0 and 1, got 7"),
    ("up --threshold 1.5", ["up", "--threshold", "1.5"], 2, "must be between 0 and 1, got 1.5"),
    ("--concurrency 0", ["run", "{png}", "--concurrency", "0"], 2,
     "argument --concurrency: must be at least 1, got 0"),
    ("--max-concurrency 0", ["run", "--batch", "{dir}", "--max-concurrency", "0"], 2,
     "argument --max-concurrency: must be at least 1, got 0"),
    ("demo --concurrency 0", ["demo", "--concurrency", "0"], 2, "must be at least 1, got 0"),
    ("--epochs 0", ["train", "--data", "{dir}", "--out", "{out}", "--epochs", "0"], 2,
     "argument --epochs: must be at least 1, got 0"),
    ("--sampling 150", ["serve", "--sampling", "150"], 2,
     "argument --sampling: must be a percentage between 0 and 100, got 150"),
    ("--port 70000", ["serve", "--port", "70000"], 2,
     "argument --port: must be a port between 1 and 65535"),
    ("--window-minutes 0", ["monitor", "--captures", "{captures}", "--out", "{out}",
                            "--window-minutes", "0"], 2, "must be greater than 0"),
    # options that exclude or need each other, and no command at all
    ("--from-scratch and --backbone", ["train", "--data", "{dir}", "--out", "{out}",
                                       "--from-scratch", "--backbone", "x.npz"], 2,
     "argument --backbone: not allowed with argument --from-scratch"),
    ("--fail-on drift without --baseline", ["monitor", "--captures", "{captures}", "--out",
                                            "{out}", "--fail-on", "drift"], 2,
     "--fail-on drift needs --baseline"),
    ("paths and --batch", ["run", "{png}", "--batch", "{dir}"], 2, "not both"),
    ("nothing to run", ["run"], 2, "give image files or folders, or --batch DIR"),
    ("unknown option", ["run", "{png}", "--nope"], 2, "unrecognized arguments: --nope"),
    ("no command", [], 2, "the following arguments are required: COMMAND"),
    # scones review: no stack to review, a mistaken option (the mistakes a stack must answer,
    # a wrong label or id, are in tests/review/)
    ("review without a stack", ["review", "--state-file", "{missing}"], 2,
     "scones review: error: no local stack: {missing} not found: start one with `scones up` or "
     "give --stack-name"),
    ("review label without a stack", ["review", "label", "7dcc08", "bicycle", "--state-file",
                                      "{missing}"], 2, "start one with `scones up` or give "
     "--stack-name"),
    ("review --region alone", ["review", "--region", "eu-west-1", "--state-file", "{missing}"],
     2, "--region needs --stack-name"),
    ("review stack name with _", ["review", "--stack-name", "scones_vehicles"], 2,
     "argument --stack-name: 'scones_vehicles' is not a CloudFormation stack name"),
    ("review no reviewer", ["review", "label", "7dcc08", "bicycle", "--reviewer", " "], 2,
     "argument --reviewer: the review names no reviewer"),
    ("review label without LABEL", ["review", "label", "7dcc08"], 2,
     "the following arguments are required: LABEL"),
    ("review --html a file", ["review", "--html", "{file}"], 2,
     "argument --html: {file} is a file, not a folder"),
    ("review --interactive and label", ["review", "--interactive", "label", "7dcc08",
                                        "bicycle", "--state-file", "{missing}"], 2,
     "--interactive walks the queue: not with label"),
    # failed work: one line, exit 1
    ("artifact without weights", ["evaluate", "--model", "{artifact}", "--data", "{dir}"], 1,
     "has no weights.npz"),
]


@pytest.mark.parametrize(("argv", "status", "message"), [case[1:] for case in MISTAKES],
                         ids=[case[0] for case in MISTAKES])
def test_a_mistake_is_one_line_and_its_exit_status(capsys, paths, argv, status, message):
    # GIVEN a command line with one mistake WHEN scones runs it
    code, out, err = run_main(capsys, [arg.format(**paths) for arg in argv])
    # THEN it exits with the status of the mistake's kind, one line naming it, no traceback
    assert code == status, err
    assert_one_line(err, message.format(**paths))
    assert out == ""


def test_debug_shows_the_traceback_and_the_one_line_does_not(capsys, paths):
    from model.package import ArtifactError

    argv = ["evaluate", "--model", paths["artifact"], "--data", paths["dir"]]
    with pytest.raises(ArtifactError, match="has no weights.npz"):
        main(["--debug", *argv])
    with pytest.raises(ArtifactError):
        main([*argv, "--debug"])  # after the command as well
    capsys.readouterr()
    assert run_main(capsys, argv)[0] == 1


def test_a_failed_deploy_is_exit_1_with_one_line(capsys, paths, monkeypatch, tmp_path):
    # GIVEN no credentials at all (and no instance metadata to ask)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN a real deploy starts THEN AWS's refusal is the work failing: exit 1, one line
    argv = [arg.format(**paths) for arg in DEPLOY if arg != "--dry-run"]
    code, out, err = run_main(capsys, [*argv, "--region", "us-east-1"])
    assert code == 1 and out == ""
    assert_one_line(err, "Unable to locate credentials")


def test_serve_names_a_port_in_use_before_it_loads_the_model(brightness_model, repo_root):
    # GIVEN a port something already listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # WHEN `scones serve` is asked to serve there
        done = subprocess.run(
            [sys.executable, "-m", "scones.cli", "serve", "--model", str(brightness_model),
             "--port", str(port)], cwd=repo_root, capture_output=True, text=True, timeout=60)
    # THEN one line names the port and the fix, and no model was loaded
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line(done.stderr, f"port {port} on 127.0.0.1 is in use")
    assert "--port" in done.stderr and "[endpoint]" not in done.stderr


def test_error_messages_show_no_python_object(tmp_path):
    # GIVEN bytes that are no image WHEN the model's decoder reads them
    from model.inference import InvalidImageError, decode_image

    with pytest.raises(InvalidImageError) as error:
        decode_image(b"these bytes are no image")
    # THEN the message says so, without Pillow's "<_io.BytesIO object at 0x...>"
    assert "object at 0x" not in str(error.value)
    assert str(error.value).startswith("cannot decode image: not an image format")


# ---- scones deploy --dry-run: no region, no credentials, the whole sam deploy line ----------

@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No credentials, no region anywhere; any AWS API call fails the test."""
    import botocore.client

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                 "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def called(self, operation, params):
        raise AssertionError(f"the dry run called {operation}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", called)


@pytest.mark.parametrize(("env", "extra", "region"), [
    ({}, [], "us-east-1"),
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, [], "eu-west-1"),
    ({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1"}, [], "eu-central-1"),
    ({"AWS_REGION": "eu-central-1"}, ["--region", "ap-southeast-2"], "ap-southeast-2"),
], ids=["default", "AWS_DEFAULT_REGION", "AWS_REGION first", "--region wins"])
def test_dry_run_needs_no_region_or_credentials(capsys, paths, no_aws, monkeypatch, env, extra,
                                                region):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # WHEN the dry run plans
    code, out, err = run_main(capsys, [arg.format(**paths) for arg in DEPLOY] + extra)
    # THEN stdout is the sam deploy line alone, with every parameter the plan decides
    assert code == 0, err
    assert out.count("\n") == 1
    words = shlex.split(out)
    key = "scones/models/scones-vehicles/20260101-abc123/model.tar.gz"
    assert words == [
        "sam", "deploy", "--parameter-overrides", "EndpointName=scones-vehicles",
        "ModelVersion=20260101-abc123", "CaptureS3Uri=s3://scones-artifacts/scones/datacapture",
        f"BaselineS3Uri=s3://scones-artifacts/{key}", "ClassLabels=bicycle,motorcycle",
        "--region", region]
    assert out.strip() == shlex.join(words)  # quoted as the shell reads it back
    # AND the plan, in the region it was made for, is on stderr
    assert f"dry run: nothing called. Plan in {region}" in err and "Traceback" not in err


def test_dry_run_json_is_the_whole_plan_on_stdout_or_in_a_file(capsys, paths, no_aws, tmp_path):
    from model.deploy import CALLS

    argv = [arg.format(**paths) for arg in DEPLOY]
    code, out, err = run_main(capsys, [*argv, "--json", "-"])
    plan = json.loads(out)  # stdout holds the JSON alone; the sam line went to stderr
    assert code == 0 and set(CALLS) <= set(plan) and plan["region"] == "us-east-1"
    assert plan["sam_deploy"] in err
    code, out, _ = run_main(capsys, [*argv, "--json", str(tmp_path / "plans" / "plan.json")])
    assert code == 0 and out.startswith("sam deploy ")
    assert json.loads((tmp_path / "plans" / "plan.json").read_text())["sam_deploy"] == out.strip()


def test_a_value_that_needs_quoting_is_quoted():
    from model.deploy import sam_deploy_line

    line = sam_deploy_line({"EndpointName": "e", "ModelVersion": "run 1;rm -rf ~"}, "us-east-1")
    assert shlex.split(line)[-3:] == ["ModelVersion=run 1;rm -rf ~", "--region", "us-east-1"]


# ---- scones monitor: exit 1 without captures, 3 for a drift FAIL with --fail-on drift -------

def monitor(capsys, captures, out, *extra) -> tuple[int, str, str]:
    return run_main(capsys, ["monitor", "--captures", str(captures), "--out", str(out), *extra])


def test_monitor_without_captures_exits_1_and_still_writes_the_report(capsys, tmp_path):
    (tmp_path / "c").mkdir()
    code, out, err = monitor(capsys, tmp_path / "c", tmp_path / "out")
    assert code == 1 and "inferences    0" in out
    assert_one_line(err, f"no inferences in {tmp_path / 'c'}: no capture files")
    assert (tmp_path / "out" / "report.html").exists()


def test_monitor_with_captures_of_no_image_exits_1(capsys, tmp_path):
    path = tmp_path / "c" / capture_relpath(T0, endpoint="tabular-ep")
    path.parent.mkdir(parents=True)
    path.write_text(jsonl([csv_record(T0)] * 3))
    code, _, err = monitor(capsys, tmp_path / "c", tmp_path / "out")
    assert code == 1
    assert_one_line(err, "1 capture file(s), 3 line(s), none an image inference")


@pytest.fixture
def baseline(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(make_baseline()))
    return path


def test_drift_fail_exits_3_only_with_fail_on_drift(capsys, tmp_path, baseline):
    # GIVEN unconfident, mostly-motorcycle, dark traffic: drift FAILs against the baseline
    write_tree(tmp_path / "c", traffic(120, T0, rng=random.Random(5), confident=0.1,
                                       motorcycle_share=0.9, gray=50))
    # WHEN monitored without --fail-on THEN the report is the result: exit 0
    code, out, _ = monitor(capsys, tmp_path / "c", tmp_path / "a", "--baseline", str(baseline))
    assert code == 0 and "FAIL" in out
    # WHEN monitored with --fail-on drift THEN exit 3, one line naming the failed checks
    code, out, err = run_main(capsys, ["monitor", "--captures", str(tmp_path / "c"), "--out",
                                       str(tmp_path / "b"), "--baseline", str(baseline),
                                       "--fail-on", "drift"])
    assert code == 3 and "report" in out
    assert err.startswith("drift FAIL against ") and err.count("\n") == 1


def test_drift_pass_with_fail_on_drift_exits_0(capsys, tmp_path, baseline):
    write_tree(tmp_path / "c", traffic(150, T0, rng=random.Random(99)))
    code, _, err = monitor(capsys, tmp_path / "c", tmp_path / "out", "--baseline",
                           str(baseline), "--fail-on", "drift")
    assert code == 0 and err == ""


def test_monitor_json_dash_is_json_alone_on_stdout(capsys, tmp_path):
    write_tree(tmp_path / "c", traffic(30, T0, rng=random.Random(3)))
    code, out, err = monitor(capsys, tmp_path / "c", tmp_path / "out", "--json", "-")
    assert code == 0 and json.loads(out)["n_records"] == 30
    assert "inferences    30" in err  # the table went to stderr
    code, out, _ = monitor(capsys, tmp_path / "c", tmp_path / "out2", "--json",
                           str(tmp_path / "summary" / "s.json"))
    assert code == 0 and "inferences    30" in out
    assert json.loads((tmp_path / "summary" / "s.json").read_text())["n_records"] == 30


# ---- the local runtime: --json - for records, no Powertools warning on the terminal ---------

@pytest.mark.integration
def test_run_json_dash_is_the_records_alone_on_stdout(capsys, paths, tmp_path):
    code, out, err = run_main(capsys, [
        "run", paths["png"], "--model", paths["model_dir"], "--json", "-",
        "--capture", str(tmp_path / "cap"), "--lambda-log", str(tmp_path / "lambda.log")])
    records = json.loads(out)
    assert code == 0 and [r["label"] for r in records] == ["bicycle"]
    assert "1 images: 1 SUCCEEDED" in err and "Traceback" not in err


@pytest.mark.integration
def test_invoke_shows_no_powertools_warning(capsys, paths, recwarn):
    # SerializeImageDataFunction records no metric when the image is missing; Powertools
    # warns then, which on Lambda goes to the function's log, never to this terminal
    code, out, err = run_main(capsys, ["invoke", "SerializeImageDataFunction", "-e",
                                       paths["event"]])
    assert code == 1 and json.loads(out)["errorType"] == "ImageNotFound"
    assert [str(w.message) for w in recwarn if "No application metrics" in str(w.message)] == []
    assert "UserWarning" not in err
