"""nice .venv/bin/python benchmarks/recipe_sweep.py --recipes default,trivialaug-200 --seeds 0-5

Cheap recipe comparison: train single ensemble members (`model.train.train_member`, the code
`scones train` runs) with TrainConfig overrides, keep each member's held-out validation logits
(with flip TTA and of the image alone), then score single members and
ensembles formed from consecutive seeds (0+1, 2+3, ...; `--members`) with a cross-fitted
temperature (`model.calibrate.cross_fitted_probabilities`).
Each member is trained once and reused by every ensemble, so six seeds give six single-member
rows and three 2-member ensembles. Runs can be split over processes (`--jobs 2` trains two
members at a time, one torch thread each) and resumed: logits are cached in --cache.

Prints one row per recipe: mean over members / ensembles of accuracy, coverage and covered
accuracy at --threshold, cov_at_98 (largest share some threshold covers with >= 0.98 correct)
and seconds per member. The validation split is the one `scones train` holds out; `--folds 5`
also holds out each other fold of the 5-fold cross-validation whose fold 0 is that split (one row
per fold, then the mean over folds), to tell how much a result owes to that one split.
`--hard-images PNG` draws the validation images the members most often get wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.common import FLOAT32_250, NO_TA_200, TA_200  # noqa: E402
from model.train import FROM_SCRATCH, PRETRAINED, TrainConfig  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar100-bicycle-motorcycle"
RECIPES = {  # TrainConfig overrides; members always 1 here (ensembles are formed afterwards)
    "default": {},
    "no-trivialaug-200": NO_TA_200,
    # variations of the no-trivialaug-200 recipe
    "epochs-150": {**NO_TA_200, "epochs": 150},
    "wd-5e-4": {**NO_TA_200, "weight_decay": 5e-4},
    "wd-5e-3": {**NO_TA_200, "weight_decay": 5e-3},
    "no-smoothing": {**NO_TA_200, "label_smoothing": 0.0},
    "wide": {**NO_TA_200, "widths": [32, 64, 128]},
    "cutmix-1": {**NO_TA_200, "cutmix": 1.0},
    # 700 training images (a separate 100-image calibration split), 90 epochs, weight decay 5e-4
    "calib-90": {**NO_TA_200, "epochs": 90, "weight_decay": 5e-4, "calibration_fraction": 0.1},
    # TrivialAugment on the no-trivialaug-200 recipe (label smoothing 0.1 unless named)
    "trivialaug-200": TA_200,  # TrivialAugment, smoothing 0.05, 200 epochs
    "trivialaug": {**TA_200, "label_smoothing": 0.1},
    "trivialaug-no-cutmix": {**TA_200, "label_smoothing": 0.1, "cutmix": 0.0},
    "trivialaug-no-smoothing": {**TA_200, "label_smoothing": 0.0},
    "trivialaug-ema-998": {**TA_200, "label_smoothing": 0.1, "ema": 0.998},
    "trivialaug-smoothing-05": TA_200,  # = trivialaug-200
    "trivialaug-geometric-2": {**TA_200, "trivial_augment_scale": 2.0},  # shear 0.6, 20 px,
    # rotation 60 degrees
    "default-epochs-250": {**TA_200, "epochs": 250},  # = float32-250
    # 250 epochs in float32, the same in bfloat16 autocast (about 1.4x faster here), and
    # bfloat16 for 350 epochs (FROM_SCRATCH itself)
    "float32-250": FLOAT32_250,
    "bf16": {**FLOAT32_250, "precision": "bfloat16"},
    "bf16-epochs-350": {"precision": "bfloat16", "epochs": 350},  # = from-scratch
}
# every recipe above is a from-scratch one: spell that out (the default fine-tunes the backbone)
RECIPES = {name: {**FROM_SCRATCH, **overrides} for name, overrides in RECIPES.items()}
RECIPES["default"] = {}  # TrainConfig defaults = what `scones train` uses
RECIPES.update({
    # fine-tuning from the backbone pretrained on CIFAR-10 (`scones pretrain`, model/backbones)
    "from-scratch": FROM_SCRATCH,  # `scones train --from-scratch`
    "pretrained-finetune": PRETRAINED,  # every layer fine-tuned, 120 epochs (the default)
    "pretrained-linear": {**PRETRAINED, "freeze_backbone": True, "lr": 0.1},  # head only
    # peak learning rates (the default's is 0.1): 0.03 was the default before, and the rows
    # below that pin it vary that recipe
    "pretrained-finetune-lr-0.03": {**PRETRAINED, "lr": 0.03},
    "pretrained-finetune-lr-0.06": {**PRETRAINED, "lr": 0.06},
    "pretrained-finetune-lr-0.2": {**PRETRAINED, "lr": 0.2},
    # the other settings at the learning rate 0.1 (each was chosen at 0.03 or from scratch)
    "pretrained-finetune-wd-1e-3": {**PRETRAINED, "weight_decay": 1e-3},
    "pretrained-finetune-smoothing-0.1": {**PRETRAINED, "label_smoothing": 0.1},
    "pretrained-finetune-wd-2.5e-4": {**PRETRAINED, "weight_decay": 2.5e-4},
    "pretrained-finetune-e90": {**PRETRAINED, "epochs": 90},  # three quarters of the time
    # one member trained longer in the time two take (`--members 1` scores it alone)
    "pretrained-finetune-e200": {**PRETRAINED, "epochs": 200},
    "pretrained-finetune-cutmix-0": {**PRETRAINED, "cutmix": 0.0},
    # augmentation and smoothing chosen from scratch, tried again on the pretrained backbone
    "pretrained-finetune-no-trivialaug": {**PRETRAINED, "trivial_augment": False},
    "pretrained-finetune-smoothing-0": {**PRETRAINED, "label_smoothing": 0.0},
    # stronger augmentation: geometric magnitudes 1.5x, a larger erased square
    "pretrained-finetune-trivialaug-1.5": {**PRETRAINED, "trivial_augment_scale": 1.5},
    "pretrained-finetune-cutout-12": {**PRETRAINED, "cutout": 12},
    # weight decay towards the pretrained weights (L2-SP), at the default's strength and 4x it
    "pretrained-finetune-l2sp": {**PRETRAINED, "decay_to_backbone": True},
    "pretrained-finetune-l2sp-2e-3": {**PRETRAINED, "decay_to_backbone": True,
                                      "weight_decay": 2e-3},
    "pretrained-finetune-warmup-0.2": {**PRETRAINED, "warmup": 0.2},  # as from scratch
    "pretrained-finetune-bblr-0.1": {**PRETRAINED, "lr": 0.03, "backbone_lr": 0.1},  # backbone
    # at a tenth of that
    "pretrained-finetune-e30": {**PRETRAINED, "lr": 0.03, "epochs": 30},
    "pretrained-finetune-e60": {**PRETRAINED, "lr": 0.03, "epochs": 60},  # the default before 120
    "pretrained-finetune-ema-998": {**PRETRAINED, "lr": 0.03, "ema": 0.998},  # averages about
    # 500 steps, not 100
})


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = (int(v) for v in text.split("-"))
        return list(range(low, high + 1))
    return [int(s) for s in text.split(",")]


def cache_file(cache: str | Path, recipe: str, seed: int, fold: int = 0) -> Path:
    """Fold 0 is the split `scones train` holds out (and the only one without folds)."""
    return Path(cache) / (f"{recipe}_s{seed}.npz" if fold == 0 else f"{recipe}_f{fold}_s{seed}.npz")


BACKBONE_OVERRIDE = ""  # --backbone: another backbone file for every pretrained recipe


def logits_key(tta: bool) -> str:
    """Which of a cached member's logits to score: with flip TTA or of the image alone."""
    return "logits" if tta else "logits_no_tta"


