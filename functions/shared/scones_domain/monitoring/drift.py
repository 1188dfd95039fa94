"""Drift of a window of traffic against the training-time baseline (pure Python).

The baseline is written by ``scones train`` next to the model (``OUTDIR/baseline.json`` and
inside ``model.tar.gz``)::

    {"labels": [...], "n": int, "threshold": float,
     "confidence": [max calibrated probability per validation image],
     "label_mix": {"bicycle": share_predicted, "motorcycle": share_predicted},
     "input": {"brightness": [...], "width": [...], "height": [...], "bytes": [...]}}

Checks and their limits (documented in docs/monitoring.md; a window *fails* a check when it
crosses the limit):

======================  ===============================  ========================================
check                   statistic                        fails when
======================  ===============================  ========================================
confidence_psi          PSI, baseline-quantile bins (*)  PSI >= 0.25 (warn from 0.10)
confidence_ks           two-sample KS                    p < 0.001 and D >= 0.10
label_mix_chi2          Pearson chi-square vs label_mix  p < 0.001 and max |share diff| >= 0.10
input_<stat>_ks         two-sample KS per input stat     p < 0.001 and D >= 0.10
======================  ===============================  ========================================

(*) one bin per 25 inferences of the smaller sample, 2 to 10 (``stats.psi_bins``): PSI is biased
upwards by about (bins - 1) * (1/n + 1/N), so small windows get fewer bins.

Windows with fewer than ``MIN_WINDOW_N`` inferences are marked ``insufficient_data``.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD
from scones_domain.location import InvalidS3Uri, S3Location
from scones_domain.monitoring import stats

PSI_FAIL = 0.25
PSI_WARN = 0.10
P_VALUE_LIMIT = 0.001  # up to 7 checks per window, many windows a day: keep false alarms rare
KS_MIN_D = 0.10
LABEL_MIX_MIN_DIFF = 0.10
MIN_WINDOW_N = 30
MAX_WINDOWS = 12
INPUT_STATS = ("brightness", "width", "height", "bytes")

PASS, WARN, FAIL, INSUFFICIENT = "pass", "warn", "fail", "insufficient_data"


class BaselineError(Exception):
    """Base class of baseline errors."""


class BaselineNotFound(BaselineError):
    """The baseline file does not exist, or a model.tar.gz holds no baseline.json."""


class InvalidBaseline(BaselineError):
    """The baseline is not JSON or does not follow the schema above."""


class BaselineLabelMismatch(BaselineError):
    """The labels being monitored are not the labels the baseline was computed for."""


def check_labels(baseline: Baseline, labels: Sequence[str]) -> None:
    """Raise BaselineLabelMismatch unless ``labels`` are the baseline's, in the same order."""
    if tuple(labels) != baseline.labels:
        raise BaselineLabelMismatch(
            f"monitoring labels {list(labels)} differ from the baseline's {list(baseline.labels)}"
            f" ({baseline.source}): the label-mix check would compare different classes"
        )


@dataclass(frozen=True)
class Baseline:
    labels: tuple[str, ...]
    n: int
    threshold: float
    confidence: tuple[float, ...]
    label_mix: dict[str, float]
    inputs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    source: str = ""


