"""``scones monitor``: the monitoring report over captured inferences.

    scones monitor --captures DIR|s3://bucket/prefix --out OUTDIR [--threshold T]
                   [--labels bicycle motorcycle] [--baseline baseline.json|model.tar.gz]
                   [--since 2026-11-27T03:00:00Z|2h] [--until ...] [--window-minutes N]
                   [--json PATH|-] [--fail-on drift] [--reviewed-labels PATH] [--logs PATH]

Rejected requests (4xx) by reason come from the functions' logs: those of the running
``scones up`` stack when the captures are its own, or saved logs given with ``--logs``.

Exit status: 0 report written; 1 no inference in the captures (the report is still written),
or reading them failed; 2 usage error; 3 with ``--fail-on drift``, the drift check failed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scones_domain.arguments import STDOUT, output_file, positive_number, probability, write_output
from scones_domain.config import DEFAULT_CONFIDENCE_THRESHOLD

EXIT_NO_CAPTURES = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3  # --fail-on drift and the drift check failed
EPILOG = f"""exit status:
  0  the report is written (drift PASS, WARN, or FAIL without --fail-on drift)
  {EXIT_NO_CAPTURES}  no inference in the captures (the report is still written), or reading
     them failed
  {EXIT_USAGE}  usage error: a bad option or value, captures or baseline not found or invalid,
     labels other than the baseline's
  {EXIT_DRIFT}  --fail-on drift: the drift check against the baseline failed
