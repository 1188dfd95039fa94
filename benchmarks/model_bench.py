"""nice -n 10 .venv/bin/python benchmarks/model_bench.py --seeds 0,1,2

Quality and cost of training configurations on the held-out validation split of the shared
CIFAR-100 bicycle/motorcycle images (200 images; same split for every seed): for each
configuration and seed, train with `model.pipeline.train_and_package` (the code `scones train`
runs), then load the written model.tar.gz through its own code/inference.py and time
single-image inference in-process. Prints one row per run and a mean ± std row per
configuration. Run with `nice` on a shared machine: train seconds and latencies are noisy.

Options: --configs default,single (names in CONFIGS), --data DIR, --json FILE.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import FLOAT32_250, NO_TA_200, TA_200  # noqa: E402
from model.data import find_samples, load_images, stratified_split  # noqa: E402
from model.metrics import risk_coverage_curve  # noqa: E402
from model.package import LoadedArtifact  # noqa: E402
from model.pipeline import train_and_package  # noqa: E402
from model.train import FROM_SCRATCH, PRETRAINED, TrainConfig  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar100-bicycle-motorcycle"
CONFIGS = {
    "default": {},  # TrainConfig defaults = what `scones train` uses
    "single": {"members": 1},
    "no-tta": {"tta_flip": False},
    # from scratch, 250 epochs in float32
    "float32-250": FLOAT32_250,
    # from scratch, 200 epochs (TrivialAugment, label smoothing 0.05), float32
    "trivialaug-200": TA_200,
    # from scratch, no TrivialAugment, label smoothing 0.1, 200 epochs
    "no-trivialaug-200": NO_TA_200,
    # from scratch on 700 training images, temperature on a separate 100-image split
    "epochs-90": {**NO_TA_200, "epochs": 90, "weight_decay": 5e-4, "calibration_fraction": 0.1},
    "cutmix-60": {**NO_TA_200, "epochs": 60, "weight_decay": 5e-4, "calibration_fraction": 0.1},
    "no-cutmix": {**NO_TA_200, "cutmix": 0.0, "epochs": 60, "weight_decay": 5e-4,
                  "calibration_fraction": 0.1},
}
# every config above but "default" is a from-scratch one: spell that out (the default fine-tunes
# the committed backbone); "single" and "no-tta" vary the default
CONFIGS = {name: overrides if name in ("default", "single", "no-tta")
           else {**FROM_SCRATCH, **overrides} for name, overrides in CONFIGS.items()}
CONFIGS["from-scratch"] = FROM_SCRATCH  # `scones train --from-scratch`
CONFIGS["pretrained"] = PRETRAINED  # fine-tuned from the committed backbone
COLUMNS = ["accuracy", "coverage", "covered_accuracy", "cov_at_98", "ece", "train_s",
           "infer_ms", "request_ms", "artifact_mb"]
TARGET_COVERED_ACCURACY = 0.98


def coverage_at(artifact: Path, data: Path, config: TrainConfig,
                covered_accuracy: float = TARGET_COVERED_ACCURACY) -> float:
    """Largest share of the held-out images that some threshold covers with at least
    ``covered_accuracy`` correct (read off the risk-coverage curve; 0 when none does)."""
    loaded = load_images(find_samples(data))
    validation, _, _ = stratified_split(
        loaded.targets, [config.validation_fraction, config.calibration_fraction],
        config.split_seed)
    with LoadedArtifact(artifact) as served:
        probabilities = served.predict_images(loaded.images[validation])
    correct = probabilities.argmax(axis=1) == loaded.targets[validation]
    curve = risk_coverage_curve(probabilities.max(axis=1), correct)
    return max((p["coverage"] for p in curve if p["accuracy"] >= covered_accuracy), default=0.0)


def time_inference(artifact: Path, repeats: int = 200) -> tuple[float, float]:
    """Median ms of predict_fn on one image, and of input_fn+predict_fn+output_fn on a PNG."""
    with LoadedArtifact(artifact) as loaded:
        module, model = loaded.module, loaded.model
        rng = np.random.default_rng(0)
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
        body = buffer.getvalue()
        tensor = module.input_fn(body, "image/png")
        for _ in range(20):
            module.predict_fn(tensor, model)
        predict, request = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            module.predict_fn(tensor, model)
            predict.append(time.perf_counter() - start)
            start = time.perf_counter()
            module.output_fn(module.predict_fn(module.input_fn(body, "image/png"), model),
                             "application/json")
            request.append(time.perf_counter() - start)
    return statistics.median(predict) * 1000, statistics.median(request) * 1000


def run(name: str, seed: int, data: Path) -> dict:
    config = TrainConfig(seed=seed, **CONFIGS[name])
    with tempfile.TemporaryDirectory() as tmp:
        summary = train_and_package(data, tmp, config, progress=False)
        artifact = Path(tmp) / "model.tar.gz"
        infer_ms, request_ms = time_inference(artifact)
        size_mb = artifact.stat().st_size / 1e6
        cov_at_98 = coverage_at(artifact, data, config)
    m = summary["metrics"]
    return {"config": name, "seed": seed, "accuracy": m["accuracy"], "coverage": m["coverage"],
            "covered_accuracy": m["covered_accuracy"], "cov_at_98": cov_at_98, "ece": m["ece"],
            "train_s": m["train_seconds"], "infer_ms": infer_ms, "request_ms": request_ms,
            "artifact_mb": size_mb, "n": m["n"]}


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if value < 10 else f"{value:.0f}"


def table(rows: list[dict]) -> str:
    header = f"| {'config':<10} | {'seed':>8} | " + " | ".join(f"{c:>16}" for c in COLUMNS) + " |"
    lines = [header, "|" + "|".join("-" * len(p) for p in header.split("|")[1:-1]) + "|"]
    for name in dict.fromkeys(r["config"] for r in rows):
        group = [r for r in rows if r["config"] == name]
        for r in group:
            lines.append(f"| {name:<10} | {r['seed']:>8} | "
                         + " | ".join(f"{fmt(r[c]):>16}" for c in COLUMNS) + " |")
        cells = []
        for c in COLUMNS:
            values = [r[c] for r in group if r[c] is not None]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{fmt(statistics.mean(values))} ± {fmt(spread)}" if values else "n/a")
        lines.append(f"| {name:<10} | {'mean±std':>8} | "
                     + " | ".join(f"{c:>16}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="default")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for name in args.configs.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(run(name, seed, args.data))
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
