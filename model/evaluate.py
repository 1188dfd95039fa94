"""Evaluate a model artifact on labeled images: metrics JSON, a table, and two PNG plots."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from model.data import find_samples, load_images
from model.metrics import DEFAULT_THRESHOLD, classification_report
from model.package import LoadedArtifact

RELIABILITY_PNG = "reliability.png"
RISK_COVERAGE_PNG = "risk_coverage.png"
EVALUATION_DIR = "evaluation"  # the plots' folder beside the model unless out_dir is given


def evaluate(
    artifact: str | os.PathLike, data: str | os.PathLike, threshold: float = DEFAULT_THRESHOLD,
    out_dir: str | os.PathLike | None = None, progress: bool = False,
) -> dict:
    """Predict every image of ``data`` with the artifact's own inference code; return the
    report (see model.metrics.classification_report) plus the plot paths and skipped files.
    The plots go to ``out_dir``, by default ``evaluation/`` beside the artifact (never over the
    files training wrote next to it)."""
    with LoadedArtifact(artifact) as loaded_model:
        samples = find_samples(data, labels=loaded_model.labels)
        images = load_images(samples, size=int(loaded_model.metadata["input_size"]),
                             progress=progress)
        probabilities = loaded_model.predict_images(images.images)
        report = classification_report(probabilities, images.targets, loaded_model.labels,
                                       threshold)
        report["model_version"] = loaded_model.metadata.get("model_version")
    report["skipped"] = [{"path": str(p), "error": e} for p, e in images.skipped]
    out = Path(out_dir) if out_dir else Path(artifact).resolve().parent / EVALUATION_DIR
    report["plots"] = write_plots(report, out)
    return report


def write_plots(report: dict, out: Path) -> dict:
    """Reliability diagram and risk-coverage curve as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = {"reliability": str(out / RELIABILITY_PNG),
             "risk_coverage": str(out / RISK_COVERAGE_PNG)}

    fig, ax = plt.subplots(figsize=(5, 5))
    rows = [r for r in report["reliability"] if r["count"]]
    centers = [(r["lower"] + r["upper"]) / 2 for r in rows]
    width = report["reliability"][0]["upper"] - report["reliability"][0]["lower"]
    ax.bar(centers, [r["accuracy"] for r in rows], width=width * 0.9, alpha=0.7,
           label="accuracy", edgecolor="black")
    ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], "o", color="C1",
            label="mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set(xlabel="confidence (max probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability (ECE {report['ece']:.3f}, n={report['n']})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(paths["reliability"], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    curve = report["risk_coverage"]
    ax.plot([p["coverage"] for p in curve], [p["accuracy"] for p in curve], "-", color="C0")
    if report["covered_accuracy"] is not None:
        ax.plot([report["coverage"]], [report["covered_accuracy"]], "o", color="C3",
                label=f"threshold {report['threshold']:.2f}: coverage {report['coverage']:.2f},"
                f" accuracy {report['covered_accuracy']:.3f}")
        ax.legend(loc="lower left")
    ax.set(xlabel="coverage (share of images at or above the threshold)",
           ylabel="accuracy among covered", xlim=(0, 1.02),
           title="Risk-coverage: accuracy vs coverage as the threshold moves")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["risk_coverage"], dpi=100)
    plt.close(fig)
    return paths


def format_table(report: dict) -> str:
    """Human-readable summary of an evaluation report."""
    def pct(value) -> str:
        return "   n/a" if value is None else f"{value:6.3f}"

    lines = [
        f"images         {report['n']}" + (f"  (skipped {len(report['skipped'])} unreadable)"
                                           if report.get("skipped") else ""),
        f"accuracy       {pct(report['accuracy'])}",
        f"threshold      {report['threshold']:.3f}",
        f"coverage       {pct(report['coverage'])}  ({report['covered']} images at or above)",
        f"covered acc.   {pct(report['covered_accuracy'])}",
        f"ECE            {pct(report['ece'])}",
        "",
        f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}",
    ]
    for name, row in report["per_class"].items():
        lines.append(f"{name:<12} {pct(row['precision']):>9} {pct(row['recall']):>7} "
                     f"{pct(row['f1']):>6} {row['support']:>8}")
    labels = report["labels"]
    lines += ["", "confusion (rows true, columns predicted)",
              " " * 12 + "".join(f"{name:>12}" for name in labels)]
    for name, row in zip(labels, report["confusion_matrix"], strict=True):
        lines.append(f"{name:<12}" + "".join(f"{v:>12}" for v in row))
    lines += ["", "plots: " + ", ".join(report["plots"].values())]
    return "\n".join(lines)


def print_skipped(report: dict) -> None:
    for row in report.get("skipped", []):
        print(f"skipped unreadable image {row['path']}: {row['error']}", file=sys.stderr)

