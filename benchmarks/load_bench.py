"""nice -n 10 .venv/bin/python benchmarks/load_bench.py [--model DIR|model.tar.gz] [--json OUT]

Bounded loopback load test of the local endpoint and of the local workflow, at increasing
concurrency, with data capture on. Every level stops by itself (a fixed duration for the
endpoint, a fixed image count for the workflow). Per level: throughput, p50/p99 latency, errors
(by kind) and the capture check: records written == requests the endpoint served (nothing
lost, nothing doubled). Two more runs stop the endpoint mid-load (a graceful stop: it finishes
the requests in flight and drains the capture): the endpoint under 16 clients, and the
workflow with executions in flight, which then end with the named EndpointUnavailable after
the ASL's retries, none hanging.

The default model is the test artifact tests/serving/fixtures/brightness_model (answers without
training); pass --model runs/model/model.tar.gz for the trained network. The endpoint's
clients run in a separate process (plain http.client, HTTP/1.0 like the server) so that they do
not share the server's interpreter lock; the workflow runs in-process as `scones run` does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.common import missing_model, percentile, post_image  # noqa: E402

SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
DEFAULT_MODEL = REPO / "tests/serving/fixtures/brightness_model"
ENDPOINT = "load-endpoint"
ANSWERED = ("SUCCEEDED", "THRESHOLD_CONFIDENCE_NOT_MET")  # the workflow's two verdicts


# --------------------------------------------------------------------------- endpoint


def client_process(url: str, bodies: list[bytes], concurrency: int, seconds: float, queue):
    """`concurrency` threads send requests back to back until `seconds` have passed."""
    parsed = urlparse(url)
    deadline = time.perf_counter() + seconds

    def worker(offset: int) -> list[tuple[float, str]]:
        out, i = [], offset
        while time.perf_counter() < deadline:
            out.append(post_image(parsed.hostname, parsed.port, ENDPOINT, bodies[i % len(bodies)]))
            i += concurrency
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = [r for part in pool.map(worker, range(concurrency)) for r in part]
    queue.put((time.perf_counter() - start, results))


def start_clients(url: str, bodies: list[bytes], concurrency: int, seconds: float):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=client_process, args=(url, bodies, concurrency, seconds, queue))
    proc.start()
    return proc, queue


def endpoint_row(case: str, concurrency: int, wall: float, results, served: int,
                 captured: int | None) -> dict:
    ok = [latency for latency, outcome in results if outcome == "ok"]
    errors = Counter(outcome for _, outcome in results if outcome != "ok")
    return {
        "case": case, "concurrency": concurrency, "requests": len(results), "ok": len(ok),
        "per_second": round(len(ok) / wall, 1),
        "p50_ms": round(statistics.median(ok) * 1000, 2) if ok else None,
        "p99_ms": round(percentile(ok, 0.99) * 1000, 2) if ok else None,
        "errors": dict(errors), "served": served, "captured": captured,
    }


def endpoint_levels(model: str, bodies: list[bytes], levels: list[int], seconds: float,
                    tmp: Path) -> tuple[list[dict], bool]:
    from scones.serving.endpoint import start_endpoint

    rows = []
    server = start_endpoint(model, endpoint_name=ENDPOINT, capture=str(tmp / "endpoint"))
    try:
        proc, queue = start_clients(server.url, bodies, 2, 1.0)  # warm-up
        queue.get()
        proc.join()
        for concurrency in levels:
            before = server.endpoint.served
            proc, queue = start_clients(server.url, bodies, concurrency, seconds)
            wall, results = queue.get()
            proc.join()
            served = server.endpoint.served - before
            row = endpoint_row("endpoint", concurrency, wall, results, served, None)
            row["served_matches_ok"] = served == row["ok"]
            rows.append(row)
    finally:
        server.stop()
    total_ok = server.endpoint.capture.written == server.endpoint.served
    for row in rows:
        row["captured"] = "all" if total_ok else "MISMATCH"
    return rows, total_ok and all(r["served_matches_ok"] and not r["errors"] for r in rows)


def endpoint_stopped_mid_load(model: str, bodies: list[bytes], seconds: float,
                              tmp: Path) -> tuple[dict, bool]:
    """16 clients for `seconds`; the endpoint is stopped (gracefully) half-way through."""
    from scones.serving.endpoint import start_endpoint

    server = start_endpoint(model, endpoint_name=ENDPOINT, capture=str(tmp / "stopped"))
    proc, queue = start_clients(server.url, bodies, 16, seconds)
    time.sleep(seconds / 2)
    server.stop()
    wall, results = queue.get()
    proc.join()
    served, captured = server.endpoint.served, server.endpoint.capture.written
    row = endpoint_row("endpoint, stopped mid-load", 16, wall, results, served, captured)
    # a response in flight when the socket closed may be served and not received (<= 16)
    ok = captured == served and row["ok"] <= served <= row["ok"] + 16
    return row, ok


# --------------------------------------------------------------------------- workflow


def workflow_row(case: str, concurrency: int, wall: float, records, served: int,
                 captured: int | None) -> dict:
    seconds = [r.seconds for r in records]
    outcomes = Counter(r.error or r.status for r in records)
    return {
        "case": case, "concurrency": concurrency, "requests": len(records),
        "ok": sum(outcomes[o] for o in ANSWERED),
        "per_second": round(len(records) / wall, 1),
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
        "errors": {k: v for k, v in outcomes.items() if k not in ANSWERED},
        "served": served, "captured": captured,
    }


def workflow_levels(model: str, images: list[str], levels: list[int], tmp: Path):
    from scones.workflow.runner import local_runtime, run_images

    rows = []
    with local_runtime(model, capture=str(tmp / "workflow"),
                       lambda_log=tmp / "lambda.log") as (server, stack):
        run_images(stack, images[:8], concurrency=2, progress=False)  # warm-up
        for concurrency in levels:
            before = server.endpoint.served
            start = time.perf_counter()
            records = run_images(stack, images, concurrency=concurrency, progress=False)
            rows.append(workflow_row("workflow", concurrency, time.perf_counter() - start,
                                     records, server.endpoint.served - before, None))
    total_ok = server.endpoint.capture.written == server.endpoint.served
    for row in rows:
        row["captured"] = "all" if total_ok else "MISMATCH"
    return rows, total_ok and all(not r["errors"] and r["served"] == r["requests"] for r in rows)


def workflow_stopped_mid_load(model: str, images: list[str], tmp: Path):
    """Executions 4 at a time; the endpoint is stopped after one second."""
    from scones.workflow.runner import local_runtime, run_images

    with local_runtime(model, capture=str(tmp / "workflow-stopped"),
                       lambda_log=tmp / "lambda-stopped.log") as (server, stack):
        stopper = threading.Timer(1.0, server.stop)
        stopper.start()
        start = time.perf_counter()
        records = run_images(stack, images, concurrency=4, progress=False, timeout=120)
        wall = time.perf_counter() - start
        stopper.join()
    served, captured = server.endpoint.served, server.endpoint.capture.written
    row = workflow_row("workflow, endpoint stopped after 1 s", 4, wall, records, served,
                       captured)
    named = set(row["errors"]) <= {"EndpointUnavailable"}
    ok = captured == served and named and row["ok"] + sum(row["errors"].values()) == len(images)
    return row, ok


# --------------------------------------------------------------------------- report


def format_table(rows: list[dict]) -> str:
    lines = ["| case | concurrency | requests | answered | per s | p50 ms | p99 ms | errors | "
             "served | captured |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "0"
        lines.append(f"| {r['case']} | {r['concurrency']} | {r['requests']} | {r['ok']} | "
                     f"{r['per_second']} | {r['p50_ms']} | {r['p99_ms']} | {errors} | "
                     f"{r['served']} | {r['captured']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--images", default=str(SHARED))
    parser.add_argument("--seconds", type=float, default=3.0, help="per endpoint level")
    parser.add_argument("--endpoint-levels", default="1,4,16,64")
    parser.add_argument("--workflow-levels", default="1,2,4,8")
    parser.add_argument("-n", type=int, default=40, help="images per workflow level")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    if missing_model(args.model):
        return 2
    from scones.workflow.runner import quiet_interpreter_logs

    quiet_interpreter_logs()
    paths = sorted(Path(args.images).glob("*.png"))
    bodies = [p.read_bytes() for p in paths[:200]]
    step = max(1, len(paths) // args.n)
    images = [str(p) for p in paths[::step][: args.n]]
    tmp = Path(tempfile.mkdtemp(prefix="load-bench-"))
    checks = {}
    rows, checks["endpoint levels"] = endpoint_levels(
        args.model, bodies, [int(c) for c in args.endpoint_levels.split(",")], args.seconds, tmp)
    row, checks["endpoint stopped mid-load"] = endpoint_stopped_mid_load(
        args.model, bodies, args.seconds, tmp)
    rows.append(row)
    more, checks["workflow levels"] = workflow_levels(
        args.model, images, [int(c) for c in args.workflow_levels.split(",")], tmp)
    rows.extend(more)
    row, checks["workflow, endpoint stopped"] = workflow_stopped_mid_load(args.model, images, tmp)
    rows.append(row)
    print(f"model {args.model}; capture on (100%); loopback only")
    print(format_table(rows))
    print()
    for name, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}: captured == served, errors as expected")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "checks": checks}, indent=2) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