"""
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """ISO 8601 (``Z`` or offset; naive = UTC) or a duration ago such as ``30m``, ``2h``, ``7d``."""
    match = _RELATIVE.match(text.strip())
    if match:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use ISO 8601 like 2026-11-27T03:00:00Z, or 30m/2h/7d ago)"
        ) from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "monitor",
        help="report on captured inferences: charts, report.html, drift vs the baseline",
        description="Read SageMaker data-capture files (local directory or s3://), write PNG "
        "charts and a self-contained report.html, compare with the training baseline.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--captures", default=None,
                   help="capture directory or s3://bucket/prefix (default: the captures of "
                   "the stack `scones up` is running)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="directory the report is written into")
    p.add_argument("--threshold", type=probability, default=DEFAULT_CONFIDENCE_THRESHOLD,
                   help=f"confidence threshold, 0-1 (default {DEFAULT_CONFIDENCE_THRESHOLD})")
    p.add_argument("--labels", nargs="+", default=None,
                   help="labels in output order (default: from the baseline, else "
                   "bicycle motorcycle); commas also accepted")
    p.add_argument("--baseline", default=None,
                   help="baseline.json or model.tar.gz (local or s3://) for drift checks")
    p.add_argument("--reviewed-labels", default=None, metavar="PATH",
                   help="true labels of reviewed images, to measure accuracy on them: a folder "
                   "of <label>/ image folders, the review queue's copies with true_label filled "
                   "in, or JSON Lines {inference_id|event_id|image, label} (default: the "
                   "answered reviews of the running `scones up` stack, when the captures are "
                   "its own; docs/monitoring.md)")
    p.add_argument("--logs", default=None, metavar="PATH",
                   help="saved function logs to read the rejected requests from: a file or "
                   "folder of `scones logs` or `sam logs` output, or `aws logs "
                   "filter-log-events` JSON (default: the logs of the running `scones up` "
                   "stack, when the captures are its own)")
    p.add_argument("--since", type=parse_when, default=None,
                   help="only inferences at/after this time (ISO 8601 or 30m/2h/7d ago)")
    p.add_argument("--until", type=parse_when, default=None,
                   help="only inferences at/before this time")
    p.add_argument("--window-minutes", type=positive_number, default=None,
                   help="drift window length (default: automatic, up to 12 windows)")
    p.add_argument("--json", metavar="FILE|-", type=output_file, default=None,
                   help="write the machine summary as JSON to FILE ('-': stdout, the table then "
                   "goes to stderr)")
    p.add_argument("--fail-on", choices=["drift"], default=None,
                   help=f"drift: exit {EXIT_DRIFT} when the drift check fails (needs --baseline)")
    p.set_defaults(func=run)


def _labels(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part]


def run(args: argparse.Namespace) -> int:
    from scones.monitor.report import write_report
    from scones_domain.monitoring.captures import CaptureError
    from scones_domain.monitoring.drift import BaselineError

    if args.fail_on == "drift" and not args.baseline:
        print("scones monitor: error: --fail-on drift needs --baseline (the drift check "
              "compares with it)", file=sys.stderr)
        return EXIT_USAGE
    from scones.monitor.rejections import LogsNotFoundError

    state = _running_stack()
    if args.captures is None:
        if state is None:
            print("scones monitor: error: --captures is required when no `scones up` stack "
                  "is running", file=sys.stderr)
            return EXIT_USAGE
        args.captures = state["capture"]
    window = timedelta(minutes=args.window_minutes) if args.window_minutes else None
    try:
        summary = write_report(
            args.captures, args.out, threshold=args.threshold, labels=_labels(args.labels),
            baseline=args.baseline, since=args.since, until=args.until, window=window,
            reviewed_labels=args.reviewed_labels or stack_reviews(args.captures, state,
                                                                 Path(args.out)),
            rejections=rejections(args.logs, args.captures, state, args.since, args.until),
        )
    except LogsNotFoundError as exc:
        print(f"scones monitor: error: argument --logs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CaptureError, BaselineError) as exc:
        print(f"error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        machine = {k: v for k, v in summary.items() if k != "skip_examples"}
        write_output(args.json, json.dumps(machine, indent=2) + "\n")
    print(format_summary(summary), file=sys.stderr if args.json == STDOUT else sys.stdout)
    return exit_status(summary, args.fail_on, args.captures)


def _running_stack() -> dict | None:
    """The state of the stack `scones up` serves from this folder, None when none answers."""
    from scones.local.server import StackNotRunningError, read_state

    try:
        return read_state()
    except StackNotRunningError:
        return None


def _same_place(a: str, b: str) -> bool:
    if a.startswith("s3://") or b.startswith("s3://"):
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()


def rejections(logs: str | None, captures: str, state: dict | None,
               since: datetime | None, until: datetime | None) -> dict | None:
    """The rejected requests by reason: from ``logs`` (saved logs) when given, else from the
    running stack's function logs when ``captures`` are that stack's; else None (not read)."""
    from scones.monitor.rejections import read_running_stack, read_saved_logs

    if logs is not None:
        return read_saved_logs(logs, since=since, until=until)
    if state is not None and state.get("capture") and _same_place(str(captures),
                                                                  str(state["capture"])):
        return read_running_stack(state, since=since, until=until)
    return None


def stack_reviews(captures: str, state: dict | None, out: Path) -> Path | None:
    """The running stack's answered reviews as reviewed labels, when ``captures`` are that
    stack's: ``out/reviewed-labels.jsonl``, one ``{"inference_id", "label"}`` per review (the
    review names the classification execution, whose inference ClassifyImage named after it);
    None when there is no such stack or no answered review."""
    if state is None or not state.get("capture") or not _same_place(str(captures),
                                                                     str(state["capture"])):
        return None
    from scones.local.server import DEFAULT_STATE_FILE
    from scones.review.queue import local_queue
    from scones_domain.predictions import inference_id

    answered = local_queue(DEFAULT_STATE_FILE).labeled()
    if not answered:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reviewed-labels.jsonl"
    path.write_text("".join(json.dumps({"inference_id": inference_id(a["execution_arn"]),
                                        "label": a["label"]}) + "\n" for a in answered))
    return path


def exit_status(summary: dict, fail_on: str | None, captures: str) -> int:
    """0, or EXIT_NO_CAPTURES / EXIT_DRIFT with one line on stderr that says why."""
    from scones_domain.monitoring.drift import FAIL

    if not summary["n_records"]:
        found = "no capture files"
        if summary["n_files"]:
            found = (f"{summary['n_files']} capture file(s), {summary['n_lines']} line(s), none "
                     f"an image inference")
            if summary["n_outside_window"]:
                found += f" in range ({summary['n_outside_window']} outside --since/--until)"
        print(f"error: no inferences in {captures}: {found}", file=sys.stderr)
        return EXIT_NO_CAPTURES
    drift = summary.get("drift")
    if fail_on == "drift" and drift and drift["status"] == FAIL:
        print(f"drift FAIL against {drift['baseline']}: "
              f"{', '.join(c['check'] for c in drift['checks'] if c['status'] == FAIL)}",
              file=sys.stderr)
        return EXIT_DRIFT
    return 0


def format_summary(summary: dict) -> str:
    """A short, aligned text table for the terminal."""
    def pct(v):
        return "-" if v is None else f"{v:.1%}"

    lines = [
        f"captures      {summary['captures']}",
        f"inferences    {summary['n_records']} "
        f"({summary['n_files']} files, {summary['n_skipped_total']} lines skipped)",
        f"threshold     {summary['threshold']:g}: {summary['n_above_threshold']} at or above "
        f"({pct(summary['share_above_threshold'])})",
        "mean conf.    " + ("-" if summary["mean_confidence"] is None
                            else f"{summary['mean_confidence']:.3f}"),
        "",
        f"{'label':<14}{'predicted':>10}{'share':>9}{'>= thr':>9}",
    ]
    for label, count in summary["label_counts"].items():
        lines.append(f"{label:<14}{count:>10}{pct(summary['label_shares'].get(label)):>9}"
                     f"{summary['label_counts_above_threshold'].get(label, 0):>9}")
    if summary["n_skipped"]:
        lines += ["", "skipped: " + ", ".join(f"{k}={v}" for k, v in summary["n_skipped"].items())]
    refused = summary.get("rejections")
    if refused is not None:
        lines += ["", f"rejected      {refused['n_rejected']}"
                  + (" (" + ", ".join(f"{r['reason']} {r['count']}" for r in refused["reasons"])
                     + ")" if refused["reasons"] else "")
                  + f" in the {refused['source']}"]
    drift = summary.get("drift")
    if drift:
        lines += ["", f"drift vs {drift['baseline']}: {drift['status'].upper()} "
                      f"({drift['n_windows_failed']}/{len(drift['windows'])} windows fail)"]
        for c in drift["checks"]:
            value = "-" if c["value"] is None else f"{c['value']:.3f}"
            p = "" if c.get("p_value") is None else f"  p={c['p_value']:.2g}"
            lines.append(f"  {c['check']:<22}{value:>9}{p:<14} {c['status'].upper()}")
    lines += ["", f"report        {summary['report']}"]
    return "\n".join(lines)