def recipe_json(recipe: str) -> str:
    """The recipe's TrainConfig overrides as kept with each cached member: a recipe whose
    definition changed (the default's epochs, say) does not reuse members trained before.
    Flip TTA is left out: it changes how a member is scored, not how it is trained (every
    member keeps its logits with and without it)."""
    return json.dumps({k: v for k, v in RECIPES[recipe].items() if k != "tta_flip"},
                      sort_keys=True)


def backbone_digest(name: str) -> str:
    """SHA256 of the backbone a member starts from ("" from scratch): kept in its cache file, so
    that a cache made from one backbone is not read as another's (file names do not name it)."""
    from model.pretrain import sha256_file
    from model.train import backbone_path

    return sha256_file(backbone_path(name)) if name else ""


def train_one(recipe: str, seed: int, data: str, cache: str, threads: int, fold: int = 0,
              folds: int = 5, backbone: str = "") -> str:
    """Train one member; write its validation logits to the cache; return the file. With
    ``fold`` > 0 the held-out images are that fold of a ``folds``-fold cross-validation whose
    fold 0 is the default validation split (20% for 5 folds)."""
    import torch

    from model.data import find_samples, load_images, stratified_folds, stratified_split
    from model.inference import CalibratedEnsemble, to_tensor
    from model.train import from_backbone, normalize, train_member

    global BACKBONE_OVERRIDE
    BACKBONE_OVERRIDE = backbone
    torch.set_num_threads(threads)
    path = cache_file(cache, recipe, seed, fold)
    config = TrainConfig(seed=seed, members=1, **RECIPES[recipe])
    if config.backbone and BACKBONE_OVERRIDE:
        config = from_backbone(config, BACKBONE_OVERRIDE)
    digest = backbone_digest(config.backbone)
    recipe_config = recipe_json(recipe)
    if path.exists():
        with np.load(path) as cached:  # files from before these were kept pass unchecked
            made_from = (str(cached["backbone_sha256"]) if "backbone_sha256" in cached.files
                         else None)
            made_with = (str(cached["recipe_config"]) if "recipe_config" in cached.files
                         else None)
        if made_from is not None and made_from != digest:
            raise SystemExit(f"{path} was trained from backbone {made_from[:12] or '(none)'}, not "
                             f"{digest[:12] or '(none)'}: use another --cache")
        if made_with is not None and made_with != recipe_config:
            raise SystemExit(f"{path} was trained with {made_with}, not recipe {recipe}'s "
                             f"{recipe_config}: use another --cache")
        return str(path)
    loaded = load_images(find_samples(data))
    validation, _, train_idx = stratified_split(
        loaded.targets, [config.validation_fraction, config.calibration_fraction],
        config.split_seed)
    if fold:
        if config.calibration_fraction:
            raise ValueError(f"recipe {recipe}: folds need calibration_fraction 0")
        validation = stratified_folds(loaded.targets, folds, config.split_seed)[fold]
        train_idx = np.setdiff1d(np.arange(len(loaded.targets)), validation)
    x_all = to_tensor(loaded.images)
    y_all = torch.from_numpy(loaded.targets)
    start = time.perf_counter()
    member = train_member(normalize(x_all[train_idx], CalibratedEnsemble([], 1.0)),
                          y_all[train_idx], len(loaded.labels), config, seed=seed * 1000)
    seconds = time.perf_counter() - start
    with torch.inference_mode():
        logits = CalibratedEnsemble([member], 1.0, True).logits(x_all[validation])
        plain = CalibratedEnsemble([member], 1.0, False).logits(x_all[validation])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, logits=logits.numpy(), logits_no_tta=plain.numpy(),
             targets=loaded.targets[validation], seconds=seconds, backbone_sha256=digest,
             recipe_config=recipe_config)
    return str(path)


