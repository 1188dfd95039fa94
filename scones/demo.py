"""`scones demo`: the main job, end to end on this machine.

1. data: ``--data DIR``, else the shared CIFAR-100 bicycle/motorcycle folder beside the checkout
   (``$SCONES_SHARED_DATA`` or ``../shared/data/cifar100-bicycle-motorcycle``), else CIFAR-100
   downloaded (checksum verified) and extracted by ``model.data.download_cifar100``;
2. model: ``--model`` (default ``runs/model/model.tar.gz``), trained with the model package's
   defaults when it does not exist yet;
3. the held-out validation images of that training (``split.json`` beside the model) go through
   the whole local workflow (endpoint + moto stack), every inference captured;
4. the monitoring report over those captures (``scones.monitor.report.write_report``);
5. one turn of the continuous-improvement loop (``--no-loop`` skips it), in ``<out>/loop/``:
   the held-out images are cut in two halves, stratified by class with a fixed seed. One half
   is the fixed evaluation set (``evaluation/<class>/``); the photos of the other half that the
   workflow sent to review get a reviewer's label, and the demo's reviewer is the dataset's true
   labels (``reviewed/<class>/``). A challenger is trained on the champion's own training images
   (``original/<class>/``) plus those reviewed labels, with the champion's recipe for
   ``--retrain-epochs`` epochs, scored with the champion on the evaluation half and
   shadow-checked on the captures; the promotion gate decides and the registry records it
   (``scones retrain``'s code: ``scones.retrain.cli.retrain_and_register``). Both models side by
   side: printed, in ``demo.json`` (``loop``) and in ``loop/models.html``;
6. where everything is, printed at the end (and in ``<out>/demo.json``).
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from scones_domain.arguments import existing_path, model_tarball, positive_int, probability
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD

DEFAULT_MODEL = Path("runs/model/model.tar.gz")
DEFAULT_OUT = Path("runs/demo")
# epochs per member of the loop's challenger: a real model (the committed backbone fine-tuned,
# as the champion is, for an eighth of its 120 epochs); the loop took 75 s (training 68 s) on a
# 2-core Xeon shared with other work (docs/local-runtime.md)
DEFAULT_RETRAIN_EPOCHS = 15
REVIEW_SHARE = 0.5  # of the held-out images: the review half; the rest is the evaluation half
SPLIT_SEED = 0  # fixed: every demo cuts the held-out images the same way
REVIEWER = "the dataset's true labels"
MACHINE_SETTINGS = ("precision", "threads")  # of the champion's recipe: this machine's instead


class DemoError(Exception):
    """The demo cannot go on (no data, a split that names missing images, ...)."""


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="the main job: data, train if needed, run the workflow, monitoring report, "
        "one turn of the continuous-improvement loop",
        description="Get the data, train a model if none exists, serve it locally, run the "
        "SAM workflow over the held-out validation images, write the monitoring report, "
        "then one turn of the loop: a reviewer (the dataset's true labels) labels the photos "
        "below the threshold of half of those images, a challenger is retrained on them and "
        "judged against the model on the other half by the promotion gate, and the registry "
        "records it. Prints where everything is. Runs offline when the data is on disk.",
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
    demo.add_argument("--retrain-epochs", type=positive_int, default=DEFAULT_RETRAIN_EPOCHS,
                      metavar="N",
                      help="epochs per member of the loop's challenger, trained with the "
                      f"champion's recipe otherwise (default {DEFAULT_RETRAIN_EPOCHS}: the loop "
                      "took 75 s on 2 busy cores; the recipe's 60 trains as long as the "
                      "champion)")
    demo.add_argument("--no-loop", action="store_true",
                      help="skip the continuous-improvement loop (review, retraining, gate, "
                      "registry)")
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
    paths, truth = split_rows(model, ("validation",))
    if not paths:
        raise DemoError(f"{split_path} holds no validation images (trained on everything?)")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise DemoError(f"{len(missing)} held-out images are missing, e.g. {missing[0]}")
    return paths, truth


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


# --------------------------------------------------------------------------- the loop


def split_rows(model: Path, parts: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The images of ``parts`` of the model's split.json: paths and true labels."""
    split = json.loads((model.parent / "split.json").read_text())
    root = Path(split["data_root"])
    rows = [row for part in parts for row in split.get(part) or []]
    return [str(root / row["path"]) for row in rows], {
        str(root / row["path"]): row["label"] for row in rows}


