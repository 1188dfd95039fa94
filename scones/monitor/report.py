"""The monitoring report: PNG charts, a self-contained report.html and a JSON summary.

Public API (used by ``scones monitor`` and ``scones demo``; keep stable)::

    write_report(captures: str, out_dir: Path, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
                 labels: list[str] | None = None, baseline: str | None = None,
                 since=None, until=None, window=None) -> dict

``captures`` is a directory or ``s3://bucket/prefix`` of SageMaker data-capture files;
``baseline`` a ``baseline.json`` or ``model.tar.gz`` (local or s3://). Labels come from
``labels``, else the baseline, else ``DEFAULT_CLASS_LABELS``. The returned dict is also written
to ``out_dir/summary.json``; see docs/monitoring.md for its keys.

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
from datetime import datetime, timedelta
from pathlib import Path

from scones_domain.config import DEFAULT_CLASS_LABELS, DEFAULT_CONFIDENCE_THRESHOLD
from scones_domain.monitoring import drift as drift_mod
from scones_domain.monitoring import stats
from scones_domain.monitoring.captures import read_captures

CHART_DPI = 110
MAX_TIME_BINS = 24


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


def resolve_labels(labels, baseline) -> list[str]:
    if labels:
        return list(labels)
    if baseline is not None:
        return list(baseline.labels)
    return list(DEFAULT_CLASS_LABELS)


def write_report(
    captures: str,
    out_dir: Path,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    labels: list[str] | None = None,
    baseline: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    window: timedelta | None = None,
) -> dict:
    """Read the captures, write charts + report.html + summary.json into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = drift_mod.load_baseline(baseline) if baseline else None
    labels = resolve_labels(labels, base)
    if base is not None:
        drift_mod.check_labels(base, labels)
    result = read_captures(
        str(captures), labels=labels, threshold=threshold, since=since, until=until,
        inspect_image=pil_inspector,
    )
    rows = result.rows
    summary = stats.summarize(rows, labels, threshold)
    summary.update(
        captures=str(captures),
        labels=labels,
        n_files=result.n_files,
        n_lines=result.n_lines,
        n_outside_window=result.n_outside_window,
        n_skipped={reason: result.skipped[reason] for reason in sorted(result.skipped)},
        n_skipped_total=result.n_skipped,
        skip_examples=result.skip_examples,
        image_sizes=dict(
            Counter(f"{r.width}x{r.height}" if r.width else "unknown" for r in rows).most_common()
        ),
        drift=None,
    )
    window = window or drift_mod.auto_window(rows)
    if base is not None:
        summary["drift"] = drift_summary(rows, base, labels, window)

    charts = draw_charts(rows, labels, threshold, base, summary["drift"], window, out_dir)
    summary["charts"] = {name: path.name for name, path in charts.items()}
    report_path = out_dir / "report.html"
    report_path.write_text(render_html(summary, charts), encoding="utf-8")
    summary["report"] = str(report_path)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


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