def inference_ms(recipe: str, members: int, tta_flip: bool = True) -> float:
    """Median in-process latency of predict_fn on one image for an ensemble of ``members`` nets
    of the recipe's architecture: a model.tar.gz with random weights (the latency does not
    depend on them) loaded through its own code/inference.py, as model_fn serves it, timed as
    model_bench.py times a trained artifact."""
    import tempfile

    from benchmarks.model_bench import time_inference
    from model.package import write_untrained_artifact
    from model.train import TrainConfig

    config = TrainConfig(**RECIPES[recipe])
    with tempfile.TemporaryDirectory() as tmp:
        artifact = write_untrained_artifact(
            Path(tmp) / "model.tar.gz", arch=config.arch, widths=tuple(config.widths),
            members=members, tta_flip=tta_flip and config.tta_flip)
        return time_inference(artifact)[0]


def score(logits: np.ndarray, targets: np.ndarray, threshold: float) -> dict:
    import torch

    from model.calibrate import cross_fitted_probabilities
    from model.metrics import expected_calibration_error, risk_coverage_curve

    probs = cross_fitted_probabilities(torch.from_numpy(logits), torch.from_numpy(targets))
    raw = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == targets
    covered = confidence >= threshold
    curve = risk_coverage_curve(confidence, correct)
    return {"accuracy": float(correct.mean()), "coverage": float(covered.mean()),
            "covered_accuracy": float(correct[covered].mean()) if covered.any() else float("nan"),
            "ece": float(expected_calibration_error(confidence, correct)),
            # the same logits without a temperature (T = 1): what calibration buys
            "ece_t1": float(expected_calibration_error(raw.max(axis=1), correct)),
            "coverage_t1": float((raw.max(axis=1) >= threshold).mean()),
            "cov_at_98": max((p["coverage"] for p in curve if p["accuracy"] >= 0.98),
                             default=0.0)}


