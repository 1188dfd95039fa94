"""One turn of the continuous-improvement loop on the real template, ASL and handlers: a photo
below the threshold waits for a person, their label starts the retraining workflow, a real
(tiny) SageMaker-style training job runs the project's training code from its source archive,
the gate registers the challenger in the model registry, and the promotion updates the endpoint
(the local endpoint then serves the new model) and the workflow's model version. Also: a
training job that fails ends the retraining with TRAINING_JOB_FAILED and loses nothing.

The stack is prepared as `scones up` prepares it (scones.workflow.retraining): the champion
deployed into the stack's SageMaker by the real `scones deploy` code (model.deploy.deploy), as
on AWS, and the data and training code in the image bucket. Slow: a real training job runs
(seconds, tiny recipe).
"""

from __future__ import annotations

import json
import tarfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from retraining_data import COLORS, TINY, color_png, write_color_folder

from model.package import write_untrained_artifact
from scones.local.stack import LocalStack
from scones.serving.endpoint import LOCAL_MODEL_PATH, start_endpoint
from scones.workflow.retraining import prepare_retraining
from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs
from scones_domain.items import from_item
from scones_domain.review import PENDING, STATUS_INDEX, answer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENDPOINT = "scones-vehicle-classifier"  # the template's EndpointName default


def upload_folder(s3, bucket: str, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*.png")):
        s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())


@pytest.fixture
def champion(tmp_path) -> Path:
    """A contract-following artifact with random weights: unsure of every photo."""
    return write_untrained_artifact(tmp_path / "champion" / "model.tar.gz", widths=(8, 8, 16))


def write_split(champion: Path, root: Path, train: Path, evaluation: Path) -> None:
    """The split.json `scones train` writes beside a model: its training images and its
    held-out validation images, paths relative to the data root."""
    def rows(folder: Path) -> list[dict]:
        return [{"path": p.relative_to(root).as_posix(), "label": p.parent.name}
                for p in sorted(folder.rglob("*.png"))]

    (champion.parent / "split.json").write_text(json.dumps(
        {"data_root": str(root), "labels": sorted(COLORS)[:2], "train": rows(train),
         "calibration": [], "validation": rows(evaluation)}))


@pytest.fixture
def loop(tmp_path, champion):
    """The stack (RetrainAfterLabels 1: one label starts a retraining), its endpoint serving the
    champion, prepared for retraining as `scones up` prepares it: the champion deployed into
    the stack's SageMaker, its training images, its evaluation set and the training code in the
    image bucket."""
    quiet_interpreter_logs()
    write_split(champion, tmp_path, write_color_folder(tmp_path / "train", per_class=24),
                write_color_folder(tmp_path / "eval", per_class=8, seed=9))
    server = start_endpoint(champion, capture=str(tmp_path / "captures"))
    parameters = {"RetrainAfterLabels": 1, "TrainingHyperparameters": json.dumps(TINY)}
    try:
        with function_stdout_to(tmp_path / "lambda.log"), LocalStack(
                server.url, parameters=parameters, workdir=tmp_path / "sagemaker") as stack:
            setup = prepare_retraining(stack, champion, ENDPOINT)
            assert (setup.training_images, setup.evaluation_images) == (48, 16)
            yield stack, server
    finally:
        server.stop()