def _numbers(value, what: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise InvalidBaseline(f"baseline {what} must be a list of finite numbers")
    return tuple(float(v) for v in value)


def parse_baseline(data: bytes | str | dict, source: str = "") -> Baseline:
    """Validate a baseline document (bytes, text or already parsed)."""
    if not isinstance(data, dict):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidBaseline(f"baseline {source or ''} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidBaseline("baseline must be a JSON object")
    missing = [k for k in ("labels", "confidence", "label_mix") if k not in data]
    if missing:
        raise InvalidBaseline(f"baseline {source} lacks {', '.join(missing)}")
    labels = data["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise InvalidBaseline("baseline labels must be a non-empty list of strings")
    confidence = _numbers(data["confidence"], "confidence")
    if not confidence:
        raise InvalidBaseline("baseline confidence is empty")
    mix = data["label_mix"]
    if not isinstance(mix, dict):
        raise InvalidBaseline("baseline label_mix must be an object {label: share}")
    inputs_raw = data.get("input") or {}
    if not isinstance(inputs_raw, dict):
        raise InvalidBaseline("baseline input must be an object of lists")
    inputs = {k: _numbers(v, f"input.{k}") for k, v in inputs_raw.items() if v}
    return Baseline(
        labels=tuple(labels),
        n=int(data.get("n", len(confidence))),
        threshold=float(data.get("threshold", DEFAULT_CONFIDENCE_THRESHOLD)),
        confidence=confidence,
        label_mix={str(k): float(v) for k, v in mix.items()},
        inputs=inputs,
        source=source,
    )


def baseline_from_bytes(blob: bytes, source: str = "") -> Baseline:
    """baseline.json bytes, or a model.tar.gz (gzip magic) holding baseline.json."""
    if blob[:2] == b"\x1f\x8b" or source.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
                members = [
                    m for m in tar.getmembers()
                    if m.isfile() and m.name.rsplit("/", 1)[-1] == "baseline.json"
                ]
                if not members:
                    raise BaselineNotFound(f"no baseline.json inside {source or 'the archive'}")
                member = min(members, key=lambda m: m.name.count("/"))  # top-level first
                return parse_baseline(tar.extractfile(member).read(), f"{source}:{member.name}")
        except tarfile.TarError as exc:
            raise InvalidBaseline(f"{source} is not a readable tar archive: {exc}") from exc
    return parse_baseline(blob, source)


def load_baseline(path: str | Path, s3_client=None) -> Baseline:
    """Load ``baseline.json`` or ``model.tar.gz`` from a local path or ``s3://`` URI."""
    path = str(path)
    if path.startswith("s3://"):
        from botocore.exceptions import ClientError

        from scones_domain.storage import is_not_found

        try:
            location = S3Location.parse(path)
        except InvalidS3Uri as exc:
            raise BaselineNotFound(f"baseline not found: {exc}") from None
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        try:
            blob = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
        except ClientError as exc:
            if is_not_found(exc):
                raise BaselineNotFound(f"baseline not found: {path}") from exc
            raise
        return baseline_from_bytes(blob, path)
    file = Path(path)
    if not file.is_file():
        raise BaselineNotFound(f"baseline not found: {path}")
    return baseline_from_bytes(file.read_bytes(), path)


# ----------------------------------------------------------------------------- checks


def _check(name: str, metric: str, value, limit: str, status: str, n: int, **extra) -> dict:
    return {"check": name, "metric": metric, "value": value, "limit": limit, "status": status,
            "n": n, **extra}


def _ks_check(name: str, baseline: Sequence[float], window: Sequence[float]) -> dict:
    d, p = stats.ks_2samp(baseline, window)
    status = FAIL if (p < P_VALUE_LIMIT and d >= KS_MIN_D) else PASS
    return _check(name, "KS D", d, f"p < {P_VALUE_LIMIT} and D >= {KS_MIN_D}", status,
                  len(window), p_value=p)


def drift_checks(rows: Sequence, baseline: Baseline, labels: Sequence[str]) -> list[dict]:
    """Every drift check of one window of inference rows against the baseline."""
    n = len(rows)
    names = ["confidence_psi", "confidence_ks", "label_mix_chi2"] + [
        f"input_{k}_ks" for k in INPUT_STATS if k in baseline.inputs
    ]
    if n < MIN_WINDOW_N:
        return [_check(name, "", None, f"n >= {MIN_WINDOW_N}", INSUFFICIENT, n) for name in names]
    confidences = [r.confidence for r in rows]
    checks = []
    value = stats.psi(baseline.confidence, confidences)
    status = FAIL if value >= PSI_FAIL else WARN if value >= PSI_WARN else PASS
    checks.append(_check("confidence_psi", "PSI", value, f">= {PSI_FAIL} (warn {PSI_WARN})",
                         status, n))
    checks.append(_ks_check("confidence_ks", baseline.confidence, confidences))

    observed = [sum(1 for r in rows if r.label == label) for label in labels]
    expected = [baseline.label_mix.get(label, 0.0) for label in labels]
    statistic, p, dof = stats.chi_square(observed, expected)
    total = sum(expected) or 1.0
    max_diff = max(abs(o / n - e / total) for o, e in zip(observed, expected, strict=True))
    status = FAIL if (p < P_VALUE_LIMIT and max_diff >= LABEL_MIX_MIN_DIFF) else PASS
    checks.append(_check("label_mix_chi2", "chi-square", statistic,
                         f"p < {P_VALUE_LIMIT} and max share diff >= {LABEL_MIX_MIN_DIFF}",
                         status, n, p_value=p, dof=dof, max_share_diff=max_diff))

    for key in INPUT_STATS:
        if key not in baseline.inputs:
            continue
        values = [_input_value(r, key) for r in rows]
        values = [v for v in values if v is not None]
        if len(values) < MIN_WINDOW_N:
            checks.append(_check(f"input_{key}_ks", "KS D", None, f"n >= {MIN_WINDOW_N}",
                                 INSUFFICIENT, len(values)))
        else:
            checks.append(_ks_check(f"input_{key}_ks", baseline.inputs[key], values))
    return checks


def _input_value(row, key: str) -> float | None:
    if key == "bytes":
        return float(row.input_bytes)
    value = getattr(row, key, None) if key in ("width", "height") else row.extra.get(key)
    return None if value is None else float(value)


def overall_status(checks: Sequence[dict]) -> str:
    statuses = {c["status"] for c in checks}
    for status in (FAIL, WARN, PASS):
        if status in statuses:
            return status
    return INSUFFICIENT


# ----------------------------------------------------------------------------- windows


_NICE_WINDOWS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                   21600, 43200, 86400, 172800, 604800)


def auto_window(rows: Sequence) -> timedelta:
    """A round window length giving at most MAX_WINDOWS windows of about MIN_WINDOW_N rows."""
    if len(rows) < 2:
        return timedelta(hours=1)
    span = (rows[-1].time - rows[0].time).total_seconds()
    k = max(1, min(MAX_WINDOWS, len(rows) // MIN_WINDOW_N))
    # aligned windows can add one: leave room for it
    raw = (span + 1) / max(1, k - 1) if k > 1 else span + 1
    seconds = next((n for n in _NICE_WINDOWS_S if n >= raw), math.ceil(raw))
    return timedelta(seconds=seconds)


def split_windows(rows: Sequence, length: timedelta) -> list[tuple[datetime, datetime, list]]:
    """Consecutive windows [start, end) on a grid of ``length`` from the Unix epoch (so 5-minute
    windows start at :00, :05, ...); rows must be time-sorted; empty windows are dropped."""
    if not rows:
        return []
    first = rows[0].time
    step = length.total_seconds()
    start = first - timedelta(seconds=first.timestamp() % step) if step >= 1 else first
    windows: list[tuple[datetime, datetime, list]] = []
    current: list = []
    end = start + length
    for row in rows:
        while row.time >= end:
            windows.append((start, end, current))
            start, end, current = end, end + length, []
        current.append(row)
    windows.append((start, end, current))
    return [w for w in windows if w[2]]
