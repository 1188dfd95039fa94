"""Builders for the monitoring tests: real tiny PNG/JPEG bytes, capture records in every
variant SageMaker writes, capture trees in SageMaker's path layout, and baselines.

Imported by bare name by the monitoring tests of several folders (tests/domain/monitoring,
tests/monitor, tests/functions, tests/template): it sits in tests/, which pytest puts on
sys.path when it loads tests/conftest.py; the module name is unique across the test tree."""

from __future__ import annotations

import base64
import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

LABELS = ["bicycle", "motorcycle"]
T0 = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 32), gray: int = 128) -> bytes:
    """A real image encoded by Pillow (solid colour of the given gray level)."""
    buf = io.BytesIO()
    Image.new("RGB", size, (gray, gray, gray)).save(buf, format=fmt)
    return buf.getvalue()


def capture_record(
    image: bytes,
    probabilities: list[float],
    when: datetime,
    *,
    content_type: str = "image/png",
    output_encoding: str = "JSON",
    inference_id: str | None = None,
) -> dict:
    """One SageMaker data-capture record (the exact JSON shape the service writes)."""
    output_json = json.dumps(probabilities)
    if output_encoding == "BASE64":
        output_data = base64.b64encode(output_json.encode()).decode()
    else:
        output_data = output_json  # JSON encoding: data is a JSON *string*
    meta = {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": base64.b64encode(image).decode(),
                "encoding": "BASE64",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": output_data,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": meta,
        "eventVersion": "0",
    }


def csv_record(when: datetime) -> dict:
    """Tabular traffic of another endpoint (text/csv), as found in shared capture buckets."""
    return {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                              "data": "1.0,2.0,3.0", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/csv; charset=utf-8",
                               "mode": "OUTPUT", "data": "0.42", "encoding": "CSV"},
        },
        "eventMetadata": {"eventId": str(uuid.uuid4()),
                          "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "eventVersion": "0",
    }


def capture_relpath(when: datetime, endpoint: str = "scones-endpoint",
                    variant: str = "AllTraffic") -> str:
    """<EndpointName>/<VariantName>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl"""
    return (f"{endpoint}/{variant}/{when:%Y/%m/%d/%H}/"
            f"{when:%M-%S}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl")


def jsonl(records: list[dict], tail: str = "") -> str:
    return "".join(json.dumps(r) + "\n" for r in records) + tail


def traffic(n: int, start: datetime, *, rng: random.Random, confident: float = 0.8,
            motorcycle_share: float = 0.5, gray: int = 128, step_s: float = 10.0):
    """n (image, probabilities, time) tuples: ``confident`` of them far above 0.93."""
    out = []
    for i in range(n):
        high = rng.random() < confident
        conf = rng.uniform(0.95, 0.999) if high else rng.uniform(0.5, 0.9)
        moto = rng.random() < motorcycle_share
        probs = [1 - conf, conf] if moto else [conf, 1 - conf]
        g = max(0, min(255, int(rng.gauss(gray, 20))))
        out.append((image_bytes(gray=g), probs, start + timedelta(seconds=i * step_s)))
    return out


def write_tree(root: Path, items, per_file: int = 10) -> list[Path]:
    """Write (image, probs, time) items as capture files, ``per_file`` records per file."""
    paths = []
    for i in range(0, len(items), per_file):
        chunk = items[i : i + per_file]
        path = root / capture_relpath(chunk[0][2])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(jsonl([capture_record(img, p, t) for img, p, t in chunk]))
        paths.append(path)
    return paths


def make_baseline(n: int = 200, seed: int = 1, confident: float = 0.8, gray: int = 128) -> dict:
    """A baseline in the exact schema the trainer writes, drawn like ``traffic``."""
    rng = random.Random(seed)
    items = traffic(n, T0, rng=rng, confident=confident, gray=gray)
    conf = [max(p) for _, p, _ in items]
    moto = sum(p[1] > p[0] for _, p, _ in items) / n
    brightness = []
    for img, _, _ in items:
        with Image.open(io.BytesIO(img)) as im:
            hist = im.convert("L").histogram()
            brightness.append(sum(i * c for i, c in enumerate(hist)) / sum(hist) / 255)
    return {
        "labels": LABELS, "n": n, "threshold": 0.93, "confidence": conf,
        "label_mix": {"bicycle": 1 - moto, "motorcycle": moto},
        "input": {"brightness": brightness, "width": [32] * n, "height": [32] * n,
                  "bytes": [len(img) for img, _, _ in items]},
    }
