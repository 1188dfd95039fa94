"""nice -n 10 .venv/bin/python benchmarks/endpoint_bench.py [--model runs/model/model.tar.gz]
nice -n 10 .venv/bin/python benchmarks/endpoint_bench.py --toolkit [--untrained]

The local SageMaker endpoint on loopback, data capture on (100%, to a temporary directory):
single-request latency (p50/p99) and throughput at 1, 4 and 16 concurrent clients, through
the SageMaker Runtime path (POST /endpoints/NAME/invocations) with real PNGs from the shared
data. The server runs in this process as `scones serve` does; the clients run in a separate
process (plain http.client, one connection per request as the server speaks HTTP/1.0) so that
they do not share the server's interpreter lock. A boto3 row shows what an SDK client sees.

Targets: p50 <= 5 ms for one request; >= 300 images/s with concurrent clients.

``--toolkit``: `scones serve` and the REAL SageMaker PyTorch serving toolkit (TorchServe, from
``make serving-venv``) side by side in one run, over the same artifact and the same container
path (POST /invocations, no capture), one server at a time: p50/p99 latency and throughput at
1, 4 and 16 clients. The toolkit keeps the container's defaults (one worker per CPU). Targets:
`scones serve` at least as fast at p50, and >= 1.5x the toolkit's throughput at 16 clients.
``--untrained`` serves a randomly initialized artifact of the default network (the same compute
as a trained one) when no trained model is at hand.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from benchmarks.common import missing_model, percentile, post_image  # noqa: E402

SHARED = REPO.parent / "shared/data/cifar100-bicycle-motorcycle/train"
ENDPOINT = "bench-endpoint"


def _post(host: str, port: int, body: bytes, endpoint: str | None = ENDPOINT) -> float:
    seconds, outcome = post_image(host, port, endpoint, body)
    if outcome != "ok":
        raise RuntimeError(outcome)
    return seconds


def client_process(url: str, bodies: list[bytes], concurrency: int, requests: int, queue,
                   endpoint: str | None = ENDPOINT):
    """Send `requests` requests with `concurrency` threads; put (wall, latencies) on queue.
    ``endpoint=None``: the container path POST /invocations."""
    parsed = urlparse(url)
    jobs = [bodies[i % len(bodies)] for i in range(requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(
            lambda b: _post(parsed.hostname, parsed.port, b, endpoint), jobs))
    queue.put((time.perf_counter() - start, latencies))


def run_clients(url: str, bodies: list[bytes], concurrency: int, requests: int,
                endpoint: str | None = ENDPOINT):
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(
        target=client_process, args=(url, bodies, concurrency, requests, queue, endpoint))
    proc.start()
    wall, latencies = queue.get()
    proc.join()
    return wall, latencies


def boto3_latencies(url: str, bodies: list[bytes], requests: int) -> list[float]:
    import boto3

    client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    out = []
    for i in range(requests):
        start = time.perf_counter()
        client.invoke_endpoint(EndpointName=ENDPOINT, Body=bodies[i % len(bodies)],
                               ContentType="image/png")["Body"].read()
        out.append(time.perf_counter() - start)
    return out


CLIENTS = (1, 4, 16)


def container_rows(url: str, bodies: list[bytes], requests: int) -> dict[int, dict]:
    """clients -> p50/p99 ms and images/s on the container path, after a warm-up."""
    run_clients(url, bodies, 4, 200, None)  # warm-up (workers, torch, allocator)
    rows = {}
    for clients in CLIENTS:
        wall, lat = run_clients(url, bodies, clients, requests, None)
        rows[clients] = {"p50_ms": round(statistics.median(lat) * 1000, 2),
                         "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
                         "images_per_second": round(len(lat) / wall, 1)}
    return rows


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def side_by_side(model: str, bodies: list[bytes], requests: int, workers: int | None) -> dict:
    """The real toolkit, then `scones serve`, over the same artifact and container path."""
    from scones.serving.endpoint import start_endpoint
    from scones.serving.toolkit import ToolkitServer

    with ToolkitServer(model, workers=workers) as toolkit:
        print(f"toolkit ready in {toolkit.startup_seconds:.1f} s", file=sys.stderr)
        real = container_rows(toolkit.url, bodies, requests)
    server = start_endpoint(model)
    try:
        local = container_rows(server.url, bodies, requests)
    finally:
        server.stop()
    return {"local": local, "toolkit": real}


def print_side_by_side(result: dict, model: str, requests: int, workers: int | None) -> bool:
    """The table; True when both targets are met."""
    local, real = result["local"], result["toolkit"]
    print(f"model {model}; {requests} requests per level; POST /invocations; CPU {cpu_model()} "
          f"x {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; toolkit workers "
          f"{workers or 'default (one per CPU)'}")
    header = (f"{'clients':>7} | {'local p50':>9} {'p99':>7} {'img/s':>7} | "
              f"{'toolkit p50':>11} {'p99':>7} {'img/s':>7} | {'img/s ratio':>11}")
    print(header)
    print("-" * len(header))
    for clients in CLIENTS:
        a, b = local[clients], real[clients]
        ratio = a["images_per_second"] / b["images_per_second"]
        print(f"{clients:>7} | {a['p50_ms']:>9.2f} {a['p99_ms']:>7.2f} "
              f"{a['images_per_second']:>7.1f} | {b['p50_ms']:>11.2f} {b['p99_ms']:>7.2f} "
              f"{b['images_per_second']:>7.1f} | {ratio:>11.2f}")
    p50_met = all(local[c]["p50_ms"] <= real[c]["p50_ms"] for c in CLIENTS)
    ratio_16 = local[16]["images_per_second"] / real[16]["images_per_second"]
    print(f"targets: local p50 <= toolkit p50 at every level: {'met' if p50_met else 'NOT met'}; "
          f"local >= 1.5x toolkit throughput at 16 clients: {ratio_16:.2f}x, "
          f"{'met' if ratio_16 >= 1.5 else 'NOT met'}")
    return p50_met and ratio_16 >= 1.5


def default_untrained_model(directory: str) -> str:
    """A random-weight artifact of the default network (TrainConfig) in ``directory``."""
    from model.package import write_untrained_artifact
    from model.train import TrainConfig

    config = TrainConfig()
    path = Path(directory) / "model.tar.gz"
    return str(write_untrained_artifact(path, arch=config.arch, widths=tuple(config.widths),
                                        members=config.members))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--images", default=str(SHARED))
    parser.add_argument("--requests", type=int, default=1500, help="per concurrency level")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--toolkit", action="store_true",
                        help="scones serve vs the real SageMaker serving toolkit, side by side")
    parser.add_argument("--toolkit-workers", type=int, default=None,
                        help="TorchServe workers (default: the container's, one per CPU)")
    parser.add_argument("--untrained", action="store_true",
                        help="serve a random-weight artifact of the default network")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch:
        if args.untrained:
            args.model = default_untrained_model(scratch)
        return run(args)


def run(args) -> int:
    if missing_model(args.model):
        return 2
    bodies = [p.read_bytes() for p in sorted(Path(args.images).glob("*.png"))[:200]]
    if args.toolkit:
        result = side_by_side(args.model, bodies, args.requests, args.toolkit_workers)
        print_side_by_side(result, args.model, args.requests, args.toolkit_workers)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        return 0

    from scones.serving.endpoint import start_endpoint

    capture_dir = tempfile.mkdtemp(prefix="bench-capture-")
    server = start_endpoint(args.model, endpoint_name=ENDPOINT, capture=capture_dir)
    rows, cpu_ms = [], {}
    try:
        run_clients(server.url, bodies, 4, 200)  # warm-up (torch, allocator, page cache)
        wall, lat = run_clients(server.url, bodies, 1, min(args.requests, 1000))
        rows.append(("single request (http.client)", 1, len(lat), lat, wall))
        lat = boto3_latencies(server.url, bodies, 300)
        rows.append(("single request (boto3)", 1, len(lat), lat, sum(lat)))
        for concurrency in (1, 4, 16):
            cpu = time.process_time()
            wall, lat = run_clients(server.url, bodies, concurrency, args.requests)
            cpu_ms[concurrency] = (time.process_time() - cpu) / len(lat) * 1000
            rows.append((f"throughput, {concurrency} clients", concurrency, len(lat), lat, wall))
    finally:
        server.stop()
    endpoint, batcher = server.endpoint, server.endpoint.batcher
    captured = endpoint.capture.written
    print(f"model {args.model}; capture on (100%): {captured} records for {endpoint.served} "
          f"served requests; predict_fn ran {batcher.batches} batches for {batcher.items} "
          f"images (mean {batcher.items / max(1, batcher.batches):.1f} per batch)")
    header = (f"{'case':32} {'conc':>4} {'n':>5} {'p50 ms':>7} {'p99 ms':>7} {'img/s':>7} "
              f"{'server cpu ms/img':>17}")
    print(header)
    print("-" * len(header))
    table = []
    for name, conc, n, lat, wall in rows:
        p50, p99 = statistics.median(lat) * 1000, percentile(lat, 0.99) * 1000
        cpu = f"{cpu_ms[conc]:.2f}" if name.startswith("throughput") else "-"
        print(f"{name:32} {conc:>4} {n:>5} {p50:>7.2f} {p99:>7.2f} {n / wall:>7.1f} {cpu:>17}")
        table.append({"case": name, "concurrency": conc, "n": n, "p50_ms": round(p50, 2),
                      "p99_ms": round(p99, 2), "images_per_second": round(n / wall, 1),
                      "server_cpu_ms_per_image": cpu_ms.get(conc) if cpu != "-" else None})
    if captured != endpoint.served:
        print(f"CAPTURE MISMATCH: {captured} captured, {endpoint.served} served")
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
