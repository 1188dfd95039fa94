"""`scones pretrain`, `scones train`, `scones evaluate` and `scones deploy` (thin wrappers over
model.*)."""

from __future__ import annotations

import argparse
import json

from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD


def register(subparsers: argparse._SubParsersAction) -> None:
    pretrain = subparsers.add_parser(
        "pretrain", help="learn a backbone from a larger corpus (CIFAR-10's training images)",
        description="Supervised pretraining of the classifier's ResNet-8 on a labeled corpus "
        "(a .tar.gz of <class>/<image> files, a folder holding one, or an unpacked folder); "
        "writes OUT/backbone.npz, OUT/backbone.json (provenance) and OUT/checkpoint.pt after "
        "every epoch (run the same command again to resume).",
    )
    pretrain.add_argument("--data", required=True, help="corpus: .tar.gz, folder holding one, "
                          "or <class>/<image> folder")
    pretrain.add_argument("--out", required=True, help="output directory")
    pretrain.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    pretrain.add_argument("--epochs", type=int, default=None, help="passes over the corpus")
    pretrain.add_argument("--limit", type=int, default=None,
                          help="use only the first N images per class (pilots, tests)")
    pretrain.add_argument("--batch-size", type=int, default=None, help="images per step")
    pretrain.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                          help="of the training forward pass (default auto)")
    pretrain.add_argument("--threads", type=int, default=None,
                          help="torch CPU threads (default 2; 1 is steadier beside other jobs)")
    pretrain.set_defaults(func=run_pretrain)

    train = subparsers.add_parser(
        "train", help="train the vehicle classifier and write OUTDIR/model.tar.gz",
        description="Train the calibrated ensemble on DATA (ImageFolder dir, .lst file, or a "
        "dir holding one .lst); writes model.tar.gz, metrics.json, baseline.json, split.json.",
    )
    train.add_argument("--data", required=True, help="ImageFolder dir, .lst file or dir with one")
    train.add_argument("--out", required=True, help="output directory")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument("--epochs", type=int, default=None, help="epochs per ensemble member")
    train.add_argument("--members", type=int, default=None, help="ensemble size")
    train.add_argument("--validation-fraction", type=float, default=None,
                       help="share of images held out for evaluation (default 0.2); they also "
                       "fit the temperature unless --calibration-fraction is set")
    train.add_argument("--calibration-fraction", type=float, default=None,
                       help="share held out only to fit the temperature (default 0); e.g. "
                       "--validation-fraction 0 --calibration-fraction 0.1 trains on 90%%")
    train.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                       help="of the training forward pass (default auto: bfloat16 where the CPU "
                       "has it natively, else float32)")
    train.add_argument("--from-scratch", action="store_true",
                       help="train from random weights with the from-scratch recipe instead of "
                       "fine-tuning the committed pretrained backbone")
    train.add_argument("--backbone", default=None,
                       help="backbone .npz to fine-tune from (default: the committed one, see "
                       "`scones pretrain`)")
    train.add_argument("--threshold", type=float, default=DEFAULT_CONFIDENCE_THRESHOLD)
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="evaluate a model.tar.gz on labeled images",
        description="Accuracy, coverage and accuracy at the threshold, per-class precision/"
        "recall, confusion matrix, ECE and the risk-coverage curve; writes reliability.png and "
        "risk_coverage.png next to the model (or in --out).",
    )
    evaluate.add_argument("--model", required=True, help="path to model.tar.gz")
    evaluate.add_argument("--data", required=True, help="ImageFolder dir, .lst file or dir")
    evaluate.add_argument("--threshold", type=float, default=DEFAULT_CONFIDENCE_THRESHOLD)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--out", default=None, help="directory for the PNG plots")
    evaluate.set_defaults(func=run_evaluate)

    deploy = subparsers.add_parser(
        "deploy", help="deploy model.tar.gz to a SageMaker endpoint with data capture",
        description="Upload the artifact, create the model and an endpoint config with data "
        "capture, create the endpoint or update it blue/green (canary, auto-rollback on 5xx and "
        "latency alarms), register autoscaling, and print the `sam deploy "
        "--parameter-overrides` line with the new ModelVersion.",
    )
    deploy.add_argument("--model", required=True, help="path to model.tar.gz")
    deploy.add_argument("--role", required=True, help="SageMaker execution role ARN")
    deploy.add_argument("--bucket", required=True,
                        help="S3 bucket name (not s3://) for artifact and captures")
    deploy.add_argument("--endpoint-name", required=True)
    deploy.add_argument("--region", default=None,
                        help="AWS region (default: the configured one; us-east-1 for a dry run "
                        "without one)")
    deploy.add_argument("--image-uri", default=None,
                        help="inference image (default: the SageMaker SDK's PyTorch 2.6 "
                        "inference image for the region and instance type)")
    deploy.add_argument("--instance-type", default="ml.m5.large")
    deploy.add_argument("--instance-count", type=int, default=2,
                        help="instances at creation and autoscaling minimum (default 2: two "
                        "Availability Zones, and room for a one-instance canary)")
    deploy.add_argument("--max-instances", type=int, default=4)
    deploy.add_argument("--target-invocations", type=float, default=200.0,
                        help="invocations per instance per minute the autoscaler aims at")
    deploy.add_argument("--latency-alarm-ms", type=float, default=500.0,
                        help="average model latency that rolls an update back (default 500)")
    deploy.add_argument("--prefix", default="scones", help="S3 key prefix")
    deploy.add_argument("--dry-run", action="store_true",
                        help="print every call with its arguments; calls nothing, needs no "
                        "credentials")
    deploy.set_defaults(func=run_deploy)