def _time_bins(rows, max_bins: int = MAX_TIME_BINS):
    """Split time-sorted rows into at most ``max_bins`` equal-duration bins."""
    span = (rows[-1].time - rows[0].time).total_seconds()
    k = max(1, min(max_bins, len(rows) // 5))
    width = timedelta(seconds=max(span / k, 1e-3) * 1.0000001)
    bins = drift_mod.split_windows(rows, width)
    return bins, width


def draw_charts(rows, labels, threshold, base, drift, window, out_dir: Path) -> dict[str, Path]:
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

    # 1. confidence over time, coloured by predicted label
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
    ax.set_title("Confidence over time")
    _time_axis(ax, times)
    ax.legend(loc="lower left", fontsize=8)
    charts["confidence_over_time"] = _save(fig, out_dir / "confidence_over_time.png")

    # 2. confidence histogram with the threshold
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

    # 3. predicted-label mix over time (stacked shares per time bin)
    tbins, width = _time_bins(rows)
    fig, ax = plt.subplots(figsize=(9, 4))
    bottoms = [0.0] * len(tbins)
    centers = [start + width / 2 for start, _, _ in tbins]
    for label in labels:
        shares = [sum(r.label == label for r in chunk) / len(chunk) for _, _, chunk in tbins]
        ax.bar(centers, shares, width=width * 0.9, bottom=bottoms, color=colors[label],
               label=label)
        bottoms = [b + s for b, s in zip(bottoms, shares, strict=True)]
    if base is not None:
        cum = 0.0
        for label in labels[:-1]:
            cum += base.label_mix.get(label, 0.0)
            ax.axhline(cum, color="black", linestyle=":", linewidth=1,
                       label="baseline mix" if label == labels[0] else None)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of predictions")
    ax.set_title(f"Predicted-label mix over time ({len(tbins)} bins)")
    _time_axis(ax, times)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    charts["label_mix_over_time"] = _save(fig, out_dir / "label_mix_over_time.png")

    # 4. rolling share of low-confidence inferences
    k = max(5, min(50, len(rows) // 10))
    low = [0 if r.above_threshold else 1 for r in rows]
    rolling, acc = [], 0
    for i, v in enumerate(low):
        acc += v
        if i >= k:
            acc -= low[i - k]
        rolling.append(acc / min(i + 1, k))
    first = min(k, len(rows)) - 1  # start once the rolling window is full
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(times[first:], rolling[first:], color="tab:orange", linewidth=1.5,
            label=f"rolling share below {threshold:g} (last {k} inferences)")
    overall_low = sum(low) / len(low)
    ax.axhline(overall_low, color="gray", linestyle="--", linewidth=1,
               label=f"whole period {overall_low:.0%}")
    if base is not None:
        base_low = sum(c < threshold for c in base.confidence) / len(base.confidence)
        ax.axhline(base_low, color="black", linestyle=":", linewidth=1,
                   label=f"baseline {base_low:.0%}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of low-confidence inferences")
    ax.set_title("Rolling share of low-confidence inferences")
    _time_axis(ax, times)
    ax.legend(fontsize=8, loc="upper right")
    charts["low_confidence_share"] = _save(fig, out_dir / "low_confidence_share.png")

    # 5. image size distribution
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

    if base is not None and drift:
        charts.update(_drift_charts(rows, base, drift, threshold, out_dir))
    return charts


def _ecdf(values):
    xs = sorted(values)
    return xs, [(i + 1) / len(xs) for i in range(len(xs))]


def _drift_charts(rows, base, drift, threshold, out_dir: Path) -> dict[str, Path]:
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

    # per-window PSI and label-mix p-value with their limits
    windows = drift["windows"]
    if windows:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        idx = list(range(1, len(windows) + 1))

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
        ax1.bar(idx, [p or 0 for p in psis], color=psi_colors)
        ax1.scatter(idx, [p or 0 for p in psis], color=psi_colors, s=22, zorder=3)
        ax1.axhline(drift_mod.PSI_FAIL, color="crimson", linestyle="--", linewidth=1,
                    label=f"fail {drift_mod.PSI_FAIL}")
        ax1.axhline(drift_mod.PSI_WARN, color="orange", linestyle=":", linewidth=1,
                    label=f"warn {drift_mod.PSI_WARN}")
        ax1.set_xlabel("window (red = fails, orange = warns, green = passes)")
        ax1.set_ylabel("confidence PSI")
        ax1.set_title("Confidence PSI per window")
        ax1.legend(fontsize=8)
        # -log10(p): higher = stronger evidence of a shifted label mix; p=0 capped at 1e-16
        pvals = series("label_mix_chi2", "p_value")
        heights = [-math.log10(max(p, 1e-16)) if p is not None else 0 for p in pvals]
        mix_colors = [status_color[s] for s in series("label_mix_chi2", "status")]
        ax2.bar(idx, heights, color=mix_colors)
        ax2.scatter(idx, heights, color=mix_colors, s=22, zorder=3)  # visible even at 0
        ax2.axhline(-math.log10(drift_mod.P_VALUE_LIMIT), color="crimson", linestyle="--",
                    linewidth=1, label=f"p limit {drift_mod.P_VALUE_LIMIT}")
        ax2.set_xlabel("window")
        ax2.set_ylabel("-log10 chi-square p-value")
        ax2.set_title("Label mix vs baseline per window")
        ax2.legend(fontsize=8)
        for ax in (ax1, ax2):
            ax.set_xticks(idx)
            for i, w in zip(idx, windows, strict=True):
                if w["status"] == drift_mod.INSUFFICIENT:
                    ax.annotate(f"n={w['n']}", (i, 0), ha="center", va="bottom",
                                fontsize=7, color="gray", xytext=(0, 2),
                                textcoords="offset points")
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


def _table(headers, rows, classes=None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                    + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px} h2{margin-top:32px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9em} table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:.92em}
th{background:#f3f3f3} tr.fail td{background:#fde2e2} tr.warn td{background:#fff3cd}
tr.pass td{background:#e6f4ea} tr.insufficient_data td{color:#888}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600}
.badge.fail{background:#c62828}.badge.warn{background:#ef8c00}.badge.pass{background:#2e7d32}
.badge.insufficient_data{background:#888} img{max-width:100%;border:1px solid #eee;
margin:8px 0} figure{margin:0 0 18px} figcaption{color:#555;font-size:.9em}
"""

_CAPTIONS = {
    "confidence_over_time": "Each dot is one inference, coloured by the predicted label; the "
    "dashed line is the threshold used.",
    "confidence_histogram": "Distribution of the max probability; inferences left of the "
    "threshold are rejected by the workflow (THRESHOLD_CONFIDENCE_NOT_MET).",
    "label_mix_over_time": "Share of each predicted label per time bin (dotted: baseline).",
    "low_confidence_share": "Rolling share of inferences below the threshold.",
    "image_sizes": "Image dimensions (from the image header) and payload sizes.",
    "drift_confidence": "Confidence of the traffic against the validation-set baseline.",
    "drift_windows": "Drift statistics per window; a bar is red where that check fails "
    "its limit (dashed line).",
    "drift_inputs": "Input statistics of the traffic against the baseline.",
    "empty": "",
}


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def render_html(summary: dict, charts: dict[str, Path]) -> str:
    """A single HTML file: tables + charts as base64 data URIs (no external resources)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Scones Unlimited - model monitoring report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Model monitoring report</h1>",
        f"<p class='meta'>captures: {html.escape(summary['captures'])} &middot; "
        f"{_when(summary['first_time'])} &rarr; {_when(summary['last_time'])} UTC &middot; "
        f"{summary['n_files']} files, {summary['n_lines']} lines</p>",
        "<h2>Summary</h2>",
        "" if summary["n_records"] else "<p><b>No image inferences in these captures.</b></p>",
        _table(["measure", "value"], [
            ("image inferences", summary["n_records"]),
            ("threshold", summary["threshold"]),
            ("at or above threshold", f"{summary['n_above_threshold']} "
                                      f"({_pct(summary['share_above_threshold'])})"),
            ("mean confidence", _fmt(summary["mean_confidence"])),
            ("skipped lines", summary["n_skipped_total"]),
            ("outside --since/--until", summary["n_outside_window"]),
        ]),
        "<h3>Predicted labels</h3>",
        _table(["label", "predicted", "share", "at or above threshold"], [
            (label, count, _pct(summary["label_shares"].get(label)),
             summary["label_counts_above_threshold"].get(label, 0))
            for label, count in summary["label_counts"].items()
        ]),
    ]
    if summary["n_skipped"]:
        parts += ["<h3>Skipped records by reason</h3>",
                  _table(["reason", "count"], sorted(summary["n_skipped"].items()))]
    drift = summary.get("drift")
    parts.append("<h2>Drift against the training baseline</h2>")
    if drift is None:
        parts.append("<p>No baseline given (<code>--baseline baseline.json|model.tar.gz</code>)"
                     ": drift not computed.</p>")
    else:
        parts.append(
            f"<p>Baseline {html.escape(drift['baseline'])} (n={drift['baseline_n']}). Whole "
            f"period: <span class='badge {drift['status']}'>{drift['status'].upper()}</span> "
            f"&middot; {drift['n_windows_failed']} of {len(drift['windows'])} windows of "
            f"{drift['window_seconds']:g} s fail a check.</p>"
        )
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
    parts.append("<h2>Charts</h2>")
    for name, path in charts.items():
        parts.append(f"<figure>{_img(path)}<figcaption>{html.escape(_CAPTIONS.get(name, ''))}"
                     "</figcaption></figure>")
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
