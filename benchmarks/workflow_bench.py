"""nice -n 10 .venv/bin/python benchmarks/workflow_bench.py [--model runs/model/model.tar.gz]

The full local workflow per image: upload to the moto bucket, one Step Functions execution of
the real ASL (moto's interpreter), the three real handlers, the real HTTP endpoint with data
capture on, and the result read back (history fetched for FAILED executions). Reports images/s,
p50/p99 seconds per image (from StartExecution to the terminal status) and the process CPU
time per image, at 1, 2 and 4 executions in flight, over real PNGs from the shared data.

Targets: >= 20 images/s, p50 <= 100 ms per image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.common import missing_model, percentile  # noqa: E402

SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--images", default=str(SHARED))
    parser.add_argument("-n", type=int, default=200, help="images per concurrency level")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    if missing_model(args.model):
        return 2

    from scones.workflow.runner import local_runtime, run_images

    all_images = sorted(Path(args.images).glob("*.png"))
    step = max(1, len(all_images) // args.n)
    images = [str(p) for p in all_images[::step][: args.n]]  # both classes, fixed sample
    tmp = Path(tempfile.mkdtemp(prefix="workflow-bench-"))
    rows = []
    with local_runtime(args.model, capture=str(tmp / "captures"),
                       lambda_log=tmp / "lambda.log") as (server, stack):
        run_images(stack, images[:20], concurrency=2, progress=False)  # warm-up
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            start, cpu = time.perf_counter(), time.process_time()
            records = run_images(stack, images, concurrency=concurrency, progress=False)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            seconds = [r.seconds for r in records]
            rows.append({
                "concurrency": concurrency, "n": len(records),
                "images_per_second": round(len(records) / wall, 1),
                "p50_ms": round(statistics.median(seconds) * 1000, 1),
                "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
                "cpu_ms_per_image": round(cpu / len(records) * 1000, 1),
                "outcomes": dict(Counter(r.error or r.status for r in records)),
            })
    served, captured = server.endpoint.served, server.endpoint.capture.written
    header = (f"{'in flight':>9} {'n':>5} {'img/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
              f"{'cpu ms':>7}  outcomes")
    print(f"model {args.model}; {served} inferences served, {captured} captured")
    print(header)
    print("-" * len(header))
    for r in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        print(f"{r['concurrency']:>9} {r['n']:>5} {r['images_per_second']:>7} {r['p50_ms']:>7} "
              f"{r['p99_ms']:>7} {r['cpu_ms_per_image']:>7}  {outcomes}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if served == captured else 1


if __name__ == "__main__":
    sys.exit(main())
