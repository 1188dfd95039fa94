"""A realistic day of captures for the report tests and the documented screenshot.

Twelve hours of one endpoint's traffic with what an operator meets: a daily rhythm, an outage
with no traffic at all (a gap the charts must not draw across), and from 14:00 a new client
uploading dark night-time photos that the model is unsure of, and over-confident about. The
images are the real CIFAR-100 bicycle/motorcycle PNGs when ``../shared/data`` is there (their
true labels from ``train.lst``), else generated ones. The answers come from a stand-in for a
calibrated model: an answer given with max-probability c is right with probability c (on the
night photos only c - 0.15: over-confident). A ``model.tar.gz`` holds ``metadata.json`` (model
version, validation accuracy) and ``baseline.json`` drawn like the normal traffic, and a
reviewer has sorted most of the review queue into ``reviewed/<label>/``.

Imported by bare name by tests/monitor (it sits beside them)."""

from __future__ import annotations

import io
import json
import random
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor_fixtures import LABELS, capture_record, capture_relpath, jsonl
from PIL import Image, ImageEnhance

ENDPOINT = "scones-vehicle-classifier"
MODEL_VERSION = "20261126-3f9c2a1b"
START = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
HOURS = 12
OUTAGE = (START + timedelta(hours=4, minutes=40), START + timedelta(hours=5, minutes=30))
NIGHT_CLIENT_FROM = START + timedelta(hours=8)
GENERATED = datetime(2026, 11, 27, 18, 5, tzinfo=UTC)


@dataclass
class Scenario:
    captures: Path
    model: Path  # model.tar.gz with metadata.json and baseline.json
    reviewed: Path  # reviewed/<label>/<image>.png
    items: list  # (png bytes, true label, probabilities, time, is_night)
    n_reviewed: int


def real_images(shared_data: Path | None, limit: int = 1000) -> list[tuple[bytes, str]]:
    """(PNG bytes, true label) of the shared CIFAR images, or generated stand-ins."""
    if shared_data is not None and (shared_data / "train.lst").exists():
        out = []
        for line in (shared_data / "train.lst").read_text().splitlines()[:limit]:
            _, target, name = line.split("\t")
            out.append(((shared_data / "train" / name).read_bytes(), LABELS[int(float(target))]))
        return out
    rng = random.Random(5)
    out = []
    for i in range(limit):
        buf = io.BytesIO()
        gray = rng.randint(60, 220)
        image = Image.new("RGB", (32, 32), (gray, gray, max(0, gray - 30)))
        image.putpixel((i % 32, (i // 32) % 32), (255, 0, 0))  # every image unique
        image.save(buf, format="PNG")
        out.append((buf.getvalue(), LABELS[i % 2]))
    return out


def darken(png: bytes) -> bytes:
    """A night-time photo of the same thing: 40% of the light, re-encoded as PNG."""
    with Image.open(io.BytesIO(png)) as image:
        dark = ImageEnhance.Brightness(image.convert("RGB")).enhance(0.4)
        buf = io.BytesIO()
        dark.save(buf, format="PNG")
        return buf.getvalue()


def answer(truth: str, rng: random.Random, night: bool) -> list[float]:
    """Probabilities of a calibrated stand-in model (over-confident on night photos)."""
    if night:
        conf = 0.5 + 0.5 * rng.betavariate(2.0, 1.6)
        right = rng.random() < max(0.5, conf - 0.15)
    else:
        conf = 0.5 + 0.5 * rng.betavariate(6.0, 0.9)
        right = rng.random() < conf
    label = truth if right else next(lb for lb in LABELS if lb != truth)
    return [conf, 1 - conf] if label == LABELS[0] else [1 - conf, conf]


def rate_per_minute(when: datetime) -> float:
    """Busy around midday, quiet early; nothing during the outage."""
    if OUTAGE[0] <= when < OUTAGE[1]:
        return 0.0
    hour = when.hour + when.minute / 60
    return 0.35 + 0.9 * max(0.0, 1 - abs(hour - 12.5) / 6.5)


def brightness(png: bytes) -> float:
    with Image.open(io.BytesIO(png)) as image:
        hist = image.convert("L").histogram()
        return sum(i * c for i, c in enumerate(hist)) / sum(hist) / 255


def build(root: Path, shared_data: Path | None = None, seed: int = 11) -> Scenario:
    rng = random.Random(seed)
    images = real_images(shared_data)
    validation, pool = images[:200], images[200:]
    rng.shuffle(pool)  # each upload a different photo (a real model answers a photo once)

    # the model artifact: metadata.json and the baseline drawn from the validation images
    conf, mix, correct = [], {label: 0 for label in LABELS}, 0
    for _png, truth in validation:
        probs = answer(truth, rng, night=False)
        predicted = LABELS[probs.index(max(probs))]
        conf.append(max(probs))
        mix[predicted] += 1
        correct += predicted == truth
    baseline = {
        "labels": LABELS, "n": len(validation), "threshold": 0.93, "confidence": conf,
        "label_mix": {k: v / len(validation) for k, v in mix.items()},
        "input": {"brightness": [brightness(p) for p, _ in validation],
                  "width": [32] * len(validation), "height": [32] * len(validation),
                  "bytes": [len(p) for p, _ in validation]},
    }
    metadata = {"labels": LABELS, "model_version": MODEL_VERSION,
                "created": "2026-11-26T21:14:03Z",
                "metrics": {"evaluated_on": "held-out validation split", "n": len(validation),
                            "accuracy": correct / len(validation), "threshold": 0.93}}
    model = root / "model" / "model.tar.gz"
    model.parent.mkdir(parents=True)
    with tarfile.open(model, "w:gz") as tar:
        for name, doc in (("metadata.json", metadata), ("baseline.json", baseline)):
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    # twelve hours of traffic, minute by minute
    items = []
    minute = START
    while minute < START + timedelta(hours=HOURS):
        expected = rate_per_minute(minute)
        n = sum(rng.random() < expected / 3 for _ in range(3))  # 0-3 a minute
        for _ in range(n):
            when = minute + timedelta(seconds=rng.randrange(60))
            png, truth = pool[len(items) % len(pool)]
            night = when >= NIGHT_CLIENT_FROM and rng.random() < 0.45
            if night:
                png = darken(png)
            items.append((png, truth, answer(truth, rng, night), when, night))
        minute += timedelta(minutes=1)
    items.sort(key=lambda item: item[3])

    # capture files rotate every 10 minutes, as SageMaker's do every few
    captures = root / "captures"
    files: dict[datetime, list] = {}
    for png, _truth, probs, when, _night in items:
        key = when - timedelta(minutes=when.minute % 10, seconds=when.second)
        files.setdefault(key, []).append(capture_record(png, probs, when))
    for opened, records in files.items():
        path = captures / capture_relpath(opened, endpoint=ENDPOINT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(jsonl(records))

    # the reviewer has sorted 70% of the review queue (answers below 0.93) by true label
    reviewed = root / "reviewed"
    n_reviewed = 0
    for i, (png, truth, probs, _when, _night) in enumerate(items):
        if max(probs) < 0.93 and rng.random() < 0.7:
            path = reviewed / truth / f"image-{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            n_reviewed += 1
    return Scenario(captures, model, reviewed, items, n_reviewed)


def shared_data_or_none(request) -> Path | None:
    """The ``shared_data`` fixture's folder, or None where it would skip (generated images)."""
    import pytest

    try:
        return request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return None