def halve(images: list[str], truth: dict[str, str]) -> tuple[list[str], list[str]]:
    """(evaluation half, review half) of the held-out images: each class cut in two with a
    fixed seed (``model.data.stratified_split``)."""
    from model.data import stratified_split

    labels = sorted({truth[image] for image in images})
    review, evaluation = stratified_split([labels.index(truth[image]) for image in images],
                                          [REVIEW_SHARE], SPLIT_SEED)
    return [images[i] for i in evaluation], [images[i] for i in review]


def image_folder(folder: Path, images: list[str], truth: dict[str, str]) -> dict[str, int]:
    """A fresh ImageFolder ``folder/<true label>/<image>`` of links to ``images`` (copies where
    links cannot be made); the number of images per class."""
    shutil.rmtree(folder, ignore_errors=True)
    used: set[Path] = set()
    for image in images:
        source = Path(image).resolve()
        target = folder / truth[image] / source.name
        if target in used:  # two images of one name in different folders
            target = target.with_name(f"{len(used)}_{source.name}")
        used.add(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)
    return dict(sorted(Counter(truth[image] for image in images).items()))


def challenger_config(model: Path, epochs: int):
    """The champion's recipe (its artifact's metadata), with ``epochs`` and this machine's
    precision and threads; the default recipe when the artifact does not record one."""
    from dataclasses import fields

    from model.deploy import artifact_metadata
    from model.train import TrainConfig

    recipe = artifact_metadata(model).get("config") or {}
    known = {f.name for f in fields(TrainConfig)} - {*MACHINE_SETTINGS, "epochs"}
    return TrainConfig(**{k: v for k, v in recipe.items() if k in known}, epochs=epochs)


def per_class(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} {n}" for label, n in counts.items()) or "none"


def run_loop(loop: Path, model: Path, records, truth: dict[str, str], captures: Path,
             threshold: float, epochs: int) -> dict:
    """One turn of the loop (review, retraining, gate, registry) in ``loop``; what demo.json
    holds under ``loop``."""
    from scones.retrain.cli import format_result, retrain_and_register
    from scones.workflow.runner import THRESHOLD_ERROR

    started = time.perf_counter()
    print("\n== one turn of the continuous-improvement loop ==")
    evaluation, review = halve(list(truth), truth)
    in_review = set(review)
    below = [r.image for r in records if r.image in in_review and r.status == "FAILED"
             and r.error == THRESHOLD_ERROR]
    evaluation_counts = image_folder(loop / "evaluation", evaluation, truth)
    reviewed_counts = image_folder(loop / "reviewed", below, truth)
    print(f"the held-out images in two halves: {len(evaluation)} for evaluation "
          f"({per_class(evaluation_counts)}), {len(review)} reviewed after the workflow")
    print(f"a reviewer labels the photos below the threshold: {len(below)} of the {len(review)} "
          f"in the review half were sent to review (confidence < {threshold})")
    print(f"  the demo's reviewer is {REVIEWER}: each of those photos gets its true class")
    print(f"  reviewed per class: {per_class(reviewed_counts)}")
    result = {
        "reviewer": REVIEWER, "threshold": threshold, "retrain_epochs": epochs,
        "evaluation": {"folder": str(loop / "evaluation"), "n": len(evaluation),
                       "per_class": evaluation_counts},
        "review_half": {"n": len(review), "sent_to_review": len(below)},
        "reviewed": {"folder": str(loop / "reviewed"), "n": len(below),
                     "per_class": reviewed_counts},
    }
    if not below:
        print("no photo of the review half was below the threshold: nothing to retrain on")
        return {**result, "retrained": False, "seconds": round(time.perf_counter() - started, 1)}
    training, training_truth = split_rows(model, ("train", "calibration"))
    original_counts = image_folder(loop / "original", training, training_truth)
    config = challenger_config(model, epochs)
    print(f"retraining on the champion's {len(training)} training images "
          f"({per_class(original_counts)}) + the {len(below)} reviewed labels, "
          f"{config.members} x {epochs} epochs")
    retrained = retrain_and_register(
        loop / "original", loop / "reviewed", loop, config, evaluation=loop / "evaluation",
        champion=str(model), champion_source="the demo's model", captures=str(captures),
        threshold=threshold)
    print(format_result(retrained))
    if retrained["promoted"]:
        print(f"new model: {retrained['artifact']} (the registry's Approved version "
              f"{retrained['registry']['version']}; serve it with `scones up --model ...`)")
    else:
        print(f"the champion stays: {model}")
    seconds = round(time.perf_counter() - started, 1)
    print(f"loop: {seconds} s")
    result.update(
        retrained=True, original={"folder": str(loop / "original"), "n": len(training),
                                  "per_class": original_counts},
        champion=retrained["champion"], challenger=retrained["challenger"],
        promoted=retrained["promoted"], reason=retrained["reason"], checks=retrained["checks"],
        shadow=retrained["shadow"], registry_file=retrained["registry_file"],
        registry_version=retrained["registry"]["version"],
        challenger_artifact=retrained["artifact"],
        new_model=retrained["artifact"] if retrained["promoted"] else None,
        seconds=seconds)
    result["models_html"] = str(write_models_html(loop / "models.html", model, result))
    return result


