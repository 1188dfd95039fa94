"""RegisterChallengerFunction in moto, through the real handler: challenge.json read from the
training job's model.tar.gz, the promotion gate's decision written beside it, and the
challenger registered in the model package group with the status the decision and the
approval mode give."""

from __future__ import annotations

import json

import boto3
import pytest
from retraining_data import model_archive

FUNCTION = "RegisterChallengerFunction"
GROUP = "scones-vehicle-classifier"  # the template's ModelPackageGroupName default
JOB = "scones-retrain-5f0c2a8e-1b7d-4f2e-9a3c-6d4e8b1f2a7c"
METRICS = {"accuracy": 0.95, "coverage": 0.8, "covered_accuracy": 0.9875, "ece": 0.02, "n": 200,
           "class_labels": ["bicycle", "motorcycle"], "threshold": 0.93,
           "evaluation_sha256": "ab" * 32}
BETTER = {**METRICS, "accuracy": 0.96, "coverage": 0.82}
WORSE = {**METRICS, "accuracy": 0.90}


def challenge(challenger: dict, champion: dict | None = METRICS) -> dict:
    """challenge.json as the training job writes it (model/challenge.py)."""
    return {"class_labels": ["bicycle", "motorcycle"], "challenger": challenger,
            "champion": champion, "models": {"challenger": JOB, "champion": "champion-1"},
            "shadow": {"n": 40, "agreement": 0.95}}


def trained(stack, document: dict | None, job: str = JOB) -> dict:
    """The training job's artifact in the models prefix, and RegisterChallenger's payload."""
    key = f"models/{job}/output/model.tar.gz"
    members = {"model.pt": b"weights", "code/inference.py": b"# serving code"}
    if document is not None:
        members["challenge.json"] = json.dumps(document).encode()
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=model_archive(members))
    return {"trigger": "labels",
            "champion": {"endpoint_name": "scones-vehicle-classifier",
                         "endpoint_config_name": "c", "model_name": "m",
                         "model_data_url": "s3://models/champion/model.tar.gz"},
            "training": {"training_job_name": job,
                         "model_data_url": f"s3://{stack.bucket}/{key}"}}


def written_challenge(stack, job: str = JOB) -> dict:
    body = stack.s3.get_object(Bucket=stack.bucket,
                               Key=f"models/{job}/output/challenge.json")["Body"]
    return json.loads(body.read())


@pytest.fixture
def sagemaker(stack):
    return boto3.client("sagemaker")


def test_a_better_challenger_is_registered_approved(load_function, stack, sagemaker):
    # GIVEN no model package group yet, and a challenger better than the champion
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    event = trained(stack, challenge(BETTER))
    # WHEN it is registered (ApprovalMode Automatic, the default)
    result = load_function(FUNCTION)(event)
    assert not result.failed, result.payload
    output = result.payload
    # THEN the group was created and the package is Approved with the gate's reason
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in groups] == [GROUP]
    assert output["approval_status"] == "Approved" and output["promoted"] is True
    assert output["model_version"] == JOB
    assert output["challenger"] == BETTER and output["champion"] == METRICS
    assert output["shadow"] == {"n": 40, "agreement": 0.95}
    package = sagemaker.describe_model_package(ModelPackageName=output["model_package_arn"])
    assert package["ModelPackageGroupName"] == GROUP
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == (
        event["training"]["model_data_url"])
    properties = package["CustomerMetadataProperties"]
    assert properties["promoted"] == "true" and properties["model_version"] == JOB
    assert properties["reason"] == output["reason"][:256]
    assert properties["challenger_accuracy"] == "0.96"
    # AND challenge.json beside the artifact holds the decision, where ModelMetrics points
    written = written_challenge(stack)
    assert written["decision"]["promoted"] is True
    assert written["decision"]["reason"] == output["reason"]
    assert written["challenger"] == BETTER
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        f"s3://{stack.bucket}/models/{JOB}/output/challenge.json")


def test_a_worse_challenger_is_registered_rejected_with_the_gates_reason(load_function, stack,
                                                                         sagemaker):
    # GIVEN a challenger less accurate than the champion
    result = load_function(FUNCTION)(trained(stack, challenge(WORSE)))
    assert not result.failed, result.payload
    # THEN it is registered Rejected, the reason in its metadata and description
    output = result.payload
    assert output["approval_status"] == "Rejected" and output["promoted"] is False
    assert "accuracy 0.900 < champion 0.950" in output["reason"]
    package = sagemaker.describe_model_package(ModelPackageName=output["model_package_arn"])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["CustomerMetadataProperties"]["reason"] == output["reason"]
    assert package["CustomerMetadataProperties"]["promoted"] == "false"
    assert package["ModelPackageDescription"] == f"{JOB}: {output['reason']}"
    decision = written_challenge(stack)["decision"]
    assert decision["promoted"] is False and decision["reason"] == output["reason"]
    assert decision["checks"]["accuracy"] is False


def test_in_manual_mode_a_promotable_challenger_waits_for_approval(load_function, stack,
                                                                   sagemaker):
    result = load_function(FUNCTION, ApprovalMode="Manual")(trained(stack, challenge(BETTER)))
    assert result.payload["approval_status"] == "PendingManualApproval"
    assert result.payload["promoted"] is True
    package = sagemaker.describe_model_package(
        ModelPackageName=result.payload["model_package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"


def test_a_second_challenger_is_a_new_version_in_the_same_group(load_function, stack,
                                                                sagemaker):
    # GIVEN one challenger registered already
    function = load_function(FUNCTION)
    first = function(trained(stack, challenge(BETTER, champion=None)))
    # WHEN the next retraining registers another
    second = function(trained(stack, challenge(WORSE), job="scones-retrain-next"))
    # THEN both are versions of the one group
    assert not second.failed, second.payload
    packages = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)
    assert sorted(p["ModelPackageArn"] for p in packages["ModelPackageSummaryList"]) == sorted(
        [first.payload["model_package_arn"], second.payload["model_package_arn"]])
    assert first.payload["reason"] == "no champion to beat"


def test_an_artifact_without_challenge_json_is_challenge_not_found(load_function, stack,
                                                                   sagemaker):
    # GIVEN a model.tar.gz that model.pipeline did not write (no challenge.json)
    result = load_function(FUNCTION)(trained(stack, None))
    # THEN the run fails with a named error and nothing is registered or written
    assert result.error_type == "ChallengeNotFound"
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"models/{JOB}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"models/{JOB}/output/model.tar.gz"]


def test_metrics_the_gate_cannot_read_are_a_named_error(load_function, stack, sagemaker):
    # GIVEN a challenge.json whose challenger lacks its accuracy
    broken = {k: v for k, v in BETTER.items() if k != "accuracy"}
    result = load_function(FUNCTION)(trained(stack, challenge(broken)))
    # THEN it fails with InvalidModelMetrics and nothing is registered
    assert result.error_type == "InvalidModelMetrics"
    assert sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