CURVE_THRESHOLDS = (0.5, 0.8, 0.9, 0.93, 0.95, 0.97, 0.99)


def risk_coverage_rows(files_by_fold: list[list[Path]], members: int,
                       key: str = "logits") -> list[dict]:
    """Coverage and accuracy among covered at a few thresholds, pooled over every held-out image
    of every fold, for the ensembles of ``members`` consecutive seeds (cross-fitted
    temperatures, as in the table)."""
    import torch

    from model.calibrate import cross_fitted_probabilities

    confidence, correct = [], []
    for files in files_by_fold:
        runs = [np.load(f) for f in files]
        targets = runs[0]["targets"]
        for i in range(0, len(runs) - members + 1, members):
            logits = np.mean([r[key] for r in runs[i : i + members]], axis=0)
            probs = cross_fitted_probabilities(torch.from_numpy(logits),
                                               torch.from_numpy(targets))
            confidence.append(probs.max(axis=1))
            correct.append(probs.argmax(axis=1) == targets)
    confidence, correct = np.concatenate(confidence), np.concatenate(correct)
    return [{"threshold": t, "coverage": float((confidence >= t).mean()),
             "covered_accuracy": float(correct[confidence >= t].mean())
             if (confidence >= t).any() else float("nan"), "n": int(len(correct))}
            for t in CURVE_THRESHOLDS]


def mixed_rows(pair: str, seeds: list[int], folds: list[int], cache: Path,
               threshold: float, key: str = "logits") -> dict:
    """Ensembles of one member of each recipe in ``pair`` ("A+B"; "B@DIR" reads B from the cache
    DIR, e.g. one made from another backbone), same seed, from the cache (nothing trained): mean
    over seeds and folds, and the standard error of the accuracy and coverage."""
    parts = [(part.partition("@")[0], Path(part.partition("@")[2] or cache))
             for part in pair.split("+")]
    rows = []
    for fold in folds:
        for seed in seeds:
            a, b = (np.load(cache_file(where, r, seed, fold)) for r, where in parts)
            rows.append(score((a[key] + b[key]) / 2, a["targets"], threshold))
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"ensembles": len(rows)}
    for k in ("accuracy", "coverage"):
        out[f"{k}_stderr"] = float(np.std([r[k] for r in rows], ddof=1) / np.sqrt(len(rows)))
    return out


def summarize(recipe: str, files: list[Path], members: int, threshold: float,
              key: str = "logits") -> dict:
    """Scores of the single members and of the ensembles of ``members`` consecutive seeds, from
    each cache file's ``key`` logits ("logits": flip TTA as the recipe says, "logits_no_tta":
    the image alone)."""
    runs = [np.load(f) for f in files]
    targets = runs[0]["targets"]
    missing = [str(f) for f, r in zip(files, runs, strict=True) if key not in r.files]
    if missing:
        raise SystemExit(f"{', '.join(missing)} hold no {key} (cached before it was kept): "
                         "train them again (remove them) or use another --cache")
    singles = [score(r[key], targets, threshold) for r in runs]
    groups = [runs[i : i + members] for i in range(0, len(runs) - members + 1, members)]
    ensembles = [score(np.mean([r[key] for r in g], axis=0), targets, threshold)
                 for g in groups]

    def mean(rows: list[dict]) -> dict:
        return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]} if rows else {}

    return {"recipe": recipe, "members": members, "members_trained": len(runs),
            "seconds_per_member": float(np.mean([float(r["seconds"]) for r in runs])),
            "single": mean(singles), "ensembles": len(ensembles), "ensemble": mean(ensembles),
            "ensemble_rows": ensembles, "single_rows": singles}


