"""The monitoring report: PNG charts, a self-contained report.html and a JSON summary.

Public API (used by ``scones monitor`` and ``scones demo``; keep stable)::

    write_report(captures: str, out_dir: Path, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
                 labels: list[str] | None = None, baseline: str | None = None,
                 since=None, until=None, window=None, *, reviewed_labels=None,
                 endpoint_metrics=None, rejections=None, now=None) -> dict

``captures`` is a directory or ``s3://bucket/prefix`` of SageMaker data-capture files;
``baseline`` a ``baseline.json`` or ``model.tar.gz`` (local or s3://). Labels come from
``labels``, else the baseline, else ``DEFAULT_CLASS_LABELS``. ``reviewed_labels``: a folder or
JSON Lines file of true labels (:mod:`scones.monitor.reviewed`). ``endpoint_metrics``: ask
CloudWatch for the endpoint's latency and errors (:mod:`scones.monitor.context`); None asks
when the captures come from S3. ``rejections``: the rejected requests by reason, read from the
functions' logs (:mod:`scones.monitor.rejections`); None when no logs were read. ``now``: the
report's generation time (default: now). The
returned dict is also written to ``out_dir/summary.json``; see docs/monitoring.md for its keys.

The page answers an operator's questions in order: which model, which endpoint, which window;
how much traffic and how fast; how much goes to review; how accurate (estimated, and measured
on reviewed labels); has the traffic drifted from the training baseline. Every chart says what
to do when it looks bad. Time series are drawn per time bucket; a bucket without traffic is a
gap (NaN), never a line across it.

Matplotlib (Agg) and Pillow are used here only; the reader and statistics are the domain's
(``scones_domain.monitoring``), which the Lambda runs too.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scones.monitor import context, reviewed
from scones_domain.config import DEFAULT_CLASS_LABELS, DEFAULT_CONFIDENCE_THRESHOLD
from scones_domain.monitoring import drift as drift_mod
from scones_domain.monitoring import stats
from scones_domain.monitoring.captures import read_captures

CHART_DPI = 110
MAX_BUCKETS = 48
MIN_BUCKET_N = 5  # the "worst bucket" in the summary ignores buckets with fewer inferences
_NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                 43200, 86400, 172800, 604800)
NAN = float("nan")


def pil_inspector(data: bytes) -> dict:
    """width, height and brightness (mean of the L channel / 255) with Pillow."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            gray = image.convert("L")
            hist = gray.histogram()
            pixels = sum(hist) or 1
            brightness = sum(i * c for i, c in enumerate(hist)) / pixels / 255.0
            return {"width": image.width, "height": image.height, "brightness": brightness}
    except (UnidentifiedImageError, OSError, ValueError):
        return {}  # not decodable: the row keeps the inference, without image statistics


def report_inspector(data: bytes) -> dict:
    """:func:`pil_inspector` plus the payload's SHA-256 (matches reviewed images to captures)."""
    return {**pil_inspector(data), "sha256": reviewed.sha256(data)}


def resolve_labels(labels, baseline) -> list[str]:
    if labels:
        return list(labels)
    if baseline is not None:
        return list(baseline.labels)
    return list(DEFAULT_CLASS_LABELS)


# ----------------------------------------------------------------------------- time buckets


@dataclass(frozen=True)
class Buckets:
    """Consecutive equal time buckets on a round grid, empty ones included (gaps)."""

    width: timedelta
    starts: list[datetime]
    groups: list[list]

    @property
    def seconds(self) -> float:
        return self.width.total_seconds()

    @property
    def centers(self) -> list[datetime]:
        return [s + self.width / 2 for s in self.starts]

    def per_bucket(self, fn) -> list[float]:
        """fn(rows) per bucket; NaN for an empty bucket (a gap in a line, not a zero)."""
        return [fn(g) if g else NAN for g in self.groups]


