"""Package a trained, calibrated model as ``model.tar.gz`` (SageMaker PyTorch serving layout)
and load it.

Artifact layout::

    weights.npz           every member's state_dict as numpy arrays, keyed "<member>.<key>"
                          (read with np.load: any torch version serves it, no torch.load)
    metadata.json         labels (output order), input size, network, temperature, seed,
                          training time, metrics, created timestamp, model version
    baseline.json         validation-time statistics for monitoring (schema in docs/model.md)
    code/inference.py     model_fn / input_fn / predict_fn / output_fn (self-contained)

No ``code/requirements.txt``: the SageMaker inference toolkit runs ``pip install -r`` on it at
every container start (sagemaker_inference.model_server._install_requirements), which fails in
a VPC without internet and slows every start; numpy, pillow and torch are in the PyTorch
inference image already.

``package`` evaluates the model on the held-out split and writes, next to the artifact,
metrics.json, baseline.json and split.json (model/pipeline.py runs train -> calibrate -> package).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from model import inference
from model.calibrate import Calibration
from model.data import find_samples, load_images
from model.metrics import DEFAULT_THRESHOLD, classification_report
from model.train import TrainResult, config_dict, hardware, predict_probabilities

INFERENCE_SOURCE = Path(inference.__file__)
WEIGHTS_MEMBER = inference.WEIGHTS_FILE
LEGACY_WEIGHTS_MEMBER = "weights.pt"  # before weights.npz: a torch pickle of the state_dicts
LEGACY_MEMBERS = (LEGACY_WEIGHTS_MEMBER, "code/requirements.txt")
REQUIRED_MEMBERS = ("metadata.json", WEIGHTS_MEMBER, "code/inference.py")


class ArtifactError(ValueError):
    """model.tar.gz is missing a required member or is not a model artifact."""


def baseline_from(probabilities: np.ndarray, result: TrainResult, indices: np.ndarray,
                  threshold: float) -> dict:
    """Statistics the monitor compares captured traffic with (exact schema, docs/model.md)."""
    data, labels = result.data, result.data.labels
    predicted = probabilities.argmax(axis=1)
    mix = np.bincount(predicted, minlength=len(labels)) / max(1, len(predicted))
    return {
        "labels": list(labels),
        "n": int(len(indices)),
        "threshold": threshold,
        "confidence": [float(c) for c in probabilities.max(axis=1)],
        "label_mix": {name: float(mix[i]) for i, name in enumerate(labels)},
        "input": {
            "brightness": [data.brightness[i] for i in indices],
            "width": [data.widths[i] for i in indices],
            "height": [data.heights[i] for i in indices],
            "bytes": [data.file_bytes[i] for i in indices],
        },
    }


def split_record(result: TrainResult, data_root: Path) -> dict:
    """The split actually used, as paths relative to the data root."""
    data = result.data

    def rows(indices: np.ndarray) -> list[dict]:
        return [{"path": os.path.relpath(data.paths[i], data_root),
                 "label": data.labels[data.targets[i]]} for i in indices]

    return {
        "data_root": str(data_root.resolve()),
        "labels": list(data.labels),
        "split_seed": result.config.split_seed,
        "fractions": {"validation": result.config.validation_fraction,
                      "calibration": result.config.calibration_fraction},
        **{part: rows(indices) for part, indices in result.split.items()},
    }


def weights_npz(states: list[dict[str, torch.Tensor]]) -> bytes:
    """Every member's state_dict as one .npz, keyed "<member>.<key>" (what model_fn reads)."""
    arrays = {}
    for index, state in enumerate(states):
        for key, tensor in state.items():
            tensor = tensor.detach().cpu()
            if tensor.is_floating_point():
                tensor = tensor.float()  # numpy has no bfloat16; the served network is float32
            arrays[f"{index}.{key}"] = tensor.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_artifact(path: Path, model: torch.nn.Module, metadata: dict, baseline: dict) -> Path:
    """Write model.tar.gz (fixed member order)."""
    return _write_members(path, {
        WEIGHTS_MEMBER: weights_npz([member.state_dict() for member in model.members]),
        "metadata.json": json.dumps(metadata, indent=2).encode(),
        "baseline.json": json.dumps(baseline).encode(),
        "code/inference.py": INFERENCE_SOURCE.read_bytes(),
    })