def mean_over_folds(recipe: str, per_fold: list[dict]) -> dict:
    """One row: each metric averaged over the folds' rows (every fold weighs the same)."""
    def mean(key: str) -> dict:
        rows = [r[key] for r in per_fold if r[key]]
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}

    return {"recipe": f"{recipe} ({len(per_fold)} folds)",
            "members_trained": sum(r["members_trained"] for r in per_fold),
            "seconds_per_member": float(np.mean([r["seconds_per_member"] for r in per_fold])),
            "single": mean("single"), "ensembles": sum(r["ensembles"] for r in per_fold),
            "ensemble": mean("ensemble"), "ensemble_rows": []}


PAIRED_KEYS = ("accuracy", "coverage", "covered_accuracy", "ece")


def paired_differences(base: list[dict], other: list[dict], singles: int = 0) -> dict:
    """Ensemble by ensemble (same fold, same member seeds), ``other`` minus ``base``: mean,
    standard error and how many are higher / equal / lower, per metric. The rows are the
    per-fold rows of ``summarize`` (their ``ensemble_rows`` in seed order). With ``singles``
    (the ensemble size of ``base``) each of ``other``'s single members is paired with the
    ``base`` ensemble of its fold that holds its seed: one member against two, say."""
    if singles:
        pairs = [(fb["ensemble_rows"][i // singles], o) for fb, fo in zip(base, other, strict=True)
                 for i, o in enumerate(fo["single_rows"][: len(fb["ensemble_rows"]) * singles])]
    else:
        pairs = [(b, o) for fb, fo in zip(base, other, strict=True)
                 for b, o in zip(fb["ensemble_rows"], fo["ensemble_rows"], strict=True)]
    out = {"ensembles": len(pairs)}
    for key in PAIRED_KEYS:
        diff = np.array([o[key] - b[key] for b, o in pairs], dtype=float)
        diff = diff[~np.isnan(diff)]
        stderr = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        out[key] = {"mean": float(diff.mean()), "stderr": stderr,
                    "higher": int((diff > 1e-9).sum()), "equal": int((abs(diff) <= 1e-9).sum()),
                    "lower": int((diff < -1e-9).sum())}
    return out


def paired_row(recipe: str, d: dict, what: str = "ensembles") -> str:
    """One table row of ``paired_differences``."""
    return f"| {recipe} ({d['ensembles']} {what}) | " + " | ".join(
        f"{k} {d[k]['mean']:+.4f} ± {d[k]['stderr']:.4f} "
        f"({d[k]['higher']}/{d[k]['equal']}/{d[k]['lower']})" for k in PAIRED_KEYS) + " |"


def hard_images_sheet(files: list[Path], data: Path, out: Path, count: int = 24) -> dict:
    """Contact sheet of the validation images the trained members most often get wrong
    (label and share of members wrong under each); returns counts for the note."""
    from PIL import Image, ImageDraw

    from model.data import find_samples, load_images, stratified_split
    from model.train import TrainConfig

    config = TrainConfig()
    loaded = load_images(find_samples(data))
    validation, _, _ = stratified_split(
        loaded.targets, [config.validation_fraction, config.calibration_fraction],
        config.split_seed)
    targets = loaded.targets[validation]
    wrong = np.mean([np.load(f)["logits"].argmax(axis=1) != targets for f in files], axis=0)
    order = np.argsort(-wrong, kind="stable")[:count]
    cell, columns = 72, 8
    sheet = Image.new("RGB", (columns * cell, -(-count // columns) * (cell + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, i in enumerate(order):
        x, y = (k % columns) * cell + 4, (k // columns) * (cell + 14) + 4
        sheet.paste(Image.fromarray(loaded.images[validation[i]]).resize((64, 64),
                                                                         Image.NEAREST), (x, y))
        draw.text((x, y + 66), f"{loaded.labels[targets[i]]} {wrong[i]:.0%}", fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return {"members": len(files), "images": int(len(targets)),
            "wrong_in_most": int((wrong > 0.5).sum()), "wrong_in_90pct": int((wrong > 0.9).sum()),
            "never_wrong": int((wrong == 0).sum())}


def table(rows: list[dict], members: int) -> str:
    keys = ["accuracy", "coverage", "covered_accuracy", "cov_at_98", "ece", "ece_t1"]
    head = ("| recipe | n | s/member | infer ms | " + " | ".join(f"1: {k}" for k in keys)
            + " | ens | " + " | ".join(f"{members}: {k}" for k in keys) + " |")
    lines = [head, "|" + "---|" * (len(keys) * 2 + 5)]
    for r in rows:
        single = " | ".join(f"{r['single'][k]:.3f}" for k in keys)
        ens = " | ".join(f"{r['ensemble'][k]:.3f}" if r["ensemble"] else "-" for k in keys)
        lines.append(f"| {r['recipe']} | {r['members_trained']} | {r['seconds_per_member']:.0f}"
                     f" | {r.get('infer_ms', float('nan')):.2f} | {single} | {r['ensembles']}"
                     f" | {ens} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="default", help=f"from {', '.join(RECIPES)}")
    parser.add_argument("--seeds", default="0-5", help="e.g. 0-5 or 0,1,2")
    parser.add_argument("--members", type=int, default=2, help="ensemble size to score")
    parser.add_argument("--jobs", type=int, default=2, help="members trained at a time")
    parser.add_argument("--threshold", type=float, default=0.93)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "recipe_sweep")
    parser.add_argument("--folds", type=int, default=0,
                        help="also hold out the other folds of an N-fold cross-validation whose "
                        "fold 0 is the default split (5 for its 20%%); one row per fold + mean")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--hard-images", type=Path, default=None, metavar="PNG",
                        help="also draw the validation images most members of the sweep get "
                        "wrong (label, share of members wrong)")
    parser.add_argument("--backbone", default="",
                        help="backbone .npz for the pretrained recipes (default: the committed "
                        "one; use another --cache: a cached member made from another backbone "
                        "is refused)")
    parser.add_argument("--mixed", action="append", default=[], metavar="A+B",
                        help="also score 2-member ensembles of one cached member of recipe A and "
                        "one of B (same seed, each fold; B@DIR: B from the cache DIR); trains "
                        "nothing for them")
    parser.add_argument("--curve", action="store_true",
                        help="also print the risk-coverage curve of the ensembles (pooled)")
    parser.add_argument("--paired", default="", metavar="RECIPE",
                        help="also print, for every other recipe, its ensembles' differences "
                        "from RECIPE's on the same folds and seeds (mean ± standard error, "
                        "higher/equal/lower)")
    parser.add_argument("--paired-single", action="store_true",
                        help="with --paired or --paired-json: pair single members (not "
                        "ensembles) with the other side's ensembles, each with the one that "
                        "holds its seed (one member trained longer, or wider, against two)")
    parser.add_argument("--paired-json", type=Path, default=None, metavar="FILE",
                        help="also pair every recipe with the same recipe's ensembles in FILE, "
                        "the --json of an earlier sweep over the same folds and seeds (made "
                        "with another --backbone and --cache: what one backbone buys over "
                        "another)")
    parser.add_argument("--infer", action="store_true",
                        help="also time single-image inference of a --members ensemble")
    tta = parser.add_mutually_exclusive_group()
    tta.add_argument("--tta", dest="tta", action="store_true", default=None,
                     help="score every recipe with flip TTA (default: as the recipe serves)")
    tta.add_argument("--no-tta", dest="tta", action="store_false",
                     help="score every recipe on the image alone (and time --infer so)")
    args = parser.parse_args(argv)
    recipes, seeds = args.recipes.split(","), parse_seeds(args.seeds)
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        parser.error(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
    if args.paired and args.paired not in recipes:
        parser.error(f"--paired {args.paired}: name it in --recipes too")
    if args.paired_single and not (args.paired or args.paired_json):
        parser.error("--paired-single: give --paired RECIPE or --paired-json FILE too")
    threads = max(1, 2 // args.jobs)
    serves_tta = {r: TrainConfig(**RECIPES[r]).tta_flip if args.tta is None else args.tta
                  for r in recipes}
    key = {r: logits_key(serves_tta[r]) for r in recipes}
    folds = list(range(max(1, args.folds)))
    jobs = [(r, s, k) for k in folds for s in seeds for r in recipes]
    files: dict[tuple[str, int], list[Path]] = {(r, k): [] for r in recipes for k in folds}
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(train_one, r, s, str(args.data), str(args.cache), threads, k,
                               max(1, args.folds), args.backbone): (r, s, k)
                   for r, s, k in jobs}
        for done, future in enumerate(futures, 1):
            recipe, seed, fold = futures[future]
            files[recipe, fold].append(Path(future.result()))
            print(f"[{done}/{len(jobs)}] {recipe} seed {seed}"
                  + (f" fold {fold}" if args.folds > 1 else ""), file=sys.stderr, flush=True)
    rows, fold_rows = [], {}
    for r in recipes:
        per_fold = fold_rows[r] = [summarize(r if args.folds <= 1 else f"{r} fold {k}", files[r, k],
                              args.members, args.threshold, key[r]) for k in folds]
        rows += per_fold
        if len(per_fold) > 1:
            rows.append(mean_over_folds(r, per_fold))
        if args.infer:
            rows[-1]["infer_ms"] = inference_ms(r, args.members, serves_tta[r])
    print(table(rows, args.members))
    for pair in args.mixed:
        mean = mixed_rows(pair, seeds, folds, args.cache, args.threshold,
                          logits_key(args.tta is not False))
        print(f"| {pair} ({mean['ensembles']} mixed ensembles) | " + " | ".join(
            f"{k} {mean[k]:.3f}" for k in ("accuracy", "coverage", "covered_accuracy",
                                           "cov_at_98", "ece", "ece_t1"))
              + f" | standard error: accuracy {mean['accuracy_stderr']:.4f}, coverage "
              f"{mean['coverage_stderr']:.4f} |")
    what = "single members" if args.paired_single else "ensembles"
    if args.paired:
        print(f"\npaired with {args.paired}'s ensembles, {what} by ensemble (same folds and "
              "seeds): mean difference ± standard error (higher/equal/lower)")
        for r in recipes:
            if r == args.paired:
                continue
            d = paired_differences(fold_rows[args.paired], fold_rows[r],
                                   args.members if args.paired_single else 0)
            rows.append({"recipe": r, "paired_with": args.paired, "paired": what, **d})
            print(paired_row(r, d, what))
    if args.paired_json:
        earlier = {row["recipe"]: row for row in json.loads(args.paired_json.read_text())
                   if "ensemble_rows" in row}
        print(f"\npaired with the same recipe's ensembles in {args.paired_json}, {what} by "
              "ensemble (same folds and seeds): mean difference ± standard error "
              "(higher/equal/lower)")
        for r in recipes:
            names = [row["recipe"] for row in fold_rows[r]]
            missing = [n for n in names if n not in earlier]
            if missing:
                parser.error(f"--paired-json {args.paired_json}: no rows {missing}")
            base = [earlier[n] for n in names]
            if args.paired_single and "members" not in base[0]:
                parser.error(f"--paired-single: {args.paired_json} does not say its ensemble "
                             "size (written by an older sweep): score it again with --json")
            d = paired_differences(base, fold_rows[r],
                                   base[0]["members"] if args.paired_single else 0)
            rows.append({"recipe": r, "paired_with": f"{r} in {args.paired_json}",
                         "paired": what, **d})
            print(paired_row(r, d, what))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.curve:
        print(f"\nrisk-coverage, {args.members}-member ensembles pooled over folds "
              "(threshold: coverage / accuracy among covered)")
        for r in recipes:
            points = risk_coverage_rows([files[r, k] for k in folds], args.members, key[r])
            print(f"| {r} (n={points[0]['n']}) | " + " | ".join(
                f"{p['threshold']}: {p['coverage']:.3f} / {p['covered_accuracy']:.3f}"
                for p in points) + " |")
    if args.hard_images:
        counts = hard_images_sheet([f for r in recipes for f in files[r, 0]], args.data,
                                   args.hard_images)
        print(f"wrote {args.hard_images}: of {counts['images']} validation images, "
              f"{counts['wrong_in_most']} are wrong in most of the {counts['members']} members, "
              f"{counts['wrong_in_90pct']} in over 90%, {counts['never_wrong']} in none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
