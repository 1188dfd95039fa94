"""nice -n 10 .venv/bin/python benchmarks/batch_repeat_bench.py [--rounds 10] [--load 2]

The batch workflow run again and again over the same 30 real images (15 bicycles, 15
motorcycles; the brightness test model answers), optionally beside ``--load`` busy-looping
processes that take the CPU away: every round must count the same images the same way. A
count that moves is an item lost by the local runtime (``LocalItemFailureUnknown``); this is
how the per-thread function environment was shown to end such losses (1 in 6-8 batches lost
an item under two busy loops before, none in 20 after).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
MODEL = REPO / "tests/serving/fixtures/brightness_model"


def busy() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--load", type=int, default=2, help="busy-looping processes beside it")
    args = parser.parse_args()

    from scones.local.stack import BATCH_STATE_MACHINE, LocalStack
    from scones.serving.endpoint import start_endpoint
    from scones.workflow.runner import function_stdout_to, quiet_interpreter_logs

    quiet_interpreter_logs()
    images = sorted(SHARED.glob("bicycle*.png"))[:15] + sorted(SHARED.glob("motorcycle*.png"))[:15]
    if len(images) < 30:
        print(f"needs the shared images at {SHARED}", file=sys.stderr)
        return 2
    loaders = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for process in loaders:
        process.start()
    server = start_endpoint(MODEL)
    rows = []
    try:
        with function_stdout_to(REPO / "runs/batch_repeat_lambda.log"), \
                LocalStack(server.url) as stack:
            for round_ in range(args.rounds):
                prefix = f"batches/{uuid.uuid4().hex[:8]}/"
                for image in images:
                    stack.upload(image, prefix + image.name)
                batch_input = {"s3_bucket": stack.bucket, "prefix": prefix}
                arn = stack.start_execution(batch_input, name=f"repeat-{uuid.uuid4()}",
                                            state_machine_arn=stack.state_machine(
                                                BATCH_STATE_MACHINE))
                out = stack.wait(arn, batch_input, timeout=600).output
                rows.append((round_, out["images"], out["confident"], out["below_threshold"],
                             out["failed"], out["failed_by_error"]))
                print(*rows[-1], file=sys.stderr, flush=True)
    finally:
        server.stop()
        for process in loaders:
            process.terminate()
    print(f"{'round':>5}  {'images':>6}  {'confident':>9}  {'below':>5}  {'failed':>6}  errors")
    for row in rows:
        print(f"{row[0]:>5}  {row[1]:>6}  {row[2]:>9}  {row[3]:>5}  {row[4]:>6}  {row[5]}")
    steady = len({row[1:5] for row in rows}) == 1
    print(f"{len(rows)} rounds with {args.load} busy loops: "
          f"{'every round counted the same' if steady else 'COUNTS MOVED'}")
    return 0 if steady else 1


if __name__ == "__main__":
    sys.exit(main())
