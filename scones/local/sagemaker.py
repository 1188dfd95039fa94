"""What SageMaker does for the local stack beyond moto's records: it runs the training jobs the
retraining workflow creates (:mod:`scones.local.training`) and, when UpdateEndpoint names a
new model, makes the local endpoint serve it (its local-only ``POST /local/model``).

Handed to :func:`scones.local.moto_adapter.training_jobs` and
:func:`~scones.local.moto_adapter.endpoint_updates` by :class:`scones.local.stack.LocalStack`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scones.local.training import run_training_job

LOCAL_MODEL_PATH = "/local/model"  # the endpoint server's model swap (scones/serving/endpoint.py)
SWAP_TIMEOUT_S = 300.0  # loading a model fully before the swap


class EndpointSwapFailed(Exception):
    """The local endpoint did not take the new model (it keeps serving the old one)."""


class LocalSageMaker:
    """Training jobs and endpoint updates of one local stack; ``s3()`` gives its S3 client."""

    def __init__(self, s3: Callable[[], Any], endpoint_url: str | None,
                 workdir: str | Path | None = None):
        self._s3 = s3
        self.endpoint_url = endpoint_url
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="scones-sm-"))

    def run_training_job(self, request: dict) -> str:
        return run_training_job(request, s3=self._s3(), workdir=self.workdir / "training-jobs")

    def swap_model(self, endpoint_name: str, model_data_url: str) -> None:
        """Download the model data and have the running endpoint load and serve it."""
        if not self.endpoint_url:
            raise EndpointSwapFailed(f"no local endpoint serves {endpoint_name}")
        if not model_data_url.startswith("s3://"):
            raise EndpointSwapFailed(f"model data is not an s3:// URI: {model_data_url}")
        bucket, _, key = model_data_url[len("s3://"):].partition("/")
        digest = hashlib.sha256(model_data_url.encode()).hexdigest()[:16]
        path = self.workdir / "endpoint-models" / digest / "model.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._s3().download_file(bucket, key, str(path))
        request = urllib.request.Request(
            self.endpoint_url.rstrip("/") + LOCAL_MODEL_PATH, method="POST",
            data=json.dumps({"model": str(path.resolve())}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=SWAP_TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise EndpointSwapFailed(
                f"{endpoint_name} refused {model_data_url}: {detail}") from None
        except OSError as exc:
            raise EndpointSwapFailed(f"{endpoint_name} unreachable at {self.endpoint_url}: "
                                     f"{exc}") from None
