"""Entry point of the SageMaker PyTorch serving container, run by the serving virtualenv's python.

Started by :class:`scones.serving.toolkit.ToolkitServer` (never imported by the project: this
file runs where sagemaker-pytorch-inference is installed). It runs the toolkit's own
``serving.main()`` unchanged but for what a container isolates and a shared machine does not:

- the toolkit writes its TorchServe config to ``/etc/sagemaker-ts.properties``: here each
  server writes its own file (``SCONES_TS_CONFIG_FILE``);
- the toolkit looks for THE TorchServe process among all processes (``psutil.process_iter``,
  "multiple ts model servers are not supported"): here it sees only its own process group,
  as it sees only its own processes inside a container.
"""

import os

import psutil
from sagemaker_pytorch_serving_container import serving, torchserve


class _ThisContainersProcesses:
    """psutil as seen from inside a container: only this server's process group."""

    def __getattr__(self, name):
        return getattr(psutil, name)

    @staticmethod
    def process_iter(*args, **kwargs):
        group = os.getpgrp()
        for process in psutil.process_iter(*args, **kwargs):
            try:
                if os.getpgid(process.pid) == group:
                    yield process
            except OSError:
                continue


if __name__ == "__main__":
    torchserve.TS_CONFIG_FILE = os.environ["SCONES_TS_CONFIG_FILE"]
    torchserve.psutil = _ThisContainersProcesses()
    serving.main()
