"""What the local stack's retraining workflow needs, put in place as the README's AWS steps do.

On AWS the operator deploys the model with ``scones deploy`` (the endpoint the stack names) and
puts the training code, the original images and a fixed evaluation set in the image bucket.
:func:`prepare_retraining` does the same for the local stack: the champion deployed into the
stack's SageMaker by the same code (``model.deploy.deploy``: model, endpoint configuration with
capture, endpoint, alarms, autoscaling), the training code archive (``model.source``) at
``TrainingSourceKey``, the champion's training images under ``TrainingPrefix`` and its held-out
validation images, never trained on, as the evaluation set under ``EvaluationPrefix``, read from
the ``split.json`` that ``scones train`` writes beside the model. Then a retraining (the labels'
count, the schedule, the drift alarm, ``start-execution``) finds its champion and its data.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the image `scones deploy` would look up for the region; the local endpoint ignores it
LOCAL_IMAGE_URI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6-cpu-py312"


class RetrainingDataNotFound(Exception):
    """The model has no split.json beside it, or the images it names are not there."""


@dataclass(frozen=True)
class RetrainingSetup:
    endpoint_config: str
    training_images: int
    evaluation_images: int
    source_key: str

    def describe(self) -> str:
        return (f"champion deployed ({self.endpoint_config}); {self.training_images} training "
                f"and {self.evaluation_images} evaluation images, the training code at "
                f"{self.source_key}")


def split_of(artifact: Path) -> tuple[Path, dict]:
    """(data root, split.json) of the model ``scones train`` wrote at ``artifact``."""
    path = artifact.parent / "split.json"
    if not path.is_file():
        raise RetrainingDataNotFound(f"no split.json beside {artifact} (a model that `scones "
                                     f"train` did not write): the training data is unknown")
    split = json.loads(path.read_text())
    root = Path(split["data_root"])
    missing = [row["path"] for part in ("train", "calibration", "validation")
               for row in split.get(part, []) if not (root / row["path"]).is_file()]
    if missing:
        raise RetrainingDataNotFound(f"{len(missing)} image(s) of {path} are not under "
                                     f"{root}, e.g. {missing[0]}")
    return root, split


def image_keys(rows: list[dict], prefix: str) -> list[tuple[str, str]]:
    """(relative path, key) for each row: ``prefix<label>/<file name>``, one key per image."""
    keys, seen = [], set()
    for index, row in enumerate(rows):
        key = f"{prefix}{row['label']}/{Path(row['path']).name}"
        if key in seen:
            key = f"{prefix}{row['label']}/{index:05d}-{Path(row['path']).name}"
        seen.add(key)
        keys.append((row["path"], key))
    return keys


def prepare_retraining(stack: Any, artifact: str | Path, endpoint_name: str) -> RetrainingSetup:
    """Deploy the champion into ``stack`` (a LocalStack) and upload its training data, its
    evaluation set and the training code where the template's parameters say."""
    from model.deploy import CALLS, DeployRequest, deploy
    from model.source import write_source_archive

    artifact = Path(artifact)
    root, split = split_of(artifact)
    parameters = stack.deployment.parameters
    s3 = stack.client("s3")
    role = stack.client("iam").get_role(
        RoleName=stack.deployment.resources["SageMakerExecutionRole"])["Role"]["Arn"]
    plan = deploy(DeployRequest(artifact=str(artifact), role_arn=role, bucket=stack.bucket,
                                endpoint_name=endpoint_name, region=stack.region,
                                image_uri=LOCAL_IMAGE_URI),
                  clients={service: stack.client(service) for service, _ in CALLS.values()})
    training = image_keys(split["train"] + split.get("calibration", []),
                          parameters["TrainingPrefix"])
    evaluation = image_keys(split["validation"], parameters["EvaluationPrefix"])
    for relative, key in training + evaluation:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=(root / relative).read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_source_archive(Path(tmp) / "training-source.tar.gz")
        s3.upload_file(str(archive), stack.bucket, parameters["TrainingSourceKey"])
    return RetrainingSetup(plan["create_endpoint_config"]["EndpointConfigName"], len(training),
                           len(evaluation), parameters["TrainingSourceKey"])