def upgrade_artifact(path: str | os.PathLike) -> bool:
    """Rewrite a model.tar.gz packaged before weights.npz (weights.pt, code/requirements.txt)
    in today's layout, with today's code/inference.py; False when it needs nothing.

    ``python -m model.package upgrade runs/model/model.tar.gz``"""
    path = Path(path)
    try:
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"{path} is not a readable tar.gz: {exc}") from exc
    if WEIGHTS_MEMBER in members:
        return False
    if LEGACY_WEIGHTS_MEMBER not in members:
        raise ArtifactError(f"{path} has neither {WEIGHTS_MEMBER} nor {LEGACY_WEIGHTS_MEMBER}")
    states = torch.load(io.BytesIO(members[LEGACY_WEIGHTS_MEMBER]), map_location="cpu",
                        weights_only=True)  # tensors only, never arbitrary objects
    upgraded = {WEIGHTS_MEMBER: weights_npz(states)}
    upgraded.update({name: data for name, data in members.items()
                     if name not in LEGACY_MEMBERS and name != "code/inference.py"})
    upgraded["code/inference.py"] = INFERENCE_SOURCE.read_bytes()
    partial = path.with_name(path.name + ".partial")
    _write_members(partial, upgraded)
    partial.replace(path)
    return True


def _write_members(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(payload))
    return path


def write_untrained_artifact(
    path: Path, *, labels: tuple[str, ...] = ("bicycle", "motorcycle"), arch: str = "resnet8",
    widths: tuple[int, ...] = (8, 8, 16), members: int = 2, temperature: float = 1.5,
    seed: int = 0, tta_flip: bool = True,
) -> Path:
    """A real model.tar.gz with random weights (no training): the served network's exact
    compute and contract, for tests and benchmarks. A small ``temperature`` spreads its
    probabilities, so that different images get clearly different answers."""
    torch.manual_seed(seed)
    nets = [inference.build_network(len(labels), widths, arch).eval() for _ in range(members)]
    model = inference.CalibratedEnsemble(nets, temperature=temperature, tta_flip=tta_flip)
    metadata = {
        "labels": list(labels), "input_size": inference.INPUT_SIZE,
        "network": {"arch": arch, "widths": list(widths), "members": members},
        "temperature": temperature, "tta_flip": tta_flip, "threshold": DEFAULT_THRESHOLD,
        "seed": seed, "training_seconds": 0.0, "metrics": {}, "created": "2026-01-01T00:00:00Z",
        "model_version": "20260101-untrained",
    }
    return write_artifact(Path(path), model, metadata, {"labels": list(labels)})


def package(
    result: TrainResult, calibration: Calibration, data_root: Path,
    out_dir: str | os.PathLike, *, evaluation_data: str | os.PathLike | None = None,
    threshold: float = DEFAULT_THRESHOLD, sagemaker_layout: bool = False,
) -> dict:
    """Evaluate the calibrated model on the held-out split (or ``evaluation_data``), write the
    artifact and its side files; ``data_root``: the folder the split's paths are relative to.

    ``sagemaker_layout``: SageMaker tars SM_MODEL_DIR itself, so write the artifact's members
    unpacked into ``out_dir`` instead of a model.tar.gz."""
    out = Path(out_dir)
    loaded, config = result.data, result.config
    x_all = inference.to_tensor(loaded.images)
    held_out = result.split["validation"]
    if evaluation_data is not None:  # a separate validation channel (SageMaker)
        extra = load_images(find_samples(evaluation_data, labels=loaded.labels))
        eval_probs = predict_probabilities(result.model, inference.to_tensor(extra.images))
        eval_targets, eval_name = extra.targets, "validation channel"
    elif calibration.cross_fitted is not None:  # the validation split also fitted it
        eval_probs = calibration.cross_fitted
        eval_targets, eval_name = loaded.targets[held_out], "held-out validation split"
    else:
        eval_probs = predict_probabilities(result.model, x_all[held_out])
        eval_targets, eval_name = loaded.targets[held_out], "held-out validation split"
    report = classification_report(eval_probs, eval_targets, loaded.labels, threshold)
    baseline_idx = held_out if len(held_out) else result.split["calibration"]
    baseline_probs = predict_probabilities(result.model, x_all[baseline_idx])
    baseline = baseline_from(baseline_probs, result, baseline_idx, threshold)
    train_seconds = result.train_seconds + calibration.seconds
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    metrics = {
        "evaluated_on": eval_name,
        **{k: v for k, v in report.items() if k not in ("risk_coverage", "reliability")},
        "temperature": calibration.temperature,
        "temperature_fitted_on": result.calibration_split,
        "metrics_temperature": ("cross-fitted" if calibration.cross_fitted is not None
                                and evaluation_data is None else "served"),
        "train_seconds": round(train_seconds, 2),
        "n_train": int(len(result.split["train"])),
        "n_calibration": int(len(result.split["calibration"])),
        "n_validation": int(len(held_out)),
        "skipped": [{"path": str(p), "error": e} for p, e in loaded.skipped],
        "seed": config.seed,
        "precision": config.precision,
        "hardware": hardware(),
    }
    digest = hashlib.sha256(
        b"".join(t.numpy().tobytes() for m in result.model.members for t in m.state_dict().values())
    ).hexdigest()[:8]
    metadata = {
        "labels": list(loaded.labels),
        "input_size": int(loaded.images.shape[1]),
        "network": {"arch": config.arch, "widths": list(config.widths),
                    "members": config.members},
        "temperature": calibration.temperature,
        "tta_flip": config.tta_flip,
        "threshold": threshold,
        "seed": config.seed,
        "training_seconds": round(train_seconds, 2),
        "metrics": {k: metrics[k] for k in ("evaluated_on", "n", "accuracy", "coverage",
                                             "covered_accuracy", "ece", "threshold")},
        "config": config_dict(config),  # as trained ("auto" precision resolved)
        "created": created,
        "model_version": f"{created[:10].replace('-', '')}-{digest}",
    }
    out.mkdir(parents=True, exist_ok=True)
    if sagemaker_layout:
        _write_unpacked(out, result.model, metadata, baseline)
    else:
        write_artifact(out / "model.tar.gz", result.model, metadata, baseline)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "baseline.json").write_text(json.dumps(baseline))
    (out / "split.json").write_text(json.dumps(split_record(result, data_root), indent=2))
    return {"metrics": metrics, "metadata": metadata, "out": str(out)}


