"""A SageMaker training job run on this machine, as the framework container runs it.

Where AWS starts the PyTorch training image, the local runtime runs the same script-mode
contract in a child Python (this environment's, with torch): the request's channels are
copied from S3 into ``input/data/<channel>``, the source archive named by
``sagemaker_submit_directory`` is unpacked into ``code/``, ``sagemaker_program`` runs there
with the hyperparameters as ``--name value`` arguments and the ``SM_*`` variables set, and
the model folder is archived into ``<S3OutputPath>/<job>/output/model.tar.gz``. Nothing of
the project is imported: the job runs what the archive holds, as on AWS.

The job's log is ``<workdir>/<job>/training.log``; a failed job raises
:class:`TrainingJobFailed` with its last lines (the job's FailureReason).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

LOG_TAIL_LINES = 8


class TrainingJobFailed(Exception):
    """The training script exited non-zero, or the request cannot run."""


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise TrainingJobFailed(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def download(s3: Any, uri: str, target: Path) -> int:
    """Every object under the prefix ``uri`` (or the one object it names) into ``target``,
    keeping the paths below the prefix; the number of files."""
    bucket, prefix = _split(uri)
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix):].lstrip("/") or key.rsplit("/", 1)[-1]
            if key.endswith("/"):
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(path))
            count += 1
    return count


def _hyperparameter(value: str) -> str:
    """SageMaker passes hyperparameters JSON-encoded; the script gets them decoded."""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    return decoded if isinstance(decoded, str) else json.dumps(decoded)


def script_arguments(hyperparameters: dict[str, str]) -> list[str]:
    arguments = []
    for name, value in sorted(hyperparameters.items()):
        if not name.startswith("sagemaker_"):
            arguments += [f"--{name}", _hyperparameter(value)]
    return arguments


def run_training_job(request: dict, *, s3: Any, workdir: Path,
                     python: str = sys.executable) -> str:
    """Run one CreateTrainingJob request; the S3 URI of its model.tar.gz."""
    name = request["TrainingJobName"]
    hyperparameters = dict(request.get("HyperParameters") or {})
    try:
        program = json.loads(hyperparameters["sagemaker_program"])
        source = json.loads(hyperparameters["sagemaker_submit_directory"])
    except (KeyError, ValueError) as exc:
        raise TrainingJobFailed(f"not a script-mode request (sagemaker_program and "
                                f"sagemaker_submit_directory): {exc}") from None
    job = Path(workdir) / name
    code, model, output = job / "code", job / "model", job / "output"
    for folder in (code, model, output):
        folder.mkdir(parents=True, exist_ok=True)
    archive = job / "sourcedir.tar.gz"
    s3.download_file(*_split(source), str(archive))
    with tarfile.open(archive) as tar:
        tar.extractall(code, filter="data")
    env = {**os.environ, "SM_MODEL_DIR": str(model), "SM_OUTPUT_DATA_DIR": str(output),
           "SM_HPS": json.dumps({k: _hyperparameter(v) for k, v in hyperparameters.items()}),
           "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])}
    channels = []
    for channel in request.get("InputDataConfig") or []:
        channel_name = channel["ChannelName"]
        folder = job / "input" / "data" / channel_name
        download(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], folder)
        env[f"SM_CHANNEL_{channel_name.upper()}"] = str(folder)
        channels.append(channel_name)
    env["SM_CHANNELS"] = json.dumps(channels)
    log = job / "training.log"
    with log.open("wb") as sink:
        done = subprocess.run([python, program, *script_arguments(hyperparameters)], cwd=code,
                              env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        tail = log.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
        raise TrainingJobFailed(f"{program} exited {done.returncode} (log {log}): "
                                + " | ".join(tail))
    artifact = job / "model.tar.gz"
    with tarfile.open(artifact, "w:gz") as tar:
        for path in sorted(model.iterdir()):
            tar.add(path, arcname=path.name)
    bucket, prefix = _split(request["OutputDataConfig"]["S3OutputPath"])
    key = f"{prefix.rstrip('/')}/{name}/output/model.tar.gz".lstrip("/")
    s3.upload_file(str(artifact), bucket, key)
    return f"s3://{bucket}/{key}"
