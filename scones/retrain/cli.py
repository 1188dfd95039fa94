"""``scones retrain``: the continuous-improvement loop on this machine, in one command.

    scones retrain --reviewed DIR [--model CURRENT] --out OUTDIR [--data ORIGINAL]
                   [--evaluation EVALDIR] [--captures DIR] [--endpoint-url URL]
                   [--threshold T] [--max-ece E] [--hyperparameters JSON]
                   [--json FILE|-] [--fail-if-rejected]

The same code as the SageMaker retraining job (``model.pipeline.retrain``): train the
challenger on ORIGINAL plus the reviewed labels, score it and the champion on the fixed
evaluation set, shadow-check it on captured requests; then the promotion gate
(``scones_domain.promotion``), a registry entry (``OUTDIR/registry.json``), and, when promoted
and a local endpoint runs (``scones up``, or ``scones serve`` with ``--endpoint-url``), the
endpoint serves the new model (its local-only ``POST /local/model``).

Exit status: 0 done (promoted or not: ``"promoted"`` in the JSON says which); 1 the work failed
(training, or the running endpoint refused the new model); 2 usage error (a missing or
malformed folder, a bad value); 3 with ``--fail-if-rejected``, the gate rejected the challenger.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from scones_domain.arguments import (
    STDOUT,
    existing_path,
    model_artifact,
    output_file,
    probability,
    write_output,
)
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD
from scones_domain.promotion import MAX_ECE

EXIT_USAGE = 2
EXIT_REJECTED = 3  # --fail-if-rejected and the gate rejected the challenger
LOCAL_MODEL_ROUTE = "/local/model"  # the local endpoint's model swap (scones.serving.endpoint)
EPILOG = f"""exit status:
  0  done: the challenger is registered, Approved (and served, when an endpoint runs) or
     Rejected ("promoted" in --json says which)
  1  the work failed: training, or the running endpoint refused the new model
  {EXIT_USAGE}  usage error: a missing or malformed folder or model, a bad value
  {EXIT_REJECTED}  --fail-if-rejected: the gate rejected the challenger
