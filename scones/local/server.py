"""A local stack that stays up: its AWS APIs on a port, a state file, code reloads.

``scones up`` keeps one :class:`~scones.local.stack.LocalStack` running and serves its moto
state over HTTP with moto's own server (:class:`moto.server.ThreadedMotoServer`, the same
in-process backends), so ``scones run``/``invoke``/``logs``, boto3 and the AWS CLI reach it
with an endpoint URL, as ``sam local start-lambda`` is reached. The state file
(``runs/local-stack.json``) says where it is. :class:`CodeWatcher` picks up a changed handler,
layer or ASL file without a restart, as ``sam sync --watch`` does on AWS.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_STATE_FILE = Path("runs/local-stack.json")


class StackNotRunningError(Exception):
    """No local stack answers where the state file says one runs (start one with scones up)."""


def serve_aws(port: int, host: str = "127.0.0.1") -> tuple[Any, str]:
    """moto's server over this process's moto state; (server, endpoint URL)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def stack_state(stack: Any, aws_endpoint_url: str, **extra: Any) -> dict:
    """What a client needs to use a served stack."""
    return {"pid": os.getpid(), "aws_endpoint_url": aws_endpoint_url, "region": stack.region,
            "stack_name": stack.stack_name, "bucket": stack.bucket,
            "state_machines": stack.state_machine_arns, "functions": stack.function_names,
            **extra}


def write_state(path: str | Path, state: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def read_state(path: str | Path = DEFAULT_STATE_FILE) -> dict:
    """The state of the running stack; StackNotRunningError when none answers."""
    path = Path(path)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        raise StackNotRunningError(f"no local stack: {path} not found (start one with "
                                   "`scones up`)") from None
    try:
        with urllib.request.urlopen(f"{state['aws_endpoint_url']}/moto-api/", timeout=2):
            pass
    except OSError:
        raise StackNotRunningError(f"the local stack in {path} does not answer at "
                                   f"{state['aws_endpoint_url']} (start one with `scones up`)"
                                   ) from None
    return state


def _mtimes(paths: list[Path]) -> dict[Path, float]:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py"))]
    return {f: f.stat().st_mtime for f in files if f.exists() and "__pycache__" not in f.parts}


class CodeWatcher:
    """Poll the stack's code and reload what changed: a function's code or layer (its handler
    imported again) or a state machine's ASL file (the definition updated)."""

    def __init__(self, stack: Any, on_reload: Callable[[str], None] = print,
                 interval_s: float = 1.0):
        from scones.local.deploy import read_template

        self.stack, self.on_reload, self.interval_s = stack, on_reload, interval_s
        resources = read_template(stack.template)["Resources"]
        base = stack.template.resolve().parent
        self.asl = {logical_id: base / resources[logical_id]["Properties"]["DefinitionUri"]
                    for logical_id in stack.deployment.state_machines
                    if isinstance(resources.get(logical_id, {}).get("Properties", {})
                                  .get("DefinitionUri"), str)}
        self.code = {logical_id: [f.code_dir, *f.layer_dirs]
                     for logical_id, f in stack.deployment.functions.items()}
        self._seen = self._snapshot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _snapshot(self) -> dict[str, dict[Path, float]]:
        return {**{f"function:{k}": _mtimes(v) for k, v in self.code.items()},
                **{f"asl:{k}": _mtimes([v]) for k, v in self.asl.items()}}

    def check(self) -> list[str]:
        """Reload whatever changed since the last check; what was reloaded."""
        now, reloaded = self._snapshot(), []
        for key, files in now.items():
            if files == self._seen.get(key):
                continue
            kind, logical_id = key.split(":", 1)
            try:
                if kind == "function":
                    self.stack.reload_function(logical_id)
                else:
                    self.stack.update_definition(logical_id, self.asl[logical_id].read_text())
            except Exception as exc:  # a broken edit: keep the old code, say why
                self.on_reload(f"{logical_id}: not reloaded: {type(exc).__name__}: {exc}")
                continue
            reloaded.append(logical_id)
            self.on_reload(f"{logical_id}: reloaded")
        self._seen = now
        return reloaded

    def start(self) -> CodeWatcher:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.check()

        self._thread = threading.Thread(target=loop, name="code-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