def _write_unpacked(out: Path, model, metadata: dict, baseline: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_artifact(Path(tmp) / "model.tar.gz", model, metadata, baseline)
        with tarfile.open(archive) as tar:
            tar.extractall(out, filter="data")


# --------------------------------------------------------------------------- loading


def load_inference_module(code_path: str | os.PathLike) -> ModuleType:
    """Import an artifact's code/inference.py by path (as SageMaker and the local endpoint do)."""
    spec = importlib.util.spec_from_file_location(f"scones_artifact_{id(code_path)}", code_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LoadedArtifact:
    """An extracted model.tar.gz (or the folder it unpacks to, used in place): its inference
    module, model object and metadata."""

    def __init__(self, artifact: str | os.PathLike):
        self.path = Path(artifact)
        if not self.path.exists():
            raise ArtifactError(f"model artifact {self.path} does not exist")
        self._tmp = None if self.path.is_dir() else tempfile.TemporaryDirectory(
            prefix="scones-model-")
        self.model_dir = self.path if self._tmp is None else Path(self._tmp.name)
        try:
            if self._tmp is not None:
                with tarfile.open(self.path) as tar:
                    tar.extractall(self.model_dir, filter="data")
        except tarfile.TarError as exc:
            raise ArtifactError(f"{self.path} is not a readable tar.gz: {exc}") from exc
        if (self.model_dir / LEGACY_WEIGHTS_MEMBER).exists() \
                and not (self.model_dir / WEIGHTS_MEMBER).exists():
            raise ArtifactError(
                f"{self.path} predates {WEIGHTS_MEMBER} (it holds {LEGACY_WEIGHTS_MEMBER}): "
                f"python -m model.package upgrade {self.path}")
        for required in REQUIRED_MEMBERS:
            if not (self.model_dir / required).exists():
                raise ArtifactError(f"{self.path} has no {required}")
        self.metadata = json.loads((self.model_dir / "metadata.json").read_text())
        self.module = load_inference_module(self.model_dir / "code" / "inference.py")
        self.model = self.module.model_fn(str(self.model_dir))

    @property
    def labels(self) -> list[str]:
        return list(self.metadata["labels"])

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) -> probabilities (N, C) through the artifact's predict_fn."""
        out = []
        for start in range(0, len(images), 256):
            batch = self.module.to_tensor(images[start : start + 256])
            out.append(self.module.predict_fn(batch, self.model).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LoadedArtifact:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m model.package upgrade ARTIFACT...``: bring old artifacts to today's layout."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "upgrade":
        print("usage: python -m model.package upgrade ARTIFACT...", file=sys.stderr)
        return 2
    for artifact in args[1:]:
        try:
            changed = upgrade_artifact(artifact)
        except ArtifactError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{artifact}: {'upgraded to ' + WEIGHTS_MEMBER if changed else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