"""


def champion_model(text: str) -> str:
    """--model: a model.tar.gz, a folder holding one, or the folder one unpacks to."""
    path = Path(text)
    if path.is_dir() and (path / "model.tar.gz").is_file():
        return model_artifact(str(path / "model.tar.gz"))
    return model_artifact(text)


def folder(text: str) -> str:
    path = Path(existing_path(text))
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


def hyperparameters(text: str) -> dict:
    """--hyperparameters: a JSON object of training settings (checked against TrainConfig)."""
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "retrain", help="retrain on reviewed labels; promote only if the gate says it is better",
        description="Train a challenger on the original data plus reviewed labels (an "
        "ImageFolder <class>/<image>; a new class is a new output), score it and the model in "
        "service on a fixed evaluation set neither trained on, shadow-check it on captured "
        "requests, apply the promotion gate, record the model package in OUTDIR/registry.json "
        "(Approved or Rejected, with the reason) and, when promoted, make the running local "
        "endpoint serve it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--reviewed", required=True, type=folder, metavar="DIR",
                   help="reviewed labels: DIR/<class>/<image>")
    p.add_argument("--model", type=champion_model, default=None, metavar="CURRENT",
                   help="the champion: model.tar.gz or a folder with one (default: the newest "
                   "Approved package in OUTDIR/registry.json, else the model the running "
                   "`scones up` stack serves, else none: the first model is promoted)")
    p.add_argument("--out", required=True, metavar="OUTDIR",
                   help="the registry folder: OUTDIR/v<N>/ per challenger, OUTDIR/registry.json")
    p.add_argument("--data", type=existing_path, default=None, metavar="ORIGINAL",
                   help="the original training data (default: $SCONES_SHARED_DATA or "
                   "../shared/data/cifar100-bicycle-motorcycle)")
    p.add_argument("--evaluation", type=existing_path, default=None, metavar="EVALDIR",
                   help="fixed evaluation set (ImageFolder or .lst); default: 20%% of ORIGINAL "
                   "per class, held out from training (scones train's validation split)")
    p.add_argument("--captures", default=None, metavar="DIR|s3://...",
                   help="captured requests for the shadow check (default: the running stack's "
                   "captures, if a stack runs)")
    p.add_argument("--endpoint-url", default=None, metavar="URL",
                   help="local endpoint to promote to (default: the running `scones up` "
                   "stack's; `scones serve` prints its URL)")
    p.add_argument("--threshold", type=probability, default=DEFAULT_CONFIDENCE_THRESHOLD,
                   help=f"confidence threshold the metrics are measured at (default "
                   f"{DEFAULT_CONFIDENCE_THRESHOLD})")
    p.add_argument("--max-ece", type=probability, default=MAX_ECE,
                   help=f"largest calibration error a promoted model may have unless the "
                   f"champion's is larger (default {MAX_ECE})")
    p.add_argument("--hyperparameters", type=hyperparameters, default={}, metavar="JSON",
                   help="training settings as a JSON object, e.g. '{\"epochs\": 30}' "
                   "(TrainConfig's fields, model/train.py)")
    p.add_argument("--json", metavar="FILE|-", type=output_file, default=None,
                   help="write the result as JSON to FILE ('-': stdout, the table then goes to "
                   "stderr)")
    p.add_argument("--fail-if-rejected", action="store_true",
                   help=f"exit {EXIT_REJECTED} when the gate rejects the challenger")
    p.set_defaults(func=run)


def usage_error(message: str) -> int:
    print(f"scones retrain: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def running_stack() -> dict | None:
    """The state of the running `scones up` stack, or None."""
    from scones.local.server import StackNotRunningError, read_state

    try:
        return read_state()
    except StackNotRunningError:
        return None


def find_champion(args: argparse.Namespace, stack: dict | None) -> tuple[str | None, str]:
    """(the champion's artifact or None, where it came from)."""
    from scones.retrain.registry import latest_approved

    if args.model:
        return args.model, "--model"
    approved = latest_approved(args.out)
    if approved is not None:
        return approved["artifact"], f"registry version {approved['version']} (Approved)"
    if stack is not None and stack.get("model") and Path(stack["model"]).exists():
        return stack["model"], "the model the running stack serves"
    return None, "none (no --model, no Approved package, no running stack)"


def run(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from model.challenge import check_reviewed
    from model.data import DataError, shared_data_dir
    from model.package import ArtifactError
    from model.train import TrainConfig
    from scones.retrain.registry import RegistryError, next_version
    from scones_domain.monitoring.captures import CaptureError

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(args.hyperparameters) - known)
    if unknown:
        return usage_error(f"argument --hyperparameters: not training settings: "
                           f"{', '.join(unknown)}")
    data = Path(args.data) if args.data else shared_data_dir()
    if not data.exists():
        return usage_error(f"no original data at {data}: give --data")
    stack = running_stack()
    try:
        check_reviewed(args.reviewed)
        champion, champion_source = find_champion(args, stack)
        next_version(args.out)  # a registry.json that is not one: a usage error, before training
        config = TrainConfig(**args.hyperparameters)
    except (DataError, RegistryError, TypeError) as exc:
        return usage_error(str(exc))
    captures = args.captures or (stack or {}).get("capture")
    if captures and not str(captures).startswith("s3://") and not Path(captures).exists():
        if args.captures:
            return usage_error(f"argument --captures: {captures}: no such folder")
        captures = None  # the stack has served nothing yet
    human = sys.stderr if args.json == STDOUT else sys.stdout
    print(f"retraining on {data} + {args.reviewed}; champion: "
          f"{f'{champion} ({champion_source})' if champion else champion_source}", file=human)
    try:
        result = retrain_and_register(
            data, args.reviewed, args.out, config, evaluation=args.evaluation,
            champion=champion, champion_source=champion_source, captures=captures,
            threshold=args.threshold, max_ece=args.max_ece)
    except (DataError, ArtifactError, CaptureError) as exc:
        return usage_error(f"{type(exc).__name__}: {exc}")
    status = 0
    endpoint = args.endpoint_url or (stack or {}).get("endpoint_url")
    if result["promoted"] and endpoint:
        try:
            result["serving"] = promote(endpoint, result["artifact"], stack)
        except PromotionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    if args.json:
        write_output(args.json, json.dumps(result, indent=2) + "\n")
    print(format_result(result), file=human)
    if status == 0 and args.fail_if_rejected and not result["promoted"]:
        return EXIT_REJECTED
    return status


def retrain_and_register(data: str | Path, reviewed: str | Path, out: str | Path, config, *,
                         evaluation: str | Path | None = None, champion: str | None = None,
                         champion_source: str = "--model", captures: str | None = None,
                         threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
                         max_ece: float = MAX_ECE, progress: bool = True) -> dict:
    """Train the challenger into ``out/v<N>`` (``model.pipeline.retrain``: ``data`` plus the
    ``reviewed`` labels, scored with the ``champion`` on ``evaluation``, shadow-checked on
    ``captures``), apply the promotion gate and append package N to ``out/registry.json``.

    Returns what ``scones retrain --json`` writes (``serving`` None: promoting to a running
    endpoint is the caller's step). Raises the data, artifact and capture errors of the
    retraining, and ``RegistryError`` for a registry.json that is not one."""
    from model.pipeline import retrain
    from scones.retrain.registry import append_package, next_version, package_entry
    from scones_domain.promotion import decide

    version = next_version(out)
    out_dir = Path(out) / f"v{version}"
    summary = retrain(data, out_dir, config, reviewed=reviewed, evaluation=evaluation,
                      champion=champion, captures=captures, threshold=threshold,
                      progress=progress)
    document = summary["challenge"]
    decision = decide(document["champion"], document["challenger"], max_ece=max_ece)
    entry = package_entry(version, summary["artifact"], document, decision.as_dict(),
                          None if champion is None else str(Path(champion).resolve()))
    registry_file = append_package(out, entry)
    return {**decision.as_dict(), "champion": document["champion"],
            "challenger": document["challenger"], "evaluation": document["evaluation"],
            "shadow": document["shadow"], "registry": entry,
            "registry_file": str(registry_file), "artifact": entry["artifact"],
            "challenge": str(out_dir / "challenge.json"), "champion_source": champion_source,
            "serving": None}


class PromotionError(Exception):
    """The local endpoint did not take the promoted model."""


def promote(endpoint_url: str, artifact: str, stack: dict | None) -> dict:
    """Make the local endpoint at ``endpoint_url`` serve ``artifact`` (its local-only model
    swap); a `scones up` stack's state file then names the new model."""
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + LOCAL_MODEL_ROUTE, method="POST",
        data=json.dumps({"model": artifact}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        raise PromotionError(f"the endpoint at {endpoint_url} refused the new model "
                             f"({exc.code}): {body}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PromotionError(f"no endpoint answers at {endpoint_url}: {exc}") from None
    if stack is not None and endpoint_url == stack.get("endpoint_url"):
        from scones.local.server import DEFAULT_STATE_FILE, write_state

        write_state(DEFAULT_STATE_FILE, {**stack, "model": artifact})
    return {"endpoint_url": endpoint_url, "model": answer.get("model"),
            "model_version": answer.get("model_version"), "labels": answer.get("labels")}


def format_result(result: dict) -> str:
    """Champion vs challenger in a few aligned rows, then the decision and where things are."""
    champion, challenger = result["champion"], result["challenger"]

    def value(metrics, key):
        if metrics is None:
            return "-"
        number = metrics[key]
        return "n/a" if number is None else f"{number:.3f}"

    rows = [("accuracy", "accuracy"), ("coverage", "coverage"),
            ("covered accuracy", "covered_accuracy"), ("ECE", "ece")]
    evaluation = result["evaluation"]
    lines = [f"evaluation       {evaluation['source']}",
             f"                 {evaluation['n']} images, sha256 {evaluation['sha256'][:12]}",
             "", f"{'':<18}{'champion':>10}{'challenger':>12}"]
    lines += [f"{name:<18}{value(champion, key):>10}{value(challenger, key):>12}"
              for name, key in rows]
    lines.append(f"{'classes':<18}{len(champion['class_labels']) if champion else '-':>10}"
                 f"{len(challenger['class_labels']):>12}")
    lines.append(f"{'images (n)':<18}{champion['n'] if champion else '-':>10}"
                 f"{challenger['n']:>12}")
    shadow = result["shadow"]
    if shadow is not None:
        rate = "-" if shadow["rate"] is None else f"{shadow['rate']:.1%}"
        lines.append(f"shadow           {shadow['disagreements']} of {shadow['n']} captured "
                     f"requests answered differently ({rate})")
    entry = result["registry"]
    lines += ["", f"{'PROMOTED' if result['promoted'] else 'REJECTED'}: {result['reason']}",
              f"registry         version {entry['version']} {entry['approval_status']} in "
              f"{result['registry_file']}",
              f"artifact         {result['artifact']}"]
    if result["serving"]:
        lines.append(f"serving          {result['serving']['endpoint_url']} now serves "
                     f"{result['serving']['model_version']}")
    return "\n".join(lines)
