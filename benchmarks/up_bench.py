"""nice -n 10 .venv/bin/python benchmarks/up_bench.py [--model runs/model/model.tar.gz] [--repeat 5]

How long `scones run PHOTO` takes to reach its answer, as a user types it (a new process each
time, Python start-up included): against a warm stack that `scones up` keeps running, and cold
(the command starts its own endpoint and deploys the stack). One real PNG per run.

Target: the first photo in under 1 s on a warm stack.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
SCONES = [sys.executable, "-m", "scones.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed_run(home: Path, photo: Path, model: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([*SCONES, "run", str(photo), "--model", str(model)], cwd=home,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"scones run failed:\n{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    model = Path(args.model).resolve()
    if not model.exists():
        print(f"no model at {model}: run `scones train --out runs/model` first", file=sys.stderr)
        return 2
    photo = sorted(SHARED.glob("*.png"))[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        cold = [timed_run(home, photo, model) for _ in range(args.repeat)]
        started = time.perf_counter()
        up = subprocess.Popen([*SCONES, "up", "--model", str(model), "--port", str(free_port()),
                               "--endpoint-port", str(free_port()),
                               "--capture", str(home / "captures")], cwd=home,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (home / "runs/local-stack.json").exists():
            if up.poll() is not None:
                raise SystemExit("scones up did not start")
            time.sleep(0.05)
        up_seconds = time.perf_counter() - started
        try:
            warm = [timed_run(home, photo, model) for _ in range(args.repeat)]
        finally:
            subprocess.run([*SCONES, "down"], cwd=home, capture_output=True, check=False)
            up.wait(timeout=60)
    for name, values in (("cold `scones run` (own endpoint + stack)", cold),
                         ("warm `scones run` (`scones up` running)", warm)):
        rows.append({"what": name, "median_s": round(statistics.median(values), 3),
                     "min_s": round(min(values), 3), "max_s": round(max(values), 3)})
    rows.append({"what": "`scones up` until ready", "median_s": round(up_seconds, 3),
                 "min_s": round(up_seconds, 3), "max_s": round(up_seconds, 3)})
    width = max(len(r["what"]) for r in rows)
    print(f"{'what':<{width}}  median s  min s   max s   (one photo, {args.repeat} runs)")
    for r in rows:
        print(f"{r['what']:<{width}}  {r['median_s']:>8.3f}  {r['min_s']:>6.3f}  "
              f"{r['max_s']:>6.3f}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