def run_pretrain(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from model.pretrain import PretrainConfig, pretrain

    overrides = {k: v for k, v in {"epochs": args.epochs, "limit": args.limit,
                                   "batch_size": args.batch_size,
                                   "precision": args.precision,
                                   "threads": args.threads}.items() if v is not None}
    config = PretrainConfig(seed=args.seed, **overrides)
    command = "scones " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["pretrain"] else None
    record = pretrain(args.data, args.out, config, command=command)
    accuracy = record["metrics"]["holdout_accuracy"]
    print(f"pretrained {config.epochs} epochs in {record['train_seconds']:.0f} s: held-out "
          f"accuracy {'n/a' if accuracy is None else f'{accuracy:.4f}'}")
    print(f"wrote {args.out}/backbone.npz (sha256 {record['sha256']}) and backbone.json")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from model.pipeline import train_and_package
    from model.train import FROM_SCRATCH, TrainConfig

    if args.from_scratch and args.backbone:
        raise SystemExit("scones train: --from-scratch and --backbone exclude each other")
    overrides = {k: v for k, v in {"epochs": args.epochs, "members": args.members,
                                   "validation_fraction": args.validation_fraction,
                                   "calibration_fraction": args.calibration_fraction,
                                   "precision": args.precision,
                                   "backbone": args.backbone}.items()
                 if v is not None}
    recipe = dict(FROM_SCRATCH) if args.from_scratch else {}
    config = TrainConfig(seed=args.seed, **{**recipe, **overrides})
    summary = train_and_package(args.data, args.out, config, threshold=args.threshold)
    m = summary["metrics"]
    covered = "n/a" if m["covered_accuracy"] is None else f"{m['covered_accuracy']:.3f}"
    if m["n"]:
        print(f"{m['evaluated_on']} (n={m['n']}): accuracy {m['accuracy']:.3f}, "
              f"coverage@{m['threshold']} {m['coverage']:.3f}, covered accuracy {covered}, "
              f"ECE {m['ece']:.3f}")
    start = f"fine-tuned from {config.backbone}" if config.backbone else "from scratch"
    print(f"trained {config.members} x {config.epochs} epochs ({start}) in "
          f"{m['train_seconds']:.0f} s; "
          f"skipped {len(m['skipped'])} unreadable images")
    print(f"wrote {summary['out']}/model.tar.gz (model version "
          f"{summary['metadata']['model_version']})")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from model.evaluate import evaluate, format_table, print_skipped

    report = evaluate(args.model, args.data, args.threshold, args.out)
    print_skipped(report)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    import sys

    from botocore.exceptions import BotoCoreError, ClientError

    from model.deploy import DeployError, DeployRequest, deploy, plan

    request = DeployRequest(
        artifact=args.model, role_arn=args.role, bucket=args.bucket,
        endpoint_name=args.endpoint_name, region=args.region, image_uri=args.image_uri,
        instance_type=args.instance_type, initial_instance_count=args.instance_count,
        max_instances=args.max_instances, target_invocations=args.target_invocations,
        latency_alarm_ms=args.latency_alarm_ms, prefix=args.prefix,
    )
    try:
        if args.dry_run:
            print(json.dumps(plan(request), indent=2, default=str))
            return 0
        result = deploy(request)
    except (DeployError, ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{result['action']} endpoint {request.endpoint_name} with model version "
          f"{result['model_version']}; update the stack with:", file=sys.stderr)
    print(result["sam_deploy"])
    return 0