def time_buckets(rows, max_buckets: int = MAX_BUCKETS) -> Buckets:
    """Round bucket width (1 s .. 1 week) giving at most ``max_buckets`` buckets over the rows'
    span, aligned to the Unix-epoch grid; rows must be time-sorted and non-empty."""
    span = (rows[-1].time - rows[0].time).total_seconds()
    seconds = next((s for s in _NICE_SECONDS if span / s < max_buckets),
                   math.ceil(span / max_buckets) + 1)
    width = timedelta(seconds=seconds)
    first = rows[0].time
    start = first - timedelta(seconds=first.timestamp() % seconds)
    n = int((rows[-1].time - start).total_seconds() // seconds) + 1
    starts = [start + i * width for i in range(n)]
    groups: list[list] = [[] for _ in range(n)]
    for row in rows:
        groups[min(n - 1, int((row.time - start).total_seconds() // seconds))].append(row)
    return Buckets(width, starts, groups)


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _low_share(group) -> float:
    return sum(not r.above_threshold for r in group) / len(group)


# ----------------------------------------------------------------------------- the report


def write_report(
    captures: str,
    out_dir: Path,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    labels: list[str] | None = None,
    baseline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    window: timedelta | None = None,
    *,
    reviewed_labels: str | Path | None = None,
    endpoint_metrics: bool | None = None,
    rejections: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """Read the captures, write charts + report.html + summary.json into ``out_dir``."""
    generated = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = drift_mod.load_baseline(baseline) if baseline else None
    labels = resolve_labels(labels, base)
    if base is not None:
        drift_mod.check_labels(base, labels)
    truth = reviewed.load_reviewed(reviewed_labels, labels) if reviewed_labels else None
    result = read_captures(
        str(captures), labels=labels, threshold=threshold, since=since, until=until,
        inspect_image=report_inspector,
    )
    rows = result.rows
    summary = stats.summarize(rows, labels, threshold)
    endpoints = Counter((r.endpoint, r.variant) for r in rows)
    summary.update(
        captures=str(captures),
        labels=labels,
        generated_at=generated.isoformat(),
        model=context.model_info(baseline),
        endpoints=[{"endpoint": e, "variant": v, "n": n} for (e, v), n in endpoints.most_common()],
        n_files=result.n_files,
        n_lines=result.n_lines,
        n_outside_window=result.n_outside_window,
        n_skipped={reason: result.skipped[reason] for reason in sorted(result.skipped)},
        n_skipped_total=result.n_skipped,
        skip_examples=result.skip_examples,
        image_sizes=dict(
            Counter(f"{r.width}x{r.height}" if r.width else "unknown" for r in rows).most_common()
        ),
        traffic=None,
        endpoint_metrics=None,
        rejections=rejections,
        accuracy=None,
        drift=None,
    )
    buckets = time_buckets(rows) if rows else None
    matched = reviewed.match(rows, truth) if truth is not None else []
    if rows:
        summary["traffic"] = traffic_summary(rows, buckets)
        summary["accuracy"] = accuracy_summary(rows, base, summary["model"], truth, matched,
                                               labels)
        (endpoint, variant), _ = endpoints.most_common(1)[0]
        ask = str(captures).startswith("s3://") if endpoint_metrics is None else endpoint_metrics
        if ask and endpoint and variant:
            summary["endpoint_metrics"] = context.endpoint_metrics(
                endpoint, variant, rows[0].time, rows[-1].time, buckets.seconds)
    window = window or drift_mod.auto_window(rows)
    if base is not None:
        summary["drift"] = drift_summary(rows, base, labels, window)

    charts = draw_charts(rows, labels, threshold, base, summary, buckets, matched, out_dir)
    summary["charts"] = {name: path.name for name, path in charts.items()}
    report_path = out_dir / "report.html"
    report_path.write_text(render_html(summary, charts), encoding="utf-8")
    summary["report"] = str(report_path)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def traffic_summary(rows, buckets: Buckets) -> dict:
    """Request rate per bucket and the bucket with the largest share below the threshold."""
    per_minute = [len(g) * 60.0 / buckets.seconds for g in buckets.groups]
    peak = max(range(len(per_minute)), key=per_minute.__getitem__)
    span = max((rows[-1].time - rows[0].time).total_seconds(), buckets.seconds)
    candidates = [i for i, g in enumerate(buckets.groups) if len(g) >= MIN_BUCKET_N] or [
        i for i, g in enumerate(buckets.groups) if g]
    worst = max(candidates, key=lambda i: _low_share(buckets.groups[i]))
    return {
        "bucket_seconds": buckets.seconds,
        "n_buckets": len(buckets.groups),
        "n_empty_buckets": sum(1 for g in buckets.groups if not g),
        "mean_per_minute": len(rows) * 60.0 / span,
        "peak_per_minute": per_minute[peak],
        "peak_bucket_start": buckets.starts[peak].isoformat(),
        "worst_low_confidence_bucket": {
            "start": buckets.starts[worst].isoformat(), "n": len(buckets.groups[worst]),
            "share_below_threshold": _low_share(buckets.groups[worst])},
    }


def accuracy_summary(rows, base, model: dict, truth, matched, labels) -> dict:
    """The label-free estimate (mean max-probability), and the measured accuracy on reviewed
    labels when there are any."""
    above = [r.confidence for r in rows if r.above_threshold]
    below = [r.confidence for r in rows if not r.above_threshold]
    validation = model.get("validation") or {}
    return {
        "expected_accuracy": _mean(r.confidence for r in rows),
        "expected_accuracy_above_threshold": _mean(above),
        "expected_accuracy_below_threshold": _mean(below),
        "baseline_mean_confidence": _mean(base.confidence) if base is not None else None,
        "validation_accuracy": validation.get("accuracy"),
        "reviewed": (reviewed.reviewed_accuracy(matched, truth, labels)
                     if truth is not None else None),
    }


def drift_summary(rows, base, labels, window: timedelta) -> dict:
    overall = drift_mod.drift_checks(rows, base, labels)
    windows = []
    for start, end, chunk in drift_mod.split_windows(rows, window):
        checks = drift_mod.drift_checks(chunk, base, labels)
        windows.append(
            {"start": start.isoformat(), "end": end.isoformat(), "n": len(chunk),
             "status": drift_mod.overall_status(checks), "checks": checks}
        )
    return {
        "baseline": base.source,
        "baseline_n": base.n,
        "window_seconds": window.total_seconds(),
        "status": drift_mod.overall_status(overall),
        "drift_detected": drift_mod.overall_status(overall) == drift_mod.FAIL,
        "checks": overall,
        "windows": windows,
        "n_windows_failed": sum(1 for w in windows if w["status"] == drift_mod.FAIL),
    }


# ----------------------------------------------------------------------------- charts


def _colors(labels):
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=CHART_DPI)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _time_axis(ax, times):
    """UTC time axis; spans under an hour read as HH:MM:SS (ConciseDateFormatter would print
    bare seconds such as "40"), longer ones use matplotlib's concise dates."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    span = (max(times) - min(times)).total_seconds()
    if span < 3600:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        day = min(times).strftime("%Y-%m-%d")
        ax.set_xlabel(f"inference time (UTC, {day})")
    else:
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("inference time (UTC)")


def _bucket_axis(ax, buckets: Buckets) -> None:
    """Time axis over the whole bucket grid, with the buckets without traffic shaded."""
    end = buckets.starts[-1] + buckets.width
    ax.set_xlim(buckets.starts[0], end)
    _time_axis(ax, [buckets.starts[0], end])
    labelled = False
    i = 0
    while i < len(buckets.groups):
        if buckets.groups[i]:
            i += 1
            continue
        j = i
        while j < len(buckets.groups) and not buckets.groups[j]:
            j += 1
        ax.axvspan(buckets.starts[i], buckets.starts[i] + (j - i) * buckets.width,
                   color="0.85", alpha=0.6, linewidth=0,
                   label=None if labelled else "no traffic")
        labelled = True
        i = j


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    if seconds < 86400:
        hours, rest = divmod(round(seconds), 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    return f"{seconds / 86400:.3g} days"


def _metric_grid(series: list, period: float, start: datetime, end: datetime):
    """CloudWatch points on their period grid over [start, end]; NaN where CloudWatch has no
    point (no invocation in that period): the line breaks there."""
    values = {datetime.fromisoformat(t).timestamp(): v for t, v in series}
    first = start.timestamp() - start.timestamp() % period
    times, out = [], []
    t = first
    while t <= end.timestamp():
        times.append(datetime.fromtimestamp(t, UTC) + timedelta(seconds=period / 2))
        out.append(values.get(t, NAN))
        t += period
    return times, out


def draw_charts(rows, labels, threshold, base, summary, buckets, matched,
                out_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        fig, ax = plt.subplots(figsize=(7, 2.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "No image inferences in the captures", ha="center", va="center",
                fontsize=14)
        return {"empty": _save(fig, out_dir / "no_inferences.png")}

    colors = _colors(labels)
    charts: dict[str, Path] = {}
    times = [r.time for r in rows]
    bucket = _duration(buckets.seconds)

    charts["traffic"] = _traffic_chart(rows, buckets, summary.get("endpoint_metrics"), out_dir)

    # share below the threshold per bucket (NaN = no traffic: the line breaks)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(buckets.centers, buckets.per_bucket(_low_share), color="tab:orange", marker="o",
            markersize=3.5, linewidth=1.5, label=f"share below {threshold:g} per {bucket} bucket")
    overall_low = summary["share_below_threshold"]
    ax.axhline(overall_low, color="gray", linestyle="--", linewidth=1,
               label=f"whole period {overall_low:.0%}")
    if base is not None:
        base_low = sum(c < threshold for c in base.confidence) / len(base.confidence)
        ax.axhline(base_low, color="black", linestyle=":", linewidth=1,
                   label=f"validation baseline {base_low:.0%}")
    _bucket_axis(ax, buckets)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share sent to review")
    ax.set_title("Share of inferences below the threshold (sent to human review)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    charts["low_confidence_share"] = _save(fig, out_dir / "low_confidence_share.png")

    # expected accuracy (mean max-probability) per bucket, measured accuracy where reviewed
    fig, ax = plt.subplots(figsize=(9, 3.6))
    expected = buckets.per_bucket(lambda g: _mean(r.confidence for r in g))
    ax.plot(buckets.centers, expected, color="tab:blue", marker="o", markersize=3.5,
            linewidth=1.5, label="expected accuracy (mean max-probability)")
    accuracy = summary["accuracy"]
    if accuracy["baseline_mean_confidence"] is not None:
        ax.axhline(accuracy["baseline_mean_confidence"], color="black", linestyle=":",
                   linewidth=1, label="expected on validation "
                   f"{accuracy['baseline_mean_confidence']:.1%}")
    if accuracy["validation_accuracy"] is not None:
        ax.axhline(accuracy["validation_accuracy"], color="seagreen", linestyle="-.",
                   linewidth=1,
                   label=f"measured on validation {accuracy['validation_accuracy']:.1%}")
    if matched:
        index = {id(r): i for i, g in enumerate(buckets.groups) for r in g}
        per = [[] for _ in buckets.groups]
        for row, truth in matched:
            per[index[id(row)]].append(row.label == truth)
        pts = [(buckets.centers[i], sum(v) / len(v), len(v)) for i, v in enumerate(per) if v]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=[12 + 6 * p[2] for p in pts],
                   color="crimson", alpha=0.75, zorder=3,
                   label="measured on reviewed labels (size = n)")
    lows = [v for v in expected if not math.isnan(v)]
    ax.set_ylim(min(0.45, min(lows) - 0.05), 1.02)
    _bucket_axis(ax, buckets)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Expected accuracy per {bucket} bucket (label-free estimate)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    charts["expected_accuracy"] = _save(fig, out_dir / "expected_accuracy.png")

    # confidence over time, coloured by predicted label
    fig, ax = plt.subplots(figsize=(9, 4))
    for label in labels:
        pts = [(r.time, r.confidence) for r in rows if r.label == label]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.7,
                       color=colors[label], label=f"{label} ({len(pts)})")
    ax.axhline(threshold, color="crimson", linestyle="--", linewidth=1.2,
               label=f"threshold {threshold:g}")
    ax.set_ylim(min(0.45, min(r.confidence for r in rows) - 0.02), 1.01)
    ax.set_ylabel("confidence (max probability)")
    ax.set_title("Confidence over time (one dot per inference)")
    _time_axis(ax, times)
    ax.legend(loc="lower left", fontsize=8)
    charts["confidence_over_time"] = _save(fig, out_dir / "confidence_over_time.png")

    # confidence histogram with the threshold
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = [0.5 + i * 0.025 for i in range(21)] if min(r.confidence for r in rows) >= 0.5 else 40
    ax.hist([[r.confidence for r in rows if r.label == lb] for lb in labels], bins=bins,
            stacked=True, color=[colors[lb] for lb in labels], label=labels, edgecolor="white")
    ax.axvline(threshold, color="crimson", linestyle="--", linewidth=1.2,
               label=f"threshold {threshold:g}")
    n_above = sum(r.above_threshold for r in rows)
    ax.set_title(f"Confidence histogram: {n_above}/{len(rows)} "
                 f"({n_above / len(rows):.0%}) at or above the threshold")
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("inferences")
    ax.legend(fontsize=8)
    charts["confidence_histogram"] = _save(fig, out_dir / "confidence_histogram.png")

    # predicted-label mix per bucket (stacked shares; no bar where there is no traffic)
    fig, ax = plt.subplots(figsize=(9, 4))
    full = [(s, g) for s, g in zip(buckets.starts, buckets.groups, strict=True) if g]
    bottoms = [0.0] * len(full)
    for label in labels:
        shares = [sum(r.label == label for r in g) / len(g) for _, g in full]
        ax.bar([s for s, _ in full], shares, width=buckets.width * 0.9, align="edge",
               bottom=bottoms, color=colors[label], label=label)
        bottoms = [b + s for b, s in zip(bottoms, shares, strict=True)]
    if base is not None:
        cum = 0.0
        for label in labels[:-1]:
            cum += base.label_mix.get(label, 0.0)
            ax.axhline(cum, color="black", linestyle=":", linewidth=1,
                       label="baseline mix" if label == labels[0] else None)
    _bucket_axis(ax, buckets)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of predictions")
    ax.set_title(f"Predicted-label mix per {bucket} bucket")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    charts["label_mix_over_time"] = _save(fig, out_dir / "label_mix_over_time.png")

    # image size distribution
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    sizes = Counter(f"{r.width}x{r.height}" if r.width else "unknown" for r in rows)
    top = sizes.most_common(8)
    ax1.barh([s for s, _ in top][::-1], [c for _, c in top][::-1], color="tab:blue",
             height=0.5)
    ax1.set_ylim(-0.75, max(len(top), 3) - 0.25)
    ax1.set_xlabel("inferences")
    ax1.set_title("Image dimensions (width x height)")
    ax2.hist([r.input_bytes for r in rows], bins=30, color="tab:blue", alpha=0.75,
             label="traffic", density=base is not None)
    if base is not None and "bytes" in base.inputs:
        ax2.hist(base.inputs["bytes"], bins=30, color="black",
                 histtype="step", linewidth=1.2, label="baseline", density=True)
    ax2.set_xlabel("payload size (bytes)")
    ax2.set_ylabel("density" if base is not None else "inferences")
    ax2.set_title("Payload size")
    ax2.legend(fontsize=8)
    charts["image_sizes"] = _save(fig, out_dir / "image_sizes.png")

    if base is not None and summary.get("drift"):
        charts.update(_drift_charts(rows, base, summary["drift"], threshold, buckets, out_dir))
    return charts


def _traffic_chart(rows, buckets: Buckets, metrics: dict | None, out_dir: Path) -> Path:
    """Requests per minute per bucket (captured inferences); with CloudWatch: latency and
    4xx/5xx per period."""
    import matplotlib.pyplot as plt

    series = (metrics or {}).get("series") or {}
    latency = [m for m in ("ModelLatency", "OverheadLatency") if m in series]
    errors = [m for m in ("Invocation4XXErrors", "Invocation5XXErrors") if m in series]
    panels = 1 + bool(latency) + bool(errors)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 1.2 + 2.6 * panels), sharex=True,
                             squeeze=False)
    axes = [a[0] for a in axes]
    ax = axes[0]
    per_minute = [len(g) * 60.0 / buckets.seconds for g in buckets.groups]
    ax.bar(buckets.starts, per_minute, width=buckets.width * 0.9, align="edge",
           color="tab:blue", label="captured inferences")
    ax.set_ylabel("requests / minute")
    ax.set_title(f"Request rate per {_duration(buckets.seconds)} bucket")
    _bucket_axis(ax, buckets)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    start, end = buckets.starts[0], buckets.starts[-1] + buckets.width
    period = (metrics or {}).get("period_seconds", 60)
    panel = 1
    if latency:
        ax = axes[panel]
        panel += 1
        for name, color in (("ModelLatency", "tab:purple"), ("OverheadLatency", "tab:gray")):
            if name in series:
                xs, ys = _metric_grid(series[name], period, start, end)
                ax.plot(xs, ys, marker="o", markersize=3, color=color, label=f"{name} (avg)")
        ax.set_ylabel("ms")
        ax.set_title(f"Endpoint latency per {_duration(period)} (CloudWatch)")
        _bucket_axis(ax, buckets)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if errors:
        ax = axes[panel]
        for name, color, offset in (("Invocation4XXErrors", "tab:orange", 0.0),
                                    ("Invocation5XXErrors", "crimson", 0.45)):
            pts = [(datetime.fromisoformat(t), v) for t, v in series.get(name, [])]
            if pts:
                ax.bar([t + timedelta(seconds=period * offset) for t, _ in pts],
                       [v for _, v in pts], width=timedelta(seconds=period * 0.45),
                       align="edge", color=color, label=name.replace("Invocation", ""))
        ax.set_ylabel("requests")
        ax.set_title(f"Rejected (4xx) and failed (5xx) requests per {_duration(period)} "
                     "(CloudWatch)")
        _bucket_axis(ax, buckets)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for a in axes[:-1]:
        a.set_xlabel("")
    return _save(fig, out_dir / "traffic.png")


def _ecdf(values):
    xs = sorted(values)
    return xs, [(i + 1) / len(xs) for i in range(len(xs))]


def _drift_charts(rows, base, drift, threshold, buckets, out_dir: Path) -> dict[str, Path]:
    import matplotlib.pyplot as plt

    charts = {}
    checks = {c["check"]: c for c in drift["checks"]}

    # confidence: baseline vs traffic (histogram + ECDF)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    bins = [0.5 + i * 0.025 for i in range(21)]
    ax1.hist(base.confidence, bins=bins, density=True, histtype="step", color="black",
             linewidth=1.5, label=f"baseline (n={len(base.confidence)})")
    ax1.hist([r.confidence for r in rows], bins=bins, density=True, alpha=0.6,
             color="tab:blue", label=f"traffic (n={len(rows)})")
    ax1.axvline(threshold, color="crimson", linestyle="--", linewidth=1)
    ax1.set_xlabel("confidence")
    ax1.set_ylabel("density")
    psi = checks.get("confidence_psi", {})
    ax1.set_title(f"Confidence vs baseline: PSI {_fmt(psi.get('value'))} "
                  f"({psi.get('status', '-')})")
    ax1.legend(fontsize=8)
    for sample, color, name in ((base.confidence, "black", "baseline"),
                                ([r.confidence for r in rows], "tab:blue", "traffic")):
        xs, ys = _ecdf(sample)
        ax2.step(xs, ys, where="post", color=color, label=name)
    ks = checks.get("confidence_ks", {})
    ax2.set_title(f"Cumulative: KS D {_fmt(ks.get('value'))}, p {_fmt(ks.get('p_value'))}")
    ax2.set_xlabel("confidence")
    ax2.set_ylabel("cumulative share")
    ax2.legend(fontsize=8)
    charts["drift_confidence"] = _save(fig, out_dir / "drift_confidence.png")

    # per-window PSI and label-mix p-value on the time axis (no bar where no window has data)
    windows = drift["windows"]
    if windows:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        starts = [datetime.fromisoformat(w["start"]) for w in windows]
        width = timedelta(seconds=drift["window_seconds"])

        def series(name, key="value"):
            out = []
            for w in windows:
                c = next((c for c in w["checks"] if c["check"] == name), None)
                out.append(c.get(key) if c else None)
            return out

        status_color = {"fail": "crimson", "warn": "orange", "pass": "seagreen",
                        "insufficient_data": "lightgray"}
        psis = series("confidence_psi")
        psi_colors = [status_color[s] for s in series("confidence_psi", "status")]
        ax1.bar(starts, [p or 0 for p in psis], width=width * 0.9, align="edge",
                color=psi_colors)
        ax1.axhline(drift_mod.PSI_FAIL, color="crimson", linestyle="--", linewidth=1,
                    label=f"fail {drift_mod.PSI_FAIL}")
        ax1.axhline(drift_mod.PSI_WARN, color="orange", linestyle=":", linewidth=1,
                    label=f"warn {drift_mod.PSI_WARN}")
        ax1.set_ylabel("confidence PSI")
        ax1.set_title(f"Confidence PSI per {_duration(drift['window_seconds'])} window "
                      "(red fails, orange warns, green passes, gray: under "
                      f"{drift_mod.MIN_WINDOW_N} inferences)", fontsize=10)
        ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        # -log10(p): higher = stronger evidence of a shifted label mix; p=0 capped at 1e-16
        pvals = series("label_mix_chi2", "p_value")
        heights = [-math.log10(max(p, 1e-16)) if p is not None else 0 for p in pvals]
        mix_colors = [status_color[s] for s in series("label_mix_chi2", "status")]
        ax2.bar(starts, heights, width=width * 0.9, align="edge", color=mix_colors)
        ax2.axhline(-math.log10(drift_mod.P_VALUE_LIMIT), color="crimson", linestyle="--",
                    linewidth=1, label=f"p limit {drift_mod.P_VALUE_LIMIT}")
        ax2.set_ylabel("-log10 chi-square p")
        ax2.set_title("Predicted-label mix vs baseline per window (higher = less likely "
                      "by chance)", fontsize=10)
        ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        left = min(starts[0], buckets.starts[0])
        right = max(starts[-1] + width, buckets.starts[-1] + buckets.width)
        for ax in (ax1, ax2):
            ax.set_xlim(left, right)
            _time_axis(ax, [left, right])
            for start, w in zip(starts, windows, strict=True):
                if w["status"] == drift_mod.INSUFFICIENT:
                    ax.annotate(f"n={w['n']}", (start + width / 2, 0), ha="center",
                                va="bottom", fontsize=7, color="gray", xytext=(0, 2),
                                textcoords="offset points")
        ax1.set_xlabel("")
        charts["drift_windows"] = _save(fig, out_dir / "drift_windows.png")

    # input statistics: brightness and payload size vs baseline
    panels = [k for k in ("brightness", "bytes") if k in base.inputs]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
        for ax, key in zip(axes[0], panels, strict=True):
            values = [drift_mod._input_value(r, key) for r in rows]
            values = [v for v in values if v is not None]
            ax.hist(base.inputs[key], bins=25, density=True, histtype="step", color="black",
                    linewidth=1.5, label="baseline")
            if values:
                ax.hist(values, bins=25, density=True, alpha=0.6, color="tab:green",
                        label="traffic")
            c = checks.get(f"input_{key}_ks", {})
            ax.set_title(f"{key}: KS D {_fmt(c.get('value'))} ({c.get('status', '-')})")
            ax.set_xlabel("payload size (bytes)" if key == "bytes" else f"{key} (0-1)")
            ax.legend(fontsize=8)
        charts["drift_inputs"] = _save(fig, out_dir / "drift_inputs.png")
    return charts


# ----------------------------------------------------------------------------- HTML


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return str(value)


def _when(value) -> str:
    """ISO timestamp -> ``YYYY-MM-DD HH:MM:SS`` (UTC) for tables."""
    if not value:
        return "-"
    return str(value).replace("T", " ").split("+")[0].split(".")[0].rstrip("Z")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _table(headers, rows, classes=None, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        c = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{c}>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in row)
                    + "</tr>")
    attr = f' class="{cls}"' if cls else ""
    return (f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table>")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#222;padding:0 16px;line-height:1.4}
h1{font-size:1.6em;margin-bottom:8px} h2{margin-top:32px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9em} table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:.92em;
vertical-align:top} th{background:#f3f3f3}
table.header th{width:170px} table.header td{min-width:560px}
tr.fail td{background:#fde2e2} tr.warn td{background:#fff3cd}
tr.pass td{background:#e6f4ea} tr.insufficient_data td{color:#888}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.badge.fail{background:#c62828}.badge.warn{background:#ef8c00}.badge.pass{background:#2e7d32}
.badge.insufficient_data{background:#888} img{max-width:100%;border:1px solid #eee;
margin:8px 0} figure{margin:0 0 22px} figcaption{color:#444;font-size:.92em}
.todo{display:block;margin-top:4px;padding:4px 8px;background:#f4f7fb;
border-left:3px solid #3b6ea5} .note{padding:6px 10px;background:#fffbe6;
border-left:3px solid #e0b000} dt{font-weight:600;margin-top:6px} dd{margin-left:18px}
"""

# chart -> (what it shows, what to do when it looks bad)
_CAPTIONS = {
    "traffic": (
        "Captured inferences per minute in each time bucket (gray: no traffic); with "
        "CloudWatch, the endpoint's latency and its rejected and failed requests.",
        "Latency up: check the endpoint's instance count and autoscaling (the "
        "SageMakerVariantInvocationsPerInstance target) and whether a new model version is "
        "slower. Rate falling to zero while images are still uploaded: the workflow is not "
        "calling the endpoint; look at failed Step Functions executions. 4xx up: see "
        "'Rejected requests' below for the reasons; 5xx up: the endpoint's CloudWatch log."),
    "low_confidence_share": (
        "Share of each bucket's inferences below the threshold: these fail with "
        "THRESHOLD_CONFIDENCE_NOT_MET and go to the review queue.",
        "Rising above the dashed whole-period and dotted validation lines: look at the review "
        "queue (the review/ prefix) for what changed (new kinds of images, damaged uploads), "
        "check the drift section; if it lasts, label the reviewed images and retrain."),
    "expected_accuracy": (
        "Mean max-probability per bucket: for a calibrated model, the share of its answers "
        "expected to be right. Red dots: accuracy measured on reviewed labels.",
        "Falling: the model is less sure of the traffic; read it with the drift checks. Red "
        "dots well below the blue line: the model is over-confident on this traffic, so the "
        "estimate no longer holds; recalibrate or retrain with the reviewed images."),
    "confidence_over_time": (
        "Each dot is one inference, coloured by the predicted label; the dashed line is the "
        "threshold used.",
        "Dots sinking under the threshold from some time on mark when the traffic changed: "
        "match that time with deploys and upload sources."),
    "confidence_histogram": (
        "Distribution of the max probability; inferences left of the threshold are "
        "rejected by the workflow (THRESHOLD_CONFIDENCE_NOT_MET).",
        "Mass moving left of the threshold: more work for reviewers (see the share above); "
        "mass piling just under it: the threshold may no longer suit this model, re-check "
        "its risk-coverage on the validation set."),
    "label_mix_over_time": (
        "Share of each predicted label per bucket (dotted: the validation baseline's mix).",
        "One label's share moving far from the baseline: users upload something else, or "
        "the model leans to one class; compare with the label-mix drift check and spot-check "
        "images of that label."),
    "image_sizes": (
        "Image dimensions (from the image header) and payload sizes.",
        "New sizes or much larger/smaller payloads: a new client, camera or compression; "
        "the model resizes everything to its input size, so check how such images fare in "
        "the review queue."),
    "drift_confidence": (
        "Confidence of the traffic against the validation-set baseline (histogram and "
        "cumulative share).",
        "Traffic curve left of the baseline: the model is less confident than on validation; "
        "see the review queue and consider retraining with recent images."),
    "drift_windows": (
        "Drift statistics per window on the time axis; a bar is red where that check fails "
        "its limit (dashed line). No bar: no traffic in that window.",
        "One red window: a burst of unusual traffic (one client, a test). Red windows from "
        "some time on: a lasting change; find what changed then and retrain if the new "
        "traffic is legitimate."),
    "drift_inputs": (
        "Input statistics of the traffic against the baseline.",
        "Brightness or size shifted: the input source changed (camera, compression, night "
        "images); check the uploader and add such images to the training data."),
    "empty": ("", ""),
}


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _figure(charts: dict[str, Path], name: str) -> str:
    if name not in charts:
        return ""
    what, todo = _CAPTIONS.get(name, ("", ""))
    todo_html = (f"<span class='todo'><b>When it is bad:</b> {html.escape(todo)}</span>"
                 if todo else "")
    return (f"<figure>{_img(charts[name])}<figcaption>{html.escape(what)}{todo_html}"
            "</figcaption></figure>")


def _model_line(model: dict) -> str:
    if not model.get("version"):
        return ("unknown (captures do not record it; give --baseline model.tar.gz, or the "
                "baseline.json beside it, to name it)")
    line = str(model["version"])
    extras = [f"from {model['source']}"] if model.get("source") else []
    if model.get("created"):
        extras.append(f"created {_when(model['created'])} UTC")
    return f"{line} ({', '.join(extras)})" if extras else line


def _endpoint_line(summary: dict) -> str:
    endpoints = summary.get("endpoints") or []
    if not endpoints:
        return "unknown (no inferences)"
    parts = []
    for e in endpoints:
        if e["endpoint"]:
            parts.append(f"{e['endpoint']} / variant {e['variant']} ({e['n']} inferences)")
        else:
            parts.append(f"unknown: capture files outside the <Endpoint>/<Variant>/YYYY/MM/DD/HH "
                         f"layout ({e['n']} inferences)")
    return "; ".join(parts)


def _window_line(summary: dict) -> str:
    if not summary["first_time"]:
        return "no inferences"
    first = datetime.fromisoformat(summary["first_time"])
    last = datetime.fromisoformat(summary["last_time"])
    return (f"{_when(summary['first_time'])} to {_when(summary['last_time'])} UTC "
            f"({_duration((last - first).total_seconds())}; first and last capture)")


def _header(summary: dict) -> list[str]:
    drift = summary.get("drift")
    baseline = (f"{drift['baseline']} (n={drift['baseline_n']})" if drift
                else "none given: no drift checks")
    rows = [
        ("model version", _model_line(summary["model"])),
        ("endpoint", _endpoint_line(summary)),
        ("capture window", _window_line(summary)),
        ("report generated", f"{_when(summary['generated_at'])} UTC"),
        ("captures", f"{summary['captures']} ({summary['n_files']} files, "
                     f"{summary['n_lines']} lines)"),
        ("threshold, baseline", f"{summary['threshold']:g}; {baseline}"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return ["<h1>Model monitoring report</h1>",
            f"<table class='header'><tbody>{body}</tbody></table>"]


def _latency_answer(metrics: dict | None) -> str:
    if metrics is None:
        return ("not in the captures; on AWS, CloudWatch AWS/SageMaker ModelLatency (read "
                "when --captures is s3://)")
    if metrics.get("error"):
        return f"CloudWatch not readable ({metrics['error'][:120]})"
    points = [v for _, v in metrics["series"].get("ModelLatency", [])]
    if not points:
        return "CloudWatch has no ModelLatency data for this endpoint and window"
    return (f"model latency {sum(points) / len(points):.1f} ms on average, worst period "
            f"{max(points):.1f} ms (CloudWatch, {len(points)} periods)")


def _at_a_glance(summary: dict) -> list[str]:
    traffic, accuracy, drift = summary["traffic"], summary["accuracy"], summary.get("drift")
    metrics = summary.get("endpoint_metrics")
    worst = traffic["worst_low_confidence_bucket"]
    errors = ((metrics or {}).get("series") or {})
    n4xx = sum(v for _, v in errors.get("Invocation4XXErrors", []))
    rows = [
        ("How much traffic?",
         f"{summary['n_records']} inferences, {traffic['mean_per_minute']:.2f}/min on average, "
         f"peak {traffic['peak_per_minute']:.1f}/min; {traffic['n_empty_buckets']} of "
         f"{traffic['n_buckets']} buckets of {_duration(traffic['bucket_seconds'])} without "
         "traffic"),
        ("How fast?", _latency_answer(metrics)),
        ("Rejected requests (4xx)?", _rejected_answer(summary.get("rejections"), n4xx,
                                                      "Invocation4XXErrors" in errors)),
        ("How much goes to review?",
         f"{_pct(summary['share_below_threshold'])} below {summary['threshold']:g}; worst "
         f"bucket {_pct(worst['share_below_threshold'])} of {worst['n']} at "
         f"{_when(worst['start'])}"),
        ("How accurate?", _accuracy_answer(accuracy)),
        ("Has the traffic drifted?",
         "no baseline given" if drift is None else
         f"{drift['status'].upper()} over the whole period; {drift['n_windows_failed']} of "
         f"{len(drift['windows'])} windows fail"),
    ]
    return ["<h2>At a glance</h2>", _table(["question", "answer"], rows)]


def _rejected_answer(rejections: dict | None, n4xx: float, in_cloudwatch: bool) -> str:
    if rejections is not None:
        reasons = rejections["reasons"]
        if not reasons:
            return f"none in the {rejections['source']}"
        top = ", ".join(f"{r['reason']} {r['count']}" for r in reasons[:3])
        more = f" and {len(reasons) - 3} more reasons" if len(reasons) > 3 else ""
        return (f"{rejections['n_rejected']} in the {rejections['source']}: {top}{more} "
                "(what to do: see Traffic)")
    if in_cloudwatch:
        return f"{n4xx:g} in CloudWatch (reasons: see Traffic)"
    return "not in the captures (they hold answered inferences only); see Traffic"


def _accuracy_answer(accuracy: dict) -> str:
    text = f"unknown without labels; expected {_pct(accuracy['expected_accuracy'])}"
    rev = accuracy.get("reviewed")
    if rev and rev["n"]:
        text += (f"; measured {_pct(rev['accuracy'])} on {rev['n']} reviewed inferences "
                 f"(expected {_pct(rev['expected_accuracy'])} for those)")
    return text


def _traffic_section(summary: dict, charts) -> list[str]:
    metrics = summary.get("endpoint_metrics")
    parts = ["<h2>Traffic: request rate, latency, rejected requests</h2>",
             _figure(charts, "traffic")]
    if metrics is None:
        parts.append(
            "<p class='note'><b>Latency</b> is not in the captures: a SageMaker capture record "
            "holds the request, the response and the inference time (to the second), nothing "
            "about how long it took. On AWS it is the endpoint's CloudWatch metric "
            "<code>AWS/SageMaker ModelLatency</code> (and <code>OverheadLatency</code>) per "
            "variant, and the workflow's <code>EndpointLatency</code> metric from "
            "ClassifyImageFunction; the report reads the endpoint's metrics itself when "
            "<code>--captures</code> is an <code>s3://</code> URI.</p>")
    elif metrics.get("error"):
        parts.append(f"<p class='note'>CloudWatch metrics of {html.escape(metrics['endpoint'])}"
                     f" could not be read: {html.escape(metrics['error'])}. Latency and "
                     "rejected requests are not in the captures.</p>")
    elif not metrics["series"]:
        parts.append("<p class='note'>CloudWatch has no AWS/SageMaker data for "
                     f"{html.escape(metrics['endpoint'])} in this window.</p>")
    parts.append(
        "<p class='note'><b>Rejected requests (4xx)</b> are not in the captures: a capture "
        "record is written for an answered inference, without a status code, so these "
        f"{summary['n_records']} records are all successful inferences. "
        + ("CloudWatch's <code>Invocation4XXErrors</code> above counts them, without reasons. "
           if ((metrics or {}).get("series") or {}).get("Invocation4XXErrors") else "")
        + "The reasons are named by the workflow: <code>EndpointRejectedImage</code> (400, "
        "undecodable image), <code>EndpointUnsupportedContentType</code> (415), "
        "<code>EndpointUnsupportedAccept</code> (406), <code>EndpointRequestRejected</code> "
        "(any other 4xx): in the failed Step Functions executions and in ClassifyImageFunction's "
        "log (<code>sam logs -n ClassifyImageFunction --filter Endpoint</code>).</p>")
    parts += _rejections_part(summary.get("rejections"))
    parts.append("<h3>Capture lines that are not answered image inferences</h3>")
    if summary["n_skipped"]:
        parts.append(_table(["reason", "count"], sorted(summary["n_skipped"].items())))
        parts.append("<p class='meta'>missing_output: a request captured without a response; "
                     "non_image_input: another endpoint's or content type's traffic; the "
                     "others: lines the reader could not decode.</p>")
    else:
        parts.append("<p>None: every line is an answered image inference.</p>")
    return parts


def _rejections_part(rejections: dict | None) -> list[str]:
    """Rejected requests by reason, from the functions' logs, with what to do for each."""
    if rejections is None:
        return ["<p class='meta'>No function logs were read: <code>scones monitor</code> reads "
                "them from the running <code>scones up</code> stack whose captures these are, "
                "or from saved logs (<code>--logs DIR</code>: <code>scones logs</code> or "
                "<code>sam logs</code> output, or <code>aws logs filter-log-events</code> "
                "JSON).</p>"]
    parts = [f"<h3>Rejected requests by reason ({html.escape(rejections['source'])})</h3>"]
    if rejections["reasons"]:
        parts.append(_table(
            ["reason", "status", "refused by", "count", "first", "last", "example",
             "what to do when it is frequent"],
            [(r["reason"], r["status"], r["function"], r["count"], _when(r["first"]),
              _when(r["last"]), r["example"], r["advice"]) for r in rejections["reasons"]]))
    else:
        parts.append(f"<p>None: {rejections['n_log_events']} log lines, no request refused.</p>")
    if rejections["other_errors"]:
        parts.append("<p class='meta'>Other failed invocations in these logs (not refusals of "
                     "the request): " + html.escape(", ".join(
                         f"{name} {n}" for name, n in rejections["other_errors"].items()))
                     + ".</p>")
    return parts


def _review_section(summary: dict, charts) -> list[str]:
    return [
        "<h2>Confidence and the review queue</h2>",
        _table(["label", "predicted", "share", "at or above threshold"], [
            (label, count, _pct(summary["label_shares"].get(label)),
             summary["label_counts_above_threshold"].get(label, 0))
            for label, count in summary["label_counts"].items()
        ]),
        _figure(charts, "low_confidence_share"),
        _figure(charts, "confidence_over_time"),
        _figure(charts, "confidence_histogram"),
        _figure(charts, "label_mix_over_time"),
    ]


def _accuracy_section(summary: dict, charts) -> list[str]:
    acc = summary["accuracy"]
    parts = [
        "<h2>Accuracy</h2>",
        "<p class='note'><b>Accuracy cannot be measured from the captures</b>: they hold the "
        "model's answers, not the true labels. What follows is the model's own estimate and, "
        "where reviewers labelled images, the accuracy measured on those.</p>",
        "<p>For a calibrated model (this one is temperature-scaled on a calibration split), the "
        "max probability of an answer is the chance that it is right, so the mean max-"
        "probability is the <b>expected accuracy</b>. <b>Caveat:</b> it holds only while the "
        "calibration holds; on traffic unlike the training data models are usually "
        "over-confident, so when the drift checks fail read it as an upper bound. The "
        "validation rows show how close estimate and measurement were at training time.</p>",
    ]
    rows = [
        ("all inferences", summary["n_records"], _pct(acc["expected_accuracy"]), "-"),
        ("at or above the threshold (recorded automatically)", summary["n_above_threshold"],
         _pct(acc["expected_accuracy_above_threshold"]), "-"),
        ("below the threshold (sent to review)",
         summary["n_records"] - summary["n_above_threshold"],
         _pct(acc["expected_accuracy_below_threshold"]), "-"),
    ]
    validation = (summary["model"].get("validation") or {})
    if acc["baseline_mean_confidence"] is not None or acc["validation_accuracy"] is not None:
        rows.append((f"validation set ({validation.get('evaluated_on', 'baseline')})",
                     validation.get("n", "-"), _pct(acc["baseline_mean_confidence"]),
                     _pct(acc["validation_accuracy"])))
    rev = acc.get("reviewed")
    if rev and rev["n"]:
        for name, part in (("reviewed inferences", rev),
                           ("reviewed, at or above the threshold", rev["above_threshold"]),
                           ("reviewed, below the threshold", rev["below_threshold"])):
            if part["n"]:
                rows.append((name, part["n"], _pct(part["expected_accuracy"]),
                             f"{_pct(part['accuracy'])} ({part['correct']}/{part['n']})"))
    parts.append(_table(["inferences", "n", "expected accuracy (mean max-probability)",
                         "measured accuracy"], rows))
    if rev is None:
        parts.append("<p>No reviewed labels given. With <code>--reviewed-labels PATH</code> "
                     "(a folder of <code>&lt;label&gt;/</code> image folders, the review "
                     "queue's copies with <code>true_label</code> filled in, or JSON Lines "
                     "<code>{\"inference_id\"|\"event_id\"|\"image\", \"label\"}</code>) the "
                     "report measures the accuracy on the reviewed inferences.</p>")
    else:
        parts.append(
            f"<p>Reviewed labels: {html.escape(rev['source'])}: {rev['n_labels']} labels, "
            f"{rev['n']} captured inferences matched"
            + (f", {rev['n_problems']} entries left out "
               f"({html.escape('; '.join(rev['problems'][:3]))})" if rev["n_problems"] else "")
            + ". The review queue holds the answers below the threshold, so the accuracy on "
            "reviewed images is that of the uncertain answers, not of all traffic; compare it "
            "with the expected accuracy of the same inferences (same row).</p>")
        if rev["n"]:
            labels = list(rev["confusion"])
            parts.append(_table(["true label \\ predicted", *labels],
                                [(t, *(rev["confusion"][t].get(p, 0) for p in labels))
                                 for t in labels]))
    parts.append(_figure(charts, "expected_accuracy"))
    return parts


def _drift_explanation(drift: dict) -> str:
    m = drift_mod
    return (
        "<dl>"
        "<dt>confidence_psi: population stability index (PSI)</dt><dd>How far the traffic's "
        "distribution of confidence is from the baseline's: the confidence range is cut into "
        "bins at the baseline's quantiles and PSI = &Sigma; (traffic share &minus; baseline "
        "share) &times; ln(traffic share / baseline share). 0 is identical; under "
        f"{m.PSI_WARN} passes, {m.PSI_WARN} to {m.PSI_FAIL} is WARN (a moderate shift), "
        f"{m.PSI_FAIL} or more FAILs. Small samples read high by chance, so a window gets one "
        "bin per 25 inferences (2 to 10).</dd>"
        "<dt>confidence_ks and input_*_ks: Kolmogorov&ndash;Smirnov</dt><dd>D is the largest "
        "gap between the two cumulative distributions (0 identical, 1 disjoint); the p-value "
        "is the chance of a gap at least this large if nothing had changed. FAIL when "
        f"p &lt; {m.P_VALUE_LIMIT} <i>and</i> D &ge; {m.KS_MIN_D}: both, so that a tiny but "
        "significant difference on a lot of traffic is not an alarm. Inputs: brightness (mean "
        "gray level, 0&ndash;1), width, height and payload bytes.</dd>"
        "<dt>label_mix_chi2: chi-square</dt><dd>Predicted-label counts against the "
        f"baseline's mix; FAIL when p &lt; {m.P_VALUE_LIMIT} and one label's share differs by "
        f"{m.LABEL_MIX_MIN_DIFF:.0%} points or more.</dd>"
        f"<dt>insufficient_data</dt><dd>Fewer than {m.MIN_WINDOW_N} inferences: no verdict "
        "either way.</dd>"
        "<dt>Why a window can differ from the whole period</dt><dd>The whole period pools "
        "every inference; a window (here "
        f"{_duration(drift['window_seconds'])}) is one slice of it. A shift that lasts one "
        "window fails that window but can be diluted in a day of normal traffic, so the whole "
        "period passes; a small steady shift can fail the whole period, whose many inferences "
        "make it significant, while no single window has enough data to show it. Windows say "
        "<i>when</i>, the whole period <i>how much overall</i>.</dd>"
        "</dl>"
    )


def _drift_section(summary: dict, charts) -> list[str]:
    drift = summary.get("drift")
    parts = ["<h2>Drift against the training baseline</h2>"]
    if drift is None:
        parts.append("<p>No baseline given (<code>--baseline baseline.json|model.tar.gz</code>)"
                     ": drift not computed.</p>")
        return parts
    parts.append(
        f"<p>Baseline {html.escape(drift['baseline'])} (n={drift['baseline_n']}). Whole "
        f"period: <span class='badge {drift['status']}'>{drift['status'].upper()}</span> "
        f"&middot; {drift['n_windows_failed']} of {len(drift['windows'])} windows of "
        f"{_duration(drift['window_seconds'])} fail a check.</p>"
    )
    parts.append(_drift_explanation(drift))
    parts.append("<h3>Whole period</h3>")
    parts.append(_table(
        ["check", "statistic", "value", "p-value", "n", "fails when", "result"],
        [(c["check"], c["metric"], _fmt(c["value"]), _fmt(c.get("p_value")), c["n"],
          c["limit"], c["status"].upper()) for c in drift["checks"]],
        classes=[c["status"] for c in drift["checks"]],
    ))
    parts.append("<h3>Windows</h3>")
    parts.append(_table(
        ["window start (UTC)", "end", "n", "PSI", "KS p", "label-mix p", "failed checks",
         "result"],
        [(_when(w["start"]), _when(w["end"]), w["n"], *_window_cells(w),
          w["status"].upper())
         for w in drift["windows"]],
        classes=[w["status"] for w in drift["windows"]],
    ))
    for name in ("drift_windows", "drift_confidence", "drift_inputs"):
        parts.append(_figure(charts, name))
    return parts


def render_html(summary: dict, charts: dict[str, Path]) -> str:
    """A single HTML file: tables + charts as base64 data URIs (no external resources)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Scones Unlimited - model monitoring report</title>",
        f"<style>{_CSS}</style></head><body>",
        *_header(summary),
    ]
    if not summary["n_records"]:
        parts += ["<p><b>No image inferences in these captures.</b></p>",
                  _figure(charts, "empty")]
        if summary["n_skipped"]:
            parts += ["<h3>Skipped records by reason</h3>",
                      _table(["reason", "count"], sorted(summary["n_skipped"].items()))]
        if summary.get("rejections") is not None:
            parts += _rejections_part(summary["rejections"])
    else:
        parts += _at_a_glance(summary)
        parts += _traffic_section(summary, charts)
        parts += _review_section(summary, charts)
        parts += _accuracy_section(summary, charts)
        parts += _drift_section(summary, charts)
        parts += ["<h2>Inputs</h2>", _figure(charts, "image_sizes")]
    # Records in the DOM how many charts decoded (the headless-browser test reads it).
    parts.append("<script>window.addEventListener('load',function(){var im=document.images,"
                 "ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)"
                 "ok++;}document.body.setAttribute('data-images-loaded',ok+'/'+im.length);});"
                 "</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _window_cells(window: dict) -> tuple:
    by = {c["check"]: c for c in window["checks"]}
    failed = [c["check"] for c in window["checks"] if c["status"] == drift_mod.FAIL]
    return (
        _fmt(by.get("confidence_psi", {}).get("value")),
        _fmt(by.get("confidence_ks", {}).get("p_value")),
        _fmt(by.get("label_mix_chi2", {}).get("p_value")),
        ", ".join(failed) or "-",
    )
