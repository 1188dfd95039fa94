"""nice -n 10 .venv/bin/python benchmarks/monitor_bench.py [--baseline runs/model/baseline.json]

Monitoring benchmark: (1) how fast the capture reader and the report run, (2) how often the
drift checks raise a false alarm on windows drawn from the baseline itself and how often they
catch shifted windows, per window size. Without --baseline a synthetic baseline is used
(80% confident answers, balanced labels).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from scones.monitor.report import pil_inspector, write_report
from scones_domain.monitoring import drift
from scones_domain.monitoring.captures import read_captures

LABELS = ("bicycle", "motorcycle")
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@dataclass
class Row:
    """The attributes drift_checks reads from a captured inference."""

    time: datetime
    label: str
    confidence: float
    input_bytes: int
    width: int = 32
    height: int = 32
    extra: dict = field(default_factory=dict)


def synthetic_baseline(n: int = 200, seed: int = 0) -> drift.Baseline:
    rng = random.Random(seed)
    conf = [rng.uniform(0.95, 0.999) if rng.random() < 0.8 else rng.uniform(0.5, 0.93)
            for _ in range(n)]
    return drift.parse_baseline({
        "labels": list(LABELS), "n": n, "threshold": 0.93, "confidence": conf,
        "label_mix": {"bicycle": 0.5, "motorcycle": 0.5},
        "input": {"brightness": [rng.gauss(0.45, 0.1) for _ in range(n)],
                  "width": [32] * n, "height": [32] * n,
                  "bytes": [int(rng.gauss(2800, 300)) for _ in range(n)]},
    })


def window(base: drift.Baseline, n: int, rng: random.Random, *, low_conf_extra: float = 0.0,
           label_shift: float = 0.0) -> list[Row]:
    """n rows resampled from the baseline; optionally more low-confidence answers or a
    label-mix shift (share of the first label moved to the second)."""
    rows = []
    for i in range(n):
        j = rng.randrange(base.n)
        conf = base.confidence[j]
        if rng.random() < low_conf_extra:
            conf = rng.uniform(0.5, 0.9)
        share_first = base.label_mix.get(LABELS[0], 0.5) - label_shift
        label = LABELS[0] if rng.random() < share_first else LABELS[1]
        extra = {"brightness": base.inputs["brightness"][j]} if "brightness" in base.inputs else {}
        rows.append(Row(T0 + timedelta(seconds=i), label, conf,
                        int(base.inputs.get("bytes", [2800] * base.n)[j]),
                        int(base.inputs.get("width", [32] * base.n)[j]),
                        int(base.inputs.get("height", [32] * base.n)[j]), extra))
    return rows


def drift_table(base: drift.Baseline, trials: int, seed: int) -> None:
    rng = random.Random(seed)
    scenarios = [("no drift (false alarms)", {}),
                 ("+30% low-confidence answers", {"low_conf_extra": 0.3}),
                 ("label mix shifted 15 pts", {"label_shift": 0.15})]
    sizes = (30, 60, 120, 300)
    print(f"\nDrift checks: share of {trials} windows flagged (status fail), baseline n={base.n}")
    print(f"{'scenario':<30}" + "".join(f"{'n=' + str(n):>10}" for n in sizes))
    for name, kwargs in scenarios:
        cells = []
        for n in sizes:
            flagged = sum(
                drift.overall_status(drift.drift_checks(window(base, n, rng, **kwargs), base,
                                                        LABELS)) == drift.FAIL
                for _ in range(trials)
            )
            cells.append(f"{flagged / trials:>10.1%}")
        print(f"{name:<30}" + "".join(cells))


def capture_tree(root: Path, n_records: int, per_file: int = 50) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 100, 90)).save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    rng = random.Random(1)
    for f in range(0, n_records, per_file):
        when = T0 + timedelta(seconds=f)
        path = root / f"ep/AllTraffic/{when:%Y/%m/%d/%H}/{when:%M-%S}-000-{uuid.uuid4()}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(per_file):
            p = rng.uniform(0.5, 1.0)
            lines.append(json.dumps({
                "captureData": {
                    "endpointInput": {"observedContentType": "image/png", "mode": "INPUT",
                                      "data": data, "encoding": "BASE64"},
                    "endpointOutput": {"observedContentType": "application/json",
                                       "mode": "OUTPUT", "data": json.dumps([p, 1 - p]),
                                       "encoding": "JSON"}},
                "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": (
                    when + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")},
                "eventVersion": "0"}))
        path.write_text("\n".join(lines) + "\n")


def speed_table(n_records: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "captures"
        capture_tree(root, n_records)
        rows = []
        t = time.perf_counter()
        read_captures(str(root), labels=LABELS)
        rows.append(("read (no image decode, as the Lambda)", time.perf_counter() - t))
        t = time.perf_counter()
        read_captures(str(root), labels=LABELS, inspect_image=pil_inspector)
        rows.append(("read + Pillow size/brightness", time.perf_counter() - t))
        t = time.perf_counter()
        write_report(str(root), Path(tmp) / "report", baseline=None)
        rows.append(("write_report (charts + html)", time.perf_counter() - t))
    print(f"\nSpeed on {n_records} captured inferences (local files)")
    print(f"{'step':<40}{'seconds':>10}{'records/s':>12}")
    for name, seconds in rows:
        print(f"{name:<40}{seconds:>10.2f}{n_records / seconds:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="baseline.json or model.tar.gz (default synthetic)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    base = drift.load_baseline(args.baseline) if args.baseline else synthetic_baseline()
    for _ in tqdm(range(1), desc="speed", leave=False):
        speed_table(args.records)
    drift_table(base, args.trials, seed=7)


if __name__ == "__main__":
    main()
