"""`scones pretrain`, `scones train`, `scones evaluate` and `scones deploy` (thin wrappers over
model.*)."""

from __future__ import annotations

import argparse
import json
import sys

from model import deploy as deploy_args
from scones_domain.arguments import (
    STDOUT,
    endpoint_name,
    existing_path,
    model_tarball,
    non_negative_number,
    output_file,
    positive_int,
    positive_number,
    probability,
    stage_widths,
    write_output,
)
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD


def register(subparsers: argparse._SubParsersAction) -> None:
    pretrain = subparsers.add_parser(
        "pretrain", help="learn a backbone from a larger corpus (CIFAR-10's training images)",
        description="Pretraining of the classifier's ResNet-8 on a labeled corpus, supervised "
        "on its labels (default), self-supervised (SimCLR) or both "
        "(a .tar.gz of <class>/<image> files, a folder holding one, or an unpacked folder); "
        "writes OUT/backbone.npz, OUT/backbone.json (provenance) and OUT/checkpoint.pt after "
        "every epoch (run the same command again to resume).",
    )
    pretrain.add_argument("--data", required=True, type=existing_path,
                          help="corpus: .tar.gz, folder holding one, or <class>/<image> folder")
    pretrain.add_argument("--out", required=True, help="output directory")
    pretrain.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    pretrain.add_argument("--epochs", type=positive_int, default=None,
                          help="passes over the corpus")
    pretrain.add_argument("--limit", type=positive_int, default=None,
                          help="use only the first N images per class (pilots, tests)")
    pretrain.add_argument("--batch-size", type=positive_int, default=None,
                          help="images per step")
    pretrain.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                          help="of the training forward pass (default auto)")
    pretrain.add_argument("--threads", type=positive_int, default=None,
                          help="torch CPU threads (default 2; 1 is steadier beside other jobs)")
    pretrain.add_argument("--widths", type=stage_widths, default=None, metavar="W1,W2,W3",
                          help="channels of the network's three stages (default 32,64,128; "
                          "`scones train --backbone` takes them from the file)")
    pretrain.add_argument("--contrastive", type=non_negative_number, default=None, metavar="W",
                          help="weight of a SimCLR loss between two views of each image "
                          "(default 0: off; a second view per image, about twice the time)")
    pretrain.add_argument("--supervised", type=non_negative_number, default=None, metavar="W",
                          help="weight of the cross-entropy on the corpus' labels (default 1; "
                          "0 with --contrastive: self-supervised only)")
    pretrain.set_defaults(func=run_pretrain)

    train = subparsers.add_parser(
        "train", help="train the vehicle classifier and write OUTDIR/model.tar.gz",
        description="Train the calibrated ensemble on DATA (ImageFolder dir, .lst file, or a "
        "dir holding one .lst); writes model.tar.gz, metrics.json, baseline.json, split.json.",
    )
    train.add_argument("--data", required=True, type=existing_path,
                       help="ImageFolder dir, .lst file or dir with one")
    train.add_argument("--out", required=True, help="output directory")
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="epochs per ensemble member")
    train.add_argument("--members", type=positive_int, default=None, help="ensemble size")
    train.add_argument("--validation-fraction", type=probability, default=None,
                       help="share of images held out for evaluation (default 0.2); they also "
                       "fit the temperature unless --calibration-fraction is set")
    train.add_argument("--calibration-fraction", type=probability, default=None,
                       help="share held out only to fit the temperature (default 0); e.g. "
                       "--validation-fraction 0 --calibration-fraction 0.1 trains on 90%%")
    train.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                       help="of the training forward pass (default auto: bfloat16 where the CPU "
                       "has it natively, else float32)")
    train.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                       help="serve the mean over the image and its mirror (default: off when "
                       "fine-tuning, 1 pass of the network an image; on for --from-scratch; "
                       "on costs about 1.4x the inference time for +0.003 accuracy and +0.006 "
                       "coverage over 5 folds, docs/model.md)")
    start = train.add_mutually_exclusive_group()
    start.add_argument("--from-scratch", action="store_true",
                       help="train from random weights with the from-scratch recipe instead of "
                       "fine-tuning the committed pretrained backbone")
    start.add_argument("--backbone", default=None,
                       help="backbone .npz to fine-tune from (default: the committed one, see "
                       "`scones pretrain`)")
    train.add_argument("--threshold", type=probability, default=DEFAULT_CONFIDENCE_THRESHOLD,
                       help=f"the threshold its metrics are reported at, 0-1 (default "
                       f"{DEFAULT_CONFIDENCE_THRESHOLD})")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="evaluate a model.tar.gz on labeled images",
        description="Accuracy, coverage and accuracy at the threshold, per-class precision/"
        "recall, confusion matrix, ECE and the risk-coverage curve; writes reliability.png and "
        "risk_coverage.png into --out (default: evaluation/ beside the model, so the model's "
        "own files stay as training wrote them).",
    )
    evaluate.add_argument("--model", required=True, type=model_tarball,
                          help="path to model.tar.gz")
    evaluate.add_argument("--data", required=True, type=existing_path,
                          help="ImageFolder dir, .lst file or dir")
    evaluate.add_argument("--threshold", type=probability, default=DEFAULT_CONFIDENCE_THRESHOLD,
                          help=f"0-1 (default {DEFAULT_CONFIDENCE_THRESHOLD})")
    evaluate.add_argument("--json", metavar="FILE|-", type=output_file, default=None,
                          help="write the report as one JSON object to FILE ('-': stdout, the "
                          "table then goes to stderr)")
    evaluate.add_argument("--out", metavar="DIR", default=None,
                          help="directory the plots are written into (default: evaluation/ in "
                          "the model's folder)")
    evaluate.set_defaults(func=run_evaluate)

    deploy = subparsers.add_parser(
        "deploy", help="deploy model.tar.gz to a SageMaker endpoint with data capture",
        description="Upload the artifact, create the model and an endpoint config with data "
        "capture, create the endpoint or update it blue/green (canary, auto-rollback on 5xx and "
        "latency alarms), register autoscaling, and print the `sam deploy "
        "--parameter-overrides` line with the new ModelVersion (stdout; the rest on stderr).",
        epilog="exit status: 0 deployed (or planned), 1 AWS did not deploy it (an error, a "
        "rolled-back update: the stack keeps its ModelVersion), 2 a bad request (nothing "
        "called).",
    )
    deploy.add_argument("--model", required=True, type=model_tarball,
                        help="path to model.tar.gz")
    deploy.add_argument("--role", required=True, type=deploy_args.role_arn,
                        help="SageMaker execution role ARN")
    deploy.add_argument("--bucket", required=True, type=deploy_args.bucket_name,
                        help="S3 bucket name (not s3://) for artifact and captures")
    deploy.add_argument("--endpoint-name", required=True, type=endpoint_name,
                        help="SageMaker endpoint name, lowercase (the stack's EndpointName)")
    deploy.add_argument("--region", default=None,
                        help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the AWS "
                        "config's; a dry run without one plans for us-east-1)")
    deploy.add_argument("--image-uri", default=None,
                        help="inference image (default: the SageMaker SDK's PyTorch 2.6 "
                        "inference image for the region and instance type)")
    deploy.add_argument("--instance-type", default="ml.m5.large",
                        type=deploy_args.instance_type)
    deploy.add_argument("--instance-count", type=positive_int, default=2,
                        help="instances at creation and autoscaling minimum (default 2: two "
                        "Availability Zones, and room for a one-instance canary)")
    deploy.add_argument("--max-instances", type=positive_int, default=4,
                        help="autoscaling maximum (default 4)")
    deploy.add_argument("--target-invocations", type=positive_number, default=200.0,
                        help="invocations per instance per minute the autoscaler aims at")
    deploy.add_argument("--latency-alarm-ms", type=positive_number, default=500.0,
                        help="average model latency that rolls an update back (default 500)")
    deploy.add_argument("--prefix", default="scones", type=deploy_args.s3_prefix,
                        help="S3 key prefix (default scones)")
    deploy.add_argument("--dry-run", action="store_true",
                        help="print the plan (stderr) and the sam deploy line (stdout); calls "
                        "nothing, needs no credentials or region")
    deploy.add_argument("--json", metavar="FILE|-", type=output_file, default=None,
                        help="write the plan, every call with its arguments, as JSON to FILE "
                        "('-': stdout instead of the sam deploy line)")
    deploy.set_defaults(func=run_deploy)


