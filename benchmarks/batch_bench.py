"""nice -n 10 .venv/bin/python benchmarks/batch_bench.py [--model M] [--concurrency 10,20] [-n 200]

The batch path on this machine: every image of a folder (default: the 1000 shared training
PNGs) uploaded to the moto bucket, then ONE BatchClassificationStateMachine execution per
MaxConcurrency value (Distributed Map -> startExecution.sync:2 of the per-image workflow -> the
real handlers -> the real HTTP endpoint with data capture), its summary from the result files.
Reports images/s (batch start to summary), the summary's counts and whether they agree with
the per-image records read back, and the process CPU time per image.

Not a test: a measurement. Run it with `nice` (the machine's 2 cores are shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"


def check(summary: dict, records: list) -> bool:
    """The batch summary agrees with the per-image executions read back one by one."""
    confident = Counter(r.label for r in records if r.status == "SUCCEEDED")
    below = sum(r.error == "THRESHOLD_CONFIDENCE_NOT_MET" for r in records)
    failed = len(records) - sum(confident.values()) - below
    return (summary["images"] == len(records) and summary["by_label"] == dict(sorted(
        confident.items())) and summary["below_threshold"] == below
        and summary["failed"] == failed)


def sample(folder: Path, n: int, into: Path) -> str:
    """``n`` of the folder's PNGs at a fixed stride (both classes), linked into ``into``."""
    found = sorted(folder.glob("*.png"))
    for path in found[::max(1, len(found) // n)][:n]:
        (into / path.name).symlink_to(path.resolve())
    return str(into)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--images", default=str(SHARED), help="a folder of images")
    parser.add_argument("-n", type=int, default=None,
                        help="a fixed stride sample of this many of the folder's PNGs "
                             "(workflow_bench.py's sample), linked into a temporary folder")
    parser.add_argument("--concurrency", default="20",
                        help="comma-separated BatchMaxConcurrency values, one batch each")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    from scones.workflow.batch import run_batch

    images = args.images
    if args.n:
        images = sample(Path(args.images), args.n, Path(tempfile.mkdtemp(prefix="batch-bench-")))
    rows = []
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            outcome = run_batch(images, model=args.model, concurrency=concurrency,
                                capture=str(Path(tmp) / "captures"),
                                lambda_log=Path(tmp) / "lambda.log", progress=True)
            total_s = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            captured = sum(len(f.read_text().splitlines())
                           for f in (Path(tmp) / "captures").rglob("*.jsonl"))
        summary = outcome.summary
        rows.append({
            "max_concurrency": concurrency,
            "images": summary["images"],
            "batch_s": summary["seconds"],
            "images_per_s": summary["images_per_second"],
            "total_s_with_startup_and_readback": round(total_s, 1),
            "cpu_ms_per_image": round(cpu / max(1, summary["images"]) * 1000, 1),
            "confident": summary["confident"],
            "by_label": summary["by_label"],
            "below_threshold": summary["below_threshold"],
            "failed": summary["failed"],
            "failed_by_error": summary["failed_by_error"],
            "captured": captured,  # capture records the endpoint wrote: one per inference
            "summary_matches_records": check(summary, outcome.records),
        })
    header = ("max_concurrency", "images", "batch_s", "images_per_s", "cpu_ms_per_image",
              "confident", "below_threshold", "failed", "captured", "summary_matches_records")
    print("  ".join(header))
    for row in rows:
        print("  ".join(str(row[h]).rjust(len(h)) for h in header))
    for row in rows:
        print(f"max_concurrency={row['max_concurrency']}: by_label {row['by_label']}, "
              f"failed_by_error {row['failed_by_error']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["summary_matches_records"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
