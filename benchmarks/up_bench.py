"""nice -n 10 .venv/bin/python benchmarks/up_bench.py [--model runs/model/model.tar.gz] [--repeat 5]
nice -n 10 .venv/bin/python benchmarks/up_bench.py --warm-only --repeat 12 --phases 12

How long `scones run PHOTO` takes to reach its answer, as a user types it (a new process each
time, Python start-up included): against a warm stack that `scones up` keeps running, and cold
(the command starts its own endpoint and deploys the stack). One real PNG per run.

``--phases N`` also runs N warm `scones run` processes that time their own steps (where the
time goes): interpreter start-up (a bare ``python -c pass``), importing ``scones.cli``, the
argument parser (the command modules it imports), importing botocore, creating each botocore
client, each AWS call (upload, start, every DescribeExecution, the history), from the start of
the execution to the DescribeExecution that saw it end, and the rest (the run path's other
imports, threads, output). Medians in ms. ``--warm-only`` skips the cold runs.

Target: the first photo in under 1 s on a warm stack.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
SCONES = [sys.executable, "-m", "scones.cli"]
# what a warm run may import, named when it does (packages of the project: every module)
NOTABLE_MODULES = ("scones", "model", "moto", "samtranslator", "torch", "numpy", "PIL",
                   "matplotlib", "boto3", "awscrt", "OpenSSL", "unittest", "asyncio", "tqdm")


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


def probe(photo: str) -> None:
    """In a fresh process: `scones run PHOTO` with its steps timed; one JSON line on stdout."""
    import contextlib
    import io
    import threading

    started = time.perf_counter()
    steps: dict[str, float] = defaultdict(float)
    calls: list[tuple[str, float, float]] = []  # operation, start, end
    lock = threading.Lock()

    def timed(step, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    steps[step if isinstance(step, str) else step(*args, **kwargs)] += (
                        time.perf_counter() - t)
        return wrapper

    import scones.cli as cli
    steps["import scones.cli"] = time.perf_counter() - started
    cli.build_parser = timed("argument parser (command modules imported)", cli.build_parser)
    t = time.perf_counter()
    import botocore.client
    import botocore.session
    steps["import botocore"] = time.perf_counter() - t
    botocore.session.Session.create_client = timed(
        lambda self, service, *a, **k: f"create {service} client",
        botocore.session.Session.create_client)
    make_api_call = botocore.client.BaseClient._make_api_call

    def api_call(self, operation, params):
        t = time.perf_counter()
        try:
            return make_api_call(self, operation, params)
        finally:
            with lock:
                calls.append((operation, t, time.perf_counter()))

    botocore.client.BaseClient._make_api_call = api_call
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["run", photo])
    total = time.perf_counter() - started
    for operation, t0, t1 in calls:
        steps[f"{operation} call(s)"] += t1 - t0
    describes = [c for c in calls if c[0] == "DescribeExecution"]
    start = next(c for c in calls if c[0] == "StartExecution")
    steps["execution: started until seen ended"] = describes[-1][2] - start[2]
    steps.pop("DescribeExecution call(s)")  # inside the step above
    accounted = sum(v for k, v in steps.items())
    steps["the rest (other imports, threads, output)"] = total - accounted
    steps["total in the process"] = total
    print(json.dumps({"code": code, "describes": len(describes),
                      "ms": {k: v * 1000 for k, v in steps.items()},
                      "modules": sorted({m if m.split(".")[0] in ("scones", "model") else
                                         m.split(".")[0] for m in sys.modules if m.split(".")[0]
                                         in NOTABLE_MODULES})}))


def phases(home: Path, photo: Path, runs: int) -> dict:
    interpreter = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter.append((time.perf_counter() - t) * 1000)
    samples, describes, modules = defaultdict(list), [], None
    for _ in range(runs):
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe",
                               str(photo)], cwd=home, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise SystemExit(f"probe failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        for step, ms in result["ms"].items():
            samples[step].append(ms)
        describes.append(result["describes"])
        modules = result["modules"]
    table = {"interpreter start-up (python -c pass)": interpreter, **samples}
    return {"steps": {k: [round(statistics.median(v), 1), round(min(v), 1), round(max(v), 1)]
                      for k, v in table.items()},
            "describe_calls_median": statistics.median(describes), "modules": modules,
            "samples_ms": {k: [round(x, 1) for x in v] for k, v in table.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warm-only", action="store_true", help="skip the cold runs")
    parser.add_argument("--phases", type=int, default=0, metavar="N",
                        help="also time the steps of N warm runs")
    parser.add_argument("--probe", metavar="PHOTO", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe)
        return 0
    model = Path(args.model).resolve()
    if not model.exists():
        print(f"no model at {model}: run `scones train --out runs/model` first", file=sys.stderr)
        return 2
    photo = sorted(SHARED.glob("*.png"))[0]
    rows, profile = [], None
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        cold = [] if args.warm_only else [timed_run(home, photo, model)
                                          for _ in range(args.repeat)]
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
            if args.phases:
                profile = phases(home, photo, args.phases)
        finally:
            subprocess.run([*SCONES, "down"], cwd=home, capture_output=True, check=False)
            up.wait(timeout=60)
    measured = [("warm `scones run` (`scones up` running)", warm)]
    if cold:
        measured.insert(0, ("cold `scones run` (own endpoint + stack)", cold))
    for name, values in measured:
        rows.append({"what": name, "median_s": round(statistics.median(values), 3),
                     "min_s": round(min(values), 3), "max_s": round(max(values), 3)})
    rows.append({"what": "`scones up` until ready", "median_s": round(up_seconds, 3),
                 "min_s": round(up_seconds, 3), "max_s": round(up_seconds, 3)})
    width = max(len(r["what"]) for r in rows)
    load = os.getloadavg()
    print(f"{'what':<{width}}  median s  min s   max s   (one photo, {args.repeat} runs; "
          f"load average {load[0]:.2f})")
    for r in rows:
        print(f"{r['what']:<{width}}  {r['median_s']:>8.3f}  {r['min_s']:>6.3f}  "
              f"{r['max_s']:>6.3f}")
    if profile:
        width = max(len(k) for k in profile["steps"])
        print(f"\n{'warm run, step':<{width}}  median ms  min ms  max ms  ({args.phases} runs, "
              f"{profile['describe_calls_median']:g} DescribeExecution calls)")
        for step, (median, low, high) in profile["steps"].items():
            print(f"{step:<{width}}  {median:>9.1f}  {low:>6.1f}  {high:>6.1f}")
        print("modules of note imported:", ", ".join(profile["modules"]) or "none")
    print(json.dumps({"rows": rows, "warm_s": [round(v, 3) for v in warm], "phases": profile}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
