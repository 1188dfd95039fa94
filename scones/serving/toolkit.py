"""The REAL SageMaker PyTorch serving stack on this machine, without Docker.

SageMaker's PyTorch inference container runs ``sagemaker_pytorch_serving_container.serving.main``
(sagemaker-pytorch-inference + sagemaker-inference on TorchServe, a JVM with Python workers)
over ``/opt/ml/model``. :class:`ToolkitServer` runs that same code from its own virtualenv
(``make serving-venv``: ``.venv-serving``) over an extracted ``model.tar.gz``, so that tests
and benchmarks can compare ``scones serve`` with what the container really answers.

What a container gives it, each server gets on its own: a base directory (the container's
``/opt/ml``) holding the model, the working directory, ``TEMP`` (TorchServe's pid file and
worker sockets) and the toolkit's config file (``/etc/sagemaker-ts.properties`` in the
container, see ``toolkit_container.py``); loopback ports of its own for inference, management,
metrics and gRPC. The process runs in a session of its own (``setsid``) and is ended by its
process-group id; start-up is bounded by a timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = Path(os.environ.get("SCONES_SERVING_VENV", REPO_ROOT / ".venv-serving"))
LAUNCHER = Path(__file__).with_name("toolkit_container.py")
DEFAULT_STARTUP_TIMEOUT = 180.0  # seconds: a JVM and a torch worker on a busy 2-core machine
STOP_GRACE_SECONDS = 10.0


class ToolkitNotInstalled(RuntimeError):
    """The serving virtualenv (torch + sagemaker-pytorch-inference + torchserve) is absent."""


class ToolkitStartError(RuntimeError):
    """The toolkit exited or did not answer /ping within the start-up timeout."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving_python(venv: str | os.PathLike = DEFAULT_VENV) -> Path:
    """The serving virtualenv's python, or ToolkitNotInstalled naming the make target."""
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        raise ToolkitNotInstalled(
            f"{python} not found: `make serving-venv` installs the SageMaker PyTorch serving "
            "toolkit (sagemaker-pytorch-inference, torchserve) into it")
    return python


def toolkit_environment(base: Path, ports: dict[str, int], workers: int | None,
                        venv: Path) -> dict:
    """The container's environment: SageMaker's variables, TorchServe's TS_* overrides that
    keep every listener on loopback, and this server's own temp directory. ``workers=None``
    leaves the worker count to TorchServe (one per CPU), as a container without
    SAGEMAKER_MODEL_SERVER_WORKERS does."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",  # `torchserve` itself
        "SAGEMAKER_BASE_DIR": str(base),
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": str(base / "model" / "code"),
        "SAGEMAKER_BIND_TO_PORT": str(ports["inference"]),
        "TS_INFERENCE_ADDRESS": f"http://127.0.0.1:{ports['inference']}",
        "TS_MANAGEMENT_ADDRESS": f"http://127.0.0.1:{ports['management']}",
        "TS_METRICS_ADDRESS": f"http://127.0.0.1:{ports['metrics']}",
        "TS_GRPC_INFERENCE_PORT": str(ports["grpc_inference"]),
        "TS_GRPC_MANAGEMENT_PORT": str(ports["grpc_management"]),
        "TEMP": str(base / "tmp"),
        "TMPDIR": str(base / "tmp"),
        "SCONES_TS_CONFIG_FILE": str(base / "sagemaker-ts.properties"),
    })
    env.pop("SAGEMAKER_MODEL_SERVER_WORKERS", None)
    if workers is not None:
        env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers)
    return env


def extract_model(artifact: Path, model_dir: Path) -> None:
    """model.tar.gz (or a model directory) -> model_dir, as SageMaker fills /opt/ml/model."""
    if artifact.is_dir():
        shutil.copytree(artifact, model_dir)
        return
    model_dir.mkdir(parents=True)
    with tarfile.open(artifact, "r:gz") as tar:
        tar.extractall(model_dir, filter="data")


class ToolkitServer:
    """``with ToolkitServer(artifact) as server: server.url`` -> the container's HTTP API."""

    def __init__(self, artifact: str | os.PathLike, *, venv: str | os.PathLike = DEFAULT_VENV,
                 workers: int | None = 1, startup_timeout: float = DEFAULT_STARTUP_TIMEOUT):
        self.artifact, self.venv = Path(artifact), Path(venv)
        self.workers, self.startup_timeout = workers, startup_timeout
        self.ports = {name: 0 for name in ("inference", "management", "metrics",
                                            "grpc_inference", "grpc_management")}
        self.base: Path | None = None
        self.process: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['inference']}"

    @property
    def log_path(self) -> Path:
        return self.base / "toolkit.log"

    def start(self) -> ToolkitServer:
        python = serving_python(self.venv)
        self.base = Path(tempfile.mkdtemp(prefix="scones-toolkit-"))
        (self.base / "tmp").mkdir()
        extract_model(self.artifact, self.base / "model")
        self.ports = {name: free_port() for name in self.ports}
        env = toolkit_environment(self.base, self.ports, self.workers, self.venv)
        started = time.perf_counter()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(python), str(LAUNCHER)], cwd=self.base, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ToolkitStartError(
                    f"the toolkit exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.25)
        raise ToolkitStartError(
            f"the toolkit did not answer /ping within {self.startup_timeout:.0f} s:\n"
            f"{self.log_tail()}")

    def ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """End the whole process group (launcher, JVM, Python workers) by its id."""
        if self.process is not None:
            pgid = self.process.pid  # a session leader: its pid is the group's id
            for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                if _group_gone(self.process, grace):
                    break
            self.process = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> ToolkitServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _group_gone(leader: subprocess.Popen, timeout: float) -> bool:
    """Wait until no process of the leader's group is left (reaping the leader itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader.poll()  # a zombie leader would still count as a member of the group
        try:
            os.killpg(leader.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
