"""A local model registry: ``registry.json``, an append-only list of model packages, as a
SageMaker Model Package Group keeps them (a version per package, its metrics, its approval
status ``Approved`` or ``Rejected`` and why).

Each entry::

    {"version": 3, "model_version": "20261202-1a2b3c4d", "artifact": "/abs/OUT/v3/model.tar.gz",
     "created": "2026-12-02T06:00:00Z", "approval_status": "Approved", "reason": "...",
     "class_labels": [...], "metrics": {challenger metrics}, "checks": {...},
     "champion": {"model_version": ..., "artifact": ..., "metrics": {...}} | null,
     "evaluation": {"n", "sha256", "source"}, "shadow": {"n", "disagreements", "rate"} | null}

The champion of the next retraining is the newest ``Approved`` package.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

REGISTRY_FILE = "registry.json"
APPROVED = "Approved"
REJECTED = "Rejected"


class RegistryError(Exception):
    """registry.json exists but is not the list of model packages this command writes."""


def registry_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / REGISTRY_FILE


def read_registry(out_dir: str | os.PathLike) -> list[dict]:
    """The packages registered so far (none when the file does not exist yet)."""
    path = registry_path(out_dir)
    if not path.exists():
        return []
    try:
        packages = json.loads(path.read_text())
    except ValueError as exc:
        raise RegistryError(f"{path} is not JSON ({exc}): move it away or give another --out"
                            ) from None
    if not isinstance(packages, list) or not all(
            isinstance(p, dict) and "version" in p for p in packages):
        raise RegistryError(f"{path} is not a list of model packages: move it away or give "
                            "another --out")
    return packages


def next_version(out_dir: str | os.PathLike) -> int:
    return max((int(p["version"]) for p in read_registry(out_dir)), default=0) + 1


def latest_approved(out_dir: str | os.PathLike) -> dict | None:
    """The newest Approved package whose artifact still exists (the champion), or None."""
    approved = [p for p in read_registry(out_dir) if p.get("approval_status") == APPROVED
                and Path(str(p.get("artifact"))).exists()]
    return max(approved, key=lambda p: int(p["version"]), default=None)


def package_entry(version: int, artifact: str | os.PathLike, document: dict, decision: dict,
                  champion_artifact: str | None) -> dict:
    """A registry entry from the challenge document and the gate's decision."""
    shadow = document.get("shadow")
    champion = document.get("champion")
    return {
        "version": version,
        "model_version": document["models"]["challenger"],
        "artifact": str(Path(artifact).resolve()),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "approval_status": APPROVED if decision["promoted"] else REJECTED,
        "reason": decision["reason"],
        "class_labels": document["class_labels"],
        "metrics": document["challenger"],
        "checks": decision["checks"],
        "champion": None if champion is None else {
            "model_version": document["models"]["champion"], "artifact": champion_artifact,
            "metrics": champion},
        "evaluation": {k: document["evaluation"][k] for k in ("n", "sha256", "source")},
        "shadow": None if shadow is None else {
            k: shadow[k] for k in ("n", "disagreements", "rate")},
    }


def append_package(out_dir: str | os.PathLike, entry: dict) -> Path:
    """Add ``entry`` at the end of registry.json (written whole, then renamed into place)."""
    path = registry_path(out_dir)
    packages = [*read_registry(out_dir), entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(packages, indent=2) + "\n")
    partial.replace(path)
    return path
