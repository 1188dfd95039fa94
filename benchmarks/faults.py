"""nice -n 10 .venv/bin/python benchmarks/faults.py [--write docs/reliability.md] [--json OUT]

The fault table of docs/reliability.md: every fault of scones.workflow.fault_matrix injected
through the local runtime (the endpoint's FaultPlan, the S3 botocore hook, a missing object,
the endpoint stopped), each on its own real image in one local stack, and compared with what the
shipped ASL promises (retries, backoff bounds, final status and named error), read back from
each execution's history. Prints the Markdown table; --write replaces the table between the
``<!-- faults:begin -->`` / ``<!-- faults:end -->`` markers of the given file. Exit code 1 when
any fault did not end as promised.

Takes about a minute (the slowest fault answers after the classifier's 20 s read timeout, and
the persistent faults exhaust their retries with up to 15 s of backoff).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
MODEL = REPO / "tests/serving/fixtures/brightness_model"  # known answers: bright -> 0.99 bicycle
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


def bright_images(folder: Path, count: int) -> list[Path]:
    """Real PNGs the brightness model calls confident, so a fault survived means SUCCEEDED."""
    found = []
    for path in sorted(folder.glob("*.png")):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        if pixels.mean() / 255.0 >= 0.6:
            found.append(path)
            if len(found) == count:
                break
    return found


def replace_between_markers(path: Path, table: str) -> None:
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no {BEGIN} ... {END} markers")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(SHARED))
    parser.add_argument("--write", default=None, metavar="MARKDOWN",
                        help="replace the table between the faults markers of this file")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    from scones.workflow.fault_matrix import SCENARIOS, fault_runtime, format_rows, run_matrix

    images = bright_images(Path(args.images), len(SCENARIOS) + 1)
    tmp = Path(tempfile.mkdtemp(prefix="faults-"))
    started = time.perf_counter()
    print(f"injecting {len(SCENARIOS) + 1} faults (about a minute) ...", file=sys.stderr)
    with fault_runtime(MODEL, capture=str(tmp / "captures"),
                       lambda_log=tmp / "lambda.log") as (server, stack, s3faults):
        rows = run_matrix(server, stack, s3faults, images)
    table = format_rows(rows)
    print(table)
    kept = sum(row.kept for row in rows)
    print(f"\n{kept}/{len(rows)} faults ended as the ASL promises "
          f"({time.perf_counter() - started:.0f} s; endpoint served {server.endpoint.served}, "
          f"captured {server.endpoint.capture.written})")
    if args.write:
        replace_between_markers(Path(args.write), table)
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"scenario": asdict(r.scenario), "expected": asdict(r.expected),
              "observed": asdict(r.observed), "problems": r.problems} for r in rows],
            indent=2) + "\n")
    return 0 if kept == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