def pending_reviews(stack) -> list[dict]:
    items = stack.client("dynamodb").query(
        TableName=stack.deployment.resources["ReviewsTable"], IndexName=STATUS_INDEX,
        KeyConditionExpression="#s = :p", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": {"S": PENDING}})["Items"]
    return [from_item(item) for item in items]


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished_executions(stack, machine: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    runs = sfn.list_executions(stateMachineArn=stack.state_machine_arns[machine])["executions"]
    return [sfn.describe_execution(executionArn=r["executionArn"]) for r in runs
            if r["status"] != "RUNNING"]


def served_model(server) -> str:
    with urllib.request.urlopen(server.url + LOCAL_MODEL_PATH, timeout=10) as response:
        return json.loads(response.read())["model"]


def test_a_reviewed_photo_retrains_registers_and_promotes_a_better_model(loop, tmp_path):
    stack, server = loop
    sfn, sagemaker = stack.client("stepfunctions"), stack.client("sagemaker")
    champion_served = served_model(server)
    # GIVEN a red photo (a bicycle) the unsure champion cannot pass
    photo = tmp_path / "red.png"
    photo.write_bytes(color_png(COLORS["bicycle"], np.random.default_rng(3)))
    result = stack.run_image(photo, "incoming/red.png")
    assert result.error == "THRESHOLD_CONFIDENCE_NOT_MET"
    # WHEN a person labels it bicycle
    (review,) = wait_for(lambda: [r for r in pending_reviews(stack)
                                  if r["image"].endswith("/incoming/red.png")],
                         what="the pending review of the red photo")
    sfn.send_task_success(taskToken=review["task_token"],
                          output=answer("bicycle", "ana", review["class_labels"]))
    # THEN the label (the RetrainAfterLabels-th) starts a retraining that trains, registers
    # and promotes the challenger, which beats the random champion on the evaluation set
    (run,) = wait_for(lambda: finished_executions(stack, "RetrainingStateMachine"),
                      timeout=300, what="the retraining")
    assert run["status"] == "SUCCEEDED", (run.get("error"), run.get("cause"))
    output = json.loads(run["output"])
    assert output["approval_status"] == "Approved" and output["promoted"] is True
    assert output["challenger"]["accuracy"] > output["champion"]["accuracy"]
    # AND the registry holds the challenger with its metrics
    (package,) = sagemaker.list_model_packages(
        ModelPackageGroupName="scones-vehicle-classifier")["ModelPackageSummaryList"]
    assert package["ModelApprovalStatus"] == "Approved"
    described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert float(described["CustomerMetadataProperties"]["challenger_accuracy"]) == \
        output["challenger"]["accuracy"]
    # AND the endpoint serves the challenger: its new config, and the local endpoint's model
    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointConfigName"] == output["promotion"]["endpoint_config_name"]
    assert served_model(server) != champion_served
    # AND results are recorded under the new model version from now on
    parameter = stack.client("ssm").get_parameter(
        Name=stack.deployment.resources["ModelVersionParameter"])["Parameter"]["Value"]
    assert parameter == output["promotion"]["model_version"] == output["model_version"]
    # AND the photo is training data and a human result
    labeled = stack.client("s3").head_object(Bucket=stack.bucket,
                                             Key="labels/bicycle/incoming/red.png")
    assert labeled["Metadata"]["reviewer"] == "ana"


def test_a_failed_training_job_fails_the_retraining_and_keeps_the_labels(loop, tmp_path):
    stack, _ = loop
    s3 = stack.client("s3")
    # GIVEN a training code archive whose program cannot run, and one reviewed label
    broken = tmp_path / "broken"
    (broken / "model").mkdir(parents=True)
    (broken / "model" / "pipeline.py").write_text("raise SystemExit('no data here')\n")
    with tarfile.open(tmp_path / "broken.tar.gz", "w:gz") as archive:
        archive.add(broken / "model", arcname="model")
    s3.upload_file(str(tmp_path / "broken.tar.gz"), stack.bucket, "code/training-source.tar.gz")
    upload_folder(s3, stack.bucket, write_color_folder(tmp_path / "reviewed", per_class=1),
                  "labels/")
    # WHEN a retraining runs (forced: the counter has no label)
    sfn = stack.client("stepfunctions")
    sfn.start_execution(stateMachineArn=stack.state_machine_arns["RetrainingStateMachine"],
                        input=json.dumps({"trigger": "schedule", "force": True}))
    (run,) = wait_for(lambda: finished_executions(stack, "RetrainingStateMachine"),
                      timeout=120, what="the retraining")
    # THEN it fails with the named error and the job's reason; the labels are still there
    assert run["status"] == "FAILED" and run["error"] == "TRAINING_JOB_FAILED", run.get("cause")
    assert "no data here" in run["cause"]
    labels = s3.list_objects_v2(Bucket=stack.bucket, Prefix="labels/")["Contents"]
    assert len(labels) == 2