def run_pretrain(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from model.pretrain import PretrainConfig, pretrain

    overrides = {k: v for k, v in {"epochs": args.epochs, "limit": args.limit,
                                   "batch_size": args.batch_size,
                                   "precision": args.precision,
                                   "threads": args.threads,
                                   "widths": args.widths,
                                   "contrastive": args.contrastive,
                                   "supervised": args.supervised}.items() if v is not None}
    config = PretrainConfig(seed=args.seed, **overrides)
    if not config.supervised and not config.contrastive:
        raise SystemExit("scones pretrain: --supervised 0 needs --contrastive W > 0 "
                         "(nothing to learn from)")
    command = "scones " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["pretrain"] else None
    record = pretrain(args.data, args.out, config, command=command)
    accuracy = record["metrics"]["holdout_accuracy"]
    print(f"pretrained {config.epochs} epochs in {record['train_seconds']:.0f} s: held-out "
          f"accuracy {'n/a' if accuracy is None else f'{accuracy:.4f}'}")
    print(f"wrote {args.out}/backbone.npz (sha256 {record['sha256']}) and backbone.json")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from model.pipeline import train_and_package
    from model.train import FROM_SCRATCH, TrainConfig, backbone_path, from_backbone

    if args.backbone and not backbone_path(args.backbone).exists():
        print(f"scones train: error: argument --backbone: {args.backbone}: no such backbone "
              f"(looked at {backbone_path(args.backbone)})", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"epochs": args.epochs, "members": args.members,
                                   "validation_fraction": args.validation_fraction,
                                   "calibration_fraction": args.calibration_fraction,
                                   "precision": args.precision, "tta_flip": args.tta}.items()
                 if v is not None}
    recipe = dict(FROM_SCRATCH) if args.from_scratch else {}
    config = TrainConfig(seed=args.seed, **{**recipe, **overrides})
    if args.backbone:
        config = from_backbone(config, args.backbone)
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
    if args.json:
        write_output(args.json, json.dumps(report, indent=2) + "\n")
    print(format_table(report), file=sys.stderr if args.json == STDOUT else sys.stdout)
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    """stdout: the sam deploy line alone (or the plan's JSON with --json -); the rest on
    stderr. Exit 2 for a request that cannot be deployed, 1 when AWS did not deploy it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from model.deploy import DeployError, DeployInputError, DeployRequest, deploy, plan

    request = DeployRequest(
        artifact=args.model, role_arn=args.role, bucket=args.bucket,
        endpoint_name=args.endpoint_name, region=args.region, image_uri=args.image_uri,
        instance_type=args.instance_type, initial_instance_count=args.instance_count,
        max_instances=args.max_instances, target_invocations=args.target_invocations,
        latency_alarm_ms=args.latency_alarm_ms, prefix=args.prefix,
    )
    try:
        if args.dry_run:
            steps = plan(request)
            print(format_plan(steps), file=sys.stderr)
        else:  # every check (DeployInputError) comes before the first AWS call
            steps = deploy(request)
            print(f"{steps['action']} endpoint {request.endpoint_name} with model version "
                  f"{steps['model_version']}; update the stack with:", file=sys.stderr)
    except DeployInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DeployError, ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        write_output(args.json, json.dumps(steps, indent=2, default=str) + "\n")
    print(steps["sam_deploy"], file=sys.stderr if args.json == STDOUT else sys.stdout)
    return 0


def format_plan(steps: dict) -> str:
    """The dry run's plan in a few lines: what each call would make (--json has every
    argument)."""
    config = steps["create_endpoint_config"]
    variant = config["ProductionVariants"][0]
    target = steps["register_scalable_target"]
    upload = steps["upload"]
    return "\n".join([
        f"dry run: nothing called. Plan in {steps['region']} for model version "
        f"{steps['model_version']}:",
        f"  upload                  {upload['Filename']} -> "
        f"s3://{upload['Bucket']}/{upload['Key']}",
        f"  create_model            {steps['create_model']['ModelName']} "
        f"({steps['image_uri']})",
        f"  create_endpoint_config  {config['EndpointConfigName']}: "
        f"{variant['InitialInstanceCount']} x {variant['InstanceType']}, capture "
        f"{config['DataCaptureConfig']['InitialSamplingPercentage']}% to "
        f"{config['DataCaptureConfig']['DestinationS3Uri']}",
        "  put_metric_alarm        " + ", ".join(
            alarm["AlarmName"] for alarm in steps["put_metric_alarm"]),
        f"  new endpoint            create_endpoint {steps['create_endpoint']['EndpointName']}",
        "  existing endpoint       update_endpoint, blue/green with auto-rollback",
        f"  autoscaling             {target['MinCapacity']}-{target['MaxCapacity']} instances, "
        f"{steps['put_scaling_policy']['TargetTrackingScalingPolicyConfiguration']['TargetValue']:g}"
        " invocations per instance per minute",
        "then update the stack with:",
    ])
