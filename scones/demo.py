"""`scones demo`: the main job, end to end on this machine.

1. data: ``--data DIR``, else the shared CIFAR-100 bicycle/motorcycle folder beside the checkout
   (``$SCONES_SHARED_DATA`` or ``../shared/data/cifar100-bicycle-motorcycle``), else CIFAR-100
   downloaded (checksum verified) and extracted by ``model.data.download_cifar100``;
2. model: ``--model`` (default ``runs/model/model.tar.gz``), trained with the model package's
   defaults when it does not exist yet;
3. the held-out validation images of that training (``split.json`` beside the model) go through
   the whole local workflow (endpoint + moto stack), every inference captured;
4. the monitoring report over those captures (``scones.monitor.report.write_report``);
5. where everything is, printed at the end (and in ``<out>/demo.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scones_domain.arguments import existing_path, model_tarball, positive_int, probability
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD

DEFAULT_MODEL = Path("runs/model/model.tar.gz")
DEFAULT_OUT = Path("runs/demo")


class DemoError(Exception):
    """The demo cannot go on (no data, a split that names missing images, ...)."""


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job: data, train if needed, run the workflow, monitoring report",
        description="Get the data, train a model if none exists, serve it locally, run the "
        "SAM workflow over the held-out validation images, write the monitoring report and "
        "print where everything is. Runs offline when the data is on disk.",
    )
    demo.add_argument("--data", default=None, type=existing_path,
                      help="ImageFolder dir or .lst data (default: the shared folder, else a "
                      "CIFAR-100 download)")
    demo.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                      help=f"directory the demo writes into (default {DEFAULT_OUT})")
    demo.add_argument("--model", default=str(DEFAULT_MODEL), type=model_or_missing,
                      help=f"artifact to serve; trained here if missing (default {DEFAULT_MODEL})")
    demo.add_argument("--epochs", type=positive_int, default=None,
                      help="epochs per member when training (default: the model's recipe)")
    demo.add_argument("--threshold", type=probability, default=None,
                      help="ConfidenceThreshold, 0-1 (default: the template's, "
                      f"{DEFAULT_CONFIDENCE_THRESHOLD})")
    demo.add_argument("--concurrency", type=positive_int, default=2,
                      help="executions in flight (default 2)")
    demo.set_defaults(func=run)


def model_or_missing(text: str) -> str:
    """--model: a model.tar.gz, or a path where none is yet (the demo trains one there)."""
    return model_tarball(text) if Path(text).exists() else text


def find_data(data: str | None, out: Path) -> Path:
    """--data, else the shared folder, else a fresh CIFAR-100 extraction under out/data."""
    if data:
        if not Path(data).exists():
            raise DemoError(f"--data {data}: no such file or folder")
        return Path(data)
    from model.data import download_cifar100, shared_data_dir

    shared = shared_data_dir()
    if (shared / "train.lst").exists() or shared.is_dir() and any(shared.iterdir()):
        return shared
    print("no data on disk: downloading CIFAR-100 (bicycle, motorcycle)", file=sys.stderr)
    return download_cifar100(out / "data")


def ensure_model(model: Path, data: Path, epochs: int | None) -> bool:
    """Train into model's folder when it does not exist; True when it trained."""
    if model.exists():
        return False
    from model.pipeline import train_and_package
    from model.train import TrainConfig

    print(f"no model at {model}: training one on {data}", file=sys.stderr)
    config = TrainConfig(**({"epochs": epochs} if epochs else {}))
    train_and_package(data, model.parent, config)
    if not model.exists():
        raise DemoError(f"training finished but wrote no {model}")
    return True


def held_out_images(model: Path) -> tuple[list[str], dict[str, str]]:
    """The validation images of the split the model was trained with: paths and true labels."""
    split_path = model.parent / "split.json"
    if not split_path.exists():
        raise DemoError(f"{split_path} not found: the demo runs the held-out images of the "
                        "model's own training split (train with `scones train` or the demo)")
    split = json.loads(split_path.read_text())
    root = Path(split["data_root"])
    rows = split.get("validation") or []
    if not rows:
        raise DemoError(f"{split_path} holds no validation images (trained on everything?)")
    paths = [str(root / row["path"]) for row in rows]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise DemoError(f"{len(missing)} held-out images are missing, e.g. {missing[0]}")
    return paths, {str(root / row["path"]): row["label"] for row in rows}


def workflow_accuracy(records, truth: dict[str, str]) -> dict:
    """How the workflow's answers compare with the true labels."""
    passed = [r for r in records if r.status == "SUCCEEDED"]
    labelled = [r for r in records if r.label is not None]
    correct = sum(r.label == truth.get(r.image) for r in labelled)
    correct_passed = sum(r.label == truth.get(r.image) for r in passed)
    return {
        "images": len(records),
        "passed_threshold": len(passed),
        "coverage": round(len(passed) / len(records), 4) if records else None,
        "accuracy_all": round(correct / len(labelled), 4) if labelled else None,
        "accuracy_passed": round(correct_passed / len(passed), 4) if passed else None,
    }


def write_monitoring_report(captures: Path, out: Path, threshold: float | None,
                            model: Path) -> dict | None:
    try:
        from scones.monitor.report import write_report
    except ModuleNotFoundError:
        print("monitoring report skipped: scones.monitor.report is not installed",
              file=sys.stderr)
        return None
    kwargs = {"threshold": threshold} if threshold is not None else {}
    return write_report(str(captures), out, baseline=str(model), **kwargs)


def run(args: argparse.Namespace) -> int:
    from scones.workflow.runner import (
        ModelNotFoundError,
        format_summary,
        format_table,
        run_workflow,
        write_json,
    )

    out, model = Path(args.out), Path(args.model)
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = find_data(args.data, out)
        print(f"data: {data}")
        trained = ensure_model(model, data, args.epochs)
        print(f"model: {model}" + (" (trained now)" if trained else " (existing)"))
        images, truth = held_out_images(model)
        print(f"running the workflow over {len(images)} held-out validation images")
        captures = out / "captures"
        outcome = run_workflow(images, model=model, threshold=args.threshold,
                               capture=str(captures), concurrency=args.concurrency,
                               lambda_log=out / "lambda.log")
    except (DemoError, ModelNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = out / "results.json"
    write_json(outcome.records, results)
    print(format_table(outcome.records) if len(outcome.records) <= 40 else
          f"(table of {len(outcome.records)} images in {results})")
    print(format_summary(outcome.summary))
    accuracy = workflow_accuracy(outcome.records, truth)
    print(f"against the true labels: accuracy {accuracy['accuracy_all']} on all, "
          f"{accuracy['accuracy_passed']} on the {accuracy['passed_threshold']} that passed "
          f"(coverage {accuracy['coverage']})")
    report = write_monitoring_report(captures, out / "monitoring", args.threshold, model)
    where = {
        "data": str(data),
        "model": str(model),
        "metrics": str(model.parent / "metrics.json"),
        "results": str(results),
        "captures": str(captures),
        "capture_files": len(outcome.capture_files),
        "lambda_log": str(out / "lambda.log"),
        "monitoring_report": report.get("report") if report else None,
        "summary": outcome.summary,
        "accuracy": accuracy,
    }
    (out / "demo.json").write_text(json.dumps(where, indent=2) + "\n")
    print("\nwhere everything is:")
    for name in ("data", "model", "metrics", "results", "captures", "lambda_log",
                 "monitoring_report"):
        print(f"  {name:18} {where[name]}")
    print(f"  {'demo summary':18} {out / 'demo.json'}")
    return 0