MODEL_ROWS = (("accuracy", "accuracy"), ("coverage at the threshold", "coverage"),
              ("accuracy among covered", "covered_accuracy"), ("ECE", "ece"), ("n", "n"))


def write_models_html(path: Path, model: Path, loop: dict) -> Path:
    """Champion vs challenger on the evaluation half, the decision and where things are."""

    def cell(metrics: dict | None, key: str) -> str:
        value = None if metrics is None else metrics.get(key)
        return "-" if value is None else str(value) if key == "n" else f"{value:.3f}"

    reviewed = html.escape(per_class(loop["reviewed"]["per_class"]))
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{cell(loop['champion'], key)}</td>"
        f"<td>{cell(loop['challenger'], key)}</td></tr>" for name, key in MODEL_ROWS)
    decision = "PROMOTED" if loop["promoted"] else "REJECTED"
    shadow = loop.get("shadow")
    if shadow and shadow.get("n"):
        examples = "".join(
            f"<tr><td>{html.escape(str(e.get('event_id')))}</td>"
            f"<td>{html.escape(str(e.get('champion_label')))}</td>"
            f"<td>{html.escape(str(e.get('challenger_label')))}</td>"
            f"<td>{e.get('challenger_confidence', 0):.3f}</td></tr>"
            for e in shadow.get("examples") or [])
        rate = "-" if shadow.get("rate") is None else f"{shadow['rate']:.1%}"
        shadow_html = (
            f"<h2>Shadow check</h2><p>On {shadow['n']} captured requests the challenger "
            f"answered {shadow['disagreements']} differently from the champion ({rate}).</p>"
            + (f"<table border='1'><tr><th>capture event</th><th>champion</th>"
               f"<th>challenger</th><th>challenger's confidence</th></tr>{examples}</table>"
               if examples else ""))
    else:
        shadow_html = "<h2>Shadow check</h2><p>No captured request was re-scored.</p>"
    where = [("champion", str(model)), ("challenger", loop["challenger_artifact"]),
             ("registry", loop["registry_file"]), ("evaluation set", loop["evaluation"]["folder"]),
             ("reviewed labels", loop["reviewed"]["folder"])]
    path.write_text(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Scones Unlimited - champion vs challenger</title></head><body>"
        "<h1>Champion vs challenger</h1>"
        f"<p>{loop['reviewed']['n']} photos reviewed ({reviewed}); "
        f"the reviewer: {html.escape(REVIEWER)}. Both models scored on the same "
        f"{loop['evaluation']['n']} evaluation images, threshold {loop['threshold']}.</p>"
        f"<table border='1'><tr><th></th><th>champion</th><th>challenger</th></tr>{rows}"
        f"</table><p><b>{decision}</b>: {html.escape(loop['reason'])}</p>{shadow_html}<ul>"
        + "".join(f"<li>{name}: {html.escape(value)}</li>" for name, value in where)
        + "</ul></body></html>\n", encoding="utf-8")
    return path


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
    loop = None
    if not args.no_loop:
        from model.data import DataError
        from model.package import ArtifactError
        from scones_domain.monitoring.captures import CaptureError

        try:
            loop = run_loop(out / "loop", model, outcome.records, truth, captures,
                            args.threshold or DEFAULT_CONFIDENCE_THRESHOLD, args.retrain_epochs)
        except (DataError, ArtifactError, CaptureError) as exc:
            print(f"error: the loop failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
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
        "loop": loop,
    }
    (out / "demo.json").write_text(json.dumps(where, indent=2) + "\n")
    print("\nwhere everything is:")
    for name in ("data", "model", "metrics", "results", "captures", "lambda_log",
                 "monitoring_report"):
        print(f"  {name:18} {where[name]}")
    if loop and loop.get("retrained"):
        for name, key in (("evaluation set", "evaluation"), ("reviewed labels", "reviewed")):
            print(f"  {name:18} {loop[key]['folder']}")
        for name, key in (("registry", "registry_file"), ("models", "models_html")):
            print(f"  {name:18} {loop[key]}")
        if loop["new_model"]:
            print(f"  {'new model':18} {loop['new_model']}")
    print(f"  {'demo summary':18} {out / 'demo.json'}")
    return 0
