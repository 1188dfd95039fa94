"""nice -n 10 .venv/bin/python benchmarks/endpoint_bench.py [--model runs/model/model.tar.gz]

The local SageMaker endpoint on loopback, data capture on (100%, to a temporary directory):
single-request latency (p50/p99) and throughput at 1, 4 and 16 concurrent clients, through
the SageMaker Runtime path (POST /endpoints/NAME/invocations) with real PNGs from the shared
data. The server runs in this process as `scones serve` does; the clients run in a separate
process (plain http.client, one connection per request as the server speaks HTTP/1.0) so that
they do not share the server's interpreter lock. A boto3 row shows what an SDK client sees.

Targets (issue 4): p50 <= 5 ms for one request; >= 300 images/s with concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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


def _post(host: str, port: int, body: bytes) -> float:
    seconds, outcome = post_image(host, port, ENDPOINT, body)
    if outcome != "ok":
        raise RuntimeError(outcome)
    return seconds


def client_process(url: str, bodies: list[bytes], concurrency: int, requests: int, queue):
    """Send `requests` requests with `concurrency` threads; put (wall, latencies) on queue."""
    parsed = urlparse(url)
    jobs = [bodies[i % len(bodies)] for i in range(requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(lambda b: _post(parsed.hostname, parsed.port, b), jobs))
    queue.put((time.perf_counter() - start, latencies))


def run_clients(url: str, bodies: list[bytes], concurrency: int, requests: int):
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=client_process,
                                           args=(url, bodies, concurrency, requests, queue))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "runs/model/model.tar.gz"))
    parser.add_argument("--images", default=str(SHARED))
    parser.add_argument("--requests", type=int, default=1500, help="per concurrency level")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    if missing_model(args.model):
        return 2

    from scones.local.endpoint import start_endpoint

    bodies = [p.read_bytes() for p in sorted(Path(args.images).glob("*.png"))[:200]]
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
